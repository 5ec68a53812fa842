/* Inline 256-bit primitives shared by risk/u256.c and risk/wadray.c (internal: other
 * code uses risk/u256.h). Limbs stay in registers; division by the fixed-point constants
 * uses precomputed reciprocals (Moller & Granlund, "Improved division by invariant
 * integers", IEEE TC 2011, algorithm 4) instead of the hardware divide. */
#ifndef SPARKD_RISK_U256_IMPL_H
#define SPARKD_RISK_U256_IMPL_H

#include "risk/u256.h"

typedef unsigned __int128 u128;

/* u256_divmod with the operands by reference: callers that have just computed a or b
 * avoid copying them through the stack (RISK_DIV_BY_ZERO; q or rem may be NULL; a
 * result may alias an operand). */
risk_err u256_divmod_ref(u256 *q, u256 *rem, const u256 *a, const u256 *b);

/* s = a + b; returns the carry out of the top limb. */
static inline uint64_t add4(u256 *s, const u256 *a, const u256 *b) {
  uint64_t c, r0, r1, r2, r3;
  c = __builtin_add_overflow(a->w[0], b->w[0], &r0);
  u128 t = (u128)a->w[1] + b->w[1] + c;
  r1 = (uint64_t)t;
  t = (u128)a->w[2] + b->w[2] + (uint64_t)(t >> 64);
  r2 = (uint64_t)t;
  t = (u128)a->w[3] + b->w[3] + (uint64_t)(t >> 64);
  r3 = (uint64_t)t;
  *s = (u256){{r0, r1, r2, r3}};
  return (uint64_t)(t >> 64);
}

/* d = a - b; returns the borrow out of the top limb. */
static inline uint64_t sub4(u256 *d, const u256 *a, const u256 *b) {
  uint64_t r0, r1, r2, r3, b0, b1, b2, b3, x;
  b0 = __builtin_sub_overflow(a->w[0], b->w[0], &r0);
  b1 = __builtin_sub_overflow(a->w[1], b->w[1], &x);
  b1 |= __builtin_sub_overflow(x, b0, &r1);
  b2 = __builtin_sub_overflow(a->w[2], b->w[2], &x);
  b2 |= __builtin_sub_overflow(x, b1, &r2);
  b3 = __builtin_sub_overflow(a->w[3], b->w[3], &x);
  b3 |= __builtin_sub_overflow(x, b2, &r3);
  *d = (u256){{r0, r1, r2, r3}};
  return b3;
}

/* r = a * b; returns true (and leaves r unspecified) when the product exceeds 256 bits. */
static inline bool mul4(u256 *r, const u256 *a, const u256 *b) {
  if ((a->w[2] | a->w[3] | b->w[2] | b->w[3]) == 0) { /* 128 x 128 bits: cannot overflow */
    u128 p00 = (u128)a->w[0] * b->w[0], p01 = (u128)a->w[0] * b->w[1];
    u128 p10 = (u128)a->w[1] * b->w[0], p11 = (u128)a->w[1] * b->w[1];
    u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
    u128 top = (mid >> 64) + (p01 >> 64) + (p10 >> 64) + p11;
    *r = (u256){{(uint64_t)p00, (uint64_t)mid, (uint64_t)top, (uint64_t)(top >> 64)}};
    return false;
  }
  int na = 4, nb = 4;
  while (na > 0 && a->w[na - 1] == 0)
    na--;
  while (nb > 0 && b->w[nb - 1] == 0)
    nb--;
  if (na == 0 || nb == 0) {
    *r = U256_ZERO;
    return false;
  }
  if (na + nb > 5) return true; /* the product is at least 2^(64*(na+nb-2)) >= 2^256 */
  uint64_t p[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < na; i++) {
    uint64_t k = 0;
    for (int j = 0; j < nb; j++) {
      u128 t = (u128)a->w[i] * b->w[j] + p[i + j] + k;
      p[i + j] = (uint64_t)t;
      k = (uint64_t)(t >> 64);
    }
    p[i + nb] = k;
  }
  if (p[4] != 0) return true;
  *r = (u256){{p[0], p[1], p[2], p[3]}};
  return false;
}

/* A one-limb divisor prepared for division without the hardware divide: d normalized
 * (top bit set) by `shift`, v = floor((2^128 - 1) / d) - 2^64. */
typedef struct {
  uint64_t d, v;
  unsigned shift;
} u256_recip;

/* The constants' reciprocals (checked against div128 by tests/check_wadray.c). */
#define U256_RECIP_WAD ((u256_recip){0xde0b6b3a76400000u, 0x2725dd1d243aba0eu, 4})      /* 1e18 */
#define U256_RECIP_5POW27 ((u256_recip){0xcecb8f27f4200f3au, 0x3ce9a36f23c0fc90u, 1})   /* 5^27 */
#define U256_RECIP_PERCENT ((u256_recip){0x9c40000000000000u, 0xa36e2eb1c432ca57u, 50}) /* 1e4 */
#define U256_RECIP_RATIO ((u256_recip){0xee6b280000000000u, 0x12e0be826d694b2eu, 34})   /* 1e9 */
#define U256_RECIP_TEN19 ((u256_recip){0x8ac7230489e80000u, 0xd83c94fb6d2ac34au, 0})    /* 1e19 */

/* (u1:u0) / d for u1 < d with the reciprocal v; returns the quotient, stores the remainder. */
static inline uint64_t divstep_recip(uint64_t u1, uint64_t u0, uint64_t d, uint64_t v, uint64_t *rem) {
  u128 q = (u128)v * u1;
  q += ((u128)u1 << 64) | u0;
  uint64_t q1 = (uint64_t)(q >> 64) + 1, q0 = (uint64_t)q;
  uint64_t r = u0 - q1 * d;
  if (r > q0) {
    q1--;
    r += d;
  }
  if (__builtin_expect(r >= d, 0)) {
    q1++;
    r -= d;
  }
  *rem = r;
  return q1;
}

/* One step of the long division: quotient limb of (*r:n) / d, with a shortcut for the
 * leading zero limbs. */
static inline uint64_t step_recip(uint64_t *r, uint64_t n, u256_recip k) {
  if (*r == 0 && n < k.d) {
    *r = n;
    return 0;
  }
  return divstep_recip(*r, n, k.d, k.v, r);
}

/* q = floor(n / (d >> k.shift)) for the normalized 5-limb numerator n4..n0 (n4 < d);
 * returns the remainder, still shifted left by k.shift. */
static inline uint64_t div_recip_norm(u256 *q, uint64_t n4, uint64_t n3, uint64_t n2, uint64_t n1, uint64_t n0,
                                      u256_recip k) {
  uint64_t r = n4;
  uint64_t q3 = step_recip(&r, n3, k);
  uint64_t q2 = step_recip(&r, n2, k);
  uint64_t q1 = step_recip(&r, n1, k);
  uint64_t q0 = step_recip(&r, n0, k);
  *q = (u256){{q0, q1, q2, q3}};
  return r;
}

/* q = floor(a / divisor) for a prepared one-limb divisor; returns a mod divisor. */
static inline uint64_t div_recip(u256 *q, const u256 *a, u256_recip k) {
  const unsigned s = k.shift;
  if (s == 0) return div_recip_norm(q, 0, a->w[3], a->w[2], a->w[1], a->w[0], k);
  uint64_t r =
      div_recip_norm(q, a->w[3] >> (64 - s), (a->w[3] << s) | (a->w[2] >> (64 - s)),
                     (a->w[2] << s) | (a->w[1] >> (64 - s)), (a->w[1] << s) | (a->w[0] >> (64 - s)), a->w[0] << s, k);
  return r >> s;
}

/* Returns a >> 1. */
static inline u256 shr1(const u256 *a) {
  return (u256){{(a->w[0] >> 1) | (a->w[1] << 63), (a->w[1] >> 1) | (a->w[2] << 63), (a->w[2] >> 1) | (a->w[3] << 63),
                 a->w[3] >> 1}};
}

#endif
