/* Ops reads across partners (db/ops.c): the partner LTV positions a risk team sees, every
 * partner's at once, without attestation bodies or anything a partner's key guards. */
#ifndef SPARKD_DB_OPS_H
#define SPARKD_DB_OPS_H

#include <stdint.h>

#include "db/db.h"

/* Returns the status of reading one row per partner, in partner id order: partner_id, name,
 * positions, healthy, warning, margin_call, liquidation, stale (positions whose latest record is
 * in that state), no_record (positions without a record yet), not_recomputable. */
db_status db_ops_partner_ltv_summary(db_conn *conn, db_row_fn fn, void *arg);

/* Returns the status of reading at most limit positions of every partner, ordered by (partner,
 * position), after position `after` (0: from the start): partner_id, partner, position_id,
 * external_id, borrower, custodian, warning_bps, margin_call_bps, liquidation_bps, return_to_bps,
 * max_price_staleness_seconds, then the latest record's sequence, state, ltv_bps, raw_ltv_bps,
 * collateral_value, weighted_value, debt_value, as_of, call_since, cure_deadline,
 * oldest_price_ts, attestation_as_of, not_recomputable_since, not_recomputable_reason (all NULL
 * without a record; the last four may be NULL with one). */
db_status db_ops_partner_ltv_positions(db_conn *conn, int64_t after, int64_t limit, db_row_fn fn, void *arg);

#endif
