/* The LTV records of partner positions (risk/ltv.h): recomputed from the latest
 * attestation, the imported prices and the debt accrued to now, stored in partner_ltv_latest,
 * appended to partner_ltv_history on a state change or an LTV move of at least
 * SPARKD_LTV_HISTORY_MIN_BPS, and a webhook outbox row per subscribed webhook on a state change,
 * all in one transaction. A worker thread recomputes, on NOTIFY sparkd_state (an import), the
 * positions whose prices (or other inputs) differ from those their record was computed from; one
 * position on NOTIFY sparkd_ltv (a position or attestation write, from the triggers of migration
 * 0005); and every SPARKD_LTV_SWEEP_S a sweep gives a new record to the positions whose state
 * changed (prices going stale, cure deadlines). */
#ifndef SPARKD_PARTNER_LTV_H
#define SPARKD_PARTNER_LTV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "risk/ltv.h"

#include "db/db.h"

struct util_config;
struct partner_signer;

#define PARTNER_LTV_CHAIN_ID 1 /* the EIP-712 domain's chainId (docs/ltv-signature.md) */
#define PARTNER_LTV_EVENT_STATE "ltv.state_changed"

struct partner_ltv_stats {
  uint64_t positions;        /* recomputed */
  uint64_t unchanged;        /* skipped by PARTNER_LTV_CHANGED_INPUTS: inputs as of their record */
  uint64_t history;          /* history rows appended */
  uint64_t state_changes;    /* records whose state differs from the previous one */
  uint64_t outbox;           /* webhook outbox rows written */
  uint64_t not_recomputable; /* positions the engine could not compute (their last record is flagged) */
  const char *reason;        /* why, for the last of them (static text); NULL when none */
};

/* Which positions a pass gives a new record. */
enum partner_ltv_pass {
  PARTNER_LTV_ALL = 0,        /* every position it computes */
  PARTNER_LTV_CHANGED_INPUTS, /* an import: those whose inputs other than the time (prices and their
                                 times, attestation, position terms) differ from their record's, and
                                 those without a current record */
  PARTNER_LTV_STATE_CHANGES,  /* the periodic sweep: those whose state changes (a price gone stale, a
                                 cure deadline passed) */
};

/* Returns the status of recomputing the record of position_id (0 = every position) at `now`
 * on conn, inside the caller's transaction; fills *stats (may be NULL). A position the engine
 * cannot compute keeps its last record, flagged not recomputable with the reason (served as
 * `not_recomputable`), until a later pass can. `pass` says which positions get a new record; the
 * others keep theirs. */
db_status partner_ltv_recompute(db_conn *conn, int64_t position_id, uint64_t now, unsigned history_min_bps,
                                enum partner_ltv_pass pass, struct partner_ltv_stats *stats);

/* Returns true after loading the signing key (if configured), setting up webhook targets
 * (partner_webhook_configure) and, unless SPARKD_WORKERS=off, starting the thread that keeps the
 * "workers" lease (db/lease.h) and runs the LTV worker and the webhook sender while it holds it:
 * one process of all those sharing the database runs them. The LTV worker also recomputes every
 * portfolio margin (partner_margin_recompute_all) after each import and on each sweep. False
 * (logged) on a failure. */
bool partner_ltv_start(db_pool *pool, const struct util_config *cfg);
/* Stops the worker threads, then gives the lease up. */
void partner_ltv_stop(void);

/* The workers' lease, for /metrics. */
struct partner_workers_status {
  const char *lease_name; /* "workers" */
  bool leased;            /* false with SPARKD_WORKERS=off */
  bool held;              /* this process holds it and runs the workers */
  uint64_t acquired, lost;
};
/* Fills *out (thread-safe). */
void partner_workers_status(struct partner_workers_status *out);
/* Returns whether this process may run the workers now: it holds the lease as of the last keep (at
 * most about a second old), or runs without one. The webhook sender asks before every post. */
bool partner_workers_hold(void);

/* Returns the process's signer, or NULL when SPARKD_SIGNING_KEY_FILE is empty. */
const struct partner_signer *partner_ltv_signer(void);

/* Returns a new JSON object: the record of one partner_ltv_latest/history row given as the JSON
 * text the statements return, with its EIP-712 signature when a signer is loaded. NULL on a
 * malformed row (logged). */
json_t *partner_ltv_record_json(const char *row_json);

#endif
