/* Liquidations at risk and stress scenarios over a book of accounts (risk/stress.h). */
#include "risk/stress.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "risk/wadray.h"

#define HF_ONE 1000000000000000000ull
#define BPS 10000u

u256 risk_price_after_drop(u256 price, uint32_t drop_bps) {
  if (drop_bps >= BPS) return U256_ZERO;
  u256 r = U256_ZERO;
  if (u256_muldiv(&r, price, u256_from_u64(BPS - drop_bps), u256_from_u64(BPS)) != RISK_OK) return price;
  return r;
}

/* fl(amount * price / unit) of reserve r at its price in m; RISK_OVERFLOW when it does not fit. */
static risk_err base_value(const struct risk_acct_reserve *r, u256 amount, u256 *out) {
  if (u256_is_zero(amount) || u256_is_zero(r->price)) {
    *out = U256_ZERO;
    return RISK_OK;
  }
  return u256_muldiv(out, amount, r->price, r->unit);
}

risk_err risk_liq_pick_compute(const struct risk_market *m, const struct risk_position *pos, size_t n, uint32_t emode,
                               struct risk_account *scratch, struct risk_liq_pick *out) {
  out->below_one = out->liquidatable = false;
  out->collateral = out->debt = 0;
  risk_err e = risk_account_evaluate_positions(m, pos, n, emode, &out->data);
  if (e) return e;
  if (u256_is_zero(out->data.total_debt_base) || !u256_lt(out->data.health_factor, u256_from_u64(HF_ONE)))
    return RISK_OK;
  out->below_one = true;
  u256 best_c = U256_ZERO, best_d = U256_ZERO;
  int pc = -1, pd = -1;
  for (size_t i = 0; i < n; i++) {
    const struct risk_position *p = &pos[i];
    const struct risk_acct_reserve *r = &m->reserves[p->reserve];
    if (!r->listed) continue;
    u256 bal, v;
    if (p->collateral && r->liquidation_threshold != 0 && !u256_is_zero(p->scaled_a) && !u256_is_zero(r->price)) {
      if ((e = risk_ray_mul(&bal, p->scaled_a, r->liquidity_index)) || (e = base_value(r, bal, &v))) return e;
      if (pc < 0 || u256_gt(v, best_c)) best_c = v, pc = p->reserve;
    }
    if (p->borrowing && !u256_is_zero(p->scaled_debt)) {
      if ((e = risk_ray_mul(&bal, p->scaled_debt, r->variable_borrow_index)) || (e = base_value(r, bal, &v))) return e;
      if (pd < 0 || u256_gt(v, best_d)) best_d = v, pd = p->reserve;
    }
  }
  if (pc < 0 || pd < 0) return RISK_OK;
  scratch->emode_category = emode;
  scratch->n_positions = (uint32_t)n;
  memcpy(scratch->pos, pos, n * sizeof *pos);
  if ((e = risk_liquidation_compute_evaluated(m, scratch, (uint16_t)pc, (uint16_t)pd, U256_MAX, &out->data, &out->liq)))
    return e;
  if (out->liq.error != RISK_ONCHAIN_OK) return RISK_OK;
  out->collateral = (uint16_t)pc;
  out->debt = (uint16_t)pd;
  out->liquidatable = true;
  return RISK_OK;
}

/* Adds the amounts of one liquidation at m to t (per reserve) and to the three base sums. */
static risk_err add_liq(const struct risk_market *m, const struct risk_liq_pick *k, struct risk_liq_totals *res,
                        u256 *coll_base, u256 *debt_base, u256 *fee_base) {
  const struct risk_acct_reserve *cr = &m->reserves[k->collateral], *dr = &m->reserves[k->debt];
  struct risk_liq_totals *c = &res[k->collateral], *d = &res[k->debt];
  u256 cb, db, fb;
  risk_err e;
  if ((e = base_value(cr, k->liq.collateral_amount, &cb)) || (e = base_value(dr, k->liq.debt_to_cover, &db)) ||
      (e = base_value(cr, k->liq.protocol_fee, &fb)))
    return e;
  if ((e = u256_add(&c->collateral_seized, c->collateral_seized, k->liq.collateral_amount)) ||
      (e = u256_add(&c->collateral_seized_base, c->collateral_seized_base, cb)) ||
      (e = u256_add(&c->protocol_fee, c->protocol_fee, k->liq.protocol_fee)) ||
      (e = u256_add(&c->protocol_fee_base, c->protocol_fee_base, fb)) ||
      (e = u256_add(&d->debt_repaid, d->debt_repaid, k->liq.debt_to_cover)) ||
      (e = u256_add(&d->debt_repaid_base, d->debt_repaid_base, db)) || (e = u256_add(coll_base, *coll_base, cb)) ||
      (e = u256_add(debt_base, *debt_base, db)) || (e = u256_add(fee_base, *fee_base, fb)))
    return e;
  return RISK_OK;
}

/* Adds account p[0..n)'s liquidation at point pt (market m) to pt; *d gets its evaluation. */
static risk_err lar_point(const struct risk_market *m, const struct risk_position *p, size_t n, uint32_t emode,
                          struct risk_account *a_scratch, struct risk_lar_point *pt, struct risk_account_data *d) {
  struct risk_liq_pick k;
  risk_err e;
  if ((e = risk_liq_pick_compute(m, p, n, emode, a_scratch, &k))) return e;
  *d = k.data;
  if (u256_is_zero(k.data.total_debt_base) || !u256_lt(k.data.health_factor, u256_from_u64(HF_ONE))) return RISK_OK;
  pt->accounts++;
  if ((e = u256_add(&pt->debt_at_risk_base, pt->debt_at_risk_base, k.data.total_debt_base))) return e;
  if (k.liquidatable &&
      (e = add_liq(m, &k, pt->res, &pt->collateral_seized_base, &pt->debt_repaid_base, &pt->protocol_fee_base)))
    return e;
  return RISK_OK;
}

/* ---- the fast exact path of the grid ----
 *
 * A grid point changes only prices, so an account's balances (the engine's rayMul of its scaled
 * balances) are computed once, and each point is the engine's evaluation on them: per position
 * fl(balance * price / 10^decimals), the sums, the floored average liquidation threshold, the
 * health factor's comparisons with 1 and 0.95 (an integer comparison of the same numerator and
 * denominator wadDiv divides), and the liquidation's amounts, in 128-bit arithmetic. Every step
 * that could leave 128 bits, or reach a case the engine answers with an error, sends the account
 * (or the one liquidation) back to the engine's functions, so the figures are theirs. */

typedef unsigned __int128 u128;

#define U128_MAX (~(u128)0)
#define FAST_MAX_DEC 27 /* 10^27 < 2^90: the engine's products then stay far below 2^256 */

struct fpos {
  const struct risk_position *src;
  const struct risk_acct_reserve *r;
  uint16_t reserve;
  bool coll;   /* counted as collateral: bit set, listed, reserve LT != 0 */
  bool pick_c; /* a candidate for the liquidated collateral: coll and scaled_a != 0 */
  bool debt;   /* borrowing bit, listed */
  bool pick_d; /* debt and scaled_debt != 0 */
  uint32_t lt; /* the eMode category's when the reserve is in the account's category */
  u128 bal_c, bal_d;
  bool cap_done, cap_ok;     /* cap computed; and fits 128 bits */
  u128 cap;                  /* fl((scaled_a - 1) * idx / RAY): a seizure up to it leaves no treasury clamp */
  bool lim_done, lim_ok;     /* lim_fee computed; and by the fast path */
  u128 lim_fee, lim_fee_pre; /* the fee of seizing all of bal_c (the bonus is the account's) */
};
struct facct {
  uint32_t emode;
  size_t n;
  struct fpos p[RISK_MAX_RESERVES];
};

/* One account at one point: collateral, LT-weighted collateral and debt (base), the comparisons of
 * the health factor, and the pair risk_liq_pick_compute would pick (-1: none). */
struct fev {
  u128 c, s, d;
  bool below_one, full_close; /* HF < 1; HF <= 0.95 (close factor 100%) */
  int ic, id;
};

static const uint64_t POW10_64[20] = {1ull,
                                      10ull,
                                      100ull,
                                      1000ull,
                                      10000ull,
                                      100000ull,
                                      1000000ull,
                                      10000000ull,
                                      100000000ull,
                                      1000000000ull,
                                      10000000000ull,
                                      100000000000ull,
                                      1000000000000ull,
                                      10000000000000ull,
                                      100000000000000ull,
                                      1000000000000000ull,
                                      10000000000000000ull,
                                      100000000000000000ull,
                                      1000000000000000000ull,
                                      10000000000000000000ull};

static inline bool fits128(u256 a) { return (a.w[2] | a.w[3]) == 0; }
static inline u128 to128(u256 a) { return ((u128)a.w[1] << 64) | a.w[0]; }
static inline u256 from128(u128 a) { return (u256){{(uint64_t)a, (uint64_t)(a >> 64), 0, 0}}; }
/* *r = a * b; false on overflow (b is at most 64 bits: a 128-bit overflow check costs more). */
static inline bool mul128(u128 *r, u128 a, uint64_t b) {
  u128 lo = (u128)(uint64_t)a * b;
  uint64_t ah = (uint64_t)(a >> 64);
  if (ah == 0) {
    *r = lo;
    return true;
  }
  u128 hi = (u128)ah * b;
  return (hi >> 64) == 0 && !__builtin_add_overflow(lo, hi << 64, r);
}
static inline bool add128(u128 *r, u128 a, u128 b) { return !__builtin_add_overflow(a, b, r); }

/* fl(x / d), d != 0: one machine division when it can (a u128 division is a library call). */
static inline u128 div128(u128 x, u128 d) {
  uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
  if ((d >> 64) == 0) {
    uint64_t d64 = (uint64_t)d;
    if (hi == 0) return lo / d64;
#if defined(__x86_64__)
    uint64_t qh = 0, q, r;
    if (hi >= d64) qh = hi / d64, hi %= d64;
    __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(d64) : "cc");
    return ((u128)qh << 64) | q;
#endif
  }
  return x / d;
}

/* *acc += v; false on overflow (the engine's u256_add would refuse it too). */
static inline bool acc256(u256 *acc, u128 v) {
  u128 lo = ((u128)acc->w[1] << 64) | acc->w[0];
  bool carry = __builtin_add_overflow(lo, v, &lo);
  acc->w[0] = (uint64_t)lo, acc->w[1] = (uint64_t)(lo >> 64);
  if (carry && ++acc->w[2] == 0 && ++acc->w[3] == 0) return false;
  return true;
}

/* fl(amount * price / 10^decimals) of reserve r (the engine's base value); false when it leaves
 * 128 bits. */
static inline bool fvalue(const struct risk_acct_reserve *r, u128 amount, u128 *out) {
  u128 x;
  if (!mul128(&x, amount, r->price.w[0])) return false;
  *out = div128(x >> r->decimals, r->unit5); /* fl(fl(x / 2^d) / 5^d) = fl(x / 10^d) */
  return true;
}

/* fl(a * pa * 10^dn / (pb * 10^dd)) with the common power of ten cancelled (the same floor);
 * false when it leaves 128 bits or pb is 0. */
static bool fratio(u128 a, uint64_t pa, uint32_t dn, uint64_t pb, uint32_t dd, u128 *out) {
  u128 x, den = pb;
  if (pb == 0 || !mul128(&x, a, pa)) return false;
  u128 *scaled = dn >= dd ? &x : &den;
  for (uint32_t k = dn >= dd ? dn - dd : dd - dn; k > 0;) {
    uint32_t step = k < 19 ? k : 19;
    if (!mul128(scaled, *scaled, POW10_64[step])) return false;
    k -= step;
  }
  *out = div128(x, den);
  return true;
}

/* The account's balances and weights at m; false when the fast path cannot take it (the engine
 * would refuse its positions, or a balance, price or unit is outside the fast range). */
static bool fprep(const struct risk_market *m, const struct risk_position *pos, size_t n, uint32_t emode,
                  struct facct *a) {
  const struct risk_emode_category *cat = emode ? &m->emode[emode & 0xff] : NULL;
  int last = -1;
  a->emode = emode;
  a->n = 0;
  for (size_t i = 0; i < n; i++) {
    const struct risk_position *p = &pos[i];
    if ((int)p->reserve <= last || p->reserve >= m->n_reserves) return false;
    last = p->reserve;
    const struct risk_acct_reserve *r = &m->reserves[p->reserve];
    if ((!p->collateral && !p->borrowing) || !r->listed) continue;
    if (r->decimals > FAST_MAX_DEC || r->unit5 == 0 || r->price.w[1] | r->price.w[2] | r->price.w[3]) return false;
    struct fpos *f = &a->p[a->n++];
    memset(f, 0, sizeof *f);
    f->src = p;
    f->r = r;
    f->reserve = p->reserve;
    u256 bal;
    if (p->collateral && r->liquidation_threshold != 0) {
      if (risk_ray_mul(&bal, p->scaled_a, r->liquidity_index) || !fits128(bal)) return false;
      f->coll = true;
      f->pick_c = !u256_is_zero(p->scaled_a);
      f->bal_c = to128(bal);
      f->lt = cat && r->emode_category == emode ? cat->liquidation_threshold : r->liquidation_threshold;
    }
    if (p->borrowing) {
      f->debt = true;
      if (!u256_is_zero(p->scaled_debt)) {
        if (risk_ray_mul(&bal, p->scaled_debt, r->variable_borrow_index) || !fits128(bal)) return false;
        f->pick_d = true;
        f->bal_d = to128(bal);
      }
    }
  }
  return true;
}

/* The account at m (prices read from m, balances from fprep's m); false when it leaves 128 bits. */
static bool feval(const struct risk_market *m, const struct facct *a, struct fev *e) {
  u128 c = 0, s = 0, d = 0, vc = 0, vd = 0;
  int ic = -1, id = -1;
  for (size_t i = 0; i < a->n; i++) {
    const struct fpos *f = &a->p[i];
    const struct risk_acct_reserve *r = &m->reserves[f->reserve];
    u128 v, t;
    if (r->price.w[1] | r->price.w[2] | r->price.w[3]) return false;
    if (f->coll) {
      if (!fvalue(r, f->bal_c, &v) || !add128(&c, c, v) || !mul128(&t, v, f->lt) || !add128(&s, s, t)) return false;
      /* a collateral priced 0 cannot be liquidated (risk_liq_pick) */
      if (f->pick_c && r->price.w[0] != 0 && (ic < 0 || v > vc)) ic = (int)i, vc = v;
    }
    if (f->debt) {
      if (!fvalue(r, f->bal_d, &v) || !add128(&d, d, v)) return false;
      if (f->pick_d && (id < 0 || v > vd)) id = (int)i, vd = v;
    }
  }
  e->c = c, e->s = s, e->d = d, e->ic = ic, e->id = id;
  e->below_one = e->full_close = false;
  if (d == 0) return true;
  /* wl = percentMul(C, fl(S / C)); HF = fl((wl * 1e18 + fl(D / 2)) / D), so
   * HF < 1e18 <=> num < 1e18 * D and HF <= 0.95e18 <=> num < (0.95e18 + 1) * D */
  u128 k = c ? div128(s, c) : 0, wl, num, one, cf;
  if (!mul128(&wl, c, k) || !add128(&wl, wl, 5000)) return false;
  wl = div128(wl, 10000);
  if (!mul128(&num, wl, HF_ONE) || !add128(&num, num, d >> 1) || !mul128(&one, d, HF_ONE) ||
      !mul128(&cf, d, RISK_CLOSE_FACTOR_HF_THRESHOLD + 1))
    return false;
  e->below_one = num < one;
  e->full_close = num < cf;
  return true;
}

/* Whether every point between two evaluated points a (smaller drop) and b of the sorted grid is
 * provably safe: prices fall with the drop, so C, S and D do too; C * fl(S / C) > S - C gives
 * wl >= fl((S(b) - C(a) + 5001) / 1e4) there, and HF >= 1 <=> wl * 1e18 >= 1e18 * D - fl(D / 2),
 * whose right side grows with D <= D(a). */
static bool fsafe_between(const struct fev *a, const struct fev *b) {
  if (a->d == 0) return true;
  u128 wl = 0, lhs, rhs;
  if (b->s + 5001 > a->c) wl = div128(b->s + 5001 - a->c, 10000);
  if (!mul128(&lhs, wl, HF_ONE) || !mul128(&rhs, a->d, HF_ONE)) return false;
  return lhs >= rhs - (a->d >> 1);
}

/* The protocol fee of seizing coll of collateral fc (reserve cr) at bonus, after the treasury
 * clamp (*pre: before it); false when the engine must compute it. */
static bool ffee(const struct risk_acct_reserve *cr, struct fpos *fc, u128 coll, uint32_t bonus, u128 *out, u128 *pre) {
  u128 t, fee;
  *out = *pre = 0;
  if (cr->liquidation_protocol_fee == 0 || coll == 0) return true;
  if (!mul128(&t, coll, 10000) || !add128(&t, t, bonus / 2)) return false;
  t = div128(t, bonus); /* percentDiv(coll, bonus) <= coll since bonus >= 1e4 */
  if (!mul128(&fee, coll - t, cr->liquidation_protocol_fee) || !add128(&fee, fee, 5000)) return false;
  fee = div128(fee, 10000);
  if (fee > coll) return false;
  *pre = fee;
  if (fee != 0) {
    /* The treasury clamp cannot bite when rayDiv(to_liquidator) + rayDiv(fee) <= scaled_a, which
     * (each rayDiv is at most x * RAY / idx + 1/2) holds when coll * RAY + idx <= scaled_a * idx,
     * that is when coll <= fl((scaled_a - 1) * idx / RAY). */
    const u256 idx = cr->liquidity_index;
    if (!fc->cap_done) {
      u256 cap;
      fc->cap_ok = !u256_is_zero(fc->src->scaled_a) &&
                   !u256_muldiv(&cap, u256_sub_wrap(fc->src->scaled_a, U256_ONE), idx, RISK_RAY) && fits128(cap);
      fc->cap = fc->cap_ok ? to128(cap) : 0;
      fc->cap_done = true;
    }
    if (!fc->cap_ok || coll > fc->cap) {
      u256 burned, left, fee_scaled, f = from128(fee);
      if (risk_ray_div(&burned, from128(coll - fee), idx) || u256_sub(&left, fc->src->scaled_a, burned) ||
          risk_ray_div(&fee_scaled, f, idx))
        return false;
      if (u256_gt(fee_scaled, left)) {
        if (risk_ray_mul(&f, left, idx) || !fits128(f)) return false;
        fee = to128(f);
      }
    }
  }
  *out = fee;
  return true;
}

/* A liquidation's amounts in token units, as struct risk_liquidation names them. */
struct fliq_out {
  bool liquidatable;
  u128 coll, debt, fee; /* collateral_amount, debt_to_cover, protocol_fee (after the clamp) */
  u128 to_liquidator;
  bool clears_collateral, clears_borrowing;
};

/* The liquidation risk_liq_pick_compute computes at m for the pair e picked below HF 1
 * (risk_liquidation_compute's arithmetic, debt_to_cover "as much as allowed"): true with *o;
 * false when the engine must compute it. */
static bool fliq(const struct risk_market *m, struct facct *a, const struct fev *e, struct fliq_out *o) {
  struct fpos *fc = &a->p[e->ic];
  const struct fpos *fd = &a->p[e->id];
  const struct risk_acct_reserve *cr = &m->reserves[fc->reserve], *dr = &m->reserves[fd->reserve];
  o->liquidatable = false;
  /* validateLiquidationCall: the pick already has the collateral bit, LT != 0 and HF < 1 */
  if (!cr->active || !dr->active || cr->paused || dr->paused || fd->bal_d == 0) return true;
  uint64_t pc = cr->price.w[0], pd = dr->price.w[0];
  uint32_t bonus = cr->liquidation_bonus;
  if (a->emode != 0 && cr->emode_category == a->emode) bonus = m->emode[a->emode & 0xff].liquidation_bonus;
  if (bonus < 10000 || pc == 0 || pd == 0) return false;
  u128 to_cover, base, max_coll, coll, debt, t;
  if (!mul128(&to_cover, fd->bal_d, e->full_close ? RISK_CLOSE_FACTOR_MAX : RISK_CLOSE_FACTOR_DEFAULT) ||
      !add128(&to_cover, to_cover, 5000))
    return false;
  to_cover = div128(to_cover, 10000);
  if (!fratio(to_cover, pd, cr->decimals, pc, dr->decimals, &base) || !mul128(&max_coll, base, bonus) ||
      !add128(&max_coll, max_coll, 5000))
    return false;
  max_coll = div128(max_coll, 10000);
  u128 fee, pre;
  if (max_coll > fc->bal_c) {
    coll = fc->bal_c;
    /* percentDiv(fl(Pc * coll * unitD / (Pd * unitC)), bonus) */
    if (!fratio(coll, pc, dr->decimals, pd, cr->decimals, &t) || !mul128(&t, t, 10000) || !add128(&t, t, bonus / 2))
      return false;
    debt = div128(t, bonus);
    /* the whole balance is seized at every such point: its fee is computed once */
    if (!fc->lim_done) {
      fc->lim_ok = ffee(cr, fc, coll, bonus, &fc->lim_fee, &fc->lim_fee_pre);
      fc->lim_done = true;
    }
    if (!fc->lim_ok) return false;
    fee = fc->lim_fee, pre = fc->lim_fee_pre;
  } else {
    coll = max_coll;
    debt = to_cover;
    if (!ffee(cr, fc, coll, bonus, &fee, &pre)) return false;
  }
  /* to_liquidator and the clears flags are the engine's, taken before the treasury clamp */
  o->liquidatable = true;
  o->coll = coll, o->debt = debt, o->fee = fee;
  o->to_liquidator = coll - pre;
  o->clears_collateral = coll == fc->bal_c;
  o->clears_borrowing = debt == fd->bal_d;
  return true;
}

/* Adds one liquidation's amounts (token units) at m to res and the three base sums, as add_liq. */
static risk_err fadd_liq(const struct risk_market *m, uint16_t c, uint16_t d, u128 coll, u128 debt, u128 fee,
                         struct risk_liq_totals *res, u256 *coll_base, u256 *debt_base, u256 *fee_base) {
  const struct risk_acct_reserve *cr = &m->reserves[c], *dr = &m->reserves[d];
  struct risk_liq_totals *ct = &res[c], *dt = &res[d];
  u128 cb, db, fb;
  if (fvalue(cr, coll, &cb) && fvalue(dr, debt, &db) && fvalue(cr, fee, &fb)) {
    if (!acc256(&ct->collateral_seized, coll) || !acc256(&ct->collateral_seized_base, cb) ||
        !acc256(&ct->protocol_fee, fee) || !acc256(&ct->protocol_fee_base, fb) || !acc256(&dt->debt_repaid, debt) ||
        !acc256(&dt->debt_repaid_base, db) || !acc256(coll_base, cb) || !acc256(debt_base, db) || !acc256(fee_base, fb))
      return RISK_OVERFLOW;
    return RISK_OK;
  }
  u256 cbw, dbw, fbw;
  risk_err e;
  if ((e = base_value(cr, from128(coll), &cbw)) || (e = base_value(dr, from128(debt), &dbw)) ||
      (e = base_value(cr, from128(fee), &fbw)))
    return e;
  if ((e = u256_add(&ct->collateral_seized, ct->collateral_seized, from128(coll))) ||
      (e = u256_add(&ct->collateral_seized_base, ct->collateral_seized_base, cbw)) ||
      (e = u256_add(&ct->protocol_fee, ct->protocol_fee, from128(fee))) ||
      (e = u256_add(&ct->protocol_fee_base, ct->protocol_fee_base, fbw)) ||
      (e = u256_add(&dt->debt_repaid, dt->debt_repaid, from128(debt))) ||
      (e = u256_add(&dt->debt_repaid_base, dt->debt_repaid_base, dbw)) || (e = u256_add(coll_base, *coll_base, cbw)) ||
      (e = u256_add(debt_base, *debt_base, dbw)) || (e = u256_add(fee_base, *fee_base, fbw)))
    return e;
  return RISK_OK;
}

/* Evaluates the points strictly between lo and hi of the sorted grid (ev[lo], ev[hi] known) that
 * fsafe_between does not prove safe; false when one leaves the fast path. */
static bool ffill(const struct risk_market *ms, const uint32_t *ord, const struct facct *a, struct fev *ev, bool *have,
                  size_t lo, size_t hi) {
  if (hi - lo < 2 || fsafe_between(&ev[lo], &ev[hi])) return true;
  size_t mid = lo + (hi - lo) / 2;
  if (!feval(&ms[ord[mid]], a, &ev[mid])) return false;
  have[mid] = true;
  return ffill(ms, ord, a, ev, have, lo, mid) && ffill(ms, ord, a, ev, have, mid, hi);
}

/* The curves an account's result goes to: point g of curve members[k] is out[members[k] * nd + g]
 * (curves that shock the same positions of the account give it the same answer). */
struct lar_dest {
  struct risk_lar_point *out;
  size_t nd;
  const uint8_t *members;
  size_t n;
};

/* fadd_liq into grid point g of every curve of dst, the base values computed once. */
static risk_err fadd_liq_dest(const struct risk_market *m, uint16_t c, uint16_t d, u128 coll, u128 debt, u128 fee,
                              const struct lar_dest *dst, size_t g) {
  const struct risk_acct_reserve *cr = &m->reserves[c], *dr = &m->reserves[d];
  u128 cb = 0, db = 0, fb = 0;
  risk_err e;
  bool fast = fvalue(cr, coll, &cb) && fvalue(dr, debt, &db) && fvalue(cr, fee, &fb);
  for (size_t k = 0; k < dst->n; k++) {
    struct risk_lar_point *pt = &dst->out[dst->members[k] * dst->nd + g];
    if (!fast) {
      if ((e = fadd_liq(m, c, d, coll, debt, fee, pt->res, &pt->collateral_seized_base, &pt->debt_repaid_base,
                        &pt->protocol_fee_base)))
        return e;
      continue;
    }
    struct risk_liq_totals *ct = &pt->res[c], *dt = &pt->res[d];
    if (!acc256(&ct->collateral_seized, coll) || !acc256(&ct->collateral_seized_base, cb) ||
        !acc256(&ct->protocol_fee, fee) || !acc256(&ct->protocol_fee_base, fb) || !acc256(&dt->debt_repaid, debt) ||
        !acc256(&dt->debt_repaid_base, db) || !acc256(&pt->collateral_seized_base, cb) ||
        !acc256(&pt->debt_repaid_base, db) || !acc256(&pt->protocol_fee_base, fb))
      return RISK_OVERFLOW;
  }
  return RISK_OK;
}

/* One account's contribution to every point of the curves of dst through the fast path, at the
 * markets ms of one of them: *taken false (and nothing added) when the account must go through
 * the engine instead. Returns RISK_OK or an engine error. */
static risk_err lar_account_fast(const struct risk_market *ms, const uint32_t *ord, size_t n_drops, struct facct *a,
                                 const struct risk_position *p, size_t n, struct risk_account *a_scratch,
                                 const struct lar_dest *dst, bool *taken) {
  struct fev ev[RISK_LAR_MAX_DROPS];
  bool have[RISK_LAR_MAX_DROPS];
  *taken = false;
  memset(have, 0, n_drops * sizeof *have);
  size_t last = n_drops - 1;
  if (!feval(&ms[ord[0]], a, &ev[0]) || !feval(&ms[ord[last]], a, &ev[last])) return RISK_OK;
  have[0] = have[last] = true;
  if (ev[last].below_one && !ev[0].below_one) {
    /* Crossing as the drop grows, as most accounts do: every point below HF 1 is evaluated
     * anyway, so walk down from the largest drop until the bound proves the rest safe. */
    size_t q = last;
    while (q > 1 && (ev[q].below_one || !fsafe_between(&ev[0], &ev[q]))) {
      q--;
      if (!feval(&ms[ord[q]], a, &ev[q])) return RISK_OK;
      have[q] = true;
    }
  } else if (!ffill(ms, ord, a, ev, have, 0, last)) {
    return RISK_OK;
  }
  *taken = true;
  risk_err e;
  for (size_t q = 0; q < n_drops; q++) {
    if (!have[q] || !ev[q].below_one) continue;
    const struct risk_market *m = &ms[ord[q]];
    size_t g = ord[q];
    for (size_t k = 0; k < dst->n; k++) {
      struct risk_lar_point *pt = &dst->out[dst->members[k] * dst->nd + g];
      pt->accounts++;
      if (!acc256(&pt->debt_at_risk_base, ev[q].d)) return RISK_OVERFLOW;
    }
    if (ev[q].ic < 0 || ev[q].id < 0) continue;
    struct fliq_out l;
    if (fliq(m, a, &ev[q], &l)) {
      if (l.liquidatable &&
          (e = fadd_liq_dest(m, a->p[ev[q].ic].reserve, a->p[ev[q].id].reserve, l.coll, l.debt, l.fee, dst, g)))
        return e;
      continue;
    }
    struct risk_liq_pick k;
    if ((e = risk_liq_pick_compute(m, p, n, a->emode, a_scratch, &k))) return e;
    for (size_t j = 0; k.liquidatable && j < dst->n; j++) {
      struct risk_lar_point *pt = &dst->out[dst->members[j] * dst->nd + g];
      if ((e = add_liq(m, &k, pt->res, &pt->collateral_seized_base, &pt->debt_repaid_base, &pt->protocol_fee_base)))
        return e;
    }
  }
  return RISK_OK;
}

/* One account whose prices move, through the engine: every point, except those that the health
 * factor's monotonicity proves safe when no shocked asset is borrowed. */
static risk_err lar_account_engine(const struct risk_market *ms, const uint32_t *ord, size_t n_drops,
                                   const struct risk_position *p, size_t n, uint32_t emode, bool monotone,
                                   struct risk_account *a_scratch, struct risk_lar_point *out) {
  risk_err e;
  struct risk_account_data d;
  size_t from = 0;
  if (monotone) {
    /* Only collateral falls with the drop, so the health factor falls with it, up to the
     * rounding of the average liquidation threshold: with C the collateral at the smallest drop
     * and D the debt (base), HF(d) >= HF(d') - ((C + 1e4) * 1e14 / D + 2) for every d <= d'
     * (percentMul(C, floor(X / C)) loses less than C / 1e4). A point whose HF clears 1 by that
     * margin proves every smaller drop safe, so a binary search skips them. */
    if ((e = lar_point(&ms[ord[0]], p, n, emode, a_scratch, &out[ord[0]], &d))) return e;
    from = 1;
    if (u256_is_zero(d.total_debt_base)) return RISK_OK;
    u256 margin, num, limit;
    if (u256_add(&num, d.total_collateral_base, u256_from_u64(BPS)) ||
        u256_mul(&num, num, u256_from_u64(100000000000000ull)) ||
        u256_muldiv_up(&margin, num, U256_ONE, d.total_debt_base) ||
        u256_add(&limit, margin, u256_from_u64(HF_ONE + 2)))
      limit = U256_MAX; /* no shortcut */
    if (u256_ge(d.health_factor, limit)) {
      size_t lo = 1, hi = n_drops;
      struct risk_account_data dl;
      /* most accounts survive even the largest drop: one evaluation settles them */
      if ((e = risk_account_evaluate_positions(&ms[ord[n_drops - 1]], p, n, emode, &dl))) return e;
      if (u256_ge(dl.health_factor, limit)) lo = hi = n_drops;
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct risk_account_data dm;
        if ((e = risk_account_evaluate_positions(&ms[ord[mid]], p, n, emode, &dm))) return e;
        if (u256_ge(dm.health_factor, limit))
          lo = mid + 1;
        else
          hi = mid;
      }
      from = lo;
    }
  }
  for (size_t q = from; q < n_drops; q++)
    if ((e = lar_point(&ms[ord[q]], p, n, emode, a_scratch, &out[ord[q]], &d))) return e;
  return RISK_OK;
}

risk_err risk_lar_markets(const struct risk_market *base, const bool (*shocked)[RISK_MAX_RESERVES], size_t n_curves,
                          const uint32_t *drop_bps, size_t n_drops, struct risk_market *ms) {
  if (n_drops > RISK_LAR_MAX_DROPS || n_curves > RISK_LAR_MAX_CURVES) return RISK_INVALID;
  for (size_t g = 0; g < n_drops; g++)
    if (drop_bps[g] > BPS) return RISK_INVALID;
  for (size_t c = 0; c < n_curves; c++)
    for (size_t g = 0; g < n_drops; g++) {
      struct risk_market *m = &ms[c * n_drops + g];
      memcpy(m, base, sizeof *base);
      for (uint32_t r = 0; r < base->n_reserves; r++)
        if (shocked[c][r]) m->reserves[r].price = risk_price_after_drop(base->reserves[r].price, drop_bps[g]);
    }
  return RISK_OK;
}

risk_err risk_lar_curve(const struct risk_market *base, const struct risk_book *b,
                        const bool shocked[RISK_MAX_RESERVES], const uint32_t *drop_bps, size_t n_drops,
                        struct risk_market *m_scratch, struct risk_account *a_scratch, struct risk_lar_point *out) {
  const bool(*one)[RISK_MAX_RESERVES] = (const bool(*)[RISK_MAX_RESERVES])shocked;
  risk_err e = risk_lar_markets(base, one, 1, drop_bps, n_drops, m_scratch);
  if (e) return e;
  return risk_lar_curves(base, m_scratch, b, one, 1, drop_bps, n_drops, a_scratch, out);
}

typedef unsigned __int128 posmask; /* a set of an account's positions (at most 128) */

risk_err risk_lar_curves(const struct risk_market *base, const struct risk_market *ms, const struct risk_book *b,
                         const bool (*shocked)[RISK_MAX_RESERVES], size_t n_curves, const uint32_t *drop_bps,
                         size_t n_drops, struct risk_account *a_scratch, struct risk_lar_point *out) {
  if (n_drops == 0 || n_curves == 0) return RISK_OK;
  if (n_drops > RISK_LAR_MAX_DROPS || n_curves > RISK_LAR_MAX_CURVES) return RISK_INVALID;
  const size_t nd = n_drops;
  uint32_t ord[RISK_LAR_MAX_DROPS]; /* points by drop, ascending */
  for (size_t g = 0; g < nd; g++) {
    if (drop_bps[g] > BPS) return RISK_INVALID;
    size_t at = g;
    while (at > 0 && drop_bps[ord[at - 1]] > drop_bps[g]) {
      ord[at] = ord[at - 1];
      at--;
    }
    ord[at] = (uint32_t)g;
  }
  for (size_t c = 0; c < n_curves; c++)
    for (size_t g = 0; g < nd; g++) {
      memset(&out[c * nd + g], 0, sizeof out[0]);
      out[c * nd + g].drop_bps = drop_bps[g];
    }
  uint64_t cmask[RISK_MAX_RESERVES]; /* the curves that shock each reserve */
  for (size_t r = 0; r < RISK_MAX_RESERVES; r++) {
    cmask[r] = 0;
    for (size_t c = 0; c < n_curves; c++)
      if (shocked[c][r]) cmask[r] |= 1ull << c;
  }
  risk_err e;
  struct risk_liq_pick k;
  static_assert(sizeof(struct facct) <= 32768, "the prepared account lives on the stack");
  static_assert(RISK_LAR_MAX_CURVES <= 64 && RISK_ACCOUNT_MAX_POSITIONS <= 128, "curve and position masks");
  struct facct fa;
  posmask key[RISK_LAR_MAX_CURVES]; /* per curve, the account's positions it shocks */
  uint8_t members[RISK_LAR_MAX_CURVES], lead[RISK_LAR_MAX_CURVES];
  for (size_t i = 0; i < b->n_accounts; i++) {
    const struct risk_position *p = b->pos + b->first[i];
    size_t n = b->first[i + 1] - b->first[i];
    if (n > RISK_ACCOUNT_MAX_POSITIONS) return RISK_INVALID;
    bool borrows = false;
    posmask borrowed = 0;
    uint64_t touched = 0;
    memset(key, 0, n_curves * sizeof *key);
    for (size_t j = 0; j < n; j++) {
      if (!p[j].collateral && !p[j].borrowing) continue; /* the engine skips it: no price of it counts */
      if (p[j].borrowing) borrows = true, borrowed |= (posmask)1 << j;
      uint64_t cm = p[j].reserve < RISK_MAX_RESERVES ? cmask[p[j].reserve] : 0;
      touched |= cm;
      for (; cm; cm &= cm - 1)
        key[__builtin_ctzll(cm)] |= (posmask)1 << j;
    }
    if (!borrows) continue; /* no debt: never liquidatable */
    const uint32_t emode = b->emode[i];
    bool prepped = fprep(base, p, n, emode, &fa);
    uint64_t all = n_curves == 64 ? ~0ull : (1ull << n_curves) - 1;
    if (touched != all) {
      /* curves none of its prices move in: one answer at base prices for all their points,
       * most often "safe" */
      struct fev ev;
      bool safe = prepped && feval(base, &fa, &ev) && !ev.below_one;
      if (!safe) {
        if ((e = risk_liq_pick_compute(base, p, n, emode, a_scratch, &k))) return e;
        for (size_t c = 0; k.below_one && c < n_curves; c++) {
          if (touched >> c & 1) continue;
          for (size_t g = 0; g < nd; g++) {
            struct risk_lar_point *pt = &out[c * nd + g];
            pt->accounts++;
            if ((e = u256_add(&pt->debt_at_risk_base, pt->debt_at_risk_base, k.data.total_debt_base)) ||
                (k.liquidatable && (e = add_liq(&ms[c * nd + g], &k, pt->res, &pt->collateral_seized_base,
                                                &pt->debt_repaid_base, &pt->protocol_fee_base))))
              return e;
          }
        }
      }
    }
    /* the curves that move its prices, grouped by the positions they move: each group's answer
     * is computed once (at its first curve's markets) and added to each of its curves */
    size_t n_lead = 0;
    for (size_t c = 0; c < n_curves; c++) {
      if (!(touched >> c & 1)) continue;
      size_t l = 0;
      while (l < n_lead && key[lead[l]] != key[c])
        l++;
      if (l == n_lead) lead[n_lead++] = (uint8_t)c;
    }
    for (size_t l = 0; l < n_lead; l++) {
      size_t nm = 0;
      for (size_t c = lead[l]; c < n_curves; c++)
        if ((touched >> c & 1) && key[c] == key[lead[l]]) members[nm++] = (uint8_t)c;
      struct lar_dest dst = {out, nd, members, nm};
      bool taken = false;
      if (prepped && (e = lar_account_fast(&ms[(size_t)lead[l] * nd], ord, nd, &fa, p, n, a_scratch, &dst, &taken)))
        return e;
      if (taken) continue;
      /* the engine, curve by curve; no shocked debt: the health factor only falls with the drop */
      bool monotone = (key[lead[l]] & borrowed) == 0;
      for (size_t j = 0; j < nm; j++)
        if ((e = lar_account_engine(&ms[(size_t)members[j] * nd], ord, nd, p, n, emode, monotone, a_scratch,
                                    &out[(size_t)members[j] * nd])))
          return e;
    }
  }
  return RISK_OK;
}

static risk_err add_to(u256 *a, u256 b) { return u256_add(a, *a, b); }

risk_err risk_lar_point_add(struct risk_lar_point *a, const struct risk_lar_point *b) {
  risk_err e;
  a->accounts += b->accounts;
  if ((e = add_to(&a->debt_at_risk_base, b->debt_at_risk_base)) ||
      (e = add_to(&a->collateral_seized_base, b->collateral_seized_base)) ||
      (e = add_to(&a->debt_repaid_base, b->debt_repaid_base)) ||
      (e = add_to(&a->protocol_fee_base, b->protocol_fee_base)))
    return e;
  for (size_t r = 0; r < RISK_MAX_RESERVES; r++) {
    struct risk_liq_totals *x = &a->res[r];
    const struct risk_liq_totals *y = &b->res[r];
    if ((e = add_to(&x->collateral_seized, y->collateral_seized)) ||
        (e = add_to(&x->collateral_seized_base, y->collateral_seized_base)) ||
        (e = add_to(&x->debt_repaid, y->debt_repaid)) || (e = add_to(&x->debt_repaid_base, y->debt_repaid_base)) ||
        (e = add_to(&x->protocol_fee, y->protocol_fee)) || (e = add_to(&x->protocol_fee_base, y->protocol_fee_base)))
      return e;
  }
  return RISK_OK;
}

uint32_t risk_slippage_impact_bps(const struct risk_slippage *s, u256 q_base) {
  if (!s || !s->set || u256_is_zero(q_base)) return 0;
  /* q as a double: the model is an estimate, and base values far beyond 2^53 only lose digits */
  double q = ldexp((double)q_base.w[3], 192) + ldexp((double)q_base.w[2], 128) + ldexp((double)q_base.w[1], 64) +
             (double)q_base.w[0];
  double imp = s->spread_bps / 2.0 / BPS;
  if (s->depth_base > 0)
    imp += s->y * s->sigma_day * sqrt(q / s->depth_base);
  else if (s->y * s->sigma_day > 0)
    imp = 1.0; /* no depth at all: nothing is recovered */
  double bps = ceil(imp * BPS - 1e-9);
  if (!(bps > 0)) return 0;
  return bps >= BPS ? BPS : (uint32_t)bps;
}

/* Applies liquidation k to the account's positions p[0..n) as the chain leaves them: the
 * liquidator's collateral burned and the fee moved to the treasury (each rayDiv of the index),
 * the debt burned; the bits cleared when the balance is cleared. */
static risk_err apply_liq(const struct risk_market *m, struct risk_position *p, size_t n,
                          const struct risk_liq_pick *k) {
  risk_err e;
  for (size_t i = 0; i < n; i++) {
    struct risk_position *q = &p[i];
    const struct risk_acct_reserve *r = &m->reserves[q->reserve];
    if (q->reserve == k->collateral) {
      u256 burned, fee;
      if ((e = risk_ray_div(&burned, k->liq.to_liquidator, r->liquidity_index)) ||
          (e = risk_ray_div(&fee, k->liq.protocol_fee, r->liquidity_index)))
        return e;
      u256 take = u256_add_wrap(burned, fee);
      q->scaled_a = u256_gt(take, q->scaled_a) ? U256_ZERO : u256_sub_wrap(q->scaled_a, take);
      if (k->liq.clears_collateral || u256_is_zero(q->scaled_a)) q->collateral = false;
    }
    if (q->reserve == k->debt) {
      u256 burned;
      if ((e = risk_ray_div(&burned, k->liq.debt_to_cover, r->variable_borrow_index))) return e;
      q->scaled_debt = u256_gt(burned, q->scaled_debt) ? U256_ZERO : u256_sub_wrap(q->scaled_debt, burned);
      if (k->liq.clears_borrowing || u256_is_zero(q->scaled_debt)) {
        q->scaled_debt = U256_ZERO;
        q->borrowing = false;
      }
    }
  }
  return RISK_OK;
}

/* Bad debt of one account at m: max(0, debt - sum(collateral * (1 - impact))), attributed to its
 * debt reserves pro rata by value (the remainder of the floors to the largest debt). */
static risk_err account_bad_debt(const struct risk_market *m, const struct risk_position *p, size_t n,
                                 struct risk_stress_result *out, bool *insolvent) {
  u256 debt = U256_ZERO, rec = U256_ZERO, v, bal;
  risk_err e;
  *insolvent = false;
  for (size_t i = 0; i < n; i++) {
    const struct risk_acct_reserve *r = &m->reserves[p[i].reserve];
    if (!r->listed) continue;
    if (p[i].borrowing && !u256_is_zero(p[i].scaled_debt)) {
      if ((e = risk_ray_mul(&bal, p[i].scaled_debt, r->variable_borrow_index)) || (e = base_value(r, bal, &v)) ||
          (e = u256_add(&debt, debt, v)))
        return e;
    }
    if (p[i].collateral && r->liquidation_threshold != 0 && !u256_is_zero(p[i].scaled_a)) {
      uint32_t imp = out->res[p[i].reserve].slippage_bps;
      if ((e = risk_ray_mul(&bal, p[i].scaled_a, r->liquidity_index)) || (e = base_value(r, bal, &v)) ||
          (e = u256_muldiv(&v, v, u256_from_u64(BPS - imp), u256_from_u64(BPS))) || (e = u256_add(&rec, rec, v)))
        return e;
    }
  }
  if (!u256_gt(debt, rec)) return RISK_OK;
  u256 bad = u256_sub_wrap(debt, rec), given = U256_ZERO, best = U256_ZERO;
  int largest = -1;
  *insolvent = true;
  if ((e = u256_add(&out->bad_debt_base, out->bad_debt_base, bad))) return e;
  for (size_t i = 0; i < n; i++) {
    const struct risk_acct_reserve *r = &m->reserves[p[i].reserve];
    if (!r->listed || !p[i].borrowing || u256_is_zero(p[i].scaled_debt)) continue;
    u256 share;
    if ((e = risk_ray_mul(&bal, p[i].scaled_debt, r->variable_borrow_index)) || (e = base_value(r, bal, &v)) ||
        (e = u256_muldiv(&share, bad, v, debt)))
      return e;
    struct risk_stress_reserve *sr = &out->res[p[i].reserve];
    sr->bad_debt_base = u256_add_wrap(sr->bad_debt_base, share);
    given = u256_add_wrap(given, share);
    if (largest < 0 || u256_gt(v, best)) best = v, largest = p[i].reserve;
  }
  if (largest >= 0)
    out->res[largest].bad_debt_base = u256_add_wrap(out->res[largest].bad_debt_base, u256_sub_wrap(bad, given));
  return RISK_OK;
}

/* risk_liq_pick_compute through the fast path when it can take the account (k->data is then
 * not filled: a stress round needs only the liquidation). */
static risk_err stress_pick(const struct risk_market *m, const struct risk_position *p, size_t n, uint32_t emode,
                            struct facct *fa, struct risk_account *a_scratch, struct risk_liq_pick *k) {
  struct fev ev;
  struct fliq_out l;
  if (fprep(m, p, n, emode, fa) && feval(m, fa, &ev)) {
    k->liquidatable = false;
    k->below_one = ev.below_one;
    if (!ev.below_one || ev.ic < 0 || ev.id < 0) return RISK_OK;
    if (fliq(m, fa, &ev, &l)) {
      if (!l.liquidatable) return RISK_OK;
      memset(&k->liq, 0, sizeof k->liq);
      k->collateral = fa->p[ev.ic].reserve;
      k->debt = fa->p[ev.id].reserve;
      k->liq.collateral_amount = from128(l.coll);
      k->liq.debt_to_cover = from128(l.debt);
      k->liq.protocol_fee = from128(l.fee);
      k->liq.to_liquidator = from128(l.to_liquidator);
      k->liq.clears_collateral = l.clears_collateral;
      k->liq.clears_borrowing = l.clears_borrowing;
      k->liquidatable = true;
      return RISK_OK;
    }
  }
  return risk_liq_pick_compute(m, p, n, emode, a_scratch, k);
}

risk_err risk_stress_run(const struct risk_market *m, const struct risk_book *b, struct risk_position *pos,
                         const struct risk_slippage slip[RISK_MAX_RESERVES], uint32_t cascade_rounds, uint8_t *flags,
                         struct risk_market *m_scratch, struct risk_account *a_scratch,
                         struct risk_stress_result *out) {
  memset(out, 0, sizeof *out);
  if (cascade_rounds >= RISK_STRESS_MAX_ROUNDS) return RISK_INVALID;
  memcpy(m_scratch, m, sizeof *m);
  memset(flags, 0, b->n_accounts * sizeof *flags);
  risk_err e;
  struct risk_liq_pick k;
  struct facct fa;
  bool moved[RISK_MAX_RESERVES]; /* prices the end of the last round changed */
  memset(moved, 0, sizeof moved);
  for (uint32_t round = 0; round <= cascade_rounds; round++) {
    struct risk_stress_round *rd = &out->rounds[out->n_rounds++];
    u256 q[RISK_MAX_RESERVES]; /* seized base value per collateral this round */
    memset(q, 0, sizeof q);
    u256 fee_base = U256_ZERO;
    for (size_t i = 0; i < b->n_accounts; i++) {
      struct risk_position *p = pos + b->first[i];
      size_t n = b->first[i + 1] - b->first[i];
      if (round > 0 && !(flags[i] & RISK_STRESS_LIQUIDATED)) {
        /* not liquidatable last round, positions untouched since: only a moved price can change that */
        bool exposed = false;
        for (size_t j = 0; j < n && !exposed; j++)
          exposed = p[j].reserve < RISK_MAX_RESERVES && moved[p[j].reserve];
        if (!exposed) continue;
      }
      if ((e = stress_pick(m_scratch, p, n, b->emode[i], &fa, a_scratch, &k))) return e;
      if (k.below_one) flags[i] |= RISK_STRESS_BELOW_ONE;
      if (!k.liquidatable) continue;
      u256 cb = U256_ZERO;
      if ((e = base_value(&m_scratch->reserves[k.collateral], k.liq.collateral_amount, &cb))) return e;
      {
        struct risk_stress_reserve *c = &out->res[k.collateral], *d = &out->res[k.debt];
        const struct risk_acct_reserve *dr = &m_scratch->reserves[k.debt], *cr = &m_scratch->reserves[k.collateral];
        u256 db, fb;
        if ((e = base_value(dr, k.liq.debt_to_cover, &db)) || (e = base_value(cr, k.liq.protocol_fee, &fb))) return e;
        if ((e = u256_add(&c->t.collateral_seized, c->t.collateral_seized, k.liq.collateral_amount)) ||
            (e = u256_add(&c->t.collateral_seized_base, c->t.collateral_seized_base, cb)) ||
            (e = u256_add(&c->t.protocol_fee, c->t.protocol_fee, k.liq.protocol_fee)) ||
            (e = u256_add(&c->t.protocol_fee_base, c->t.protocol_fee_base, fb)) ||
            (e = u256_add(&d->t.debt_repaid, d->t.debt_repaid, k.liq.debt_to_cover)) ||
            (e = u256_add(&d->t.debt_repaid_base, d->t.debt_repaid_base, db)) ||
            (e = u256_add(&rd->collateral_seized_base, rd->collateral_seized_base, cb)) ||
            (e = u256_add(&rd->debt_repaid_base, rd->debt_repaid_base, db)) ||
            (e = u256_add(&q[k.collateral], q[k.collateral], cb)) || (e = u256_add(&fee_base, fee_base, fb)))
          return e;
      }
      rd->accounts++;
      if (!(flags[i] & RISK_STRESS_LIQUIDATED)) {
        flags[i] |= RISK_STRESS_LIQUIDATED;
        out->accounts_liquidated++;
      }
      if ((e = apply_liq(m_scratch, p, n, &k))) return e;
    }
    if ((e = u256_add(&out->collateral_seized_base, out->collateral_seized_base, rd->collateral_seized_base)) ||
        (e = u256_add(&out->debt_repaid_base, out->debt_repaid_base, rd->debt_repaid_base)))
      return e;
    memset(moved, 0, sizeof moved);
    for (uint32_t r = 0; r < m_scratch->n_reserves; r++) {
      if (u256_is_zero(q[r])) continue;
      uint32_t imp = risk_slippage_impact_bps(&slip[r], q[r]);
      u256 rec;
      if ((e = u256_muldiv(&rec, q[r], u256_from_u64(BPS - imp), u256_from_u64(BPS))) ||
          (e = u256_add(&out->res[r].recovery_base, out->res[r].recovery_base, rec)) ||
          (e = u256_add(&out->recovery_base, out->recovery_base, rec)))
        return e;
      out->res[r].slippage_bps = imp;
      /* the selling moves the market: the next round sees the price lowered by the impact */
      if (round < cascade_rounds) {
        u256 after = risk_price_after_drop(m_scratch->reserves[r].price, imp);
        moved[r] = !u256_eq(after, m_scratch->reserves[r].price);
        m_scratch->reserves[r].price = after;
      }
    }
    if (rd->accounts == 0) break;
  }
  for (uint32_t r = 0; r < m_scratch->n_reserves; r++)
    out->res[r].price_after = m_scratch->reserves[r].price;
  for (size_t i = 0; i < b->n_accounts; i++) {
    if (!flags[i]) continue; /* never below HF 1: its collateral covers its debt */
    bool insolvent;
    if ((e = account_bad_debt(m_scratch, pos + b->first[i], b->first[i + 1] - b->first[i], out, &insolvent))) return e;
    if (insolvent) out->accounts_insolvent++;
  }
  return RISK_OK;
}
