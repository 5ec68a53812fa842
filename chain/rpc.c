/* JSON-RPC over libcurl (see rpc.h). */
#include "chain/rpc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* Past this an answer is refused unread. jansson takes about 3.5 times an answer's size (a
 * 133 MB eth_getLogs answer of 200,000 logs: 600 MB resident), so a hostile node's log flood
 * must stop well short of the memory; one block's logs cannot come near it (at 8 gas a byte of
 * log data a 36M-gas block holds about 4.5 MB), and an answer past it is a refusal of each call
 * (code RESPONSE_TOO_LARGE), so an eth_getLogs range halves until its answer fits. */
#define RESPONSE_MAX ((size_t)64 << 20)
#define RESPONSE_TOO_LARGE (-32005) /* the code nodes use for "query returned more than N results" */

struct chain_rpc {
  struct chain_rpc_opts o;
  char *url;
  CURL *h;
  struct curl_slist *headers;
  uint64_t next_id;
  uint64_t rng;
  uint64_t retried;
  bool permanent; /* the last failure was one retrying cannot fix (an HTTP 4xx other than 408/429) */
  char last_error[256];
  size_t n_stats;
  struct chain_rpc_method_stats stats[CHAIN_RPC_MAX_METHODS];
};

struct buf {
  char *p;
  size_t n, cap;
  bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct buf *b = ud;
  size_t k = size * nmemb;
  if (b->n + k + 1 > RESPONSE_MAX) {
    b->too_big = true;
    return 0;
  }
  if (b->n + k + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->n + k + 1)
      cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return 0;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, ptr, k);
  b->n += k;
  b->p[b->n] = '\0';
  return k;
}

struct chain_rpc *chain_rpc_new(const struct chain_rpc_opts *o) {
  static bool curl_ready;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
    curl_ready = true;
  }
  struct chain_rpc *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->o = *o;
  if (!c->o.batch_max) c->o.batch_max = 100;
  if (!c->o.timeout_ms) c->o.timeout_ms = 10000;
  if (!c->o.backoff_base_ms) c->o.backoff_base_ms = 100;
  if (!c->o.backoff_max_ms) c->o.backoff_max_ms = 5000;
  c->url = strdup(o->url ? o->url : "");
  c->h = curl_easy_init();
  c->headers = curl_slist_append(NULL, "Content-Type: application/json");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)c;
  c->next_id = 1;
  if (!c->url || !c->h || !c->headers) {
    chain_rpc_free(c);
    return NULL;
  }
  return c;
}

void chain_rpc_free(struct chain_rpc *c) {
  if (!c) return;
  if (c->h) curl_easy_cleanup(c->h);
  curl_slist_free_all(c->headers);
  free(c->url);
  free(c);
}

const char *chain_rpc_last_error(const struct chain_rpc *c) { return c->last_error; }
bool chain_rpc_last_permanent(const struct chain_rpc *c) { return c->permanent; }
unsigned chain_rpc_batch_max(const struct chain_rpc *c) { return c->o.batch_max; }
uint64_t chain_rpc_retries(const struct chain_rpc *c) { return c->retried; }
const struct chain_rpc_method_stats *chain_rpc_stats(const struct chain_rpc *c, size_t *n) {
  *n = c->n_stats;
  return c->stats;
}

static struct chain_rpc_method_stats *stat_of(struct chain_rpc *c, const char *method) {
  for (size_t i = 0; i < c->n_stats; i++)
    if (c->stats[i].method == method || strcmp(c->stats[i].method, method) == 0) return &c->stats[i];
  if (c->n_stats == CHAIN_RPC_MAX_METHODS) return &c->stats[CHAIN_RPC_MAX_METHODS - 1];
  c->stats[c->n_stats].method = method;
  return &c->stats[c->n_stats++];
}

/* xorshift64*: jitter needs no quality, only to differ between processes */
static double rnd01(struct chain_rpc *c) {
  c->rng ^= c->rng >> 12;
  c->rng ^= c->rng << 25;
  c->rng ^= c->rng >> 27;
  return (double)((c->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void backoff(struct chain_rpc *c, unsigned attempt) {
  double ms = (double)c->o.backoff_base_ms;
  for (unsigned i = 0; i < attempt && ms < c->o.backoff_max_ms; i++)
    ms *= 2;
  if (ms > c->o.backoff_max_ms) ms = c->o.backoff_max_ms;
  ms *= 0.5 + 0.5 * rnd01(c); /* "equal jitter": clients that failed together do not retry together */
  struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
  nanosleep(&ts, NULL);
}

/* TOO_BIG: the node refused the batch for its size (HTTP 413, or a JSON-RPC error saying so), or
   the batch's answer passed RESPONSE_MAX */
enum outcome { OK, TRANSIENT, FATAL, TOO_BIG };

/* Whether a node's error message says a batch was too large: geth "batch too large", others
 * "batch size too large", "batch limit exceeded", "exceeded max batch size", … */
static bool batch_refusal(const json_t *err) {
  const char *m = json_string_value(json_object_get(err, "message"));
  if (!m) return false;
  char low[200];
  size_t i = 0;
  for (; m[i] && i + 1 < sizeof low; i++)
    low[i] = (char)(m[i] >= 'A' && m[i] <= 'Z' ? m[i] - 'A' + 'a' : m[i]);
  low[i] = '\0';
  return strstr(low, "batch") && (strstr(low, "too large") || strstr(low, "too big") || strstr(low, "limit") ||
                                  strstr(low, "exceed") || strstr(low, "size"));
}

/* Whether a whole answer is a refusal of the batch's size: one error object (or an array holding
 * fewer answers than calls, or only errors) whose message says so. */
static bool answer_refuses_batch(const json_t *resp, size_t n) {
  if (json_is_object(resp)) return batch_refusal(json_object_get(resp, "error"));
  if (!json_is_array(resp) || json_array_size(resp) == 0) return false;
  size_t i;
  json_t *a;
  json_array_foreach(resp, i, a) {
    if (!batch_refusal(json_object_get(a, "error"))) return false;
  }
  return json_array_size(resp) < n || n > 1;
}

/* "eth_call" or "eth_call and 24 more": names the request in an error */
static void describe(char *out, size_t cap, const struct chain_rpc_call *calls, size_t n) {
  if (n == 1)
    snprintf(out, cap, "%s", calls[0].method);
  else
    snprintf(out, cap, "%s and %zu more", calls[0].method, n - 1);
}

/* One HTTP exchange of calls[0..n) as a JSON-RPC batch (a single request when n == 1 is still
 * sent as a batch of one: the answer's shape is then checked the same way). */
static enum outcome exchange(struct chain_rpc *c, struct chain_rpc_call *calls, size_t n) {
  char what[96];
  describe(what, sizeof what, calls, n);
  json_t *req = json_array();
  uint64_t first = c->next_id;
  for (size_t i = 0; i < n; i++) {
    if (!calls[i].params) calls[i].params = json_array();
    json_t *one = json_pack("{s:s, s:I, s:s, s:O}", "jsonrpc", "2.0", "id", (json_int_t)(first + i), "method",
                            calls[i].method, "params", calls[i].params);
    json_array_append_new(req, one);
  }
  c->next_id += n;
  char *body = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (!body) {
    snprintf(c->last_error, sizeof c->last_error, "out of memory");
    return FATAL;
  }
  struct buf b = {0};
  CURL *h = c->h;
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  /* a redirect is answered as the failure it is, never followed: the node named in
   * SPARKD_RPC_URL must not hand the indexer's requests to another host or scheme */
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 0L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->o.timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->o.timeout_ms < 5000 ? c->o.timeout_ms : 5000));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  CURLcode rc = curl_easy_perform(h);
  free(body);
  for (size_t i = 0; i < n; i++)
    stat_of(c, calls[i].method)->calls++;
  enum outcome out = OK;
  long status = 0;
  json_t *resp = NULL;
  if (rc != CURLE_OK && b.too_big && n > 1) {
    /* a batch whose answer is too large is split like one the node refused for its size; only a
       single call gets the per-call error below, which a log range answers by halving */
    snprintf(c->last_error, sizeof c->last_error, "%s: answer larger than %zu MiB", what, RESPONSE_MAX >> 20);
    out = TOO_BIG;
    goto done;
  }
  if (rc != CURLE_OK && b.too_big) {
    snprintf(c->last_error, sizeof c->last_error, "%s: answer larger than %zu MiB", what, RESPONSE_MAX >> 20);
    for (size_t i = 0; i < n; i++) {
      calls[i].error = true;
      calls[i].err_code = RESPONSE_TOO_LARGE;
      snprintf(calls[i].err_msg, sizeof calls[i].err_msg, "%.150s", c->last_error);
      stat_of(c, calls[i].method)->errors++;
    }
    goto done; /* OK: every call has its (node-like) error */
  }
  if (rc != CURLE_OK) {
    snprintf(c->last_error, sizeof c->last_error, "%s: %s", what, curl_easy_strerror(rc));
    out = TRANSIENT;
    goto done;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status == 429 || status >= 500 || status == 408) {
    snprintf(c->last_error, sizeof c->last_error, "%s: http status %ld", what, status);
    out = TRANSIENT;
    goto done;
  }
  if (status == 413) {
    snprintf(c->last_error, sizeof c->last_error, "%s: http status 413 (request too large)", what);
    out = n > 1 ? TOO_BIG : FATAL;
    c->permanent = out == FATAL;
    goto done;
  }
  if (status != 200) {
    /* 400, 401, 403, 404, …: the request or the node's configuration is wrong (a bad URL or API
       key); the same request would get the same answer, so it is not retried */
    char snippet[80] = "";
    for (size_t i = 0; b.p && i < b.n && i + 1 < sizeof snippet; i++)
      snippet[i] = (char)(b.p[i] >= 0x20 && b.p[i] < 0x7f ? b.p[i] : ' '), snippet[i + 1] = '\0';
    snprintf(c->last_error, sizeof c->last_error, "%s: http status %ld, not retried%s%s", what, status,
             snippet[0] ? ": " : "", snippet);
    out = FATAL;
    c->permanent = true;
    goto done;
  }
  json_error_t jerr;
  resp = b.p ? json_loadb(b.p, b.n, 0, &jerr) : NULL;
  if (resp && answer_refuses_batch(resp, n)) {
    snprintf(c->last_error, sizeof c->last_error, "%s: the node refused a batch of %zu", what, n);
    out = n > 1 ? TOO_BIG : FATAL;
    c->permanent = out == FATAL;
    goto done;
  }
  if (!resp) {
    snprintf(c->last_error, sizeof c->last_error, "%s: malformed json answer", what);
    out = TRANSIENT;
    goto done;
  }
  if (!json_is_array(resp) || json_array_size(resp) != n) {
    snprintf(c->last_error, sizeof c->last_error, "%s: batch of %zu answered with %s of %zu", what, n,
             json_is_array(resp) ? "an array" : "a non-array", json_is_array(resp) ? json_array_size(resp) : 0);
    out = TRANSIENT;
    goto done;
  }
  /* answers may come in any order: place each by its id, and refuse a set that is not exactly ours */
  json_t **by = calloc(n, sizeof *by);
  if (!by) {
    out = FATAL;
    goto done;
  }
  size_t i;
  json_t *a;
  json_array_foreach(resp, i, a) {
    json_t *id = json_object_get(a, "id");
    json_int_t k = json_is_integer(id) ? json_integer_value(id) : -1;
    if (k < (json_int_t)first || k >= (json_int_t)(first + n) || by[k - first] ||
        (!json_object_get(a, "result") && !json_is_object(json_object_get(a, "error")))) {
      snprintf(c->last_error, sizeof c->last_error, "%s: batch answer with a missing, repeated or foreign id", what);
      out = TRANSIENT;
      break;
    }
    by[k - first] = a;
  }
  if (out == OK) {
    for (i = 0; i < n; i++) {
      json_t *err = json_object_get(by[i], "error");
      if (err) {
        calls[i].error = true;
        json_t *code = json_object_get(err, "code"), *msg = json_object_get(err, "message");
        calls[i].err_code = json_is_integer(code) ? json_integer_value(code) : 0;
        snprintf(calls[i].err_msg, sizeof calls[i].err_msg, "%s", json_is_string(msg) ? json_string_value(msg) : "?");
        stat_of(c, calls[i].method)->errors++;
      } else {
        calls[i].error = false;
        calls[i].result = json_incref(json_object_get(by[i], "result"));
      }
    }
  }
  free(by);
done:
  if (out != OK)
    for (size_t j = 0; j < n; j++)
      stat_of(c, calls[j].method)->errors++;
  json_decref(resp);
  free(b.p);
  return out;
}

int chain_rpc_batch(struct chain_rpc *c, struct chain_rpc_call *calls, size_t n) {
  c->last_error[0] = '\0';
  c->permanent = false;
  int rc = 0;
  for (size_t at = 0; at < n;) {
    size_t k = n - at < c->o.batch_max ? n - at : c->o.batch_max;
    enum outcome out = FATAL;
    for (unsigned attempt = 0;; attempt++) {
      out = exchange(c, calls + at, k);
      if (out != TRANSIENT || attempt >= c->o.retries) break;
      c->retried++;
      util_log(UTIL_LOG_DEBUG, "rpc: %s; retry %u of %u", c->last_error, attempt + 1, c->o.retries);
      backoff(c, attempt);
    }
    if (out == TOO_BIG) {
      /* the node has a batch limit: halve, and keep the smaller size for every later request (it
         ends at 1, which a node refusing is a FATAL failure) */
      c->o.batch_max = (unsigned)(k / 2);
      util_log(UTIL_LOG_WARN, "rpc: %s; batches of at most %u calls from now on", c->last_error, c->o.batch_max);
      continue;
    }
    if (out != OK) {
      /* the chunk that failed and every later one */
      for (size_t i = at; i < n; i++) {
        calls[i].error = true;
        calls[i].err_code = 0;
        snprintf(calls[i].err_msg, sizeof calls[i].err_msg, "%.150s", c->last_error);
      }
      rc = -1;
      break;
    }
    at += k;
  }
  for (size_t i = 0; i < n; i++) {
    json_decref(calls[i].params);
    calls[i].params = NULL;
  }
  return rc;
}

int chain_rpc_call1(struct chain_rpc *c, const char *method, json_t *params, json_t **result) {
  struct chain_rpc_call call = {.method = method, .params = params};
  *result = NULL;
  if (chain_rpc_batch(c, &call, 1) != 0) return -1;
  if (call.error) {
    snprintf(c->last_error, sizeof c->last_error, "%s: %s (%lld)", method, call.err_msg, call.err_code);
    return -2;
  }
  *result = call.result;
  return 0;
}

void chain_rpc_calls_clear(struct chain_rpc_call *calls, size_t n) {
  for (size_t i = 0; i < n; i++) {
    json_decref(calls[i].result);
    json_decref(calls[i].params);
    calls[i].result = NULL;
    calls[i].params = NULL;
  }
}
