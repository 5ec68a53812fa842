/* ctest-label: unit */
/* Account evaluation, action validation (on-chain error names and order), maximum amounts,
 * eMode, isolation, siloed borrowing, liquidation amounts and liquidation prices.
 * Expected numbers: spec protocol-math §5.2 vectors, hand derivations written next to each
 * assertion, and an OpenSSL BIGNUM re-computation of §2.5 for random accounts. */
#include <check.h>
#include <openssl/bn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/account.h"
#include "risk/liquidation.h"
#include "risk/reserve.h"
#include "risk/wadray.h"
#include "support/u256check.h"

static u256 U(uint64_t v) { return u256_from_u64(v); }
static void ck_u256(u256 got, const char *want) {
  char buf[U256_DEC_MAX];
  u256_to_dec(got, buf);
  ck_assert_str_eq(buf, want);
}

enum { WETH, USDC, DAI, WBTC, ISO, SILO, RETH, N_RES };

/* A small market at RAY indexes (so scaled == actual), ample liquidity. */
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
  r[WETH].emode_category = 1;
  r[USDC].decimals = 6, r[USDC].price = U(100000000), r[USDC].emode_category = 2,
  r[USDC].borrowable_in_isolation = true;
  r[DAI].decimals = 18, r[DAI].price = U(100000000), r[DAI].ltv = 0, r[DAI].liquidation_threshold = 1;
  r[WBTC].decimals = 8, r[WBTC].ltv = 7300, r[WBTC].liquidation_threshold = 7800, r[WBTC].price = U(6000000000000);
  r[ISO].decimals = 18, r[ISO].ltv = 5000, r[ISO].liquidation_threshold = 6000, r[ISO].price = U(1000000000);
  r[ISO].debt_ceiling = 1000000; /* $10,000.00 */
  r[SILO].decimals = 18, r[SILO].price = U(100000000), r[SILO].siloed_borrowing = true;
  r[RETH].decimals = 18, r[RETH].ltv = 0, r[RETH].liquidation_threshold = 8000, r[RETH].price = U(330000000000);
  r[RETH].emode_category = 1;
  m->emode[1] = (struct risk_emode_category){9200, 9300, 10100};
  m->emode[2] = (struct risk_emode_category){9100, 9200, 10100};
  ck_assert_int_eq(risk_market_prepare(m), RISK_OK);
}

static void pos(struct risk_account *a, uint16_t res, const char *supplied, bool coll, const char *debt) {
  struct risk_position p = {.reserve = res, .collateral = coll, .scaled_a = D(supplied), .scaled_debt = D(debt)};
  p.borrowing = !u256_is_zero(p.scaled_debt);
  uint32_t i = a->n_positions;
  while (i > 0 && a->pos[i - 1].reserve > res) {
    a->pos[i] = a->pos[i - 1];
    i--;
  }
  a->pos[i] = p;
  a->n_positions++;
}

static struct risk_action act(risk_action_kind k, uint16_t res, u256 amount) {
  struct risk_action x = {.kind = k, .reserve = res, .amount = amount};
  return x;
}

static risk_onchain_err val(const struct risk_market *m, const struct risk_account *a, risk_action_kind k, uint16_t res,
                            u256 amount) {
  struct risk_action x = act(k, res, amount);
  return risk_account_validate(m, a, &x);
}

#define CK_ERR(got, want)                                                                                              \
  ck_assert_msg((got) == (want), "got %s, want %s", risk_onchain_error_name(got), risk_onchain_error_name(want))

static struct risk_market M; /* large: keep off the stack */
static struct risk_account A;

/* ---------------------------------------------------------------- §5.2 vector */

START_TEST(test_vector_hf_and_liquidation) {
  market(&M);
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  pos(&A, USDC, "0", false, "20000000000");
  struct risk_account_data d;
  ck_assert_int_eq(risk_account_evaluate(&M, &A, &d), RISK_OK);
  ck_u256(d.total_collateral_base, "3000000000000");
  ck_u256(d.total_debt_base, "2000000000000");
  ck_u256(d.health_factor, "1290000000000000000");
  ck_assert_uint_eq(d.avg_ltv, 8500);
  ck_assert_uint_eq(d.avg_liquidation_threshold, 8600);
  ck_u256(d.available_borrows_base, "550000000000"); /* 3e12*0.85 - 2e12 */

  M.reserves[WETH].price = U(230000000000);
  ck_assert_int_eq(risk_account_evaluate(&M, &A, &d), RISK_OK);
  ck_u256(d.health_factor, "989000000000000000");
  struct risk_liquidation l;
  ck_assert_int_eq(risk_liquidation_compute(&M, &A, WETH, USDC, U256_MAX, &l), RISK_OK);
  CK_ERR(l.error, RISK_ONCHAIN_OK);
  ck_assert_uint_eq(l.close_factor, 5000);
  ck_u256(l.max_liquidatable_debt, "10000000000");
  ck_u256(l.debt_to_cover, "10000000000");
  ck_u256(l.base_collateral, "4347826086956521739");
  ck_u256(l.collateral_amount, "4565217391304347826");
  ck_u256(l.bonus_collateral, "217391304347826087");
  ck_u256(l.protocol_fee, "21739130434782609");
  ck_u256(l.to_liquidator, "4543478260869565217");
  ck_assert(!l.collateral_limited);

  /* HF <= 0.95 -> close factor 100% */
  M.reserves[WETH].price = U(200000000000); /* HF = 2e12*0.86/2e12 = 0.86 */
  ck_assert_int_eq(risk_liquidation_compute(&M, &A, WETH, USDC, U256_MAX, &l), RISK_OK);
  ck_assert_uint_eq(l.close_factor, 10000);
  ck_u256(l.max_liquidatable_debt, "20000000000");
  /* collateral-limited: 20,000 USDC at 2000 with 5% bonus needs 10.5 WETH > 10 */
  ck_assert(l.collateral_limited);
  ck_u256(l.collateral_amount, "10000000000000000000");
  /* debt = percentDiv(fl(2000e8*10e18*1e6/(1e8*1e18)), 10500) = percentDiv(20000e6, 10500) */
  ck_u256(l.debt_to_cover, "19047619048");
  ck_assert(l.clears_collateral);
}
END_TEST

/* ---------------------------------------------------------------- errors, one per case */

START_TEST(test_supply_errors) {
  market(&M);
  memset(&A, 0, sizeof A);
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, U(0)), RISK_ONCHAIN_INVALID_AMOUNT);
  M.reserves[WETH].active = false;
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, U(0)), RISK_ONCHAIN_INVALID_AMOUNT); /* amount first */
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, U(1)), RISK_ONCHAIN_RESERVE_INACTIVE);
  M.reserves[WETH].active = true, M.reserves[WETH].paused = true, M.reserves[WETH].frozen = true;
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, U(1)), RISK_ONCHAIN_RESERVE_PAUSED); /* paused before frozen */
  M.reserves[WETH].paused = false;
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, U(1)), RISK_ONCHAIN_RESERVE_FROZEN);
  M.reserves[WETH].frozen = false;
  /* supply cap 100 WETH, 90 supplied + 5 accrued to treasury: 5 WETH fit, 5 WETH + 1 wei not */
  M.reserves[WETH].supply_cap = 100;
  M.reserves[WETH].a_token_scaled_total_supply = D("90000000000000000000");
  M.reserves[WETH].accrued_to_treasury = D("5000000000000000000");
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, D("5000000000000000000")), RISK_ONCHAIN_OK);
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, D("5000000000000000001")), RISK_ONCHAIN_SUPPLY_CAP_EXCEEDED);
  u256 mx;
  bool unb;
  struct risk_action x = act(RISK_ACT_SUPPLY, WETH, U(0));
  CK_ERR(risk_account_max_amount(&M, &A, &x, &mx, &unb), RISK_ONCHAIN_SUPPLY_CAP_EXCEEDED);
  ck_u256(mx, "5000000000000000000");
  ck_assert(!unb);
  /* rayDiv(1, 3e27) = fl((1e27 + 1.5e27) / 3e27) = 0 */
  M.reserves[WETH].supply_cap = 0;
  M.reserves[WETH].liquidity_index = D("3000000000000000000000000000");
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, U(1)), RISK_ONCHAIN_INVALID_MINT_AMOUNT);
  CK_ERR(val(&M, &A, RISK_ACT_SUPPLY, WETH, U(2)), RISK_ONCHAIN_OK);
}
END_TEST

START_TEST(test_withdraw_errors) {
  market(&M);
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  pos(&A, USDC, "0", false, "20000000000");
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, U(0)), RISK_ONCHAIN_INVALID_AMOUNT);
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, D("10000000000000000001")),
         RISK_ONCHAIN_NOT_ENOUGH_AVAILABLE_USER_BALANCE);
  M.reserves[WETH].paused = true;
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, U(1)), RISK_ONCHAIN_RESERVE_PAUSED);
  M.reserves[WETH].paused = false;
  M.reserves[WETH].frozen = true; /* frozen does not block withdraw */
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, U(1)), RISK_ONCHAIN_OK);
  M.reserves[WETH].frozen = false;
  /* 3 WETH out: 7 WETH*3000*0.86 = 18,060 < 20,000 */
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, D("3000000000000000000")),
         RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD);
  M.reserves[WETH].available_liquidity = U(5);
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, U(6)), RISK_ONCHAIN_INSUFFICIENT_LIQUIDITY);
  M.reserves[WETH].available_liquidity = D("1000000000000000000000000");
  /* max withdraw (hand): HF = wadDiv(percentMul(coll', 8600), 2e12) >= 1e18 <=> percentMul >= 2e12
   * <=> coll'*8600 + 5000 >= 2e16 <=> coll' >= 2325581395349 (base); coll' = fl(bal'*3e11/1e18)
   * <=> bal' >= ceil(2325581395349e7 / 3) = 7751937984496666667 wei left;
   * max = 10e18 - 7751937984496666667 */
  u256 mx;
  struct risk_action x = act(RISK_ACT_WITHDRAW, WETH, U(0));
  CK_ERR(risk_account_max_amount(&M, &A, &x, &mx, NULL), RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD);
  ck_u256(mx, "2248062015503333333");
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, mx), RISK_ONCHAIN_OK);

  /* zero-LTV collateral (rETH, LTV 0): withdrawing an asset with LTV != 0 fails */
  pos(&A, RETH, "1000000000000000000", true, "0");
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, U(1)), RISK_ONCHAIN_LTV_VALIDATION_FAILED);
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, RETH, U(1)), RISK_ONCHAIN_OK);
  /* rayDiv(1, 3e27) = 0 scaled units to burn */
  M.reserves[RETH].liquidity_index = D("3000000000000000000000000000");
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, RETH, U(1)), RISK_ONCHAIN_INVALID_BURN_AMOUNT);
  M.reserves[RETH].liquidity_index = RISK_RAY;
  /* without debt there is no HF/LTV check at all */
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  pos(&A, RETH, "1000000000000000000", true, "0");
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, U256_MAX), RISK_ONCHAIN_OK);
}
END_TEST

START_TEST(test_borrow_errors) {
  market(&M);
  memset(&A, 0, sizeof A);
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(1)), RISK_ONCHAIN_COLLATERAL_BALANCE_IS_ZERO);
  pos(&A, WETH, "10000000000000000000", true, "0");
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(0)), RISK_ONCHAIN_INVALID_AMOUNT);
  M.reserves[USDC].borrowing_enabled = false;
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(1)), RISK_ONCHAIN_BORROWING_NOT_ENABLED);
  M.reserves[USDC].frozen = true;
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(1)), RISK_ONCHAIN_RESERVE_FROZEN);
  M.reserves[USDC].frozen = false, M.reserves[USDC].borrowing_enabled = true;
  /* borrow cap 1,000 USDC with 999.5 borrowed */
  M.reserves[USDC].borrow_cap = 1000;
  M.reserves[USDC].variable_debt_scaled_total_supply = U(999500000);
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(500000)), RISK_ONCHAIN_OK);
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(500001)), RISK_ONCHAIN_BORROW_CAP_EXCEEDED);
  M.reserves[USDC].borrow_cap = 0;
  /* max borrow (hand): percentDiv(100*A, 8500) <= 3e12 <=> A <= 25,500e6 */
  u256 mx;
  struct risk_action x = act(RISK_ACT_BORROW, USDC, U(0));
  CK_ERR(risk_account_max_amount(&M, &A, &x, &mx, NULL), RISK_ONCHAIN_COLLATERAL_CANNOT_COVER_NEW_BORROW);
  ck_u256(mx, "25500000000");
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(25500000000)), RISK_ONCHAIN_OK);
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(25500000001)), RISK_ONCHAIN_COLLATERAL_CANNOT_COVER_NEW_BORROW);
  /* liquidity bounds the max */
  M.reserves[USDC].available_liquidity = U(1000000);
  CK_ERR(risk_account_max_amount(&M, &A, &x, &mx, NULL), RISK_ONCHAIN_INSUFFICIENT_LIQUIDITY);
  ck_u256(mx, "1000000");
  M.reserves[USDC].available_liquidity = D("1000000000000000000");
  /* HF must be strictly above 1 before the borrow: debt at exactly HF = 1 */
  pos(&A, USDC, "0", false, "25800000000"); /* 3e12*0.86 = 2.58e12 */
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(1)), RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD);
  /* nothing passes: max 0 and the reason of the smallest amount */
  {
    struct risk_account empty;
    memset(&empty, 0, sizeof empty);
    CK_ERR(risk_account_max_amount(&M, &empty, &x, &mx, NULL), RISK_ONCHAIN_COLLATERAL_BALANCE_IS_ZERO);
    ck_u256(mx, "0");
    M.reserves[USDC].frozen = true;
    CK_ERR(risk_account_max_amount(&M, &A, &x, &mx, NULL), RISK_ONCHAIN_RESERVE_FROZEN);
    ck_u256(mx, "0");
    struct risk_action sup = act(RISK_ACT_SUPPLY, USDC, U(0));
    bool unb = true;
    CK_ERR(risk_account_max_amount(&M, &A, &sup, &mx, &unb), RISK_ONCHAIN_RESERVE_FROZEN);
    ck_assert(!unb);
    M.reserves[USDC].frozen = false;
    CK_ERR(risk_account_max_amount(&M, &A, &sup, &mx, &unb), RISK_ONCHAIN_OK);
    ck_assert(unb); /* no supply cap */
  }
  /* LTV 0 collateral only */
  memset(&A, 0, sizeof A);
  pos(&A, RETH, "1000000000000000000", true, "0");
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(1)), RISK_ONCHAIN_LTV_VALIDATION_FAILED);
  /* eMode: user in category 1 cannot borrow USDC (category 2) */
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  A.emode_category = 1;
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(1)), RISK_ONCHAIN_INCONSISTENT_EMODE_CATEGORY);
}
END_TEST

START_TEST(test_isolation_and_siloed) {
  market(&M);
  memset(&A, 0, sizeof A);
  /* 10,000 ISO @ $10 = $100,000 collateral, isolated (ceiling $10,000.00) */
  pos(&A, ISO, "10000000000000000000000", true, "0");
  struct risk_account_data d;
  ck_assert_int_eq(risk_account_evaluate(&M, &A, &d), RISK_OK);
  ck_assert(d.isolated);
  ck_assert_uint_eq(d.isolation_collateral, ISO);
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, DAI, U(1)), RISK_ONCHAIN_ASSET_NOT_BORROWABLE_IN_ISOLATION);
  /* 10,000 USDC = 1,000,000 units of $0.01: fits exactly; 10,000.01 does not */
  M.reserves[ISO].isolation_mode_total_debt = U(0);
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(10000000000)), RISK_ONCHAIN_OK);
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(10000010000)), RISK_ONCHAIN_DEBT_CEILING_EXCEEDED);
  /* 10,000.009999 USDC rounds down to 1,000,000 cents */
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(10000009999)), RISK_ONCHAIN_OK);
  u256 mx;
  struct risk_action x = act(RISK_ACT_BORROW, USDC, U(0));
  CK_ERR(risk_account_max_amount(&M, &A, &x, &mx, NULL), RISK_ONCHAIN_DEBT_CEILING_EXCEEDED);
  ck_u256(mx, "10000009999");
  /* apply: isolation debt grows by fl(amount / 1e4) */
  struct risk_action b = act(RISK_ACT_BORROW, USDC, U(1234567891));
  CK_ERR(risk_account_apply(&M, &A, &b), RISK_ONCHAIN_OK);
  ck_u256(M.reserves[ISO].isolation_mode_total_debt, "123456");
  ck_u256(risk_account_find(&A, USDC)->scaled_debt, "1234567891");
  struct risk_action rp = act(RISK_ACT_REPAY, USDC, U(1000009999));
  CK_ERR(risk_account_apply(&M, &A, &rp), RISK_ONCHAIN_OK);
  ck_u256(M.reserves[ISO].isolation_mode_total_debt, "23456"); /* 123456 - 100000 */
  /* enabling another collateral while isolated fails; a first supply of it does not enable it */
  struct risk_action s = act(RISK_ACT_SUPPLY, WETH, D("1000000000000000000"));
  CK_ERR(risk_account_apply(&M, &A, &s), RISK_ONCHAIN_OK);
  ck_assert(!risk_account_find(&A, WETH)->collateral);
  struct risk_action sc = {.kind = RISK_ACT_SET_COLLATERAL, .reserve = WETH, .use_as_collateral = true};
  CK_ERR(risk_account_validate(&M, &A, &sc), RISK_ONCHAIN_USER_IN_ISOLATION_MODE_OR_LTV_ZERO);

  /* siloed: borrowing SILO alone is fine, then nothing else; with other debt, no SILO */
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, SILO, U(1000)), RISK_ONCHAIN_OK);
  pos(&A, SILO, "0", false, "1000");
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, SILO, U(1000)), RISK_ONCHAIN_OK);
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, USDC, U(1000)), RISK_ONCHAIN_SILOED_BORROWING_VIOLATION);
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  pos(&A, USDC, "0", false, "1000");
  CK_ERR(val(&M, &A, RISK_ACT_BORROW, SILO, U(1000)), RISK_ONCHAIN_SILOED_BORROWING_VIOLATION);
}
END_TEST

START_TEST(test_repay_collateral_emode) {
  market(&M);
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  pos(&A, USDC, "0", false, "20000000000");
  CK_ERR(val(&M, &A, RISK_ACT_REPAY, DAI, U(1)), RISK_ONCHAIN_NO_DEBT_OF_SELECTED_TYPE);
  struct risk_action r = act(RISK_ACT_REPAY, USDC, U256_MAX);
  r.on_behalf = true;
  CK_ERR(risk_account_validate(&M, &A, &r), RISK_ONCHAIN_NO_EXPLICIT_AMOUNT_TO_REPAY_ON_BEHALF);
  u256 mx;
  CK_ERR(risk_account_max_amount(&M, &A, &r, &mx, NULL), RISK_ONCHAIN_OK);
  ck_u256(mx, "20000000000");

  /* set collateral */
  struct risk_action sc = {.kind = RISK_ACT_SET_COLLATERAL, .reserve = WBTC, .use_as_collateral = true};
  CK_ERR(risk_account_validate(&M, &A, &sc), RISK_ONCHAIN_UNDERLYING_BALANCE_ZERO);
  sc.reserve = WETH, sc.use_as_collateral = false;
  CK_ERR(risk_account_validate(&M, &A, &sc), RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD);
  pos(&A, RETH, "1000000000000000000", false, "0");
  sc.reserve = RETH, sc.use_as_collateral = true; /* LTV 0 cannot be enabled */
  CK_ERR(risk_account_validate(&M, &A, &sc), RISK_ONCHAIN_USER_IN_ISOLATION_MODE_OR_LTV_ZERO);

  /* eMode: USDC (category 2) is borrowed, so category 1 is refused; unset category 7 too */
  struct risk_action em = {.kind = RISK_ACT_SET_EMODE, .emode_category = 1};
  CK_ERR(risk_account_validate(&M, &A, &em), RISK_ONCHAIN_INCONSISTENT_EMODE_CATEGORY);
  em.emode_category = 7;
  CK_ERR(risk_account_validate(&M, &A, &em), RISK_ONCHAIN_INCONSISTENT_EMODE_CATEGORY);
  /* repay all, then enter category 1: WETH uses LT 9300 */
  CK_ERR(risk_account_apply(&M, &A, &(struct risk_action){.kind = RISK_ACT_REPAY, .reserve = USDC, .amount = U256_MAX}),
         RISK_ONCHAIN_OK);
  ck_assert_ptr_null(risk_account_find(&A, USDC));
  em.emode_category = 1;
  CK_ERR(risk_account_apply(&M, &A, &em), RISK_ONCHAIN_OK);
  ck_assert_uint_eq(A.emode_category, 1);
  /* borrow WETH-category debt: 10 WETH coll, borrow 9.2 WETH allowed at LTV 9200 */
  struct risk_action b = act(RISK_ACT_BORROW, WETH, D("9000000000000000000"));
  CK_ERR(risk_account_apply(&M, &A, &b), RISK_ONCHAIN_OK);
  struct risk_account_data d;
  ck_assert_int_eq(risk_account_evaluate(&M, &A, &d), RISK_OK);
  ck_assert_uint_eq(d.avg_liquidation_threshold, 9300);
  ck_assert_uint_eq(d.avg_ltv, 9200);
  /* HF = 30000*0.93/27000 = 1.0333...: wadDiv(2.79e12, 2.7e12) */
  ck_u256(d.health_factor, "1033333333333333333");
  /* leaving eMode re-checks HF with LT 8600: 25,800/27,000 < 1 */
  em.emode_category = 0;
  CK_ERR(risk_account_validate(&M, &A, &em), RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD);
  /* eMode liquidation bonus: 10100 */
  M.reserves[WETH].price = U(290000000000);
  pos(&A, USDC, "0", false, "1000000000"); /* add some other debt too; HF < 1 now */
  struct risk_liquidation l;
  ck_assert_int_eq(risk_liquidation_compute(&M, &A, WETH, WETH, U256_MAX, &l), RISK_OK);
  CK_ERR(l.error, RISK_ONCHAIN_OK);
  ck_assert_uint_eq(l.liquidation_bonus, 10100);
  ck_assert_int_eq(risk_liquidation_compute(&M, &A, RETH, WETH, U256_MAX, &l), RISK_OK);
  CK_ERR(l.error, RISK_ONCHAIN_COLLATERAL_CANNOT_BE_LIQUIDATED);
  ck_assert_int_eq(risk_liquidation_compute(&M, &A, WETH, DAI, U256_MAX, &l), RISK_OK);
  CK_ERR(l.error, RISK_ONCHAIN_SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER);
  M.reserves[WETH].price = U(300000000000);
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  pos(&A, USDC, "0", false, "1000000000");
  ck_assert_int_eq(risk_liquidation_compute(&M, &A, WETH, USDC, U256_MAX, &l), RISK_OK);
  CK_ERR(l.error, RISK_ONCHAIN_HEALTH_FACTOR_NOT_BELOW_THRESHOLD);
}
END_TEST

START_TEST(test_apply_chain) {
  market(&M);
  M.reserves[WETH].liquidity_index = D("1050000000000000000000000000");
  M.reserves[USDC].variable_borrow_index = D("1100000000000000000000000000");
  memset(&A, 0, sizeof A);
  /* first supply auto-enables collateral; scaled = rayDiv(1e18, 1.05e27) = 952380952380952381 */
  struct risk_action s = act(RISK_ACT_SUPPLY, WETH, D("1000000000000000000"));
  CK_ERR(risk_account_apply(&M, &A, &s), RISK_ONCHAIN_OK);
  ck_u256(risk_account_find(&A, WETH)->scaled_a, "952380952380952381");
  ck_assert(risk_account_find(&A, WETH)->collateral);
  /* borrow 1000 USDC: scaled = rayDiv(1e9, 1.1e27) = 909090909 */
  struct risk_action b = act(RISK_ACT_BORROW, USDC, U(1000000000));
  CK_ERR(risk_account_apply(&M, &A, &b), RISK_ONCHAIN_OK);
  ck_u256(risk_account_find(&A, USDC)->scaled_debt, "909090909");
  ck_u256(M.reserves[USDC].variable_debt_scaled_total_supply, "909090909");
  /* first supply of an LTV-0 asset does not enable it */
  struct risk_action s2 = act(RISK_ACT_SUPPLY, RETH, D("1000000000000000000"));
  CK_ERR(risk_account_apply(&M, &A, &s2), RISK_ONCHAIN_OK);
  ck_assert(!risk_account_find(&A, RETH)->collateral);
  /* withdraw everything of WETH is refused while debt stands */
  CK_ERR(val(&M, &A, RISK_ACT_WITHDRAW, WETH, U256_MAX), RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD);
}
END_TEST

/* Filling from a stored reserve state: the borrow of a reserve without debt mints at the
 * stored index (updateState leaves it), while the account value uses the compounded one. */
START_TEST(test_from_state) {
  struct risk_reserve_state s;
  memset(&s, 0, sizeof s);
  s.config.decimals = 6, s.config.active = true, s.config.borrowing_enabled = true, s.config.emode_category = 2;
  s.liquidity_index = RISK_RAY;
  s.variable_borrow_index = D("1100000000000000000000000000");
  s.current_variable_borrow_rate = D("50000000000000000000000000"); /* 5% */
  s.last_update_timestamp = 1700000000;
  s.available_liquidity = U(1000000000000);
  market(&M);
  ck_assert_int_eq(risk_acct_reserve_from_state(&M.reserves[USDC], &s, U(100000000), 1700000000 + 86400), RISK_OK);
  ck_assert_int_eq(risk_market_prepare(&M), RISK_OK);
  /* compounded(5%, 1 day) = 1000136995684207123907444230 (spec 5.2); times 1.1 exactly */
  ck_u256(M.reserves[USDC].variable_borrow_index, "1100150695252627836298188653");
  ck_u256(M.reserves[USDC].next_variable_borrow_index, "1100000000000000000000000000");
  memset(&A, 0, sizeof A);
  pos(&A, WETH, "10000000000000000000", true, "0");
  struct risk_action b = act(RISK_ACT_BORROW, USDC, U(1000000000));
  CK_ERR(risk_account_apply(&M, &A, &b), RISK_ONCHAIN_OK);
  ck_u256(risk_account_find(&A, USDC)->scaled_debt, "909090909"); /* rayDiv(1e9, 1.1e27) */
  ck_u256(M.reserves[USDC].variable_borrow_index, "1100000000000000000000000000");
  /* with debt outstanding the two indexes agree */
  s.variable_debt_scaled_total_supply = U(5000000);
  ck_assert_int_eq(risk_acct_reserve_from_state(&M.reserves[USDC], &s, U(100000000), 1700000000 + 86400), RISK_OK);
  ck_assert(u256_eq(M.reserves[USDC].variable_borrow_index, M.reserves[USDC].next_variable_borrow_index));
}
END_TEST

/* ---------------------------------------------------------------- random accounts */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void rand_u256(u256 *r, unsigned bits) {
  *r = U256_ZERO;
  for (unsigned i = 0; i < 4 && i * 64 < bits; i++)
    r->w[i] = rnd();
  if (bits < 256) *r = u256_shr(u256_shl(*r, 256 - bits), 256 - bits);
}

static void random_market(struct risk_market *m) {
  memset(m, 0, sizeof *m);
  m->n_reserves = 12;
  for (unsigned i = 0; i < m->n_reserves; i++) {
    struct risk_acct_reserve *r = &m->reserves[i];
    r->listed = r->active = r->borrowing_enabled = true;
    r->decimals = (uint32_t)(rnd() % 3 == 0 ? 6 : rnd() % 3 == 0 ? 8 : 18);
    r->liquidation_threshold = (uint32_t)(rnd() % 4 == 0 ? 0 : 5000 + rnd() % 4000);
    r->ltv = r->liquidation_threshold ? (uint32_t)(rnd() % 5 == 0 ? 0 : r->liquidation_threshold - rnd() % 500) : 0;
    r->liquidation_bonus = 10500;
    r->emode_category = (uint32_t)(rnd() % 3);
    u256 t;
    rand_u256(&t, 40);
    u256_add(&r->price, t, U256_ONE);
    rand_u256(&t, 88);
    u256_add(&r->liquidity_index, RISK_RAY, t);
    rand_u256(&t, 88);
    u256_add(&r->variable_borrow_index, RISK_RAY, t);
  }
  m->emode[1] = (struct risk_emode_category){9200, 9300, 10100};
  m->emode[2] = (struct risk_emode_category){9100, 9500, 10100};
  ck_assert_int_eq(risk_market_prepare(m), RISK_OK);
}

static void random_account(const struct risk_market *m, struct risk_account *a) {
  memset(a, 0, sizeof *a);
  a->emode_category = (uint32_t)(rnd() % 3);
  for (uint16_t r = 0; r < m->n_reserves; r++) {
    if (rnd() % 3) continue;
    struct risk_position p = {.reserve = r};
    unsigned dec = m->reserves[r].decimals;
    if (rnd() % 2) {
      rand_u256(&p.scaled_a, 20 + dec * 3 + (unsigned)(rnd() % 20));
      p.collateral = rnd() % 4 != 0;
    }
    if (rnd() % 2) {
      rand_u256(&p.scaled_debt, 10 + dec * 3 + (unsigned)(rnd() % 20));
      p.borrowing = !u256_is_zero(p.scaled_debt);
    }
    a->pos[a->n_positions++] = p;
  }
}

static BIGNUM *bn(u256 v) {
  char buf[U256_DEC_MAX];
  u256_to_dec(v, buf);
  BIGNUM *b = NULL;
  BN_dec2bn(&b, buf);
  return b;
}
static void ck_bn(const BIGNUM *want, u256 got) {
  char *w = BN_bn2dec(want), g[U256_DEC_MAX];
  u256_to_dec(got, g);
  ck_assert_str_eq(g, w);
  OPENSSL_free(w);
}

/* §2.5 with OpenSSL BIGNUM: an independent re-computation of the evaluation. */
START_TEST(test_random_vs_bignum) {
  BN_CTX *ctx = BN_CTX_new();
  static struct risk_market rm;
  static struct risk_account ra;
  random_market(&rm);
  for (int iter = 0; iter < 3000; iter++) {
    random_account(&rm, &ra);
    BIGNUM *coll = BN_new(), *debt = BN_new(), *sltv = BN_new(), *slt = BN_new(), *t = BN_new(), *rem = BN_new();
    BIGNUM *half = NULL, *ray = NULL;
    BN_dec2bn(&half, "500000000000000000000000000");
    BN_dec2bn(&ray, "1000000000000000000000000000");
    for (uint32_t i = 0; i < ra.n_positions; i++) {
      const struct risk_position *p = &ra.pos[i];
      const struct risk_acct_reserve *r = &rm.reserves[p->reserve];
      BIGNUM *price = bn(r->price), *unit = bn(r->unit);
      bool in_cat = ra.emode_category && r->emode_category == ra.emode_category;
      if (p->collateral && r->liquidation_threshold) {
        BIGNUM *s = bn(p->scaled_a), *ix = bn(r->liquidity_index);
        BN_mul(t, s, ix, ctx);
        BN_add(t, t, half);
        BN_div(t, rem, t, ray, ctx); /* rayMul */
        BN_mul(t, t, price, ctx);
        BN_div(t, rem, t, unit, ctx);
        BN_add(coll, coll, t);
        if (r->ltv) {
          BIGNUM *x = BN_dup(t);
          BN_mul_word(x, in_cat ? rm.emode[ra.emode_category].ltv : r->ltv);
          BN_add(sltv, sltv, x);
          BN_free(x);
        }
        BN_mul_word(t, in_cat ? rm.emode[ra.emode_category].liquidation_threshold : r->liquidation_threshold);
        BN_add(slt, slt, t);
        BN_free(s), BN_free(ix);
      }
      if (p->borrowing) {
        BIGNUM *s = bn(p->scaled_debt), *ix = bn(r->variable_borrow_index);
        BN_mul(t, s, ix, ctx);
        BN_add(t, t, half);
        BN_div(t, rem, t, ray, ctx);
        BN_mul(t, t, price, ctx);
        BN_div(t, rem, t, unit, ctx);
        BN_add(debt, debt, t);
        BN_free(s), BN_free(ix);
      }
      BN_free(price), BN_free(unit);
    }
    struct risk_account_data d;
    ck_assert_int_eq(risk_account_evaluate(&rm, &ra, &d), RISK_OK);
    ck_bn(coll, d.total_collateral_base);
    ck_bn(debt, d.total_debt_base);
    if (!BN_is_zero(coll)) {
      BN_div(sltv, rem, sltv, coll, ctx);
      BN_div(slt, rem, slt, coll, ctx);
    }
    ck_assert_uint_eq(BN_get_word(sltv), d.avg_ltv);
    ck_assert_uint_eq(BN_get_word(slt), d.avg_liquidation_threshold);
    if (!BN_is_zero(debt)) {
      /* wadDiv(percentMul(coll, lt), debt) */
      BN_mul_word(coll, d.avg_liquidation_threshold);
      BN_add_word(coll, 5000);
      BN_div_word(coll, 10000);
      BN_mul_word(coll, 1000000000000000000ull);
      BN_rshift1(t, debt);
      BN_add(coll, coll, t);
      BN_div(t, rem, coll, debt, ctx);
      ck_bn(t, d.health_factor);
    } else {
      ck_assert(u256_eq(d.health_factor, U256_MAX));
    }
    BN_free(coll), BN_free(debt), BN_free(sltv), BN_free(slt), BN_free(t), BN_free(rem), BN_free(half), BN_free(ray);
  }
  BN_CTX_free(ctx);
}
END_TEST

/* Liquidation price: HF >= 1 at P and < 1 at P - 1, for many random accounts. */
START_TEST(test_liquidation_price_random) {
  static struct risk_market rm;
  static struct risk_account ra;
  random_market(&rm);
  int checked = 0, none = 0;
  for (int iter = 0; iter < 2000; iter++) {
    random_account(&rm, &ra);
    for (uint32_t i = 0; i < ra.n_positions; i++) {
      uint16_t c = ra.pos[i].reserve;
      bool exists;
      u256 p;
      ck_assert_int_eq(risk_liquidation_price(&rm, &ra, c, &exists, &p), RISK_OK);
      if (!exists) {
        none++;
        continue;
      }
      struct risk_eval_override ov = {.price_reserve = c, .price = p, .emode = -1};
      struct risk_account_data d;
      ck_assert_int_eq(risk_account_evaluate_with(&rm, &ra, &ov, &d), RISK_OK);
      ck_assert(u256_ge(d.health_factor, RISK_WAD));
      if (!u256_is_zero(p)) {
        ov.price = u256_sub_wrap(p, U256_ONE);
        ck_assert_int_eq(risk_account_evaluate_with(&rm, &ra, &ov, &d), RISK_OK);
        ck_assert(u256_lt(d.health_factor, RISK_WAD));
        checked++;
      }
    }
  }
  ck_assert_int_gt(checked, 500);
  ck_assert_int_gt(none, 0);
}
END_TEST

/* Max borrow and max withdraw on random accounts: max passes, max + 1 fails. */
START_TEST(test_max_random) {
  static struct risk_market rm;
  static struct risk_account ra;
  random_market(&rm);
  for (unsigned i = 0; i < rm.n_reserves; i++)
    rand_u256(&rm.reserves[i].available_liquidity, 100);
  int hits = 0;
  for (int iter = 0; iter < 1500; iter++) {
    random_account(&rm, &ra);
    for (uint16_t r = 0; r < rm.n_reserves; r++) {
      risk_action_kind kinds[2] = {RISK_ACT_BORROW, RISK_ACT_WITHDRAW};
      for (int k = 0; k < 2; k++) {
        struct risk_action x = {.kind = kinds[k], .reserve = r};
        u256 mx;
        risk_onchain_err e = risk_account_max_amount(&rm, &ra, &x, &mx, NULL);
        ck_assert_int_ne(e, RISK_ONCHAIN_OK);
        if (!u256_is_zero(mx)) {
          CK_ERR(val(&rm, &ra, kinds[k], r, mx), RISK_ONCHAIN_OK);
          hits++;
        }
        u256 nx = u256_add_wrap(mx, U256_ONE);
        ck_assert_int_ne(val(&rm, &ra, kinds[k], r, nx), RISK_ONCHAIN_OK);
      }
    }
  }
  ck_assert_int_gt(hits, 100);
}
END_TEST

START_TEST(test_error_names) {
  ck_assert_str_eq(risk_onchain_error_name(RISK_ONCHAIN_BORROW_CAP_EXCEEDED), "BORROW_CAP_EXCEEDED");
  ck_assert_str_eq(risk_onchain_error_code(RISK_ONCHAIN_BORROW_CAP_EXCEEDED), "50");
  ck_assert_str_eq(risk_onchain_error_name(RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD),
                   "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD");
  for (int e = 0; e < RISK_ONCHAIN__COUNT; e++)
    ck_assert_ptr_nonnull(risk_onchain_error_name((risk_onchain_err)e));
}
END_TEST

int main(void) {
  Suite *s = suite_create("account");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_vector_hf_and_liquidation);
  tcase_add_test(tc, test_supply_errors);
  tcase_add_test(tc, test_withdraw_errors);
  tcase_add_test(tc, test_borrow_errors);
  tcase_add_test(tc, test_isolation_and_siloed);
  tcase_add_test(tc, test_repay_collateral_emode);
  tcase_add_test(tc, test_apply_chain);
  tcase_add_test(tc, test_from_state);
  tcase_add_test(tc, test_random_vs_bignum);
  tcase_add_test(tc, test_liquidation_price_random);
  tcase_add_test(tc, test_max_random);
  tcase_add_test(tc, test_error_names);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
