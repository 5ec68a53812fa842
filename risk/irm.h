/* SparkLend interest-rate strategies and rate sources (spec protocol-math §2.4):
 * Aave 3.0.2 DefaultReserveInterestRateStrategy and the sparklend-advanced strategies
 * VariableBorrow, RateTargetBase and RateTargetKink, fed by SSR / Pot / oracle rate
 * sources optionally wrapped in CappedFallbackRateSource. All rates are annual RAY values.
 * Pure: structs in, structs out; errors where the contracts revert. */
#ifndef SPARKD_RISK_IRM_H
#define SPARKD_RISK_IRM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"

enum risk_rate_source_kind {
  RISK_RATE_SOURCE_SSR,    /* SSRRateSource: value = susds.ssr (per-second RAY) */
  RISK_RATE_SOURCE_POT,    /* PotRateSource: value = pot.dsr (per-second RAY) */
  RISK_RATE_SOURCE_ORACLE, /* any IRateSource: value = getAPR() with `decimals` decimals */
};

/* A rate source as the strategy reads it. For SSR/Pot getAPR() = (value - RAY) * YEAR with
 * 27 decimals and reverts (arithmetic underflow, non-empty revert data) when value < RAY.
 * For ORACLE, getAPR() = value; `reverted` says the oracle call reverted with data. */
struct risk_rate_source {
  enum risk_rate_source_kind kind;
  u256 value;
  unsigned decimals; /* ORACLE only; SSR/Pot are 27 */
  bool reverted;     /* ORACLE only */
  /* CappedFallbackRateSource around the source above (bounds in the source's decimals):
   * getAPR() = clamp(inner, lower, upper), or default_rate when the inner call reverts. */
  bool capped;
  u256 lower_bound;
  u256 upper_bound;
  u256 default_rate;
};

/* Returns RISK_OK and the source's getAPR() in its own decimals (after the CappedFallback
 * wrapper when capped); RISK_UNDERFLOW for SSR/Pot with value < RAY, RISK_INVALID for a
 * reverted oracle, RISK_OVERFLOW when (value - RAY) * YEAR overflows. */
risk_err risk_rate_source_apr(u256 *apr, const struct risk_rate_source *src);
/* Returns RISK_OK and getAPR() * 10^(27 - decimals) (the RAY APR the strategies use);
 * RISK_UNDERFLOW when decimals > 27 (27 - decimals underflows on chain). */
risk_err risk_rate_source_apr_ray(u256 *apr_ray, const struct risk_rate_source *src);

enum risk_irm_kind {
  RISK_IRM_VARIABLE_BORROW,  /* sparklend-advanced VariableBorrowInterestRateStrategy */
  RISK_IRM_DEFAULT,          /* Aave 3.0.2 DefaultReserveInterestRateStrategy */
  RISK_IRM_RATE_TARGET_BASE, /* base = source APR (RAY) + spread; slope1, slope2 fixed */
  RISK_IRM_RATE_TARGET_KINK, /* slope1 = max(source APR (RAY) + spread - base, 0) */
};

/* A strategy. Which fields are read depends on kind:
 *   VARIABLE_BORROW, DEFAULT: base_variable_borrow_rate, variable_rate_slope1, slope2, Uopt
 *   RATE_TARGET_BASE: spread (uint256: spread_negative must be false), source, slope1,
 *                     slope2, Uopt
 *   RATE_TARGET_KINK: base_variable_borrow_rate, spread (int256 as sign + magnitude),
 *                     source, slope2, Uopt
 * optimal_usage_ratio must be <= RAY (the constructor's INVALID_OPTIMAL_USAGE_RATIO). */
struct risk_irm {
  enum risk_irm_kind kind;
  u256 optimal_usage_ratio;
  u256 base_variable_borrow_rate;
  u256 variable_rate_slope1;
  u256 variable_rate_slope2;
  bool spread_negative;
  u256 spread; /* magnitude, RAY */
  struct risk_rate_source source;
};

/* The strategy's effective parameters at the current source reading. */
struct risk_irm_params {
  u256 base_variable_borrow_rate;
  u256 variable_rate_slope1;
  u256 variable_rate_slope2;
  u256 optimal_usage_ratio;
  u256 max_variable_borrow_rate; /* base + slope1 + slope2 (getMaxVariableBorrowRate) */
};

/* Returns RISK_OK and the strategy's base, slope1, slope2 and max rate as the contract's
 * getters report them; RISK_INVALID for Uopt > RAY or a negative RateTargetBase spread,
 * RISK_OVERFLOW when the int256 slope1 computation or the max-rate sum leaves its range,
 * or the rate source's error. */
risk_err risk_irm_get_params(struct risk_irm_params *out, const struct risk_irm *m);

/* calculateInterestRates result. Stable borrow rate is not modelled (0 on Spark). */
struct risk_irm_rates {
  u256 liquidity_rate;
  u256 variable_borrow_rate;
  u256 utilization; /* rayDiv(D, L + D), 0 when D == 0 */
};

/* Returns RISK_OK and the rates for total variable debt D, available liquidity L (after the
 * action's added/taken liquidity) and reserve factor rf_bps; RISK_UNDERFLOW when
 * rf_bps > 10000, or the arithmetic error the contract reverts with (e.g. RISK_DIV_BY_ZERO
 * for Uopt == 0 at zero utilization, as rayDiv(0, 0) reverts on chain). */
risk_err risk_irm_calculate(struct risk_irm_rates *out, const struct risk_irm *m, u256 total_variable_debt,
                            u256 available_liquidity, uint32_t rf_bps);

/* Sampled rate curve: utilizations 0%, 1%, ..., 100% plus the kink (Uopt), in ascending
 * order; the kink is not repeated when it equals a whole percent (then count = 101, else
 * 102). Each point is evaluated with D = U and L = RAY - U (so L + D = RAY and
 * rayDiv(D, L + D) = U exactly); U = k * 1e25 for k percent. */
#define RISK_IRM_CURVE_MAX 102
struct risk_irm_curve {
  size_t count;
  struct risk_irm_rates points[RISK_IRM_CURVE_MAX];
};

/* Returns RISK_OK and the sampled curve, or the first point's error. */
risk_err risk_irm_curve(struct risk_irm_curve *out, const struct risk_irm *m, uint32_t rf_bps);

#endif
