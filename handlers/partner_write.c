/* One partner write per transaction: claim (key, Idempotency-Key, method, path) with an insert that
 * waits for a concurrent holder, run the write, store the response, append the audit row. A second
 * request with the same key finds the committed row: same body hash -> replay, else 409. */
#include "handlers/partner_write.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/partner.h"
#include "service/server.h"
#include "util/log.h"

void handler_request_body_sha256(const struct svc_request *req, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)(req->body ? req->body : ""), req->body_len, md);
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
    out[2 * i] = digits[md[i] >> 4];
    out[2 * i + 1] = digits[md[i] & 15];
  }
  out[64] = 0;
}

db_status handler_audit_append(db_conn *conn, const struct svc_request *req, unsigned status, int64_t position_id) {
  char sha[65];
  handler_request_body_sha256(req, sha);
  const struct db_audit_entry e = {
      .key_id = req->key_id,
      .partner_id = req->partner_id,
      .method = req->match.route ? svc_method_name(req->match.route->method) : req->method,
      .route = req->match.route ? req->match.route->path : req->path,
      .path = req->path,
      .request_id = req->request_id,
      .body_sha256 = sha,
      .status = status,
      .position_id = position_id,
  };
  return db_audit_append(conn, &e);
}

struct write_ctx {
  struct svc_request *req;
  const char *idem; /* NULL: no Idempotency-Key */
  char sha[65];
  handler_write_fn work;
  void *arg;
  struct handler_write_out out;
  /* a previous request with the same Idempotency-Key */
  bool replay, conflict;
  struct db_idem_stored prev;
};

static void out_reset(struct handler_write_out *o) {
  free(o->body);
  json_decref(o->fields);
  memset(o, 0, sizeof *o);
}

static db_status txn(db_conn *c, void *arg) {
  struct write_ctx *w = arg;
  out_reset(&w->out);
  free(w->prev.response_body);
  w->prev.response_body = NULL;
  w->replay = w->conflict = false;
  const struct db_idem_key k = {w->req->key_id, w->idem, w->req->method, w->req->path};
  if (w->idem) {
    bool claimed = false;
    db_status st = db_idem_claim(c, &k, w->sha, &claimed);
    if (st != DB_OK) return st;
    if (!claimed) { /* someone committed this key first (the claim waited for them) */
      st = db_idem_get(c, &k, &w->prev);
      if (st != DB_OK) return st;
      if (strcmp(w->prev.request_sha256, w->sha) != 0)
        w->conflict = true;
      else
        w->replay = true;
      return DB_OK;
    }
  }
  db_status st = w->work(c, w->req, w->arg, &w->out);
  if (st != DB_OK) return st;
  if (w->out.failed) return DB_NO_ROWS; /* a client error: roll back, store nothing */
  if (!w->out.body) {
    UTIL_BUG("partner write for %s returned no body", w->req->path);
    return DB_ERROR;
  }
  if (w->idem) {
    st = db_idem_store(c, &k, w->out.status, w->out.body);
    if (st != DB_OK) return st;
  }
  return handler_audit_append(c, w->req, w->out.status, w->out.position_id);
}

static bool idem_key_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 255) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x21 || s[i] > 0x7e) return false;
  return true;
}

static enum svc_handler_result reply_json_text(struct svc_request *req, unsigned status, char *body, bool replayed) {
  return svc_reply_take_header(req, status, "application/json", body, strlen(body),
                               replayed ? "Idempotent-Replayed" : NULL, "true");
}

enum svc_handler_result handler_partner_write(struct svc_request *req, bool idem_required, enum svc_error conflict_err,
                                              handler_write_fn work, void *arg) {
  const char *idem = svc_req_header(req, "Idempotency-Key");
  if (!idem && idem_required)
    return svc_reply_problem(req, SVC_ERR_idempotency_key_required, "send an Idempotency-Key header with every post");
  if (idem && svc_req_header_count(req, "Idempotency-Key") > 1) /* the first would be used: refused instead */
    return svc_reply_problem_fields(
        req, SVC_ERR_validation_failed,
        json_pack("[o]", svc_field_error("Idempotency-Key", "duplicate", "send one Idempotency-Key header")),
        "more than one Idempotency-Key header");
  if (idem && !idem_key_ok(idem))
    return svc_reply_problem_fields(
        req, SVC_ERR_validation_failed,
        json_pack("[o]", svc_field_error("Idempotency-Key", "invalid", "must be 1 to 255 visible ascii characters")),
        "the Idempotency-Key header is invalid");
  struct write_ctx w;
  memset(&w, 0, sizeof w);
  w.req = req;
  w.idem = idem;
  handler_request_body_sha256(req, w.sha);
  w.work = work;
  w.arg = arg;
  db_status st = db_run_txn(req->srv->pool, txn, &w);
  enum svc_handler_result res;
  if (st == DB_OK && w.conflict) {
    res = svc_reply_problem(req, SVC_ERR_idempotency_conflict,
                            "this Idempotency-Key was used with a different body on this route");
  } else if (st == DB_OK && w.replay) {
    res = reply_json_text(req, (unsigned)w.prev.response_status, w.prev.response_body, true);
    w.prev.response_body = NULL;
  } else if (st == DB_OK) {
    res = reply_json_text(req, w.out.status, w.out.body, false);
    w.out.body = NULL;
  } else if (st == DB_NO_ROWS && w.out.failed) {
    if (w.out.fields) {
      json_t *f = w.out.fields;
      w.out.fields = NULL;
      res = svc_reply_problem_fields(req, w.out.err, f, "%s", w.out.detail);
    } else {
      res = svc_reply_problem(req, w.out.err, "%s", w.out.detail);
    }
  } else if (st == DB_CONFLICT) {
    res = svc_reply_problem(req, conflict_err, "%s", svc_error_title(conflict_err));
  } else if (st == DB_UNAVAILABLE || st == DB_RETRY) {
    res = svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached; retry shortly");
  } else {
    util_log(UTIL_LOG_ERROR, "request %s: partner write failed: %s", req->request_id, db_status_name(st));
    res = svc_reply_problem(req, SVC_ERR_internal_error, "the request could not be completed");
  }
  out_reset(&w.out);
  free(w.prev.response_body);
  return res;
}
