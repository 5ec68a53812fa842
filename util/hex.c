#include "util/hex.h"

#include <string.h>

int util_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool util_parse_address(const char *s, char lower[43]) {
  if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || strlen(s) != 42) return false;
  static const char digits[] = "0123456789abcdef";
  lower[0] = '0';
  lower[1] = 'x';
  for (int i = 2; i < 42; i++) {
    int v = util_hexval(s[i]);
    if (v < 0) return false;
    lower[i] = digits[v];
  }
  lower[42] = 0;
  return true;
}

bool util_parse_i64(const char *s, int64_t *out) {
  if (!s || !*s || strlen(s) > 18) return false;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return true;
}

char *util_hex0x(const uint8_t *data, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  out[0] = '0';
  out[1] = 'x';
  for (size_t i = 0; i < n; i++) {
    out[2 + 2 * i] = digits[data[i] >> 4];
    out[3 + 2 * i] = digits[data[i] & 15];
  }
  out[2 + 2 * n] = 0;
  return out;
}
