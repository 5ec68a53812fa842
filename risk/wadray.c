/* Aave v3 WadRayMath / PercentageMath and MakerDAO divup (spec protocol-math §0, §2.1).
 * Each helper reports an error exactly where the Solidity code reverts: the revert
 * conditions of §2.1 (e.g. wadMul: b != 0 and a > (2^256-1 - HALF_WAD) / b) are the
 * same as "the numerator a*b + half does not fit 256 bits", which is what we check. */
#include "risk/wadray.h"
#include "risk/u256_impl.h"

const u256 RISK_WAD = {{1000000000000000000u, 0, 0, 0}};
const u256 RISK_RAY = {{0x9fd0803ce8000000u, 0x00000000033b2e3cu, 0, 0}};
const u256 RISK_HALF_WAD = {{500000000000000000u, 0, 0, 0}};
const u256 RISK_HALF_RAY = {{0x4fe8401e74000000u, 0x00000000019d971eu, 0, 0}};

#define HALF_RATIO 500000000u

/* Returns RISK_OK and (a*b + half) with overflow checked, before the division. */
static inline risk_err mul_add(u256 *r, const u256 *a, const u256 *b, const u256 *half) {
  u256 p;
  if (mul4(&p, a, b) || add4(r, &p, half) != 0) return RISK_OVERFLOW;
  return RISK_OK;
}

/* Returns RISK_OK and fl((a*b + HALF_WAD) / WAD), or RISK_OVERFLOW. */
risk_err risk_wad_mul(u256 *r, u256 a, u256 b) {
  u256 n;
  if (mul_add(&n, &a, &b, &RISK_HALF_WAD) != RISK_OK) return RISK_OVERFLOW;
  (void)div_recip(r, &n, U256_RECIP_WAD);
  return RISK_OK;
}

/* Returns RISK_OK and fl((a*unit + b/2) / b), RISK_DIV_BY_ZERO or RISK_OVERFLOW. */
static inline risk_err half_up_div(u256 *r, const u256 *a, const u256 *b, const u256 *unit) {
  if (u256_is_zero(*b)) return RISK_DIV_BY_ZERO;
  u256 n, half = shr1(b);
  if (mul_add(&n, a, unit, &half) != RISK_OK) return RISK_OVERFLOW;
  return u256_divmod_ref(r, NULL, &n, b);
}

/* Returns RISK_OK and fl((a*WAD + b/2) / b), RISK_DIV_BY_ZERO or RISK_OVERFLOW. */
risk_err risk_wad_div(u256 *r, u256 a, u256 b) { return half_up_div(r, &a, &b, &RISK_WAD); }

/* Returns RISK_OK and fl((a*b + HALF_RAY) / RAY), or RISK_OVERFLOW. */
risk_err risk_ray_mul(u256 *r, u256 a, u256 b) {
  u256 n;
  if (mul_add(&n, &a, &b, &RISK_HALF_RAY) != RISK_OK) return RISK_OVERFLOW;
  /* fl(n / (2^27 * 5^27)) = fl(fl(n / 2^27) / 5^27): a one-limb divisor. 5^27 is
   * normalized by a left shift of 1, so the numerator goes right by 26 bits. */
  const u256_recip k = U256_RECIP_5POW27;
  (void)div_recip_norm(r, 0, n.w[3] >> 26, (n.w[3] << 38) | (n.w[2] >> 26), (n.w[2] << 38) | (n.w[1] >> 26),
                       ((n.w[1] << 38) | (n.w[0] >> 26)) & ~(uint64_t)1, k);
  return RISK_OK;
}

/* Returns RISK_OK and fl((a*RAY + b/2) / b), RISK_DIV_BY_ZERO or RISK_OVERFLOW. */
risk_err risk_ray_div(u256 *r, u256 a, u256 b) { return half_up_div(r, &a, &b, &RISK_RAY); }

/* Returns fl(a / 1e9), plus 1 when a mod 1e9 >= 5e8 (cannot overflow). */
u256 risk_ray_to_wad(u256 a) {
  u256 q;
  if (div_recip(&q, &a, U256_RECIP_RATIO) >= HALF_RATIO) q = u256_add_wrap(q, U256_ONE);
  return q;
}

/* Returns RISK_OK and a * 1e9, or RISK_OVERFLOW. */
risk_err risk_wad_to_ray(u256 *r, u256 a) { return u256_mul(r, a, u256_from_u64(1000000000u)); }

/* Returns RISK_OK and fl((v*p + 5000) / 10000), or RISK_OVERFLOW. */
risk_err risk_percent_mul(u256 *r, u256 v, u256 p) {
  u256 n, half = u256_from_u64(RISK_PERCENTAGE_FACTOR / 2);
  if (mul_add(&n, &v, &p, &half) != RISK_OK) return RISK_OVERFLOW;
  (void)div_recip(r, &n, U256_RECIP_PERCENT);
  return RISK_OK;
}

/* Returns RISK_OK and fl((v*10000 + p/2) / p), RISK_DIV_BY_ZERO or RISK_OVERFLOW. */
risk_err risk_percent_div(u256 *r, u256 v, u256 p) {
  u256 unit = u256_from_u64(RISK_PERCENTAGE_FACTOR);
  return half_up_div(r, &v, &p, &unit);
}
/* Returns RISK_OK and (x == 0 ? 0 : (x-1)/y + 1), or RISK_DIV_BY_ZERO for x != 0, y == 0. */
risk_err risk_divup(u256 *r, u256 x, u256 y) {
  if (u256_is_zero(x)) {
    *r = U256_ZERO;
    return RISK_OK;
  }
  u256 q;
  risk_err e = u256_div(&q, u256_sub_wrap(x, U256_ONE), y);
  if (e != RISK_OK) return e;
  *r = u256_add_wrap(q, U256_ONE); /* (x-1)/y + 1 <= x: cannot overflow */
  return RISK_OK;
}
