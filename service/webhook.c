/* Webhook delivery from the outbox (service/webhook.h) and a small HTTP/1.1 POST client. */
#include "service/webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#ifdef SPARKD_HAVE_LIBSSL /* set when sparkd links OpenSSL::SSL: https webhook URLs */
#include <openssl/ssl.h>
#endif

#include "db/db.h"
#include "db/webhooks.h"
#include "service/crypto.h"
#include "service/log.h"
#include "service/server.h"

unsigned svc_webhook_backoff_ms(int attempt, double j) {
  if (attempt < 1) attempt = 1;
  uint64_t d = SVC_WEBHOOK_BASE_MS;
  for (int i = 1; i < attempt && d < SVC_WEBHOOK_MAX_DELAY_MS; i++)
    d *= 2;
  if (d > SVC_WEBHOOK_MAX_DELAY_MS) d = SVC_WEBHOOK_MAX_DELAY_MS;
  if (j < 0) j = 0;
  if (j > 1) j = 1;
  return (unsigned)((double)d * (0.5 + j / 2));
}

/* ---- HTTP client ---- */

bool svc_http_tls_available(void) {
#ifdef SPARKD_HAVE_LIBSSL
  return true;
#else
  return false;
#endif
}

#ifdef SPARKD_HAVE_LIBSSL
static SSL_CTX *g_ssl; /* set once, under g_ssl_mu; never freed (one per process) */
static pthread_mutex_t g_ssl_mu = PTHREAD_MUTEX_INITIALIZER;

bool svc_http_tls_init(const char *ca_file, char *err, size_t err_len) {
  pthread_mutex_lock(&g_ssl_mu);
  bool ok = g_ssl != NULL;
  if (!ok) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
      snprintf(err, err_len, "cannot create a TLS context");
    } else {
      SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
      if (ca_file && *ca_file) {
        ok = SSL_CTX_load_verify_locations(ctx, ca_file, NULL) == 1;
        if (!ok) snprintf(err, err_len, "cannot load CA certificates from %.400s", ca_file);
      } else {
        ok = SSL_CTX_set_default_verify_paths(ctx) == 1;
        if (!ok) snprintf(err, err_len, "cannot load the system's CA certificates");
      }
      if (ok)
        g_ssl = ctx;
      else
        SSL_CTX_free(ctx);
    }
  }
  pthread_mutex_unlock(&g_ssl_mu);
  return ok;
}
#else
/* SSL is declared by openssl/types.h; without libssl it stays NULL */
bool svc_http_tls_init(const char *ca_file, char *err, size_t err_len) {
  (void)ca_file;
  snprintf(err, err_len, "sparkd was built without libssl");
  return false;
}
#endif

static long ms_left(const struct timespec *deadline) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Returns a connected blocking socket with send/receive timeouts, or -1 (err set). */
static int dial(const char *host, const char *port, const struct timespec *deadline, char *err, size_t err_len) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    snprintf(err, err_len, "cannot resolve %s: %s", host, gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      bool ok = false;
      if (errno == EINPROGRESS) {
        struct pollfd pf = {fd, POLLOUT, 0};
        long left = ms_left(deadline);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        ok = left > 0 && poll(&pf, 1, (int)left) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
             soerr == 0;
        if (!ok) snprintf(err, err_len, "cannot connect to %s:%s: %s", host, port, soerr ? strerror(soerr) : "timeout");
      } else {
        snprintf(err, err_len, "cannot connect to %s:%s: %s", host, port, strerror(errno));
      }
      if (!ok) {
        close(fd);
        fd = -1;
      }
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return -1;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  long left = ms_left(deadline);
  if (left < 1) left = 1;
  struct timeval tv = {left / 1000, (left % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  err[0] = 0;
  return fd;
}

struct conn {
  int fd;
  SSL *ssl;
};

static bool send_all(struct conn *c, const char *p, size_t n) {
  while (n) {
#ifdef SPARKD_HAVE_LIBSSL
    ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)n) : send(c->fd, p, n, MSG_NOSIGNAL);
#else
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
#endif
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

unsigned svc_http_post(const char *url, const char *headers, const char *body, size_t body_len, unsigned timeout_ms,
                       char *err, size_t err_len) {
  bool tls;
  const char *p;
  if (strncmp(url, "http://", 7) == 0) {
    tls = false;
    p = url + 7;
  } else if (strncmp(url, "https://", 8) == 0 && svc_http_tls_available()) {
    tls = true;
    p = url + 8;
  } else {
    snprintf(err, err_len, "unsupported url scheme");
    return 0;
  }
  char host[256], port[8];
  const char *path = strchr(p, '/');
  size_t hostport_len = path ? (size_t)(path - p) : strlen(p);
  if (!path) path = "/";
  const char *hp_end = p + hostport_len, *colon = NULL;
  if (*p == '[') {
    const char *rb = memchr(p, ']', hostport_len);
    if (!rb) {
      snprintf(err, err_len, "malformed url host");
      return 0;
    }
    snprintf(host, sizeof host, "%.*s", (int)(rb - p - 1), p + 1);
    colon = rb + 1 < hp_end && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memchr(p, ':', hostport_len);
    size_t hl = colon ? (size_t)(colon - p) : hostport_len;
    if (hl == 0 || hl >= sizeof host) {
      snprintf(err, err_len, "malformed url host");
      return 0;
    }
    snprintf(host, sizeof host, "%.*s", (int)hl, p);
  }
  if (colon)
    snprintf(port, sizeof port, "%.*s", (int)(hp_end - colon - 1), colon + 1);
  else
    snprintf(port, sizeof port, "%s", tls ? "443" : "80");

  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
  struct conn c = {dial(host, port, &deadline, err, err_len), NULL};
  if (c.fd < 0) return 0;
  unsigned status = 0;
#ifdef SPARKD_HAVE_LIBSSL
  if (tls) {
    char why[256] = "";
    if (!svc_http_tls_init(NULL, why, sizeof why) || !(c.ssl = SSL_new(g_ssl))) {
      snprintf(err, err_len, "tls unavailable: %s", why);
      goto out;
    }
    SSL_set_fd(c.ssl, c.fd);
    SSL_set_tlsext_host_name(c.ssl, host);
    SSL_set1_host(c.ssl, host);
    if (SSL_connect(c.ssl) != 1) {
      long v = SSL_get_verify_result(c.ssl);
      snprintf(err, err_len, "tls handshake with %s failed%s%s", host, v != X509_V_OK ? ": " : "",
               v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
      goto out;
    }
  }
#endif
  char head[4096];
  int hn = snprintf(head, sizeof head,
                    "POST %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: sparkd-webhook/1\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                    path, (int)hostport_len, p, body_len, headers ? headers : "");
  if (hn < 0 || (size_t)hn >= sizeof head) {
    snprintf(err, err_len, "request head too long");
    goto out;
  }
  if (!send_all(&c, head, (size_t)hn) || !send_all(&c, body, body_len)) {
    snprintf(err, err_len, "send failed: %s", strerror(errno));
    goto out;
  }
  char buf[256];
  size_t got = 0;
  while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
#ifdef SPARKD_HAVE_LIBSSL
    ssize_t r = c.ssl ? SSL_read(c.ssl, buf + got, (int)(sizeof buf - 1 - got))
                      : recv(c.fd, buf + got, sizeof buf - 1 - got, 0);
#else
    ssize_t r = recv(c.fd, buf + got, sizeof buf - 1 - got, 0);
#endif
    if (r <= 0) break;
    got += (size_t)r;
  }
  buf[got] = 0;
  unsigned st = 0;
  if (sscanf(buf, "HTTP/1.%*d %u", &st) == 1 && st >= 100 && st <= 599)
    status = st;
  else
    snprintf(err, err_len, got ? "malformed response status line" : "no response: %s", strerror(errno));
  goto out; /* keeps the label used without libssl */
out:
#ifdef SPARKD_HAVE_LIBSSL
  if (c.ssl) {
    SSL_shutdown(c.ssl);
    SSL_free(c.ssl);
  }
#endif
  close(c.fd);
  return status;
}

/* ---- the delivery worker ---- */

static struct {
  pthread_t thread;
  bool running, stop, woken;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct svc_server *srv;
} D = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void svc_webhook_wake(void) {
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
  return db_webhook_take(c, SVC_WEBHOOK_LEASE_S, js->items, &js->n);
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
  if (r->j->attempts >= SVC_WEBHOOK_MAX_ATTEMPTS) return db_webhook_give_up(c, r->j->event_seq);
  uint32_t rnd = 0;
  RAND_bytes((unsigned char *)&rnd, sizeof rnd);
  return db_webhook_retry(c, r->j->event_seq, svc_webhook_backoff_ms(r->j->attempts, (double)rnd / 4294967295.0));
}

static db_status giveup(db_conn *c, void *arg) {
  const struct db_webhook_job *j = arg;
  return db_webhook_give_up(c, j->event_seq);
}

/* Sends one job and records the attempt; returns whether it was delivered. */
static bool deliver(const struct db_webhook_job *j) {
  if (j->deleted) {
    db_run_txn(D.srv->pool, giveup, (void *)j);
    return false;
  }
  char wid[24];
  snprintf(wid, sizeof wid, "%lld", (long long)j->webhook_id);
  char *body = NULL;
  if (asprintf(&body, "{\"event_id\":\"%s\",\"event\":\"%s\",\"webhook_id\":\"%s\",\"created_at\":\"%s\",\"data\":%s}",
               j->event_id, j->event, wid, j->created_at, j->payload ? j->payload : "null") < 0)
    return false;
  size_t len = strlen(body);
  char ts[24], sig[65], headers[512];
  snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
  /* HMAC over timestamp + "." + body, fed in two parts */
  char *signed_part = NULL;
  if (asprintf(&signed_part, "%s.", ts) < 0) {
    free(body);
    return false;
  }
  svc_hmac_sha256_hex(j->secret, strlen(j->secret), signed_part, strlen(signed_part), body, len, sig);
  free(signed_part);
  snprintf(headers, sizeof headers,
           "X-Sparkd-Event-Id: %s\r\nX-Sparkd-Event: %s\r\nX-Sparkd-Timestamp: %s\r\nX-Sparkd-Signature: %s\r\n",
           j->event_id, j->event, ts, sig);
  char err[256] = "";
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned status = svc_http_post(j->url, headers, body, len, SVC_WEBHOOK_TIMEOUT_MS, err, sizeof err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  free(body);
  if (status && (status < 200 || status >= 300)) snprintf(err, sizeof err, "http status %u", status);
  struct result r = {j, status, err, (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000};
  db_status s = db_run_txn(D.srv->pool, record, &r);
  if (s != DB_OK) svc_log(SVC_LOG_WARN, "webhook attempt not recorded: %s", db_status_name(s));
  bool ok = status >= 200 && status < 300;
  svc_log(ok ? SVC_LOG_DEBUG : SVC_LOG_INFO, "webhook %s event %s attempt %d: %s", wid, j->event_id, j->attempts,
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
    db_status s = db_run_txn(D.srv->pool, take, js);
    size_t n = s == DB_OK ? js->n : 0;
    for (size_t i = 0; i < n; i++)
      deliver(&js->items[i]);
    pthread_mutex_lock(&D.mu);
    if (n > 0 || D.stop || D.woken) continue; /* the next event of a position may now be due */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += (long)SVC_WEBHOOK_POLL_MS * 1000000L;
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

bool svc_webhook_start(struct svc_server *srv) {
  if (svc_http_tls_available()) {
    char err[512] = "";
    if (!svc_http_tls_init(srv->cfg.webhook_ca_file, err, sizeof err)) {
      svc_log(SVC_LOG_ERROR, "SPARKD_WEBHOOK_CA_FILE: %s", err);
      return false;
    }
  }
  D.srv = srv;
  D.stop = false;
  if (pthread_create(&D.thread, NULL, worker, NULL) != 0) return false;
  D.running = true;
  return true;
}

void svc_webhook_stop(struct svc_server *srv) {
  if (!D.running) return;
  pthread_mutex_lock(&D.mu);
  D.stop = true;
  pthread_cond_signal(&D.cv);
  pthread_mutex_unlock(&D.mu);
  pthread_join(D.thread, NULL);
  D.running = false;
}
