/* ctest-label: db */
/* The database layer against a real PostgreSQL: a private cluster (scripts/pg.sh) for the whole
 * run, a fresh database per test. Covers the migration runner, schema check, transactions with
 * retry, SQLSTATE mapping, the statement registry, the pool's behaviour while the server is down
 * and after it returns, and `sparkd migrate`. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "db/db.h"
#include "db/migrate.h"
#include "tests/support/pgtest.h"
#include "util/config.h"

static struct th_pg pg;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Returns column "n" of a one-row query run on a fresh standalone connection (-1 on failure). */
static int64_t q_int(const char *url, const char *sql, unsigned nparams, const char *const *params) {
  char err[256];
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  int64_t n = -1;
  struct db_col col = {"n", DB_COL_INT64, &n, 0, NULL};
  db_status st = db_query_one_params(c, sql, nparams, params, &col, 1);
  ck_assert_msg(st == DB_OK, "%s: %s %s", sql, db_status_name(st), db_last_error(c));
  db_conn_close(c);
  return n;
}

static int64_t c_int(db_conn *c, const char *sql) {
  int64_t n = -1;
  struct db_col col = {"n", DB_COL_INT64, &n, 0, NULL};
  db_status st = db_query_one_params(c, sql, 0, NULL, &col, 1);
  ck_assert_msg(st == DB_OK, "%s: %s %s", sql, db_status_name(st), db_last_error(c));
  return n;
}

static void exec_ok(const char *url, const char *sql) { ck_assert_int_eq(th_pg_exec(url, sql), 0); }

/* ---- migrations ---- */

START_TEST(test_migrate_fresh_then_idempotent) {
  char url[TH_PG_CONNINFO_MAX], err[512] = "";
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  ck_assert_uint_ge(db_migrations_count, 1);

  db_pool *pool = db_pool_create(url, 2);
  ck_assert_ptr_nonnull(pool);
  char why[256];
  ck_assert_int_eq(db_schema_check(pool, why, sizeof why), DB_SCHEMA_BEHIND);
  ck_assert_msg(strstr(why, db_migrations[0].name), "why: %s", why);

  unsigned applied = 99;
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(applied, db_migrations_count);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_schema_migrations", 0, NULL), db_migrations_count);
  /* Each recorded row names its file, carries the file's number as version, a time, and the
   * SHA-256 of the text as computed by PostgreSQL itself (an independent implementation). */
  for (unsigned i = 0; i < db_migrations_count; i++) {
    const char *p[] = {db_migrations[i].name, db_migrations[i].sql};
    ck_assert_int_eq(q_int(url,
                           "SELECT count(*) AS n FROM sparkd_schema_migrations WHERE name = $1"
                           " AND version = substring($1 from '^[0-9]+')::int AND applied_at IS NOT NULL"
                           " AND checksum = encode(sha256(convert_to($2, 'UTF8')), 'hex')",
                           2, p),
                     1);
  }
  /* The embedded text is byte for byte the file in migrations/. */
  for (unsigned i = 0; i < db_migrations_count; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/migrations/%s", SPARKD_SOURCE_DIR, db_migrations[i].name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    int ch;
    while ((ch = fgetc(f)) != EOF)
      fputc(ch, m);
    fclose(f);
    fclose(m);
    ck_assert_uint_eq(len, strlen(db_migrations[i].sql));
    ck_assert(memcmp(text, db_migrations[i].sql, len) == 0);
    free(text);
  }
  /* 0001 really ran. */
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_meta WHERE key = 'created_by'", 0, NULL), 1);
  ck_assert_int_eq(db_schema_check(pool, why, sizeof why), DB_SCHEMA_CURRENT);

  applied = 99;
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(applied, 0);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_schema_migrations", 0, NULL), db_migrations_count);
  ck_assert_int_eq(db_schema_check(pool, why, sizeof why), DB_SCHEMA_CURRENT);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

static char *status_text(const char *url) {
  char *buf = NULL, err[512] = "";
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  int rc = db_migrate_status(url, f, err, sizeof err);
  fclose(f);
  ck_assert_msg(rc == 0, "%s", err);
  return buf;
}

/* Returns the line of text that mentions name (malloc'd), or NULL. */
static char *line_with(const char *text, const char *name) {
  const char *p = strstr(text, name);
  if (!p) return NULL;
  while (p > text && p[-1] != '\n')
    p--;
  const char *e = strchr(p, '\n');
  return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

START_TEST(test_migrate_status) {
  char url[TH_PG_CONNINFO_MAX], err[512] = "";
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  char *s = status_text(url);
  for (unsigned i = 0; i < db_migrations_count; i++) {
    char *line = line_with(s, db_migrations[i].name);
    ck_assert_msg(line && strstr(line, "pending"), "status before: %s", s);
    free(line);
  }
  ck_assert_ptr_nonnull(strstr(s, "schema behind"));
  free(s);

  unsigned applied;
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
  s = status_text(url);
  for (unsigned i = 0; i < db_migrations_count; i++) {
    char *line = line_with(s, db_migrations[i].name);
    ck_assert_msg(line && strstr(line, "applied 2") && !strstr(line, "pending"), "status after: %s", s);
    free(line);
  }
  ck_assert_ptr_nonnull(strstr(s, "schema current"));
  free(s);
  th_pg_drop_db(&pg, url);
}
END_TEST

struct mig_arg {
  const char *url;
  int rc;
  unsigned applied;
  char err[512];
};

static void *mig_thread(void *p) {
  struct mig_arg *a = p;
  a->rc = db_migrate_apply(a->url, &a->applied, a->err, sizeof a->err);
  return NULL;
}

START_TEST(test_migrate_concurrent) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  enum { N = 6 };
  pthread_t t[N];
  struct mig_arg a[N];
  /* Two separate processes (forked before any thread exists)... */
  pid_t kids[2];
  for (int i = 0; i < 2; i++) {
    kids[i] = fork();
    ck_assert_int_ge(kids[i], 0);
    if (kids[i] == 0) {
      char err[512];
      unsigned n;
      _exit(db_migrate_apply(url, &n, err, sizeof err) == 0 ? 0 : 1);
    }
  }
  /* ...and N threads, all at the same time. */
  for (int i = 0; i < N; i++) {
    a[i] = (struct mig_arg){.url = url, .rc = -2};
    ck_assert_int_eq(pthread_create(&t[i], NULL, mig_thread, &a[i]), 0);
  }
  unsigned total = 0, max = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    ck_assert_msg(a[i].rc == 0, "thread %d: %s", i, a[i].err);
    total += a[i].applied;
    if (a[i].applied > max) max = a[i].applied;
  }
  for (int i = 0; i < 2; i++) {
    int status;
    ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_schema_migrations", 0, NULL), db_migrations_count);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_meta", 0, NULL), 1);
  /* Each run holds the lock while it applies everything pending: the threads' counts never overlap. */
  ck_assert_uint_le(total, db_migrations_count);
  th_pg_drop_db(&pg, url);
}
END_TEST

START_TEST(test_migrate_modified) {
  char url[TH_PG_CONNINFO_MAX], err[512] = "", why[256] = "";
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  unsigned applied;
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
  exec_ok(url, "UPDATE sparkd_schema_migrations SET checksum = repeat('0', 64) WHERE version = 1");

  ck_assert_int_eq(db_migrate_apply(url, &applied, err, sizeof err), -1);
  ck_assert_msg(strstr(err, db_migrations[0].name) && strstr(err, "checksum"), "err: %s", err);

  db_pool *pool = db_pool_create(url, 1);
  ck_assert_int_eq(db_schema_check(pool, why, sizeof why), DB_SCHEMA_MODIFIED);
  ck_assert_msg(strstr(why, db_migrations[0].name), "why: %s", why);
  db_pool_destroy(pool);
  char *s = status_text(url);
  ck_assert_msg(strstr(s, "modified"), "%s", s);
  free(s);
  th_pg_drop_db(&pg, url);
}
END_TEST

START_TEST(test_migrate_ahead) {
  char url[TH_PG_CONNINFO_MAX], err[512] = "", why[256] = "";
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  unsigned applied;
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
  exec_ok(url, "INSERT INTO sparkd_schema_migrations (version, name, checksum)"
               " VALUES (9999, '9999_future.sql', repeat('a', 64))");

  ck_assert_int_eq(db_migrate_apply(url, &applied, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "database schema is newer than this binary") && strstr(err, "9999_future.sql"), "err: %s",
                err);
  db_pool *pool = db_pool_create(url, 1);
  ck_assert_int_eq(db_schema_check(pool, why, sizeof why), DB_SCHEMA_AHEAD);
  ck_assert_msg(strstr(why, "newer"), "why: %s", why);
  db_pool_destroy(pool);
  char *s = status_text(url);
  ck_assert_msg(strstr(s, "9999_future.sql") && strstr(s, "unknown to this binary"), "%s", s);
  free(s);
  th_pg_drop_db(&pg, url);
}
END_TEST

START_TEST(test_migrate_failure_is_atomic_and_unreachable) {
  char err[512] = "", why[256] = "";
  /* A database that does not exist: the runner fails with a line, the check says UNKNOWN. */
  char url[TH_PG_CONNINFO_MAX];
  snprintf(url, sizeof url, "host=%s dbname=sparkd_no_such_db user=postgres", pg.dir);
  unsigned applied = 7;
  ck_assert_int_eq(db_migrate_apply(url, &applied, err, sizeof err), -1);
  ck_assert_uint_eq(applied, 0);
  ck_assert_msg(strstr(err, "sparkd_no_such_db"), "err: %s", err);
  db_pool *pool = db_pool_create(url, 1);
  ck_assert_int_eq(db_schema_check(pool, why, sizeof why), DB_SCHEMA_UNKNOWN);
  db_pool_destroy(pool);
  FILE *devnull = fopen("/dev/null", "w");
  ck_assert_int_eq(db_migrate_status(url, devnull, err, sizeof err), -1);
  fclose(devnull);
  ck_assert_msg(strstr(err, "sparkd_no_such_db"), "err: %s", err);

  /* A migration that fails (sparkd_meta already exists) leaves nothing recorded and nothing half
   * done: its transaction is rolled back. */
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE sparkd_meta (key text PRIMARY KEY, value text NOT NULL)");
  ck_assert_int_eq(db_migrate_apply(url, &applied, err, sizeof err), -1);
  ck_assert_msg(strstr(err, db_migrations[0].name) && strstr(err, "already exists"), "err: %s", err);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_schema_migrations", 0, NULL), 0);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_meta", 0, NULL), 0);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- transactions ---- */

struct flaky_arg {
  const char *fail_times;
  unsigned calls;
};

static db_status flaky_fn(db_conn *c, void *p) {
  struct flaky_arg *a = p;
  a->calls++;
  char attempt[16];
  snprintf(attempt, sizeof attempt, "%u", a->calls);
  const char *params[] = {attempt};
  db_status st = db_exec_params(c, "INSERT INTO flaky_log (attempt) VALUES ($1::int)", 1, params, NULL);
  if (st != DB_OK) return st;
  const char *fp[] = {a->fail_times};
  return db_exec_params(c, "SELECT flaky($1::int)", 1, fp, NULL);
}

START_TEST(test_txn_retries_40001) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  /* A sequence is not transactional, so it counts calls across the rolled-back attempts. */
  exec_ok(url, "CREATE TABLE flaky_log (attempt int NOT NULL);"
               "CREATE SEQUENCE flaky_seq;"
               "CREATE FUNCTION flaky(fail_times int) RETURNS bigint LANGUAGE plpgsql AS $$"
               " DECLARE n bigint := nextval('flaky_seq');"
               " BEGIN IF n <= fail_times THEN"
               "   RAISE EXCEPTION 'simulated serialization failure' USING ERRCODE = '40001';"
               " END IF; RETURN n; END $$");
  db_pool *pool = db_pool_create(url, 2);

  struct flaky_arg a = {"2", 0};
  ck_assert_int_eq(db_run_txn(pool, flaky_fn, &a), DB_OK);
  ck_assert_uint_eq(a.calls, 3);
  /* Only the successful attempt's write survived. */
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM flaky_log", 0, NULL), 1);
  ck_assert_int_eq(q_int(url, "SELECT attempt AS n FROM flaky_log", 0, NULL), 3);

  /* Always failing: gives up after the bound, quickly, with nothing written. */
  exec_ok(url, "SELECT setval('flaky_seq', 1, false)");
  struct flaky_arg b = {"1000000", 0};
  int64_t t0 = now_ms();
  ck_assert_int_eq(db_run_txn(pool, flaky_fn, &b), DB_RETRY);
  int64_t took = now_ms() - t0;
  ck_assert_uint_eq(b.calls, DB_TXN_MAX_ATTEMPTS);
  ck_assert_msg(took < 3000, "gave up after %lld ms", (long long)took);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM flaky_log", 0, NULL), 1);

  /* A custom bound. */
  exec_ok(url, "SELECT setval('flaky_seq', 1, false)");
  struct flaky_arg d = {"1000000", 0};
  struct db_txn_opts o = {.max_attempts = 2};
  ck_assert_int_eq(db_run_txn_ex(pool, &o, flaky_fn, &d), DB_RETRY);
  ck_assert_uint_eq(d.calls, 2);

  db_pool_stats s;
  db_pool_get_stats(pool, &s);
  ck_assert_uint_eq(s.in_use, 0);
  ck_assert_uint_eq(s.errors, 0); /* 40001 is not an error */
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

struct lost_arg {
  unsigned calls;
  int64_t pids[4];
};

/* The first attempt's session is killed under it (as a server restart or failover would). */
static db_status lose_connection_once(db_conn *c, void *p) {
  struct lost_arg *a = p;
  a->pids[a->calls] = c_int(c, "SELECT pg_backend_pid() AS n");
  a->calls++;
  db_status st = db_exec(c, "INSERT INTO t VALUES (1)");
  if (st != DB_OK) return st;
  if (a->calls == 1) return db_exec(c, "SELECT pg_terminate_backend(pg_backend_pid())");
  return DB_OK;
}

START_TEST(test_txn_reconnects_after_lost_connection) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE t (k int)");
  db_pool *pool = db_pool_create(url, 1);
  struct lost_arg a = {0};
  ck_assert_int_eq(db_run_txn(pool, lose_connection_once, &a), DB_OK);
  ck_assert_uint_eq(a.calls, 2);
  ck_assert_int_ne(a.pids[0], a.pids[1]); /* a new session */
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM t", 0, NULL), 1);
  db_pool_stats s;
  db_pool_get_stats(pool, &s);
  ck_assert_uint_eq(s.reconnects, 1);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

static db_status deadlock_fn(db_conn *c, void *p) {
  unsigned *calls = p;
  (*calls)++;
  return db_exec(c, "SELECT deadlock_once()");
}

START_TEST(test_txn_retries_40P01) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE SEQUENCE dl_seq;"
               "CREATE FUNCTION deadlock_once() RETURNS void LANGUAGE plpgsql AS $$"
               " BEGIN IF nextval('dl_seq') = 1 THEN"
               "   RAISE EXCEPTION 'simulated deadlock' USING ERRCODE = '40P01';"
               " END IF; END $$");
  db_pool *pool = db_pool_create(url, 1);
  unsigned calls = 0;
  ck_assert_int_eq(db_run_txn(pool, deadlock_fn, &calls), DB_OK);
  ck_assert_uint_eq(calls, 2);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* Write skew between two SERIALIZABLE transactions: a real 40001 from PostgreSQL's SSI. */
struct skew_arg {
  db_conn *other; /* inside its own serializable transaction until the first attempt commits it */
  unsigned calls;
};

static db_status skew_fn(db_conn *c, void *p) {
  struct skew_arg *a = p;
  a->calls++;
  int64_t n = c_int(c, "SELECT count(*) AS n FROM oncall WHERE doctor = 'b'");
  (void)n;
  db_status st = db_exec(c, "INSERT INTO oncall (doctor) VALUES ('a')");
  if (st != DB_OK) return st;
  if (a->calls == 1) /* the other transaction commits first and wins */
    ck_assert_int_eq(db_exec(a->other, "COMMIT"), DB_OK);
  return DB_OK;
}

START_TEST(test_txn_retries_real_serialization_failure) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE oncall (doctor text NOT NULL)");
  db_pool *pool = db_pool_create(url, 2);
  db_conn *other = db_acquire(pool, 2000);
  ck_assert_ptr_nonnull(other);
  ck_assert_int_eq(db_exec(other, "BEGIN ISOLATION LEVEL SERIALIZABLE"), DB_OK);
  ck_assert_int_eq(c_int(other, "SELECT count(*) AS n FROM oncall WHERE doctor = 'a'"), 0);
  ck_assert_int_eq(db_exec(other, "INSERT INTO oncall (doctor) VALUES ('b')"), DB_OK);

  struct skew_arg a = {other, 0};
  struct db_txn_opts o = {.isolation = DB_ISO_SERIALIZABLE};
  ck_assert_int_eq(db_run_txn_ex(pool, &o, skew_fn, &a), DB_OK);
  ck_assert_uint_eq(a.calls, 2);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM oncall", 0, NULL), 2);
  db_release(other);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

struct conflict_arg {
  unsigned calls;
};

static db_status insert_one(db_conn *c, void *p) {
  struct conflict_arg *a = p;
  a->calls++;
  return db_exec(c, "INSERT INTO uniq (k) VALUES (1)");
}

START_TEST(test_unique_violation_is_conflict) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE uniq (k int PRIMARY KEY)");
  db_pool *pool = db_pool_create(url, 1);
  struct conflict_arg a = {0};
  ck_assert_int_eq(db_run_txn(pool, insert_one, &a), DB_OK);
  ck_assert_int_eq(db_run_txn(pool, insert_one, &a), DB_CONFLICT);
  ck_assert_uint_eq(a.calls, 2); /* not retried */

  db_conn *c = db_acquire(pool, 2000);
  ck_assert_ptr_nonnull(c);
  const char *p[] = {"1"};
  ck_assert_int_eq(db_exec_params(c, "INSERT INTO uniq (k) VALUES ($1::int)", 1, p, NULL), DB_CONFLICT);
  ck_assert_str_eq(db_last_sqlstate(c), "23505");
  /* Other SQLSTATEs are plain errors, with the cause kept for the log. */
  ck_assert_int_eq(db_exec(c, "SELECT * FROM no_such_table"), DB_ERROR);
  ck_assert_str_eq(db_last_sqlstate(c), "42P01");
  ck_assert_ptr_nonnull(strstr(db_last_error(c), "no_such_table"));
  ck_assert_int_eq(db_exec(c, "SELECT 1"), DB_OK);
  ck_assert_str_eq(db_last_sqlstate(c), "");
  db_release(c);
  db_pool_stats s;
  db_pool_get_stats(pool, &s);
  ck_assert_uint_eq(s.errors, 1);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* A pipelined run (db_pipeline_begin/end, the import's small sections): its writes land; a
 * failure in the middle is reported by db_pipeline_end with its status, nothing after it runs, and
 * the connection is usable afterwards. */
START_TEST(test_pipeline) {
  char url[TH_PG_CONNINFO_MAX], err[256];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE pipe (k int PRIMARY KEY)");
  static const struct db_statement stmts[] = {{"th_pipe_ins", "INSERT INTO pipe (k) VALUES ($1::int)"}};
  ck_assert_int_eq(db_statements_register(stmts, 1), 0);
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  static const char *const keys[] = {"1", "2", "3", "4", "2", "5"};
  ck_assert_int_eq(db_pipeline_begin(c), DB_OK);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(db_exec_prepared(c, "th_pipe_ins", 1, &keys[i], NULL), DB_OK);
  ck_assert_int_eq(db_pipeline_end(c), DB_OK);
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM pipe"), 3);
  ck_assert_int_eq(db_exec(c, "BEGIN"), DB_OK);
  ck_assert_int_eq(db_pipeline_begin(c), DB_OK);
  for (int i = 3; i < 6; i++)
    ck_assert_int_eq(db_exec_prepared(c, "th_pipe_ins", 1, &keys[i], NULL), DB_OK);
  ck_assert_int_eq(db_pipeline_end(c), DB_CONFLICT);
  ck_assert_str_eq(db_last_sqlstate(c), "23505");
  ck_assert_int_eq(db_exec(c, "ROLLBACK"), DB_OK);
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM pipe"), 3);
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM pipe WHERE k = 5"), 0);
  db_conn_close(c);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* A pool that prepares on first use (sparkd import) prepares inside a pipeline too: a statement
 * sent twice is prepared once; after a failure in the middle, the statements whose prepare the
 * server did (before the failure) are used as prepared, those it skipped are prepared again, and
 * nothing is prepared twice (which the server refuses). */
START_TEST(test_pipeline_prepares_on_first_use) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE lazy (k int PRIMARY KEY)");
  static const struct db_statement stmts[] = {{"th_lazy_one", "SELECT $1::int AS n"},
                                              {"th_lazy_ins", "INSERT INTO lazy (k) VALUES ($1::int)"},
                                              {"th_lazy_count", "SELECT count(*) AS n FROM lazy"}};
  ck_assert_int_eq(db_statements_register(stmts, 3), 0);
  db_pool *pool = db_pool_create(url, 1);
  db_pool_set_prepare_on_connect(pool, false);
  db_conn *c = db_acquire(pool, 2000);
  ck_assert_ptr_nonnull(c);
  static const char names_sql[] = "SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE 'th_lazy_%'";
  ck_assert_int_eq(c_int(c, names_sql), 0);
  static const char *const one[] = {"1"}, *const two[] = {"2"}, *const three[] = {"3"};
  ck_assert_int_eq(db_exec(c, "BEGIN"), DB_OK);
  ck_assert_int_eq(db_pipeline_begin(c), DB_OK);
  ck_assert_int_eq(db_exec_prepared(c, "th_lazy_one", 1, one, NULL), DB_OK);
  ck_assert_int_eq(db_exec_prepared(c, "th_lazy_ins", 1, one, NULL), DB_OK);
  ck_assert_int_eq(db_exec_prepared(c, "th_lazy_ins", 1, one, NULL), DB_OK); /* 23505 */
  ck_assert_int_eq(db_exec_prepared(c, "th_lazy_count", 0, NULL, NULL), DB_OK);
  ck_assert_int_eq(db_pipeline_end(c), DB_CONFLICT);
  ck_assert_int_eq(db_exec(c, "ROLLBACK"), DB_OK);
  ck_assert_int_eq(c_int(c, names_sql), 2); /* one and ins; count's prepare was skipped */
  int64_t n = -1;
  struct db_col col = {"n", DB_COL_INT64, &n, 0, NULL};
  ck_assert_int_eq(db_query_one_prepared(c, "th_lazy_one", 1, two, &col, 1), DB_OK);
  ck_assert_int_eq(n, 2);
  ck_assert_int_eq(db_exec_prepared(c, "th_lazy_ins", 1, two, NULL), DB_OK);
  ck_assert_int_eq(db_query_one_prepared(c, "th_lazy_count", 0, NULL, &col, 1), DB_OK);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(db_pipeline_begin(c), DB_OK);
  ck_assert_int_eq(db_exec_prepared(c, "th_lazy_ins", 1, three, NULL), DB_OK);
  ck_assert_int_eq(db_exec_prepared(c, "th_lazy_count", 0, NULL, NULL), DB_OK);
  ck_assert_int_eq(db_pipeline_end(c), DB_OK);
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM lazy"), 2);
  ck_assert_int_eq(c_int(c, names_sql), 3);
  db_release(c);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

START_TEST(test_failed_transaction_rolled_back_on_release) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE t (k int)");
  db_pool *pool = db_pool_create(url, 1);
  db_conn *c = db_acquire(pool, 2000);
  ck_assert_ptr_nonnull(c);
  int64_t pid = c_int(c, "SELECT pg_backend_pid() AS n");
  ck_assert_int_eq(db_exec(c, "BEGIN"), DB_OK);
  ck_assert_int_eq(db_exec(c, "INSERT INTO t VALUES (1)"), DB_OK);
  ck_assert_int_eq(db_exec(c, "SELECT 1/0"), DB_ERROR);
  ck_assert_str_eq(db_last_sqlstate(c), "22012");
  ck_assert_int_eq(db_exec(c, "SELECT 1"), DB_ERROR); /* 25P02: the transaction is aborted */
  db_release(c);

  c = db_acquire(pool, 2000);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(c_int(c, "SELECT pg_backend_pid() AS n"), pid); /* same session, not reconnected */
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM t"), 0);

  /* An open (not failed) transaction is rolled back too. */
  ck_assert_int_eq(db_exec(c, "BEGIN"), DB_OK);
  ck_assert_int_eq(db_exec(c, "INSERT INTO t VALUES (2)"), DB_OK);
  db_release(c);
  c = db_acquire(pool, 2000);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(c_int(c, "SELECT pg_backend_pid() AS n"), pid);
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM t"), 0);
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = pg_backend_pid()"
                            " AND backend_xid IS NULL"),
                   1);
  db_release(c);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM t", 0, NULL), 0);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

static db_status swallow_fn(db_conn *c, void *p) {
  (void)p;
  (void)db_exec(c, "INSERT INTO t VALUES (7)");
  (void)db_exec(c, "SELECT 1/0"); /* ignored on purpose */
  return DB_OK;
}

START_TEST(test_txn_fn_ignoring_error_is_error) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE t (k int)");
  db_pool *pool = db_pool_create(url, 1);
  ck_assert_int_eq(db_run_txn(pool, swallow_fn, NULL), DB_ERROR);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM t", 0, NULL), 0);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- statements and rows ---- */

START_TEST(test_statement_registry) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  static const struct db_statement stmts[] = {
      {"th_add", "SELECT $1::int + $2::int AS n"},
      {"th_count_later", "SELECT count(*) AS n FROM later_table"},
  };
  size_t before = db_statements_count();
  ck_assert_int_eq(db_statements_register(stmts, 2), 0);
  ck_assert_uint_eq(db_statements_count(), before + 2);
  ck_assert_int_eq(db_statements_register(stmts, 1), -1); /* duplicate name */
  ck_assert_uint_eq(db_statements_count(), before + 2);

  db_pool *pool = db_pool_create(url, 1);
  db_conn *c = db_acquire(pool, 2000);
  ck_assert_ptr_nonnull(c);
  /* Prepared on connect, before any use; th_count_later could not be (no table yet). */
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM pg_prepared_statements"
                            " WHERE name IN ('th_add', 'sparkd_ping')"),
                   2);
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM pg_prepared_statements WHERE name = 'th_count_later'"), 0);
  int64_t sum = 0;
  struct db_col col = {"n", DB_COL_INT64, &sum, 0, NULL};
  const char *p[] = {"2", "40"};
  ck_assert_int_eq(db_query_one_prepared(c, "th_add", 2, p, &col, 1), DB_OK);
  ck_assert_int_eq(sum, 42);

  /* Prepared on first use once its table exists. */
  ck_assert_int_eq(db_exec(c, "CREATE TABLE later_table (x int); INSERT INTO later_table VALUES (1), (2)"), DB_OK);
  int64_t n = 0;
  struct db_col ncol = {"n", DB_COL_INT64, &n, 0, NULL};
  ck_assert_int_eq(db_query_one_prepared(c, "th_count_later", 0, NULL, &ncol, 1), DB_OK);
  ck_assert_int_eq(n, 2);

  /* A statement registered after the connection was made is prepared on first use. */
  static const struct db_statement late[] = {{"th_late", "SELECT $1::text || '!' AS s"}};
  ck_assert_int_eq(db_statements_register(late, 1), 0);
  char s[16];
  struct db_col scol = {"s", DB_COL_TEXT, s, sizeof s, NULL};
  const char *lp[] = {"hi"};
  ck_assert_int_eq(db_query_one_prepared(c, "th_late", 1, lp, &scol, 1), DB_OK);
  ck_assert_str_eq(s, "hi!");

  /* The session forgot them all: prepared again transparently. */
  ck_assert_int_eq(db_exec(c, "DEALLOCATE ALL"), DB_OK);
  sum = 0;
  ck_assert_int_eq(db_query_one_prepared(c, "th_add", 2, p, &col, 1), DB_OK);
  ck_assert_int_eq(sum, 42);

  ck_assert_int_eq(db_exec_prepared(c, "th_no_such_statement", 0, NULL, NULL), DB_ERROR);
  db_release(c);
  ck_assert_int_eq(db_ping(pool), DB_OK);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* The registry holds every db/ area's statements before anything connects or registers, once
 * each: one statement of every area is looked for by name. */
START_TEST(test_statement_areas_registered_up_front) {
  static const char *const expected[] = {
      "sparkd_ping",  "auth_key_by_sha256", "keys_revoke",   "pp_get",      "idem_claim",
      "audit_append", "ltv_lock",           "ltv_positions", "ltv_history", "wh_take",
      "wh_insert",    "reserves_history",   "snap_lock",     "snap_notify"};
  size_t n = db_statements_count();
  ck_assert_uint_gt(n, sizeof expected / sizeof expected[0]);
  for (size_t i = 0; i < n; i++) {
    ck_assert_ptr_nonnull(db_statements_name(i));
    for (size_t j = 0; j < i; j++)
      ck_assert_msg(strcmp(db_statements_name(i), db_statements_name(j)) != 0, "%s is registered twice",
                    db_statements_name(i));
  }
  ck_assert_ptr_null(db_statements_name(n));
  for (size_t k = 0; k < sizeof expected / sizeof expected[0]; k++) {
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
      found = strcmp(db_statements_name(i), expected[k]) == 0;
    ck_assert_msg(found, "%s is not registered", expected[k]);
  }
}
END_TEST

/* Every registered statement prepares against a freshly migrated schema: a typo in any SQL text,
 * or a statement left behind by a migration, fails here rather than on a request. */
START_TEST(test_every_statement_prepares_on_migrated_schema) {
  char url[TH_PG_CONNINFO_MAX], err[512] = "";
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  unsigned applied = 0;
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  char failed[128] = "";
  db_status st = db_statements_prepare_all(c, failed, sizeof failed);
  ck_assert_msg(st == DB_OK, "statement %s does not prepare: %s", failed, db_last_error(c));
  ck_assert_int_eq(c_int(c, "SELECT count(*) AS n FROM pg_prepared_statements"), (int64_t)db_statements_count());
  /* and the report names the statement that does not */
  static const struct db_statement typo[] = {{"th_typo", "SELEC 1"}};
  ck_assert_int_eq(db_statements_register(typo, 1), 0);
  ck_assert_int_eq(db_statements_prepare_all(c, failed, sizeof failed), DB_ERROR);
  ck_assert_str_eq(failed, "th_typo");
  db_conn_close(c);
  th_pg_drop_db(&pg, url);
}
END_TEST

struct rows_arg {
  int64_t sum;
  unsigned rows;
};

static db_status sum_rows(const db_row *row, void *p) {
  struct rows_arg *a = p;
  int64_t v;
  struct db_col col = {"v", DB_COL_INT64, &v, 0, NULL};
  db_status st = db_row_get(row, &col, 1);
  if (st == DB_OK) {
    a->sum += v;
    a->rows++;
  }
  return st;
}

START_TEST(test_row_copy) {
  char url[TH_PG_CONNINFO_MAX], err[256];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);

  struct rows_arg ra = {0};
  uint64_t nrows = 0;
  ck_assert_int_eq(db_query_params(c, "SELECT generate_series(1, 100)::bigint AS v", 0, NULL, sum_rows, &ra, &nrows),
                   DB_OK);
  ck_assert_uint_eq(nrows, 100);
  ck_assert_uint_eq(ra.rows, 100);
  ck_assert_int_eq(ra.sum, 5050);

  char text[8];
  char *dup = NULL;
  int64_t big = 0;
  int32_t small = 0;
  uint64_t u = 0;
  bool flag = false, t_null = false, i_null = true;
  double d = 0;
  int32_t maybe = 5;
  struct db_col cols[] = {
      {"t", DB_COL_TEXT, text, sizeof text, &t_null},
      {"dup", DB_COL_TEXT_DUP, &dup, 0, NULL},
      {"big", DB_COL_INT64, &big, 0, NULL},
      {"small", DB_COL_INT32, &small, 0, NULL},
      {"u", DB_COL_UINT64, &u, 0, NULL},
      {"flag", DB_COL_BOOL, &flag, 0, NULL},
      {"d", DB_COL_DOUBLE, &d, 0, NULL},
      {"maybe", DB_COL_INT32, &maybe, 0, &i_null},
  };
  const char *p[] = {"abc", NULL};
  ck_assert_int_eq(db_query_one_params(c,
                                       "SELECT $1::text AS t, repeat('x', 1000) AS dup,"
                                       " (-9223372036854775807)::bigint AS big, (-2147483648)::int AS small,"
                                       " 18446744073709551615::numeric AS u, true AS flag, 0.5::float8 AS d,"
                                       " $2::int AS maybe",
                                       2, p, cols, sizeof cols / sizeof cols[0]),
                   DB_OK);
  ck_assert_str_eq(text, "abc");
  ck_assert(!t_null);
  ck_assert_uint_eq(strlen(dup), 1000);
  free(dup);
  ck_assert(big == -9223372036854775807LL);
  ck_assert_int_eq(small, INT32_MIN);
  ck_assert(u == UINT64_MAX);
  ck_assert(flag);
  ck_assert(d == 0.5);
  ck_assert(i_null);
  ck_assert_int_eq(maybe, 0);

  /* Too long for its buffer, NULL where none is allowed, out of range, no such column. */
  struct db_col one = {"t", DB_COL_TEXT, text, sizeof text, NULL};
  ck_assert_int_eq(db_query_one_params(c, "SELECT 'abcdefgh'::text AS t", 0, NULL, &one, 1), DB_ERROR);
  ck_assert_int_eq(db_query_one_params(c, "SELECT NULL::text AS t", 0, NULL, &one, 1), DB_ERROR);
  struct db_col s32 = {"small", DB_COL_INT32, &small, 0, NULL};
  ck_assert_int_eq(db_query_one_params(c, "SELECT 2147483648::bigint AS small", 0, NULL, &s32, 1), DB_ERROR);
  ck_assert_int_eq(db_query_one_params(c, "SELECT 1 AS other", 0, NULL, &s32, 1), DB_ERROR);
  /* Zero rows and two rows. */
  ck_assert_int_eq(db_query_one_params(c, "SELECT 1 AS small WHERE false", 0, NULL, &s32, 1), DB_NO_ROWS);
  ck_assert_int_eq(db_query_one_params(c, "SELECT 1 AS small UNION ALL SELECT 2", 0, NULL, &s32, 1), DB_ERROR);
  uint64_t affected = 0;
  ck_assert_int_eq(db_exec(c, "CREATE TABLE a (x int); INSERT INTO a SELECT generate_series(1, 7)"), DB_OK);
  ck_assert_int_eq(db_exec_params(c, "UPDATE a SET x = x + 1 WHERE x > 2", 0, NULL, &affected), DB_OK);
  ck_assert_uint_eq(affected, 5);
  db_conn_close(c);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- the pool ---- */

struct release_later {
  db_conn *c;
  unsigned ms;
};

static void *release_later_fn(void *p) {
  struct release_later *r = p;
  sleep_ms(r->ms);
  db_release(r->c);
  return NULL;
}

START_TEST(test_pool_wait_bound_and_wakeup) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  ck_assert_ptr_null(db_pool_create(url, 0));
  ck_assert_ptr_null(db_pool_create(NULL, 1));
  db_pool *pool = db_pool_create(url, 1);
  db_conn *c = db_acquire(pool, 2000);
  ck_assert_ptr_nonnull(c);

  int64_t t0 = now_ms();
  ck_assert_ptr_null(db_acquire(pool, 200));
  int64_t took = now_ms() - t0;
  ck_assert_msg(took >= 190 && took < 1000, "took %lld ms", (long long)took);
  db_pool_stats s;
  db_pool_get_stats(pool, &s);
  ck_assert_uint_eq(s.wait_timeouts, 1);
  ck_assert_uint_eq(s.in_use, 1);
  ck_assert_uint_eq(s.size, 1);

  /* A waiter is woken by a release. */
  struct release_later r = {c, 150};
  pthread_t t;
  pthread_create(&t, NULL, release_later_fn, &r);
  t0 = now_ms();
  db_conn *c2 = db_acquire(pool, 5000);
  took = now_ms() - t0;
  ck_assert_ptr_eq(c2, c);
  ck_assert_msg(took >= 100 && took < 2000, "took %lld ms", (long long)took);
  pthread_join(t, NULL);
  db_release(c2);
  db_release(c2); /* a second release is refused, the counts stay right */
  db_pool_get_stats(pool, &s);
  ck_assert_uint_eq(s.in_use, 0);
  ck_assert_ptr_nonnull(c = db_acquire(pool, 100));
  db_release(c);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

struct hammer_arg {
  db_pool *pool;
  unsigned n;
  unsigned failures;
};

static db_status bump(db_conn *c, void *p) {
  (void)p;
  return db_exec(c, "UPDATE counter SET n = n + 1");
}

static void *hammer(void *p) {
  struct hammer_arg *a = p;
  for (unsigned i = 0; i < a->n; i++) {
    if (db_run_txn(a->pool, bump, NULL) != DB_OK) a->failures++;
    if (i % 10 == 0 && db_ping(a->pool) != DB_OK) a->failures++;
  }
  return NULL;
}

START_TEST(test_pool_threads) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  exec_ok(url, "CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0)");
  db_pool *pool = db_pool_create(url, 3);
  db_pool_set_wait(pool, 10000);
  enum { T = 8, N = 100 };
  pthread_t t[T];
  struct hammer_arg a[T];
  int64_t t0 = now_ms();
  for (int i = 0; i < T; i++) {
    a[i] = (struct hammer_arg){pool, N, 0};
    pthread_create(&t[i], NULL, hammer, &a[i]);
  }
  for (int i = 0; i < T; i++) {
    pthread_join(t[i], NULL);
    ck_assert_uint_eq(a[i].failures, 0);
  }
  fprintf(stderr, "check_db_core: %d transactions (+%d pings) on %d threads sharing 3 connections took %lld ms\n",
          T * N, T * N / 10, T, (long long)(now_ms() - t0));
  ck_assert_int_eq(q_int(url, "SELECT n FROM counter", 0, NULL), T * N);
  db_pool_stats s;
  db_pool_get_stats(pool, &s);
  ck_assert_uint_eq(s.in_use, 0);
  ck_assert_uint_le(s.idle, 3);
  ck_assert_uint_ge(s.acquired, T * N);
  ck_assert_uint_eq(s.errors, 0);
  db_pool_destroy(pool);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* A "server" that completes the TCP handshake and then never answers: connecting must still give
 * up within the bound (500 ms minimum per attempt), and the next acquires fail fast. */
START_TEST(test_pool_connect_bounded_when_server_hangs) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  ck_assert_int_eq(listen(fd, 16), 0);
  socklen_t sl = sizeof sa;
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
  char url[256];
  snprintf(url, sizeof url, "host=127.0.0.1 port=%u dbname=x user=x connect_timeout=30", ntohs(sa.sin_port));

  db_pool *pool = db_pool_create(url, 2);
  int64_t t0 = now_ms();
  ck_assert_ptr_null(db_acquire(pool, 300));
  int64_t took = now_ms() - t0;
  fprintf(stderr, "check_db_core: db_acquire(300 ms) against a silent server returned NULL in %lld ms\n",
          (long long)took);
  ck_assert_msg(took >= 250 && took < 1500, "took %lld ms", (long long)took);
  t0 = now_ms();
  ck_assert_ptr_null(db_acquire(pool, 300)); /* inside the backoff: no second wait */
  ck_assert_int_lt(now_ms() - t0, 100);
  t0 = now_ms();
  ck_assert_int_eq(db_ping(pool), DB_UNAVAILABLE);
  ck_assert_int_lt(now_ms() - t0, 1500);
  db_pool_destroy(pool);
  close(fd);
}
END_TEST

START_TEST(test_pool_server_down_and_back) {
  /* A cluster of its own, so stopping it disturbs no other test. */
  struct th_pg own;
  ck_assert_int_eq(th_pg_start(&own), 0);
  db_pool *pool = db_pool_create(own.conninfo, 2);
  db_pool_set_wait(pool, 300);
  ck_assert_int_eq(db_ping(pool), DB_OK);
  db_conn *held = db_acquire(pool, 1000);
  ck_assert_ptr_nonnull(held);

  ck_assert_int_eq(th_pg_pause(&own), 0);

  /* The held connection's server went away. */
  ck_assert_int_eq(db_exec(held, "SELECT 1"), DB_UNAVAILABLE);
  db_release(held);
  for (int i = 0; i < 3; i++) {
    int64_t t0 = now_ms();
    db_conn *c = db_acquire(pool, 300);
    int64_t took = now_ms() - t0;
    ck_assert_ptr_null(c);
    ck_assert_msg(took < 1000, "acquire while down took %lld ms", (long long)took);
    fprintf(stderr, "check_db_core: db_acquire(300 ms) while the server is down returned NULL in %lld ms\n",
            (long long)took);
  }
  int64_t t0 = now_ms();
  ck_assert_int_ne(db_ping(pool), DB_OK);
  ck_assert_int_eq(db_run_txn(pool, bump, NULL), DB_UNAVAILABLE);
  ck_assert_msg(now_ms() - t0 < 2000, "ping + txn while down took %lld ms", (long long)(now_ms() - t0));
  char why[128];
  ck_assert_int_eq(db_schema_check(pool, why, sizeof why), DB_SCHEMA_UNKNOWN);
  db_pool_stats s;
  db_pool_get_stats(pool, &s);
  ck_assert_uint_ge(s.unavailable, 3);
  ck_assert_uint_eq(s.in_use, 0);

  ck_assert_int_eq(th_pg_resume(&own), 0);
  /* The same pool recovers by itself. */
  t0 = now_ms();
  while (db_ping(pool) != DB_OK && now_ms() - t0 < 10000)
    sleep_ms(50);
  ck_assert_int_eq(db_ping(pool), DB_OK);
  fprintf(stderr, "check_db_core: pool usable again %lld ms after the server was started again\n",
          (long long)(now_ms() - t0));
  db_conn *a = db_acquire(pool, 1000), *b = db_acquire(pool, 1000);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(db_exec(a, "SELECT 1"), DB_OK);
  ck_assert_int_eq(db_exec(b, "SELECT 1"), DB_OK);
  /* Statements are prepared again on the new sessions. */
  ck_assert_int_eq(c_int(a, "SELECT count(*) AS n FROM pg_prepared_statements WHERE name = 'sparkd_ping'"), 1);
  db_release(a);
  db_release(b);
  db_pool_get_stats(pool, &s);
  ck_assert_uint_ge(s.reconnects, 1);

  /* A restart while connections sit idle: the next acquire notices without an error. */
  ck_assert_int_eq(th_pg_restart(&own), 0);
  ck_assert_int_eq(db_ping(pool), DB_OK);
  a = db_acquire(pool, 1000);
  b = db_acquire(pool, 1000);
  ck_assert_int_eq(db_exec(a, "SELECT 1"), DB_OK);
  ck_assert_int_eq(db_exec(b, "SELECT 1"), DB_OK);
  db_release(a);
  db_release(b);

  db_pool_destroy(pool);
  ck_assert_int_eq(th_pg_stop(&own), 0);
}
END_TEST

/* ---- sparkd migrate ---- */

START_TEST(test_cmd_migrate) {
  char url[TH_PG_CONNINFO_MAX];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  static struct util_config cfg;
  memset(&cfg, 0, sizeof cfg);
  snprintf(cfg.database_url, sizeof cfg.database_url, "%s", url);

  char *help[] = {"migrate", "--help", NULL};
  ck_assert_int_eq(cli_cmd_migrate(2, help, &cfg), 0);
  char *bad[] = {"migrate", "--bogus", NULL};
  ck_assert_int_eq(cli_cmd_migrate(2, bad, &cfg), 2);
  ck_assert_int_eq(
      q_int(url, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'sparkd_schema_migrations'", 0, NULL), 0);

  char *status[] = {"migrate", "--status", NULL};
  ck_assert_int_eq(cli_cmd_migrate(2, status, &cfg), 0);
  char *run[] = {"migrate", NULL};
  ck_assert_int_eq(cli_cmd_migrate(1, run, &cfg), 0);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_schema_migrations", 0, NULL), db_migrations_count);
  ck_assert_int_eq(cli_cmd_migrate(1, run, &cfg), 0);
  ck_assert_int_eq(cli_cmd_migrate(2, status, &cfg), 0);

  exec_ok(url, "UPDATE sparkd_schema_migrations SET checksum = 'x'");
  ck_assert_int_eq(cli_cmd_migrate(1, run, &cfg), 1);
  cfg.database_url[0] = '\0';
  ck_assert_int_eq(cli_cmd_migrate(1, run, &cfg), 1);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- the real binary ---- */

/* Runs SPARKD_BINARY with args and SPARKD_DATABASE_URL=url; returns its exit status, stdout in out. */
static int run_sparkd(const char *url, char *const args[], char *out, size_t out_len) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    if (url) setenv("SPARKD_DATABASE_URL", url, 1);
    execv(SPARKD_BINARY, args);
    _exit(127);
  }
  close(fds[1]);
  size_t used = 0;
  ssize_t n;
  while (used + 1 < out_len && (n = read(fds[0], out + used, out_len - 1 - used)) > 0)
    used += (size_t)n;
  out[used] = '\0';
  close(fds[0]);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_binary_migrate) {
  char url[TH_PG_CONNINFO_MAX], out[4096];
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  char *help[] = {"sparkd", "migrate", "--help", NULL};
  ck_assert_int_eq(run_sparkd(NULL, help, out, sizeof out), 0);
  ck_assert_msg(strstr(out, "usage: sparkd migrate"), "%s", out);
  char *bad[] = {"sparkd", "migrate", "--nope", NULL};
  ck_assert_int_eq(run_sparkd(url, bad, out, sizeof out), 2);
  ck_assert_str_eq(out, ""); /* usage went to stderr */

  char *run[] = {"sparkd", "migrate", NULL};
  ck_assert_int_eq(run_sparkd(url, run, out, sizeof out), 0);
  ck_assert_int_eq(q_int(url, "SELECT count(*) AS n FROM sparkd_schema_migrations", 0, NULL), db_migrations_count);
  char *status[] = {"sparkd", "migrate", "--status", NULL};
  ck_assert_int_eq(run_sparkd(url, status, out, sizeof out), 0);
  for (unsigned i = 0; i < db_migrations_count; i++) {
    char *line = line_with(out, db_migrations[i].name);
    ck_assert_msg(line && strstr(line, "applied"), "%s", out);
    free(line);
  }
  th_pg_drop_db(&pg, url);
}
END_TEST

static Suite *db_suite(void) {
  Suite *s = suite_create("db");
  TCase *m = tcase_create("migrate");
  tcase_add_test(m, test_migrate_fresh_then_idempotent);
  tcase_add_test(m, test_migrate_status);
  tcase_add_test(m, test_migrate_concurrent);
  tcase_add_test(m, test_migrate_modified);
  tcase_add_test(m, test_migrate_ahead);
  tcase_add_test(m, test_migrate_failure_is_atomic_and_unreachable);
  tcase_add_test(m, test_cmd_migrate);
  tcase_add_test(m, test_binary_migrate);
  tcase_set_timeout(m, 120);
  suite_add_tcase(s, m);
  TCase *t = tcase_create("txn");
  tcase_add_test(t, test_txn_retries_40001);
  tcase_add_test(t, test_txn_retries_real_serialization_failure);
  tcase_add_test(t, test_txn_retries_40P01);
  tcase_add_test(t, test_txn_reconnects_after_lost_connection);
  tcase_add_test(t, test_unique_violation_is_conflict);
  tcase_add_test(t, test_pipeline);
  tcase_add_test(t, test_pipeline_prepares_on_first_use);
  tcase_add_test(t, test_failed_transaction_rolled_back_on_release);
  tcase_add_test(t, test_txn_fn_ignoring_error_is_error);
  tcase_set_timeout(t, 120);
  suite_add_tcase(s, t);
  TCase *q = tcase_create("statements");
  tcase_add_test(q, test_statement_registry);
  tcase_add_test(q, test_statement_areas_registered_up_front);
  tcase_add_test(q, test_every_statement_prepares_on_migrated_schema);
  tcase_add_test(q, test_row_copy);
  tcase_set_timeout(q, 120);
  suite_add_tcase(s, q);
  TCase *p = tcase_create("pool");
  tcase_set_timeout(p, 120);
  tcase_add_test(p, test_pool_wait_bound_and_wakeup);
  tcase_add_test(p, test_pool_threads);
  tcase_add_test(p, test_pool_connect_bounded_when_server_hangs);
  tcase_add_test(p, test_pool_server_down_and_back);
  suite_add_tcase(s, p);
  return s;
}

int main(void) {
  if (th_pg_start(&pg) != 0) {
    fprintf(stderr, "check_db_core: cannot start a private PostgreSQL cluster\n");
    return 1;
  }
  SRunner *sr = srunner_create(db_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed != 0;
}
