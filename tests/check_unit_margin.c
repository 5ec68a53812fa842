/* ctest-label: unit */
/* risk/margin: every component of the portfolio margin with hand-computed vectors (arithmetic in
 * the comments), the textbook cases (a hedge carries only basis, hedge-floor and venue charges;
 * venues margined alone cost more; an uncorrelated underlying lowers the diversified loss but not
 * below the blend floor; a price walk through the bands with hysteresis and cure), D_max solved
 * exactly, the §5.3 rate terms, and the EIP-712 digest against npm ethers (tests/margin_eip712.mjs
 * vectors). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "risk/keccak.h"
#include "risk/margin.h"

#define T0 1767225600ull
#define E8 100000000LL
#define BTC 0
#define ETH 1
#define CUST 0
#define EXCH 1

/* BTC: S 15%, basis 1%, spread 10 bps, daily vol 3%, ADV $1bn, 1 day; ETH: S 21%, 2 days.
 * Venues: custodian 0.5%, exchange 3%, DeFi 1.5%. rho(BTC, ETH) = 0.8. Tails at 35%, gamma 1,
 * lambda 0.25, hedge floor a 2% b 1%, Y 0.5, participation 10%, IM = 1.5 MM, D_max at HS 1.5.
 * Bands: free >= 1.5, warning >= 1.25, margin call >= 1.05, return at 1.35, cure 1 day. */
static struct risk_margin_params params(void) {
  struct risk_margin_params p;
  memset(&p, 0, sizeof p);
  p.n_underlyings = 2;
  p.n_venues = 3;
  p.underlyings[BTC] = (struct risk_margin_underlying){1500, 100, 10, 300, 1000000000 * E8, 1};
  p.underlyings[ETH] = (struct risk_margin_underlying){2100, 100, 10, 400, 1000000000 * E8, 2};
  p.venues[0] = (struct risk_margin_venue){50, 3600};
  p.venues[1] = (struct risk_margin_venue){300, 300};
  p.venues[2] = (struct risk_margin_venue){150, 3600};
  p.rho_bps[0][0] = p.rho_bps[1][1] = 10000;
  p.rho_bps[0][1] = p.rho_bps[1][0] = 8000;
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
  return p;
}

static const int64_t PRICES[2] = {100000 * E8, 4000 * E8};
static const uint64_t PTS[2] = {T0, T0};

static struct risk_margin_leg spot(uint16_t venue, uint16_t u, int64_t qty) {
  return (struct risk_margin_leg){.kind = RISK_MARGIN_SPOT, .venue = venue, .underlying = u, .qty = qty, .as_of = T0};
}
static struct risk_margin_leg debt(uint16_t venue, uint16_t u, int64_t qty) {
  return (struct risk_margin_leg){.kind = RISK_MARGIN_DEBT, .venue = venue, .underlying = u, .qty = qty, .as_of = T0};
}
static struct risk_margin_leg perp(uint16_t venue, uint16_t u, int64_t qty, int64_t entry, int64_t mark) {
  return (struct risk_margin_leg){
      .kind = RISK_MARGIN_PERP, .venue = venue, .underlying = u, .qty = qty, .entry = entry, .mark = mark, .as_of = T0};
}

static struct risk_margin_result run(const struct risk_margin_leg *l, size_t n, const struct risk_margin_params *p) {
  struct risk_margin_result r;
  ck_assert_int_eq(risk_margin_compute(&r, l, n, PRICES, PTS, p, NULL, T0), RISK_OK);
  return r;
}

/* The hedged book: 10 BTC at the custodian ($1M = 1e14), 10 BTC short perp on the exchange at
 * entry = mark = $100k, $200k cash at the exchange, $600k USD debt at the custodian. */
static size_t hedged(struct risk_margin_leg *l) {
  l[0] = spot(CUST, BTC, 10 * E8);
  l[1] = perp(EXCH, BTC, -10 * E8, 100000 * E8, 100000 * E8);
  l[2] = spot(EXCH, RISK_MARGIN_CASH, 200000 * E8);
  l[3] = debt(CUST, RISK_MARGIN_CASH, 600000 * E8);
  return 4;
}

START_TEST(test_hedged_book) {
  struct risk_margin_params p = params();
  struct risk_margin_leg l[8];
  size_t n = hedged(l);
  struct risk_margin_result r = run(l, n, &p);
  /* equity = 1e14 + 0 + 2e13 - 6e13 = 6e13; assets 1.2e14, liabilities 6e13 */
  ck_assert_int_eq(r.equity, 60000000000000LL);
  ck_assert_int_eq(r.assets, 120000000000000LL);
  ck_assert_int_eq(r.liabilities, 60000000000000LL);
  /* D_BTC = +1e14 - 1e14 = 0; hedged H = 1e14; every scenario nets: spot at m=-1 loses
   * 1e14*1500/30000 = 5e12, the short perp gains -10e8*(1e13*28500 - 1e13*30000)/(30000e8) = 5e12 */
  const struct risk_margin_factor *f = &r.factors[BTC];
  ck_assert_int_eq(f->net_delta, 0);
  ck_assert_int_eq(f->hedged, 100000000000000LL);
  for (int s = 0; s < RISK_MARGIN_SCENARIOS; s++)
    ck_assert_int_eq(f->loss[s], 0);
  ck_assert_int_eq(f->weighted_loss, 0);
  ck_assert_int_eq(f->worst, -1);
  ck_assert_int_eq(r.loss_port, 0);
  /* only basis, hedge floor and venue: basis 1% * 1e14 = 1e12; MD = 2%*0 + 1%*1e14 = 1e12;
   * LC 0 (no net delta); VC = 0.5% * 1e14 (custodian: the spot; the debt is no asset)
   * + 3% * 2e13 (exchange: the cash; the perp is worth 0) = 5e11 + 6e11 = 1.1e12 */
  ck_assert_int_eq(r.basis, 1000000000000LL);
  ck_assert_int_eq(r.hedge_floor, 1000000000000LL);
  ck_assert_int_eq(r.liquidity, 0);
  ck_assert_int_eq(r.venue_charges[CUST], 500000000000LL);
  ck_assert_int_eq(r.venue_charges[EXCH], 600000000000LL);
  ck_assert_int_eq(r.venue, 1100000000000LL);
  /* MM = 3.1e12; IM = 1.5 * 3.1e12 = 4.65e12; HS = floor(6e13*1e4/3.1e12) = floor(193548.39) */
  ck_assert_int_eq(r.mm, 3100000000000LL);
  ck_assert_int_eq(r.im, 4650000000000LL);
  ck_assert_int_eq(r.hs_bps, 193548);
  ck_assert_int_eq(r.band, RISK_MARGIN_FREE);
  /* D_max = 6e13 - ceil(1.5 * 3.1e12) = 6e13 - 4.65e12 = 5.535e13 */
  ck_assert_int_eq(r.d_max, 55350000000000LL);

  /* solved exactly: draw D_max as more USD debt -> HS is 15000 (equity 4.65e12 / 3.1e12); one
   * usd8 more -> 14999, below the initial level */
  l[n] = debt(CUST, RISK_MARGIN_CASH, r.d_max);
  struct risk_margin_result r2 = run(l, n + 1, &p);
  ck_assert_int_eq(r2.mm, r.mm);
  ck_assert_int_eq(r2.hs_bps, 15000);
  l[n].qty = r.d_max + 1;
  r2 = run(l, n + 1, &p);
  ck_assert_int_eq(r2.hs_bps, 14999);
  ck_assert_int_eq(r2.d_max, 0);
}
END_TEST

START_TEST(test_venues_alone_cost_more) {
  struct risk_margin_params p = params();
  struct risk_margin_leg l[4];
  hedged(l);
  /* custodian alone (10 BTC, $600k debt): D = 1e14 long. Losses: m=-1 5e12, -2 1e13, -3 1.5e13,
   * tail -6 3e13*0.35 = 1.05e13 -> L = 1.5e13 at m=-3 (index 5), a fall (+1).
   * MD = 2% * 1e14 = 2e12. LC: capacity = 1e17 * 10% * 1 day = 1e16; sqrt(1e14/1e16) = 0.1;
   * cost = 10/2 bps + 0.5 * 300 bps * 0.1 = 5 + 15 = 20 bps -> 2e11. VC = 0.5% * 1e14 = 5e11.
   * MM = 1.5e13 + 2e12 + 2e11 + 5e11 = 1.77e13 */
  struct risk_margin_leg cust[2] = {l[0], l[3]};
  struct risk_margin_result a = run(cust, 2, &p);
  ck_assert_int_eq(a.factors[BTC].loss[1], 5000000000000LL);
  ck_assert_int_eq(a.factors[BTC].loss[5], 15000000000000LL);
  ck_assert_int_eq(a.factors[BTC].loss[7], 30000000000000LL);
  ck_assert_int_eq(a.factors[BTC].weighted_loss, 15000000000000LL);
  ck_assert_int_eq(a.factors[BTC].worst, 5);
  ck_assert_int_eq(a.factors[BTC].direction, 1);
  ck_assert_int_eq(a.loss_port, 15000000000000LL);
  ck_assert_int_eq(a.hedge_floor, 2000000000000LL);
  ck_assert_int_eq(a.liquidity, 200000000000LL);
  ck_assert_int_eq(a.mm, 17700000000000LL);
  /* exchange alone (short 10 BTC perp, $200k cash): L = 1.5e13 at m=+3 (index 6), a rise (-1);
   * MD 2e12, LC 2e11, VC 3% * 2e13 = 6e11 -> MM = 1.78e13 */
  struct risk_margin_leg ex[2] = {l[1], l[2]};
  struct risk_margin_result b = run(ex, 2, &p);
  ck_assert_int_eq(b.factors[BTC].worst, 6);
  ck_assert_int_eq(b.factors[BTC].direction, -1);
  ck_assert_int_eq(b.mm, 17800000000000LL);
  /* 1.77e13 + 1.78e13 = 3.55e13 against 3.1e12 together */
  struct risk_margin_result all = run(l, 4, &p);
  ck_assert_int_lt(all.mm, a.mm + b.mm);
}
END_TEST

START_TEST(test_diversification_and_blend_floor) {
  struct risk_margin_params p = params();
  /* 10 BTC ($1M) and 250 ETH at $4000 ($1M). L_BTC = 15% * 1e14 = 1.5e13;
   * L_ETH = 21% * 1e14 = 2.1e13 (tail 42% * 0.35 = 14.7% is less). */
  struct risk_margin_leg l[2] = {spot(CUST, BTC, 10 * E8), spot(CUST, ETH, 250 * E8)};
  p.rho_bps[0][1] = p.rho_bps[1][0] = 0;
  struct risk_margin_result r = run(l, 2, &p);
  ck_assert_int_eq(r.factors[BTC].weighted_loss, 15000000000000LL);
  ck_assert_int_eq(r.factors[ETH].weighted_loss, 21000000000000LL);
  ck_assert_int_eq(r.loss_sum, 36000000000000LL);
  ck_assert_int_eq(r.loss_max, 21000000000000LL);
  /* rho = 0: L_div = ceil(sqrt(1.5e13^2 + 2.1e13^2)) = ceil(sqrt(6.66e26)) = 25806975801128, below
   * the 3.6e13 sum (diversified); the blend floor 0.25 * 3.6e13 + 0.75 * 25806975801128
   * = 9e12 + 19355231850846 = 28355231850846 binds (above L_div and above gamma * max = 2.1e13) */
  ck_assert_int_eq(r.loss_div, 25806975801128LL);
  ck_assert_int_lt(r.loss_div, r.loss_sum);
  ck_assert_int_eq(r.loss_port, 28355231850846LL);
  /* rho = 0.8, both fall: q = 2.25e26 + 4.41e26 + 2 * 0.8 * 3.15e26 = 1.17e27, L_div =
   * ceil(sqrt(1.17e27)) = 34205262752975; blend 9e12 + 0.75 * 34205262752975 = 34653947064732 */
  p.rho_bps[0][1] = p.rho_bps[1][0] = 8000;
  r = run(l, 2, &p);
  ck_assert_int_eq(r.loss_div, 34205262752975LL);
  ck_assert_int_eq(r.loss_port, 34653947064732LL);
  /* long BTC, short ETH (a 250 ETH debt): opposite directions offset: q = 6.66e26 - 5.04e26 =
   * 1.62e26, L_div = 12727922061358; blend 9e12 + 9545941546019 = 18545941546019; gamma * max =
   * 2.1e13 binds */
  l[1] = debt(CUST, ETH, 250 * E8);
  r = run(l, 2, &p);
  ck_assert_int_eq(r.factors[ETH].direction, -1);
  ck_assert_int_eq(r.loss_div, 12727922061358LL);
  ck_assert_int_eq(r.loss_port, 21000000000000LL);
}
END_TEST

/* 10 BTC at the custodian against $600k USD debt, at BTC price `usd`; Y = 0 so that
 * MM = V * (15% scan + 2% MD + 0.05% half spread + 0.5% venue) = 0.1755 V exactly. */
static struct risk_margin_result walk(int64_t usd, const struct risk_margin_prev *prev, uint64_t now) {
  struct risk_margin_params p = params();
  p.impact_y_bps = 0;
  struct risk_margin_leg l[2] = {spot(CUST, BTC, 10 * E8), debt(CUST, RISK_MARGIN_CASH, 600000 * E8)};
  l[0].as_of = l[1].as_of = now;
  int64_t prices[2] = {usd * E8, 4000 * E8};
  uint64_t ts[2] = {now, now};
  struct risk_margin_result r;
  ck_assert_int_eq(risk_margin_compute(&r, l, 2, prices, ts, &p, prev, now), RISK_OK);
  return r;
}

START_TEST(test_bands_walk) {
  /* $100k: V 1e14, MM 1.755e13, E 4e13, HS floor(22792.02) -> free */
  struct risk_margin_result r = walk(100000, NULL, T0);
  ck_assert_int_eq(r.mm, 17550000000000LL);
  ck_assert_int_eq(r.hs_bps, 22792);
  ck_assert_int_eq(r.band, RISK_MARGIN_FREE);
  /* $80k: V 8e13, MM 1.404e13, E 2e13, HS 14245 -> warning */
  struct risk_margin_prev prev = {r.band, r.call_since};
  r = walk(80000, &prev, T0 + 30);
  ck_assert_int_eq(r.hs_bps, 14245);
  ck_assert_int_eq(r.band, RISK_MARGIN_WARNING);
  /* $75k: V 7.5e13, MM 1.31625e13, E 1.5e13, HS 11396 -> margin call opened now */
  prev = (struct risk_margin_prev){r.band, r.call_since};
  r = walk(75000, &prev, T0 + 60);
  ck_assert_int_eq(r.hs_bps, 11396);
  ck_assert_int_eq(r.band, RISK_MARGIN_CALL);
  ck_assert_uint_eq(r.call_since, T0 + 60);
  ck_assert_uint_eq(r.cure_deadline, T0 + 60 + 86400);
  /* $78k: V 7.8e13, MM 1.3689e13, E 1.8e13, HS 13149: above the call level (12500), below
   * return_to (13500): hysteresis keeps the call and its deadline */
  prev = (struct risk_margin_prev){r.band, r.call_since};
  r = walk(78000, &prev, T0 + 90);
  ck_assert_int_eq(r.hs_bps, 13149);
  ck_assert_int_eq(r.band, RISK_MARGIN_CALL);
  ck_assert_uint_eq(r.call_since, T0 + 60);
  /* without an open call the same HS is only a warning */
  ck_assert_int_eq(walk(78000, NULL, T0 + 90).band, RISK_MARGIN_WARNING);
  /* still open one second before the deadline; at the deadline it is liquidation */
  prev = (struct risk_margin_prev){r.band, r.call_since};
  ck_assert_int_eq(walk(78000, &prev, T0 + 60 + 86399).band, RISK_MARGIN_CALL);
  ck_assert_int_eq(walk(78000, &prev, T0 + 60 + 86400).band, RISK_MARGIN_LIQUIDATION);
  /* $80k again: 14245 >= 13500 -> warning, the call clears */
  r = walk(80000, &prev, T0 + 120);
  ck_assert_int_eq(r.band, RISK_MARGIN_WARNING);
  ck_assert_uint_eq(r.call_since, 0);
  ck_assert_uint_eq(r.cure_deadline, 0);
  /* $72k: V 7.2e13, MM 1.2636e13, E 1.2e13, HS 9496 < 10500 -> liquidation, call opened */
  r = walk(72000, NULL, T0 + 150);
  ck_assert_int_eq(r.hs_bps, 9496);
  ck_assert_int_eq(r.band, RISK_MARGIN_LIQUIDATION);
  ck_assert_uint_eq(r.call_since, T0 + 150);
}
END_TEST

START_TEST(test_stale_and_invalid) {
  struct risk_margin_params p = params();
  struct risk_margin_leg l[4];
  size_t n = hedged(l);
  struct risk_margin_result r;
  /* the exchange bound is 300 s: a perp 301 s old is stale, the numbers are still computed */
  l[1].as_of = T0 - 301;
  struct risk_margin_prev prev = {RISK_MARGIN_CALL, T0 - 10};
  ck_assert_int_eq(risk_margin_compute(&r, l, n, PRICES, PTS, &p, &prev, T0), RISK_OK);
  ck_assert(r.stale);
  ck_assert_int_eq(r.band, RISK_MARGIN_STALE);
  ck_assert_uint_eq(r.call_since, T0 - 10);
  ck_assert_int_eq(r.mm, 3100000000000LL);
  l[1].as_of = T0 - 300;
  ck_assert_int_eq(risk_margin_compute(&r, l, n, PRICES, PTS, &p, NULL, T0), RISK_OK);
  ck_assert(!r.stale);
  /* a price older than 3600 s */
  uint64_t ts[2] = {T0 - 3601, T0};
  ck_assert_int_eq(risk_margin_compute(&r, l, n, PRICES, ts, &p, NULL, T0), RISK_OK);
  ck_assert(r.stale);
  /* bad legs */
  struct risk_margin_leg bad = spot(CUST, BTC, -1);
  ck_assert_int_eq(risk_margin_compute(&r, &bad, 1, PRICES, PTS, &p, NULL, T0), RISK_INVALID);
  bad = spot(7, BTC, 1);
  ck_assert_int_eq(risk_margin_compute(&r, &bad, 1, PRICES, PTS, &p, NULL, T0), RISK_INVALID);
  bad = spot(CUST, 5, 1);
  ck_assert_int_eq(risk_margin_compute(&r, &bad, 1, PRICES, PTS, &p, NULL, T0), RISK_INVALID);
  bad = spot(CUST, BTC, RISK_MARGIN_MAX_ABS); /* 1.15e10 BTC * $100k does not fit */
  ck_assert_int_eq(risk_margin_compute(&r, &bad, 1, PRICES, PTS, &p, NULL, T0), RISK_INVALID);
  /* params: each check names its field */
  struct risk_margin_params q = params();
  ck_assert_ptr_null(risk_margin_params_check(&q));
  q.rho_bps[0][1] = 7000;
  ck_assert_str_eq(risk_margin_params_check(&q), "correlations");
  q = params();
  q.rho_bps[0][1] = q.rho_bps[1][0] = 10001;
  ck_assert_str_eq(risk_margin_params_check(&q), "correlations");
  q = params();
  q.margin_call_bps = 10000;
  ck_assert_str_eq(risk_margin_params_check(&q), "bands.margin_call_bps");
  q = params();
  q.warning_bps = 12000;
  ck_assert_str_eq(risk_margin_params_check(&q), "bands.warning_bps");
  q = params();
  q.return_to_bps = 12500;
  ck_assert_str_eq(risk_margin_params_check(&q), "bands.return_to_bps");
  ck_assert_int_eq(risk_margin_compute(&r, l, n, PRICES, PTS, &q, NULL, T0), RISK_INVALID);
}
END_TEST

START_TEST(test_liquidity_and_perp_pnl) {
  struct risk_margin_params p = params();
  /* a long 20 BTC perp on the exchange, entry $90k, mark $100k, funding -$1000:
   * value = 20 * (100000 - 90000) - 1000 = $199,000 = 1.99e13; delta 2e14.
   * LC: capacity 1e16, sqrt(2e14/1e16) = sqrt(0.02) = 0.141421356 -> 14142135 (1e8 scale,
   * floor); cost = 5e8 + 5000 * 300 * 14142135 / 1e4 = 5e8 + 2121320250 = 2621320250 (1e-8 bps);
   * LC = ceil(2e14 * 2621320250 / 1e12) = 524264050000 */
  struct risk_margin_leg l = perp(EXCH, BTC, 20 * E8, 90000 * E8, 100000 * E8);
  l.funding = -1000 * E8;
  struct risk_margin_result r = run(&l, 1, &p);
  ck_assert_int_eq(r.equity, 19900000000000LL);
  ck_assert_int_eq(r.factors[BTC].net_delta, 200000000000000LL);
  ck_assert_int_eq(r.liquidity, 524264050000LL);
  /* perp revaluation: at m=-3 mark' = 85000: value 20 * (85000 - 90000) - 1000 = -101,000;
   * loss = 199,000 + 101,000 = $300,000 = 3e13 */
  ck_assert_int_eq(r.factors[BTC].loss[5], 30000000000000LL);
  /* exchange assets = the perp's positive value 1.99e13 -> VC 3% = 5.97e11 */
  ck_assert_int_eq(r.venue, 597000000000LL);
}
END_TEST

/* D_max when the borrow buys exposure, so MM moves with D (§2.6 step 10: iterate until
 * HS(D) = HS_init). One underlying at $2,000, S 30% (tails 2S at 35%: 21% < 30%), no basis, no
 * liquidity add-on (spread and vol 0), hedge floor a 2%, gamma 1; venue 0 charges 1%, venue 1
 * nothing; HS_init 1.5. Book: 100 units on venue 0 ($200,000), a $50,000 USD debt on venue 1.
 * Borrow D (usd8) on venue 1 and buy floor(D / 2000) units (1e-8) on venue 0; D = 2000 t + r,
 * 0 <= r < 2000, units held Q = 1e10 + t:
 *   value 2000 Q, shocked -30% 1400 Q: L = 600 Q; MD = ceil(2% * 2000 Q) = 40 Q;
 *   VC = ceil(1% * 2000 Q) = 20 Q; MM = 660 Q (every term moves with D);
 *   equity = 2000 Q - 5e12 - D.
 *   HS >= 15000 <=> equity >= 1.5 * 660 Q = 990 Q <=> 1010 (1e10 + t) >= 5e12 + 2000 t + r
 *              <=> 990 t + r <= 5.1e12.
 *   t = floor(5.1e12 / 990) = 5151515151 (990 t = 5,099,999,999,490, 510 left): r <= 510, and a
 *   smaller t gives at most 2000 (t - 1) + 1999 < 2000 t + 510. D_max = 10,303,030,302,510
 *   ($103,030.30302510; the closed form for a borrow drawn out, E - 1.5 MM = $51,000, is half).
 *   At D_max: Q = 15,151,515,151, equity 30,303,030,302,000 - 5e12 - 10,303,030,302,510 =
 *   14,999,999,999,490, MM 9,999,999,999,660: equity * 1e4 / MM = 15000 exactly, HS 15000.
 *   At D_max + 1: equity one less, MM the same: HS 14999, below. */
START_TEST(test_max_borrow_iterated) {
  struct risk_margin_params p = params();
  p.n_underlyings = 1;
  p.n_venues = 2;
  p.underlyings[0] = (struct risk_margin_underlying){3000, 0, 0, 0, 1000000000 * E8, 1};
  p.venues[0] = (struct risk_margin_venue){100, 3600};
  p.venues[1] = (struct risk_margin_venue){0, 3600};
  p.rho_bps[0][0] = 10000;
  const int64_t px[1] = {2000 * E8};
  const uint64_t ts[1] = {T0};
  struct risk_margin_leg l[4] = {spot(0, 0, 100 * E8), debt(1, RISK_MARGIN_CASH, 50000 * E8)};
  struct risk_margin_result r;
  ck_assert_int_eq(risk_margin_compute(&r, l, 2, px, ts, &p, NULL, T0), RISK_OK);
  ck_assert_int_eq(r.mm, 66000 * E8);
  ck_assert_int_eq(r.d_max, 51000 * E8);
  int64_t d = 0;
  ck_assert_int_eq(risk_margin_max_borrow(&d, l, 2, px, ts, &p, 0, 0, 1, T0), RISK_OK);
  ck_assert_int_eq(d, 10303030302510LL);
  /* the book at D_max and at D_max + 1, built by hand */
  for (int64_t k = 0; k < 2; k++) {
    l[2] = debt(1, RISK_MARGIN_CASH, d + k);
    l[3] = spot(0, 0, (d + k) / 2000);
    ck_assert_int_eq(risk_margin_compute(&r, l, 4, px, ts, &p, NULL, T0), RISK_OK);
    ck_assert_int_eq(r.mm, 9999999999660LL);
    ck_assert_int_eq(r.loss_port, 600LL * 15151515151LL);
    ck_assert_int_eq(r.hedge_floor, 40LL * 15151515151LL);
    ck_assert_int_eq(r.venue, 20LL * 15151515151LL);
    ck_assert_int_eq(r.equity, 14999999999490LL - k);
    ck_assert_int_eq(r.hs_bps, 15000 - k);
  }
  /* kept as cash on the 1% venue: only the venue charge moves: HS >= 1.5 <=> 150,000e8 >=
   * 1.5 * (66,000e8 + ceil(D / 100)) <=> ceil(D / 100) <= 34,000e8 <=> D <= 3.4e14 ($3.4M) */
  ck_assert_int_eq(risk_margin_max_borrow(&d, l, 2, px, ts, &p, 0, RISK_MARGIN_CASH, 1, T0), RISK_OK);
  ck_assert_int_eq(d, 340000000000000LL);
  /* no borrow keeps a book already below HS_init */
  l[1] = debt(1, RISK_MARGIN_CASH, 150000 * E8);
  ck_assert_int_eq(risk_margin_max_borrow(&d, l, 2, px, ts, &p, 0, 0, 1, T0), RISK_OK);
  ck_assert_int_eq(d, 0);
}
END_TEST

START_TEST(test_rate_terms) {
  struct risk_margin_params p = params();
  struct risk_margin_leg l[4];
  size_t n = hedged(l);
  l[1].yield_kind = RISK_YIELD_BASIS;
  l[1].yield_bps = 1000; /* funding EMA 10% APR */
  l[1].yield_sd_bps = 400;
  struct risk_margin_result r = run(l, n, &p);
  struct risk_margin_rate_params rp = {.target_spread_bps = 100,
                                       .lender_ref_bps = 450,
                                       .lender_min_bps = 50,
                                       .clamp_lo_bps = 300,
                                       .clamp_hi_bps = 2000,
                                       .funding_z_bps = 10000,
                                       .util_k_bps = 200,
                                       .util_kink_bps = 8000,
                                       .util_max_bps = 9500,
                                       .util_slope2_bps = 5000,
                                       .risk_hs_bps = {15000, 12500},
                                       .risk_premium_bps = {50, 100},
                                       .max_daily_change_bps = 25};
  struct risk_margin_rate_input in = {
      .utilization_bps = 8000, .has_prev = true, .prev_rate_bps = 450, .prev_at = T0 - 43200, .now = T0};
  struct risk_margin_rate o;
  ck_assert_int_eq(risk_margin_rate_compute(&o, l, n, PRICES, &r, &rp, &in), RISK_OK);
  /* basis leg yield = 1000 - 1 sd (400) = 600 bps on its 1e14 notional; assets 1.2e14:
   * y = 1e14 * 600 / 1.2e14 = 500; raw = 500 - 100 = 400; floor = 450 + 50 = 500;
   * core = clamp(max(400, 500), 300, 2000) = 500; util = (8000 - 8000) * 2% = 0;
   * HS 19.35 -> no premium; target 500; 12 h since 450 allows 25 * 0.5 = 12 -> 462 */
  ck_assert_int_eq(o.collateral_yield_bps, 500);
  ck_assert_int_eq(o.raw_bps, 400);
  ck_assert_int_eq(o.floor_bps, 500);
  ck_assert_int_eq(o.core_bps, 500);
  ck_assert_int_eq(o.util_bps, 0);
  ck_assert_int_eq(o.risk_bps, 0);
  ck_assert_int_eq(o.target_bps, 500);
  ck_assert_int_eq(o.max_change_bps, 12);
  ck_assert_int_eq(o.rate_bps, 462);
  ck_assert(o.limited);
  /* funding 30%: y = 1e14 * 2600 / 1.2e14 = 2166.67 -> 2166; raw 2066 -> clamp 2000; U 97%:
   * util = 1700 * 2% = 34 + ceil(200 * 5000 / 500) = 2000 -> 2034; HS 1.2 -> 50 + 100 = 150;
   * no previous rate: 2000 + 2034 + 150 = 4184 */
  l[1].yield_bps = 3000;
  r.hs_bps = 12000;
  in = (struct risk_margin_rate_input){.utilization_bps = 9700};
  ck_assert_int_eq(risk_margin_rate_compute(&o, l, n, PRICES, &r, &rp, &in), RISK_OK);
  ck_assert_int_eq(o.collateral_yield_bps, 2166);
  ck_assert_int_eq(o.core_bps, 2000);
  ck_assert_int_eq(o.util_bps, 2034);
  ck_assert_int_eq(o.risk_bps, 150);
  ck_assert_int_eq(o.rate_bps, 4184);
  ck_assert(!o.limited);
}
END_TEST

static void hex32(const char *h, uint8_t out[32]) {
  for (int i = 0; i < 32; i++) {
    unsigned b;
    ck_assert_int_eq(sscanf(h + 2 + 2 * i, "%2x", &b), 1);
    out[i] = (uint8_t)b;
  }
}

START_TEST(test_eip712) {
  /* vectors from `node tests/margin_eip712.mjs vectors` (npm ethers TypedDataEncoder) */
  struct risk_margin_signed s = {.sequence = 3,
                                 .params_version = 2,
                                 .band = 2,
                                 .equity = -1500000000000LL,
                                 .mm = 3100000000000LL,
                                 .im = 4650000000000LL,
                                 .hs_bps = -4838,
                                 .d_max = 0,
                                 .as_of = 1767225600,
                                 .cure_deadline = 1767312000};
  risk_keccak256((const uint8_t *)"42", 2, s.portfolio_id);
  uint8_t got[32], want[32];
  risk_margin_struct_hash(&s, got);
  hex32("0xb9c9665f743c0de06134c0ab15317a0c38d2b0eff6515b72095ce39edf7239eb", want);
  ck_assert_mem_eq(got, want, 32);
  risk_margin_digest(&s, 1, got);
  hex32("0xc568eefa4775c5182f467b9c352791d8e1f498ca5f53a818634817b91217f6c5", want);
  ck_assert_mem_eq(got, want, 32);
  ck_assert_str_eq(risk_margin_eip712_type,
                   "MarginRecord(bytes32 portfolioId,uint64 sequence,uint64 paramsVersion,uint8 band,int256 equity,"
                   "uint256 maintenanceMargin,uint256 initialMargin,int256 healthScoreBps,uint256 maxBorrow,"
                   "uint64 asOf,uint64 cureDeadline)");
}
END_TEST

int main(void) {
  Suite *s = suite_create("margin");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_hedged_book);
  tcase_add_test(tc, test_venues_alone_cost_more);
  tcase_add_test(tc, test_diversification_and_blend_floor);
  tcase_add_test(tc, test_bands_walk);
  tcase_add_test(tc, test_stale_and_invalid);
  tcase_add_test(tc, test_liquidity_and_perp_pnl);
  tcase_add_test(tc, test_max_borrow_iterated);
  tcase_add_test(tc, test_rate_terms);
  tcase_add_test(tc, test_eip712);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
