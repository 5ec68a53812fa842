/* SLL rate limits (spec protocol-math §3.1, §3.2). */
#include "risk/ratelimit.h"

#include <string.h>

#include "risk/keccak.h"
#include "risk/wadray.h"

const char *risk_rate_limit_revert_string(enum risk_rate_limit_revert r) {
  switch (r) {
  case RISK_RATE_LIMIT_OK: return "";
  case RISK_RATE_LIMIT_ZERO_MAX_AMOUNT: return "RateLimits/zero-maxAmount";
  case RISK_RATE_LIMIT_EXCEEDED: return "RateLimits/rate-limit-exceeded";
  }
  return "";
}

risk_err risk_rate_limit_current(u256 *out, const struct risk_rate_limit *rl, uint64_t now) {
  if (risk_rate_limit_is_unlimited(rl)) {
    *out = U256_MAX;
    return RISK_OK;
  }
  if (now < rl->last_updated) return RISK_UNDERFLOW;
  u256 v;
  risk_err e = u256_mul(&v, rl->slope, u256_from_u64(now - rl->last_updated));
  if (e == RISK_OK) e = u256_add(&v, v, rl->last_amount);
  if (e != RISK_OK) return e;
  *out = u256_min(v, rl->max_amount);
  return RISK_OK;
}

static void set_why(enum risk_rate_limit_revert *why, enum risk_rate_limit_revert r) {
  if (why != NULL) *why = r;
}

/* Shared prologue of decrease / increase: onboarded check and the unlimited case.
 * Returns true when the call is finished (result in *e). */
static bool trigger_prologue(risk_err *e, struct risk_rate_limit *after, u256 *new_limit,
                             enum risk_rate_limit_revert *why, const struct risk_rate_limit *rl) {
  set_why(why, RISK_RATE_LIMIT_OK);
  if (u256_is_zero(rl->max_amount)) {
    set_why(why, RISK_RATE_LIMIT_ZERO_MAX_AMOUNT);
    *e = RISK_INVALID;
    return true;
  }
  if (risk_rate_limit_is_unlimited(rl)) {
    *new_limit = U256_MAX;
    if (after != NULL && after != rl) *after = *rl;
    *e = RISK_OK;
    return true;
  }
  return false;
}

risk_err risk_rate_limit_decrease(struct risk_rate_limit *after, u256 *new_limit, enum risk_rate_limit_revert *why,
                                  const struct risk_rate_limit *rl, u256 amount, uint64_t now) {
  risk_err e;
  if (trigger_prologue(&e, after, new_limit, why, rl)) return e;
  u256 c;
  if ((e = risk_rate_limit_current(&c, rl, now)) != RISK_OK) return e;
  if (u256_gt(amount, c)) {
    set_why(why, RISK_RATE_LIMIT_EXCEEDED);
    return RISK_INVALID;
  }
  struct risk_rate_limit s = *rl;
  s.last_amount = u256_sub_wrap(c, amount);
  s.last_updated = now;
  *new_limit = s.last_amount;
  if (after != NULL) *after = s;
  return RISK_OK;
}

risk_err risk_rate_limit_increase(struct risk_rate_limit *after, u256 *new_limit, enum risk_rate_limit_revert *why,
                                  const struct risk_rate_limit *rl, u256 amount, uint64_t now) {
  risk_err e;
  if (trigger_prologue(&e, after, new_limit, why, rl)) return e;
  u256 c;
  if ((e = risk_rate_limit_current(&c, rl, now)) != RISK_OK) return e;
  if ((e = u256_add(&c, c, amount)) != RISK_OK) return e;
  struct risk_rate_limit s = *rl;
  s.last_amount = u256_min(c, rl->max_amount);
  s.last_updated = now;
  *new_limit = s.last_amount;
  if (after != NULL) *after = s;
  return RISK_OK;
}

risk_err risk_rate_limit_seconds_until(u256 *seconds, const struct risk_rate_limit *rl, u256 amount, uint64_t now) {
  if (risk_rate_limit_is_unlimited(rl)) {
    *seconds = U256_ZERO;
    return RISK_OK;
  }
  u256 c;
  risk_err e = risk_rate_limit_current(&c, rl, now);
  if (e != RISK_OK) return e;
  if (u256_le(amount, c)) {
    *seconds = U256_ZERO;
    return RISK_OK;
  }
  if (u256_gt(amount, rl->max_amount) || u256_is_zero(rl->slope)) return RISK_INVALID;
  /* c < amount <= max, so c is the unclamped slope*elapsed + last: the limit reaches
   * amount after ceil((amount - c) / slope) more seconds. */
  return risk_divup(seconds, u256_sub_wrap(amount, c), rl->slope);
}

risk_err risk_rate_limit_seconds_until_full(u256 *seconds, const struct risk_rate_limit *rl, uint64_t now) {
  return risk_rate_limit_seconds_until(seconds, rl, rl->max_amount, now);
}

risk_err risk_rate_limit_per_day(u256 *out, const struct risk_rate_limit *rl) {
  return u256_mul(out, rl->slope, u256_from_u64(86400));
}

void risk_rate_limit_key(uint8_t out[32], const char *name) {
  risk_keccak256((const uint8_t *)name, strlen(name), out);
}

/* Writes the 32-byte ABI word of a 20-byte address (left-padded with zeros). */
static void address_word(uint8_t w[32], const uint8_t a[20]) {
  memset(w, 0, 12);
  memcpy(w + 12, a, 20);
}

void risk_rate_limit_address_key(uint8_t out[32], const uint8_t base[32], const uint8_t a[20]) {
  uint8_t buf[64];
  memcpy(buf, base, 32);
  address_word(buf + 32, a);
  risk_keccak256(buf, sizeof buf, out);
}

void risk_rate_limit_address_address_key(uint8_t out[32], const uint8_t base[32], const uint8_t a[20],
                                         const uint8_t b[20]) {
  uint8_t buf[96];
  memcpy(buf, base, 32);
  address_word(buf + 32, a);
  address_word(buf + 64, b);
  risk_keccak256(buf, sizeof buf, out);
}

void risk_rate_limit_uint32_key(uint8_t out[32], const uint8_t base[32], uint32_t d) {
  uint8_t buf[64];
  memcpy(buf, base, 32);
  memset(buf + 32, 0, 28);
  buf[60] = (uint8_t)(d >> 24);
  buf[61] = (uint8_t)(d >> 16);
  buf[62] = (uint8_t)(d >> 8);
  buf[63] = (uint8_t)d;
  risk_keccak256(buf, sizeof buf, out);
}

void risk_rate_limit_bytes32_key(uint8_t out[32], const uint8_t base[32], const uint8_t x[32]) {
  uint8_t buf[64];
  memcpy(buf, base, 32);
  memcpy(buf + 32, x, 32);
  risk_keccak256(buf, sizeof buf, out);
}
