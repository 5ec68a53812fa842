/* ctest-label: api */
/* Slow clients (slowloris): a request head has an absolute deadline
 * (SPARKD_HEAD_TIMEOUT_MS) however steadily its bytes trickle in, and SPARKD_HEALTH_PORT answers
 * probes while the API port's connections are all held by slow clients. The real sparkd against a
 * private PostgreSQL. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;
static char dburl[1024];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static long elapsed_ms(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  struct th_sparkd m;
  const char *env[] = {"SPARKD_MIGRATE=auto", NULL};
  ck_assert(th_sparkd_start(&m, dburl, env) == 0); /* applies the migrations once */
  th_sparkd_stop(&m);
}

static void teardown_all(void) { th_pg_stop(&pg); }

/* Returns true when the server has closed c (EOF or reset) within ms, without answering. */
static bool closed_within(int fd, long ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, (int)ms) <= 0) return false;
  char buf[256];
  ssize_t k = read(fd, buf, sizeof buf);
  ck_assert_msg(k <= 0, "the server answered a request whose head never finished: %.*s", (int)k, buf);
  return true;
}

static void send_all(int fd, const char *s) {
  ck_assert_msg(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "write: %s", strerror(errno));
}

/* Returns true when a response with status 200 starts on fd within ms. */
static bool answered_200(int fd, long ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, (int)ms) <= 0) return false;
  char buf[64] = {0};
  return read(fd, buf, sizeof buf - 1) >= 12 && strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

static long long metric(const char *text, const char *series) {
  const char *p = strstr(text, series);
  if (!p) return -1;
  return strtoll(p + strlen(series), NULL, 10);
}

/* A client sending its request line and then one header byte every 200 ms (and then one sending
 * its body so): libmicrohttpd's idle
 * timeout (30 s, restarted by every byte) never ends it; SPARKD_HEAD_TIMEOUT_MS=1000 does, about
 * a second after it connected (the watchdog sweeps every 100 ms: at most ~1.1 s, plus slack for
 * a loaded machine). Then the closing is counted in /metrics. Before the head deadline existed
 * this client was still connected after 4 s. */
START_TEST(trickled_head_is_cut_off) {
  struct th_sparkd sd;
  const char *env[] = {"SPARKD_HEAD_TIMEOUT_MS=1000", "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  struct th_conn c;
  ck_assert(th_connect(&c, sd.port) == 0);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  signal(SIGPIPE, SIG_IGN);
  send_all(c.fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  bool closed = false;
  for (int i = 0; i < 20 && !closed; i++) { /* 20 x 200 ms = 4 s */
    closed = closed_within(c.fd, 200);
    if (!closed && write(c.fd, "a", 1) != 1) closed = true; /* reset by the server */
  }
  long ms = elapsed_ms(&t0);
  th_close(&c);
  ck_assert_msg(closed, "a head trickled one byte per 200 ms was still open after %ld ms", ms);
  ck_assert_msg(ms >= 900 && ms < 2500, "closed after %ld ms, not about SPARKD_HEAD_TIMEOUT_MS=1000", ms);

  /* a body trickled the same way: past the first SPARKD_HEAD_TIMEOUT_MS it must average a byte
   * per ms (1000 ms + the few bytes sent), so it is cut off about a second after its head */
  ck_assert(th_connect(&c, sd.port) == 0);
  send_all(c.fd, "POST /v1/rates/convert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100\r\n\r\n");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  closed = false;
  for (int i = 0; i < 20 && !closed; i++) {
    closed = closed_within(c.fd, 200);
    if (!closed && write(c.fd, " ", 1) != 1) closed = true;
  }
  ms = elapsed_ms(&t0);
  th_close(&c);
  ck_assert_msg(closed, "a body trickled one byte per 200 ms was still open after %ld ms", ms);
  ck_assert_msg(ms >= 900 && ms < 2500, "body cut off after %ld ms, not about 1000", ms);

  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  ck_assert_int_eq(metric(r.body, "\nsparkd_http_head_timeouts_total "), 2);
  th_response_free(&r);
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
}
END_TEST

/* What the deadline must leave alone: a head sent in two parts well within it, a kept-alive
 * connection idle for longer than the head deadline (the idle wait is SPARKD_CONNECTION_TIMEOUT_S),
 * and a slow head on a kept-alive connection gets its own deadline from its request line. */
START_TEST(normal_and_keep_alive_unaffected) {
  struct th_sparkd sd;
  const char *env[] = {"SPARKD_HEAD_TIMEOUT_MS=1000", "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  struct th_conn c;
  ck_assert(th_connect(&c, sd.port) == 0);
  send_all(c.fd, "GET /healthz HTTP/1.1\r\n");
  sleep_ms(400);
  send_all(c.fd, "Host: x\r\n\r\n");
  ck_assert_msg(answered_200(c.fd, 2000), "a head sent in two parts 400 ms apart was not answered");
  th_close(&c);
  struct th_response r;

  /* a kept-alive connection: served, idle 1.5 s (past the head deadline), served again */
  ck_assert(th_connect(&c, sd.port) == 0);
  ck_assert(th_request(&c, "GET", "/healthz", NULL, NULL, 0, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  sleep_ms(1500);
  ck_assert_msg(th_request(&c, "GET", "/healthz", NULL, NULL, 0, &r) == 0,
                "a kept-alive connection idle 1.5 s was closed by the head deadline");
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  static const char conv[] = "{\"rate_ray\": \"1000000001547125957863212448\"}";
  ck_assert(th_request(&c, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n", conv, strlen(conv), &r) ==
            0); /* a body sent at once: no body deadline felt */
  ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
  th_response_free(&r);
  for (int i = 0; i < 20; i++) { /* many requests on one connection, none cut off */
    ck_assert(th_request(&c, "GET", "/healthz", NULL, NULL, 0, &r) == 0);
    ck_assert_int_eq(r.status, 200);
    th_response_free(&r);
  }
  th_close(&c);

  ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, &r) == 0);
  ck_assert_int_eq(metric(r.body, "\nsparkd_http_head_timeouts_total "), 0);
  th_response_free(&r);
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
}
END_TEST

/* SPARKD_MAX_CONNECTIONS=4 held by clients that never finish their heads (a 10 s deadline, longer
 * than this test's look): a fresh connection to the API port is not served, yet /healthz,
 * /readyz and /metrics on SPARKD_HEALTH_PORT answer promptly, and nothing else is routed there. */
START_TEST(health_port_answers_while_api_port_is_saturated) {
  struct th_sparkd sd;
  char health[64];
  unsigned hport = th_free_port();
  snprintf(health, sizeof health, "SPARKD_HEALTH_PORT=%u", hport);
  const char *env[] = {"SPARKD_MAX_CONNECTIONS=4",
                       "SPARKD_THREADS=1",
                       "SPARKD_MAX_CONNECTIONS_PER_CLIENT=0",
                       health,
                       "SPARKD_LOG_LEVEL=warn",
                       NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  sleep_ms(200); /* th_sparkd_start's own probes have closed */
  /* four connections the server holds: one it closes at once was refused at the limit while a
     probe of th_sparkd_start still counted (a loaded machine is slow to see the probe go), and
     is opened again, or the saturation below would rest on three */
  struct th_conn held[4];
  for (int i = 0; i < 4; i++) {
    bool open = false;
    for (int attempt = 0; attempt < 20 && !open; attempt++) {
      ck_assert(th_connect(&held[i], sd.port) == 0);
      send_all(held[i].fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
      open = !closed_within(held[i].fd, 200);
      if (!open) th_close(&held[i]);
    }
    ck_assert_msg(open, "connection %d to the API port was closed 20 times in a row", i);
  }
  /* the API port is saturated: a fresh probe there gets nothing */
  struct th_conn extra;
  ck_assert(th_connect(&extra, sd.port) == 0);
  send_all(extra.fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  struct pollfd p = {.fd = extra.fd, .events = POLLIN};
  char buf[64];
  bool answered = poll(&p, 1, 500) > 0 && read(extra.fd, buf, sizeof buf) > 0;
  ck_assert_msg(!answered, "the API port served a connection past SPARKD_MAX_CONNECTIONS=4");
  th_close(&extra);

  static const char *const paths[] = {"/healthz", "/readyz", "/metrics"};
  for (size_t i = 0; i < 3; i++) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct th_response r;
    ck_assert_msg(th_http(hport, "GET", paths[i], NULL, NULL, &r) == 0, "%s on the health port", paths[i]);
    long ms = elapsed_ms(&t0);
    ck_assert_msg(r.status == 200, "%s on the health port: %d %s", paths[i], r.status, r.body);
    ck_assert_msg(ms < 2000, "%s on the health port took %ld ms", paths[i], ms);
    th_response_free(&r);
  }
  struct th_response r;
  ck_assert(th_http(hport, "GET", "/v1/markets", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 404);
  th_response_free(&r);
  ck_assert(th_http(hport, "GET", "/openapi.yaml", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 404);
  th_response_free(&r);

  for (int i = 0; i < 4; i++)
    th_close(&held[i]);
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("slowloris");
  TCase *tc = tcase_create("api");
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, trickled_head_is_cut_off);
  tcase_add_test(tc, normal_and_keep_alive_unaffected);
  tcase_add_test(tc, health_port_answers_while_api_port_is_saturated);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
