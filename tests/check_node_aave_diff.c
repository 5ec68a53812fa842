/* ctest-label: node */
/* Differential test against npm @aave/math-utils 1.38.0. tests/diff/aave_math_gen.mjs
 * generates >= 10,000 random reserves and accounts (fixed seed) and the library's raw
 * results; here each case goes through the engine (risk/reserve.h for the indexes,
 * risk/account.h for the account, risk/savings.h for the APY) and is compared:
 *   - exactly where the library follows the chain (APY, no-accrual cases, isolation flag);
 *   - where it departs (docs/aave-math-utils-departures.md), the library's own formula is
 *     re-computed here and must match it exactly (so the document describes what the
 *     library does), and the engine must lie within the bound the document derives.
 * Missing node or node_modules is a FAILURE, not a skip. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <openssl/bn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "risk/account.h"
#include "risk/reserve.h"
#include "risk/savings.h"
#include "risk/wadray.h"

#define YEAR 31536000ull

static BN_CTX *ctx;

/* ---------------------------------------------------------------- BIGNUM helpers */

static BIGNUM *bn_str(const char *s) {
  BIGNUM *b = NULL;
  ck_assert_msg(BN_dec2bn(&b, s) > 0, "bad integer %s", s);
  return b;
}
static BIGNUM *bn_u(u256 v) {
  char buf[U256_DEC_MAX];
  u256_to_dec(v, buf);
  return bn_str(buf);
}
static BIGNUM *bn_w(uint64_t w) {
  BIGNUM *b = BN_new();
  BN_set_word(b, w);
  return b;
}
static BIGNUM *bn_pow10(int n) {
  BIGNUM *b = bn_w(1);
  for (int i = 0; i < n; i++)
    BN_mul_word(b, 10);
  return b;
}
/* fl(a / d) */
static BIGNUM *bn_div(const BIGNUM *a, const BIGNUM *d) {
  BIGNUM *q = BN_new();
  BN_div(q, NULL, a, d, ctx);
  return q;
}
/* Half-up a*b/R with R a power of ten: (a*b + R/2) / R. */
static BIGNUM *bn_mul_half(const BIGNUM *a, const BIGNUM *b, int pow) {
  BIGNUM *t = BN_new(), *r = bn_pow10(pow), *h = BN_new();
  BN_mul(t, a, b, ctx);
  BN_rshift1(h, r);
  BN_add(t, t, h);
  BIGNUM *q = bn_div(t, r);
  BN_free(t), BN_free(r), BN_free(h);
  return q;
}
static BIGNUM *ray_mul(const BIGNUM *a, const BIGNUM *b) { return bn_mul_half(a, b, 27); }
/* (a*R + b/2) / b */
static BIGNUM *ray_div(const BIGNUM *a, const BIGNUM *b) {
  BIGNUM *t = bn_pow10(27), *h = BN_new();
  BN_mul(t, t, a, ctx);
  BN_rshift1(h, b);
  BN_add(t, t, h);
  BIGNUM *q = bn_div(t, b);
  BN_free(t), BN_free(h);
  return q;
}
static bool bn_eq_str(const BIGNUM *a, const char *s) {
  BIGNUM *b = bn_str(s);
  bool eq = BN_cmp(a, b) == 0;
  BN_free(b);
  return eq;
}
/* |a - b| */
static BIGNUM *bn_absdiff(const BIGNUM *a, const BIGNUM *b) {
  BIGNUM *d = BN_new();
  BN_sub(d, a, b);
  BN_set_negative(d, 0);
  return d;
}
/* ceil(a / d) */
static BIGNUM *bn_ceil_div(const BIGNUM *a, const BIGNUM *d) {
  BIGNUM *q = BN_new(), *r = BN_new();
  BN_div(q, r, a, d, ctx);
  if (!BN_is_zero(r)) BN_add_word(q, 1);
  BN_free(r);
  return q;
}

/* A decimal string "123.4500" as num / 10^scale (num may be negative). */
struct dec {
  BIGNUM *num;
  int scale;
};
static struct dec dec_parse(const char *s) {
  char buf[256];
  size_t j = 0;
  int scale = -1;
  for (const char *p = s; *p && j < sizeof buf - 1; p++) {
    if (*p == '.') {
      scale = 0;
      continue;
    }
    buf[j++] = *p;
    if (scale >= 0) scale++;
  }
  buf[j] = 0;
  struct dec d = {bn_str(buf), scale < 0 ? 0 : scale};
  return d;
}
/* The decimal as a long double (for the ratio fields only). */
static long double dec_ld(const char *s) { return strtold(s, NULL); }

/* ---------------------------------------------------------------- case runner */

struct stats {
  long cases, positions, reserves, ratio_skipped;
  long ni_departures, nd_departures, bal_departures, total_floor_departures, hf_cases, isolated;
  long max_ltv_bps_x1000;             /* largest |lib - ours| in 1/1000 bps seen */
  unsigned long max_dlin;             /* largest |linear interest difference| in ray units */
  long double max_rel_nd, max_rel_ni; /* largest relative index differences */
};

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  ck_assert_msg(json_is_string(v), "field %s", k);
  return json_string_value(v);
}
static long long jint(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  ck_assert_msg(json_is_integer(v), "field %s", k);
  return json_integer_value(v);
}
static u256 ju(json_t *o, const char *k) {
  const char *s = jstr(o, k);
  u256 r;
  ck_assert_int_eq(u256_from_dec(&r, s, strlen(s)), RISK_OK);
  return r;
}

static struct risk_market M;
static struct risk_account A;

/* The library's linear interest: RAY + rayMul(rate, rayDiv(dt*1e9, YEAR*1e9)). */
static BIGNUM *lib_linear(const BIGNUM *rate, uint64_t dt) {
  BIGNUM *a = bn_w(dt), *y = bn_w(YEAR), *g = bn_pow10(9);
  BN_mul(a, a, g, ctx);
  BN_mul(y, y, g, ctx);
  BIGNUM *t = ray_div(a, y), *r = ray_mul(rate, t), *R = bn_pow10(27);
  BN_add(r, r, R);
  BN_free(a), BN_free(y), BN_free(g), BN_free(t), BN_free(R);
  return r;
}
/* The library's binomial compounding with the per-second rate floored first. */
static BIGNUM *lib_compound(const BIGNUM *rate, uint64_t e) {
  BIGNUM *R = bn_pow10(27);
  if (e == 0) return R;
  BIGNUM *yr = bn_w(YEAR), *q = bn_div(rate, yr);
  BIGNUM *b2 = ray_mul(q, q), *b3 = ray_mul(b2, q);
  BIGNUM *r = BN_dup(R), *t = BN_new();
  BN_copy(t, q);
  BN_mul_word(t, e);
  BN_add(r, r, t);
  BN_copy(t, b2);
  BN_mul_word(t, e);
  BN_mul_word(t, e - 1);
  BN_div_word(t, 2);
  BN_add(r, r, t);
  BN_copy(t, b3);
  BN_mul_word(t, e);
  BN_mul_word(t, e - 1);
  BN_mul_word(t, e > 2 ? e - 2 : 0);
  BN_div_word(t, 6);
  BN_add(r, r, t);
  BN_free(R), BN_free(yr), BN_free(q), BN_free(b2), BN_free(b3), BN_free(t);
  return r;
}
/* The library's balance: rayToWad(rayMul(wadToRay(scaled), index)). */
static BIGNUM *lib_balance(const BIGNUM *scaled, const BIGNUM *index) {
  BIGNUM *s = BN_dup(scaled), *g = bn_pow10(9), *h = bn_w(500000000);
  BN_mul(s, s, g, ctx);
  BIGNUM *t = ray_mul(s, index);
  BN_add(t, t, h);
  BIGNUM *r = bn_div(t, g);
  BN_free(s), BN_free(g), BN_free(h), BN_free(t);
  return r;
}

static void run_case(json_t *c, struct stats *st) {
  long long id = jint(c, "id");
  uint64_t now = (uint64_t)jint(c, "now");
  json_t *res = json_object_get(c, "reserves"), *lib = json_object_get(c, "lib");
  json_t *lres = json_object_get(lib, "reserves");
  json_t *em = json_object_get(c, "emodes");
  size_t nres = json_array_size(res);
  BIGNUM *R = bn_pow10(27);

  memset(&M, 0, sizeof M);
  M.n_reserves = (uint32_t)nres;
  for (int k = 1; k <= 3; k++) {
    char key[4];
    snprintf(key, sizeof key, "%d", k);
    json_t *e = json_object_get(em, key);
    M.emode[k] =
        (struct risk_emode_category){(uint32_t)jint(e, "ltv"), (uint32_t)jint(e, "lt"), (uint32_t)jint(e, "bonus")};
  }
  BIGNUM *dni[RISK_MAX_RESERVES], *dnd[RISK_MAX_RESERVES], *lni[RISK_MAX_RESERVES], *lnd[RISK_MAX_RESERVES];
  for (size_t i = 0; i < nres; i++) {
    json_t *r = json_array_get(res, i), *lr = json_array_get(lres, i);
    struct risk_reserve_state s;
    memset(&s, 0, sizeof s);
    s.liquidity_index = ju(r, "liquidityIndex");
    s.variable_borrow_index = ju(r, "variableBorrowIndex");
    s.current_liquidity_rate = ju(r, "liquidityRate");
    s.current_variable_borrow_rate = ju(r, "variableBorrowRate");
    s.last_update_timestamp = (uint64_t)jint(r, "lastUpdate");
    uint64_t dt = now - s.last_update_timestamp;
    u256 ni, nd, lin, comp;
    ck_assert_int_eq(risk_reserve_normalized_income(&ni, &s, now), RISK_OK);
    ck_assert_int_eq(risk_reserve_normalized_debt(&nd, &s, now), RISK_OK);
    ck_assert_int_eq(risk_linear_interest(&lin, s.current_liquidity_rate, s.last_update_timestamp, now), RISK_OK);
    ck_assert_int_eq(risk_compounded_interest(&comp, s.current_variable_borrow_rate, s.last_update_timestamp, now),
                     RISK_OK);

    /* (1) the library's formulas, re-computed, equal the library's outputs */
    BIGNUM *lrate = bn_u(s.current_liquidity_rate), *vrate = bn_u(s.current_variable_borrow_rate);
    BIGNUM *lidx = bn_u(s.liquidity_index), *vidx = bn_u(s.variable_borrow_index);
    BIGNUM *m_lin = lib_linear(lrate, dt), *m_comp = lib_compound(vrate, dt);
    BIGNUM *m_ni = BN_is_zero(lrate) ? BN_dup(lidx) : ray_mul(m_lin, lidx), *m_nd = ray_mul(m_comp, vidx);
    ck_assert_msg(bn_eq_str(m_lin, jstr(lr, "lin")), "case %lld res %zu: linear model", id, i);
    ck_assert_msg(bn_eq_str(m_comp, jstr(lr, "comp")), "case %lld res %zu: compounded model", id, i);
    ck_assert_msg(bn_eq_str(m_ni, jstr(lr, "ni")), "case %lld res %zu: normalized income model", id, i);
    ck_assert_msg(bn_eq_str(m_nd, jstr(lr, "nd")), "case %lld res %zu: normalized debt model", id, i);

    /* (2) chain vs library within the documented bounds */
    BIGNUM *c_lin = bn_u(lin), *c_comp = bn_u(comp), *c_ni = bn_u(ni), *c_nd = bn_u(nd);
    /* linear: |d| <= ceil(rate / 2R) + 2 */
    BIGNUM *b = bn_ceil_div(lrate, R);
    BN_add_word(b, 2);
    BIGNUM *d = bn_absdiff(c_lin, m_lin);
    ck_assert_msg(BN_cmp(d, b) <= 0, "case %lld: linear interest off by more than its bound", id);
    if (BN_get_word(d) > st->max_dlin) st->max_dlin = BN_get_word(d);
    if (!BN_is_zero(lrate)) {
      /* income: |d| <= ceil(dLin * index / R) + 1 */
      BIGNUM *bi = BN_new();
      BN_mul(bi, b, lidx, ctx);
      BIGNUM *bb = bn_ceil_div(bi, R);
      BN_add_word(bb, 1);
      BIGNUM *di = bn_absdiff(c_ni, m_ni);
      ck_assert_msg(BN_cmp(di, bb) <= 0, "case %lld: normalized income off by more than its bound", id);
      if (!BN_is_zero(di)) st->ni_departures++;
      BN_free(bi), BN_free(bb), BN_free(di);
    } else {
      ck_assert_msg(BN_cmp(c_ni, m_ni) == 0, "case %lld: income with rate 0 must be the index", id);
    }
    /* compounded: |d| <= e + e(e-1) + e(e-1)(e-2)/3 + 2 (|b2|,|b3| differ by <= 2 for rate <= 1e28) */
    BIGNUM *bc = bn_w(dt), *t = bn_w(dt);
    BN_mul_word(t, dt ? dt - 1 : 0);
    BN_add(bc, bc, t);
    BN_mul_word(t, dt > 2 ? dt - 2 : 0);
    BN_div_word(t, 3);
    BN_add(bc, bc, t);
    BN_add_word(bc, 2);
    BIGNUM *dc = bn_absdiff(c_comp, m_comp);
    ck_assert_msg(BN_cmp(dc, bc) <= 0, "case %lld: compounded interest off by more than its bound", id);
    /* debt index: |d| <= ceil(dComp * index / R) + 1 */
    BIGNUM *bd = BN_new();
    BN_mul(bd, bc, vidx, ctx);
    BIGNUM *bdd = bn_ceil_div(bd, R);
    BN_add_word(bdd, 1);
    BIGNUM *ddn = bn_absdiff(c_nd, m_nd);
    ck_assert_msg(BN_cmp(ddn, bdd) <= 0, "case %lld: normalized debt off by more than its bound", id);
    if (!BN_is_zero(ddn)) {
      st->nd_departures++;
      char *a1 = BN_bn2dec(ddn), *a2 = BN_bn2dec(c_nd);
      long double rel = strtold(a1, NULL) / strtold(a2, NULL);
      if (rel > st->max_rel_nd) st->max_rel_nd = rel;
      OPENSSL_free(a1), OPENSSL_free(a2);
    }
    if (dt == 0) {
      ck_assert_msg(BN_cmp(c_ni, m_ni) == 0 && BN_cmp(c_nd, m_nd) == 0, "case %lld: no accrual must agree", id);
    }

    /* (3) APY: same rpow, same floor of rate/YEAR; the library prints it with 20 decimals
     * (BigNumber toString(10), ROUND_HALF_UP): equal after the same rounding */
    for (int which = 0; which < 2; which++) {
      u256 apy;
      ck_assert_int_eq(risk_savings_get_apy(&apy, which ? s.current_variable_borrow_rate : s.current_liquidity_rate),
                       RISK_OK);
      struct dec la = dec_parse(jstr(lr, which ? "variableBorrowAPY" : "supplyAPY"));
      ck_assert_int_le(la.scale, 20);
      BIGNUM *lav = BN_dup(la.num), *p = bn_pow10(20 - la.scale), *ca = bn_u(apy), *e7 = bn_pow10(7);
      BN_mul(lav, lav, p, ctx);
      BN_add_word(ca, 5000000);
      BIGNUM *cr = bn_div(ca, e7);
      ck_assert_msg(BN_cmp(lav, cr) == 0, "case %lld res %zu: %s APY", id, i, which ? "borrow" : "supply");
      BN_free(la.num), BN_free(lav), BN_free(p), BN_free(ca), BN_free(e7), BN_free(cr);
    }

    dni[i] = c_ni, dnd[i] = c_nd, lni[i] = m_ni, lnd[i] = m_nd;
    BN_free(lrate), BN_free(vrate), BN_free(lidx), BN_free(vidx), BN_free(m_lin), BN_free(m_comp);
    BN_free(c_lin), BN_free(c_comp), BN_free(b), BN_free(d), BN_free(bc), BN_free(t), BN_free(dc);
    BN_free(bd), BN_free(bdd), BN_free(ddn);

    struct risk_acct_reserve *ar = &M.reserves[i];
    ar->listed = ar->active = ar->borrowing_enabled = true;
    ar->decimals = (uint32_t)jint(r, "decimals");
    ar->ltv = (uint32_t)jint(r, "ltv");
    ar->liquidation_threshold = (uint32_t)jint(r, "lt");
    ar->liquidation_bonus = (uint32_t)jint(r, "bonus");
    ar->emode_category = (uint32_t)jint(r, "emode");
    const char *dc_s = jstr(r, "debtCeiling");
    ar->debt_ceiling = strtoull(dc_s, NULL, 10);
    ar->isolation_mode_total_debt = ju(r, "isoDebt");
    ar->price = ju(r, "price");
    ar->liquidity_index = ni;
    ar->variable_borrow_index = nd;
    st->reserves++;
  }
  ck_assert_int_eq(risk_market_prepare(&M), RISK_OK);

  /* the account */
  json_t *user = json_object_get(c, "user"), *ps = json_object_get(user, "positions");
  json_t *lps = json_object_get(lib, "positions");
  memset(&A, 0, sizeof A);
  A.emode_category = (uint32_t)jint(user, "emode");
  size_t np = json_array_size(ps);
  ck_assert_uint_eq(np, json_array_size(lps));
  /* Per position: the library's value (exact rational num/unit) and the bound b_i on
   * |lib value - engine value| = ceil(|dBalance| * P / unit) + 1 (the engine floors). */
  BIGNUM *coll_l = BN_new(), *debt_l = BN_new(); /* sum bal_l * P * (LCM unit) ... kept per-unit below */
  long double C_l = 0, D_l = 0, LTVsum_l = 0, LTsum_l = 0, Bc = 0, Bd = 0, maxltv = 0, maxlt = 0;
  bool isolated_lib = false;
  for (size_t k = 0; k < np; k++) {
    json_t *p = json_array_get(ps, k), *lp = json_array_get(lps, k);
    struct risk_position *q = &A.pos[A.n_positions++];
    q->reserve = (uint16_t)jint(p, "reserve");
    q->scaled_a = ju(p, "scaledA");
    q->scaled_debt = ju(p, "scaledDebt");
    q->collateral = json_is_true(json_object_get(p, "coll"));
    q->borrowing = !u256_is_zero(q->scaled_debt);
    const struct risk_acct_reserve *ar = &M.reserves[q->reserve];
    BIGNUM *sa = bn_u(q->scaled_a), *sd = bn_u(q->scaled_debt);
    /* library balances = the library's formula */
    BIGNUM *lb = lib_balance(sa, lni[q->reserve]), *ld = BN_is_zero(sd) ? BN_new() : lib_balance(sd, lnd[q->reserve]);
    ck_assert_msg(bn_eq_str(lb, jstr(lp, "underlyingBalance")), "case %lld: library aToken balance model", id);
    ck_assert_msg(bn_eq_str(ld, jstr(lp, "variableBorrows")), "case %lld: library debt balance model", id);
    /* engine balances and bound |d| <= ceil(s * |dIndex| / R) + 2 */
    BIGNUM *cb = ray_mul(sa, dni[q->reserve]), *cd = BN_is_zero(sd) ? BN_new() : ray_mul(sd, dnd[q->reserve]);
    BIGNUM *dIdx = bn_absdiff(dni[q->reserve], lni[q->reserve]), *x = BN_new();
    BN_mul(x, sa, dIdx, ctx);
    BIGNUM *bb = bn_ceil_div(x, R);
    BN_add_word(bb, 2);
    BIGNUM *dbal = bn_absdiff(cb, lb);
    ck_assert_msg(BN_cmp(dbal, bb) <= 0, "case %lld: aToken balance off by more than its bound", id);
    BN_free(dIdx), BN_free(bb);
    dIdx = bn_absdiff(dnd[q->reserve], lnd[q->reserve]);
    BN_mul(x, sd, dIdx, ctx);
    bb = bn_ceil_div(x, R);
    BN_add_word(bb, 2);
    BIGNUM *ddebt = bn_absdiff(cd, ld);
    ck_assert_msg(BN_cmp(ddebt, bb) <= 0, "case %lld: debt balance off by more than its bound", id);
    if (!BN_is_zero(dbal) || !BN_is_zero(ddebt)) st->bal_departures++;

    /* values in base currency (long double, for the interval checks of the ratios) */
    BIGNUM *price = bn_u(ar->price), *unit = bn_u(ar->unit);
    char *lbs = BN_bn2dec(lb), *lds = BN_bn2dec(ld), *dbs = BN_bn2dec(dbal), *dds = BN_bn2dec(ddebt);
    char *ps_ = BN_bn2dec(price), *us = BN_bn2dec(unit);
    long double P = strtold(ps_, NULL), Un = strtold(us, NULL);
    long double vb = strtold(lbs, NULL) * P / Un, vd = strtold(lds, NULL) * P / Un;
    long double bcoll = strtold(dbs, NULL) * P / Un + 1, bdebt = strtold(dds, NULL) * P / Un + 1;
    bool counted = q->collateral && ar->liquidation_threshold != 0;
    if (counted) {
      bool in_cat = A.emode_category && ar->emode_category == A.emode_category;
      uint32_t ltv = ar->ltv == 0 ? 0 : in_cat ? M.emode[A.emode_category].ltv : ar->ltv;
      uint32_t lt = in_cat ? M.emode[A.emode_category].liquidation_threshold : ar->liquidation_threshold;
      C_l += vb, Bc += bcoll;
      LTVsum_l += vb * ltv, LTsum_l += vb * lt;
      if (ltv > maxltv) maxltv = ltv;
      if (lt > maxlt) maxlt = lt;
      if (ar->debt_ceiling) isolated_lib = true;
    }
    D_l += vd, Bd += bdebt;
    OPENSSL_free(lbs), OPENSSL_free(lds), OPENSSL_free(dbs), OPENSSL_free(dds), OPENSSL_free(ps_), OPENSSL_free(us);
    BN_free(sa), BN_free(sd), BN_free(lb), BN_free(ld), BN_free(cb), BN_free(cd), BN_free(dIdx), BN_free(x);
    BN_free(bb), BN_free(dbal), BN_free(ddebt), BN_free(price), BN_free(unit);
    st->positions++;
  }
  BN_free(coll_l), BN_free(debt_l);

  struct risk_account_data d;
  ck_assert_int_eq(risk_account_evaluate(&M, &A, &d), RISK_OK);

  /* isolation flag: identical on chain-reachable states */
  ck_assert_msg(json_is_true(json_object_get(lib, "isInIsolationMode")) == d.isolated, "case %lld: isolation", id);
  ck_assert(isolated_lib == d.isolated);
  if (d.isolated) st->isolated++;

  /* totals: the library does not floor per asset. Re-computed library totals (long double,
   * relative 1e-15 slack for the float itself) match its strings, and
   * |lib - engine| <= sum of per-position bounds. */
  const long double FEPS = 1e-15L;
  char buf[U256_DEC_MAX];
  u256_to_dec(d.total_collateral_base, buf);
  long double C_c = strtold(buf, NULL);
  u256_to_dec(d.total_debt_base, buf);
  long double D_c = strtold(buf, NULL);
  long double C_lib = dec_ld(jstr(lib, "totalCollateralMarketReferenceCurrency")) * 1e8L;
  long double D_lib = dec_ld(jstr(lib, "totalBorrowsMarketReferenceCurrency")) * 1e8L;
  ck_assert_msg(fabsl(C_lib - C_l) <= FEPS * C_l + 1e-6L, "case %lld: library collateral model", id);
  ck_assert_msg(fabsl(D_lib - D_l) <= FEPS * D_l + 1e-6L, "case %lld: library debt model", id);
  ck_assert_msg(fabsl(C_lib - C_c) <= Bc + FEPS * C_lib, "case %lld: total collateral %.3Lf vs %.3Lf (bound %.3Lf)", id,
                C_lib, C_c, Bc);
  ck_assert_msg(fabsl(D_lib - D_c) <= Bd + FEPS * D_lib, "case %lld: total debt %.3Lf vs %.3Lf (bound %.3Lf)", id,
                D_lib, D_c, Bd);
  if (fabsl(C_lib - C_c) > 1e-9L * (C_c + 1)) st->total_floor_departures++;

  /* average LTV / LT (bps): the chain floors; the library keeps 20 decimals of a
   * weighted mean of unfloored values. |lib - engine| < 1 + max_w * Bc / (C - Bc). */
  long double ltv_lib = dec_ld(jstr(lib, "currentLoanToValue")) * 1e4L;
  long double lt_lib = dec_ld(jstr(lib, "currentLiquidationThreshold")) * 1e4L;
  if (C_c > 2 * Bc) {
    long double w_ltv = 1 + maxltv * Bc / (C_c - Bc) + 1e-12L, w_lt = 1 + maxlt * Bc / (C_c - Bc) + 1e-12L;
    ck_assert_msg(fabsl(ltv_lib - d.avg_ltv) <= w_ltv, "case %lld: avg LTV %.6Lf vs %u (bound %.6Lf)", id, ltv_lib,
                  d.avg_ltv, w_ltv);
    ck_assert_msg(fabsl(lt_lib - d.avg_liquidation_threshold) <= w_lt, "case %lld: avg LT %.6Lf vs %u", id, lt_lib,
                  d.avg_liquidation_threshold);
    long x = (long)(fabsl(ltv_lib - d.avg_ltv) * 1000);
    if (x > st->max_ltv_bps_x1000) st->max_ltv_bps_x1000 = x;

    /* health factor: interval from the bounds on C, LT and D */
    const char *hfs = jstr(lib, "healthFactor");
    if (u256_eq(d.health_factor, U256_MAX)) {
      /* the engine's debt floors to 0 base units: the library's is below the floor bound */
      ck_assert_msg(strcmp(hfs, "-1") == 0 || D_lib <= Bd, "case %lld: HF with no debt", id);
    } else if (D_c > 2 * Bd) {
      long double hf_lib = dec_ld(hfs);
      long double lo = (C_c - Bc) * (d.avg_liquidation_threshold - (w_lt - 1)) / 1e4L / (D_c + Bd);
      long double hi = (C_c + Bc) * (d.avg_liquidation_threshold + w_lt) / 1e4L / (D_c - Bd);
      ck_assert_msg(hf_lib >= lo * (1 - FEPS) - 1e-18L && hf_lib <= hi * (1 + FEPS) + 1e-18L,
                    "case %lld: HF %s outside [%.20Lg, %.20Lg]", id, hfs, lo, hi);
      u256_to_dec(d.health_factor, buf);
      long double hf_c = strtold(buf, NULL) / 1e18L;
      ck_assert(hf_c >= lo * (1 - FEPS) - 2e-18L && hf_c <= hi * (1 + FEPS) + 2e-18L);
      st->hf_cases++;
    }

    /* available borrows: percentMul(C, ltv) - D on chain; the library uses unfloored
     * values and, in isolation, also caps by the debt-ceiling room (a UI rule). */
    long double ab_lib = dec_ld(jstr(lib, "availableBorrowsMarketReferenceCurrency")) * 1e8L;
    long double lo = (C_c - Bc) * (d.avg_ltv - (w_ltv - 1)) / 1e4L - (D_c + Bd);
    long double hi = (C_c + Bc) * (d.avg_ltv + w_ltv) / 1e4L - (D_c - Bd);
    if (lo < 0) lo = 0;
    if (hi < 0) hi = 0;
    if (d.isolated) {
      const struct risk_acct_reserve *ic = &M.reserves[d.isolation_collateral];
      u256_to_dec(ic->isolation_mode_total_debt, buf);
      long double room = ((long double)ic->debt_ceiling - strtold(buf, NULL)) * 1e6L;
      if (room < 0) room = 0;
      if (lo > room) lo = room;
      if (hi > room) hi = room;
    }
    ck_assert_msg(ab_lib >= lo * (1 - FEPS) - 1e-6L && ab_lib <= hi * (1 + FEPS) + 1e-6L,
                  "case %lld: available borrows %.4Lf outside [%.4Lf, %.4Lf]", id, ab_lib, lo, hi);
  } else if (C_c > 0 || C_lib > 0) {
    st->ratio_skipped++; /* collateral within twice its bound: the ratio bounds are vacuous */
  }
  for (size_t i = 0; i < nres; i++)
    BN_free(dni[i]), BN_free(dnd[i]), BN_free(lni[i]), BN_free(lnd[i]);
  BN_free(R);
  st->cases++;
}

START_TEST(test_against_aave_math_utils) {
  char script[512], out[600] = "/tmp/sparkd_aave_diff_XXXXXX", cmd[1400];
  snprintf(script, sizeof script, "%s/tests/diff/aave_math_gen.mjs", SPARKD_SOURCE_DIR);
  char nm[512];
  snprintf(nm, sizeof nm, "%s/node_modules/@aave/math-utils/package.json", SPARKD_SOURCE_DIR);
  ck_assert_msg(access(nm, R_OK) == 0, "FAILURE: %s missing: run npm install at the repository root", nm);
  ck_assert_msg(system("node --version >/dev/null 2>&1") == 0, "FAILURE: node is not on PATH (needed for the diff)");
  /* SPARKD_AAVE_DIFF_FILE: reuse an NDJSON file made by the generator (development aid) */
  const char *reuse = getenv("SPARKD_AAVE_DIFF_FILE");
  if (reuse) {
    snprintf(out, sizeof out, "%s", reuse);
  } else {
    int fd = mkstemp(out);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "node '%s' '%s' 10000 20260423", script, out);
    ck_assert_msg(system(cmd) == 0, "FAILURE: %s failed", cmd);
  }

  FILE *f = fopen(out, "r");
  ck_assert_ptr_nonnull(f);
  ctx = BN_CTX_new();
  struct stats st = {0};
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_error_t err;
    json_t *c = json_loads(line, 0, &err);
    ck_assert_msg(c != NULL, "bad NDJSON line: %s", err.text);
    run_case(c, &st);
    json_decref(c);
  }
  free(line);
  fclose(f);
  if (!reuse) unlink(out);
  BN_CTX_free(ctx);
  fprintf(stderr,
          "aave diff: %ld cases, %ld reserves, %ld positions; departures seen: income %ld, debt index %ld, "
          "balances %ld, totals (per-asset floor) %ld; HF compared %ld; isolated %ld; max |avgLTV diff| %.3f bps; "
          "max |linear diff| %lu ray units; max relative debt-index diff %.3Le; ratio checks skipped (C <= 2B) %ld\n",
          st.cases, st.reserves, st.positions, st.ni_departures, st.nd_departures, st.bal_departures,
          st.total_floor_departures, st.hf_cases, st.isolated, st.max_ltv_bps_x1000 / 1000.0, st.max_dlin,
          st.max_rel_nd, st.ratio_skipped);
  ck_assert_int_ge(st.cases, 10000);
  ck_assert_int_ge(st.reserves, 10000);
  ck_assert_int_gt(st.hf_cases, 1000);
  ck_assert_int_gt(st.isolated, 50);
}
END_TEST

int main(void) {
  Suite *s = suite_create("aave_diff");
  TCase *tc = tcase_create("diff");
  tcase_set_timeout(tc, 550);
  tcase_add_test(tc, test_against_aave_math_utils);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
