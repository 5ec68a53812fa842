/* SparkLend (Aave v3.0.2) reserve: the configuration bitmap, interest accrual and
 * index math of ReserveLogic / MathUtils / ScaledBalanceTokenBase (spec protocol-math
 * §2.2, §2.3). Pure functions: structs in, structs out, no I/O, no heap. Every
 * function reports the condition the contract would revert on instead of wrapping. */
#ifndef SPARKD_RISK_RESERVE_H
#define SPARKD_RISK_RESERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "risk/u256.h"

/* Widest value each numeric field of the bitmap can hold (ReserveConfiguration.sol). */
#define RISK_RESERVE_MAX_BPS 65535u                    /* 16-bit fields */
#define RISK_RESERVE_MAX_U8 255u                       /* 8-bit fields */
#define RISK_RESERVE_MAX_CAP 68719476735ull            /* 36 bits: borrow/supply/unbacked caps */
#define RISK_RESERVE_MAX_DEBT_CEILING 1099511627775ull /* 40 bits */

/* Every field of the reserve configuration bitmap (§2.2 table). Numeric fields are held
 * in wider types than their bit field so that encode can reject a value that does not
 * fit; decode always produces values inside their field. Bits 252-255 are unused and
 * are dropped by decode (encode writes them as zero). */
struct risk_reserve_config {
  uint32_t ltv;                      /* bits 0-15, bps */
  uint32_t liquidation_threshold;    /* bits 16-31, bps */
  uint32_t liquidation_bonus;        /* bits 32-47, bps incl. principal (10500 = 5%) */
  uint32_t decimals;                 /* bits 48-55 */
  bool active;                       /* bit 56 */
  bool frozen;                       /* bit 57 */
  bool borrowing_enabled;            /* bit 58 */
  bool stable_borrowing_enabled;     /* bit 59 */
  bool paused;                       /* bit 60 */
  bool borrowable_in_isolation;      /* bit 61 */
  bool siloed_borrowing;             /* bit 62 */
  bool flashloan_enabled;            /* bit 63 */
  uint32_t reserve_factor;           /* bits 64-79, bps */
  uint64_t borrow_cap;               /* bits 80-115, whole tokens, 0 = no cap */
  uint64_t supply_cap;               /* bits 116-151, whole tokens, 0 = no cap */
  uint32_t liquidation_protocol_fee; /* bits 152-167, bps of the bonus */
  uint32_t emode_category;           /* bits 168-175 */
  uint64_t unbacked_mint_cap;        /* bits 176-211, whole tokens */
  uint64_t debt_ceiling;             /* bits 212-251, USD with 2 decimals */
};

/* Decodes a configuration bitmap; cannot fail. */
void risk_reserve_config_decode(u256 bitmap, struct risk_reserve_config *out);
/* Encodes cfg into *bitmap; returns RISK_INVALID (and leaves *bitmap untouched) when a
 * field is wider than its bit field, RISK_OK otherwise. */
risk_err risk_reserve_config_encode(const struct risk_reserve_config *cfg, u256 *bitmap);

/* One reserve's stored state (ReserveData) plus the figures the engine needs beside it.
 * Indexes and rates are RAY; rates are annual. Storage widths: indexes, rates,
 * accrued_to_treasury and isolation_mode_total_debt are uint128 on chain,
 * last_update_timestamp is uint40. */
struct risk_reserve_state {
  struct risk_reserve_config config;
  u256 liquidity_index;
  u256 variable_borrow_index;
  u256 current_liquidity_rate;
  u256 current_variable_borrow_rate;
  uint64_t last_update_timestamp;
  u256 a_token_scaled_total_supply;
  u256 variable_debt_scaled_total_supply;
  u256 accrued_to_treasury;       /* scaled aToken units owed to the treasury */
  u256 isolation_mode_total_debt; /* USD with 2 decimals */
  u256 available_liquidity;       /* underlying.balanceOf(aToken) */
};

/* MathUtils.calculateLinearInterest: RAY + fl(rate*(t - t0)/YEAR). Returns RISK_UNDERFLOW
 * when t < t0, RISK_OVERFLOW when rate*(t - t0) or the sum overflows. */
risk_err risk_linear_interest(u256 *r, u256 rate, uint64_t t0, uint64_t t);
/* MathUtils.calculateCompoundedInterest (3-term Taylor, §2.3); RAY when t == t0.
 * Returns RISK_UNDERFLOW when t < t0, RISK_OVERFLOW where the contract reverts. */
risk_err risk_compounded_interest(u256 *r, u256 rate, uint64_t t0, uint64_t t);

/* getNormalizedIncome at time t: the liquidity index projected linearly to t. */
risk_err risk_reserve_normalized_income(u256 *r, const struct risk_reserve_state *s, uint64_t t);
/* getNormalizedVariableDebt at time t: the borrow index compounded to t. */
risk_err risk_reserve_normalized_debt(u256 *r, const struct risk_reserve_state *s, uint64_t t);

/* ReserveLogic.updateState at time now (§2.3 steps 1-4): writes the updated state to
 * *out (out may equal in). No-op copy when now == last_update_timestamp. Returns
 * RISK_UNDERFLOW when now < last_update_timestamp, RISK_OVERFLOW when an index or
 * accrued_to_treasury leaves uint128 or an intermediate overflows, RISK_INVALID when
 * now does not fit uint40 or the reserve factor exceeds 10000; *out is untouched on error. */
risk_err risk_reserve_update_state(struct risk_reserve_state *out, const struct risk_reserve_state *in, uint64_t now);

/* Scaled units minted or burned for amount at index: rayDiv(amount, index). Returns
 * RISK_INVALID when the result is 0 (the token reverts with INVALID_MINT_AMOUNT /
 * INVALID_BURN_AMOUNT). */
risk_err risk_reserve_to_scaled(u256 *scaled, u256 amount, u256 index);
/* Actual balance of scaled units at index: rayMul(scaled, index). */
risk_err risk_reserve_from_scaled(u256 *amount, u256 scaled, u256 index);
/* aToken balance of scaled supply units at time t: rayMul(scaled, normalizedIncome(t)). */
risk_err risk_reserve_supply_balance(u256 *r, const struct risk_reserve_state *s, u256 scaled, uint64_t t);
/* Variable debt of scaled debt units at time t: rayMul(scaled, normalizedDebt(t)). */
risk_err risk_reserve_debt_balance(u256 *r, const struct risk_reserve_state *s, u256 scaled, uint64_t t);
/* aToken totalSupply at time t. */
risk_err risk_reserve_total_supplied(u256 *r, const struct risk_reserve_state *s, uint64_t t);
/* Total variable debt at time t (the D the rate strategy sees). */
risk_err risk_reserve_total_debt(u256 *r, const struct risk_reserve_state *s, uint64_t t);

#endif
