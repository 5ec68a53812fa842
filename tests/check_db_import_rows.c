/* ctest-label: db */
/* The rows a streamed import writes are exactly those its snapshots say, whatever the path: a full
 * import into an empty chain (COPY straight into the tables), a full import over it (the merge
 * through temporary tables) and a delta import (the listed accounts replaced, those left without
 * positions removed). The expected rows are built here from the generated snapshot JSON (addresses
 * lowercased, accounts without positions left out), not read back from sparkd. Random accounts
 * (seeded) with zero to four positions, amounts of 1 to 77 digits and 2^256 - 1, mixed-case asset
 * addresses. And the evm_address domain (migration 0013's check) takes exactly "0x" and 40
 * lowercase hex digits. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chain/snapshot.h"
#include "db/db.h"
#include "db/index.h"
#include "db/migrate.h"
#include "db/snapshot.h"
#include "tests/support/pgtest.h"

static struct th_pg pg;

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/snapshot_basic.json"
#define BLOCK 21000000
#define MAX_U256 "115792089237316195423570985008687907853269984665640564039457584007913129639935"

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void) { /* xorshift64 */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void new_db(char *url, size_t len) {
  char err[512] = "";
  unsigned applied = 0;
  ck_assert_int_eq(th_pg_create_db(&pg, url, len), 0);
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
}

static void lower(char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'F') *s = (char)(*s - 'A' + 'a');
}

/* A decimal amount: 0 (when zero_ok, one in three), 2^256 - 1 (one in twenty) or 1 to 77 digits. */
static json_t *amount(bool zero_ok) {
  if (zero_ok && next() % 3 == 0) return json_string("0");
  if (next() % 20 == 0) return json_string(MAX_U256);
  char b[80];
  unsigned n = 1 + (unsigned)(next() % 77);
  b[0] = (char)('1' + next() % 9);
  for (unsigned i = 1; i < n; i++)
    b[i] = (char)('0' + next() % 10);
  b[n] = '\0';
  return json_string(b);
}

static json_t *random_account(const char *addr, json_t *reserves) {
  json_t *pos = json_array();
  unsigned mask = (unsigned)(next() % 16);
  if (next() % 10 == 0) mask = 0; /* no positions: not written, or removed */
  for (size_t r = 0; r < json_array_size(reserves); r++) {
    if (!(mask & (1u << r))) continue;
    json_array_append_new(pos, json_pack("{s:O, s:o, s:o, s:b}", "asset",
                                         json_object_get(json_array_get(reserves, r), "asset"),
                                         "scaled_a_token_balance", amount(false), "scaled_variable_debt", amount(true),
                                         "collateral", (int)(next() % 2)));
  }
  return json_pack("{s:s, s:i, s:o}", "address", addr, "emode_category", (int)(next() % 2), "positions", pos);
}

static void random_address(char out[43]) {
  snprintf(out, 43, "0x%016llx%016llx%08llx", (unsigned long long)next(), (unsigned long long)next(),
           (unsigned long long)(next() & 0xffffffffu));
}

/* Appends n accounts at random addresses, with random positions, to arr. */
static void add_random_accounts(json_t *arr, size_t n, json_t *reserves) {
  for (size_t i = 0; i < n; i++) {
    char a[43];
    random_address(a);
    json_array_append_new(arr, random_account(a, reserves));
  }
}

/* The fixture's market with these accounts, in mode full or delta, at block; on chain `chain`
 * with its timestamp 12 s a block from the fixture's, or (chain 0) the fixture's chain and time. */
static char *snapshot_on(json_t *accounts, bool delta, uint64_t block, int chain) {
  json_error_t e;
  json_t *j = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(j != NULL, "%s", e.text);
  json_object_set(j, "accounts", accounts);
  json_object_set_new(j, "accounts_mode", json_string(delta ? "delta" : "full"));
  json_object_set_new(json_object_get(j, "block"), "number", json_integer((json_int_t)block));
  if (chain) {
    json_object_set_new(j, "chain_id", json_integer(chain));
    json_object_set_new(json_object_get(j, "block"), "timestamp",
                        json_integer(1730000000 + 12 * (json_int_t)(block - BLOCK)));
  }
  char *t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  return t;
}

static char *snapshot(json_t *accounts, bool delta, uint64_t block) { return snapshot_on(accounts, delta, block, 0); }

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

/* Streams text (accounts spooled, as `sparkd import` reads a file) and applies it. */
static void apply(const char *url, const char *text) {
  struct chain_snapshot_errors errs;
  memset(&errs, 0, sizeof errs);
  struct chain_snapshot *s = NULL;
  struct mem_src m = {text, strlen(text), 0};
  struct chain_snapshot_stream *st = chain_snapshot_stream_new(read_mem, &m);
  ck_assert_int_eq(chain_snapshot_stream_next(st, &s, &errs), 1);
  ck_assert_msg(s != NULL, "rejected: %s", errs.n ? errs.msg[0] : "?");
  db_pool *pool = db_pool_create(url, 1);
  ck_assert_ptr_nonnull(pool);
  struct db_snapshot_result res;
  ck_assert_int_eq(db_snapshot_apply(pool, s, false, &res, &errs), DB_OK);
  ck_assert_msg(res.outcome == DB_SNAPSHOT_APPLIED, "%s: %s", db_snapshot_outcome_name(res.outcome),
                errs.n ? errs.msg[0] : "");
  db_pool_destroy(pool);
  chain_snapshot_free(s);
  chain_snapshot_stream_free(st);
}

/* Imports the fixture's market with these accounts (snapshot_on's arguments) into url. */
static void import_on(const char *url, json_t *accounts, bool delta, uint64_t block, int chain) {
  char *t = snapshot_on(accounts, delta, block, chain);
  apply(url, t);
  free(t);
}

/* ---- the expected rows, from the accounts' JSON: lowercase address -> account ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Joins lines sorted bytewise (the tables' addresses are COLLATE "C") with '\n' (caller frees). */
static char *joined(char **lines, size_t n) {
  qsort(lines, n, sizeof *lines, cmp_str);
  size_t len = 1;
  for (size_t i = 0; i < n; i++)
    len += strlen(lines[i]) + 1;
  char *out = calloc(1, len), *p = out;
  for (size_t i = 0; i < n; i++) {
    p += sprintf(p, "%s%s", i ? "\n" : "", lines[i]);
    free(lines[i]);
  }
  free(lines);
  return out;
}

/* "address|emode" per account and "account|asset|supply|debt|collateral" per position. */
static void expected(json_t *state, char **acc_out, char **pos_out) {
  size_t na = 0, np = 0, cap_p = 16;
  char **al = calloc(json_object_size(state) + 1, sizeof *al), **pl = calloc(cap_p, sizeof *pl);
  const char *addr;
  json_t *a;
  json_object_foreach(state, addr, a) {
    json_t *pos = json_object_get(a, "positions");
    if (json_array_size(pos) == 0) continue;
    char line[400];
    snprintf(line, sizeof line, "%s|%d", addr, (int)json_integer_value(json_object_get(a, "emode_category")));
    al[na++] = strdup(line);
    size_t i;
    json_t *p;
    json_array_foreach(pos, i, p) {
      char asset[43];
      snprintf(asset, sizeof asset, "%s", json_string_value(json_object_get(p, "asset")));
      lower(asset);
      snprintf(line, sizeof line, "%s|%s|%s|%s|%s", addr, asset,
               json_string_value(json_object_get(p, "scaled_a_token_balance")),
               json_string_value(json_object_get(p, "scaled_variable_debt")),
               json_is_true(json_object_get(p, "collateral")) ? "true" : "false");
      if (np == cap_p) pl = realloc(pl, (cap_p *= 2) * sizeof *pl);
      pl[np++] = strdup(line);
    }
  }
  *acc_out = joined(al, na);
  *pos_out = joined(pl, np);
}

/* Applies the accounts of a snapshot to the expected state: each listed account replaces its
 * entry (full: the state is only the listed ones). */
static void fold(json_t *state, json_t *accounts, bool full) {
  if (full) json_object_clear(state);
  size_t i;
  json_t *a;
  json_array_foreach(accounts, i, a) {
    char addr[43];
    snprintf(addr, sizeof addr, "%s", json_string_value(json_object_get(a, "address")));
    lower(addr);
    json_object_set(state, addr, a);
  }
}

static char *query_text(const char *url, const char *sql) {
  char err[256];
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  char *out = NULL;
  bool isnull = false;
  struct db_col col = {"v", DB_COL_TEXT_DUP, &out, 0, &isnull};
  db_status st = db_query_one_params(c, sql, 0, NULL, &col, 1);
  ck_assert_msg(st == DB_OK, "%s: %s", sql, db_last_error(c));
  db_conn_close(c);
  return out ? out : strdup("");
}

static void check_rows(const char *url, json_t *state, const char *when) {
  char *want_a, *want_p;
  expected(state, &want_a, &want_p);
  char *got_a = query_text(url, "SELECT string_agg(address || '|' || emode_category, E'\\n' ORDER BY address) AS v"
                                " FROM accounts WHERE chain_id = 1");
  char *got_p = query_text(url, "SELECT string_agg(account || '|' || asset || '|' || scaled_a_token_balance || '|'"
                                " || scaled_variable_debt || '|' || collateral, E'\\n' ORDER BY account, asset) AS v"
                                " FROM positions WHERE chain_id = 1");
  ck_assert_msg(strcmp(got_a, want_a) == 0, "%s: accounts differ", when);
  ck_assert_msg(strcmp(got_p, want_p) == 0, "%s: positions differ", when);
  ck_assert_msg(strlen(want_p) > 1000, "%s: too few positions to say anything", when);
  free(want_a), free(want_p), free(got_a), free(got_p);
}

START_TEST(test_full_merge_delta) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_error_t e;
  json_t *fx = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(fx != NULL, "%s", e.text);
  json_t *reserves = json_object_get(fx, "reserves");
  json_t *state = json_object();

  /* 1. full, into an empty chain */
  enum { N1 = 600 };
  char addrs[N1][43];
  json_t *s1 = json_array();
  for (size_t i = 0; i < N1; i++) {
    random_address(addrs[i]);
    json_array_append_new(s1, random_account(addrs[i], reserves));
  }
  import_on(url, s1, false, BLOCK, 0);
  fold(state, s1, true);
  check_rows(url, state, "full import into an empty chain");

  /* 2. full over it: two in three kept (every other of those with new positions), the rest gone,
   * 200 new */
  json_t *s2 = json_array();
  for (size_t i = 0; i < N1; i++) {
    if (i % 3 == 2) continue;
    json_array_append_new(s2, i % 2 ? random_account(addrs[i], reserves) : json_incref(json_array_get(s1, i)));
  }
  add_random_accounts(s2, 200, reserves);
  import_on(url, s2, false, BLOCK + 1, 0);
  fold(state, s2, true);
  check_rows(url, state, "full import over a chain with accounts");

  /* 3. delta: 100 of them changed, 60 emptied, 80 new; the others stay as they are */
  json_t *s3 = json_array();
  for (size_t i = 0; i < 160; i++) {
    const char *addr = json_string_value(json_object_get(json_array_get(s2, i * 3), "address"));
    if (i < 100)
      json_array_append_new(s3, random_account(addr, reserves));
    else
      json_array_append_new(s3, json_pack("{s:s, s:i, s:[]}", "address", addr, "emode_category", 0, "positions"));
  }
  add_random_accounts(s3, 80, reserves);
  import_on(url, s3, true, BLOCK + 2, 0);
  fold(state, s3, false);
  check_rows(url, state, "delta import");

  json_decref(s1), json_decref(s2), json_decref(s3), json_decref(state), json_decref(fx);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* Every stored column of the chain's accounts (without the block) and positions, one line each. */
static char *all_rows(const char *url) {
  char *a = query_text(url, "SELECT string_agg(concat_ws('|', address, emode_category, health_factor,"
                            " total_collateral_base, total_debt_base), E'\\n' ORDER BY address) AS v"
                            " FROM accounts WHERE chain_id = 1");
  char *p = query_text(url, "SELECT string_agg(concat_ws('|', account, asset, scaled_a_token_balance,"
                            " scaled_variable_debt, collateral), E'\\n' ORDER BY account, asset) AS v"
                            " FROM positions WHERE chain_id = 1");
  char *out = malloc(strlen(a) + strlen(p) + 2);
  sprintf(out, "%s\n%s", a, p);
  free(a), free(p);
  return out;
}

/* A copy of account a (its JSON) with positions changed position by position: kept, amount
 * changed, collateral flag flipped or dropped, by the low bits of how; one added when bit 4 is set. */
static json_t *edit_account(json_t *a, unsigned how, json_t *reserves) {
  json_t *b = json_deep_copy(a), *pos = json_object_get(b, "positions"), *out = json_array();
  size_t i;
  json_t *p;
  json_array_foreach(pos, i, p) {
    switch ((how + i) % 4) {
    case 0: json_array_append(out, p); break; /* unchanged */
    case 1: json_object_set_new(p, "scaled_a_token_balance", amount(false)), json_array_append(out, p); break;
    case 2:
      json_object_set_new(p, "collateral", json_boolean(!json_is_true(json_object_get(p, "collateral"))));
      json_array_append(out, p);
      break;
    default: break; /* removed */
    }
  }
  if (how & 16) /* a reserve the account has no position in, if any */
    for (size_t r = 0; r < json_array_size(reserves); r++) {
      const char *asset = json_string_value(json_object_get(json_array_get(reserves, r), "asset"));
      bool held = false;
      json_array_foreach(out, i, p) held |= strcasecmp(json_string_value(json_object_get(p, "asset")), asset) == 0;
      if (held) continue;
      json_array_append_new(out, json_pack("{s:s, s:o, s:o, s:b}", "asset", asset, "scaled_a_token_balance",
                                           amount(false), "scaled_variable_debt", amount(true), "collateral", 1));
      break;
    }
  if (how & 32)
    json_object_set_new(b, "emode_category",
                        json_integer(1 - json_integer_value(json_object_get(b, "emode_category"))));
  json_object_set_new(b, "positions", out);
  return b;
}

/* A delta that changes, adds, removes and leaves unchanged positions (and lists accounts that do
 * not change at all, empties some, adds new ones) leaves exactly the rows a full import of the
 * resulting state writes into an empty chain at the same block time and prices: every column,
 * health factors and totals included. The listed accounts carry the delta's block, the others
 * keep theirs. The same delta's accounts again at the next block change no position. */
START_TEST(test_delta_equals_full) {
  char url_d[TH_PG_CONNINFO_MAX], url_f[TH_PG_CONNINFO_MAX];
  new_db(url_d, sizeof url_d);
  new_db(url_f, sizeof url_f);
  json_error_t e;
  json_t *fx = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(fx != NULL, "%s", e.text);
  json_t *reserves = json_object_get(fx, "reserves");
  json_t *state = json_object();

  enum { N = 400 };
  json_t *s1 = json_array();
  add_random_accounts(s1, N, reserves);
  import_on(url_d, s1, false, BLOCK, 0);
  fold(state, s1, true);

  json_t *d = json_array();
  for (size_t i = 0; i < N; i++) {
    json_t *a = json_array_get(s1, i);
    if (i % 4 == 3) continue; /* not listed */
    if (i % 4 == 0)
      json_array_append(d, a); /* listed, nothing changed */
    else if (i % 20 == 1)
      json_array_append_new(
          d, json_pack("{s:O, s:i, s:[]}", "address", json_object_get(a, "address"), "emode_category", 0, "positions"));
    else
      json_array_append_new(d, edit_account(a, (unsigned)(next() % 64), reserves));
  }
  add_random_accounts(d, 50, reserves);
  import_on(url_d, d, true, BLOCK + 1, 0);
  fold(state, d, false);
  check_rows(url_d, state, "delta import");

  /* the full import of the same state, at the same block time and prices */
  json_t *all = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(state, k, v) json_array_append(all, v);
  import_on(url_f, all, false, BLOCK + 1, 0);
  char *rd = all_rows(url_d), *rf = all_rows(url_f);
  ck_assert_msg(strcmp(rd, rf) == 0, "the delta's rows differ from a full import's");
  ck_assert_uint_gt(strlen(rf), 10000);
  free(rd), free(rf);
  /* the block of each account: the delta's for the listed ones still there, the first's for the rest */
  char *blocks = query_text(url_d, "SELECT string_agg(DISTINCT block_number::text, ',') AS v FROM accounts");
  ck_assert_str_eq(blocks, "21000000,21000001");
  free(blocks);
  size_t listed_alive = 0;
  size_t i;
  json_array_foreach(d, i, v) listed_alive += json_array_size(json_object_get(v, "positions")) > 0;
  char *n1 = query_text(url_d, "SELECT count(*)::text AS v FROM accounts WHERE block_number = 21000001");
  ck_assert_uint_eq(strtoul(n1, NULL, 10), listed_alive);
  free(n1);

  /* the same accounts again: nothing about the positions changes, so none is rewritten (their
   * row versions stay), and the rows are the same */
  char *x0 = query_text(url_d, "SELECT md5(string_agg(ctid::text, ',' ORDER BY account, asset)) AS v FROM positions");
  rd = all_rows(url_d);
  import_on(url_d, d, true, BLOCK + 2, 0);
  char *x1 = query_text(url_d, "SELECT md5(string_agg(ctid::text, ',' ORDER BY account, asset)) AS v FROM positions");
  char *rd2 = all_rows(url_d);
  ck_assert_str_eq(x1, x0);
  ck_assert_str_eq(rd2, rd);
  free(x0), free(x1), free(rd), free(rd2);

  json_decref(s1), json_decref(d), json_decref(all), json_decref(state), json_decref(fx);
  th_pg_drop_db(&pg, url_d);
  th_pg_drop_db(&pg, url_f);
}
END_TEST

/* Migration 0030: an import does not count as a write from outside it; any other statement on
 * accounts or positions (one that changes no row too, and TRUNCATE) moves the chain's change head
 * on as a full-mode import would, so the state cache reads every account. */
START_TEST(test_write_outside_import) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_error_t e;
  json_t *fx = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(fx != NULL, "%s", e.text);
  json_t *reserves = json_object_get(fx, "reserves");
  json_t *s1 = json_array();
  add_random_accounts(s1, 50, reserves);
  import_on(url, s1, false, BLOCK, 0);
  static const char head_sql[] = "SELECT seq || '/' || full_seq AS v FROM account_change_heads WHERE chain_id = 1";
  char *h = query_text(url, head_sql);
  ck_assert_str_eq(h, "1/1");
  free(h);
  json_t *d = json_array();
  for (size_t i = 0; i < 20; i++)
    json_array_append_new(d, edit_account(json_array_get(s1, i), (unsigned)i, reserves));
  import_on(url, d, true, BLOCK + 1, 0);
  h = query_text(url, head_sql);
  ck_assert_str_eq(h, "2/1"); /* the delta's own writes are not counted as another writer's */
  free(h);

  static const char *const outside[] = {
      "UPDATE positions SET collateral = NOT collateral WHERE chain_id = 1 AND account = (SELECT min(account) FROM "
      "positions)",
      "DELETE FROM accounts WHERE chain_id = 1 AND address = '0x0000000000000000000000000000000000000001'",
      "INSERT INTO positions (chain_id, account, asset, scaled_a_token_balance, scaled_variable_debt, collateral)"
      " SELECT 1, '0x0000000000000000000000000000000000000002', asset, 1, 0, false FROM reserves LIMIT 1",
      "TRUNCATE positions",
  };
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
    char *r = query_text(url, "SELECT '' AS v"); /* (a connection that works) */
    free(r);
    char err[256];
    db_conn *c = db_conn_open(url, 5000, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_msg(db_exec(c, outside[i]) == DB_OK, "%s: %s", outside[i], db_last_error(c));
    db_conn_close(c);
    h = query_text(url, head_sql);
    char want[32];
    snprintf(want, sizeof want, "%zu/%zu", i + 3, i + 3);
    ck_assert_msg(strcmp(h, want) == 0, "%s: head %s, want %s", outside[i], h, want);
    free(h);
  }
  json_decref(s1), json_decref(d), json_decref(fx);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* The accounts in address order (what the import's COPY reads), from a spool and from memory:
 * every account once, each whole, strictly increasing. */
START_TEST(test_sorted_iterator) {
  json_error_t e;
  json_t *fx = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(fx != NULL, "%s", e.text);
  json_t *acc = json_array();
  for (size_t i = 0; i < 500; i++) {
    char a[43];
    random_address(a);
    json_t *x; /* with at least one position */
    while (json_array_size(json_object_get(x = random_account(a, json_object_get(fx, "reserves")), "positions")) == 0)
      json_decref(x);
    json_array_append_new(acc, x);
  }
  char *t = snapshot(acc, false, BLOCK);
  for (int streamed = 0; streamed < 2; streamed++) {
    struct chain_snapshot_errors errs;
    memset(&errs, 0, sizeof errs);
    struct chain_snapshot *s = NULL;
    struct chain_snapshot_stream *st = NULL;
    struct mem_src m = {t, strlen(t), 0};
    if (streamed) {
      st = chain_snapshot_stream_new(read_mem, &m);
      ck_assert_int_eq(chain_snapshot_stream_next(st, &s, &errs), 1);
      ck_assert_ptr_nonnull(s->spool);
    } else {
      s = chain_snapshot_parse(t, strlen(t), &errs);
    }
    ck_assert_msg(s != NULL, "rejected: %s", errs.n ? errs.msg[0] : "?");
    /* the document's accounts as text lines, sorted here */
    char **want = calloc(s->n_accounts, sizeof *want), **got = calloc(s->n_accounts, sizeof *got);
    size_t nw = 0, ng = 0;
    struct chain_snap_account_iter it;
    for (int sorted = 0; sorted < 2; sorted++) {
      ck_assert(sorted ? chain_snapshot_accounts_begin_sorted(s, &it) : chain_snapshot_accounts_begin(s, &it));
      const struct chain_snap_account *a;
      char prev[43] = "";
      while ((a = chain_snapshot_accounts_next(&it))) {
        char line[2048];
        size_t k = (size_t)snprintf(line, sizeof line, "%s %u", a->address, a->emode_category);
        for (uint32_t j = 0; j < a->n_positions; j++) {
          char x[80], y[80];
          u256_to_dec(a->positions[j].scaled_a_token_balance, x);
          u256_to_dec(a->positions[j].scaled_variable_debt, y);
          k += (size_t)snprintf(line + k, sizeof line - k, " %s:%s:%s:%d", a->positions[j].asset, x, y,
                                a->positions[j].collateral);
        }
        if (sorted) {
          ck_assert_msg(strcmp(prev, a->address) < 0, "%s after %s", a->address, prev);
          memcpy(prev, a->address, 43);
          got[ng++] = strdup(line);
        } else {
          want[nw++] = strdup(line);
        }
      }
      ck_assert(!it.failed);
      chain_snapshot_accounts_end(&it);
    }
    ck_assert_uint_eq(nw, 500);
    ck_assert_uint_eq(ng, 500);
    char *w = joined(want, nw), *g = joined(got, ng);
    ck_assert_str_eq(g, w);
    free(w), free(g);
    chain_snapshot_free(s);
    chain_snapshot_stream_free(st);
  }
  free(t);
  json_decref(acc), json_decref(fx);
}
END_TEST

/* evm_address: "0x" and 40 lowercase hex digits, nothing else (the rule of migrations 0002 and
 * 0003, written more cheaply by 0013). */
START_TEST(test_address_domain) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  char err[256];
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  static const struct {
    const char *v;
    bool ok;
  } cases[] = {
      {"0x0123456789abcdef0123456789abcdef01234567", true},
      {"0xffffffffffffffffffffffffffffffffffffffff", true},
      {"0x0123456789ABCDEF0123456789abcdef01234567", false},       /* uppercase */
      {"0x0123456789abcdef0123456789abcdef0123456g", false},       /* not hex */
      {"0x0123456789abcdef0123456789abcdef012345 7", false},       /* a blank, which decode would skip */
      {"0x0123456789abcdef0123456789abcdef0123456", false},        /* 39 digits */
      {"0x0123456789abcdef0123456789abcdef012345678", false},      /* 41 digits */
      {"0X0123456789abcdef0123456789abcdef01234567", false},       /* 0X */
      {"000123456789abcdef0123456789abcdef01234567", false},       /* no 0x */
      {"0x0123456789abcdef0123456789abcdef012345\xc3\xa9", false}, /* 42 bytes, not ASCII */
      {"", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *p[] = {cases[i].v};
    db_status st = db_exec_params(c, "SELECT $1::evm_address", 1, p, NULL);
    ck_assert_msg((st == DB_OK) == cases[i].ok, "%s: %s (%s)", cases[i].v, db_status_name(st), db_last_error(c));
  }
  db_conn_close(c);
  th_pg_drop_db(&pg, url);
}
END_TEST

static void setup(void) { ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start"); }
static void teardown(void) { th_pg_stop(&pg); }

/* The indexer's rewind after a reorg records its own change, for its chain only (db/index.c): the
 * triggers of migration 0030 do not count it (it would move every chain's head, and every
 * chain's next generation would read every account); its chain's head moves on by one, at the
 * block the rewind left the chain at, listing the accounts it removed; a rewind of every block
 * asks for a full read of that chain only. The removed accounts are taken from the table before
 * the rewind (those written above the ancestor), not from the rewind's answer. */
START_TEST(test_rewind_records_its_chain) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_error_t e;
  json_t *fx = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(fx != NULL, "%s", e.text);
  json_t *reserves = json_object_get(fx, "reserves");
  json_t *s1 = json_array(), *d = json_array();
  add_random_accounts(s1, 40, reserves);
  for (size_t i = 0; i < 15; i++)
    json_array_append_new(d, edit_account(json_array_get(s1, i), (unsigned)i, reserves));
  for (size_t i = 0; i < 5; i++) { /* new accounts, with positions (an empty one is not written) */
    char a[43];
    random_address(a);
    json_t *acc = random_account(a, reserves);
    if (json_array_size(json_object_get(acc, "positions")) == 0)
      json_array_append_new(json_object_get(acc, "positions"),
                            json_pack("{s:O, s:s, s:s, s:b}", "asset",
                                      json_object_get(json_array_get(reserves, 0), "asset"), "scaled_a_token_balance",
                                      "5", "scaled_variable_debt", "0", "collateral", 1));
    json_array_append_new(d, acc);
  }
  for (int chain = 1; chain <= 2; chain++) {
    import_on(url, s1, false, BLOCK, chain);
    import_on(url, d, true, BLOCK + 1, chain);
  }
  static const char head1[] = "SELECT seq || '/' || full_seq || '/' || block_number || '/' || block_timestamp"
                              " || '/' || kept_from AS v FROM account_change_heads WHERE chain_id = 1";
  static const char head2[] = "SELECT seq || '/' || full_seq || '/' || block_number || '/' || block_timestamp"
                              " || '/' || kept_from AS v FROM account_change_heads WHERE chain_id = 2";
  char *h1 = query_text(url, head1), *h2 = query_text(url, head2);
  ck_assert_str_eq(h1, "2/1/21000001/1730000012/1");
  ck_assert_str_eq(h2, "2/1/21000001/1730000012/1");
  free(h1);
  char *written = query_text(url, "SELECT string_agg(address, ',' ORDER BY address) AS v FROM accounts"
                                  " WHERE chain_id = 1 AND block_number > 21000000");
  ck_assert_uint_gt(strlen(written), 5 * 43 - 1); /* the new accounts at least */
  db_pool *pool = db_pool_create(url, 1);
  ck_assert_ptr_nonnull(pool);
  char(*removed)[43] = NULL;
  size_t n = 0;
  ck_assert_int_eq(db_index_rewind(pool, 1, true, BLOCK, &removed, &n), DB_OK);
  ck_assert_uint_eq(n * 43 - 1, strlen(written));
  free(removed);
  h1 = query_text(url, head1);
  char *h2b = query_text(url, head2);
  ck_assert_str_eq(h2b, h2); /* chain 2 untouched */
  free(h2b);
  ck_assert_str_eq(h1, "3/1/21000000/1730000000/1"); /* a delta at the ancestor, not a full read */
  free(h1);
  char *listed = query_text(url, "SELECT string_agg(address, ',' ORDER BY address) AS v FROM account_changes"
                                 " WHERE chain_id = 1 AND seq = 3");
  ck_assert_str_eq(listed, written);
  free(listed);
  free(written);
  char *left =
      query_text(url, "SELECT count(*)::text AS v FROM accounts WHERE chain_id = 1 AND block_number > 21000000");
  ck_assert_str_eq(left, "0");
  free(left);
  /* every block of chain 2 rewound: a full read of chain 2, chain 1 untouched */
  h1 = query_text(url, head1);
  ck_assert_int_eq(db_index_rewind(pool, 2, false, 0, &removed, &n), DB_OK);
  free(removed);
  h2b = query_text(url, head2);
  ck_assert_str_eq(h2b, "3/3/0/0/1");
  free(h2b);
  h2b = query_text(url, head1);
  ck_assert_str_eq(h2b, h1);
  free(h2b);
  free(h1);
  free(h2);
  db_pool_destroy(pool);
  json_decref(s1), json_decref(d), json_decref(fx);
  th_pg_drop_db(&pg, url);
}
END_TEST

int main(void) {
  Suite *s = suite_create("db_import_rows");
  TCase *tc = tcase_create("rows");
  tcase_set_timeout(tc, 180);
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_full_merge_delta);
  tcase_add_test(tc, test_delta_equals_full);
  tcase_add_test(tc, test_write_outside_import);
  tcase_add_test(tc, test_rewind_records_its_chain);
  tcase_add_test(tc, test_address_domain);
  tcase_add_test(tc, test_sorted_iterator);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
