/* Health factors in bulk (risk/health.h): the engine's evaluate() restricted to the figures the
 * watch list shows, with every division by a constant (RAY, 10^decimals, 10^4) done by
 * multiplication with a precomputed reciprocal (risk/u256_impl.h) instead of the hardware divide
 * or the general long division. tests/check_unit_health.c compares it with the engine. */
#include "risk/health.h"

#include <string.h>

#include "risk/u256_impl.h"
#include "risk/wadray.h"

#define HF_ONE 1000000000000000000ull
#define HALF_PCT 5000u

void risk_health_prepare(struct risk_health_market *h, const struct risk_market *m) {
  memset(h, 0, sizeof *h);
  h->m = m;
  h->n_reserves = m->n_reserves > RISK_MAX_RESERVES ? RISK_MAX_RESERVES : m->n_reserves;
  for (uint32_t i = 0; i < h->n_reserves; i++) {
    const struct risk_acct_reserve *r = &m->reserves[i];
    struct risk_health_reserve *x = &h->r[i];
    x->listed = r->listed;
    x->lt = r->liquidation_threshold;
    x->emode = r->emode_category;
    x->dec = r->decimals;
    x->li[0] = r->liquidity_index.w[0];
    x->li[1] = r->liquidity_index.w[1];
    x->vbi[0] = r->variable_borrow_index.w[0];
    x->vbi[1] = r->variable_borrow_index.w[1];
    x->price = r->price.w[0];
    /* unit5 != 0: risk_market_prepare ran and decimals <= 27, as the engine's own fast path */
    x->fast = (r->liquidity_index.w[2] | r->liquidity_index.w[3] | r->variable_borrow_index.w[2] |
               r->variable_borrow_index.w[3] | r->price.w[1] | r->price.w[2] | r->price.w[3]) == 0 &&
              r->unit5 != 0 && r->decimals <= 27;
    if (x->fast && r->unit5 != 1) {
      unsigned s = (unsigned)__builtin_clzll(r->unit5);
      uint64_t d = r->unit5 << s;
      x->d5 = d;
      x->s5 = s;
      x->v5 = (uint64_t)((((u128)~d) << 64 | UINT64_MAX) / d); /* floor((2^128 - 1) / d) - 2^64 */
    }
  }
}

/* One step of a long division by a prepared one-limb divisor (d normalized, v its reciprocal):
 * the quotient limb of (*r:n) / d, *r the remainder. */
static inline uint64_t dstep(uint64_t *r, uint64_t n, uint64_t d, uint64_t v) {
  if (*r == 0 && n < d) {
    *r = n;
    return 0;
  }
  return divstep_recip(*r, n, d, v, r);
}

/* floor((a * b + HALF_RAY) / RAY) for a, b below 2^128 (the sum cannot pass 2^256), into
 * q1:q0; false when the quotient is 2^128 or more. Every value stays in a register: the
 * u256 form (through memory) cost a store-forwarding stall per step. */
static inline bool ray_mul128(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1, uint64_t *q0, uint64_t *q1) {
  u128 p00 = (u128)a0 * b0, p01 = (u128)a0 * b1;
  u128 p10 = (u128)a1 * b0, p11 = (u128)a1 * b1;
  u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
  u128 top = (mid >> 64) + (p01 >> 64) + (p10 >> 64) + p11;
  uint64_t w0 = (uint64_t)p00, w1 = (uint64_t)mid, w2 = (uint64_t)top, w3 = (uint64_t)(top >> 64);
  /* + HALF_RAY (two limbs) */
  u128 t = (u128)w0 + RISK_HALF_RAY.w[0];
  w0 = (uint64_t)t;
  t = (u128)w1 + RISK_HALF_RAY.w[1] + (uint64_t)(t >> 64);
  w1 = (uint64_t)t;
  t = (u128)w2 + (uint64_t)(t >> 64);
  w2 = (uint64_t)t;
  w3 += (uint64_t)(t >> 64);
  /* as risk_ray_mul: fl(n / 2^27) normalized for 5^27 (one left shift), then by 5^27; the
   * first quotient limb, of (0 : w3 >> 26), is always 0 */
  const uint64_t d = U256_RECIP_5POW27.d, v = U256_RECIP_5POW27.v;
  uint64_t r = w3 >> 26;
  if (dstep(&r, (w3 << 38) | (w2 >> 26), d, v)) return false;
  *q1 = dstep(&r, (w2 << 38) | (w1 >> 26), d, v);
  *q0 = dstep(&r, ((w1 << 38) | (w0 >> 26)) & ~(uint64_t)1, d, v);
  return true;
}

/* floor(b * price / 10^decimals) for b1:b0 (below 2^128; the product is below 2^192) into
 * v2:v1:v0. */
static inline void value_of(const struct risk_health_reserve *x, uint64_t b0, uint64_t b1, uint64_t *o0, uint64_t *o1,
                            uint64_t *o2) {
  u128 t0 = (u128)b0 * x->price, t1 = (u128)b1 * x->price + (uint64_t)(t0 >> 64);
  uint64_t v0 = (uint64_t)t0, v1 = (uint64_t)t1, v2 = (uint64_t)(t1 >> 64);
  if (x->dec) {
    unsigned s = x->dec; /* 1..27 */
    v0 = (v0 >> s) | (v1 << (64 - s));
    v1 = (v1 >> s) | (v2 << (64 - s));
    v2 >>= s;
  }
  if (x->d5) { /* 5^decimals < 2^63: s5 >= 1 */
    unsigned s = x->s5;
    uint64_t r = v2 >> (64 - s);
    uint64_t q2 = dstep(&r, (v2 << s) | (v1 >> (64 - s)), x->d5, x->v5);
    uint64_t q1 = dstep(&r, (v1 << s) | (v0 >> (64 - s)), x->d5, x->v5);
    uint64_t q0 = dstep(&r, v0 << s, x->d5, x->v5);
    v0 = q0;
    v1 = q1;
    v2 = q2;
  }
  *o0 = v0;
  *o1 = v1;
  *o2 = v2;
}

/* a * b for a 32-bit b and a below 2^224 (no overflow). */
static inline u256 mul_small(const u256 *a, uint64_t b) {
  u128 t0 = (u128)a->w[0] * b, t1 = (u128)a->w[1] * b + (uint64_t)(t0 >> 64);
  u128 t2 = (u128)a->w[2] * b + (uint64_t)(t1 >> 64);
  u128 t3 = (u128)a->w[3] * b + (uint64_t)(t2 >> 64);
  return (u256){{(uint64_t)t0, (uint64_t)t1, (uint64_t)t2, (uint64_t)t3}};
}

/* hi:lo / d for hi < d: one hardware divide. */
static inline uint64_t divq(uint64_t hi, uint64_t lo, uint64_t d) {
#if defined(__x86_64__)
  uint64_t q, r;
  __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(d) : "cc");
  (void)r;
  return q;
#else
  return (uint64_t)((((u128)hi << 64) | lo) / d);
#endif
}

/* floor(a / d) for a one-limb d != 0. */
static inline u256 div_limb(const u256 *a, uint64_t d) {
  u256 q = U256_ZERO;
  uint64_t r = 0;
  for (int i = 3; i >= 0; i--) {
    if (r == 0 && a->w[i] < d) {
      r = a->w[i];
      continue;
    }
    q.w[i] = divq(r, a->w[i], d);
    r = a->w[i] - q.w[i] * d; /* the low limb of the remainder is the remainder */
  }
  return q;
}

static inline u256 div_any(const u256 *a, const u256 *d) {
  if ((d->w[1] | d->w[2] | d->w[3]) == 0) return div_limb(a, d->w[0]);
  u256 q = U256_ZERO;
  (void)u256_divmod_ref(&q, NULL, a, d);
  return q;
}

/* The end of calculateUserAccountData for any totals (below 2^200, sum_lt below 2^232). */
static bool finish_general(u256 total_coll, u256 total_debt, u256 sum_lt, struct risk_health *out) {
  out->coll = total_coll;
  out->debt = total_debt;
  /* avgLT = sumLT / totalColl < 2^32 (a weighted mean of 32-bit thresholds); the engine keeps
   * its low 32 bits, which is all of it */
  uint64_t avg_lt = 0;
  if (!u256_is_zero(total_coll)) avg_lt = (uint32_t)div_any(&sum_lt, &total_coll).w[0];
  /* percentMul(totalColl, avgLT): below 2^232 + 5000, no overflow */
  u256 wl = mul_small(&total_coll, avg_lt), half = u256_from_u64(HALF_PCT);
  (void)add4(&wl, &wl, &half);
  u256 q;
  (void)div_recip(&q, &wl, U256_RECIP_PERCENT);
  wl = q;
  if (u256_is_zero(total_debt)) {
    out->hf = U256_MAX;
    return true;
  }
  /* wadDiv(wl, debt) = fl((wl*WAD + debt/2) / debt); where the numerator passes 2^256 the engine
   * reports an overflow: leave that to it */
  u256 num, one = u256_from_u64(HF_ONE), hd = shr1(&total_debt);
  if (mul4(&num, &wl, &one) || add4(&num, &num, &hd)) return false;
  out->hf = div_any(&num, &total_debt);
  return true;
}

bool risk_health_fast(const struct risk_health_market *h, const struct risk_position *pos, size_t n, uint32_t emode,
                      struct risk_health *out) {
  /* totals: collateral c3..c0 and debt d3..d0 (each value below 2^192, at most 128 of them),
   * sum of value * threshold l3..l0 */
  uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0, l0 = 0, l1 = 0, l2 = 0, l3 = 0;
  bool any = false; /* a collateral or borrowing bit (the engine's ncoll + nborrow != 0) */
  const struct risk_emode_category *cat = emode ? &h->m->emode[emode & 0xff] : NULL;
  int last = -1;
  for (size_t i = 0; i < n; i++) {
    const struct risk_position *p = &pos[i];
    if ((int)p->reserve <= last || p->reserve >= h->n_reserves) return false; /* the engine: RISK_INVALID */
    last = p->reserve;
    if (!p->collateral && !p->borrowing) continue;
    any = true;
    const struct risk_health_reserve *x = &h->r[p->reserve];
    if (!x->listed) continue;
    bool coll = p->collateral && x->lt != 0;
    if (!coll && !p->borrowing) continue;
    if (!x->fast) return false;
    uint64_t b0, b1, v0, v1, v2;
    if (coll) {
      if (p->scaled_a.w[2] | p->scaled_a.w[3]) return false;
      if (!ray_mul128(p->scaled_a.w[0], p->scaled_a.w[1], x->li[0], x->li[1], &b0, &b1)) return false;
      value_of(x, b0, b1, &v0, &v1, &v2);
      u128 t = (u128)c0 + v0;
      c0 = (uint64_t)t;
      t = (u128)c1 + v1 + (uint64_t)(t >> 64);
      c1 = (uint64_t)t;
      t = (u128)c2 + v2 + (uint64_t)(t >> 64);
      c2 = (uint64_t)t;
      c3 += (uint64_t)(t >> 64);
      uint64_t lt = cat && x->emode == emode ? cat->liquidation_threshold : x->lt;
      u128 m0 = (u128)v0 * lt, m1 = (u128)v1 * lt + (uint64_t)(m0 >> 64), m2 = (u128)v2 * lt + (uint64_t)(m1 >> 64);
      t = (u128)l0 + (uint64_t)m0;
      l0 = (uint64_t)t;
      t = (u128)l1 + (uint64_t)m1 + (uint64_t)(t >> 64);
      l1 = (uint64_t)t;
      t = (u128)l2 + (uint64_t)m2 + (uint64_t)(t >> 64);
      l2 = (uint64_t)t;
      l3 += (uint64_t)(m2 >> 64) + (uint64_t)(t >> 64);
    }
    if (p->borrowing && (p->scaled_debt.w[0] | p->scaled_debt.w[1] | p->scaled_debt.w[2] | p->scaled_debt.w[3])) {
      if (p->scaled_debt.w[2] | p->scaled_debt.w[3]) return false;
      if (!ray_mul128(p->scaled_debt.w[0], p->scaled_debt.w[1], x->vbi[0], x->vbi[1], &b0, &b1)) return false;
      value_of(x, b0, b1, &v0, &v1, &v2);
      u128 t = (u128)d0 + v0;
      d0 = (uint64_t)t;
      t = (u128)d1 + v1 + (uint64_t)(t >> 64);
      d1 = (uint64_t)t;
      t = (u128)d2 + v2 + (uint64_t)(t >> 64);
      d2 = (uint64_t)t;
      d3 += (uint64_t)(t >> 64);
    }
  }
  if (!any) {
    *out = (struct risk_health){.hf = U256_MAX, .coll = U256_ZERO, .debt = U256_ZERO};
    return true;
  }
  if ((c1 | c2 | c3 | d1 | d2 | d3 | l2 | l3) != 0)
    return finish_general((u256){{c0, c1, c2, c3}}, (u256){{d0, d1, d2, d3}}, (u256){{l0, l1, l2, l3}}, out);
  /* totals below 2^64: the same steps in 64 and 128 bits */
  out->coll = (u256){{c0, 0, 0, 0}};
  out->debt = (u256){{d0, 0, 0, 0}};
  uint64_t avg_lt = c0 ? (uint32_t)divq(l1, l0, c0) : 0; /* l < c0 * 2^32: l1 < c0 */
  /* percentMul: fl((c0 * avgLT + 5000) / 10^4), below 2^96, by the reciprocal of 10^4 << 50 */
  u128 x = (u128)c0 * avg_lt + HALF_PCT;
  uint64_t xh = (uint64_t)(x >> 64), xl = (uint64_t)x, r = xh >> 14;
  const uint64_t pd = U256_RECIP_PERCENT.d, pv = U256_RECIP_PERCENT.v;
  uint64_t w1 = dstep(&r, (xh << 50) | (xl >> 14), pd, pv);
  u128 wl = (u128)w1 << 64 | dstep(&r, xl << 50, pd, pv);
  if (d0 == 0) {
    out->hf = U256_MAX;
    return true;
  }
  if ((uint64_t)(wl >> 64) != 0) /* wl * WAD may pass 2^128: the general path */
    return finish_general(out->coll, out->debt, (u256){{l0, l1, 0, 0}}, out);
  /* wadDiv: (wl * WAD + d0 / 2) / d0, below 2^125 */
  u128 num = (u128)(uint64_t)wl * HF_ONE + (d0 >> 1);
  uint64_t hi = (uint64_t)(num >> 64), lo = (uint64_t)num, q1 = 0;
  if (hi >= d0) {
    q1 = hi / d0;
    hi %= d0;
  }
  out->hf = (u256){{divq(hi, lo, d0), q1, 0, 0}};
  return true;
}
