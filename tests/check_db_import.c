/* ctest-label: db */
/* Chain state import against a real PostgreSQL: sparkd.snapshot/1 parsing and validation,
 * db_snapshot_apply and `sparkd import`. Expected values come from the fixture JSON (read with
 * jansson, not our parser), from SQL arithmetic on numeric (health factors, bitmap decoding), and
 * from the EIP-55 specification's own examples. */
#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chain/snapshot.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/snapshot.h"
#include "risk/eip55.h"
#include "tests/support/pgtest.h"

static struct th_pg pg;

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/snapshot_basic.json"
#define BLOCK 21000000
#define TS 1730000000

/* ---- helpers ---- */

static json_t *fixture(void) {
  json_error_t e;
  json_t *j = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(j != NULL, "%s", e.text);
  return j;
}

/* Returns the compact text of j (caller frees). */
static char *dump(const json_t *j) { return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY); }

/* Resolves "/a/0/b" inside j; returns the parent container and the last segment in *last. */
static json_t *resolve_parent(json_t *j, const char *path, char *last, size_t last_len) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  char *segs[16];
  int n = 0;
  for (char *t = strtok(buf, "/"); t && n < 16; t = strtok(NULL, "/"))
    segs[n++] = t;
  json_t *cur = j;
  for (int i = 0; i < n - 1; i++) {
    cur = json_is_array(cur) ? json_array_get(cur, strtoul(segs[i], NULL, 10)) : json_object_get(cur, segs[i]);
    ck_assert_msg(cur != NULL, "path %s: no %s", path, segs[i]);
  }
  snprintf(last, last_len, "%s", segs[n - 1]);
  return cur;
}

/* Sets path to the JSON text value (NULL: deletes it). */
static void mut(json_t *j, const char *path, const char *value) {
  char last[64];
  json_t *parent = resolve_parent(j, path, last, sizeof last);
  json_t *v = NULL;
  if (value) {
    json_error_t e;
    v = json_loads(value, JSON_DECODE_ANY, &e);
    ck_assert_msg(v != NULL, "value %s: %s", value, e.text);
  }
  if (json_is_array(parent)) {
    size_t i = strtoul(last, NULL, 10);
    if (v)
      ck_assert_int_eq(json_array_set_new(parent, i, v), 0);
    else
      ck_assert_int_eq(json_array_remove(parent, i), 0);
  } else {
    if (v)
      ck_assert_int_eq(json_object_set_new(parent, last, v), 0);
    else
      ck_assert_int_eq(json_object_del(parent, last), 0);
  }
}

static const char *jstr(const json_t *j, const char *path) {
  char last[64];
  json_t *parent = resolve_parent((json_t *)j, path, last, sizeof last);
  json_t *v = json_is_array(parent) ? json_array_get(parent, strtoul(last, NULL, 10)) : json_object_get(parent, last);
  ck_assert_msg(json_is_string(v), "%s is not a string", path);
  return json_string_value(v);
}

static void lower(char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

static void new_db(char *url, size_t len) {
  char err[512] = "";
  unsigned applied = 0;
  ck_assert_int_eq(th_pg_create_db(&pg, url, len), 0);
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);
}

/* Returns column "v" of a one-row query (text; "" for NULL) in a static buffer. */
static const char *q(db_conn *c, const char *sql, unsigned n, const char *const *params) {
  static char out[8192];
  bool isnull = false;
  struct db_col col = {"v", DB_COL_TEXT, out, sizeof out, &isnull};
  db_status st = db_query_one_params(c, sql, n, params, &col, 1);
  ck_assert_msg(st == DB_OK, "%s: %s %s", sql, db_status_name(st), db_last_error(c));
  if (isnull) out[0] = '\0';
  return out;
}

static db_conn *conn(const char *url) {
  char err[256];
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  return c;
}

static const char *const tables[] = {"chains",
                                     "chain_blocks",
                                     "assets",
                                     "reserves",
                                     "emode_categories",
                                     "prices",
                                     "accounts",
                                     "positions",
                                     "savings_vaults",
                                     "liquidity_layer",
                                     "ll_venues",
                                     "ll_allocations",
                                     "ll_idle",
                                     "ll_rate_limits",
                                     "kill_switch",
                                     "kill_switch_oracles",
                                     "reserve_state_series",
                                     "vault_state_series",
                                     "price_series",
                                     "rate_limit_series",
                                     NULL};

/* Returns a malloc'd fingerprint of every chain-state table: row count and md5 of all rows. */
static char *checksum(const char *url) {
  db_conn *c = conn(url);
  size_t cap = 8192, len = 0;
  char *out = calloc(1, cap);
  for (int i = 0; tables[i]; i++) {
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS v FROM %s t",
             tables[i]);
    len += (size_t)snprintf(out + len, cap - len, "%s=%s;", tables[i], q(c, sql, 0, NULL));
  }
  db_conn_close(c);
  return out;
}

/* Parses and applies text to url; returns the outcome, -1 when the parser rejected it. */
static int import_text(const char *url, const char *text, bool allow_older, struct db_snapshot_result *res,
                       struct chain_snapshot_errors *errs) {
  memset(errs, 0, sizeof *errs);
  struct chain_snapshot *s = chain_snapshot_parse(text, strlen(text), errs);
  if (!s) return -1;
  db_pool *pool = db_pool_create(url, 1);
  ck_assert_ptr_nonnull(pool);
  db_status st = db_snapshot_apply(pool, s, allow_older, res, errs);
  ck_assert_msg(st == DB_OK, "apply: %s", db_status_name(st));
  db_pool_destroy(pool);
  chain_snapshot_free(s);
  return (int)res->outcome;
}

static int import_json(const char *url, const json_t *j, bool allow_older, struct db_snapshot_result *res,
                       struct chain_snapshot_errors *errs) {
  char *t = dump(j);
  int rc = import_text(url, t, allow_older, res, errs);
  free(t);
  return rc;
}

static bool has_error(const struct chain_snapshot_errors *e, const char *path, const char *what) {
  char pfx[200];
  snprintf(pfx, sizeof pfx, "%s: ", path);
  for (unsigned i = 0; i < e->n; i++)
    if (strncmp(e->msg[i], pfx, strlen(pfx)) == 0 && strstr(e->msg[i], what)) return true;
  return false;
}

static char *all_errors(const struct chain_snapshot_errors *e) {
  static char buf[8192];
  size_t k = 0;
  buf[0] = '\0';
  for (unsigned i = 0; i < e->n && k < sizeof buf - 300; i++)
    k += (size_t)snprintf(buf + k, sizeof buf - k, "\n  %s", e->msg[i]);
  return buf;
}

/* ---- EIP-55 ---- */

START_TEST(test_eip55) {
  /* The EIP-55 specification's examples, and an address as Etherscan prints it. */
  static const char *const ok[] = {
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
      "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
      "0xC13e21B648A5Ee794902342038FF3aDAB66BE987", "0x52908400098527886E0F7030069857D2E4169EE7",
      "0xde709f2102306220921060314715629080e2fb77"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char in[43], out[43];
    snprintf(in, sizeof in, "%s", ok[i]);
    lower(in);
    ck_assert(risk_eip55(in, out));
    ck_assert_str_eq(out, ok[i]);
  }
  char out[43];
  ck_assert(!risk_eip55("0x123", out));
  ck_assert(!risk_eip55("0xC13e21B648A5Ee794902342038FF3aDAB66BE98g", out));
  ck_assert(!risk_eip55("C13e21B648A5Ee794902342038FF3aDAB66BE98700", out));
}
END_TEST

/* Health factor, total collateral and total debt of account $1 recomputed in SQL (numeric) from
 * the stored rows, per spec §2.5; valid when the reserves were last updated at the block's
 * timestamp (normalized indexes = stored ones). */
static const char hf_sql[] =
    "WITH p AS ("
    "  SELECT po.account, a.emode_category AS ucat, r.emode_category AS rcat, r.liquidation_threshold AS lt,"
    "   e.liquidation_threshold AS elt, po.collateral, pr.price, 10::numeric ^ r.decimals AS unit,"
    "   div(po.scaled_a_token_balance * r.liquidity_index + 5 * 10::numeric ^ 26, 10::numeric ^ 27) AS bal,"
    "   div(po.scaled_variable_debt * r.variable_borrow_index + 5 * 10::numeric ^ 26, 10::numeric ^ 27) AS debt"
    "  FROM positions po JOIN accounts a ON a.chain_id = po.chain_id AND a.address = po.account"
    "  JOIN reserves r ON r.chain_id = po.chain_id AND r.asset = po.asset"
    "  JOIN prices pr ON pr.chain_id = po.chain_id AND pr.asset = po.asset"
    "  LEFT JOIN emode_categories e ON e.chain_id = po.chain_id AND e.category_id = a.emode_category"
    "  WHERE po.account = $1),"
    " q AS (SELECT CASE WHEN collateral AND lt <> 0 THEN div(bal * price, unit) ELSE 0 END AS coll,"
    "   CASE WHEN ucat <> 0 AND rcat = ucat THEN elt ELSE lt END AS lt, div(debt * price, unit) AS debt FROM p),"
    " s AS (SELECT sum(coll) AS c, sum(coll * lt) AS cl, sum(debt) AS d FROM q)"
    " SELECT CASE WHEN d = 0 THEN (2::numeric ^ 256 - 1)::numeric(78,0)::text ELSE"
    "  div(div(c * div(cl, c) + 5000, 10000) * 10::numeric ^ 18 + div(d, 2), d)::text END"
    "  || '|' || c::text || '|' || d::text AS v FROM s";

/* ---- round trip ---- */

START_TEST(test_round_trip) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_t *j = fixture();
  /* a name with what an array literal quotes (rate limits go to SQL as text[] elements) */
  json_object_set_new(json_array_get(json_object_get(json_object_get(j, "liquidity_layer"), "rate_limits"), 0), "name",
                      json_string("LIMIT \"A\",{b} \\c 'd' NULL \xc3\xa9"));
  struct db_snapshot_result res;
  struct chain_snapshot_errors errs;
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  ck_assert_uint_eq(res.accounts_written, 4);
  ck_assert_uint_eq(res.positions_written, 6); /* the all-zero USDC position is dropped */
  ck_assert_uint_eq(res.hf_null, 0);
  db_conn *c = conn(url);

  ck_assert_str_eq(q(c,
                     "SELECT block_number || ' ' || block_hash || ' ' || block_timestamp AS v FROM chains"
                     " WHERE chain_id = 1",
                     0, NULL),
                   "21000000 0xabababababababababababababababababababababababababababababababab 1730000000");

  /* assets */
  json_t *arr = json_object_get(j, "assets"), *o;
  size_t i;
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM assets", 0, NULL), "5");
  json_array_foreach(arr, i, o) {
    char addr[43];
    snprintf(addr, sizeof addr, "%s", json_string_value(json_object_get(o, "address")));
    lower(addr);
    const char *p[] = {addr};
    char want[256];
    json_t *name = json_object_get(o, "name");
    snprintf(want, sizeof want, "%s|%lld|%s", json_string_value(json_object_get(o, "symbol")),
             (long long)json_integer_value(json_object_get(o, "decimals")), name ? json_string_value(name) : "");
    ck_assert_str_eq(q(c,
                       "SELECT symbol || '|' || decimals || '|' || coalesce(name, '') AS v FROM assets"
                       " WHERE chain_id = 1 AND address = $1",
                       1, p),
                     want);
  }

  /* reserves: every numeric field as given, every address lowercased */
  static const char *const rnum[] = {"configuration",
                                     "liquidity_index",
                                     "variable_borrow_index",
                                     "current_liquidity_rate",
                                     "current_variable_borrow_rate",
                                     "a_token_scaled_total_supply",
                                     "variable_debt_scaled_total_supply",
                                     "accrued_to_treasury",
                                     "isolation_mode_total_debt",
                                     "available_liquidity"};
  arr = json_object_get(j, "reserves");
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM reserves", 0, NULL), "4");
  json_array_foreach(arr, i, o) {
    char addr[43];
    snprintf(addr, sizeof addr, "%s", json_string_value(json_object_get(o, "asset")));
    lower(addr);
    const char *p[] = {addr};
    for (size_t k = 0; k < sizeof rnum / sizeof rnum[0]; k++) {
      char sql[256];
      snprintf(sql, sizeof sql, "SELECT %s::text AS v FROM reserves WHERE chain_id = 1 AND asset = $1", rnum[k]);
      ck_assert_str_eq(q(c, sql, 1, p), json_string_value(json_object_get(o, rnum[k])));
    }
    char want[512];
    json_t *irm = json_object_get(o, "interest_rate_strategy");
    snprintf(
        want, sizeof want, "%lld|%lld|%s|%s|%s|%s|%s|%s|%s", (long long)json_integer_value(json_object_get(o, "id")),
        (long long)json_integer_value(json_object_get(o, "last_update_timestamp")),
        json_string_value(json_object_get(irm, "kind")), json_string_value(json_object_get(irm, "optimal_usage_ratio")),
        json_string_value(json_object_get(irm, "base_variable_borrow_rate")),
        json_string_value(json_object_get(irm, "variable_rate_slope1")),
        json_string_value(json_object_get(irm, "variable_rate_slope2")),
        json_object_get(irm, "spread") ? json_string_value(json_object_get(irm, "spread")) : "",
        json_object_get(irm, "rate_source")
            ? json_string_value(json_object_get(json_object_get(irm, "rate_source"), "apr"))
            : "");
    ck_assert_str_eq(q(c,
                       "SELECT reserve_id || '|' || last_update_timestamp || '|' || irm_kind || '|' ||"
                       " irm_optimal_usage_ratio || '|' || irm_base_variable_borrow_rate || '|' ||"
                       " irm_variable_rate_slope1 || '|' || irm_variable_rate_slope2 || '|' ||"
                       " coalesce(irm_spread::text, '') || '|' || coalesce(irm_rate_source->>'apr', '') AS v"
                       " FROM reserves WHERE chain_id = 1 AND asset = $1",
                       1, p),
                     want);
    char a_token[43];
    snprintf(a_token, sizeof a_token, "%s", json_string_value(json_object_get(o, "a_token")));
    lower(a_token);
    ck_assert_str_eq(q(c, "SELECT a_token AS v FROM reserves WHERE chain_id = 1 AND asset = $1", 1, p), a_token);
  }
  /* The decoded columns equal the bitmap's fields, decoded here with numeric arithmetic. */
  ck_assert_str_eq(
      q(c,
        "SELECT count(*)::text AS v FROM reserves WHERE"
        " ltv <> mod(configuration, 65536) OR liquidation_threshold <> mod(div(configuration, 2::numeric ^ 16), 65536)"
        " OR liquidation_bonus <> mod(div(configuration, 2::numeric ^ 32), 65536) OR decimals <> "
        "mod(div(configuration, 2::numeric ^ 48), 256)"
        " OR active <> (mod(div(configuration, 2::numeric ^ 56), 2) = 1) OR frozen <> (mod(div(configuration, "
        "2::numeric ^ 57), 2) = 1)"
        " OR borrowing_enabled <> (mod(div(configuration, 2::numeric ^ 58), 2) = 1)"
        " OR flashloan_enabled <> (mod(div(configuration, 2::numeric ^ 63), 2) = 1)"
        " OR reserve_factor <> mod(div(configuration, 2::numeric ^ 64), 65536)"
        " OR borrow_cap <> mod(div(configuration, 2::numeric ^ 80), 2::numeric ^ 36) OR supply_cap <> "
        "mod(div(configuration, 2::numeric ^ 116), 2::numeric ^ 36)"
        " OR liquidation_protocol_fee <> mod(div(configuration, 2::numeric ^ 152), 65536)"
        " OR emode_category <> mod(div(configuration, 2::numeric ^ 168), 256)"
        " OR debt_ceiling <> mod(div(configuration, 2::numeric ^ 212), 2::numeric ^ 40)",
        0, NULL),
      "0");
  /* And the values the fixture's bitmaps were built from. */
  ck_assert_str_eq(q(c,
                     "SELECT concat_ws(',', ltv, liquidation_threshold, liquidation_bonus, decimals, reserve_factor,"
                     " borrow_cap, supply_cap, liquidation_protocol_fee, emode_category) AS v FROM reserves"
                     " WHERE asset = '0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2'",
                     0, NULL),
                   "8200,8300,10500,18,1000,1000000,2000000,1000,1");

  /* eMode, prices */
  ck_assert_str_eq(q(c,
                     "SELECT concat_ws(',', category_id, ltv, liquidation_threshold, liquidation_bonus, label,"
                     " price_source) AS v FROM emode_categories",
                     0, NULL),
                   "1,9000,9300,10100,ETH,0x0000000000000000000000000000000000000000");
  arr = json_object_get(j, "prices");
  json_array_foreach(arr, i, o) {
    char addr[43], want[256];
    snprintf(addr, sizeof addr, "%s", json_string_value(json_object_get(o, "asset")));
    lower(addr);
    const char *p[] = {addr};
    char src[43];
    snprintf(src, sizeof src, "%s", json_string_value(json_object_get(o, "source")));
    lower(src);
    snprintf(want, sizeof want, "%s|%s|%lld", json_string_value(json_object_get(o, "price")), src,
             (long long)json_integer_value(json_object_get(o, "updated_at")));
    ck_assert_str_eq(q(c, "SELECT price || '|' || source || '|' || updated_at AS v FROM prices WHERE asset = $1", 1, p),
                     want);
  }

  /* accounts and positions */
  arr = json_object_get(j, "accounts");
  json_array_foreach(arr, i, o) {
    char addr[43];
    snprintf(addr, sizeof addr, "%s", json_string_value(json_object_get(o, "address")));
    lower(addr);
    const char *p[] = {addr};
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)json_integer_value(json_object_get(o, "emode_category")));
    ck_assert_str_eq(q(c, "SELECT emode_category::text AS v FROM accounts WHERE chain_id = 1 AND address = $1", 1, p),
                     want);
    size_t k;
    json_t *po;
    json_array_foreach(json_object_get(o, "positions"), k, po) {
      char asset[43], w[256];
      snprintf(asset, sizeof asset, "%s", json_string_value(json_object_get(po, "asset")));
      lower(asset);
      const char *pp[] = {addr, asset};
      const char *a = json_string_value(json_object_get(po, "scaled_a_token_balance"));
      const char *d = json_string_value(json_object_get(po, "scaled_variable_debt"));
      if (strcmp(a, "0") == 0 && strcmp(d, "0") == 0) {
        snprintf(w, sizeof w, "%s", "");
      } else {
        snprintf(w, sizeof w, "%s|%s|%s", a, d, json_is_true(json_object_get(po, "collateral")) ? "true" : "false");
      }
      ck_assert_str_eq(q(c,
                         "SELECT (SELECT scaled_a_token_balance || '|' || scaled_variable_debt || '|' || collateral"
                         " FROM positions WHERE chain_id = 1 AND account = $1 AND asset = $2) AS v",
                         2, pp),
                       w);
    }
  }
  /* Health factors: recomputed in SQL (hf_sql). */
  for (i = 0; i < json_array_size(arr); i++) {
    char addr[43];
    snprintf(addr, sizeof addr, "%s", json_string_value(json_object_get(json_array_get(arr, i), "address")));
    lower(addr);
    const char *p[] = {addr};
    char want[512];
    snprintf(want, sizeof want, "%s", q(c, hf_sql, 1, p));
    ck_assert_str_eq(q(c,
                       "SELECT health_factor || '|' || total_collateral_base || '|' || total_debt_base AS v"
                       " FROM accounts WHERE address = $1",
                       1, p),
                     want);
  }
  /* The two borrowers are healthy but near 1 (values independent of the code under test above). */
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM accounts WHERE health_factor < 2 * 10::numeric ^ 18", 0, NULL),
                   "2");

  /* savings vaults */
  arr = json_object_get(j, "savings_vaults");
  static const char *const vnum[] = {"chi", "rate", "total_supply"};
  json_array_foreach(arr, i, o) {
    char addr[43];
    snprintf(addr, sizeof addr, "%s", json_string_value(json_object_get(o, "address")));
    lower(addr);
    const char *p[] = {addr};
    for (size_t k = 0; k < 3; k++) {
      char sql[256];
      snprintf(sql, sizeof sql, "SELECT %s::text AS v FROM savings_vaults WHERE address = $1", vnum[k]);
      ck_assert_str_eq(q(c, sql, 1, p), json_string_value(json_object_get(o, vnum[k])));
    }
    char want[64];
    snprintf(want, sizeof want, "%s|%lld", json_string_value(json_object_get(o, "kind")),
             (long long)json_integer_value(json_object_get(o, "rho")));
    ck_assert_str_eq(q(c, "SELECT kind || '|' || rho AS v FROM savings_vaults WHERE address = $1", 1, p), want);
  }
  ck_assert_str_eq(q(c,
                     "SELECT concat_ws(',', min_rate, max_rate, deposit_cap, idle_assets, intents_address,"
                     " intents_min_assets, intents_max_assets, intents_max_deadline_seconds) AS v FROM savings_vaults"
                     " WHERE kind = 'spark_vault_v2'",
                     0, NULL),
                   "1000000000000000000000000000,1000000003022265980097387650,2000000000000000,20000000000000,"
                   "0x1234567890123456789012345678901234567890,1000000,1000000000000,86400");
  ck_assert_str_eq(q(c,
                     "SELECT count(*)::text AS v FROM savings_vaults WHERE kind <> 'spark_vault_v2'"
                     " AND (min_rate IS NOT NULL OR deposit_cap IS NOT NULL)",
                     0, NULL),
                   "0");

  /* liquidity layer, kill switch */
  ck_assert_str_eq(q(c, "SELECT alm_proxy AS v FROM liquidity_layer", 0, NULL),
                   "0x1601843c5e9bc251a3272907010afa41fa18347e");
  ck_assert_str_eq(q(c,
                     "SELECT string_agg(venue_id || ':' || kind || ':' || label, ',' ORDER BY venue_id) AS v"
                     " FROM ll_venues",
                     0, NULL),
                   "sparklend-usdc:sparklend:SparkLend USDC,susds:erc4626:sUSDS");
  ck_assert_str_eq(q(c,
                     "SELECT string_agg(venue_id || ':' || amount || ':' || apr, ',' ORDER BY venue_id) AS v"
                     " FROM ll_allocations",
                     0, NULL),
                   "sparklend-usdc:250000000000000:41000000000000000000000000,"
                   "susds:100000000000000000000000000:37500000000000000000000000");
  ck_assert_str_eq(q(c, "SELECT amount::text AS v FROM ll_idle", 0, NULL), "5000000000000");
  arr = json_object_get(json_object_get(j, "liquidity_layer"), "rate_limits");
  json_array_foreach(arr, i, o) {
    const char *p[] = {json_string_value(json_object_get(o, "key"))};
    char want[512];
    snprintf(want, sizeof want, "%s|%s|%s|%s|%lld", json_string_value(json_object_get(o, "name")),
             json_string_value(json_object_get(o, "max_amount")), json_string_value(json_object_get(o, "slope")),
             json_string_value(json_object_get(o, "last_amount")),
             (long long)json_integer_value(json_object_get(o, "last_updated")));
    ck_assert_str_eq(q(c,
                       "SELECT name || '|' || max_amount || '|' || slope || '|' || last_amount || '|' ||"
                       " last_updated AS v FROM ll_rate_limits WHERE key = $1",
                       1, p),
                     want);
  }
  ck_assert_str_eq(q(c,
                     "SELECT triggered || '|' || o.label || '|' || threshold || '|' || latest_answer || '|' ||"
                     " decimals AS v FROM kill_switch k JOIN kill_switch_oracles o USING (chain_id)",
                     0, NULL),
                   "false|WBTC/BTC|95000000|99950000|8");

  /* one series row per (chain, address, block) */
  ck_assert_str_eq(q(c,
                     "SELECT (SELECT count(*) FROM reserve_state_series) || ',' || (SELECT count(*) FROM"
                     " price_series) || ',' || (SELECT count(*) FROM vault_state_series) || ',' || (SELECT count(*)"
                     " FROM rate_limit_series) AS v",
                     0, NULL),
                   "4,4,3,2");
  ck_assert_str_eq(q(c,
                     "SELECT string_agg(DISTINCT block_number || '@' || block_timestamp, ',') AS v"
                     " FROM reserve_state_series",
                     0, NULL),
                   "21000000@1730000000");
  db_conn_close(c);
  json_decref(j);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- block order ---- */

static void set_block(json_t *j, unsigned long long n, const char *hash_byte) {
  char v[32], h[80];
  snprintf(v, sizeof v, "%llu", n);
  mut(j, "/block/number", v);
  snprintf(h, sizeof h, "\"0x");
  for (int i = 0; i < 32; i++)
    strcat(h, hash_byte);
  strcat(h, "\"");
  mut(j, "/block/hash", h);
}

START_TEST(test_idempotent_and_order) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_t *j = fixture();
  struct db_snapshot_result res;
  struct chain_snapshot_errors errs;
  set_block(j, BLOCK + 10, "10");
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  ck_assert(!res.had_previous);
  char *before = checksum(url);

  /* the same block again: nothing changes, and it says so */
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_SAME_BLOCK);
  char *after = checksum(url);
  ck_assert_str_eq(before, after);
  free(after);
  ck_assert_int_eq(import_json(url, j, true, &res, &errs), DB_SNAPSHOT_SAME_BLOCK);

  /* the same block number with another hash is refused */
  set_block(j, BLOCK + 10, "11");
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_INVALID);
  ck_assert_msg(has_error(&errs, "$.block.hash", "was imported with hash"), "%s", all_errors(&errs));

  /* an older block is refused, and changes nothing */
  set_block(j, BLOCK, "ab");
  mut(j, "/prices/2/price", "\"250000000000\"");
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_OLDER);
  ck_assert(res.had_previous);
  ck_assert_uint_eq(res.previous_block, BLOCK + 10);
  after = checksum(url);
  ck_assert_str_eq(before, after);
  free(after);

  /* --allow-older applies it */
  ck_assert_int_eq(import_json(url, j, true, &res, &errs), DB_SNAPSHOT_APPLIED);
  db_conn *c = conn(url);
  ck_assert_str_eq(q(c, "SELECT block_number::text AS v FROM chains", 0, NULL), "21000000");
  ck_assert_str_eq(
      q(c, "SELECT price::text AS v FROM prices WHERE asset = '0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2'", 0, NULL),
      "250000000000");
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM chain_blocks", 0, NULL), "2");
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM price_series", 0, NULL), "8");
  db_conn_close(c);
  free(before);
  json_decref(j);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- a file import of an indexed block keeps its parent hash ---- */

/* Applies j as the indexer does (with parent, a 0x hash) or as a file import (parent NULL, and
   allow_older as `sparkd import --allow-older`). */
static int apply_block(const char *url, const json_t *j, bool allow_older, const char *parent) {
  char *t = dump(j);
  struct chain_snapshot_errors errs = {0};
  struct chain_snapshot *s = chain_snapshot_parse(t, strlen(t), &errs);
  free(t);
  ck_assert_msg(s != NULL, "%s", all_errors(&errs));
  db_pool *pool = db_pool_create(url, 1);
  ck_assert_ptr_nonnull(pool);
  struct db_snapshot_result res;
  db_status st = db_snapshot_apply_block(pool, s, allow_older, parent, &res, &errs);
  ck_assert_msg(st == DB_OK, "apply: %s%s", db_status_name(st), all_errors(&errs));
  ck_assert_msg(res.outcome == DB_SNAPSHOT_APPLIED, "%s", all_errors(&errs));
  db_pool_destroy(pool);
  chain_snapshot_free(s);
  return (int)res.outcome;
}

static const char block_row_sql[] = "SELECT block_hash || ' ' || coalesce(parent_hash, 'NULL') AS v FROM chain_blocks"
                                    " WHERE block_number = $1::bigint";

START_TEST(test_file_import_keeps_parent_hash) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_t *j = fixture();
  const char *h10 = "0x1010101010101010101010101010101010101010101010101010101010101010";
  const char *h0f = "0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";
  const char *h12 = "0x1212121212121212121212121212121212121212121212121212121212121212";
  const char *h13 = "0x1313131313131313131313131313131313131313131313131313131313131313";
  char want[200];
  /* the indexer's blocks BLOCK+10 (parent 0x0f…) and BLOCK+11 (parent 0x10…) */
  set_block(j, BLOCK + 10, "10");
  ck_assert_int_eq(apply_block(url, j, false, h0f), DB_SNAPSHOT_APPLIED);
  set_block(j, BLOCK + 11, "12");
  ck_assert_int_eq(apply_block(url, j, false, h10), DB_SNAPSHOT_APPLIED);
  db_conn *c = conn(url);
  const char *n10[] = {"21000010"}, *n11[] = {"21000011"};
  snprintf(want, sizeof want, "%s %s", h10, h0f);
  ck_assert_str_eq(q(c, block_row_sql, 1, n10), want);

  /* a file of block BLOCK+10 with the same hash: no parent in a file, the stored one stays */
  set_block(j, BLOCK + 10, "10");
  ck_assert_int_eq(apply_block(url, j, true, NULL), DB_SNAPSHOT_APPLIED);
  ck_assert_str_eq(q(c, block_row_sql, 1, n10), want);
  /* and BLOCK+11 the same way, now the newer one (no --allow-older needed) */
  set_block(j, BLOCK + 11, "12");
  ck_assert_int_eq(apply_block(url, j, false, NULL), DB_SNAPSHOT_APPLIED);
  snprintf(want, sizeof want, "%s %s", h12, h10);
  ck_assert_str_eq(q(c, block_row_sql, 1, n11), want);

  /* a file of block BLOCK+10 with another hash: another block, whose parent nobody told us */
  set_block(j, BLOCK + 10, "13");
  ck_assert_int_eq(apply_block(url, j, true, NULL), DB_SNAPSHOT_APPLIED);
  snprintf(want, sizeof want, "%s NULL", h13);
  ck_assert_str_eq(q(c, block_row_sql, 1, n10), want);
  snprintf(want, sizeof want, "%s %s", h12, h10);
  ck_assert_str_eq(q(c, block_row_sql, 1, n11), want);
  db_conn_close(c);
  json_decref(j);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- delta mode and absent sections ---- */

START_TEST(test_delta) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_t *j = fixture();
  struct db_snapshot_result res;
  struct chain_snapshot_errors errs;
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  /* Next block: only accounts, in delta mode: account 1 changes, account 3 has no positions left. */
  json_t *d = json_pack("{s:s, s:i, s:{s:i, s:s, s:i}, s:s, s:[{s:s, s:i, s:[{s:s, s:s, s:s, s:b}]},"
                        " {s:s, s:i, s:[]}]}",
                        "format", "sparkd.snapshot/1", "chain_id", 1, "block", "number", BLOCK + 1, "hash",
                        "0xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", "timestamp", TS + 12,
                        "accounts_mode", "delta", "accounts", "address", "0x1111111111111111111111111111111111111111",
                        "emode_category", 0, "positions", "asset", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                        "scaled_a_token_balance", "5000000000000000000", "scaled_variable_debt", "0", "collateral", 1,
                        "address", "0x3333333333333333333333333333333333333333", "emode_category", 0, "positions");
  ck_assert_ptr_nonnull(d);
  ck_assert_int_eq(import_json(url, d, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  db_conn *c = conn(url);
  ck_assert_str_eq(q(c, "SELECT string_agg(address, ',' ORDER BY address) AS v FROM accounts", 0, NULL),
                   "0x1111111111111111111111111111111111111111,0x2222222222222222222222222222222222222222,"
                   "0xabcdef0123456789abcdef0123456789abcdef01");
  ck_assert_str_eq(q(c,
                     "SELECT string_agg(asset || ':' || scaled_a_token_balance, ',') AS v FROM positions"
                     " WHERE account = '0x1111111111111111111111111111111111111111'",
                     0, NULL),
                   "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2:5000000000000000000");
  /* no debt left: the chain's "infinite" health factor */
  ck_assert_str_eq(q(c,
                     "SELECT health_factor::text AS v FROM accounts"
                     " WHERE address = '0x1111111111111111111111111111111111111111'",
                     0, NULL),
                   "115792089237316195423570985008687907853269984665640564039457584007913129639935");
  /* absent sections are unchanged */
  ck_assert_str_eq(q(c,
                     "SELECT (SELECT count(*) FROM reserves) || ',' || (SELECT count(*) FROM prices) || ','"
                     " || (SELECT count(*) FROM savings_vaults) || ',' || (SELECT block_number FROM chains) AS v",
                     0, NULL),
                   "4,4,3,21000001");
  db_conn_close(c);
  json_decref(d);
  json_decref(j);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- a price change leaves the account rows alone ----
 * Health factors at the chain's block live in the state cache (computed per generation from the
 * positions, tests/check_api_watchlist.c); an import that moves prices or indexes but lists no
 * account writes no account or position row. */

START_TEST(test_price_no_rewrite) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_t *j = fixture();
  struct db_snapshot_result res;
  struct chain_snapshot_errors errs;
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  db_conn *c = conn(url);
  static const char rows_sql[] =
      "SELECT (SELECT string_agg(a::text || a.xmin::text, ',' ORDER BY address) FROM accounts a) || '/'"
      " || (SELECT string_agg(p::text || p.xmin::text, ',' ORDER BY account, asset) FROM positions p) AS v";
  char before[8192];
  snprintf(before, sizeof before, "%s", q(c, rows_sql, 0, NULL));
  /* Next block, same timestamp: only prices, WETH down to 2000 USD. */
  json_t *d =
      json_pack("{s:s, s:i, s:{s:i, s:s, s:i}, s:O}", "format", "sparkd.snapshot/1", "chain_id", 1, "block", "number",
                BLOCK + 1, "hash", "0xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", "timestamp",
                TS, "prices", json_object_get(j, "prices"));
  mut(d, "/prices/2/price", "\"200000000000\"");
  ck_assert_int_eq(import_json(url, d, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM prices WHERE price = 200000000000", 0, NULL), "1");
  ck_assert_str_eq(q(c, rows_sql, 0, NULL), before);
  db_conn_close(c);
  json_decref(d);
  json_decref(j);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- malformed snapshots ---- */

struct bad {
  const char *what;
  const char *path;  /* JSON pointer to change in the fixture (NULL: raw text case) */
  const char *value; /* new JSON value; NULL deletes */
  const char *err_path, *err_text;
};

static const struct bad bads[] = {
    {"wrong type (string chain id)", "/chain_id", "\"1\"", "$.chain_id", "must be an integer"},
    {"wrong type (number for uint128)", "/reserves/0/liquidity_index", "1027", "$.reserves[0].liquidity_index",
     "must be a string"},
    {"fractional number", "/reserves/0/id", "1.5", "$.reserves[0].id", "must be an integer"},
    {"wrong type (bool)", "/accounts/0/positions/0/collateral", "\"yes\"", "$.accounts[0].positions[0].collateral",
     "must be a boolean"},
    {"2^256", "/reserves/0/a_token_scaled_total_supply",
     "\"115792089237316195423570985008687907853269984665640564039457584007913129639936\"",
     "$.reserves[0].a_token_scaled_total_supply", "above 2^256-1"},
    {"negative uint256", "/accounts/0/positions/0/scaled_a_token_balance", "\"-1\"",
     "$.accounts[0].positions[0].scaled_a_token_balance", "must not be negative"},
    {"negative timestamp", "/block/timestamp", "-5", "$.block.timestamp", "must not be negative"},
    {"uint128 overflow", "/reserves/1/accrued_to_treasury", "\"340282366920938463463374607431768211456\"",
     "$.reserves[1].accrued_to_treasury", "above 2^128-1"},
    {"not decimal digits", "/prices/1/price", "\"0x10\"", "$.prices[1].price", "not a decimal integer"},
    {"short address", "/assets/0/address", "\"0x1234\"", "$.assets[0].address", "not an address"},
    {"non-hex address", "/prices/0/source", "\"0xZZ2a03F81dd8A1cEcD746dc262e4d1CD9fD39F777\"", "$.prices[0].source",
     "not an address"},
    {"dangling position asset", "/accounts/1/positions/0/asset", "\"0x0000000000000000000000000000000000000001\"",
     "$.accounts[1].positions[0].asset", "not a reserve"},
    {"dangling price asset", "/prices/3/asset", "\"0x0000000000000000000000000000000000000002\"", "$.prices[3].asset",
     "not listed in $.assets"},
    {"dangling allocation venue", "/liquidity_layer/allocations/0/venue", "\"nowhere\"",
     "$.liquidity_layer.allocations[0].venue", "no venue"},
    {"LTV above LT", "/reserves/2/configuration", NULL, "$.reserves[2].configuration",
     "ltv 9000 is above liquidation threshold 8600"},
    {"reserve factor above 10000", "/reserves/1/configuration", NULL, "$.reserves[1].configuration",
     "reserve factor 10001 is above 10000"},
    {"wrong format tag", "/format", "\"sparkd.snapshot/2\"", "$.format", "must be \"sparkd.snapshot/1\""},
    {"missing format", "/format", NULL, "$.format", "required"},
    {"unknown field", "/reserves/0/ltv_bps", "9000", "$.reserves[0].ltv_bps", "unknown field"},
    {"unknown top-level field", "/blocks", "{}", "$.blocks", "unknown field"},
    {"eMode ltv above 10000 bps", "/emode_categories/0/ltv", "10001", "$.emode_categories[0].ltv", "above 10000"},
    {"eMode ltv not above a member's", "/emode_categories/0/ltv", "8000", "$.emode_categories[0].ltv",
     "is not above member $.reserves[2] ltv 8200"},
    {"eMode bonus too low", "/emode_categories/0/liquidation_bonus", "10000", "$.emode_categories[0].liquidation_bonus",
     "must be above 10000"},
    {"decimals above 36", "/assets/1/decimals", "37", "$.assets[1].decimals", "above 36"},
    {"chi below RAY", "/savings_vaults/0/chi", "\"999999999999999999999999999\"", "$.savings_vaults[0].chi",
     "below RAY"},
    {"rate below RAY", "/savings_vaults/1/rate", "\"999999999999999999999999999\"", "$.savings_vaults[1].rate",
     "below RAY"},
    {"rate above max_rate", "/savings_vaults/2/max_rate", "\"1000000001000000000000000000\"",
     "$.savings_vaults[2].rate", "outside [min_rate, max_rate]"},
    {"min_rate on a non-V2 vault", "/savings_vaults/0/min_rate", "\"1000000000000000000000000000\"",
     "$.savings_vaults[0].min_rate", "only for spark_vault_v2"},
    {"rate limit last_amount above max", "/liquidity_layer/rate_limits/0/last_amount", "\"50000000000001\"",
     "$.liquidity_layer.rate_limits[0].last_amount", "above max_amount"},
    {"rate limit updated after the block", "/liquidity_layer/rate_limits/0/last_updated", "1730000001",
     "$.liquidity_layer.rate_limits[0].last_updated", "after block.timestamp"},
    {"rate-target slope1 not re-derivable", "/reserves/0/interest_rate_strategy/variable_rate_slope1", "\"1\"",
     "$.reserves[0].interest_rate_strategy.variable_rate_slope1", "is not max(rate_source apr"},
    {"accounts without accounts_mode", "/accounts_mode", NULL, "$.accounts_mode", "required"},
    {"duplicate account", "/accounts/2/address", "\"0x1111111111111111111111111111111111111111\"",
     "$.accounts[2].address", "duplicate of $.accounts[0]"},
    {"bad block hash", "/block/hash", "\"0x12\"", "$.block.hash", "not a 32-byte hex value"},
    {"bad irm kind", "/reserves/3/interest_rate_strategy/kind", "\"linear\"",
     "$.reserves[3].interest_rate_strategy.kind", "must be one of"},
    {"truncated file", NULL, "truncated", "$", "invalid JSON"},
    {"empty file", NULL, "empty", "$", "empty input"},
    {"duplicate key", NULL, "duplicate", "$", "duplicate object key"},
    {"not an object", NULL, "array", "$", "must be an object"},
};

/* Replaces the low 32 bits (ltv, LT) or bits 64-79 (reserve factor) of a decimal bitmap. */
static void patch_bitmap(json_t *j, const char *path, unsigned shift, uint64_t field) {
  const char *t = jstr(j, path);
  u256 v;
  ck_assert_int_eq(u256_from_dec(&v, t, strlen(t)), RISK_OK);
  unsigned width = shift == 0 ? 32 : 16;
  /* clear the field: v - ((v >> shift) mod 2^width) << shift */
  u256 hi = u256_shl(u256_shr(v, shift + width), shift + width);
  u256 lo = shift ? u256_shr(u256_shl(v, 256 - shift), 256 - shift) : U256_ZERO;
  u256 nv = u256_add_wrap(u256_add_wrap(hi, lo), u256_shl(u256_from_u64(field), shift));
  char buf[U256_DEC_MAX + 4] = "\"";
  u256_to_dec(nv, buf + 1);
  strcat(buf, "\"");
  mut(j, path, buf);
}

START_TEST(test_malformed) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_t *base = fixture();
  struct db_snapshot_result res;
  struct chain_snapshot_errors errs;
  ck_assert_int_eq(import_json(url, base, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  set_block(base, BLOCK + 1, "cd");
  /* the unmodified next block would pass parsing (checked here so each case fails for its own reason) */
  char *ok = dump(base);
  memset(&errs, 0, sizeof errs);
  struct chain_snapshot *s = chain_snapshot_parse(ok, strlen(ok), &errs);
  ck_assert_msg(s != NULL, "%s", all_errors(&errs));
  chain_snapshot_free(s);
  char *before = checksum(url);

  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    const struct bad *b = &bads[i];
    json_t *j = json_deep_copy(base);
    char *text;
    if (b->path) {
      if (strcmp(b->what, "LTV above LT") == 0)
        patch_bitmap(j, b->path, 0, 9000u | (8600u << 16));
      else if (strcmp(b->what, "reserve factor above 10000") == 0)
        patch_bitmap(j, b->path, 64, 10001);
      else
        mut(j, b->path, b->value);
      text = dump(j);
    } else if (strcmp(b->value, "truncated") == 0) {
      text = dump(j);
      text[strlen(text) / 2] = '\0';
    } else if (strcmp(b->value, "empty") == 0) {
      text = strdup("  \n");
    } else if (strcmp(b->value, "duplicate") == 0) {
      char *t = dump(j);
      text = malloc(strlen(t) + 32);
      sprintf(text, "{\"chain_id\":1,%s", t + 1);
      free(t);
    } else {
      text = strdup("[1, 2]");
    }
    int rc = import_text(url, text, false, &res, &errs);
    ck_assert_msg(rc == -1 || rc == DB_SNAPSHOT_INVALID, "%s: accepted (outcome %d)", b->what, rc);
    ck_assert_msg(has_error(&errs, b->err_path, b->err_text), "%s: no \"%s: ...%s...\" among:%s", b->what, b->err_path,
                  b->err_text, all_errors(&errs));
    char *after = checksum(url);
    ck_assert_msg(strcmp(before, after) == 0, "%s: database changed", b->what);
    free(after);
    free(text);
    json_decref(j);
  }

  /* Every problem is listed, not just the first. */
  json_t *j = json_deep_copy(base);
  mut(j, "/chain_id", "\"1\"");
  mut(j, "/assets/0/address", "\"0x1\"");
  mut(j, "/savings_vaults/0/chi", "\"5\"");
  mut(j, "/emode_categories/0/ltv", "10001");
  char *t = dump(j);
  ck_assert_int_eq(import_text(url, t, false, &res, &errs), -1);
  ck_assert_msg(errs.n >= 4, "%s", all_errors(&errs));
  ck_assert(has_error(&errs, "$.chain_id", "integer"));
  ck_assert(has_error(&errs, "$.assets[0].address", "address"));
  ck_assert(has_error(&errs, "$.savings_vaults[0].chi", "RAY"));
  ck_assert(has_error(&errs, "$.emode_categories[0].ltv", "10000"));
  free(t);
  json_decref(j);

  /* A position in an asset that is neither in this snapshot's assets nor known: the reference is
   * checked against the chain's stored assets too. Dropping $.assets and keeping references to known
   * assets passes. */
  j = json_deep_copy(base);
  mut(j, "/assets", NULL);
  t = dump(j);
  ck_assert_int_eq(import_text(url, t, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  free(t);
  json_decref(j);

  free(ok);
  free(before);
  json_decref(base);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- concurrency: the per-chain advisory lock ---- */

struct worker {
  const char *url;
  const char *text;
  int outcome;
  atomic_int done;
};

static void *import_worker(void *arg) {
  struct worker *w = arg;
  struct db_snapshot_result res;
  struct chain_snapshot_errors *errs = malloc(sizeof *errs);
  memset(errs, 0, sizeof *errs);
  struct chain_snapshot *s = chain_snapshot_parse(w->text, strlen(w->text), errs);
  w->outcome = -1;
  if (s) {
    db_pool *pool = db_pool_create(w->url, 1);
    if (db_snapshot_apply(pool, s, false, &res, errs) == DB_OK) w->outcome = (int)res.outcome;
    db_pool_destroy(pool);
    chain_snapshot_free(s);
  }
  free(errs);
  atomic_store(&w->done, 1);
  return NULL;
}

START_TEST(test_concurrent) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  json_t *j = fixture();
  set_block(j, BLOCK + 1, "01");
  char *t1 = dump(j);
  set_block(j, BLOCK + 2, "02");
  mut(j, "/accounts/3", NULL);
  char *t2 = dump(j);

  /* 1. An import waits for a transaction holding the chain's lock. */
  db_conn *holder = conn(url);
  ck_assert_int_eq(db_exec(holder, "BEGIN"), DB_OK);
  ck_assert_int_eq(db_exec(holder, "SELECT pg_advisory_xact_lock(('x' || substr(md5('sparkd.import:1'), 1, 16))"
                                   "::bit(64)::bigint)"),
                   DB_OK);
  struct worker w1 = {.url = url, .text = t1};
  pthread_t th1;
  pthread_create(&th1, NULL, import_worker, &w1);
  usleep(400000);
  ck_assert_int_eq(atomic_load(&w1.done), 0);
  ck_assert_int_eq(db_exec(holder, "COMMIT"), DB_OK);
  pthread_join(th1, NULL);
  ck_assert_int_eq(w1.outcome, DB_SNAPSHOT_APPLIED);
  db_conn_close(holder);

  /* 2. Two imports of two blocks at once: they serialise; whichever order, the newer block wins
   *    and its account set is the one stored. */
  set_block(j, BLOCK + 3, "03");
  char *t3 = dump(j);
  mut(j, "/accounts/2", NULL);
  set_block(j, BLOCK + 4, "04");
  char *t4 = dump(j);
  struct worker a = {.url = url, .text = t3}, b = {.url = url, .text = t4};
  pthread_t ta, tb;
  pthread_create(&ta, NULL, import_worker, &a);
  pthread_create(&tb, NULL, import_worker, &b);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  ck_assert_int_eq(b.outcome, DB_SNAPSHOT_APPLIED);
  ck_assert_msg(a.outcome == DB_SNAPSHOT_APPLIED || a.outcome == DB_SNAPSHOT_OLDER, "outcome %d", a.outcome);
  db_conn *c = conn(url);
  ck_assert_str_eq(q(c, "SELECT block_number::text AS v FROM chains", 0, NULL), "21000004");
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM accounts", 0, NULL), "2");
  ck_assert_str_eq(q(c, "SELECT string_agg(address, ',' ORDER BY address) AS v FROM accounts", 0, NULL),
                   "0x1111111111111111111111111111111111111111,0x2222222222222222222222222222222222222222");
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM positions", 0, NULL), "4");
  db_conn_close(c);
  free(t1), free(t2), free(t3), free(t4);
  json_decref(j);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- NOTIFY ---- */

START_TEST(test_notify) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  PGconn *l = PQconnectdb(url);
  ck_assert_int_eq(PQstatus(l), CONNECTION_OK);
  PGresult *r = PQexec(l, "LISTEN sparkd_state");
  ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);

  /* an invalid snapshot notifies nothing */
  json_t *j = fixture();
  mut(j, "/prices/3/asset", "\"0x0000000000000000000000000000000000000002\"");
  struct db_snapshot_result res;
  struct chain_snapshot_errors errs;
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_INVALID);
  json_decref(j);

  j = fixture();
  ck_assert_int_eq(import_json(url, j, false, &res, &errs), DB_SNAPSHOT_APPLIED);
  char got[128] = "";
  int count = 0;
  for (int tries = 0; tries < 50 && !got[0]; tries++) {
    struct pollfd pfd = {.fd = PQsocket(l), .events = POLLIN};
    poll(&pfd, 1, 100);
    PQconsumeInput(l);
    PGnotify *n;
    while ((n = PQnotifies(l)) != NULL) {
      if (strcmp(n->relname, "sparkd_state") == 0) {
        snprintf(got, sizeof got, "%s", n->extra);
        count++;
      }
      PQfreemem(n);
    }
  }
  ck_assert_str_eq(got, "1:21000000");
  ck_assert_int_eq(count, 1);
  PQfinish(l);
  json_decref(j);
  th_pg_drop_db(&pg, url);
}
END_TEST

/* ---- the CLI ---- */

/* Runs `sparkd import args...` with stdin from in_text (NULL: /dev/null); returns the exit status
 * and fills out/err with stdout/stderr (truncated). */
static int run_cli(const char *url, const char *const *args, const char *in_text, char *out, size_t out_len, char *err,
                   size_t err_len) {
  char of[] = "/tmp/imp-cli-outXXXXXX", ef[] = "/tmp/imp-cli-errXXXXXX", inf[] = "/tmp/imp-cli-inXXXXXX";
  int ofd = mkstemp(of), efd = mkstemp(ef), ifd = mkstemp(inf);
  if (in_text) ck_assert(write(ifd, in_text, strlen(in_text)) == (ssize_t)strlen(in_text));
  lseek(ifd, 0, SEEK_SET);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(ifd, 0);
    dup2(ofd, 1);
    dup2(efd, 2);
    setenv("SPARKD_DATABASE_URL", url, 1);
    setenv("SPARKD_LOG_LEVEL", "warn", 1);
    char *argv[16] = {(char *)SPARKD_BINARY, (char *)"import"};
    int n = 2;
    for (; args[n - 2] && n < 15; n++)
      argv[n] = (char *)args[n - 2];
    argv[n] = NULL;
    execv(SPARKD_BINARY, argv);
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  ssize_t k = pread(ofd, out, out_len - 1, 0);
  out[k > 0 ? k : 0] = '\0';
  k = pread(efd, err, err_len - 1, 0);
  err[k > 0 ? k : 0] = '\0';
  close(ofd), close(efd), close(ifd);
  unlink(of), unlink(ef), unlink(inf);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_cli) {
  char url[TH_PG_CONNINFO_MAX];
  new_db(url, sizeof url);
  char out[8192], err[8192];
  const char *help[] = {"--help", NULL};
  ck_assert_int_eq(run_cli(url, help, NULL, out, sizeof out, err, sizeof err), 0);
  ck_assert_msg(strstr(out, "usage: sparkd import FILE|- [--allow-older]"), "%s", out);
  const char *none[] = {NULL};
  ck_assert_int_eq(run_cli(url, none, NULL, out, sizeof out, err, sizeof err), 2);

  /* a pretty-printed single snapshot from a file */
  const char *file[] = {FIXTURE, NULL};
  ck_assert_msg(run_cli(url, file, NULL, out, sizeof out, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(strstr(out, "chain 1 block 21000000: applied"), "%s", out);
  ck_assert_int_eq(run_cli(url, file, NULL, out, sizeof out, err, sizeof err), 0);
  ck_assert_msg(strstr(out, "already imported, no change"), "%s", out);

  /* NDJSON on stdin: two good snapshots, a bad one, and one after it that is never applied */
  json_t *j = fixture();
  set_block(j, BLOCK + 1, "01");
  char *l1 = dump(j);
  set_block(j, BLOCK + 2, "02");
  char *l2 = dump(j);
  set_block(j, BLOCK + 3, "03");
  patch_bitmap(j, "/reserves/2/configuration", 0, 9000u | (8600u << 16));
  mut(j, "/prices/0/price", "-1");
  char *l3 = dump(j);
  char *in = malloc(2 * strlen(l1) + strlen(l2) + strlen(l3) + 16);
  sprintf(in, "%s\n%s\n\n%s\n%s\n", l1, l2, l3, l1);
  const char *dash[] = {"-", NULL};
  ck_assert_int_eq(run_cli(url, dash, in, out, sizeof out, err, sizeof err), 1);
  ck_assert_msg(strstr(out, "chain 1 block 21000001: applied") && strstr(out, "chain 1 block 21000002: applied"), "%s",
                out);
  ck_assert_msg(strstr(err, "<stdin>:4: $.reserves[2].configuration: ltv 9000 is above liquidation threshold 8600"),
                "%s", err);
  ck_assert_msg(strstr(err, "<stdin>:4: $.prices[0].price: must be a string"), "%s", err);
  db_conn *c = conn(url);
  ck_assert_str_eq(q(c, "SELECT block_number::text AS v FROM chains", 0, NULL), "21000002");
  ck_assert_str_eq(q(c, "SELECT count(*)::text AS v FROM chain_blocks", 0, NULL), "3");
  char *before = checksum(url);

  /* an older block: refused (exit 1, nothing changed), then applied with --allow-older */
  ck_assert_int_eq(run_cli(url, file, NULL, out, sizeof out, err, sizeof err), 1);
  ck_assert_msg(strstr(err, "older than the last imported block 21000002"), "%s", err);
  char *after = checksum(url);
  ck_assert_str_eq(before, after);
  free(after);
  const char *older[] = {FIXTURE, "--allow-older", NULL};
  ck_assert_msg(run_cli(url, older, NULL, out, sizeof out, err, sizeof err) == 0, "%s", err);
  ck_assert_str_eq(q(c, "SELECT block_number::text AS v FROM chains", 0, NULL), "21000000");

  /* empty input and a missing file */
  free(before);
  before = checksum(url);
  ck_assert_int_eq(run_cli(url, dash, "", out, sizeof out, err, sizeof err), 1);
  ck_assert_msg(strstr(err, "$: empty input"), "%s", err);
  const char *missing[] = {"/nonexistent/snap.json", NULL};
  ck_assert_int_eq(run_cli(url, missing, NULL, out, sizeof out, err, sizeof err), 1);
  after = checksum(url);
  ck_assert_str_eq(before, after);
  free(after);
  free(before);
  db_conn_close(c);
  free(l1), free(l2), free(l3), free(in);
  json_decref(j);
  th_pg_drop_db(&pg, url);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("import");
  TCase *tc = tcase_create("import");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_eip55);
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_idempotent_and_order);
  tcase_add_test(tc, test_file_import_keeps_parent_hash);
  tcase_add_test(tc, test_delta);
  tcase_add_test(tc, test_price_no_rewrite);
  tcase_add_test(tc, test_malformed);
  tcase_add_test(tc, test_concurrent);
  tcase_add_test(tc, test_notify);
  tcase_add_test(tc, test_cli);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (th_pg_start(&pg) != 0) return 1;
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed != 0;
}
