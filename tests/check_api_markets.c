/* ctest-label: api */
/* The SparkLend market routes against the real sparkd and a private PostgreSQL, on the fixture
 * tests/fixtures/markets_block{1,2}.json loaded with `sparkd import`.
 *
 * Expected values never come from sparkd: tests/fixtures/markets_expected.txt is written by
 * tests/markets_fixture.mjs from @aave/math-utils (rayMul, rayDiv, rayPow, wadToRay) and BigInt
 * transcriptions of spec protocol-math §2.3/§2.4; the USDT strategy is checked against the spec's
 * own §4.3 worked example (SSR 3.75% + 0.5%, Uopt 95%, RF 1%: U = 90% -> vr, lr). */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;

/* ---- expected values ---------------------------------------------------------------------- */

#define MAX_EXPECTED 512
static struct {
  char key[64];
  char val[160];
} expected[MAX_EXPECTED];
static size_t nexpected;

static void load_expected(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/fixtures/markets_expected.txt", SPARKD_SOURCE_DIR);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot read %s", path);
  char line[256];
  while (fgets(line, sizeof line, f) && nexpected < MAX_EXPECTED) {
    line[strcspn(line, "\n")] = 0;
    char *eq = strchr(line, '=');
    if (!eq) continue;
    *eq = 0;
    snprintf(expected[nexpected].key, sizeof expected[nexpected].key, "%.63s", line);
    snprintf(expected[nexpected].val, sizeof expected[nexpected].val, "%.159s", eq + 1);
    nexpected++;
  }
  fclose(f);
}

static const char *want(const char *key) {
  for (size_t i = 0; i < nexpected; i++)
    if (strcmp(expected[i].key, key) == 0) return expected[i].val;
  ck_abort_msg("no expected value %s", key);
  return NULL;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int run_import(const char *file) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "SPARKD_DATABASE_URL='%s' '%s' import '%s/tests/fixtures/%s' >/dev/null 2>&1", dburl,
           SPARKD_BINARY, SPARKD_SOURCE_DIR, file);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *get_json(const char *path, int status, struct th_response *keep) {
  struct th_response r;
  ck_assert_msg(th_http(sd.port, "GET", path, NULL, NULL, &r) == 0, "GET %s failed", path);
  ck_assert_msg(r.status == status, "GET %s: %d, want %d: %s", path, r.status, status, r.body);
  json_error_t e;
  json_t *j = json_loads(r.body, 0, &e);
  ck_assert_msg(j != NULL, "GET %s: not json: %s", path, r.body);
  if (keep)
    *keep = r;
  else
    th_response_free(&r);
  return j;
}

/* Checks a problem+json answer and the field named in errors (or none when field is NULL). */
static void assert_problem(const char *path, int status, const char *code, const char *field) {
  struct th_response r;
  json_t *j = get_json(path, status, &r);
  char *ct = th_header(&r, "Content-Type");
  ck_assert_str_eq(ct, "application/problem+json");
  free(ct);
  ck_assert_str_eq(json_string_value(json_object_get(j, "code")), code);
  if (field) {
    json_t *errs = json_object_get(j, "errors");
    ck_assert_msg(json_array_size(errs) == 1, "%s: errors: %s", path, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(errs, 0), "field")), field);
  }
  json_decref(j);
  th_response_free(&r);
}

static const char *str(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  ck_assert_msg(json_is_string(v), "%s is not a string", k);
  return json_string_value(v);
}

static json_t *find_symbol(json_t *data, const char *symbol) {
  size_t i;
  json_t *v;
  json_array_foreach(data, i, v) if (strcmp(str(v, "symbol"), symbol) == 0) return v;
  ck_abort_msg("no reserve %s", symbol);
  return NULL;
}

/* Compares every state field of reserve o with the expected values under prefix. */
static void assert_reserve_values(json_t *o, const char *prefix, bool caps) {
  static const char *fields[] = {
      "liquidity_index_ray", "variable_borrow_index_ray", "total_supplied", "total_borrowed", "utilization_ray",
      "liquidity_rate_ray",  "variable_borrow_rate_ray",  "supply_apy_ray", "borrow_apy_ray"};
  char key[128];
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    snprintf(key, sizeof key, "%s.%s", prefix, fields[i]);
    ck_assert_msg(strcmp(str(o, fields[i]), want(key)) == 0, "%s: %s, want %s", key, str(o, fields[i]), want(key));
  }
  if (!caps) return;
  snprintf(key, sizeof key, "%s.accrued_to_treasury", prefix);
  ck_assert_str_eq(str(o, "accrued_to_treasury"), want(key));
  json_t *sc = json_object_get(o, "supply_cap"), *bc = json_object_get(o, "borrow_cap");
  if (!json_is_null(sc)) {
    snprintf(key, sizeof key, "%s.supply_cap_headroom", prefix);
    ck_assert_str_eq(str(o, "supply_cap_headroom"), want(key));
  }
  if (!json_is_null(bc)) {
    snprintf(key, sizeof key, "%s.borrow_cap_headroom", prefix);
    ck_assert_str_eq(str(o, "borrow_cap_headroom"), want(key));
  }
}

/* ---- suite-wide setup ---------------------------------------------------------------------- */

static void setup_all(void) {
  load_expected();
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_CACHE_MAX_AGE_S=7", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  ck_assert_msg(run_import("markets_block1.json") == 0, "sparkd import markets_block1.json failed");
  /* the cache is rebuilt on NOTIFY: wait (bounded) until the chain shows up */
  for (int i = 0; i < 200; i++) {
    struct th_response r;
    if (th_http(sd.port, "GET", "/v1/markets/1/reserves", NULL, NULL, &r) == 0) {
      int st = r.status;
      th_response_free(&r);
      if (st == 200) return;
    }
    sleep_ms(50);
  }
  ck_abort_msg("the markets cache was not built within 10 s");
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

/* ---- tests ---------------------------------------------------------------------------------- */

START_TEST(reserves_list_values) {
  struct th_response r;
  json_t *j = get_json("/v1/markets/1/reserves", 200, &r);
  char *etag = th_header(&r, "ETag"), *cc = th_header(&r, "Cache-Control");
  ck_assert_ptr_nonnull(etag);
  ck_assert_uint_eq(strlen(etag), 22); /* strong: a quoted 20-hex-digit tag */
  ck_assert_str_eq(cc, "public, max-age=7");
  free(etag);
  free(cc);
  th_response_free(&r);

  json_t *as_of = json_object_get(j, "as_of");
  ck_assert_int_eq(json_integer_value(json_object_get(as_of, "chain_id")), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(as_of, "block_number")), 22000000);
  ck_assert_int_eq(json_integer_value(json_object_get(as_of, "block_timestamp")), atoll(want("T0")));
  ck_assert(json_is_null(json_object_get(j, "next_cursor")));
  json_t *data = json_object_get(j, "data");
  ck_assert_uint_eq(json_array_size(data), 3);

  json_t *usdt = find_symbol(data, "USDT");
  assert_reserve_values(usdt, "USDT", true);
  ck_assert_str_eq(str(usdt, "address"), "0xdAC17F958D2ee523a2206206994597C13D831ec7"); /* EIP-55 */
  ck_assert_int_eq(json_integer_value(json_object_get(usdt, "decimals")), 6);
  ck_assert_int_eq(json_integer_value(json_object_get(usdt, "reserve_factor_bps")), 100);
  ck_assert_int_eq(json_integer_value(json_object_get(usdt, "emode_category")), 2);
  ck_assert_str_eq(str(usdt, "supply_cap"), "120000000000000"); /* 120,000,000 whole tokens, 6 decimals */
  ck_assert_str_eq(str(usdt, "price"), "100000000");
  ck_assert_str_eq(str(usdt, "price_usd"), "1.00000000");
  /* the human strings beside the integers */
  ck_assert_str_eq(str(usdt, "total_supplied_human"), "100009669.971179");
  ck_assert_str_eq(str(usdt, "supply_apr"), "0.035295394804565421922464733");
  json_t *flags = json_object_get(usdt, "flags");
  ck_assert(json_is_true(json_object_get(flags, "active")));
  ck_assert(json_is_true(json_object_get(flags, "borrowing_enabled")));
  ck_assert(json_is_false(json_object_get(flags, "frozen")));

  json_t *wst = find_symbol(data, "wstETH");
  assert_reserve_values(wst, "wstETH", true);
  ck_assert_int_eq(json_integer_value(json_object_get(wst, "ltv_bps")), 8300);
  ck_assert_int_eq(json_integer_value(json_object_get(wst, "liquidation_threshold_bps")), 8400);
  ck_assert_int_eq(json_integer_value(json_object_get(wst, "liquidation_bonus_bps")), 10700);

  json_t *wbtc = find_symbol(data, "WBTC");
  assert_reserve_values(wbtc, "WBTC", true);
  ck_assert_str_eq(str(wbtc, "utilization_ray"), "0");
  ck_assert(json_is_null(json_object_get(wbtc, "borrow_cap"))); /* 0 = no cap */
  ck_assert(json_is_null(json_object_get(wbtc, "borrow_cap_headroom")));
  flags = json_object_get(wbtc, "flags");
  ck_assert(json_is_true(json_object_get(flags, "frozen")));
  ck_assert(json_is_false(json_object_get(flags, "borrowing_enabled")));
  json_decref(j);
}
END_TEST

START_TEST(single_reserve_strategy_and_curve) {
  struct th_response a, b, c;
  json_t *j = get_json("/v1/markets/1/reserves/usdt", 200, &a); /* symbol, any case */
  json_decref(get_json("/v1/markets/1/reserves/0xdac17f958d2ee523a2206206994597c13d831ec7", 200, &b));
  json_decref(get_json("/v1/markets/1/reserves/0xDAC17F958D2EE523A2206206994597C13D831EC7", 200, &c));
  char *e1 = th_header(&a, "ETag"), *e2 = th_header(&b, "ETag"), *e3 = th_header(&c, "ETag");
  ck_assert_str_eq(e1, e2);
  ck_assert_str_eq(e1, e3);
  free(e1);
  free(e2);
  free(e3);
  th_response_free(&a);
  th_response_free(&b);
  th_response_free(&c);

  json_t *d = json_object_get(j, "data");
  assert_reserve_values(d, "USDT", true);
  json_t *s = json_object_get(d, "interest_rate_strategy");
  ck_assert_str_eq(str(s, "kind"), "rate_target_kink");
  ck_assert_str_eq(str(s, "spread_ray"), "5000000000000000000000000");
  /* spec §4.3: USDT slope1 4.181397314420395414184% at SSR 3.75% (+0.5% spread, base 0) */
  ck_assert_str_eq(str(s, "variable_rate_slope1_ray"), "41813973144203954141840000");
  ck_assert_str_eq(str(s, "optimal_usage_ratio_ray"), "950000000000000000000000000");
  ck_assert_str_eq(str(s, "max_variable_borrow_rate_ray"), "191813973144203954141840000");
  json_t *src = json_object_get(s, "rate_source");
  ck_assert_str_eq(str(src, "kind"), "ssr");
  ck_assert_str_eq(str(src, "description"), "SSR + 0.5%");
  json_t *curve = json_object_get(s, "curve");
  ck_assert_uint_eq(json_array_size(curve), 101); /* the kink 95% is a whole percent */
  json_t *p90 = json_array_get(curve, 90), *p95 = json_array_get(curve, 95), *p0 = json_array_get(curve, 0);
  /* spec §4.3 worked example at U = 90% (D = 90e12, L = 10e12) */
  ck_assert_str_eq(str(p90, "utilization_ray"), "900000000000000000000000000");
  ck_assert_str_eq(str(p90, "variable_borrow_rate_ray"), "39613237715561640765953684");
  ck_assert_str_eq(str(p90, "liquidity_rate_ray"), "35295394804565421922464733");
  ck_assert(json_is_false(json_object_get(p90, "kink")));
  /* at the kink the borrow rate is the source APR + spread = slope1 (base 0) */
  ck_assert(json_is_true(json_object_get(p95, "kink")));
  ck_assert_str_eq(str(p95, "variable_borrow_rate_ray"), "41813973144203954141840000");
  ck_assert_str_eq(str(p0, "variable_borrow_rate_ray"), "0");
  ck_assert_str_eq(str(p0, "liquidity_rate_ray"), "0");
  json_decref(j);

  /* wstETH (Default 0/2/200/70, RF 30%): every curve point against math-utils + spec §2.4, as
   * the generation rendered it and as a request at another time renders it (the curve then comes
   * from the copy views/markets_json.c keeps between renderings) */
  char at_path[128];
  snprintf(at_path, sizeof at_path, "/v1/markets/1/reserves/WSTETH?at=%s", want("at"));
  const char *paths[] = {"/v1/markets/1/reserves/WSTETH", at_path};
  for (size_t q = 0; q < 2; q++) {
    j = get_json(paths[q], 200, NULL);
    d = json_object_get(j, "data");
    s = json_object_get(d, "interest_rate_strategy");
    ck_assert_str_eq(str(s, "kind"), "default");
    ck_assert(json_is_null(json_object_get(s, "rate_source")));
    curve = json_object_get(s, "curve");
    ck_assert_uint_eq(json_array_size(curve), 101);
    for (size_t k = 0; k <= 100; k++) {
      char key[64], got[200];
      snprintf(key, sizeof key, "wstETH.curve.%zu", k);
      json_t *p = json_array_get(curve, k);
      snprintf(got, sizeof got, "%s,%s", str(p, "variable_borrow_rate_ray"), str(p, "liquidity_rate_ray"));
      ck_assert_msg(strcmp(got, want(key)) == 0, "%s %s: %s, want %s", paths[q], key, got, want(key));
      ck_assert(json_is_boolean(json_object_get(p, "kink")) && (k == 70) == json_is_true(json_object_get(p, "kink")));
    }
    json_decref(j);
  }
}
END_TEST

START_TEST(at_projection) {
  char path[256];
  snprintf(path, sizeof path, "/v1/markets/1/reserves?at=%s", want("at"));
  struct th_response r;
  json_t *j = get_json(path, 200, &r);
  char *etag = th_header(&r, "ETag");
  ck_assert_ptr_null(etag); /* computed per request, not cached */
  th_response_free(&r);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "at")), atoll(want("at")));
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")), 22000000);
  json_t *data = json_object_get(j, "data");
  assert_reserve_values(find_symbol(data, "USDT"), "USDT@at", true);
  assert_reserve_values(find_symbol(data, "wstETH"), "wstETH@at", true);
  assert_reserve_values(find_symbol(data, "WBTC"), "WBTC@at", true);
  json_decref(j);

  snprintf(path, sizeof path, "/v1/markets/1/reserves/USDT?at=%s", want("at"));
  j = get_json(path, 200, NULL);
  assert_reserve_values(json_object_get(j, "data"), "USDT@at", true);
  json_decref(j);

  /* at == the block's timestamp: the same numbers as the cached view */
  snprintf(path, sizeof path, "/v1/markets/1/reserves/USDT?at=%s", want("T0"));
  j = get_json(path, 200, NULL);
  assert_reserve_values(json_object_get(j, "data"), "USDT", true);
  json_decref(j);
}
END_TEST

START_TEST(chains_markets_emode) {
  json_t *j = get_json("/v1/chains", 200, NULL);
  json_t *c0 = json_array_get(json_object_get(j, "data"), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(c0, "chain_id")), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(c0, "block_number")), 22000000);
  ck_assert_str_eq(str(c0, "name"), "Ethereum");
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")), 22000000);
  json_decref(j);

  j = get_json("/v1/markets", 200, NULL);
  json_t *m0 = json_array_get(json_object_get(j, "data"), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(m0, "reserves_count")), 3);
  ck_assert_str_eq(str(m0, "total_supplied_base"), want("markets.total_supplied_base"));
  ck_assert_str_eq(str(m0, "total_borrowed_base"), want("markets.total_borrowed_base"));
  json_decref(j);

  j = get_json("/v1/markets/1/emode-categories", 200, NULL);
  json_t *data = json_object_get(j, "data");
  ck_assert_uint_eq(json_array_size(data), 2);
  json_t *e1 = json_array_get(data, 0), *e2 = json_array_get(data, 1);
  ck_assert_int_eq(json_integer_value(json_object_get(e1, "id")), 1);
  ck_assert_str_eq(str(e1, "label"), "ETH");
  ck_assert_int_eq(json_integer_value(json_object_get(e1, "ltv_bps")), 9200);
  ck_assert_int_eq(json_integer_value(json_object_get(e1, "liquidation_threshold_bps")), 9300);
  ck_assert_int_eq(json_integer_value(json_object_get(e1, "liquidation_bonus_bps")), 10100);
  ck_assert(json_is_null(json_object_get(e1, "price_source")));
  json_t *mem = json_object_get(e1, "reserves");
  ck_assert_uint_eq(json_array_size(mem), 1);
  ck_assert_str_eq(str(json_array_get(mem, 0), "symbol"), "wstETH");
  mem = json_object_get(e2, "reserves");
  ck_assert_uint_eq(json_array_size(mem), 1);
  ck_assert_str_eq(str(json_array_get(mem, 0), "symbol"), "USDT");
  json_decref(j);
}
END_TEST

START_TEST(etag_and_304) {
  static const char *paths[] = {"/v1/chains", "/v1/markets", "/v1/markets/1/reserves", "/v1/markets/1/reserves/WBTC",
                                "/v1/markets/1/emode-categories"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    struct th_response r, n;
    ck_assert(th_http(sd.port, "GET", paths[i], NULL, NULL, &r) == 0);
    ck_assert_int_eq(r.status, 200);
    char *etag = th_header(&r, "ETag");
    ck_assert_msg(etag != NULL, "%s has no ETag", paths[i]);
    char hdr[128];
    snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
    ck_assert(th_http(sd.port, "GET", paths[i], hdr, NULL, &n) == 0);
    ck_assert_msg(n.status == 304, "%s with its ETag: %d", paths[i], n.status);
    ck_assert_uint_eq(n.body_len, 0);
    char *etag2 = th_header(&n, "ETag");
    ck_assert_str_eq(etag2, etag);
    free(etag2);
    th_response_free(&n);
    ck_assert(th_http(sd.port, "GET", paths[i], "If-None-Match: \"00000000000000000000\"\r\n", NULL, &n) == 0);
    ck_assert_int_eq(n.status, 200);
    ck_assert_str_eq(n.body, r.body);
    th_response_free(&n);
    free(etag);
    th_response_free(&r);
  }
}
END_TEST

START_TEST(bad_input) {
  assert_problem("/v1/markets/9/reserves", 404, "chain_not_found", NULL);
  assert_problem("/v1/markets/abc/reserves", 404, "chain_not_found", NULL);
  assert_problem("/v1/markets/9/reserves/USDT", 404, "chain_not_found", NULL);
  assert_problem("/v1/markets/9/emode-categories", 404, "chain_not_found", NULL);
  assert_problem("/v1/markets/9/reserves/USDT/history", 404, "chain_not_found", NULL);
  assert_problem("/v1/markets/1/reserves/FOO", 404, "asset_not_found", NULL);
  assert_problem("/v1/markets/1/reserves/0x0000000000000000000000000000000000000001", 404, "asset_not_found", NULL);
  assert_problem("/v1/markets/1/reserves/FOO/history", 404, "asset_not_found", NULL);
  assert_problem("/v1/markets/1/reserves/0x123", 400, "invalid_parameter", "asset");
  assert_problem("/v1/markets/1/reserves/0xdac17f958d2ee523a2206206994597c13d831ecZ", 400, "invalid_parameter",
                 "asset");
  assert_problem("/v1/markets/1/reserves/0x123/history", 400, "invalid_parameter", "asset");
  /* ?at= */
  assert_problem("/v1/markets/1/reserves?at=1749999999", 400, "bad_query_parameter", "at");
  assert_problem("/v1/markets/1/reserves/USDT?at=5", 400, "bad_query_parameter", "at");
  assert_problem("/v1/markets/1/reserves?at=soon", 400, "bad_query_parameter", "at");
  assert_problem("/v1/markets/1/reserves?at=-1", 400, "bad_query_parameter", "at");
  /* history query */
  const char *h = "/v1/markets/1/reserves/USDT/history";
  char p[256];
  snprintf(p, sizeof p, "%s?interval=2h", h);
  assert_problem(p, 400, "bad_query_parameter", "interval");
  snprintf(p, sizeof p, "%s?from=1750000000&to=1749990000", h);
  assert_problem(p, 400, "bad_query_parameter", "from");
  snprintf(p, sizeof p, "%s?from=0&to=1750000000&interval=1h", h); /* ~486,000 buckets */
  assert_problem(p, 400, "bad_query_parameter", "interval");
  snprintf(p, sizeof p, "%s?from=yesterday", h);
  assert_problem(p, 400, "bad_query_parameter", "from");
  snprintf(p, sizeof p, "%s?to=2025-13-45", h);
  assert_problem(p, 400, "bad_query_parameter", "to");
  snprintf(p, sizeof p, "%s?cursor=zz", h);
  assert_problem(p, 400, "bad_query_parameter", "cursor");
  snprintf(p, sizeof p, "%s?limit=0", h);
  assert_problem(p, 400, "bad_query_parameter", "limit");
  snprintf(p, sizeof p, "%s?limit=1001", h);
  assert_problem(p, 400, "bad_query_parameter", "limit");
  /* a cursor from another window */
  snprintf(p, sizeof p, "%s?from=1749990000&to=1750010000&interval=1h&cursor=68312e31", h); /* "h1.1" */
  assert_problem(p, 400, "bad_query_parameter", "cursor");
}
END_TEST

/* Imports block 2 while requests run; every answer meanwhile is a whole 200 of one generation,
 * and the ETag and as_of move to block 2 within a bounded time. */
START_TEST(cache_refresh_after_import) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/v1/markets/1/reserves", NULL, NULL, &r) == 0);
  char *etag0 = th_header(&r, "ETag");
  th_response_free(&r);
  pid_t pid = fork();
  ck_assert(pid >= 0);
  if (pid == 0) _exit(run_import("markets_block2.json"));
  bool moved = false;
  int requests = 0;
  for (int i = 0; i < 400 && !moved; i++) { /* at most ~20 s */
    ck_assert(th_http(sd.port, "GET", "/v1/markets/1/reserves", NULL, NULL, &r) == 0);
    ck_assert_int_eq(r.status, 200);
    requests++;
    json_error_t e;
    json_t *j = json_loads(r.body, 0, &e);
    ck_assert_msg(j != NULL, "a torn body during the rebuild: %s", r.body);
    char *etag = th_header(&r, "ETag");
    json_int_t block = json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number"));
    if (strcmp(etag, etag0) != 0) {
      ck_assert_int_eq(block, 22000600); /* a new ETag comes with the new block */
      moved = true;
    } else {
      ck_assert_int_eq(block, 22000000);
    }
    free(etag);
    json_decref(j);
    th_response_free(&r);
    if (!moved) sleep_ms(50);
  }
  int st;
  waitpid(pid, &st, 0);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sparkd import markets_block2.json failed");
  ck_assert_msg(moved, "the cache did not move to block 2 within %d requests", requests);
  free(etag0);

  json_t *j = get_json("/v1/markets/1/reserves/USDT", 200, NULL);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_timestamp")),
                   atoll(want("T1")));
  assert_reserve_values(json_object_get(j, "data"), "USDT@block2", true);
  json_decref(j);
}
END_TEST

/* Walks the history one bucket per page: every bucket once, in order, then next_cursor null. */
START_TEST(history_pagination) {
  long long t0 = atoll(want("T0")), t1 = atoll(want("T1"));
  char path[512];
  snprintf(path, sizeof path, "/v1/markets/1/reserves/usdt/history?interval=1h&from=%lld&to=%lld&limit=100", t0 - 7200,
           t1 + 3600);
  json_t *all = get_json(path, 200, NULL);
  json_t *full = json_object_get(all, "data");
  ck_assert_uint_eq(json_array_size(full), 2); /* one bucket per imported block */
  ck_assert(json_is_null(json_object_get(all, "next_cursor")));
  json_t *b0 = json_array_get(full, 0), *b1 = json_array_get(full, 1);
  ck_assert_int_eq(json_integer_value(json_object_get(b0, "bucket_start")), t0 / 3600 * 3600);
  ck_assert_int_eq(json_integer_value(json_object_get(b1, "bucket_start")), t1 / 3600 * 3600);
  ck_assert_int_eq(json_integer_value(json_object_get(b0, "block_number")), 22000000);
  ck_assert_int_eq(json_integer_value(json_object_get(b1, "block_number")), 22000600);
  assert_reserve_values(b0, "USDT", false);
  assert_reserve_values(b1, "USDT@block2", false);
  ck_assert_str_eq(str(b1, "price"), "100000000"); /* block 2 carried no prices: the one in force */

  /* page by page */
  char cursor[128] = "";
  long long seen[16];
  size_t nseen = 0;
  for (int page = 0; page < 10; page++) {
    char p[700];
    snprintf(p, sizeof p, "/v1/markets/1/reserves/usdt/history?interval=1h&from=%lld&to=%lld&limit=1%s%s", t0 - 7200,
             t1 + 3600, cursor[0] ? "&cursor=" : "", cursor);
    json_t *j = get_json(p, 200, NULL);
    json_t *d = json_object_get(j, "data");
    ck_assert_uint_eq(json_array_size(d), 1);
    long long b = json_integer_value(json_object_get(json_array_get(d, 0), "bucket_start"));
    for (size_t k = 0; k < nseen; k++)
      ck_assert_msg(seen[k] != b, "bucket %lld twice", b);
    seen[nseen++] = b;
    json_t *nc = json_object_get(j, "next_cursor");
    if (json_is_null(nc)) {
      json_decref(j);
      break;
    }
    snprintf(cursor, sizeof cursor, "%s", json_string_value(nc));
    json_decref(j);
  }
  ck_assert_uint_eq(nseen, 2);
  ck_assert_int_eq(seen[0], json_integer_value(json_object_get(b0, "bucket_start")));
  ck_assert_int_eq(seen[1], json_integer_value(json_object_get(b1, "bucket_start")));
  json_decref(all);

  /* 1d buckets: both blocks fall in one day; the bucket holds the later block */
  snprintf(path, sizeof path, "/v1/markets/1/reserves/USDT/history?interval=1d&from=%lld&to=%lld", t0 - 86400, t1);
  all = get_json(path, 200, NULL);
  ck_assert_uint_eq(json_array_size(json_object_get(all, "data")), t0 / 86400 == t1 / 86400 ? 1 : 2);
  json_t *last = json_array_get(json_object_get(all, "data"), json_array_size(json_object_get(all, "data")) - 1);
  ck_assert_int_eq(json_integer_value(json_object_get(last, "block_number")), 22000600);
  json_decref(all);
}
END_TEST

int main(void) {
  Suite *s = suite_create("markets");
  TCase *tc = tcase_create("api");
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, reserves_list_values);
  tcase_add_test(tc, single_reserve_strategy_and_curve);
  tcase_add_test(tc, at_projection);
  tcase_add_test(tc, chains_markets_emode);
  tcase_add_test(tc, etag_and_304);
  tcase_add_test(tc, bad_input);
  tcase_add_test(tc, cache_refresh_after_import); /* moves the state to block 2 */
  tcase_add_test(tc, history_pagination);         /* needs both blocks */
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK); /* one sparkd and one PostgreSQL for the whole suite */
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
