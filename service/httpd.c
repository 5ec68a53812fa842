/* libmicrohttpd glue: one access handler that collects the request, routes it once the upload is
 * complete (so keep-alive survives), and one completion callback that logs, counts and frees. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "db/migrate.h"
#include "partner/ltv.h"
#include "partner/margin.h"
#include "service/auth.h"
#include "service/head.h"
#include "service/heavy.h"
#include "service/metrics.h"
#include "service/request.h"
#include "service/server.h"
#include "state/cache.h"
#include "util/log.h"
#include "views/renderers.h"

/* libmicrohttpd's memory per connection: the request line and headers must fit in it (431
 * beyond), and it zeroes all of it after every request on a kept-alive connection (and half of
 * it once more while building the reply), so its size is paid per request and the default 32 KB
 * is a measurable share of a small response's cost; 20 KB still takes a 16 KB request head with
 * up to 60 headers (each header also takes a record from this memory). Bodies need not fit:
 * they are handed over and copied out as they arrive, up to the route's body limit. */
#define CONNECTION_MEMORY (20 * 1024)
/* Connections of SPARKD_HEALTH_PORT's daemon: a few probes and scrapers at a time (taken from the
 * descriptor reserve SPARKD_MAX_CONNECTIONS's default leaves). */
#define HEALTH_CONNECTIONS 16u

static bool sane_request_id(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) {
    char c = s[n];
    if (n >= 64) return false;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.' || c == ':'))
      return false;
  }
  return n > 0;
}

/* splitmix64's finalizer: a bijection of 64-bit words, so distinct inputs give distinct outputs. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* 32 hex digits, unique within and across processes: 64 random bits drawn once per thread, then
 * a bijective mix of that thread's request counter (offset by 64 more random bits). Ids need not
 * be unguessable (a client may send its own; docs and openapi promise 32 hex digits only), so the
 * CSPRNG, which costs more than the rest of a small reply, runs once per thread, not per request. */
static void new_request_id(char out[33]) {
  static _Thread_local uint64_t prefix, offset, seq;
  static _Thread_local bool seeded;
  if (!seeded) {
    uint64_t raw[2];
    if (RAND_bytes((unsigned char *)raw, sizeof raw) != 1) { /* never expected; still unique enough */
      static _Atomic uint64_t threads;
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      raw[0] = mix64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid();
      raw[1] = mix64(raw[0] + atomic_fetch_add(&threads, 1) + 1);
    }
    prefix = raw[0];
    offset = raw[1];
    seeded = true;
  }
  uint64_t words[2] = {prefix, mix64(offset + seq++)};
  static const char hex[] = "0123456789abcdef";
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < 16; i++)
      out[16 * w + i] = hex[(words[w] >> (60 - 4 * i)) & 15];
  out[32] = 0;
}

/* The head deadline (SPARKD_HEAD_TIMEOUT_MS). libmicrohttpd's own timeout restarts with every byte
 * received, so a client sending its headers a byte at a time holds a connection for ever and a
 * thousand such clients hold them all (slowloris). Each connection gets an absolute deadline by
 * which its request head must be complete; a watchdog thread shuts down the socket of one past it,
 * which libmicrohttpd sees as the client closing and cleans up itself (the descriptor is never
 * closed here: libmicrohttpd still owns it, and removes the record before closing it). The
 * deadline runs from the connection opening; after a response, the wait for the next request line
 * is bounded by SPARKD_CONNECTION_TIMEOUT_S (the idle timeout, made absolute) and that line starts
 * a fresh SPARKD_HEAD_TIMEOUT_MS for the headers. A body must then average 1 byte per ms (about
 * 1 KB/s) after a first SPARKD_HEAD_TIMEOUT_MS of grace, so a trickled upload is bounded too while
 * a large one at any usable speed is not. While a request is handled or answered there is none
 * (libmicrohttpd's idle timeout still applies). */
struct conn_watch {
  struct conn_watch *prev, *next;
  int fd;
  _Atomic int64_t deadline_ms; /* CLOCK_MONOTONIC ms; 0 = none */
  bool idle;                   /* between requests (the connection's own thread only) */
  int64_t body_start_ms;       /* when the current request's head completed (body deadline) */
};

static struct {
  pthread_mutex_t lock; /* the list; the watchdog shuts a socket down only while holding it */
  pthread_cond_t wake;
  struct conn_watch list; /* sentinel of a circular list */
  bool stop;
  pthread_t thread;
  bool running;
  int64_t head_ms, idle_ms;
} watch = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
  (void)cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct conn_watch *w = ci ? calloc(1, sizeof *w) : NULL;
    if (!w) return; /* not watched: only libmicrohttpd's idle timeout bounds it */
    w->fd = ci->connect_fd;
    atomic_store(&w->deadline_ms, now_ms() + watch.head_ms);
    pthread_mutex_lock(&watch.lock);
    w->next = watch.list.next;
    w->prev = &watch.list;
    w->next->prev = w;
    watch.list.next = w;
    pthread_mutex_unlock(&watch.lock);
    *socket_context = w;
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
    struct conn_watch *w = *socket_context;
    pthread_mutex_lock(&watch.lock);
    w->prev->next = w->next;
    w->next->prev = w->prev;
    pthread_mutex_unlock(&watch.lock);
    free(w);
    *socket_context = NULL;
  }
}

static struct conn_watch *watch_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void *watchdog(void *arg) {
  (void)arg;
  /* a tenth of the deadline between sweeps: a connection is closed at most 10% late */
  int64_t step = watch.head_ms / 10 < 50 ? 50 : watch.head_ms / 10 > 1000 ? 1000 : watch.head_ms / 10;
  pthread_mutex_lock(&watch.lock);
  while (!watch.stop) {
    int64_t now = now_ms();
    for (struct conn_watch *w = watch.list.next; w != &watch.list; w = w->next) {
      int64_t d = atomic_load(&w->deadline_ms);
      if (d && d <= now && atomic_compare_exchange_strong(&w->deadline_ms, &d, 0)) {
        shutdown(w->fd, SHUT_RDWR);
        svc_metrics_head_timeout();
      }
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(step % 1000) * 1000000L;
    until.tv_sec += step / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&watch.wake, &watch.lock, &until);
  }
  pthread_mutex_unlock(&watch.lock);
  return NULL;
}

static bool watchdog_start(const struct util_config *cfg) {
  watch.list.next = watch.list.prev = &watch.list;
  watch.head_ms = cfg->head_timeout_ms;
  watch.idle_ms = (int64_t)cfg->connection_timeout_s * 1000;
  watch.stop = false;
  watch.running = pthread_create(&watch.thread, NULL, watchdog, NULL) == 0;
  return watch.running;
}

static void watchdog_stop(void) {
  if (!watch.running) return;
  pthread_mutex_lock(&watch.lock);
  watch.stop = true;
  pthread_cond_signal(&watch.wake);
  pthread_mutex_unlock(&watch.lock);
  pthread_join(watch.thread, NULL);
  watch.running = false;
}

/* The request head is complete: a body, if one follows, gets the body deadline; otherwise there is
 * none while the request is handled and answered. */
static void watch_head_done(struct MHD_Connection *conn, bool body_follows) {
  struct conn_watch *w = watch_of(conn);
  if (!w) return;
  w->body_start_ms = now_ms();
  atomic_store(&w->deadline_ms, body_follows ? w->body_start_ms + watch.head_ms : 0);
}

/* `received` body bytes have arrived so far: each moves the deadline on by a millisecond. */
static void watch_body(struct MHD_Connection *conn, uint64_t received) {
  struct conn_watch *w = watch_of(conn);
  if (w) atomic_store(&w->deadline_ms, w->body_start_ms + watch.head_ms + (int64_t)received);
}

/* The body is complete: no deadline while the request is handled and answered. */
static void watch_body_done(struct MHD_Connection *conn) {
  struct conn_watch *w = watch_of(conn);
  if (w) atomic_store(&w->deadline_ms, 0);
}

/* A response is done: the next request line must come within the idle timeout. */
static void watch_idle(struct MHD_Connection *conn) {
  struct conn_watch *w = watch_of(conn);
  if (!w) return;
  w->idle = true;
  atomic_store(&w->deadline_ms, now_ms() + watch.idle_ms);
}

/* A request line arrived: its headers get SPARKD_HEAD_TIMEOUT_MS (the first request's deadline,
 * from the connection opening, stays). */
static void watch_request_line(struct MHD_Connection *conn) {
  struct conn_watch *w = watch_of(conn);
  if (!w || !w->idle) return;
  w->idle = false;
  atomic_store(&w->deadline_ms, now_ms() + watch.head_ms);
}

/* Returns the configured origin matching `origin` ("*" when any is allowed), or NULL. */
static const char *cors_match(const struct util_config *cfg, const char *origin) {
  if (!origin || !*cfg->cors_origins) return NULL;
  const char *p = cfg->cors_origins;
  size_t olen = strlen(origin);
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    const char *end = p;
    while (*end && *end != ',')
      end++;
    const char *tail = end;
    while (tail > p && tail[-1] == ' ')
      tail--;
    size_t n = (size_t)(tail - p);
    if (n == 1 && *p == '*') return "*";
    if (n == olen && strncasecmp(p, origin, n) == 0) return origin;
    p = end;
  }
  return NULL;
}

static bool is_json_type(const char *ct) {
  if (!ct) return false;
  while (*ct == ' ')
    ct++;
  size_t n = strlen("application/json");
  if (strncasecmp(ct, "application/json", n) != 0) return false;
  return ct[n] == 0 || ct[n] == ';' || ct[n] == ' ';
}

static enum MHD_Result find_coding(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  const char **coding = cls;
  if (strcasecmp(key, "Content-Encoding") != 0 || !value) return MHD_YES;
  while (*value == ' ' || *value == '\t')
    value++;
  size_t n = strlen(value);
  while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
    n--;
  if (n == strlen("identity") && strncasecmp(value, "identity", n) == 0) return MHD_YES;
  *coding = value;
  return MHD_NO;
}

/* Returns the first Content-Encoding other than identity, or NULL. sparkd does not decode bodies,
 * so an encoded one must be refused as such rather than parsed as JSON and called malformed. */
static const char *body_coding(struct MHD_Connection *conn) {
  const char *coding = NULL;
  MHD_get_connection_values(conn, MHD_HEADER_KIND, find_coding, &coding);
  return coding;
}

static enum svc_handler_result reply_options(struct svc_request *req) {
  struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!r) return SVC_HANDLER_FATAL;
  char allow[128];
  svc_allow_header(req->match.allow, allow, sizeof allow);
  MHD_add_response_header(r, "Allow", allow);
  if (req->cors_origin) {
    MHD_add_response_header(r, "Access-Control-Allow-Methods", allow);
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, If-None-Match, Idempotency-Key, X-Request-Id");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    MHD_add_response_header(r, "Access-Control-Allow-Origin", req->cors_origin);
    if (strcmp(req->cors_origin, "*") != 0) MHD_add_response_header(r, "Vary", "Origin");
  }
  MHD_add_response_header(r, "X-Request-Id", req->request_id);
  enum MHD_Result ok = MHD_queue_response(req->conn, 204, r);
  MHD_destroy_response(r);
  if (ok != MHD_YES) return SVC_HANDLER_FATAL;
  req->replied = true;
  req->status = 204;
  return SVC_HANDLED;
}

/* Returns true when the route's scope lets the request through (once per request). */
static bool authenticate(struct svc_request *req) {
  req->auth_done = true;
  return svc_auth_request(req);
}

/* The query string as the handlers will read it: each parameter at most once and without a NUL
 * byte. libmicrohttpd's lookup returns the first of repeated parameters (`paths=100&paths=100000`:
 * a proxy, cache or log that reads the last one sees another request than the handler), and a
 * decoded %00 cuts a value short where the handler reads it (`paths=100%00junk` read as 100). */
#define QUERY_MAX_PARAMS 64
struct query_scan {
  size_t n;
  const char *key[QUERY_MAX_PARAMS];
  size_t key_len[QUERY_MAX_PARAMS];
  const char *bad_key; /* the first refused parameter's name */
  size_t bad_key_len;
  const char *why;
};

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
                                size_t value_size) {
  (void)kind;
  struct query_scan *q = cls;
  const char *why = NULL;
  if (memchr(key, 0, key_size) || (value && memchr(value, 0, value_size))) why = "holds a NUL byte (%00)";
  for (size_t i = 0; !why && i < q->n; i++)
    if (q->key_len[i] == key_size && memcmp(q->key[i], key, key_size) == 0) why = "is given more than once";
  if (!why && q->n == QUERY_MAX_PARAMS) why = "is one query parameter too many (at most 64)";
  if (why) {
    q->bad_key = key;
    q->bad_key_len = key_size;
    q->why = why;
    return MHD_NO;
  }
  q->key[q->n] = key;
  q->key_len[q->n++] = key_size;
  return MHD_YES;
}

/* Answers 400 bad_query_parameter naming the first refused parameter; false when the query is fine. */
static bool query_refused(struct svc_request *req) {
  struct query_scan q = {0};
  MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, scan_arg, &q);
  if (!q.why) return false;
  char name[65]; /* printable ASCII only: the name is echoed in the problem document */
  size_t n = 0;
  for (size_t i = 0; i < q.bad_key_len && n + 1 < sizeof name; i++)
    name[n++] = q.bad_key[i] > 0x20 && q.bad_key[i] < 0x7f ? q.bad_key[i] : '?';
  name[n] = 0;
  svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, json_pack("[o]", svc_field_error(name, "invalid", q.why)),
                           "query parameter %s %s", name, q.why);
  return true;
}

/* Decides 400 (path)/404/405/OPTIONS/401/403/429/413/415 (type or encoding), then calls the route's handler. */
static void dispatch(struct svc_request *req) {
  enum svc_handler_result res;
  bool options = strcmp(req->method, "OPTIONS") == 0;
  const char *coding = NULL;
  if (req->path_refused) {
    res = svc_reply_problem(req, SVC_ERR_invalid_path, "the path holds an encoded \"/\" or NUL byte");
  } else if (!req->match.path_exists) {
    res = svc_reply_problem(req, SVC_ERR_route_not_found, "no route for %s", req->path);
  } else if (options) {
    res = reply_options(req);
  } else if (!req->match.route) {
    res = svc_reply_problem(req, SVC_ERR_method_not_allowed, "%s is not allowed on this route", req->method);
  } else if (!req->auth_done && !authenticate(req)) {
    res = req->replied ? SVC_HANDLED : SVC_HANDLER_FATAL; /* 401, 403, 429 or 503 */
  } else if (req->body_too_large) {
    res = req->body_limit == 0
              ? svc_reply_problem(req, SVC_ERR_body_too_large, "this route takes no request body")
              : svc_reply_problem(req, SVC_ERR_body_too_large, "the body is larger than %zu bytes", req->body_limit);
  } else if (req->match.route->body_limit && !is_json_type(svc_req_header(req, "Content-Type"))) {
    res = svc_reply_problem(req, SVC_ERR_unsupported_media_type, "send the body as application/json");
  } else if (req->match.route->body_limit && (coding = body_coding(req->conn)) != NULL) {
    res =
        svc_reply_problem(req, SVC_ERR_unsupported_media_type,
                          "the body is encoded as %.40s; send it unencoded (Content-Encoding is not decoded)", coding);
  } else if (req->after_shutdown) {
    res = svc_reply_problem(req, SVC_ERR_shutting_down, "the service is shutting down");
  } else if (query_refused(req)) {
    res = SVC_HANDLED;
  } else {
    res = req->match.route->handler(req);
    svc_heavy_leave(req); /* the computation is over once the handler returns; the reply is only sent */
  }
  if (res != SVC_HANDLED && !req->replied) {
    util_log(UTIL_LOG_ERROR, "request %s: handler for %s %s failed without a reply", req->request_id, req->method,
             req->path);
    svc_reply_problem(req, SVC_ERR_internal_error, "the request could not be completed");
  }
}

/* libmicrohttpd hands the access handler a path it has already percent-decoded, and neither %2F
 * nor %00 survives that; this callback sees the request target as sent, so the request struct is
 * made here with the raw path (the access handler gets it as *con_cls). */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn) {
  watch_request_line(conn);
  struct svc_request *req = calloc(1, sizeof *req);
  if (!req) return NULL;
  svc_head_raw_path(uri, req->path, sizeof req->path);
  req->health_only = cls != NULL; /* the health daemon's callback is given a non-NULL cls */
  return req;
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  svc_framing_add(cls, key, value);
  return MHD_YES;
}

/* Returns why the body's length could be read two ways (service/head.h), or NULL; sets *hosts to
 * the number of Host headers. */
static const char *ambiguous_framing(struct MHD_Connection *conn, unsigned *hosts) {
  struct svc_framing f = SVC_FRAMING_INIT;
  MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
  *hosts = f.host;
  return svc_framing_refused(&f);
}

/* The routes SPARKD_HEALTH_PORT serves. */
static bool is_health_path(const char *path) {
  return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 || strcmp(path, "/metrics") == 0;
}

/* Starts a request made by uri_logged: request id, framing and Host checks, route, CORS, body limit. */
static void begin(struct svc_server *srv, struct MHD_Connection *conn, struct svc_request *req, const char *method,
                  const char *version) {
  req->begun = true;
  atomic_fetch_add(&srv->inflight, 1);
  clock_gettime(CLOCK_MONOTONIC, &req->start);
  req->conn = conn;
  req->srv = srv;
  req->method = method;
  req->after_shutdown = atomic_load(&srv->shutting_down);
  const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
  if (rid && sane_request_id(rid))
    snprintf(req->request_id, sizeof req->request_id, "%s", rid);
  else
    new_request_id(req->request_id);
  unsigned hosts;
  req->framing_refused = ambiguous_framing(conn, &hosts);
  req->host_refused = svc_head_host_refused(version, hosts);
  req->path_refused = svc_head_path_refused(req->path);
  if (!req->path_refused) svc_route_match(method, req->path, &req->match);
  if (req->health_only && req->match.path_route && !is_health_path(req->match.path_route->path))
    memset(&req->match, 0, sizeof req->match); /* answered 404 route_not_found */
  if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0)
    req->cors_origin = cors_match(&srv->cfg, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"));
  const struct svc_route *rt = req->match.route;
  req->body_limit = rt ? (rt->body_limit == SIZE_MAX ? srv->cfg.max_body_bytes : rt->body_limit) : 0;
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
  if (cl && rt) {
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    if (*end == 0 && n > req->body_limit) req->body_too_large = true;
  }
  const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
  watch_head_done(conn, (cl && strcmp(cl, "0") != 0) || te);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
  struct svc_server *srv = cls;
  struct svc_request *req = *con_cls;
  (void)url;               /* decoded: routing uses the raw path uri_logged kept */
  if (!req) return MHD_NO; /* uri_logged could not allocate */
  if (!req->begun) {
    begin(srv, conn, req, method, version);
    if (req->framing_refused) { /* answered before any body is read, and the connection closed */
      req->close_after = true;
      svc_reply_problem(req, SVC_ERR_ambiguous_framing, "%s", req->framing_refused);
      return MHD_YES;
    }
    if (req->host_refused) { /* as early: a body, if any, is discarded */
      svc_reply_problem(req, SVC_ERR_host_required, "%s", req->host_refused);
      return MHD_YES;
    }
    if (req->body_too_large && req->match.route) { /* refuse now rather than read a huge body */
      dispatch(req);
      return MHD_YES;
    }
    if (req->match.route && req->match.route->scope != SVC_SCOPE_PUBLIC && req->match.route->body_limit &&
        strcmp(method, "OPTIONS") != 0) {
      /* check the key before reading a body: a refused upload is discarded */
      if (!authenticate(req) && !req->replied) return MHD_NO;
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    req->body_received += n;
    watch_body(conn, req->body_received);
    if (req->replied || req->body_too_large) return MHD_YES;
    if (n > req->body_limit - req->body_len || !req->match.route) {
      /* The rest is discarded; the 413 goes out when the upload ends (a chunked body: one with a
       * Content-Length was refused before any of it arrived). libmicrohttpd refuses a response
       * queued in the middle of a chunked upload, which logged a bogus "failed without a reply". */
      req->body_too_large = req->match.route != NULL;
      return MHD_YES;
    }
    if (req->body_len + n + 1 > req->body_cap) {
      size_t cap = req->body_cap ? req->body_cap : 4096;
      while (cap < req->body_len + n + 1)
        cap *= 2;
      char *p = realloc(req->body, cap);
      if (!p) return MHD_NO;
      req->body = p;
      req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, upload_data, n);
    req->body_len += n;
    req->body[req->body_len] = 0;
    return MHD_YES;
  }
  watch_body_done(conn);
  if (!req->replied) dispatch(req);
  return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  struct svc_server *srv = cls;
  struct svc_request *req = *con_cls;
  watch_idle(conn);
  if (!req) return;
  if (!req->begun) { /* refused by libmicrohttpd before the access handler saw it (e.g. 431) */
    free(req);
    *con_cls = NULL;
    return;
  }
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t us =
      (uint64_t)(now.tv_sec - req->start.tv_sec) * 1000000u + (uint64_t)((now.tv_nsec - req->start.tv_nsec) / 1000);
  /* a 405 or OPTIONS counts under its path's template; only a path no route has is "unmatched" */
  const struct svc_route *rt = req->match.route ? req->match.route : req->match.path_route;
  int route_index = rt ? (int)(rt - svc_routes) : -1;
  svc_metrics_observe(route_index, req->method, req->status, us);
  const char *tpl = rt ? rt->path : "unmatched";
  util_log_access(req->method, tpl, req->status, (unsigned long long)req->bytes, (unsigned long long)us,
                  req->request_id);
  svc_heavy_leave(req); /* a no-op: dispatch gave the place back; never leak one */
  free(req->body);
  free(req);
  *con_cls = NULL;
  atomic_fetch_sub(&srv->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = 0;
  util_log(UTIL_LOG_WARN, "http: %s", msg);
}

static void db_logger(int level, const char *msg) {
  util_log((enum util_log_level)level, "db: %s", msg); /* DB_LOG_* numbers match enum util_log_level */
}

/* Applies or checks migrations as SPARKD_MIGRATE says; returns false when serving must not start. */
static bool prepare_schema(struct svc_server *srv) {
  char err[512];
  if (srv->cfg.migrate == UTIL_MIGRATE_AUTO) {
    unsigned applied = 0;
    if (db_migrate_apply(srv->cfg.database_url, &applied, err, sizeof err) != 0) {
      util_log(UTIL_LOG_ERROR, "migrate: %s", err);
      return false;
    }
    util_log(UTIL_LOG_INFO, "migrate: %u migration(s) applied", applied);
    return true;
  }
  db_schema_state st = db_schema_check(srv->pool, err, sizeof err);
  switch (st) {
  case DB_SCHEMA_CURRENT: return true;
  case DB_SCHEMA_UNKNOWN:
    util_log(UTIL_LOG_WARN, "database not reachable at start (%s); serving, /readyz reports 503 until it is", err);
    return true;
  default:
    util_log(UTIL_LOG_ERROR, "database schema not current: %s; run `sparkd migrate` or set SPARKD_MIGRATE=auto", err);
    return false;
  }
}

static bool resolve_listen(const struct util_config *cfg, unsigned listen_port, struct sockaddr_storage *ss,
                           socklen_t *sl, int *family) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  char port[8];
  snprintf(port, sizeof port, "%u", listen_port);
  int rc = getaddrinfo(*cfg->listen_host ? cfg->listen_host : NULL, port, &hints, &res);
  if (rc != 0 || !res) {
    util_log(UTIL_LOG_ERROR, "SPARKD_LISTEN: cannot resolve %s: %s", cfg->listen_host, gai_strerror(rc));
    return false;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *sl = res->ai_addrlen;
  *family = res->ai_family;
  freeaddrinfo(res);
  return true;
}

/* Closes the pools (the read pool is the primary's when no replica is configured). */
static void destroy_pools(struct svc_server *srv) {
  if (srv->read_pool && srv->read_pool != srv->pool) db_pool_destroy(srv->read_pool);
  db_pool_destroy(srv->pool);
  srv->read_pool = srv->pool = NULL;
}

int svc_serve(struct svc_server *srv) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread started below inherits this */
  signal(SIGPIPE, SIG_IGN);

  db_set_logger(db_logger);
  svc_auth_configure(srv->cfg.auth_fail_burst, srv->cfg.auth_fail_refill_ms);
  {
    /* waiters hold worker threads too: at least one thread is never held by a heavy route */
    unsigned t = srv->cfg.threads, h = srv->cfg.heavy_concurrency;
    svc_heavy_configure(h, srv->cfg.heavy_wait_ms, t > h + 1 ? t - h - 1 : 0);
    if (h >= t)
      util_log(
          UTIL_LOG_WARN,
          "SPARKD_HEAVY_CONCURRENCY=%u is not below SPARKD_THREADS=%u: heavy requests can hold every worker thread", h,
          t);
  }
  srv->pool = db_pool_create(srv->cfg.database_url, srv->cfg.threads);
  if (!srv->pool) {
    util_log(UTIL_LOG_ERROR, "SPARKD_DATABASE_URL: not a usable connection string");
    return 1;
  }
  srv->read_pool = srv->pool;
  if (srv->cfg.database_read_url[0]) {
    srv->read_pool = db_pool_create(srv->cfg.database_read_url, srv->cfg.threads);
    if (!srv->read_pool) {
      util_log(UTIL_LOG_ERROR, "SPARKD_DATABASE_READ_URL: not a usable connection string");
      db_pool_destroy(srv->pool);
      return 1;
    }
    util_log(UTIL_LOG_INFO, "the state cache and read-only queries use the replica of SPARKD_DATABASE_READ_URL");
  }
  if (!prepare_schema(srv)) {
    destroy_pools(srv);
    return 1;
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  int family;
  if (!resolve_listen(&srv->cfg, srv->cfg.listen_port, &ss, &sl, &family)) {
    destroy_pools(srv);
    return 1;
  }
  srv->started_at = time(NULL);
  if (!state_cache_start(srv->read_pool, &srv->cfg, view_renderers, view_renderers_count)) {
    util_log(UTIL_LOG_ERROR, "cannot start the state cache threads");
    destroy_pools(srv);
    return 1;
  }
  /* without it every margin read goes to the database: slower, never wrong */
  if (!partner_margin_memo_start(srv->cfg.database_url))
    util_log(UTIL_LOG_WARN, "margin: cannot start the listeners; margin reads go to the database");
  if (!partner_ltv_start(srv->pool, &srv->cfg)) {
    partner_ltv_stop();
    partner_margin_memo_stop();
    state_cache_stop();
    destroy_pools(srv);
    return 1;
  }
  if (!watchdog_start(&srv->cfg)) {
    util_log(UTIL_LOG_ERROR, "cannot start the connection watchdog thread");
    partner_ltv_stop();
    partner_margin_memo_stop();
    state_cache_stop();
    destroy_pools(srv);
    return 1;
  }
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (family == AF_INET6) flags |= MHD_USE_IPv6;
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, (uint16_t)srv->cfg.listen_port, NULL, NULL, access_handler, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, srv->cfg.threads,
      MHD_OPTION_NOTIFY_COMPLETED, completed, srv, MHD_OPTION_URI_LOG_CALLBACK, uri_logged, NULL,
      MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
      srv->cfg.connection_timeout_s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT, srv->cfg.max_connections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->cfg.max_connections_per_client, MHD_OPTION_END);
  if (!d) {
    util_log(UTIL_LOG_ERROR, "cannot listen on %s:%u: %s", srv->cfg.listen_host, srv->cfg.listen_port, strerror(errno));
    watchdog_stop();
    partner_ltv_stop();
    partner_margin_memo_stop();
    state_cache_stop();
    destroy_pools(srv);
    return 1;
  }
  /* The reserve for probes: a flood that holds every connection of the API port (up to
   * SPARKD_MAX_CONNECTIONS) cannot reach this daemon's own thread and connections. No per-address
   * bound: probes and scrapers come from few addresses, and HEALTH_CONNECTIONS bounds them all. */
  struct MHD_Daemon *hd = NULL;
  if (srv->cfg.health_port) {
    struct sockaddr_storage hss;
    socklen_t hsl;
    int hfamily;
    if (resolve_listen(&srv->cfg, srv->cfg.health_port, &hss, &hsl, &hfamily)) {
      unsigned hflags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
      if (hfamily == AF_INET6) hflags |= MHD_USE_IPv6;
      hd = MHD_start_daemon(hflags, (uint16_t)srv->cfg.health_port, NULL, NULL, access_handler, srv,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&hss,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, srv, MHD_OPTION_URI_LOG_CALLBACK, uri_logged,
                            (void *)1, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, srv->cfg.connection_timeout_s,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT, HEALTH_CONNECTIONS, MHD_OPTION_END);
    }
    if (!hd) {
      util_log(UTIL_LOG_ERROR, "SPARKD_HEALTH_PORT: cannot listen on %s:%u: %s", srv->cfg.listen_host,
               srv->cfg.health_port, strerror(errno));
      MHD_stop_daemon(d);
      watchdog_stop();
      partner_ltv_stop();
      partner_margin_memo_stop();
      state_cache_stop();
      destroy_pools(srv);
      return 1;
    }
    util_log(UTIL_LOG_INFO, "health port %s:%u serves /healthz, /readyz and /metrics", srv->cfg.listen_host,
             srv->cfg.health_port);
  }
  util_log(UTIL_LOG_INFO, "listening on %s:%u with %u threads", srv->cfg.listen_host, srv->cfg.listen_port,
           srv->cfg.threads);

  int sig = 0;
  sigwait(&sigs, &sig);
  util_log(UTIL_LOG_INFO, "signal %d: draining in-flight requests (at most %u ms)", sig, srv->cfg.shutdown_grace_ms);
  atomic_store(&srv->shutting_down, true);
  MHD_socket lsock = MHD_quiesce_daemon(d);      /* stop accepting; open connections finish */
  if (lsock != MHD_INVALID_SOCKET) close(lsock); /* new connections are refused, not queued */
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (atomic_load(&srv->inflight) == 0) break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms >= (long)srv->cfg.shutdown_grace_ms) {
      util_log(UTIL_LOG_WARN, "%d request(s) still in flight after the grace period", atomic_load(&srv->inflight));
      break;
    }
    usleep(10000);
  }
  watchdog_stop();
  MHD_stop_daemon(d);
  if (hd) MHD_stop_daemon(hd); /* probes answered until the API port is closed */
  partner_ltv_stop();
  partner_margin_memo_stop();
  state_cache_stop();
  destroy_pools(srv);
  util_log(UTIL_LOG_INFO, "stopped");
  return 0;
}
