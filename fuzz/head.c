/* The request head and routing, without a socket: the input is a request head as a client sends
 * it ("METHOD target VERSION", then "Name: value" lines). It is split the way libmicrohttpd hands
 * it to sparkd (value trimmed of blanks), then goes through what httpd.c's begin() does with it:
 * the raw path, the %2F/%00 refusal, the framing and Host checks, the route table, and the path
 * parameters' decoding that handlers use. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "fuzz/fuzz.h"
#include "service/head.h"
#include "service/request.h"
#include "service/router.h"

#define MAX_HEADERS 64

/* Returns the next line of *p (NUL-terminated in place, "\r\n" or "\n" ended), or NULL at the end. */
static char *next_line(char **p) {
  if (!*p) return NULL;
  char *line = *p, *nl = strchr(line, '\n');
  if (nl) {
    *nl = 0;
    if (nl > line && nl[-1] == '\r') nl[-1] = 0;
    *p = nl + 1;
  } else {
    *p = NULL;
  }
  return line;
}

/* Returns the next space-separated word of *p (NUL-terminated in place), or "" at the end. */
static char *word(char **p) {
  while (**p == ' ')
    (*p)++;
  char *w = *p;
  while (**p && **p != ' ')
    (*p)++;
  if (**p) *(*p)++ = 0;
  return w;
}

/* The independent reading of the %2F / %00 rule. */
static bool has_encoded_slash_or_nul(const char *path) {
  for (const char *p = path; *p; p++)
    if (p[0] == '%' && p[1] && p[2] && (strncasecmp(p + 1, "2f", 2) == 0 || strncmp(p + 1, "00", 2) == 0)) return true;
  return false;
}

static unsigned method_bit(const char *m) {
  static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  if (strcmp(m, "HEAD") == 0) return SVC_GET;
  for (unsigned i = 0; i < 5; i++)
    if (strcmp(m, names[i]) == 0) return 1u << i;
  return 0;
}

/* Rebuilds the path from the matched route's template and parameters: it must be the path. */
static void check_rebuilt(const struct svc_route_match *m, const char *path) {
  char out[4096];
  size_t n = 0;
  unsigned k = 0;
  for (const char *t = m->route->path; *t && n < sizeof out - 1;) {
    if (*t == '{') {
      FUZZ_CHECK(k < m->nparams, "more parameters in %s than matched", m->route->path);
      FUZZ_CHECK(m->params[k].value_len < sizeof out - 1 - n, "parameter longer than the path");
      memcpy(out + n, m->params[k].value, m->params[k].value_len);
      n += m->params[k].value_len;
      k++;
      t = strchr(t, '}') + 1;
    } else {
      out[n++] = *t++;
    }
  }
  out[n] = 0;
  FUZZ_CHECK(k == m->nparams, "%u parameters matched, %u in %s", m->nparams, k, m->route->path);
  FUZZ_CHECK(strcmp(out, path) == 0, "%s rebuilt as %s", path, out);
}

static void route(const char *method, struct svc_request *req) {
  struct svc_route_match *m = &req->match;
  bool ok = svc_route_match(method, req->path, m);
  FUZZ_CHECK(ok == (m->route != NULL), "return and route disagree");
  FUZZ_CHECK(!m->path_exists == !m->path_route && !m->path_exists == !m->allow, "path_exists, path_route, allow");
  if (m->route) {
    FUZZ_CHECK(m->path_exists && (m->allow & m->route->method), "a matched route outside Allow");
    FUZZ_CHECK(m->route->method == method_bit(method), "%s matched a %s route", method,
               svc_method_name(m->route->method));
    for (unsigned i = 0; i < m->nparams; i++) {
      const char *v = m->params[i].value;
      FUZZ_CHECK(v >= req->path && v + m->params[i].value_len <= req->path + strlen(req->path), "parameter outside");
      FUZZ_CHECK(m->params[i].value_len > 0 && !memchr(v, '/', m->params[i].value_len), "bad segment");
      char name[64], buf[256];
      FUZZ_CHECK(m->params[i].name_len < sizeof name, "long parameter name");
      memcpy(name, m->params[i].name, m->params[i].name_len);
      name[m->params[i].name_len] = 0;
      const char *d = svc_req_param(req, name, buf, sizeof buf);
      if (d)
        FUZZ_CHECK(strlen(d) <= m->params[i].value_len, "decoding grew %s", name);
      else
        FUZZ_CHECK(m->params[i].value_len >= sizeof buf, "a short parameter was refused");
    }
    check_rebuilt(m, req->path);
  } else {
    FUZZ_CHECK(m->nparams == 0, "parameters without a route");
  }
  char allow[128];
  svc_allow_header(m->allow, allow, sizeof allow);
  FUZZ_CHECK(memchr(allow, 0, sizeof allow) != NULL, "Allow not terminated");
}

int fuzz_head(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  char *p = text;
  char *line = next_line(&p);
  if (!line) line = "";
  char *method = word(&line), *target = word(&line), *version = word(&line);
  if (!*version) version = "HTTP/1.1";

  struct svc_framing f = SVC_FRAMING_INIT;
  unsigned nheaders = 0;
  while ((line = next_line(&p)) && *line && nheaders++ < MAX_HEADERS) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    *colon = 0;
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
      value++;
    size_t vl = strlen(value);
    while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
      value[--vl] = 0;
    svc_framing_add(&f, line, value);
  }
  const char *why = svc_framing_refused(&f);
  FUZZ_CHECK(!why == (!f.key_space && f.content_length <= 1 && !f.length_not_digits &&
                      !(f.content_length && f.transfer_encoding) &&
                      (f.transfer_encoding == 0 || (f.transfer_encoding == 1 && f.chunked_only))),
             "framing verdict %s", why ? why : "accepted");
  const char *host = svc_head_host_refused(version, f.host);
  FUZZ_CHECK(!host == (f.host == 1 || (f.host == 0 && strcmp(version, "HTTP/1.0") == 0)), "Host verdict");

  struct svc_request *req = calloc(1, sizeof *req);
  if (!req) {
    free(text);
    return 0;
  }
  svc_head_raw_path(target, req->path, sizeof req->path);
  FUZZ_CHECK(strlen(req->path) <= strcspn(target, "?") && !strchr(req->path, '?'), "raw path %s", req->path);
  bool refused = svc_head_path_refused(req->path);
  FUZZ_CHECK(refused == has_encoded_slash_or_nul(req->path), "%%2F/%%00 verdict on %s", req->path);
  if (!refused) route(method, req);
  free(req);
  free(text);
  return 0;
}
