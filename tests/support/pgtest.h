/* Test helpers: a private PostgreSQL cluster (scripts/pg.sh) and throw-away databases in it.
 *
 *   struct th_pg pg = {0};
 *   if (th_pg_start(&pg) != 0) ...           // once, in main(), before srunner_run_all
 *   char url[TH_PG_CONNINFO_MAX];
 *   th_pg_create_db(&pg, url, sizeof url);    // per test: a fresh database with a random name
 *   ...
 *   th_pg_drop_db(&pg, url);
 *   th_pg_stop(&pg);                          // stops the server and removes its folder
 *
 * The cluster listens only on a unix socket inside its folder. th_pg_stop does nothing in a
 * process other than the one that started the cluster (Check forks each test), so a forked test
 * cannot take the server down by exiting. th_pg_pause/th_pg_resume/th_pg_restart are meant to be
 * called from a test, and are allowed from any process. */
#ifndef SPARKD_TESTS_PGTEST_H
#define SPARKD_TESTS_PGTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TH_PG_CONNINFO_MAX 1024

struct th_pg {
  char dir[256];                     /* cluster folder (data/, socket, logs); set by th_pg_start */
  char conninfo[TH_PG_CONNINFO_MAX]; /* the maintenance database ("postgres") */
  pid_t owner;                       /* process that started it */
  bool running;
};

/* Returns 0 after creating a folder under /tmp, running initdb and starting the server; -1 (with
 * the cause on stderr) otherwise. */
int th_pg_start(struct th_pg *pg);
/* Returns 0 after a fast shutdown and removal of the folder (only in the starting process). */
int th_pg_stop(struct th_pg *pg);
/* Returns 0 after creating a streaming replica of the running cluster primary in a folder of its
 * own (pg_basebackup -R over primary's socket; scripts/pg.sh replica) and starting it; -1 otherwise.
 * It is read-only and replays what primary writes; conninfo names its "postgres" database, and
 * th_pg_stop stops it and removes its folder. */
int th_pg_start_replica(struct th_pg *replica, const struct th_pg *primary);
/* Returns 0 after stopping the server, keeping its data (connections see it go away). */
int th_pg_pause(struct th_pg *pg);
/* Returns 0 after starting a paused server again on the same socket. */
int th_pg_resume(struct th_pg *pg);
/* Returns 0 after th_pg_pause then th_pg_resume. */
int th_pg_restart(struct th_pg *pg);

/* Returns 0 after creating a database with a random name and writing its conninfo to out. */
int th_pg_create_db(struct th_pg *pg, char *conninfo_out, size_t out_len);
/* Returns 0 after dropping the database named in conninfo (from th_pg_create_db), closing any
 * sessions still connected to it. */
int th_pg_drop_db(struct th_pg *pg, const char *conninfo);
/* Returns 0 after running sql (several statements allowed) on conninfo; prints the error otherwise. */
int th_pg_exec(const char *conninfo, const char *sql);

#endif
