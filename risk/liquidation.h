/* SparkLend (Aave v3.0.2) liquidations: LiquidationLogic.executeLiquidationCall's
 * amounts (close factor, debt covered, collateral seized with the bonus, protocol fee,
 * liquidator's share) and, per collateral, the exact liquidation price (spec
 * protocol-math §2.7). Pure: no I/O, no globals, no heap. */
#ifndef SPARKD_RISK_LIQUIDATION_H
#define SPARKD_RISK_LIQUIDATION_H

#include "risk/account.h"

#define RISK_CLOSE_FACTOR_DEFAULT 5000u
#define RISK_CLOSE_FACTOR_MAX 10000u
/* HF at or below which the whole debt may be covered (0.95e18). */
#define RISK_CLOSE_FACTOR_HF_THRESHOLD 950000000000000000ull

struct risk_liquidation {
  risk_onchain_err error;     /* RISK_ONCHAIN_OK, or the revert of validateLiquidationCall */
  u256 health_factor;         /* WAD */
  uint32_t close_factor;      /* bps */
  u256 user_debt;             /* user's variable debt in the debt asset */
  u256 max_liquidatable_debt; /* percentMul(user_debt, close_factor) */
  u256 debt_to_cover;         /* debt actually repaid */
  uint32_t liquidation_bonus; /* bps incl. principal (eMode bonus when the collateral is in the user's category) */
  u256 user_collateral;       /* user's aToken balance of the collateral */
  u256 base_collateral;       /* fl(Pdebt*debt*unitColl / (Pcoll*unitDebt)) for the requested debt */
  u256 collateral_amount;     /* seized in total: to_liquidator + protocol_fee */
  bool collateral_limited;    /* the user's collateral balance capped the seizure */
  u256 bonus_collateral;      /* collateral_amount - percentDiv(collateral_amount, bonus) (fee != 0 only) */
  u256 protocol_fee;          /* percentMul(bonus_collateral, fee bps), after the treasury clamp */
  u256 to_liquidator;         /* collateral_amount - protocol_fee (before the clamp) */
  bool clears_borrowing;      /* debt_to_cover == user_debt */
  bool clears_collateral;     /* to_liquidator + protocol_fee == user_collateral */
};

/* Computes a liquidationCall(collateral, debt, user, debt_to_cover) of account a. Returns
 * RISK_OK with out->error set to the on-chain revert (or RISK_ONCHAIN_OK), or an engine
 * error (RISK_OVERFLOW where an intermediate the chain would revert on overflows,
 * RISK_INVALID for bad ids). debt_to_cover = 2^256-1 means "as much as allowed". */
risk_err risk_liquidation_compute(const struct risk_market *m, const struct risk_account *a, uint16_t collateral,
                                  uint16_t debt, u256 debt_to_cover, struct risk_liquidation *out);

/* As risk_liquidation_compute, with *d the account's evaluation at m (risk_account_evaluate's
 * output), which is then not computed again. */
risk_err risk_liquidation_compute_evaluated(const struct risk_market *m, const struct risk_account *a,
                                            uint16_t collateral, uint16_t debt, u256 debt_to_cover,
                                            const struct risk_account_data *d, struct risk_liquidation *out);

/* The liquidation price of collateral c, everything else fixed, at c's current price cur
 * (m->reserves[c].price). Aave floors the average liquidation threshold to whole bps, so the
 * HF need not be monotone in P (a sawtooth with a 1-bp collateral beside WETH) and "the"
 * crossing is the one a user meets first:
 *  - safe now (HF >= 1e18 at cur): the highest P <= cur with HF(P) >= 1e18 and
 *    HF(P - 1) < 1e18, the first crossing met while the price falls; *price = 0 (with *exists)
 *    when the account is safe at every price from cur down to 0;
 *  - unsafe now: the lowest P > cur with HF(P) >= 1e18, the price at which it first becomes
 *    safe; *exists false when none (up to 2^192, or the evaluation overflows first).
 * *exists is also false with no debt or when c is not counted as collateral (bit off or LT 0).
 * Exact; cost O(steps * log2 P) account evaluations, steps <= 10001 and in practice a few
 * (see liquidation.c). Returns RISK_OK or an engine error. */
risk_err risk_liquidation_price(const struct risk_market *m, const struct risk_account *a, uint16_t c, bool *exists,
                                u256 *price);

#endif
