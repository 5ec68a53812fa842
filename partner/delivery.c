/* Webhook delivery from the outbox, and its HTTP POST made with libcurl. */
#include "partner/delivery.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>

#include "db/db.h"
#include "db/webhooks.h"
#include "partner/signer.h"
#include "util/config.h"
#include "util/log.h"
#include "views/jsonw.h"

unsigned partner_webhook_backoff_ms(int attempt, double j) {
  if (attempt < 1) attempt = 1;
  uint64_t d = PARTNER_WEBHOOK_BASE_MS;
  for (int i = 1; i < attempt && d < PARTNER_WEBHOOK_MAX_DELAY_MS; i++)
    d *= 2;
  if (d > PARTNER_WEBHOOK_MAX_DELAY_MS) d = PARTNER_WEBHOOK_MAX_DELAY_MS;
  if (j < 0) j = 0;
  if (j > 1) j = 1;
  return (unsigned)((double)d * (0.5 + j / 2));
}

/* ---- HTTP client (libcurl) ---- */

/* The response body is not used; a receiver that sends more than this has its status taken and
 * the transfer cut, rather than holding the worker until the timeout. */
#define RESPONSE_BODY_MAX 65536u

static pthread_mutex_t ca_mu = PTHREAD_MUTEX_INITIALIZER;
static char ca_file_set[1024]; /* under ca_mu; empty = the system's store */

bool partner_http_global_init(char *err, size_t err_len) {
  CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    snprintf(err, err_len, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
    return false;
  }
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  if (!(v->features & CURL_VERSION_SSL)) {
    snprintf(err, err_len, "libcurl %s has no tls support (https webhooks)", v->version);
    curl_global_cleanup();
    return false;
  }
  return true;
}

void partner_http_global_cleanup(void) { curl_global_cleanup(); }

bool partner_http_set_ca_file(const char *ca_file, char *err, size_t err_len) {
  if (!ca_file) ca_file = "";
  if (strlen(ca_file) >= sizeof ca_file_set) {
    snprintf(err, err_len, "CA file name longer than %zu bytes", sizeof ca_file_set - 1);
    return false;
  }
  if (*ca_file) {
    /* loaded once here (with the OpenSSL libcurl uses) so that a bad file stops start-up instead
     * of failing every delivery */
    X509_STORE *st = X509_STORE_new();
    bool ok = st && X509_STORE_load_file(st, ca_file) == 1;
    X509_STORE_free(st);
    ERR_clear_error();
    if (!ok) {
      snprintf(err, err_len, "cannot load CA certificates from %.400s", ca_file);
      return false;
    }
  }
  pthread_mutex_lock(&ca_mu);
  snprintf(ca_file_set, sizeof ca_file_set, "%s", ca_file);
  pthread_mutex_unlock(&ca_mu);
  return true;
}

struct sink {
  size_t n;
  bool cut;
};

static size_t discard(char *p, size_t size, size_t nmemb, void *arg) {
  struct sink *s = arg;
  size_t n = size * nmemb;
  if (n > RESPONSE_BODY_MAX - s->n) {
    s->cut = true;
    return 0; /* CURLE_WRITE_ERROR: the status is already in */
  }
  s->n += n;
  return n;
}

/* Returns list with each CRLF-ended line of `lines` appended, or NULL (list freed) when out of
 * memory. */
static struct curl_slist *append_lines(struct curl_slist *list, const char *lines) {
  for (const char *p = lines; p && *p;) {
    const char *eol = strstr(p, "\r\n");
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    if (n) {
      char *line = strndup(p, n);
      struct curl_slist *l = line ? curl_slist_append(list, line) : NULL;
      free(line);
      if (!l) {
        curl_slist_free_all(list);
        return NULL;
      }
      list = l;
    }
    p += n + (eol ? 2 : 0);
  }
  return list;
}

static bool tls_failure(CURLcode rc) {
  return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
         rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CIPHER || rc == CURLE_SSL_ISSUER_ERROR;
}

unsigned partner_http_post(const char *url, const char *headers, const char *body, size_t body_len, unsigned timeout_ms,
                           char *err, size_t err_len) {
  if (err_len) err[0] = 0;
  unsigned status = 0;
  char *scheme = NULL, *host = NULL, ca[sizeof ca_file_set], ebuf[CURL_ERROR_SIZE] = "";
  struct sink sink = {0, false};
  long code = 0;
  CURLcode rc = CURLE_OUT_OF_MEMORY;
  CURL *h = NULL;
  struct curl_slist *hdrs = NULL;
  CURLU *u = curl_url();
  if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
    snprintf(err, err_len, "malformed url");
    goto out;
  }
  if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
    snprintf(err, err_len, "unsupported url scheme");
    goto out;
  }
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    snprintf(err, err_len, "malformed url");
    goto out;
  }
  pthread_mutex_lock(&ca_mu);
  memcpy(ca, ca_file_set, sizeof ca);
  pthread_mutex_unlock(&ca_mu);

  /* "Expect:" drops libcurl's Expect: 100-continue on larger bodies: a receiver answers once */
  hdrs = append_lines(NULL, "Content-Type: application/json\r\nExpect:\r\n");
  if (hdrs) hdrs = append_lines(hdrs, headers);
  h = curl_easy_init();
  if (h && hdrs) rc = CURLE_OK;
#define SET(opt, val)                                                                                                  \
  if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val)
  SET(CURLOPT_ERRORBUFFER, ebuf);
  SET(CURLOPT_CURLU, u);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, 0L); /* a 3xx is the receiver's answer, and a failure */
  SET(CURLOPT_NOSIGNAL, 1L);       /* no SIGALRM for DNS timeouts: other threads run */
  SET(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
  SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  if (*ca) {
    /* only the CA file: libcurl's built-in CA directory would add the system's store to it */
    SET(CURLOPT_CAINFO, ca);
    SET(CURLOPT_CAPATH, (char *)NULL);
  }
  SET(CURLOPT_USERAGENT, "sparkd-webhook/1");
  SET(CURLOPT_HTTPHEADER, hdrs);
  SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  SET(CURLOPT_POSTFIELDS, body);
  SET(CURLOPT_WRITEFUNCTION, discard);
  SET(CURLOPT_WRITEDATA, &sink);
#undef SET
  if (rc == CURLE_OK) rc = curl_easy_perform(h);
  if (h) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if ((rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && sink.cut)) && code >= 100 && code <= 599)
    status = (unsigned)code;
  else if (rc == CURLE_OK)
    snprintf(err, err_len, "no http status in the response");
  else if (tls_failure(rc))
    snprintf(err, err_len, "tls handshake with %s failed: %s", host, *ebuf ? ebuf : curl_easy_strerror(rc));
  else
    snprintf(err, err_len, "%s", *ebuf ? ebuf : curl_easy_strerror(rc));
out:
  curl_easy_cleanup(h);
  curl_slist_free_all(hdrs);
  curl_url_cleanup(u);
  curl_free(scheme);
  curl_free(host);
  return status;
}

/* ---- the delivery worker ---- */

static struct {
  pthread_t thread;
  bool running, stop, woken;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  db_pool *pool;
} D = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void partner_webhook_wake(void) {
  pthread_mutex_lock(&D.mu);
  D.woken = true;
  pthread_cond_signal(&D.cv);
  pthread_mutex_unlock(&D.mu);
}

struct job_list {
  struct db_webhook_job items[DB_WEBHOOK_TAKE_MAX];
  size_t n;
};

static db_status take(db_conn *c, void *arg) {
  struct job_list *js = arg;
  for (size_t i = 0; i < js->n; i++)
    free(js->items[i].payload);
  js->n = 0;
  return db_webhook_take(c, PARTNER_WEBHOOK_LEASE_S, js->items, &js->n);
}

struct result {
  const struct db_webhook_job *j;
  unsigned status;
  const char *error;
  long ms;
};

static db_status record(db_conn *c, void *arg) {
  const struct result *r = arg;
  db_status s = db_webhook_attempt(c, r->j->event_seq, r->j->attempts, r->status, r->error, r->ms);
  if (s != DB_OK) return s;
  if (r->status >= 200 && r->status < 300) return db_webhook_delivered(c, r->j->event_seq);
  if (r->j->attempts >= PARTNER_WEBHOOK_MAX_ATTEMPTS) return db_webhook_give_up(c, r->j->event_seq);
  uint32_t rnd = 0;
  RAND_bytes((unsigned char *)&rnd, sizeof rnd);
  return db_webhook_retry(c, r->j->event_seq, partner_webhook_backoff_ms(r->j->attempts, (double)rnd / 4294967295.0));
}

static db_status giveup(db_conn *c, void *arg) {
  const struct db_webhook_job *j = arg;
  return db_webhook_give_up(c, j->event_seq);
}

/* Sends one job and records the attempt; returns whether it was delivered. */
static bool deliver(const struct db_webhook_job *j) {
  if (j->deleted) {
    db_run_txn(D.pool, giveup, (void *)j);
    return false;
  }
  char wid[24];
  snprintf(wid, sizeof wid, "%lld", (long long)j->webhook_id);
  struct jw w = {0};
  jw_obj(&w);
  jw_kstr(&w, "event_id", j->event_id);
  jw_kstr(&w, "event", j->event);
  jw_kstr(&w, "webhook_id", wid);
  jw_kstr(&w, "created_at", j->created_at);
  jw_key(&w, "data");
  if (j->payload)
    jw_json(&w, j->payload, strlen(j->payload));
  else
    jw_null(&w);
  jw_obj_end(&w);
  char *body = jw_cstr(&w);
  if (!body) return false;
  size_t len = strlen(body);
  char ts[24], sig[65], headers[512];
  snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
  /* HMAC over timestamp + "." + body, fed in two parts */
  char *signed_part = NULL;
  if (asprintf(&signed_part, "%s.", ts) < 0) {
    free(body);
    return false;
  }
  partner_hmac_sha256_hex(j->secret, strlen(j->secret), signed_part, strlen(signed_part), body, len, sig);
  free(signed_part);
  snprintf(headers, sizeof headers,
           "X-Sparkd-Event-Id: %s\r\nX-Sparkd-Event: %s\r\nX-Sparkd-Timestamp: %s\r\nX-Sparkd-Signature: %s\r\n",
           j->event_id, j->event, ts, sig);
  char err[256] = "";
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned status = partner_http_post(j->url, headers, body, len, PARTNER_WEBHOOK_TIMEOUT_MS, err, sizeof err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  free(body);
  if (status && (status < 200 || status >= 300)) snprintf(err, sizeof err, "http status %u", status);
  struct result r = {j, status, err, (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000};
  db_status s = db_run_txn(D.pool, record, &r);
  if (s != DB_OK) util_log(UTIL_LOG_WARN, "webhook attempt not recorded: %s", db_status_name(s));
  bool ok = status >= 200 && status < 300;
  util_log(ok ? UTIL_LOG_DEBUG : UTIL_LOG_INFO, "webhook %s event %s attempt %d: %s", wid, j->event_id, j->attempts,
           ok ? "delivered" : err);
  return ok;
}

static void *worker(void *arg) {
  struct job_list *js = calloc(1, sizeof *js);
  if (!js) return NULL;
  pthread_mutex_lock(&D.mu);
  while (!D.stop) {
    D.woken = false;
    pthread_mutex_unlock(&D.mu);
    db_status s = db_run_txn(D.pool, take, js);
    size_t n = s == DB_OK ? js->n : 0;
    for (size_t i = 0; i < n; i++)
      deliver(&js->items[i]);
    pthread_mutex_lock(&D.mu);
    if (n > 0 || D.stop || D.woken) continue; /* the next event of a position may now be due */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += (long)PARTNER_WEBHOOK_POLL_MS * 1000000L;
    dl.tv_sec += dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&D.cv, &D.mu, &dl);
  }
  pthread_mutex_unlock(&D.mu);
  for (size_t i = 0; i < js->n; i++)
    free(js->items[i].payload);
  free(js);
  return NULL;
}

bool partner_webhook_start(db_pool *pool, const struct util_config *cfg) {
  char err[512] = "";
  if (!partner_http_set_ca_file(cfg->webhook_ca_file, err, sizeof err)) {
    util_log(UTIL_LOG_ERROR, "SPARKD_WEBHOOK_CA_FILE: %s", err);
    return false;
  }
  D.pool = pool;
  D.stop = false;
  if (pthread_create(&D.thread, NULL, worker, NULL) != 0) return false;
  D.running = true;
  return true;
}

void partner_webhook_stop(void) {
  if (!D.running) return;
  pthread_mutex_lock(&D.mu);
  D.stop = true;
  pthread_cond_signal(&D.cv);
  pthread_mutex_unlock(&D.mu);
  pthread_join(D.thread, NULL);
  D.running = false;
}
