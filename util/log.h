/* Logging: one line per event to stderr, text or JSON (SPARKD_LOG_FORMAT). */
#ifndef SPARKD_UTIL_LOG_H
#define SPARKD_UTIL_LOG_H

#include "util/config.h"

/* Sets the level and format; call once at start-up (defaults: info, text). */
void util_log_init(enum util_log_level level, enum util_log_format format);
/* Returns true when messages of `level` are written. */
bool util_log_enabled(enum util_log_level level);
/* Writes one line at `level` (printf-style). */
void util_log(enum util_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes the access-log line of one request. */
void util_log_access(const char *method, const char *route, unsigned status, unsigned long long bytes,
                     unsigned long long micros, const char *request_id);

/* Logs our own bug with file:line and carries on (STYLE rule 14). */
#define UTIL_BUG(...) util_log_bug(__FILE__, __LINE__, __VA_ARGS__)
void util_log_bug(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
