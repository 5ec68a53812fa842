/* The running service: configuration, database pool and lifecycle shared by every request. */
#ifndef SPARKD_SERVICE_SERVER_H
#define SPARKD_SERVICE_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "db/db.h"
#include "util/config.h"

struct svc_server {
  struct util_config cfg;
  db_pool *pool;
  db_pool *read_pool;        /* SPARKD_DATABASE_READ_URL's pool, or pool itself when it is empty */
  atomic_int inflight;       /* requests begun and not yet completed */
  atomic_bool shutting_down; /* set on SIGTERM/SIGINT */
  time_t started_at;
};

/* Returns 0 after serving until SIGTERM/SIGINT and shutting down cleanly, 1 on a start-up failure. */
int svc_serve(struct svc_server *srv);

#endif
