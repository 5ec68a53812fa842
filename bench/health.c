/* bench_health: the bulk health factor (risk/health.h) against the engine's
 * risk_account_evaluate_positions over N synthetic accounts of two positions (SparkLend-like
 * indexes, prices and 6/8/18 decimals), both in the same run, rounds interleaved; prints
 * ns per account for each and checks that every figure is the same.
 *   build-bench/bench_health [N]   (default 1000000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "risk/health.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static u256 u128v(uint64_t lo, uint64_t hi) { return (u256){{lo, hi, 0, 0}}; }

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
  static struct risk_market m;
  m.n_reserves = 20;
  static const unsigned dec[20] = {18, 6, 8, 18, 18, 6, 18, 18, 18, 18, 18, 6, 18, 18, 18, 8, 18, 18, 18, 18};
  for (unsigned i = 0; i < 20; i++) {
    struct risk_acct_reserve *r = &m.reserves[i];
    r->listed = true;
    r->decimals = dec[i];
    r->ltv = 7000 + i * 50;
    r->liquidation_threshold = 7500 + i * 50;
    r->emode_category = i < 4 ? 1 : 0;
    r->price = u256_from_u64(100000000ull + next() % 400000000000ull);
    /* ~1.05e27 */
    r->liquidity_index = u128v(0x9fd0803ce8000000u + next() % 0xffffffffffffu, 0x33b2e3cu + (next() % 0x200000u));
    r->variable_borrow_index = u128v(0x9fd0803ce8000000u + next() % 0xffffffffffffu, 0x33b2e3cu + (next() % 0x400000u));
  }
  m.emode[1] = (struct risk_emode_category){9000, 9300, 10100};
  if (risk_market_prepare(&m) != RISK_OK) return 1;
  struct risk_position *pos = calloc(2 * n, sizeof *pos);
  uint8_t *em = malloc(n);
  for (size_t i = 0; i < n; i++) {
    uint16_t a = (uint16_t)(next() % 19), b = (uint16_t)(a + 1 + next() % (19 - a));
    uint64_t ua = 1, ub = 1;
    for (unsigned k = 0; k < m.reserves[a].decimals; k++)
      ua *= 10;
    for (unsigned k = 0; k < m.reserves[b].decimals && k < 19; k++)
      ub *= 10;
    pos[2 * i] =
        (struct risk_position){.reserve = a, .collateral = true, .scaled_a = u128v(ua * (1 + next() % 5000), 0)};
    pos[2 * i + 1] = (struct risk_position){.reserve = b,
                                            .collateral = next() % 4 == 0,
                                            .borrowing = true,
                                            .scaled_a = u128v(next() % 2 ? ub : 0, 0),
                                            .scaled_debt = u128v(ub / 2 * (1 + next() % 3000), 0)};
    em[i] = next() % 5 == 0;
  }
  static struct risk_health_market hm;
  double tg = 0, tf = 0;
  size_t bad = 0, slow = 0;
  u256 sink = U256_ZERO;
  for (int round = 0; round < 3; round++) {
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
      struct risk_account_data d;
      if (risk_account_evaluate_positions(&m, &pos[2 * i], 2, em[i], &d) == RISK_OK) sink.w[0] ^= d.health_factor.w[0];
    }
    double t1 = now();
    risk_health_prepare(&hm, &m);
    for (size_t i = 0; i < n; i++) {
      struct risk_health h;
      if (risk_health_fast(&hm, &pos[2 * i], 2, em[i], &h)) sink.w[1] ^= h.hf.w[0];
    }
    double t2 = now();
    tg += t1 - t0;
    tf += t2 - t1;
  }
  for (size_t i = 0; i < n; i++) {
    struct risk_account_data d;
    struct risk_health h;
    risk_err e = risk_account_evaluate_positions(&m, &pos[2 * i], 2, em[i], &d);
    if (!risk_health_fast(&hm, &pos[2 * i], 2, em[i], &h)) {
      slow++;
      continue;
    }
    if (e != RISK_OK || !u256_eq(h.hf, d.health_factor) || !u256_eq(h.coll, d.total_collateral_base) ||
        !u256_eq(h.debt, d.total_debt_base))
      bad++;
  }
  printf("accounts %zu: engine %.1f ns/account, fast %.1f ns/account (x%.1f); %zu outside the fast domain, %zu "
         "differ%s\n",
         n, tg / 3 / (double)n * 1e9, tf / 3 / (double)n * 1e9, tg / tf, slow, bad, sink.w[0] == 1 ? " " : "");
  return bad != 0;
}
