/* Unit-test helpers for u256 values: decimal literals and a decimal assertion (Check). */
#ifndef SPARKD_TESTS_U256CHECK_H
#define SPARKD_TESTS_U256CHECK_H

#include <check.h>
#include <string.h>

#include "risk/u256.h"

/* Returns the u256 of a decimal literal; fails the test on a malformed one. */
static inline u256 D(const char *s) {
  u256 v;
  ck_assert_int_eq(u256_from_dec(&v, s, strlen(s)), RISK_OK);
  return v;
}

/* Asserts that val's decimal form is str. */
#define ck_assert_u256_dec(val, str)                                                                                   \
  do {                                                                                                                 \
    char buf_[U256_DEC_MAX];                                                                                           \
    u256_to_dec((val), buf_);                                                                                          \
    ck_assert_str_eq(buf_, (str));                                                                                     \
  } while (0)

#endif
