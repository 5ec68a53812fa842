/* POST/GET /v1/partner/webhooks and DELETE /v1/partner/webhooks/{id}: a partner's webhook
 * endpoints (service/webhook.h delivers). The secret is returned once, by POST. Writes go through
 * svc_partner_write (Idempotency-Key and audit row in the same transaction). */
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/handlers.h"
#include "service/crypto.h"
#include "service/ltv.h"
#include "service/partner_write.h"
#include "service/body.h"
#include "service/request.h"
#include "service/webhook.h"

#define WEBHOOK_COLS                                                                                                   \
  "jsonb_build_object('id', webhook_id::text, 'url', url, 'events', to_jsonb(events), 'created_at',"                   \
  " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"

static const struct db_statement stmts[] = {
    {"wh_insert", "INSERT INTO partner_webhooks (partner_id, url, events, secret)"
                  " VALUES ($1, $2, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4)"
                  " RETURNING (" WEBHOOK_COLS " || jsonb_build_object('secret', secret))::text AS body,"
                  " webhook_id"},
    {"wh_list", "SELECT " WEBHOOK_COLS "::text AS body FROM partner_webhooks"
                " WHERE partner_id = $1 AND deleted_at IS NULL ORDER BY webhook_id"},
    {"wh_delete", "UPDATE partner_webhooks SET deleted_at = now()"
                  " WHERE partner_id = $1 AND webhook_id = $2 AND deleted_at IS NULL RETURNING webhook_id"},
};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void reg(void) {
  svc_ltv_register_statements();
  db_statements_register(stmts, sizeof stmts / sizeof stmts[0]);
}

static const char *const known_events[] = {SVC_LTV_EVENT_STATE, NULL};

struct create {
  const char *url;
  char events[256];
  char secret[80];
};

static bool url_ok(const char *u) {
  size_t n = strlen(u);
  if (n > 2048) return false;
  const char *rest;
  if (strncmp(u, "http://", 7) == 0)
    rest = u + 7;
  else if (strncmp(u, "https://", 8) == 0 && svc_http_tls_available())
    rest = u + 8;
  else
    return false;
  if (!*rest || *rest == '/') return false;
  for (const char *p = u; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f) return false;
  return true;
}

static db_status create_work(db_conn *c, struct svc_request *req, void *arg, struct svc_write_out *out) {
  struct create *cr = arg;
  char partner[24];
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  const char *p[] = {partner, cr->url, cr->events, cr->secret};
  char *body = NULL;
  int64_t id = 0;
  struct db_col cols[] = {{"body", DB_COL_TEXT_DUP, &body, 0, NULL}, {"webhook_id", DB_COL_INT64, &id, 0, NULL}};
  db_status st = db_query_one_prepared(c, "wh_insert", 4, p, cols, 2);
  if (st != DB_OK) {
    free(body);
    return st;
  }
  out->status = 201;
  out->body = body;
  return DB_OK;
}

struct webhook_body {
  const char *url;
  size_t n_events;
  int events[8]; /* indexes in known_events */
};
static const struct svc_body_field event_spec[] = {{.type = SVC_BODY_ENUM, .names = known_events}};
static const struct svc_body_field webhook_spec[] = {
    {.name = "url", .type = SVC_BODY_STRING, .required = true, .offset = offsetof(struct webhook_body, url), .lo = 1,
     .hi = 2048},
    {.name = "events", .type = SVC_BODY_ARRAY, .required = true, .offset = offsetof(struct webhook_body, events),
     .lo = 1, .hi = 8, .sub = event_spec, .nsub = 1, .elem_size = sizeof(int),
     .count_offset = offsetof(struct webhook_body, n_events)},
};

enum svc_handler_result handler_partner_webhooks_post(struct svc_request *req) {
  pthread_once(&once, reg);
  struct create cr = {0};
  struct webhook_body in = {0};
  json_t *errors = json_array();
  json_t *root = svc_body_parse_collect(req, webhook_spec, sizeof webhook_spec / sizeof webhook_spec[0], &in, errors);
  if (!root) {
    json_decref(errors);
    return SVC_HANDLED;
  }
  cr.url = in.url;
  if (cr.url && !url_ok(cr.url))
    json_array_append_new(errors, svc_field_error("url", "invalid_url",
                                                  svc_http_tls_available()
                                                      ? "must be an http:// or https:// url, at most 2048 characters"
                                                      : "must be an http:// url (this build has no tls), at most 2048 "
                                                        "characters"));
  if (json_array_size(errors)) {
    json_decref(root);
    return svc_reply_validation(req, errors);
  }
  json_decref(errors);
  json_t *clean = json_array();
  for (size_t i = 0; i < in.n_events; i++)
    json_array_append_new(clean, json_string(known_events[in.events[i]]));
  char *ev = json_dumps(clean, JSON_COMPACT);
  json_decref(clean);
  if (!ev || strlen(ev) >= sizeof cr.events) {
    free(ev);
    json_decref(root);
    return SVC_HANDLER_FATAL;
  }
  strcpy(cr.events, ev);
  free(ev);
  uint8_t rnd[32];
  if (RAND_bytes(rnd, sizeof rnd) != 1) {
    json_decref(root);
    return SVC_HANDLER_FATAL;
  }
  char hex[67];
  svc_hex0x(rnd, sizeof rnd, hex);
  snprintf(cr.secret, sizeof cr.secret, "whsec_%s", hex + 2);
  enum svc_handler_result res = svc_partner_write(req, true, SVC_ERR_internal_error, create_work, &cr);
  json_decref(root);
  return res;
}

struct list_ctx {
  json_t *arr;
};
static db_status list_row(const db_row *row, void *arg) {
  struct list_ctx *l = arg;
  const char *t = db_row_text(row, 0);
  json_t *v = t ? json_loads(t, 0, NULL) : NULL;
  if (!v) return DB_ERROR;
  json_array_append_new(l->arr, v);
  return DB_OK;
}

enum svc_handler_result handler_partner_webhooks_list(struct svc_request *req) {
  pthread_once(&once, reg);
  char partner[24];
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  struct list_ctx l = {json_array()};
  const char *p[] = {partner};
  db_status st = db_query_prepared(c, "wh_list", 1, p, list_row, &l, NULL);
  db_release(c);
  if (st != DB_OK) {
    json_decref(l.arr);
    return svc_reply_problem(req, SVC_ERR_database_unavailable, "the webhooks could not be read; retry shortly");
  }
  return svc_reply_json_steal(req, 200, json_pack("{s:o}", "webhooks", l.arr));
}

static db_status delete_work(db_conn *c, struct svc_request *req, void *arg, struct svc_write_out *out) {
  const char *id = arg;
  char partner[24];
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  const char *p[] = {partner, id};
  int64_t wid = 0;
  struct db_col cols[] = {{"webhook_id", DB_COL_INT64, &wid, 0, NULL}};
  db_status st = db_query_one_prepared(c, "wh_delete", 2, p, cols, 1);
  if (st == DB_NO_ROWS) {
    out->failed = true;
    out->err = SVC_ERR_webhook_not_found;
    snprintf(out->detail, sizeof out->detail, "no webhook %s for this partner", id);
    return DB_OK;
  }
  if (st != DB_OK) return st;
  out->status = 200;
  if (asprintf(&out->body, "{\"id\":\"%s\",\"deleted\":true}", id) < 0) return DB_ERROR;
  return DB_OK;
}

enum svc_handler_result handler_partner_webhook_delete(struct svc_request *req) {
  pthread_once(&once, reg);
  char buf[32], id[24];
  const char *s = svc_req_param(req, "id", buf, sizeof buf);
  bool ok = s && *s && strlen(s) <= 18;
  for (const char *q = s; ok && *q; q++)
    ok = *q >= '0' && *q <= '9';
  if (!ok) return svc_reply_problem(req, SVC_ERR_webhook_not_found, "no such webhook");
  snprintf(id, sizeof id, "%lld", strtoll(s, NULL, 10));
  return svc_partner_write(req, false, SVC_ERR_internal_error, delete_work, id);
}
