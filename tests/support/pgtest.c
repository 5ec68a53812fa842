/* Test helpers around scripts/pg.sh: a private PostgreSQL cluster and throw-away databases. */
#include "tests/support/pgtest.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"

#ifndef SPARKD_SOURCE_DIR
#error "SPARKD_SOURCE_DIR must be defined by the build"
#endif

/* Runs argv (no shell); stdout goes to out (may be NULL), stderr passes through. Returns the exit
 * status, or -1 when the program could not run. */
static int run(char *const argv[], char *out, size_t out_len) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv);
    fprintf(stderr, "pgtest: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  size_t used = 0;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (out && used + 1 < out_len) {
      size_t take = (size_t)n < out_len - 1 - used ? (size_t)n : out_len - 1 - used;
      memcpy(out + used, buf, take);
      used += take;
    }
  }
  close(fds[0]);
  if (out && out_len) out[used] = '\0';
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs scripts/pg.sh CMD DIR [ARG]. */
static int pg_script_arg(const char *cmd, const char *dir, const char *arg, char *out, size_t out_len) {
  char script[512];
  snprintf(script, sizeof script, "%s/scripts/pg.sh", SPARKD_SOURCE_DIR);
  char *argv[] = {"/bin/bash", script, (char *)cmd, (char *)dir, (char *)arg, NULL};
  int rc = run(argv, out, out_len);
  if (rc != 0) fprintf(stderr, "pgtest: pg.sh %s %s failed (exit %d)\n", cmd, dir, rc);
  return rc == 0 ? 0 : -1;
}

static int pg_script(const char *cmd, const char *dir, char *out, size_t out_len) {
  return pg_script_arg(cmd, dir, NULL, out, out_len);
}

static void chomp(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
    s[--n] = '\0';
  /* keep only the last line: the script prints the conninfo last */
  char *nl = strrchr(s, '\n');
  if (nl) memmove(s, nl + 1, strlen(nl + 1) + 1);
}

/* Clusters started by this process, stopped at exit: a failing Check assertion exits the forked
 * test process, which would otherwise leave a cluster it started running. */
#define MAX_TRACKED 8
static struct {
  char dir[256];
  pid_t owner;
} tracked[MAX_TRACKED];
static bool atexit_done;

static void stop_tracked(void) {
  for (int i = 0; i < MAX_TRACKED; i++)
    if (tracked[i].dir[0] && tracked[i].owner == getpid()) {
      struct th_pg tmp = {.owner = tracked[i].owner};
      memcpy(tmp.dir, tracked[i].dir, sizeof tmp.dir);
      tmp.dir[sizeof tmp.dir - 1] = '\0';
      th_pg_stop(&tmp);
    }
}

static void track(const struct th_pg *pg, bool add) {
  for (int i = 0; i < MAX_TRACKED; i++) {
    if (add && !tracked[i].dir[0]) {
      snprintf(tracked[i].dir, sizeof tracked[i].dir, "%s", pg->dir);
      tracked[i].owner = pg->owner;
      break;
    }
    if (!add && strcmp(tracked[i].dir, pg->dir) == 0) tracked[i].dir[0] = '\0';
  }
  if (add && !atexit_done) {
    atexit_done = true;
    atexit(stop_tracked);
  }
}

int th_pg_start(struct th_pg *pg) {
  memset(pg, 0, sizeof *pg);
  /* Under /tmp, not $TMPDIR: the socket path must stay short (sun_path is ~107 bytes). */
  snprintf(pg->dir, sizeof pg->dir, "/tmp/sparkd-pg-XXXXXX");
  if (!mkdtemp(pg->dir)) {
    fprintf(stderr, "pgtest: mkdtemp: %s\n", strerror(errno));
    return -1;
  }
  pg->owner = getpid();
  track(pg, true);
  if (pg_script("start", pg->dir, pg->conninfo, sizeof pg->conninfo) != 0) {
    th_pg_stop(pg);
    return -1;
  }
  chomp(pg->conninfo);
  if (!pg->conninfo[0]) {
    fprintf(stderr, "pgtest: pg.sh printed no conninfo\n");
    th_pg_stop(pg);
    return -1;
  }
  pg->running = true;
  return 0;
}

int th_pg_start_replica(struct th_pg *replica, const struct th_pg *primary) {
  memset(replica, 0, sizeof *replica);
  snprintf(replica->dir, sizeof replica->dir, "/tmp/sparkd-pgr-XXXXXX");
  if (!mkdtemp(replica->dir)) {
    fprintf(stderr, "pgtest: mkdtemp: %s\n", strerror(errno));
    return -1;
  }
  replica->owner = getpid();
  track(replica, true);
  if (pg_script_arg("replica", replica->dir, primary->dir, replica->conninfo, sizeof replica->conninfo) != 0) {
    th_pg_stop(replica);
    return -1;
  }
  chomp(replica->conninfo);
  replica->running = true;
  return 0;
}

int th_pg_pause(struct th_pg *pg) {
  int rc = pg_script("stop", pg->dir, NULL, 0);
  pg->running = false;
  return rc;
}

int th_pg_resume(struct th_pg *pg) {
  char out[TH_PG_CONNINFO_MAX];
  int rc = pg_script("start", pg->dir, out, sizeof out);
  if (rc == 0) pg->running = true;
  return rc;
}

int th_pg_restart(struct th_pg *pg) {
  if (th_pg_pause(pg) != 0) return -1;
  return th_pg_resume(pg);
}

int th_pg_stop(struct th_pg *pg) {
  if (!pg->dir[0] || pg->owner != getpid()) return 0;
  track(pg, false);
  int rc = pg_script("stop", pg->dir, NULL, 0);
  char *argv[] = {"/bin/rm", "-rf", pg->dir, NULL};
  if (run(argv, NULL, 0) != 0) rc = -1;
  pg->running = false;
  pg->dir[0] = '\0';
  return rc;
}

int th_pg_exec(const char *conninfo, const char *sql) {
  char err[512];
  db_conn *c = db_conn_open(conninfo, 10000, err, sizeof err);
  if (!c) {
    fprintf(stderr, "pgtest: %s\n", err);
    return -1;
  }
  db_status st = db_exec(c, sql);
  if (st != DB_OK) fprintf(stderr, "pgtest: %.200s: %s %s\n", sql, db_last_sqlstate(c), db_last_error(c));
  db_conn_close(c);
  return st == DB_OK ? 0 : -1;
}

int th_pg_create_db(struct th_pg *pg, char *out, size_t out_len) {
  unsigned char rnd[8];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
  char name[64] = "sparkd_t_";
  for (size_t i = 0; i < sizeof rnd; i++)
    snprintf(name + strlen(name), sizeof name - strlen(name), "%02x", rnd[i]);
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  if (th_pg_exec(pg->conninfo, sql) != 0) return -1;
  int n = snprintf(out, out_len, "host=%s dbname=%s user=postgres", pg->dir, name);
  return n > 0 && (size_t)n < out_len ? 0 : -1;
}

int th_pg_drop_db(struct th_pg *pg, const char *conninfo) {
  const char *p = strstr(conninfo, "dbname=");
  if (!p) return -1;
  p += strlen("dbname=");
  char name[64];
  size_t n = 0;
  while (p[n] && p[n] != ' ' && n + 1 < sizeof name) {
    char ch = p[n];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return -1;
    name[n] = ch;
    n++;
  }
  name[n] = '\0';
  if (n == 0 || strcmp(name, "postgres") == 0) return -1;
  char sql[128];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
  return th_pg_exec(pg->conninfo, sql);
}
