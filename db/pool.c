/* The connection pool: lazily opened libpq connections shared by worker threads.
 *
 * A slot is taken under the pool mutex and then connected, checked or rolled back outside it, so
 * one slow server round trip never blocks the other threads. Connecting is non-blocking
 * (PQconnectStartParams + poll) with our own deadline, so db_acquire is bounded even when the
 * server is unreachable; after a failed connect the pool fails fast for a short, growing backoff
 * instead of letting every caller time out on its own. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/internal.h"

#define CONNECT_MIN_MS 500u /* a connect attempt always gets at least this long */
#define BACKOFF_START_MS 100u
#define BACKOFF_MAX_MS 1000u

/* ---- logging ---- */

/* Turns libpq's multi-line messages into one line: newlines and tabs become single spaces. */
void db_one_line(char *s) {
  char *w = s;
  for (const char *r = s; *r; r++) {
    char ch = (*r == '\n' || *r == '\t' || *r == '\r') ? ' ' : *r;
    if (ch == ' ' && (w == s || w[-1] == ' ')) continue;
    *w++ = ch;
  }
  while (w > s && w[-1] == ' ')
    w--;
  *w = '\0';
}

static void (*_Atomic logger)(int level, const char *msg);

void db_set_logger(void (*fn)(int level, const char *msg)) { logger = fn; }

void db_log(int level, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  db_one_line(buf);
  void (*fn)(int, const char *) = logger;
  if (fn)
    fn(level, buf);
  else if (level >= DB_LOG_WARN)
    fprintf(stderr, "db: %s\n", buf);
}

int64_t db_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *db_status_name(db_status s) {
  switch (s) {
  case DB_OK: return "ok";
  case DB_NO_ROWS: return "no rows";
  case DB_CONFLICT: return "conflict";
  case DB_RETRY: return "serialization failure";
  case DB_UNAVAILABLE: return "unavailable";
  case DB_ERROR: return "error";
  }
  return "unknown";
}

/* ---- one connection ---- */

static void notice_processor(void *arg, const char *message) {
  (void)arg;
  db_log(DB_LOG_DEBUG, "server notice: %s", message);
}

static void set_errmsg(db_conn *c, const char *msg) {
  snprintf(c->errmsg, sizeof c->errmsg, "%s", msg ? msg : "");
  db_one_line(c->errmsg);
}

void db_conn_disconnect(db_conn *c) {
  if (c->pg) PQfinish(c->pg);
  c->pg = NULL;
  memset(c->prepared, 0, sizeof c->prepared);
}

int db_conn_connect(db_conn *c, const char *conninfo, int64_t deadline_ms) {
  db_conn_disconnect(c);
  db_clear_error(c);
  int64_t left = deadline_ms - db_now_ms();
  if (left < 1000) left = 1000;
  char timeout_s[24];
  snprintf(timeout_s, sizeof timeout_s, "%lld", (long long)(left + 999) / 1000 + 1);
  /* Entries before dbname may be overridden by the conninfo; none come after it. The TCP
   * keepalive and user timeout settings make a dead peer on a silent network show up as a lost
   * connection within about a minute instead of hours (they do not apply to unix sockets). */
  const char *const keys[] = {"connect_timeout",  "application_name", "keepalives_idle", "keepalives_interval",
                              "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
  const char *const vals[] = {timeout_s, "sparkd", "30", "10", "3", "60000", conninfo, NULL};
  PGconn *pg = PQconnectStartParams(keys, vals, 1);
  if (!pg) {
    set_errmsg(c, "out of memory");
    return -1;
  }
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  if (PQstatus(pg) == CONNECTION_BAD) st = PGRES_POLLING_FAILED;
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    int64_t wait = deadline_ms - db_now_ms();
    if (wait <= 0) {
      set_errmsg(c, "connection attempt timed out");
      PQfinish(pg);
      return -1;
    }
    struct pollfd pfd = {.fd = PQsocket(pg), .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
    if (pfd.fd < 0) break;
    int rc = poll(&pfd, 1, (int)(wait > 1000 ? 1000 : wait));
    if (rc < 0 && errno != EINTR) {
      set_errmsg(c, strerror(errno));
      PQfinish(pg);
      return -1;
    }
    if (rc > 0) st = PQconnectPoll(pg);
  }
  if (PQstatus(pg) != CONNECTION_OK) {
    set_errmsg(c, PQerrorMessage(pg));
    PQfinish(pg);
    return -1;
  }
  PQsetNoticeProcessor(pg, notice_processor, NULL);
  c->pg = pg;
  return 0;
}

/* Returns true when an idle connection is still usable: a server that went away leaves the socket
 * readable (EOF or a FATAL message), which a zero-timeout poll sees without a round trip. */
static bool idle_conn_alive(db_conn *c) {
  if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) return false;
  /* A server shutting down sends a FATAL message and then closes: one read takes the message,
   * the next sees EOF. Anything else readable (NOTIFY, ParameterStatus) is consumed and ignored. */
  for (int i = 0; i < 8; i++) {
    struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
    if (pfd.fd < 0) return false;
    if (poll(&pfd, 1, 0) <= 0) break;
    if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK) return false;
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL)
      PQfreemem(n);
  }
  return PQstatus(c->pg) == CONNECTION_OK;
}

/* Leaves c outside any transaction: rolls back an open or failed one; drops a connection that
 * cannot be rolled back or is mid-command. */
static void reset_txn_state(db_conn *c) {
  if (!c->pg) return;
  if (PQstatus(c->pg) != CONNECTION_OK) {
    db_conn_disconnect(c);
    return;
  }
  PGTransactionStatusType ts = PQtransactionStatus(c->pg);
  if (ts == PQTRANS_IDLE) return;
  if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
    db_log(DB_LOG_DEBUG, "rolling back a connection returned %s",
           ts == PQTRANS_INERROR ? "inside a failed transaction" : "inside a transaction");
    if (db_exec(c, "ROLLBACK") == DB_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE) return;
  }
  db_log(DB_LOG_WARN, "dropping a connection in transaction state %d", (int)ts);
  db_conn_disconnect(c);
}

/* ---- standalone connections ---- */

db_conn *db_conn_open(const char *conninfo, unsigned timeout_ms, char *err, size_t err_len) {
  db_conn *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  if (db_conn_connect(c, conninfo ? conninfo : "", db_now_ms() + timeout_ms) != 0) {
    snprintf(err, err_len, "cannot connect to the database: %s", c->errmsg);
    free(c);
    return NULL;
  }
  return c;
}

void db_conn_close(db_conn *c) {
  if (!c) return;
  db_conn_disconnect(c);
  free(c);
}

/* ---- the pool ---- */

db_pool *db_pool_create(const char *conninfo, unsigned size) {
  if (!conninfo || size == 0 || size > 10000) return NULL;
  db_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->conninfo = strdup(conninfo);
  p->conns = calloc(size, sizeof *p->conns);
  if (!p->conninfo || !p->conns) {
    free(p->conninfo);
    free(p->conns);
    free(p);
    return NULL;
  }
  p->size = size;
  p->wait_ms = DB_DEFAULT_WAIT_MS;
  for (unsigned i = 0; i < size; i++)
    p->conns[i].pool = p;
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cv, &ca);
  pthread_condattr_destroy(&ca);
  return p;
}

void db_pool_destroy(db_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  if (p->in_use) db_log(DB_LOG_ERROR, "pool destroyed with %u connections still in use", p->in_use);
  for (unsigned i = 0; i < p->size; i++)
    db_conn_disconnect(&p->conns[i]);
  pthread_mutex_unlock(&p->mu);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->conns);
  free(p->conninfo);
  free(p);
}

void db_pool_set_prepare_on_connect(db_pool *p, bool all) {
  pthread_mutex_lock(&p->mu);
  p->prepare_lazily = !all;
  pthread_mutex_unlock(&p->mu);
}

void db_pool_set_wait(db_pool *p, unsigned wait_ms) {
  pthread_mutex_lock(&p->mu);
  p->wait_ms = wait_ms;
  pthread_mutex_unlock(&p->mu);
}

void db_pool_get_stats(db_pool *p, db_pool_stats *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&p->mu);
  out->size = p->size;
  out->in_use = p->in_use;
  for (unsigned i = 0; i < p->size; i++)
    if (!p->conns[i].in_use && p->conns[i].pg) out->idle++;
  out->acquired = p->acquired;
  out->wait_timeouts = p->wait_timeouts;
  out->reconnects = p->reconnects;
  pthread_mutex_unlock(&p->mu);
  out->errors = atomic_load(&p->errors);
  out->unavailable = atomic_load(&p->unavailable);
}

/* Called with the mutex held: frees slot c and wakes one waiter. */
static void put_back_locked(db_pool *p, db_conn *c) {
  c->in_use = false;
  p->in_use--;
  pthread_cond_signal(&p->cv);
}

db_conn *db_acquire(db_pool *p, unsigned wait_ms) {
  if (!p) return NULL;
  int64_t deadline = db_now_ms() + wait_ms;
  struct timespec abs;
  clock_gettime(CLOCK_MONOTONIC, &abs);
  abs.tv_sec += wait_ms / 1000;
  abs.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (abs.tv_nsec >= 1000000000L) {
    abs.tv_sec++;
    abs.tv_nsec -= 1000000000L;
  }

  pthread_mutex_lock(&p->mu);
  db_conn *c = NULL;
  for (;;) {
    /* Prefer a free slot that is already connected; else any free slot. */
    db_conn *unconnected = NULL;
    for (unsigned i = 0; i < p->size && !c; i++) {
      db_conn *s = &p->conns[i];
      if (s->in_use) continue;
      if (s->pg)
        c = s;
      else if (!unconnected)
        unconnected = s;
    }
    if (!c) c = unconnected;
    if (c) break;
    int rc = 0;
    if (db_now_ms() < deadline) rc = pthread_cond_timedwait(&p->cv, &p->mu, &abs);
    if (db_now_ms() >= deadline || rc == ETIMEDOUT) {
      /* one last look happens on the next loop turn only if time remains */
      bool any = false;
      for (unsigned i = 0; i < p->size; i++)
        any |= !p->conns[i].in_use;
      if (!any) {
        p->wait_timeouts++;
        pthread_mutex_unlock(&p->mu);
        atomic_fetch_add(&p->unavailable, 1);
        db_log(DB_LOG_WARN, "no database connection became free within %u ms", wait_ms);
        return NULL;
      }
    }
  }
  c->in_use = true;
  p->in_use++;
  pthread_mutex_unlock(&p->mu);

  /* Outside the lock: check, clean or (re)connect the slot we own. */
  if (c->pg && !idle_conn_alive(c)) {
    db_log(DB_LOG_INFO, "dropping a broken pooled connection");
    db_conn_disconnect(c);
  }
  reset_txn_state(c);
  if (!c->pg) {
    pthread_mutex_lock(&p->mu);
    int64_t now = db_now_ms();
    bool fast_fail = now < p->down_until_ms;
    pthread_mutex_unlock(&p->mu);
    int64_t left = deadline - now;
    if (left < (int64_t)CONNECT_MIN_MS) left = CONNECT_MIN_MS;
    if (fast_fail || db_conn_connect(c, p->conninfo, now + left) != 0) {
      pthread_mutex_lock(&p->mu);
      if (!fast_fail) {
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_START_MS;
        if (p->backoff_ms > BACKOFF_MAX_MS) p->backoff_ms = BACKOFF_MAX_MS;
        p->down_until_ms = db_now_ms() + p->backoff_ms;
      }
      put_back_locked(p, c);
      pthread_mutex_unlock(&p->mu);
      atomic_fetch_add(&p->unavailable, 1);
      if (!fast_fail) db_log(DB_LOG_WARN, "cannot connect to the database: %s", c->errmsg);
      return NULL;
    }
    pthread_mutex_lock(&p->mu);
    p->backoff_ms = 0;
    p->down_until_ms = 0;
    if (c->ever_connected) p->reconnects++;
    pthread_mutex_unlock(&p->mu);
    if (c->ever_connected) db_log(DB_LOG_INFO, "database connection re-established");
    c->ever_connected = true;
    pthread_mutex_lock(&p->mu);
    bool lazily = p->prepare_lazily;
    pthread_mutex_unlock(&p->mu);
    if (lazily)
      memset(c->prepared, 0, sizeof c->prepared);
    else
      db_stmt_prepare_all(c);
  }
  db_clear_error(c);
  pthread_mutex_lock(&p->mu);
  p->acquired++;
  pthread_mutex_unlock(&p->mu);
  return c;
}

void db_release(db_conn *c) {
  if (!c) return;
  db_pool *p = c->pool;
  if (!p) {
    db_log(DB_LOG_ERROR, "db_release called on a connection outside any pool");
    return;
  }
  pthread_mutex_lock(&p->mu);
  bool owned = c->in_use;
  pthread_mutex_unlock(&p->mu);
  if (!owned) { /* our caller's bug; carrying on would corrupt the pool's counts */
    db_log(DB_LOG_ERROR, "db_release called on a connection that is not in use");
    return;
  }
  reset_txn_state(c);
  pthread_mutex_lock(&p->mu);
  put_back_locked(p, c);
  pthread_mutex_unlock(&p->mu);
}

db_status db_ping(db_pool *p) {
  unsigned wait;
  pthread_mutex_lock(&p->mu);
  wait = p->wait_ms;
  pthread_mutex_unlock(&p->mu);
  db_conn *c = db_acquire(p, wait);
  if (!c) return DB_UNAVAILABLE;
  int32_t one = 0;
  struct db_col col = {"one", DB_COL_INT32, &one, 0, NULL};
  db_status st = db_query_one_prepared(c, "sparkd_ping", 0, NULL, &col, 1);
  if (st == DB_OK && one != 1) st = DB_ERROR;
  db_release(c);
  return st;
}
