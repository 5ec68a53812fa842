/* Ops reads across partners (db/ops.h). */
#include "db/ops.h"

#include "db/internal.h"
#include "util/dec.h"

/* The record's detail is the array partner/ltv.c writes ([2, version, lines, debt, thresholds,
 * attestation or null, oldest price time]); older records stored an object, for which the two
 * times read as NULL. */
const struct db_statement db_ops_statements[] = {
    {"ops_partner_ltv_summary",
     "SELECT pa.partner_id, pa.name, count(p.position_id) AS positions,"
     " count(*) FILTER (WHERE l.state = 0) AS healthy, count(*) FILTER (WHERE l.state = 1) AS warning,"
     " count(*) FILTER (WHERE l.state = 2) AS margin_call, count(*) FILTER (WHERE l.state = 3) AS liquidation,"
     " count(*) FILTER (WHERE l.state = 4) AS stale,"
     " count(p.position_id) FILTER (WHERE l.position_id IS NULL) AS no_record,"
     " count(l.not_recomputable_since) AS not_recomputable"
     " FROM partners pa LEFT JOIN partner_positions p ON p.partner_id = pa.partner_id"
     " LEFT JOIN partner_ltv_latest l ON l.position_id = p.position_id"
     " GROUP BY pa.partner_id, pa.name ORDER BY pa.partner_id"},
    /* the cursor is a position id; its partner comes from the row (positions are never deleted) */
    {"ops_partner_ltv_positions",
     "SELECT p.partner_id, pa.name AS partner, p.position_id, p.external_id, p.borrower, p.custodian,"
     " p.warning_bps, p.margin_call_bps, p.liquidation_bps, p.return_to_bps, p.max_price_staleness_seconds,"
     " l.sequence, l.state, l.ltv_bps, l.raw_ltv_bps, l.collateral_value::text AS collateral_value,"
     " l.weighted_value::text AS weighted_value, l.debt_value::text AS debt_value, l.as_of, l.call_since,"
     " l.cure_deadline,"
     " CASE WHEN json_typeof(l.detail) = 'array' THEN (l.detail ->> -1)::bigint END AS oldest_price_ts,"
     " CASE WHEN json_typeof(l.detail) = 'array' AND json_typeof(l.detail -> 5) = 'array'"
     "  THEN (l.detail -> 5 ->> 1)::bigint END AS attestation_as_of,"
     " l.not_recomputable_since, l.not_recomputable_reason"
     " FROM partner_positions p JOIN partners pa ON pa.partner_id = p.partner_id"
     " LEFT JOIN partner_ltv_latest l ON l.position_id = p.position_id"
     " WHERE $1::bigint = 0 OR (p.partner_id, p.position_id) >"
     "  (SELECT c.partner_id, c.position_id FROM partner_positions c WHERE c.position_id = $1::bigint)"
     " ORDER BY p.partner_id, p.position_id LIMIT $2::bigint"},
};
DB_STATEMENTS_COUNT(ops);

db_status db_ops_partner_ltv_summary(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "ops_partner_ltv_summary", 0, NULL, fn, arg, NULL);
}

db_status db_ops_partner_ltv_positions(db_conn *conn, int64_t after, int64_t limit, db_row_fn fn, void *arg) {
  char a[24], l[24];
  util_i64_dec(after, a);
  util_i64_dec(limit, l);
  const char *p[] = {a, l};
  return db_query_prepared(conn, "ops_partner_ltv_positions", 2, p, fn, arg, NULL);
}
