/* ctest-label: unit */
/* risk/u256 against OpenSSL BIGNUM: at least 100,000 operand pairs per operation, drawn
 * to hit edge values (0, 1, 2^64±1, 2^128, 2^256-1, ...) and random widths 1..256 bits,
 * checking both the value and the error condition (the error must occur exactly when
 * BIGNUM says the true result does not fit). The seed is fixed and printed; set
 * SPARKD_TEST_SEED to try another. */
#include <check.h>
#include <ctype.h>
#include <inttypes.h>
#include <openssl/bn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/u256.h"
#include "u256_gen.h"

START_TEST(test_add_sub) {
  rng_t r = rng_for(1);
  bnk_t k = bnk_new();
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r), b = draw(&r), got = SENTINEL, w;
    BIGNUM *ba = to_bn(a), *bb = to_bn(b);
    REQ(BN_add(k.t, ba, bb));
    expect("add", i, a, b, u256_add(&got, a, b), got, k.t, RISK_OVERFLOW);
    REQ(BN_nnmod(k.t, k.t, k.mod, k.ctx));
    REQ(from_bn(k.t, &w));
    REQ_MSG(u256_eq(u256_add_wrap(a, b), w), "add_wrap #%ld", i);

    got = SENTINEL;
    REQ(BN_sub(k.t, ba, bb));
    expect("sub", i, a, b, u256_sub(&got, a, b), got, k.t, RISK_UNDERFLOW);
    REQ(BN_nnmod(k.t, k.t, k.mod, k.ctx));
    REQ(from_bn(k.t, &w));
    REQ_MSG(u256_eq(u256_sub_wrap(a, b), w), "sub_wrap #%ld", i);
    BN_free(ba);
    BN_free(bb);
  }
  bnk_free(&k);
}
END_TEST

START_TEST(test_mul) {
  rng_t r = rng_for(2);
  bnk_t k = bnk_new();
  long overflows = 0;
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r), b = draw(&r), got = SENTINEL;
    BIGNUM *ba = to_bn(a), *bb = to_bn(b);
    REQ(BN_mul(k.t, ba, bb, k.ctx));
    overflows += BN_num_bits(k.t) > 256;
    expect("mul", i, a, b, u256_mul(&got, a, b), got, k.t, RISK_OVERFLOW);
    BN_free(ba);
    BN_free(bb);
  }
  /* both outcomes must be well represented */
  REQ_CMP_INT(overflows, >, N_CASES / 10);
  REQ_CMP_INT(overflows, <, N_CASES * 9 / 10);
  bnk_free(&k);
}
END_TEST

START_TEST(test_divmod) {
  rng_t r = rng_for(3);
  bnk_t k = bnk_new();
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r), b = draw(&r);
    if (i % 7 == 0) /* divisors that fit one limb take the fast path */
      b = u256_from_u64(special_limb(&r));
    BIGNUM *ba = to_bn(a), *bb = to_bn(b);
    u256 q = SENTINEL, rem = SENTINEL, q2 = SENTINEL, rem2 = SENTINEL;
    risk_err e = u256_divmod(&q, &rem, a, b);
    if (BN_is_zero(bb)) {
      expect("divmod", i, a, b, e, q, NULL, RISK_OK);
      REQ(u256_eq(rem, SENTINEL));
      REQ_INT_EQ(u256_div(&q2, a, b), RISK_DIV_BY_ZERO);
    } else {
      REQ(BN_div(k.t, k.u, ba, bb, k.ctx));
      expect("divmod.q", i, a, b, e, q, k.t, RISK_OK);
      expect("divmod.r", i, a, b, e, rem, k.u, RISK_OK);
      /* NULL outputs and u256_div agree */
      REQ_INT_EQ(u256_divmod(&q2, NULL, a, b), RISK_OK);
      REQ_INT_EQ(u256_divmod(NULL, &rem2, a, b), RISK_OK);
      REQ(u256_eq(q2, q) && u256_eq(rem2, rem));
      REQ_INT_EQ(u256_div(&q2, a, b), RISK_OK);
      REQ(u256_eq(q2, q));
    }
    BN_free(ba);
    BN_free(bb);
  }
  bnk_free(&k);
}
END_TEST

/* Shared by muldiv and muldiv_up. */
static void run_muldiv(bool up) {
  rng_t r = rng_for(up ? 5 : 4);
  bnk_t k = bnk_new();
  long ok = 0, ovf = 0;
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r), b = draw(&r), d = draw(&r);
    if (i % 5 == 0) /* the engine's shape: a * b / d with d near b */
      d = u256_add_wrap(b, u256_from_u64(rnd_below(&r, 3)));
    if (i % 7 == 0) d = u256_from_u64(special_limb(&r));
    BIGNUM *ba = to_bn(a), *bb = to_bn(b), *bd = to_bn(d);
    u256 got = SENTINEL;
    risk_err e = up ? u256_muldiv_up(&got, a, b, d) : u256_muldiv(&got, a, b, d);
    const char *op = up ? "muldiv_up" : "muldiv";
    if (BN_is_zero(bd)) {
      expect(op, i, a, b, e, got, NULL, RISK_OK);
    } else {
      REQ(BN_mul(k.t, ba, bb, k.ctx));
      BIGNUM *rem = BN_new();
      REQ(BN_div(k.u, rem, k.t, bd, k.ctx));
      if (up && !BN_is_zero(rem)) REQ(BN_add_word(k.u, 1));
      BN_free(rem);
      if (BN_num_bits(k.u) > 256)
        ovf++;
      else
        ok++;
      expect(op, i, a, b, e, got, k.u, RISK_OVERFLOW);
    }
    BN_free(ba);
    BN_free(bb);
    BN_free(bd);
  }
  REQ_CMP_INT(ok, >, N_CASES / 10);
  REQ_CMP_INT(ovf, >, N_CASES / 20);
  bnk_free(&k);
}

START_TEST(test_muldiv) { run_muldiv(false); }
END_TEST

START_TEST(test_muldiv_up) {
  run_muldiv(true);
  /* (2^256-2) * (2^255+1) / 2^255 = 2^256-1 + (2^255-2)/2^255: the floor is MAX and
   * exact enough to pass, the ceiling overflows only in the rounding step */
  u256 got = SENTINEL, h = u256_shl(U256_ONE, 255);
  u256 a = u256_sub_wrap(U256_MAX, U256_ONE), b = u256_add_wrap(h, U256_ONE);
  REQ_INT_EQ(u256_muldiv(&got, a, b, h), RISK_OK);
  REQ(u256_eq(got, U256_MAX));
  got = SENTINEL;
  REQ_INT_EQ(u256_muldiv_up(&got, a, b, h), RISK_OVERFLOW);
  REQ(u256_eq(got, SENTINEL));
  REQ_INT_EQ(u256_muldiv_up(&got, U256_MAX, U256_MAX, U256_MAX), RISK_OK);
  REQ(u256_eq(got, U256_MAX));
}
END_TEST

START_TEST(test_shifts_bits_cmp) {
  rng_t r = rng_for(6);
  bnk_t k = bnk_new();
  char hw[80], hg[80];
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r), b = draw(&r), w;
    unsigned n = rnd_below(&r, 8) == 0 ? rnd_below(&r, 1000) : rnd_below(&r, 300);
    BIGNUM *ba = to_bn(a), *bb = to_bn(b);
    /* shl: bits above 255 are lost */
    REQ(BN_lshift(k.t, ba, (int)n));
    REQ(BN_nnmod(k.t, k.t, k.mod, k.ctx));
    REQ(from_bn(k.t, &w));
    u256 got = u256_shl(a, n);
    REQ_MSG(u256_eq(got, w), "shl #%ld n=%u want %s got %s", i, n, hexs(w, hw), hexs(got, hg));
    REQ(BN_rshift(k.t, ba, (int)n));
    REQ(from_bn(k.t, &w));
    got = u256_shr(a, n);
    REQ_MSG(u256_eq(got, w), "shr #%ld n=%u want %s got %s", i, n, hexs(w, hw), hexs(got, hg));
    REQ_INT_EQ(u256_bits(a), (unsigned)BN_num_bits(ba));
    int c = BN_cmp(ba, bb);
    c = c < 0 ? -1 : c > 0;
    REQ_INT_EQ(u256_cmp(a, b), c);
    REQ_INT_EQ(u256_cmp(a, a), 0);
    REQ(u256_lt(a, b) == (c < 0) && u256_le(a, b) == (c <= 0));
    REQ(u256_gt(a, b) == (c > 0) && u256_ge(a, b) == (c >= 0));
    REQ(u256_eq(a, b) == (c == 0));
    REQ(u256_eq(u256_min(a, b), c <= 0 ? a : b));
    REQ(u256_eq(u256_max(a, b), c >= 0 ? a : b));
    uint64_t v = 0;
    bool fits = u256_to_u64(a, &v);
    REQ(fits == (BN_num_bits(ba) <= 64));
    if (fits) REQ_INT_EQ(v, BN_get_word(ba));
    REQ(u256_to_u64(a, NULL) == fits);
    REQ(u256_is_zero(a) == BN_is_zero(ba));
    BN_free(ba);
    BN_free(bb);
  }
  bnk_free(&k);
}
END_TEST

START_TEST(test_dec_round_trip) {
  rng_t r = rng_for(7);
  char buf[U256_DEC_MAX];
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r), back = SENTINEL;
    BIGNUM *ba = to_bn(a);
    char *want = BN_bn2dec(ba);
    size_t n = u256_to_dec(a, buf);
    REQ_INT_EQ(n, strlen(buf));
    REQ_STR_EQ(buf, want);
    REQ_INT_EQ(u256_from_dec(&back, want, strlen(want)), RISK_OK);
    REQ(u256_eq(back, a));
    OPENSSL_free(want);
    BN_free(ba);
  }
}
END_TEST

START_TEST(test_dec_parse_random_text) {
  /* random digit strings of 1..78 digits (leading zeros allowed): the value or
   * RISK_OVERFLOW exactly when BIGNUM says it exceeds 2^256-1 */
  rng_t r = rng_for(8);
  char text[80];
  long over = 0;
  for (long i = 0; i < N_CASES; i++) {
    size_t len = 1 + rnd_below(&r, 78);
    if (rnd_below(&r, 3) == 0) len = 78;
    for (size_t j = 0; j < len; j++)
      text[j] = (char)('0' + rnd_below(&r, 10));
    if (len == 78 && rnd_below(&r, 2)) /* hover around 2^256 */
      memcpy(text, "1157920892", 10);
    if (rnd_below(&r, 10) == 0) text[0] = '0';
    text[len] = 'x'; /* not NUL-terminated: len decides */
    u256 got = SENTINEL;
    risk_err e = u256_from_dec(&got, text, len);
    text[len] = '\0';
    BIGNUM *b = NULL;
    REQ_INT_EQ(BN_dec2bn(&b, text), (int)len);
    if (BN_num_bits(b) > 256) {
      over++;
      REQ_MSG(e == RISK_OVERFLOW, "from_dec %s: want overflow got %s", text, risk_err_name(e));
      REQ(u256_eq(got, SENTINEL));
    } else {
      u256 w;
      REQ(from_bn(b, &w));
      REQ_MSG(e == RISK_OK && u256_eq(got, w), "from_dec %s: %s", text, risk_err_name(e));
    }
    BN_free(b);
  }
  REQ_CMP_INT(over, >, 1000);
}
END_TEST

/* Returns the error u256_from_dec gives for the NUL-terminated text. */
static risk_err dec_err(const char *s) {
  u256 v = SENTINEL;
  risk_err e = u256_from_dec(&v, s, strlen(s));
  if (e != RISK_OK) REQ(u256_eq(v, SENTINEL));
  return e;
}

START_TEST(test_dec_parse_errors) {
  REQ_INT_EQ(dec_err(""), RISK_PARSE);
  REQ_INT_EQ(dec_err("+1"), RISK_PARSE);
  REQ_INT_EQ(dec_err("-1"), RISK_PARSE);
  REQ_INT_EQ(dec_err("-0"), RISK_PARSE);
  REQ_INT_EQ(dec_err(" 1"), RISK_PARSE);
  REQ_INT_EQ(dec_err("1 "), RISK_PARSE);
  REQ_INT_EQ(dec_err("1 2"), RISK_PARSE);
  REQ_INT_EQ(dec_err("12a"), RISK_PARSE);
  REQ_INT_EQ(dec_err("0x10"), RISK_PARSE);
  REQ_INT_EQ(dec_err("1e18"), RISK_PARSE);
  REQ_INT_EQ(dec_err("1.5"), RISK_PARSE);
  REQ_INT_EQ(dec_err("1_000"), RISK_PARSE);
  REQ_INT_EQ(dec_err("\t1"), RISK_PARSE);
  REQ_INT_EQ(u256_from_dec(&(u256){0}, NULL, 0), RISK_PARSE);
  REQ_INT_EQ(u256_from_dec(&(u256){0}, "1\0002", 3), RISK_PARSE);
  char d79[80];
  memset(d79, '0', 79);
  d79[79] = '\0';
  REQ_INT_EQ(dec_err(d79), RISK_PARSE); /* 79 zeros: too long */
  d79[0] = '1';
  REQ_INT_EQ(dec_err(d79), RISK_PARSE);
  REQ_INT_EQ(dec_err(d79 + 1), RISK_OK); /* 78 zeros */
  /* 2^256 exactly, and 2^256 - 1 */
  REQ_INT_EQ(dec_err("115792089237316195423570985008687907853269984665640564039457584007913129639936"), RISK_OVERFLOW);
  REQ_INT_EQ(dec_err("999999999999999999999999999999999999999999999999999999999999999999999999999999"), RISK_OVERFLOW);
  u256 v;
  const char *max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  REQ_INT_EQ(u256_from_dec(&v, max, strlen(max)), RISK_OK);
  REQ(u256_eq(v, U256_MAX));
  REQ_INT_EQ(u256_from_dec(&v, "000000000000000000000000000000000000000000000000000000000000000000000000000123", 78),
             RISK_OK);
  REQ(u256_eq(v, u256_from_u64(123)));
  REQ_INT_EQ(u256_from_dec(&v, "12345", 3), RISK_OK); /* length decides */
  REQ(u256_eq(v, u256_from_u64(123)));
}
END_TEST

START_TEST(test_to_fixed) {
  rng_t r = rng_for(9);
  bnk_t k = bnk_new();
  char got[U256_DEC_MAX + 2], want[200];
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r);
    unsigned dec = rnd_below(&r, 4) == 0 ? rnd_below(&r, 80) : rnd_below(&r, 28);
    /* independent: a = q * 10^dec + rem with BIGNUM, rem zero-padded to dec digits */
    BIGNUM *ba = to_bn(a), *p = BN_new(), *ten = BN_new();
    REQ(BN_set_word(ten, 10));
    REQ(BN_set_word(p, dec));
    REQ(BN_exp(p, ten, p, k.ctx));
    REQ(BN_div(k.t, k.u, ba, p, k.ctx));
    char *qs = BN_bn2dec(k.t), *rs = BN_bn2dec(k.u);
    if (dec == 0)
      snprintf(want, sizeof want, "%s", qs);
    else
      snprintf(want, sizeof want, "%s.%0*d%s", qs, (int)(dec - strlen(rs)), 0, rs);
    if (dec > 0 && strlen(rs) == dec) /* %0*d with width 0 still prints "0" */
      snprintf(want, sizeof want, "%s.%s", qs, rs);
    size_t n = u256_to_fixed(a, dec, got);
    REQ_MSG(strcmp(got, want) == 0, "to_fixed #%ld dec=%u want %s got %s", i, dec, want, got);
    REQ_INT_EQ(n, strlen(got));
    OPENSSL_free(qs);
    OPENSSL_free(rs);
    BN_free(ba);
    BN_free(p);
    BN_free(ten);
  }
  bnk_free(&k);
  u256_to_fixed(u256_from_u64(1500000000), 6, got);
  REQ_STR_EQ(got, "1500.000000");
  u256_to_fixed(U256_ZERO, 2, got);
  REQ_STR_EQ(got, "0.00");
  u256_to_fixed(u256_from_u64(7), 0, got);
  REQ_STR_EQ(got, "7");
  /* decimals above 79 are treated as 79, the most the buffer holds */
  size_t n = u256_to_fixed(U256_ONE, 200, got);
  REQ_INT_EQ(n, 81);
  REQ(got[0] == '0' && got[1] == '.' && got[80] == '1' && got[81] == '\0');
  REQ_INT_EQ(u256_to_fixed(U256_MAX, 79, got), 81);
}
END_TEST

START_TEST(test_hex) {
  rng_t r = rng_for(10);
  char buf[80], text[80];
  for (long i = 0; i < N_CASES; i++) {
    u256 a = draw(&r), back = SENTINEL;
    BIGNUM *ba = to_bn(a);
    char *want = BN_bn2hex(ba); /* uppercase, "0" for zero, may have one leading 0 */
    const char *w = want;
    if (w[0] == '0' && w[1] != '\0') w++;
    snprintf(text, sizeof text, "0x%s", w);
    for (char *c = text; *c; c++)
      *c = (char)tolower((unsigned char)*c);
    size_t n = u256_to_hex(a, buf);
    REQ_STR_EQ(buf, text);
    REQ_INT_EQ(n, strlen(text));
    REQ_INT_EQ(u256_from_hex(&back, buf, n), RISK_OK);
    REQ(u256_eq(back, a));
    BN_free(ba);
    OPENSSL_free(want);

    /* random hex text: 1..64 digits, mixed case, optional 0x/0X */
    size_t len = 1 + rnd_below(&r, 64), off = 0;
    static const char digits[] = "0123456789abcdefABCDEF";
    if (rnd_below(&r, 2)) {
      text[off++] = '0';
      text[off++] = rnd_below(&r, 2) ? 'x' : 'X';
    }
    for (size_t j = 0; j < len; j++)
      text[off + j] = digits[rnd_below(&r, 22)];
    text[off + len] = '\0';
    BIGNUM *b = NULL;
    REQ_INT_EQ(BN_hex2bn(&b, text + off), (int)len);
    u256 wv;
    REQ(from_bn(b, &wv));
    REQ_INT_EQ(u256_from_hex(&back, text, off + len), RISK_OK);
    REQ_MSG(u256_eq(back, wv), "from_hex %s", text);
    BN_free(b);

    /* 32-byte big-endian round trip */
    uint8_t be[32], be2[32];
    REQ_INT_EQ(BN_bn2binpad(ba = to_bn(a), be2, 32), 32);
    u256_to_be32(a, be);
    REQ_MEM_EQ(be, be2, 32);
    REQ(u256_eq(u256_from_be32(be), a));
    BN_free(ba);
  }
  u256 v = SENTINEL;
  const char *bad[] = {"",     "0x",  "0X",   "x1",
                       "0x-1", "0xg", "1g",   " 0x1",
                       "0x1 ", "+1",  "00x1", "0x0000000000000000000000000000000000000000000000000000000000000000f"};
  for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
    REQ_MSG(u256_from_hex(&v, bad[j], strlen(bad[j])) == RISK_PARSE, "from_hex '%s'", bad[j]);
    REQ(u256_eq(v, SENTINEL));
  }
  REQ_INT_EQ(u256_from_hex(&v, NULL, 0), RISK_PARSE);
  REQ_INT_EQ(u256_from_hex(&v, "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 66), RISK_OK);
  REQ(u256_eq(v, U256_MAX));
  REQ_INT_EQ(u256_from_hex(&v, "0", 1), RISK_OK);
  REQ(u256_is_zero(v));
  u256_to_hex(U256_ZERO, buf);
  REQ_STR_EQ(buf, "0x0");
}
END_TEST

START_TEST(test_pow10_and_names) {
  BN_CTX *ctx = BN_CTX_new();
  BIGNUM *ten = BN_new(), *p = BN_new();
  REQ(BN_set_word(ten, 10));
  for (unsigned n = 0; n <= 80; n++) {
    u256 got = SENTINEL;
    risk_err e = u256_pow10(&got, n);
    REQ(BN_set_word(p, n));
    REQ(BN_exp(p, ten, p, ctx));
    expect("pow10", n, u256_from_u64(n), U256_ZERO, e, got, p, RISK_OVERFLOW);
  }
  BN_free(ten);
  BN_free(p);
  BN_CTX_free(ctx);
  REQ_STR_EQ(risk_err_name(RISK_OK), "ok");
  REQ_STR_EQ(risk_err_name(RISK_OVERFLOW), "overflow");
  REQ_STR_EQ(risk_err_name(RISK_UNDERFLOW), "underflow");
  REQ(risk_err_name(RISK_DIV_BY_ZERO));
  REQ(risk_err_name(RISK_PARSE));
  REQ(risk_err_name(RISK_INVALID));
  REQ(risk_err_name((risk_err)99));
}
END_TEST

int main(void) {
  seed_init("check_unit_u256");
  Suite *s = suite_create("u256");
  TCase *tc = tcase_create("u256");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_add_sub);
  tcase_add_test(tc, test_mul);
  tcase_add_test(tc, test_divmod);
  tcase_add_test(tc, test_muldiv);
  tcase_add_test(tc, test_muldiv_up);
  tcase_add_test(tc, test_shifts_bits_cmp);
  tcase_add_test(tc, test_dec_round_trip);
  tcase_add_test(tc, test_dec_parse_random_text);
  tcase_add_test(tc, test_dec_parse_errors);
  tcase_add_test(tc, test_to_fixed);
  tcase_add_test(tc, test_hex);
  tcase_add_test(tc, test_pow10_and_names);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
