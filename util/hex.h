/* Hex digits, addresses and small decimal integers as they arrive in paths, queries and rows. */
#ifndef SPARKD_UTIL_HEX_H
#define SPARKD_UTIL_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns the value of hex digit c (either case), or -1 when c is not one. */
int util_hexval(char c);
/* Returns true when s is "0x" + 40 hex digits (any case); writes its lowercase form to lower[43]. */
bool util_parse_address(const char *s, char lower[43]);
/* Returns true when s is a non-negative decimal integer of at most 18 digits (stored in *out). */
bool util_parse_i64(const char *s, int64_t *out);
/* Writes "0x" + lowercase hex of data[0..n) and a NUL into out (2 + 2n + 1 bytes); returns out. */
char *util_hex0x(const uint8_t *data, size_t n, char *out);

#endif
