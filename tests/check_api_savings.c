/* ctest-label: api */
/* Savings vaults and the Liquidity Layer over HTTP: the real sparkd against a private PostgreSQL
 * loaded with tests/fixtures/savings_api.ndjson (`sparkd import`, four blocks of chain 1 one day
 * apart, the last at T = 1777000000). Expected values come from spec protocol-math: §5.2 (chi
 * 1.03e27 conversions), §5.1 #2 (ValueAccrual at 4%), §5.1 #3 (chi 1.03e27 at 5% for 365 days),
 * §1.3 (APR/APY table), §5.1 #5 (rate-limit refill) — or are derived by hand from the fixture
 * (deposit-cap headroom = cap - supply * 1.03). */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/savings_api.ndjson"
#define FIXTURE_NEXT SPARKD_SOURCE_DIR "/tests/fixtures/savings_api_next.json"
#define T 1777000000LL
#define DAY 86400LL
#define YEAR 31536000LL
#define V "/v1/savings/vaults"
#define U256_MAX_S "115792089237316195423570985008687907853269984665640564039457584007913129639935"
#define U256_MAX_PLUS_1 "115792089237316195423570985008687907853269984665640564039457584007913129639936"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Runs `sparkd import file` on this suite's database; returns the exit status. */
static int run_import(const char *file) { return th_sparkd_import(dburl, file); }

/* GETs path; returns the parsed body and sets *status. */
static json_t *get_json(const char *path, int *status) {
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, "GET", path, NULL, NULL, &r), 0);
  *status = r.status;
  json_error_t e;
  json_t *j = json_loads(r.body, 0, &e);
  ck_assert_msg(j != NULL, "%s: not json: %s", path, r.body);
  th_response_free(&r);
  return j;
}

/* GETs path, asserts 200, returns the body. */
static json_t *ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *ok(const char *fmt, ...) {
  char path[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(path, sizeof path, fmt, ap);
  va_end(ap);
  int st;
  json_t *j = get_json(path, &st);
  if (st != 200) {
    char *t = json_dumps(j, 0);
    ck_abort_msg("%s: status %d: %s", path, st, t);
  }
  return j;
}

static const char *str(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  ck_assert_msg(json_is_string(v), "%s is not a string", k);
  return json_string_value(v);
}

static void wait_loaded(void) {
  for (int i = 0; i < 400; i++) {
    int st;
    json_t *j = get_json(V "?limit=500", &st);
    size_t n = st == 200 ? json_array_size(json_object_get(j, "data")) : 0;
    json_decref(j);
    if (n == 5) return;
    sleep_ms(50);
  }
  ck_abort_msg("chain state never loaded");
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  ck_assert_int_eq(run_import(FIXTURE), 0);
  wait_loaded();
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

/* Asserts the problem shape: status, code, and an errors entry for field (when field != NULL);
 * returns the body. */
static json_t *problem(const char *path, int status, const char *code, const char *field) {
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, "GET", path, NULL, NULL, &r), 0);
  ck_assert_msg(r.status == status, "%s: status %d, want %d: %s", path, r.status, status, r.body);
  char *ct = th_header(&r, "Content-Type");
  ck_assert_str_eq(ct, "application/problem+json");
  free(ct);
  json_error_t e;
  json_t *j = json_loads(r.body, 0, &e);
  ck_assert_ptr_nonnull(j);
  ck_assert_str_eq(str(j, "code"), code);
  if (field) {
    json_t *errs = json_object_get(j, "errors");
    bool found = false;
    for (size_t i = 0; i < json_array_size(errs); i++)
      found |= strcmp(json_string_value(json_object_get(json_array_get(errs, i), "field")), field) == 0;
    ck_assert_msg(found, "%s: no errors entry for %s: %s", path, field, r.body);
  }
  th_response_free(&r);
  return j;
}

/* Returns the preview result string for the query (asserting 200); caller frees. */
static char *preview(const char *vault, const char *query) {
  json_t *j = ok(V "/1/%s/preview?%s", vault, query);
  char *s = strdup(str(j, "result"));
  json_decref(j);
  return s;
}

/* ---- §5.2: chi = 1.03e27 conversions --------------------------------------------------------- */

START_TEST(preview_spec_vectors) {
  struct {
    const char *vault, *query, *want;
  } cases[] = {
      {"spETH", "action=deposit&amount=1000000000000000000", "970873786407766990"},  /* convertToShares */
      {"spETH", "action=withdraw&amount=1000000000000000000", "970873786407766991"}, /* previewWithdraw */
      {"spETH", "action=mint&amount=1000000000000000000", "1030000000000000000"},    /* previewMint */
      {"spETH", "action=redeem&amount=970873786407766990", "999999999999999999"},    /* fl(s*1.03) by hand */
      {"spUSDC", "action=deposit&amount=1000000", "970873"},                         /* 6-dec shares */
      {"spUSDC", "action=withdraw&amount=1000000", "970874"},                        /* 6-dec withdraw shares */
      /* the vault by address in any case */
      {"0x28b3a8fb53b741a8fd78c0fb9a6b2393d896a43d", "action=deposit&amount=1000000", "970873"},
      {"0X28B3A8FB53B741A8FD78C0FB9A6B2393D896A43D", "action=withdraw&amount=1000000", "970874"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = preview(cases[i].vault, cases[i].query);
    ck_assert_msg(strcmp(got, cases[i].want) == 0, "%s %s: %s, want %s", cases[i].vault, cases[i].query, got,
                  cases[i].want);
    free(got);
  }
  json_t *j = ok(V "/1/spUSDC/preview?action=withdraw&amount=1000000");
  ck_assert_str_eq(str(j, "rounding"), "up");
  ck_assert_str_eq(str(j, "result_unit"), "shares");
  ck_assert_str_eq(str(j, "chi_ray"), "1030000000000000000000000000");
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_timestamp")), T);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")), 22021600);
  json_decref(j);
}
END_TEST

/* ---- §5.1 #2 ValueAccrual and §5.1 #3: one year later ----------------------------------------- */

START_TEST(value_accrual_one_year_later) {
  /* spVA: 1,000,000e6 deposited at chi = RAY, 4% vsr; 365 days on: totalAssets 1,039,999.999999e6 */
  json_t *j = ok(V "/1/spVA?at=%lld", T + YEAR);
  ck_assert_str_eq(str(j, "total_assets"), "1039999999999");
  ck_assert_str_eq(str(j, "total_assets_human"), "1039999.999999");
  ck_assert_int_eq(json_integer_value(json_object_get(j, "at")), T + YEAR);
  json_decref(j);
  /* the second user's deposit of 1,000,000e6 then mints 961,538.461538e6 shares */
  char q[128];
  snprintf(q, sizeof q, "action=deposit&amount=1000000000000&at=%lld", T + YEAR);
  char *got = preview("spVA", q);
  ck_assert_str_eq(got, "961538461538");
  free(got);
  /* the first user's 1e12 shares are worth the total assets, more than the 1,000,000e6 idle: redeem
   * reverts, and maxRedeem = fl(idle * RAY / chi) is the 961,538.461538e6 of the vector above */
  snprintf(q, sizeof q, "action=redeem&amount=1000000000000&at=%lld", T + YEAR);
  char path[256];
  snprintf(path, sizeof path, V "/1/spVA/preview?%s", q);
  j = problem(path, 422, "vault_would_revert", "amount");
  json_t *e = json_array_get(json_object_get(j, "errors"), 0);
  ck_assert_str_eq(str(e, "revert"), "SparkVault/insufficient-liquidity");
  ck_assert_str_eq(str(e, "max_amount"), "961538461538");
  json_decref(j);
  snprintf(q, sizeof q, "action=withdraw&amount=1000000000000&at=%lld", T + YEAR);
  got = preview("spVA", q); /* all idle assets: divup(1e12 * RAY, chi) */
  ck_assert_str_eq(got, "961538461539");
  free(got);
  /* chi 1.03e27 at the 5% rate for 365 days: the exact form of §5.1 #3 */
  j = ok(V "/1/spUSDC?at=%lld", T + YEAR);
  ck_assert_str_eq(str(j, "chi_ray"), "1081499999999999999959902249");
  ck_assert_str_eq(str(j, "share_price"), "1.081499999999999999959902249");
  json_decref(j);
  /* and §5.2: 1 day at 5% from chi 1.03e27 */
  j = ok(V "/1/spUSDC?at=%lld", T + DAY);
  ck_assert_str_eq(str(j, "chi_ray"), "1030137691035626843560919094");
  json_decref(j);
}
END_TEST

/* ---- §1.3: APR and APY of each vault's rate --------------------------------------------------- */

START_TEST(vault_apy_table) {
  struct {
    const char *vault, *apr_ray, *apy_ray, *apy;
  } cases[] = {
      /* 5%: rpow = 1049999999999999999961070145 */
      {"sUSDS", "48790164207174267760128000", "49999999999999999961070145", "0.049999999999999999961070145"},
      {"spUSDC", "48790164207174267760128000", "49999999999999999961070145", "0.049999999999999999961070145"},
      /* 4%: rpow = 1039999999999999999955174055 */
      {"spVA", "39220713177670317359232000", "39999999999999999955174055", "0.039999999999999999955174055"},
      /* 1%: rpow = 1009999999999999999986080875 */
      {"sDAI", "9950330854737861567984000", "9999999999999999986080875", "0.009999999999999999986080875"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *j = ok(V "/1/%s", cases[i].vault);
    ck_assert_str_eq(str(j, "apr_ray"), cases[i].apr_ray);
    ck_assert_str_eq(str(j, "apy_ray"), cases[i].apy_ray);
    ck_assert_str_eq(str(j, "apy"), cases[i].apy);
    json_decref(j);
  }
  json_t *j = ok(V "/1/spUSDC");
  json_t *b = json_object_get(j, "rate_bounds");
  ck_assert_str_eq(str(b, "max_apy_ray"), "99999999999999999953897206"); /* 10% row */
  ck_assert_str_eq(str(b, "min_apy_ray"), "0");
  ck_assert_str_eq(str(j, "kind"), "spark_vault_v2");
  ck_assert_str_eq(str(j, "address"), "0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d"); /* EIP-55 */
  ck_assert_str_eq(str(j, "total_assets"), "1030000000000");                         /* 1e12 * 1.03 */
  ck_assert_str_eq(str(j, "idle_assets"), "100000000000");
  ck_assert_str_eq(str(j, "deposit_cap"), "2000000000000");
  ck_assert_str_eq(str(j, "max_deposit"), "970000000000"); /* 2,000,000e6 - 1,030,000e6 */
  ck_assert_str_eq(str(j, "share_price"), "1.030000000000000000000000000");
  ck_assert_str_eq(str(j, "assets_per_share"), "1030000");
  json_t *q = json_object_get(j, "queued_redemptions");
  ck_assert_str_eq(str(q, "min_assets"), "5000000000000");
  ck_assert_int_eq(json_integer_value(json_object_get(q, "max_deadline_seconds")), 604800);
  json_decref(j);

  /* realized APY: sUSDS chi went from RAY to rpow(5% rate, 86400) = 1.000133680617113440350406888e27
   * (§5.2) over the last day; 7 and 30 days reach before the imported history. */
  j = ok(V "/1/sUSDS");
  json_t *r = json_object_get(j, "realized_apy");
  json_t *d1 = json_object_get(r, "1d");
  ck_assert(json_is_object(d1));
  double want = pow(1.000133680617113440350406888, 365.0) - 1.0;
  double got = strtod(str(d1, "apy"), NULL);
  ck_assert_msg(fabs(got - want) < 1e-9, "realized 1d %.12f, want %.12f", got, want);
  ck_assert_int_eq(json_integer_value(json_object_get(d1, "seconds")), DAY);
  ck_assert_int_eq(json_integer_value(json_object_get(d1, "from_block")), 22014400);
  ck_assert(json_is_null(json_object_get(r, "7d")));
  ck_assert(json_is_null(json_object_get(r, "30d")));
  ck_assert(json_is_string(json_object_get(r, "method")));
  ck_assert(json_is_null(json_object_get(j, "idle_assets")));
  ck_assert(json_is_true(json_object_get(j, "deposit_cap_unlimited")));
  json_decref(j);
}
END_TEST

/* ---- 422: the revert string and the largest amount that passes -------------------------------- */

/* Asserts a 422 with revert reason; returns max_amount (caller frees). */
static char *reverts(const char *vault, const char *query, const char *reason) {
  char path[512];
  snprintf(path, sizeof path, V "/1/%s/preview?%s", vault, query);
  json_t *j = problem(path, 422, "vault_would_revert", "amount");
  json_t *e = json_array_get(json_object_get(j, "errors"), 0);
  ck_assert_str_eq(str(e, "revert"), reason);
  ck_assert_msg(strstr(str(j, "detail"), reason) != NULL, "detail does not name the revert");
  char *m = strdup(str(e, "max_amount"));
  json_decref(j);
  return m;
}

START_TEST(preview_reverts_with_max) {
  /* deposit cap: headroom 970,000e6 (by hand); one more reverts */
  char *m = reverts("spUSDC", "action=deposit&amount=970000000001", "SparkVault/deposit-cap-exceeded");
  ck_assert_str_eq(m, "970000000000");
  char q[256];
  snprintf(q, sizeof q, "action=deposit&amount=%s", m);
  free(preview("spUSDC", q));
  free(m);
  /* mint over the cap: the max passes, as maxMint promises */
  m = reverts("spUSDC", "action=mint&amount=1000000000000", "SparkVault/deposit-cap-exceeded");
  snprintf(q, sizeof q, "action=mint&amount=%s", m);
  char *assets = preview("spUSDC", q);
  ck_assert(strlen(assets) <= 12);
  free(assets);
  free(m);
  /* idle liquidity: 100,000e6 */
  m = reverts("spUSDC", "action=withdraw&amount=100000000001", "SparkVault/insufficient-liquidity");
  ck_assert_str_eq(m, "100000000000");
  free(preview("spUSDC", "action=withdraw&amount=100000000000"));
  free(m);
  m = reverts("spUSDC", "action=redeem&amount=1000000000000", "SparkVault/insufficient-liquidity");
  snprintf(q, sizeof q, "action=redeem&amount=%s", m);
  free(preview("spUSDC", q));
  free(m);
  /* owner balance */
  m = reverts("spUSDC", "action=redeem&amount=5&owner_shares=4", "SparkVault/insufficient-balance");
  ck_assert_str_eq(m, "4");
  free(m);
  m = reverts("sUSDS", "action=redeem&amount=11&owner_shares=10", "SUsds/insufficient-balance");
  ck_assert_str_eq(m, "10");
  free(m);
  m = reverts("sDAI", "action=withdraw&amount=11&owner_shares=10", "SavingsDai/insufficient-balance");
  ck_assert_str_eq(m, "10"); /* convertToAssets(10) at chi = RAY */
  free(m);
}
END_TEST

/* ---- §5.1 #5: rate-limit refill --------------------------------------------------------------- */

static json_t *rate_limit(json_t *list, const char *name) {
  json_t *d = json_object_get(list, "data");
  for (size_t i = 0; i < json_array_size(d); i++)
    if (strcmp(str(json_array_get(d, i), "name"), name) == 0) return json_array_get(d, i);
  ck_abort_msg("no rate limit %s", name);
  return NULL;
}

START_TEST(rate_limit_values) {
  struct {
    long long at;
    const char *current;
  } cases[] = {
      {T, "0"},
      {T + DAY, "999999999999999999993600"},          /* 999,999.9999999999999936e18 */
      {T + DAY * 5 / 2, "2499999999999999999984000"}, /* 2,499,999.999999999999984e18 */
      {T + DAY * 5, "4999999999999999999968000"},     /* 4,999,999.999999999999968e18 */
      {T + DAY * 5 + 1, "5000000000000000000000000"}, /* + 1 s: full */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *j = ok("/v1/liquidity-layer/rate-limits?at=%lld", cases[i].at);
    json_t *r = rate_limit(j, "LIMIT_USDS_MINT");
    ck_assert_msg(strcmp(str(r, "current"), cases[i].current) == 0, "at %lld: %s, want %s", cases[i].at,
                  str(r, "current"), cases[i].current);
    json_decref(j);
  }
  json_t *j = ok("/v1/liquidity-layer/rate-limits");
  json_t *r = rate_limit(j, "LIMIT_USDS_MINT");
  ck_assert_str_eq(str(r, "key"), "0xcb0537d5e5dba65a8edbac12555995860e5b8e1b70996011edb1ca8173e56d3c");
  ck_assert_str_eq(str(r, "max_amount"), "5000000000000000000000000");
  ck_assert_str_eq(str(r, "slope_per_second"), "11574074074074074074"); /* 1,000,000e18 / 86400 */
  ck_assert_str_eq(str(r, "slope_per_day"), "999999999999999999993600");
  ck_assert_str_eq(str(r, "status"), "active");
  ck_assert_str_eq(str(json_object_get(r, "asset"), "symbol"), "USDS");
  /* empty at T; full one second after 5 days (the vectors above) */
  ck_assert_int_eq(json_integer_value(json_object_get(r, "seconds_until_full")), 5 * DAY + 1);
  ck_assert_str_eq(str(r, "headroom_pct"), "0.0000");
  r = rate_limit(j, "LIMIT_SUSDE_COOLDOWN");
  ck_assert_str_eq(str(r, "status"), "unlimited");
  ck_assert(json_is_true(json_object_get(r, "unlimited")));
  ck_assert_str_eq(str(r, "current"), U256_MAX_S);
  ck_assert(json_is_null(json_object_get(r, "headroom_pct")));
  r = rate_limit(j, "LIMIT_4626_DEPOSIT");
  ck_assert_str_eq(str(r, "status"), "deactivated");
  r = rate_limit(j, "LIMIT_AAVE_DEPOSIT"); /* 400,000,000e6 an hour ago; 23148148148148 * 3600 refills past max */
  ck_assert_str_eq(str(json_object_get(r, "target"), "venue_id"), "sparklend-usdc");
  ck_assert_str_eq(str(r, "current"), "500000000000000");
  ck_assert_str_eq(str(r, "headroom_pct"), "100.0000");
  json_decref(j);
  j = ok("/v1/liquidity-layer/rate-limits?at=%lld", T + DAY);
  ck_assert_str_eq(str(rate_limit(j, "LIMIT_USDS_MINT"), "headroom_pct"), "19.9999");
  json_decref(j);
}
END_TEST

START_TEST(allocations_values) {
  json_t *j = ok("/v1/liquidity-layer/allocations");
  json_t *d = json_object_get(j, "data");
  ck_assert_uint_eq(json_array_size(d), 2);
  json_t *a = json_array_get(d, 0);
  ck_assert_str_eq(str(a, "venue_id"), "sparklend-usdc");
  ck_assert_str_eq(str(a, "amount"), "50000000000000");
  /* APR (rate - RAY) * YEAR of the 5% rate: _getAPY gives the 5% row of §1.3 back */
  ck_assert_str_eq(str(a, "apy_ray"), "49999999999999999961070145");
  json_t *idle = json_object_get(j, "idle");
  ck_assert_uint_eq(json_array_size(idle), 2);
  ck_assert_str_eq(str(json_array_get(idle, 0), "amount"), "1000000000000");
  ck_assert_str_eq(str(json_array_get(idle, 0), "deployed"), "50000000000000");
  ck_assert(json_is_array(json_object_get(j, "as_of")));
  ck_assert(json_is_null(json_object_get(j, "next_cursor")));
  json_decref(j);
}
END_TEST

/* ---- ETag / 304 ------------------------------------------------------------------------------- */

START_TEST(etag_and_304) {
  const char *paths[] = {V, V "/1/0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d", "/v1/liquidity-layer/rate-limits",
                         "/v1/liquidity-layer/allocations"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    struct th_response r;
    ck_assert_int_eq(th_http(sd.port, "GET", paths[i], NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    char *etag = th_header(&r, "ETag");
    ck_assert_msg(etag && etag[0] == '"', "%s: no strong ETag", paths[i]);
    char *cc = th_header(&r, "Cache-Control");
    ck_assert_ptr_nonnull(cc);
    free(cc);
    th_response_free(&r);
    char h[128];
    snprintf(h, sizeof h, "If-None-Match: %s\r\n", etag);
    ck_assert_int_eq(th_http(sd.port, "GET", paths[i], h, NULL, &r), 0);
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.body_len, 0);
    th_response_free(&r);
    ck_assert_int_eq(th_http(sd.port, "GET", paths[i], "If-None-Match: \"0000\"\r\n", NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    th_response_free(&r);
    free(etag);
  }
  /* the symbol and the address name the same cached body */
  struct th_response a, b;
  ck_assert_int_eq(th_http(sd.port, "GET", V "/1/spusdc", NULL, NULL, &a), 0);
  ck_assert_int_eq(th_http(sd.port, "GET", V "/1/0x28b3a8fb53b741a8fd78c0fb9a6b2393d896a43d", NULL, NULL, &b), 0);
  ck_assert_str_eq(a.body, b.body);
  th_response_free(&a);
  th_response_free(&b);
}
END_TEST

/* ---- bad input -------------------------------------------------------------------------------- */

START_TEST(bad_input) {
  json_decref(problem(V "/999/spUSDC", 404, "chain_not_found", "chain"));
  json_decref(problem(V "/abc/spUSDC", 404, "chain_not_found", "chain"));
  json_decref(problem(V "/1/spNOPE", 404, "vault_not_found", "vault"));
  json_decref(problem(V "/1/0x0000000000000000000000000000000000000001", 404, "vault_not_found", "vault"));
  json_decref(problem(V "/1/0x28b3a8fb53b741a8fd78c0fb9a6b2393d896a43", 400, "invalid_parameter", "vault"));
  json_decref(problem(V "/1/0xZZb3a8fb53b741a8fd78c0fb9a6b2393d896a43d/preview?action=deposit&amount=1", 400,
                      "invalid_parameter", "vault"));
  json_decref(problem(V "/999/spUSDC/preview?action=deposit&amount=1", 404, "chain_not_found", "chain"));
  const char *amounts[] = {"-1", "1.5", "abc", "", "1e18", "+1", U256_MAX_PLUS_1};
  for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
    char p[512];
    snprintf(p, sizeof p, V "/1/spUSDC/preview?action=deposit&amount=%s", amounts[i]);
    json_decref(problem(p, 400, "bad_query_parameter", "amount"));
  }
  json_t *j =
      problem(V "/1/spUSDC/preview?action=deposit&amount=" U256_MAX_PLUS_1, 400, "bad_query_parameter", "amount");
  ck_assert_str_eq(str(json_array_get(json_object_get(j, "errors"), 0), "code"), "out_of_range");
  json_decref(j);
  json_decref(
      problem(V "/1/spUSDC/preview?action=redeem&amount=1&owner_shares=x", 400, "bad_query_parameter", "owner_shares"));
  json_decref(problem(V "/1/spUSDC/preview?action=borrow&amount=1", 400, "bad_query_parameter", "action"));
  json_decref(problem(V "/1/spUSDC/preview?amount=1", 400, "bad_query_parameter", "action"));
  json_decref(problem(V "/1/spUSDC/preview?action=deposit", 400, "bad_query_parameter", "amount"));
  /* the largest amount parses, and the vault reverts (cap) rather than the request failing */
  json_decref(problem(V "/1/spUSDC/preview?action=deposit&amount=" U256_MAX_S, 422, "vault_would_revert", "amount"));
  json_decref(problem(V "/1/spUSDC/preview?action=deposit&amount=1&at=1", 400, "bad_query_parameter", "at"));
  json_decref(problem(V "/1/spUSDC?at=soon", 400, "bad_query_parameter", "at"));
  json_decref(problem(V "/1/spUSDC/history?from=1777000000&to=1776000000", 400, "bad_query_parameter", "from"));
  json_decref(problem(V "/1/spUSDC/history?from=2026-04-24T00:00:00Z&to=2026-04-01T00:00:00Z", 400,
                      "bad_query_parameter", "from"));
  json_decref(problem(V "/1/spUSDC/history?interval=1h&from=0&to=1777000000", 400, "bad_query_parameter", "interval"));
  json_decref(problem(V "/1/spUSDC/history?interval=2h", 400, "bad_query_parameter", "interval"));
  json_decref(problem(V "/1/spUSDC/history?from=yesterday", 400, "bad_query_parameter", "from"));
  json_decref(problem(V "/1/spUSDC/history?cursor=zz", 400, "bad_query_parameter", "cursor"));
  json_decref(problem(V "/1/spUSDC/history?limit=0", 400, "bad_query_parameter", "limit"));
  json_decref(problem(V "/1/spNOPE/history", 404, "vault_not_found", "vault"));
  json_decref(problem(V "?cursor=nope", 400, "bad_query_parameter", "cursor"));
  json_decref(problem(V "?limit=100000", 400, "bad_query_parameter", "limit"));
  json_decref(problem("/v1/liquidity-layer/rate-limits?at=1", 400, "bad_query_parameter", "at"));
  json_decref(problem("/v1/liquidity-layer/rate-limits?limit=x", 400, "bad_query_parameter", "limit"));
  json_decref(problem("/v1/liquidity-layer/rate-limits?cursor=00", 400, "bad_query_parameter", "cursor"));
}
END_TEST

/* ---- pagination ------------------------------------------------------------------------------- */

/* Walks base (which has a '?') page by page with limit; returns the values of key across pages. */
static json_t *walk(const char *base, int limit, const char *key) {
  json_t *seen = json_array();
  char cursor[256] = "";
  for (int pages = 0; pages < 100; pages++) {
    json_t *j = cursor[0] ? ok("%s&limit=%d&cursor=%s", base, limit, cursor) : ok("%s&limit=%d", base, limit);
    json_t *d = json_object_get(j, "data");
    ck_assert_int_le(json_array_size(d), limit);
    for (size_t i = 0; i < json_array_size(d); i++) {
      json_t *v = json_object_get(json_array_get(d, i), key);
      json_array_append(seen, v);
    }
    json_t *n = json_object_get(j, "next_cursor");
    ck_assert(json_object_get(j, "as_of") != NULL);
    if (json_is_null(n)) {
      json_decref(j);
      return seen;
    }
    snprintf(cursor, sizeof cursor, "%s", json_string_value(n));
    json_decref(j);
  }
  ck_abort_msg("%s: more than 100 pages", base);
  return NULL;
}

static void assert_unique(json_t *a) {
  for (size_t i = 0; i < json_array_size(a); i++)
    for (size_t k = i + 1; k < json_array_size(a); k++)
      ck_assert_msg(!json_equal(json_array_get(a, i), json_array_get(a, k)), "duplicate across pages");
}

START_TEST(pagination) {
  json_t *all = walk(V "?x=1", 2, "address");
  ck_assert_uint_eq(json_array_size(all), 5);
  assert_unique(all);
  json_decref(all);
  all = walk("/v1/liquidity-layer/rate-limits?x=1", 3, "key");
  ck_assert_uint_eq(json_array_size(all), 4);
  assert_unique(all);
  json_decref(all);
  /* sUSDS has one block per day: four daily buckets, in time order, one per page */
  char base[256];
  snprintf(base, sizeof base, V "/1/sUSDS/history?interval=1d&from=%lld&to=%lld", T - 3 * DAY, T);
  all = walk(base, 1, "block_number");
  ck_assert_uint_eq(json_array_size(all), 4);
  for (size_t i = 0; i < 4; i++)
    ck_assert_int_eq(json_integer_value(json_array_get(all, i)), 22000000 + 7200 * (long long)i);
  json_decref(all);
  json_t *j = ok("%s&limit=10", base);
  json_t *last = json_array_get(json_object_get(j, "data"), 3);
  ck_assert_str_eq(str(last, "chi_ray"), "1000133680617113440350406888");
  ck_assert_str_eq(str(last, "address"), "0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD");
  ck_assert_str_eq(str(last, "apy_ray"), "49999999999999999961070145");
  ck_assert_str_eq(str(last, "total_assets"), "1000133680617113440350406"); /* 1e24 supply * chi / RAY */
  ck_assert(json_is_null(json_object_get(j, "next_cursor")));
  json_decref(j);
  all = walk(base, 2, "block_number");
  ck_assert_uint_eq(json_array_size(all), 4);
  json_decref(all);
}
END_TEST

/* ---- an import while requests run: the cache is rebuilt and swapped ---------------------------- */

START_TEST(cache_refresh_after_import) {
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, "GET", V "/1/sUSDS", NULL, NULL, &r), 0);
  char *etag = th_header(&r, "ETag");
  th_response_free(&r);
  ck_assert_int_eq(run_import(FIXTURE_NEXT), 0);
  json_t *j = NULL;
  for (int i = 0; i < 400; i++) { /* requests keep being answered from the old state until the swap */
    j = ok(V "/1/sUSDS");
    if (json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")) == 22028800) break;
    json_decref(j);
    j = NULL;
    sleep_ms(50);
  }
  ck_assert_msg(j != NULL, "the cache never showed the new block");
  ck_assert_str_eq(str(j, "chi_ray"), "1000200000000000000000000000");
  ck_assert_str_eq(str(j, "total_supply"), "2000000000000000000000000");
  ck_assert_int_eq(
      json_integer_value(json_object_get(json_object_get(json_object_get(j, "realized_apy"), "1d"), "from_block")),
      22021600);
  json_decref(j);
  char h[128];
  snprintf(h, sizeof h, "If-None-Match: %s\r\n", etag);
  ck_assert_int_eq(th_http(sd.port, "GET", V "/1/sUSDS", h, NULL, &r), 0);
  ck_assert_int_eq(r.status, 200); /* the old tag no longer matches */
  th_response_free(&r);
  free(etag);
  /* rate limits are as of the new block too: one day on, LIMIT_USDS_MINT holds the §5.1 #5 value */
  j = ok("/v1/liquidity-layer/rate-limits");
  ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "as_of"), 0), "block_number")),
                   22028800);
  ck_assert_str_eq(str(rate_limit(j, "LIMIT_USDS_MINT"), "current"), "999999999999999999993600");
  json_decref(j);
}
END_TEST

int main(void) {
  Suite *s = suite_create("savings_api");
  TCase *tc = tcase_create("api");
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, preview_spec_vectors);
  tcase_add_test(tc, value_accrual_one_year_later);
  tcase_add_test(tc, vault_apy_table);
  tcase_add_test(tc, preview_reverts_with_max);
  tcase_add_test(tc, rate_limit_values);
  tcase_add_test(tc, allocations_values);
  tcase_add_test(tc, etag_and_304);
  tcase_add_test(tc, bad_input);
  tcase_add_test(tc, pagination);
  tcase_add_test(tc, cache_refresh_after_import); /* last: it moves the chain on a day */
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
