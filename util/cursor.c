/* Opaque cursors: the hex form of a short "<tag>:<value>" text, so clients treat them as tokens. */
#include "util/cursor.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/hex.h"

void util_cursor_encode(const char *plain, char out[64]) {
  size_t n = strnlen(plain, 31);
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", (unsigned char)plain[i]);
  out[2 * n] = 0;
}

bool util_cursor_decode(const char *c, char plain[32]) {
  size_t n = strlen(c);
  if (n % 2 || n > 60) return false;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = util_hexval(c[2 * i]), lo = util_hexval(c[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    plain[i] = (char)(hi << 4 | lo);
  }
  plain[n / 2] = 0;
  return true;
}

void util_cursor_make(char tag, int64_t v, char out[64]) {
  char plain[32];
  snprintf(plain, sizeof plain, "%c:%" PRId64, tag, v);
  util_cursor_encode(plain, out);
}

bool util_cursor_parse(const char *c, char tag, int64_t *v) {
  char plain[32];
  return util_cursor_decode(c, plain) && plain[0] == tag && plain[1] == ':' && util_parse_i64(plain + 2, v);
}
