/* ctest-label: db */
/* A streamed snapshot (chain_snapshot_stream, accounts spooled to a temporary file) applied with
 * db_snapshot_apply writes exactly what the in-memory parse of the same text writes: two
 * databases, the same sequence of snapshots (a full one, a full one over it (the merge path), a
 * delta), and every chain-state table's rows compared (count and md5 of the sorted rows). And a
 * problem in the last account of a large snapshot, whether the parser or the database check
 * finds it, leaves the database as it was. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/snapshot.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/snapshot.h"
#include "tests/support/pgtest.h"

static struct th_pg pg;

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/snapshot_basic.json"
#define N 3000

static void new_db(char *url, size_t len) {
  char err[512] = "";
  unsigned applied = 0;
  ck_assert_int_eq(th_pg_create_db(&pg, url, len), 0);
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
}

/* Every chain-state table but the import times: row count and md5 of the sorted rows. */
static char *checksum(const char *url) {
  static const char *const sql[] = {"SELECT chain_id, block_number, block_hash, block_timestamp FROM chains",
                                    "SELECT * FROM assets",
                                    "SELECT * FROM reserves",
                                    "SELECT * FROM prices",
                                    "SELECT * FROM emode_categories",
                                    "SELECT * FROM accounts",
                                    "SELECT * FROM positions",
                                    NULL};
  char err[256];
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  size_t cap = 4096, len = 0;
  char *out = calloc(1, cap);
  for (int i = 0; sql[i]; i++) {
    char q[512], v[128];
    snprintf(q, sizeof q,
             "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS v FROM (%s) t",
             sql[i]);
    bool isnull = false;
    struct db_col col = {"v", DB_COL_TEXT, v, sizeof v, &isnull};
    ck_assert_int_eq(db_query_one_params(c, q, 0, NULL, &col, 1), DB_OK);
    len += (size_t)snprintf(out + len, cap - len, "%s;", v);
  }
  db_conn_close(c);
  return out;
}

/* The fixture with n generated accounts (two positions each over its reserves, amounts scaled by
 * k); the last account's second position in asset bad_asset when given. */
static char *generated(size_t n, unsigned k, bool delta, const char *bad_asset, uint64_t block) {
  json_error_t e;
  json_t *j = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(j != NULL, "%s", e.text);
  json_t *res = json_object_get(j, "reserves");
  json_t *acc = json_array();
  for (size_t i = 0; i < n; i++) {
    char addr[43];
    snprintf(addr, sizeof addr, "0x%040zx", i * 2654435761u + 1);
    json_t *pos = json_array();
    for (size_t p = 0; p < 2; p++) {
      json_t *r = json_array_get(res, (i + p + k) % json_array_size(res));
      char amt[40];
      snprintf(amt, sizeof amt, "%zu00000000000000", (i * 7 + p + 1) * k);
      json_t *asset = json_incref(json_object_get(r, "asset"));
      if (bad_asset && i == n - 1 && p == 1) json_decref(asset), asset = json_string(bad_asset);
      json_array_append_new(pos, json_pack("{s:o, s:s, s:s, s:b}", "asset", asset, "scaled_a_token_balance",
                                           p ? "0" : amt, "scaled_variable_debt", p ? amt : "0", "collateral", p == 0));
    }
    json_array_append_new(acc, json_pack("{s:s, s:i, s:o}", "address", addr, "emode_category", 0, "positions", pos));
  }
  json_object_set_new(j, "accounts", acc);
  json_object_set_new(j, "accounts_mode", json_string(delta ? "delta" : "full"));
  json_object_set_new(json_object_get(j, "block"), "number", json_integer((json_int_t)block));
  char *t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  return t;
}

struct mem_src {
  const char *p;
  size_t len, pos;
};
static size_t read_mem(void *buf, size_t cap, void *arg) {
  struct mem_src *m = arg;
  size_t k = m->len - m->pos < cap ? m->len - m->pos : cap;
  memcpy(buf, m->p + m->pos, k);
  m->pos += k;
  return k;
}

/* Parses text in memory or streamed and applies it; returns the outcome, -1 when the parser
 * rejected it (problems in errs). */
static int apply(const char *url, const char *text, bool streamed, struct db_snapshot_result *res,
                 struct chain_snapshot_errors *errs) {
  memset(errs, 0, sizeof *errs);
  struct chain_snapshot *s = NULL;
  struct chain_snapshot_stream *st = NULL;
  struct mem_src m = {text, strlen(text), 0};
  if (streamed) {
    st = chain_snapshot_stream_new(read_mem, &m);
    ck_assert_int_eq(chain_snapshot_stream_next(st, &s, errs), 1);
    ck_assert(!s || s->spool || s->n_accounts == 0);
  } else {
    s = chain_snapshot_parse(text, strlen(text), errs);
  }
  int rc = -1;
  if (s) {
    db_pool *pool = db_pool_create(url, 1);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(db_snapshot_apply(pool, s, false, res, errs), DB_OK);
    db_pool_destroy(pool);
    rc = (int)res->outcome;
  }
  chain_snapshot_free(s);
  chain_snapshot_stream_free(st);
  return rc;
}

START_TEST(test_same_rows) {
  char a[TH_PG_CONNINFO_MAX], b[TH_PG_CONNINFO_MAX];
  new_db(a, sizeof a);
  new_db(b, sizeof b);
  char *steps[] = {generated(N, 1, false, NULL, 21000001), generated(N - 100, 2, false, NULL, 21000002),
                   generated(N / 2, 3, true, NULL, 21000003)};
  for (int i = 0; i < 3; i++) {
    struct db_snapshot_result ra, rb;
    struct chain_snapshot_errors ea, eb;
    ck_assert_int_eq(apply(a, steps[i], false, &ra, &ea), DB_SNAPSHOT_APPLIED);
    ck_assert_int_eq(apply(b, steps[i], true, &rb, &eb), DB_SNAPSHOT_APPLIED);
    ck_assert_uint_eq(ra.accounts_written, rb.accounts_written);
    ck_assert_uint_eq(ra.positions_written, rb.positions_written);
    ck_assert_uint_eq(ra.accounts_removed, rb.accounts_removed);
    ck_assert_uint_eq(ra.hf_computed, rb.hf_computed);
    ck_assert_uint_gt(rb.accounts_written, 1000);
    char *ca = checksum(a), *cb = checksum(b);
    ck_assert_str_eq(ca, cb);
    free(ca), free(cb);
    free(steps[i]);
  }
  th_pg_drop_db(&pg, a);
  th_pg_drop_db(&pg, b);
}
END_TEST

START_TEST(test_late_problem_writes_nothing) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  struct db_snapshot_result r;
  struct chain_snapshot_errors e;
  char *first = generated(N, 1, false, NULL, 21000001);
  ck_assert_int_eq(apply(url, first, true, &r, &e), DB_SNAPSHOT_APPLIED);
  char *before = checksum(url);
  /* found by the database check, reading the spool: the last account's asset is no reserve */
  char *bad = generated(N, 2, false, "0x1111111111111111111111111111111111111111", 21000002);
  ck_assert_int_eq(apply(url, bad, true, &r, &e), DB_SNAPSHOT_INVALID);
  ck_assert_uint_eq(e.n, 1);
  ck_assert_str_eq(e.msg[0], "$.accounts[2999].positions[1].asset: not a reserve of chain 1");
  struct chain_snapshot_errors e2;
  ck_assert_int_eq(apply(url, bad, false, &r, &e2), DB_SNAPSHOT_INVALID);
  ck_assert_str_eq(e2.msg[0], e.msg[0]);
  char *after = checksum(url);
  ck_assert_str_eq(before, after);
  free(after);
  /* found by the parser: a broken last account */
  char *broken = generated(N, 2, false, NULL, 21000002);
  char *last = NULL;
  for (char *p = broken; (p = strstr(p, "\"collateral\":false}]}")); p++)
    last = p; /* the end of the last account */
  ck_assert_ptr_nonnull(last);
  last[strlen("\"collateral\":false}]")] = 'x';
  ck_assert_int_eq(apply(url, broken, true, &r, &e), -1);
  ck_assert_msg(strstr(e.msg[0], "$: invalid JSON at line 1 column ") == e.msg[0], "%s", e.msg[0]);
  ck_assert_int_eq(apply(url, broken, false, &r, &e2), -1);
  ck_assert_str_eq(e.msg[0], e2.msg[0]);
  after = checksum(url);
  ck_assert_str_eq(before, after);
  free(after), free(before), free(first), free(bad), free(broken);
  th_pg_drop_db(&pg, url);
}
END_TEST

int main(void) {
  if (th_pg_start(&pg) != 0) return 1;
  Suite *s = suite_create("import_stream");
  TCase *tc = tcase_create("import_stream");
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, test_same_rows);
  tcase_add_test(tc, test_late_problem_writes_nothing);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed != 0;
}
