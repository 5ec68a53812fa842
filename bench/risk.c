/* Benchmark of the ops risk engine (risk/stress.h, risk/var.h) on a synthetic book of N
 * Spark-like accounts (1-2 collaterals among WETH, wstETH, rETH, WBTC, cbBTC; 1-2 debts among
 * USDC, USDT, DAI, WETH), each opened at 40%..95% of its liquidation-threshold value, so a price
 * grid liquidates a growing share of the book. Prints wall-clock figures on one thread for:
 * liquidations at risk over a 21-point grid (all volatile assets together), a stress scenario
 * (WETH -30%, BTC -25%, slippage, two cascade rounds), and VaR with 10,000 paths.
 *
 *   bench_risk [N_ACCOUNTS=100000] [lar|stress|var: only that part, e.g. under a profiler] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "risk/account.h"
#include "risk/stress.h"
#include "risk/var.h"
#include "risk/wadray.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

enum { WETH, WSTETH, RETH, WBTC, CBBTC, USDC, USDT, DAI, NRES };
static const struct {
  uint32_t dec, ltv, lt, lb;
  uint64_t price; /* 8 decimals */
} SPEC[NRES] = {
    [WETH] = {18, 8000, 8300, 10500, 300000000000ull},
    [WSTETH] = {18, 7900, 8200, 10600, 360000000000ull},
    [RETH] = {18, 7400, 7700, 10700, 340000000000ull},
    [WBTC] = {8, 7300, 7800, 10700, 9500000000000ull},
    [CBBTC] = {8, 7400, 7800, 10700, 9500000000000ull},
    [USDC] = {6, 0, 0, 0, 100000000ull},
    [USDT] = {6, 0, 0, 0, 100000000ull},
    [DAI] = {18, 0, 0, 0, 100000000ull},
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
/* CPU time of this process: on a machine shared with other jobs, wall time mostly measures them. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct risk_market M, MS, MSA[21], MSB[21];
static struct risk_account AS, ASB;

/* The second half of the book on a second thread, as handlers/risk.c splits a large book. */
struct half {
  struct risk_book b;
  const bool *shocked;
  const uint32_t *drops;
  struct risk_lar_point *out;
  risk_err e;
};
static void *half_run(void *arg) {
  struct half *h = arg;
  h->e = risk_lar_curve(&M, &h->b, h->shocked, h->drops, 21, MSB, &ASB, h->out);
  return NULL;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
  const char *only = argc > 2 ? argv[2] : NULL;
  memset(&M, 0, sizeof M);
  M.n_reserves = NRES;
  for (int i = 0; i < NRES; i++) {
    struct risk_acct_reserve *r = &M.reserves[i];
    r->listed = r->active = r->borrowing_enabled = true;
    r->decimals = SPEC[i].dec, r->ltv = SPEC[i].ltv, r->liquidation_threshold = SPEC[i].lt;
    r->liquidation_bonus = SPEC[i].lb, r->liquidation_protocol_fee = 1000;
    r->price = u256_from_u64(SPEC[i].price);
    /* indexes a little above RAY, as after some accrual */
    u256 t = u256_from_u64(rnd() % 100000000000000000ull);
    (void)u256_mul(&t, t, u256_from_u64(1000000000));
    (void)u256_add(&r->liquidity_index, RISK_RAY, t);
    (void)u256_add(&r->variable_borrow_index, RISK_RAY, t);
  }
  if (risk_market_prepare(&M) != RISK_OK) return 1;

  struct risk_position *pos = calloc(n * 4, sizeof *pos), *work = calloc(n * 4, sizeof *pos);
  uint32_t *first = calloc(n + 1, sizeof *first);
  uint8_t *em = calloc(n, 1);
  uint8_t *liq = calloc(n, 1);
  if (!pos || !work || !first || !em || !liq) return 1;
  size_t k = 0;
  static const int COLLS[] = {WETH, WSTETH, RETH, WBTC, CBBTC}, DEBT[] = {USDC, USDT, DAI, WETH};
  for (size_t a = 0; a < n; a++) {
    first[a] = (uint32_t)k;
    u256 amt[NRES];
    bool coll[NRES] = {0}, debt[NRES] = {0};
    double lt_value = 0;
    int nc = 1 + (int)(rnd() % 2), nd = 1 + (int)(rnd() % 10 == 0);
    for (int c = 0; c < nc; c++) {
      int id = COLLS[rnd() % 5];
      if (coll[id]) continue;
      coll[id] = true;
      double usd = 1000.0 + (double)(rnd() % 2000000); /* $1k .. $2M */
      double units = usd / (SPEC[id].price / 1e8);
      u256 unit;
      (void)u256_pow10(&unit, SPEC[id].dec);
      (void)u256_mul(&amt[id], u256_from_u64((uint64_t)(units * 1e6)), unit);
      amt[id] = u256_shr(amt[id], 0);
      (void)u256_div(&amt[id], amt[id], u256_from_u64(1000000));
      lt_value += usd * SPEC[id].lt / 1e4;
    }
    double borrow = lt_value * (40 + (double)(rnd() % 56)) / 100.0;
    for (int d = 0; d < nd; d++) {
      int id = DEBT[rnd() % 4];
      if (coll[id] || debt[id]) continue;
      debt[id] = true;
      double units = borrow / nd / (SPEC[id].price / 1e8);
      u256 unit;
      (void)u256_pow10(&unit, SPEC[id].dec);
      u256 x;
      (void)u256_mul(&x, u256_from_u64((uint64_t)(units * 1e6)), unit);
      (void)u256_div(&x, x, u256_from_u64(1000000));
      amt[id] = x;
    }
    for (int id = 0; id < NRES; id++) {
      if (!coll[id] && !debt[id]) continue;
      struct risk_position *p = &pos[k++];
      memset(p, 0, sizeof *p);
      p->reserve = (uint16_t)id;
      if (coll[id]) p->collateral = true, p->scaled_a = amt[id];
      if (debt[id]) p->borrowing = true, p->scaled_debt = amt[id];
    }
  }
  first[n] = (uint32_t)k;
  struct risk_book b = {.n_accounts = n, .pos = pos, .first = first, .emode = em};
  printf("book: %zu accounts, %zu positions\n", n, k);

  if (only && strcmp(only, "lar") != 0) goto stress;
  /* liquidations at risk: 21 points, all volatile assets together */
  uint32_t drops[21];
  for (int i = 0; i < 21; i++)
    drops[i] = (uint32_t)(i * 250);
  bool shocked[RISK_MAX_RESERVES] = {[WETH] = true, [WSTETH] = true, [RETH] = true, [WBTC] = true, [CBBTC] = true};
  static const int COLL[] = {WETH, WSTETH, RETH, WBTC, CBBTC};
  struct risk_lar_point *pts = calloc(21, sizeof *pts);
  double t0 = now_s(), c0 = cpu_s();
  risk_err e = risk_lar_curve(&M, &b, shocked, drops, 21, MSA, &AS, pts);
  double t_lar = now_s() - t0, c_lar = cpu_s() - c0;
  printf("liquidations-at-risk, 21 points: %.1f ms wall, %.1f ms cpu (%s); liquidatable at 0%%: %llu, 25%%: %llu, "
         "50%%: %llu\n",
         t_lar * 1e3, c_lar * 1e3, risk_err_name(e), (unsigned long long)pts[0].accounts,
         (unsigned long long)pts[10].accounts, (unsigned long long)pts[20].accounts);

  /* the same on two threads, each half of the book (as the endpoint runs it) */
  struct risk_lar_point *pts2 = calloc(42, sizeof *pts2);
  size_t hn = n / 2;
  struct half h = {{n - hn, pos, first + hn, em + hn}, shocked, drops, pts2 + 21, RISK_OK};
  struct risk_book b1 = {hn, pos, first, em};
  pthread_t th;
  t0 = now_s(), c0 = cpu_s();
  bool threaded = pthread_create(&th, NULL, half_run, &h) == 0;
  e = risk_lar_curve(&M, &b1, shocked, drops, 21, MSA, &AS, pts2);
  if (threaded)
    pthread_join(th, NULL);
  else
    half_run(&h);
  for (int g = 0; g < 21 && !e; g++)
    e = h.e ? h.e : risk_lar_point_add(&pts2[g], &pts2[21 + g]);
  double t_lar2 = now_s() - t0, c_lar2 = cpu_s() - c0;
  bool same = !e && memcmp(pts2, pts, 21 * sizeof *pts) == 0;
  printf("liquidations-at-risk, 21 points, 2 threads: %.1f ms wall, %.1f ms cpu (%s, %s)\n", t_lar2 * 1e3, c_lar2 * 1e3,
         risk_err_name(e), same ? "same points" : "POINTS DIFFER");

  /* the endpoint's default request: one curve per volatile asset, then all of them together,
   * in one pass over the book (risk_lar_curves, as the handler runs it); the markets are built
   * once per request. Checked against six separate risk_lar_curve calls. */
  static bool six[6][RISK_MAX_RESERVES];
  for (int c = 0; c < 5; c++)
    six[c][COLL[c]] = true;
  memcpy(six[5], shocked, sizeof six[5]);
  struct risk_market *ms6 = malloc(6 * 21 * sizeof *ms6);
  struct risk_lar_point *pts6 = calloc(6 * 21, sizeof *pts6), *sep = calloc(21, sizeof *sep);
  if (!ms6 || !pts6 || !sep) return 1;
  t0 = now_s(), c0 = cpu_s();
  if (!e) e = risk_lar_markets(&M, (const bool(*)[RISK_MAX_RESERVES])six, 6, drops, 21, ms6);
  if (!e) e = risk_lar_curves(&M, ms6, &b, (const bool(*)[RISK_MAX_RESERVES])six, 6, drops, 21, &AS, pts6);
  double t_six = now_s() - t0, c_six = cpu_s() - c0;
  bool same6 = !e;
  for (int c = 0; c < 6 && same6; c++) {
    same6 = risk_lar_curve(&M, &b, six[c], drops, 21, MSA, &AS, sep) == RISK_OK &&
            memcmp(sep, pts6 + c * 21, 21 * sizeof *sep) == 0;
  }
  printf("liquidations-at-risk, default request (5 assets each + together, 6 x 21 points), one pass, 1 thread: "
         "%.1f ms wall, %.1f ms cpu (%s, %s)\n",
         t_six * 1e3, c_six * 1e3, risk_err_name(e), same6 ? "same points as 6 separate curves" : "POINTS DIFFER");

stress:
  if (only && strcmp(only, "stress") != 0) goto var;
  /* stress: WETH-like -30%, BTC -25%, slippage on the collateral, two cascade rounds */
  struct risk_market shocked_m = M;
  for (int i = 0; i < NRES; i++) {
    uint32_t d = (i == WBTC || i == CBBTC) ? 2500 : (i <= RETH ? 3000 : 0);
    shocked_m.reserves[i].price = risk_price_after_drop(M.reserves[i].price, d);
  }
  static struct risk_slippage slip[RISK_MAX_RESERVES];
  for (int i = 0; i < 5; i++)
    slip[COLLS[i]] =
        (struct risk_slippage){.set = true, .spread_bps = 10, .sigma_day = 0.05, .depth_base = 5e16, .y = 1};
  memcpy(work, pos, k * sizeof *pos);
  static struct risk_stress_result sr;
  t0 = now_s(), c0 = cpu_s();
  e = risk_stress_run(&shocked_m, &b, work, slip, 2, liq, &MS, &AS, &sr);
  double t_stress = now_s() - t0, c_stress = cpu_s() - c0;
  char bad[U256_DEC_MAX + 2];
  u256_to_fixed(sr.bad_debt_base, 8, bad);
  printf("stress, 2 cascade rounds: %.1f ms wall, %.1f ms cpu (%s); liquidated %llu, rounds %u, bad debt $%s\n",
         t_stress * 1e3, c_stress * 1e3, risk_err_name(e), (unsigned long long)sr.accounts_liquidated, sr.n_rounds,
         bad);

var:
  if (only && strcmp(only, "var") != 0) return 0;
  /* VaR: 10,000 paths, five volatile assets correlated 0.8 */
  struct risk_var_model vm = {0};
  vm.entries = malloc(n * sizeof *vm.entries);
  vm.prefc = malloc(n * sizeof *vm.prefc);
  vm.prefd = malloc(n * sizeof *vm.prefd);
  vm.pair_of = malloc(n * sizeof *vm.pair_of);
  vm.pairs = malloc((size_t)RISK_MAX_RESERVES * RISK_MAX_RESERVES * sizeof *vm.pairs);
  vm.gfirst = malloc((n + 1) * sizeof *vm.gfirst);
  vm.terms = malloc((2 * k + 1) * sizeof *vm.terms);
  long double *losses = malloc(10000 * sizeof *losses);
  static struct risk_var_params p;
  p.k = 5;
  static const double sig[5] = {0.8, 0.8, 0.8, 0.6, 0.6};
  for (size_t i = 0; i < 5; i++) {
    p.reserve[i] = (uint16_t)COLLS[i];
    p.sigma[i] = sig[i];
    for (size_t j = 0; j < 5; j++)
      p.corr[i][j] = i == j ? 1 : 0.8;
  }
  p.horizon_years = 1.0 / 365, p.seed = 1, p.paths = 10000;
  struct risk_var_result vr;
  t0 = now_s(), c0 = cpu_s();
  e = risk_var_model_build(&M, &b, &vm);
  double t_build = now_s() - t0;
  if (!e) e = risk_var_run(&vm, NRES, &p, losses, &vr);
  double t_var = now_s() - t0, c_var = cpu_s() - c0;
  printf("VaR, 10,000 paths: %.1f ms wall, %.1f ms cpu (%s; precompute %.1f ms wall; %zu accounts in %zu pairs, %zu "
         "general); VaR95 $%.2f VaR99 $%.2f ES99 $%.2f\n",
         t_var * 1e3, c_var * 1e3, risk_err_name(e), t_build * 1e3, vm.n_pair_accounts, vm.n_pairs, vm.n_general,
         (double)vr.var95 / 1e8, (double)vr.var99 / 1e8, (double)vr.es99 / 1e8);
  return 0;
}
