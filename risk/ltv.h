/* The partner LTV record (risk-engine spec §6): collateral held at a custodian, valued with
 * 8-decimal USD oracle prices, against a debt that accrues simple interest, classified on a
 * threshold ladder with hysteresis and a cure period; and its EIP-712 digest for signing.
 *
 * Conventions (all integer, every rounding against the borrower so the LTV is never
 * under-reported):
 * - line value (8-decimal USD, "_base") = floor(amount * price / 10^decimals);
 * - weighted value = floor(value * (10000 - haircut_bps) / 10000);
 * - debt = principal + accrued, accrued = ceil(principal * apr_ray * dt / (RAY * YEAR)),
 *   YEAR = 365 days, dt = now - accrual_start (0 if now <= accrual_start): the chain's
 *   MathUtils.calculateLinearInterest (simple interest on the principal, no compounding),
 *   rounded up instead of the chain's half-up rayMul;
 * - debt value = ceil(debt * debt_price / 10^debt_decimals);
 * - ltv_bps = ceil(debt_value * 10000 / weighted value); raw_ltv_bps the same against the
 *   unweighted value. Debt 0 gives 0. Collateral 0 with debt > 0, or an LTV that does not
 *   fit, gives RISK_LTV_BPS_INFINITE.
 *
 * State (ladder warning < margin_call < liquidation, return_to < margin_call):
 * - stale: some price used (collateral lines with a non-zero amount, and the debt's) is older
 *   than max_staleness_s at `now` (or more than RISK_LTV_FUTURE_SKEW_S ahead of it). The numbers are still computed and
 *   returned, but the state is stale; an open call stays open (call_since is kept).
 * - otherwise, with L = ltv_bps:
 *     L >= liquidation                          -> liquidation (opens a call if none)
 *     L >= margin_call                          -> margin_call (opens a call if none)
 *     a call is open and L >= return_to         -> margin_call (hysteresis: the call clears
 *                                                  only strictly below return_to)
 *     L >= warning                              -> warning    (the call, if any, clears)
 *     else                                      -> healthy    (the call, if any, clears)
 *   A call opened at call_since has cure_deadline = call_since + cure_period_s; a margin_call
 *   still open at or after its cure deadline becomes liquidation. */
#ifndef SPARKD_RISK_LTV_H
#define SPARKD_RISK_LTV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"

#define RISK_LTV_BPS_INFINITE UINT32_MAX
/* Amounts (collateral, attested balances, debt principal) below 2^RISK_LTV_AMOUNT_BITS keep every
 * step of risk_ltv_compute within 256 bits for any price below 2^RISK_LTV_PRICE_BITS (about 5e25
 * USD per whole unit), any decimals, RISK_LTV_MAX_LINES lines and an APR up to 1000% accrued over
 * up to 2^35 s: a line value is below 2^(128+112), their sum below 2^245, the debt below 2^143 and
 * its value below 2^255. Beyond those prices compute may still return RISK_OVERFLOW. */
#define RISK_LTV_AMOUNT_BITS 128
#define RISK_LTV_PRICE_BITS 112
#define RISK_LTV_MAX_LINES 32
#define RISK_LTV_YEAR_S 31536000u
/* A price timestamp at most this far ahead of `now` is clock skew (age 0); further is stale. */
#define RISK_LTV_FUTURE_SKEW_S 60u

enum risk_ltv_state {
  RISK_LTV_HEALTHY = 0,
  RISK_LTV_WARNING = 1,
  RISK_LTV_MARGIN_CALL = 2,
  RISK_LTV_LIQUIDATION = 3,
  RISK_LTV_STALE = 4,
};

struct risk_ltv_line {
  u256 amount;          /* in the asset's smallest unit */
  unsigned decimals;    /* of amount, 0..77 */
  uint32_t haircut_bps; /* 0..10000 */
  u256 price;           /* USD with 8 decimals per whole unit */
  uint64_t price_ts;    /* unix seconds the price is as of */
};

struct risk_ltv_line_value {
  u256 value;          /* USD, 8 decimals */
  u256 weighted_value; /* value after the haircut */
  bool stale;
};

struct risk_ltv_debt {
  u256 principal;
  unsigned decimals;
  u256 apr_ray;           /* simple annual rate, 27 decimals (5% = 5e25) */
  uint64_t accrual_start; /* unix seconds */
  u256 price;             /* USD, 8 decimals, of one whole debt unit */
  uint64_t price_ts;
};

struct risk_ltv_ladder {
  uint32_t warning_bps, margin_call_bps, liquidation_bps, return_to_bps;
  uint64_t cure_period_s;
  uint64_t max_staleness_s;
};

/* What the previous record left: its state and when the open call began (0 = no call). */
struct risk_ltv_prev {
  enum risk_ltv_state state;
  uint64_t call_since;
};

struct risk_ltv_result {
  u256 collateral_value; /* sum of line values, USD 8 decimals */
  u256 weighted_value;   /* sum of weighted line values */
  u256 debt;             /* principal + accrued, debt units */
  u256 accrued;          /* accrued interest, debt units */
  u256 debt_value;       /* USD 8 decimals */
  uint32_t ltv_bps, raw_ltv_bps;
  enum risk_ltv_state state;
  uint64_t call_since;    /* 0 when no call is open */
  uint64_t cure_deadline; /* 0 when no call is open */
  uint64_t oldest_price_ts;
  bool stale;
};

/* Returns the lowercase wire name of a state ("margin_call"), or "unknown". */
const char *risk_ltv_state_name(enum risk_ltv_state s);
/* Returns the state named s (wire name), or -1. */
int risk_ltv_state_parse(const char *s);

/* Returns NULL when the ladder is consistent, else the name of the first offending field
 * ("warning_bps", "margin_call_bps", "liquidation_bps", "return_to_bps"): every level at most
 * 10000 (warning and return_to may be 0, as migration 0004 allows), warning < margin_call <
 * liquidation, return_to < margin_call. */
const char *risk_ltv_ladder_check(const struct risk_ltv_ladder *l);

/* Writes apr_bps as a ray (bps * 1e23). Returns RISK_OK. */
risk_err risk_ltv_apr_bps_to_ray(u256 *r, uint32_t apr_bps);

/* Debt accrued to now (see the header comment). Returns RISK_OVERFLOW on overflow. */
risk_err risk_ltv_accrue(u256 *debt, u256 *accrued, const struct risk_ltv_debt *d, uint64_t now);

/* Computes the record at `now` from n lines (n <= RISK_LTV_MAX_LINES), writing each line's
 * value into line_out (may be NULL). Returns RISK_INVALID for a bad ladder, line count,
 * decimals or haircut, RISK_OVERFLOW when a value does not fit 256 bits. */
risk_err risk_ltv_compute(struct risk_ltv_result *out, struct risk_ltv_line_value *line_out,
                          const struct risk_ltv_line *lines, size_t n, const struct risk_ltv_debt *debt,
                          const struct risk_ltv_ladder *ladder, const struct risk_ltv_prev *prev, uint64_t now);

/* The signed part of a record (docs/ltv-signature.md). */
struct risk_ltv_signed {
  uint8_t position_id[32]; /* keccak256 of the position id's text */
  uint64_t sequence;
  uint32_t ltv_bps, raw_ltv_bps;
  uint8_t state;
  u256 collateral_value, weighted_value, debt, debt_value;
  uint64_t as_of, cure_deadline;
};

/* The EIP-712 type string of LtvRecord. */
extern const char risk_ltv_eip712_type[];

/* Writes the EIP-712 domain separator of (name "sparkd", version "1", chain_id). */
void risk_ltv_domain_separator(uint64_t chain_id, uint8_t out[32]);
/* Writes hashStruct(LtvRecord). */
void risk_ltv_struct_hash(const struct risk_ltv_signed *r, uint8_t out[32]);
/* Writes keccak256(0x19 0x01 || domainSeparator || hashStruct), the digest that is signed. */
void risk_ltv_digest(const struct risk_ltv_signed *r, uint64_t chain_id, uint8_t out[32]);

#endif
