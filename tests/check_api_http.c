/* ctest-label: api */
/* The real sparkd on a free loopback port against a private PostgreSQL: the HTTP behaviour every
 * route shares (errors, request ids, HEAD, OPTIONS/CORS, metrics, keep-alive, body limits),
 * graceful shutdown, PostgreSQL restart recovery, and the command line. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_CORS_ORIGINS=https://app.example", "SPARKD_MAX_BODY_BYTES=4096",
                       NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

static json_t *body_json(const struct th_response *r) {
  json_error_t e;
  json_t *j = json_loads(r->body, 0, &e);
  ck_assert_msg(j != NULL, "not json: %s", r->body);
  return j;
}

/* Checks the RFC 9457 shape and returns the parsed body. */
static json_t *assert_problem(const struct th_response *r, int status, const char *code) {
  ck_assert_int_eq(r->status, status);
  char *ct = th_header(r, "Content-Type");
  ck_assert_ptr_nonnull(ct);
  ck_assert_str_eq(ct, "application/problem+json");
  free(ct);
  json_t *j = body_json(r);
  ck_assert_str_eq(json_string_value(json_object_get(j, "code")), code);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), status);
  ck_assert(json_is_string(json_object_get(j, "title")));
  ck_assert(json_is_string(json_object_get(j, "detail")));
  char type[128];
  snprintf(type, sizeof type, "https://sparkd.dev/problems/%s", code);
  ck_assert_str_eq(json_string_value(json_object_get(j, "type")), type);
  char *rid = th_header(r, "X-Request-Id");
  ck_assert_ptr_nonnull(rid);
  ck_assert_str_eq(json_string_value(json_object_get(j, "request_id")), rid);
  free(rid);
  return j;
}

START_TEST(healthz_and_request_id) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/healthz", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
  char *rid = th_header(&r, "X-Request-Id");
  ck_assert_ptr_nonnull(rid);
  ck_assert_uint_eq(strlen(rid), 32); /* generated: 32 hex digits (openapi X-Request-Id) */
  ck_assert_uint_eq(strspn(rid, "0123456789abcdef"), 32);
  free(rid);
  th_response_free(&r);

  ck_assert(th_http(sd.port, "GET", "/healthz", "X-Request-Id: client-abc.123\r\n", NULL, &r) == 0);
  rid = th_header(&r, "X-Request-Id");
  ck_assert_str_eq(rid, "client-abc.123"); /* a sane id is echoed */
  free(rid);
  th_response_free(&r);

  ck_assert(th_http(sd.port, "GET", "/healthz", "X-Request-Id: <script>\r\n", NULL, &r) == 0);
  rid = th_header(&r, "X-Request-Id");
  ck_assert_str_ne(rid, "<script>"); /* an insane one is replaced */
  ck_assert_uint_eq(strlen(rid), 32);
  free(rid);
  th_response_free(&r);
}
END_TEST

START_TEST(not_found_and_method_not_allowed) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/no/such/route", NULL, NULL, &r) == 0);
  json_decref(assert_problem(&r, 404, "route_not_found"));
  th_response_free(&r);

  ck_assert(th_http(sd.port, "DELETE", "/healthz", NULL, NULL, &r) == 0);
  json_decref(assert_problem(&r, 405, "method_not_allowed"));
  char *allow = th_header(&r, "Allow");
  ck_assert_str_eq(allow, "GET, HEAD, OPTIONS");
  free(allow);
  th_response_free(&r);

  ck_assert(th_http(sd.port, "GET", "/healthz/extra", NULL, NULL, &r) == 0);
  json_decref(assert_problem(&r, 404, "route_not_found"));
  th_response_free(&r);
}
END_TEST

START_TEST(head_matches_get) {
  struct th_response g, h;
  ck_assert(th_http(sd.port, "GET", "/openapi.yaml", NULL, NULL, &g) == 0);
  ck_assert_int_eq(g.status, 200);
  ck_assert(strncmp(g.body, "openapi: 3.1", 12) == 0);
  ck_assert(th_http(sd.port, "HEAD", "/openapi.yaml", NULL, NULL, &h) == 0);
  ck_assert_int_eq(h.status, 200);
  ck_assert_uint_eq(h.body_len, 0);
  char *cl = th_header(&h, "Content-Length");
  ck_assert_ptr_nonnull(cl);
  ck_assert_uint_eq((size_t)atol(cl), g.body_len);
  free(cl);
  th_response_free(&g);
  th_response_free(&h);
  /* the access log line of a HEAD counts the bytes sent: none */
  ck_assert(th_http(sd.port, "HEAD", "/openapi.yaml", "X-Request-Id: head-bytes-check-1\r\n", NULL, &h) == 0);
  ck_assert_int_eq(h.status, 200);
  th_response_free(&h);
  char line[256] = "";
  for (int i = 0; i < 40 && !line[0]; i++) {
    char *log = th_sparkd_log(&sd);
    const char *id = strstr(log, "head-bytes-check-1");
    if (id) {
      const char *start = id;
      while (start > log && start[-1] != '\n')
        start--;
      snprintf(line, sizeof line, "%.*s", (int)(id - start), start);
    }
    free(log);
    if (!line[0]) sleep_ms(25);
  }
  ck_assert_msg(line[0], "no access log line for the HEAD");
  ck_assert_msg(strstr(line, " access HEAD /openapi.yaml 200 0 ") != NULL, "HEAD logged as: %s", line);
}
END_TEST

/* /docs is an HTML page whose Redoc element loads this build's document by a relative URL, and
 * Redoc itself from this build (no CDN). */
START_TEST(docs_page) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/docs", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  char *ct = th_header(&r, "Content-Type");
  ck_assert_str_eq(ct, "text/html; charset=utf-8");
  free(ct);
  ck_assert(strncmp(r.body, "<!doctype html>", 15) == 0);
  const char *el = strstr(r.body, "<redoc spec-url=\"");
  ck_assert_ptr_nonnull(el);
  char url[64];
  ck_assert_int_eq(sscanf(el + strlen("<redoc spec-url=\""), "%63[^\"]", url), 1);
  ck_assert_msg(url[0] != '/' && !strstr(url, "://"), "spec-url %s is not relative", url);
  ck_assert_ptr_null(strstr(r.body, "://"));
  const char *script = strstr(r.body, "<script src=\"assets/redoc-");
  ck_assert_ptr_nonnull(script);
  char spath[128];
  ck_assert_int_eq(sscanf(script + strlen("<script src=\""), "%120[^\"]", spath + 1), 1);
  spath[0] = '/';
  th_response_free(&r);
  ck_assert(th_http(sd.port, "GET", spath, NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  ct = th_header(&r, "Content-Type");
  ck_assert_str_eq(ct, "text/javascript; charset=utf-8");
  free(ct);
  ck_assert_uint_gt(r.body_len, 500000); /* the standalone bundle, not a stub */
  th_response_free(&r);
  char path[80];
  snprintf(path, sizeof path, "/%s", url); /* the page is at the root: the relative URL resolves here */
  ck_assert(th_http(sd.port, "GET", path, NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  ck_assert(strncmp(r.body, "openapi: 3.1", 12) == 0);
  th_response_free(&r);
}
END_TEST

/* Returns the value of the first `attr="..."` at or after p (malloc'd), advancing *p past it. */
static char *next_attr(const char **p, const char *attr) {
  char pat[32];
  snprintf(pat, sizeof pat, " %s=\"", attr);
  const char *a = strstr(*p, pat);
  if (!a) return NULL;
  a += strlen(pat);
  const char *e = strchr(a, '"');
  ck_assert_ptr_nonnull(e);
  *p = e;
  return strndup(a, (size_t)(e - a));
}

/* /ops and every file it loads: relative URLs only, the right Content-Type, a self-only CSP, a
 * strong ETag answered with 304, cache headers by kind; an unknown asset is 404. */
START_TEST(ops_page_and_assets) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/ops", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  char *ct = th_header(&r, "Content-Type"), *csp = th_header(&r, "Content-Security-Policy"),
       *cc = th_header(&r, "Cache-Control");
  ck_assert_str_eq(ct, "text/html; charset=utf-8");
  ck_assert_str_eq(cc, "no-cache");
  ck_assert_ptr_nonnull(strstr(csp, "default-src 'none'"));
  ck_assert_ptr_nonnull(strstr(csp, "script-src 'self';"));
  ck_assert_ptr_null(strstr(csp, "unsafe")); /* no inline code, no eval on /ops */
  ck_assert_ptr_null(strstr(csp, "http"));   /* no other origin */
  free(ct);
  free(csp);
  free(cc);
  ck_assert_ptr_null(strstr(r.body, "://")); /* nothing from another origin, no absolute URL */
  ck_assert_ptr_null(strstr(r.body, "<script>"));
  /* no api key in the page: nothing shaped like one ("sk_" and 43 base64url characters) */
  for (const char *k = strstr(r.body, "sk_"); k; k = strstr(k + 1, "sk_"))
    ck_assert_msg(strspn(k + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") < 43,
                  "a key in /ops: %.46s", k);

  /* every src= and href= other than the links to the other page is one of our assets */
  int assets = 0;
  const char *attrs[] = {"src", "href"};
  for (int k = 0; k < 2; k++) {
    const char *p = r.body;
    char *v;
    while ((v = next_attr(&p, attrs[k])) != NULL) {
      if (strcmp(v, "docs") == 0 || strncmp(v, "data:", 5) == 0) {
        free(v);
        continue;
      }
      ck_assert_msg(strncmp(v, "assets/", 7) == 0, "%s=%s is not under assets/", attrs[k], v);
      char path[256];
      snprintf(path, sizeof path, "/%s", v);
      struct th_response a, b;
      ck_assert(th_http(sd.port, "GET", path, NULL, NULL, &a) == 0);
      ck_assert_msg(a.status == 200, "%s: %d", path, a.status);
      char *act = th_header(&a, "Content-Type"), *etag = th_header(&a, "ETag"), *acc = th_header(&a, "Cache-Control"),
           *nosniff = th_header(&a, "X-Content-Type-Options");
      const char *want = strstr(v, ".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
      ck_assert_str_eq(act, want);
      ck_assert_str_eq(nosniff, "nosniff");
      ck_assert_msg(etag && etag[0] == '"' && strlen(etag) == 34, "ETag %s", etag ? etag : "(none)");
      /* a name carrying a version (uplot-1.6.32...) never changes; ops.js/ops.css change per build */
      ck_assert_str_eq(acc, strstr(v, "uplot-") ? "public, max-age=31536000, immutable" : "no-cache");
      ck_assert_uint_gt(a.body_len, 100);
      char inm[96];
      snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
      ck_assert(th_http(sd.port, "GET", path, inm, NULL, &b) == 0);
      ck_assert_int_eq(b.status, 304);
      ck_assert_uint_eq(b.body_len, 0);
      char *etag2 = th_header(&b, "ETag");
      ck_assert_str_eq(etag2, etag);
      free(etag2);
      free(act);
      free(etag);
      free(acc);
      free(nosniff);
      th_response_free(&a);
      th_response_free(&b);
      free(v);
      assets++;
    }
  }
  ck_assert_int_eq(assets, 4); /* uPlot's script and css, ops.js, ops.css */
  th_response_free(&r);

  /* the page itself revalidates too */
  ck_assert(th_http(sd.port, "GET", "/ops", "If-None-Match: \"nope\", W/\"x\"\r\n", NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  char *etag = th_header(&r, "ETag");
  th_response_free(&r);
  char inm[96];
  snprintf(inm, sizeof inm, "If-None-Match: \"a\", %s\r\n", etag);
  ck_assert(th_http(sd.port, "GET", "/ops", inm, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 304);
  th_response_free(&r);
  free(etag);

  ck_assert(th_http(sd.port, "HEAD", "/assets/ops.js", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  ck_assert_uint_eq(r.body_len, 0);
  th_response_free(&r);

  const char *missing[] = {"/assets/nope.js", "/assets/ops.js.map", "/assets/%6Fps.js", "/assets/"};
  for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
    ck_assert(th_http(sd.port, "GET", missing[i], NULL, NULL, &r) == 0);
    ck_assert_msg(r.status == 404 && strstr(r.body, "\"route_not_found\""), "%s: %d %s", missing[i], r.status, r.body);
    th_response_free(&r);
  }
}
END_TEST

START_TEST(options_and_cors) {
  struct th_response r;
  ck_assert(th_http(sd.port, "OPTIONS", "/healthz",
                    "Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n", NULL, &r) == 0);
  ck_assert_int_eq(r.status, 204);
  char *allow = th_header(&r, "Allow");
  ck_assert_str_eq(allow, "GET, HEAD, OPTIONS");
  free(allow);
  char *acao = th_header(&r, "Access-Control-Allow-Origin");
  ck_assert_str_eq(acao, "https://app.example");
  free(acao);
  th_response_free(&r);

  ck_assert(th_http(sd.port, "GET", "/healthz", "Origin: https://app.example\r\n", NULL, &r) == 0);
  acao = th_header(&r, "Access-Control-Allow-Origin");
  ck_assert_str_eq(acao, "https://app.example");
  free(acao);
  th_response_free(&r);

  ck_assert(th_http(sd.port, "GET", "/healthz", "Origin: https://evil.example\r\n", NULL, &r) == 0);
  ck_assert_ptr_null(th_header(&r, "Access-Control-Allow-Origin"));
  th_response_free(&r);

  ck_assert(th_http(sd.port, "OPTIONS", "/nowhere", NULL, NULL, &r) == 0);
  json_decref(assert_problem(&r, 404, "route_not_found"));
  th_response_free(&r);
}
END_TEST

START_TEST(keep_alive) {
  struct th_conn c;
  ck_assert(th_connect(&c, sd.port) == 0);
  for (int i = 0; i < 20; i++) {
    struct th_response r;
    ck_assert_msg(th_request(&c, "GET", i % 2 ? "/healthz" : "/nope", NULL, NULL, 0, &r) == 0,
                  "request %d on one connection failed (connection closed?)", i);
    ck_assert_int_eq(r.status, i % 2 ? 200 : 404);
    th_response_free(&r);
  }
  th_close(&c);
}
END_TEST

/* Generated ids are 32 hex digits and distinct: on one kept-alive connection, across connections
 * (each may land on another worker thread), and across a restart is not checked here. */
START_TEST(request_ids_are_distinct) {
  enum { N = 300 };
  char(*ids)[33] = calloc(N, sizeof *ids);
  ck_assert_ptr_nonnull(ids);
  for (int i = 0; i < N; i++) {
    struct th_conn c;
    if (i % 100 == 0) ck_assert(th_connect(&c, sd.port) == 0);
    struct th_response r;
    ck_assert(th_request(&c, "GET", "/healthz", NULL, NULL, 0, &r) == 0);
    char *rid = th_header(&r, "X-Request-Id");
    ck_assert_ptr_nonnull(rid);
    ck_assert_uint_eq(strlen(rid), 32);
    ck_assert_uint_eq(strspn(rid, "0123456789abcdef"), 32);
    memcpy(ids[i], rid, 33);
    free(rid);
    th_response_free(&r);
    if (i % 100 == 99) th_close(&c);
  }
  for (int i = 0; i < N; i++)
    for (int j = i + 1; j < N; j++)
      ck_assert_msg(strcmp(ids[i], ids[j]) != 0, "request %d and %d share id %s", i, j, ids[i]);
  free(ids);
}
END_TEST

/* Builds a request head of exactly `total` bytes with n headers (plus Host and the filler). */
static char *big_head(const char *path, size_t total, int n) {
  char *h = malloc(total + 1);
  ck_assert_ptr_nonnull(h);
  size_t len = (size_t)snprintf(h, total + 1, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", path);
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(h + len, total + 1 - len, "X-Header-%02d: %s\r\n", i, "0123456789abcdef0123456789");
  const char *fill = "X-Fill: ";
  size_t rest = total - len - strlen(fill) - 4;
  memcpy(h + len, fill, strlen(fill));
  len += strlen(fill);
  memset(h + len, 'f', rest);
  len += rest;
  memcpy(h + len, "\r\n\r\n", 5);
  return h;
}

/* The connection memory given to libmicrohttpd bounds the request head, not the body: a 16 KB head
 * (40 headers) is served; a 32 KB head is refused with 431; a body several times the connection
 * memory is read whole up to the body limit, one byte more is 413, chunked too (answered when the
 * upload ends, with no handler error logged). */
START_TEST(request_head_and_body_sizes) {
  struct th_response r;
  char *head = big_head("/healthz", 16384, 40);
  ck_assert_uint_eq(strlen(head), 16384);
  ck_assert(th_raw(sd.port, head, strlen(head), &r) == 0);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  free(head);
  head = big_head("/healthz", 32768, 10);
  ck_assert(th_raw(sd.port, head, strlen(head), &r) == 0);
  ck_assert_int_eq(r.status, 431);
  th_response_free(&r);
  free(head);

  /* a second sparkd whose body limit is far above the connection memory */
  struct th_sparkd big;
  const char *env[] = {"SPARKD_MAX_BODY_BYTES=200000", NULL};
  ck_assert(th_sparkd_start(&big, dburl, env) == 0);
  const char *json = "{\"rate_ray\": \"1000000001547125957863212448\"}";
  size_t n = 200000;
  char *body = malloc(n + 2);
  ck_assert_ptr_nonnull(body);
  memset(body, ' ', n + 1);
  memcpy(body, json, strlen(json) - 1); /* all but the closing brace, which ends the padding */
  body[n - 1] = '}';
  body[n] = 0;
  struct th_conn c;
  ck_assert(th_connect(&c, big.port) == 0);
  ck_assert(th_request(&c, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n", body, n, &r) == 0);
  ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
  json_t *j = body_json(&r);
  ck_assert_str_eq(json_string_value(json_object_get(j, "apr_ray")), "48790164207174267760128000");
  json_decref(j);
  th_response_free(&r);
  ck_assert(th_request(&c, "GET", "/healthz", NULL, NULL, 0, &r) == 0); /* still kept alive */
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  th_close(&c);
  body[n - 1] = ' ';
  body[n] = '}';
  body[n + 1] = 0;
  ck_assert(th_http(big.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n", body, &r) == 0);
  json_decref(assert_problem(&r, 413, "body_too_large"));
  th_response_free(&r);

  /* the same body chunked (no Content-Length): 413 once it ends, and no handler error logged */
  size_t len = n + 1, cap = len + 4096, off = 0;
  char *raw = malloc(cap);
  ck_assert_ptr_nonnull(raw);
  off += (size_t)snprintf(raw, cap,
                          "POST /v1/rates/convert HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n");
  for (size_t at = 0; at < len; at += 50000) {
    size_t k = len - at < 50000 ? len - at : 50000;
    off += (size_t)snprintf(raw + off, cap - off, "%zx\r\n", k);
    memcpy(raw + off, body + at, k);
    off += k;
    memcpy(raw + off, "\r\n", 2);
    off += 2;
  }
  memcpy(raw + off, "0\r\n\r\n", 5);
  off += 5;
  ck_assert(th_raw(big.port, raw, off, &r) == 0);
  json_decref(assert_problem(&r, 413, "body_too_large"));
  th_response_free(&r);
  free(raw);
  free(body);
  char *log = th_sparkd_log(&big);
  ck_assert_msg(strstr(log, "without a reply") == NULL, "log: %s", log);
  free(log);
  th_sparkd_stop(&big);
}
END_TEST

/* The path is routed as sent: an encoded "/" must not become a separator and an encoded NUL must
 * not cut the path short, or a request reaches a route (and its auth scope and cache key) under a
 * path other than the one a proxy in front of us saw. Both are refused; other escapes in a path
 * parameter are still decoded, segment by segment, after routing. */
START_TEST(encoded_slash_and_nul_refused) {
  static const char *const bad[] = {"/v1%2Fchains",
                                    "/v1%2fchains",
                                    "/v1/chains%00.json",
                                    "/v1/chains%00",
                                    "/v1/markets/1%2Freserves",
                                    "/v1/markets/1/reserves/0x%2F..%2F..%2Fchains",
                                    "/no%2Fsuch/route"};
  struct th_response r;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert(th_http(sd.port, "GET", bad[i], NULL, NULL, &r) == 0);
    ck_assert_msg(r.status == 400, "GET %s: status %d, want 400", bad[i], r.status);
    json_decref(assert_problem(&r, 400, "invalid_path"));
    th_response_free(&r);
  }
  /* refused before the method or the scope is looked at */
  ck_assert(th_http(sd.port, "DELETE", "/v1%2Fchains", NULL, NULL, &r) == 0);
  json_decref(assert_problem(&r, 400, "invalid_path"));
  th_response_free(&r);
  ck_assert(th_http(sd.port, "GET", "/v1/partner%2Fpositions", NULL, NULL, &r) == 0);
  json_decref(assert_problem(&r, 400, "invalid_path"));
  th_response_free(&r);

  /* a literal segment is matched as sent: an escaped letter is not the route's letter */
  ck_assert(th_http(sd.port, "GET", "/v1/ch%61ins", NULL, NULL, &r) == 0);
  json_decref(assert_problem(&r, 404, "route_not_found"));
  th_response_free(&r);

  /* a path parameter is decoded after routing: %31 is the chain id 1, answered as /1 is */
  struct th_response plain;
  ck_assert(th_http(sd.port, "GET", "/v1/markets/1/reserves", NULL, NULL, &plain) == 0);
  ck_assert(th_http(sd.port, "GET", "/v1/markets/%31/reserves", NULL, NULL, &r) == 0);
  ck_assert_int_ne(r.status, 400);
  ck_assert_int_eq(r.status, plain.status);
  th_response_free(&r);
  th_response_free(&plain);
}
END_TEST

static long long metric(const char *text, const char *series) {
  const char *p = strstr(text, series);
  if (!p) return 0;
  return atoll(p + strlen(series) + 1);
}

/* Sends raw on a fresh connection and reads until the server closes it (at most 5 s); returns
 * what came back (malloc'd) and sets *closed when the server closed the connection. */
static char *exchange(const char *raw, bool *closed) {
  struct th_conn c;
  ck_assert(th_connect(&c, sd.port) == 0);
  ck_assert(write(c.fd, raw, strlen(raw)) == (ssize_t)strlen(raw));
  size_t cap = 65536, n = 0;
  char *out = calloc(1, cap);
  *closed = false;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
  for (;;) {
    ssize_t k = read(c.fd, out + n, cap - 1 - n);
    if (k == 0) {
      *closed = true;
      break;
    }
    if (k > 0) n += (size_t)k;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec >= 5 || n >= cap - 1) break;
    if (k < 0) sleep_ms(10);
  }
  out[n] = 0;
  th_close(&c);
  return out;
}

/* Returns how many responses (status lines) text holds. */
static int responses_in(const char *text) {
  int k = 0;
  for (const char *p = text; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
    k += p == text || p[-1] == '\n';
  return k;
}

START_TEST(ambiguous_length_refused_and_closed) {
  /* Each carries a second request after the first one's body as a proxy might read it; sparkd
   * must answer the first with 400 and close, never run the second. */
  static const char *const cases[] = {
      "POST /v1/rates/convert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /v1/rates/convert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0\r\n"
      "Content-Length: 37\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /v1/rates/convert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length : 37\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /v1/rates/convert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool closed;
    char *out = exchange(cases[i], &closed);
    ck_assert_msg(strncmp(out, "HTTP/1.1 400", 12) == 0, "case %zu: %.200s", i, out);
    ck_assert_msg(strstr(out, "ambiguous_framing") != NULL, "case %zu: %.400s", i, out);
    ck_assert_msg(responses_in(out) == 1, "case %zu: %d responses: %.600s", i, responses_in(out), out);
    ck_assert_msg(closed, "case %zu: the connection stayed open", i);
    free(out);
  }
  /* a plain chunked upload is still fine */
  bool closed;
  char *out = exchange("POST /v1/rates/convert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                       &closed);
  ck_assert_msg(strstr(out, "ambiguous_framing") == NULL, "%.400s", out);
  ck_assert_msg(responses_in(out) == 1, "%.400s", out);
  free(out);
}
END_TEST

/* HTTP/1.1 makes Host mandatory (RFC 9112 section 3.2): a request without one is refused in our
 * problem format; HTTP/1.0 had no such rule and is still served. */
START_TEST(http11_without_host_refused) {
  struct th_response r;
  const char *no_host = "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
  ck_assert(th_raw(sd.port, no_host, strlen(no_host), &r) == 0);
  json_decref(assert_problem(&r, 400, "host_required"));
  th_response_free(&r);
  const char *http10 = "GET /healthz HTTP/1.0\r\n\r\n";
  ck_assert(th_raw(sd.port, http10, strlen(http10), &r) == 0);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  const char *two_hosts = "GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n";
  ck_assert(th_raw(sd.port, two_hosts, strlen(two_hosts), &r) == 0);
  json_decref(assert_problem(&r, 400, "host_required"));
  th_response_free(&r);
  const char *with_host = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ck_assert(th_raw(sd.port, with_host, strlen(with_host), &r) == 0);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
}
END_TEST

/* sparkd does not decode request bodies: an encoded one is refused as such (415 naming the
 * coding), not parsed as if it were JSON and reported as malformed. */
START_TEST(encoded_body_refused) {
  static const char gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00\x43\xbf\xa6\xa3\x02\x00\x00\x00";
  const char *codings[] = {"gzip", "br", "deflate"};
  for (size_t i = 0; i < sizeof codings / sizeof codings[0]; i++) {
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Content-Type: application/json\r\nContent-Encoding: %s\r\n", codings[i]);
    struct th_conn c;
    struct th_response r;
    ck_assert(th_connect(&c, sd.port) == 0);
    ck_assert(th_request(&c, "POST", "/v1/rates/convert", hdr, gz, sizeof gz - 1, &r) == 0);
    json_t *j = assert_problem(&r, 415, "unsupported_media_type");
    const char *detail = json_string_value(json_object_get(j, "detail"));
    ck_assert_msg(strstr(detail, codings[i]) != NULL, "detail: %s", detail);
    json_decref(j);
    th_response_free(&r);
    th_close(&c);
  }
  /* identity is no encoding at all */
  struct th_response r;
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert",
                    "Content-Type: application/json\r\nContent-Encoding: identity\r\n",
                    "{\"rate_ray\": \"1000000001547125957863212448\"}", &r) == 0);
  ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
  th_response_free(&r);
}
END_TEST

/* Returns true when the sparkd binary runs on libmicrohttpd 0.9.75 (its `version` output). */
static bool on_mhd_0975(void) {
  FILE *p = popen(SPARKD_BINARY " version", "r");
  ck_assert_ptr_nonnull(p);
  char line[256];
  bool found = false;
  while (fgets(line, sizeof line, p))
    found = found || strncmp(line, "libmicrohttpd 0.9.75\n", 21) == 0;
  pclose(p);
  return found;
}

/* A Content-Length that is not a number (negative, letters, beyond 64 bits, empty) gets one 4xx,
 * the connection is closed and what follows is never run as a request. libmicrohttpd refuses these
 * itself before the access handler runs, so sparkd queues nothing of its own (no problem+json);
 * libmicrohttpd 0.9.75 then writes its error's status line and headers twice before the one body,
 * which no setting of ours avoids: on that version the second header block is checked for as
 * what it is, on any other exactly one response is required. */
START_TEST(bad_content_length_one_response) {
  static const char *const values[] = {"-1", "abc", "99999999999999999999", "1x", "+5", ""};
  /* past 2^64 - 1 libmicrohttpd answers 413 rather than 400: too large is what such a length says */
  static const char *const statuses[] = {"400", "400", "413", "400", "400", "400"};
  bool mhd_0975 = on_mhd_0975();
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char status[16];
    snprintf(status, sizeof status, "HTTP/1.1 %s", statuses[i]);
    char raw[512];
    snprintf(raw, sizeof raw,
             "POST /v1/rates/convert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %s\r\n\r\n{}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
             values[i]);
    bool closed;
    char *out = exchange(raw, &closed);
    ck_assert_msg(strncmp(out, status, 12) == 0, "Content-Length %s: %.300s", values[i], out);
    ck_assert_msg(closed, "Content-Length %s: the connection stayed open", values[i]);
    ck_assert_msg(strstr(out, "HTTP/1.1 200") == NULL, "Content-Length %s: the next request ran: %.900s", values[i],
                  out);
    ck_assert_msg(strstr(out, "problem+json") == NULL, "Content-Length %s: sparkd replied too: %.900s", values[i], out);
    if (mhd_0975) {
      const char *second = strstr(out + 1, status);
      ck_assert_msg(responses_in(out) == 2 && second && strstr(out, "\r\n\r\n") + 4 == second,
                    "Content-Length %s: not libmicrohttpd 0.9.75's doubled head: %.900s", values[i], out);
    } else {
      ck_assert_msg(responses_in(out) == 1, "Content-Length %s: %d responses: %.900s", values[i], responses_in(out),
                    out);
    }
    free(out);
  }
}
END_TEST

/* Returns true when c gets a 200 for GET /healthz, false when the server closed it unanswered. */
static bool served(struct th_conn *c) {
  struct th_response r;
  if (th_request(c, "GET", "/healthz", NULL, NULL, 0, &r) != 0) return false;
  bool ok = r.status == 200;
  th_response_free(&r);
  return ok;
}

/* Sends GET /healthz on c and waits at most ms: returns 1 when a response starts, 0 when the server
 * closed the connection, -1 when nothing came. */
static int answer_within(struct th_conn *c, long ms) {
  const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  if (write(c->fd, req, strlen(req)) != (ssize_t)strlen(req)) return 0;
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  char buf[64];
  for (long waited = 0; waited < ms; waited += 10) {
    ssize_t k = read(c->fd, buf, sizeof buf);
    if (k > 0) return 1;
    if (k == 0) return 0;
    sleep_ms(10);
  }
  return -1;
}

/* SPARKD_MAX_CONNECTIONS bounds the connections of all clients together: past it a new one is not
 * served until another closes. */
START_TEST(connections_bounded) {
  struct th_sparkd lim;
  const char *env[] = {"SPARKD_MAX_CONNECTIONS=2", "SPARKD_THREADS=1", "SPARKD_MAX_CONNECTIONS_PER_CLIENT=0", NULL};
  ck_assert(th_sparkd_start(&lim, dburl, env) == 0);
  sleep_ms(200);
  struct th_conn held[2], extra;
  for (int i = 0; i < 2; i++) {
    ck_assert(th_connect(&held[i], lim.port) == 0);
    ck_assert_msg(served(&held[i]), "connection %d not served", i);
  }
  ck_assert(th_connect(&extra, lim.port) == 0);
  ck_assert_msg(answer_within(&extra, 500) != 1, "a third connection was served past SPARKD_MAX_CONNECTIONS=2");
  th_close(&extra);
  th_close(&held[0]);
  bool ok = false;
  for (int attempt = 0; attempt < 40 && !ok; attempt++) {
    sleep_ms(25);
    ck_assert(th_connect(&extra, lim.port) == 0);
    ok = answer_within(&extra, 500) == 1;
    th_close(&extra);
  }
  ck_assert_msg(ok, "no connection served after one was closed");
  th_close(&held[1]);
  th_sparkd_stop(&lim);
}
END_TEST

/* One client address holds at most SPARKD_MAX_CONNECTIONS_PER_CLIENT connections: one more is
 * closed at once, and a slot given back is usable again. */
START_TEST(connections_per_client_bounded) {
  struct th_sparkd lim;
  const char *env[] = {"SPARKD_MAX_CONNECTIONS_PER_CLIENT=4", NULL};
  ck_assert(th_sparkd_start(&lim, dburl, env) == 0);
  sleep_ms(200); /* th_sparkd_start's own probes have closed */
  struct th_conn held[4];
  for (int i = 0; i < 4; i++) {
    ck_assert(th_connect(&held[i], lim.port) == 0);
    ck_assert_msg(served(&held[i]), "connection %d not served", i);
  }
  struct th_conn extra;
  ck_assert(th_connect(&extra, lim.port) == 0);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ck_assert_msg(!served(&extra), "a fifth connection from one address was served");
  clock_gettime(CLOCK_MONOTONIC, &t);
  ck_assert_msg(t.tv_sec - t0.tv_sec < 2, "the fifth connection was not closed at once");
  th_close(&extra);
  for (int i = 0; i < 4; i++) /* the held ones are still fine */
    ck_assert_msg(served(&held[i]), "held connection %d lost", i);
  th_close(&held[0]);
  bool ok = false;
  for (int attempt = 0; attempt < 40 && !ok; attempt++) {
    sleep_ms(25);
    ck_assert(th_connect(&extra, lim.port) == 0);
    ok = served(&extra);
    th_close(&extra);
  }
  ck_assert_msg(ok, "no connection served after one was closed");
  for (int i = 1; i < 4; i++)
    th_close(&held[i]);
  th_sparkd_stop(&lim);
}
END_TEST

/* GETs /metrics into *r until series reads at least want (or about 2 s pass): a request is counted
 * when libmicrohttpd reports it completed, which may be just after the client read the answer. */
static void metrics_when(const char *series, long long want, struct th_response *r) {
  for (int tries = 0;; tries++) {
    ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, r) == 0);
    ck_assert_int_eq(r->status, 200);
    if (tries == 40 || metric(r->body, series) >= want) return;
    th_response_free(r);
    usleep(50 * 1000);
  }
}

START_TEST(metrics_move) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  const char *ok = "sparkd_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}";
  const char *nf = "sparkd_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}";
  long long ok0 = metric(r.body, ok), nf0 = metric(r.body, nf);
  ck_assert(strstr(r.body, "sparkd_db_pool_size ") != NULL);
  ck_assert(strstr(r.body, "# TYPE sparkd_http_request_duration_seconds histogram") != NULL);
  th_response_free(&r);
  for (int i = 0; i < 3; i++) {
    ck_assert(th_http(sd.port, "GET", "/healthz", NULL, NULL, &r) == 0);
    th_response_free(&r);
  }
  ck_assert(th_http(sd.port, "GET", "/missing", NULL, NULL, &r) == 0);
  th_response_free(&r);
  /* a method the path does not take counts under the path's template, not as "unmatched" */
  const char *na = "sparkd_http_requests_total{route=\"/healthz\",method=\"DELETE\",status=\"405\"}";
  ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, &r) == 0);
  long long na0 = metric(r.body, na);
  th_response_free(&r);
  ck_assert(th_http(sd.port, "DELETE", "/healthz", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 405);
  th_response_free(&r);
  metrics_when(ok, ok0 + 3, &r); /* counters only grow: once each shows, the last read shows all */
  th_response_free(&r);
  metrics_when(nf, nf0 + 1, &r);
  th_response_free(&r);
  metrics_when(na, na0 + 1, &r);
  ck_assert_int_eq(metric(r.body, ok), ok0 + 3);
  ck_assert_int_eq(metric(r.body, nf), nf0 + 1);
  ck_assert_int_eq(metric(r.body, na), na0 + 1);
  char bucket[160];
  snprintf(bucket, sizeof bucket, "sparkd_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"}");
  ck_assert_int_ge(metric(r.body, bucket), 3);
  th_response_free(&r);
}
END_TEST

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Writes the series of one exposition line (name and its labels sorted) into out; returns false
 * for comments and blank lines. */
static bool series_key(const char *line, size_t len, char *out, size_t out_len) {
  if (len == 0 || line[0] == '#') return false;
  const char *value = line + len;
  while (value > line && value[-1] != ' ')
    value--;
  ck_assert_msg(value > line, "no value: %.*s", (int)len, line);
  size_t slen = (size_t)(value - 1 - line);
  const char *brace = memchr(line, '{', slen);
  if (!brace) {
    ck_assert(slen < out_len);
    memcpy(out, line, slen);
    out[slen] = 0;
    return true;
  }
  char labels[512];
  size_t llen = slen - (size_t)(brace - line) - 2; /* between { and } */
  ck_assert(llen < sizeof labels && line[slen - 1] == '}');
  memcpy(labels, brace + 1, llen);
  labels[llen] = 0;
  char *parts[16];
  size_t n = 0;
  for (char *p = labels; *p && n < 16;) { /* values here never hold a quote or a comma */
    parts[n++] = p;
    char *q = strchr(p, '"');
    ck_assert(q);
    q = strchr(q + 1, '"');
    ck_assert(q);
    if (q[1] == ',') {
      q[1] = 0;
      p = q + 2;
    } else {
      ck_assert(q[1] == 0);
      break;
    }
  }
  qsort(parts, n, sizeof parts[0], cmp_str);
  int w = snprintf(out, out_len, "%.*s{", (int)(brace - line), line);
  for (size_t i = 0; i < n; i++)
    w += snprintf(out + w, out_len - (size_t)w, "%s%s", i ? "," : "", parts[i]);
  snprintf(out + w, out_len - (size_t)w, "}");
  return true;
}

/* Every series appears once, so Prometheus takes the scrape: a path with two methods (GET and
 * POST /v1/partner/positions) is two series told apart by their method label, not one name twice. */
START_TEST(metrics_series_unique_per_method) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/v1/partner/positions", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 401); /* no key: still counted under the matched route */
  th_response_free(&r);
  ck_assert(th_http(sd.port, "POST", "/v1/partner/positions", "Content-Type: application/json\r\n", "{}", &r) == 0);
  ck_assert_int_eq(r.status, 401);
  th_response_free(&r);
  ck_assert(th_http(sd.port, "HEAD", "/healthz", NULL, NULL, &r) == 0);
  th_response_free(&r);
  metrics_when("sparkd_http_requests_total{route=\"/healthz\",method=\"HEAD\",status=\"200\"}", 1, &r);

  size_t cap = 256, n = 0;
  char **keys = malloc(cap * sizeof *keys);
  for (const char *line = r.body; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    char key[768];
    if (series_key(line, len, key, sizeof key)) {
      if (n == cap) keys = realloc(keys, (cap *= 2) * sizeof *keys);
      keys[n++] = strdup(key);
    }
    line += len + (end ? 1 : 0);
  }
  ck_assert_uint_gt(n, 0);
  qsort(keys, n, sizeof *keys, cmp_str);
  for (size_t i = 1; i < n; i++)
    ck_assert_msg(strcmp(keys[i - 1], keys[i]) != 0, "series twice in /metrics: %s", keys[i]);
  for (size_t i = 0; i < n; i++)
    free(keys[i]);
  free(keys);

  ck_assert_int_ge(
      metric(r.body, "sparkd_http_requests_total{route=\"/v1/partner/positions\",method=\"GET\",status=\"401\"}"), 1);
  ck_assert_int_ge(
      metric(r.body, "sparkd_http_requests_total{route=\"/v1/partner/positions\",method=\"POST\",status=\"401\"}"), 1);
  ck_assert_int_ge(metric(r.body, "sparkd_http_request_duration_seconds_count{route=\"/v1/partner/positions\","
                                  "method=\"GET\"}"),
                   1);
  ck_assert_int_ge(metric(r.body, "sparkd_http_request_duration_seconds_count{route=\"/v1/partner/positions\","
                                  "method=\"POST\"}"),
                   1);
  ck_assert_int_ge(metric(r.body, "sparkd_http_requests_total{route=\"/healthz\",method=\"HEAD\",status=\"200\"}"), 1);
  th_response_free(&r);
}
END_TEST

/* The state cache is built once at start (the listener's first connect asks for the build; it
 * used to be built twice) and /metrics says so. */
START_TEST(cache_built_once_at_start) {
  struct th_response r;
  long long gen = -1, pending = -1;
  for (int i = 0; i < 100; i++) {
    ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, &r) == 0);
    gen = metric(r.body, "\nsparkd_state_cache_generation");
    pending = metric(r.body, "\nsparkd_state_cache_pending");
    th_response_free(&r);
    if (gen > 0 && pending == 0) break;
    sleep_ms(50);
  }
  ck_assert_int_eq(pending, 0);
  ck_assert_int_eq(gen, 1);
  sleep_ms(1500); /* a second build asked for by the listener's connect would come within ms */
  ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, &r) == 0);
  ck_assert_int_eq(metric(r.body, "\nsparkd_state_cache_generation"), 1);
  th_response_free(&r);
}
END_TEST

START_TEST(body_rules) {
  struct th_response r;
  /* a route that takes no body refuses one */
  ck_assert(th_http(sd.port, "GET", "/healthz", "Content-Type: application/json\r\n", "{}", &r) == 0);
  json_decref(assert_problem(&r, 413, "body_too_large"));
  th_response_free(&r);
  /* over SPARKD_MAX_BODY_BYTES (4096 here) */
  char *big = malloc(8000);
  memset(big, ' ', 7999);
  big[0] = '{';
  big[7998] = '}';
  big[7999] = 0;
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n", big, &r) == 0);
  json_decref(assert_problem(&r, 413, "body_too_large"));
  th_response_free(&r);
  free(big);
  /* not json */
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: text/plain\r\n", "{}", &r) == 0);
  json_decref(assert_problem(&r, 415, "unsupported_media_type"));
  th_response_free(&r);
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", NULL, "{}", &r) == 0);
  json_decref(assert_problem(&r, 415, "unsupported_media_type"));
  th_response_free(&r);
  /* malformed json names line and column */
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json; charset=utf-8\r\n",
                    "{\n  \"rate_ray\": \"1\",\n  oops\n}", &r) == 0);
  json_t *j = assert_problem(&r, 400, "malformed_json");
  const char *detail = json_string_value(json_object_get(j, "detail"));
  ck_assert_msg(strstr(detail, "line 3") != NULL && strstr(detail, "column") != NULL, "detail: %s", detail);
  json_decref(j);
  th_response_free(&r);
  /* duplicate keys */
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n",
                    "{\"rate_ray\": \"1000000000000000000000000000\", \"rate_ray\": \"1\"}", &r) == 0);
  json_decref(assert_problem(&r, 400, "duplicate_json_key"));
  th_response_free(&r);
  /* unknown and mistyped fields are each named */
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n",
                    "{\"rate_ray\": 5, \"colour\": \"red\"}", &r) == 0);
  j = assert_problem(&r, 400, "validation_failed");
  json_t *errs = json_object_get(j, "errors");
  ck_assert_uint_eq(json_array_size(errs), 2);
  int seen = 0;
  for (size_t i = 0; i < json_array_size(errs); i++) {
    const char *f = json_string_value(json_object_get(json_array_get(errs, i), "field"));
    if (strcmp(f, "rate_ray") == 0) seen |= 1;
    if (strcmp(f, "colour") == 0) seen |= 2;
  }
  ck_assert_int_eq(seen, 3);
  json_decref(j);
  th_response_free(&r);
  /* a json array, an empty body */
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n", "[1]", &r) == 0);
  json_decref(assert_problem(&r, 400, "validation_failed"));
  th_response_free(&r);
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n", "", &r) == 0);
  json_decref(assert_problem(&r, 400, "malformed_json"));
  th_response_free(&r);
  /* the service is still fine */
  ck_assert(th_http(sd.port, "GET", "/healthz", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
}
END_TEST

START_TEST(rates_convert_values) {
  /* spec protocol-math §1.3: the 5% per-second rate → APR 48790164207174267760128000,
   * rpow(rate, YEAR) − RAY = 49999999999999999961070145, rtob = 500 bps */
  struct th_response r;
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n",
                    "{\"rate_ray\": \"1000000001547125957863212448\"}", &r) == 0);
  ck_assert_int_eq(r.status, 200);
  json_t *j = body_json(&r);
  ck_assert_str_eq(json_string_value(json_object_get(j, "apr_ray")), "48790164207174267760128000");
  ck_assert_str_eq(json_string_value(json_object_get(j, "apy_ray")), "49999999999999999961070145");
  ck_assert_int_eq(json_integer_value(json_object_get(j, "apy_bps")), 500);
  ck_assert_str_eq(json_string_value(json_object_get(j, "apr")), "0.048790164207174267760128000");
  json_decref(j);
  th_response_free(&r);
  /* spec §5.1 #6: _getAPY(58268908177807359323232000) = 59999999999999999957390146 */
  ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n",
                    "{\"apr_ray\": \"58268908177807359323232000\"}", &r) == 0);
  ck_assert_int_eq(r.status, 200);
  j = body_json(&r);
  ck_assert_str_eq(json_string_value(json_object_get(j, "apy_ray")), "59999999999999999957390146");
  json_decref(j);
  th_response_free(&r);
  /* rate below RAY, 2^256, both fields, neither: 400 naming the field */
  const char *bad[] = {
      "{\"rate_ray\": \"999999999999999999999999999\"}",
      "{\"rate_ray\": \"115792089237316195423570985008687907853269984665640564039457584007913129639936\"}",
      "{\"rate_ray\": \"-1\"}",
      "{\"rate_ray\": \"1e27\"}",
      "{\"rate_ray\": \"1000000001547125957863212448\", \"apr_ray\": \"1\"}",
      "{}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert(th_http(sd.port, "POST", "/v1/rates/convert", "Content-Type: application/json\r\n", bad[i], &r) == 0);
    json_t *p = assert_problem(&r, 400, "validation_failed");
    ck_assert_msg(json_array_size(json_object_get(p, "errors")) >= 1, "no field named for %s", bad[i]);
    json_decref(p);
    th_response_free(&r);
  }
}
END_TEST

START_TEST(readyz_and_postgres_restart) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/readyz", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);

  ck_assert(th_pg_pause(&pg) == 0);
  ck_assert(th_http(sd.port, "GET", "/readyz", NULL, NULL, &r) == 0);
  json_decref(assert_problem(&r, 503, "database_unavailable"));
  char *ra = th_header(&r, "Retry-After");
  ck_assert_ptr_nonnull(ra);
  free(ra);
  th_response_free(&r);
  ck_assert(th_http(sd.port, "GET", "/healthz", NULL, NULL, &r) == 0); /* the process is alive */
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);

  ck_assert(th_pg_resume(&pg) == 0);
  int status = 0;
  for (int i = 0; i < 100 && status != 200; i++) { /* recovers by itself, within 10 s */
    ck_assert(th_http(sd.port, "GET", "/readyz", NULL, NULL, &r) == 0);
    status = r.status;
    th_response_free(&r);
    if (status != 200) sleep_ms(100);
  }
  ck_assert_int_eq(status, 200);
}
END_TEST

START_TEST(graceful_shutdown_with_request_in_flight) {
  struct th_sparkd s2;
  const char *env[] = {"SPARKD_MIGRATE=auto", NULL};
  ck_assert(th_sparkd_start(&s2, dburl, env) == 0);
  struct th_conn c;
  ck_assert(th_connect(&c, s2.port) == 0);
  const char *body = "{\"rate_ray\": \"1000000001547125957863212448\"}";
  char head[256];
  int n = snprintf(head, sizeof head,
                   "POST /v1/rates/convert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n%.10s",
                   strlen(body), body);
  ck_assert(write(c.fd, head, (size_t)n) == n); /* the request has begun; its body is not complete */
  sleep_ms(200);
  kill(s2.pid, SIGTERM);
  sleep_ms(300);
  ck_assert_int_eq(waitpid(s2.pid, NULL, WNOHANG), 0); /* still draining */
  struct th_conn late;
  ck_assert_msg(th_connect(&late, s2.port) != 0, "a new connection is refused while draining");
  size_t rest = strlen(body) - 10;
  ck_assert(write(c.fd, body + 10, rest) == (ssize_t)rest);
  char buf[4096];
  ssize_t got = read(c.fd, buf, sizeof buf - 1);
  ck_assert_int_gt(got, 0);
  buf[got] = 0;
  ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "in-flight request answered: %s", buf);
  th_close(&c);
  ck_assert_int_eq(th_sparkd_stop(&s2), 0); /* exits 0 */
}
END_TEST

/* Runs the binary with env additions and args; returns its exit code, stderr in err. */
static int run_sparkd(const char *const *env, const char *const *args, char *err, size_t err_len) {
  char path[] = "/tmp/sparkd-cli-XXXXXX";
  int fd = mkstemp(path);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 2);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    for (const char *const *e = env; e && *e; e++)
      putenv(strdup(*e));
    char *argv[8] = {(char *)"sparkd"};
    int i = 1;
    for (const char *const *a = args; a && *a && i < 7; a++)
      argv[i++] = (char *)*a;
    argv[i] = NULL;
    execv(SPARKD_BINARY, argv);
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  lseek(fd, 0, SEEK_SET);
  ssize_t n = read(fd, err, err_len - 1);
  err[n > 0 ? n : 0] = 0;
  close(fd);
  unlink(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(command_line) {
  char err[4096];
  const char *bad_env[] = {"SPARKD_THREADS=lots", NULL};
  const char *serve[] = {"serve", NULL};
  ck_assert_int_eq(run_sparkd(bad_env, serve, err, sizeof err), 1);
  ck_assert_msg(strstr(err, "SPARKD_THREADS") != NULL, "stderr: %s", err);
  const char *unknown[] = {"frobnicate", NULL};
  ck_assert_int_eq(run_sparkd(NULL, unknown, err, sizeof err), 2);
  ck_assert(strstr(err, "usage") != NULL);
  const char *helps[][3] = {{"serve", "--help", NULL}, {"migrate", "--help", NULL}, {"version", "--help", NULL}};
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(run_sparkd(NULL, helps[i], err, sizeof err), 0);
  const char *version[] = {"version", NULL};
  ck_assert_int_eq(run_sparkd(NULL, version, err, sizeof err), 0);
  const char *mig_bad[] = {"migrate", "--bogus", NULL};
  ck_assert_int_eq(run_sparkd(NULL, mig_bad, err, sizeof err), 2);

  /* SPARKD_MIGRATE=check refuses to serve a database whose schema is behind */
  char fresh[1024];
  ck_assert(th_pg_create_db(&pg, fresh, sizeof fresh) == 0);
  char url_env[1100];
  snprintf(url_env, sizeof url_env, "SPARKD_DATABASE_URL=%s", fresh);
  char listen_env[64];
  snprintf(listen_env, sizeof listen_env, "SPARKD_LISTEN=127.0.0.1:%u", th_free_port());
  const char *check_env[] = {url_env, listen_env, "SPARKD_MIGRATE=check", NULL};
  ck_assert_int_eq(run_sparkd(check_env, serve, err, sizeof err), 1);
  ck_assert_msg(strstr(err, "migrate") != NULL, "stderr: %s", err);
  /* `sparkd migrate` then makes it current */
  const char *migrate[] = {"migrate", NULL};
  ck_assert_int_eq(run_sparkd(check_env, migrate, err, sizeof err), 0);
  const char *status[] = {"migrate", "--status", NULL};
  ck_assert_int_eq(run_sparkd(check_env, status, err, sizeof err), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("http");
  TCase *tc = tcase_create("api");
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, cache_built_once_at_start); /* first: nothing else has changed the state */
  tcase_add_test(tc, healthz_and_request_id);
  tcase_add_test(tc, not_found_and_method_not_allowed);
  tcase_add_test(tc, head_matches_get);
  tcase_add_test(tc, docs_page);
  tcase_add_test(tc, ops_page_and_assets);
  tcase_add_test(tc, options_and_cors);
  tcase_add_test(tc, keep_alive);
  tcase_add_test(tc, request_ids_are_distinct);
  tcase_add_test(tc, request_head_and_body_sizes);
  tcase_add_test(tc, metrics_move);
  tcase_add_test(tc, metrics_series_unique_per_method);
  tcase_add_test(tc, encoded_slash_and_nul_refused);
  tcase_add_test(tc, ambiguous_length_refused_and_closed);
  tcase_add_test(tc, http11_without_host_refused);
  tcase_add_test(tc, encoded_body_refused);
  tcase_add_test(tc, bad_content_length_one_response);
  tcase_add_test(tc, connections_per_client_bounded);
  tcase_add_test(tc, connections_bounded);
  tcase_add_test(tc, body_rules);
  tcase_add_test(tc, rates_convert_values);
  tcase_add_test(tc, graceful_shutdown_with_request_in_flight);
  tcase_add_test(tc, command_line);
  tcase_add_test(tc, readyz_and_postgres_restart); /* last: it stops and restarts PostgreSQL */
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK); /* one sparkd and one PostgreSQL for the whole suite */
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
