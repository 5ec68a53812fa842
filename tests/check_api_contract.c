/* ctest-label: api */
/* Contract test: the live service against openapi/openapi.yaml (DESIGN: "tests check responses
 * against it"). A private PostgreSQL gets `sparkd demo-data --accounts 300 --days 2` through
 * `sparkd import -`, keys of every scope `sparkd keys create` offers, and the real sparkd serves
 * it; tests/contract.mjs then walks every operation the document holds (GETs with example and
 * discovered path values, documented request examples, one must-fail request of each kind per
 * route) and validates status, Content-Type, headers and body with Ajv (JSON Schema 2020-12).
 * The routes are not listed here: whatever the document and route table hold when this runs is
 * what gets checked. A machine without node or node_modules fails here, loudly. */
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

/* Runs `sh -c cmd` in the source tree with SPARKD_DATABASE_URL set; returns its stdout (malloc'd,
 * stderr goes along with it) and sets *status to the exit code (-1 when it did not exit). */
static char *run(const char *cmd, int *status) {
  setenv("SPARKD_DATABASE_URL", dburl, 1);
  char full[8192];
  snprintf(full, sizeof full, "cd '%s' && ( %s ) 2>&1", SPARKD_SOURCE_DIR, cmd);
  fflush(stdout);
  fflush(stderr);
  FILE *p = popen(full, "r");
  ck_assert_msg(p != NULL, "popen failed for: %s", cmd);
  size_t cap = 1 << 16, len = 0, n;
  char *buf = malloc(cap);
  ck_assert_ptr_nonnull(buf);
  while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
    len += n;
    if (cap - len < 4096) {
      cap *= 2;
      buf = realloc(buf, cap);
      ck_assert_ptr_nonnull(buf);
    }
  }
  buf[len] = '\0';
  int ws = pclose(p);
  *status = (ws != -1 && WIFEXITED(ws)) ? WEXITSTATUS(ws) : -1;
  return buf;
}

/* Appends " name=KEY" to args when `sparkd keys create` makes a key of that scope. */
static void make_key(const char *name, const char *scope, const char *partner, char *args, size_t len) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' keys create --scope %s%s%s 2>/dev/null", SPARKD_BINARY, scope,
           partner ? " --partner " : "", partner ? partner : "");
  int st;
  char *out = run(cmd, &st);
  char *nl = strchr(out, '\n');
  if (nl) *nl = '\0';
  if (st == 0 && out[0]) {
    size_t used = strlen(args);
    snprintf(args + used, len - used, " %s='%s'", name, out);
  } else {
    fprintf(stderr, "check_api_contract: no %s key (keys create exited %d): keyed routes answer 401 only\n", scope, st);
  }
  free(out);
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  int st;
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "SPARKD_MIGRATE=auto '%s' migrate", SPARKD_BINARY);
  char *out = run(cmd, &st);
  ck_assert_msg(st == 0, "sparkd migrate exited %d:\n%s", st, out);
  free(out);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

START_TEST(live_responses_match_openapi) {
  int st;
  char cmd[2048];
  /* dash has no pipefail: the generator's status travels through a file */
  snprintf(cmd, sizeof cmd,
           "st=/tmp/check_contract_$$.st; { '%s' demo-data --accounts 300 --days 2; echo $? >$st; } | '%s' import - "
           ">/dev/null && rc=$(cat $st) && rm -f $st && exit $rc",
           SPARKD_BINARY, SPARKD_BINARY);
  char *out = run(cmd, &st);
  ck_assert_msg(st == 0, "demo-data | import exited %d:\n%s", st, out);
  free(out);

  char keys[1024] = "";
  out = run("command -v node >/dev/null && test -f node_modules/ajv/package.json && test -f "
            "node_modules/ajv-formats/package.json && test -f node_modules/js-yaml/package.json",
            &st);
  free(out);
  ck_assert_msg(st == 0, "node or node_modules (ajv, ajv-formats, js-yaml) missing: run `npm install` at the "
                         "repository root; the contract cannot be checked");
  snprintf(cmd, sizeof cmd, "'%s' keys list >/dev/null 2>&1", SPARKD_BINARY); /* is there a keys command? */
  out = run(cmd, &st);
  free(out);
  if (st == 0) {
    make_key("partner", "partner", "p1", keys, sizeof keys);
    make_key("partner2", "partner", "p2", keys, sizeof keys); /* must see none of p1's records */
    make_key("admin", "admin", NULL, keys, sizeof keys);
    make_key("ops", "ops", NULL, keys, sizeof keys);
  }

  /* The script waits for the state cache to hold the imported chain. */
  snprintf(cmd, sizeof cmd, "timeout 300 node tests/contract.mjs %u openapi/openapi.yaml%s", sd.port, keys);
  out = run(cmd, &st);
  fputs(out, stdout); /* the summary line (and notes) show in the ctest log even on success */
  ck_assert_msg(st == 0, "tests/contract.mjs exited %d:\n%s", st, out);
  free(out);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("contract");
  TCase *tc = tcase_create("api");
  tcase_set_timeout(tc, 400);
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_add_test(tc, live_responses_match_openapi);
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
