/* LTV records of partner positions (db/ltv.h). */
#include "db/ltv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/copy.h"
#include "db/internal.h"
#include "util/dec.h"
#include "util/vec.h"

/* extra: more members of the object (", 'key', value ..."), or "" */
#define RECORD_SQL(table, extra)                                                                                       \
  "SELECT jsonb_build_object('position_id', l.position_id::text, 'external_id', p.external_id, 'sequence',"            \
  " l.sequence, 'state', l.state, 'ltv_bps', l.ltv_bps, 'raw_ltv_bps', l.raw_ltv_bps, 'collateral_value',"             \
  " l.collateral_value::text, 'weighted_value', l.weighted_value::text, 'debt', l.debt::text, 'debt_value',"           \
  " l.debt_value::text, 'as_of', l.as_of, 'call_since', l.call_since, 'cure_deadline', l.cure_deadline,"               \
  " 'detail', l.detail" extra ")::text AS body FROM " table                                                            \
  " l JOIN partner_positions p ON p.position_id = l.position_id"

const struct db_statement db_ltv_statements[] = {
    /* one lock for every recompute: two passes over the same positions would race on sequence */
    {"ltv_lock", "SELECT pg_advisory_xact_lock(hashtext('sparkd_ltv'))"},
    {"ltv_positions",
     "SELECT p.position_id, p.partner_id, p.external_id, p.version, p.debt_chain_id, p.debt_asset::text AS debt_asset,"
     " p.debt_principal::text AS debt_principal, p.debt_apr_bps,"
     " extract(epoch FROM p.debt_accrual_start)::bigint AS accrual_start, p.warning_bps, p.margin_call_bps,"
     " p.liquidation_bps, p.return_to_bps, p.cure_period_seconds, p.max_price_staleness_seconds,"
     " COALESCE(da.decimals, 0) AS debt_decimals, COALESCE(dp.price::text, '0') AS debt_price,"
     " COALESCE(dp.updated_at, 0) AS debt_price_ts, COALESCE(l.sequence, 0) AS sequence,"
     " COALESCE(l.state, -1) AS prev_state, COALESCE(l.call_since, 0) AS call_since,"
     " COALESCE(l.hist_state, -1) AS hist_state, COALESCE(l.hist_ltv_bps, -1) AS hist_ltv_bps,"
     " COALESCE(att.attestation_id, 0) AS attestation_id, COALESCE(att.as_of_unix, 0) AS attestation_as_of,"
     " COALESCE(att.custodian_reference, '') AS custodian_reference,"
     /* a flagged record was not computed from its inputs' current values: never skipped */
     " COALESCE(CASE WHEN l.not_recomputable_since IS NULL THEN l.inputs END, '') AS inputs"
     " FROM partner_positions p"
     " LEFT JOIN assets da ON da.chain_id = p.debt_chain_id AND da.address = p.debt_asset"
     " LEFT JOIN prices dp ON dp.chain_id = p.debt_chain_id AND dp.asset = p.debt_asset"
     " LEFT JOIN partner_ltv_latest l ON l.position_id = p.position_id"
     " LEFT JOIN LATERAL (SELECT a.attestation_id, extract(epoch FROM a.as_of)::bigint AS as_of_unix,"
     "   a.custodian_reference FROM partner_attestations a WHERE a.position_id = p.position_id"
     "   ORDER BY a.as_of DESC, a.attestation_id DESC LIMIT 1) att ON true"
     " WHERE $1::bigint IS NULL OR p.position_id = $1 ORDER BY p.position_id"},
    {"ltv_lines",
     "SELECT c.position_id, c.line_no, c.chain_id, c.asset::text AS asset, c.haircut_bps,"
     " (CASE WHEN att.attestation_id IS NULL THEN c.amount ELSE COALESCE(b.amount, 0) END)::text AS amount,"
     " COALESCE(a.decimals, 0) AS decimals, COALESCE(pr.price::text, '0') AS price,"
     " COALESCE(pr.updated_at, 0) AS price_ts"
     " FROM partner_collateral_lines c"
     " LEFT JOIN LATERAL (SELECT pa.attestation_id FROM partner_attestations pa WHERE pa.position_id = c.position_id"
     "   ORDER BY pa.as_of DESC, pa.attestation_id DESC LIMIT 1) att ON true"
     " LEFT JOIN partner_attestation_balances b ON b.attestation_id = att.attestation_id"
     "   AND b.chain_id = c.chain_id AND b.asset = c.asset"
     " LEFT JOIN assets a ON a.chain_id = c.chain_id AND a.address = c.asset"
     " LEFT JOIN prices pr ON pr.chain_id = c.chain_id AND pr.asset = c.asset"
     " WHERE $1::bigint IS NULL OR c.position_id = $1 ORDER BY c.position_id, c.line_no"},
    {"ltv_get",
     RECORD_SQL(
         "partner_ltv_latest",
         ", 'not_recomputable_since', l.not_recomputable_since,"
         " 'not_recomputable_reason', l.not_recomputable_reason") " WHERE l.partner_id = $1 AND l.position_id = $2"},
    {"ltv_history", RECORD_SQL("partner_ltv_history", "") " WHERE l.partner_id = $1 AND l.position_id = $2"
                                                          " AND l.sequence < $3 ORDER BY l.sequence DESC LIMIT $4"},
    {"ltv_position_exists", "SELECT position_id FROM partner_positions WHERE partner_id = $1 AND position_id = $2"},
    /* the first failed pass sets since; later ones only the reason */
    {"ltv_not_recomputable",
     "UPDATE partner_ltv_latest SET not_recomputable_since = COALESCE(not_recomputable_since, $2::bigint),"
     " not_recomputable_reason = $3 WHERE position_id = $1"},
};
DB_STATEMENTS_COUNT(ltv);

/* The recompute's rows go to a temporary table by COPY (text format, one line per position), then
 * one statement upserts the latest records, appends history and queues the outbox rows. Both name
 * a table that exists only inside the recompute's transaction, so they cannot be prepared on
 * connect like the registry's statements; they run as plain parameterised text. */
static const char stage_sql[] =
    "CREATE TEMP TABLE sparkd_ltv_stage (position_id bigint, partner_id bigint, sequence bigint, state smallint,"
    " ltv_bps bigint, raw_ltv_bps bigint, collateral_value numeric, weighted_value numeric, debt numeric,"
    " accrued numeric, debt_value numeric, as_of bigint, call_since bigint, cure_deadline bigint, detail json,"
    " hist boolean, hist_state smallint, hist_ltv_bps bigint, changed boolean, payload json, inputs text)"
    " ON COMMIT DROP";
static const char write_sql[] =
    "WITH x AS MATERIALIZED (SELECT * FROM sparkd_ltv_stage),"
    " up AS (INSERT INTO partner_ltv_latest (position_id, partner_id, sequence, state, ltv_bps, raw_ltv_bps,"
    "   collateral_value, weighted_value, debt, accrued, debt_value, as_of, call_since, cure_deadline, detail,"
    "   hist_state, hist_ltv_bps, inputs)"
    "   SELECT position_id, partner_id, sequence, state, ltv_bps, raw_ltv_bps, collateral_value, weighted_value,"
    "   debt, accrued, debt_value, as_of, call_since, cure_deadline, detail, hist_state, hist_ltv_bps, inputs FROM x"
    "   ON CONFLICT (position_id) DO UPDATE SET partner_id = EXCLUDED.partner_id, sequence = EXCLUDED.sequence,"
    "   state = EXCLUDED.state, ltv_bps = EXCLUDED.ltv_bps, raw_ltv_bps = EXCLUDED.raw_ltv_bps,"
    "   collateral_value = EXCLUDED.collateral_value, weighted_value = EXCLUDED.weighted_value,"
    "   debt = EXCLUDED.debt, accrued = EXCLUDED.accrued, debt_value = EXCLUDED.debt_value,"
    "   as_of = EXCLUDED.as_of, call_since = EXCLUDED.call_since, cure_deadline = EXCLUDED.cure_deadline,"
    "   detail = EXCLUDED.detail, hist_state = EXCLUDED.hist_state, hist_ltv_bps = EXCLUDED.hist_ltv_bps,"
    "   inputs = EXCLUDED.inputs,"
    "   not_recomputable_since = NULL, not_recomputable_reason = NULL),"
    " h AS (INSERT INTO partner_ltv_history (position_id, sequence, partner_id, state, ltv_bps, raw_ltv_bps,"
    "   collateral_value, weighted_value, debt, accrued, debt_value, as_of, call_since, cure_deadline, detail)"
    "   SELECT position_id, sequence, partner_id, state, ltv_bps, raw_ltv_bps, collateral_value, weighted_value,"
    "   debt, accrued, debt_value, as_of, call_since, cure_deadline, detail FROM x WHERE hist),"
    " o AS (INSERT INTO webhook_outbox (webhook_id, partner_id, position_id, event, payload)"
    "   SELECT w.webhook_id, x.partner_id, x.position_id, $1::text, x.payload FROM x"
    "   JOIN partner_webhooks w ON w.partner_id = x.partner_id AND w.deleted_at IS NULL"
    "   AND $1::text = ANY (w.events)"
    "   WHERE x.changed ORDER BY x.position_id, w.webhook_id RETURNING 1)"
    " SELECT count(*) AS outbox FROM o";

struct vec {
  void *items;
  size_t n, cap, size;
};

static void *vec_push(struct vec *v) {
  if (!util_vec_reserve(&v->items, &v->cap, v->n + 1, v->size, 256)) return NULL;
  void *slot = (char *)v->items + v->n++ * v->size;
  memset(slot, 0, v->size);
  return slot;
}

static db_status pos_row(const db_row *row, void *arg) {
  struct db_ltv_position *p = vec_push(arg);
  if (!p) return DB_ERROR;
  struct db_col cols[] = {
      {"position_id", DB_COL_INT64, &p->id, 0, NULL},
      {"partner_id", DB_COL_INT64, &p->partner_id, 0, NULL},
      {"external_id", DB_COL_TEXT, p->external_id, sizeof p->external_id, NULL},
      {"version", DB_COL_INT64, &p->version, 0, NULL},
      {"debt_chain_id", DB_COL_INT64, &p->debt_chain_id, 0, NULL},
      {"debt_asset", DB_COL_TEXT, p->debt_asset, sizeof p->debt_asset, NULL},
      {"debt_principal", DB_COL_TEXT, p->principal, sizeof p->principal, NULL},
      {"debt_apr_bps", DB_COL_INT32, &p->apr_bps, 0, NULL},
      {"accrual_start", DB_COL_INT64, &p->accrual_start, 0, NULL},
      {"warning_bps", DB_COL_INT32, &p->warning, 0, NULL},
      {"margin_call_bps", DB_COL_INT32, &p->margin_call, 0, NULL},
      {"liquidation_bps", DB_COL_INT32, &p->liquidation, 0, NULL},
      {"return_to_bps", DB_COL_INT32, &p->return_to, 0, NULL},
      {"cure_period_seconds", DB_COL_INT32, &p->cure, 0, NULL},
      {"max_price_staleness_seconds", DB_COL_INT32, &p->staleness, 0, NULL},
      {"debt_decimals", DB_COL_INT32, &p->debt_decimals, 0, NULL},
      {"debt_price", DB_COL_TEXT, p->debt_price, sizeof p->debt_price, NULL},
      {"debt_price_ts", DB_COL_UINT64, &p->debt_price_ts, 0, NULL},
      {"sequence", DB_COL_INT64, &p->sequence, 0, NULL},
      {"prev_state", DB_COL_INT32, &p->prev_state, 0, NULL},
      {"call_since", DB_COL_INT64, &p->call_since, 0, NULL},
      {"hist_state", DB_COL_INT32, &p->hist_state, 0, NULL},
      {"hist_ltv_bps", DB_COL_INT64, &p->hist_ltv_bps, 0, NULL},
      {"attestation_id", DB_COL_INT64, &p->attestation_id, 0, NULL},
      {"attestation_as_of", DB_COL_INT64, &p->attestation_as_of, 0, NULL},
      {"custodian_reference", DB_COL_TEXT, p->custodian_reference, sizeof p->custodian_reference, NULL},
      {"inputs", DB_COL_TEXT, p->inputs, sizeof p->inputs, NULL},
  };
  return db_row_get(row, cols, sizeof cols / sizeof cols[0]);
}

static db_status line_row(const db_row *row, void *arg) {
  struct db_ltv_line *l = vec_push(arg);
  if (!l) return DB_ERROR;
  struct db_col cols[] = {
      {"position_id", DB_COL_INT64, &l->position_id, 0, NULL},
      {"line_no", DB_COL_INT32, &l->line_no, 0, NULL},
      {"chain_id", DB_COL_INT64, &l->chain_id, 0, NULL},
      {"asset", DB_COL_TEXT, l->asset, sizeof l->asset, NULL},
      {"haircut_bps", DB_COL_INT32, &l->haircut_bps, 0, NULL},
      {"amount", DB_COL_TEXT, l->amount, sizeof l->amount, NULL},
      {"decimals", DB_COL_INT32, &l->decimals, 0, NULL},
      {"price", DB_COL_TEXT, l->price, sizeof l->price, NULL},
      {"price_ts", DB_COL_UINT64, &l->price_ts, 0, NULL},
  };
  return db_row_get(row, cols, sizeof cols / sizeof cols[0]);
}

/* The single parameter of the worker's reads: the position id, or NULL for every position. */
static const char *id_param(int64_t position_id, char buf[24]) {
  return position_id ? util_i64_dec(position_id, buf) : NULL;
}

db_status db_ltv_lock(db_conn *conn) { return db_exec_prepared(conn, "ltv_lock", 0, NULL, NULL); }

db_status db_ltv_positions(db_conn *conn, int64_t position_id, struct db_ltv_position **out, size_t *n) {
  char buf[24];
  const char *p[] = {id_param(position_id, buf)};
  struct vec v = {.size = sizeof **out};
  db_status st = db_query_prepared(conn, "ltv_positions", 1, p, pos_row, &v, NULL);
  *out = v.items;
  *n = v.n;
  return st;
}

db_status db_ltv_lines(db_conn *conn, int64_t position_id, struct db_ltv_line **out, size_t *n) {
  char buf[24];
  const char *p[] = {id_param(position_id, buf)};
  struct vec v = {.size = sizeof **out};
  db_status st = db_query_prepared(conn, "ltv_lines", 1, p, line_row, &v, NULL);
  *out = v.items;
  *n = v.n;
  return st;
}

db_status db_ltv_stage_begin(db_conn *conn) {
  db_status st = db_exec(conn, stage_sql);
  return st == DB_OK ? db_copy_begin(conn, "COPY sparkd_ltv_stage FROM STDIN") : st;
}

db_status db_ltv_stage_put(db_conn *conn, const char *rows, size_t len) { return db_copy_put(conn, rows, len); }

db_status db_ltv_stage_end(db_conn *conn) { return db_copy_end(conn, NULL); }

db_status db_ltv_stage_apply(db_conn *conn, const char *event, uint64_t *outbox) {
  *outbox = 0;
  const char *p[] = {event};
  struct db_col col[] = {{"outbox", DB_COL_UINT64, outbox, 0, NULL}};
  return db_query_one_params(conn, write_sql, 1, p, col, 1);
}

db_status db_ltv_latest_json(db_conn *conn, int64_t partner_id, int64_t position_id, char **json) {
  char partner[24], id[24];
  util_i64_dec(partner_id, partner);
  util_i64_dec(position_id, id);
  const char *p[] = {partner, id};
  *json = NULL;
  struct db_col cols[] = {{"body", DB_COL_TEXT_DUP, json, 0, NULL}};
  return db_query_one_prepared(conn, "ltv_get", 2, p, cols, 1);
}

db_status db_ltv_position_exists(db_conn *conn, int64_t partner_id, int64_t position_id) {
  char partner[24], id[24];
  util_i64_dec(partner_id, partner);
  util_i64_dec(position_id, id);
  const char *p[] = {partner, id};
  int64_t pos = 0;
  struct db_col cols[] = {{"position_id", DB_COL_INT64, &pos, 0, NULL}};
  return db_query_one_prepared(conn, "ltv_position_exists", 2, p, cols, 1);
}

db_status db_ltv_not_recomputable(db_conn *conn, int64_t position_id, uint64_t now, const char *reason) {
  char id[24], t[24];
  util_i64_dec(position_id, id);
  snprintf(t, sizeof t, "%llu", (unsigned long long)now);
  const char *p[] = {id, t, reason};
  return db_exec_prepared(conn, "ltv_not_recomputable", 3, p, NULL);
}

struct hist_ctx {
  db_ltv_record_fn fn;
  void *arg;
};
static db_status hist_row(const db_row *row, void *arg) {
  const struct hist_ctx *h = arg;
  const char *text = db_row_text(row, 0);
  return text ? h->fn(text, h->arg) : DB_ERROR;
}

db_status db_ltv_history(db_conn *conn, int64_t partner_id, int64_t position_id, int64_t before, int64_t limit,
                         db_ltv_record_fn fn, void *arg, uint64_t *n) {
  char partner[24], id[24], b[24], l[24];
  util_i64_dec(partner_id, partner);
  util_i64_dec(position_id, id);
  util_i64_dec(before, b);
  util_i64_dec(limit, l);
  const char *p[] = {partner, id, b, l};
  struct hist_ctx h = {fn, arg};
  return db_query_prepared(conn, "ltv_history", 4, p, hist_row, &h, n);
}
