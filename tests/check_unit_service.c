/* ctest-label: unit */
/* Unit tests of the service's tables: configuration parsing, route matching, the error table. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/errors.h"
#include "service/heavy.h"
#include "service/router.h"
#include "util/config.h"

/* A fake environment: NULL-terminated "NAME=value" list. */
static const char *fake_lookup(const char *name, void *ctx) {
  const char *const *env = ctx;
  size_t n = strlen(name);
  for (; *env; env++)
    if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') return *env + n + 1;
  return NULL;
}

static bool load(const char *const *env, struct util_config *cfg, char *err) {
  return util_config_load(cfg, fake_lookup, (void *)env, err, 512);
}

START_TEST(config_defaults) {
  const char *env[] = {NULL};
  struct util_config cfg;
  char err[512];
  ck_assert(load(env, &cfg, err));
  ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
  ck_assert_uint_eq(cfg.listen_port, 8080);
  ck_assert_uint_ge(cfg.threads, 1);
  ck_assert_int_eq(cfg.log_level, UTIL_LOG_INFO);
  ck_assert_int_eq(cfg.log_format, UTIL_LOG_JSON);
  ck_assert_int_eq(cfg.migrate, UTIL_MIGRATE_CHECK);
  ck_assert_uint_eq(cfg.max_body_bytes, 1048576);
  ck_assert_str_eq(cfg.cors_origins, "");
}
END_TEST

START_TEST(config_values) {
  const char *env[] = {"SPARKD_LISTEN=[::1]:9000",
                       "SPARKD_THREADS=7",
                       "SPARKD_LOG_LEVEL=debug",
                       "SPARKD_LOG_FORMAT=text",
                       "SPARKD_MIGRATE=auto",
                       "SPARKD_MAX_BODY_BYTES=2048",
                       "SPARKD_CORS_ORIGINS=https://a.example, https://b.example",
                       "SPARKD_DATABASE_URL=postgresql://u@h/db",
                       NULL};
  struct util_config cfg;
  char err[512];
  ck_assert_msg(load(env, &cfg, err), "%s", err);
  ck_assert_str_eq(cfg.listen_host, "::1");
  ck_assert_uint_eq(cfg.listen_port, 9000);
  ck_assert_uint_eq(cfg.threads, 7);
  ck_assert_int_eq(cfg.log_level, UTIL_LOG_DEBUG);
  ck_assert_int_eq(cfg.log_format, UTIL_LOG_TEXT);
  ck_assert_int_eq(cfg.migrate, UTIL_MIGRATE_AUTO);
  ck_assert_uint_eq(cfg.max_body_bytes, 2048);
  ck_assert_str_eq(cfg.database_url, "postgresql://u@h/db");
}
END_TEST

/* Each bad value stops start-up with one line naming the variable. */
static const struct {
  const char *setting;
  const char *must_mention;
} bad[] = {
    {"SPARKD_LISTEN=8080", "SPARKD_LISTEN"},
    {"SPARKD_LISTEN=127.0.0.1:", "SPARKD_LISTEN"},
    {"SPARKD_LISTEN=127.0.0.1:70000", "SPARKD_LISTEN"},
    {"SPARKD_LISTEN=127.0.0.1:80x", "SPARKD_LISTEN"},
    {"SPARKD_THREADS=0", "SPARKD_THREADS"},
    {"SPARKD_THREADS=-1", "SPARKD_THREADS"},
    {"SPARKD_THREADS=two", "SPARKD_THREADS"},
    {"SPARKD_THREADS=99999999999999999999999", "SPARKD_THREADS"},
    {"SPARKD_LOG_LEVEL=verbose", "SPARKD_LOG_LEVEL"},
    {"SPARKD_LOG_FORMAT=xml", "SPARKD_LOG_FORMAT"},
    {"SPARKD_MIGRATE=yes", "SPARKD_MIGRATE"},
    {"SPARKD_MAX_BODY_BYTES=10", "SPARKD_MAX_BODY_BYTES"},
    {"SPARKD_MAX_BODY_BYTES=1e6", "SPARKD_MAX_BODY_BYTES"},
    {"SPARKD_DB_WAIT_MS=", "SPARKD_DB_WAIT_MS"},
    {"SPARKD_HEAVY_CONCURRENCY=0", "SPARKD_HEAVY_CONCURRENCY"},
    {"SPARKD_HEAVY_WAIT_MS=60001", "SPARKD_HEAVY_WAIT_MS"},
};

START_TEST(config_bad_values) {
  const char *env[] = {bad[_i].setting, NULL};
  struct util_config cfg;
  char err[512] = "";
  ck_assert_msg(!load(env, &cfg, err), "%s accepted", bad[_i].setting);
  ck_assert_msg(strstr(err, bad[_i].must_mention) != NULL, "error '%s' does not name %s", err, bad[_i].must_mention);
  ck_assert_msg(strchr(err, '\n') == NULL, "one line: %s", err);
}
END_TEST

START_TEST(config_table_complete) {
  /* every documented variable has a type, a help line and a parse rule the loader accepts at its default */
  ck_assert_uint_ge(util_config_table_len, 11);
  for (size_t i = 0; i < util_config_table_len; i++) {
    ck_assert(strncmp(util_config_table[i].env, "SPARKD_", 7) == 0);
    ck_assert(util_config_table[i].help && *util_config_table[i].help);
  }
}
END_TEST

/* The heavy gate's default is half the worker threads (at least 1): the rest serve cheap routes. */
START_TEST(config_heavy_defaults) {
  struct util_config cfg;
  char err[512];
  const char *eight[] = {"SPARKD_THREADS=8", NULL}, *one[] = {"SPARKD_THREADS=1", NULL},
             *set[] = {"SPARKD_THREADS=8", "SPARKD_HEAVY_CONCURRENCY=3", "SPARKD_HEAVY_WAIT_MS=0", NULL};
  ck_assert_msg(load(eight, &cfg, err), "%s", err);
  ck_assert_uint_eq(cfg.heavy_concurrency, 4);
  ck_assert_uint_eq(cfg.heavy_wait_ms, 500);
  ck_assert_msg(load(one, &cfg, err), "%s", err);
  ck_assert_uint_eq(cfg.heavy_concurrency, 1);
  ck_assert_msg(load(set, &cfg, err), "%s", err);
  ck_assert_uint_eq(cfg.heavy_concurrency, 3);
  ck_assert_uint_eq(cfg.heavy_wait_ms, 0);
}
END_TEST

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *release_later(void *arg) {
  (void)arg;
  struct timespec ts = {0, 150 * 1000000L};
  nanosleep(&ts, NULL);
  svc_heavy_release();
  return NULL;
}

/* The gate itself: places up to the limit, a bounded wait, a bounded number of waiters, counters. */
START_TEST(heavy_gate) {
  svc_heavy_configure(2, 1000, 1);
  ck_assert(svc_heavy_acquire(0));
  ck_assert(svc_heavy_acquire(0));
  double t0 = mono_s();
  ck_assert(!svc_heavy_acquire(0)); /* full, no wait: refused at once */
  ck_assert(mono_s() - t0 < 0.5);
  t0 = mono_s();
  svc_heavy_configure(2, 100, 1);
  ck_assert(!svc_heavy_acquire(100)); /* full for the whole wait: refused after it */
  ck_assert(mono_s() - t0 >= 0.099);
  /* a place given back during the wait goes to the waiter */
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, release_later, NULL), 0);
  t0 = mono_s();
  ck_assert(svc_heavy_acquire(5000));
  double waited = mono_s() - t0;
  ck_assert_msg(waited >= 0.1 && waited < 4, "waited %.3f s", waited);
  pthread_join(t, NULL);
  struct svc_heavy_stats st;
  svc_heavy_stats(&st);
  ck_assert_uint_eq(st.admitted, 3);
  ck_assert_uint_eq(st.refused, 2);
  ck_assert_uint_eq(st.in_flight, 2);
  ck_assert_uint_eq(st.limit, 2);
  /* no waiters allowed: refused at once even with a wait */
  svc_heavy_configure(2, 5000, 0);
  t0 = mono_s();
  ck_assert(!svc_heavy_acquire(5000));
  ck_assert(mono_s() - t0 < 1);
  svc_heavy_release();
  svc_heavy_release();
  svc_heavy_stats(&st);
  ck_assert_uint_eq(st.in_flight, 0);
  ck_assert(svc_heavy_acquire(0));
  svc_heavy_release();
}
END_TEST

START_TEST(route_match_static_and_params) {
  struct svc_route_match m;
  ck_assert(svc_route_match("GET", "/healthz", &m));
  ck_assert_str_eq(m.route->path, "/healthz");
  ck_assert(svc_route_match("HEAD", "/healthz", &m)); /* HEAD routes as GET */
  ck_assert(!svc_route_match("GET", "/healthz/", &m));
  ck_assert(!m.path_exists);
  ck_assert(!svc_route_match("GET", "/nope", &m));
  ck_assert(!m.path_exists);
  ck_assert(!svc_route_match("POST", "/healthz", &m));
  ck_assert(m.path_exists); /* → 405 */
  ck_assert_uint_eq(m.allow, SVC_GET);
  char allow[128];
  ck_assert_str_eq(svc_allow_header(m.allow, allow, sizeof allow), "GET, HEAD, OPTIONS");
  ck_assert_str_eq(svc_allow_header(SVC_GET | SVC_POST | SVC_DELETE, allow, sizeof allow),
                   "GET, HEAD, POST, DELETE, OPTIONS");
  ck_assert(!svc_route_match("BREW", "/healthz", &m));
  ck_assert(m.path_exists);
}
END_TEST

START_TEST(route_table_sane) {
  /* no two rows share method + template; every template starts with '/' and has balanced braces */
  for (size_t i = 0; i < svc_routes_count; i++) {
    ck_assert(svc_routes[i].path[0] == '/');
    ck_assert(svc_routes[i].handler != NULL);
    int depth = 0;
    for (const char *p = svc_routes[i].path; *p; p++) {
      if (*p == '{') depth++;
      if (*p == '}') depth--;
      ck_assert(depth == 0 || depth == 1);
    }
    ck_assert_int_eq(depth, 0);
    for (size_t j = i + 1; j < svc_routes_count; j++)
      ck_assert(!(svc_routes[i].method == svc_routes[j].method && strcmp(svc_routes[i].path, svc_routes[j].path) == 0));
  }
}
END_TEST

START_TEST(error_table) {
  ck_assert_str_eq(svc_error_code(SVC_ERR_route_not_found), "route_not_found");
  ck_assert_uint_eq(svc_error_status(SVC_ERR_route_not_found), 404);
  ck_assert_uint_eq(svc_error_status(SVC_ERR_method_not_allowed), 405);
  ck_assert_uint_eq(svc_error_status(SVC_ERR_body_too_large), 413);
  ck_assert_uint_eq(svc_error_status(SVC_ERR_unsupported_media_type), 415);
  ck_assert_uint_eq(svc_error_status(SVC_ERR_database_unavailable), 503);
  for (int i = 0; i < SVC_ERR__COUNT; i++) {
    const char *c = svc_error_code((enum svc_error)i);
    for (const char *p = c; *p; p++)
      ck_assert_msg((*p >= 'a' && *p <= 'z') || *p == '_', "snake_case: %s", c);
    const char *t = svc_error_title((enum svc_error)i);
    for (const char *p = t; *p; p++)
      ck_assert_msg(!(*p >= 'A' && *p <= 'Z'), "lowercase title: %s", t);
    unsigned s = svc_error_status((enum svc_error)i);
    ck_assert(s >= 400 && s <= 599);
    for (int j = i + 1; j < SVC_ERR__COUNT; j++)
      ck_assert_str_ne(c, svc_error_code((enum svc_error)j));
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("service");
  TCase *tc = tcase_create("tables");
  tcase_add_test(tc, config_defaults);
  tcase_add_test(tc, config_values);
  tcase_add_loop_test(tc, config_bad_values, 0, (int)(sizeof bad / sizeof bad[0]));
  tcase_add_test(tc, config_table_complete);
  tcase_add_test(tc, config_heavy_defaults);
  tcase_add_test(tc, heavy_gate);
  tcase_add_test(tc, route_match_static_and_params);
  tcase_add_test(tc, route_table_sane);
  tcase_add_test(tc, error_table);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
