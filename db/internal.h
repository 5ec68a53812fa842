/* Private to db/: the connection struct and helpers shared by pool.c, pq_eval.c, statements.c,
 * txn.c and migrate.c. Nothing outside db/ includes this file. */
#ifndef SPARKD_DB_INTERNAL_H
#define SPARKD_DB_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "db/db.h"
#include "util/dec.h"

struct db_conn {
  struct db_pool *pool; /* NULL for db_conn_open connections */
  PGconn *pg;           /* NULL while not connected */
  bool in_use;
  bool ever_connected;
  unsigned char prepared[DB_MAX_STATEMENTS]; /* 1: registry entry i is prepared on this session */
  bool pipelined;                            /* between db_pipeline_begin and db_pipeline_end */
  /* in the current pipeline: commands sent, and the statements prepared in it (registry index,
   * command number), so that db_pipeline_end knows which of those the server refused or skipped */
  unsigned pipe_cmds, pipe_n_prep;
  unsigned short pipe_prep_idx[DB_MAX_STATEMENTS];
  unsigned pipe_prep_at[DB_MAX_STATEMENTS];
  char sqlstate[6];
  char errmsg[512];
};

struct db_pool {
  char *conninfo;
  unsigned size;
  unsigned wait_ms;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* signalled when a connection is released */
  db_conn *conns;
  int64_t down_until_ms; /* after a failed connect, acquires needing a new connection fail fast */
  unsigned backoff_ms;
  unsigned in_use;
  bool prepare_lazily; /* statements prepared on first use, not on connect */
  uint64_t acquired, wait_timeouts, reconnects;
  _Atomic uint64_t errors, unavailable;
};

/* Writes one log line through the registered logger. */
void db_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Rewrites s in place as one line (libpq messages span several). */
void db_one_line(char *s);
/* Returns the monotonic clock in milliseconds. */
int64_t db_now_ms(void);

/* Defines db_<area>_statements_n, the length of db_<area>_statements, for an area file; the area
 * is then listed once in DB_AREAS (db/statements.c). */
#define DB_STATEMENTS_COUNT(area)                                                                                      \
  const size_t db_##area##_statements_n = sizeof db_##area##_statements / sizeof db_##area##_statements[0]

/* statements.c: returns the registry index of name, or -1. */
int db_stmt_find(const char *name, const char **sql);
/* statements.c: prepares every registered statement on c (failures are logged, left for first use). */
void db_stmt_prepare_all(db_conn *c);
/* statements.c: returns DB_OK once registry entry idx is prepared on c. */
db_status db_stmt_prepare(db_conn *c, int idx, int err_level);

/* pq_eval.c: returns the status of preparing sql as `name` on c; a DB_ERROR is logged at err_level,
 * and counted in the pool's gauges unless err_level is DB_LOG_DEBUG (the attempt on connect). */
db_status db_pq_prepare(db_conn *c, const char *name, const char *sql, int err_level);
/* pq_eval.c: prepares the n statements sqls[i] as names[i] on c in one round trip (a pipeline);
 * ok[i] is set to 1 for each that was prepared. Returns DB_OK unless the connection failed; a
 * statement the server refused leaves ok[i] 0, *first_failed the first such index (n: none) and
 * its cause in c's recorded error. */
db_status db_pq_prepare_batch(db_conn *c, const char *const *names, const char *const *sqls, size_t n,
                              unsigned char *ok, size_t *first_failed);
/* pq_eval.c: clears the recorded error of c. */
void db_clear_error(db_conn *c);

/* pool.c: connects c->pg to conninfo before deadline_ms (monotonic); returns 0, or -1 with the
 * cause in c->errmsg. */
int db_conn_connect(db_conn *c, const char *conninfo, int64_t deadline_ms);
/* pool.c: closes c->pg (if any) and forgets prepared statements. */
void db_conn_disconnect(db_conn *c);

/* Returns the status of the registered query `name` whose one parameter is id (a chain, a
 * position), calling fn per row. */
static inline db_status db_query_by_id(db_conn *conn, const char *name, int64_t id, db_row_fn fn, void *arg) {
  char text[24];
  const char *params[] = {util_i64_dec(id, text)};
  return db_query_prepared(conn, name, 1, params, fn, arg, NULL);
}

#endif
