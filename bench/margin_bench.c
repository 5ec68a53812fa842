/* Engine benchmark for bench/margin.sh: N portfolios of 12 legs over 6 underlyings (custody spot,
 * exchange perps and cash, SparkLend-like supply and debt, a USD loan) margined once, then every
 * portfolio recomputed after a price update (all six underlyings move). Prints the wall time of
 * each pass and a checksum (so the work cannot be optimised away). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "risk/margin.h"

#define NU 6
#define LEGS 12

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 10000;
  struct risk_margin_params p;
  memset(&p, 0, sizeof p);
  p.n_underlyings = NU;
  p.n_venues = 4;
  for (int k = 0; k < NU; k++) {
    p.underlyings[k] =
        (struct risk_margin_underlying){1500 + 200 * k, 100, 10, 300 + 50 * k, 1000000000LL * RISK_MARGIN_E8, 1};
    for (int l = 0; l < NU; l++)
      p.rho_bps[k][l] = k == l ? 10000 : 6000;
  }
  p.venues[0] = (struct risk_margin_venue){50, 3600};
  p.venues[1] = (struct risk_margin_venue){300, 300};
  p.venues[2] = (struct risk_margin_venue){150, 3600};
  p.venues[3] = (struct risk_margin_venue){0, 86400};
  p.tail_weight_bps = 3500;
  p.gamma_bps = 10000;
  p.lambda_bps = 2500;
  p.md_net_bps = 200;
  p.md_hedged_bps = 100;
  p.impact_y_bps = 5000;
  p.participation_bps = 1000;
  p.im_mult_bps = 15000;
  p.hs_initial_bps = 15000;
  p.warning_bps = 15000;
  p.margin_call_bps = 12500;
  p.liquidation_bps = 10500;
  p.return_to_bps = 13500;
  p.cure_period_s = 86400;
  p.max_price_staleness_s = 3600;
  uint64_t t0 = 1767225600;
  int64_t prices[NU] = {100000 * RISK_MARGIN_E8, 3000 * RISK_MARGIN_E8, 150 * RISK_MARGIN_E8,
                        1 * RISK_MARGIN_E8,      20 * RISK_MARGIN_E8,   600 * RISK_MARGIN_E8};
  uint64_t pts[NU];
  for (int k = 0; k < NU; k++)
    pts[k] = t0;

  struct risk_margin_leg *legs = calloc(n * LEGS, sizeof *legs);
  struct risk_margin_prev *prev = calloc(n, sizeof *prev);
  if (!legs || !prev) return 1;
  for (size_t i = 0; i < n; i++) {
    struct risk_margin_leg *l = legs + i * LEGS;
    for (int j = 0; j < LEGS; j++) {
      uint16_t k = (uint16_t)(j % NU);
      int64_t q = (int64_t)(next() % 1000 + 1) * RISK_MARGIN_E8 / (k == 0 ? 100 : 1);
      l[j] = (struct risk_margin_leg){.kind = RISK_MARGIN_SPOT, .venue = 0, .underlying = k, .qty = q, .as_of = t0};
      if (j >= 6 && j < 9) { /* short perps on the exchange hedging part of the spot */
        l[j].kind = RISK_MARGIN_PERP;
        l[j].venue = 1;
        l[j].qty = -q / 2;
        l[j].entry = prices[k];
        l[j].mark = prices[k] + prices[k] / 1000;
        l[j].funding = 100 * RISK_MARGIN_E8;
      } else if (j == 9) { /* SparkLend supply */
        l[j].venue = 2;
      } else if (j == 10) { /* SparkLend debt of an underlying */
        l[j].kind = RISK_MARGIN_DEBT;
        l[j].venue = 2;
        l[j].qty = q / 4;
      } else if (j == 11) { /* the Prime USD loan */
        l[j].kind = RISK_MARGIN_DEBT;
        l[j].venue = 3;
        l[j].underlying = RISK_MARGIN_CASH;
        l[j].qty = (int64_t)(next() % 100000 + 1000) * RISK_MARGIN_E8;
      }
    }
  }
  struct risk_margin_result r;
  int64_t sum = 0;
  size_t bands[5] = {0};
  double a = now_s();
  for (size_t i = 0; i < n; i++) {
    if (risk_margin_compute(&r, legs + i * LEGS, LEGS, prices, pts, &p, &prev[i], t0) != RISK_OK) return 2;
    prev[i] = (struct risk_margin_prev){r.band, r.call_since};
    sum += r.mm;
  }
  double first = now_s() - a;
  /* the price update: every underlying moves (BTC -7%, ETH -9%, the rest -5%) */
  prices[0] = prices[0] / 100 * 93;
  prices[1] = prices[1] / 100 * 91;
  for (int k = 2; k < NU; k++)
    prices[k] = prices[k] / 100 * 95;
  for (int k = 0; k < NU; k++)
    pts[k] = t0 + 30;
  a = now_s();
  for (size_t i = 0; i < n; i++) {
    if (risk_margin_compute(&r, legs + i * LEGS, LEGS, prices, pts, &p, &prev[i], t0 + 30) != RISK_OK) return 2;
    prev[i] = (struct risk_margin_prev){r.band, r.call_since};
    bands[r.band]++;
    sum += r.mm;
  }
  double second = now_s() - a;
  printf("engine: %zu portfolios x %d legs x %d underlyings\n", n, LEGS, NU);
  printf("engine: first pass %.1f ms, recompute after a price update %.1f ms (%.2f us per portfolio)\n", first * 1e3,
         second * 1e3, second * 1e6 / (double)n);
  printf("engine: bands after the update: free %zu, warning %zu, margin_call %zu, liquidation %zu (checksum %lld)\n",
         bands[0], bands[1], bands[2], bands[3], (long long)sum);
  free(legs);
  free(prev);
  return 0;
}
