/* The database layer: the only code that includes libpq-fe.h is under db/.
 * Handlers and the service see these types and functions only. */
#ifndef SPARKD_DB_H
#define SPARKD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db_pool db_pool;
typedef struct db_conn db_conn;

/* Outcome of a database call. SQLSTATE decides (STYLE rule 7). */
typedef enum {
  DB_OK = 0,
  DB_NO_ROWS,       /* a single-row query found nothing */
  DB_CONFLICT,      /* 23505 unique violation */
  DB_RETRY,         /* 40001 / 40P01: retried by db_run_txn, surfaced only when retries ran out */
  DB_UNAVAILABLE,   /* no connection could be had (server down, pool exhausted past the wait) */
  DB_ERROR,         /* anything else: logged with its cause, a 500 for the caller */
} db_status;

/* Returns a short lowercase name for a db_status. */
const char *db_status_name(db_status s);

/* Pool gauges for /metrics. */
typedef struct {
  unsigned size;         /* configured connections */
  unsigned in_use;       /* handed out now */
  unsigned idle;         /* connected and free */
  uint64_t acquired;     /* total successful acquires */
  uint64_t wait_timeouts;/* acquires that gave up waiting */
  uint64_t reconnects;   /* connections (re)established after a failure */
  uint64_t errors;       /* DB_ERROR outcomes */
  uint64_t unavailable;  /* DB_UNAVAILABLE outcomes */
} db_pool_stats;

/* Returns a pool of `size` lazily opened connections to conninfo (libpq conninfo or URI), or NULL
 * on a bad argument. Connections are opened on first use, so a server that is down at start-up
 * does not stop the process. */
db_pool *db_pool_create(const char *conninfo, unsigned size);
/* Closes every connection and frees the pool. */
void db_pool_destroy(db_pool *pool);
/* Fills *out with the current gauges. */
void db_pool_get_stats(db_pool *pool, db_pool_stats *out);

/* Returns a connection, waiting at most wait_ms for a free one, or NULL (DB_UNAVAILABLE) when the
 * server cannot be reached or none became free. A connection found broken, or left inside a
 * transaction, is reset before it is handed out; statements are prepared on every new connection. */
db_conn *db_acquire(db_pool *pool, unsigned wait_ms);
/* Gives the connection back; one left in a failed or open transaction is rolled back first. */
void db_release(db_conn *conn);

/* Returns DB_OK when `SELECT 1` succeeds on a pooled connection. */
db_status db_ping(db_pool *pool);

/* Schema state against the migrations compiled into this binary. */
typedef enum {
  DB_SCHEMA_CURRENT = 0,
  DB_SCHEMA_BEHIND,    /* pending migrations */
  DB_SCHEMA_AHEAD,     /* the database has migrations this binary does not know */
  DB_SCHEMA_MODIFIED,  /* an applied migration's checksum differs from the compiled file */
  DB_SCHEMA_UNKNOWN,   /* could not be read (connection failed) */
} db_schema_state;

/* Returns the schema state seen through a pooled connection; writes a reason into why (may be NULL). */
db_schema_state db_schema_check(db_pool *pool, char *why, size_t why_len);

/* Runs fn(conn, arg) inside BEGIN ... COMMIT on a pooled connection. On 40001/40P01 the
 * transaction is rolled back and retried (at most `SPARKD` bound, with jitter). fn returns a
 * db_status; anything but DB_OK rolls back. Returns the final status. */
typedef db_status (*db_txn_fn)(db_conn *conn, void *arg);
db_status db_run_txn(db_pool *pool, db_txn_fn fn, void *arg);

#endif
