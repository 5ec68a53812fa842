#include "util/time.h"

#include <string.h>
#include <time.h>

char *util_time_rfc3339(int64_t t, char buf[32]) {
  /* Most calls format the same block timestamp again (every account lookup and quote of a
   * generation), so each thread keeps its last result: gmtime_r and strftime cost more than the
   * rest of a small response. */
  static _Thread_local int64_t last_t;
  static _Thread_local char last[32];
  if (last[0] && last_t == t) return memcpy(buf, last, 32);
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  memcpy(last, buf, 32);
  last_t = t;
  return buf;
}
