/* ctest-label: api */
/* The TypeScript client (clients/ts/) against the real service: a private PostgreSQL gets
 * `sparkd demo-data` through `sparkd import -` and a partner key, sparkd serves it, the client and
 * clients/ts/test/live.ts are compiled with tsc into a temporary folder, and node runs the
 * compiled test: health, chains, a reserve by address and symbol (equal to plain fetch's answer),
 * a typed 404 problem, paging with a cursor, a quote, a quote refused naming its field, a
 * partner route without and with the key. A machine without node or node_modules fails here. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;

/* Runs `sh -c cmd` in the source tree with SPARKD_DATABASE_URL set; returns its output (malloc'd,
 * stderr with it) and sets *status to the exit code (-1 when it did not exit). */
static char *run(const char *cmd, int *status) {
  setenv("SPARKD_DATABASE_URL", dburl, 1);
  char full[8192];
  snprintf(full, sizeof full, "cd '%s' && ( %s ) 2>&1", SPARKD_SOURCE_DIR, cmd);
  fflush(stdout);
  fflush(stderr);
  FILE *p = popen(full, "r");
  ck_assert_msg(p != NULL, "popen failed for: %s", cmd);
  size_t cap = 1 << 20, len = 0, n;
  char *buf = malloc(cap);
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
    len += n;
  buf[len] = 0;
  int ws = pclose(p);
  *status = (ws != -1 && WIFEXITED(ws)) ? WEXITSTATUS(ws) : -1;
  return buf;
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

START_TEST(compiled_client_calls_sparkd) {
  int st;
  char *out = run("command -v node >/dev/null && test -x node_modules/.bin/tsc", &st);
  free(out);
  ck_assert_msg(st == 0, "node or node_modules/.bin/tsc missing: run `npm ci` at the repository root");

  char cmd[4096];
  /* dash has no pipefail: the generator's status travels through a file */
  snprintf(cmd, sizeof cmd,
           "st=/tmp/check_tsclient_$$.st; { '%s' demo-data --accounts 40 --days 1; echo $? >$st; } | '%s' import - "
           ">/dev/null && rc=$(cat $st) && rm -f $st && exit $rc",
           SPARKD_BINARY, SPARKD_BINARY);
  out = run(cmd, &st);
  ck_assert_msg(st == 0, "demo-data | import exited %d:\n%s", st, out);
  free(out);

  snprintf(cmd, sizeof cmd, "'%s' keys create --scope partner --partner tsclient 2>/dev/null", SPARKD_BINARY);
  char *key = run(cmd, &st);
  ck_assert_msg(st == 0 && key[0], "keys create exited %d: %s", st, key);
  key[strcspn(key, "\n")] = 0;

  char tmp[] = "/tmp/sparkd-tsclient-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmp));
  /* the compiled files are ES modules: a package.json says so to node */
  snprintf(cmd, sizeof cmd,
           "timeout 300 node_modules/.bin/tsc -p clients/ts/tsconfig.test.json --outDir '%s' && "
           "echo '{\"type\":\"module\"}' >'%s/package.json'",
           tmp, tmp);
  out = run(cmd, &st);
  ck_assert_msg(st == 0, "tsc exited %d:\n%s", st, out);
  free(out);

  snprintf(cmd, sizeof cmd, "timeout 180 node '%s/test/live.js' %u '%s'", tmp, sd.port, key);
  out = run(cmd, &st);
  fputs(out, stdout);
  ck_assert_msg(st == 0, "clients/ts/test/live.ts exited %d:\n%s", st, out);
  free(out);
  free(key);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  free(run(cmd, &st));
}
END_TEST

int main(void) {
  Suite *s = suite_create("tsclient");
  TCase *tc = tcase_create("api");
  tcase_set_timeout(tc, 600);
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_add_test(tc, compiled_client_calls_sparkd);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
