/* Ops risk analytics over a whole book of accounts (spec risk-engine §3): liquidations at a grid
 * of shocked prices and stress scenarios with slippage and cascade rounds. Every account is
 * evaluated with risk_account_evaluate_positions and liquidated with risk_liquidation_compute, so
 * the figures are the chain's own arithmetic; only the slippage model (§3.3) is floating point.
 * Pure: no I/O, no globals; the caller owns every buffer and nothing is allocated here. */
#ifndef SPARKD_RISK_STRESS_H
#define SPARKD_RISK_STRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/account.h"
#include "risk/liquidation.h"

/* A book: account i holds pos[first[i] .. first[i+1]) (ascending reserve ids) in eMode emode[i]. */
struct risk_book {
  size_t n_accounts;
  const struct risk_position *pos;
  const uint32_t *first; /* n_accounts + 1 offsets */
  const uint8_t *emode;
};

/* The one liquidationCall the analytics assume for an account below HF 1: the debt is its largest
 * debt by base value, the collateral its largest collateral (bit set, LT != 0) by base value among
 * those priced above 0, ties to the lower reserve id, and debt_to_cover is "as much as allowed".
 * A collateral priced 0 is never picked: LiquidationLogic._calculateAvailableCollateralToLiquidate
 * divides by its price, so liquidationCall against it reverts (Panic 0x12), and a liquidator takes
 * another collateral. An account below HF 1 whose every collateral is priced 0 is below_one but
 * not liquidatable: nothing can be seized from it. */
struct risk_liq_pick {
  bool below_one;    /* HF < 1 with debt */
  bool liquidatable; /* below_one and a collateral and a debt to pick */
  uint16_t collateral, debt;
  struct risk_account_data data; /* the account at m */
  struct risk_liquidation liq;   /* valid when liquidatable */
};

/* Evaluates account pos[0..n) in eMode emode at m and, when its HF is below 1, computes the
 * liquidation above (scratch holds the account for risk_liquidation_compute). Returns RISK_OK or
 * the engine's error. */
risk_err risk_liq_pick_compute(const struct risk_market *m, const struct risk_position *pos, size_t n, uint32_t emode,
                               struct risk_account *scratch, struct risk_liq_pick *out);

/* Per reserve amounts of a grid point or a stress round: token units, and base values (8-decimal
 * USD) at the prices of the point. */
struct risk_liq_totals {
  u256 collateral_seized, collateral_seized_base; /* collateral_amount (to liquidator + fee) */
  u256 debt_repaid, debt_repaid_base;
  u256 protocol_fee, protocol_fee_base;
};

struct risk_lar_point {
  uint32_t drop_bps;
  uint64_t accounts;      /* below HF 1 (with or without a collateral a liquidation can take) */
  u256 debt_at_risk_base; /* total debt of those accounts */
  u256 collateral_seized_base, debt_repaid_base, protocol_fee_base;
  struct risk_liq_totals res[RISK_MAX_RESERVES];
};

/* The price of a reserve after a drop: floor(price * (10000 - drop_bps) / 10000). */
u256 risk_price_after_drop(u256 price, uint32_t drop_bps);

#define RISK_LAR_MAX_DROPS 101

/* One liquidations-at-risk curve: for each drop_bps[k] (0..10000, k < RISK_LAR_MAX_DROPS), the
 * reserves with shocked[r] get risk_price_after_drop, every account is evaluated at those prices
 * and each one below HF 1 is counted with its debt and contributes its risk_liq_pick. The totals
 * are those of that pass over every account and point; stress.c computes them on each account's
 * balances in 128-bit arithmetic, skips the points a bound proves safe (collateral, LT-weighted
 * collateral and debt all fall with the drop), and hands anything outside that path to the
 * engine's functions. m_scratch (n_drops markets) and a_scratch are the caller's. Returns
 * RISK_OK, RISK_INVALID for a bad grid, or the first engine error (out is then partial). */
risk_err risk_lar_curve(const struct risk_market *base, const struct risk_book *b,
                        const bool shocked[RISK_MAX_RESERVES], const uint32_t *drop_bps, size_t n_drops,
                        struct risk_market *m_scratch, struct risk_account *a_scratch, struct risk_lar_point *out);

#define RISK_LAR_MAX_CURVES 64

/* Fills ms[c * n_drops + g] (n_curves * n_drops markets) with base at curve c's drop g: the
 * reserves with shocked[c][r] at risk_price_after_drop. Returns RISK_OK, or RISK_INVALID for a
 * bad grid or more than RISK_LAR_MAX_CURVES curves. */
risk_err risk_lar_markets(const struct risk_market *base, const bool (*shocked)[RISK_MAX_RESERVES], size_t n_curves,
                          const uint32_t *drop_bps, size_t n_drops, struct risk_market *ms);

/* n_curves curves over the same grid in one pass over the book: out[c * n_drops + g] is what
 * risk_lar_curve gives for curve c at drop g. ms comes from risk_lar_markets (read only, so
 * threads working on parts of a book share it). Each account's balances are prepared once; a curve
 * that moves none of its prices gets its answer at base prices (computed once), and curves that
 * move the same of its positions get one computation between them. Returns as risk_lar_curve. */
risk_err risk_lar_curves(const struct risk_market *base, const struct risk_market *ms, const struct risk_book *b,
                         const bool (*shocked)[RISK_MAX_RESERVES], size_t n_curves, const uint32_t *drop_bps,
                         size_t n_drops, struct risk_account *a_scratch, struct risk_lar_point *out);

/* Adds point b (of another part of the same book, at the same drop) to a; returns RISK_OK or
 * RISK_OVERFLOW. A book split into parts (first + k, emode + k) gives the whole book's points. */
risk_err risk_lar_point_add(struct risk_lar_point *a, const struct risk_lar_point *b);

/* The slippage model of risk-engine §3.3 for one asset:
 * impact(q) = spread/2 + y * sigma_day * sqrt(q / depth), q the base value sold in the round. */
struct risk_slippage {
  bool set;
  uint32_t spread_bps;
  double sigma_day, depth_base, y;
};
/* Returns the impact in bps (rounded up, at most 10000) of selling q_base of an asset under s;
 * 0 when s is not set or q is 0. */
uint32_t risk_slippage_impact_bps(const struct risk_slippage *s, u256 q_base);

#define RISK_STRESS_MAX_ROUNDS 6

struct risk_stress_reserve {
  struct risk_liq_totals t; /* over all rounds; base values at each round's prices */
  u256 price_after;         /* the price of the last round */
  uint32_t slippage_bps;    /* impact of the last round this asset was sold in */
  u256 recovery_base;       /* sum over rounds of seized base * (1 - impact) */
  u256 bad_debt_base;       /* attributed to this reserve as a debt */
};
struct risk_stress_round {
  uint64_t accounts;
  u256 collateral_seized_base, debt_repaid_base;
};
struct risk_stress_result {
  uint32_t n_rounds;
  struct risk_stress_round rounds[RISK_STRESS_MAX_ROUNDS];
  struct risk_stress_reserve res[RISK_MAX_RESERVES];
  uint64_t accounts_liquidated; /* liquidated in some round */
  uint64_t accounts_insolvent;  /* below HF 1 in some round and with bad debt at the end */
  u256 collateral_seized_base, debt_repaid_base, recovery_base, bad_debt_base;
};

/* Per-account flags of a stress run. */
#define RISK_STRESS_LIQUIDATED 1u /* liquidated in some round */
#define RISK_STRESS_BELOW_ONE 2u  /* below HF 1 in some round (liquidatable or not) */

/* Runs a stress scenario on market m (prices and indexes already shocked by the caller) over
 * the book whose positions `pos` (n_pos of them, laid out as b->first says, b->pos ignored) are
 * changed in place by each round's liquidations. Round 0 liquidates at m's prices; each of the
 * cascade_rounds (0 .. RISK_STRESS_MAX_ROUNDS-1) further rounds lowers each sold asset's price by
 * its impact (down to 0 at an impact of 100%) and liquidates again. flags (n_accounts bytes,
 * zeroed here) get RISK_STRESS_* per account; bad debt is computed at the final prices for every
 * account below HF 1 in some round, liquidated or not (one no liquidationCall can reach, every
 * collateral priced 0, keeps its whole shortfall). m_scratch and a_scratch are the caller's.
 * Returns RISK_OK, RISK_INVALID for too many rounds, or an engine error. */
risk_err risk_stress_run(const struct risk_market *m, const struct risk_book *b, struct risk_position *pos,
                         const struct risk_slippage slip[RISK_MAX_RESERVES], uint32_t cascade_rounds, uint8_t *flags,
                         struct risk_market *m_scratch, struct risk_account *a_scratch, struct risk_stress_result *out);

#endif
