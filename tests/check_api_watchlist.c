/* ctest-label: api */
/* The liquidation watch list (GET /v1/accounts/{chain}) of a chain held in memory against an
 * independent implementation: the demo data set (400 accounts, 2 days of history) is imported
 * into a private PostgreSQL, served by the real sparkd, and every page of every filter must equal
 * a sort, by (health factor, address), of health factors computed here in SQL numeric from the
 * stored positions, reserves, prices and eMode categories (spec protocol-math §2.5; the demo data
 * updates every reserve at every block, so normalized indexes are the stored ones). Then a
 * prices-only block (WETH -20%, same timestamp) is imported: it writes no account row, and the
 * list must follow the new prices all the same (health factors live in the state cache). */
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

#define WETH "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
#define USDC "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;
static char demo_file[128], price_file[128];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

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

/* Health factor (WAD, 2^256-1 without debt), totals, eMode, row block, and the assets held as
 * collateral / borrowed, of every account of chain 1, ordered as the watch list orders them. */
static const char ref_sql[] =
    TH_HF_SQL_CTE " SELECT h.account, h.hf::text, h.c::text, h.d::text, coalesce(h.cas, ''), coalesce(h.das, ''),"
                  "  a.emode_category::text, a.block_number::text FROM h JOIN accounts a ON a.chain_id = 1"
                  "  AND a.address = h.account ORDER BY h.hf, h.account COLLATE \"C\"";

struct ref {
  char addr[43], hf[80], coll[80], debt[80], cas[2048], das[2048];
  long emode;
  long long block;
};
static struct ref *refs;
static size_t n_refs, cap_refs;

static db_status ref_row(const db_row *row, void *arg) {
  (void)arg;
  if (n_refs == cap_refs) {
    cap_refs = cap_refs ? 2 * cap_refs : 512;
    refs = realloc(refs, cap_refs * sizeof *refs);
    ck_assert_ptr_nonnull(refs);
  }
  struct ref *r = &refs[n_refs++];
  snprintf(r->addr, sizeof r->addr, "%s", db_row_text(row, 0));
  snprintf(r->hf, sizeof r->hf, "%s", db_row_text(row, 1));
  snprintf(r->coll, sizeof r->coll, "%s", db_row_text(row, 2));
  snprintf(r->debt, sizeof r->debt, "%s", db_row_text(row, 3));
  snprintf(r->cas, sizeof r->cas, "%s", db_row_text(row, 4));
  snprintf(r->das, sizeof r->das, "%s", db_row_text(row, 5));
  r->emode = strtol(db_row_text(row, 6), NULL, 10);
  r->block = strtoll(db_row_text(row, 7), NULL, 10);
  return DB_OK;
}

static void load_refs(void) {
  char err[256];
  db_conn *c = db_conn_open(dburl, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  n_refs = 0;
  ck_assert(db_query_params(c, ref_sql, 0, NULL, ref_row, NULL, NULL) == DB_OK);
  db_conn_close(c);
  ck_assert_uint_gt(n_refs, 300);
}

/* Compares decimal integer strings. */
static int dec_cmp(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb) return la < lb ? -1 : 1;
  return strcmp(a, b);
}

/* "1.230000000000000000" (fixed, 18 decimals) -> "1230000000000000000"; NULL -> 2^256-1. */
static void wad_of(const json_t *v, char *out, size_t len) {
  if (json_is_null(v)) {
    snprintf(out, len, "115792089237316195423570985008687907853269984665640564039457584007913129639935");
    return;
  }
  const char *s = json_string_value(v);
  ck_assert_ptr_nonnull(s);
  size_t k = 0;
  for (; *s && k + 1 < len; s++)
    if (*s != '.' && (k > 0 || *s != '0')) out[k++] = *s;
  if (k == 0) out[k++] = '0';
  out[k] = 0;
}

struct filter {
  const char *query;                           /* the API's query string (without limit/cursor) */
  const char *max_hf, *min_debt, *coll, *debt; /* the same, as the reference applies it */
};

static bool keep(const struct filter *f, const struct ref *r) {
  if (f->max_hf && dec_cmp(r->hf, f->max_hf) > 0) return false;
  if (f->min_debt && dec_cmp(r->debt, f->min_debt) < 0) return false;
  if (f->coll && !strstr(r->cas, f->coll)) return false;
  if (f->debt && !strstr(r->das, f->debt)) return false;
  return true;
}

/* Pages through the list with filter f and page size limit; every row must be the next kept
 * reference row, with the same figures; the last page has no cursor. */
static void compare(const struct filter *f, int limit, int64_t want_block) {
  size_t next = 0, pages = 0;
  char path[1024], cursor[512] = "";
  for (;;) {
    snprintf(path, sizeof path, "/v1/accounts/1?limit=%d%s%s%s%s", limit, f->query[0] ? "&" : "", f->query,
             cursor[0] ? "&cursor=" : "", cursor);
    int st;
    json_t *j = get_json(path, &st);
    ck_assert_msg(st == 200, "%s: %d", path, st);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")), want_block);
    json_t *data = json_object_get(j, "data");
    ck_assert_uint_le(json_array_size(data), (size_t)limit);
    for (size_t i = 0; i < json_array_size(data); i++) {
      while (next < n_refs && !keep(f, &refs[next]))
        next++;
      ck_assert_msg(next < n_refs, "%s: row %zu beyond the reference", path, i);
      const struct ref *r = &refs[next++];
      json_t *o = json_array_get(data, i);
      char wad[96];
      wad_of(json_object_get(o, "health_factor"), wad, sizeof wad);
      ck_assert_msg(strcasecmp(json_string_value(json_object_get(o, "address")), r->addr) == 0,
                    "%s row %zu: %s, want %s", path, i, json_string_value(json_object_get(o, "address")), r->addr);
      ck_assert_msg(strcmp(wad, r->hf) == 0, "%s %s: hf %s, want %s", path, r->addr, wad, r->hf);
      ck_assert_str_eq(json_string_value(json_object_get(o, "total_collateral_base")), r->coll);
      ck_assert_str_eq(json_string_value(json_object_get(o, "total_debt_base")), r->debt);
      ck_assert_int_eq(json_integer_value(json_object_get(o, "emode_category")), r->emode);
      ck_assert_int_eq(json_integer_value(json_object_get(o, "block_number")), r->block);
    }
    pages++;
    const char *cur = json_string_value(json_object_get(j, "next_cursor"));
    if (!cur) {
      json_decref(j);
      break;
    }
    ck_assert_uint_eq(json_array_size(data), (size_t)limit);
    snprintf(cursor, sizeof cursor, "%s", cur);
    json_decref(j);
  }
  while (next < n_refs && !keep(f, &refs[next]))
    next++;
  ck_assert_msg(next == n_refs, "%s: the list ended before reference row %zu (%s)", f->query, next,
                next < n_refs ? refs[next].addr : "");
  ck_assert_uint_gt(pages, 0);
}

static const struct filter filters[] = {
    {"", NULL, NULL, NULL, NULL},
    {"max_health_factor=1.5", "1500000000000000000", NULL, NULL, NULL},
    {"max_health_factor=1.05", "1050000000000000000", NULL, NULL, NULL},
    {"min_debt_usd=100000", NULL, "10000000000000", NULL, NULL},
    {"collateral=WETH", NULL, NULL, WETH, NULL},
    {"debt=" USDC, NULL, NULL, NULL, USDC},
    {"collateral=weth&debt=USDC&max_health_factor=2", "2000000000000000000", NULL, WETH, USDC},
};

static void compare_all(int64_t block) {
  load_refs();
  size_t listed = 0;
  for (size_t i = 0; i < n_refs; i++)
    listed += keep(&filters[2], &refs[i]);
  ck_assert_msg(listed > 0, "no account at or below HF 1.05: the filter would test nothing");
  static const int limits[] = {500, 37, 3};
  for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++)
    for (size_t l = 0; l < 3; l++)
      compare(&filters[f], limits[l], block);
}

static int64_t served_block(void) {
  int st;
  json_t *j = get_json("/v1/accounts/1?limit=1", &st);
  int64_t b = st == 200 ? json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")) : 0;
  json_decref(j);
  return b;
}

static void wait_block(int64_t want) {
  for (int i = 0; i < 400 && served_block() != want; i++)
    sleep_ms(50);
  ck_assert_int_eq(served_block(), want);
}

static void setup(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  snprintf(demo_file, sizeof demo_file, "/tmp/check_watchlist_%d.ndjson", (int)getpid());
  snprintf(price_file, sizeof price_file, "/tmp/check_watchlist_%d_prices.json", (int)getpid());
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
  free(refs);
  refs = NULL;
  n_refs = cap_refs = 0;
}

START_TEST(watchlist_equals_reference) {
  /* the last block of the demo data set */
  json_t *snap = th_last_snapshot(demo_file);
  ck_assert_ptr_nonnull(snap);
  int64_t block = json_integer_value(json_object_get(json_object_get(snap, "block"), "number"));
  wait_block(block);
  compare_all(block);

  /* A prices-only block at the same timestamp: WETH 20% down. */
  ck_assert_int_eq(th_write_price_move(snap, WETH, 4, 5, block + 1, price_file), 0);
  json_decref(snap);
  char before[2][100];
  snprintf(before[0], sizeof before[0], "%s", refs[0].addr);
  snprintf(before[1], sizeof before[1], "%s", refs[0].hf);
  ck_assert_int_eq(th_sparkd_import(dburl, price_file), 0);
  wait_block(block + 1);
  compare_all(block + 1);
  /* the lowest health factor moved (a WETH price move reaches the most exposed account) */
  ck_assert_msg(strcmp(before[0], refs[0].addr) != 0 || strcmp(before[1], refs[0].hf) != 0,
                "the prices-only block changed nothing at the head of the list");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("watchlist");
  TCase *tc = tcase_create("watchlist");
  tcase_set_timeout(tc, 300);
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, watchlist_equals_reference);
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
