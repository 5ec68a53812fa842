/* ctest-label: unit */
/* Ops risk analytics (risk/stress.h, risk/waterfall.h, risk/var.h, risk/concentration.h).
 * Expected numbers: hand derivations written next to each assertion (Aave v3.0.2
 * LiquidationLogic arithmetic, spec protocol-math §2.7), and, for whole books, a plain loop over
 * every account written here with risk_account_evaluate and risk_liquidation_compute and its own
 * choice of the liquidated pair. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/account.h"
#include "risk/concentration.h"
#include "risk/liquidation.h"
#include "risk/stress.h"
#include "risk/var.h"
#include "risk/wadray.h"
#include "risk/waterfall.h"

static u256 U(uint64_t v) { return u256_from_u64(v); }
static u256 D(const char *s) {
  u256 r;
  ck_assert_int_eq(u256_from_dec(&r, s, strlen(s)), RISK_OK);
  return r;
}
static void ck_u256(u256 got, const char *want) {
  char buf[U256_DEC_MAX];
  u256_to_dec(got, buf);
  ck_assert_str_eq(buf, want);
}

enum { WETH, USDC, WBTC, N_RES };

/* WETH $3,000 (LT 86%, bonus 5%, fee 10% of the bonus), USDC $1, WBTC $60,000 (LT 78%, bonus 7%),
 * all at RAY indexes so scaled == actual. */
static struct risk_market M, MS, MSA[32], MSC[6 * 21];
static struct risk_account AS;
static void market(struct risk_market *m) {
  memset(m, 0, sizeof *m);
  m->n_reserves = N_RES;
  for (int i = 0; i < N_RES; i++) {
    struct risk_acct_reserve *r = &m->reserves[i];
    r->listed = r->active = r->borrowing_enabled = true;
    r->liquidity_index = r->variable_borrow_index = RISK_RAY;
    r->available_liquidity = D("1000000000000000000000000000000");
    r->liquidation_bonus = 10500;
    r->liquidation_protocol_fee = 1000;
  }
  struct risk_acct_reserve *r = m->reserves;
  r[WETH].decimals = 18, r[WETH].ltv = 8500, r[WETH].liquidation_threshold = 8600, r[WETH].price = U(300000000000);
  r[USDC].decimals = 6, r[USDC].price = U(100000000);
  r[WBTC].decimals = 8, r[WBTC].ltv = 7300, r[WBTC].liquidation_threshold = 7800, r[WBTC].price = U(6000000000000);
  r[WBTC].liquidation_bonus = 10700;
  ck_assert_int_eq(risk_market_prepare(m), RISK_OK);
}

/* A growable book built by the tests. */
#define MAXP 20000
static struct risk_position P[MAXP];
static uint32_t FIRST[MAXP + 1];
static uint8_t EM[MAXP];
static struct risk_book B;
static void book_reset(void) {
  memset(&B, 0, sizeof B);
  B.pos = P, B.first = FIRST, B.emode = EM;
  FIRST[0] = 0;
}
static void acct_begin(void) {
  EM[B.n_accounts] = 0;
  FIRST[B.n_accounts + 1] = FIRST[B.n_accounts];
  B.n_accounts++;
}
static void acct_pos(uint16_t res, u256 supplied, bool coll, u256 debt) {
  uint32_t at = FIRST[B.n_accounts]++;
  P[at] = (struct risk_position){
      .reserve = res, .collateral = coll, .borrowing = !u256_is_zero(debt), .scaled_a = supplied, .scaled_debt = debt};
}

static const bool ONLY_WETH[RISK_MAX_RESERVES] = {[WETH] = true};
static struct risk_lar_point PTS[32];

START_TEST(test_lar_hand) {
  market(&M);
  book_reset();
  /* 10 WETH collateral, 20,000 USDC debt: HF = 30000 * 0.86 / 20000 = 1.29 */
  acct_begin();
  acct_pos(WETH, D("10000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(20000000000));
  uint32_t drops[] = {0, 2000, 2500, 4000};
  ck_assert_int_eq(risk_lar_curve(&M, &B, ONLY_WETH, drops, 4, MSA, &AS, PTS), RISK_OK);
  /* 0% and 20%: HF 1.29 and 24000*0.86/20000 = 1.032, nothing */
  ck_assert_uint_eq(PTS[0].accounts, 0);
  ck_assert_uint_eq(PTS[1].accounts, 0);
  ck_u256(PTS[1].collateral_seized_base, "0");
  /* 25%: price 2250e8, HF = 22500*0.86/20000 = 0.9675 > 0.95, close factor 50%: 10,000 USDC.
   * base collateral = 1e8 * 10000e6 * 1e18 / (2250e8 * 1e6) = 4444444444444444444
   * with bonus: (4444444444444444444 * 10500 + 5000) / 10000 = 4666666666666666666
   * bonus part = 4666666666666666666 - percentDiv(.., 10500) = 4666666666666666666 - 4444444444444444444
   *            = 222222222222222222; fee = (222222222222222222 * 1000 + 5000) / 10000 = 22222222222222222
   * base values at 2250e8: 4666666666666666666 * 2250e8 / 1e18 = 1049999999999, fee 4999999999,
   * debt 10000e6 * 1e8 / 1e6 = 1000000000000 */
  ck_assert_uint_eq(PTS[2].accounts, 1);
  ck_u256(PTS[2].debt_at_risk_base, "2000000000000");
  ck_u256(PTS[2].res[WETH].collateral_seized, "4666666666666666666");
  ck_u256(PTS[2].res[WETH].protocol_fee, "22222222222222222");
  ck_u256(PTS[2].res[USDC].debt_repaid, "10000000000");
  ck_u256(PTS[2].collateral_seized_base, "1049999999999");
  ck_u256(PTS[2].protocol_fee_base, "4999999999");
  ck_u256(PTS[2].debt_repaid_base, "1000000000000");
  /* 40%: price 1800e8, HF = 18000*0.86/20000 = 0.774 <= 0.95: close factor 100%, but 20,000 USDC
   * would need 11.67 WETH: all 10 WETH go, and the debt covered is
   * percentDiv(1800e8 * 10e18 * 1e6 / (1e8 * 1e18), 10500) = (18000000000 * 10000 + 5250) / 10500
   * = 17142857143; fee = ((10e18 - percentDiv(10e18, 10500)) * 1000 + 5000) / 10000
   * = (476190476190476190 * 1000 + 5000) / 10000 = 47619047619047619 */
  ck_assert_uint_eq(PTS[3].accounts, 1);
  ck_u256(PTS[3].res[WETH].collateral_seized, "10000000000000000000");
  ck_u256(PTS[3].res[USDC].debt_repaid, "17142857143");
  ck_u256(PTS[3].res[WETH].protocol_fee, "47619047619047619");
  ck_u256(PTS[3].collateral_seized_base, "1800000000000");
}
END_TEST

/* Health factors exactly at 1 and at the close factor's 0.95 (WETH at RAY indexes, $3,000, LT 86%):
 * amounts chosen (by a scan in Python) so that wadDiv lands on the threshold exactly. */
START_TEST(test_lar_exact_thresholds) {
  market(&M);
  book_reset();
  /* C = fl(33139534972093333334 * 3000e8 / 1e18) = 9941860491628, wl = percentMul(C, 8600) =
   * 8550000022800 = D: HF = fl((wl * 1e18 + D / 2) / D) = 1e18 exactly, not liquidatable */
  acct_begin();
  acct_pos(WETH, D("33139534972093333334"), true, U(0));
  acct_pos(USDC, U(0), false, U(85500000228));
  /* one USDC unit more: D = 8550000022900, HF = 999999999988304094 */
  acct_begin();
  acct_pos(WETH, D("33139534972093333334"), true, U(0));
  acct_pos(USDC, U(0), false, U(85500000229));
  /* C = 9941860491517, wl = 8550000022705, D = 9000000023900: HF = 0.95e18 exactly, so the whole
   * debt may be covered: 90000000239 USDC. base collateral = 1e8 * 90000000239 * 1e18 /
   * (3000e8 * 1e6) = 30000000079666666666, with the bonus 31500000083649999999 (below the
   * balance); fee = percentMul(31500000083649999999 - percentDiv(.., 10500), 1000) =
   * 150000000398333333; base values: collateral 9450000025094, fee 45000000119, debt 9000000023900 */
  acct_begin();
  acct_pos(WETH, D("33139534971723333334"), true, U(0));
  acct_pos(USDC, U(0), false, U(90000000239));
  uint32_t drops[] = {0};
  ck_assert_int_eq(risk_lar_curve(&M, &B, ONLY_WETH, drops, 1, MSA, &AS, PTS), RISK_OK);
  ck_assert_uint_eq(PTS[0].accounts, 2);
  ck_u256(PTS[0].debt_at_risk_base, "17550000046800"); /* 8550000022900 + 9000000023900 */
  /* the second account: HF 0.99999..., close factor 50%: percentMul(85500000229, 5000) = 42750000115 */
  ck_u256(PTS[0].res[USDC].debt_repaid, "132750000354"); /* 42750000115 + 90000000239 */
  struct risk_book third = {1, P, FIRST + 2, EM + 2};
  ck_assert_int_eq(risk_lar_curve(&M, &third, ONLY_WETH, drops, 1, MSA, &AS, PTS), RISK_OK);
  ck_u256(PTS[0].res[USDC].debt_repaid, "90000000239");
  ck_u256(PTS[0].res[WETH].collateral_seized, "31500000083649999999");
  ck_u256(PTS[0].res[WETH].protocol_fee, "150000000398333333");
  ck_u256(PTS[0].collateral_seized_base, "9450000025094");
  ck_u256(PTS[0].protocol_fee_base, "45000000119");
  ck_u256(PTS[0].debt_repaid_base, "9000000023900");
}
END_TEST

START_TEST(test_stress_bad_debt_and_cascade) {
  market(&M);
  book_reset();
  acct_begin();
  acct_pos(WETH, D("10000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(20000000000));
  memcpy(&MS, &M, sizeof M);
  struct risk_market shocked = M;
  shocked.reserves[WETH].price = U(180000000000); /* -40% */
  static struct risk_position work[MAXP];
  memcpy(work, P, sizeof P);
  static struct risk_slippage slip[RISK_MAX_RESERVES];
  memset(slip, 0, sizeof slip);
  uint8_t liq[4];
  static struct risk_stress_result r;
  ck_assert_int_eq(risk_stress_run(&shocked, &B, work, slip, 0, liq, &MS, &AS, &r), RISK_OK);
  /* all 10 WETH seized for 17142857143 USDC (test_lar_hand); left: 20000e6 - 17142857143 =
   * 2857142857 USDC of debt and no collateral: bad debt 2857142857 * 1e8 / 1e6 = 285714285700 */
  ck_assert_uint_eq(r.accounts_liquidated, 1);
  ck_assert_uint_eq(r.accounts_insolvent, 1);
  ck_u256(r.bad_debt_base, "285714285700");
  ck_u256(r.res[USDC].bad_debt_base, "285714285700");
  ck_u256(r.recovery_base, "1800000000000");
  ck_assert(!work[0].collateral);
  ck_u256(work[1].scaled_debt, "2857142857");

  /* slippage: spread 0, y 1, sigma 0.04, depth = 4 * 1800e9 = 7200e9 base: impact =
   * 0.04 * sqrt(1800e9 / 7200e9) = 0.04 * 0.5 = 2% = 200 bps; recovery = 1800e9 * 0.98 = 1764e9 */
  memcpy(work, P, sizeof P);
  slip[WETH] = (struct risk_slippage){.set = true, .spread_bps = 0, .sigma_day = 0.04, .depth_base = 7200e9, .y = 1};
  ck_assert_uint_eq(risk_slippage_impact_bps(&slip[WETH], U(1800000000000)), 200);
  ck_assert_int_eq(risk_stress_run(&shocked, &B, work, slip, 0, liq, &MS, &AS, &r), RISK_OK);
  ck_u256(r.recovery_base, "1764000000000");
  ck_assert_uint_eq(r.res[WETH].slippage_bps, 200);

  /* cascade: a second account, 10 WETH against 14,000 USDC (HF at 1800: 18000*.86/14000 = 1.1057)
   * survives round 0; round 0's selling lowers WETH by 2% to 1764e8 (HF 1.0836), still safe, so
   * round 1 liquidates nobody and the cascade stops there */
  acct_begin();
  acct_pos(WETH, D("10000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(14000000000));
  memcpy(work, P, sizeof P);
  ck_assert_int_eq(risk_stress_run(&shocked, &B, work, slip, 2, liq, &MS, &AS, &r), RISK_OK);
  ck_assert_uint_eq(r.n_rounds, 2);
  ck_assert_uint_eq(r.rounds[0].accounts, 1);
  ck_assert_uint_eq(r.rounds[1].accounts, 0);
  ck_u256(r.res[WETH].price_after, "176400000000");
  /* with a 30% impact the second round bites: WETH 1800 -> 1260, HF = 12600*.86/14000 = 0.774 */
  slip[WETH].sigma_day = 0.6; /* 0.6 * 0.5 = 30% */
  memcpy(work, P, sizeof P);
  ck_assert_int_eq(risk_stress_run(&shocked, &B, work, slip, 2, liq, &MS, &AS, &r), RISK_OK);
  ck_assert_uint_eq(r.rounds[1].accounts, 1);
  ck_assert_uint_eq(r.accounts_liquidated, 2);
}
END_TEST

/* A collateral priced 0 (a 100% drop, or an oracle answering 0). On chain,
 * LiquidationLogic._calculateAvailableCollateralToLiquidate (Aave v3.0.2, SparkLend) computes
 * baseCollateral = debtPrice * debtToCover * collateralUnit / (collateralPrice * debtUnit): a
 * collateral price of 0 divides by zero and liquidationCall reverts (Panic 0x12). So the account
 * is below HF 1 (counted, its debt at risk) but nothing can be seized through that collateral; a
 * liquidator takes another one, and with none left the whole shortfall is bad debt. */
START_TEST(test_zero_price_hand) {
  market(&M);
  book_reset();
  /* 10 WETH vs 20,000 USDC */
  acct_begin();
  acct_pos(WETH, D("10000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(20000000000));
  uint32_t drops[] = {10000, 9999};
  ck_assert_int_eq(risk_lar_curve(&M, &B, ONLY_WETH, drops, 2, MSA, &AS, PTS), RISK_OK);
  /* 100%: HF 0, counted with its 20,000 USDC of debt (2000000000000 base); nothing seized */
  ck_assert_uint_eq(PTS[0].accounts, 1);
  ck_u256(PTS[0].debt_at_risk_base, "2000000000000");
  ck_u256(PTS[0].collateral_seized_base, "0");
  ck_u256(PTS[0].debt_repaid_base, "0");
  ck_u256(PTS[0].res[WETH].collateral_seized, "0");
  /* 99.99%: WETH 30000000 base ($0.30): all 10 WETH ($3 = 300000000 base) go for
   * percentDiv(fl(30000000 * 10e18 * 1e6 / (1e8 * 1e18)), 10500) = percentDiv(3000000, 10500)
   * = (3000000 * 10000 + 5250) / 10500 = 2857143 USDC units */
  ck_assert_uint_eq(PTS[1].accounts, 1);
  ck_u256(PTS[1].res[WETH].collateral_seized, "10000000000000000000");
  ck_u256(PTS[1].res[USDC].debt_repaid, "2857143");

  /* stress at WETH 0: below HF 1, not liquidated; bad debt = the whole 20,000 USDC */
  struct risk_market z = M;
  z.reserves[WETH].price = U256_ZERO;
  static struct risk_position work[MAXP];
  static struct risk_slippage slip[RISK_MAX_RESERVES];
  static struct risk_stress_result r;
  uint8_t fl[4];
  memset(slip, 0, sizeof slip);
  memcpy(work, P, sizeof P);
  ck_assert_int_eq(risk_stress_run(&z, &B, work, slip, 2, fl, &MS, &AS, &r), RISK_OK);
  ck_assert_uint_eq(fl[0], RISK_STRESS_BELOW_ONE);
  ck_assert_uint_eq(r.accounts_liquidated, 0);
  ck_assert_uint_eq(r.accounts_insolvent, 1);
  ck_assert_uint_eq(r.n_rounds, 1); /* nothing liquidated in round 0: no cascade */
  ck_u256(r.bad_debt_base, "2000000000000");
  ck_u256(r.res[USDC].bad_debt_base, "2000000000000");
  ck_u256(r.collateral_seized_base, "0");

  /* two collaterals, WETH goes to 0: 10 WETH + 0.5 WBTC ($30,000) vs 40,000 USDC.
   * HF = percentMul(3000000000000, 7800) / 4000000000000 = 0.585 <= 0.95: close factor 100%.
   * WETH (id 0, value 0) is passed over for WBTC: base collateral = 1e8 * 40000e6 * 1e8 /
   * (60000e8 * 1e6) = 66666666 sat, with the 7% bonus 71333333 > 50000000: all 0.5 WBTC go for
   * percentDiv(fl(60000e8 * 50000000 * 1e6 / (1e8 * 1e8)), 10700) = (30000000000 * 10000 + 5350)
   * / 10700 = 28037383178 USDC units; fee = percentMul(50000000 - percentDiv(50000000, 10700),
   * 1000) = percentMul(50000000 - 46728972, 1000) = 327103 sat (19626180000 base) */
  book_reset();
  acct_begin();
  acct_pos(WETH, D("10000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(40000000000));
  acct_pos(WBTC, U(50000000), true, U(0));
  ck_assert_int_eq(risk_lar_curve(&M, &B, ONLY_WETH, drops, 1, MSA, &AS, PTS), RISK_OK);
  ck_assert_uint_eq(PTS[0].accounts, 1);
  ck_u256(PTS[0].res[WETH].collateral_seized, "0");
  ck_u256(PTS[0].res[WBTC].collateral_seized, "50000000");
  ck_u256(PTS[0].res[WBTC].protocol_fee, "327103");
  ck_u256(PTS[0].res[USDC].debt_repaid, "28037383178");
  ck_u256(PTS[0].collateral_seized_base, "3000000000000");
  ck_u256(PTS[0].protocol_fee_base, "19626180000");
  ck_u256(PTS[0].debt_repaid_base, "2803738317800");
  /* stressed: liquidated once, then only WETH at 0 is left against 40000000000 - 28037383178
   * = 11962616822 USDC: bad debt 1196261682200 */
  memcpy(work, P, sizeof P);
  ck_assert_int_eq(risk_stress_run(&z, &B, work, slip, 2, fl, &MS, &AS, &r), RISK_OK);
  ck_assert_uint_eq(fl[0], RISK_STRESS_LIQUIDATED | RISK_STRESS_BELOW_ONE);
  ck_assert_uint_eq(r.accounts_liquidated, 1);
  ck_assert_uint_eq(r.accounts_insolvent, 1);
  ck_u256(r.bad_debt_base, "1196261682200");
  ck_u256(r.recovery_base, "3000000000000");

  /* both collaterals at 0: nothing to seize, all 40,000 USDC bad */
  z.reserves[WBTC].price = U256_ZERO;
  memcpy(work, P, sizeof P);
  ck_assert_int_eq(risk_stress_run(&z, &B, work, slip, 0, fl, &MS, &AS, &r), RISK_OK);
  ck_assert_uint_eq(r.accounts_liquidated, 0);
  ck_u256(r.bad_debt_base, "4000000000000");

  /* a cascade to 0: the 50% close factor leaves collateral, a 100% impact zeroes WETH for round 1.
   * 1 WETH vs 2,700 USDC: HF = 3000 * .86 / 2700 = 0.9556: 1,350 USDC covered for 0.4725 WETH
   * (test_lar_hand's arithmetic at $3,000); 0.5275 WETH left at price 0 against 1,350 USDC */
  book_reset();
  acct_begin();
  acct_pos(WETH, D("1000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(2700000000));
  memcpy(work, P, sizeof P);
  slip[WETH] = (struct risk_slippage){.set = true, .spread_bps = 10000, .sigma_day = 1, .depth_base = 1, .y = 18};
  ck_assert_int_eq(risk_stress_run(&M, &B, work, slip, 5, fl, &MS, &AS, &r), RISK_OK);
  ck_assert_uint_eq(r.n_rounds, 2);
  ck_assert_uint_eq(r.rounds[0].accounts, 1);
  ck_assert_uint_eq(r.rounds[1].accounts, 0);
  ck_u256(r.res[WETH].price_after, "0");
  ck_assert_uint_eq(r.res[WETH].slippage_bps, 10000);
  ck_u256(r.recovery_base, "0");
  ck_u256(r.bad_debt_base, "135000000000");
}
END_TEST

/* ---- random books against a plain loop ---- */
static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void random_book(size_t n) {
  book_reset();
  for (size_t i = 0; i < n; i++) {
    acct_begin();
    /* collateral in WETH and/or WBTC, debt in USDC and sometimes WETH */
    uint64_t weth = rnd() % 20 + 1, wbtc = rnd() % 3;
    bool weth_debt = rnd() % 5 == 0;
    u256 sup = U(weth * 500000000000000000ull); /* weth / 2 WETH */
    /* value $1,500 * weth; borrow 40%..90% of the LT value */
    uint64_t lt_value = weth * 1290 + wbtc * 46800; /* USD: 1500*.86 per half-WETH unit, 60000*.78 */
    uint64_t borrow = lt_value * (40 + rnd() % 51) / 100;
    bool no_weth = wbtc && rnd() % 5 == 0; /* a BTC-only account: untouched by a WETH-only grid */
    if (no_weth) {
      lt_value = wbtc * 46800;
      borrow = lt_value * (40 + rnd() % 51) / 100;
    } else if (weth_debt) {
      /* at most weth * 0.019 WETH = weth * $57 of WETH debt, under 4.5% of the LT value */
      acct_pos(WETH, sup, true, U(1000000000000000ull * weth * (rnd() % 20)));
    } else {
      acct_pos(WETH, sup, true, U(0));
    }
    acct_pos(USDC, U(0), false, U(borrow * 1000000ull));
    if (wbtc) acct_pos(WBTC, U(wbtc * 100000000ull), true, U(0));
  }
}

/* The test's own pick: largest collateral and debt by base value, first on ties. */
static void plain_point(const struct risk_market *m, uint64_t *accounts, u256 *coll_base, u256 *debt_base,
                        u256 *fee_base) {
  static struct risk_account a;
  *accounts = 0;
  *coll_base = *debt_base = *fee_base = U256_ZERO;
  for (size_t i = 0; i < B.n_accounts; i++) {
    memset(&a, 0, sizeof a);
    a.n_positions = FIRST[i + 1] - FIRST[i];
    memcpy(a.pos, P + FIRST[i], a.n_positions * sizeof *P);
    struct risk_account_data d;
    ck_assert_int_eq(risk_account_evaluate(m, &a, &d), RISK_OK);
    if (u256_is_zero(d.total_debt_base) || u256_ge(d.health_factor, RISK_WAD)) continue;
    (*accounts)++;
    int bc = -1, bd = -1;
    u256 vc = U256_ZERO, vd = U256_ZERO;
    for (uint32_t j = 0; j < a.n_positions; j++) {
      const struct risk_position *p = &a.pos[j];
      const struct risk_acct_reserve *r = &m->reserves[p->reserve];
      u256 amt, v;
      if (p->collateral && !u256_is_zero(p->scaled_a) && !u256_is_zero(r->price)) {
        risk_ray_mul(&amt, p->scaled_a, r->liquidity_index);
        u256_muldiv(&v, amt, r->price, r->unit);
        if (bc < 0 || u256_gt(v, vc)) bc = p->reserve, vc = v;
      }
      if (!u256_is_zero(p->scaled_debt)) {
        risk_ray_mul(&amt, p->scaled_debt, r->variable_borrow_index);
        u256_muldiv(&v, amt, r->price, r->unit);
        if (bd < 0 || u256_gt(v, vd)) bd = p->reserve, vd = v;
      }
    }
    if (bc < 0) continue; /* every collateral priced 0: counted, nothing seized */
    struct risk_liquidation l;
    ck_assert_int_eq(risk_liquidation_compute(m, &a, (uint16_t)bc, (uint16_t)bd, U256_MAX, &l), RISK_OK);
    ck_assert_int_eq(l.error, RISK_ONCHAIN_OK);
    u256 v;
    u256_muldiv(&v, l.collateral_amount, m->reserves[bc].price, m->reserves[bc].unit);
    *coll_base = u256_add_wrap(*coll_base, v);
    u256_muldiv(&v, l.debt_to_cover, m->reserves[bd].price, m->reserves[bd].unit);
    *debt_base = u256_add_wrap(*debt_base, v);
    u256_muldiv(&v, l.protocol_fee, m->reserves[bc].price, m->reserves[bc].unit);
    *fee_base = u256_add_wrap(*fee_base, v);
  }
}

START_TEST(test_lar_equals_plain_loop) {
  market(&M);
  random_book(3000);
  uint32_t drops[21];
  for (int i = 0; i < 21; i++)
    drops[i] = (uint32_t)(i * 250);
  const bool both[RISK_MAX_RESERVES] = {[WETH] = true, [WBTC] = true};
  ck_assert_int_eq(risk_lar_curve(&M, &B, both, drops, 21, MSA, &AS, PTS), RISK_OK);
  uint64_t total = 0;
  for (int g = 0; g < 21; g++) {
    struct risk_market sm = M;
    for (int r = 0; r < N_RES; r++)
      if (both[r]) {
        /* price * (10000 - bps) / 10000, floored */
        u256_muldiv(&sm.reserves[r].price, M.reserves[r].price, U(10000 - drops[g]), U(10000));
      }
    uint64_t n;
    u256 cb, db, fb;
    plain_point(&sm, &n, &cb, &db, &fb);
    ck_assert_uint_eq(PTS[g].accounts, n);
    ck_assert(u256_eq(PTS[g].collateral_seized_base, cb));
    ck_assert(u256_eq(PTS[g].debt_repaid_base, db));
    ck_assert(u256_eq(PTS[g].protocol_fee_base, fb));
    total += n;
  }
  ck_assert_uint_eq(PTS[0].accounts, 0); /* every account was opened below its LT: healthy book */
  ck_assert_uint_gt(total, 1000);        /* the grid does liquidate a good part of the book */
  ck_assert_uint_gt(PTS[20].accounts, PTS[10].accounts);
  /* the same grid in another order (and WETH alone) gives the same points */
  static struct risk_lar_point again[21];
  uint32_t rev[21];
  for (int i = 0; i < 21; i++)
    rev[i] = drops[20 - i];
  ck_assert_int_eq(risk_lar_curve(&M, &B, both, rev, 21, MSA, &AS, again), RISK_OK);
  for (int g = 0; g < 21; g++)
    ck_assert(memcmp(&again[g], &PTS[20 - g], sizeof again[g]) == 0);
  /* the book in two parts (as the handler splits it over two threads) adds up to the whole */
  static struct risk_lar_point part[21];
  struct risk_book h1 = {1234, P, FIRST, EM}, h2 = {B.n_accounts - 1234, P, FIRST + 1234, EM + 1234};
  ck_assert_int_eq(risk_lar_curve(&M, &h1, both, drops, 21, MSA, &AS, again), RISK_OK);
  ck_assert_int_eq(risk_lar_curve(&M, &h2, both, drops, 21, MSA, &AS, part), RISK_OK);
  for (int g = 0; g < 21; g++) {
    ck_assert_int_eq(risk_lar_point_add(&again[g], &part[g]), RISK_OK);
    ck_assert(memcmp(&again[g], &PTS[g], sizeof again[g]) == 0);
  }
  ck_assert_int_eq(risk_lar_curve(&M, &B, ONLY_WETH, drops, 21, MSA, &AS, PTS), RISK_OK);
  for (int g = 0; g < 21; g++) {
    struct risk_market sm = M;
    u256_muldiv(&sm.reserves[WETH].price, M.reserves[WETH].price, U(10000 - drops[g]), U(10000));
    uint64_t n;
    u256 cb, db, fb;
    plain_point(&sm, &n, &cb, &db, &fb);
    ck_assert_uint_eq(PTS[g].accounts, n);
    ck_assert(u256_eq(PTS[g].collateral_seized_base, cb) && u256_eq(PTS[g].debt_repaid_base, db) &&
              u256_eq(PTS[g].protocol_fee_base, fb));
  }
}
END_TEST

/* ---- random markets and books with every case the fast path treats apart, against a plain loop
 * over every account and point that fills every field ---- */
enum { R_WETH, R_WSTETH, R_WBTC, R_USDC, R_DAI, R_ISO, R_BIG, R_PAUSED, R_LT0, R_UNLISTED, R_N };

static void random_market(struct risk_market *m) {
  memset(m, 0, sizeof *m);
  m->n_reserves = R_N;
  static const struct {
    uint32_t dec, lt, bonus, fee, cat;
    uint64_t price;
  } SPEC[R_N] = {
      [R_WETH] = {18, 8300, 10500, 1000, 1, 300000000000ull},  [R_WSTETH] = {18, 8100, 10600, 1000, 1, 350000000000ull},
      [R_WBTC] = {8, 7800, 10700, 2000, 0, 6000000000000ull},  [R_USDC] = {6, 0, 10450, 1000, 0, 100000000ull},
      [R_DAI] = {18, 7700, 10450, 0, 0, 99990000ull},          [R_ISO] = {18, 6500, 11000, 0, 0, 250000000ull},
      [R_BIG] = {30, 7000, 10800, 1000, 0, 100000000ull}, /* beyond the fast path's 27 decimals */
      [R_PAUSED] = {18, 7500, 10500, 1000, 0, 1000000000ull},  [R_LT0] = {18, 0, 10500, 1000, 0, 500000000ull},
      [R_UNLISTED] = {18, 8000, 10500, 1000, 0, 100000000ull},
  };
  for (int i = 0; i < R_N; i++) {
    struct risk_acct_reserve *r = &m->reserves[i];
    r->listed = i != R_UNLISTED;
    r->active = r->borrowing_enabled = true;
    r->paused = i == R_PAUSED;
    r->decimals = SPEC[i].dec, r->liquidation_threshold = SPEC[i].lt, r->ltv = SPEC[i].lt ? SPEC[i].lt - 200 : 0;
    r->liquidation_bonus = SPEC[i].bonus, r->liquidation_protocol_fee = SPEC[i].fee;
    r->emode_category = SPEC[i].cat;
    r->debt_ceiling = i == R_ISO ? 100000000 : 0;
    r->price = U(SPEC[i].price + rnd() % 1000);
    /* indexes between 1 and 1.5 RAY, so rayMul and rayDiv round */
    u256 t;
    u256_muldiv(&t, RISK_RAY, U(rnd() % 500000), U(1000000));
    r->liquidity_index = u256_add_wrap(RISK_RAY, t);
    u256_muldiv(&t, RISK_RAY, U(rnd() % 500000), U(1000000));
    r->variable_borrow_index = u256_add_wrap(RISK_RAY, t);
    r->available_liquidity = D("1000000000000000000000000000000000000");
  }
  m->emode[1] = (struct risk_emode_category){.ltv = 9000, .liquidation_threshold = 9300, .liquidation_bonus = 10100};
  m->emode[2] = (struct risk_emode_category){0}; /* an unset category: LT 0 for its members */
  ck_assert_int_eq(risk_market_prepare(m), RISK_OK);
}

/* Token amount worth usd dollars at r's price, scaled by index (so its rayMul is about that). */
static u256 scaled_for(const struct risk_acct_reserve *r, uint64_t usd, u256 index) {
  u256 amt, sc;
  u256_muldiv(&amt, U(usd), u256_mul(&amt, r->unit, U(100000000)) ? U256_ZERO : amt, r->price);
  u256_muldiv(&sc, amt, RISK_RAY, index);
  return sc;
}

static void shocked_market(const struct risk_market *base, const bool *shocked, uint32_t drop,
                           struct risk_market *out) {
  *out = *base;
  for (uint32_t r = 0; r < base->n_reserves; r++)
    if (shocked[r]) u256_muldiv(&out->reserves[r].price, base->reserves[r].price, U(10000 - drop), U(10000));
}

/* The pick of the documented rule, written here apart from risk/stress.c: the largest collateral
 * (bit set, listed, LT != 0, balance != 0) priced above 0 (liquidationCall against a collateral
 * priced 0 divides by zero on chain: Panic 0x12) and the largest debt, by base value, lower id on
 * ties; -1 when none. */
static void plain_pick(const struct risk_market *m, const struct risk_account *a, int *bc, int *bd) {
  u256 vc = U256_ZERO, vd = U256_ZERO, amt, v;
  *bc = *bd = -1;
  for (uint32_t j = 0; j < a->n_positions; j++) {
    const struct risk_position *p = &a->pos[j];
    const struct risk_acct_reserve *r = &m->reserves[p->reserve];
    if (!r->listed) continue;
    if (p->collateral && r->liquidation_threshold != 0 && !u256_is_zero(p->scaled_a) && !u256_is_zero(r->price)) {
      ck_assert_int_eq(risk_ray_mul(&amt, p->scaled_a, r->liquidity_index), RISK_OK);
      ck_assert_int_eq(u256_muldiv(&v, amt, r->price, r->unit), RISK_OK);
      if (*bc < 0 || u256_gt(v, vc)) *bc = p->reserve, vc = v;
    }
    if (p->borrowing && !u256_is_zero(p->scaled_debt)) {
      ck_assert_int_eq(risk_ray_mul(&amt, p->scaled_debt, r->variable_borrow_index), RISK_OK);
      ck_assert_int_eq(u256_muldiv(&v, amt, r->price, r->unit), RISK_OK);
      if (*bd < 0 || u256_gt(v, vd)) *bd = p->reserve, vd = v;
    }
  }
}

/* The documented figures of one point, account by account: evaluation, plain_pick, and
 * risk_liquidation_compute with "as much as allowed". Returns the first engine error. */
static risk_err plain_lar_point(const struct risk_market *m, uint32_t drop, struct risk_lar_point *pt) {
  static struct risk_account a;
  memset(pt, 0, sizeof *pt);
  pt->drop_bps = drop;
  risk_err e;
  for (size_t i = 0; i < B.n_accounts; i++) {
    memset(&a, 0, sizeof a);
    a.emode_category = EM[i];
    a.n_positions = FIRST[i + 1] - FIRST[i];
    memcpy(a.pos, P + FIRST[i], a.n_positions * sizeof *P);
    struct risk_account_data d;
    if ((e = risk_account_evaluate(m, &a, &d))) return e;
    if (u256_is_zero(d.total_debt_base) || u256_ge(d.health_factor, RISK_WAD)) continue;
    pt->accounts++;
    pt->debt_at_risk_base = u256_add_wrap(pt->debt_at_risk_base, d.total_debt_base);
    int bc, bd;
    u256 v;
    plain_pick(m, &a, &bc, &bd);
    if (bc < 0 || bd < 0) continue;
    struct risk_liquidation l;
    if ((e = risk_liquidation_compute(m, &a, (uint16_t)bc, (uint16_t)bd, U256_MAX, &l))) return e;
    if (l.error != RISK_ONCHAIN_OK) continue;
    const struct risk_acct_reserve *cr = &m->reserves[bc], *dr = &m->reserves[bd];
    struct risk_liq_totals *ct = &pt->res[bc], *dt = &pt->res[bd];
    ct->collateral_seized = u256_add_wrap(ct->collateral_seized, l.collateral_amount);
    ct->protocol_fee = u256_add_wrap(ct->protocol_fee, l.protocol_fee);
    dt->debt_repaid = u256_add_wrap(dt->debt_repaid, l.debt_to_cover);
    u256_muldiv(&v, l.collateral_amount, cr->price, cr->unit);
    ct->collateral_seized_base = u256_add_wrap(ct->collateral_seized_base, v);
    pt->collateral_seized_base = u256_add_wrap(pt->collateral_seized_base, v);
    u256_muldiv(&v, l.protocol_fee, cr->price, cr->unit);
    ct->protocol_fee_base = u256_add_wrap(ct->protocol_fee_base, v);
    pt->protocol_fee_base = u256_add_wrap(pt->protocol_fee_base, v);
    u256_muldiv(&v, l.debt_to_cover, dr->price, dr->unit);
    dt->debt_repaid_base = u256_add_wrap(dt->debt_repaid_base, v);
    pt->debt_repaid_base = u256_add_wrap(pt->debt_repaid_base, v);
  }
  return RISK_OK;
}

/* The health factor of the account being built (the last of B) at m. */
static u256 last_hf(const struct risk_market *m) {
  size_t i = B.n_accounts - 1;
  struct risk_account_data d;
  ck_assert_int_eq(risk_account_evaluate_positions(m, P + FIRST[i], FIRST[i + 1] - FIRST[i], EM[i], &d), RISK_OK);
  return d.health_factor;
}

/* A book of n accounts: 1-4 positions each over every reserve kind, collateral bits on or off,
 * debt in shocked and unshocked assets, eModes 0, 1 and an unset 2, isolated collateral, accounts
 * without collateral or without debt, and some accounts put exactly on the HF = 1 boundary at
 * the market `edge` (the largest debt with HF >= 1 there, one unit more is below). */
static void random_mixed_book(const struct risk_market *m, const struct risk_market *edge, size_t n,
                              unsigned boundary_in_8, bool ties) {
  book_reset();
  for (size_t i = 0; i < n; i++) {
    acct_begin();
    uint32_t k = B.n_accounts - 1;
    uint64_t x = rnd() % 100;
    EM[k] = x < 30 ? 1 : x < 35 ? 2 : 0;
    bool held[R_N] = {0};
    int np = 1 + (int)(rnd() % 4);
    if (rnd() % 8 == 0) { /* isolated: the isolated asset is the only collateral */
      held[R_ISO] = true;
      np = 2;
    }
    while (np-- > 0)
      held[rnd() % R_N] = true;
    uint64_t lt_usd = 0;
    bool coll[R_N] = {0}, debt[R_N] = {0};
    uint64_t usd[R_N] = {0};
    for (int r = 0; r < R_N; r++) {
      if (!held[r]) continue;
      coll[r] = rnd() % 10 < 8 && (r == R_ISO || !held[R_ISO]);
      usd[r] = 10 + rnd() % 3000000;
      if (coll[r] && m->reserves[r].listed) lt_usd += usd[r] / 10000 * m->reserves[r].liquidation_threshold;
    }
    int nd = rnd() % 6 == 0 ? 0 : 1 + (int)(rnd() % 2);
    for (int j = 0; j < nd; j++) {
      static const int DEBTS[] = {R_USDC, R_DAI, R_WETH, R_WBTC, R_USDC, R_BIG, R_PAUSED};
      int r = DEBTS[rnd() % 7];
      held[r] = debt[r] = true;
    }
    for (int r = 0; r < R_N; r++) {
      if (!held[r]) continue;
      const struct risk_acct_reserve *res = &m->reserves[r];
      u256 sup = coll[r] || rnd() % 3 == 0 ? scaled_for(res, usd[r], res->liquidity_index) : U256_ZERO;
      u256 dbt = U256_ZERO;
      if (debt[r]) {
        /* a total debt of 30%..120% of the LT value (or a small one with no collateral) */
        uint64_t want = lt_usd ? lt_usd * (30 + rnd() % 91) / 100 / (uint64_t)nd : 100 + rnd() % 10000;
        dbt = scaled_for(res, want ? want : 1, res->variable_borrow_index);
        if (u256_is_zero(dbt)) dbt = U(1);
      }
      acct_pos((uint16_t)r, sup, coll[r], dbt);
    }
    if (FIRST[k + 1] == FIRST[k]) acct_pos(R_USDC, U(0), false, U(1000000)); /* debt only */
    if (ties) {
      /* WSTETH is WETH's twin in this market: equal balances give equal values, and the pick
       * must take the lower id */
      struct risk_position *w = NULL, *st = NULL;
      for (uint32_t j = FIRST[k]; j < FIRST[k + 1]; j++) {
        if (P[j].reserve == R_WETH) w = &P[j];
        if (P[j].reserve == R_WSTETH) st = &P[j];
      }
      if (w && st) {
        st->scaled_a = w->scaled_a, st->collateral = w->collateral;
        st->scaled_debt = w->scaled_debt, st->borrowing = w->borrowing;
      }
    }
    if (rnd() % 8 < boundary_in_8) {
      /* on the boundary at `edge`: the largest scaled debt of its first borrowed position with
       * HF >= 1 there */
      struct risk_position *p = NULL;
      for (uint32_t j = FIRST[k]; j < FIRST[k + 1]; j++)
        if (P[j].borrowing) {
          p = &P[j];
          break;
        }
      if (!p) continue;
      u256 lo = U(0), hi = p->scaled_debt;
      for (int t = 0; t < 80 && u256_ge(last_hf(edge), RISK_WAD); t++)
        p->scaled_debt = hi = u256_shl(hi, 1);
      if (u256_ge(last_hf(edge), RISK_WAD)) continue; /* no boundary within reach */
      while (u256_gt(u256_sub_wrap(hi, lo), U256_ONE)) {
        u256 mid = u256_add_wrap(lo, u256_shr(u256_sub_wrap(hi, lo), 1));
        p->scaled_debt = mid;
        if (u256_ge(last_hf(edge), RISK_WAD))
          lo = mid;
        else
          hi = mid;
      }
      p->scaled_debt = lo;
      p->borrowing = !u256_is_zero(lo);
    }
  }
}

START_TEST(test_lar_random_books_every_field) {
  static struct risk_market base, edge, sm;
  static struct risk_lar_point got[32];
  uint64_t compared = 0, liquidated = 0, boundary_points = 0, zero_points = 0, errors = 0, multi_compared = 0;
  for (int book = 0; book < 40; book++) {
    random_market(&base);
    bool shocked[RISK_MAX_RESERVES] = {0};
    bool any = false;
    for (int r = 0; r < R_N; r++)
      any |= shocked[r] = rnd() % 5 < 2;
    if (!any || book % 4 == 0) shocked[R_WETH] = shocked[R_WSTETH] = shocked[R_WBTC] = true;
    if (book % 5 == 1) shocked[R_USDC] = shocked[R_DAI] = true; /* the debt falls too */
    /* a grid of 1..21 points in any order, with 0, duplicates, and near or at 100% */
    uint32_t drops[21];
    size_t nd = 1 + rnd() % 21;
    for (size_t g = 0; g < nd; g++)
      drops[g] = (uint32_t)(rnd() % 4 == 0 ? 250 * (rnd() % 41) : rnd() % 10000);
    if (nd > 2) drops[0] = 0, drops[nd - 1] = drops[1];
    if (book % 3 == 0) drops[rnd() % nd] = 9999;
    if (book % 3 == 1) drops[rnd() % nd] = 10000; /* shocked assets at price 0 */
    bool fine = book % 4 == 2, ties = book % 6 == 5;
    if (fine) {
      /* consecutive drops, with half the book on the boundary in the middle: the floored
       * average LT makes the health factor a sawtooth at this scale */
      uint32_t start = (uint32_t)(rnd() % 8000);
      nd = 21;
      for (size_t g = 0; g < nd; g++)
        drops[g] = start + (uint32_t)g;
    }
    if (ties) {
      struct risk_acct_reserve *w = &base.reserves[R_WETH], *st = &base.reserves[R_WSTETH];
      st->price = w->price, st->liquidity_index = w->liquidity_index;
      st->variable_borrow_index = w->variable_borrow_index;
      shocked[R_WSTETH] = shocked[R_WETH];
    }
    shocked_market(&base, shocked, drops[fine ? 10 : rnd() % nd], &edge);
    random_mixed_book(&base, &edge, 300, fine ? 4 : 1, ties);
    /* an oracle answering 0 for a collateral, shocked or not (the book was built at its price) */
    if (book % 5 == 3) base.reserves[rnd() % 2 ? R_WSTETH : R_DAI].price = U256_ZERO;
    risk_err e = risk_lar_curve(&base, &B, shocked, drops, nd, MSA, &AS, got);
    static struct risk_lar_point want_all[21];
    risk_err pe = RISK_OK;
    for (size_t g = 0; g < nd && !pe; g++) {
      shocked_market(&base, shocked, drops[g], &sm);
      pe = plain_lar_point(&sm, drops[g], &want_all[g]);
    }
    /* an engine error (a 30-decimal reserve's products leaving 256 bits) is the curve's error
     * too; a price of 0 is never one */
    ck_assert_msg((pe != RISK_OK) == (e != RISK_OK) && pe != RISK_DIV_BY_ZERO && e != RISK_DIV_BY_ZERO,
                  "book %d: curve %s, plain loop %s", book, risk_err_name(e), risk_err_name(pe));
    errors += pe != RISK_OK;
    if (!pe) {
      /* several curves in one pass (as the endpoint asks): the book's shock set, single assets
       * (collateral, debt, both kinds), a pair, every reserve, and nothing; each curve's points
       * are its own plain loop's */
      enum { NC = 6 };
      static bool sets[NC][RISK_MAX_RESERVES];
      static struct risk_lar_point multi[NC * 21], want1;
      memset(sets, 0, sizeof sets);
      memcpy(sets[0], shocked, sizeof sets[0]);
      sets[1][R_WETH] = true;
      sets[2][rnd() % R_N] = true;
      sets[3][R_WBTC] = sets[3][R_USDC] = true;
      for (int r = 0; r < R_N; r++)
        sets[4][r] = true;
      const bool(*cs)[RISK_MAX_RESERVES] = (const bool(*)[RISK_MAX_RESERVES])sets;
      ck_assert_int_eq(risk_lar_markets(&base, cs, NC, drops, nd, MSC), RISK_OK);
      risk_err me = risk_lar_curves(&base, MSC, &B, cs, NC, drops, nd, &AS, multi);
      risk_err we = RISK_OK;
      for (size_t c = 0; c < NC && !me && !we; c++)
        for (size_t g = 0; g < nd && !we; g++) {
          shocked_market(&base, sets[c], drops[g], &sm);
          if ((we = plain_lar_point(&sm, drops[g], &want1))) break;
          ck_assert_msg(memcmp(&multi[c * nd + g], &want1, sizeof want1) == 0, "book %d curve %zu point %zu", book, c,
                        g);
          multi_compared++;
        }
      ck_assert_msg((me != RISK_OK) == (we != RISK_OK), "book %d: curves %s, plain loop %s", book, risk_err_name(me),
                    risk_err_name(we));
    }
    for (size_t g = 0; g < nd && !pe; g++) {
      const struct risk_lar_point *want = &want_all[g];
      ck_assert_msg(memcmp(&got[g], want, sizeof *want) == 0, "book %d point %zu (drop %u): %llu accounts, want %llu",
                    book, g, drops[g], (unsigned long long)got[g].accounts, (unsigned long long)want->accounts);
      compared += B.n_accounts;
      liquidated += want->accounts;
      shocked_market(&base, shocked, drops[g], &sm);
      if (u256_eq(sm.reserves[R_WETH].price, edge.reserves[R_WETH].price)) boundary_points++;
      for (int r = 0; r < R_N; r++)
        zero_points += u256_is_zero(sm.reserves[r].price) && want->res[r].collateral_seized_base.w[0] == 0;
    }
  }
  ck_assert_uint_gt(compared, 100000);
  ck_assert_uint_gt(liquidated, 10000);
  ck_assert_uint_gt(boundary_points, 0);
  ck_assert_uint_gt(zero_points, 20);
  ck_assert_uint_lt(errors, 10);
  ck_assert_uint_gt(multi_compared, 1000);
}
END_TEST

/* A stress run account by account with the engine (risk_account_evaluate, plain_pick and
 * risk_liquidation_compute on every account in every round, the liquidation applied as the chain
 * leaves the balances, bad debt at the final prices for every account ever below HF 1), against
 * risk_stress_run's fast path and its skipping of accounts no moved price can reach. */
static void plain_apply(const struct risk_market *m, struct risk_position *p, size_t n, int c, int d,
                        const struct risk_liquidation *l) {
  for (size_t i = 0; i < n; i++) {
    struct risk_position *q = &p[i];
    const struct risk_acct_reserve *r = &m->reserves[q->reserve];
    u256 a, b;
    if (q->reserve == c) {
      ck_assert_int_eq(risk_ray_div(&a, l->to_liquidator, r->liquidity_index), RISK_OK);
      ck_assert_int_eq(risk_ray_div(&b, l->protocol_fee, r->liquidity_index), RISK_OK);
      a = u256_add_wrap(a, b);
      q->scaled_a = u256_gt(a, q->scaled_a) ? U256_ZERO : u256_sub_wrap(q->scaled_a, a);
      if (l->clears_collateral || u256_is_zero(q->scaled_a)) q->collateral = false;
    }
    if (q->reserve == d) {
      ck_assert_int_eq(risk_ray_div(&a, l->debt_to_cover, r->variable_borrow_index), RISK_OK);
      q->scaled_debt = u256_gt(a, q->scaled_debt) ? U256_ZERO : u256_sub_wrap(q->scaled_debt, a);
      if (l->clears_borrowing || u256_is_zero(q->scaled_debt)) q->scaled_debt = U256_ZERO, q->borrowing = false;
    }
  }
}

/* max(0, debt - sum(collateral value * (1 - impact))) of positions p[0..n) at m, impact[r] in bps. */
static u256 plain_bad_debt(const struct risk_market *m, const struct risk_position *p, size_t n,
                           const uint32_t *impact) {
  u256 debt = U256_ZERO, rec = U256_ZERO, bal, v;
  for (size_t i = 0; i < n; i++) {
    const struct risk_acct_reserve *r = &m->reserves[p[i].reserve];
    if (!r->listed) continue;
    if (p[i].borrowing && !u256_is_zero(p[i].scaled_debt)) {
      ck_assert_int_eq(risk_ray_mul(&bal, p[i].scaled_debt, r->variable_borrow_index), RISK_OK);
      ck_assert_int_eq(u256_muldiv(&v, bal, r->price, r->unit), RISK_OK);
      debt = u256_add_wrap(debt, v);
    }
    if (p[i].collateral && r->liquidation_threshold != 0 && !u256_is_zero(p[i].scaled_a)) {
      ck_assert_int_eq(risk_ray_mul(&bal, p[i].scaled_a, r->liquidity_index), RISK_OK);
      ck_assert_int_eq(u256_muldiv(&v, bal, r->price, r->unit), RISK_OK);
      ck_assert_int_eq(u256_muldiv(&v, v, U(10000 - impact[p[i].reserve]), U(10000)), RISK_OK);
      rec = u256_add_wrap(rec, v);
    }
  }
  return u256_gt(debt, rec) ? u256_sub_wrap(debt, rec) : U256_ZERO;
}

START_TEST(test_stress_random_books_plain_loop) {
  static struct risk_market base, shocked_m, pm, edge;
  static struct risk_position work[MAXP], ref[MAXP];
  static uint8_t flags[MAXP], pflags[MAXP];
  static struct risk_stress_result r;
  static struct risk_slippage slip[RISK_MAX_RESERVES];
  static struct risk_account a;
  uint64_t liquidations = 0, later_rounds = 0, stuck = 0;
  for (int book = 0; book < 30; book++) {
    random_market(&base);
    bool shocked[RISK_MAX_RESERVES] = {0};
    for (int x = 0; x < R_N; x++)
      shocked[x] = rnd() % 5 < 2;
    shocked[R_WETH] = shocked[R_WBTC] = true;
    /* some scenarios take the shocked assets to 0 */
    shocked_market(&base, shocked, book % 5 == 2 ? 10000 : (uint32_t)(rnd() % 5000), &shocked_m);
    shocked_market(&base, shocked, 1000, &edge);
    random_mixed_book(&base, &edge, 300, 1, book % 6 == 5);
    memset(slip, 0, sizeof slip);
    for (int x = 0; x < R_N; x++)
      if (rnd() % 4)
        slip[x] = (struct risk_slippage){.set = true,
                                         .spread_bps = (uint32_t)(rnd() % 50),
                                         .sigma_day = 0.02 + (double)(rnd() % 100) / 1000,
                                         .depth_base = (double)(1 + rnd() % 1000) * 1e13,
                                         .y = 1};
    /* a 100% impact: what WETH liquidations sell takes WETH to 0 for the next round */
    if (book % 4 == 1)
      slip[R_WETH] = (struct risk_slippage){.set = true, .spread_bps = 10000, .sigma_day = 1, .depth_base = 1, .y = 18};
    uint32_t rounds = book % 4 == 1 ? 3 : (uint32_t)(rnd() % 4);
    size_t np = FIRST[B.n_accounts];
    memcpy(work, P, np * sizeof *P);
    memcpy(ref, P, np * sizeof *P);
    ck_assert_int_eq(risk_stress_run(&shocked_m, &B, work, slip, rounds, flags, &MS, &AS, &r), RISK_OK);
    /* the plain loop */
    pm = shocked_m;
    memset(pflags, 0, B.n_accounts);
    uint32_t n_rounds = 0, impact[RISK_MAX_RESERVES] = {0};
    uint64_t n_liquidated = 0;
    for (uint32_t round = 0; round <= rounds; round++) {
      u256 q[RISK_MAX_RESERVES] = {0}, cb_round = U256_ZERO, db_round = U256_ZERO;
      uint64_t accounts = 0;
      n_rounds++;
      for (size_t i = 0; i < B.n_accounts; i++) {
        struct risk_position *p = ref + FIRST[i];
        size_t n = FIRST[i + 1] - FIRST[i];
        memset(&a, 0, sizeof a);
        a.emode_category = EM[i];
        a.n_positions = (uint32_t)n;
        memcpy(a.pos, p, n * sizeof *p);
        struct risk_account_data d;
        ck_assert_int_eq(risk_account_evaluate(&pm, &a, &d), RISK_OK);
        if (u256_is_zero(d.total_debt_base) || u256_ge(d.health_factor, RISK_WAD)) continue;
        pflags[i] |= RISK_STRESS_BELOW_ONE;
        int bc, bd;
        plain_pick(&pm, &a, &bc, &bd);
        if (bc < 0 || bd < 0) continue;
        struct risk_liquidation l;
        ck_assert_int_eq(risk_liquidation_compute(&pm, &a, (uint16_t)bc, (uint16_t)bd, U256_MAX, &l), RISK_OK);
        if (l.error != RISK_ONCHAIN_OK) continue;
        accounts++;
        if (!(pflags[i] & RISK_STRESS_LIQUIDATED)) n_liquidated++;
        pflags[i] |= RISK_STRESS_LIQUIDATED;
        u256 cb, db;
        u256_muldiv(&cb, l.collateral_amount, pm.reserves[bc].price, pm.reserves[bc].unit);
        u256_muldiv(&db, l.debt_to_cover, pm.reserves[bd].price, pm.reserves[bd].unit);
        cb_round = u256_add_wrap(cb_round, cb), db_round = u256_add_wrap(db_round, db);
        q[bc] = u256_add_wrap(q[bc], cb);
        plain_apply(&pm, p, n, bc, bd, &l);
      }
      ck_assert_uint_eq(r.rounds[round].accounts, accounts);
      ck_assert(u256_eq(r.rounds[round].collateral_seized_base, cb_round));
      ck_assert(u256_eq(r.rounds[round].debt_repaid_base, db_round));
      liquidations += accounts;
      if (round > 0) later_rounds += accounts;
      for (uint32_t x = 0; x < pm.n_reserves; x++) {
        if (u256_is_zero(q[x])) continue;
        impact[x] = risk_slippage_impact_bps(&slip[x], q[x]);
        if (round < rounds) u256_muldiv(&pm.reserves[x].price, pm.reserves[x].price, U(10000 - impact[x]), U(10000));
      }
      if (accounts == 0) break;
    }
    ck_assert_uint_eq(r.n_rounds, n_rounds);
    for (uint32_t x = 0; x < pm.n_reserves; x++)
      ck_assert(u256_eq(r.res[x].price_after, pm.reserves[x].price));
    ck_assert_msg(memcmp(work, ref, np * sizeof *P) == 0, "book %d: positions after the run differ", book);
    ck_assert(memcmp(flags, pflags, B.n_accounts) == 0);
    /* bad debt at the final prices of every account ever below HF 1 */
    u256 bad = U256_ZERO, by_reserve = U256_ZERO;
    uint64_t insolvent = 0;
    for (size_t i = 0; i < B.n_accounts; i++) {
      if (!pflags[i]) continue;
      u256 x = plain_bad_debt(&pm, ref + FIRST[i], FIRST[i + 1] - FIRST[i], impact);
      insolvent += !u256_is_zero(x);
      bad = u256_add_wrap(bad, x);
      stuck += pflags[i] == RISK_STRESS_BELOW_ONE && !u256_is_zero(x);
    }
    for (uint32_t x = 0; x < pm.n_reserves; x++)
      by_reserve = u256_add_wrap(by_reserve, r.res[x].bad_debt_base);
    ck_assert_uint_eq(r.accounts_liquidated, n_liquidated);
    ck_assert_uint_eq(r.accounts_insolvent, insolvent);
    ck_assert_msg(u256_eq(r.bad_debt_base, bad), "book %d: bad debt differs", book);
    ck_assert(u256_eq(by_reserve, bad));
  }
  ck_assert_uint_gt(liquidations, 1000);
  ck_assert_uint_gt(later_rounds, 10);
  ck_assert_uint_gt(stuck, 10); /* below HF 1 with every collateral at 0: the whole shortfall is bad debt */
}
END_TEST

START_TEST(test_price_after_drop) {
  ck_u256(risk_price_after_drop(U(300000000000), 0), "300000000000");
  ck_u256(risk_price_after_drop(U(300000000000), 10000), "0");
  ck_u256(risk_price_after_drop(U(333), 250), "324"); /* 333 * 9750 / 10000 = 324.675 */
}
END_TEST

/* ---- waterfall ---- */
START_TEST(test_waterfall_order_pro_rata_conserved) {
  struct risk_wf_layer L[3];
  memset(L, 0, sizeof L);
  L[0].n_holders = 2, L[0].holders[0].capacity = U(30), L[0].holders[1].capacity = U(10);
  L[1].n_holders = 1, L[1].holders[0].capacity = U(50);
  L[2].n_holders = 1, L[2].holders[0].capacity = U(1000);
  u256 left;
  /* 100: the first layer takes its 40 (30 + 10), the second its 50, the residual the last 10 */
  ck_assert_int_eq(risk_waterfall_apply(U(100), L, 3, &left), RISK_OK);
  ck_u256(L[0].absorbed, "40");
  ck_u256(L[0].holders[0].absorbed, "30");
  ck_u256(L[0].holders[1].absorbed, "10");
  ck_assert(L[0].exhausted && L[1].exhausted && !L[2].exhausted);
  ck_u256(L[2].absorbed, "10");
  ck_u256(left, "0");
  /* 20: only the first layer, pro rata 20 * 30/40 = 15 and 20 * 10/40 = 5 */
  ck_assert_int_eq(risk_waterfall_apply(U(20), L, 3, &left), RISK_OK);
  ck_u256(L[0].holders[0].absorbed, "15");
  ck_u256(L[0].holders[1].absorbed, "5");
  ck_u256(L[1].absorbed, "0");
  /* 7 over holders 3 and 5 (capacity 8): 7*3/8 = 2.625 and 7*5/8 = 4.375; floors 2 + 4 = 6, the
   * unit left goes to the larger remainder (0.625): 3 and 4 */
  L[0].holders[0].capacity = U(3), L[0].holders[1].capacity = U(5);
  ck_assert_int_eq(risk_waterfall_apply(U(7), L, 3, &left), RISK_OK);
  ck_u256(L[0].holders[0].absorbed, "3");
  ck_u256(L[0].holders[1].absorbed, "4");
  /* 2 over three equal holders: 0.667 each; floors 0, the two units to the first two (ties) */
  L[0].n_holders = 3, L[0].holders[0].capacity = L[0].holders[1].capacity = L[0].holders[2].capacity = U(1);
  ck_assert_int_eq(risk_waterfall_apply(U(2), L, 3, &left), RISK_OK);
  ck_u256(L[0].holders[0].absorbed, "1");
  ck_u256(L[0].holders[1].absorbed, "1");
  ck_u256(L[0].holders[2].absorbed, "0");
  /* beyond every capacity (3 + 50 + 1000): the rest is unabsorbed */
  ck_assert_int_eq(risk_waterfall_apply(U(2000), L, 3, &left), RISK_OK);
  ck_u256(left, "947");
  ck_assert(L[2].exhausted);
  /* random: conserved to the unit, in order, never above a capacity */
  for (int it = 0; it < 2000; it++) {
    size_t nl = 1 + rnd() % 5;
    for (size_t l = 0; l < nl; l++) {
      L[l % 3].n_holders = 0;
    }
    struct risk_wf_layer R[5];
    memset(R, 0, sizeof R);
    for (size_t l = 0; l < nl; l++) {
      R[l].n_holders = 1 + rnd() % 6;
      for (size_t h = 0; h < R[l].n_holders; h++)
        R[l].holders[h].capacity = U(rnd() % 1000000);
    }
    u256 loss = U(rnd() % 4000000), sum = U256_ZERO;
    ck_assert_int_eq(risk_waterfall_apply(loss, R, nl, &left), RISK_OK);
    bool open_seen = false;
    for (size_t l = 0; l < nl; l++) {
      u256 hs = U256_ZERO;
      for (size_t h = 0; h < R[l].n_holders; h++) {
        ck_assert(u256_le(R[l].holders[h].absorbed, R[l].holders[h].capacity));
        hs = u256_add_wrap(hs, R[l].holders[h].absorbed);
      }
      ck_assert(u256_eq(hs, R[l].absorbed));
      /* a layer below one that was not filled takes nothing */
      if (open_seen) ck_assert(u256_is_zero(R[l].absorbed));
      if (u256_lt(R[l].absorbed, R[l].capacity)) open_seen = true;
      sum = u256_add_wrap(sum, R[l].absorbed);
    }
    ck_assert(u256_eq(u256_add_wrap(sum, left), loss));
  }
}
END_TEST

/* ---- VaR ---- */
static struct risk_var_entry VE[MAXP];
static long double PC[MAXP], PD[MAXP];
static uint32_t PO[MAXP], GF[MAXP + 1];
static struct risk_var_pair PAIRS[RISK_MAX_RESERVES * RISK_MAX_RESERVES];
static struct risk_var_term TERMS[2 * MAXP];
static long double LOSSES[RISK_VAR_MAX_PATHS];

static void var_model(struct risk_var_model *vm) {
  memset(vm, 0, sizeof *vm);
  vm->entries = VE, vm->prefc = PC, vm->prefd = PD, vm->pair_of = PO, vm->pairs = PAIRS, vm->gfirst = GF;
  vm->terms = TERMS;
  ck_assert_int_eq(risk_var_model_build(&M, &B, vm), RISK_OK);
}

/* The loss of a path by a plain loop over the accounts. */
static long double plain_loss(const long double *mult) {
  long double loss = 0;
  for (size_t i = 0; i < B.n_accounts; i++) {
    long double s = 0;
    for (uint32_t j = FIRST[i]; j < FIRST[i + 1]; j++) {
      const struct risk_acct_reserve *r = &M.reserves[P[j].reserve];
      u256 v;
      if (P[j].collateral && !u256_is_zero(P[j].scaled_a)) {
        u256_muldiv(&v, P[j].scaled_a, r->price, r->unit);
        s -= (long double)v.w[0] * mult[P[j].reserve];
      }
      if (!u256_is_zero(P[j].scaled_debt)) {
        u256_muldiv(&v, P[j].scaled_debt, r->price, r->unit);
        s += (long double)v.w[0] * mult[P[j].reserve];
      }
    }
    if (s > 0) loss += s;
  }
  return loss;
}

START_TEST(test_var_path_loss_equals_plain_loop) {
  market(&M);
  random_book(3000);
  struct risk_var_model vm;
  var_model(&vm);
  ck_assert_uint_gt(vm.n_pair_accounts, 100);
  ck_assert_uint_gt(vm.n_general, 100);
  long double mult[RISK_MAX_RESERVES];
  for (int it = 0; it < 200; it++) {
    for (int r = 0; r < RISK_MAX_RESERVES; r++)
      mult[r] = 1;
    mult[WETH] = 0.3L + (long double)(rnd() % 1000) / 1000.0L;
    mult[WBTC] = 0.3L + (long double)(rnd() % 1000) / 1000.0L;
    long double a = risk_var_path_loss(&vm, mult), b = plain_loss(mult);
    ck_assert_msg(fabsl(a - b) <= 1e-9L * (b + 1), "path %d: %Lf vs %Lf", it, a, b);
  }
}
END_TEST

START_TEST(test_var_seed_and_zero_vol) {
  market(&M);
  book_reset();
  /* healthy: 10 WETH against 20,000 USDC */
  acct_begin();
  acct_pos(WETH, D("10000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(20000000000));
  /* under water today: 1 WETH ($3,000) against 3,500 USDC: loss 500 USD = 50000000000 base */
  acct_begin();
  acct_pos(WETH, D("1000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(3500000000));
  struct risk_var_model vm;
  var_model(&vm);
  ck_u256(vm.deterministic_loss, "50000000000");
  struct risk_var_params p;
  memset(&p, 0, sizeof p);
  p.k = 1, p.reserve[0] = WETH, p.sigma[0] = 0, p.horizon_years = 1.0 / 365, p.seed = 7, p.paths = 1000;
  struct risk_var_result r;
  ck_assert_int_eq(risk_var_run(&vm, N_RES, &p, LOSSES, &r), RISK_OK);
  /* zero volatility: every path is today's prices, every statistic the deterministic loss */
  ck_assert(r.var95 == 50000000000.0L && r.es95 == 50000000000.0L && r.var99 == 50000000000.0L &&
            r.es99 == 50000000000.0L && r.mean == 50000000000.0L && r.max == 50000000000.0L);
  /* same seed, same answer; VaR ordered; ES >= VaR */
  p.sigma[0] = 0.9;
  struct risk_var_result r1, r2, r3;
  ck_assert_int_eq(risk_var_run(&vm, N_RES, &p, LOSSES, &r1), RISK_OK);
  ck_assert_int_eq(risk_var_run(&vm, N_RES, &p, LOSSES, &r2), RISK_OK);
  ck_assert(memcmp(&r1, &r2, sizeof r1) == 0);
  p.seed = 8;
  ck_assert_int_eq(risk_var_run(&vm, N_RES, &p, LOSSES, &r3), RISK_OK);
  ck_assert(r3.mean != r1.mean);
  ck_assert(r1.var99 >= r1.var95 && r1.es95 >= r1.var95 && r1.es99 >= r1.var99);
  /* a 1-day 90% vol move rarely sinks the healthy account (-33% is ~6 sigma), so VaR95 is about the
   * underwater account's loss, which moves with WETH: 3500 - 3000 * m */
  ck_assert(r1.var95 > 50000000000.0L);
  /* more paths converge: the means of 20,000 and 100,000 paths agree within 2% */
  p.paths = 20000;
  ck_assert_int_eq(risk_var_run(&vm, N_RES, &p, LOSSES, &r1), RISK_OK);
  p.paths = 100000, p.seed = 9;
  ck_assert_int_eq(risk_var_run(&vm, N_RES, &p, LOSSES, &r2), RISK_OK);
  ck_assert(fabsl(r1.mean - r2.mean) < 0.02L * r2.mean);
  /* bounds */
  p.paths = RISK_VAR_MAX_PATHS + 1;
  ck_assert_int_eq(risk_var_run(&vm, N_RES, &p, LOSSES, &r1), RISK_INVALID);
}
END_TEST

START_TEST(test_cholesky) {
  /* [[4, 2], [2, 5]] = L L^T with L = [[2, 0], [1, 2]] */
  double a[4] = {4, 2, 2, 5}, l[4];
  risk_cholesky(a, 2, l);
  ck_assert(l[0] == 2 && l[1] == 0 && l[2] == 1 && l[3] == 2);
  /* perfectly correlated (singular): the second column is left zero */
  double s[4] = {1, 1, 1, 1};
  risk_cholesky(s, 2, l);
  ck_assert(l[0] == 1 && l[2] == 1 && l[3] == 0);
}
END_TEST

START_TEST(test_var_estimate) {
  /* prices doubling every day: ln 2 per day, sigma = sqrt(365) * ln 2; a flat asset: 0 */
  double price[2 * 4] = {1, 2, 4, 8, 1, 1, 1, 1};
  int64_t ts[4] = {0, 86400, 172800, 259200};
  double sigma[2], corr[4];
  size_t n[2];
  risk_var_estimate(price, ts, 2, 4, sigma, n, corr);
  ck_assert(fabs(sigma[0] - sqrt(365.0) * log(2.0)) < 1e-9);
  ck_assert(sigma[1] == 0 && n[0] == 3 && n[1] == 3);
  ck_assert(corr[0] == 1 && corr[1] == 0);
}
END_TEST

/* ---- concentration ---- */
START_TEST(test_concentration) {
  market(&M);
  book_reset();
  /* WETH supply 8 and 2: top share 0.8, HHI 0.8^2 + 0.2^2 = 0.68. Debt: 2,000 and 500 USDC. The
   * second account backs its 500 with WETH ($6,000) and WBTC ($60,000): 500 * 6/66 = 45.4545 to WETH
   * (4545454545 base, floored) and 500 * 60/66 = 454.5454 to WBTC (45454545454) */
  acct_begin();
  acct_pos(WETH, D("8000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(2000000000));
  acct_begin();
  acct_pos(WETH, D("2000000000000000000"), true, U(0));
  acct_pos(USDC, U(0), false, U(500000000));
  acct_pos(WBTC, U(100000000), true, U(0));
  static struct risk_conc_result r;
  ck_assert_int_eq(risk_concentration(&M, &B, 1, &r), RISK_OK);
  ck_u256(r.res[WETH].supply.total, "10000000000000000000");
  ck_assert_uint_eq(r.res[WETH].supply.holders, 2);
  ck_assert_uint_eq(r.res[WETH].supply.n_top, 1);
  ck_assert_uint_eq(r.res[WETH].supply.top[0], 0);
  ck_assert(fabs(risk_conc_hhi(&r.res[WETH].supply) - 0.68) < 1e-12);
  ck_u256(r.res[USDC].debt.total, "2500000000");
  ck_u256(r.total_debt_base, "250000000000");
  ck_u256(r.res[WETH].debt_backed_base, "204545454545"); /* 200000000000 + 4545454545 */
  ck_u256(r.res[WBTC].debt_backed_base, "45454545454");
  ck_u256(r.res[WETH].collateral_base, "3000000000000");
  ck_assert_int_eq(risk_concentration(&M, &B, 0, &r), RISK_INVALID);
}
END_TEST

int main(void) {
  Suite *s = suite_create("stress");
  TCase *t = tcase_create("core");
  tcase_set_timeout(t, 300);
  tcase_add_test(t, test_lar_hand);
  tcase_add_test(t, test_zero_price_hand);
  tcase_add_test(t, test_stress_bad_debt_and_cascade);
  tcase_add_test(t, test_lar_equals_plain_loop);
  tcase_add_test(t, test_lar_random_books_every_field);
  tcase_add_test(t, test_lar_exact_thresholds);
  tcase_add_test(t, test_stress_random_books_plain_loop);
  tcase_add_test(t, test_price_after_drop);
  tcase_add_test(t, test_waterfall_order_pro_rata_conserved);
  tcase_add_test(t, test_var_path_loss_equals_plain_loop);
  tcase_add_test(t, test_var_seed_and_zero_vol);
  tcase_add_test(t, test_cholesky);
  tcase_add_test(t, test_var_estimate);
  tcase_add_test(t, test_concentration);
  suite_add_tcase(s, t);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : 0;
}
