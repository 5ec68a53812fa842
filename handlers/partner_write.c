/* One partner write per transaction: claim (key, Idempotency-Key, method, path) with an INSERT that
 * waits for a concurrent holder, run the write, store the response, append the audit row. A second
 * request with the same key finds the committed row: same body hash -> replay, else 409. */
#include "handlers/partner_write.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "service/server.h"

static const struct db_statement stmts[] = {
    {"idem_claim",
     "INSERT INTO idempotency_keys (key_id, idempotency_key, method, path, request_sha256, response_status,"
     " response_body) VALUES ($1::bigint, $2, $3, $4, $5, 0, '') ON CONFLICT DO NOTHING"},
    {"idem_get", "SELECT request_sha256, response_status, response_body FROM idempotency_keys"
                 " WHERE key_id = $1::bigint AND idempotency_key = $2 AND method = $3 AND path = $4"},
    {"idem_store", "UPDATE idempotency_keys SET response_status = $5::integer, response_body = $6"
                   " WHERE key_id = $1::bigint AND idempotency_key = $2 AND method = $3 AND path = $4"},
    {"audit_append",
     "INSERT INTO audit_log (key_id, partner_id, method, route, path, request_id, body_sha256, status, position_id)"
     " VALUES ($1::bigint, NULLIF($2::bigint, 0), $3, $4, $5, $6, $7, $8::integer, NULLIF($9::bigint, 0))"},
};
static pthread_once_t stmts_once = PTHREAD_ONCE_INIT;
static void register_statements(void) {
  if (db_statements_register(stmts, sizeof stmts / sizeof stmts[0]) != 0)
    util_log(UTIL_LOG_ERROR, "partner writes: statements could not be registered");
}

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
  pthread_once(&stmts_once, register_statements);
  char key[24], partner[24], st[12], pos[24], sha[65];
  snprintf(key, sizeof key, "%lld", (long long)req->key_id);
  snprintf(partner, sizeof partner, "%lld", (long long)req->partner_id);
  snprintf(st, sizeof st, "%u", status);
  snprintf(pos, sizeof pos, "%lld", (long long)position_id);
  handler_request_body_sha256(req, sha);
  const char *route = req->match.route ? req->match.route->path : req->path;
  const char *method = req->match.route ? svc_method_name(req->match.route->method) : req->method;
  const char *p[] = {key, partner, method, route, req->path, req->request_id, sha, st, pos};
  return db_exec_prepared(conn, "audit_append", 9, p, NULL);
}

struct write_ctx {
  struct svc_request *req;
  const char *idem; /* NULL: no Idempotency-Key */
  char key_id[24];
  char sha[65];
  handler_write_fn work;
  void *arg;
  struct handler_write_out out;
  /* a previous request with the same Idempotency-Key */
  bool replay, conflict;
  char prev_sha[65];
  int32_t prev_status;
  char *prev_body;
};

static void out_reset(struct handler_write_out *o) {
  free(o->body);
  json_decref(o->fields);
  memset(o, 0, sizeof *o);
}

static db_status txn(db_conn *c, void *arg) {
  struct write_ctx *w = arg;
  out_reset(&w->out);
  free(w->prev_body);
  w->prev_body = NULL;
  w->replay = w->conflict = false;
  const char *method = w->req->method;
  if (w->idem) {
    const char *p[] = {w->key_id, w->idem, method, w->req->path, w->sha};
    uint64_t claimed = 0;
    db_status st = db_exec_prepared(c, "idem_claim", 5, p, &claimed);
    if (st != DB_OK) return st;
    if (claimed == 0) { /* someone committed this key first (the INSERT waited for them) */
      struct db_col cols[] = {{"request_sha256", DB_COL_TEXT, w->prev_sha, sizeof w->prev_sha, NULL},
                              {"response_status", DB_COL_INT32, &w->prev_status, 0, NULL},
                              {"response_body", DB_COL_TEXT_DUP, &w->prev_body, 0, NULL}};
      st = db_query_one_prepared(c, "idem_get", 4, p, cols, 3);
      if (st != DB_OK) return st;
      if (strcmp(w->prev_sha, w->sha) != 0)
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
    char status[12];
    snprintf(status, sizeof status, "%u", w->out.status);
    const char *p[] = {w->key_id, w->idem, method, w->req->path, status, w->out.body};
    st = db_exec_prepared(c, "idem_store", 6, p, NULL);
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
  pthread_once(&stmts_once, register_statements);
  const char *idem = svc_req_header(req, "Idempotency-Key");
  if (!idem && idem_required)
    return svc_reply_problem(req, SVC_ERR_idempotency_key_required, "send an Idempotency-Key header with every post");
  if (idem && !idem_key_ok(idem))
    return svc_reply_problem_fields(
        req, SVC_ERR_validation_failed,
        json_pack("[o]", svc_field_error("Idempotency-Key", "invalid", "must be 1 to 255 visible ascii characters")),
        "the Idempotency-Key header is invalid");
  struct write_ctx w;
  memset(&w, 0, sizeof w);
  w.req = req;
  w.idem = idem;
  snprintf(w.key_id, sizeof w.key_id, "%lld", (long long)req->key_id);
  handler_request_body_sha256(req, w.sha);
  w.work = work;
  w.arg = arg;
  db_status st = db_run_txn(req->srv->pool, txn, &w);
  enum svc_handler_result res;
  if (st == DB_OK && w.conflict) {
    res = svc_reply_problem(req, SVC_ERR_idempotency_conflict,
                            "this Idempotency-Key was used with a different body on this route");
  } else if (st == DB_OK && w.replay) {
    res = reply_json_text(req, (unsigned)w.prev_status, w.prev_body, true);
    w.prev_body = NULL;
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
  free(w.prev_body);
  return res;
}

