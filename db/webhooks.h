/* Partner webhooks (migration 0005): the registrations a partner manages, and the outbox the
 * delivery worker (service/webhook.h) takes events from and records attempts in. */
#ifndef SPARKD_DB_WEBHOOKS_H
#define SPARKD_DB_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* Returns DB_OK after registering a webhook for the partner (events: a JSON array of names);
 * *json (malloc'd) gets its JSON text with the secret, *webhook_id its id. */
db_status db_webhook_insert(db_conn *conn, int64_t partner_id, const char *url, const char *events_json,
                            const char *secret, char **json, int64_t *webhook_id);
/* Called once per webhook with its JSON text (borrowed, valid during the call; no secret). */
typedef db_status (*db_webhook_fn)(const char *json, void *arg);
/* Returns the status of calling fn for each of the partner's live webhooks, in id order. */
db_status db_webhooks_list(db_conn *conn, int64_t partner_id, db_webhook_fn fn, void *arg);
/* Returns DB_OK after marking the partner's live webhook deleted, or DB_NO_ROWS. */
db_status db_webhook_delete(db_conn *conn, int64_t partner_id, int64_t webhook_id);

/* Events db_webhook_take leases at most per call. */
#define DB_WEBHOOK_TAKE_MAX 32

/* One due outbox event, leased to the caller. */
struct db_webhook_job {
  int64_t event_seq, webhook_id;
  int32_t attempts; /* including this one */
  bool deleted;     /* the webhook was deleted since the event was queued */
  char event_id[40], event[64], url[2050], secret[128], created_at[32];
  char *payload; /* malloc'd JSON text; the caller frees it */
};

/* Returns DB_OK with at most DB_WEBHOOK_TAKE_MAX due events in jobs[0..*n): for each (webhook,
 * position) only the oldest undelivered one, each leased for lease_s seconds and its attempts
 * counted up. */
db_status db_webhook_take(db_conn *conn, int lease_s, struct db_webhook_job jobs[DB_WEBHOOK_TAKE_MAX], size_t *n);
/* Returns the status of recording one attempt (http_status 0 = no answer; error NULL = none). */
db_status db_webhook_attempt(db_conn *conn, int64_t event_seq, int attempt, unsigned http_status, const char *error,
                             long duration_ms);
/* Returns the status of marking the event delivered. */
db_status db_webhook_delivered(db_conn *conn, int64_t event_seq);
/* Returns the status of making the event due again in delay_ms. */
db_status db_webhook_retry(db_conn *conn, int64_t event_seq, unsigned delay_ms);
/* Returns the status of giving the event up. */
db_status db_webhook_give_up(db_conn *conn, int64_t event_seq);

/* Returns the status of making due at once the events a sender took (with a lease of lease_s, as
 * db_webhook_take) at least min_age_s seconds ago and never recorded an attempt for: it died or
 * stopped mid-delivery, and they would otherwise wait for the lease to end. *released (may be NULL)
 * counts them. Only for the one sender of all processes (the "workers" lease, db/lease.h), with
 * min_age_s longer than a sender that lost the lease may still take to finish the post in flight. */
db_status db_webhook_release_orphans(db_conn *conn, int min_age_s, int lease_s, uint64_t *released);

#endif
