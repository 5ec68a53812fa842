/* ctest-label: browser */
/* The /ops page and /docs in a real browser. A private PostgreSQL gets `sparkd demo-data
 * --accounts 600 --days 20` through `sparkd import -`, an ops key, and two partners' keys with
 * three positions between them; the real sparkd serves it, and tests/browser/ops.mjs drives Debian's chromium
 * (headless, npm playwright-core): the page loads with no console error, no failed request and
 * nothing asked of another origin; every chart has drawn data; the health-factor chart is the
 * server's histogram and the partner LTV tables list both partners' positions with the ops key
 * alone; the stress form returns a loss waterfall; /docs renders the API title. Screenshots (ops.png, docs.png) are
 * written to this test's working directory (build/tests). A machine without chromium, node or playwright-core fails
 * here, loudly (scripts/deps.sh installs them). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

#define WETH "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
#define USDC "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;

/* Runs `sh -c cmd` in the source tree with SPARKD_DATABASE_URL set; returns its output (malloc'd,
 * stderr along with stdout) and sets *status to the exit code (-1 when it did not exit). */
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

/* Writes a new key of scope (and partner) into key. */
static void make_key(const char *scope, const char *partner, char *key, size_t len) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' keys create --scope %s%s%s 2>/dev/null", SPARKD_BINARY, scope,
           partner ? " --partner " : "", partner ? partner : "");
  int st;
  char *out = run(cmd, &st);
  ck_assert_msg(st == 0, "keys create --scope %s exited %d: %s", scope, st, out);
  out[strcspn(out, "\n")] = '\0';
  snprintf(key, len, "%s", out);
  free(out);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* GETs path (with key when given) until it answers 200, at most `seconds`. */
static bool wait_200(const char *path, const char *key, int seconds) {
  char h[256] = "";
  if (key) snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", key);
  for (int i = 0; i < seconds * 10; i++) {
    struct th_response r;
    if (th_http(sd.port, "GET", path, h, NULL, &r) == 0) {
      int status = r.status;
      th_response_free(&r);
      if (status == 200) return true;
    }
    sleep_ms(100);
  }
  return false;
}

/* Creates a position of the partner's: 100 WETH (10% haircut) against `usdc` USDC; returns its id. */
static long long create_position(const char *key, const char *ext, const char *usdc) {
  char body[2048], h[512];
  snprintf(body, sizeof body,
           "{\"external_id\":\"%s\",\"borrower\":\"fund-a\",\"custodian\":\"anchorage\","
           "\"collateral\":[{\"chain_id\":1,\"asset\":\"" WETH "\",\"amount\":\"100000000000000000000\","
           "\"haircut_bps\":1000}],"
           "\"debt\":{\"chain_id\":1,\"asset\":\"" USDC "\",\"principal\":\"%s000000\",\"apr_bps\":500,"
           "\"accrual_start\":\"2026-04-01T00:00:00Z\"},"
           "\"thresholds\":{\"warning_bps\":6500,\"margin_call_bps\":7000,\"liquidation_bps\":8000,"
           "\"return_to_bps\":6000},\"cure_period_seconds\":259200,\"max_price_staleness_seconds\":31536000}",
           ext, usdc);
  snprintf(h, sizeof h, "Authorization: Bearer %s\r\nIdempotency-Key: create-%s\r\nContent-Type: application/json\r\n",
           key, ext);
  struct th_response r;
  ck_assert(th_http(sd.port, "POST", "/v1/partner/positions", h, body, &r) == 0);
  ck_assert_msg(r.status == 201, "create %s: %d %s", ext, r.status, r.body);
  const char *id = strstr(r.body, "\"id\":");
  ck_assert_ptr_nonnull(id);
  long long v = strtoll(id + 5, NULL, 10);
  th_response_free(&r);
  return v;
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
  /* dash has no pipefail: the generator's status travels through a file */
  snprintf(cmd, sizeof cmd,
           "st=/tmp/check_browser_ops_$$.st; { '%s' demo-data --accounts 600 --days 20; echo $? >$st; } | '%s' "
           "import - >/dev/null && rc=$(cat $st) && rm -f $st && exit $rc",
           SPARKD_BINARY, SPARKD_BINARY);
  out = run(cmd, &st);
  ck_assert_msg(st == 0, "demo-data | import exited %d:\n%s", st, out);
  free(out);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

START_TEST(ops_page_in_chromium) {
  int st;
  char *out = run("test -x \"${CHROMIUM:-/usr/bin/chromium}\" && command -v node >/dev/null && "
                  "test -f node_modules/playwright-core/package.json",
                  &st);
  free(out);
  ck_assert_msg(st == 0, "chromium (/usr/bin/chromium), node or node_modules/playwright-core missing: run "
                         "SPARKD_DEPS_TEST=1 scripts/deps.sh; the page cannot be checked");

  char ops[128], partner[128], partner2[128];
  make_key("ops", NULL, ops, sizeof ops);
  make_key("partner", "browser-p1", partner, sizeof partner);
  make_key("partner", "browser-p2", partner2, sizeof partner2);
  /* the state cache holds the imported chain before the page asks for it */
  ck_assert_msg(wait_200("/v1/markets/1/reserves", NULL, 60), "the state cache was not built");
  /* two positions: 100 WETH less 10% against 50,000 and 300,000 USDC, so two LTV states show */
  long long a = create_position(partner, "browser-healthy", "50000");
  long long b = create_position(partner, "browser-stressed", "300000");
  char path[96];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", a);
  ck_assert_msg(wait_200(path, partner, 30), "no ltv record for position %lld", a);
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", b);
  ck_assert_msg(wait_200(path, partner, 30), "no ltv record for position %lld", b);
  /* another partner's position: the page lists both partners with the ops key alone */
  long long c = create_position(partner2, "browser-other", "100000");
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", c);
  ck_assert_msg(wait_200(path, partner2, 30), "no ltv record for position %lld", c);

  char cwd[PATH_MAX];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
  char cmd[PATH_MAX + 512];
  snprintf(cmd, sizeof cmd,
           "SPARKD_OPS_KEY='%s' SPARKD_EXPECT_PARTNERS=2 SPARKD_EXPECT_POSITIONS=3 timeout 120 node "
           "tests/browser/ops.mjs %u '%s/browser-ops'",
           ops, sd.port, cwd);
  out = run(cmd, &st);
  fputs(out, stdout); /* every check and the screenshot paths show in the ctest log */
  ck_assert_msg(st == 0, "tests/browser/ops.mjs exited %d:\n%s", st, out);
  free(out);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("browser_ops");
  TCase *tc = tcase_create("browser");
  tcase_set_timeout(tc, 300);
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_add_test(tc, ops_page_in_chromium);
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
