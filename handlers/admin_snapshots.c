/* POST /v1/admin/snapshots (scope admin): imports `sparkd.snapshot/1` snapshots through the same
 * code as `sparkd import` (chain/snapshot.h parses and validates, db/snapshot.h applies each in
 * one transaction). The body is one snapshot or NDJSON (applied in order; the first invalid or
 * refused one stops the run, the ones before it stay applied). ?allow_older=true applies a
 * snapshot older than the chain's last block. The import is recorded in the audit log. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/snapshot.h"
#include "db/db.h"
#include "db/snapshot.h"
#include "handlers/handlers.h"
#include "handlers/partner_write.h"
#include "service/request.h"
#include "service/server.h"
#include "state/cache.h"
#include "util/log.h"

/* Returns errs as [{field: "$.path", code: "invalid", message}] (a new reference). */
static json_t *problems(const struct chain_snapshot_errors *e, const char *prefix) {
  json_t *arr = json_array();
  for (unsigned i = 0; i < e->n; i++) {
    const char *m = e->msg[i];
    const char *sep = strstr(m, ": ");
    char field[CHAIN_SNAPSHOT_ERR_LEN + 16];
    if (sep)
      snprintf(field, sizeof field, "%s%.*s", prefix, (int)(sep - m), m);
    else
      snprintf(field, sizeof field, "%s$", prefix);
    json_array_append_new(arr, svc_field_error(field, "invalid", sep ? sep + 2 : m));
  }
  if (e->dropped) {
    char msg[64];
    snprintf(msg, sizeof msg, "%u more problems not listed", e->dropped);
    json_array_append_new(arr, svc_field_error("$", "truncated", msg));
  }
  return arr;
}

struct audit_ctx {
  struct svc_request *req;
  unsigned status;
};
static db_status audit_txn(db_conn *c, void *arg) {
  struct audit_ctx *a = arg;
  return handler_audit_append(c, a->req, a->status, 0);
}

static void audit(struct svc_request *req, unsigned status) {
  struct audit_ctx a = {req, status};
  db_status st = db_run_txn(req->srv->pool, audit_txn, &a);
  if (st != DB_OK)
    util_log(UTIL_LOG_ERROR, "request %s: snapshot import not audited: %s", req->request_id, db_status_name(st));
}

/* The stream's reader over the body: the body is in memory already, but its accounts then never
 * become a jansson tree (chain/snapshot_stream.c). */
struct body_src {
  const char *p;
  size_t len, pos;
};
static size_t read_body(void *buf, size_t cap, void *arg) {
  struct body_src *b = arg;
  size_t k = b->len - b->pos < cap ? b->len - b->pos : cap;
  memcpy(buf, b->p + b->pos, k);
  b->pos += k;
  return k;
}

enum svc_handler_result handler_admin_snapshots_post(struct svc_request *req) {
  const char *ao = svc_req_query(req, "allow_older");
  if (ao && strcmp(ao, "true") != 0 && strcmp(ao, "false") != 0)
    return svc_reply_problem_fields(
        req, SVC_ERR_bad_query_parameter,
        json_pack("[o]", svc_field_error("allow_older", "invalid", "must be true or false")),
        "1 query parameter(s) are invalid");
  bool allow_older = ao && strcmp(ao, "true") == 0;
  struct chain_snapshot_errors *errs = malloc(sizeof *errs);
  if (!errs) return SVC_HANDLER_FATAL;
  struct body_src src = {req->body ? req->body : "", req->body ? req->body_len : 0, 0};
  struct chain_snapshot_stream *stream = chain_snapshot_stream_new(read_body, &src);
  if (!stream) {
    free(errs);
    return SVC_HANDLER_FATAL;
  }
  json_t *results = json_array();
  unsigned count = 0;
  enum svc_handler_result res = SVC_HANDLED;
  bool stopped = false;
  while (!stopped) {
    memset(errs, 0, sizeof *errs);
    struct chain_snapshot *s = NULL;
    int got = chain_snapshot_stream_next(stream, &s, errs);
    if (got == 0) break;
    count++;
    char prefix[32] = "";
    if (chain_snapshot_stream_ndjson(stream))
      snprintf(prefix, sizeof prefix, "line %u: ", chain_snapshot_stream_line(stream));
    if (got < 0) {
      util_log(UTIL_LOG_ERROR, "request %s: snapshot: temporary file failed", req->request_id);
      res = svc_reply_problem(req, SVC_ERR_database_unavailable, "%sthe snapshot could not be spooled; retry shortly",
                              prefix);
      stopped = true;
      break;
    }
    if (!s) {
      res = svc_reply_problem_fields(req, SVC_ERR_validation_failed, problems(errs, prefix),
                                     "%sinvalid snapshot, nothing of it written (%u applied before it)", prefix,
                                     (unsigned)json_array_size(results));
      stopped = true;
      break;
    }
    struct db_snapshot_result r;
    db_status st = db_snapshot_apply(req->srv->pool, s, allow_older, &r, errs);
    if (st != DB_OK) {
      util_log(UTIL_LOG_ERROR, "request %s: snapshot chain %llu block %llu: %s", req->request_id,
               (unsigned long long)s->chain_id, (unsigned long long)s->block_number, db_status_name(st));
      res = svc_reply_problem(req, SVC_ERR_database_unavailable,
                              "%schain %llu block %llu could not be written; retry shortly", prefix,
                              (unsigned long long)s->chain_id, (unsigned long long)s->block_number);
      stopped = true;
    } else if (r.outcome == DB_SNAPSHOT_INVALID) {
      res = svc_reply_problem_fields(req, SVC_ERR_validation_failed, problems(errs, prefix),
                                     "%sinvalid snapshot, nothing of it written (%u applied before it)", prefix,
                                     (unsigned)json_array_size(results));
      stopped = true;
    } else if (r.outcome == DB_SNAPSHOT_OLDER) {
      res = svc_reply_problem(
          req, SVC_ERR_snapshot_older, "%schain %llu block %llu is older than the last imported block %llu", prefix,
          (unsigned long long)s->chain_id, (unsigned long long)s->block_number, (unsigned long long)r.previous_block);
      stopped = true;
    } else {
      json_t *o =
          json_pack("{s:I, s:I, s:s}", "chain_id", (json_int_t)s->chain_id, "block_number", (json_int_t)s->block_number,
                    "outcome", r.outcome == DB_SNAPSHOT_APPLIED ? "applied" : "same_block");
      if (r.outcome == DB_SNAPSHOT_APPLIED && s->has_accounts)
        json_object_set_new(o, "accounts",
                            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "mode", s->accounts_full ? "full" : "delta",
                                      "written", (json_int_t)r.accounts_written, "positions",
                                      (json_int_t)r.positions_written, "removed", (json_int_t)r.accounts_removed,
                                      "health_factor_computed", (json_int_t)r.hf_computed, "health_factor_null",
                                      (json_int_t)r.hf_null));
      json_array_append_new(results, o);
      /* the NOTIFY reaches the cache soon; asking here too means /metrics shows the rebuild as
       * pending from the moment this reply is sent */
      if (r.outcome == DB_SNAPSHOT_APPLIED) state_cache_invalidate();
    }
    chain_snapshot_free(s);
  }
  free(errs);
  chain_snapshot_stream_free(stream);
  if (!stopped && count == 0)
    res = svc_reply_problem(req, SVC_ERR_validation_failed, "the body holds no snapshot");
  else if (!stopped)
    res = svc_reply_json_steal(req, 200, json_pack("{s:o}", "snapshots", json_incref(results)));
  json_decref(results);
  audit(req, req->status);
  return res;
}
