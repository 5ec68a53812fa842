#include "db/listen.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/internal.h"
#include "db/replica.h"

struct db_listener {
  char *conninfo;
  char channel[64];
  db_notify_fn fn;
  db_notify_lsn_fn fn_lsn; /* instead of fn: with the server's WAL position after the notification */
  void *arg;
  pthread_t thread;
  atomic_bool stop;
  int wake[2]; /* a pipe: writing to it interrupts poll() for db_listener_stop */
};

static void sleep_interruptible(db_listener *l, unsigned ms) {
  struct pollfd p = {l->wake[0], POLLIN, 0};
  poll(&p, 1, (int)ms);
}

/* Returns the server's current WAL insert position as the end of the last record inserted, or 0
 * when it cannot be read (a standby has none: then there is nothing to wait for).
 *
 * The insert position, not the write position: with synchronous_commit off a committed
 * transaction's commit record may not be written yet, so only the insert position is sure to be at
 * or past it (the replica receives it once the WAL writer flushes it, within wal_writer_delay). When
 * the last record ended on a page boundary the insert position points past the next page's header
 * (24 bytes, 40 at a segment's start, with the default 8 kB pages and 16 MB segments), where a
 * standby's replay position, the end of the last record, never points: the header is taken off. */
static uint64_t wal_lsn(PGconn *pg) {
  PGresult *r = PQexec(pg, "SELECT pg_current_wal_insert_lsn()::text");
  uint64_t lsn = 0;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) lsn = db_lsn_parse(PQgetvalue(r, 0, 0));
  PQclear(r);
  if (lsn % (16u << 20) == 40)
    lsn -= 40;
  else if (lsn % 8192 == 24)
    lsn -= 24;
  return lsn;
}

/* Waits for notifications on a connected, listening session; returns when it breaks or on stop. */
static void pump(db_listener *l, PGconn *pg) {
  int sock = PQsocket(pg);
  while (!atomic_load(&l->stop)) {
    struct pollfd p[2] = {{sock, POLLIN, 0}, {l->wake[0], POLLIN, 0}};
    int n = poll(p, 2, 30000);
    if (n < 0) continue;
    if (n == 0) { /* idle: make sure the session is still there */
      PGresult *r = PQexec(pg, "SELECT 1");
      bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
      PQclear(r);
      if (!ok) return;
      continue;
    }
    if (p[1].revents) return;
    if (!PQconsumeInput(pg)) return;
    if (!l->fn_lsn) {
      PGnotify *nt;
      while ((nt = PQnotifies(pg)) != NULL) {
        l->fn(nt->extra, l->arg);
        PQfreemem(nt);
      }
      continue;
    }
    /* The WAL position is read once per batch, after the batch arrived: a notification is sent
     * after its transaction committed, so the position read then is at or past the commit. The
     * query may bring more notifications into libpq's buffer (the socket then stays quiet), so the
     * buffer is drained again until it is empty. */
    PGnotify *batch[64];
    size_t nb;
    do {
      nb = 0;
      while (nb < 64 && (batch[nb] = PQnotifies(pg)) != NULL)
        nb++;
      if (!nb) break;
      uint64_t lsn = wal_lsn(pg);
      for (size_t i = 0; i < nb; i++) {
        l->fn_lsn(batch[i]->extra, lsn, l->arg);
        PQfreemem(batch[i]);
      }
    } while (PQstatus(pg) == CONNECTION_OK);
    if (PQstatus(pg) != CONNECTION_OK) return;
  }
}

static void *run(void *arg) {
  db_listener *l = arg;
  unsigned backoff = 100;
  while (!atomic_load(&l->stop)) {
    PGconn *pg = PQconnectdb(l->conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
      PQfinish(pg);
      sleep_interruptible(l, backoff);
      backoff = backoff < 5000 ? backoff * 2 : 5000;
      continue;
    }
    char sql[96];
    snprintf(sql, sizeof sql, "LISTEN %s", l->channel);
    PGresult *r = PQexec(pg, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok) {
      backoff = 100;
      db_log(DB_LOG_INFO, "listening on channel %s", l->channel);
      /* anything sent while we were away is lost: refresh */
      if (l->fn_lsn)
        l->fn_lsn(NULL, wal_lsn(pg), l->arg);
      else
        l->fn(NULL, l->arg);
      pump(l, pg);
      if (!atomic_load(&l->stop)) db_log(DB_LOG_WARN, "listener connection lost; reconnecting");
    }
    PQfinish(pg);
    if (!atomic_load(&l->stop)) sleep_interruptible(l, backoff);
  }
  return NULL;
}

static db_listener *start(const char *conninfo, const char *channel, db_notify_fn fn, db_notify_lsn_fn fn_lsn,
                          void *arg) {
  if (!conninfo || !channel || (!fn && !fn_lsn) || strlen(channel) >= 64 || !*channel) return NULL;
  for (const char *p = channel; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return NULL;
  db_listener *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->conninfo = strdup(conninfo);
  snprintf(l->channel, sizeof l->channel, "%s", channel);
  l->fn = fn;
  l->fn_lsn = fn_lsn;
  l->arg = arg;
  if (!l->conninfo || pipe(l->wake) != 0) {
    free(l->conninfo);
    free(l);
    return NULL;
  }
  if (pthread_create(&l->thread, NULL, run, l) != 0) {
    close(l->wake[0]);
    close(l->wake[1]);
    free(l->conninfo);
    free(l);
    return NULL;
  }
  return l;
}

db_listener *db_listener_start(const char *conninfo, const char *channel, db_notify_fn fn, void *arg) {
  return fn ? start(conninfo, channel, fn, NULL, arg) : NULL;
}

db_listener *db_listener_start_lsn(const char *conninfo, const char *channel, db_notify_lsn_fn fn, void *arg) {
  return fn ? start(conninfo, channel, NULL, fn, arg) : NULL;
}

void db_listener_stop(db_listener *l) {
  if (!l) return;
  atomic_store(&l->stop, true);
  ssize_t w = write(l->wake[1], "x", 1);
  (void)w;
  pthread_join(l->thread, NULL);
  close(l->wake[0]);
  close(l->wake[1]);
  free(l->conninfo);
  free(l);
}
