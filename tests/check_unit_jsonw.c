/* ctest-label: unit */
/* views/jsonw.h's number strings against OpenSSL BIGNUM's decimal (BN_bn2dec): integer strings
 * and fixed-point strings (the integer with a point `decimals` digits from the right, "0." and
 * zeros in front when shorter) for 100,000 values drawn to hit edges (0, 2^64±1, 10^19, 2^128,
 * 2^256-1, ...) and random widths, every decimals 0..80, through each writer entry point. And
 * streaming: NDJSON records flushed to a FILE* after every piece come out byte for byte as the
 * hand-written text, and a write error is reported. */
#include <check.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "u256_gen.h"
#include "views/jsonw.h"

/* The fixed-point text of the decimal digits `dec` with `decimals` decimals (79 at most), built
 * without jsonw: "<int>.<frac>", or "0.<zeros><digits>" when there are no more digits than decimals. */
static void want_fixed(const char *dec, unsigned decimals, char *out) {
  if (decimals > 79) decimals = 79;
  size_t n = strlen(dec);
  if (decimals == 0)
    sprintf(out, "%s", dec);
  else if (n > decimals)
    sprintf(out, "%.*s.%s", (int)(n - decimals), dec, dec + n - decimals);
  else {
    memcpy(out, "0.", 2);
    memset(out + 2, '0', decimals - n);
    strcpy(out + 2 + decimals - n, dec);
  }
}

/* Returns the text written by w as a NUL-terminated copy of its buffer. */
static char *text(struct jw *w) {
  char *s = malloc(w->len + 1);
  memcpy(s, w->buf, w->len);
  s[w->len] = 0;
  return s;
}

START_TEST(literal_vectors) {
  struct {
    u256 v;
    unsigned decimals;
    const char *dec, *fixed;
  } c[] = {
      {{{0, 0, 0, 0}}, 0, "0", "0"},
      {{{0, 0, 0, 0}}, 8, "0", "0.00000000"},
      {{{5, 0, 0, 0}}, 2, "5", "0.05"},
      {{{99, 0, 0, 0}}, 2, "99", "0.99"},
      {{{100, 0, 0, 0}}, 2, "100", "1.00"},
      {{{UINT64_MAX, 0, 0, 0}}, 18, "18446744073709551615", "18.446744073709551615"},
      {{{0, 1, 0, 0}}, 18, "18446744073709551616", "18.446744073709551616"},
      {{{10000000000000000000u, 0, 0, 0}}, 19, "10000000000000000000", "1.0000000000000000000"},
      {{{9999999999999999999u, 0, 0, 0}}, 27, "9999999999999999999", "0.000000009999999999999999999"},
      {{{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}},
       27,
       "115792089237316195423570985008687907853269984665640564039457584007913129639935",
       "115792089237316195423570985008687907853269984665640.564039457584007913129639935"},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    struct jw w = {0};
    jw_arr(&w);
    jw_u256(&w, c[i].v);
    jw_fixed(&w, c[i].v, c[i].decimals);
    jw_arr_end(&w);
    char want[300];
    snprintf(want, sizeof want, "[\"%s\",\"%s\"]", c[i].dec, c[i].fixed);
    char *got = text(&w);
    ck_assert_str_eq(got, want);
    free(got);
    jw_free(&w);
  }
}
END_TEST

START_TEST(against_bignum) {
  seed_init("jsonw");
  rng_t r = rng_for(77);
  for (long i = 0; i < N_CASES; i++) {
    u256 v = draw(&r);
    unsigned decimals = (unsigned)(i % 81);
    BIGNUM *b = to_bn(v);
    char *dec = BN_bn2dec(b);
    char fixed[200], want[1024];
    want_fixed(dec, decimals, fixed);
    struct jw w = {0};
    jw_obj(&w);
    jw_ku256_kfixed(&w, "a", "a_h", v, decimals);
    jw_kfixed_ku256(&w, "b_h", "b", v, decimals);
    jw_key(&w, "c");
    jw_u256(&w, v);
    jw_key(&w, "c_h");
    jw_fixed(&w, v, decimals);
    jw_obj_end(&w);
    snprintf(want, sizeof want, "{\"a\":\"%s\",\"a_h\":\"%s\",\"b_h\":\"%s\",\"b\":\"%s\",\"c\":\"%s\",\"c_h\":\"%s\"}",
             dec, fixed, fixed, dec, dec, fixed);
    char *got = text(&w);
    REQ_MSG(strcmp(got, want) == 0, "#%ld decimals %u: got %s want %s", i, decimals, got, want);
    free(got);
    jw_free(&w);
    OPENSSL_free(dec);
    BN_free(b);
  }
}
END_TEST

/* Two NDJSON records; after every piece, flushed to f when f is not NULL. */
static void write_records(struct jw *w, FILE *f) {
#define PIECE(call)                                                                                                    \
  do {                                                                                                                 \
    call;                                                                                                              \
    if (f) ck_assert(jw_flush(w, f));                                                                                  \
  } while (0)
  PIECE(jw_obj(w));
  PIECE(jw_key(w, "a"));
  PIECE(jw_int(w, 1));
  PIECE(jw_key(w, "b"));
  PIECE(jw_arr(w));
  PIECE(jw_u256(w, u256_from_u64(5)));
  PIECE(jw_str(w, "x\n"));
  PIECE(jw_bool(w, true));
  PIECE(jw_obj(w));
  PIECE(jw_obj_end(w));
  PIECE(jw_arr(w));
  PIECE(jw_arr_end(w));
  PIECE(jw_arr_end(w));
  PIECE(jw_obj_end(w));
  PIECE(jw_nl(w));
  PIECE(jw_arr(w));
  PIECE(jw_null(w));
  PIECE(jw_obj(w));
  PIECE(jw_kint(w, "c", -2));
  PIECE(jw_obj_end(w));
  PIECE(jw_arr_end(w));
  PIECE(jw_nl(w));
#undef PIECE
}

START_TEST(streaming) {
  static const char want[] = "{\"a\":1,\"b\":[\"5\",\"x\\n\",true,{},[]]}\n[null,{\"c\":-2}]\n";
  struct jw whole = {0};
  write_records(&whole, NULL);
  char *got = text(&whole);
  ck_assert_str_eq(got, want);
  free(got);
  jw_free(&whole);

  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  ck_assert_ptr_nonnull(f);
  struct jw w = {0};
  write_records(&w, f);
  ck_assert_uint_eq(w.len, 0);
  fclose(f);
  ck_assert_uint_eq(n, strlen(want));
  ck_assert_str_eq(buf, want);
  free(buf);
  jw_free(&w);

  /* a device that refuses every write, unbuffered so the error shows at once */
  FILE *full = fopen("/dev/full", "w");
  ck_assert_ptr_nonnull(full);
  setvbuf(full, NULL, _IONBF, 0);
  struct jw e = {0};
  jw_obj(&e);
  jw_obj_end(&e);
  ck_assert(!jw_flush(&e, full));
  fclose(full);
  jw_free(&e);
}
END_TEST

int main(void) {
  Suite *s = suite_create("jsonw");
  TCase *tc = tcase_create("unit");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, literal_vectors);
  tcase_add_test(tc, against_bignum);
  tcase_add_test(tc, streaming);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
