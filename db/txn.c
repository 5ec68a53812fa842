/* Transactions with bounded, jittered retry on serialization failure and deadlock (STYLE rule 7).
 *
 * An attempt is retried when fn or COMMIT reports DB_RETRY (40001/40P01), and when the
 * connection turns out to be lost before COMMIT was sent (nothing can have been committed then).
 * A connection lost during COMMIT is not retried: the outcome is unknown, so DB_UNAVAILABLE is
 * returned. fn must therefore be safe to run again, and must not acquire a second connection
 * from the same pool. */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "db/internal.h"

#define BACKOFF_BASE_MS 2u

/* Returns a pseudo-random number from a per-thread xorshift generator (jitter only). */
static uint64_t jitter_rand(void) {
  static _Thread_local uint64_t s;
  if (s == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&s ^ (uint64_t)getpid();
    if (s == 0) s = 0x9e3779b97f4a7c15ull;
  }
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

/* Sleeps before attempt `attempt` (1-based count of failures so far): base * 2^attempt plus a
 * uniform jitter of the same size, capped at 200 ms. */
static void backoff(unsigned attempt) {
  uint64_t base = (uint64_t)BACKOFF_BASE_MS << (attempt < 7 ? attempt : 7);
  if (base > 100) base = 100;
  uint64_t us = base * 1000 + jitter_rand() % (base * 1000 + 1);
  struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static const char *begin_sql(const struct db_txn_opts *o) {
  static const char *const sql[3][2] = {
      {"BEGIN ISOLATION LEVEL READ COMMITTED", "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"},
      {"BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"},
      {"BEGIN ISOLATION LEVEL SERIALIZABLE", "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"},
  };
  unsigned i = (unsigned)o->isolation;
  if (i > 2) i = 0;
  return sql[i][o->read_only ? 1 : 0];
}

db_status db_run_txn_ex(db_pool *pool, const struct db_txn_opts *opts, db_txn_fn fn, void *arg) {
  struct db_txn_opts o = {0};
  if (opts) o = *opts;
  unsigned max = o.max_attempts ? o.max_attempts : DB_TXN_MAX_ATTEMPTS;
  pthread_mutex_lock(&pool->mu);
  unsigned wait = pool->wait_ms;
  pthread_mutex_unlock(&pool->mu);

  db_status st = DB_ERROR;
  for (unsigned attempt = 1; attempt <= max; attempt++) {
    if (attempt > 1) backoff(attempt - 1);
    db_conn *c = db_acquire(pool, wait);
    if (!c) return DB_UNAVAILABLE;
    bool retryable = false;
    st = db_exec(c, begin_sql(&o));
    if (st == DB_OK) st = fn(c, arg);
    if (st == DB_OK && PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
      /* fn ignored a failed statement; COMMIT would quietly roll back and report success. */
      db_log(DB_LOG_ERROR, "transaction function returned ok inside a failed transaction");
      st = DB_ERROR;
    } else if (st == DB_OK) {
      st = db_exec(c, "COMMIT");
      retryable = st == DB_RETRY; /* a serializable conflict can surface at COMMIT */
    } else {
      /* Lost before COMMIT: nothing was committed, a fresh connection may succeed. */
      retryable = st == DB_RETRY || (st == DB_UNAVAILABLE && (!c->pg || PQstatus(c->pg) != CONNECTION_OK));
    }
    db_release(c); /* rolls back whatever is still open */
    if (!retryable) return st;
    if (attempt < max)
      db_log(DB_LOG_DEBUG, "transaction attempt %u of %u: %s, retrying", attempt, max, db_status_name(st));
  }
  db_log(DB_LOG_WARN, "transaction gave up after %u attempts: %s", max, db_status_name(st));
  return st;
}

db_status db_run_txn(db_pool *pool, db_txn_fn fn, void *arg) { return db_run_txn_ex(pool, NULL, fn, arg); }
