/* ctest-label: unit */
/* risk/ratelimit: SLL rate-limit arithmetic and key derivation. Expected numbers: spec
 * protocol-math §5.1 #5 (spark-alm-controller test/unit/rate-limits/RateLimits.t.sol) and
 * keys computed by npm ethers (tests/ratelimit_keys.mjs -> tests/fixtures/ratelimit_keys.txt). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/ratelimit.h"
#include "support/u256check.h"

#define DAY 86400u
#define T0 1700000000u

/* max 5,000,000e18, slope 1,000,000e18 / 1 days (integer division), last 0 at T0 */
static struct risk_rate_limit big(void) {
  struct risk_rate_limit rl;
  u256 slope;
  ck_assert_int_eq(u256_div(&slope, D("1000000000000000000000000"), u256_from_u64(DAY)), RISK_OK);
  rl.max_amount = D("5000000000000000000000000");
  rl.slope = slope;
  rl.last_amount = U256_ZERO;
  rl.last_updated = T0;
  return rl;
}

START_TEST(test_slope) {
  struct risk_rate_limit rl = big();
  ck_assert_u256_dec(rl.slope, "11574074074074074074");
  u256 r;
  ck_assert_int_eq(risk_rate_limit_per_day(&r, &rl), RISK_OK);
  ck_assert_u256_dec(r, "999999999999999999993600");
}
END_TEST

START_TEST(test_current_start) {
  struct risk_rate_limit rl = big();
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0), RISK_OK);
  ck_assert(u256_is_zero(r));
}
END_TEST

START_TEST(test_current_1d) {
  struct risk_rate_limit rl = big();
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + DAY), RISK_OK);
  ck_assert_u256_dec(r, "999999999999999999993600"); /* 999,999.9999999999999936e18 */
}
END_TEST

START_TEST(test_current_2_5d) {
  struct risk_rate_limit rl = big();
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + DAY + DAY * 3 / 2), RISK_OK);
  ck_assert_u256_dec(r, "2499999999999999999984000"); /* 2,499,999.999999999999984e18 */
}
END_TEST

START_TEST(test_current_5d) {
  struct risk_rate_limit rl = big();
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 5 * DAY), RISK_OK);
  ck_assert_u256_dec(r, "4999999999999999999968000"); /* 4,999,999.999999999999968e18 */
}
END_TEST

START_TEST(test_current_capped) {
  struct risk_rate_limit rl = big();
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 5 * DAY + 1), RISK_OK);
  ck_assert_u256_dec(r, "5000000000000000000000000");
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 5 * DAY + 2), RISK_OK);
  ck_assert_u256_dec(r, "5000000000000000000000000");
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 5 * DAY + 2 + 365 * DAY), RISK_OK);
  ck_assert_u256_dec(r, "5000000000000000000000000");
}
END_TEST

START_TEST(test_current_errors) {
  struct risk_rate_limit rl = big();
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 - 1), RISK_UNDERFLOW);
  rl.slope = U256_MAX;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 2), RISK_OVERFLOW);
  /* empty key: everything zero */
  struct risk_rate_limit empty;
  memset(&empty, 0, sizeof empty);
  ck_assert_int_eq(risk_rate_limit_current(&r, &empty, T0), RISK_OK);
  ck_assert(u256_is_zero(r));
}
END_TEST

/* test_triggerRateLimitDecrease: dust 6400 after the first day, 19,200 after two more */
START_TEST(test_decrease_sequence) {
  struct risk_rate_limit rl = big();
  enum risk_rate_limit_revert why;
  u256 r, cur;
  uint64_t t1 = T0 + DAY;
  ck_assert_int_eq(risk_rate_limit_decrease(&rl, &r, &why, &rl, D("250000000000000000000000"), t1), RISK_OK);
  ck_assert_u256_dec(r, "749999999999999999993600"); /* 750,000e18 - 6400 */
  ck_assert_u256_dec(rl.last_amount, "749999999999999999993600");
  ck_assert_uint_eq(rl.last_updated, t1);
  ck_assert_int_eq(risk_rate_limit_current(&cur, &rl, t1), RISK_OK);
  ck_assert_u256_dec(cur, "749999999999999999993600");

  uint64_t t2 = t1 + 2 * DAY;
  ck_assert_int_eq(risk_rate_limit_current(&cur, &rl, t2), RISK_OK);
  ck_assert_u256_dec(cur, "2749999999999999999980800"); /* 2,750,000e18 - 19,200 */
  ck_assert_int_eq(risk_rate_limit_decrease(&rl, &r, &why, &rl, D("1000000000000000000000000"), t2), RISK_OK);
  ck_assert_u256_dec(r, "1749999999999999999980800"); /* 1,750,000e18 - 19,200 */

  uint64_t t3 = t2 + 365 * DAY;
  ck_assert_int_eq(risk_rate_limit_current(&cur, &rl, t3), RISK_OK);
  ck_assert_u256_dec(cur, "5000000000000000000000000");
  ck_assert_int_eq(risk_rate_limit_decrease(&rl, &r, &why, &rl, D("5000000000000000000000000"), t3), RISK_OK);
  ck_assert(u256_is_zero(r));
  ck_assert_uint_eq(rl.last_updated, t3);
}
END_TEST

/* test_triggerRateLimitDecrease_rateLimitExceededBoundary: max 100, slope 10, last 1 */
START_TEST(test_decrease_boundary) {
  struct risk_rate_limit rl = {u256_from_u64(100), u256_from_u64(10), u256_from_u64(1), T0};
  struct risk_rate_limit after;
  enum risk_rate_limit_revert why = RISK_RATE_LIMIT_OK;
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 1), RISK_OK);
  ck_assert_u256_dec(r, "11");
  ck_assert_int_eq(risk_rate_limit_decrease(&after, &r, &why, &rl, u256_from_u64(12), T0 + 1), RISK_INVALID);
  ck_assert_int_eq(why, RISK_RATE_LIMIT_EXCEEDED);
  ck_assert_str_eq(risk_rate_limit_revert_string(why), "RateLimits/rate-limit-exceeded");
  ck_assert_int_eq(risk_rate_limit_decrease(&after, &r, &why, &rl, u256_from_u64(11), T0 + 1), RISK_OK);
  ck_assert_int_eq(why, RISK_RATE_LIMIT_OK);
  ck_assert(u256_is_zero(r));
}
END_TEST

START_TEST(test_zero_max_amount) {
  struct risk_rate_limit rl;
  memset(&rl, 0, sizeof rl);
  enum risk_rate_limit_revert why = RISK_RATE_LIMIT_OK;
  u256 r;
  ck_assert_int_eq(risk_rate_limit_decrease(NULL, &r, &why, &rl, u256_from_u64(100), T0), RISK_INVALID);
  ck_assert_int_eq(why, RISK_RATE_LIMIT_ZERO_MAX_AMOUNT);
  ck_assert_str_eq(risk_rate_limit_revert_string(why), "RateLimits/zero-maxAmount");
  why = RISK_RATE_LIMIT_OK;
  ck_assert_int_eq(risk_rate_limit_increase(NULL, &r, &why, &rl, u256_from_u64(100), T0), RISK_INVALID);
  ck_assert_int_eq(why, RISK_RATE_LIMIT_ZERO_MAX_AMOUNT);
  /* setRateLimitData(key, 1, 10) starts full: decreasing 1 works */
  struct risk_rate_limit one = {u256_from_u64(1), u256_from_u64(10), u256_from_u64(1), T0};
  ck_assert_int_eq(risk_rate_limit_decrease(NULL, &r, &why, &one, u256_from_u64(1), T0), RISK_OK);
}
END_TEST

START_TEST(test_unlimited) {
  struct risk_rate_limit rl = {U256_MAX, U256_ZERO, U256_MAX, T0};
  struct risk_rate_limit after;
  enum risk_rate_limit_revert why;
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + DAY), RISK_OK);
  ck_assert(u256_eq(r, U256_MAX));
  for (int d = 0; d < 3; d++) {
    ck_assert_int_eq(risk_rate_limit_decrease(&after, &r, &why, &rl, D("500000000000000000000000000"), T0 + d * DAY),
                     RISK_OK);
    ck_assert(u256_eq(r, U256_MAX));
    ck_assert_uint_eq(after.last_updated, T0); /* lastUpdated kept */
  }
  ck_assert_int_eq(risk_rate_limit_decrease(&after, &r, &why, &rl, U256_MAX, T0), RISK_OK);
  ck_assert(u256_eq(r, U256_MAX));
  ck_assert_int_eq(risk_rate_limit_increase(&after, &r, &why, &rl, U256_MAX, T0), RISK_OK);
  ck_assert(u256_eq(r, U256_MAX));
  ck_assert_int_eq(risk_rate_limit_seconds_until(&r, &rl, D("1000000"), T0), RISK_OK);
  ck_assert(u256_is_zero(r));
}
END_TEST

/* test_triggerRateLimitIncrease(_aboveMaxAmount): max 1000, slope 10, last 100 */
START_TEST(test_increase) {
  struct risk_rate_limit rl = {u256_from_u64(1000), u256_from_u64(10), u256_from_u64(100), T0};
  struct risk_rate_limit after;
  enum risk_rate_limit_revert why;
  u256 r;
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 1), RISK_OK);
  ck_assert_u256_dec(r, "110");
  ck_assert_int_eq(risk_rate_limit_increase(&after, &r, &why, &rl, u256_from_u64(500), T0 + 1), RISK_OK);
  ck_assert_u256_dec(r, "610");
  ck_assert_u256_dec(after.last_amount, "610");
  ck_assert_uint_eq(after.last_updated, T0 + 1);
  ck_assert_int_eq(risk_rate_limit_increase(&after, &r, &why, &rl, u256_from_u64(891), T0 + 1), RISK_OK);
  ck_assert_u256_dec(r, "1000"); /* 110 + 891 = 1001 capped */
  /* zero amounts just checkpoint: (100, 10, 0) + 3 s -> 30 */
  struct risk_rate_limit z = {u256_from_u64(100), u256_from_u64(10), U256_ZERO, T0};
  ck_assert_int_eq(risk_rate_limit_increase(&after, &r, &why, &z, U256_ZERO, T0 + 3), RISK_OK);
  ck_assert_u256_dec(r, "30");
  ck_assert_uint_eq(after.last_updated, T0 + 3);
  ck_assert_int_eq(risk_rate_limit_decrease(&after, &r, &why, &z, U256_ZERO, T0 + 3), RISK_OK);
  ck_assert_u256_dec(r, "30");
  /* current + amount overflowing reverts */
  ck_assert_int_eq(risk_rate_limit_increase(&after, &r, &why, &rl, U256_MAX, T0 + 1), RISK_OVERFLOW);
}
END_TEST

START_TEST(test_seconds_until) {
  struct risk_rate_limit rl = big();
  u256 r;
  /* 1,000,000e18 from empty: ceil(1e24 / 11574074074074074074) = 86401 (one day leaves 6400 wei short) */
  ck_assert_int_eq(risk_rate_limit_seconds_until(&r, &rl, D("1000000000000000000000000"), T0), RISK_OK);
  ck_assert_u256_dec(r, "86401");
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 86401), RISK_OK);
  ck_assert(u256_ge(r, D("1000000000000000000000000")));
  ck_assert_int_eq(risk_rate_limit_current(&r, &rl, T0 + 86400), RISK_OK);
  ck_assert(u256_lt(r, D("1000000000000000000000000")));
  /* until full: ceil(5e24 / slope) = 432001 (5 days left 32000 wei short) */
  ck_assert_int_eq(risk_rate_limit_seconds_until_full(&r, &rl, T0), RISK_OK);
  ck_assert_u256_dec(r, "432001");
  ck_assert_int_eq(risk_rate_limit_seconds_until_full(&r, &rl, T0 + 432001), RISK_OK);
  ck_assert(u256_is_zero(r));
  /* already available */
  ck_assert_int_eq(risk_rate_limit_seconds_until(&r, &rl, D("1000"), T0 + DAY), RISK_OK);
  ck_assert(u256_is_zero(r));
  /* never: above max, or no slope */
  ck_assert_int_eq(risk_rate_limit_seconds_until(&r, &rl, D("5000000000000000000000001"), T0), RISK_INVALID);
  rl.slope = U256_ZERO;
  ck_assert_int_eq(risk_rate_limit_seconds_until(&r, &rl, D("1"), T0), RISK_INVALID);
  /* small: max 100, slope 10, last 1 -> 95 needs ceil(94/10) = 10 s */
  struct risk_rate_limit s = {u256_from_u64(100), u256_from_u64(10), u256_from_u64(1), T0};
  ck_assert_int_eq(risk_rate_limit_seconds_until(&r, &s, u256_from_u64(95), T0), RISK_OK);
  ck_assert_u256_dec(r, "10");
}
END_TEST

/* ---- keys against tests/fixtures/ratelimit_keys.txt (npm ethers) ---- */

static void hex_bytes(const char *hex, uint8_t *out, size_t n) {
  if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex += 2;
  ck_assert_uint_eq(strlen(hex), 2 * n);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

START_TEST(test_keys_fixture) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/fixtures/ratelimit_keys.txt", SPARKD_SOURCE_DIR);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char line[1024];
  int counts[5] = {0};
  while (fgets(line, sizeof line, f) != NULL) {
    if (line[0] == '#' || line[0] == '\n') continue;
    char kind[32], name[128], a1[80], a2[80], a3[80];
    int n = sscanf(line, "%31s %127s %79s %79s %79s", kind, name, a1, a2, a3);
    uint8_t base[32], got[32], want[32];
    risk_rate_limit_key(base, name);
    if (strcmp(kind, "base") == 0) {
      ck_assert_int_eq(n, 3);
      hex_bytes(a1, want, 32);
      memcpy(got, base, 32);
      counts[0]++;
    } else if (strcmp(kind, "address") == 0) {
      uint8_t a[20];
      ck_assert_int_eq(n, 4);
      hex_bytes(a1, a, 20);
      hex_bytes(a2, want, 32);
      risk_rate_limit_address_key(got, base, a);
      counts[1]++;
    } else if (strcmp(kind, "address_address") == 0) {
      uint8_t a[20], b[20];
      ck_assert_int_eq(n, 5);
      hex_bytes(a1, a, 20);
      hex_bytes(a2, b, 20);
      hex_bytes(a3, want, 32);
      risk_rate_limit_address_address_key(got, base, a, b);
      counts[2]++;
    } else if (strcmp(kind, "uint32") == 0) {
      ck_assert_int_eq(n, 4);
      unsigned long d = strtoul(a1, NULL, 10);
      hex_bytes(a2, want, 32);
      risk_rate_limit_uint32_key(got, base, (uint32_t)d);
      counts[3]++;
    } else if (strcmp(kind, "bytes32") == 0) {
      uint8_t x[32];
      ck_assert_int_eq(n, 4);
      hex_bytes(a1, x, 32);
      hex_bytes(a2, want, 32);
      risk_rate_limit_bytes32_key(got, base, x);
      counts[4]++;
    } else {
      ck_abort_msg("unknown vector kind %s", kind);
    }
    ck_assert_msg(memcmp(got, want, 32) == 0, "key mismatch: %s", line);
  }
  fclose(f);
  for (int i = 0; i < 5; i++)
    ck_assert_int_gt(counts[i], 0);
}
END_TEST

/* One literal, so a missing fixture cannot make the test vacuous: keccak256("LIMIT_USDS_MINT"). */
START_TEST(test_key_literal) {
  uint8_t got[32], want[32];
  risk_rate_limit_key(got, "LIMIT_USDS_MINT");
  hex_bytes("cb0537d5e5dba65a8edbac12555995860e5b8e1b70996011edb1ca8173e56d3c", want, 32);
  ck_assert_int_eq(memcmp(got, want, 32), 0);
}
END_TEST

static Suite *ratelimit_suite(void) {
  Suite *s = suite_create("ratelimit");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_slope);
  tcase_add_test(tc, test_current_start);
  tcase_add_test(tc, test_current_1d);
  tcase_add_test(tc, test_current_2_5d);
  tcase_add_test(tc, test_current_5d);
  tcase_add_test(tc, test_current_capped);
  tcase_add_test(tc, test_current_errors);
  tcase_add_test(tc, test_decrease_sequence);
  tcase_add_test(tc, test_decrease_boundary);
  tcase_add_test(tc, test_zero_max_amount);
  tcase_add_test(tc, test_unlimited);
  tcase_add_test(tc, test_increase);
  tcase_add_test(tc, test_seconds_until);
  tcase_add_test(tc, test_keys_fixture);
  tcase_add_test(tc, test_key_literal);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(ratelimit_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
