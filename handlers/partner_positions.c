/* Partner positions and attestations (spec risk-engine §6), scope partner:
 *   POST  /v1/partner/positions                        create (Idempotency-Key required)
 *   GET   /v1/partner/positions                        list, keyset by id (?after=&limit=)
 *   GET   /v1/partner/positions/{id}                   one, with its latest attestation
 *   PATCH /v1/partner/positions/{id}                   change terms (whole sub-objects)
 *   POST  /v1/partner/positions/{id}/attestations      custodian balances as of a time
 * Every statement filters by the key's partner_id in SQL: another partner's position is not
 * found (404). Writes go through handler_partner_write (idempotency + audit in one transaction). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/partner.h"
#include "handlers/bodies.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "handlers/partner_write.h"
#include "risk/eip55.h"
#include "risk/ltv.h"
#include "service/body.h"
#include "service/request.h"
#include "util/log.h"

#define MAX_LINES 32
#define LIST_DEFAULT 100
#define LIST_MAX 500

/* ---- input ---- */
struct line {
  long long chain_id, haircut_bps;
  char asset[43];
  u256 amount_v;
  char amount[80]; /* amount_v in decimal, as stored */
};
struct terms {
  const char *external_id, *borrower, *custodian;
  bool has_collateral, has_debt, has_thresholds, has_cure, has_stale;
  size_t nlines;
  struct line lines[MAX_LINES];
  long long debt_chain_id, apr_bps;
  char debt_asset[43];
  u256 principal_v;
  char principal[80];
  const char *accrual_start_s;
  char accrual_start[24];
  long long warning, margin_call, liquidation, return_to, cure, stale;
};

static void field_err(json_t *errors, const char *field, const char *code, const char *msg) {
  json_array_append_new(errors, svc_field_error(field, code, msg));
}

/* RFC 3339 UTC to the second: "2026-01-15T00:00:00Z". */
static bool parse_time(const char *s, const char *field, char out[24], json_t *errors, time_t *t_out) {
  int y, mo, d, h, mi, se;
  char z = 0, extra = 0;
  bool ok = s && strlen(s) == 20 &&
            sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &y, &mo, &d, &h, &mi, &se, &z, &extra) == 7 && z == 'Z';
  if (ok) {
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
    time_t t = timegm(&tm);
    struct tm back;
    ok = y >= 1970 && y <= 9999 && gmtime_r(&t, &back) && back.tm_year == y - 1900 && back.tm_mon == mo - 1 &&
         back.tm_mday == d && back.tm_hour == h && back.tm_min == mi && back.tm_sec == se;
    if (ok && t_out) *t_out = t;
  }
  if (!ok) {
    field_err(errors, field, "invalid_time", "must be an RFC 3339 UTC time to the second, e.g. 2026-01-15T00:00:00Z");
    return false;
  }
  snprintf(out, 24, "%s", s);
  return true;
}

#define T(m) offsetof(struct terms, m)
#define L(m) offsetof(struct line, m)
static const struct svc_body_field line_spec[] = {
    {.name = "chain_id",
     .type = SVC_BODY_INT,
     .required = true,
     .offset = L(chain_id),
     .lo = 1,
     .hi = 9007199254740991LL},
    {.name = "asset", .type = SVC_BODY_ADDRESS, .required = true, .offset = L(asset)},
    {.name = "amount", .type = SVC_BODY_U256, .required = true, .offset = L(amount_v), .bits = RISK_LTV_AMOUNT_BITS},
    {.name = "haircut_bps", .type = SVC_BODY_INT, .offset = L(haircut_bps), .lo = 0, .hi = 10000},
};
/* debt and thresholds fill members of struct terms itself (the object's offset is 0) */
static const struct svc_body_field debt_spec[] = {
    {.name = "chain_id",
     .type = SVC_BODY_INT,
     .required = true,
     .offset = T(debt_chain_id),
     .lo = 1,
     .hi = 9007199254740991LL},
    {.name = "asset", .type = SVC_BODY_ADDRESS, .required = true, .offset = T(debt_asset)},
    {.name = "principal",
     .type = SVC_BODY_U256,
     .required = true,
     .offset = T(principal_v),
     .bits = RISK_LTV_AMOUNT_BITS},
    {.name = "apr_bps", .type = SVC_BODY_INT, .required = true, .offset = T(apr_bps), .lo = 0, .hi = 100000},
    {.name = "accrual_start", .type = SVC_BODY_STRING, .required = true, .offset = T(accrual_start_s)},
};
static const struct svc_body_field threshold_spec[] = {
    {.name = "warning_bps", .type = SVC_BODY_INT, .required = true, .offset = T(warning), .lo = 0, .hi = 10000},
    {.name = "margin_call_bps", .type = SVC_BODY_INT, .required = true, .offset = T(margin_call), .lo = 0, .hi = 10000},
    {.name = "liquidation_bps", .type = SVC_BODY_INT, .required = true, .offset = T(liquidation), .lo = 0, .hi = 10000},
    {.name = "return_to_bps", .type = SVC_BODY_INT, .required = true, .offset = T(return_to), .lo = 0, .hi = 10000},
};
/* A create needs every field; a patch (which cannot change external_id) any of the rest. */
static const struct svc_body_field create_spec[] = {
    {.name = "external_id", .type = SVC_BODY_STRING, .required = true, .offset = T(external_id), .lo = 1, .hi = 128},
    {.name = "borrower", .type = SVC_BODY_STRING, .required = true, .offset = T(borrower), .lo = 1, .hi = 256},
    {.name = "custodian", .type = SVC_BODY_STRING, .required = true, .offset = T(custodian), .lo = 1, .hi = 256},
    {.name = "collateral",
     .type = SVC_BODY_ARRAY,
     .required = true,
     .offset = T(lines),
     .lo = 1,
     .hi = MAX_LINES,
     .sub = line_spec,
     .nsub = sizeof line_spec / sizeof line_spec[0],
     .elem_size = sizeof(struct line),
     .count_offset = T(nlines),
     .given = SVC_BODY_FLAG(struct terms, has_collateral)},
    {.name = "debt",
     .type = SVC_BODY_OBJECT,
     .required = true,
     .offset = 0,
     .sub = debt_spec,
     .nsub = sizeof debt_spec / sizeof debt_spec[0],
     .given = SVC_BODY_FLAG(struct terms, has_debt)},
    {.name = "thresholds",
     .type = SVC_BODY_OBJECT,
     .required = true,
     .offset = 0,
     .sub = threshold_spec,
     .nsub = sizeof threshold_spec / sizeof threshold_spec[0],
     .given = SVC_BODY_FLAG(struct terms, has_thresholds)},
    {.name = "cure_period_seconds",
     .type = SVC_BODY_INT,
     .required = true,
     .offset = T(cure),
     .lo = 0,
     .hi = 31536000,
     .given = SVC_BODY_FLAG(struct terms, has_cure)},
    {.name = "max_price_staleness_seconds",
     .type = SVC_BODY_INT,
     .required = true,
     .offset = T(stale),
     .lo = 1,
     .hi = 31536000,
     .given = SVC_BODY_FLAG(struct terms, has_stale)},
};
#define NTERMS (sizeof create_spec / sizeof create_spec[0])
#undef L
#undef T

/* Names element i of array when an earlier element has the same chain and asset. */
static void check_duplicate(json_t *errors, const char *array, size_t i, bool dup, const char *what) {
  if (!dup) return;
  char field[64], msg[64];
  snprintf(field, sizeof field, "%s[%zu].asset", array, i);
  snprintf(msg, sizeof msg, "the same asset is already an earlier %s", what);
  field_err(errors, field, "duplicate", msg);
}

/* Names field when address (lowercase, as read) is the zero address: no token lives there, so a
 * line or debt on it could never be priced. */
static void check_not_zero(json_t *errors, const char *field, const char *address) {
  if (strcmp(address, "0x0000000000000000000000000000000000000000") == 0)
    field_err(errors, field, "invalid_address", "must not be the zero address");
}

/* The ladder in LTV terms: warning < margin_call < liquidation <= 10000 and return_to < margin_call;
 * each bad field is named once. */
static void check_ladder(const struct terms *t, json_t *errors) {
  if (t->warning >= t->margin_call)
    field_err(errors, "thresholds.warning_bps", "out_of_order", "must be below thresholds.margin_call_bps");
  if (t->margin_call >= t->liquidation)
    field_err(errors, "thresholds.margin_call_bps", "out_of_order", "must be below thresholds.liquidation_bps");
  if (t->return_to >= t->margin_call)
    field_err(errors, "thresholds.return_to_bps", "out_of_order", "must be below thresholds.margin_call_bps");
}

size_t handler_partner_patch_spec(struct svc_body_field *out) {
  memcpy(out, create_spec + 1, (NTERMS - 1) * sizeof *out);
  for (size_t i = 0; i < NTERMS - 1; i++) {
    out[i].required = false;
    out[i].no_null = true; /* no term can be cleared: null would only look like a change */
  }
  return NTERMS - 1;
}

/* Parses a create (all required) or patch (all optional) body; returns the body (caller frees) or
 * NULL after replying 400. */
static struct svc_body *parse_terms(struct svc_request *req, struct terms *t, bool create) {
  memset(t, 0, sizeof *t);
  struct svc_body_field patch_spec[NTERMS];
  size_t npatch = handler_partner_patch_spec(patch_spec);
  struct svc_body *body = svc_body_parse(req, create ? create_spec : patch_spec, create ? NTERMS : npatch, t);
  if (!body) return NULL;
  json_t *errors = json_array();
  for (size_t i = 0; i < t->nlines; i++) {
    struct line *l = &t->lines[i];
    u256_to_dec(l->amount_v, l->amount);
    bool dup = false;
    for (size_t j = 0; j < i; j++)
      dup |= t->lines[j].chain_id == l->chain_id && strcmp(t->lines[j].asset, l->asset) == 0;
    check_duplicate(errors, "collateral", i, dup, "line");
    char field[48];
    snprintf(field, sizeof field, "collateral[%zu].asset", i);
    check_not_zero(errors, field, l->asset);
  }
  /* A chain_id the served state has not imported stays accepted: lines and debt are joined to the
   * imported prices when the LTV is computed (a missing price makes it stale), so terms may be
   * opened before their chain's first snapshot. */
  if (t->has_debt) {
    check_not_zero(errors, "debt.asset", t->debt_asset);
    u256_to_dec(t->principal_v, t->principal);
    parse_time(t->accrual_start_s, "debt.accrual_start", t->accrual_start, errors, NULL);
  }
  if (t->has_thresholds) check_ladder(t, errors);
  if (!create && svc_body_members(body) == 0) field_err(errors, "", "empty", "give at least one field to change");
  if (json_array_size(errors)) {
    svc_body_free(body);
    svc_reply_validation(req, errors);
    return NULL;
  }
  json_decref(errors);
  return body;
}

/* ---- output ---- */
static void checksum_asset(json_t *o) {
  json_t *a = json_object_get(o, "asset");
  char cs[43];
  if (json_is_string(a) && risk_eip55(json_string_value(a), cs)) json_object_set_new(o, "asset", json_string(cs));
}

static void checksum_lines(json_t *arr) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) checksum_asset(v);
}

/* Returns the position JSON text from SQL with EIP-55 addresses, as a new jansson value. */
static json_t *position_from_sql(const char *text) {
  json_t *p = json_loads(text, 0, NULL);
  if (!p) return NULL;
  checksum_lines(json_object_get(p, "collateral"));
  checksum_asset(json_object_get(p, "debt"));
  json_t *att = json_object_get(p, "latest_attestation");
  if (json_is_object(att)) checksum_lines(json_object_get(att, "balances"));
  return p;
}

static char *dump(json_t *v) {
  char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
  json_decref(v);
  return s;
}

/* Returns true with the path's id, canonical decimal, in out; false for any other spelling. */
static bool path_id(struct svc_request *req, char out[24]) {
  char buf[32];
  int64_t id;
  return handler_parse_id(svc_req_param(req, "id", buf, sizeof buf), &id, out);
}

static void not_found(struct handler_write_out *out, const char *id) {
  out->failed = true;
  out->err = SVC_ERR_position_not_found;
  snprintf(out->detail, sizeof out->detail, "no position %s for this partner", id);
}

static db_status insert_lines(db_conn *c, int64_t pos_id, const struct terms *t) {
  for (size_t i = 0; i < t->nlines; i++) {
    db_status st = db_partner_line_insert(c, pos_id, (int)i, t->lines[i].chain_id, t->lines[i].asset,
                                          t->lines[i].amount, t->lines[i].haircut_bps);
    if (st != DB_OK) return st;
  }
  return DB_OK;
}

/* Returns DB_OK after the success body (position JSON) was put in out. */
static db_status finish_position(db_conn *c, int64_t partner_id, int64_t id, unsigned status,
                                 struct handler_write_out *out) {
  char *text = NULL;
  db_status st = db_partner_position_json(c, partner_id, id, &text);
  if (st != DB_OK) {
    free(text);
    return st == DB_NO_ROWS ? DB_ERROR : st;
  }
  out->body = dump(position_from_sql(text));
  free(text);
  if (!out->body) return DB_ERROR;
  out->status = status;
  out->position_id = id;
  return DB_OK;
}

/* The terms as the db layer writes them (strings borrowed from t). */
static struct db_partner_terms db_terms(const struct terms *t) {
  return (struct db_partner_terms){.external_id = t->external_id,
                                   .borrower = t->borrower,
                                   .custodian = t->custodian,
                                   .debt_chain_id = t->debt_chain_id,
                                   .debt_asset = t->debt_asset,
                                   .debt_principal = t->principal,
                                   .debt_accrual_start = t->accrual_start,
                                   .debt_apr_bps = t->apr_bps,
                                   .warning_bps = t->warning,
                                   .margin_call_bps = t->margin_call,
                                   .liquidation_bps = t->liquidation,
                                   .return_to_bps = t->return_to,
                                   .cure_period_seconds = t->cure,
                                   .max_price_staleness_seconds = t->stale};
}

/* ---- POST /v1/partner/positions ---- */
static db_status create_work(db_conn *c, struct svc_request *req, void *arg, struct handler_write_out *out) {
  const struct terms *t = arg;
  struct db_partner_terms dt = db_terms(t);
  int64_t pos = 0;
  db_status st = db_partner_position_insert(c, req->partner_id, &dt, &pos);
  if (st != DB_OK) return st;
  st = insert_lines(c, pos, t);
  if (st != DB_OK) return st;
  return finish_position(c, req->partner_id, pos, 201, out);
}

enum svc_handler_result handler_partner_positions_post(struct svc_request *req) {
  struct terms *t = malloc(sizeof *t);
  if (!t) return SVC_HANDLER_FATAL;
  struct svc_body *body = parse_terms(req, t, true);
  if (!body) {
    free(t);
    return SVC_HANDLED;
  }
  enum svc_handler_result res = handler_partner_write(req, true, SVC_ERR_external_id_exists, create_work, t);
  svc_body_free(body);
  free(t);
  return res;
}

/* ---- PATCH /v1/partner/positions/{id} ---- */
/* Returns whether the merged terms m differ from the stored s (collateral lines aside). Both sides
 * are canonical text: addresses lowercase, amounts plain decimal, times RFC 3339 to the second. */
static bool terms_differ(const struct terms *m, const struct db_partner_stored_terms *s) {
  return strcmp(m->borrower, s->borrower) != 0 || strcmp(m->custodian, s->custodian) != 0 ||
         m->debt_chain_id != s->debt_chain_id || strcmp(m->debt_asset, s->debt_asset) != 0 ||
         strcmp(m->principal, s->debt_principal) != 0 || m->apr_bps != s->debt_apr_bps ||
         strcmp(m->accrual_start, s->debt_accrual_start) != 0 || m->warning != s->warning_bps ||
         m->margin_call != s->margin_call_bps || m->liquidation != s->liquidation_bps ||
         m->return_to != s->return_to_bps || m->cure != s->cure_period_seconds ||
         m->stale != s->max_price_staleness_seconds;
}

/* Returns the status of comparing the sent collateral lines with the stored ones (*same set). */
static db_status lines_same(db_conn *c, int64_t id, const struct terms *m, bool *same) {
  json_t *arr = json_array();
  for (size_t i = 0; i < m->nlines; i++) {
    const struct line *l = &m->lines[i];
    json_array_append_new(
        arr, json_pack("[I,s,s,I]", (json_int_t)l->chain_id, l->asset, l->amount, (json_int_t)l->haircut_bps));
  }
  char *text = dump(arr);
  if (!text) return DB_ERROR;
  db_status st = db_partner_lines_equal(c, id, text, same);
  free(text);
  return st;
}

struct patch_ctx {
  struct terms *t;
  char id[24];
};
static db_status patch_work(db_conn *c, struct svc_request *req, void *arg, struct handler_write_out *out) {
  struct patch_ctx *pc = arg;
  struct terms m = *pc->t; /* merged: sent fields over stored ones (a retry starts again from the request) */
  int64_t id = strtoll(pc->id, NULL, 10);
  struct db_partner_stored_terms s;
  db_status st = db_partner_position_lock(c, req->partner_id, id, &s);
  if (st == DB_NO_ROWS) {
    not_found(out, pc->id);
    return DB_OK;
  }
  if (st != DB_OK) return st;
  if (!m.borrower) m.borrower = s.borrower;
  if (!m.custodian) m.custodian = s.custodian;
  if (!m.has_debt) {
    m.debt_chain_id = s.debt_chain_id;
    snprintf(m.debt_asset, sizeof m.debt_asset, "%s", s.debt_asset);
    snprintf(m.principal, sizeof m.principal, "%s", s.debt_principal);
    m.apr_bps = s.debt_apr_bps;
    snprintf(m.accrual_start, sizeof m.accrual_start, "%s", s.debt_accrual_start);
  }
  if (!m.has_thresholds) {
    m.warning = s.warning_bps;
    m.margin_call = s.margin_call_bps;
    m.liquidation = s.liquidation_bps;
    m.return_to = s.return_to_bps;
  }
  if (!m.has_cure) m.cure = s.cure_period_seconds;
  if (!m.has_stale) m.stale = s.max_price_staleness_seconds;
  /* A PATCH that leaves every term as it was is answered with the position as it is: the version
   * counts changes, and consumers of the LTV records key on it. */
  bool same = !terms_differ(&m, &s);
  if (same && m.has_collateral) {
    st = lines_same(c, id, &m, &same);
    if (st != DB_OK) return st;
  }
  if (same) return finish_position(c, req->partner_id, id, 200, out);
  struct db_partner_terms dt = db_terms(&m);
  st = db_partner_position_update(c, req->partner_id, id, &dt);
  if (st != DB_OK) return st;
  if (m.has_collateral) {
    st = db_partner_lines_delete(c, id);
    if (st == DB_OK) st = insert_lines(c, id, &m);
    if (st != DB_OK) return st;
  }
  return finish_position(c, req->partner_id, id, 200, out);
}

enum svc_handler_result handler_partner_position_patch(struct svc_request *req) {
  struct patch_ctx pc;
  if (!path_id(req, pc.id)) return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  pc.t = malloc(sizeof *pc.t);
  if (!pc.t) return SVC_HANDLER_FATAL;
  struct svc_body *body = parse_terms(req, pc.t, false);
  if (!body) {
    free(pc.t);
    return SVC_HANDLED;
  }
  enum svc_handler_result res = handler_partner_write(req, false, SVC_ERR_external_id_exists, patch_work, &pc);
  svc_body_free(body);
  free(pc.t);
  return res;
}

/* ---- GET /v1/partner/positions/{id} ---- */
enum svc_handler_result handler_partner_position_get(struct svc_request *req) {
  char id[24];
  if (!path_id(req, id)) return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  char *text = NULL;
  db_status st = db_partner_position_json(c, req->partner_id, strtoll(id, NULL, 10), &text);
  db_release(c);
  if (st == DB_NO_ROWS)
    return svc_reply_problem(req, SVC_ERR_position_not_found, "no position %s for this partner", id);
  if (st != DB_OK) {
    free(text);
    return svc_reply_problem(req, SVC_ERR_database_unavailable, "the position could not be read; retry shortly");
  }
  json_t *p = position_from_sql(text);
  free(text);
  return svc_reply_json_steal(req, 200, p);
}

/* ---- GET /v1/partner/positions ---- */
struct list_ctx {
  json_t *arr;
  int64_t last;
};
static db_status list_row(int64_t position_id, const char *text, void *arg) {
  struct list_ctx *lc = arg;
  lc->last = position_id;
  json_t *p = position_from_sql(text);
  if (!p) return DB_ERROR;
  json_array_append_new(lc->arr, p);
  return DB_OK;
}

static bool small_uint(const char *s, long long lo, long long hi, long long *out) {
  if (!s || !*s || strlen(s) > 18) return false;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return false;
  *out = strtoll(s, NULL, 10);
  return *out >= lo && *out <= hi;
}

enum svc_handler_result handler_partner_positions_list(struct svc_request *req) {
  long long limit = LIST_DEFAULT, after = 0;
  json_t *errors = json_array();
  const char *q = svc_req_query(req, "limit");
  if (q && !small_uint(q, 1, LIST_MAX, &limit)) field_err(errors, "limit", "out_of_range", "must be 1 to 500");
  q = svc_req_query(req, "after");
  if (q && !small_uint(q, 0, 999999999999999999LL, &after))
    field_err(errors, "after", "invalid_cursor", "must be a position id from next_after");
  if (json_array_size(errors))
    return svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errors, "%zu query parameter(s) are invalid",
                                    json_array_size(errors));
  json_decref(errors);
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  struct list_ctx lc = {json_array(), 0};
  uint64_t n = 0;
  db_status st = db_partner_positions_list(c, req->partner_id, after, limit, list_row, &lc, &n);
  db_release(c);
  if (st != DB_OK) {
    json_decref(lc.arr);
    return svc_reply_problem(req, SVC_ERR_database_unavailable, "the positions could not be read; retry shortly");
  }
  json_t *body = json_object();
  json_object_set_new(body, "positions", lc.arr);
  json_object_set_new(body, "next_after", (long long)n == limit ? json_integer(lc.last) : json_null());
  return svc_reply_json_steal(req, 200, body);
}

/* ---- POST /v1/partner/positions/{id}/attestations ---- */
struct balance {
  long long chain_id;
  char asset[43];
  u256 amount_v;
  char amount[80]; /* amount_v in decimal, as stored */
};
struct att_ctx {
  char id[24];
  char as_of[24];
  const char *as_of_s, *reference;
  size_t n;
  struct balance b[MAX_LINES];
};

struct line_assets {
  size_t n;
  long long chain[MAX_LINES];
  char asset[MAX_LINES][43];
};
static db_status asset_row(int64_t chain_id, const char *asset, void *arg) {
  struct line_assets *la = arg;
  if (la->n == MAX_LINES) return DB_ERROR;
  snprintf(la->asset[la->n], sizeof la->asset[la->n], "%s", asset);
  la->chain[la->n++] = chain_id;
  return DB_OK;
}

static db_status attest_work(db_conn *c, struct svc_request *req, void *arg, struct handler_write_out *out) {
  struct att_ctx *ac = arg;
  int64_t pos = strtoll(ac->id, NULL, 10);
  struct line_assets la = {0};
  uint64_t n = 0;
  db_status st = db_partner_line_assets(c, req->partner_id, pos, asset_row, &la, &n);
  if (st != DB_OK) return st;
  if (n == 0) { /* every position has at least one line: none means not this partner's */
    not_found(out, ac->id);
    return DB_OK;
  }
  json_t *errors = json_array();
  for (size_t i = 0; i < ac->n; i++) {
    bool known = false;
    for (size_t j = 0; j < la.n && !known; j++)
      known = la.chain[j] == ac->b[i].chain_id && strcmp(la.asset[j], ac->b[i].asset) == 0;
    if (!known) {
      char field[48];
      snprintf(field, sizeof field, "balances[%zu].asset", i);
      field_err(errors, field, "not_collateral", "is not a collateral line of the position");
    }
  }
  for (size_t j = 0; j < la.n; j++) {
    bool given = false;
    for (size_t i = 0; i < ac->n && !given; i++)
      given = la.chain[j] == ac->b[i].chain_id && strcmp(la.asset[j], ac->b[i].asset) == 0;
    if (!given) {
      char msg[160];
      snprintf(msg, sizeof msg, "must give every collateral line; %s on chain %lld is missing", la.asset[j],
               la.chain[j]);
      field_err(errors, "balances", "missing_line", msg);
    }
  }
  if (json_array_size(errors)) {
    out->failed = true;
    out->err = SVC_ERR_validation_failed;
    out->fields = errors;
    snprintf(out->detail, sizeof out->detail, "%zu field(s) failed validation", json_array_size(errors));
    return DB_OK;
  }
  json_decref(errors);
  int64_t att = 0;
  st = db_partner_attestation_insert(c, req->partner_id, pos, ac->as_of, ac->reference, &att);
  if (st != DB_OK) return st;
  for (size_t i = 0; i < ac->n; i++) {
    st = db_partner_attestation_balance_insert(c, att, ac->b[i].chain_id, ac->b[i].asset, ac->b[i].amount);
    if (st != DB_OK) return st;
  }
  char *text = NULL;
  st = db_partner_attestation_json(c, req->partner_id, att, &text);
  if (st != DB_OK) {
    free(text);
    return st == DB_NO_ROWS ? DB_ERROR : st; /* it was inserted just now */
  }
  json_t *j = json_loads(text, 0, NULL);
  free(text);
  checksum_lines(json_object_get(j, "balances"));
  out->body = dump(j);
  if (!out->body) return DB_ERROR;
  out->status = 201;
  out->position_id = pos;
  return DB_OK;
}

static const struct svc_body_field balance_spec[] = {
    {.name = "chain_id",
     .type = SVC_BODY_INT,
     .required = true,
     .offset = offsetof(struct balance, chain_id),
     .lo = 1,
     .hi = 9007199254740991LL},
    {.name = "asset", .type = SVC_BODY_ADDRESS, .required = true, .offset = offsetof(struct balance, asset)},
    {.name = "amount",
     .type = SVC_BODY_U256,
     .required = true,
     .offset = offsetof(struct balance, amount_v),
     .bits = RISK_LTV_AMOUNT_BITS},
};
static const struct svc_body_field attest_spec[] = {
    {.name = "as_of", .type = SVC_BODY_STRING, .required = true, .offset = offsetof(struct att_ctx, as_of_s)},
    {.name = "custodian_reference",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct att_ctx, reference),
     .lo = 1,
     .hi = 256},
    {.name = "balances",
     .type = SVC_BODY_ARRAY,
     .required = true,
     .offset = offsetof(struct att_ctx, b),
     .lo = 1,
     .hi = MAX_LINES,
     .sub = balance_spec,
     .nsub = sizeof balance_spec / sizeof balance_spec[0],
     .elem_size = sizeof(struct balance),
     .count_offset = offsetof(struct att_ctx, n)},
};

enum svc_handler_result handler_partner_attestations_post(struct svc_request *req) {
  struct att_ctx *ac = calloc(1, sizeof *ac);
  if (!ac) return SVC_HANDLER_FATAL;
  if (!path_id(req, ac->id)) {
    free(ac);
    return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  }
  json_t *errors = json_array();
  struct svc_body *body =
      svc_body_parse_collect(req, attest_spec, sizeof attest_spec / sizeof attest_spec[0], ac, errors);
  if (!body) {
    json_decref(errors);
    free(ac);
    return SVC_HANDLED;
  }
  time_t t = 0;
  if (ac->as_of_s && parse_time(ac->as_of_s, "as_of", ac->as_of, errors, &t) && t > time(NULL) + 300)
    field_err(errors, "as_of", "in_future", "must not be more than 5 minutes ahead of the server clock");
  for (size_t i = 0; i < ac->n; i++) {
    struct balance *b = &ac->b[i];
    u256_to_dec(b->amount_v, b->amount);
    bool dup = false;
    for (size_t j = 0; j < i; j++)
      dup |= ac->b[j].chain_id == b->chain_id && strcmp(ac->b[j].asset, b->asset) == 0;
    check_duplicate(errors, "balances", i, dup, "balance");
  }
  enum svc_handler_result res;
  if (json_array_size(errors)) {
    res = svc_reply_validation(req, errors);
  } else {
    json_decref(errors);
    res = handler_partner_write(req, true, SVC_ERR_attestation_exists, attest_work, ac);
  }
  svc_body_free(body);
  free(ac);
  return res;
}

const struct handler_body_spec handler_body_partner_position_create = {"POST", "/v1/partner/positions", create_spec,
                                                                       NTERMS, sizeof(struct terms)};
const struct handler_body_spec handler_body_partner_attestation = {
    "POST", "/v1/partner/positions/{id}/attestations", attest_spec, sizeof attest_spec / sizeof attest_spec[0],
    sizeof(struct att_ctx)};
