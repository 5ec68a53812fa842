/* Partner webhooks and their outbox (db/webhooks.h). */
#include "db/webhooks.h"

#include <stdio.h>
#include <string.h>

#include "db/internal.h"
#include "util/dec.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define WEBHOOK_COLS                                                                                                   \
  "jsonb_build_object('id', webhook_id::text, 'url', url, 'events', to_jsonb(events), 'created_at',"                   \
  " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"

const struct db_statement db_webhooks_statements[] = {
    {"wh_insert", "INSERT INTO partner_webhooks (partner_id, url, events, secret)"
                  " VALUES ($1, $2, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4)"
                  " RETURNING (" WEBHOOK_COLS " || jsonb_build_object('secret', secret))::text AS body,"
                  " webhook_id"},
    {"wh_list", "SELECT " WEBHOOK_COLS "::text AS body FROM partner_webhooks"
                " WHERE partner_id = $1 AND deleted_at IS NULL ORDER BY webhook_id"},
    {"wh_delete", "UPDATE partner_webhooks SET deleted_at = now()"
                  " WHERE partner_id = $1 AND webhook_id = $2 AND deleted_at IS NULL RETURNING webhook_id"},
    /* The next due events, at most one per (webhook, position): the oldest undelivered one. The
     * "oldest" test is a correlated min() over the webhook_outbox_order index, one probe per
     * candidate; a NOT EXISTS anti-join here was planned as a nested loop over every pending row
     * right after a bulk insert (no statistics yet): 19 s per batch with 10,000 events queued. */
    {"wh_take",
     "WITH due AS (SELECT o.event_seq FROM webhook_outbox o"
     "  WHERE o.delivered_at IS NULL AND o.gave_up_at IS NULL AND o.next_attempt_at <= now()"
     "  AND o.event_seq = (SELECT min(e.event_seq) FROM webhook_outbox e WHERE e.webhook_id = o.webhook_id"
     "    AND e.position_id = o.position_id AND e.delivered_at IS NULL AND e.gave_up_at IS NULL)"
     "  ORDER BY o.event_seq LIMIT " STR(
         DB_WEBHOOK_TAKE_MAX) " FOR UPDATE OF o SKIP LOCKED)"
                              " UPDATE webhook_outbox o SET next_attempt_at = now() + make_interval(secs => $1::int),"
                              "   attempts = o.attempts + 1"
                              " FROM due, partner_webhooks w WHERE o.event_seq = due.event_seq AND w.webhook_id = "
                              "o.webhook_id"
                              " RETURNING o.event_seq, o.event_id::text AS event_id, o.webhook_id, o.event, "
                              "o.payload::text AS payload,"
                              "   o.attempts, w.url, w.secret, (w.deleted_at IS NOT NULL) AS deleted,"
                              "   to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS "
                              "created_at"},
    {"wh_attempt", "INSERT INTO webhook_attempts (event_seq, attempt, http_status, error, duration_ms)"
                   " VALUES ($1, $2, $3, $4, $5)"},
    {"wh_done", "UPDATE webhook_outbox SET delivered_at = now() WHERE event_seq = $1"},
    {"wh_retry",
     "UPDATE webhook_outbox SET next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)"
     " WHERE event_seq = $1"},
    {"wh_giveup", "UPDATE webhook_outbox SET gave_up_at = now() WHERE event_seq = $1"},
    /* Taken (attempts counted, next_attempt_at moved to the lease's end) at least $1 seconds
     * before the end of a lease of $2 seconds, and still no attempt recorded for that count: the
     * sender that took them died (or stopped) before it recorded an outcome. */
    {"wh_release_orphans",
     "UPDATE webhook_outbox o SET next_attempt_at = now()"
     " WHERE o.delivered_at IS NULL AND o.gave_up_at IS NULL AND o.next_attempt_at > now()"
     " AND o.next_attempt_at <= now() + make_interval(secs => $2::int - $1::int) AND o.attempts > 0"
     " AND NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.event_seq = o.event_seq AND a.attempt = o.attempts)"},
};
DB_STATEMENTS_COUNT(webhooks);

db_status db_webhook_insert(db_conn *conn, int64_t partner_id, const char *url, const char *events_json,
                            const char *secret, char **json, int64_t *webhook_id) {
  char partner[24];
  util_i64_dec(partner_id, partner);
  const char *p[] = {partner, url, events_json, secret};
  *json = NULL;
  *webhook_id = 0;
  struct db_col cols[] = {{"body", DB_COL_TEXT_DUP, json, 0, NULL}, {"webhook_id", DB_COL_INT64, webhook_id, 0, NULL}};
  return db_query_one_prepared(conn, "wh_insert", 4, p, cols, 2);
}

struct list_ctx {
  db_webhook_fn fn;
  void *arg;
};
static db_status list_row(const db_row *row, void *arg) {
  const struct list_ctx *lc = arg;
  const char *t = db_row_text(row, 0);
  return t ? lc->fn(t, lc->arg) : DB_ERROR;
}

db_status db_webhooks_list(db_conn *conn, int64_t partner_id, db_webhook_fn fn, void *arg) {
  char partner[24];
  util_i64_dec(partner_id, partner);
  const char *p[] = {partner};
  struct list_ctx lc = {fn, arg};
  return db_query_prepared(conn, "wh_list", 1, p, list_row, &lc, NULL);
}

db_status db_webhook_delete(db_conn *conn, int64_t partner_id, int64_t webhook_id) {
  char partner[24], id[24];
  util_i64_dec(partner_id, partner);
  util_i64_dec(webhook_id, id);
  const char *p[] = {partner, id};
  int64_t wid = 0;
  struct db_col cols[] = {{"webhook_id", DB_COL_INT64, &wid, 0, NULL}};
  return db_query_one_prepared(conn, "wh_delete", 2, p, cols, 1);
}

struct take_ctx {
  struct db_webhook_job *jobs;
  size_t n;
};
static db_status job_row(const db_row *row, void *arg) {
  struct take_ctx *t = arg;
  if (t->n == DB_WEBHOOK_TAKE_MAX) return DB_OK;
  struct db_webhook_job *j = &t->jobs[t->n];
  memset(j, 0, sizeof *j);
  struct db_col cols[] = {
      {"event_seq", DB_COL_INT64, &j->event_seq, 0, NULL},
      {"event_id", DB_COL_TEXT, j->event_id, sizeof j->event_id, NULL},
      {"webhook_id", DB_COL_INT64, &j->webhook_id, 0, NULL},
      {"event", DB_COL_TEXT, j->event, sizeof j->event, NULL},
      {"payload", DB_COL_TEXT_DUP, &j->payload, 0, NULL},
      {"attempts", DB_COL_INT32, &j->attempts, 0, NULL},
      {"url", DB_COL_TEXT, j->url, sizeof j->url, NULL},
      {"secret", DB_COL_TEXT, j->secret, sizeof j->secret, NULL},
      {"deleted", DB_COL_BOOL, &j->deleted, 0, NULL},
      {"created_at", DB_COL_TEXT, j->created_at, sizeof j->created_at, NULL},
  };
  db_status s = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (s == DB_OK) t->n++;
  return s;
}

db_status db_webhook_take(db_conn *conn, int lease_s, struct db_webhook_job jobs[DB_WEBHOOK_TAKE_MAX], size_t *n) {
  char lease[12];
  snprintf(lease, sizeof lease, "%d", lease_s);
  const char *p[] = {lease};
  struct take_ctx t = {jobs, 0};
  db_status st = db_query_prepared(conn, "wh_take", 1, p, job_row, &t, NULL);
  *n = t.n;
  return st;
}

db_status db_webhook_attempt(db_conn *conn, int64_t event_seq, int attempt, unsigned http_status, const char *error,
                             long duration_ms) {
  char seq[24], att[12], st[12], ms[24];
  util_i64_dec(event_seq, seq);
  snprintf(att, sizeof att, "%d", attempt);
  snprintf(st, sizeof st, "%u", http_status);
  snprintf(ms, sizeof ms, "%ld", duration_ms);
  const char *p[] = {seq, att, http_status ? st : NULL, error && *error ? error : NULL, ms};
  return db_exec_prepared(conn, "wh_attempt", 5, p, NULL);
}

/* Returns the status of the one-parameter outbox update stmt for event_seq. */
static db_status by_seq(db_conn *conn, const char *stmt, int64_t event_seq) {
  char seq[24];
  util_i64_dec(event_seq, seq);
  const char *p[] = {seq};
  return db_exec_prepared(conn, stmt, 1, p, NULL);
}

db_status db_webhook_delivered(db_conn *conn, int64_t event_seq) { return by_seq(conn, "wh_done", event_seq); }

db_status db_webhook_give_up(db_conn *conn, int64_t event_seq) { return by_seq(conn, "wh_giveup", event_seq); }

db_status db_webhook_retry(db_conn *conn, int64_t event_seq, unsigned delay_ms) {
  char seq[24], delay[24];
  util_i64_dec(event_seq, seq);
  snprintf(delay, sizeof delay, "%u", delay_ms);
  const char *p[] = {seq, delay};
  return db_exec_prepared(conn, "wh_retry", 2, p, NULL);
}

db_status db_webhook_release_orphans(db_conn *conn, int min_age_s, int lease_s, uint64_t *released) {
  char age[24], lease[24];
  const char *p[] = {util_i64_dec(min_age_s, age), util_i64_dec(lease_s, lease)};
  return db_exec_prepared(conn, "wh_release_orphans", 2, p, released);
}
