/* LTV records of partner positions (service/ltv.h): the worker's reads of positions and
 * collateral lines with their prices and latest attestation, the staged write of new records
 * (latest, history, webhook outbox) and the reads that serve them. */
#ifndef SPARKD_DB_LTV_H
#define SPARKD_DB_LTV_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* A position with its debt price, previous record and latest attestation (0 / -1 = none). */
struct db_ltv_position {
  int64_t id, partner_id, version, debt_chain_id, accrual_start;
  int32_t apr_bps, warning, margin_call, liquidation, return_to, cure, staleness, debt_decimals;
  char external_id[132], debt_asset[43], principal[80], debt_price[80], custodian_reference[260];
  uint64_t debt_price_ts;
  int64_t sequence, call_since, hist_ltv_bps, attestation_id, attestation_as_of;
  int32_t prev_state, hist_state;
  char inputs[72]; /* the inputs digest of the latest record (partner/ltv.c); "" = none, or flagged */
};

/* A collateral line: the attested amount when the position has an attestation (else the stated
 * one), with its asset's decimals and price. */
struct db_ltv_line {
  int64_t position_id, chain_id;
  int32_t line_no, haircut_bps, decimals;
  char asset[43], amount[80], price[80];
  uint64_t price_ts;
};

/* Returns the status of taking the transaction-scoped lock that serialises recomputes. */
db_status db_ltv_lock(db_conn *conn);
/* Returns DB_OK with position position_id (0 = every position, in id order) in a malloc'd array
 * *out of *n entries (the caller frees it, also on failure). */
db_status db_ltv_positions(db_conn *conn, int64_t position_id, struct db_ltv_position **out, size_t *n);
/* Returns DB_OK with the collateral lines of position_id (0 = every position), ordered by position
 * and line, in a malloc'd array *out of *n entries (the caller frees it, also on failure). */
db_status db_ltv_lines(db_conn *conn, int64_t position_id, struct db_ltv_line **out, size_t *n);

/* New records are staged by COPY (text format, one line per position, the columns of
 * db/ltv.c's stage table in order, the last being the record's inputs digest) and applied with
 * one statement. */
/* Returns DB_OK once the transaction's stage table exists and COPY into it has started. */
db_status db_ltv_stage_begin(db_conn *conn);
/* Returns DB_OK after sending len bytes of staged rows. */
db_status db_ltv_stage_put(db_conn *conn, const char *rows, size_t len);
/* Returns the status of ending the COPY (also after a failure, to leave COPY mode). */
db_status db_ltv_stage_end(db_conn *conn);
/* Returns the status of upserting the staged records into partner_ltv_latest, appending those
 * marked for history, and queueing `event` for every subscribed webhook of the records marked
 * changed; *outbox gets how many outbox rows were queued. */
db_status db_ltv_stage_apply(db_conn *conn, const char *event, uint64_t *outbox);

/* Returns the status of flagging the latest record of position_id (if it has one) as not
 * recomputable for `reason`, since `now` unless already flagged; the next record written clears it. */
db_status db_ltv_not_recomputable(db_conn *conn, int64_t position_id, uint64_t now, const char *reason);

/* Returns DB_OK with the JSON text of the partner's latest record of position_id in *json
 * (malloc'd), or DB_NO_ROWS. */
db_status db_ltv_latest_json(db_conn *conn, int64_t partner_id, int64_t position_id, char **json);
/* Returns DB_OK when the partner has position_id, DB_NO_ROWS when not. */
db_status db_ltv_position_exists(db_conn *conn, int64_t partner_id, int64_t position_id);
/* Called once per history record with its JSON text (borrowed, valid during the call). */
typedef db_status (*db_ltv_record_fn)(const char *json, void *arg);
/* Returns the status of calling fn for at most limit history records of the partner's position
 * with sequence below `before`, newest first; *n (may be NULL) gets how many. */
db_status db_ltv_history(db_conn *conn, int64_t partner_id, int64_t position_id, int64_t before, int64_t limit,
                         db_ltv_record_fn fn, void *arg, uint64_t *n);

#endif
