/* Per-request state (STYLE rule 11): one struct, freed in the request-completed callback
 * whatever path the request took. Handlers read input and queue replies through these calls. */
#ifndef SPARKD_SERVICE_REQUEST_H
#define SPARKD_SERVICE_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "db/db.h"
#include "service/errors.h"
#include "service/router.h"

struct MHD_Connection;
struct MHD_Response;
struct svc_server;

struct svc_request {
  struct MHD_Connection *conn;
  struct svc_server *srv;
  const char *method;          /* as sent ("GET", "HEAD", ...) */
  char path[2048];             /* as sent, without the query: still percent-encoded (routing and logs use it) */
  bool begun;                  /* the access handler has started the request (see httpd.c) */
  bool path_refused;           /* the path holds an encoded "/" or NUL: answered 400 invalid_path */
  const char *framing_refused; /* why the request's length is ambiguous (answered 400, then closed), or NULL */
  const char *host_refused;    /* why the Host header is refused (answered 400), or NULL */
  bool close_after;            /* the reply carries Connection: close */
  struct svc_route_match match;
  char request_id[65];
  struct timespec start;
  char *body; /* NUL-terminated when body_len > 0 */
  size_t body_len, body_cap, body_limit;
  bool body_too_large;
  bool after_shutdown; /* began after SIGTERM (on a kept-alive connection): refused with 503 */
  bool replied;
  unsigned status;         /* of the queued response */
  uint64_t bytes;          /* body bytes of the queued response */
  const char *cors_origin; /* value for Access-Control-Allow-Origin, or NULL */
  /* set by svc_auth_request (service/auth.h) on keyed routes */
  bool auth_done; /* checked (on the first call, before the body is read) */
  int64_t key_id; /* the authenticated api key, 0 on public routes */
  enum svc_scope key_scope;
  int64_t partner_id;     /* the key's partner (partner scope), else 0 */
  char partner[64];       /* its name */
  unsigned retry_after_s; /* Retry-After sent with a 429 problem */
  bool health_only;       /* came in on SPARKD_HEALTH_PORT: only /healthz, /readyz and /metrics are routed */
  uint64_t body_received; /* body bytes that arrived, kept or discarded (the body deadline, httpd.c) */
  bool heavy;             /* holds a place of the heavy computation gate (service/heavy.h) */
};

/* Returns the path parameter `name` percent-decoded (NUL-terminated copy in buf), or NULL when
 * absent/too long. */
const char *svc_req_param(struct svc_request *req, const char *name, char *buf, size_t len);
/* Returns the query argument `name`, or NULL when absent. */
const char *svc_req_query(struct svc_request *req, const char *name);
/* Returns the request header `name`, or NULL. */
const char *svc_req_header(struct svc_request *req, const char *name);
/* Returns how many headers named `name` (case-insensitive) the request has: where one is read and
 * several were sent, which one counts is for the sender and each proxy to guess. */
unsigned svc_req_header_count(struct svc_request *req, const char *name);

/* Queue a response. Each returns SVC_HANDLED on success and SVC_HANDLER_FATAL when the response
 * could not be queued. */
/* Queues resp (adding X-Request-Id and CORS headers) and drops our reference to it; len is the
 * body size for the log. */
enum svc_handler_result svc_queue_response(struct svc_request *req, unsigned status, struct MHD_Response *resp,
                                           size_t len);
/* Replies `status` with a body that stays valid for the process (not copied). */
enum svc_handler_result svc_reply_static(struct svc_request *req, unsigned status, const char *content_type,
                                         const void *body, size_t len);
/* Replies `status` with a copy of body. */
enum svc_handler_result svc_reply_copy(struct svc_request *req, unsigned status, const char *content_type,
                                       const void *body, size_t len);
/* Replies `status` with body, taking ownership of the malloc'd buffer. */
enum svc_handler_result svc_reply_take(struct svc_request *req, unsigned status, const char *content_type, char *body,
                                       size_t len);
/* Replies as svc_reply_take, with one more header (none when header is NULL). */
enum svc_handler_result svc_reply_take_header(struct svc_request *req, unsigned status, const char *content_type,
                                              char *body, size_t len, const char *header, const char *value);
/* Replies `status` with the JSON value; takes the reference (jansson _steal convention). */
enum svc_handler_result svc_reply_json_steal(struct svc_request *req, unsigned status, json_t *body);
/* Replies with an application/problem+json body for err; detail is printf-style (may be NULL). */
enum svc_handler_result svc_reply_problem(struct svc_request *req, enum svc_error err, const char *detail, ...)
    __attribute__((format(printf, 3, 4)));
/* As svc_reply_problem, with `errors: [{field, code, message}]`; takes the reference to errors. */
enum svc_handler_result svc_reply_problem_fields(struct svc_request *req, enum svc_error err, json_t *errors,
                                                 const char *detail, ...) __attribute__((format(printf, 4, 5)));
/* Returns a new {field, code, message} object for svc_reply_problem_fields. */
json_t *svc_field_error(const char *field, const char *code, const char *message);

/* Returns a pooled connection, or NULL after replying 503 database_unavailable (Retry-After). */
db_conn *svc_req_db(struct svc_request *req);
/* Returns a connection for read-only queries of state the cache also serves (accounts, history): on
 * SPARKD_DATABASE_READ_URL's replica when it is set, else as svc_req_db; NULL after replying 503.
 * Reads that must see the caller's own writes (partner resources) use svc_req_db. */
db_conn *svc_req_db_read(struct svc_request *req);

/* Parses a JSON integer string (digits only, at most 2^256-1) into *out. On failure appends a
 * {field, code, message} entry to errors and returns false. */
#include "risk/u256.h"
bool svc_parse_u256(const char *text, const char *field, u256 *out, json_t *errors);

/* Returns true when an If-None-Match header value (may be NULL) lists etag (or is "*"). */
bool svc_etag_matches(const char *if_none_match, const char *etag);

struct state_cache;
/* Replies with the cached response for key: 200 with ETag and Cache-Control, or 304 when
 * If-None-Match matches; the reply keeps a reference to the cache until it is sent. Returns
 * SVC_HANDLED, or SVC_HANDLER_FATAL without replying when key is absent (*found = false) so the
 * caller can answer 404 or 503 itself. */
enum svc_handler_result svc_reply_cached(struct svc_request *req, struct state_cache *c, const char *key, bool *found);

#endif
