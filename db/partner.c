/* Partner positions, attestations, idempotency keys and the audit log (db/partner.h). */
#include "db/partner.h"

#include <stdio.h>
#include <string.h>

#include "db/internal.h"
#include "util/dec.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- SQL: the JSON of a position and of an attestation is built by PostgreSQL ---- */
#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define BALANCES_JSON                                                                                                  \
  "(SELECT COALESCE(json_agg(json_build_object('chain_id', b.chain_id, 'asset', b.asset, 'amount', b.amount::text)"    \
  " ORDER BY b.chain_id, b.asset), '[]'::json) FROM partner_attestation_balances b"                                    \
  " WHERE b.attestation_id = a.attestation_id)"
#define ATTESTATION_JSON                                                                                               \
  "json_build_object('id', a.attestation_id, 'position_id', a.position_id, 'as_of', " TS(                              \
      "a.as_of") ", 'custodian_reference', a.custodian_reference, 'balances', " BALANCES_JSON                          \
                 ", 'received_at', " TS("a.created_at") ")"
#define POSITION_JSON                                                                                                  \
  "json_build_object('id', p.position_id, 'external_id', p.external_id, 'borrower', p.borrower,"                       \
  " 'custodian', p.custodian, 'collateral', (SELECT COALESCE(json_agg(json_build_object('chain_id', l.chain_id,"       \
  " 'asset', l.asset, 'amount', l.amount::text, 'haircut_bps', l.haircut_bps) ORDER BY l.line_no), '[]'::json)"        \
  " FROM partner_collateral_lines l WHERE l.position_id = p.position_id),"                                             \
  " 'debt', json_build_object('chain_id', p.debt_chain_id, 'asset', p.debt_asset,"                                     \
  " 'principal', p.debt_principal::text, 'apr_bps', p.debt_apr_bps, 'accrual_start', " TS(                             \
      "p.debt_accrual_start") "), 'thresholds', json_build_object('warning_bps', p.warning_bps, 'margin_call_bps', "   \
                              "p.margin_call_bps,"                                                                     \
                              " 'liquidation_bps', p.liquidation_bps, 'return_to_bps', p.return_to_bps),"              \
                              " 'cure_period_seconds', p.cure_period_seconds, 'max_price_staleness_seconds', "         \
                              "p.max_price_staleness_seconds,"                                                         \
                              " 'version', p.version, 'created_at', " TS("p.created_at") ", 'updated_at', " TS(        \
                                  "p.updated_at") ", 'latest_attestation', (SELECT " ATTESTATION_JSON                  \
                                                  " FROM partner_attestations a"                                       \
                                                  " WHERE a.position_id = p.position_id ORDER BY a.as_of DESC, "       \
                                                  "a.attestation_id DESC LIMIT 1))::text AS body"

const struct db_statement db_partner_statements[] = {
    {"pp_insert",
     "INSERT INTO partner_positions (partner_id, external_id, borrower, custodian, debt_chain_id, debt_asset,"
     " debt_principal, debt_apr_bps, debt_accrual_start, warning_bps, margin_call_bps, liquidation_bps,"
     " return_to_bps, cure_period_seconds, max_price_staleness_seconds) VALUES ($1::bigint, $2, $3, $4, $5::bigint,"
     " $6, $7::numeric, $8::integer, $9::timestamptz, $10::integer, $11::integer, $12::integer, $13::integer,"
     " $14::integer, $15::integer) RETURNING position_id"},
    {"pp_line_insert",
     "INSERT INTO partner_collateral_lines (position_id, line_no, chain_id, asset, amount, haircut_bps)"
     " VALUES ($1::bigint, $2::integer, $3::bigint, $4, $5::numeric, $6::integer)"},
    {"pp_lines_delete", "DELETE FROM partner_collateral_lines WHERE position_id = $1::bigint"},
    {"pp_lines_equal",
     "SELECT COALESCE(jsonb_agg(jsonb_build_array(chain_id, asset::text, amount::text, haircut_bps) ORDER BY line_no),"
     " '[]'::jsonb) = $2::jsonb AS same FROM partner_collateral_lines WHERE position_id = $1::bigint"},
    {"pp_get", "SELECT " POSITION_JSON " FROM partner_positions p WHERE p.partner_id = $1::bigint"
               " AND p.position_id = $2::bigint"},
    {"pp_list", "SELECT p.position_id, " POSITION_JSON " FROM partner_positions p WHERE p.partner_id = $1::bigint"
                " AND p.position_id > $2::bigint ORDER BY p.position_id LIMIT $3::integer"},
    {"pp_lock",
     "SELECT borrower, custodian, debt_chain_id, debt_asset, debt_principal::text AS debt_principal, debt_apr_bps,"
     " " TS(
         "debt_accrual_start") " AS debt_accrual_start, warning_bps, margin_call_bps, liquidation_bps,"
                               " return_to_bps, cure_period_seconds, max_price_staleness_seconds FROM partner_positions"
                               " WHERE partner_id = $1::bigint AND position_id = $2::bigint FOR UPDATE"},
    {"pp_update",
     "UPDATE partner_positions SET borrower = $3, custodian = $4, debt_chain_id = $5::bigint, debt_asset = $6,"
     " debt_principal = $7::numeric, debt_apr_bps = $8::integer, debt_accrual_start = $9::timestamptz,"
     " warning_bps = $10::integer, margin_call_bps = $11::integer, liquidation_bps = $12::integer,"
     " return_to_bps = $13::integer, cure_period_seconds = $14::integer,"
     " max_price_staleness_seconds = $15::integer, version = version + 1, updated_at = now()"
     " WHERE partner_id = $1::bigint AND position_id = $2::bigint"},
    {"pp_line_assets",
     "SELECT l.chain_id, l.asset FROM partner_positions p JOIN partner_collateral_lines l"
     " ON l.position_id = p.position_id WHERE p.partner_id = $1::bigint AND p.position_id = $2::bigint"
     " ORDER BY l.line_no FOR SHARE OF p"},
    {"pa_insert", "INSERT INTO partner_attestations (position_id, partner_id, as_of, custodian_reference)"
                  " VALUES ($2::bigint, $1::bigint, $3::timestamptz, $4) RETURNING attestation_id"},
    {"pa_balance_insert", "INSERT INTO partner_attestation_balances (attestation_id, chain_id, asset, amount)"
                          " VALUES ($1::bigint, $2::bigint, $3, $4::numeric)"},
    {"pa_get", "SELECT " ATTESTATION_JSON "::text AS body FROM partner_attestations a"
               " WHERE a.partner_id = $1::bigint AND a.attestation_id = $2::bigint"},
    {"idem_claim",
     "INSERT INTO idempotency_keys (key_id, idempotency_key, method, path, request_sha256, response_status,"
     " response_body) VALUES ($1::bigint, $2, $3, $4, $5, 0, '') ON CONFLICT DO NOTHING"},
    {"idem_get", "SELECT request_sha256, response_status, response_body FROM idempotency_keys"
                 " WHERE key_id = $1::bigint AND idempotency_key = $2 AND method = $3 AND path = $4"},
    {"idem_store", "UPDATE idempotency_keys SET response_status = $5::integer, response_body = $6"
                   " WHERE key_id = $1::bigint AND idempotency_key = $2 AND method = $3 AND path = $4"},
    /* in batches, so a large backlog never holds one long transaction */
    {"idem_purge", "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(SELECT ctid FROM idempotency_keys"
                   " WHERE created_at < now() - $1::integer * interval '1 hour'"
                   " LIMIT " STR(DB_IDEM_PURGE_BATCH) "))"},
    {"audit_append",
     "INSERT INTO audit_log (key_id, partner_id, method, route, path, request_id, body_sha256, status, position_id)"
     " VALUES ($1::bigint, NULLIF($2::bigint, 0), $3, $4, $5, $6, $7, $8::integer, NULLIF($9::bigint, 0))"},
};
DB_STATEMENTS_COUNT(partner);

struct term_params {
  char chain[24], apr[24], w[24], m[24], l[24], r[24], cure[24], stale[24];
};
static void fill_params(const struct db_partner_terms *t, struct term_params *tp) {
  util_i64_dec(t->debt_chain_id, tp->chain);
  util_i64_dec(t->debt_apr_bps, tp->apr);
  util_i64_dec(t->warning_bps, tp->w);
  util_i64_dec(t->margin_call_bps, tp->m);
  util_i64_dec(t->liquidation_bps, tp->l);
  util_i64_dec(t->return_to_bps, tp->r);
  util_i64_dec(t->cure_period_seconds, tp->cure);
  util_i64_dec(t->max_price_staleness_seconds, tp->stale);
}

db_status db_partner_position_insert(db_conn *conn, int64_t partner_id, const struct db_partner_terms *t,
                                     int64_t *position_id) {
  char partner[24];
  struct term_params tp;
  fill_params(t, &tp);
  const char *p[] = {util_i64_dec(partner_id, partner),
                     t->external_id,
                     t->borrower,
                     t->custodian,
                     tp.chain,
                     t->debt_asset,
                     t->debt_principal,
                     tp.apr,
                     t->debt_accrual_start,
                     tp.w,
                     tp.m,
                     tp.l,
                     tp.r,
                     tp.cure,
                     tp.stale};
  *position_id = 0;
  struct db_col cols[] = {{"position_id", DB_COL_INT64, position_id, 0, NULL}};
  return db_query_one_prepared(conn, "pp_insert", 15, p, cols, 1);
}

db_status db_partner_position_lock(db_conn *conn, int64_t partner_id, int64_t position_id,
                                   struct db_partner_stored_terms *out) {
  char partner[24], id[24];
  const char *p[] = {util_i64_dec(partner_id, partner), util_i64_dec(position_id, id)};
  memset(out, 0, sizeof *out);
  struct db_col cols[] = {
      {"borrower", DB_COL_TEXT, out->borrower, sizeof out->borrower, NULL},
      {"custodian", DB_COL_TEXT, out->custodian, sizeof out->custodian, NULL},
      {"debt_chain_id", DB_COL_INT64, &out->debt_chain_id, 0, NULL},
      {"debt_asset", DB_COL_TEXT, out->debt_asset, sizeof out->debt_asset, NULL},
      {"debt_principal", DB_COL_TEXT, out->debt_principal, sizeof out->debt_principal, NULL},
      {"debt_apr_bps", DB_COL_INT32, &out->debt_apr_bps, 0, NULL},
      {"debt_accrual_start", DB_COL_TEXT, out->debt_accrual_start, sizeof out->debt_accrual_start, NULL},
      {"warning_bps", DB_COL_INT32, &out->warning_bps, 0, NULL},
      {"margin_call_bps", DB_COL_INT32, &out->margin_call_bps, 0, NULL},
      {"liquidation_bps", DB_COL_INT32, &out->liquidation_bps, 0, NULL},
      {"return_to_bps", DB_COL_INT32, &out->return_to_bps, 0, NULL},
      {"cure_period_seconds", DB_COL_INT32, &out->cure_period_seconds, 0, NULL},
      {"max_price_staleness_seconds", DB_COL_INT32, &out->max_price_staleness_seconds, 0, NULL},
  };
  return db_query_one_prepared(conn, "pp_lock", 2, p, cols, sizeof cols / sizeof cols[0]);
}

db_status db_partner_position_update(db_conn *conn, int64_t partner_id, int64_t position_id,
                                     const struct db_partner_terms *t) {
  char partner[24], id[24];
  struct term_params tp;
  fill_params(t, &tp);
  const char *u[] = {util_i64_dec(partner_id, partner),
                     util_i64_dec(position_id, id),
                     t->borrower,
                     t->custodian,
                     tp.chain,
                     t->debt_asset,
                     t->debt_principal,
                     tp.apr,
                     t->debt_accrual_start,
                     tp.w,
                     tp.m,
                     tp.l,
                     tp.r,
                     tp.cure,
                     tp.stale};
  return db_exec_prepared(conn, "pp_update", 15, u, NULL);
}

db_status db_partner_line_insert(db_conn *conn, int64_t position_id, int line_no, int64_t chain_id, const char *asset,
                                 const char *amount, int64_t haircut_bps) {
  char id[24], no[24], chain[24], hc[24];
  const char *p[] = {
      util_i64_dec(position_id, id), util_i64_dec(line_no, no), util_i64_dec(chain_id, chain), asset, amount,
      util_i64_dec(haircut_bps, hc)};
  return db_exec_prepared(conn, "pp_line_insert", 6, p, NULL);
}

db_status db_partner_lines_delete(db_conn *conn, int64_t position_id) {
  char id[24];
  const char *p[] = {util_i64_dec(position_id, id)};
  return db_exec_prepared(conn, "pp_lines_delete", 1, p, NULL);
}

db_status db_partner_lines_equal(db_conn *conn, int64_t position_id, const char *lines, bool *same) {
  char id[24];
  const char *p[] = {util_i64_dec(position_id, id), lines};
  *same = false;
  struct db_col cols[] = {{"same", DB_COL_BOOL, same, 0, NULL}};
  return db_query_one_prepared(conn, "pp_lines_equal", 2, p, cols, 1);
}

/* Returns like db_query_one_prepared, with column "body" of the one row in *json (malloc'd). */
static db_status one_body(db_conn *conn, const char *stmt, int64_t a, int64_t b, char **json) {
  char sa[24], sb[24];
  const char *p[] = {util_i64_dec(a, sa), util_i64_dec(b, sb)};
  *json = NULL;
  struct db_col cols[] = {{"body", DB_COL_TEXT_DUP, json, 0, NULL}};
  return db_query_one_prepared(conn, stmt, 2, p, cols, 1);
}

db_status db_partner_position_json(db_conn *conn, int64_t partner_id, int64_t position_id, char **json) {
  return one_body(conn, "pp_get", partner_id, position_id, json);
}

struct list_ctx {
  db_partner_position_fn fn;
  void *arg;
};
static db_status list_row(const db_row *row, void *arg) {
  const struct list_ctx *lc = arg;
  int64_t id = 0;
  struct db_col cols[] = {{"position_id", DB_COL_INT64, &id, 0, NULL}};
  db_status st = db_row_get(row, cols, 1);
  if (st != DB_OK) return st;
  const char *body = db_row_text(row, 1);
  return body ? lc->fn(id, body, lc->arg) : DB_ERROR;
}

db_status db_partner_positions_list(db_conn *conn, int64_t partner_id, int64_t after, int64_t limit,
                                    db_partner_position_fn fn, void *arg, uint64_t *n) {
  char partner[24], a[24], l[24];
  const char *p[] = {util_i64_dec(partner_id, partner), util_i64_dec(after, a), util_i64_dec(limit, l)};
  struct list_ctx lc = {fn, arg};
  return db_query_prepared(conn, "pp_list", 3, p, list_row, &lc, n);
}

struct line_ctx {
  db_partner_line_fn fn;
  void *arg;
};
static db_status line_row(const db_row *row, void *arg) {
  const struct line_ctx *lc = arg;
  int64_t chain = 0;
  char asset[43];
  struct db_col cols[] = {{"chain_id", DB_COL_INT64, &chain, 0, NULL},
                          {"asset", DB_COL_TEXT, asset, sizeof asset, NULL}};
  db_status st = db_row_get(row, cols, 2);
  return st == DB_OK ? lc->fn(chain, asset, lc->arg) : st;
}

db_status db_partner_line_assets(db_conn *conn, int64_t partner_id, int64_t position_id, db_partner_line_fn fn,
                                 void *arg, uint64_t *n) {
  char partner[24], id[24];
  const char *p[] = {util_i64_dec(partner_id, partner), util_i64_dec(position_id, id)};
  struct line_ctx lc = {fn, arg};
  return db_query_prepared(conn, "pp_line_assets", 2, p, line_row, &lc, n);
}

db_status db_partner_attestation_insert(db_conn *conn, int64_t partner_id, int64_t position_id, const char *as_of,
                                        const char *custodian_reference, int64_t *attestation_id) {
  char partner[24], id[24];
  const char *p[] = {util_i64_dec(partner_id, partner), util_i64_dec(position_id, id), as_of, custodian_reference};
  *attestation_id = 0;
  struct db_col cols[] = {{"attestation_id", DB_COL_INT64, attestation_id, 0, NULL}};
  return db_query_one_prepared(conn, "pa_insert", 4, p, cols, 1);
}

db_status db_partner_attestation_balance_insert(db_conn *conn, int64_t attestation_id, int64_t chain_id,
                                                const char *asset, const char *amount) {
  char att[24], chain[24];
  const char *p[] = {util_i64_dec(attestation_id, att), util_i64_dec(chain_id, chain), asset, amount};
  return db_exec_prepared(conn, "pa_balance_insert", 4, p, NULL);
}

db_status db_partner_attestation_json(db_conn *conn, int64_t partner_id, int64_t attestation_id, char **json) {
  return one_body(conn, "pa_get", partner_id, attestation_id, json);
}

db_status db_idem_claim(db_conn *conn, const struct db_idem_key *k, const char *request_sha256, bool *claimed) {
  char key[24];
  const char *p[] = {util_i64_dec(k->key_id, key), k->idempotency_key, k->method, k->path, request_sha256};
  uint64_t n = 0;
  db_status st = db_exec_prepared(conn, "idem_claim", 5, p, &n);
  *claimed = st == DB_OK && n > 0;
  return st;
}

db_status db_idem_get(db_conn *conn, const struct db_idem_key *k, struct db_idem_stored *out) {
  char key[24];
  const char *p[] = {util_i64_dec(k->key_id, key), k->idempotency_key, k->method, k->path};
  memset(out, 0, sizeof *out);
  struct db_col cols[] = {{"request_sha256", DB_COL_TEXT, out->request_sha256, sizeof out->request_sha256, NULL},
                          {"response_status", DB_COL_INT32, &out->response_status, 0, NULL},
                          {"response_body", DB_COL_TEXT_DUP, &out->response_body, 0, NULL}};
  return db_query_one_prepared(conn, "idem_get", 4, p, cols, 3);
}

db_status db_idem_store(db_conn *conn, const struct db_idem_key *k, unsigned status, const char *body) {
  char key[24], st[24];
  snprintf(st, sizeof st, "%u", status);
  const char *p[] = {util_i64_dec(k->key_id, key), k->idempotency_key, k->method, k->path, st, body};
  return db_exec_prepared(conn, "idem_store", 6, p, NULL);
}

db_status db_idem_purge_batch(db_conn *conn, unsigned keep_h, uint64_t *removed) {
  char hours[16];
  snprintf(hours, sizeof hours, "%u", keep_h);
  const char *p[] = {hours};
  *removed = 0;
  return db_exec_prepared(conn, "idem_purge", 1, p, removed);
}

db_status db_audit_append(db_conn *conn, const struct db_audit_entry *e) {
  char key[24], partner[24], st[24], pos[24];
  snprintf(st, sizeof st, "%u", e->status);
  const char *p[] = {util_i64_dec(e->key_id, key),
                     util_i64_dec(e->partner_id, partner),
                     e->method,
                     e->route,
                     e->path,
                     e->request_id,
                     e->body_sha256,
                     st,
                     util_i64_dec(e->position_id, pos)};
  return db_exec_prepared(conn, "audit_append", 9, p, NULL);
}
