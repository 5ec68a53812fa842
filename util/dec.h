/* Decimal text of 64-bit integers, without printf: account lookups and quotes write many numbers
 * per request, and keys and query parameters are built on every call. */
#ifndef SPARKD_UTIL_DEC_H
#define SPARKD_UTIL_DEC_H

#include <stdint.h>
#include <string.h>

/* Writes the decimal digits of u so that they end just before end; returns where they start. */
static inline char *util_u64_digits(uint64_t u, char *end) {
  static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                 "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                 "8081828384858687888990919293949596979899";
  char *p = end;
  while (u >= 100) {
    unsigned r = (unsigned)(u % 100);
    u /= 100;
    p -= 2;
    memcpy(p, pairs + 2 * r, 2);
  }
  if (u >= 10) {
    p -= 2;
    memcpy(p, pairs + 2 * u, 2);
  } else {
    *--p = (char)('0' + u);
  }
  return p;
}

/* Writes the decimal digits of v before end, with a '-' when negative; returns where they start. */
static inline char *util_i64_digits(int64_t v, char *end) {
  char *p = util_u64_digits(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, end);
  if (v < 0) *--p = '-';
  return p;
}

/* Writes the decimal form of v (as "%lld" does) and a NUL into out; returns out. */
static inline char *util_i64_dec(int64_t v, char out[24]) {
  char tmp[24], *p = util_i64_digits(v, tmp + sizeof tmp);
  size_t n = (size_t)(tmp + sizeof tmp - p);
  memcpy(out, p, n);
  out[n] = 0;
  return out;
}

#endif
