/* ctest-label: unit */
/* Liquidation prices on sawtooth health factors: Aave floors the average
 * liquidation threshold to whole bps, so with a 1-bp-LT collateral (DAI) beside WETH the HF is
 * a sawtooth in DAI's price and crosses 1 many times. Expected answers come from a brute-force
 * scan: the HF is evaluated at every 8-decimal price step of a range with
 * risk_account_evaluate_with (the calculateUserAccountData mirror, itself checked against
 * OpenSSL BIGNUM in check_unit_account and against the Pool on anvil), and the first crossing
 * is read off that table. The scan shares no code with risk_liquidation_price's search (no
 * pieces, no galloping, no bisection), so it checks the search, not itself. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "risk/account.h"
#include "risk/liquidation.h"
#include "risk/wadray.h"
#include "support/u256check.h"

static u256 U(uint64_t v) { return u256_from_u64(v); }

enum { WETH, DAI, USDC, N_RES };

static struct risk_market M;
static struct risk_account A;

static void market(struct risk_market *m) {
  memset(m, 0, sizeof *m);
  m->n_reserves = N_RES;
  for (int i = 0; i < N_RES; i++) {
    struct risk_acct_reserve *r = &m->reserves[i];
    r->listed = r->active = r->borrowing_enabled = true;
    r->liquidity_index = r->variable_borrow_index = RISK_RAY;
    r->available_liquidity = D("1000000000000000000000000000000");
    r->liquidation_bonus = 10500;
    r->decimals = 18;
  }
  struct risk_acct_reserve *r = m->reserves;
  r[WETH].ltv = 8000, r[WETH].liquidation_threshold = 8250, r[WETH].price = U(300000000000); /* $3000 */
  r[DAI].ltv = 0, r[DAI].liquidation_threshold = 1, r[DAI].price = U(100000000);
  r[USDC].decimals = 6, r[USDC].price = U(100000000), r[USDC].ltv = 7500, r[USDC].liquidation_threshold = 8000;
  ck_assert_int_eq(risk_market_prepare(m), RISK_OK);
}

static void account(struct risk_account *a, const char *weth, const char *dai, const char *usdc_debt) {
  memset(a, 0, sizeof *a);
  a->n_positions = 3;
  a->pos[0] = (struct risk_position){.reserve = WETH, .collateral = true, .scaled_a = D(weth)};
  a->pos[1] = (struct risk_position){.reserve = DAI, .collateral = true, .scaled_a = D(dai)};
  a->pos[2] = (struct risk_position){.reserve = USDC, .borrowing = true, .scaled_debt = D(usdc_debt)};
}

/* safe[i]: HF >= 1 with c at price i, for i in [0, n); -1 where the evaluation fails. */
static signed char *scan(const struct risk_market *m, const struct risk_account *a, uint16_t c, uint32_t n) {
  signed char *safe = malloc(n);
  ck_assert_ptr_nonnull(safe);
  for (uint32_t i = 0; i < n; i++) {
    struct risk_eval_override ov = {.pos = NULL, .price_reserve = c, .price = U(i), .emode = -1};
    struct risk_account_data d;
    safe[i] = risk_account_evaluate_with(m, a, &ov, &d) ? -1 : u256_ge(d.health_factor, RISK_WAD);
  }
  return safe;
}

/* The definition read off the table for current price cur < n. Returns false when the answer
 * lies outside the table (unsafe case with no safe price in (cur, n)). */
static bool expected(const signed char *safe, uint32_t n, uint32_t cur, bool *exists, uint64_t *price) {
  if (safe[cur] == 1) {
    for (uint32_t q = cur; q-- > 0;)
      if (safe[q] != 1) {
        *exists = true, *price = q + 1;
        return true;
      }
    *exists = true, *price = 0; /* safe down to 0 */
    return true;
  }
  for (uint32_t p = cur + 1; p < n; p++)
    if (safe[p] == 1) {
      *exists = true, *price = p;
      return true;
    }
  return false;
}

static int crossings(const signed char *safe, uint32_t n) {
  int k = 0;
  for (uint32_t i = 1; i < n; i++)
    k += safe[i] != safe[i - 1];
  return k;
}

/* Checks risk_liquidation_price at every current price in [from, to) against the table. */
static int check_range(struct risk_market *m, const struct risk_account *a, uint16_t c, const signed char *safe,
                       uint32_t n, uint32_t from, uint32_t to, uint32_t stride) {
  int checked = 0;
  u256 saved = m->reserves[c].price;
  for (uint32_t cur = from; cur < to; cur += stride) {
    bool want_exists;
    uint64_t want;
    if (!expected(safe, n, cur, &want_exists, &want)) continue;
    m->reserves[c].price = U(cur);
    bool exists;
    u256 got;
    ck_assert_int_eq(risk_liquidation_price(m, a, c, &exists, &got), RISK_OK);
    ck_assert_msg(exists == want_exists && u256_eq(got, U(want)), "cur %u: got %s%llu, want %llu", cur,
                  exists ? "" : "none/", (unsigned long long)got.w[0], (unsigned long long)want);
    checked++;
  }
  m->reserves[c].price = saved;
  return checked;
}

/* 1 WETH ($3000, LT 82.5%) + 1e6 DAI (LT 1 bp), debt $2474.9 of USDC: at DAI = P (8-decimal
 * units) DAI is worth P/100 dollars, avgLT = floor((3000*8250 + P/100)/(3000 + P/100)) falls
 * from 8250 one bp every few steps, and C*avgLT is 24,750,000 + P/100 minus a floor loss of up
 * to C, against 24,749,000 needed: the HF crosses 1 at nearly every piece. */
START_TEST(test_sawtooth_weth_dai) {
  market(&M);
  account(&A, "1000000000000000000", "1000000000000000000000000", "2474900000");
  const uint32_t n = 400000;
  signed char *safe = scan(&M, &A, DAI, n);
  ck_assert_int_gt(crossings(safe, n), 100); /* a real sawtooth */
  /* every current price in the first 4000 steps, then a stride over the rest */
  int k = check_range(&M, &A, DAI, safe, n, 0, 4000, 1);
  k += check_range(&M, &A, DAI, safe, n, 4000, n, 997);
  ck_assert_int_gt(k, 4000);
  free(safe);
}
END_TEST

/* Coarser pieces: 1e4 DAI, so a piece spans many price steps and the HF rises inside each. */
START_TEST(test_sawtooth_wide_pieces) {
  market(&M);
  account(&A, "1000000000000000000", "10000000000000000000000", "2474990000");
  const uint32_t n = 1100000;
  signed char *safe = scan(&M, &A, DAI, n);
  ck_assert_int_gt(crossings(safe, n), 10);
  int k = check_range(&M, &A, DAI, safe, n, 0, n, 1499);
  /* and next to every crossing, where an off-by-one would show */
  for (uint32_t i = 1; i + 1 < n; i++)
    if (safe[i] != safe[i - 1]) k += check_range(&M, &A, DAI, safe, n, i - 1, i + 2, 1);
  ck_assert_int_gt(k, 1000);
  free(safe);
}
END_TEST

/* Random sawtooth markets: WETH-like collateral, a low-LT collateral c, a second collateral and
 * a debt sized near the collateral's threshold value, checked over a window of the table. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

START_TEST(test_random_sawtooth) {
  int checked = 0, multi = 0;
  for (int iter = 0; iter < 40; iter++) {
    market(&M);
    struct risk_acct_reserve *r = M.reserves;
    r[WETH].liquidation_threshold = (uint32_t)(5000 + rnd() % 4500);
    r[DAI].liquidation_threshold = (uint32_t)(1 + rnd() % (rnd() % 4 ? 3 : 9000));
    r[DAI].decimals = (uint32_t)(rnd() % 2 ? 18 : 6);
    r[USDC].liquidation_threshold = (uint32_t)(rnd() % 3 ? 0 : 1 + rnd() % 9000);
    ck_assert_int_eq(risk_market_prepare(&M), RISK_OK);
    memset(&A, 0, sizeof A);
    A.n_positions = 3;
    A.pos[0] = (struct risk_position){.reserve = WETH, .collateral = true};
    u256_mul(&A.pos[0].scaled_a, U(1 + rnd() % 1000000), U(1000000000000ull)); /* up to 1 WETH */
    A.pos[1] = (struct risk_position){.reserve = DAI, .collateral = true};
    /* DAI amount so that DAI = P is worth about P * 10^(k - 8) dollars with k in 1..4 */
    uint64_t dai_whole = 1;
    for (uint64_t k = rnd() % 4 + 3; k-- > 0;)
      dai_whole *= 10;
    dai_whole = dai_whole * (1 + rnd() % 9);
    u256 unit = M.reserves[DAI].unit;
    u256_mul(&A.pos[1].scaled_a, U(dai_whole), unit);
    A.pos[2] =
        (struct risk_position){.reserve = USDC, .collateral = rnd() % 2 != 0, .scaled_a = U(rnd() % 500000000ull)};
    /* debt: the collateral's threshold value at DAI = 0 times 0.97 .. 1.03 (half the time
     * 0.999 .. 1.002, where the sawtooth crosses most), in USDC units */
    struct risk_eval_override ov = {.pos = NULL, .price_reserve = DAI, .price = U256_ZERO, .emode = -1};
    struct risk_account_data d;
    ck_assert_int_eq(risk_account_evaluate_with(&M, &A, &ov, &d), RISK_OK);
    u256 t; /* coll * avgLT/1e4 * f/1e4 * 1e6/1e8 */
    ck_assert_int_eq(
        u256_muldiv(&t, d.total_collateral_base,
                    U(d.avg_liquidation_threshold * (rnd() % 2 ? 9990ull + rnd() % 30 : 9700ull + rnd() % 600)),
                    U(10000000000ull)),
        RISK_OK);
    if (u256_is_zero(t)) t = U(1);
    A.pos[2].scaled_debt = t;
    A.pos[2].borrowing = true;
    const uint32_t n = 100000;
    signed char *safe = scan(&M, &A, DAI, n);
    if (crossings(safe, n) > 4) multi++;
    checked += check_range(&M, &A, DAI, safe, n, 0, n, 409 + (uint32_t)(rnd() % 100));
    for (uint32_t i = 1; i + 1 < n; i++)
      if (safe[i] != safe[i - 1] && rnd() % 8 == 0) checked += check_range(&M, &A, DAI, safe, n, i - 1, i + 2, 1);
    free(safe);
  }
  ck_assert_int_gt(checked, 3000);
  ck_assert_int_gt(multi, 2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("liqprice");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_sawtooth_weth_dai);
  tcase_add_test(tc, test_sawtooth_wide_pieces);
  tcase_add_test(tc, test_random_sawtooth);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
