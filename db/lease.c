/* Leases as session advisory locks (db/lease.h). Every round trip is bounded: the query is sent
 * with PQsendQueryParams and its answer awaited with poll() against a deadline, so a server that
 * stops answering costs the holder its lease (the connection is closed) instead of a hung thread
 * that still believes it holds it. */
#include "db/lease.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/internal.h"

/* The lock key: 64 bits of md5('sparkd.lease:' || name), the same derivation as the import's
 * per-chain lock ('sparkd.import:' prefix), so the two never share a key by construction. */
#define LEASE_KEY "('x' || substr(md5('sparkd.lease:' || $1::text), 1, 16))::bit(64)::bigint"

static const char SQL_SETUP[] = "SELECT set_config('idle_session_timeout', $1, false),"
                                " set_config('application_name', $2, false)";
static const char SQL_TRY[] = "SELECT pg_try_advisory_lock(" LEASE_KEY ")";
/* A session lock is held until unlock or the session's end; this checks both that the session
 * still answers and that the lock is still ours. */
static const char SQL_CHECK[] = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                                " AND pid = pg_backend_pid() AND classid::bigint = ((" LEASE_KEY ") >> 32) & 4294967295"
                                " AND objid::bigint = (" LEASE_KEY ") & 4294967295 AND objsubid = 1)";

struct db_lease {
  char *conninfo;
  char name[64];
  unsigned idle_timeout_ms;
  db_conn *conn;      /* NULL while not connected */
  pthread_mutex_t mu; /* guards the fields below, for db_lease_get_stats */
  bool held;
  uint64_t acquired, lost;
};

db_lease *db_lease_create(const char *conninfo, const char *name, unsigned idle_timeout_ms) {
  if (!conninfo || !name || !*name || strlen(name) >= 64 || idle_timeout_ms < 1000) return NULL;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
          *p == '-'))
      return NULL;
  db_lease *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->conninfo = strdup(conninfo);
  if (!l->conninfo) {
    free(l);
    return NULL;
  }
  snprintf(l->name, sizeof l->name, "%s", name);
  l->idle_timeout_ms = idle_timeout_ms;
  pthread_mutex_init(&l->mu, NULL);
  return l;
}

/* Returns the first column of the one-row answer to sql in out ("" for NULL), or false when the
 * query failed or no answer came before deadline_ms. */
static bool query(db_lease *l, const char *sql, int n, const char *const *params, char *out, size_t out_len,
                  int64_t deadline_ms) {
  PGconn *pg = l->conn->pg;
  if (!PQsendQueryParams(pg, sql, n, NULL, params, NULL, NULL, 0)) {
    db_log(DB_LOG_WARN, "lease %s: cannot send: %s", l->name, PQerrorMessage(pg));
    return false;
  }
  while (PQisBusy(pg)) {
    int64_t left = deadline_ms - db_now_ms();
    if (left <= 0) {
      db_log(DB_LOG_WARN, "lease %s: the database did not answer in time", l->name);
      return false;
    }
    struct pollfd p = {PQsocket(pg), POLLIN, 0};
    int rc = poll(&p, 1, (int)left);
    if (rc < 0 && errno != EINTR) return false;
    if (rc > 0 && !PQconsumeInput(pg)) {
      db_log(DB_LOG_WARN, "lease %s: connection lost: %s", l->name, PQerrorMessage(pg));
      return false;
    }
  }
  bool ok = false;
  PGresult *r;
  while ((r = PQgetResult(pg)) != NULL) {
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) >= 1) {
      snprintf(out, out_len, "%s", PQgetvalue(r, 0, 0));
      ok = true;
    } else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      char msg[256];
      snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
      db_log(DB_LOG_WARN, "lease %s: query failed: %s", l->name, msg);
    }
    PQclear(r);
  }
  return ok;
}

static void disconnect(db_lease *l) {
  db_conn_close(l->conn); /* ends the session: the server releases a lock it held */
  l->conn = NULL;
}

static void set_held(db_lease *l, bool held) {
  pthread_mutex_lock(&l->mu);
  if (held && !l->held) l->acquired++;
  if (!held && l->held) l->lost++;
  l->held = held;
  pthread_mutex_unlock(&l->mu);
}

bool db_lease_keep(db_lease *l, unsigned timeout_ms) {
  if (!l) return false;
  int64_t deadline = db_now_ms() + (timeout_ms ? timeout_ms : 1);
  char v[16] = "";
  const char *key[] = {l->name};
  if (l->held) {
    if (l->conn && query(l, SQL_CHECK, 1, key, v, sizeof v, deadline) && strcmp(v, "t") == 0) return true;
    db_log(DB_LOG_WARN, "lease %s: lost", l->name);
    disconnect(l);
    set_held(l, false);
    return false;
  }
  if (!l->conn) {
    char err[256];
    int64_t left = deadline - db_now_ms();
    l->conn = db_conn_open(l->conninfo, left > 0 ? (unsigned)left : 1, err, sizeof err);
    if (!l->conn) {
      db_log(DB_LOG_DEBUG, "lease %s: %s", l->name, err);
      return false;
    }
    char idle[24], app[96];
    snprintf(idle, sizeof idle, "%u", l->idle_timeout_ms);
    snprintf(app, sizeof app, "sparkd lease %s", l->name);
    const char *sp[] = {idle, app};
    if (!query(l, SQL_SETUP, 2, sp, v, sizeof v, deadline)) {
      disconnect(l);
      return false;
    }
  }
  if (!query(l, SQL_TRY, 1, key, v, sizeof v, deadline)) {
    disconnect(l);
    return false;
  }
  if (strcmp(v, "t") != 0) return false; /* another session holds it; the connection is kept for the next try */
  set_held(l, true);
  db_log(DB_LOG_INFO, "lease %s: acquired", l->name);
  return true;
}

bool db_lease_held(const db_lease *l) {
  if (!l) return false;
  pthread_mutex_lock((pthread_mutex_t *)&l->mu);
  bool h = l->held;
  pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
  return h;
}

void db_lease_release(db_lease *l) {
  if (!l) return;
  bool was = db_lease_held(l);
  disconnect(l);
  pthread_mutex_lock(&l->mu);
  l->held = false; /* given up, not lost */
  pthread_mutex_unlock(&l->mu);
  if (was) db_log(DB_LOG_INFO, "lease %s: released", l->name);
}

void db_lease_destroy(db_lease *l) {
  if (!l) return;
  db_lease_release(l);
  pthread_mutex_destroy(&l->mu);
  free(l->conninfo);
  free(l);
}

void db_lease_get_stats(const db_lease *l, struct db_lease_stats *out) {
  memset(out, 0, sizeof *out);
  if (!l) return;
  pthread_mutex_lock((pthread_mutex_t *)&l->mu);
  out->held = l->held;
  out->acquired = l->acquired;
  out->lost = l->lost;
  pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
}

const char *db_lease_name(const db_lease *l) { return l ? l->name : ""; }
