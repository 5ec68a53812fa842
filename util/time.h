/* Time as the API writes it. */
#ifndef SPARKD_UTIL_TIME_H
#define SPARKD_UTIL_TIME_H

#include <stdint.h>

/* Writes the RFC 3339 UTC form of unix time t ("2024-01-02T03:04:05Z") into buf[32]; returns buf. */
char *util_time_rfc3339(int64_t t, char buf[32]);

#endif
