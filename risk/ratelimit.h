/* Spark Liquidity Layer rate limits (spark-alm-controller src/RateLimits.sol and
 * src/RateLimitHelpers.sol; spec protocol-math §3.1, §3.2): the linear refill of a
 * limit, its decrease / increase by controller actions, refill times, and the keccak-256
 * key derivation. Pure: structs in, structs out; errors where the contract reverts. */
#ifndef SPARKD_RISK_RATELIMIT_H
#define SPARKD_RISK_RATELIMIT_H

#include <stdint.h>

#include "risk/u256.h"

/* One key's RateLimitData. max_amount == 2^256-1 is the "unlimited" sentinel; 0 means the
 * key is not onboarded (or was deactivated). slope is in units per second. */
struct risk_rate_limit {
  u256 max_amount;
  u256 slope;
  u256 last_amount;
  uint64_t last_updated;
};

/* RateLimits' own revert reasons. */
enum risk_rate_limit_revert {
  RISK_RATE_LIMIT_OK = 0,
  RISK_RATE_LIMIT_ZERO_MAX_AMOUNT, /* "RateLimits/zero-maxAmount" */
  RISK_RATE_LIMIT_EXCEEDED,        /* "RateLimits/rate-limit-exceeded" */
};
/* Returns the on-chain revert string for r ("" for RISK_RATE_LIMIT_OK). */
const char *risk_rate_limit_revert_string(enum risk_rate_limit_revert r);

/* Returns true when rl is the unlimited sentinel. */
static inline bool risk_rate_limit_is_unlimited(const struct risk_rate_limit *rl) {
  return u256_eq(rl->max_amount, U256_MAX);
}

/* getCurrentRateLimit at time now: 2^256-1 when unlimited, else
 * min(slope*(now - last_updated) + last_amount, max_amount). Returns RISK_UNDERFLOW when
 * now < last_updated, RISK_OVERFLOW when the checked arithmetic overflows. */
risk_err risk_rate_limit_current(u256 *out, const struct risk_rate_limit *rl, uint64_t now);

/* triggerRateLimitDecrease(amount) at time now. Returns RISK_OK, the new limit in
 * *new_limit and the state after the call in *after (may be NULL or alias rl; unchanged
 * state and 2^256-1 when unlimited); RISK_INVALID with *why set when max_amount == 0 or
 * amount exceeds the current limit (why may be NULL); or the arithmetic error of current. */
risk_err risk_rate_limit_decrease(struct risk_rate_limit *after, u256 *new_limit, enum risk_rate_limit_revert *why,
                                  const struct risk_rate_limit *rl, u256 amount, uint64_t now);
/* triggerRateLimitIncrease(amount) at time now: last_amount = min(current + amount, max),
 * checked addition. Same conventions as risk_rate_limit_decrease. */
risk_err risk_rate_limit_increase(struct risk_rate_limit *after, u256 *new_limit, enum risk_rate_limit_revert *why,
                                  const struct risk_rate_limit *rl, u256 amount, uint64_t now);

/* Seconds from now until current >= amount: 0 when already available or unlimited,
 * else ceil((amount - current) / slope). Returns RISK_INVALID when it never happens
 * (amount > max_amount, or slope == 0 with amount > current). */
risk_err risk_rate_limit_seconds_until(u256 *seconds, const struct risk_rate_limit *rl, u256 amount, uint64_t now);
/* Seconds from now until the limit is full (current == max_amount); RISK_INVALID when
 * slope == 0 and it is not full. 0 when unlimited. */
risk_err risk_rate_limit_seconds_until_full(u256 *seconds, const struct risk_rate_limit *rl, uint64_t now);
/* Returns RISK_OK and slope * 86400 (refill per day), or RISK_OVERFLOW. */
risk_err risk_rate_limit_per_day(u256 *out, const struct risk_rate_limit *rl);

/* ---- key derivation (RateLimitHelpers) ---- */

/* Writes keccak256(name) (the ASCII bytes of e.g. "LIMIT_USDS_MINT"), a base key. */
void risk_rate_limit_key(uint8_t out[32], const char *name);
/* Writes makeAddressKey / makeAssetKey: keccak256(abi.encode(bytes32 base, address a)). */
void risk_rate_limit_address_key(uint8_t out[32], const uint8_t base[32], const uint8_t a[20]);
/* Writes makeAddressAddressKey / makeAssetDestinationKey: keccak256(abi.encode(base, a, b)). */
void risk_rate_limit_address_address_key(uint8_t out[32], const uint8_t base[32], const uint8_t a[20],
                                         const uint8_t b[20]);
/* Writes makeUint32Key / makeDomainKey: keccak256(abi.encode(bytes32 base, uint32 d)). */
void risk_rate_limit_uint32_key(uint8_t out[32], const uint8_t base[32], uint32_t d);
/* Writes makeBytes32Key: keccak256(abi.encode(bytes32 base, bytes32 x)). */
void risk_rate_limit_bytes32_key(uint8_t out[32], const uint8_t base[32], const uint8_t x[32]);

#endif
