/* ctest-label: api */
/* Incremental state generations against full rebuilds: two sparkd processes on one
 * private PostgreSQL, A building each generation from the previous one and the changed accounts
 * (SPARKD_ACCOUNT_CACHE_INCREMENTAL=1), B reading every account every time (=0). After random
 * blocks (delta snapshots that add, change and remove accounts, every price moving, a prices-only
 * block, a full-mode snapshot that removes accounts, several imports landing between two rebuilds) both must serve
 * byte-identical bodies for every account ever seen (GET /v1/accounts/1/{address}, removed ones
 * too), every page of the watch list (two filters, small pages so the cursors are used), the
 * reserves list and every reserve. A's log must show that it took the incremental path; writes
 * that bypass the import are seen at the next generation; the indexer's rewind of a block is
 * followed incrementally and still agrees; after a restart A reads everything
 * again and still agrees. The seed is printed for a rerun (SEED=n). */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "db/index.h"
#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sa, sb; /* A: incremental, B: full rebuilds */
static char demo_file[128], block_file[128];
static uint64_t rng, seed0;

static uint64_t next_rand(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}
static unsigned below(unsigned n) { return (unsigned)(next_rand() % n); }

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Every address ever written (lowercase), with whether it exists now (the test's own model). */
static char (*addrs)[43];
static bool *alive;
static size_t n_addrs, cap_addrs;

static size_t add_addr(const char *a) {
  for (size_t i = 0; i < n_addrs; i++)
    if (strcmp(addrs[i], a) == 0) return i;
  if (n_addrs == cap_addrs) {
    cap_addrs = cap_addrs ? 2 * cap_addrs : 512;
    addrs = realloc(addrs, cap_addrs * sizeof *addrs);
    alive = realloc(alive, cap_addrs * sizeof *alive);
    ck_assert(addrs && alive);
  }
  snprintf(addrs[n_addrs], sizeof addrs[0], "%s", a);
  for (char *p = addrs[n_addrs]; *p; p++)
    if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
  alive[n_addrs] = true;
  return n_addrs++;
}

static json_t *base; /* the demo data's snapshot: reserves, prices, block */
static int64_t block_no, block_ts;

static char *get_body(const struct th_sparkd *s, const char *path, int *status) {
  struct th_response r;
  ck_assert_int_eq(th_http(s->port, "GET", path, NULL, NULL, &r), 0);
  *status = r.status;
  char *b = strdup(r.body);
  th_response_free(&r);
  return b;
}

static int64_t served_block(const struct th_sparkd *s) {
  int st;
  char *b = get_body(s, "/v1/accounts/1?limit=1", &st);
  json_t *j = json_loads(b, 0, NULL);
  free(b);
  int64_t n = st == 200 && j ? json_integer_value(json_object_get(json_object_get(j, "as_of"), "block_number")) : 0;
  json_decref(j);
  return n;
}

static void wait_block(const struct th_sparkd *s, int64_t want) {
  for (int i = 0; i < 600 && served_block(s) != want; i++)
    sleep_ms(50);
  ck_assert_int_eq(served_block(s), want);
}

/* Asserts that A and B answer path with the same status and body; returns B's body (caller frees). */
static char *same(const char *path) {
  int st_a, st_b;
  char *a = get_body(&sa, path, &st_a), *b = get_body(&sb, path, &st_b);
  size_t at = 0; /* the message shows the bodies from a little before their first difference */
  while (a[at] && a[at] == b[at])
    at++;
  at = at > 200 ? at - 200 : 0;
  ck_assert_msg(st_a == st_b && strcmp(a, b) == 0,
                "seed %llu, %s:\n incremental %d ...%.900s\n full        %d ...%.900s", (unsigned long long)seed0, path,
                st_a, a + at, st_b, b + at);
  free(a);
  return b;
}

/* Compares every page of the watch list under query (limit small: cursors are followed). */
static size_t same_pages(const char *query) {
  char cursor[512] = "", path[1024];
  size_t rows = 0;
  for (int page = 0; page < 1000; page++) {
    snprintf(path, sizeof path, "/v1/accounts/1?limit=23%s%s%s%s", query[0] ? "&" : "", query,
             cursor[0] ? "&cursor=" : "", cursor);
    char *b = same(path);
    json_t *j = json_loads(b, 0, NULL);
    free(b);
    ck_assert_ptr_nonnull(j);
    rows += json_array_size(json_object_get(j, "data"));
    const char *cur = json_string_value(json_object_get(j, "next_cursor"));
    if (!cur) {
      json_decref(j);
      return rows;
    }
    snprintf(cursor, sizeof cursor, "%s", cur);
    json_decref(j);
  }
  ck_abort_msg("the watch list did not end");
  return rows;
}

static void compare_all(void) {
  wait_block(&sa, block_no);
  wait_block(&sb, block_no);
  char path[128];
  size_t found = 0, n_alive = 0;
  for (size_t i = 0; i < n_addrs; i++) {
    snprintf(path, sizeof path, "/v1/accounts/1/%s", addrs[i]);
    char *b = same(path);
    found += strstr(b, "\"positions\":[{") != NULL;
    n_alive += alive[i];
    free(b);
  }
  ck_assert_uint_gt(found, 100); /* the comparison is not over empty answers */
  size_t listed = same_pages("");
  ck_assert_uint_gt(listed, 100);
  same_pages("max_health_factor=1.3");
  free(same("/v1/markets/1/reserves"));
  json_t *res = json_object_get(base, "reserves");
  for (size_t i = 0; i < json_array_size(res); i++) {
    snprintf(path, sizeof path, "/v1/markets/1/reserves/%s",
             json_string_value(json_object_get(json_array_get(res, i), "asset")));
    free(same(path));
  }
  (void)n_alive;
}

static const char *reserve_asset(void) {
  json_t *res = json_object_get(base, "reserves");
  return json_string_value(json_object_get(json_array_get(res, below((unsigned)json_array_size(res))), "asset"));
}

/* Random positions for one account (1 to 3 reserves; empty when `removed`). */
static json_t *random_account(const char *addr, bool removed) {
  json_t *pos = json_array();
  unsigned n = removed ? 0 : 1 + below(3);
  for (unsigned k = 0; k < n; k++) {
    const char *asset = reserve_asset();
    bool dup = false;
    for (size_t q = 0; q < json_array_size(pos); q++)
      dup |= strcmp(json_string_value(json_object_get(json_array_get(pos, q), "asset")), asset) == 0;
    if (dup) continue;
    char sa_[40], sd[40];
    snprintf(sa_, sizeof sa_, "%llu%06u", (unsigned long long)(1 + below(5000000)), below(1000000));
    snprintf(sd, sizeof sd, "%llu", below(3) ? 0ull : (unsigned long long)below(4000000) * 1000000ull);
    json_array_append_new(pos, json_pack("{s:s, s:s, s:s, s:b}", "asset", asset, "scaled_a_token_balance", sa_,
                                         "scaled_variable_debt", sd, "collateral", (int)below(4)));
  }
  return json_pack("{s:s, s:i, s:o}", "address", addr, "emode_category", below(5) ? 0 : 1 + (int)below(3), "positions",
                   pos);
}

/* Writes and imports the next block: every price moves by -5%..+5%, and accounts (a delta, a
 * full-mode list, or none). */
enum mode { DELTA, FULL, PRICES_ONLY };
static void import_block(enum mode mode) {
  bool full = mode == FULL;
  block_no++;
  block_ts += 12;
  json_t *prices = json_deep_copy(json_object_get(base, "prices"));
  for (size_t i = 0; i < json_array_size(prices); i++) {
    json_t *p = json_array_get(prices, i);
    unsigned long long v = strtoull(json_string_value(json_object_get(p, "price")), NULL, 10);
    char s[32];
    snprintf(s, sizeof s, "%llu", v / 100 * (95 + below(11)));
    json_object_set_new(p, "price", json_string(s));
    json_object_set_new(p, "updated_at", json_integer(block_ts));
  }
  json_object_set(base, "prices", prices); /* prices wander from block to block */
  json_t *accounts = json_array();
  if (mode == PRICES_ONLY) {
  } else if (full) { /* every account listed again with new positions, about one in five left out: removed */
    for (size_t i = 0; i < n_addrs; i++) {
      if (!alive[i]) continue;
      if (below(5) == 0) {
        alive[i] = false;
        continue;
      }
      json_array_append_new(accounts, random_account(addrs[i], false));
    }
  } else {
    for (int k = 0; k < 25; k++) { /* changes and removals of accounts that exist */
      size_t i = below((unsigned)n_addrs);
      bool dup = false;
      for (size_t q = 0; q < json_array_size(accounts); q++)
        dup |= strcmp(json_string_value(json_object_get(json_array_get(accounts, q), "address")), addrs[i]) == 0;
      if (dup) continue;
      bool removed = below(5) == 0;
      json_array_append_new(accounts, random_account(addrs[i], removed));
      alive[i] = !removed;
    }
    for (int k = 0; k < 6; k++) { /* new accounts */
      char a[43] = "0x";
      for (int h = 0; h < 40; h++)
        a[2 + h] = "0123456789abcdef"[below(16)];
      size_t i = add_addr(a);
      json_array_append_new(accounts, random_account(addrs[i], false));
    }
  }
  char hash[67] = "0x";
  snprintf(hash + 2, sizeof hash - 2, "%064llx", (unsigned long long)block_no);
  json_t *d =
      json_pack("{s:s, s:i, s:{s:I, s:s, s:I}, s:o}", "format", "sparkd.snapshot/1", "chain_id", 1, "block", "number",
                (json_int_t)block_no, "hash", hash, "timestamp", (json_int_t)block_ts, "prices", prices);
  ck_assert_ptr_nonnull(d);
  if (mode == PRICES_ONLY) {
    json_decref(accounts);
  } else {
    json_object_set_new(d, "accounts_mode", json_string(full ? "full" : "delta"));
    json_object_set_new(d, "accounts", accounts);
  }
  ck_assert_int_eq(json_dump_file(d, block_file, 0), 0);
  json_decref(d);
  ck_assert_int_eq(th_sparkd_import(dburl, block_file), 0);
}

static const char *env_a[] = {"SPARKD_ACCOUNT_CACHE_INCREMENTAL=1", "SPARKD_LOG_LEVEL=info", NULL};
static const char *env_b[] = {"SPARKD_ACCOUNT_CACHE_INCREMENTAL=0", NULL};

static void setup(void) {
  const char *seed = getenv("SEED");
  rng = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) * 2654435761u + (uint64_t)getpid();
  if (!rng) rng = 1;
  seed0 = rng;
  fprintf(stderr, "check_api_incremental: SEED=%llu\n", (unsigned long long)seed0);
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  snprintf(demo_file, sizeof demo_file, "/tmp/check_incremental_%d.ndjson", (int)getpid());
  snprintf(block_file, sizeof block_file, "/tmp/check_incremental_%d_block.json", (int)getpid());
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' demo-data --accounts 300 --days 0 > '%s'", SPARKD_BINARY, demo_file);
  ck_assert_int_eq(system(cmd), 0);
  const char *mig[] = {"SPARKD_MIGRATE=auto", "SPARKD_ACCOUNT_CACHE_INCREMENTAL=1", "SPARKD_LOG_LEVEL=info", NULL};
  ck_assert(th_sparkd_start(&sa, dburl, mig) == 0);
  ck_assert(th_sparkd_start(&sb, dburl, env_b) == 0);
  ck_assert_int_eq(th_sparkd_import(dburl, demo_file), 0);
  json_error_t e;
  base = json_load_file(demo_file, JSON_DISABLE_EOF_CHECK, &e);
  ck_assert_msg(base != NULL, "%s", e.text);
  block_no = json_integer_value(json_object_get(json_object_get(base, "block"), "number"));
  block_ts = json_integer_value(json_object_get(json_object_get(base, "block"), "timestamp"));
  json_t *acc = json_object_get(base, "accounts");
  for (size_t i = 0; i < json_array_size(acc); i++)
    add_addr(json_string_value(json_object_get(json_array_get(acc, i), "address")));
}

static void teardown(void) {
  th_sparkd_stop(&sa);
  th_sparkd_stop(&sb);
  th_pg_stop(&pg);
  unlink(demo_file);
  unlink(block_file);
  json_decref(base);
  free(addrs);
  free(alive);
}

START_TEST(incremental_equals_full) {
  compare_all();
  for (int round = 0; round < 8; round++) {
    int imports = round % 3 == 1 ? 3 : 1; /* several imports between two rebuilds (most of the time) */
    for (int k = 0; k < imports; k++)
      import_block(round == 5 && k == 0 ? FULL : round == 3 ? PRICES_ONLY : DELTA);
    compare_all();
  }
  char *log = th_sparkd_log(&sa);
  if (!log || !strstr(log, "changed accounts re-read") || !strstr(log, "no account written since"))
    fprintf(stderr, "A's log:\n%s\n", log ? log : "");
  ck_assert_msg(log && strstr(log, "changed accounts re-read"), "A never took the incremental path");
  ck_assert_msg(strstr(log, "no account written since"), "A never shared a generation's accounts");
  /* the positions of changed accounts go to the end of the shared store, and a store with too
   * many replaced positions is copied: both paths ran and agreed */
  ck_assert_msg(strstr(log, "positions appended"), "A never appended positions to a shared store");
  ck_assert_msg(strstr(log, "positions copied"), "A never copied positions to a new store");
  free(log);
  log = th_sparkd_log(&sb);
  ck_assert_msg(log && !strstr(log, "changed accounts re-read"), "B took the incremental path");
  free(log);
  /* writes that bypass the import (plain SQL, no NOTIFY): one account's supply moves, another
   * account is deleted with its positions; the next import's generation must show both (the
   * triggers of migration 0030 make A read every account), not the accounts as A held them */
  {
    char err[256];
    db_conn *c = db_conn_open(dburl, 5000, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert(db_exec(c, "UPDATE positions SET scaled_a_token_balance = scaled_a_token_balance * 3 + 7"
                         " WHERE chain_id = 1 AND account = (SELECT min(account) FROM positions WHERE chain_id = 1"
                         " AND scaled_a_token_balance > 0)") == DB_OK);
    ck_assert(db_exec(c, "WITH v AS (SELECT max(account) AS a FROM positions WHERE chain_id = 1),"
                         " d AS (DELETE FROM positions WHERE chain_id = 1 AND account = (SELECT a FROM v))"
                         " DELETE FROM accounts WHERE chain_id = 1 AND address = (SELECT a FROM v)") == DB_OK);
    db_conn_close(c);
  }
  import_block(DELTA);
  compare_all();
  /* the indexer's rewind after a one-block reorg (db_index_rewind: the accounts the last block
   * wrote are removed, the chain is back at the block before): it records its own change, so A
   * takes the incremental path (a trigger of migration 0030 counting it would make A read every
   * account) and still serves what B's full rebuild serves */
  {
    log = th_sparkd_log(&sa);
    size_t before = 0;
    for (const char *p = log; p && (p = strstr(p, "changed accounts re-read")); p++)
      before++;
    free(log);
    db_pool *pool = db_pool_create(dburl, 1);
    ck_assert_ptr_nonnull(pool);
    char(*removed)[43] = NULL;
    size_t n = 0;
    ck_assert_int_eq(db_index_rewind(pool, 1, true, (uint64_t)block_no - 1, &removed, &n), DB_OK);
    ck_assert_uint_gt(n, 0);
    free(removed);
    db_pool_destroy(pool);
    block_no--;
    block_ts -= 12;
    compare_all();
    log = th_sparkd_log(&sa);
    size_t after = 0;
    for (const char *p = log; p && (p = strstr(p, "changed accounts re-read")); p++)
      after++;
    free(log);
    ck_assert_msg(after > before, "A read every account after the rewind");
  }
  import_block(DELTA);
  compare_all();
  /* a restart reads every account; then blocks continue incrementally */
  ck_assert_int_eq(th_sparkd_stop(&sa), 0);
  ck_assert(th_sparkd_start(&sa, dburl, env_a) == 0);
  compare_all();
  import_block(DELTA);
  compare_all();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("incremental");
  TCase *tc = tcase_create("incremental");
  tcase_set_timeout(tc, 400);
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, incremental_equals_full);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_set_fork_status(sr, CK_NOFORK); /* the test restarts a sparkd the fixture started */
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
