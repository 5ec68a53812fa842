/* GET /v1/partner/positions/{id}/ltv, GET /v1/partner/positions/{id}/ltv/history and
 * GET /v1/signers: the signed LTV records of service/ltv.h. Every query filters by the key's
 * partner in SQL; another partner's position is 404. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers/handlers.h"
#include "service/crypto.h"
#include "service/ltv.h"
#include "service/request.h"
#include "service/server.h"

#define RECORD_SQL(table)                                                                                              \
  "SELECT jsonb_build_object('position_id', l.position_id::text, 'external_id', p.external_id, 'sequence',"            \
  " l.sequence, 'state', l.state, 'ltv_bps', l.ltv_bps, 'raw_ltv_bps', l.raw_ltv_bps, 'collateral_value',"             \
  " l.collateral_value::text, 'weighted_value', l.weighted_value::text, 'debt', l.debt::text, 'debt_value',"           \
  " l.debt_value::text, 'as_of', l.as_of, 'call_since', l.call_since, 'cure_deadline', l.cure_deadline,"               \
  " 'detail', l.detail)::text AS body FROM " table " l JOIN partner_positions p ON p.position_id = l.position_id"

static const struct db_statement stmts[] = {
    {"ltv_get", RECORD_SQL("partner_ltv_latest") " WHERE l.partner_id = $1 AND l.position_id = $2"},
    {"ltv_history", RECORD_SQL("partner_ltv_history") " WHERE l.partner_id = $1 AND l.position_id = $2"
                                                      " AND l.sequence < $3 ORDER BY l.sequence DESC LIMIT $4"},
    {"ltv_position_exists", "SELECT position_id FROM partner_positions WHERE partner_id = $1 AND position_id = $2"},
};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void reg(void) {
  svc_ltv_register_statements();
  db_statements_register(stmts, sizeof stmts / sizeof stmts[0]);
}

/* Returns true with the numeric path id in out. */
static bool path_id(struct svc_request *req, char out[24]) {
  char buf[32];
  const char *s = svc_req_param(req, "id", buf, sizeof buf);
  if (!s || !*s || strlen(s) > 18) return false;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return false;
  snprintf(out, 24, "%lld", strtoll(s, NULL, 10));
  return true;
}

struct body {
  char *text;
};

struct first_arg {
  int64_t id;
  unsigned min_bps;
};
static db_status first_record(db_conn *c, void *arg) {
  struct first_arg *a = arg;
  return svc_ltv_recompute(c, a->id, (uint64_t)time(NULL), a->min_bps, false, NULL);
}

enum svc_handler_result handler_partner_ltv_get(struct svc_request *req) {
  pthread_once(&once, reg);
  char id[24], partner[24];
  if (!path_id(req, id)) return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  const char *p[] = {partner, id};
  for (int round = 0; round < 2; round++) {
    db_conn *c = svc_req_db(req);
    if (!c) return SVC_HANDLED;
    struct body b = {NULL};
    struct db_col cols[] = {{"body", DB_COL_TEXT_DUP, &b.text, 0, NULL}};
    db_status st = db_query_one_prepared(c, "ltv_get", 2, p, cols, 1);
    if (st == DB_NO_ROWS) {
      /* a new position the worker has not reached yet: compute its first record now */
      int64_t pos = 0;
      struct db_col pc[] = {{"position_id", DB_COL_INT64, &pos, 0, NULL}};
      st = db_query_one_prepared(c, "ltv_position_exists", 2, p, pc, 1);
      db_release(c);
      if (st == DB_NO_ROWS)
        return svc_reply_problem(req, SVC_ERR_position_not_found, "no position %s for this partner", id);
      if (st != DB_OK || round) break;
      struct first_arg a = {pos, req->srv->cfg.ltv_history_min_bps ? req->srv->cfg.ltv_history_min_bps : 50};
      if (db_run_txn(req->srv->pool, first_record, &a) != DB_OK) break;
      continue;
    }
    db_release(c);
    if (st != DB_OK) {
      free(b.text);
      break;
    }
    json_t *rec = svc_ltv_record_json(b.text);
    free(b.text);
    if (!rec) return SVC_HANDLER_FATAL;
    return svc_reply_json_steal(req, 200, rec);
  }
  return svc_reply_problem(req, SVC_ERR_database_unavailable, "the ltv record could not be read; retry shortly");
}

struct hist_ctx {
  json_t *arr;
  int64_t last;
  bool bad;
};
static db_status hist_row(const db_row *row, void *arg) {
  struct hist_ctx *h = arg;
  const char *text = db_row_text(row, 0);
  json_t *rec = text ? svc_ltv_record_json(text) : NULL;
  if (!rec) return DB_ERROR;
  h->last = (int64_t)json_integer_value(json_object_get(rec, "sequence"));
  json_array_append_new(h->arr, rec);
  return DB_OK;
}

static bool small_uint(const char *s, long long lo, long long hi, long long *out) {
  if (!*s || strlen(s) > 18) return false;
  for (const char *q = s; *q; q++)
    if (*q < '0' || *q > '9') return false;
  *out = strtoll(s, NULL, 10);
  return *out >= lo && *out <= hi;
}

enum svc_handler_result handler_partner_ltv_history(struct svc_request *req) {
  pthread_once(&once, reg);
  char id[24], partner[24];
  if (!path_id(req, id)) return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  long long limit = 50, before = 999999999999999999LL;
  json_t *errors = json_array();
  const char *q = svc_req_query(req, "limit");
  if (q && !small_uint(q, 1, 500, &limit))
    json_array_append_new(errors, svc_field_error("limit", "out_of_range", "must be 1 to 500"));
  q = svc_req_query(req, "before");
  if (q && !small_uint(q, 1, 999999999999999999LL, &before))
    json_array_append_new(errors, svc_field_error("before", "invalid_cursor", "must be a sequence from next_before"));
  if (json_array_size(errors))
    return svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errors, "%zu query parameter(s) are invalid",
                                    json_array_size(errors));
  json_decref(errors);
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  char b[24], l[24];
  snprintf(b, sizeof b, "%lld", before);
  snprintf(l, sizeof l, "%lld", limit);
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  const char *pp[] = {partner, id};
  int64_t pos = 0;
  struct db_col pc[] = {{"position_id", DB_COL_INT64, &pos, 0, NULL}};
  db_status st = db_query_one_prepared(c, "ltv_position_exists", 2, pp, pc, 1);
  if (st == DB_NO_ROWS) {
    db_release(c);
    return svc_reply_problem(req, SVC_ERR_position_not_found, "no position %s for this partner", id);
  }
  struct hist_ctx h = {json_array(), 0, false};
  uint64_t n = 0;
  if (st == DB_OK) {
    const char *p[] = {partner, id, b, l};
    st = db_query_prepared(c, "ltv_history", 4, p, hist_row, &h, &n);
  }
  db_release(c);
  if (st != DB_OK) {
    json_decref(h.arr);
    return svc_reply_problem(req, SVC_ERR_database_unavailable, "the ltv history could not be read; retry shortly");
  }
  json_t *body = json_object();
  json_object_set_new(body, "position_id", json_string(id));
  json_object_set_new(body, "records", h.arr);
  json_object_set_new(body, "next_before", (long long)n == limit && h.last > 1 ? json_integer(h.last) : json_null());
  return svc_reply_json_steal(req, 200, body);
}

enum svc_handler_result handler_signers_list(struct svc_request *req) {
  json_t *arr = json_array();
  const struct svc_signer *s = svc_ltv_signer();
  if (s)
    json_array_append_new(arr,
                          json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:i},s:s,s:b}", "address", svc_signer_address(s), "scheme",
                                    "eip712-secp256k1", "purpose", "ltv_records", "domain", "name", "sparkd", "version",
                                    "1", "chainId", SVC_LTV_CHAIN_ID, "primary_type", "LtvRecord", "active", 1));
  return svc_reply_json_steal(req, 200, json_pack("{s:o}", "signers", arr));
}
