/* Opaque list cursors (util/cursor.c). */
#ifndef SPARKD_UTIL_CURSOR_H
#define SPARKD_UTIL_CURSOR_H

#include <stdbool.h>
#include <stdint.h>

/* Writes the opaque (hex) form of plain (at most 31 characters) into out[64]. */
void util_cursor_encode(const char *plain, char out[64]);
/* Returns true when c is an opaque cursor (even count of hex digits, at most 60); plain[32] gets its text. */
bool util_cursor_decode(const char *c, char plain[32]);
/* Writes the opaque cursor "<tag>:<v>" into out[64]. */
void util_cursor_make(char tag, int64_t v, char out[64]);
/* Returns true when c is the opaque cursor "<tag>:<number>" (number stored in *v). */
bool util_cursor_parse(const char *c, char tag, int64_t *v);

#endif
