/* Partner writes: the Idempotency-Key claim, the write itself, the stored response and
 * the audit row, all in one transaction (db_run_txn). */
#ifndef SPARKD_SERVICE_PARTNER_WRITE_H
#define SPARKD_SERVICE_PARTNER_WRITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "service/errors.h"
#include "service/request.h"

/* What a write produced. The write sets either a success (status, body) or a client error
 * (failed, err, detail, fields); a client error rolls the transaction back and stores nothing. */
struct handler_write_out {
  unsigned status;     /* 2xx */
  char *body;          /* malloc'd JSON text of the success response */
  int64_t position_id; /* for the audit row (0 = none) */
  bool failed;
  enum svc_error err;
  char detail[256];
  json_t *fields; /* optional {field, code, message} list for err (owned) */
};

/* The write; may run more than once (40001/40P01 retries), so it starts from a zeroed out. Returns
 * DB_OK (success or a client error in out), or the database failure (DB_CONFLICT: a unique
 * violation, answered with the caller's conflict error). */
typedef db_status (*handler_write_fn)(db_conn *conn, struct svc_request *req, void *arg, struct handler_write_out *out);

/* Runs work for req inside one transaction with the Idempotency-Key (required when idem_required,
 * else honoured when sent) and the audit row; replies with the result, a replay of the stored
 * response (Idempotent-Replayed: true), 409 idempotency_conflict, 409 conflict_err on a unique
 * violation, or 503. Returns SVC_HANDLED, or SVC_HANDLER_FATAL when nothing could be queued. */
enum svc_handler_result handler_partner_write(struct svc_request *req, bool idem_required, enum svc_error conflict_err,
                                              handler_write_fn work, void *arg);

/* Returns the status of appending an audit row for req (its key, partner, route, request id and
 * the SHA-256 of its body) with the response status and position (0 = none), on conn. */
db_status handler_audit_append(db_conn *conn, const struct svc_request *req, unsigned status, int64_t position_id);

/* Writes the SHA-256 of the request body as 64 lowercase hex digits and a NUL into out. */
void handler_request_body_sha256(const struct svc_request *req, char out[65]);

#endif
