/* ctest-label: api */
/* The ops overview routes through the real sparkd against a private PostgreSQL:
 *
 * GET /v1/risk/{chain}/health-factor-histogram on the demo data set (400 accounts, 2 days): every
 * bucket's account count, debt and collateral must equal a bucketing done here in SQL numeric of
 * health factors computed from the stored positions, reserves, prices and eMode categories (spec
 * protocol-math §2.5, as tests/check_api_watchlist.c does), accounts without debt apart; with the
 * default edges and with custom ones; then after a prices-only block (WETH -20%) that writes no
 * account row, so only health factors computed at the served block can follow it.
 *
 * GET /v1/risk/partner-ltv with positions of two partners: an ops (or admin) key sees both
 * partners, each position once in (partner, position) order over pages of any size, with the
 * state, LTV and sequence of the partner's own record (GET /v1/partner/positions/{id}/ltv), the
 * per-partner counts equal to a count over those records, and nothing of the attestation or the
 * signature. Scopes: no key 401, a partner key 403. Bad limit or cursor: 400 naming the field. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "support/demotest.h"
#include "support/httptest.h"
#include "support/pgtest.h"
#include "util/cursor.h"

#define WETH "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
#define USDC "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
#define U256_MAX_DEC "115792089237316195423570985008687907853269984665640564039457584007913129639935"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;
static char demo_file[128], price_file[128];
static char key_ops[64], key_admin[64], key_alpha[64], key_beta[64];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* One request; key and body may be NULL. Returns the status, the body parsed into *out (may be NULL). */
static int call(const char *method, const char *path, const char *key, const char *extra, const char *body,
                json_t **out) {
  char h[512] = "";
  size_t n = 0;
  if (key) n += (size_t)snprintf(h + n, sizeof h - n, "Authorization: Bearer %s\r\n", key);
  if (extra) n += (size_t)snprintf(h + n, sizeof h - n, "%s", extra);
  if (body) snprintf(h + n, sizeof h - n, "Content-Type: application/json\r\n");
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, method, path, h, body, &r), 0);
  int status = r.status;
  if (out) {
    json_error_t e;
    *out = json_loads(r.body, 0, &e);
    ck_assert_msg(*out != NULL, "%s %s: not json: %s", method, path, r.body);
  }
  th_response_free(&r);
  return status;
}

/* The 400's errors name field. */
static void ck_400_field(const char *path, const char *key, const char *field) {
  json_t *j;
  int st = call("GET", path, key, NULL, NULL, &j);
  char *d = json_dumps(j, JSON_COMPACT);
  ck_assert_msg(st == 400, "%s: %d %s", path, st, d);
  ck_assert_str_eq(json_string_value(json_object_get(j, "code")), "bad_query_parameter");
  json_t *errs = json_object_get(j, "errors"), *e;
  size_t i;
  bool found = false;
  json_array_foreach(errs, i, e) found |= strcmp(json_string_value(json_object_get(e, "field")), field) == 0;
  ck_assert_msg(found, "%s: errors do not name %s: %s", path, field, d);
  free(d);
  json_decref(j);
}

static void setup(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "ops", NULL, key_ops, sizeof key_ops), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "admin", NULL, key_admin, sizeof key_admin), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "partner", "alpha", key_alpha, sizeof key_alpha), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "partner", "beta", key_beta, sizeof key_beta), 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  snprintf(demo_file, sizeof demo_file, "/tmp/check_opsview_%d.ndjson", (int)getpid());
  snprintf(price_file, sizeof price_file, "/tmp/check_opsview_%d_prices.json", (int)getpid());
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' demo-data --accounts 400 --days 2 > '%s'", SPARKD_BINARY, demo_file);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_int_eq(th_sparkd_import(dburl, demo_file), 0);
}

static void teardown(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
  unlink(demo_file);
  unlink(price_file);
}

/* ---- the health-factor histogram ---- */

/* Per bucket (-1: no debt; else how many edges the health factor is at or above): accounts, debt
 * and collateral (8-decimal USD), from health factors computed in SQL numeric. $1: the edges as
 * WAD integers. */
static const char ref_sql[] = TH_HF_SQL_CTE
    ","
    " b AS (SELECT CASE WHEN d = 0 THEN -1 ELSE (SELECT count(*) FROM unnest($1::numeric[]) x WHERE hf >= x)"
    "   END AS bucket, c, d FROM h)"
    " SELECT bucket::text, count(*)::text, sum(d)::text, sum(c)::text FROM b GROUP BY bucket ORDER BY bucket";

struct bucket {
  long long accounts;
  char debt[90], coll[90];
};
#define MAX_B 70

static db_status ref_row(const db_row *row, void *arg) {
  struct bucket *b = arg; /* b[0]: no debt; b[1 + i]: bucket i */
  long k = strtol(db_row_text(row, 0), NULL, 10);
  ck_assert(k >= -1 && k < MAX_B - 1);
  struct bucket *x = &b[k + 1];
  x->accounts = strtoll(db_row_text(row, 1), NULL, 10);
  snprintf(x->debt, sizeof x->debt, "%s", db_row_text(row, 2));
  snprintf(x->coll, sizeof x->coll, "%s", db_row_text(row, 3));
  return DB_OK;
}

static long long sql_count(const char *sql) {
  char err[256];
  db_conn *c = db_conn_open(dburl, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  long long n = -1;
  struct db_col col[] = {{"n", DB_COL_INT64, &n, 0, NULL}};
  ck_assert(db_query_one_params(c, sql, 0, NULL, col, 1) == DB_OK);
  db_conn_close(c);
  return n;
}

/* Compares the served histogram with edges `query` ("" = the default) to the SQL bucketing over
 * edges_wad ("{1000000000000000000,...}"), at block want. Returns the number of accounts below 1
 * (bucket 0 when the first edge is 1). */
static long long compare_hist(const char *query, const char *edges_wad, size_t n_edges, int64_t want) {
  struct bucket ref[MAX_B];
  memset(ref, 0, sizeof ref);
  for (size_t i = 0; i < MAX_B; i++)
    snprintf(ref[i].debt, sizeof ref[i].debt, "0"), snprintf(ref[i].coll, sizeof ref[i].coll, "0");
  char err[256];
  db_conn *c = db_conn_open(dburl, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  const char *p[] = {edges_wad};
  ck_assert(db_query_params(c, ref_sql, 1, p, ref_row, ref, NULL) == DB_OK);
  db_conn_close(c);

  char path[2048];
  snprintf(path, sizeof path, "/v1/risk/1/health-factor-histogram%s%s", query[0] ? "?edges=" : "", query);
  json_t *j;
  int st = call("GET", path, key_ops, NULL, NULL, &j);
  ck_assert_msg(st == 200, "%s: %d", path, st);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")), want);
  json_t *buckets = json_object_get(j, "buckets");
  ck_assert_uint_eq(json_array_size(json_object_get(j, "edges")), n_edges);
  ck_assert_uint_eq(json_array_size(buckets), n_edges + 1);
  long long total = 0;
  for (size_t i = 0; i <= n_edges; i++) {
    json_t *b = json_array_get(buckets, i);
    const struct bucket *r = &ref[i + 1];
    ck_assert_msg(json_integer_value(json_object_get(b, "accounts")) == r->accounts, "%s bucket %zu: %lld, want %lld",
                  path, i, (long long)json_integer_value(json_object_get(b, "accounts")), r->accounts);
    ck_assert_str_eq(json_string_value(json_object_get(b, "total_debt_base")), r->debt);
    ck_assert_str_eq(json_string_value(json_object_get(b, "total_collateral_base")), r->coll);
    ck_assert(json_is_null(json_object_get(b, "min_health_factor")) == (i == 0));
    ck_assert(json_is_null(json_object_get(b, "max_health_factor")) == (i == n_edges));
    total += r->accounts;
  }
  json_t *nd = json_object_get(j, "no_debt");
  ck_assert_int_eq(json_integer_value(json_object_get(nd, "accounts")), ref[0].accounts);
  ck_assert_str_eq(json_string_value(json_object_get(nd, "total_collateral_base")), ref[0].coll);
  total += ref[0].accounts;
  /* every account is in one bucket: the demo data prices every reserve */
  ck_assert_int_eq(json_integer_value(json_object_get(j, "not_evaluated")), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "accounts")), total);
  ck_assert_int_eq(total, sql_count("SELECT count(*) AS n FROM accounts WHERE chain_id = 1"));
  long long below = ref[1].accounts;
  json_decref(j);
  return below;
}

static int64_t served_block(void) {
  json_t *j;
  int st = call("GET", "/v1/risk/1/health-factor-histogram", key_ops, NULL, NULL, &j);
  int64_t b = st == 200 ? json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")) : 0;
  json_decref(j);
  return b;
}

static void wait_block(int64_t want) {
  for (int i = 0; i < 400 && served_block() != want; i++)
    sleep_ms(50);
  ck_assert_int_eq(served_block(), want);
}

#define DEFAULT_WAD                                                                                                    \
  "{1000000000000000000,1050000000000000000,1100000000000000000,1250000000000000000,1500000000000000000,"              \
  "2000000000000000000,3000000000000000000,5000000000000000000,10000000000000000000}"

START_TEST(histogram_equals_sql) {
  json_t *snap = th_last_snapshot(demo_file);
  ck_assert_ptr_nonnull(snap);
  int64_t block = json_integer_value(json_object_get(json_object_get(snap, "block"), "number"));
  wait_block(block);

  /* scopes: ops and admin keys only */
  ck_assert_int_eq(call("GET", "/v1/risk/1/health-factor-histogram", NULL, NULL, NULL, NULL), 401);
  ck_assert_int_eq(call("GET", "/v1/risk/1/health-factor-histogram", key_alpha, NULL, NULL, NULL), 403);
  ck_assert_int_eq(call("GET", "/v1/risk/1/health-factor-histogram", key_admin, NULL, NULL, NULL), 200);
  ck_assert_int_eq(call("GET", "/v1/risk/999/health-factor-histogram", key_ops, NULL, NULL, NULL), 404);
  /* bad edges name the parameter */
  ck_400_field("/v1/risk/1/health-factor-histogram?edges=1,0.5", key_ops, "edges");
  ck_400_field("/v1/risk/1/health-factor-histogram?edges=1,1", key_ops, "edges");
  ck_400_field("/v1/risk/1/health-factor-histogram?edges=0", key_ops, "edges");
  ck_400_field("/v1/risk/1/health-factor-histogram?edges=abc", key_ops, "edges");
  ck_400_field("/v1/risk/1/health-factor-histogram?edges=1.0000000000000000001", key_ops, "edges");
  ck_400_field("/v1/risk/1/health-factor-histogram?edges=", key_ops, "edges");
  ck_400_field("/v1/risk/1/health-factor-histogram?edges=1,", key_ops, "edges");
  char many[1024] = "/v1/risk/1/health-factor-histogram?edges=1";
  for (int i = 2; i <= 65; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), ",%d", i);
  ck_400_field(many, key_ops, "edges");
  many[strlen(many) - 3] = 0; /* 64 edges are allowed */
  ck_assert_int_eq(call("GET", many, key_ops, NULL, NULL, NULL), 200);

  long long below = compare_hist("", DEFAULT_WAD, 9, block);
  compare_hist("0.5,0.999999999999999999,1.2,1000",
               "{500000000000000000,999999999999999999,1200000000000000000,"
               "1000000000000000000000}",
               4, block);
  compare_hist("1.5", "{1500000000000000000}", 1, block);
  /* an edge exactly at an account's health factor: that account is at or above it (upper bucket) */
  json_t *wl;
  ck_assert_int_eq(call("GET", "/v1/accounts/1?limit=1", NULL, NULL, NULL, &wl), 200);
  const char *hf = json_string_value(json_object_get(json_array_get(json_object_get(wl, "data"), 0), "health_factor"));
  ck_assert_ptr_nonnull(hf);
  char wad[64] = "{", *o = wad + 1;
  for (const char *c = hf; *c; c++)
    if (*c != '.' && (o > wad + 1 || *c != '0')) *o++ = *c;
  if (o == wad + 1) *o++ = '0';
  snprintf(o, sizeof wad - (size_t)(o - wad), "}");
  if (strcmp(wad, "{0}") != 0) {
    ck_assert_int_eq(compare_hist(hf, wad, 1, block), 0); /* the lowest health factor: none below it */
  }
  json_decref(wl);

  /* A prices-only block at the same timestamp, WETH 20% down: no account row is written, so the
   * database's stored health factors stay as they were; the histogram must follow the prices. */
  ck_assert_int_eq(th_write_price_move(snap, WETH, 4, 5, block + 1, price_file), 0);
  json_decref(snap);
  ck_assert_int_eq(th_sparkd_import(dburl, price_file), 0);
  wait_block(block + 1);
  long long after = compare_hist("", DEFAULT_WAD, 9, block + 1);
  ck_assert_msg(after > below, "WETH -20%% should make more accounts liquidatable (%lld, then %lld)", below, after);
}
END_TEST

/* ---- partner LTV across partners ---- */

/* Creates a position of the key's partner: 100 WETH (10% haircut) against `usdc` USDC; returns its id. */
static long long create_position(const char *key, const char *ext, const char *usdc) {
  char body[2048], h[256];
  snprintf(body, sizeof body,
           "{\"external_id\":\"%s\",\"borrower\":\"fund-%s\",\"custodian\":\"anchorage\","
           "\"collateral\":[{\"chain_id\":1,\"asset\":\"" WETH "\",\"amount\":\"100000000000000000000\","
           "\"haircut_bps\":1000}],"
           "\"debt\":{\"chain_id\":1,\"asset\":\"" USDC "\",\"principal\":\"%s000000\",\"apr_bps\":500,"
           "\"accrual_start\":\"2026-04-01T00:00:00Z\"},"
           "\"thresholds\":{\"warning_bps\":6500,\"margin_call_bps\":7000,\"liquidation_bps\":8000,"
           "\"return_to_bps\":6000},\"cure_period_seconds\":259200,\"max_price_staleness_seconds\":31536000}",
           ext, ext, usdc);
  snprintf(h, sizeof h, "Idempotency-Key: create-%s\r\n", ext);
  json_t *j;
  int st = call("POST", "/v1/partner/positions", key, h, body, &j);
  ck_assert_msg(st == 201, "create %s: %d", ext, st);
  long long id = json_integer_value(json_object_get(j, "id"));
  json_decref(j);
  ck_assert_int_gt(id, 0);
  return id;
}

/* The partner's own record of position id (waiting for the worker's first one). */
static json_t *own_record(const char *key, long long id) {
  char path[96];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", id);
  for (int i = 0; i < 300; i++) {
    json_t *j;
    if (call("GET", path, key, NULL, NULL, &j) == 200) return j;
    json_decref(j);
    sleep_ms(100);
  }
  ck_abort_msg("no ltv record for position %lld", id);
  return NULL;
}

struct want {
  long long id, partner_id;
  const char *partner, *key, *ext;
  json_t *rec;
};

START_TEST(partner_ltv_across_partners) {
  ck_assert_int_gt(served_block(), 0); /* the chain is loaded: prices for the records */
  /* alpha, beta, alpha: (partner, position) order differs from position order */
  struct want w[3] = {{0, 0, "alpha", key_alpha, "a-healthy", NULL},
                      {0, 0, "beta", key_beta, "b-one", NULL},
                      {0, 0, "alpha", key_alpha, "a-stressed", NULL}};
  w[0].id = create_position(key_alpha, w[0].ext, "50000");
  w[1].id = create_position(key_beta, w[1].ext, "120000");
  w[2].id = create_position(key_alpha, w[2].ext, "300000");
  /* The worker recomputes a position after its write (and the first read may compute one
   * itself): wait until every record has stayed at the same sequence for a second. */
  for (int round = 0;; round++) {
    ck_assert_int_lt(round, 30);
    bool same = true;
    for (int i = 0; i < 3; i++) {
      json_t *r = own_record(w[i].key, w[i].id);
      same &= w[i].rec && json_integer_value(json_object_get(r, "sequence")) ==
                              json_integer_value(json_object_get(w[i].rec, "sequence"));
      json_decref(w[i].rec);
      w[i].rec = r;
    }
    if (same && round) break;
    sleep_ms(1000);
  }

  /* scopes */
  ck_assert_int_eq(call("GET", "/v1/risk/partner-ltv", NULL, NULL, NULL, NULL), 401);
  ck_assert_int_eq(call("GET", "/v1/risk/partner-ltv", key_alpha, NULL, NULL, NULL), 403);
  ck_assert_int_eq(call("GET", "/v1/risk/partner-ltv", key_beta, NULL, NULL, NULL), 403);
  ck_assert_int_eq(call("GET", "/v1/risk/partner-ltv", key_admin, NULL, NULL, NULL), 200);
  /* bad input names the field */
  ck_400_field("/v1/risk/partner-ltv?limit=0", key_ops, "limit");
  ck_400_field("/v1/risk/partner-ltv?limit=501", key_ops, "limit");
  ck_400_field("/v1/risk/partner-ltv?limit=ten", key_ops, "limit");
  ck_400_field("/v1/risk/partner-ltv?cursor=zz", key_ops, "cursor");
  char other[64];
  util_cursor_make('o', w[0].id, other); /* a cursor of another list */
  char path[256];
  snprintf(path, sizeof path, "/v1/risk/partner-ltv?cursor=%s", other);
  ck_400_field(path, key_ops, "cursor");

  /* expected order: alpha's positions by id, then beta's (alpha's key was made first) */
  const struct want *order[3] = {&w[0], &w[2], &w[1]};
  static const int limits[] = {500, 2, 1};
  for (size_t l = 0; l < 3; l++) {
    char cursor[128] = "";
    size_t seen = 0;
    for (int page = 0; page < 10; page++) {
      snprintf(path, sizeof path, "/v1/risk/partner-ltv?limit=%d%s%s", limits[l], cursor[0] ? "&cursor=" : "", cursor);
      json_t *j;
      ck_assert_int_eq(call("GET", path, key_ops, NULL, NULL, &j), 200);
      char *text = json_dumps(j, JSON_COMPACT);
      /* nothing of the attestation, the collateral lines or the signature */
      ck_assert_msg(!strstr(text, "signature") && !strstr(text, "\"collateral\"") &&
                        !strstr(text, "custodian_reference"),
                    "%s", text);
      ck_assert_msg(!strstr(text, key_alpha) && !strstr(text, key_beta), "a key in the body");
      free(text);
      /* the counts: every partner, every page */
      json_t *partners = json_object_get(j, "partners");
      ck_assert_uint_eq(json_array_size(partners), 2);
      for (size_t k = 0; k < 2; k++) {
        json_t *p = json_array_get(partners, k);
        const char *name = k ? "beta" : "alpha";
        ck_assert_str_eq(json_string_value(json_object_get(p, "name")), name);
        long long n = 0;
        json_t *states = json_object_get(p, "states");
        long long sum = 0;
        const char *names[] = {"healthy", "warning", "margin_call", "liquidation", "stale", "no_record"};
        for (size_t s = 0; s < 6; s++) {
          long long want = 0;
          for (int i = 0; i < 3; i++)
            if (strcmp(w[i].partner, name) == 0)
              want += strcmp(json_string_value(json_object_get(w[i].rec, "state")), names[s]) == 0;
          ck_assert_msg(json_integer_value(json_object_get(states, names[s])) == want, "%s %s", name, names[s]);
          sum += json_integer_value(json_object_get(states, names[s]));
        }
        for (int i = 0; i < 3; i++)
          n += strcmp(w[i].partner, name) == 0;
        ck_assert_int_eq(json_integer_value(json_object_get(p, "positions")), n);
        ck_assert_int_eq(sum, n);
        ck_assert_int_eq(json_integer_value(json_object_get(p, "not_recomputable")), 0);
      }
      json_t *rows = json_object_get(j, "positions");
      ck_assert_uint_le(json_array_size(rows), (size_t)limits[l]);
      for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        ck_assert_uint_lt(seen, 3);
        const struct want *x = order[seen++];
        ck_assert_int_eq(json_integer_value(json_object_get(r, "position_id")), x->id);
        ck_assert_str_eq(json_string_value(json_object_get(r, "partner")), x->partner);
        ck_assert_str_eq(json_string_value(json_object_get(r, "external_id")), x->ext);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "sequence")),
                         json_integer_value(json_object_get(x->rec, "sequence")));
        ck_assert_str_eq(json_string_value(json_object_get(r, "state")),
                         json_string_value(json_object_get(x->rec, "state")));
        ck_assert_int_eq(json_integer_value(json_object_get(r, "ltv_bps")),
                         json_integer_value(json_object_get(x->rec, "ltv_bps")));
        ck_assert_str_eq(json_string_value(json_object_get(r, "debt_value_usd")),
                         json_string_value(json_object_get(json_object_get(x->rec, "debt"), "value_usd")));
        ck_assert_str_eq(json_string_value(json_object_get(r, "record_as_of")),
                         json_string_value(json_object_get(x->rec, "as_of")));
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "thresholds"), "margin_call_bps")),
                         7000);
        json_t *stl = json_object_get(r, "staleness");
        ck_assert_int_eq(json_integer_value(json_object_get(stl, "max_price_staleness_seconds")), 31536000);
        ck_assert(json_is_string(json_object_get(stl, "oldest_price_at")));
        ck_assert(json_is_true(json_object_get(stl, "stale")) ==
                  (strcmp(json_string_value(json_object_get(x->rec, "state")), "stale") == 0));
        ck_assert(json_is_null(json_object_get(r, "not_recomputable")));
      }
      const char *next = json_string_value(json_object_get(j, "next_cursor"));
      if (!next) {
        json_decref(j);
        break;
      }
      ck_assert_uint_eq(json_array_size(rows), (size_t)limits[l]);
      snprintf(cursor, sizeof cursor, "%s", next);
      json_decref(j);
    }
    ck_assert_msg(seen == 3, "limit %d: %zu positions listed", limits[l], seen);
  }
  for (int i = 0; i < 3; i++)
    json_decref(w[i].rec);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("api_opsview");
  TCase *tc = tcase_create("opsview");
  tcase_set_timeout(tc, 300);
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, histogram_equals_sql);
  tcase_add_test(tc, partner_ltv_across_partners);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
