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

struct db_listener {
  char *conninfo;
  char channel[64];
  db_notify_fn fn;
  void *arg;
  pthread_t thread;
  atomic_bool stop;
  int wake[2]; /* a pipe: writing to it interrupts poll() for db_listener_stop */
};

static void sleep_interruptible(db_listener *l, unsigned ms) {
  struct pollfd p = {l->wake[0], POLLIN, 0};
  poll(&p, 1, (int)ms);
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
    PGnotify *nt;
    while ((nt = PQnotifies(pg)) != NULL) {
      l->fn(nt->extra, l->arg);
      PQfreemem(nt);
    }
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
      l->fn(NULL, l->arg); /* anything sent while we were away is lost: refresh */
      pump(l, pg);
      if (!atomic_load(&l->stop)) db_log(DB_LOG_WARN, "listener connection lost; reconnecting");
    }
    PQfinish(pg);
    if (!atomic_load(&l->stop)) sleep_interruptible(l, backoff);
  }
  return NULL;
}

db_listener *db_listener_start(const char *conninfo, const char *channel, db_notify_fn fn, void *arg) {
  if (!conninfo || !channel || !fn || strlen(channel) >= 64 || !*channel) return NULL;
  for (const char *p = channel; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return NULL;
  db_listener *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->conninfo = strdup(conninfo);
  snprintf(l->channel, sizeof l->channel, "%s", channel);
  l->fn = fn;
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
