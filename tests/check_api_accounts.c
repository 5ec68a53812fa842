/* ctest-label: api */
/* Accounts and quotes through the real sparkd against a private PostgreSQL loaded with
 * tests/fixtures/accounts_basic.json (`sparkd import`): GET /v1/accounts/{chain}/{address},
 * the health-factor watch list GET /v1/accounts/{chain}, and POST /v1/quotes.
 *
 * The fixture has indexes at RAY and zero rates, so balances equal the scaled ones and every
 * expected number below is hand arithmetic from the spec (protocol-math §2.5-§2.7, §5.2):
 *   A: 10 WETH @ 3000e8 (LT 8600, LTV 8000) vs 20,000e6 USDC @ 1e8 → HF 1.29e18 (§5.2);
 *      at 2300e8 → 0.989e18; max USDC borrow = 3e12·0.8 − 2e12 base = 4,000e6 exactly.
 *   B: 10 wstETH @ 3500e8 (LT 7900) vs 5 WETH → HF 27,650/15,000 = 1.843…e18; in eMode 1
 *      (LT 9300) 32,550/15,000 = 2.17e18.
 *   C: 1,000 ISO @ 10e8 isolated (ceiling 100000 = $1,000.00, used 50000) vs 500e6 USDC → HF 12;
 *      largest further USDC borrow: fl(x / 10^(6−2)) ≤ 50000 → x = 500,009,999.
 *   D: 1 WETH vs 2,500 DAI → HF 1.032e18; E: USDC supply only (no debt); F: 1 WETH vs 2,700e6
 *      USDC → HF 0.9555…e18. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "support/httptest.h"
#include "support/pgtest.h"

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/accounts_basic.json"

#define ACC_A "0x00000000000000000000000000000000000000a1"
#define ACC_B "0x00000000000000000000000000000000000000b2"
#define ACC_C "0x00000000000000000000000000000000000000c3"
#define ACC_D "0x00000000000000000000000000000000000000d4"
#define ACC_E "0x00000000000000000000000000000000000000e5"
#define ACC_F "0x00000000000000000000000000000000000000f6"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Runs `sparkd import file` on this suite's database; returns the exit status. */
static int run_import(const char *file) { return th_sparkd_import(dburl, file); }

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

static json_t *post_quote(const char *body, int *status) {
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, "POST", "/v1/quotes", "Content-Type: application/json\r\n", body, &r), 0);
  *status = r.status;
  json_error_t e;
  json_t *j = json_loads(r.body, 0, &e);
  ck_assert_msg(j != NULL, "not json: %s", r.body);
  th_response_free(&r);
  return j;
}

/* A quote that must be answered 200. */
static json_t *quote(const char *body) {
  int st;
  json_t *j = post_quote(body, &st);
  char *dump = json_dumps(j, JSON_COMPACT);
  ck_assert_msg(st == 200, "quote %s -> %d %s", body, st, dump);
  free(dump);
  return j;
}

static const char *str_at(json_t *j, const char *path) {
  /* path: dot-separated keys, [n] for array items, e.g. "steps[0].account.health_factor" */
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *cur = j;
  for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
    char *br = strchr(tok, '[');
    if (br) *br = 0;
    if (*tok) cur = json_object_get(cur, tok);
    while (br && cur) {
      cur = json_array_get(cur, strtoul(br + 1, NULL, 10));
      br = strchr(br + 1, '[');
    }
  }
  return cur && json_is_string(cur) ? json_string_value(cur) : NULL;
}

static json_t *at(json_t *j, const char *key) { return json_object_get(j, key); }

/* Compares two decimal integer strings. */
static int dec_cmp(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb) return la < lb ? -1 : 1;
  return strcmp(a, b);
}

/* a - 1 for a decimal string > 0 (into out). */
static void dec_minus_one(const char *a, char *out) {
  size_t n = strlen(a);
  memcpy(out, a, n + 1);
  for (size_t i = n; i-- > 0;) {
    if (out[i] > '0') {
      out[i]--;
      break;
    }
    out[i] = '9';
  }
  if (out[0] == '0' && out[1]) memmove(out, out + 1, n);
}

static void wait_loaded(void) {
  for (int i = 0; i < 200; i++) {
    int st;
    json_t *j = get_json("/v1/accounts/1?limit=1", &st);
    size_t n = st == 200 ? json_array_size(at(j, "data")) : 0;
    json_decref(j);
    if (n == 1) return;
    sleep_ms(50);
  }
  ck_abort_msg("chain state never loaded");
}

/* Which way account lookups and quotes read accounts in the running tcase: from the state cache
 * (the default bound holds the fixture's accounts), or from the database (SPARKD_ACCOUNT_CACHE_MAX=1:
 * the chain has more accounts than that). Every test runs both ways. */
static bool accounts_in_cache;

static void setup_with(const char *cache_max) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_MAX_BODY_BYTES=16384", cache_max, NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  ck_assert_int_eq(run_import(FIXTURE), 0);
  wait_loaded();
}

static void setup_cached(void) {
  accounts_in_cache = true;
  setup_with(NULL);
}

static void setup_database(void) {
  accounts_in_cache = false;
  setup_with("SPARKD_ACCOUNT_CACHE_MAX=1");
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

/* ---- GET /v1/accounts/{chain}/{address} ---------------------------------------------------- */

static json_t *account(const char *addr) {
  char path[128];
  snprintf(path, sizeof path, "/v1/accounts/1/%s", addr);
  int st;
  json_t *j = get_json(path, &st);
  ck_assert_int_eq(st, 200);
  return j;
}

static json_t *position(json_t *acct, const char *symbol) {
  json_t *p;
  size_t i;
  json_array_foreach(at(acct, "positions"), i, p) if (strcmp(json_string_value(at(p, "symbol")), symbol) == 0) return p;
  return NULL;
}

static bool has_warning(json_t *acct, const char *code, const char *severity) {
  json_t *w;
  size_t i;
  json_array_foreach(at(acct, "warnings"), i, w) {
    if (strcmp(json_string_value(at(w, "code")), code) == 0 &&
        strcmp(json_string_value(at(w, "severity")), severity) == 0)
      return true;
  }
  return false;
}

START_TEST(account_spec_vector) {
  json_t *a = account(ACC_A);
  ck_assert_str_eq(str_at(a, "health_factor"), "1.290000000000000000");
  ck_assert_str_eq(str_at(a, "health_factor_wad"), "1290000000000000000");
  ck_assert_str_eq(str_at(a, "total_collateral_base"), "3000000000000");
  ck_assert_str_eq(str_at(a, "total_debt_base"), "2000000000000");
  ck_assert_str_eq(str_at(a, "available_borrows_base"), "400000000000");
  ck_assert_int_eq(json_integer_value(at(a, "current_ltv_bps")), 8000);
  ck_assert_int_eq(json_integer_value(at(a, "current_liquidation_threshold_bps")), 8600);
  ck_assert_int_eq(json_integer_value(at(a, "emode_category")), 0);
  ck_assert(json_is_false(at(a, "isolated")));
  ck_assert_str_eq(str_at(a, "address"), "0x00000000000000000000000000000000000000A1");
  json_t *weth = position(a, "WETH"), *usdc = position(a, "USDC");
  ck_assert_ptr_nonnull(weth);
  ck_assert_ptr_nonnull(usdc);
  ck_assert(json_is_true(at(weth, "collateral")));
  ck_assert(json_is_false(at(usdc, "collateral")));
  ck_assert_str_eq(str_at(weth, "supplied"), "10000000000000000000");
  ck_assert_str_eq(str_at(weth, "supplied_base"), "3000000000000");
  ck_assert_str_eq(str_at(usdc, "borrowed"), "20000000000");
  ck_assert_str_eq(str_at(usdc, "borrowed_human"), "20000.000000");
  ck_assert_ptr_nonnull(str_at(weth, "liquidation_price"));
  ck_assert(json_is_null(at(usdc, "liquidation_price")));
  ck_assert_int_eq(json_array_size(at(a, "warnings")), 0);
  json_decref(a);
}
END_TEST

START_TEST(account_warnings_and_isolation) {
  json_t *d = account(ACC_D);
  ck_assert_str_eq(str_at(d, "health_factor"), "1.032000000000000000");
  ck_assert(has_warning(d, "health_factor_low", "warning"));
  json_decref(d);
  json_t *f = account(ACC_F);
  ck_assert_str_eq(str_at(f, "health_factor"), "0.955555555555555556");
  ck_assert(has_warning(f, "liquidatable", "critical"));
  json_decref(f);
  json_t *e = account(ACC_E);
  ck_assert(json_is_null(at(e, "health_factor")));
  ck_assert_str_eq(str_at(e, "total_debt_base"), "0");
  json_decref(e);
  json_t *c = account(ACC_C);
  ck_assert(json_is_true(at(c, "isolated")));
  ck_assert_str_eq(str_at(c, "isolation.symbol"), "ISO");
  ck_assert_str_eq(str_at(c, "isolation.debt_ceiling"), "100000");
  ck_assert_str_eq(str_at(c, "isolation.isolation_mode_total_debt"), "50000");
  ck_assert_int_eq(json_integer_value(json_object_get(at(c, "isolation"), "debt_ceiling_used_bps")), 5000);
  ck_assert_str_eq(str_at(c, "health_factor"), "12.000000000000000000");
  json_decref(c);
}
END_TEST

START_TEST(account_unknown_and_bad_input) {
  json_t *n = account("0x000000000000000000000000000000000000dEaD");
  ck_assert_int_eq(json_array_size(at(n, "positions")), 0);
  ck_assert(json_is_null(at(n, "health_factor")));
  json_decref(n);
  int st;
  json_t *j = get_json("/v1/accounts/1/0x123", &st);
  ck_assert_int_eq(st, 400);
  ck_assert_str_eq(str_at(j, "code"), "invalid_parameter");
  ck_assert_str_eq(str_at(j, "errors[0].field"), "address");
  ck_assert_str_eq(str_at(j, "errors[0].code"), "invalid_address");
  json_decref(j);
  j = get_json("/v1/accounts/999/" ACC_A, &st);
  ck_assert_int_eq(st, 404);
  ck_assert_str_eq(str_at(j, "code"), "chain_not_found");
  json_decref(j);
  j = get_json("/v1/accounts/abc/" ACC_A, &st);
  ck_assert_int_eq(st, 400);
  ck_assert_str_eq(str_at(j, "code"), "invalid_parameter");
  ck_assert_str_eq(str_at(j, "errors[0].code"), "invalid_chain_id");
  json_decref(j);
}
END_TEST

/* ---- quotes: the spec vectors, liquidation prices ------------------------------------------ */

START_TEST(quote_spec_vectors) {
  json_t *q = quote("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[],"
                    "\"price_overrides\":{\"WETH\":\"300000000000\",\"USDC\":\"100000000\"}}");
  ck_assert_str_eq(str_at(q, "initial.health_factor_wad"), "1290000000000000000");
  ck_assert_str_eq(str_at(q, "final.total_collateral_base"), "3000000000000");
  ck_assert_str_eq(str_at(q, "final.total_debt_base"), "2000000000000");
  ck_assert(json_is_true(at(q, "ok")));
  json_decref(q);
  q = quote("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[],\"price_overrides\":{\"WETH\":\"230000000000\"}}");
  ck_assert_str_eq(str_at(q, "initial.health_factor"), "0.989000000000000000");
  ck_assert_str_eq(str_at(q, "initial.total_collateral_base"), "2300000000000");
  json_decref(q);
}
END_TEST

/* HF >= 1 at the liquidation price, < 1 one unit below. */
static void check_liq_price(const char *addr, const char *symbol) {
  json_t *a = account(addr);
  const char *lp = str_at(position(a, symbol), "liquidation_price");
  ck_assert_ptr_nonnull(lp);
  char p[100], below[100], body[512];
  snprintf(p, sizeof p, "%s", lp);
  dec_minus_one(p, below);
  json_decref(a);
  snprintf(body, sizeof body, "{\"chain\":1,\"account\":\"%s\",\"actions\":[],\"price_overrides\":{\"%s\":\"%s\"}}",
           addr, symbol, p);
  json_t *q = quote(body);
  ck_assert_msg(dec_cmp(str_at(q, "initial.health_factor_wad"), "1000000000000000000") >= 0, "HF %s at %s",
                str_at(q, "initial.health_factor_wad"), p);
  json_decref(q);
  snprintf(body, sizeof body, "{\"chain\":1,\"account\":\"%s\",\"actions\":[],\"price_overrides\":{\"%s\":\"%s\"}}",
           addr, symbol, below);
  q = quote(body);
  ck_assert_msg(dec_cmp(str_at(q, "initial.health_factor_wad"), "1000000000000000000") < 0, "HF %s at %s",
                str_at(q, "initial.health_factor_wad"), below);
  json_decref(q);
}

START_TEST(liquidation_prices) {
  check_liq_price(ACC_A, "WETH");
  /* 20,000 / (10 · 0.86) = 2,325.581395348…: the smallest 8-decimal price with HF >= 1. */
  json_t *a = account(ACC_A);
  ck_assert_str_eq(str_at(position(a, "WETH"), "liquidation_price"), "232558139535");
  json_decref(a);
  check_liq_price(ACC_B, "wstETH");
  check_liq_price(ACC_D, "WETH");
  check_liq_price(ACC_C, "ISO");
}
END_TEST

/* ---- quotes: on-chain errors ----------------------------------------------------------------- */

static void expect_failure(const char *body, long step, const char *error) {
  json_t *q = quote(body);
  ck_assert_msg(json_is_false(at(q, "ok")), "expected %s for %s", error, body);
  ck_assert_str_eq(str_at(q, "failure.error"), error);
  ck_assert_int_eq(json_integer_value(at(at(q, "failure"), "step")), step);
  json_decref(q);
}

START_TEST(quote_onchain_errors) {
  /* BORROW_CAP_EXCEEDED: DAI's borrow cap is 1,000 tokens. */
  expect_failure(
      "{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"WETH\",\"amount\":\"10000000000000000000\"},"
      "{\"type\":\"borrow\",\"asset\":\"DAI\",\"amount\":\"1001000000000000000000\"}]}",
      1, "BORROW_CAP_EXCEEDED");
  /* HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD: A withdraws half its WETH (12,900 < 20,000). */
  expect_failure("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[{\"type\":\"withdraw\",\"asset\":\"WETH\","
                 "\"amount\":\"5000000000000000000\"}]}",
                 0, "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD");
  /* DEBT_CEILING_EXCEEDED: C is isolated on ISO with $500.00 of ceiling left. */
  expect_failure("{\"chain\":1,\"account\":\"" ACC_C "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\","
                 "\"amount\":\"500010000\"}]}",
                 0, "DEBT_CEILING_EXCEEDED");
  /* SILOED_BORROWING_VIOLATION: after borrowing siloed SIL, nothing else may be borrowed. */
  expect_failure(
      "{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"WETH\",\"amount\":\"10000000000000000000\"},"
      "{\"type\":\"borrow\",\"asset\":\"SIL\",\"amount\":\"1000000000000000000\"},"
      "{\"type\":\"borrow\",\"asset\":\"USDC\",\"amount\":\"1\"}]}",
      2, "SILOED_BORROWING_VIOLATION");
  /* INCONSISTENT_EMODE_CATEGORY: A borrows USDC, which is not in eMode 1. */
  expect_failure("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[{\"type\":\"set_emode\",\"category\":1}]}", 0,
                 "INCONSISTENT_EMODE_CATEGORY");
  /* RESERVE_FROZEN: FRZ is frozen. */
  expect_failure("{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"FRZ\",\"amount\":\"1\"}]}", 0,
                 "RESERVE_FROZEN");
  /* COLLATERAL_CANNOT_COVER_NEW_BORROW: A borrows more than its $4,000 of borrowing power. */
  expect_failure("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\","
                 "\"amount\":\"5000000000\"}]}",
                 0, "COLLATERAL_CANNOT_COVER_NEW_BORROW");
  /* ASSET_NOT_BORROWABLE_IN_ISOLATION: C may borrow only borrowable-in-isolation assets. */
  expect_failure("{\"chain\":1,\"account\":\"" ACC_C "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"WETH\","
                 "\"amount\":\"1\"}]}",
                 0, "ASSET_NOT_BORROWABLE_IN_ISOLATION");
}
END_TEST

START_TEST(quote_max_borrow) {
  json_t *q = quote("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\","
                    "\"amount\":\"max\"}]}");
  ck_assert(json_is_true(at(q, "ok")));
  ck_assert_str_eq(str_at(q, "steps[0].amount"), "4000000000");
  ck_assert_str_eq(str_at(q, "steps[0].amount_requested"), "max");
  ck_assert_str_eq(str_at(q, "final.available_borrows_base"), "0");
  json_decref(q);
  q = quote("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\","
            "\"amount\":\"4000000000\"}]}");
  ck_assert(json_is_true(at(q, "ok")));
  json_decref(q);
  /* the requested amount is echoed as sent; the amount applied is the number */
  q = quote("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\","
            "\"amount\":\"0004000000000\"}]}");
  ck_assert(json_is_true(at(q, "ok")));
  ck_assert_str_eq(str_at(q, "steps[0].amount_requested"), "0004000000000");
  ck_assert_str_eq(str_at(q, "steps[0].amount"), "4000000000");
  ck_assert_str_eq(str_at(q, "final.total_debt_base"), "2400000000000");
  json_decref(q);
  q = quote("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\","
            "\"amount\":\"4000000001\"}]}");
  ck_assert(json_is_false(at(q, "ok")));
  ck_assert_str_eq(str_at(q, "failure.error"), "COLLATERAL_CANNOT_COVER_NEW_BORROW");
  ck_assert_str_eq(str_at(q, "failure.max_amount"), "4000000000");
  json_decref(q);
}
END_TEST

START_TEST(quote_emode_entry_exit) {
  json_t *q = quote("{\"chain\":1,\"account\":\"" ACC_B "\",\"actions\":[{\"type\":\"set_emode\",\"category\":1},"
                    "{\"type\":\"set_emode\",\"category\":0}]}");
  ck_assert(json_is_true(at(q, "ok")));
  json_t *s0 = json_object_get(json_array_get(at(q, "steps"), 0), "account");
  json_t *s1 = json_object_get(json_array_get(at(q, "steps"), 1), "account");
  ck_assert_int_eq(json_integer_value(at(s0, "emode_category")), 1);
  ck_assert_int_eq(json_integer_value(at(s0, "current_ltv_bps")), 9000);
  ck_assert_int_eq(json_integer_value(at(s0, "current_liquidation_threshold_bps")), 9300);
  ck_assert_str_eq(str_at(s0, "health_factor"), "2.170000000000000000");
  ck_assert_str_eq(str_at(s0, "emode.label"), "ETH");
  ck_assert_int_eq(json_integer_value(at(s1, "emode_category")), 0);
  ck_assert_int_eq(json_integer_value(at(s1, "current_ltv_bps")), 7000);
  ck_assert_str_eq(str_at(s1, "health_factor"), "1.843333333333333333");
  json_decref(q);
  /* In eMode, borrowing up to the category LTV: 35,000 · 0.9 − 15,000 = 16,500 USD of WETH; the chain
   * floors amount · 3000e8 / 1e18, so the largest amount is fl((1.65e12 + 1) · 1e18 / 3e11 − ε)
   * = 5.5e18 + 3,333,333. */
  q = quote("{\"chain\":1,\"account\":\"" ACC_B "\",\"actions\":[{\"type\":\"set_emode\",\"category\":1},"
            "{\"type\":\"borrow\",\"asset\":\"WETH\",\"amount\":\"max\"}]}");
  ck_assert(json_is_true(at(q, "ok")));
  ck_assert_str_eq(str_at(q, "steps[1].amount"), "5500000000003333333");
  json_decref(q);
}
END_TEST

START_TEST(quote_isolation_debt_ceiling) {
  json_t *q = quote("{\"chain\":1,\"account\":\"" ACC_C "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\","
                    "\"amount\":\"max\"}]}");
  ck_assert(json_is_true(at(q, "ok")));
  ck_assert_str_eq(str_at(q, "steps[0].amount"), "500009999");
  ck_assert_str_eq(str_at(q, "final.isolation.isolation_mode_total_debt"), "100000");
  json_decref(q);
  q = quote("{\"chain\":1,\"account\":\"" ACC_C "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\","
            "\"amount\":\"500009999\"},{\"type\":\"borrow\",\"asset\":\"USDC\",\"amount\":\"10000\"}]}");
  ck_assert(json_is_false(at(q, "ok")));
  ck_assert_str_eq(str_at(q, "failure.error"), "DEBT_CEILING_EXCEEDED");
  ck_assert_int_eq(json_integer_value(at(at(q, "failure"), "step")), 1);
  ck_assert_str_eq(str_at(q, "failure.max_amount"), "9999");
  json_decref(q);
  /* A new isolated account: supply, enable as collateral, borrow within the ceiling. */
  q = quote("{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"ISO\",\"amount\":\"100000000000000000000\"},"
            "{\"type\":\"set_collateral\",\"asset\":\"ISO\",\"enabled\":true},"
            "{\"type\":\"borrow\",\"asset\":\"USDC\",\"amount\":\"100000000\"}]}");
  ck_assert(json_is_true(at(q, "ok")));
  ck_assert(json_is_true(at(at(q, "final"), "isolated")));
  ck_assert_str_eq(str_at(q, "final.isolation.isolation_mode_total_debt"), "60000");
  json_decref(q);
}
END_TEST

START_TEST(quote_rates_after_step) {
  json_t *small = quote("{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"WETH\","
                        "\"amount\":\"100000000000000000000000\"},{\"type\":\"borrow\",\"asset\":\"USDC\","
                        "\"amount\":\"1000000\"}]}");
  json_t *big = quote("{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"WETH\","
                      "\"amount\":\"100000000000000000000000\"},{\"type\":\"borrow\",\"asset\":\"USDC\","
                      "\"amount\":\"200000000000\"}]}");
  const char *u1 = str_at(small, "steps[1].reserves[0].utilization_ray");
  const char *u2 = str_at(big, "steps[1].reserves[0].utilization_ray");
  const char *r1 = str_at(small, "steps[1].reserves[0].variable_borrow_rate_ray");
  const char *r2 = str_at(big, "steps[1].reserves[0].variable_borrow_rate_ray");
  ck_assert_ptr_nonnull(u1);
  ck_assert_ptr_nonnull(u2);
  ck_assert_int_gt(dec_cmp(u2, u1), 0);
  ck_assert_int_gt(dec_cmp(r2, r1), 0);
  /* USDC: D = 1e15 + 1e6 scaled at RAY, L = 1e15 − 1e6: U = rayDiv(D, L + D) = RAY/2 + 5e17 (half up). */
  ck_assert_str_eq(u1, "500000000500000000000000000");
  ck_assert_str_eq(str_at(small, "steps[1].reserves[0].available_liquidity"), "999999999000000");
  json_decref(small);
  json_decref(big);
}
END_TEST

/* ---- quotes: the two body readers agree -------------------------------------------------------- */

/* The answer to body with the member "request_id" removed wherever it is (problem details carry one). */
static char *answer(const char *body, int *status) {
  json_t *j = post_quote(body, status);
  json_object_del(j, "request_id");
  char *d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  return d;
}

/* A quote written with an escaped key ("chain" as "\u0063hain") must get the same status and
 * body as the plain one: any faster reader of the common shape has to agree with service/body.c. */
START_TEST(quote_body_readers_agree) {
  const char *bodies[] = {
      "{\"chain\":1,\"account\":\"" ACC_A
      "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\",\"amount\":\"max\"}]}",
      "{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[{\"type\":\"supply\",\"asset\":\"WETH\","
      "\"amount\":\"1000000000000000000\"},{\"type\":\"borrow\",\"asset\":\"USDC\",\"amount\":\"100000000\"},"
      "{\"type\":\"repay\",\"asset\":\"USDC\",\"amount\":\"max\"}],\"price_overrides\":{\"WETH\":\"230000000000\"}}",
      "{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"ISO\",\"amount\":\"1000000000000000000\"},"
      "{\"type\":\"set_collateral\",\"asset\":\"ISO\",\"enabled\":true},{\"type\":\"set_emode\",\"category\":1},"
      "{\"type\":\"withdraw\",\"asset\":\"ISO\",\"amount\":\"max\"}],\"at\":null}",
      "{\"chain\":1,\"account\":\"" ACC_C
      "\",\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\",\"amount\":\"500010000\"}]}",
      "{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"FRZ\",\"amount\":\"1\"}]}",
      /* bad input: both answer 400 naming the same fields */
      "{\"chain\":1,\"actions\":[{\"type\":\"lend\",\"asset\":\"WETH\",\"amount\":\"1\"}]}",
      "{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"NOPE\",\"amount\":\"1.5\"}]}",
      "{\"chain\":1,\"actions\":[],\"price_overrides\":{\"WETH\":\"0\"}}",
      "{\"chain\":1,\"account\":\"0x12\",\"actions\":[]}",
      "{\"chain\":999,\"actions\":[]}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    const char *key = strstr(bodies[i], "\"chain\"");
    ck_assert_ptr_nonnull(key);
    char general[2048];
    snprintf(general, sizeof general, "%.*s\"\\u0063hain\"%s", (int)(key - bodies[i]), bodies[i], key + 7);
    int st_fast = 0, st_general = 0;
    char *a = answer(bodies[i], &st_fast), *b = answer(general, &st_general);
    ck_assert_msg(st_fast == st_general, "body %zu: status %d vs %d", i, st_fast, st_general);
    ck_assert_msg(strcmp(a, b) == 0, "body %zu:\n%s\nvs\n%s", i, a, b);
    ck_assert_int_ne(st_fast, 500);
    free(a);
    free(b);
  }
}
END_TEST

/* ---- quotes: bad input ------------------------------------------------------------------------ */

static void expect_400(const char *body, const char *field) {
  int st;
  json_t *j = post_quote(body, &st);
  char *dump = json_dumps(j, JSON_COMPACT);
  ck_assert_msg(st == 400, "%s -> %d %s", body, st, dump);
  if (field) {
    bool named = false;
    json_t *e;
    size_t i;
    json_array_foreach(at(j, "errors"), i, e) named |= strcmp(json_string_value(at(e, "field")), field) == 0;
    ck_assert_msg(named, "%s does not name %s: %s", body, field, dump);
  }
  free(dump);
  json_decref(j);
}

/* A price override the engine's base-currency math cannot carry is refused at input, naming the
 * field; the bound itself is accepted; an overflow that input bounds cannot rule out is a 422. */
START_TEST(quote_overflow) {
  /* 2^255: 10 WETH times it does not fit 256 bits */
  expect_400("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[],\"price_overrides\":{\"WETH\":"
             "\"57896044618658097711785492504343953926634992332820282019728792003956564819968\"}}",
             "price_overrides.WETH");
  /* 2^61: one above the bound */
  expect_400("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[],\"price_overrides\":{\"WETH\":"
             "\"2305843009213693952\"}}",
             "price_overrides.WETH");
  /* 2^61 - 1: 10 WETH are worth 23,058,430,092.13693951 * 10 USD */
  json_t *q = quote("{\"chain\":1,\"account\":\"" ACC_A "\",\"actions\":[],\"price_overrides\":{\"WETH\":"
                    "\"2305843009213693951\"}}");
  ck_assert_str_eq(str_at(q, "initial.total_collateral_base"), "23058430092136939510");
  json_decref(q);
  /* the highest price times the largest supply the engine models (2^127 USDC, 6 decimals) still
   * values: floor(2^127 * (2^61 - 1) / 10^6) */
  q = quote("{\"chain\":1,\"actions\":[{\"type\":\"supply\",\"asset\":\"USDC\",\"amount\":"
            "\"170141183460469231731687303715884105728\"}],\"price_overrides\":{\"USDC\":\"2305843009213693951\"}}");
  ck_assert(json_is_true(at(q, "ok")));
  ck_assert_str_eq(str_at(q, "final.total_collateral_base"), "392318858461667547569595655490009919274709911563118");
  json_decref(q);
}
END_TEST

START_TEST(quote_bad_input) {
  expect_400("{\"chain\":1,", NULL);
  expect_400("{\"chain\":1,\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\",\"amount\":\"1.5\"}]}",
             "actions[0].amount");
  expect_400("{\"chain\":1,\"actions\":[{\"type\":\"borrow\",\"asset\":\"USDC\",\"amount\":5}]}", "actions[0].amount");
  expect_400("{\"chain\":1,\"actions\":[{\"type\":\"borrow\",\"asset\":\"NOPE\",\"amount\":\"1\"}]}",
             "actions[0].asset");
  expect_400("{\"chain\":1,\"actions\":[{\"type\":\"flashloan\",\"asset\":\"USDC\",\"amount\":\"1\"}]}",
             "actions[0].type");
  expect_400("{\"chain\":1,\"actions\":[],\"price_overrides\":{\"WETH\":\"0\"}}", "price_overrides.WETH");
  expect_400("{\"chain\":1,\"actions\":[],\"price_overrides\":{\"WETH\":\"-5\"}}", "price_overrides.WETH");
  expect_400("{\"chain\":1,\"account\":\"0x12\",\"actions\":[]}", "account");
  expect_400("{\"chain\":1,\"actions\":[],\"extra\":1}", "extra");
  expect_400("{\"actions\":[]}", "chain");
  char body[4096] = "{\"chain\":1,\"actions\":[";
  for (int i = 0; i < 21; i++)
    strcat(body, i ? ",{\"type\":\"supply\",\"asset\":\"WETH\",\"amount\":\"1\"}"
                   : "{\"type\":\"supply\",\"asset\":\"WETH\",\"amount\":\"1\"}");
  strcat(body, "]}");
  expect_400(body, "actions");
  int st;
  json_t *j = post_quote("{\"chain\":999,\"actions\":[]}", &st);
  ck_assert_int_eq(st, 404);
  ck_assert_str_eq(str_at(j, "code"), "chain_not_found");
  json_decref(j);
  /* Over the configured body limit (16384 in this test). */
  size_t big = 20000;
  char *huge = malloc(big + 1);
  memset(huge, ' ', big);
  memcpy(huge, "{\"chain\":1,\"actions\":[]", 23);
  huge[big - 1] = '}';
  huge[big] = 0;
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, "POST", "/v1/quotes", "Content-Type: application/json\r\n", huge, &r), 0);
  ck_assert_int_eq(r.status, 413);
  th_response_free(&r);
  free(huge);
}
END_TEST

/* One reserve is priced once: a second key that names the same reserve, by another case of its
 * symbol or by its address, is refused naming that key, whichever comes second. */
START_TEST(quote_override_same_reserve) {
  expect_400("{\"chain\":1,\"actions\":[],\"price_overrides\":{\"WETH\":\"300000000000\",\"weth\":\"1\"}}",
             "price_overrides.weth");
  expect_400("{\"chain\":1,\"actions\":[],\"price_overrides\":{\"WETH\":\"300000000000\","
             "\"0x00000000000000000000000000000000A55E7000\":\"1\"}}",
             "price_overrides.0x00000000000000000000000000000000A55E7000");
  expect_400("{\"chain\":1,\"actions\":[],\"price_overrides\":{\"0x00000000000000000000000000000000a55e7000\":"
             "\"1\",\"WETH\":\"300000000000\"}}",
             "price_overrides.WETH");
  /* two different reserves are two overrides */
  json_t *q = quote("{\"chain\":1,\"actions\":[],\"price_overrides\":{\"WETH\":\"300000000000\","
                    "\"usdc\":\"100000000\"}}");
  ck_assert(json_is_true(at(q, "ok")));
  json_decref(q);
}
END_TEST

/* `at` is unix seconds not before the block: a negative one is refused naming it, not taken as
 * "the block's time", and so is one before the block. */
START_TEST(quote_at_bounds) {
  expect_400("{\"chain\":1,\"actions\":[],\"at\":-1}", "at");
  expect_400("{\"chain\":1,\"actions\":[],\"at\":-1730000000}", "at");
  expect_400("{\"chain\":1,\"actions\":[],\"at\":0}", "at");
  expect_400("{\"chain\":1,\"actions\":[],\"at\":1729999999}", "at");
  json_t *q = quote("{\"chain\":1,\"actions\":[],\"at\":1730000000}");
  ck_assert_int_eq(json_integer_value(json_object_get(at(q, "as_of"), "evaluated_at")), 1730000000);
  json_decref(q);
}
END_TEST

/* ---- listing ------------------------------------------------------------------------------------ */

static const char *const all_order[] = {ACC_F, ACC_D, ACC_A, ACC_B, ACC_C, ACC_E};

static void expect_list(const char *query, const char *const *want, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "/v1/accounts/1%s", query);
  int st;
  json_t *j = get_json(path, &st);
  ck_assert_int_eq(st, 200);
  json_t *data = at(j, "data");
  ck_assert_msg(json_array_size(data) == n, "%s: %zu rows, want %zu", query, json_array_size(data), n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(strcasecmp(str_at(json_array_get(data, i), "address"), want[i]) == 0, "%s row %zu: %s", query, i,
                  str_at(json_array_get(data, i), "address"));
  json_decref(j);
}

/* Pages through the list with limit=1; returns the number of rows seen (they must be all_order). */
static void paginate_all(void) {
  char path[1024] = "/v1/accounts/1?limit=1";
  for (size_t i = 0; i <= 6; i++) {
    int st;
    json_t *j = get_json(path, &st);
    ck_assert_int_eq(st, 200);
    json_t *data = at(j, "data");
    if (i == 6) {
      ck_assert_int_eq(json_array_size(data), 0);
      json_decref(j);
      break;
    }
    ck_assert_int_eq(json_array_size(data), 1);
    ck_assert_msg(strcasecmp(str_at(json_array_get(data, 0), "address"), all_order[i]) == 0, "page %zu: %s", i,
                  str_at(json_array_get(data, 0), "address"));
    const char *cur = str_at(j, "next_cursor");
    if (i < 5) ck_assert_ptr_nonnull(cur);
    if (!cur) {
      ck_assert_int_eq(i, 5);
      json_decref(j);
      break;
    }
    snprintf(path, sizeof path, "/v1/accounts/1?limit=1&cursor=%s", cur);
    json_decref(j);
  }
}

START_TEST(listing_order_filters_pages) {
  expect_list("", all_order, 6);
  const char *const low[] = {ACC_F, ACC_D};
  expect_list("?max_health_factor=1.1", low, 2);
  const char *const le129[] = {ACC_F, ACC_D, ACC_A};
  expect_list("?max_health_factor=1.29", le129, 3);
  const char *const debt[] = {ACC_A, ACC_B};
  expect_list("?min_debt_usd=10000", debt, 2);
  const char *const weth[] = {ACC_F, ACC_D, ACC_A};
  expect_list("?collateral=WETH", weth, 3);
  const char *const usdc[] = {ACC_F, ACC_A, ACC_C};
  expect_list("?debt=usdc", usdc, 3);
  const char *const both[] = {ACC_F, ACC_A};
  expect_list("?debt=USDC&collateral=0x00000000000000000000000000000000A55E7000", both, 2);
  paginate_all();
  int st;
  json_t *j = get_json("/v1/accounts/1?limit=0", &st);
  ck_assert_int_eq(st, 400);
  ck_assert_str_eq(str_at(j, "errors[0].field"), "limit");
  json_decref(j);
  j = get_json("/v1/accounts/1?cursor=zz", &st);
  ck_assert_int_eq(st, 400);
  json_decref(j);
  j = get_json("/v1/accounts/1?max_health_factor=abc", &st);
  ck_assert_int_eq(st, 400);
  json_decref(j);
  j = get_json("/v1/accounts/1?collateral=NOPE", &st);
  ck_assert_int_eq(st, 400);
  json_decref(j);
  j = get_json("/v1/accounts/77", &st);
  ck_assert_int_eq(st, 404);
  json_decref(j);
}
END_TEST

/* Imports of later blocks (same accounts and prices, zero rates: the same health factors) run
 * while the list is paged: every pass sees all accounts once, in order. */
START_TEST(listing_pages_during_import) {
  json_error_t e;
  json_t *snap = json_load_file(FIXTURE, 0, &e);
  ck_assert_ptr_nonnull(snap);
  char files[8][64];
  for (int i = 0; i < 8; i++) {
    json_t *blk = json_object_get(snap, "block");
    char hash[67];
    snprintf(hash, sizeof hash, "0x%064x", 21000001 + i);
    json_object_set_new(blk, "number", json_integer(21000001 + i));
    json_object_set_new(blk, "hash", json_string(hash));
    json_object_set_new(blk, "timestamp", json_integer(1730000012 + 12 * i));
    snprintf(files[i], sizeof files[i], "/tmp/check_accounts_%d_%d.json", (int)getpid(), i);
    ck_assert_int_eq(json_dump_file(snap, files[i], 0), 0);
  }
  json_decref(snap);
  fflush(stdout);
  fflush(stderr);
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < 8; i++)
      if (run_import(files[i]) != 0) _exit(1);
    _exit(0);
  }
  int passes = 0, st = 0;
  for (;;) {
    paginate_all();
    passes++;
    if (waitpid(child, &st, WNOHANG) == child) break;
  }
  paginate_all();
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert_int_gt(passes, 0);
  /* The last import reaches the state cache (rebuilt on NOTIFY) shortly. */
  json_int_t block = 0;
  for (int i = 0; i < 100 && block != 21000008; i++) {
    int status;
    json_t *j = get_json("/v1/accounts/1?limit=1", &status);
    block = json_integer_value(at(at(j, "as_of"), "block_number"));
    json_decref(j);
    if (block != 21000008) sleep_ms(50);
  }
  ck_assert_int_eq(block, 21000008);
  for (int i = 0; i < 8; i++)
    unlink(files[i]);
}
END_TEST

/* A later block changes account A (12 WETH instead of 10: its totals change, so does its row),
 * gives account E a non-collateral WETH supply (no debt, same totals: its account row stays as
 * it was, only positions change) and adds account A7 (1 WETH). Lookups running while it is
 * imported see the old state or the new one, never one block's positions beside another block's
 * market. With accounts in the state cache both are read in one transaction; from the database,
 * a lookup while the database is at another block than the served market answers 503
 * state_updating (and must be retried). */
#define ACC_A7 "0x00000000000000000000000000000000000000a7"

/* One lookup of addr while the import runs: returns -1 for a 503 state_updating (database path
 * only), else whether it showed the new block; asserts that WETH supplied is old_weth (NULL: no
 * WETH position) at the old block and new_weth at the new one. */
static int observe(const char *addr, const char *old_weth, const char *new_weth) {
  char path[96];
  snprintf(path, sizeof path, "/v1/accounts/1/%s", addr);
  int status;
  json_t *j = get_json(path, &status);
  if (status == 503 && !accounts_in_cache) {
    ck_assert_str_eq(json_string_value(at(j, "code")), "state_updating");
    json_decref(j);
    return -1;
  }
  ck_assert_int_eq(status, 200);
  json_int_t block = json_integer_value(at(at(j, "as_of"), "block_number"));
  json_t *p = position(j, "WETH");
  const char *weth = p ? json_string_value(at(p, "supplied")) : NULL;
  bool is_new = block == 21000100;
  const char *want = is_new ? new_weth : old_weth;
  ck_assert_msg(want ? weth && strcmp(weth, want) == 0 : weth == NULL, "%s at block %lld supplies %s WETH, not %s",
                addr, (long long)block, weth ? weth : "no", want ? want : "none");
  json_decref(j);
  return is_new;
}

START_TEST(account_follows_import) {
  json_error_t e;
  json_t *snap = json_load_file(FIXTURE, 0, &e);
  ck_assert_ptr_nonnull(snap);
  json_t *blk = json_object_get(snap, "block");
  json_object_set_new(blk, "number", json_integer(21000100));
  json_object_set_new(blk, "hash", json_string("0x000000000000000000000000000000000000000000000000000000000140f464"));
  json_object_set_new(blk, "timestamp", json_integer(1730001200));
  json_t *accts = json_object_get(snap, "accounts"), *acct;
  size_t i;
  json_array_foreach(accts, i, acct) {
    const char *addr = json_string_value(json_object_get(acct, "address"));
    json_t *positions = json_object_get(acct, "positions");
    if (strcmp(addr, ACC_A) == 0)
      json_object_set_new(json_array_get(positions, 0), "scaled_a_token_balance", json_string("12000000000000000000"));
    if (strcmp(addr, ACC_E) == 0)
      json_array_append_new(positions, json_pack("{s:s, s:s, s:s, s:b}", "asset",
                                                 "0x00000000000000000000000000000000a55e7000", "scaled_a_token_balance",
                                                 "2000000000000000000", "scaled_variable_debt", "0", "collateral", 0));
  }
  json_t *a7 = json_pack("{s:s, s:i, s:[{s:s, s:s, s:s, s:b}]}", "address", ACC_A7, "emode_category", 0, "positions",
                         "asset", "0x00000000000000000000000000000000a55e7000", "scaled_a_token_balance",
                         "1000000000000000000", "scaled_variable_debt", "0", "collateral", 1);
  json_array_append_new(accts, a7);
  char file[64];
  snprintf(file, sizeof file, "/tmp/check_accounts_follow_%d.json", (int)getpid());
  ck_assert_int_eq(json_dump_file(snap, file, 0), 0);
  json_decref(snap);
  fflush(stdout);
  fflush(stderr);
  pid_t child = fork();
  if (child == 0) _exit(run_import(file) == 0 ? 0 : 1);
  int st = 0, seen_new = 0, updating = 0;
  bool done = false;
  for (int round = 0; round < 400 && seen_new < 3; round++) {
    if (!done && waitpid(child, &st, WNOHANG) == child) done = true;
    int a = observe(ACC_A, "10000000000000000000", "12000000000000000000");
    int e5 = observe(ACC_E, NULL, "2000000000000000000");
    updating += (a < 0) + (e5 < 0);
    if (a == 1 && e5 == 1)
      seen_new++;
    else
      sleep_ms(a < 0 || e5 < 0 ? 5 : 25);
  }
  if (!done) ck_assert_int_eq(waitpid(child, &st, 0), child);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert_msg(seen_new == 3, "accounts A and E never showed block 21000100 with their new positions");
  if (updating) printf("account_follows_import: %d lookups answered 503 state_updating\n", updating);
  json_t *j = account(ACC_A7);
  ck_assert_str_eq(json_string_value(at(position(j, "WETH"), "supplied")), "1000000000000000000");
  json_decref(j);
  unlink(file);
}
END_TEST

/* The window between an import's commit and the cache rebuild its NOTIFY asks for, held open: the
 * rows and the chain's block are changed by SQL here with no NOTIFY (A: 15 WETH, E: a
 * non-collateral 3 WETH supply, the chain at block 21000200), so the database is at a block the
 * served market is not. With accounts in the cache lookups show the old state, from the database
 * they answer 503 state_updating, every time. After `NOTIFY sparkd_state` both show the new
 * state. (The test before this one imports for real, but its window is as short as a rebuild.) */
START_TEST(account_between_commit_and_rebuild) {
  char err[256];
  db_conn *c = db_conn_open(dburl, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  int64_t block0 = 0;
  {
    json_t *j = account(ACC_A);
    block0 = json_integer_value(at(at(j, "as_of"), "block_number"));
    json_decref(j);
  }
  ck_assert_int_lt(block0, 21000200);
  ck_assert(db_exec(c, "BEGIN;"
                       " UPDATE positions SET scaled_a_token_balance = 15000000000000000000 WHERE chain_id = 1"
                       "   AND account = '" ACC_A "' AND asset = '0x00000000000000000000000000000000a55e7000';"
                       " DELETE FROM positions WHERE chain_id = 1 AND account = '" ACC_E "'"
                       "   AND asset = '0x00000000000000000000000000000000a55e7000';"
                       " INSERT INTO positions (chain_id, account, asset, scaled_a_token_balance, scaled_variable_debt,"
                       "   collateral) VALUES (1, '" ACC_E "', '0x00000000000000000000000000000000a55e7000',"
                       "   3000000000000000000, 0, false);"
                       " INSERT INTO chain_blocks (chain_id, block_number, block_hash, block_timestamp) VALUES (1,"
                       "   21000200, '0x000000000000000000000000000000000000000000000000000000000140f4c8', 1730002400);"
                       " UPDATE chains SET block_number = 21000200, block_timestamp = 1730002400,"
                       "   block_hash = '0x000000000000000000000000000000000000000000000000000000000140f4c8'"
                       "   WHERE chain_id = 1;"
                       " COMMIT") == DB_OK);
  for (int round = 0; round < 10; round++) {
    for (int k = 0; k < 2; k++) {
      char path[96];
      snprintf(path, sizeof path, "/v1/accounts/1/%s", k ? ACC_E : ACC_A);
      int status;
      json_t *j = get_json(path, &status);
      if (accounts_in_cache) {
        ck_assert_int_eq(status, 200);
        ck_assert_int_eq(json_integer_value(at(at(j, "as_of"), "block_number")), block0);
        json_t *p = position(j, "WETH");
        const char *weth = p ? json_string_value(at(p, "supplied")) : NULL;
        if (k == 0) ck_assert_msg(weth && strcmp(weth, "15000000000000000000") != 0, "A shows the new WETH early");
        if (k == 1) ck_assert_msg(!weth || strcmp(weth, "3000000000000000000") != 0, "E shows the new WETH early");
      } else {
        ck_assert_int_eq(status, 503);
        ck_assert_str_eq(json_string_value(at(j, "code")), "state_updating");
      }
      json_decref(j);
    }
  }
  ck_assert(db_exec(c, "NOTIFY sparkd_state") == DB_OK);
  db_conn_close(c);
  bool done = false;
  for (int i = 0; i < 200 && !done; i++) {
    int sa, se;
    json_t *a = get_json("/v1/accounts/1/" ACC_A, &sa), *e5 = get_json("/v1/accounts/1/" ACC_E, &se);
    if (sa == 200 && se == 200 && json_integer_value(at(at(a, "as_of"), "block_number")) == 21000200) {
      ck_assert_int_eq(json_integer_value(at(at(e5, "as_of"), "block_number")), 21000200);
      ck_assert_str_eq(json_string_value(at(position(a, "WETH"), "supplied")), "15000000000000000000");
      ck_assert_str_eq(json_string_value(at(position(e5, "WETH"), "supplied")), "3000000000000000000");
      done = true;
    }
    json_decref(a);
    json_decref(e5);
    if (!done) sleep_ms(25);
  }
  ck_assert_msg(done, "the rebuild after NOTIFY never served block 21000200");
}
END_TEST

static TCase *api_tcase(const char *name, void (*setup)(void)) {
  TCase *tc = tcase_create(name);
  tcase_set_timeout(tc, 120);
  tcase_add_unchecked_fixture(tc, setup, teardown_all);
  tcase_add_test(tc, account_spec_vector);
  tcase_add_test(tc, account_warnings_and_isolation);
  tcase_add_test(tc, account_unknown_and_bad_input);
  tcase_add_test(tc, quote_spec_vectors);
  tcase_add_test(tc, liquidation_prices);
  tcase_add_test(tc, quote_onchain_errors);
  tcase_add_test(tc, quote_max_borrow);
  tcase_add_test(tc, quote_emode_entry_exit);
  tcase_add_test(tc, quote_isolation_debt_ceiling);
  tcase_add_test(tc, quote_rates_after_step);
  tcase_add_test(tc, quote_bad_input);
  tcase_add_test(tc, quote_overflow);
  tcase_add_test(tc, quote_override_same_reserve);
  tcase_add_test(tc, quote_at_bounds);
  tcase_add_test(tc, quote_body_readers_agree);
  tcase_add_test(tc, listing_order_filters_pages);
  tcase_add_test(tc, listing_pages_during_import);
  tcase_add_test(tc, account_follows_import);
  tcase_add_test(tc, account_between_commit_and_rebuild);
  return tc;
}

static Suite *suite(void) {
  Suite *s = suite_create("accounts");
  suite_add_tcase(s, api_tcase("accounts_in_cache", setup_cached));
  suite_add_tcase(s, api_tcase("accounts_from_database", setup_database));
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
