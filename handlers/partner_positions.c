/* Partner positions and attestations (issue 7, spec risk-engine §6), scope partner:
 *   POST  /v1/partner/positions                        create (Idempotency-Key required)
 *   GET   /v1/partner/positions                        list, keyset by id (?after=&limit=)
 *   GET   /v1/partner/positions/{id}                   one, with its latest attestation
 *   PATCH /v1/partner/positions/{id}                   change terms (whole sub-objects)
 *   POST  /v1/partner/positions/{id}/attestations      custodian balances as of a time
 * Every statement filters by the key's partner_id in SQL: another partner's position is not
 * found (404). Writes go through svc_partner_write (idempotency + audit in one transaction). */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "handlers/handlers.h"
#include "risk/eip55.h"
#include "service/log.h"
#include "service/partner_write.h"
#include "service/body.h"
#include "service/request.h"

#define MAX_LINES 32
#define LIST_DEFAULT 100
#define LIST_MAX 500

/* ---- SQL: the JSON of a position and of an attestation is built by PostgreSQL ---- */
#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define BALANCES_JSON                                                                                                  \
  "(SELECT COALESCE(json_agg(json_build_object('chain_id', b.chain_id, 'asset', b.asset, 'amount', b.amount::text)"    \
  " ORDER BY b.chain_id, b.asset), '[]'::json) FROM partner_attestation_balances b"                                    \
  " WHERE b.attestation_id = a.attestation_id)"
#define ATTESTATION_JSON                                                                                               \
  "json_build_object('id', a.attestation_id, 'position_id', a.position_id, 'as_of', " TS(                              \
      "a.as_of") ", 'custodian_reference', a.custodian_reference, 'balances', " BALANCES_JSON                          \
                 ", 'received_at', " TS("a.created_at") ")"
#define POSITION_JSON                                                                                                  \
  "json_build_object('id', p.position_id, 'external_id', p.external_id, 'borrower', p.borrower,"                       \
  " 'custodian', p.custodian, 'collateral', (SELECT COALESCE(json_agg(json_build_object('chain_id', l.chain_id,"       \
  " 'asset', l.asset, 'amount', l.amount::text, 'haircut_bps', l.haircut_bps) ORDER BY l.line_no), '[]'::json)"        \
  " FROM partner_collateral_lines l WHERE l.position_id = p.position_id),"                                             \
  " 'debt', json_build_object('chain_id', p.debt_chain_id, 'asset', p.debt_asset,"                                     \
  " 'principal', p.debt_principal::text, 'apr_bps', p.debt_apr_bps, 'accrual_start', " TS(                             \
      "p.debt_accrual_start") "), 'thresholds', json_build_object('warning_bps', p.warning_bps, 'margin_call_bps', "   \
                              "p.margin_call_bps,"                                                                     \
                              " 'liquidation_bps', p.liquidation_bps, 'return_to_bps', p.return_to_bps),"              \
                              " 'cure_period_seconds', p.cure_period_seconds, 'max_price_staleness_seconds', "         \
                              "p.max_price_staleness_seconds,"                                                         \
                              " 'version', p.version, 'created_at', " TS("p.created_at") ", 'updated_at', " TS(        \
                                  "p.updated_at") ", 'latest_attestation', (SELECT " ATTESTATION_JSON                  \
                                                  " FROM partner_attestations a"                                       \
                                                  " WHERE a.position_id = p.position_id ORDER BY a.as_of DESC, "       \
                                                  "a.attestation_id DESC LIMIT 1))::text AS body"

static const struct db_statement stmts[] = {
    {"pp_insert",
     "INSERT INTO partner_positions (partner_id, external_id, borrower, custodian, debt_chain_id, debt_asset,"
     " debt_principal, debt_apr_bps, debt_accrual_start, warning_bps, margin_call_bps, liquidation_bps,"
     " return_to_bps, cure_period_seconds, max_price_staleness_seconds) VALUES ($1::bigint, $2, $3, $4, $5::bigint,"
     " $6, $7::numeric, $8::integer, $9::timestamptz, $10::integer, $11::integer, $12::integer, $13::integer,"
     " $14::integer, $15::integer) RETURNING position_id"},
    {"pp_line_insert",
     "INSERT INTO partner_collateral_lines (position_id, line_no, chain_id, asset, amount, haircut_bps)"
     " VALUES ($1::bigint, $2::integer, $3::bigint, $4, $5::numeric, $6::integer)"},
    {"pp_lines_delete", "DELETE FROM partner_collateral_lines WHERE position_id = $1::bigint"},
    {"pp_get", "SELECT " POSITION_JSON " FROM partner_positions p WHERE p.partner_id = $1::bigint"
               " AND p.position_id = $2::bigint"},
    {"pp_list", "SELECT p.position_id, " POSITION_JSON " FROM partner_positions p WHERE p.partner_id = $1::bigint"
                " AND p.position_id > $2::bigint ORDER BY p.position_id LIMIT $3::integer"},
    {"pp_lock",
     "SELECT borrower, custodian, debt_chain_id, debt_asset, debt_principal::text AS debt_principal, debt_apr_bps,"
     " " TS(
         "debt_accrual_start") " AS debt_accrual_start, warning_bps, margin_call_bps, liquidation_bps,"
                               " return_to_bps, cure_period_seconds, max_price_staleness_seconds FROM partner_positions"
                               " WHERE partner_id = $1::bigint AND position_id = $2::bigint FOR UPDATE"},
    {"pp_update",
     "UPDATE partner_positions SET borrower = $3, custodian = $4, debt_chain_id = $5::bigint, debt_asset = $6,"
     " debt_principal = $7::numeric, debt_apr_bps = $8::integer, debt_accrual_start = $9::timestamptz,"
     " warning_bps = $10::integer, margin_call_bps = $11::integer, liquidation_bps = $12::integer,"
     " return_to_bps = $13::integer, cure_period_seconds = $14::integer,"
     " max_price_staleness_seconds = $15::integer, version = version + 1, updated_at = now()"
     " WHERE partner_id = $1::bigint AND position_id = $2::bigint"},
    {"pp_line_assets",
     "SELECT l.chain_id, l.asset FROM partner_positions p JOIN partner_collateral_lines l"
     " ON l.position_id = p.position_id WHERE p.partner_id = $1::bigint AND p.position_id = $2::bigint"
     " ORDER BY l.line_no FOR SHARE OF p"},
    {"pa_insert", "INSERT INTO partner_attestations (position_id, partner_id, as_of, custodian_reference)"
                  " VALUES ($2::bigint, $1::bigint, $3::timestamptz, $4) RETURNING attestation_id"},
    {"pa_balance_insert", "INSERT INTO partner_attestation_balances (attestation_id, chain_id, asset, amount)"
                          " VALUES ($1::bigint, $2::bigint, $3, $4::numeric)"},
    {"pa_get", "SELECT " ATTESTATION_JSON "::text AS body FROM partner_attestations a"
               " WHERE a.partner_id = $1::bigint AND a.attestation_id = $2::bigint"},
};
static pthread_once_t stmts_once = PTHREAD_ONCE_INIT;
static void register_statements(void) {
  if (db_statements_register(stmts, sizeof stmts / sizeof stmts[0]) != 0)
    svc_log(SVC_LOG_ERROR, "partner positions: statements could not be registered");
}

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
    {.name = "chain_id", .type = SVC_BODY_INT, .required = true, .offset = L(chain_id), .lo = 1,
     .hi = 9007199254740991LL},
    {.name = "asset", .type = SVC_BODY_ADDRESS, .required = true, .offset = L(asset)},
    {.name = "amount", .type = SVC_BODY_U256, .required = true, .offset = L(amount_v)},
    {.name = "haircut_bps", .type = SVC_BODY_INT, .offset = L(haircut_bps), .lo = 0, .hi = 10000},
};
/* debt and thresholds fill members of struct terms itself (the object's offset is 0) */
static const struct svc_body_field debt_spec[] = {
    {.name = "chain_id", .type = SVC_BODY_INT, .required = true, .offset = T(debt_chain_id), .lo = 1,
     .hi = 9007199254740991LL},
    {.name = "asset", .type = SVC_BODY_ADDRESS, .required = true, .offset = T(debt_asset)},
    {.name = "principal", .type = SVC_BODY_U256, .required = true, .offset = T(principal_v)},
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
    {.name = "collateral", .type = SVC_BODY_ARRAY, .required = true, .offset = T(lines), .lo = 1, .hi = MAX_LINES,
     .sub = line_spec, .nsub = sizeof line_spec / sizeof line_spec[0], .elem_size = sizeof(struct line),
     .count_offset = T(nlines), .given = SVC_BODY_FLAG(struct terms, has_collateral)},
    {.name = "debt", .type = SVC_BODY_OBJECT, .required = true, .offset = 0, .sub = debt_spec,
     .nsub = sizeof debt_spec / sizeof debt_spec[0], .given = SVC_BODY_FLAG(struct terms, has_debt)},
    {.name = "thresholds", .type = SVC_BODY_OBJECT, .required = true, .offset = 0, .sub = threshold_spec,
     .nsub = sizeof threshold_spec / sizeof threshold_spec[0], .given = SVC_BODY_FLAG(struct terms, has_thresholds)},
    {.name = "cure_period_seconds", .type = SVC_BODY_INT, .required = true, .offset = T(cure), .lo = 0,
     .hi = 31536000, .given = SVC_BODY_FLAG(struct terms, has_cure)},
    {.name = "max_price_staleness_seconds", .type = SVC_BODY_INT, .required = true, .offset = T(stale), .lo = 1,
     .hi = 31536000, .given = SVC_BODY_FLAG(struct terms, has_stale)},
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

/* Parses a create (all required) or patch (all optional) body; returns the root (caller owns) or
 * NULL after replying 400. */
static json_t *parse_terms(struct svc_request *req, struct terms *t, bool create) {
  memset(t, 0, sizeof *t);
  struct svc_body_field patch_spec[NTERMS - 1];
  memcpy(patch_spec, create_spec + 1, sizeof patch_spec);
  for (size_t i = 0; i < NTERMS - 1; i++)
    patch_spec[i].required = false;
  json_t *root = svc_body_parse(req, create ? create_spec : patch_spec, create ? NTERMS : NTERMS - 1, t);
  if (!root) return NULL;
  json_t *errors = json_array();
  for (size_t i = 0; i < t->nlines; i++) {
    struct line *l = &t->lines[i];
    u256_to_dec(l->amount_v, l->amount);
    bool dup = false;
    for (size_t j = 0; j < i; j++)
      dup |= t->lines[j].chain_id == l->chain_id && strcmp(t->lines[j].asset, l->asset) == 0;
    check_duplicate(errors, "collateral", i, dup, "line");
  }
  if (t->has_debt) {
    u256_to_dec(t->principal_v, t->principal);
    parse_time(t->accrual_start_s, "debt.accrual_start", t->accrual_start, errors, NULL);
  }
  if (t->has_thresholds) check_ladder(t, errors);
  if (!create && json_object_size(root) == 0) field_err(errors, "", "empty", "give at least one field to change");
  if (json_array_size(errors)) {
    json_decref(root);
    svc_reply_validation(req, errors);
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

static void not_found(struct svc_write_out *out, const char *id) {
  out->failed = true;
  out->err = SVC_ERR_position_not_found;
  snprintf(out->detail, sizeof out->detail, "no position %s for this partner", id);
}

struct one_body {
  char *text;
};
static db_status body_row(const db_row *row, void *arg) {
  struct db_col cols[] = {{"body", DB_COL_TEXT_DUP, &((struct one_body *)arg)->text, 0, NULL}};
  return db_row_get(row, cols, 1);
}

/* Returns DB_OK with the position's JSON text in *out (malloc'd) or DB_NO_ROWS. */
static db_status load_position(db_conn *c, const char *partner, const char *id, char **out) {
  const char *p[] = {partner, id};
  struct db_col cols[] = {{"body", DB_COL_TEXT_DUP, out, 0, NULL}};
  return db_query_one_prepared(c, "pp_get", 2, p, cols, 1);
}

static db_status insert_lines(db_conn *c, const char *pos_id, const struct terms *t) {
  for (size_t i = 0; i < t->nlines; i++) {
    char no[12], chain[24], hc[12];
    snprintf(no, sizeof no, "%zu", i);
    snprintf(chain, sizeof chain, "%lld", t->lines[i].chain_id);
    snprintf(hc, sizeof hc, "%lld", t->lines[i].haircut_bps);
    const char *p[] = {pos_id, no, chain, t->lines[i].asset, t->lines[i].amount, hc};
    db_status st = db_exec_prepared(c, "pp_line_insert", 6, p, NULL);
    if (st != DB_OK) return st;
  }
  return DB_OK;
}

/* Returns DB_OK after the success body (position JSON) was put in out. */
static db_status finish_position(db_conn *c, const char *partner, const char *id, unsigned status,
                                 struct svc_write_out *out) {
  char *text = NULL;
  db_status st = load_position(c, partner, id, &text);
  if (st != DB_OK) {
    free(text);
    return st == DB_NO_ROWS ? DB_ERROR : st;
  }
  out->body = dump(position_from_sql(text));
  free(text);
  if (!out->body) return DB_ERROR;
  out->status = status;
  out->position_id = strtoll(id, NULL, 10);
  return DB_OK;
}

struct term_params {
  char chain[24], apr[12], w[12], m[12], l[12], r[12], cure[12], stale[12];
};
static void fill_params(const struct terms *t, struct term_params *tp) {
  snprintf(tp->chain, sizeof tp->chain, "%lld", t->debt_chain_id);
  snprintf(tp->apr, sizeof tp->apr, "%lld", t->apr_bps);
  snprintf(tp->w, sizeof tp->w, "%lld", t->warning);
  snprintf(tp->m, sizeof tp->m, "%lld", t->margin_call);
  snprintf(tp->l, sizeof tp->l, "%lld", t->liquidation);
  snprintf(tp->r, sizeof tp->r, "%lld", t->return_to);
  snprintf(tp->cure, sizeof tp->cure, "%lld", t->cure);
  snprintf(tp->stale, sizeof tp->stale, "%lld", t->stale);
}

/* ---- POST /v1/partner/positions ---- */
static db_status create_work(db_conn *c, struct svc_request *req, void *arg, struct svc_write_out *out) {
  const struct terms *t = arg;
  char partner[24], id[24];
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  struct term_params tp;
  fill_params(t, &tp);
  const char *p[] = {partner,       t->external_id, t->borrower, t->custodian,     tp.chain,
                     t->debt_asset, t->principal,   tp.apr,      t->accrual_start, tp.w,
                     tp.m,          tp.l,           tp.r,        tp.cure,          tp.stale};
  int64_t pos = 0;
  struct db_col cols[] = {{"position_id", DB_COL_INT64, &pos, 0, NULL}};
  db_status st = db_query_one_prepared(c, "pp_insert", 15, p, cols, 1);
  if (st != DB_OK) return st;
  snprintf(id, sizeof id, "%lld", (long long)pos);
  st = insert_lines(c, id, t);
  if (st != DB_OK) return st;
  return finish_position(c, partner, id, 201, out);
}

enum svc_handler_result handler_partner_positions_post(struct svc_request *req) {
  pthread_once(&stmts_once, register_statements);
  struct terms *t = malloc(sizeof *t);
  if (!t) return SVC_HANDLER_FATAL;
  json_t *root = parse_terms(req, t, true);
  if (!root) {
    free(t);
    return SVC_HANDLED;
  }
  enum svc_handler_result res = svc_partner_write(req, true, SVC_ERR_external_id_exists, create_work, t);
  json_decref(root);
  free(t);
  return res;
}

/* ---- PATCH /v1/partner/positions/{id} ---- */
struct patch_ctx {
  struct terms *t;
  char id[24];
};
static db_status patch_work(db_conn *c, struct svc_request *req, void *arg, struct svc_write_out *out) {
  struct patch_ctx *pc = arg;
  struct terms m = *pc->t; /* merged: sent fields over stored ones (a retry starts again from the request) */
  char partner[24];
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  const char *p[] = {partner, pc->id};
  char borrower[257], custodian[257], asset[43], principal[80], start[24];
  int64_t chain;
  int32_t apr, w, mc, l, r, cure, stale;
  struct db_col cols[] = {
      {"borrower", DB_COL_TEXT, borrower, sizeof borrower, NULL},
      {"custodian", DB_COL_TEXT, custodian, sizeof custodian, NULL},
      {"debt_chain_id", DB_COL_INT64, &chain, 0, NULL},
      {"debt_asset", DB_COL_TEXT, asset, sizeof asset, NULL},
      {"debt_principal", DB_COL_TEXT, principal, sizeof principal, NULL},
      {"debt_apr_bps", DB_COL_INT32, &apr, 0, NULL},
      {"debt_accrual_start", DB_COL_TEXT, start, sizeof start, NULL},
      {"warning_bps", DB_COL_INT32, &w, 0, NULL},
      {"margin_call_bps", DB_COL_INT32, &mc, 0, NULL},
      {"liquidation_bps", DB_COL_INT32, &l, 0, NULL},
      {"return_to_bps", DB_COL_INT32, &r, 0, NULL},
      {"cure_period_seconds", DB_COL_INT32, &cure, 0, NULL},
      {"max_price_staleness_seconds", DB_COL_INT32, &stale, 0, NULL},
  };
  db_status st = db_query_one_prepared(c, "pp_lock", 2, p, cols, sizeof cols / sizeof cols[0]);
  if (st == DB_NO_ROWS) {
    not_found(out, pc->id);
    return DB_OK;
  }
  if (st != DB_OK) return st;
  if (!m.borrower) m.borrower = borrower;
  if (!m.custodian) m.custodian = custodian;
  if (!m.has_debt) {
    m.debt_chain_id = chain;
    snprintf(m.debt_asset, sizeof m.debt_asset, "%s", asset);
    snprintf(m.principal, sizeof m.principal, "%s", principal);
    m.apr_bps = apr;
    snprintf(m.accrual_start, sizeof m.accrual_start, "%s", start);
  }
  if (!m.has_thresholds) {
    m.warning = w;
    m.margin_call = mc;
    m.liquidation = l;
    m.return_to = r;
  }
  if (!m.has_cure) m.cure = cure;
  if (!m.has_stale) m.stale = stale;
  struct term_params tp;
  fill_params(&m, &tp);
  const char *u[] = {partner,         pc->id, m.borrower, m.custodian, tp.chain, m.debt_asset, m.principal, tp.apr,
                     m.accrual_start, tp.w,   tp.m,       tp.l,        tp.r,     tp.cure,      tp.stale};
  st = db_exec_prepared(c, "pp_update", 15, u, NULL);
  if (st != DB_OK) return st;
  if (m.has_collateral) {
    st = db_exec_prepared(c, "pp_lines_delete", 1, (const char *[]){pc->id}, NULL);
    if (st == DB_OK) st = insert_lines(c, pc->id, &m);
    if (st != DB_OK) return st;
  }
  return finish_position(c, partner, pc->id, 200, out);
}

enum svc_handler_result handler_partner_position_patch(struct svc_request *req) {
  pthread_once(&stmts_once, register_statements);
  struct patch_ctx pc;
  if (!path_id(req, pc.id)) return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  pc.t = malloc(sizeof *pc.t);
  if (!pc.t) return SVC_HANDLER_FATAL;
  json_t *root = parse_terms(req, pc.t, false);
  if (!root) {
    free(pc.t);
    return SVC_HANDLED;
  }
  enum svc_handler_result res = svc_partner_write(req, false, SVC_ERR_external_id_exists, patch_work, &pc);
  json_decref(root);
  free(pc.t);
  return res;
}

/* ---- GET /v1/partner/positions/{id} ---- */
enum svc_handler_result handler_partner_position_get(struct svc_request *req) {
  pthread_once(&stmts_once, register_statements);
  char id[24], partner[24];
  if (!path_id(req, id)) return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  char *text = NULL;
  db_status st = load_position(c, partner, id, &text);
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
static db_status list_row(const db_row *row, void *arg) {
  struct list_ctx *lc = arg;
  char *text = NULL;
  struct db_col cols[] = {{"position_id", DB_COL_INT64, &lc->last, 0, NULL}, {"body", DB_COL_TEXT_DUP, &text, 0, NULL}};
  db_status st = db_row_get(row, cols, 2);
  if (st != DB_OK) return st;
  json_t *p = position_from_sql(text);
  free(text);
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
  pthread_once(&stmts_once, register_statements);
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
  char partner[24], a[24], l[24];
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  snprintf(a, sizeof a, "%lld", after);
  snprintf(l, sizeof l, "%lld", limit);
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  struct list_ctx lc = {json_array(), 0};
  uint64_t n = 0;
  const char *p[] = {partner, a, l};
  db_status st = db_query_prepared(c, "pp_list", 3, p, list_row, &lc, &n);
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
static db_status asset_row(const db_row *row, void *arg) {
  struct line_assets *la = arg;
  if (la->n == MAX_LINES) return DB_ERROR;
  int64_t chain;
  struct db_col cols[] = {{"chain_id", DB_COL_INT64, &chain, 0, NULL},
                          {"asset", DB_COL_TEXT, la->asset[la->n], 43, NULL}};
  db_status st = db_row_get(row, cols, 2);
  la->chain[la->n++] = chain;
  return st;
}

static db_status attest_work(db_conn *c, struct svc_request *req, void *arg, struct svc_write_out *out) {
  struct att_ctx *ac = arg;
  char partner[24];
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  struct line_assets la = {0};
  const char *p[] = {partner, ac->id};
  uint64_t n = 0;
  db_status st = db_query_prepared(c, "pp_line_assets", 2, p, asset_row, &la, &n);
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
  struct db_col cols[] = {{"attestation_id", DB_COL_INT64, &att, 0, NULL}};
  const char *ins[] = {partner, ac->id, ac->as_of, ac->reference};
  st = db_query_one_prepared(c, "pa_insert", 4, ins, cols, 1);
  if (st != DB_OK) return st;
  char att_id[24];
  snprintf(att_id, sizeof att_id, "%lld", (long long)att);
  for (size_t i = 0; i < ac->n; i++) {
    char chain[24];
    snprintf(chain, sizeof chain, "%lld", ac->b[i].chain_id);
    const char *bp[] = {att_id, chain, ac->b[i].asset, ac->b[i].amount};
    st = db_exec_prepared(c, "pa_balance_insert", 4, bp, NULL);
    if (st != DB_OK) return st;
  }
  struct one_body ob = {NULL};
  const char *gp[] = {partner, att_id};
  st = db_query_prepared(c, "pa_get", 2, gp, body_row, &ob, NULL);
  if (st != DB_OK || !ob.text) {
    free(ob.text);
    return st != DB_OK ? st : DB_ERROR;
  }
  json_t *j = json_loads(ob.text, 0, NULL);
  free(ob.text);
  checksum_lines(json_object_get(j, "balances"));
  out->body = dump(j);
  if (!out->body) return DB_ERROR;
  out->status = 201;
  out->position_id = strtoll(ac->id, NULL, 10);
  return DB_OK;
}

static const struct svc_body_field balance_spec[] = {
    {.name = "chain_id", .type = SVC_BODY_INT, .required = true, .offset = offsetof(struct balance, chain_id),
     .lo = 1, .hi = 9007199254740991LL},
    {.name = "asset", .type = SVC_BODY_ADDRESS, .required = true, .offset = offsetof(struct balance, asset)},
    {.name = "amount", .type = SVC_BODY_U256, .required = true, .offset = offsetof(struct balance, amount_v)},
};
static const struct svc_body_field attest_spec[] = {
    {.name = "as_of", .type = SVC_BODY_STRING, .required = true, .offset = offsetof(struct att_ctx, as_of_s)},
    {.name = "custodian_reference", .type = SVC_BODY_STRING, .required = true,
     .offset = offsetof(struct att_ctx, reference), .lo = 1, .hi = 256},
    {.name = "balances", .type = SVC_BODY_ARRAY, .required = true, .offset = offsetof(struct att_ctx, b), .lo = 1,
     .hi = MAX_LINES, .sub = balance_spec, .nsub = sizeof balance_spec / sizeof balance_spec[0],
     .elem_size = sizeof(struct balance), .count_offset = offsetof(struct att_ctx, n)},
};

enum svc_handler_result handler_partner_attestations_post(struct svc_request *req) {
  pthread_once(&stmts_once, register_statements);
  struct att_ctx *ac = calloc(1, sizeof *ac);
  if (!ac) return SVC_HANDLER_FATAL;
  if (!path_id(req, ac->id)) {
    free(ac);
    return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  }
  json_t *errors = json_array();
  json_t *root = svc_body_parse_collect(req, attest_spec, sizeof attest_spec / sizeof attest_spec[0], ac, errors);
  if (!root) {
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
    res = svc_partner_write(req, true, SVC_ERR_attestation_exists, attest_work, ac);
  }
  json_decref(root);
  free(ac);
  return res;
}
