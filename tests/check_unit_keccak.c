/* ctest-label: unit */
/* risk_keccak256 against known answers and against tests/fixtures/keccak_vectors.txt,
 * which npm ethers generated (tests/keccak_vectors.mjs): the rate-limit key names,
 * abi.encode composite keys and multi-block inputs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/keccak.h"

/* Writes the lowercase hex of 32 bytes and a NUL into out. */
static void hex32(const uint8_t h[32], char out[65]) {
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Returns the keccak256 hex of the string s. */
static const char *khex(const char *s, size_t len, char out[65]) {
  uint8_t h[32];
  risk_keccak256((const uint8_t *)s, len, h);
  hex32(h, out);
  return out;
}

START_TEST(test_known_answers) {
  char out[65];
  ck_assert_str_eq(khex("", 0, out), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  ck_assert_str_eq(khex("abc", 3, out), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  /* NULL with length 0 is the empty message */
  uint8_t h[32];
  risk_keccak256(NULL, 0, h);
  hex32(h, out);
  ck_assert_str_eq(out, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
}
END_TEST

/* Returns the value of a hex digit, or -1. */
static int hexdigit(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

START_TEST(test_fixture) {
  const char *path = SPARKD_SOURCE_DIR "/tests/fixtures/keccak_vectors.txt";
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char *line = NULL;
  size_t cap = 0;
  int checked = 0, names = 0;
  while (getline(&line, &cap, f) > 0) {
    if (line[0] == '#' || line[0] == '\n') continue;
    char label[128], input[8192], want[128];
    ck_assert_int_eq(sscanf(line, "%127s %8191s %127s", label, input, want), 3);
    size_t n = strcmp(input, "-") == 0 ? 0 : strlen(input) / 2;
    ck_assert_msg(n == 0 || strlen(input) % 2 == 0, "%s: odd hex length", label);
    uint8_t *bytes = malloc(n + 1);
    ck_assert_ptr_nonnull(bytes);
    for (size_t i = 0; i < n; i++) {
      int hi = hexdigit(input[2 * i]), lo = hexdigit(input[2 * i + 1]);
      ck_assert_msg(hi >= 0 && lo >= 0, "%s: bad hex", label);
      bytes[i] = (uint8_t)(hi * 16 + lo);
    }
    uint8_t h[32];
    char got[65];
    risk_keccak256(bytes, n, h);
    hex32(h, got);
    ck_assert_msg(strcmp(got, want) == 0, "%s: got %s want %s", label, got, want);
    if (strncmp(label, "LIMIT_", 6) == 0) {
      /* the names are ASCII: hashing the label itself must agree */
      ck_assert_uint_eq(n, strlen(label));
      ck_assert_mem_eq(bytes, label, n);
      names++;
    }
    free(bytes);
    checked++;
  }
  free(line);
  fclose(f);
  ck_assert_int_eq(names, 18);
  ck_assert_int_ge(checked, 27);
}
END_TEST

START_TEST(test_streaming_boundaries) {
  /* every length 0..300 must hash identically whether the buffer is aligned or not */
  static uint8_t buf[400];
  for (int i = 0; i < 400; i++)
    buf[i] = (uint8_t)(i * 7 + 3);
  for (size_t n = 0; n <= 300; n++) {
    uint8_t a[32], b[32];
    uint8_t copy[301];
    memcpy(copy + 1, buf, n);
    risk_keccak256(buf, n, a);
    risk_keccak256(copy + 1, n, b);
    ck_assert_mem_eq(a, b, 32);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("keccak");
  TCase *tc = tcase_create("keccak");
  tcase_add_test(tc, test_known_answers);
  tcase_add_test(tc, test_fixture);
  tcase_add_test(tc, test_streaming_boundaries);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
