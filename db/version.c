#include "db/version.h"

#include <libpq-fe.h>
#include <stdio.h>

const char *db_libpq_version(void) {
  static char buf[32];
  int v = PQlibVersion();
  snprintf(buf, sizeof buf, "%d.%d", v / 10000, v % 10000);
  return buf;
}
