/* ctest-label: unit */
/* risk/savings: rpow, accumulator, ERC-4626 conversions, Spark Vaults V2 limits and
 * checks, APR/APY conversions, SSR oracle forms. Expected numbers: spec protocol-math
 * §1.3 table, §5.1 #1, #2, #3, #6 (repository test vectors) and §5.2. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "risk/savings.h"
#include "risk/wadray.h"
#include "support/u256check.h"

#define DAY 86400u
#define YEAR 31536000u
#define T0 1700000000u

#define FIVE_PCT "1000000001547125957863212448"
#define ONE_PCT_VSR "1000000000315522921573372069"
#define FOUR_PCT_VSR "1000000001243680656318820312"
#define MAX_VSR "1000000021979553151239153027"

/* §1.3 table: bps, per-second rate, APR_ray, rpow(rate, YEAR) */
static const struct {
  unsigned bps;
  const char *rate, *apr, *yearly;
} TABLE[] = {
    {100, "1000000000315522921573372069", "9950330854737861567984000", "1009999999999999999986080875"},
    {225, "1000000000705562181084137268", "22250608942669352883648000", "1022499999999999999949406074"},
    {300, "1000000000937303470807876289", "29558802255397186649904000", "1029999999999999999948254152"},
    {375, "1000000001167363430498603315", "36813973144203954141840000", "1037499999999999999963746329"},
    {400, "1000000001243680656318820312", "39220713177670317359232000", "1039999999999999999955174055"},
    {425, "1000000001319814647332759691", "41621674718285909615376000", "1042499999999999999944201978"},
    {450, "1000000001395766281313196627", "44016885447492968829072000", "1044999999999999999977849702"},
    {475, "1000000001471536429740616381", "46406372848300078191216000", "1047499999999999999951165163"},
    {500, "1000000001547125957863212448", "48790164207174267760128000", "1049999999999999999961070145"},
    {650, "1000000001996917783620820123", "62974799224266183398928000", "1064999999999999999971851769"},
    {1000, "1000000003022265980097387650", "95310179948351216930400000", "1099999999999999999953897206"},
};
#define TABLE_ROWS (sizeof TABLE / sizeof TABLE[0])

START_TEST(test_table_apr) {
  u256 r;
  ck_assert_int_eq(risk_savings_apr_ray(&r, D(TABLE[_i].rate)), RISK_OK);
  ck_assert_u256_dec(r, TABLE[_i].apr);
}
END_TEST

START_TEST(test_table_rpow_year) {
  u256 r;
  ck_assert_int_eq(risk_rpow(&r, D(TABLE[_i].rate), YEAR), RISK_OK);
  ck_assert_u256_dec(r, TABLE[_i].yearly);
  /* apy_ray = rpow - RAY */
  u256 apy, expect;
  ck_assert_int_eq(risk_savings_apy_ray(&apy, D(TABLE[_i].rate)), RISK_OK);
  ck_assert_int_eq(u256_sub(&expect, D(TABLE[_i].yearly), RISK_RAY), RISK_OK);
  ck_assert(u256_eq(apy, expect));
}
END_TEST

START_TEST(test_table_rtob) {
  u256 r;
  ck_assert_int_eq(risk_savings_rtob(&r, D(TABLE[_i].rate)), RISK_OK);
  ck_assert(u256_eq(r, u256_from_u64(TABLE[_i].bps)));
}
END_TEST

START_TEST(test_max_vsr_row) {
  u256 r;
  ck_assert_int_eq(risk_rpow(&r, D(MAX_VSR), YEAR), RISK_OK);
  ck_assert_u256_dec(r, "1999999999999999999947093656");
  ck_assert_int_eq(risk_savings_rtob(&r, D(MAX_VSR)), RISK_OK);
  ck_assert_u256_dec(r, "10000");
  /* rates below RAY: (rate - RAY) underflows */
  ck_assert_int_eq(risk_savings_apr_ray(&r, D("999999999999999999999999999")), RISK_UNDERFLOW);
  ck_assert_int_eq(risk_savings_rtob(&r, D("999999999999999999999999999")), RISK_UNDERFLOW);
}
END_TEST

/* §5.1 #1 spark-vaults-v2 test/Math.t.sol */
START_TEST(test_rpow_max_vsr_75y) {
  u256 r;
  ck_assert_int_eq(risk_rpow(&r, D(MAX_VSR), 75ull * YEAR), RISK_OK);
  ck_assert_u256_dec(r, "37778931862957161634615052296000273248252349772281");
}
END_TEST

START_TEST(test_rpow_max_vsr_80y_overflows) {
  u256 r = U256_ONE;
  ck_assert_int_eq(risk_rpow(&r, D(MAX_VSR), 80ull * YEAR), RISK_OVERFLOW);
  ck_assert(u256_eq(r, U256_ONE));
}
END_TEST

START_TEST(test_rpow_ray_identity) {
  u256 r;
  ck_assert_int_eq(risk_rpow(&r, RISK_RAY, 1000ull * YEAR), RISK_OK);
  ck_assert(u256_eq(r, RISK_RAY));
  ck_assert_int_eq(risk_rpow(&r, RISK_RAY, 0), RISK_OK);
  ck_assert(u256_eq(r, RISK_RAY));
  /* x == 0: base for n == 0, else 0 */
  ck_assert_int_eq(risk_rpow(&r, U256_ZERO, 0), RISK_OK);
  ck_assert(u256_eq(r, RISK_RAY));
  ck_assert_int_eq(risk_rpow(&r, U256_ZERO, 5), RISK_OK);
  ck_assert(u256_is_zero(r));
  /* n == 1 returns x unchanged */
  ck_assert_int_eq(risk_rpow(&r, D(FIVE_PCT), 1), RISK_OK);
  ck_assert_u256_dec(r, FIVE_PCT);
}
END_TEST

START_TEST(test_divup_table) {
  static const struct {
    const char *x, *y, *z;
  } T[] = {{"1", "1", "1"},
           {"1", "2", "1"},
           {"2", "3", "1"},
           {"3", "2", "2"},
           {"5", "2", "3"},
           {"10", "3", "4"},
           {"1000000", "1000001", "1"},
           {"1000000", "999999", "2"},
           {"0", "0", "0"}};
  for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    u256 r;
    ck_assert_int_eq(risk_divup(&r, D(T[i].x), D(T[i].y)), RISK_OK);
    ck_assert_u256_dec(r, T[i].z);
  }
  u256 r;
  ck_assert_int_eq(risk_divup(&r, D("7"), U256_ZERO), RISK_DIV_BY_ZERO);
}
END_TEST

/* §5.1 #2 spark-vaults-v2 test/ValueAccrual.t.sol, through the vault entry points */
START_TEST(test_value_accrual) {
  struct risk_spark_vault v;
  memset(&v, 0, sizeof v);
  v.chi = RISK_RAY;
  v.rho = T0;
  v.vsr = D(FOUR_PCT_VSR);
  v.deposit_cap = U256_MAX;
  enum risk_vault_revert why;
  u256 shares1, shares2, r;

  ck_assert_int_eq(risk_spark_vault_deposit(&v, &shares1, &why, &v, D("1000000000000"), T0), RISK_OK);
  ck_assert_u256_dec(shares1, "1000000000000");
  uint64_t t1 = T0 + 365 * DAY;
  ck_assert_int_eq(risk_spark_vault_total_assets(&r, &v, t1), RISK_OK);
  ck_assert_u256_dec(r, "1039999999999"); /* 1,039,999.999999e6 */

  ck_assert_int_eq(risk_spark_vault_deposit(&v, &shares2, &why, &v, D("1000000000000"), t1), RISK_OK);
  ck_assert_u256_dec(shares2, "961538461538"); /* 961,538.461538e6 */
  ck_assert_uint_eq(v.rho, t1);

  /* setVsr(1%) drips first: already dripped at t1 */
  v.vsr = D(ONE_PCT_VSR);
  uint64_t t2 = t1 + 365 * DAY;
  ck_assert_int_eq(risk_spark_vault_total_assets(&r, &v, t2), RISK_OK);
  ck_assert_u256_dec(r, "2060399999999");
  u256 c;
  ck_assert_int_eq(risk_spark_vault_now_chi(&c, &v, t2), RISK_OK);
  ck_assert_int_eq(risk_savings_convert_to_assets(&r, shares1, c), RISK_OK);
  ck_assert_u256_dec(r, "1050399999999");
  ck_assert_int_eq(risk_savings_convert_to_assets(&r, shares2, c), RISK_OK);
  ck_assert_u256_dec(r, "1009999999999");
}
END_TEST

/* §5.2: rpow(5%, 1 day), conversions at chi = 1.03e27, 1-day drip */
START_TEST(test_rpow_5pct_day) {
  u256 r;
  ck_assert_int_eq(risk_rpow(&r, D(FIVE_PCT), DAY), RISK_OK);
  ck_assert_u256_dec(r, "1000133680617113440350406888");
}
END_TEST

START_TEST(test_conversions_chi_103) {
  u256 c = D("1030000000000000000000000000"), r;
  ck_assert_int_eq(risk_savings_convert_to_shares(&r, D("1000000000000000000"), c), RISK_OK);
  ck_assert_u256_dec(r, "970873786407766990");
  ck_assert_int_eq(risk_savings_preview_deposit(&r, D("1000000000000000000"), c), RISK_OK);
  ck_assert_u256_dec(r, "970873786407766990");
  ck_assert_int_eq(risk_savings_preview_withdraw(&r, D("1000000000000000000"), c), RISK_OK);
  ck_assert_u256_dec(r, "970873786407766991");
  ck_assert_int_eq(risk_savings_preview_mint(&r, D("1000000000000000000"), c), RISK_OK);
  ck_assert_u256_dec(r, "1030000000000000000");
  ck_assert_int_eq(risk_savings_preview_redeem(&r, D("1000000000000000000"), c), RISK_OK);
  ck_assert_u256_dec(r, "1030000000000000000");
  ck_assert_int_eq(risk_savings_convert_to_assets(&r, D("1000000000000000000"), c), RISK_OK);
  ck_assert_u256_dec(r, "1030000000000000000");
}
END_TEST

START_TEST(test_conversions_6_decimals) {
  u256 c = D("1030000000000000000000000000"), r;
  ck_assert_int_eq(risk_savings_convert_to_shares(&r, D("1000000"), c), RISK_OK);
  ck_assert_u256_dec(r, "970873");
  ck_assert_int_eq(risk_savings_preview_withdraw(&r, D("1000000"), c), RISK_OK);
  ck_assert_u256_dec(r, "970874");
  /* errors: product overflow, zero chi */
  ck_assert_int_eq(risk_savings_convert_to_shares(&r, U256_MAX, c), RISK_OVERFLOW);
  ck_assert_int_eq(risk_savings_convert_to_shares(&r, D("1"), U256_ZERO), RISK_DIV_BY_ZERO);
  ck_assert_int_eq(risk_savings_preview_withdraw(&r, D("1"), U256_ZERO), RISK_DIV_BY_ZERO);
}
END_TEST

START_TEST(test_drip_one_day) {
  struct risk_savings_drip d;
  ck_assert_int_eq(risk_savings_drip(&d, D("1030000000000000000000000000"), T0, D(FIVE_PCT),
                                     D("1000000000000000000000000"), T0 + DAY),
                   RISK_OK);
  ck_assert_u256_dec(d.chi, "1030137691035626843560919094");
  ck_assert_u256_dec(d.diff, "137691035626843560919");
  ck_assert_uint_eq(d.rho, T0 + DAY);
  /* same second or earlier: nothing changes */
  ck_assert_int_eq(risk_savings_drip(&d, D("1030000000000000000000000000"), T0, D(FIVE_PCT), D("1"), T0), RISK_OK);
  ck_assert_u256_dec(d.chi, "1030000000000000000000000000");
  ck_assert(u256_is_zero(d.diff));
  ck_assert_uint_eq(d.rho, T0);
  u256 c;
  ck_assert_int_eq(risk_savings_chi_at(&c, D("1030000000000000000000000000"), T0, D(FIVE_PCT), T0 + DAY), RISK_OK);
  ck_assert_u256_dec(c, "1030137691035626843560919094");
}
END_TEST

/* §5.1 #6 spark-spells _getAPY */
START_TEST(test_get_apy_dsr) {
  u256 apr, apy;
  ck_assert_int_eq(risk_savings_apr_ray(&apr, D("1000000001847694957439350562")), RISK_OK);
  ck_assert_u256_dec(apr, "58268908177807359323232000");
  ck_assert_int_eq(risk_savings_get_apy(&apy, apr), RISK_OK);
  ck_assert_u256_dec(apy, "59999999999999999957390146");
}
END_TEST

START_TEST(test_get_apy_dsr_plus_spread) {
  u256 apr, apy;
  ck_assert_int_eq(u256_add(&apr, D("58268908177807359323232000"), D("9389740368586287841344000")), RISK_OK);
  ck_assert_int_eq(risk_savings_get_apy(&apy, apr), RISK_OK);
  ck_assert_u256_dec(apy, "69999999999999999987440814");
}
END_TEST

/* §5.1 #3 xchain-ssr-oracle: ssr 5%, chi 1.03e27, 365 days */
static struct risk_ssr_oracle ssr_oracle(void) {
  struct risk_ssr_oracle o = {D(FIVE_PCT), D("1030000000000000000000000000"), T0};
  return o;
}

START_TEST(test_ssr_oracle_exact) {
  struct risk_ssr_oracle o = ssr_oracle();
  u256 r;
  ck_assert_int_eq(risk_ssr_oracle_rate(&r, &o, T0 + 365 * DAY), RISK_OK);
  ck_assert_u256_dec(r, "1081499999999999999959902249");
}
END_TEST

START_TEST(test_ssr_oracle_binomial) {
  struct risk_ssr_oracle o = ssr_oracle();
  u256 r;
  ck_assert_int_eq(risk_ssr_oracle_rate_binomial(&r, &o, T0 + 365 * DAY), RISK_OK);
  ck_assert_u256_dec(r, "1081495968383924399665215760");
}
END_TEST

START_TEST(test_ssr_oracle_linear) {
  struct risk_ssr_oracle o = ssr_oracle();
  u256 r;
  ck_assert_int_eq(risk_ssr_oracle_rate_linear(&r, &o, T0 + 365 * DAY), RISK_OK);
  ck_assert_u256_dec(r, "1080253869133389495792931840");
}
END_TEST

START_TEST(test_ssr_oracle_apr_and_edges) {
  struct risk_ssr_oracle o = ssr_oracle();
  u256 r;
  ck_assert_int_eq(risk_ssr_oracle_apr(&r, &o), RISK_OK);
  ck_assert_u256_dec(r, "48790164207174267760128000");
  /* at rho every form returns chi */
  ck_assert_int_eq(risk_ssr_oracle_rate(&r, &o, T0), RISK_OK);
  ck_assert_u256_dec(r, "1030000000000000000000000000");
  ck_assert_int_eq(risk_ssr_oracle_rate_binomial(&r, &o, T0), RISK_OK);
  ck_assert_u256_dec(r, "1030000000000000000000000000");
  ck_assert_int_eq(risk_ssr_oracle_rate_linear(&r, &o, T0), RISK_OK);
  ck_assert_u256_dec(r, "1030000000000000000000000000");
  /* before rho: reverts */
  ck_assert_int_eq(risk_ssr_oracle_rate(&r, &o, T0 - 1), RISK_UNDERFLOW);
  ck_assert_int_eq(risk_ssr_oracle_rate_binomial(&r, &o, T0 - 1), RISK_UNDERFLOW);
  ck_assert_int_eq(risk_ssr_oracle_rate_linear(&r, &o, T0 - 1), RISK_UNDERFLOW);
  /* exact >= binomial >= linear over a range of horizons */
  for (uint64_t dt = 1; dt < 10 * YEAR; dt = dt * 3 + 7) {
    u256 a, b, c;
    ck_assert_int_eq(risk_ssr_oracle_rate(&a, &o, T0 + dt), RISK_OK);
    ck_assert_int_eq(risk_ssr_oracle_rate_binomial(&b, &o, T0 + dt), RISK_OK);
    ck_assert_int_eq(risk_ssr_oracle_rate_linear(&c, &o, T0 + dt), RISK_OK);
    ck_assert(u256_ge(a, b));
    ck_assert(u256_ge(b, c));
  }
  /* data the oracle could not hold */
  o.ssr = D("999999999999999999999999999");
  ck_assert_int_eq(risk_ssr_oracle_rate(&r, &o, T0 + 1), RISK_INVALID);
  ck_assert_int_eq(risk_ssr_oracle_apr(&r, &o), RISK_INVALID);
}
END_TEST

/* Spark Vaults V2 limits and revert reasons (§1.4) */
static struct risk_spark_vault cap_vault(void) {
  struct risk_spark_vault v;
  memset(&v, 0, sizeof v);
  v.chi = D("1030000000000000000000000000");
  v.rho = T0;
  v.vsr = RISK_RAY;
  v.total_supply = D("970873786407"); /* totalAssets = fl(970873786407 * 1.03) = 999999999999 */
  v.deposit_cap = D("1000000000000");
  v.liquidity = D("400000000000");
  return v;
}

START_TEST(test_vault_max_functions) {
  struct risk_spark_vault v = cap_vault();
  u256 r;
  ck_assert_int_eq(risk_spark_vault_total_assets(&r, &v, T0), RISK_OK);
  ck_assert_u256_dec(r, "999999999999");
  ck_assert_int_eq(risk_spark_vault_max_deposit(&r, &v, T0), RISK_OK);
  ck_assert_u256_dec(r, "1");
  ck_assert_int_eq(risk_spark_vault_max_mint(&r, &v, T0), RISK_OK);
  ck_assert_u256_dec(r, "0"); /* fl(1 * RAY / 1.03e27) */
  ck_assert_int_eq(risk_spark_vault_assets_outstanding(&r, &v, T0), RISK_OK);
  ck_assert_u256_dec(r, "599999999999");
  /* owner with 500,000e6 shares: assets fl(515,000e6) capped by idle 400,000e6 */
  ck_assert_int_eq(risk_spark_vault_max_withdraw(&r, &v, D("500000000000"), T0), RISK_OK);
  ck_assert_u256_dec(r, "400000000000");
  ck_assert_int_eq(risk_spark_vault_max_redeem(&r, &v, D("500000000000"), T0), RISK_OK);
  ck_assert_u256_dec(r, "388349514563"); /* fl(400,000e6 * RAY / 1.03e27) */
  ck_assert_int_eq(risk_spark_vault_max_withdraw(&r, &v, D("1000"), T0), RISK_OK);
  ck_assert_u256_dec(r, "1030");
  ck_assert_int_eq(risk_spark_vault_max_redeem(&r, &v, D("1000"), T0), RISK_OK);
  ck_assert_u256_dec(r, "1000");
  /* cap below total assets */
  v.deposit_cap = D("5");
  ck_assert_int_eq(risk_spark_vault_max_deposit(&r, &v, T0), RISK_OK);
  ck_assert(u256_is_zero(r));
  ck_assert_int_eq(risk_spark_vault_max_mint(&r, &v, T0), RISK_OK);
  ck_assert(u256_is_zero(r));
  /* unlimited cap */
  v.deposit_cap = U256_MAX;
  ck_assert_int_eq(risk_spark_vault_max_mint(&r, &v, T0), RISK_OK);
  ck_assert(u256_eq(r, U256_MAX));
  ck_assert_int_eq(risk_spark_vault_max_deposit(&r, &v, T0), RISK_OK);
  ck_assert_int_eq(u256_sub(&r, U256_MAX, r), RISK_OK);
  ck_assert_u256_dec(r, "999999999999");
  /* no idle liquidity: nothing outstanding beyond total assets */
  v.liquidity = D("2000000000000");
  ck_assert_int_eq(risk_spark_vault_assets_outstanding(&r, &v, T0), RISK_OK);
  ck_assert(u256_is_zero(r));
}
END_TEST

START_TEST(test_vault_deposit_cap) {
  struct risk_spark_vault v = cap_vault(), after;
  enum risk_vault_revert why = RISK_VAULT_OK;
  u256 r;
  ck_assert_int_eq(risk_spark_vault_deposit(&after, &r, &why, &v, D("2"), T0), RISK_INVALID);
  ck_assert_int_eq(why, RISK_VAULT_DEPOSIT_CAP_EXCEEDED);
  ck_assert_str_eq(risk_vault_revert_string(why), "SparkVault/deposit-cap-exceeded");
  ck_assert_int_eq(risk_spark_vault_deposit(&after, &r, &why, &v, D("1"), T0), RISK_OK);
  ck_assert_int_eq(why, RISK_VAULT_OK);
  ck_assert_u256_dec(r, "0"); /* fl(1 * RAY / 1.03e27): a 1-wei deposit mints nothing */
  ck_assert_u256_dec(after.liquidity, "400000000001");
  /* mint(1 share) pulls divup(1.03e27, RAY) = 2 assets: over the cap */
  ck_assert_int_eq(risk_spark_vault_mint(&after, &r, &why, &v, D("1"), T0), RISK_INVALID);
  ck_assert_int_eq(why, RISK_VAULT_DEPOSIT_CAP_EXCEEDED);
  v.deposit_cap = D("2000000000000");
  ck_assert_int_eq(risk_spark_vault_mint(&after, &r, &why, &v, D("1"), T0), RISK_OK);
  ck_assert_u256_dec(r, "2");
  ck_assert_u256_dec(after.total_supply, "970873786408");
}
END_TEST

START_TEST(test_vault_liquidity) {
  struct risk_spark_vault v = cap_vault(), after;
  enum risk_vault_revert why = RISK_VAULT_OK;
  u256 r;
  /* redeem more than idle liquidity covers */
  ck_assert_int_eq(risk_spark_vault_redeem(&after, &r, &why, &v, D("400000000000"), D("500000000000"), T0),
                   RISK_INVALID);
  ck_assert_int_eq(why, RISK_VAULT_INSUFFICIENT_LIQUIDITY);
  ck_assert_str_eq(risk_vault_revert_string(why), "SparkVault/insufficient-liquidity");
  ck_assert_int_eq(risk_spark_vault_preview_redeem(&r, &why, &v, D("400000000000"), T0), RISK_INVALID);
  ck_assert_int_eq(why, RISK_VAULT_INSUFFICIENT_LIQUIDITY);
  ck_assert_int_eq(risk_spark_vault_preview_withdraw(&r, &why, &v, D("400000000001"), T0), RISK_INVALID);
  ck_assert_int_eq(why, RISK_VAULT_INSUFFICIENT_LIQUIDITY);
  ck_assert_int_eq(risk_spark_vault_withdraw(&after, &r, &why, &v, D("400000000001"), D("500000000000"), T0),
                   RISK_INVALID);
  ck_assert_int_eq(why, RISK_VAULT_INSUFFICIENT_LIQUIDITY);
  /* the balance check comes first */
  ck_assert_int_eq(risk_spark_vault_redeem(&after, &r, &why, &v, D("600000000000"), D("500000000000"), T0),
                   RISK_INVALID);
  ck_assert_int_eq(why, RISK_VAULT_INSUFFICIENT_BALANCE);
  /* within liquidity */
  ck_assert_int_eq(risk_spark_vault_preview_withdraw(&r, &why, &v, D("400000000000"), T0), RISK_OK);
  ck_assert_u256_dec(r, "388349514564"); /* divup(400,000e6 * RAY, 1.03e27) */
  ck_assert_int_eq(risk_spark_vault_withdraw(&after, &r, &why, &v, D("400000000000"), D("500000000000"), T0), RISK_OK);
  ck_assert_u256_dec(r, "388349514564");
  ck_assert(u256_is_zero(after.liquidity));
  ck_assert_u256_dec(after.total_supply, "582524271843");
  ck_assert_int_eq(risk_spark_vault_redeem(&after, &r, &why, &v, D("388349514563"), D("500000000000"), T0), RISK_OK);
  ck_assert_u256_dec(r, "399999999999"); /* fl(388349514563 * 1.03) */
}
END_TEST

/* ---- PSM3 (§1.5, §5.1 #7). Rate 1.25e27, empty PSM: vectors of spark-psm's unit tests
 * (SwapExactIn, Conversions) as quoted in the spec and in public audit notes of the same tests;
 * the exact-out and LP-share figures are derived by hand (Python integers) from the PSM3
 * formulas, step by step in the comments. */
static struct risk_psm3 psm_empty(void) {
  struct risk_psm3 p;
  memset(&p, 0, sizeof p);
  p.rate = D("1250000000000000000000000000");
  p.precision[RISK_PSM3_USDC] = D("1000000");
  p.precision[RISK_PSM3_USDS] = D("1000000000000000000");
  p.precision[RISK_PSM3_SUSDS] = D("1000000000000000000");
  return p;
}

START_TEST(test_psm3_exact_in) {
  struct risk_psm3 p = psm_empty();
  u256 r;
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDC, RISK_PSM3_SUSDS, D("999999")), RISK_OK);
  ck_assert_u256_dec(r, "799999000000000000");
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDC, RISK_PSM3_SUSDS, D("1000000")), RISK_OK);
  ck_assert_u256_dec(r, "800000000000000000");
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDC, RISK_PSM3_SUSDS, D("1000001")), RISK_OK);
  ck_assert_u256_dec(r, "800000000000000000");
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDC, RISK_PSM3_SUSDS, D("3000000")), RISK_OK);
  ck_assert_u256_dec(r, "2400000000000000000");
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDC, RISK_PSM3_SUSDS, D("100000000")), RISK_OK);
  ck_assert_u256_dec(r, "80000000000000000000");
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDC, RISK_PSM3_USDS, D("1000001")), RISK_OK);
  ck_assert_u256_dec(r, "1000001000000000000");
  /* sUSDS -> USDC: fl(1e18 * 1.25) * 1e6 / 1e18 = 1.25e6; USDS -> USDC drops sub-1e12 dust */
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_SUSDS, RISK_PSM3_USDC, D("1000000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "1250000");
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDS, RISK_PSM3_USDC, D("1999999999999")), RISK_OK);
  ck_assert_u256_dec(r, "1");
  /* same asset: "PSM3/invalid-asset" */
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDC, RISK_PSM3_USDC, D("1")), RISK_INVALID);
  ck_assert_int_eq(risk_psm3_swap_exact_out(&r, &p, RISK_PSM3_SUSDS, RISK_PSM3_SUSDS, D("1")), RISK_INVALID);
}
END_TEST

START_TEST(test_psm3_exact_out) {
  struct risk_psm3 p = psm_empty();
  u256 r;
  /* USDC out 1e6 paid in sUSDS: ceil(ceil(1e6*1e27/1.25e27)*1e18/1e6) = 0.8e18 */
  ck_assert_int_eq(risk_psm3_swap_exact_out(&r, &p, RISK_PSM3_SUSDS, RISK_PSM3_USDC, D("1000000")), RISK_OK);
  ck_assert_u256_dec(r, "800000000000000000");
  /* 1e6+1: ceil(800000.8) = 800001, * 1e12 */
  ck_assert_int_eq(risk_psm3_swap_exact_out(&r, &p, RISK_PSM3_SUSDS, RISK_PSM3_USDC, D("1000001")), RISK_OK);
  ck_assert_u256_dec(r, "800001000000000000");
  /* sUSDS out 0.8e18 paid in USDC: ceil(ceil(0.8e18*1.25e27/1e27)*1e6/1e18) = 1e6 */
  ck_assert_int_eq(risk_psm3_swap_exact_out(&r, &p, RISK_PSM3_USDC, RISK_PSM3_SUSDS, D("800000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "1000000");
  /* 0.8e18+1: ceil(1e18 + 1.25) = 1e18+2, ceil((1e18+2)*1e6/1e18) = 1000001 */
  ck_assert_int_eq(risk_psm3_swap_exact_out(&r, &p, RISK_PSM3_USDC, RISK_PSM3_SUSDS, D("800000000000000001")), RISK_OK);
  ck_assert_u256_dec(r, "1000001");
  /* one-to-one legs: ceil((1e6+1)*1e18/1e6), ceil((1e18+1)*1e6/1e18) */
  ck_assert_int_eq(risk_psm3_swap_exact_out(&r, &p, RISK_PSM3_USDS, RISK_PSM3_USDC, D("1000001")), RISK_OK);
  ck_assert_u256_dec(r, "1000001000000000000");
  ck_assert_int_eq(risk_psm3_swap_exact_out(&r, &p, RISK_PSM3_USDC, RISK_PSM3_USDS, D("1000000000000000001")), RISK_OK);
  ck_assert_u256_dec(r, "1000001");
  /* zero rate: division by zero reverts */
  p.rate = U256_ZERO;
  ck_assert_int_eq(risk_psm3_swap_exact_in(&r, &p, RISK_PSM3_USDC, RISK_PSM3_SUSDS, D("1")), RISK_DIV_BY_ZERO);
}
END_TEST

START_TEST(test_psm3_empty_conversions) {
  struct risk_psm3 p = psm_empty();
  u256 r;
  /* §5.1 #7: convertToAssets(sUSDS, 1e18 shares) = 0.8e18 */
  ck_assert_int_eq(risk_psm3_convert_to_assets(&r, &p, RISK_PSM3_SUSDS, D("1000000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "800000000000000000");
  ck_assert_int_eq(risk_psm3_convert_to_assets(&r, &p, RISK_PSM3_USDC, D("1000000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "1000000");
  /* empty PSM: shares = value 1:1 */
  ck_assert_int_eq(risk_psm3_preview_deposit(&r, &p, RISK_PSM3_USDC, D("1000000")), RISK_OK);
  ck_assert_u256_dec(r, "1000000000000000000");
  ck_assert_int_eq(risk_psm3_preview_deposit(&r, &p, RISK_PSM3_SUSDS, D("1000000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "1250000000000000000");
}
END_TEST

/* Balances USDC 100e6, USDS 100e18, sUSDS 80e18 at rate 1.3e27, 300e18 shares:
 * totalAssets = 100e18 + 100e18 + fl(80e18*1.3e27/1e9/1e18) = 304e18. */
START_TEST(test_psm3_shares) {
  struct risk_psm3 p = psm_empty();
  p.rate = D("1300000000000000000000000000");
  p.balance[RISK_PSM3_USDC] = D("100000000");
  p.balance[RISK_PSM3_USDS] = D("100000000000000000000");
  p.balance[RISK_PSM3_SUSDS] = D("80000000000000000000");
  p.total_shares = D("300000000000000000000");
  u256 r, sh, as;
  ck_assert_int_eq(risk_psm3_total_assets(&r, &p), RISK_OK);
  ck_assert_u256_dec(r, "304000000000000000000");
  /* deposit 1e6 USDC: fl(1e18*300e18/304e18) */
  ck_assert_int_eq(risk_psm3_preview_deposit(&r, &p, RISK_PSM3_USDC, D("1000000")), RISK_OK);
  ck_assert_u256_dec(r, "986842105263157894");
  /* deposit 1e18 sUSDS: value 1.3e18 -> fl(1.3e18*300/304) */
  ck_assert_int_eq(risk_psm3_preview_deposit(&r, &p, RISK_PSM3_SUSDS, D("1000000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "1282894736842105263");
  /* withdraw 10e6 USDC with enough shares: ceil(10e18*300e18/304e18) */
  ck_assert_int_eq(risk_psm3_preview_withdraw(&sh, &as, &p, RISK_PSM3_USDC, D("10000000"), D("20000000000000000000")),
                   RISK_OK);
  ck_assert_u256_dec(sh, "9868421052631578948");
  ck_assert_u256_dec(as, "10000000");
  /* not enough shares: all 5e18 burn for fl(fl(5e18*304/300)*1e6/1e18) USDC */
  ck_assert_int_eq(risk_psm3_preview_withdraw(&sh, &as, &p, RISK_PSM3_USDC, D("10000000"), D("5000000000000000000")),
                   RISK_OK);
  ck_assert_u256_dec(sh, "5000000000000000000");
  ck_assert_u256_dec(as, "5066666");
  /* more than the PSM holds: capped at its balance (100e6 -> ceil(100e18*300/304) shares) */
  ck_assert_int_eq(risk_psm3_preview_withdraw(&sh, &as, &p, RISK_PSM3_USDC, D("200000000"), D("300000000000000000000")),
                   RISK_OK);
  ck_assert_u256_dec(as, "100000000");
  ck_assert_u256_dec(sh, "98684210526315789474");
  /* convertToAssets(sUSDS, 1e18) = fl(fl(1e18*304/300)*1e9*1e18/1.3e27) */
  ck_assert_int_eq(risk_psm3_convert_to_assets(&r, &p, RISK_PSM3_SUSDS, D("1000000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "779487179487179486");
  /* sUSDS value of 1 wei: down fl(1.3e18/1e18) = 1, up ceil(ceil(1.3e27/1e9)/1e18) = 2 */
  ck_assert_int_eq(risk_psm3_asset_value(&r, &p, RISK_PSM3_SUSDS, U256_ONE, false), RISK_OK);
  ck_assert_u256_dec(r, "1");
  ck_assert_int_eq(risk_psm3_asset_value(&r, &p, RISK_PSM3_SUSDS, U256_ONE, true), RISK_OK);
  ck_assert_u256_dec(r, "2");
}
END_TEST

static Suite *savings_suite(void) {
  Suite *s = suite_create("savings");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, test_table_apr, 0, TABLE_ROWS);
  tcase_add_loop_test(tc, test_table_rpow_year, 0, TABLE_ROWS);
  tcase_add_loop_test(tc, test_table_rtob, 0, TABLE_ROWS);
  tcase_add_test(tc, test_max_vsr_row);
  tcase_add_test(tc, test_rpow_max_vsr_75y);
  tcase_add_test(tc, test_rpow_max_vsr_80y_overflows);
  tcase_add_test(tc, test_rpow_ray_identity);
  tcase_add_test(tc, test_divup_table);
  tcase_add_test(tc, test_value_accrual);
  tcase_add_test(tc, test_rpow_5pct_day);
  tcase_add_test(tc, test_conversions_chi_103);
  tcase_add_test(tc, test_conversions_6_decimals);
  tcase_add_test(tc, test_drip_one_day);
  tcase_add_test(tc, test_get_apy_dsr);
  tcase_add_test(tc, test_get_apy_dsr_plus_spread);
  tcase_add_test(tc, test_ssr_oracle_exact);
  tcase_add_test(tc, test_ssr_oracle_binomial);
  tcase_add_test(tc, test_ssr_oracle_linear);
  tcase_add_test(tc, test_ssr_oracle_apr_and_edges);
  tcase_add_test(tc, test_vault_max_functions);
  tcase_add_test(tc, test_vault_deposit_cap);
  tcase_add_test(tc, test_vault_liquidity);
  tcase_add_test(tc, test_psm3_exact_in);
  tcase_add_test(tc, test_psm3_exact_out);
  tcase_add_test(tc, test_psm3_empty_conversions);
  tcase_add_test(tc, test_psm3_shares);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(savings_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
