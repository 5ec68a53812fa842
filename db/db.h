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
  DB_NO_ROWS,     /* a single-row query found nothing */
  DB_CONFLICT,    /* 23505 unique violation */
  DB_RETRY,       /* 40001 / 40P01: retried by db_run_txn, surfaced only when retries ran out */
  DB_UNAVAILABLE, /* no connection could be had (server down, pool exhausted past the wait) */
  DB_ERROR,       /* anything else: logged with its cause, a 500 for the caller */
} db_status;

/* Returns a short lowercase name for a db_status. */
const char *db_status_name(db_status s);

/* Pool gauges for /metrics. */
typedef struct {
  unsigned size;          /* configured connections */
  unsigned in_use;        /* handed out now */
  unsigned idle;          /* connected and free */
  uint64_t acquired;      /* total successful acquires */
  uint64_t wait_timeouts; /* acquires that gave up waiting */
  uint64_t reconnects;    /* connections (re)established after a failure */
  uint64_t errors;        /* DB_ERROR outcomes */
  uint64_t unavailable;   /* DB_UNAVAILABLE outcomes */
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
 * transaction, is reset before it is handed out; statements are prepared on every new connection.
 * Opening a new session may take up to max(wait_ms, 500 ms); after a failed attempt the pool fails
 * fast (no connect) for a backoff of 100 ms doubling to 1 s, and retries after it by itself. */
db_conn *db_acquire(db_pool *pool, unsigned wait_ms);
/* Gives the connection back; one left in a failed or open transaction is rolled back first. */
void db_release(db_conn *conn);

/* Returns DB_OK when `SELECT 1` succeeds on a pooled connection. */
db_status db_ping(db_pool *pool);

/* Schema state against the migrations compiled into this binary. */
typedef enum {
  DB_SCHEMA_CURRENT = 0,
  DB_SCHEMA_BEHIND,   /* pending migrations */
  DB_SCHEMA_AHEAD,    /* the database has migrations this binary does not know */
  DB_SCHEMA_MODIFIED, /* an applied migration's checksum differs from the compiled file */
  DB_SCHEMA_UNKNOWN,  /* could not be read (connection failed) */
} db_schema_state;

/* Returns the schema state seen through a pooled connection; writes a reason into why (may be NULL). */
db_schema_state db_schema_check(db_pool *pool, char *why, size_t why_len);

/* Runs fn(conn, arg) inside BEGIN ... COMMIT on a pooled connection. On 40001/40P01 the
 * transaction is rolled back and retried (at most DB_TXN_MAX_ATTEMPTS attempts, with jitter). fn returns a
 * db_status; anything but DB_OK rolls back. Returns the final status. */
typedef db_status (*db_txn_fn)(db_conn *conn, void *arg);
db_status db_run_txn(db_pool *pool, db_txn_fn fn, void *arg);

/* ---- Additions (db layer implementation) ----------------------------------------------------
 *
 * Typical use inside db/ (only db/ holds SQL; callers get typed functions such as db_keys_lookup):
 *
 *   const struct db_statement db_vaults_statements[] = {   // db/vaults.c, listed in DB_AREAS
 *       {"vaults_get", "SELECT address, chi::text AS chi FROM vaults WHERE chain_id = $1"},
 *   };
 *   DB_STATEMENTS_COUNT(vaults);
 *
 *   static db_status row_cb(const db_row *row, void *arg) {
 *     struct db_vault *v = next_slot(arg);
 *     struct db_col cols[] = {{"address", DB_COL_TEXT, v->address, sizeof v->address, NULL},
 *                             {"chi", DB_COL_TEXT, v->chi, sizeof v->chi, NULL}};
 *     return db_row_get(row, cols, 2);             // copies; the row dies with the callback
 *   }
 *   db_status db_vaults_list(db_conn *c, ...) {     // may run more than once (40001/40P01)
 *     const char *p[] = {"1"};
 *     return db_query_prepared(c, "vaults_get", 1, p, row_cb, arg, NULL);
 *   }
 *   db_status st = db_run_txn(pool, work, &out);   // DB_OK / DB_CONFLICT / DB_UNAVAILABLE / ...
 *
 * numeric(78,0) values travel as text (cast with ::text) and are parsed by risk/u256. */

/* Log levels passed to the logger callback; the numbers match enum util_log_level. */
enum { DB_LOG_DEBUG = 0, DB_LOG_INFO = 1, DB_LOG_WARN = 2, DB_LOG_ERROR = 3 };
/* Routes db/ log lines to fn (NULL restores the default: WARN and ERROR to stderr). Call once at
 * start-up, before any pool exists. */
void db_set_logger(void (*fn)(int level, const char *msg));

/* Attempts db_run_txn makes before it gives up with DB_RETRY. */
#define DB_TXN_MAX_ATTEMPTS 6
/* Default wait for a free connection used by db_run_txn, db_ping and db_schema_check. */
#define DB_DEFAULT_WAIT_MS 2000u

/* Sets the wait used by db_run_txn, db_ping and db_schema_check (default DB_DEFAULT_WAIT_MS). */
void db_pool_set_wait(db_pool *pool, unsigned wait_ms);
/* Sets whether a new connection of the pool prepares every registered statement at once (the
 * default) or each on its first use: a one-shot command (sparkd import) runs a few dozen of them,
 * and preparing the whole registry was a third of a small import's time. */
void db_pool_set_prepare_on_connect(db_pool *pool, bool all);

typedef enum { DB_ISO_READ_COMMITTED = 0, DB_ISO_REPEATABLE_READ, DB_ISO_SERIALIZABLE } db_isolation;
struct db_txn_opts {
  db_isolation isolation; /* db_run_txn uses READ COMMITTED */
  bool read_only;
  unsigned max_attempts; /* 0 = DB_TXN_MAX_ATTEMPTS */
};
/* Returns like db_run_txn, with the isolation level, read-only flag and attempt bound of opts. */
db_status db_run_txn_ex(db_pool *pool, const struct db_txn_opts *opts, db_txn_fn fn, void *arg);

/* ---- Prepared-statement registry (STYLE rule 8) ----
 * Every statement of db/ is listed in one registry (DB_AREAS in db/statements.c), fixed at build
 * time, and prepared by name on every new pooled connection; one that failed to prepare (e.g. its
 * table did not exist yet) is prepared on first use. Names are unique. */
struct db_statement {
  const char *name; /* e.g. "reserves_list" */
  const char *sql;  /* text with $1.. placeholders; must outlive the process */
};
#define DB_MAX_STATEMENTS 256
/* Returns 0 after adding n more statements (copied pointers, strings are borrowed), or -1 when a
 * name is already registered or the registry is full (nothing is added then). For tests: db/ code
 * lists its statements in DB_AREAS (db/statements.c). */
int db_statements_register(const struct db_statement *stmts, size_t n);
/* Returns the number of registered statements. */
size_t db_statements_count(void);
/* Returns the name of registry entry i, or NULL when i is past the end. */
const char *db_statements_name(size_t i);
/* Returns DB_OK once every registered statement is prepared on conn; else the status of the first
 * that fails, with its name in failed (may be NULL). Catches a statement whose SQL does not match
 * the schema. */
db_status db_statements_prepare_all(db_conn *conn, char *failed, size_t failed_len);

/* ---- Running statements. Parameters are text (NULL = SQL NULL); results are copied out. ---- */

/* One result row, valid only inside a db_row_fn callback. */
typedef struct db_row db_row;
/* Called once per row; returning anything but DB_OK stops and becomes the query's status. */
typedef db_status (*db_row_fn)(const db_row *row, void *arg);

typedef enum {
  DB_COL_TEXT,     /* dst: char[dst_len]; a longer value is DB_ERROR */
  DB_COL_TEXT_DUP, /* dst: char **, malloc'd copy the caller frees */
  DB_COL_INT64,    /* dst: int64_t * */
  DB_COL_INT32,    /* dst: int32_t * */
  DB_COL_UINT64,   /* dst: uint64_t * */
  DB_COL_BOOL,     /* dst: bool * */
  DB_COL_DOUBLE,   /* dst: double * (statistics only, never money) */
} db_col_type;
struct db_col {
  const char *name; /* result column name */
  db_col_type type;
  void *dst;
  size_t dst_len; /* DB_COL_TEXT only */
  bool *is_null;  /* NULL: a SQL NULL is DB_ERROR; else set, and dst zeroed on NULL */
};
/* Returns DB_OK after copying the row's columns named in cols into their destinations. */
db_status db_row_get(const db_row *row, const struct db_col *cols, size_t ncols);
/* Returns column i of the row as text (borrowed, valid during the callback), or NULL if SQL NULL. */
const char *db_row_text(const db_row *row, unsigned i);

/* Returns the status of running unparameterised SQL (may hold several statements; utility use). */
db_status db_exec(db_conn *conn, const char *sql);
/* Returns the status of a parameterised command; *affected (may be NULL) gets the row count. */
db_status db_exec_params(db_conn *conn, const char *sql, unsigned nparams, const char *const *params,
                         uint64_t *affected);
/* Returns the status of the registered statement `name`; *affected (may be NULL) gets the row count. */
db_status db_exec_prepared(db_conn *conn, const char *name, unsigned nparams, const char *const *params,
                           uint64_t *affected);
/* A run of writes whose results are not read, sent without waiting for each (libpq pipeline
 * mode): one round trip instead of one per statement. Between the two calls only
 * db_exec_prepared may be used, and it reports no affected rows and no failure: db_pipeline_end
 * returns the first failure of the run (the statements after it are not executed). */
db_status db_pipeline_begin(db_conn *conn);
db_status db_pipeline_end(db_conn *conn);
/* Returns the status of a parameterised query, calling fn (may be NULL) per row; *nrows may be NULL. */
db_status db_query_params(db_conn *conn, const char *sql, unsigned nparams, const char *const *params, db_row_fn fn,
                          void *arg, uint64_t *nrows);
/* Returns the status of the registered query `name`, calling fn (may be NULL) per row. */
db_status db_query_prepared(db_conn *conn, const char *name, unsigned nparams, const char *const *params, db_row_fn fn,
                            void *arg, uint64_t *nrows);
/* Returns DB_OK with the single row copied into cols, DB_NO_ROWS when there is none, DB_ERROR (logged)
 * when there is more than one. */
db_status db_query_one_params(db_conn *conn, const char *sql, unsigned nparams, const char *const *params,
                              const struct db_col *cols, size_t ncols);
/* Returns like db_query_one_params, for the registered statement `name`. */
db_status db_query_one_prepared(db_conn *conn, const char *name, unsigned nparams, const char *const *params,
                                const struct db_col *cols, size_t ncols);

/* Returns the SQLSTATE of the connection's last failed call ("" if it succeeded or had none). */
const char *db_last_sqlstate(const db_conn *conn);
/* Returns the server's or libpq's message for the last failed call ("" if none). For logs only. */
const char *db_last_error(const db_conn *conn);

/* Returns a connection outside any pool (migrations, LISTEN, tests), or NULL with one line in err;
 * connecting gives up after timeout_ms. Statements are prepared on first use. */
db_conn *db_conn_open(const char *conninfo, unsigned timeout_ms, char *err, size_t err_len);
/* Closes a connection from db_conn_open. */
void db_conn_close(db_conn *conn);

/* Returns the status of deleting Idempotency-Key rows stored more than keep_h hours ago (their keys
 * may then be used again as new requests); *removed counts them. */
db_status db_idempotency_purge(db_pool *pool, unsigned keep_h, uint64_t *removed);

#endif
