/* Partner positions, attestations, Idempotency-Key rows and the audit log (migration 0004).
 * Every position read or write filters by the partner: another partner's position is not found.
 * Positions and attestations are returned as the JSON text PostgreSQL builds for the API. */
#ifndef SPARKD_DB_PARTNER_H
#define SPARKD_DB_PARTNER_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

/* The terms of a position as written (strings borrowed; numbers already range-checked). */
struct db_partner_terms {
  const char *external_id; /* create only */
  const char *borrower, *custodian;
  int64_t debt_chain_id;
  const char *debt_asset;         /* 0x address */
  const char *debt_principal;     /* uint256, decimal */
  const char *debt_accrual_start; /* RFC 3339 */
  int64_t debt_apr_bps, warning_bps, margin_call_bps, liquidation_bps, return_to_bps, cure_period_seconds,
      max_price_staleness_seconds;
};

/* The stored terms of a position, read under a row lock for a change. */
struct db_partner_stored_terms {
  char borrower[257], custodian[257], debt_asset[43], debt_principal[80];
  char debt_accrual_start[24]; /* RFC 3339 UTC */
  int64_t debt_chain_id;
  int32_t debt_apr_bps, warning_bps, margin_call_bps, liquidation_bps, return_to_bps, cure_period_seconds,
      max_price_staleness_seconds;
};

/* Returns DB_OK with the new position's id in *position_id (DB_CONFLICT: the external id exists). */
db_status db_partner_position_insert(db_conn *conn, int64_t partner_id, const struct db_partner_terms *t,
                                     int64_t *position_id);
/* Returns DB_OK with the terms of the partner's position in *out, locked for update, or DB_NO_ROWS. */
db_status db_partner_position_lock(db_conn *conn, int64_t partner_id, int64_t position_id,
                                   struct db_partner_stored_terms *out);
/* Returns the status of replacing the terms of the partner's position (its version goes up by one). */
db_status db_partner_position_update(db_conn *conn, int64_t partner_id, int64_t position_id,
                                     const struct db_partner_terms *t);
/* Returns the status of adding collateral line line_no (amount: uint256 decimal) to a position. */
db_status db_partner_line_insert(db_conn *conn, int64_t position_id, int line_no, int64_t chain_id, const char *asset,
                                 const char *amount, int64_t haircut_bps);
/* Returns the status of deleting every collateral line of a position. */
db_status db_partner_lines_delete(db_conn *conn, int64_t position_id);
/* Returns DB_OK with *same set when the position's collateral lines, in line order, are exactly
 * lines: JSON text of an array of [chain_id, asset (lowercase), amount (decimal string), haircut_bps]. */
db_status db_partner_lines_equal(db_conn *conn, int64_t position_id, const char *lines, bool *same);
/* Returns DB_OK with the JSON text of the partner's position in *json (malloc'd), or DB_NO_ROWS. */
db_status db_partner_position_json(db_conn *conn, int64_t partner_id, int64_t position_id, char **json);

/* Called once per listed position with its id and JSON text (borrowed, valid during the call). */
typedef db_status (*db_partner_position_fn)(int64_t position_id, const char *json, void *arg);
/* Returns the status of calling fn for at most limit of the partner's positions with ids above
 * after, in id order; *n (may be NULL) gets how many. */
db_status db_partner_positions_list(db_conn *conn, int64_t partner_id, int64_t after, int64_t limit,
                                    db_partner_position_fn fn, void *arg, uint64_t *n);

/* Called once per collateral line with its chain and asset (borrowed, valid during the call). */
typedef db_status (*db_partner_line_fn)(int64_t chain_id, const char *asset, void *arg);
/* Returns the status of calling fn for each collateral line of the partner's position, in line
 * order, with the position share-locked; *n (may be NULL) gets how many (0: not this partner's). */
db_status db_partner_line_assets(db_conn *conn, int64_t partner_id, int64_t position_id, db_partner_line_fn fn,
                                 void *arg, uint64_t *n);

/* Returns DB_OK with the new attestation's id in *attestation_id (DB_CONFLICT: one exists as of then). */
db_status db_partner_attestation_insert(db_conn *conn, int64_t partner_id, int64_t position_id, const char *as_of,
                                        const char *custodian_reference, int64_t *attestation_id);
/* Returns the status of adding one balance (amount: uint256 decimal) to an attestation. */
db_status db_partner_attestation_balance_insert(db_conn *conn, int64_t attestation_id, int64_t chain_id,
                                                const char *asset, const char *amount);
/* Returns DB_OK with the JSON text of the partner's attestation in *json (malloc'd), or DB_NO_ROWS. */
db_status db_partner_attestation_json(db_conn *conn, int64_t partner_id, int64_t attestation_id, char **json);

/* The identity of one Idempotency-Key use: the key, the header's value, the method and the path. */
struct db_idem_key {
  int64_t key_id;
  const char *idempotency_key, *method, *path;
};
/* The response stored for an Idempotency-Key. */
struct db_idem_stored {
  char request_sha256[65];
  int32_t response_status;
  char *response_body; /* malloc'd */
};
/* Returns DB_OK with *claimed true when this transaction now holds k (request_sha256 recorded);
 * false when another committed it first (the insert waits for a concurrent holder). */
db_status db_idem_claim(db_conn *conn, const struct db_idem_key *k, const char *request_sha256, bool *claimed);
/* Returns DB_OK with the request hash and response stored for k in *out, or DB_NO_ROWS. */
db_status db_idem_get(db_conn *conn, const struct db_idem_key *k, struct db_idem_stored *out);
/* Returns the status of storing the response (status, JSON text) of the claim k. */
db_status db_idem_store(db_conn *conn, const struct db_idem_key *k, unsigned status, const char *body);
/* Rows db_idem_purge_batch deletes at most per call. */
#define DB_IDEM_PURGE_BATCH 10000
/* Returns the status of deleting at most DB_IDEM_PURGE_BATCH rows stored more than keep_h hours
 * ago; *removed gets how many. */
db_status db_idem_purge_batch(db_conn *conn, unsigned keep_h, uint64_t *removed);

/* One audit_log row (strings borrowed). */
struct db_audit_entry {
  int64_t key_id, partner_id; /* partner 0 = none */
  const char *method, *route, *path, *request_id;
  const char *body_sha256; /* 64 hex digits */
  unsigned status;
  int64_t position_id; /* 0 = none */
};
/* Returns the status of appending e to the audit log. */
db_status db_audit_append(db_conn *conn, const struct db_audit_entry *e);

#endif
