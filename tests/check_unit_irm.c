/* ctest-label: unit */
/* risk/irm: interest-rate strategies and rate sources. Expected numbers: spec
 * protocol-math §4.3 worked example, §5.1 #4 (sparklend-advanced tests), §1.3 APR table. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "risk/irm.h"
#include "risk/wadray.h"
#include "support/u256check.h"

/* percentages as RAY strings */
#define P0_5 "5000000000000000000000000"
#define P1 "10000000000000000000000000"
#define P1_2 "12000000000000000000000000"
#define P5 "50000000000000000000000000"
#define P7 "70000000000000000000000000"
#define P15 "150000000000000000000000000"
#define P45 "450000000000000000000000000"
#define P55 "550000000000000000000000000"
#define P95 "950000000000000000000000000"

static struct risk_rate_source oracle27(const char *apr) {
  struct risk_rate_source s;
  memset(&s, 0, sizeof s);
  s.kind = RISK_RATE_SOURCE_ORACLE;
  s.value = D(apr);
  s.decimals = 27;
  return s;
}

/* USDT, §4.3: RateTargetKink, SSR 3.75%, spread +0.5%, base 0, slope2 15%, Uopt 95%, RF 1% */
static struct risk_irm usdt(void) {
  struct risk_irm m;
  memset(&m, 0, sizeof m);
  m.kind = RISK_IRM_RATE_TARGET_KINK;
  m.optimal_usage_ratio = D(P95);
  m.variable_rate_slope2 = D(P15);
  m.spread = D(P0_5);
  m.source.kind = RISK_RATE_SOURCE_SSR;
  m.source.value = D("1000000001167363430498603315");
  return m;
}

START_TEST(test_usdt_90pct) {
  struct risk_irm m = usdt();
  struct risk_irm_rates r;
  ck_assert_int_eq(risk_irm_calculate(&r, &m, D("90000000000000"), D("10000000000000"), 100), RISK_OK);
  ck_assert_u256_dec(r.utilization, "900000000000000000000000000");
  ck_assert_u256_dec(r.variable_borrow_rate, "39613237715561640765953684");
  ck_assert_u256_dec(r.liquidity_rate, "35295394804565421922464733");
}
END_TEST

START_TEST(test_usdt_97pct) {
  struct risk_irm m = usdt();
  struct risk_irm_rates r;
  ck_assert_int_eq(risk_irm_calculate(&r, &m, D("97000000000000"), D("3000000000000"), 100), RISK_OK);
  ck_assert_u256_dec(r.variable_borrow_rate, "101813973144203954141840000");
  ck_assert_u256_dec(r.liquidity_rate, "97771958410379057162408952");
}
END_TEST

START_TEST(test_usdt_params) {
  /* §4.3: slope1 4.181397314420395414184% at SSR 3.75% = APR 36813973144203954141840000 + 0.5% */
  struct risk_irm m = usdt();
  struct risk_irm_params p;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert_u256_dec(p.variable_rate_slope1, "41813973144203954141840000");
  ck_assert(u256_is_zero(p.base_variable_borrow_rate));
}
END_TEST

START_TEST(test_zero_debt) {
  struct risk_irm m = usdt();
  struct risk_irm_rates r;
  ck_assert_int_eq(risk_irm_calculate(&r, &m, U256_ZERO, D("1000000"), 100), RISK_OK);
  ck_assert(u256_is_zero(r.utilization));
  ck_assert(u256_is_zero(r.liquidity_rate));
  ck_assert(u256_is_zero(r.variable_borrow_rate)); /* base 0 */
  /* reserve factor above 100%: 10000 - RF underflows (only evaluated with debt) */
  ck_assert_int_eq(risk_irm_calculate(&r, &m, D("1"), D("1"), 10001), RISK_UNDERFLOW);
}
END_TEST

/* §1.3 / §5.1 #4: SSR and Pot sources */
START_TEST(test_ssr_pot_apr) {
  struct risk_rate_source s;
  memset(&s, 0, sizeof s);
  u256 apr;
  for (int k = 0; k < 2; k++) {
    s.kind = k == 0 ? RISK_RATE_SOURCE_SSR : RISK_RATE_SOURCE_POT;
    s.value = D("1000000001547125957863212448");
    ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_OK);
    ck_assert_u256_dec(apr, "48790164207174267760128000");
    ck_assert_int_eq(risk_rate_source_apr_ray(&apr, &s), RISK_OK);
    ck_assert_u256_dec(apr, "48790164207174267760128000");
    s.value = RISK_RAY;
    ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_OK);
    ck_assert(u256_is_zero(apr));
    s.value = D("999999999999999999999999999");
    ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_UNDERFLOW);
  }
}
END_TEST

START_TEST(test_capped_fallback) {
  /* WETH: LST oracle (18 decimals) in CappedFallback [2.0%, 5.5%], default 3.0% */
  struct risk_rate_source s;
  memset(&s, 0, sizeof s);
  s.kind = RISK_RATE_SOURCE_ORACLE;
  s.decimals = 18;
  s.capped = true;
  s.lower_bound = D("20000000000000000");
  s.upper_bound = D("55000000000000000");
  s.default_rate = D("30000000000000000");
  u256 apr;
  s.value = D("41000000000000000");
  ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_OK);
  ck_assert_u256_dec(apr, "41000000000000000");
  ck_assert_int_eq(risk_rate_source_apr_ray(&apr, &s), RISK_OK);
  ck_assert_u256_dec(apr, "41000000000000000000000000"); /* * 10^(27-18) */
  s.value = D("1000000000000000");
  ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_OK);
  ck_assert_u256_dec(apr, "20000000000000000");
  s.value = D("90000000000000000");
  ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_OK);
  ck_assert_u256_dec(apr, "55000000000000000");
  s.reverted = true;
  ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_OK);
  ck_assert_u256_dec(apr, "30000000000000000");
  /* an uncapped reverting oracle is an error */
  s.capped = false;
  ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_INVALID);
  /* SSR below RAY inside a CappedFallback: default */
  memset(&s, 0, sizeof s);
  s.kind = RISK_RATE_SOURCE_SSR;
  s.value = D("1");
  s.capped = true;
  s.upper_bound = U256_MAX;
  s.default_rate = D("7");
  ck_assert_int_eq(risk_rate_source_apr(&apr, &s), RISK_OK);
  ck_assert_u256_dec(apr, "7");
  /* decimals above 27: 27 - decimals underflows */
  s = oracle27(P5);
  s.decimals = 28;
  ck_assert_int_eq(risk_rate_source_apr_ray(&apr, &s), RISK_UNDERFLOW);
}
END_TEST

/* sparklend-advanced RateTargetKinkInterestRateStrategy.t.sol */
static struct risk_irm kink(const char *src, bool negative) {
  struct risk_irm m;
  memset(&m, 0, sizeof m);
  m.kind = RISK_IRM_RATE_TARGET_KINK;
  m.optimal_usage_ratio = U256_ZERO;
  m.base_variable_borrow_rate = D(P1);
  m.spread_negative = negative;
  m.spread = D(P0_5);
  m.variable_rate_slope2 = D(P55);
  m.source = oracle27(src);
  return m;
}

START_TEST(test_kink_5pct) {
  struct risk_irm m = kink(P5, true);
  struct risk_irm_params p;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert_u256_dec(p.variable_rate_slope1, "35000000000000000000000000");
  ck_assert_u256_dec(p.variable_rate_slope2, P55);
  ck_assert_u256_dec(p.base_variable_borrow_rate, P1);
  ck_assert_u256_dec(p.max_variable_borrow_rate, "595000000000000000000000000");
}
END_TEST

START_TEST(test_kink_7pct) {
  struct risk_irm m = kink(P7, true);
  struct risk_irm_params p;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert_u256_dec(p.variable_rate_slope1, "55000000000000000000000000");
  ck_assert_u256_dec(p.max_variable_borrow_rate, "615000000000000000000000000");
}
END_TEST

START_TEST(test_kink_below_base) {
  struct risk_irm m = kink(P1_2, true); /* 1.2% - 0.5% = 0.7% < 1% */
  struct risk_irm_params p;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert(u256_is_zero(p.variable_rate_slope1));
  ck_assert_u256_dec(p.max_variable_borrow_rate, "560000000000000000000000000");
  m = kink("0", true);
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert(u256_is_zero(p.variable_rate_slope1));
  ck_assert_u256_dec(p.max_variable_borrow_rate, "560000000000000000000000000");
}
END_TEST

START_TEST(test_kink_positive_spread) {
  struct risk_irm m = kink(P5, false);
  struct risk_irm_params p;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert_u256_dec(p.variable_rate_slope1, "45000000000000000000000000");
  ck_assert_u256_dec(p.max_variable_borrow_rate, "605000000000000000000000000");
}
END_TEST

/* sparklend-advanced RateTargetBaseInterestRateStrategy.t.sol: spread 0.5%, slope1 1%, slope2 45% */
START_TEST(test_rate_target_base) {
  struct risk_irm m;
  memset(&m, 0, sizeof m);
  m.kind = RISK_IRM_RATE_TARGET_BASE;
  m.spread = D(P0_5);
  m.variable_rate_slope1 = D(P1);
  m.variable_rate_slope2 = D(P45);
  m.source = oracle27(P5);
  struct risk_irm_params p;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert_u256_dec(p.base_variable_borrow_rate, "55000000000000000000000000");
  ck_assert_u256_dec(p.variable_rate_slope1, P1);
  ck_assert_u256_dec(p.max_variable_borrow_rate, "515000000000000000000000000");
  m.source = oracle27(P7);
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert_u256_dec(p.base_variable_borrow_rate, "75000000000000000000000000");
  ck_assert_u256_dec(p.max_variable_borrow_rate, "535000000000000000000000000");
  m.spread_negative = true;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_INVALID); /* spread is uint256 there */
}
END_TEST

/* sparklend-advanced VariableBorrowInterestRateStrategy.t.sol: base 0.5%, slope1 1%, slope2 45% */
START_TEST(test_variable_borrow_max) {
  struct risk_irm m;
  memset(&m, 0, sizeof m);
  m.kind = RISK_IRM_VARIABLE_BORROW;
  m.optimal_usage_ratio = D("800000000000000000000000000");
  m.base_variable_borrow_rate = D(P0_5);
  m.variable_rate_slope1 = D(P1);
  m.variable_rate_slope2 = D(P45);
  struct risk_irm_params p;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  ck_assert_u256_dec(p.max_variable_borrow_rate, "465000000000000000000000000");
  /* at 100% utilization the borrow rate is the max rate */
  struct risk_irm_rates r;
  ck_assert_int_eq(risk_irm_calculate(&r, &m, D("1000"), U256_ZERO, 0), RISK_OK);
  ck_assert_u256_dec(r.utilization, "1000000000000000000000000000");
  ck_assert_u256_dec(r.variable_borrow_rate, "465000000000000000000000000");
  ck_assert_u256_dec(r.liquidity_rate, "465000000000000000000000000");
  /* at the kink: base + slope1 */
  ck_assert_int_eq(risk_irm_calculate(&r, &m, D("800"), D("200"), 0), RISK_OK);
  ck_assert_u256_dec(r.variable_borrow_rate, "15000000000000000000000000");
  /* Uopt above RAY is rejected like the constructor does */
  m.optimal_usage_ratio = D("1000000000000000000000000001");
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_INVALID);
}
END_TEST

/* Default 3.0.2 vs Spark VariableBorrow on the USDT point at 90%: the borrow rate is
 * identical, the liquidity rate goes through the overall borrow rate
 *   rayMul(wadToRay(90e12) = 9e22, vr) = 3565191394400547668936
 *   ob = rayDiv(3565191394400547668936, 9e22) = 39613237715561640765955556   (vr + 1872)
 *   lr = percentMul(rayMul(ob, 0.9e27), 9900) = 35295394804565421922466400
 * (derived from the §2.4 formulas with Python integers, independently of risk/irm.c) */
START_TEST(test_default_rounding_differs) {
  struct risk_irm m = usdt();
  struct risk_irm_params p;
  ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
  struct risk_irm d;
  memset(&d, 0, sizeof d);
  d.kind = RISK_IRM_DEFAULT;
  d.optimal_usage_ratio = p.optimal_usage_ratio;
  d.base_variable_borrow_rate = p.base_variable_borrow_rate;
  d.variable_rate_slope1 = p.variable_rate_slope1;
  d.variable_rate_slope2 = p.variable_rate_slope2;
  struct risk_irm_rates r;
  ck_assert_int_eq(risk_irm_calculate(&r, &d, D("90000000000000"), D("10000000000000"), 100), RISK_OK);
  ck_assert_u256_dec(r.variable_borrow_rate, "39613237715561640765953684");
  ck_assert_u256_dec(r.liquidity_rate, "35295394804565421922466400");
  /* Default evaluates 10000 - RF even without debt */
  ck_assert_int_eq(risk_irm_calculate(&r, &d, U256_ZERO, D("1"), 10001), RISK_UNDERFLOW);
}
END_TEST

/* sparklend-advanced InterestRateStrategyBase.t.sol (fuzz, here a fixed pseudo-random sweep):
 * VariableBorrow and Default with the same parameters give identical borrow rates and
 * liquidity rates within 1e-6 relative. */
START_TEST(test_default_vs_variable_borrow_sweep) {
  struct risk_irm vb;
  memset(&vb, 0, sizeof vb);
  vb.kind = RISK_IRM_VARIABLE_BORROW;
  vb.optimal_usage_ratio = D("800000000000000000000000000");
  vb.base_variable_borrow_rate = D(P0_5);
  vb.variable_rate_slope1 = D(P1);
  vb.variable_rate_slope2 = D(P45);
  struct risk_irm df = vb;
  df.kind = RISK_IRM_DEFAULT;
  uint64_t x = 0x243F6A8885A308D3ull;
  for (int i = 0; i < 2000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    u256 debt = u256_from_u64((x >> 8) % 1000000000000000ull + 1);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    u256 liq = u256_from_u64((x >> 8) % 1000000000000000ull);
    uint32_t rf = (uint32_t)(x % 5001);
    struct risk_irm_rates a, b;
    ck_assert_int_eq(risk_irm_calculate(&a, &vb, debt, liq, rf), RISK_OK);
    ck_assert_int_eq(risk_irm_calculate(&b, &df, debt, liq, rf), RISK_OK);
    ck_assert(u256_eq(a.variable_borrow_rate, b.variable_borrow_rate));
    ck_assert(u256_eq(a.utilization, b.utilization));
    u256 hi = u256_max(a.liquidity_rate, b.liquidity_rate), lo = u256_min(a.liquidity_rate, b.liquidity_rate), d;
    ck_assert_int_eq(u256_sub(&d, hi, lo), RISK_OK);
    ck_assert_int_eq(u256_mul(&d, d, u256_from_u64(1000000)), RISK_OK);
    ck_assert(u256_le(d, hi));
  }
}
END_TEST

START_TEST(test_curve) {
  struct risk_irm m = usdt();
  struct risk_irm_curve c;
  ck_assert_int_eq(risk_irm_curve(&c, &m, 100), RISK_OK);
  ck_assert_uint_eq(c.count, 101); /* kink at 95% is a whole percent */
  ck_assert(u256_is_zero(c.points[0].utilization));
  ck_assert(u256_is_zero(c.points[0].liquidity_rate));
  ck_assert_u256_dec(c.points[90].utilization, "900000000000000000000000000");
  ck_assert_u256_dec(c.points[90].variable_borrow_rate, "39613237715561640765953684");
  ck_assert_u256_dec(c.points[90].liquidity_rate, "35295394804565421922464733");
  ck_assert_u256_dec(c.points[97].variable_borrow_rate, "101813973144203954141840000");
  ck_assert_u256_dec(c.points[97].liquidity_rate, "97771958410379057162408952");
  /* at the kink: srcAPR + spread = 41813973144203954141840000 */
  ck_assert_u256_dec(c.points[95].variable_borrow_rate, "41813973144203954141840000");
  /* at 100%: + slope2 */
  ck_assert_u256_dec(c.points[100].variable_borrow_rate, "191813973144203954141840000");
  for (size_t i = 1; i < c.count; i++)
    ck_assert(u256_gt(c.points[i].utilization, c.points[i - 1].utilization));

  m.optimal_usage_ratio = D("925000000000000000000000000"); /* 92.5%: inserted */
  ck_assert_int_eq(risk_irm_curve(&c, &m, 100), RISK_OK);
  ck_assert_uint_eq(c.count, 102);
  ck_assert_u256_dec(c.points[93].utilization, "925000000000000000000000000");
  ck_assert_u256_dec(c.points[93].variable_borrow_rate, "41813973144203954141840000");
  ck_assert_u256_dec(c.points[94].utilization, "930000000000000000000000000");
}
END_TEST

static Suite *irm_suite(void) {
  Suite *s = suite_create("irm");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_usdt_90pct);
  tcase_add_test(tc, test_usdt_97pct);
  tcase_add_test(tc, test_usdt_params);
  tcase_add_test(tc, test_zero_debt);
  tcase_add_test(tc, test_ssr_pot_apr);
  tcase_add_test(tc, test_capped_fallback);
  tcase_add_test(tc, test_kink_5pct);
  tcase_add_test(tc, test_kink_7pct);
  tcase_add_test(tc, test_kink_below_base);
  tcase_add_test(tc, test_kink_positive_spread);
  tcase_add_test(tc, test_rate_target_base);
  tcase_add_test(tc, test_variable_borrow_max);
  tcase_add_test(tc, test_default_rounding_differs);
  tcase_add_test(tc, test_default_vs_variable_borrow_sweep);
  tcase_add_test(tc, test_curve);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(irm_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
