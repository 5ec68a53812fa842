/* ctest-label: unit */
/* risk/health.h (the bulk health factor) against the engine's risk_account_evaluate_positions,
 * the reference that check_chain_differential and check_node_aave_diff hold to the real Pool:
 * random markets and accounts drawn to hit the edges (indexes up to 2^128-1, 0/6/8/18/27/36
 * decimals, prices from 0 to 2^64 and above, balances from 0 to 2^256-1, LT 0, unset and set
 * eMode categories, unlisted reserves, unsorted positions). Wherever the fast path answers, the
 * engine must return RISK_OK with the same health factor, collateral and debt to the unit; and
 * the fast path must answer for most accounts of a market inside its domain. The seed is fixed
 * and printed; set SPARKD_TEST_SEED to try another. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/health.h"

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }

/* A value of `bits` random bits (the top one set), 0 for 0 bits. */
static u256 of_bits(unsigned bits) {
  u256 v = U256_ZERO;
  for (unsigned i = 0; i < 4; i++)
    v.w[i] = rnd();
  if (bits == 0) return U256_ZERO;
  if (bits < 256) v = u256_shr(v, 256 - bits);
  v.w[(bits - 1) / 64] |= (uint64_t)1 << ((bits - 1) % 64);
  return v;
}

static const u256 U128_MAX_ = {{UINT64_MAX, UINT64_MAX, 0, 0}};

/* An index: RAY-like mostly, sometimes an edge. */
static u256 draw_index(bool in_domain) {
  switch (below(8)) {
  case 0: return U128_MAX_;
  case 1: return u256_from_u64(below(3)); /* 0, 1, 2 */
  case 2: return of_bits(1 + (unsigned)below(128));
  case 3:
    if (!in_domain) return of_bits(129 + (unsigned)below(128));
    return U128_MAX_;
  default: {
    u256 ray = {{0x9fd0803ce8000000u, 0x00000000033b2e3cu, 0, 0}}, extra = of_bits((unsigned)below(88));
    return u256_add_wrap(ray, extra);
  }
  }
}

static u256 draw_price(bool in_domain) {
  switch (below(8)) {
  case 0: return U256_ZERO;
  case 1: return u256_from_u64(1);
  case 2: return u256_from_u64(UINT64_MAX);
  case 3: return in_domain ? of_bits(1 + (unsigned)below(64)) : of_bits(65 + (unsigned)below(100));
  default: return u256_from_u64(1 + below(500000000000ull));
  }
}

static u256 draw_balance(unsigned dec) {
  switch (below(10)) {
  case 0: return U256_ZERO;
  case 1: return u256_from_u64(1);
  case 2: return U128_MAX_;
  case 3: return of_bits(1 + (unsigned)below(256)); /* any width, to 2^256-1 */
  case 4: return U256_MAX;
  default: { /* up to a billion whole tokens */
    u256 unit, v;
    (void)u256_pow10(&unit, dec > 40 ? 40 : dec);
    if (u256_mul(&v, unit, u256_from_u64(1 + below(1000000000ull))) != RISK_OK) return U128_MAX_;
    return u256_add_wrap(v, u256_from_u64(below(1000)));
  }
  }
}

static const unsigned DECIMALS[] = {0, 6, 8, 18, 18, 18, 27, 36};

/* A market of n reserves; in_domain: every reserve inside the fast path's domain. */
static void draw_market(struct risk_market *m, uint32_t n, bool in_domain) {
  memset(m, 0, sizeof *m);
  m->n_reserves = n;
  for (uint32_t i = 0; i < n; i++) {
    struct risk_acct_reserve *r = &m->reserves[i];
    r->listed = in_domain || below(10) != 0;
    r->decimals = DECIMALS[below(in_domain ? 7 : 8)];
    r->ltv = below(6) == 0 ? 0 : (uint32_t)below(9500);
    r->liquidation_threshold = below(6) == 0 ? 0 : r->ltv + (uint32_t)below(10000 - r->ltv);
    if (below(20) == 0) r->liquidation_threshold = (uint32_t)rnd(); /* any 32-bit value */
    r->emode_category = (uint32_t)below(4);
    r->liquidity_index = draw_index(in_domain);
    r->variable_borrow_index = draw_index(in_domain);
    r->price = draw_price(in_domain);
  }
  for (int c = 1; c < 4; c++) {
    if (below(4) == 0) continue; /* unset: LT 0 */
    uint32_t lt = 8000 + (uint32_t)below(1900);
    m->emode[c] = (struct risk_emode_category){lt - 200, lt, 10100};
  }
  ck_assert_int_eq(risk_market_prepare(m), RISK_OK);
}

/* An account of up to 8 positions, ascending reserve ids (unsorted now and then). */
static size_t draw_account(const struct risk_market *m, struct risk_position *pos, bool in_domain) {
  size_t n = 1 + below(in_domain ? 4 : 8);
  uint16_t id = (uint16_t)below(m->n_reserves);
  size_t k = 0;
  for (; k < n && id < m->n_reserves; k++) {
    const struct risk_acct_reserve *r = &m->reserves[id];
    struct risk_position *p = &pos[k];
    memset(p, 0, sizeof *p);
    p->reserve = id;
    p->collateral = below(2);
    p->scaled_a = draw_balance(r->decimals);
    p->scaled_debt = below(3) == 0 ? U256_ZERO : draw_balance(r->decimals);
    p->borrowing = !u256_is_zero(p->scaled_debt) || below(10) == 0;
    if (in_domain) { /* balances of an ordinary size */
      u256 unit;
      (void)u256_pow10(&unit, r->decimals);
      (void)u256_mul(&p->scaled_a, unit, u256_from_u64(below(10000000)));
      (void)u256_mul(&p->scaled_debt, unit, u256_from_u64(below(3) ? below(5000000) : 0));
      p->borrowing = !u256_is_zero(p->scaled_debt);
    }
    id = (uint16_t)(id + 1 + below(3));
  }
  if (!in_domain && k > 1 && below(30) == 0) pos[k - 1].reserve = pos[0].reserve; /* unsorted */
  return k;
}

static void dec(u256 v, char *buf) { (void)u256_to_dec(v, buf); }

/* Evaluates n_accounts random accounts on market m both ways; returns how many the fast path
 * answered. */
static long compare(const struct risk_market *m, long n_accounts, bool in_domain, long *engine_ok) {
  static struct risk_health_market h;
  risk_health_prepare(&h, m);
  struct risk_position pos[8];
  long fast = 0;
  for (long i = 0; i < n_accounts; i++) {
    size_t n = draw_account(m, pos, in_domain);
    uint32_t emode = (uint32_t)below(4);
    struct risk_account_data d;
    struct risk_health f;
    risk_err e = risk_account_evaluate_positions(m, pos, n, emode, &d);
    if (e == RISK_OK) ++*engine_ok;
    if (!risk_health_fast(&h, pos, n, emode, &f)) continue;
    fast++;
    char a[U256_DEC_MAX], b[U256_DEC_MAX];
    ck_assert_msg(e == RISK_OK, "account %ld: the fast path answers where the engine says %s", i, risk_err_name(e));
    dec(f.hf, a);
    dec(d.health_factor, b);
    ck_assert_msg(u256_eq(f.hf, d.health_factor), "account %ld: health factor %s, engine %s", i, a, b);
    dec(f.coll, a);
    dec(d.total_collateral_base, b);
    ck_assert_msg(u256_eq(f.coll, d.total_collateral_base), "account %ld: collateral %s, engine %s", i, a, b);
    dec(f.debt, a);
    dec(d.total_debt_base, b);
    ck_assert_msg(u256_eq(f.debt, d.total_debt_base), "account %ld: debt %s, engine %s", i, a, b);
  }
  return fast;
}

START_TEST(test_edges) {
  static struct risk_market m;
  long fast = 0, ok = 0, total = 0;
  for (int round = 0; round < 400; round++) {
    draw_market(&m, 1 + (uint32_t)below(24), false);
    fast += compare(&m, 500, false, &ok);
    total += 500;
  }
  printf("edges: %ld accounts, the engine answered %ld, the fast path %ld\n", total, ok, fast);
  ck_assert_int_gt(fast, total / 20); /* the edges reach the fast path too */
}
END_TEST

START_TEST(test_in_domain) {
  static struct risk_market m;
  long fast = 0, ok = 0, total = 0;
  for (int round = 0; round < 200; round++) {
    draw_market(&m, 1 + (uint32_t)below(24), true);
    fast += compare(&m, 1000, true, &ok);
    total += 1000;
  }
  printf("in domain: %ld accounts, the engine answered %ld, the fast path %ld\n", total, ok, fast);
  ck_assert_int_gt(fast, total * 9 / 10);
}
END_TEST

/* Hand-checked: one WETH collateral (18 decimals, index exactly RAY, $2,000.00000000, LT 82.5%)
 * against 1,000 USDC debt (6 decimals, index 1.1 RAY, $1.00000000):
 * coll = 1e18 * 2000e8 / 1e18 = 2000e8; debt = 1100e6 * 1e8 / 1e6 = 1100e8;
 * percentMul(2000e8, 8250) = 1650e8; hf = (1650e8 * 1e18 + 550e8) / 1100e8 = 1.5e18. */
START_TEST(test_hand) {
  static struct risk_market m;
  memset(&m, 0, sizeof m);
  m.n_reserves = 2;
  u256 ray = {{0x9fd0803ce8000000u, 0x00000000033b2e3cu, 0, 0}};
  m.reserves[0] = (struct risk_acct_reserve){.decimals = 18,
                                             .ltv = 8000,
                                             .liquidation_threshold = 8250,
                                             .listed = true,
                                             .price = u256_from_u64(200000000000ull),
                                             .liquidity_index = ray,
                                             .variable_borrow_index = ray};
  u256 ray11;
  ck_assert_int_eq(u256_mul(&ray11, ray, u256_from_u64(11)), RISK_OK);
  ck_assert_int_eq(u256_div(&ray11, ray11, u256_from_u64(10)), RISK_OK);
  m.reserves[1] = (struct risk_acct_reserve){.decimals = 6,
                                             .ltv = 7500,
                                             .liquidation_threshold = 8000,
                                             .listed = true,
                                             .price = u256_from_u64(100000000ull),
                                             .liquidity_index = ray,
                                             .variable_borrow_index = ray11};
  ck_assert_int_eq(risk_market_prepare(&m), RISK_OK);
  static struct risk_health_market h;
  risk_health_prepare(&h, &m);
  struct risk_position pos[2] = {{.reserve = 0, .collateral = true, .scaled_a = u256_from_u64(1000000000000000000ull)},
                                 {.reserve = 1, .borrowing = true, .scaled_debt = u256_from_u64(1000000000ull)}};
  struct risk_health f;
  ck_assert(risk_health_fast(&h, pos, 2, 0, &f));
  ck_assert(u256_eq(f.coll, u256_from_u64(200000000000ull)));
  ck_assert(u256_eq(f.debt, u256_from_u64(110000000000ull)));
  ck_assert(u256_eq(f.hf, u256_from_u64(1500000000000000000ull)));
}
END_TEST

int main(void) {
  const char *seed = getenv("SPARKD_TEST_SEED");
  rng_state = seed && *seed ? strtoull(seed, NULL, 0) : 0x5eed0013u;
  if (rng_state == 0) rng_state = 1;
  printf("check_unit_health: SPARKD_TEST_SEED=0x%" PRIx64 "\n", rng_state);
  Suite *s = suite_create("health");
  TCase *tc = tcase_create("health");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_hand);
  tcase_add_test(tc, test_edges);
  tcase_add_test(tc, test_in_domain);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
