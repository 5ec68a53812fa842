/* Portfolio margin (risk-engine spec §2.6) and the collateral-yield borrow rate (§5.3): one
 * borrower's legs across custodians, exchanges and DeFi margined on net risk.
 *
 * Units (all integer; every rounding is against the borrower, so margin is never under-stated):
 * - money ("usd8"): int64 USD with 8 decimals; quantities: int64 whole units with 8 decimals;
 *   prices: int64 USD with 8 decimals per whole unit; ratios and shocks: basis points.
 * - every money figure, price and quantity is bounded by RISK_MARGIN_MAX_ABS (2^60: $11.5bn,
 *   1.15e10 units); products are taken in 128 bits, so no step can overflow.
 *
 * The formula, with k an underlying, v a venue, i a leg:
 * 1. leg value: spot q*P_k; perp q*(mark - entry) + funding; debt -q*P_k (cash legs: P = 1).
 *    Equity = sum of leg values; assets = sum of the positive ones.
 * 2. net delta D_k = sum_i q_i*P_i (spot and debt at P_k, perp at its mark, debt negative);
 *    long_k / short_k the gross positive / negative parts, hedged H_k = min(long_k, short_k).
 * 3. scenario grid per underlying: price multiplied by (1 + m*S_k/3) for m in
 *    {0, -1, +1, -2, +2, -3, +3} at weight 1 and m in {-6, +6} (±2 S_k) at tail_weight; each leg
 *    is revalued at the shocked price (full revaluation); loss(s) = value - shocked value;
 *    L_k = max(0, max_s ceil(w_s * loss(s))); the worst scenario is the first reaching L_k in that
 *    order; its direction d_k is +1 for a fall, -1 for a rise (0 when L_k = 0).
 * 4. L_div = ceil(sqrt(sum_kl rho_kl * d_k L_k * d_l L_l)) (0 if the sum is negative);
 *    L_port = max(L_div, ceil(gamma * max_k L_k), ceil(lambda * sum_k L_k + (1 - lambda) L_div)).
 * 5. basis = sum_k ceil(basis_k * H_k); hedge floor MD = sum_k ceil(a*|D_k| + b*H_k).
 * 6. liquidity LC_k = ceil(|D_k| * min(1, spread_k/2 + Y*sigma_k*sqrt(|D_k| / (ADV_k*part*H_k))))
 *    with H_k the horizon in days.
 * 7. venue VC = sum_v ceil(charge_v * assets on v).
 * 8. MM = L_port + basis + MD + LC + VC; IM = ceil(MM * im_mult).
 *    HS = floor(Equity * 10000 / MM) bps (RISK_MARGIN_HS_INFINITE when MM = 0 and Equity >= 0).
 * 9. D_max: the largest additional USD borrow D (drawn out of the account) with
 *    HS(Equity - D) >= hs_initial: D_max = max(0, Equity - ceil(hs_initial * MM / 10000)); so HS at
 *    D_max is hs_initial (within one bps) and at D_max + 1 usd8 it is below. When the borrowed
 *    funds stay in the book (bought exposure, or cash on a charged venue) MM moves with D:
 *    risk_margin_max_borrow solves that case by iteration.
 *
 * Bands (liquidation < margin_call < warning, margin_call < return_to), HS = h:
 *   stale (a leg older than its venue's bound, or a price older than max_price_staleness_s)
 *                                          -> stale, an open call stays open
 *   h < liquidation                        -> liquidation (opens a call if none)
 *   h < margin_call                        -> margin_call (opens a call if none)
 *   a call is open and h < return_to       -> margin_call (hysteresis)
 *   h < warning                            -> warning (the call, if any, clears)
 *   else                                   -> free    (the call, if any, clears)
 *   a margin_call still open at call_since + cure_period_s or later -> liquidation. */
#ifndef SPARKD_RISK_MARGIN_H
#define SPARKD_RISK_MARGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"

#define RISK_MARGIN_E8 100000000LL
#define RISK_MARGIN_MAX_ABS ((int64_t)1 << 60)
#define RISK_MARGIN_MAX_UNDERLYINGS 16
#define RISK_MARGIN_MAX_VENUES 16
#define RISK_MARGIN_MAX_LEGS 64
#define RISK_MARGIN_CASH 0xFFFFu /* underlying index of a USD cash leg (price 1, no scenarios) */
#define RISK_MARGIN_SCENARIOS 9
#define RISK_MARGIN_HS_INFINITE INT64_MAX
#define RISK_MARGIN_FUTURE_SKEW_S 60u

enum risk_margin_band {
  RISK_MARGIN_FREE = 0,
  RISK_MARGIN_WARNING = 1,
  RISK_MARGIN_CALL = 2,
  RISK_MARGIN_LIQUIDATION = 3,
  RISK_MARGIN_STALE = 4,
};

enum risk_margin_kind { RISK_MARGIN_SPOT = 0, RISK_MARGIN_PERP = 1, RISK_MARGIN_DEBT = 2 };

/* How a leg earns (§5.3): basis = funding EMA - z * sd; staking and fixed = yield_bps. */
enum risk_margin_yield { RISK_YIELD_NONE = 0, RISK_YIELD_BASIS = 1, RISK_YIELD_STAKING = 2, RISK_YIELD_FIXED = 3 };

struct risk_margin_leg {
  uint8_t kind;        /* risk_margin_kind */
  uint8_t yield_kind;  /* risk_margin_yield */
  uint16_t venue;      /* index into params.venues */
  uint16_t underlying; /* index into params.underlyings, or RISK_MARGIN_CASH */
  int64_t qty;         /* 8 decimals; spot and debt >= 0, perp signed (short < 0) */
  int64_t entry, mark; /* perp only, usd8 */
  int64_t funding;     /* perp only: accrued funding, usd8, + = receivable */
  int32_t yield_bps;   /* staking/fixed APR, or the funding EMA APR of a basis leg */
  int32_t yield_sd_bps;
  uint64_t as_of; /* unix seconds the leg was attested */
};

struct risk_margin_underlying {
  uint32_t range_bps;    /* S_k: H-day 99.5% move */
  uint32_t basis_bps;    /* basis shock on hedged notional */
  uint32_t spread_bps;   /* bid-ask spread */
  uint32_t sigma_bps;    /* daily volatility */
  int64_t adv;           /* average daily volume, usd8 (> 0) */
  uint32_t horizon_days; /* liquidation horizon, >= 1 */
};

struct risk_margin_venue {
  uint32_t charge_bps;
  uint64_t max_staleness_s;
};

struct risk_margin_params {
  size_t n_underlyings, n_venues;
  struct risk_margin_underlying underlyings[RISK_MARGIN_MAX_UNDERLYINGS];
  struct risk_margin_venue venues[RISK_MARGIN_MAX_VENUES];
  int32_t rho_bps[RISK_MARGIN_MAX_UNDERLYINGS][RISK_MARGIN_MAX_UNDERLYINGS]; /* symmetric, diag 10000 */
  uint32_t tail_weight_bps;                                                  /* weight of the ±2S scenarios */
  uint32_t gamma_bps, lambda_bps;                                            /* blend floor */
  uint32_t md_net_bps, md_hedged_bps;                                        /* hedge floor a, b */
  uint32_t impact_y_bps, participation_bps;                                  /* liquidity add-on Y, part */
  uint32_t im_mult_bps;                                                      /* IM = MM * m */
  int64_t hs_initial_bps;                                                    /* D_max keeps HS at or above this */
  int64_t warning_bps, margin_call_bps, liquidation_bps, return_to_bps;      /* HS levels */
  uint64_t cure_period_s;
  uint64_t max_price_staleness_s;
};

struct risk_margin_prev {
  enum risk_margin_band band;
  uint64_t call_since; /* 0 = no call open */
};

struct risk_margin_factor {
  int64_t net_delta;                     /* D_k */
  int64_t long_notional, short_notional; /* gross */
  int64_t hedged;                        /* H_k */
  int64_t loss[RISK_MARGIN_SCENARIOS];   /* unweighted loss per scenario (+ = loss) */
  int64_t weighted_loss;                 /* L_k */
  int worst;                             /* scenario index of L_k, -1 when L_k = 0 */
  int direction;                         /* d_k */
  int64_t basis, hedge_floor, liquidity;
};

struct risk_margin_result {
  struct risk_margin_factor factors[RISK_MARGIN_MAX_UNDERLYINGS];
  int64_t venue_assets[RISK_MARGIN_MAX_VENUES], venue_charges[RISK_MARGIN_MAX_VENUES];
  int64_t assets, liabilities, equity;
  int64_t loss_sum, loss_max, loss_div, loss_port;
  int64_t basis, hedge_floor, liquidity, venue;
  int64_t mm, im;
  int64_t hs_bps;
  int64_t d_max;
  enum risk_margin_band band;
  uint64_t call_since, cure_deadline;
  bool stale;
  uint64_t oldest_ts;
};

/* The scenario grid: m (in thirds of S) and whether it is a tail scenario, index 0..8. */
extern const int risk_margin_scenario_thirds[RISK_MARGIN_SCENARIOS];

/* Returns the wire name of a band ("margin_call"), or "unknown". */
const char *risk_margin_band_name(enum risk_margin_band b);
/* Returns the band named s, or -1. */
int risk_margin_band_parse(const char *s);

/* Returns NULL when params are consistent, else the name of the first offending field
 * ("rho", "warning_bps", "underlyings", ...). */
const char *risk_margin_params_check(const struct risk_margin_params *p);

/* Computes the margin of n legs (n <= RISK_MARGIN_MAX_LEGS) at the underlying prices
 * prices[k] (usd8) as of prices_ts[k], at `now`. prev may be NULL. Returns RISK_INVALID for bad
 * params, leg indices, signs or a value beyond RISK_MARGIN_MAX_ABS, RISK_OVERFLOW when a total
 * does. */
risk_err risk_margin_compute(struct risk_margin_result *out, const struct risk_margin_leg *legs, size_t n,
                             const int64_t *prices, const uint64_t *prices_ts, const struct risk_margin_params *p,
                             const struct risk_margin_prev *prev, uint64_t now);

/* D_max when the borrow changes the margin itself (§2.6 step 10: "if borrowed funds buy more
 * exposure, iterate until HS(D) = HS_init"): the portfolio plus a USD debt leg of D on debt_venue
 * and the borrowed D spent on a spot leg of `underlying` on buy_venue (floor(D / price) units;
 * RISK_MARGIN_CASH: kept as cash), so the scenario loss, hedge floor, liquidity add-on and venue
 * charge all move with D. Returns RISK_OK with *d_max the largest D (usd8) whose HS is at or above
 * hs_initial (0 when even D = 0 is below; RISK_MARGIN_MAX_ABS / 4 when no D up to that breaches),
 * found by doubling then bisection, which assumes HS does not rise again once it has fallen
 * below hs_initial (true when the bought asset adds to the portfolio's risk); RISK_INVALID as
 * risk_margin_compute, or for n + 2 > RISK_MARGIN_MAX_LEGS. */
risk_err risk_margin_max_borrow(int64_t *d_max, const struct risk_margin_leg *legs, size_t n, const int64_t *prices,
                                const uint64_t *prices_ts, const struct risk_margin_params *p, uint16_t buy_venue,
                                uint16_t underlying, uint16_t debt_venue, uint64_t now);

/* Returns the value of one leg at underlying price `price` (usd8): see the header comment. */
int64_t risk_margin_leg_value(const struct risk_margin_leg *l, int64_t price);

/* §5.3 rate parameters; all bps (APR) except the thresholds noted. */
struct risk_margin_rate_params {
  int32_t target_spread_bps; /* s_target: the borrower keeps this much of the yield */
  int32_t lender_ref_bps;    /* r_ref (e.g. the savings rate) */
  int32_t lender_min_bps;    /* m_min */
  int32_t clamp_lo_bps, clamp_hi_bps;
  int32_t funding_z_bps; /* z, in bps of one sd (10000 = 1 sd) */
  int32_t util_k_bps;    /* k_u per 100% utilisation */
  int32_t util_kink_bps, util_max_bps, util_slope2_bps;
  int64_t risk_hs_bps[2];       /* HS below [0] adds premium[0], below [1] adds premium[1] */
  int32_t risk_premium_bps[2];  /* risk_hs_bps[1] < risk_hs_bps[0] */
  int32_t max_daily_change_bps; /* delta_max per day */
};

struct risk_margin_rate_input {
  int32_t utilization_bps;
  bool has_prev;
  int32_t prev_rate_bps;
  uint64_t prev_at, now;
};

struct risk_margin_rate {
  int32_t collateral_yield_bps; /* y_j */
  int32_t raw_bps, floor_bps, core_bps, util_bps, risk_bps, target_bps, rate_bps;
  int32_t max_change_bps; /* allowed move since prev (0 without prev) */
  bool limited;           /* rate_bps was held by the daily change limit */
};

/* Returns NULL when rate params are consistent, else the first offending field name. */
const char *risk_margin_rate_params_check(const struct risk_margin_rate_params *rp);

/* Computes the §5.3 rate of a portfolio whose margin is r (hs_bps) from its legs' yields.
 * Returns RISK_INVALID for bad params. */
risk_err risk_margin_rate_compute(struct risk_margin_rate *out, const struct risk_margin_leg *legs, size_t n,
                                  const int64_t *prices, const struct risk_margin_result *r,
                                  const struct risk_margin_rate_params *rp, const struct risk_margin_rate_input *in);

/* The signed part of a margin result (docs/margin-signature.md). */
struct risk_margin_signed {
  uint8_t portfolio_id[32]; /* keccak256 of the portfolio id's text */
  uint64_t sequence;
  uint64_t params_version;
  uint8_t band;
  int64_t equity, mm, im, hs_bps, d_max;
  uint64_t as_of, cure_deadline;
};

/* The EIP-712 type string of MarginRecord. */
extern const char risk_margin_eip712_type[];
/* Writes hashStruct(MarginRecord). */
void risk_margin_struct_hash(const struct risk_margin_signed *r, uint8_t out[32]);
/* Writes keccak256(0x19 0x01 || domainSeparator(chain_id) || hashStruct), the digest signed. */
void risk_margin_digest(const struct risk_margin_signed *r, uint64_t chain_id, uint8_t out[32]);

#endif
