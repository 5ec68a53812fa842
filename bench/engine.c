/* Benchmark: full account evaluation (risk_account_evaluate_positions) for N synthetic
 * SparkLend accounts of 3-5 positions on one thread; prints accounts/s. With a second
 * argument it also writes the market and the first 20,000 accounts as JSON for
 * bench/engine.mjs (the same accounts through @aave/math-utils formatUserSummary).
 *
 *   bench_engine [N_ACCOUNTS=1000000] [SAMPLE_JSON_PATH] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "risk/account.h"
#include "risk/wadray.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

/* A Spark-like market: decimals, LTV, LT, eMode, price (8 dec). */
static const struct {
  const char *sym;
  uint32_t dec, ltv, lt, emode;
  uint64_t price;
} SPEC[] = {
    {"WETH", 18, 8500, 8600, 1, 300000000000ull}, {"wstETH", 18, 8300, 8400, 1, 360000000000ull},
    {"rETH", 18, 0, 8000, 1, 340000000000ull},    {"weETH", 18, 7900, 8000, 0, 320000000000ull},
    {"WBTC", 8, 7700, 7800, 0, 9500000000000ull}, {"cbBTC", 8, 8100, 8200, 3, 9500000000000ull},
    {"LBTC", 8, 7400, 7500, 3, 9400000000000ull}, {"sUSDS", 18, 0, 8000, 2, 105000000ull},
    {"DAI", 18, 0, 1, 0, 100000000ull},           {"USDS", 18, 0, 0, 0, 100000000ull},
    {"USDC", 6, 0, 0, 2, 100000000ull},           {"USDT", 6, 0, 0, 2, 100000000ull},
    {"PYUSD", 6, 0, 0, 2, 100000000ull},          {"tBTC", 18, 7400, 7500, 0, 9500000000000ull},
};
#define NSPEC (sizeof SPEC / sizeof SPEC[0])

static void u256_rand_index(u256 *r) {
  /* RAY * (1 + up to ~0.3), 27 digits */
  u256 t = {{rnd() % 300000000000000000ull, 0, 0, 0}};
  u256 k = u256_from_u64(1000000000);
  (void)u256_mul(&t, t, k);
  (void)u256_add(r, RISK_RAY, t);
}

static struct risk_market M;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void put_dec(FILE *f, u256 v) {
  char b[U256_DEC_MAX];
  u256_to_dec(v, b);
  fprintf(f, "\"%s\"", b);
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
  const char *sample = argc > 2 ? argv[2] : NULL;
  memset(&M, 0, sizeof M);
  M.n_reserves = NSPEC;
  for (size_t i = 0; i < NSPEC; i++) {
    struct risk_acct_reserve *r = &M.reserves[i];
    r->listed = r->active = r->borrowing_enabled = true;
    r->decimals = SPEC[i].dec, r->ltv = SPEC[i].ltv, r->liquidation_threshold = SPEC[i].lt;
    r->emode_category = SPEC[i].emode, r->price = u256_from_u64(SPEC[i].price);
    r->liquidation_bonus = SPEC[i].lt ? 10500 : 0;
    u256_rand_index(&r->liquidity_index);
    u256_rand_index(&r->variable_borrow_index);
  }
  M.emode[1] = (struct risk_emode_category){9200, 9300, 10100};
  M.emode[2] = (struct risk_emode_category){9100, 9200, 10100};
  M.emode[3] = (struct risk_emode_category){8500, 9000, 10200};
  if (risk_market_prepare(&M) != RISK_OK) return 1;

  /* accounts: 3-5 positions, collateral in the first, debt in 1-2 others */
  struct risk_position *pos = calloc(n * 5, sizeof *pos);
  uint32_t *off = calloc(n + 1, sizeof *off);
  uint8_t *em = calloc(n, 1);
  if (!pos || !off || !em) return 1;
  size_t k = 0;
  for (size_t a = 0; a < n; a++) {
    off[a] = (uint32_t)k;
    unsigned np = 3 + (unsigned)(rnd() % 3);
    bool used[NSPEC] = {0};
    uint16_t ids[5];
    for (unsigned j = 0; j < np; j++) {
      uint16_t id;
      do
        id = (uint16_t)(rnd() % NSPEC);
      while (used[id]);
      used[id] = true;
      ids[j] = id;
    }
    for (unsigned x = 1; x < np; x++) /* ascending ids */
      for (unsigned y = x; y > 0 && ids[y - 1] > ids[y]; y--) {
        uint16_t t = ids[y];
        ids[y] = ids[y - 1], ids[y - 1] = t;
      }
    for (unsigned j = 0; j < np; j++) {
      struct risk_position *p = &pos[k++];
      memset(p, 0, sizeof *p);
      p->reserve = ids[j];
      uint32_t dec = SPEC[ids[j]].dec;
      uint64_t whole = 1 + rnd() % 100000;
      u256 unit;
      (void)u256_pow10(&unit, dec);
      if (rnd() % 3 != 0) {
        (void)u256_mul(&p->scaled_a, unit, u256_from_u64(whole));
        p->collateral = SPEC[ids[j]].lt != 0;
      } else {
        (void)u256_mul(&p->scaled_debt, unit, u256_from_u64(whole / 4 + 1));
        p->borrowing = true;
      }
    }
    em[a] = 0;
  }
  off[n] = (uint32_t)k;

  /* warm-up and timed run */
  struct risk_account_data d;
  uint64_t sink = 0;
  size_t errors = 0;
  for (size_t a = 0; a < n && a < 10000; a++)
    (void)risk_account_evaluate_positions(&M, &pos[off[a]], off[a + 1] - off[a], em[a], &d);
  double t0 = now_s();
  for (size_t a = 0; a < n; a++) {
    if (risk_account_evaluate_positions(&M, &pos[off[a]], off[a + 1] - off[a], em[a], &d) != RISK_OK) errors++;
    sink += d.health_factor.w[0] ^ d.total_collateral_base.w[0];
  }
  double dt = now_s() - t0;
  printf("engine: %zu accounts (%zu positions) in %.3f s: %.0f accounts/s single thread (errors %zu, sink %llu)\n", n,
         k, dt, n / dt, errors, (unsigned long long)(sink & 0xff));

  if (sample) {
    FILE *f = fopen(sample, "w");
    if (!f) return 1;
    fprintf(f, "{\"reserves\":[");
    for (size_t i = 0; i < NSPEC; i++) {
      const struct risk_acct_reserve *r = &M.reserves[i];
      fprintf(f, "%s{\"symbol\":\"%s\",\"decimals\":%u,\"ltv\":%u,\"lt\":%u,\"emode\":%u,\"price\":", i ? "," : "",
              SPEC[i].sym, r->decimals, r->ltv, r->liquidation_threshold, r->emode_category);
      put_dec(f, r->price);
      fprintf(f, ",\"liquidityIndex\":");
      put_dec(f, r->liquidity_index);
      fprintf(f, ",\"variableBorrowIndex\":");
      put_dec(f, r->variable_borrow_index);
      fprintf(f, "}");
    }
    fprintf(f, "],\"accounts\":[");
    size_t ns = n < 20000 ? n : 20000;
    for (size_t a = 0; a < ns; a++) {
      fprintf(f, "%s[", a ? "," : "");
      for (uint32_t j = off[a]; j < off[a + 1]; j++) {
        fprintf(f, "%s{\"r\":%u,\"c\":%s,\"a\":", j > off[a] ? "," : "", pos[j].reserve,
                pos[j].collateral ? "true" : "false");
        put_dec(f, pos[j].scaled_a);
        fprintf(f, ",\"d\":");
        put_dec(f, pos[j].scaled_debt);
        fprintf(f, "}");
      }
      fprintf(f, "]");
    }
    fprintf(f, "],\"engine_accounts_per_s\":%.0f}\n", n / dt);
    fclose(f);
  }
  free(pos), free(off), free(em);
  return 0;
}
