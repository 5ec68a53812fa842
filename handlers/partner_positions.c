/* Partner positions and attestations (issue 7, spec risk-engine §6), scope partner:
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
#include "handlers/handlers.h"
#include "risk/eip55.h"
#include "util/log.h"
#include "handlers/partner_write.h"
#include "service/request.h"

#define MAX_LINES 32
#define LIST_DEFAULT 100
#define LIST_MAX 500

/* ---- input ---- */
struct line {
  long long chain_id, haircut_bps;
  char asset[43];
  const char *amount;
};
struct terms {
  const char *external_id, *borrower, *custodian;
  bool has_collateral, has_debt, has_thresholds, has_cure, has_stale;
  size_t nlines;
  struct line lines[MAX_LINES];
  long long debt_chain_id, apr_bps;
  char debt_asset[43];
  char principal[80];
  char accrual_start[24];
  long long warning, margin_call, liquidation, return_to, cure, stale;
};

static void field_err(json_t *errors, const char *field, const char *code, const char *msg) {
  json_array_append_new(errors, svc_field_error(field, code, msg));
}

/* Fills spec from a nested object like svc_parse_body does for the root; names are prefix.name. */
static void parse_nested(json_t *obj, const char *prefix, const struct svc_json_field *spec, size_t n, json_t *errors) {
  char name[128];
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(obj, spec[i].name);
    snprintf(name, sizeof name, "%s.%s", prefix, spec[i].name);
    if (!v || json_is_null(v)) {
      if (spec[i].required) field_err(errors, name, "required", "is required");
      continue;
    }
    bool ok = spec[i].type == SVC_JSON_STRING ? json_is_string(v) : json_is_integer(v);
    if (!ok) {
      field_err(errors, name, "wrong_type",
                spec[i].type == SVC_JSON_STRING ? "must be a string" : "must be an integer");
      continue;
    }
    if (spec[i].type == SVC_JSON_STRING)
      *(const char **)spec[i].dest = json_string_value(v);
    else
      *(long long *)spec[i].dest = json_integer_value(v);
  }
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
      known = strcmp(spec[i].name, key) == 0;
    if (!known) {
      snprintf(name, sizeof name, "%s.%s", prefix, key);
      field_err(errors, name, "unknown_field", "is not a known field");
    }
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool parse_address(const char *s, const char *field, char lower[43], json_t *errors) {
  bool ok = s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && strlen(s) == 42;
  for (int i = 0; ok && i < 40; i++) {
    int v = hexval(s[2 + i]);
    if (v < 0)
      ok = false;
    else
      lower[2 + i] = "0123456789abcdef"[v];
  }
  if (!ok) {
    field_err(errors, field, "invalid_address", "must be 0x and 40 hex digits");
    return false;
  }
  lower[0] = '0';
  lower[1] = 'x';
  lower[42] = 0;
  return true;
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

static void range(json_t *errors, const char *field, long long v, long long lo, long long hi) {
  if (v >= lo && v <= hi) return;
  char msg[96];
  snprintf(msg, sizeof msg, "must be between %lld and %lld", lo, hi);
  field_err(errors, field, "out_of_range", msg);
}

static void parse_u256_field(const char *text, const char *field, char *out, size_t out_len, json_t *errors) {
  u256 v;
  if (svc_parse_u256(text, field, &v, errors)) snprintf(out, out_len, "%s", text);
}

static void parse_collateral(json_t *arr, struct terms *t, json_t *errors) {
  t->has_collateral = true;
  size_t n = json_array_size(arr);
  if (n == 0 || n > MAX_LINES) {
    field_err(errors, "collateral", "out_of_range", "must hold 1 to 32 lines");
    return;
  }
  t->nlines = n;
  for (size_t i = 0; i < n; i++) {
    char prefix[32], field[64];
    snprintf(prefix, sizeof prefix, "collateral[%zu]", i);
    json_t *o = json_array_get(arr, i);
    struct line *l = &t->lines[i];
    memset(l, 0, sizeof *l);
    if (!json_is_object(o)) {
      field_err(errors, prefix, "wrong_type", "must be an object");
      continue;
    }
    const char *asset = NULL;
    struct svc_json_field spec[] = {{"chain_id", SVC_JSON_INT, &l->chain_id, true},
                                    {"asset", SVC_JSON_STRING, &asset, true},
                                    {"amount", SVC_JSON_STRING, &l->amount, true},
                                    {"haircut_bps", SVC_JSON_INT, &l->haircut_bps, false}};
    size_t before = json_array_size(errors);
    parse_nested(o, prefix, spec, 4, errors);
    if (json_array_size(errors) != before) continue;
    snprintf(field, sizeof field, "%s.chain_id", prefix);
    range(errors, field, l->chain_id, 1, 9007199254740991LL);
    snprintf(field, sizeof field, "%s.asset", prefix);
    parse_address(asset, field, l->asset, errors);
    snprintf(field, sizeof field, "%s.amount", prefix);
    u256 v;
    svc_parse_u256(l->amount, field, &v, errors);
    snprintf(field, sizeof field, "%s.haircut_bps", prefix);
    range(errors, field, l->haircut_bps, 0, 10000);
    for (size_t j = 0; j < i; j++)
      if (t->lines[j].chain_id == l->chain_id && strcmp(t->lines[j].asset, l->asset) == 0) {
        snprintf(field, sizeof field, "%s.asset", prefix);
        field_err(errors, field, "duplicate", "the same asset is already an earlier line");
      }
  }
}

static void parse_debt(json_t *o, struct terms *t, json_t *errors) {
  t->has_debt = true;
  const char *asset = NULL, *principal = NULL, *start = NULL;
  struct svc_json_field spec[] = {{"chain_id", SVC_JSON_INT, &t->debt_chain_id, true},
                                  {"asset", SVC_JSON_STRING, &asset, true},
                                  {"principal", SVC_JSON_STRING, &principal, true},
                                  {"apr_bps", SVC_JSON_INT, &t->apr_bps, true},
                                  {"accrual_start", SVC_JSON_STRING, &start, true}};
  size_t before = json_array_size(errors);
  parse_nested(o, "debt", spec, 5, errors);
  if (json_array_size(errors) != before) return;
  range(errors, "debt.chain_id", t->debt_chain_id, 1, 9007199254740991LL);
  parse_address(asset, "debt.asset", t->debt_asset, errors);
  parse_u256_field(principal, "debt.principal", t->principal, sizeof t->principal, errors);
  range(errors, "debt.apr_bps", t->apr_bps, 0, 100000);
  parse_time(start, "debt.accrual_start", t->accrual_start, errors, NULL);
}

static void parse_thresholds(json_t *o, struct terms *t, json_t *errors) {
  t->has_thresholds = true;
  struct svc_json_field spec[] = {{"warning_bps", SVC_JSON_INT, &t->warning, true},
                                  {"margin_call_bps", SVC_JSON_INT, &t->margin_call, true},
                                  {"liquidation_bps", SVC_JSON_INT, &t->liquidation, true},
                                  {"return_to_bps", SVC_JSON_INT, &t->return_to, true}};
  parse_nested(o, "thresholds", spec, 4, errors);
}

/* The ladder in LTV terms: warning < margin_call < liquidation <= 10000 and return_to < margin_call;
 * each bad field is named once. */
static void check_ladder(const struct terms *t, json_t *errors) {
  size_t before = json_array_size(errors);
  range(errors, "thresholds.warning_bps", t->warning, 0, 10000);
  range(errors, "thresholds.margin_call_bps", t->margin_call, 0, 10000);
  range(errors, "thresholds.liquidation_bps", t->liquidation, 0, 10000);
  range(errors, "thresholds.return_to_bps", t->return_to, 0, 10000);
  if (json_array_size(errors) != before) return;
  if (t->warning >= t->margin_call)
    field_err(errors, "thresholds.warning_bps", "out_of_order", "must be below thresholds.margin_call_bps");
  if (t->margin_call >= t->liquidation)
    field_err(errors, "thresholds.margin_call_bps", "out_of_order", "must be below thresholds.liquidation_bps");
  if (t->return_to >= t->margin_call)
    field_err(errors, "thresholds.return_to_bps", "out_of_order", "must be below thresholds.margin_call_bps");
}

static bool text_ok(const char *s, size_t max) { return s && *s && strlen(s) <= max; }

/* Parses a create (all required) or patch (all optional) body; returns the root (caller owns) or
 * NULL after replying 400. */
static json_t *parse_terms(struct svc_request *req, struct terms *t, bool create) {
  memset(t, 0, sizeof *t);
  json_t *collateral = NULL, *debt = NULL, *thresholds = NULL;
  long long cure = -1, stale = -1;
  struct svc_json_field spec[] = {
      {"external_id", SVC_JSON_STRING, &t->external_id, create},
      {"borrower", SVC_JSON_STRING, &t->borrower, create},
      {"custodian", SVC_JSON_STRING, &t->custodian, create},
      {"collateral", SVC_JSON_ARRAY, &collateral, create},
      {"debt", SVC_JSON_OBJECT, &debt, create},
      {"thresholds", SVC_JSON_OBJECT, &thresholds, create},
      {"cure_period_seconds", SVC_JSON_INT, &cure, create},
      {"max_price_staleness_seconds", SVC_JSON_INT, &stale, create},
  };
  /* external_id is fixed once created */
  json_t *root = svc_parse_body(req, create ? spec : spec + 1, create ? 8 : 7);
  if (!root) return NULL;
  json_t *errors = json_array();
  if (t->external_id && !text_ok(t->external_id, 128))
    field_err(errors, "external_id", "out_of_range", "must be 1 to 128 characters");
  if (t->borrower && !text_ok(t->borrower, 256))
    field_err(errors, "borrower", "out_of_range", "must be 1 to 256 characters");
  if (t->custodian && !text_ok(t->custodian, 256))
    field_err(errors, "custodian", "out_of_range", "must be 1 to 256 characters");
  if (collateral) parse_collateral(collateral, t, errors);
  if (debt) parse_debt(debt, t, errors);
  if (thresholds) parse_thresholds(thresholds, t, errors);
  if (json_object_get(root, "cure_period_seconds")) {
    t->has_cure = true;
    t->cure = cure;
    range(errors, "cure_period_seconds", cure, 0, 31536000);
  }
  if (json_object_get(root, "max_price_staleness_seconds")) {
    t->has_stale = true;
    t->stale = stale;
    range(errors, "max_price_staleness_seconds", stale, 1, 31536000);
  }
  if (t->has_thresholds && json_array_size(errors) == 0) check_ladder(t, errors);
  if (!create && json_object_size(root) == 0) field_err(errors, "", "empty", "give at least one field to change");
  if (json_array_size(errors)) {
    json_decref(root);
    svc_reply_problem_fields(req, SVC_ERR_validation_failed, errors, "%zu field(s) failed validation",
                             json_array_size(errors));
    return NULL;
  }
  json_decref(errors);
  return root;
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

static bool path_id(struct svc_request *req, char out[24]) {
  char buf[32];
  const char *s = svc_req_param(req, "id", buf, sizeof buf);
  if (!s || !*s || strlen(s) > 18) return false;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return false;
  snprintf(out, 24, "%lld", strtoll(s, NULL, 10));
  return true;
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
  json_t *root = parse_terms(req, t, true);
  if (!root) {
    free(t);
    return SVC_HANDLED;
  }
  enum svc_handler_result res = handler_partner_write(req, true, SVC_ERR_external_id_exists, create_work, t);
  json_decref(root);
  free(t);
  return res;
}

/* ---- PATCH /v1/partner/positions/{id} ---- */
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
  json_t *root = parse_terms(req, pc.t, false);
  if (!root) {
    free(pc.t);
    return SVC_HANDLED;
  }
  enum svc_handler_result res = handler_partner_write(req, false, SVC_ERR_external_id_exists, patch_work, &pc);
  json_decref(root);
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
    field_err(errors, "after", "invalid", "must be a position id from next_after");
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
  const char *amount;
};
struct att_ctx {
  char id[24];
  char as_of[24];
  const char *reference;
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

enum svc_handler_result handler_partner_attestations_post(struct svc_request *req) {
  struct att_ctx *ac = calloc(1, sizeof *ac);
  if (!ac) return SVC_HANDLER_FATAL;
  if (!path_id(req, ac->id)) {
    free(ac);
    return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  }
  const char *as_of = NULL;
  json_t *balances = NULL;
  struct svc_json_field spec[] = {{"as_of", SVC_JSON_STRING, &as_of, true},
                                  {"custodian_reference", SVC_JSON_STRING, &ac->reference, true},
                                  {"balances", SVC_JSON_ARRAY, &balances, true}};
  json_t *root = svc_parse_body(req, spec, 3);
  if (!root) {
    free(ac);
    return SVC_HANDLED;
  }
  json_t *errors = json_array();
  time_t t = 0;
  if (parse_time(as_of, "as_of", ac->as_of, errors, &t) && t > time(NULL) + 300)
    field_err(errors, "as_of", "in_future", "must not be more than 5 minutes ahead of the server clock");
  if (!text_ok(ac->reference, 256))
    field_err(errors, "custodian_reference", "out_of_range", "must be 1 to 256 characters");
  size_t n = json_array_size(balances);
  if (n == 0 || n > MAX_LINES) field_err(errors, "balances", "out_of_range", "must hold 1 to 32 balances");
  for (size_t i = 0; i < n && i < MAX_LINES; i++) {
    char prefix[32], field[64];
    snprintf(prefix, sizeof prefix, "balances[%zu]", i);
    json_t *o = json_array_get(balances, i);
    struct balance *b = &ac->b[i];
    if (!json_is_object(o)) {
      field_err(errors, prefix, "wrong_type", "must be an object");
      continue;
    }
    const char *asset = NULL;
    struct svc_json_field bs[] = {{"chain_id", SVC_JSON_INT, &b->chain_id, true},
                                  {"asset", SVC_JSON_STRING, &asset, true},
                                  {"amount", SVC_JSON_STRING, &b->amount, true}};
    size_t before = json_array_size(errors);
    parse_nested(o, prefix, bs, 3, errors);
    if (json_array_size(errors) != before) continue;
    snprintf(field, sizeof field, "%s.chain_id", prefix);
    range(errors, field, b->chain_id, 1, 9007199254740991LL);
    snprintf(field, sizeof field, "%s.asset", prefix);
    parse_address(asset, field, b->asset, errors);
    snprintf(field, sizeof field, "%s.amount", prefix);
    u256 v;
    svc_parse_u256(b->amount, field, &v, errors);
    for (size_t j = 0; j < i; j++)
      if (ac->b[j].chain_id == b->chain_id && strcmp(ac->b[j].asset, b->asset) == 0) {
        snprintf(field, sizeof field, "%s.asset", prefix);
        field_err(errors, field, "duplicate", "the same asset is already an earlier balance");
      }
  }
  ac->n = n > MAX_LINES ? MAX_LINES : n;
  enum svc_handler_result res;
  if (json_array_size(errors)) {
    res = svc_reply_problem_fields(req, SVC_ERR_validation_failed, errors, "%zu field(s) failed validation",
                                   json_array_size(errors));
  } else {
    json_decref(errors);
    res = handler_partner_write(req, true, SVC_ERR_attestation_exists, attest_work, ac);
  }
  json_decref(root);
  free(ac);
  return res;
}
