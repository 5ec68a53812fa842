/* GET /v1/partner/positions/{id}/ltv, GET /v1/partner/positions/{id}/ltv/history and
 * GET /v1/signers: the signed LTV records of service/ltv.h. Every query filters by the key's
 * partner in SQL; another partner's position is 404. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/ltv.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "partner/ltv.h"
#include "partner/signer.h"
#include "service/request.h"
#include "service/server.h"

/* Returns true with the path's id, canonical decimal, in out; false for any other spelling. */
static bool path_id(struct svc_request *req, char out[24]) {
  char buf[32];
  int64_t id;
  return handler_parse_id(svc_req_param(req, "id", buf, sizeof buf), &id, out);
}

struct first_arg {
  int64_t id;
  unsigned min_bps;
  struct partner_ltv_stats st;
};
static db_status first_record(db_conn *c, void *arg) {
  struct first_arg *a = arg;
  return partner_ltv_recompute(c, a->id, (uint64_t)time(NULL), a->min_bps, PARTNER_LTV_ALL, &a->st);
}

enum svc_handler_result handler_partner_ltv_get(struct svc_request *req) {
  char id[24];
  if (!path_id(req, id)) return svc_reply_problem(req, SVC_ERR_position_not_found, "no such position");
  int64_t pos = strtoll(id, NULL, 10);
  for (int round = 0; round < 2; round++) {
    db_conn *c = svc_req_db(req);
    if (!c) return SVC_HANDLED;
    char *text = NULL;
    db_status st = db_ltv_latest_json(c, req->partner_id, pos, &text);
    if (st == DB_NO_ROWS) {
      /* a new position the worker has not reached yet: compute its first record now */
      st = db_ltv_position_exists(c, req->partner_id, pos);
      db_release(c);
      if (st == DB_NO_ROWS)
        return svc_reply_problem(req, SVC_ERR_position_not_found, "no position %s for this partner", id);
      if (st != DB_OK || round) break;
      struct first_arg a = {pos, req->srv->cfg.ltv_history_min_bps ? req->srv->cfg.ltv_history_min_bps : 50, {0}};
      if (db_run_txn(req->srv->pool, first_record, &a) != DB_OK) break;
      /* no record to serve, not even an old one: a retry cannot help until the inputs change */
      if (a.st.not_recomputable)
        return svc_reply_problem(req, SVC_ERR_not_computable, "position %s has no ltv record: %s", id,
                                 a.st.reason ? a.st.reason : "the engine cannot compute it");
      continue;
    }
    db_release(c);
    if (st != DB_OK) {
      free(text);
      break;
    }
    json_t *rec = partner_ltv_record_json(text);
    free(text);
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
static db_status hist_row(const char *text, void *arg) {
  struct hist_ctx *h = arg;
  json_t *rec = partner_ltv_record_json(text);
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
  char id[24];
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
  int64_t pos = strtoll(id, NULL, 10);
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  db_status st = db_ltv_position_exists(c, req->partner_id, pos);
  if (st == DB_NO_ROWS) {
    db_release(c);
    return svc_reply_problem(req, SVC_ERR_position_not_found, "no position %s for this partner", id);
  }
  struct hist_ctx h = {json_array(), 0, false};
  uint64_t n = 0;
  if (st == DB_OK) st = db_ltv_history(c, req->partner_id, pos, before, limit, hist_row, &h, &n);
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
  const struct partner_signer *s = partner_ltv_signer();
  if (s)
    json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:i},s:s,s:b}", "address", partner_signer_address(s),
                                         "scheme", "eip712-secp256k1", "purpose", "ltv_records", "domain", "name",
                                         "sparkd", "version", "1", "chainId", PARTNER_LTV_CHAIN_ID, "primary_type",
                                         "LtvRecord", "active", 1));
  return svc_reply_json_steal(req, 200, json_pack("{s:o}", "signers", arr));
}
