/* ctest-label: unit */
/* risk/wadray against the spec (protocol-math §5.1 #1 divup table, §5.2 vectors, §2.1
 * revert conditions) and against OpenSSL BIGNUM evaluating each §2.1 formula and its
 * revert condition literally, on 100,000 edge-biased cases per helper. */
#include <check.h>
#include <string.h>

#include "risk/u256_impl.h"
#include "risk/wadray.h"
#include "u256_gen.h"

/* Returns the u256 of a decimal literal (the test's own constants). */
static u256 D(const char *s) {
  u256 v;
  REQ_INT_EQ(u256_from_dec(&v, s, strlen(s)), RISK_OK);
  return v;
}

/* Asserts that e is RISK_OK and r equals the decimal text want. */
static void eq_dec(const char *what, risk_err e, u256 r, const char *want) {
  char buf[U256_DEC_MAX];
  REQ_MSG(e == RISK_OK, "%s: %s", what, risk_err_name(e));
  u256_to_dec(r, buf);
  REQ_MSG(strcmp(buf, want) == 0, "%s: want %s got %s", what, want, buf);
}

START_TEST(test_constants) {
  eq_dec("WAD", RISK_OK, RISK_WAD, "1000000000000000000");
  eq_dec("RAY", RISK_OK, RISK_RAY, "1000000000000000000000000000");
  eq_dec("HALF_WAD", RISK_OK, RISK_HALF_WAD, "500000000000000000");
  eq_dec("HALF_RAY", RISK_OK, RISK_HALF_RAY, "500000000000000000000000000");
  REQ_INT_EQ(RISK_PERCENTAGE_FACTOR, 10000);
  REQ_INT_EQ(RISK_YEAR, 31536000);
}
END_TEST

START_TEST(test_spec_vectors) {
  /* §5.2, a and b from sparklend-v1-core wadraymath.spec.ts (§5.1 #9) */
  u256 a = D("134534543232342353231234"), b = D("13265462389132757665657"), r;
  eq_dec("wadMul", risk_wad_mul(&r, a, b), r, "1784662923287792467070443765");
  eq_dec("wadDiv", risk_wad_div(&r, a, b), r, "10141715327055228122");
  eq_dec("rayMul", risk_ray_mul(&r, a, b), r, "1784662923287792467");
  eq_dec("rayDiv", risk_ray_div(&r, a, b), r, "10141715327055228122033939726");
}
END_TEST

START_TEST(test_divup_table) {
  /* §5.1 #1, spark-vaults-v2 */
  static const struct {
    const char *x, *y, *want;
  } rows[] = {{"1", "1", "1"},
              {"1", "2", "1"},
              {"2", "3", "1"},
              {"3", "2", "2"},
              {"5", "2", "3"},
              {"10", "3", "4"},
              {"1000000", "1000001", "1"},
              {"1000000", "999999", "2"},
              {"0", "0", "0"},
              {"0", "5", "0"}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    u256 r;
    eq_dec(rows[i].x, risk_divup(&r, D(rows[i].x), D(rows[i].y)), r, rows[i].want);
  }
  u256 r = SENTINEL;
  REQ_INT_EQ(risk_divup(&r, U256_ONE, U256_ZERO), RISK_DIV_BY_ZERO);
  REQ_INT_EQ(risk_divup(&r, U256_MAX, U256_ZERO), RISK_DIV_BY_ZERO);
  REQ(u256_eq(r, SENTINEL));
  eq_dec("divup(max,1)", risk_divup(&r, U256_MAX, U256_ONE), r,
         "115792089237316195423570985008687907853269984665640564039457584007913129639935");
}
END_TEST

START_TEST(test_ray_to_wad_rounding) {
  eq_dec("499999999", RISK_OK, risk_ray_to_wad(D("499999999")), "0");
  eq_dec("500000000", RISK_OK, risk_ray_to_wad(D("500000000")), "1");
  eq_dec("1499999999", RISK_OK, risk_ray_to_wad(D("1499999999")), "1");
  eq_dec("1500000000", RISK_OK, risk_ray_to_wad(D("1500000000")), "2");
  eq_dec("1e27", RISK_OK, risk_ray_to_wad(RISK_RAY), "1000000000000000000");
  /* 2^256-1 = ...639935: mod 1e9 = 457584007913129639935 mod 1e9 = 129639935 < 5e8 */
  eq_dec("max", RISK_OK, risk_ray_to_wad(U256_MAX),
         "115792089237316195423570985008687907853269984665640564039457584007913");
}
END_TEST

/* The §2.1 formulas and revert conditions, literally, in BIGNUM. */
typedef enum { MULK, DIVK } kind_t;

typedef struct {
  const char *name;
  kind_t kind;
  u256 half; /* MULK: the added half */
  u256 unit; /* MULK: the divisor; DIVK: the multiplier */
  risk_err (*fn)(u256 *, u256, u256);
} helper_t;

/* Computes the expected outcome of a helper on (a, b): RISK_OK and *out, or the error. */
static risk_err reference(const helper_t *h, BIGNUM *out, const BIGNUM *a, const BIGNUM *b, bnk_t *k) {
  BIGNUM *lim = BN_new(), *max = BN_new(), *half = to_bn(h->half), *unit = to_bn(h->unit);
  REQ(BN_sub(max, k->mod, BN_value_one()));
  risk_err e = RISK_OK;
  if (h->kind == MULK) {
    /* revert: b != 0 and a > (MAX - half) / b; else (a*b + half) / unit */
    if (!BN_is_zero(b)) {
      REQ(BN_sub(lim, max, half));
      REQ(BN_div(lim, NULL, lim, b, k->ctx));
      if (BN_cmp(a, lim) > 0) e = RISK_OVERFLOW;
    }
    if (e == RISK_OK) {
      REQ(BN_mul(out, a, b, k->ctx));
      REQ(BN_add(out, out, half));
      REQ(BN_div(out, NULL, out, unit, k->ctx));
    }
  } else {
    /* revert: b == 0 or a > (MAX - b/2) / unit; else (a*unit + b/2) / b */
    BIGNUM *b2 = BN_new();
    REQ(BN_rshift1(b2, b));
    if (BN_is_zero(b)) {
      e = RISK_DIV_BY_ZERO;
    } else {
      REQ(BN_sub(lim, max, b2));
      REQ(BN_div(lim, NULL, lim, unit, k->ctx));
      if (BN_cmp(a, lim) > 0) e = RISK_OVERFLOW;
    }
    if (e == RISK_OK) {
      REQ(BN_mul(out, a, unit, k->ctx));
      REQ(BN_add(out, out, b2));
      REQ(BN_div(out, NULL, out, b, k->ctx));
    }
    BN_free(b2);
  }
  BN_free(lim);
  BN_free(max);
  BN_free(half);
  BN_free(unit);
  return e;
}

static helper_t helpers[6];

static void init_helpers(void) {
  u256 p = u256_from_u64(RISK_PERCENTAGE_FACTOR);
  helpers[0] = (helper_t){"wad_mul", MULK, RISK_HALF_WAD, RISK_WAD, risk_wad_mul};
  helpers[1] = (helper_t){"ray_mul", MULK, RISK_HALF_RAY, RISK_RAY, risk_ray_mul};
  helpers[2] = (helper_t){"percent_mul", MULK, u256_from_u64(5000), p, risk_percent_mul};
  helpers[3] = (helper_t){"wad_div", DIVK, U256_ZERO, RISK_WAD, risk_wad_div};
  helpers[4] = (helper_t){"ray_div", DIVK, U256_ZERO, RISK_RAY, risk_ray_div};
  helpers[5] = (helper_t){"percent_div", DIVK, U256_ZERO, p, risk_percent_div};
}

/* Runs the helper and compares with the reference. */
static void check_case(const helper_t *h, long i, u256 a, u256 b, bnk_t *k) {
  BIGNUM *ba = to_bn(a), *bb = to_bn(b), *want = BN_new();
  risk_err we = reference(h, want, ba, bb, k);
  u256 got = SENTINEL;
  risk_err e = h->fn(&got, a, b);
  char ha[80], hb[80];
  if (we != RISK_OK) {
    REQ_MSG(e == we && u256_eq(got, SENTINEL), "%s #%ld seed %" PRIx64 ": a=%s b=%s: want %s got %s", h->name, i,
            g_seed, hexs(a, ha), hexs(b, hb), risk_err_name(we), risk_err_name(e));
  } else {
    expect(h->name, i, a, b, e, got, want, RISK_OVERFLOW);
  }
  BN_free(ba);
  BN_free(bb);
  BN_free(want);
}

/* Draws operands in the engine's ranges as well as the edges. */
static u256 draw_wr(rng_t *r) {
  switch (rnd_below(r, 4)) {
  case 0: /* realistic amounts and indexes: up to ~2^128 */ return of_width(r, 1 + rnd_below(r, 128));
  case 1: /* around WAD / RAY / percentages */
    switch (rnd_below(r, 4)) {
    case 0: return u256_add_wrap(RISK_RAY, u256_from_u64(rnd(r) >> rnd_below(r, 64)));
    case 1: return u256_add_wrap(RISK_WAD, u256_from_u64(rnd(r) >> rnd_below(r, 64)));
    case 2: return u256_from_u64(rnd_below(r, 20001));
    default: return u256_from_u64(rnd_below(r, 3));
    }
  default: return draw(r);
  }
}

START_TEST(test_random_against_bignum) {
  init_helpers();
  bnk_t k = bnk_new();
  for (int hi = 0; hi < 6; hi++) {
    rng_t r = rng_for(100 + (unsigned)hi);
    for (long i = 0; i < N_CASES; i++)
      check_case(&helpers[hi], i, draw_wr(&r), draw_wr(&r), &k);
  }
  /* divup, rayToWad and wadToRay */
  rng_t r = rng_for(200);
  for (long i = 0; i < N_CASES; i++) {
    u256 x = draw_wr(&r), y = draw_wr(&r), got = SENTINEL;
    BIGNUM *bx = to_bn(x), *by = to_bn(y), *bq = BN_new(), *brem = BN_new();
    risk_err e = risk_divup(&got, x, y);
    if (BN_is_zero(bx)) {
      REQ(e == RISK_OK && u256_is_zero(got));
    } else if (BN_is_zero(by)) {
      expect("divup", i, x, y, e, got, NULL, RISK_OK);
    } else {
      REQ(BN_sub(bq, bx, BN_value_one()));
      REQ(BN_div(bq, NULL, bq, by, k.ctx));
      REQ(BN_add(bq, bq, BN_value_one()));
      expect("divup", i, x, y, e, got, bq, RISK_OVERFLOW);
    }
    /* rayToWad: fl(a/1e9), +1 if a mod 1e9 >= 5e8 */
    REQ(BN_set_word(k.t, 1000000000u));
    REQ(BN_div(bq, brem, bx, k.t, k.ctx));
    if (BN_get_word(brem) >= 500000000u) REQ(BN_add(bq, bq, BN_value_one()));
    expect("ray_to_wad", i, x, y, RISK_OK, risk_ray_to_wad(x), bq, RISK_OVERFLOW);
    /* wadToRay: a*1e9, overflow above 2^256-1 */
    got = SENTINEL;
    REQ(BN_mul(bq, bx, k.t, k.ctx));
    expect("wad_to_ray", i, x, y, risk_wad_to_ray(&got, x), got, bq, RISK_OVERFLOW);
    BN_free(bx);
    BN_free(by);
    BN_free(bq);
    BN_free(brem);
  }
  bnk_free(&k);
}
END_TEST

START_TEST(test_revert_boundaries) {
  /* for each helper and several b: the largest a that passes (from BIGNUM, per the §2.1
   * condition) passes with the right value, and a+1 reverts */
  init_helpers();
  bnk_t k = bnk_new();
  const u256 bs[] = {U256_ONE,
                     u256_from_u64(2),
                     u256_from_u64(3),
                     u256_from_u64(7),
                     u256_from_u64(5000),
                     u256_from_u64(10000),
                     u256_from_u64(12345),
                     RISK_HALF_WAD,
                     RISK_WAD,
                     u256_add_wrap(RISK_WAD, U256_ONE),
                     RISK_HALF_RAY,
                     RISK_RAY,
                     u256_add_wrap(RISK_RAY, U256_ONE),
                     u256_shl(U256_ONE, 128),
                     u256_sub_wrap(U256_MAX, U256_ONE),
                     U256_MAX};
  int boundaries = 0;
  for (int hi = 0; hi < 6; hi++) {
    const helper_t *h = &helpers[hi];
    for (size_t j = 0; j < sizeof bs / sizeof bs[0]; j++) {
      u256 b = bs[j];
      /* lim = (MAX - half) / b  or  (MAX - b/2) / unit */
      BIGNUM *lim = BN_new(), *bb = to_bn(b), *hb;
      REQ(BN_sub(lim, k.mod, BN_value_one()));
      if (h->kind == MULK) {
        hb = to_bn(h->half);
        REQ(BN_sub(lim, lim, hb));
        REQ(BN_div(lim, NULL, lim, bb, k.ctx));
      } else {
        hb = BN_new();
        REQ(BN_rshift1(hb, bb));
        REQ(BN_sub(lim, lim, hb));
        BIGNUM *unit = to_bn(h->unit);
        REQ(BN_div(lim, NULL, lim, unit, k.ctx));
        BN_free(unit);
      }
      u256 a;
      REQ(from_bn(lim, &a));
      u256 got = SENTINEL;
      REQ_MSG(h->fn(&got, a, b) == RISK_OK, "%s: largest a must pass (b #%zu)", h->name, j);
      check_case(h, j, a, b, &k); /* value */
      if (!u256_eq(a, U256_MAX)) {
        u256 a1 = u256_add_wrap(a, U256_ONE);
        got = SENTINEL;
        REQ_MSG(h->fn(&got, a1, b) == RISK_OVERFLOW, "%s: a+1 must revert (b #%zu)", h->name, j);
        REQ(u256_eq(got, SENTINEL));
        boundaries++;
      }
      BN_free(lim);
      BN_free(bb);
      BN_free(hb);
    }
    /* b == 0: mul helpers give 0 for any a, div helpers revert */
    u256 got = SENTINEL;
    if (h->kind == MULK) {
      REQ_INT_EQ(h->fn(&got, U256_MAX, U256_ZERO), RISK_OK);
      REQ(u256_is_zero(got));
    } else {
      REQ_INT_EQ(h->fn(&got, U256_ONE, U256_ZERO), RISK_DIV_BY_ZERO);
      REQ_INT_EQ(h->fn(&got, U256_ZERO, U256_ZERO), RISK_DIV_BY_ZERO);
      REQ(u256_eq(got, SENTINEL));
    }
  }
  REQ_CMP_INT(boundaries, >=, 6 * 15);
  /* wadToRay: (2^256-1)/1e9 passes, one more overflows */
  u256 lim, got;
  REQ_INT_EQ(u256_div(&lim, U256_MAX, u256_from_u64(1000000000u)), RISK_OK);
  REQ_INT_EQ(risk_wad_to_ray(&got, lim), RISK_OK);
  REQ_INT_EQ(risk_wad_to_ray(&got, u256_add_wrap(lim, U256_ONE)), RISK_OVERFLOW);
  bnk_free(&k);
}
END_TEST

START_TEST(test_reciprocals) {
  /* each prepared divisor: d = divisor << shift has its top bit set, and
   * v = floor((2^128 - 1) / d) - 2^64, computed here with BIGNUM */
  static const struct {
    const char *name;
    uint64_t divisor;
    u256_recip k;
  } rows[] = {{"wad", 1000000000000000000u, U256_RECIP_WAD},
              {"5^27", 7450580596923828125u, U256_RECIP_5POW27},
              {"percent", 10000u, U256_RECIP_PERCENT},
              {"ratio", 1000000000u, U256_RECIP_RATIO},
              {"1e19", 10000000000000000000u, U256_RECIP_TEN19}};
  BN_CTX *ctx = BN_CTX_new();
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    u256_recip k = rows[i].k;
    REQ_MSG(k.shift < 64 && (rows[i].divisor << k.shift) == k.d && (k.d >> 63) == 1, "%s: d", rows[i].name);
    BIGNUM *num = BN_new(), *den = BN_new(), *v = BN_new();
    REQ(BN_set_bit(num, 128) && BN_sub_word(num, 1));
    REQ(BN_set_word(den, k.d));
    REQ(BN_div(v, NULL, num, den, ctx));
    REQ(BN_clear_bit(v, 64)); /* - 2^64 */
    REQ_MSG(BN_num_bits(v) <= 64 && BN_get_word(v) == k.v, "%s: v", rows[i].name);
    BN_free(num);
    BN_free(den);
    BN_free(v);
  }
  BN_CTX_free(ctx);
  /* div_recip against the hardware path on random numerators */
  rng_t r = rng_for(300);
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r), q, q2, rem2;
    for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++) {
      uint64_t rem = div_recip(&q, &a, rows[j].k);
      REQ(u256_divmod(&q2, &rem2, a, u256_from_u64(rows[j].divisor)) == RISK_OK);
      REQ_MSG(u256_eq(q, q2) && rem2.w[0] == rem, "div_recip %s #%ld", rows[j].name, i);
    }
  }
}
END_TEST

int main(void) {
  seed_init("check_unit_wadray");
  Suite *s = suite_create("wadray");
  TCase *tc = tcase_create("wadray");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_constants);
  tcase_add_test(tc, test_spec_vectors);
  tcase_add_test(tc, test_divup_table);
  tcase_add_test(tc, test_ray_to_wad_rounding);
  tcase_add_test(tc, test_random_against_bignum);
  tcase_add_test(tc, test_revert_boundaries);
  tcase_add_test(tc, test_reciprocals);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
