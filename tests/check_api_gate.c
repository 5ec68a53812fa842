/* ctest-label: api */
/* The gate on heavy computations (service/heavy.h) through the real sparkd on the demo data set:
 * with SPARKD_HEAVY_CONCURRENCY=1 and a real slow request in flight (VaR with the most paths and
 * a 30-day horizon), another heavy request is refused 503 `busy` with Retry-After (at once with
 * SPARKD_HEAVY_WAIT_MS=0), while the public routes still answer 200; once the slow one is done,
 * heavy requests are admitted again; /metrics counts admitted, refused and in flight. With a long
 * wait, the second heavy request waits for the first and is then answered 200. */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd_now, sd_wait; /* SPARKD_HEAVY_WAIT_MS=0 and 60000 */
static char key_ops[64], demo_file[128], account[64];

/* Slow on any machine: 100,000 paths of a 30-day horizon over every (collateral, debt) pair of
 * 20,000 accounts (0.85 s on an idle 2-core machine); explicit volatilities, so one day of history suffices. */
#define SLOW_PATH "/v1/risk/1/var?paths=100000&horizon=30d&vols=WETH:1.5,WBTC:1.5,wstETH:1.5"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request on a fresh connection with the ops key (when ops); the response goes to *r. */
static void get(unsigned port, const char *method, const char *path, bool ops, const char *body,
                struct th_response *r) {
  char h[256] = "";
  size_t n = 0;
  if (ops) n += (size_t)snprintf(h + n, sizeof h - n, "Authorization: Bearer %s\r\n", key_ops);
  if (body) snprintf(h + n, sizeof h - n, "Content-Type: application/json\r\n");
  ck_assert_int_eq(th_http(port, method, path, h, body, r), 0);
}

static int status_of(unsigned port, const char *method, const char *path, bool ops) {
  struct th_response r;
  get(port, method, path, ops, NULL, &r);
  int st = r.status;
  th_response_free(&r);
  return st;
}

/* The value of an unlabelled metric, or of the first series whose line starts with `series `. */
static double metric(unsigned port, const char *series) {
  struct th_response r;
  get(port, "GET", "/metrics", false, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  char pat[256];
  snprintf(pat, sizeof pat, "\n%s ", series);
  const char *p = strstr(r.body, pat);
  double v = p ? strtod(p + strlen(pat), NULL) : 0;
  th_response_free(&r);
  return v;
}

/* Polls /metrics until series has the value (counters are read as they stand). */
static void await_metric(unsigned port, const char *series, double want) {
  double v = -1;
  for (int i = 0; i < 600; i++) {
    v = metric(port, series);
    if (v == want) return;
    sleep_ms(20);
  }
  ck_abort_msg("%s stayed %g, expected %g", series, v, want);
}

struct slow {
  unsigned port;
  const char *method, *path;
  int status;
  char body[300];
  double secs;
  atomic_bool done;
  pthread_t t;
};

static void *slow_run(void *arg) {
  struct slow *s = arg;
  double t0 = now_s();
  struct th_response r;
  char h[128];
  snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", key_ops);
  s->status = th_http(s->port, s->method, s->path, h, NULL, &r) == 0 ? r.status : -1;
  if (s->status != -1) {
    snprintf(s->body, sizeof s->body, "%s", r.body);
    th_response_free(&r);
  }
  s->secs = now_s() - t0;
  atomic_store(&s->done, true);
  return NULL;
}

static void slow_start(struct slow *s, unsigned port, const char *method, const char *path) {
  memset(s, 0, sizeof *s);
  s->port = port;
  s->method = method;
  s->path = path;
  ck_assert_int_eq(pthread_create(&s->t, NULL, slow_run, s), 0);
}

static void slow_join(struct slow *s) { pthread_join(s->t, NULL); }

/* Waits until the slow request holds the gate's place; false (joined) if it ended first, which a
 * loaded machine can cause by starving the poller. */
static bool try_holding(struct slow *s) {
  for (int i = 0; i < 600; i++) {
    if (metric(s->port, "sparkd_heavy_in_flight") == 1) return true;
    if (atomic_load(&s->done)) break;
    sleep_ms(10);
  }
  slow_join(s);
  ck_assert_int_eq(s->status, 200);
  return false;
}

/* Starts the slow request until one is seen holding the gate (at most three tries); each try that
 * ended unseen was admitted, so *admitted0 moves with it. */
static void start_holding(struct slow *s, unsigned port, double *admitted0) {
  for (int tries = 1;; tries++) {
    slow_start(s, port, "GET", SLOW_PATH);
    if (try_holding(s)) return;
    *admitted0 += 1;
    ck_assert_msg(tries < 3, "the slow request never held the gate in %d tries (last: %.2f s)", tries, s->secs);
  }
}

static void await_ready(unsigned port) {
  for (int i = 0; i < 400; i++) {
    if (status_of(port, "GET", "/v1/accounts/1?limit=1", false) == 200) return;
    sleep_ms(50);
  }
  ck_abort_msg("chain state never loaded");
}

static void setup(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "ops", NULL, key_ops, sizeof key_ops), 0);
  const char *env_now[] = {"SPARKD_MIGRATE=auto",        "SPARKD_LOG_LEVEL=warn",  "SPARKD_THREADS=4",
                           "SPARKD_HEAVY_CONCURRENCY=1", "SPARKD_HEAVY_WAIT_MS=0", NULL};
  ck_assert(th_sparkd_start(&sd_now, dburl, env_now) == 0);
  const char *env_wait[] = {"SPARKD_LOG_LEVEL=warn", "SPARKD_THREADS=4", "SPARKD_HEAVY_CONCURRENCY=1",
                            "SPARKD_HEAVY_WAIT_MS=60000", NULL};
  ck_assert(th_sparkd_start(&sd_wait, dburl, env_wait) == 0);
  snprintf(demo_file, sizeof demo_file, "/tmp/check_gate_%d.ndjson", (int)getpid());
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' demo-data --accounts 20000 --days 1 > '%s'", SPARKD_BINARY, demo_file);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_int_eq(th_sparkd_import(dburl, demo_file), 0);
  await_ready(sd_now.port);
  await_ready(sd_wait.port);
  struct th_response r;
  get(sd_now.port, "GET", "/v1/accounts/1?limit=1", false, NULL, &r);
  json_error_t e;
  json_t *j = json_loads(r.body, 0, &e);
  th_response_free(&r);
  const char *a = json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "address"));
  ck_assert_msg(a != NULL, "no account in the watch list");
  snprintf(account, sizeof account, "%s", a);
  json_decref(j);
}

static void teardown(void) {
  th_sparkd_stop(&sd_now);
  th_sparkd_stop(&sd_wait);
  th_pg_stop(&pg);
  unlink(demo_file);
}

/* The 503 busy problem: Retry-After, X-Request-Id, the code. */
static void ck_busy(const struct th_response *r, const char *what) {
  ck_assert_msg(r->status == 503, "%s: %d %s", what, r->status, r->body);
  char *ra = th_header(r, "Retry-After"), *rid = th_header(r, "X-Request-Id"), *ct = th_header(r, "Content-Type");
  ck_assert_msg(ra && atoi(ra) >= 1, "%s: Retry-After %s", what, ra ? ra : "(none)");
  ck_assert_msg(rid && *rid, "%s: no X-Request-Id", what);
  ck_assert_str_eq(ct, "application/problem+json");
  free(ra);
  free(rid);
  free(ct);
  json_error_t e;
  json_t *j = json_loads(r->body, 0, &e);
  ck_assert_ptr_nonnull(j);
  ck_assert_str_eq(json_string_value(json_object_get(j, "code")), "busy");
  ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 503);
  json_decref(j);
}

START_TEST(refused_while_full) {
  unsigned port = sd_now.port;
  ck_assert_int_eq(metric(port, "sparkd_heavy_limit"), 1);
  await_metric(port, "sparkd_heavy_in_flight", 0);
  double admitted0 = metric(port, "sparkd_heavy_admitted_total");
  double refused0 = metric(port, "sparkd_heavy_refused_total");
  double conc503_0 = metric(
      port, "sparkd_http_requests_total{route=\"/v1/risk/{chain}/concentration\",method=\"GET\",status=\"503\"}");

  struct slow s;
  start_holding(&s, port, &admitted0);
  /* the gate is full: every heavy route is refused at once, a POST one with its body too */
  struct th_response r;
  get(port, "GET", "/v1/risk/1/concentration", true, NULL, &r);
  ck_busy(&r, "concentration");
  th_response_free(&r);
  get(port, "POST", "/v1/risk/1/stress", true, "{}", &r);
  ck_busy(&r, "stress");
  th_response_free(&r);
  get(port, "GET", "/v1/risk/1/health-factor-histogram", true, NULL, &r);
  ck_busy(&r, "histogram");
  th_response_free(&r);
  get(port, "GET", "/v1/risk/1/liquidations-at-risk?drops=0,0.1", true, NULL, &r);
  ck_busy(&r, "liquidations-at-risk");
  th_response_free(&r);
  /* the public routes do not wait for it */
  char path[160];
  snprintf(path, sizeof path, "/v1/accounts/1/%s", account);
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(status_of(port, "GET", path, false), 200);
    ck_assert_int_eq(status_of(port, "GET", "/v1/markets/1/reserves", false), 200);
  }
  /* all of it happened while the slow request was still computing: the 503s above are the gate's,
   * not a race with its end (were it over, they would have been admitted, and this would fail) */
  ck_assert_msg(!atomic_load(&s.done) && metric(port, "sparkd_heavy_in_flight") == 1,
                "the slow request ended too soon (%.2f s) for this test to mean anything", s.secs);
  slow_join(&s);
  ck_assert_int_eq(s.status, 200);
  fprintf(stderr, "check_api_gate: the slow request took %.2f s\n", s.secs);

  /* admitted again once it is done */
  await_metric(port, "sparkd_heavy_in_flight", 0);
  ck_assert_int_eq(status_of(port, "GET", "/v1/risk/1/concentration", true), 200);
  ck_assert_int_eq(status_of(port, "GET", "/v1/risk/1/health-factor-histogram", true), 200);
  await_metric(port, "sparkd_heavy_admitted_total", admitted0 + 3); /* the slow one and these two */
  await_metric(port, "sparkd_heavy_refused_total", refused0 + 4);
  await_metric(port, "sparkd_heavy_in_flight", 0);
  await_metric(port,
               "sparkd_http_requests_total{route=\"/v1/risk/{chain}/concentration\",method=\"GET\",status=\"503\"}",
               conc503_0 + 1);
}
END_TEST

START_TEST(waits_for_a_place) {
  unsigned port = sd_wait.port;
  await_metric(port, "sparkd_heavy_in_flight", 0);
  double admitted0 = metric(port, "sparkd_heavy_admitted_total");
  double refused0 = metric(port, "sparkd_heavy_refused_total");
  struct slow s, w;
  start_holding(&s, port, &admitted0);
  slow_start(&w, port, "GET", "/v1/risk/1/concentration");
  sleep_ms(100);
  /* one thread computes, one waits: the other two still answer */
  char path[160];
  snprintf(path, sizeof path, "/v1/accounts/1/%s", account);
  ck_assert_int_eq(status_of(port, "GET", path, false), 200);
  bool slow_running = !atomic_load(&s.done);
  slow_join(&s);
  slow_join(&w);
  ck_assert_int_eq(s.status, 200);
  ck_assert_int_eq(w.status, 200); /* admitted when the slow one gave its place back */
  if (slow_running) ck_assert_msg(w.secs > 0.1, "the waiting request was answered in %.3f s", w.secs);
  await_metric(port, "sparkd_heavy_admitted_total", admitted0 + 2);
  ck_assert_int_eq(metric(port, "sparkd_heavy_refused_total"), refused0);
  await_metric(port, "sparkd_heavy_in_flight", 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("api_gate");
  TCase *tc = tcase_create("gate");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, refused_while_full);
  tcase_add_test(tc, waits_for_a_place);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
