#include "service/request.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "service/server.h"
#include "state/cache.h"
#include "util/hex.h"
#include "util/log.h"

const char *svc_req_param(struct svc_request *req, const char *name, char *buf, size_t len) {
  size_t nlen = strlen(name);
  for (unsigned i = 0; i < req->match.nparams; i++) {
    if (req->match.params[i].name_len != nlen || memcmp(req->match.params[i].name, name, nlen) != 0) continue;
    /* one segment of the raw path: %HH is decoded here, after routing, so an escape never changes
     * which route matched; an invalid escape is kept as sent (as libmicrohttpd's decoder does) */
    const char *v = req->match.params[i].value;
    size_t vlen = req->match.params[i].value_len, n = 0;
    for (size_t k = 0; k < vlen; k++) {
      if (n + 1 >= len) return NULL;
      int hi, lo;
      if (v[k] == '%' && k + 2 < vlen && (hi = util_hexval(v[k + 1])) >= 0 && (lo = util_hexval(v[k + 2])) >= 0) {
        buf[n++] = (char)(hi << 4 | lo);
        k += 2;
      } else {
        buf[n++] = v[k];
      }
    }
    buf[n] = 0;
    return buf;
  }
  return NULL;
}

const char *svc_req_query(struct svc_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *svc_req_header(struct svc_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct header_count {
  const char *name;
  unsigned n;
};
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  (void)value;
  struct header_count *h = cls;
  if (strcasecmp(key, h->name) == 0) h->n++;
  return MHD_YES;
}

unsigned svc_req_header_count(struct svc_request *req, const char *name) {
  struct header_count h = {name, 0};
  MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_header, &h);
  return h.n;
}

/* Adds the headers every response carries, queues it, and records status and size. */
enum svc_handler_result svc_queue_response(struct svc_request *req, unsigned status, struct MHD_Response *resp,
                                           size_t len) {
  if (!resp) return SVC_HANDLER_FATAL;
  if (req->replied) {
    UTIL_BUG("second reply to request %s", req->request_id);
    MHD_destroy_response(resp);
    return SVC_HANDLED;
  }
  MHD_add_response_header(resp, "X-Request-Id", req->request_id);
  /* replies echo parts of the request (a path in a 404's detail, a field name): never let a
   * browser sniff one into HTML */
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  if (req->cors_origin) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", req->cors_origin);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id, ETag, Retry-After");
    if (strcmp(req->cors_origin, "*") != 0) MHD_add_response_header(resp, "Vary", "Origin");
  }
  if (req->close_after || atomic_load(&req->srv->shutting_down)) MHD_add_response_header(resp, "Connection", "close");
  enum MHD_Result ok = MHD_queue_response(req->conn, status, resp);
  MHD_destroy_response(resp);
  if (ok != MHD_YES) return SVC_HANDLER_FATAL;
  req->replied = true;
  req->status = status;
  req->bytes = strcmp(req->method, "HEAD") == 0 ? 0 : len; /* what the access log says was sent */
  return SVC_HANDLED;
}

static struct MHD_Response *typed(struct MHD_Response *resp, const char *content_type) {
  if (resp && content_type) MHD_add_response_header(resp, "Content-Type", content_type);
  return resp;
}

enum svc_handler_result svc_reply_static(struct svc_request *req, unsigned status, const char *content_type,
                                         const void *body, size_t len) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
  return svc_queue_response(req, status, typed(r, content_type), len);
}

enum svc_handler_result svc_reply_copy(struct svc_request *req, unsigned status, const char *content_type,
                                       const void *body, size_t len) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  return svc_queue_response(req, status, typed(r, content_type), len);
}

enum svc_handler_result svc_reply_take(struct svc_request *req, unsigned status, const char *content_type, char *body,
                                       size_t len) {
  struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
  if (!r) {
    free(body);
    return SVC_HANDLER_FATAL;
  }
  return svc_queue_response(req, status, typed(r, content_type), len);
}

enum svc_handler_result svc_reply_take_header(struct svc_request *req, unsigned status, const char *content_type,
                                              char *body, size_t len, const char *header, const char *value) {
  struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
  if (!r) {
    free(body);
    return SVC_HANDLER_FATAL;
  }
  if (header) MHD_add_response_header(r, header, value);
  return svc_queue_response(req, status, typed(r, content_type), len);
}

enum svc_handler_result svc_reply_json_steal(struct svc_request *req, unsigned status, json_t *body) {
  if (!body) return SVC_HANDLER_FATAL;
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text) return SVC_HANDLER_FATAL;
  return svc_reply_take(req, status, "application/json", text, strlen(text));
}

json_t *svc_field_error(const char *field, const char *code, const char *message) {
  return json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message);
}

static enum svc_handler_result problem(struct svc_request *req, enum svc_error err, json_t *errors, const char *fmt,
                                       va_list ap) {
  char detail[1024];
  if (fmt)
    vsnprintf(detail, sizeof detail, fmt, ap);
  else
    snprintf(detail, sizeof detail, "%s", svc_error_title(err));
  char type[128];
  snprintf(type, sizeof type, "https://sparkd.dev/problems/%s", svc_error_code(err));
  unsigned status = svc_error_status(err);
  json_t *body = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", type, "title", svc_error_title(err), "status",
                           (int)status, "detail", detail, "code", svc_error_code(err), "request_id", req->request_id);
  if (!body) {
    json_decref(errors);
    return SVC_HANDLER_FATAL;
  }
  if (errors) json_object_set_new(body, "errors", errors);
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text) return SVC_HANDLER_FATAL;
  size_t len = strlen(text);
  struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, text, free);
  if (!r) {
    free(text);
    return SVC_HANDLER_FATAL;
  }
  MHD_add_response_header(r, "Content-Type", "application/problem+json");
  if (err == SVC_ERR_method_not_allowed) {
    char allow[128];
    MHD_add_response_header(r, "Allow", svc_allow_header(req->match.allow, allow, sizeof allow));
  }
  if (status == 503) MHD_add_response_header(r, "Retry-After", "1");
  if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
  if (status == 429) {
    char ra[16];
    snprintf(ra, sizeof ra, "%u", req->retry_after_s ? req->retry_after_s : 1);
    MHD_add_response_header(r, "Retry-After", ra);
  }
  return svc_queue_response(req, status, r, len);
}

enum svc_handler_result svc_reply_problem(struct svc_request *req, enum svc_error err, const char *detail, ...) {
  va_list ap;
  va_start(ap, detail);
  enum svc_handler_result res = problem(req, err, NULL, detail, ap);
  va_end(ap);
  return res;
}

enum svc_handler_result svc_reply_problem_fields(struct svc_request *req, enum svc_error err, json_t *errors,
                                                 const char *detail, ...) {
  va_list ap;
  va_start(ap, detail);
  enum svc_handler_result res = problem(req, err, errors, detail, ap);
  va_end(ap);
  return res;
}

db_conn *svc_req_db(struct svc_request *req) {
  db_conn *c = db_acquire(req->srv->pool, req->srv->cfg.db_wait_ms);
  if (!c) svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached; retry shortly");
  return c;
}

db_conn *svc_req_db_read(struct svc_request *req) {
  db_pool *p = req->srv->read_pool ? req->srv->read_pool : req->srv->pool;
  db_conn *c = db_acquire(p, req->srv->cfg.db_wait_ms);
  if (!c) svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached; retry shortly");
  return c;
}

bool svc_parse_u256(const char *text, const char *field, u256 *out, json_t *errors) {
  switch (u256_from_dec(out, text, strlen(text))) {
  case RISK_OK: return true;
  case RISK_OVERFLOW:
    json_array_append_new(errors, svc_field_error(field, "out_of_range", "must be at most 2^256-1"));
    return false;
  default:
    json_array_append_new(errors, svc_field_error(field, "not_an_integer", "must be a string of decimal digits"));
    return false;
  }
}

static void release_cb(void *cls) { state_cache_release(cls); }

bool svc_etag_matches(const char *inm, const char *etag) {
  if (!inm) return false;
  size_t n = strlen(etag);
  for (const char *p = inm; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    if (*p == '*') return true;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    if (strncmp(p, etag, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' ')) return true;
    while (*p && *p != ',')
      p++;
  }
  return false;
}

enum svc_handler_result svc_reply_cached(struct svc_request *req, struct state_cache *c, const char *key, bool *found) {
  const struct state_item *it = state_cache_get(c, key);
  *found = it && it->body;
  if (!*found) return SVC_HANDLER_FATAL;
  bool not_modified = svc_etag_matches(svc_req_header(req, "If-None-Match"), it->etag);
  struct MHD_Response *r;
  if (not_modified) {
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  } else {
    state_cache_retain(c); /* held by the response until MHD destroys it */
    r = MHD_create_response_from_buffer_with_free_callback_cls(it->len, (void *)it->body, release_cb, c);
    if (!r) {
      state_cache_release(c);
      return SVC_HANDLER_FATAL;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
  }
  if (!r) return SVC_HANDLER_FATAL;
  MHD_add_response_header(r, "ETag", it->etag);
  char cc[64];
  snprintf(cc, sizeof cc, "public, max-age=%u", req->srv->cfg.cache_max_age_s);
  MHD_add_response_header(r, "Cache-Control", cc);
  return svc_queue_response(req, not_modified ? 304 : 200, r, not_modified ? 0 : it->len);
}

/* ---- methods (the route table's bits, as the replies name them) ---- */

const char *svc_method_name(enum svc_method m) {
  switch (m) {
  case SVC_GET: return "GET";
  case SVC_POST: return "POST";
  case SVC_PUT: return "PUT";
  case SVC_PATCH: return "PATCH";
  case SVC_DELETE: return "DELETE";
  }
  return "?";
}

char *svc_allow_header(unsigned allow, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = 0;
  static const enum svc_method order[] = {SVC_GET, SVC_POST, SVC_PUT, SVC_PATCH, SVC_DELETE};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    if (!(allow & order[i])) continue;
    n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? ", " : "", svc_method_name(order[i]));
    if (order[i] == SVC_GET) n += (size_t)snprintf(buf + n, n < len ? len - n : 0, ", HEAD");
  }
  snprintf(buf + n, n < len ? len - n : 0, "%sOPTIONS", n ? ", " : "");
  return buf;
}
