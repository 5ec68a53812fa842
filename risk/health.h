/* Health factors in bulk: calculateUserAccountData's health factor, total collateral and total
 * debt for many accounts against one market, equal to the word to what
 * risk_account_evaluate_positions returns (spec protocol-math §2.5). The market is prepared once
 * (per reserve: indexes, price, 10^decimals as a shift and a reciprocal of 5^decimals); then each
 * account costs multiplications only, except one general division for its health factor.
 *
 * The fast path takes the operands it can bound: scaled balances and indexes below 2^128, prices
 * below 2^64, decimals up to 27, balances times indexes below 2^128 after rayMul. In that domain
 * no intermediate the engine checks can overflow, so the engine returns RISK_OK there and the
 * same figures (every division here is an exact floor division, like the engine's). Anything
 * else (an account in a reserve outside the domain, unsorted or unknown reserve ids, a health
 * factor numerator above 2^256) is refused, and the caller asks the engine. */
#ifndef SPARKD_RISK_HEALTH_H
#define SPARKD_RISK_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/account.h"
#include "risk/u256.h"

struct risk_health_reserve {
  uint64_t li[2], vbi[2]; /* liquidity and variable borrow index at t (low, high limb) */
  uint64_t price;
  uint64_t d5, v5;   /* 5^decimals normalized (top bit set) and its reciprocal; d5 == 0: decimals 0 */
  unsigned dec, s5;  /* decimals; the normalizing shift of 5^decimals */
  uint32_t lt;       /* the reserve's own liquidation threshold */
  uint32_t emode;    /* its eMode category */
  bool listed, fast; /* fast: every operand above is in the fast domain */
};

struct risk_health_market {
  const struct risk_market *m; /* eMode categories are read from it */
  uint32_t n_reserves;
  struct risk_health_reserve r[RISK_MAX_RESERVES];
};

/* What the watch list needs of calculateUserAccountData. */
struct risk_health {
  u256 hf, coll, debt;
};

/* Prepares h from m (m must stay valid while h is used). */
void risk_health_prepare(struct risk_health_market *h, const struct risk_market *m);

/* Returns true and fills *out with the engine's health factor, total collateral and total debt
 * of positions pos[0..n) with eMode category emode; false when the account is outside the fast
 * domain (then ask risk_account_evaluate_positions, which may also refuse it). */
bool risk_health_fast(const struct risk_health_market *h, const struct risk_position *pos, size_t n, uint32_t emode,
                      struct risk_health *out);

#endif
