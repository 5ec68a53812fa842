/* API keys (db/keys.h). */
#include "db/keys.h"

#include <stdio.h>
#include <string.h>

#include "db/internal.h"
#include "util/dec.h"

#define UTC_TEXT(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

const struct db_statement db_keys_statements[] = {
    {"auth_key_by_sha256",
     "SELECT k.key_id, k.scope, COALESCE(k.partner_id, 0) AS partner_id, COALESCE(p.name, '') AS partner,"
     " k.key_sha256, k.revoked_at IS NOT NULL AS revoked"
     " FROM api_keys k LEFT JOIN partners p ON p.partner_id = k.partner_id WHERE k.key_sha256 = $1"},
    {"keys_partner_ensure", "INSERT INTO partners (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"},
    {"keys_insert", "INSERT INTO api_keys (scope, partner_id, key_sha256, key_prefix)"
                    " SELECT $1, (SELECT partner_id FROM partners WHERE name = $2), $3, $4 RETURNING key_id"},
    {"keys_list",
     "SELECT k.key_id, k.scope, COALESCE(p.name, '') AS partner, k.key_prefix,"
     " " UTC_TEXT("k.created_at") " AS created_at, COALESCE(" UTC_TEXT(
         "k.revoked_at") ", '') AS revoked_at"
                         " FROM api_keys k LEFT JOIN partners p ON p.partner_id = k.partner_id ORDER BY k.key_id"},
    /* the old revoked_at is read in the same statement: an already revoked key keeps its first time */
    {"keys_revoke", "WITH old AS (SELECT key_id, revoked_at FROM api_keys WHERE key_id = $1::bigint FOR UPDATE)"
                    " UPDATE api_keys k SET revoked_at = COALESCE(old.revoked_at, now()) FROM old"
                    " WHERE k.key_id = old.key_id RETURNING old.revoked_at IS NOT NULL AS was_revoked"},
};
DB_STATEMENTS_COUNT(keys);

db_status db_keys_lookup(db_conn *conn, const char *sha256_hex, struct db_api_key *out) {
  memset(out, 0, sizeof *out);
  struct db_col cols[] = {
      {"key_id", DB_COL_INT64, &out->key_id, 0, NULL},
      {"scope", DB_COL_TEXT, out->scope, sizeof out->scope, NULL},
      {"partner_id", DB_COL_INT64, &out->partner_id, 0, NULL},
      {"partner", DB_COL_TEXT, out->partner, sizeof out->partner, NULL},
      {"key_sha256", DB_COL_TEXT, out->key_sha256, sizeof out->key_sha256, NULL},
      {"revoked", DB_COL_BOOL, &out->revoked, 0, NULL},
  };
  const char *params[] = {sha256_hex};
  return db_query_one_prepared(conn, "auth_key_by_sha256", 1, params, cols, sizeof cols / sizeof cols[0]);
}

db_status db_keys_create(db_conn *conn, const char *scope, const char *partner, const char *sha256_hex,
                         const char *prefix, int64_t *key_id) {
  *key_id = 0;
  db_status st = db_exec(conn, "BEGIN");
  if (st == DB_OK && partner) {
    const char *pp[] = {partner};
    st = db_exec_prepared(conn, "keys_partner_ensure", 1, pp, NULL);
  }
  if (st == DB_OK) {
    struct db_col cols[] = {{"key_id", DB_COL_INT64, key_id, 0, NULL}};
    const char *params[] = {scope, partner, sha256_hex, prefix};
    st = db_query_one_prepared(conn, "keys_insert", 4, params, cols, 1);
  }
  if (st == DB_OK) st = db_exec(conn, "COMMIT");
  if (st != DB_OK) {
    /* the rollback must not wipe the cause the caller reports */
    char state[sizeof conn->sqlstate], msg[sizeof conn->errmsg];
    memcpy(state, conn->sqlstate, sizeof state);
    memcpy(msg, conn->errmsg, sizeof msg);
    db_exec(conn, "ROLLBACK");
    memcpy(conn->sqlstate, state, sizeof state);
    memcpy(conn->errmsg, msg, sizeof msg);
  }
  return st;
}

struct list_ctx {
  db_api_key_fn fn;
  void *arg;
};

static db_status list_row(const db_row *row, void *arg) {
  const struct list_ctx *lc = arg;
  struct db_api_key_info k;
  memset(&k, 0, sizeof k);
  struct db_col cols[] = {
      {"key_id", DB_COL_INT64, &k.key_id, 0, NULL},
      {"scope", DB_COL_TEXT, k.scope, sizeof k.scope, NULL},
      {"partner", DB_COL_TEXT, k.partner, sizeof k.partner, NULL},
      {"key_prefix", DB_COL_TEXT, k.key_prefix, sizeof k.key_prefix, NULL},
      {"created_at", DB_COL_TEXT, k.created_at, sizeof k.created_at, NULL},
      {"revoked_at", DB_COL_TEXT, k.revoked_at, sizeof k.revoked_at, NULL},
  };
  db_status st = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (st != DB_OK) return st;
  return lc->fn(&k, lc->arg);
}

db_status db_keys_list(db_conn *conn, db_api_key_fn fn, void *arg) {
  struct list_ctx lc = {fn, arg};
  return db_query_prepared(conn, "keys_list", 0, NULL, list_row, &lc, NULL);
}

db_status db_keys_revoke(db_conn *conn, int64_t key_id, bool *was_revoked) {
  char id[24];
  util_i64_dec(key_id, id);
  const char *params[] = {id};
  *was_revoked = false;
  struct db_col cols[] = {{"was_revoked", DB_COL_BOOL, was_revoked, 0, NULL}};
  return db_query_one_prepared(conn, "keys_revoke", 1, params, cols, 1);
}
