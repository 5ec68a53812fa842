/* ctest-label: api */
/* Differential test of the accounts API against @aave/math-utils 1.38.0: `sparkd demo-data`
 * (3,000 synthetic SparkLend accounts on the real configuration) is imported with
 * `sparkd import`, the real sparkd serves it, and tests/diff/accounts_api_diff.mjs fetches at
 * least 1,000 accounts through GET /v1/accounts, recomputes totals, LTV, liquidation threshold,
 * health factor and the isolation flag with formatUserSummary from the reserve data the API
 * returns, and allows only the departures docs/aave-math-utils-departures.md derives bounds
 * for. A machine without node or node_modules fails here, loudly. */
#include <check.h>
#include <fcntl.h>
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

/* Runs argv with SPARKD_DATABASE_URL set, stdout to out_path (NULL: inherited) and stdin from
 * in_path (NULL: inherited); returns the exit status. */
static int run(char *const argv[], const char *in_path, const char *out_path) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("SPARKD_DATABASE_URL", dburl, 1);
    if (in_path) {
      int fd = open(in_path, O_RDONLY);
      if (fd < 0) _exit(126);
      dup2(fd, STDIN_FILENO);
    }
    if (out_path) {
      int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd < 0) _exit(126);
      dup2(fd, STDOUT_FILENO);
    }
    if (chdir(SPARKD_SOURCE_DIR) != 0) _exit(126);
    execvp(argv[0], argv);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

START_TEST(demo_accounts_match_aave_math_utils) {
  char snap[128];
  snprintf(snap, sizeof snap, "/tmp/check_accounts_diff_%d.ndjson", (int)getpid());
  char *gen[] = {SPARKD_BINARY, "demo-data", "--accounts", "3000", "--days", "0", NULL};
  ck_assert_int_eq(run(gen, NULL, snap), 0);
  char *imp[] = {SPARKD_BINARY, "import", snap, NULL};
  ck_assert_int_eq(run(imp, NULL, "/dev/null"), 0);
  unlink(snap);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", sd.port);
  /* The script retries until the state cache has the imported chain. */
  char *diff[] = {"node", "tests/diff/accounts_api_diff.mjs", url, "1", "1000", NULL};
  ck_assert_msg(run(diff, NULL, NULL) == 0, "accounts_api_diff.mjs reported departures beyond the documented bounds");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("accounts_diff");
  TCase *tc = tcase_create("api");
  tcase_set_timeout(tc, 300);
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_add_test(tc, demo_accounts_match_aave_math_utils);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
