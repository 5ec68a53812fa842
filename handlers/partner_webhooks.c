/* POST/GET /v1/partner/webhooks and DELETE /v1/partner/webhooks/{id}: a partner's webhook
 * endpoints (partner/delivery.c delivers). The secret is returned once, by POST. Writes go through
 * handler_partner_write (Idempotency-Key and audit row in the same transaction). */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/webhooks.h"
#include "handlers/bodies.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "handlers/partner_write.h"
#include "partner/delivery.h"
#include "partner/ltv.h"
#include "partner/margin.h"
#include "partner/signer.h"
#include "service/body.h"
#include "service/request.h"
#include "util/hex.h"

static const char *const known_events[] = {PARTNER_LTV_EVENT_STATE, PARTNER_MARGIN_EVENT_BAND, NULL};

struct create {
  const char *url;
  char events[256];
  char secret[80];
};

static db_status create_work(db_conn *c, struct svc_request *req, void *arg, struct handler_write_out *out) {
  struct create *cr = arg;
  char *body = NULL;
  int64_t id = 0;
  db_status st = db_webhook_insert(c, req->partner_id, cr->url, cr->events, cr->secret, &body, &id);
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
    {.name = "url",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct webhook_body, url),
     .lo = 1,
     .hi = 2048},
    {.name = "events",
     .type = SVC_BODY_ARRAY,
     .required = true,
     .offset = offsetof(struct webhook_body, events),
     .lo = 1,
     .hi = 8,
     .sub = event_spec,
     .nsub = 1,
     .elem_size = sizeof(int),
     .count_offset = offsetof(struct webhook_body, n_events)},
};

enum svc_handler_result handler_partner_webhooks_post(struct svc_request *req) {
  struct create cr = {0};
  struct webhook_body in = {0};
  json_t *errors = json_array();
  struct svc_body *body =
      svc_body_parse_collect(req, webhook_spec, sizeof webhook_spec / sizeof webhook_spec[0], &in, errors);
  if (!body) {
    json_decref(errors);
    return SVC_HANDLED;
  }
  cr.url = in.url;
  char why[200];
  if (cr.url && !partner_webhook_url_check(cr.url, why, sizeof why))
    json_array_append_new(errors, svc_field_error("url", "invalid_url", why));
  /* An event listed twice is a client mistake, not a second subscription: name the repeat. An
   * element the reader refused is left zeroed, so look only when every element was read. */
  bool events_read = true;
  size_t k;
  json_t *e;
  json_array_foreach(errors, k, e) events_read &=
      strncmp(json_string_value(json_object_get(e, "field")), "events", 6) != 0;
  for (size_t i = 0; events_read && i < in.n_events; i++) {
    bool dup = false;
    for (size_t j = 0; j < i && !dup; j++)
      dup = in.events[j] == in.events[i];
    if (dup) {
      char field[32];
      snprintf(field, sizeof field, "events[%zu]", i);
      json_array_append_new(errors, svc_field_error(field, "duplicate", "is already an earlier event"));
    }
  }
  if (json_array_size(errors)) {
    svc_body_free(body);
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
    svc_body_free(body);
    return SVC_HANDLER_FATAL;
  }
  strcpy(cr.events, ev);
  free(ev);
  uint8_t rnd[32];
  if (RAND_bytes(rnd, sizeof rnd) != 1) {
    svc_body_free(body);
    return SVC_HANDLER_FATAL;
  }
  char hex[67];
  util_hex0x(rnd, sizeof rnd, hex);
  snprintf(cr.secret, sizeof cr.secret, "whsec_%s", hex + 2);
  enum svc_handler_result res = handler_partner_write(req, true, SVC_ERR_internal_error, create_work, &cr);
  svc_body_free(body);
  return res;
}

struct list_ctx {
  json_t *arr;
};
static db_status list_row(const char *t, void *arg) {
  struct list_ctx *l = arg;
  json_t *v = json_loads(t, 0, NULL);
  if (!v) return DB_ERROR;
  json_array_append_new(l->arr, v);
  return DB_OK;
}

enum svc_handler_result handler_partner_webhooks_list(struct svc_request *req) {
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  struct list_ctx l = {json_array()};
  db_status st = db_webhooks_list(c, req->partner_id, list_row, &l);
  db_release(c);
  if (st != DB_OK) {
    json_decref(l.arr);
    return svc_reply_problem(req, SVC_ERR_database_unavailable, "the webhooks could not be read; retry shortly");
  }
  return svc_reply_json_steal(req, 200, json_pack("{s:o}", "webhooks", l.arr));
}

static db_status delete_work(db_conn *c, struct svc_request *req, void *arg, struct handler_write_out *out) {
  const char *id = arg;
  db_status st = db_webhook_delete(c, req->partner_id, strtoll(id, NULL, 10));
  if (st == DB_NO_ROWS) {
    out->failed = true;
    out->err = SVC_ERR_webhook_not_found;
    snprintf(out->detail, sizeof out->detail, "no webhook %s for this partner", id);
    return DB_OK;
  }
  if (st != DB_OK) return st;
  out->status = 200;
  json_t *o = json_pack("{s:s, s:b}", "id", id, "deleted", 1);
  out->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!out->body) return DB_ERROR;
  return DB_OK;
}

enum svc_handler_result handler_partner_webhook_delete(struct svc_request *req) {
  char buf[32], id[24];
  int64_t v;
  if (!handler_parse_id(svc_req_param(req, "id", buf, sizeof buf), &v, id))
    return svc_reply_problem(req, SVC_ERR_webhook_not_found, "no such webhook");
  return handler_partner_write(req, false, SVC_ERR_internal_error, delete_work, id);
}

const struct handler_body_spec handler_body_partner_webhook = {"POST", "/v1/partner/webhooks", webhook_spec,
                                                               sizeof webhook_spec / sizeof webhook_spec[0],
                                                               sizeof(struct webhook_body)};
