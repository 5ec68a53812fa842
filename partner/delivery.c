/* Webhook delivery from the outbox, and its HTTP POST made with libcurl. */
#include "partner/delivery.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>

#include "db/db.h"
#include "db/webhooks.h"
#include "partner/ltv.h"
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

/* ---- webhook targets: which addresses a webhook may reach ---- */

/* A partner chooses the URL and sparkd makes the request from inside the deployment, so a target
 * that is not a public unicast address (the host itself, the database, a cloud metadata service,
 * the private network) is refused unless the operator lists its network. */

#define ALLOW_MAX 64

struct net {
  int family;
  unsigned char addr[16];
  unsigned bits;
};

static pthread_mutex_t allow_mu = PTHREAD_MUTEX_INITIALIZER;
static struct net allow[ALLOW_MAX]; /* under allow_mu */
static size_t allow_n;

/* Returns whether the first `bits` bits of a and b are equal. */
static bool prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits) {
  size_t whole = bits / 8;
  if (memcmp(a, b, whole) != 0) return false;
  unsigned rest = bits % 8;
  if (!rest) return true;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

/* Returns whether a (4 bytes) is in the IPv4 network n/bits, n written as four octets. */
static bool in4(const unsigned char *a, unsigned n0, unsigned n1, unsigned n2, unsigned n3, unsigned bits) {
  const unsigned char n[4] = {(unsigned char)n0, (unsigned char)n1, (unsigned char)n2, (unsigned char)n3};
  return prefix_eq(a, n, bits);
}

static const char *kind4(const unsigned char *a) {
  if (in4(a, 0, 0, 0, 0, 8)) return "unspecified"; /* "this network": 0.0.0.0 reaches the host itself */
  if (in4(a, 127, 0, 0, 0, 8)) return "loopback";
  if (in4(a, 10, 0, 0, 0, 8) || in4(a, 172, 16, 0, 0, 12) || in4(a, 192, 168, 0, 0, 16)) return "private";
  if (in4(a, 169, 254, 0, 0, 16)) return "link-local";
  if (in4(a, 100, 64, 0, 0, 10)) return "shared";
  if (in4(a, 224, 0, 0, 0, 4)) return "multicast";
  if (in4(a, 192, 0, 2, 0, 24) || in4(a, 198, 51, 100, 0, 24) || in4(a, 203, 0, 113, 0, 24)) return "documentation";
  /* IETF protocol assignments, the 6to4 relay anycast, benchmarking, and 240/4 with broadcast */
  if (in4(a, 192, 0, 0, 0, 24) || in4(a, 192, 88, 99, 0, 24) || in4(a, 198, 18, 0, 0, 15) || in4(a, 240, 0, 0, 0, 4))
    return "reserved";
  return NULL;
}

const char *partner_addr_kind(int family, const unsigned char *a) {
  if (family == AF_INET) return kind4(a);
  if (family != AF_INET6) return "reserved";
  static const unsigned char zero[16] = {0}, mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
                             nat64[12] = {0, 0x64, 0xff, 0x9b};
  if (memcmp(a, zero, 16) == 0) return "unspecified";
  if (memcmp(a, zero, 15) == 0 && a[15] == 1) return "loopback";
  /* the IPv4 address inside is the one reached: ::ffff:a.b.c.d, 64:ff9b::a.b.c.d, 2002:AABB:CCDD:: */
  if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) return kind4(a + 12);
  if (a[0] == 0x20 && a[1] == 0x02) {
    const char *k = kind4(a + 2);
    if (k) return k;
  }
  if (a[0] == 0xff) return "multicast";
  if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)) return "private"; /* fc00::/7, fec0::/10 */
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return "link-local";
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return "documentation";
  /* 2001::/23 holds Teredo (an IPv4 address hidden inside) and other IETF assignments */
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) return "reserved";
  if ((a[0] & 0xe0) != 0x20) return "reserved"; /* global unicast is 2000::/3; the rest (::/96 too) is not */
  return NULL;
}

/* Returns the address a points to as text in buf (family AF_INET or AF_INET6). */
static const char *addr_text(int family, const unsigned char *a, char *buf, size_t len) {
  if (!inet_ntop(family, a, buf, (socklen_t)len)) snprintf(buf, len, "?");
  return buf;
}

bool partner_addr_allowed(int family, const unsigned char *a, char *why, size_t why_len) {
  const char *kind = partner_addr_kind(family, a);
  if (!kind) return true;
  /* ::ffff:a.b.c.d is a.b.c.d on the wire, so it is looked up as IPv4 too */
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  bool is_mapped = family == AF_INET6 && memcmp(a, mapped, 12) == 0;
  bool ok = false;
  pthread_mutex_lock(&allow_mu);
  for (size_t i = 0; i < allow_n && !ok; i++) {
    if (allow[i].family == family) ok = prefix_eq(a, allow[i].addr, allow[i].bits);
    if (!ok && is_mapped && allow[i].family == AF_INET) ok = prefix_eq(a + 12, allow[i].addr, allow[i].bits);
  }
  pthread_mutex_unlock(&allow_mu);
  if (!ok) {
    char t[INET6_ADDRSTRLEN];
    snprintf(why, why_len, "%s is %s %s address", addr_text(family, a, t, sizeof t), kind[0] == 'u' ? "an" : "a", kind);
  }
  return ok;
}

bool partner_webhook_set_allow(const char *cidrs, char *err, size_t err_len) {
  struct net nets[ALLOW_MAX];
  size_t n = 0;
  for (const char *p = cidrs ? cidrs : ""; *p;) {
    size_t len = strcspn(p, ",");
    char item[64];
    const char *s = p, *e = p + len;
    while (s < e && (*s == ' ' || *s == '\t'))
      s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    p += len + (p[len] == ',');
    if (s == e) continue;
    if ((size_t)(e - s) >= sizeof item) {
      snprintf(err, err_len, "\"%.*s...\" is not a network", 40, s);
      return false;
    }
    if (n == ALLOW_MAX) {
      snprintf(err, err_len, "more than %d networks", ALLOW_MAX);
      return false;
    }
    memcpy(item, s, (size_t)(e - s));
    item[e - s] = 0;
    char *slash = strchr(item, '/');
    if (slash) *slash = 0;
    struct net *nt = &nets[n];
    memset(nt, 0, sizeof *nt);
    unsigned max;
    if (inet_pton(AF_INET, item, nt->addr) == 1) {
      nt->family = AF_INET;
      max = 32;
    } else if (inet_pton(AF_INET6, item, nt->addr) == 1) {
      nt->family = AF_INET6;
      max = 128;
    } else {
      if (slash) *slash = '/';
      snprintf(err, err_len, "\"%s\" is not an address or a network (a.b.c.d/n, v6::/n)", item);
      return false;
    }
    nt->bits = max;
    if (slash) {
      char *end;
      errno = 0;
      unsigned long b = slash[1] >= '0' && slash[1] <= '9' ? strtoul(slash + 1, &end, 10) : ULONG_MAX;
      if (b > max || errno || *end) {
        *slash = '/';
        snprintf(err, err_len, "\"%s\": the prefix length must be from 0 to %u", item, max);
        return false;
      }
      nt->bits = (unsigned)b;
    }
    n++;
  }
  pthread_mutex_lock(&allow_mu);
  memcpy(allow, nets, n * sizeof nets[0]);
  allow_n = n;
  pthread_mutex_unlock(&allow_mu);
  return true;
}

/* Returns whether name (a host name, any case, with or without a final dot) is one of the names
 * resolvers answer with the loopback address themselves (RFC 6761, and Debian's /etc/hosts). */
static bool loopback_name(const char *name) {
  static const char *const names[] = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", NULL};
  size_t n = strlen(name);
  if (n && name[n - 1] == '.') n--;
  for (int i = 0; names[i]; i++)
    if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0) return true;
  return n >= 10 && strncasecmp(name + n - 10, ".localhost", 10) == 0;
}

bool partner_webhook_url_check(const char *url, char *why, size_t why_len) {
  bool ok = false;
  char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL, *zone = NULL;
  CURLU *u = NULL;
  size_t n = strlen(url);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f) {
      snprintf(why, why_len, "must not contain spaces or control characters");
      return false;
    }
  if (n > 2048) {
    snprintf(why, why_len, "must be at most 2048 characters");
    return false;
  }
  /* libcurl reads "http:/x" and "http:///x" as host x; a URL is taken only as written */
  size_t sl = strncasecmp(url, "http://", 7) == 0 ? 7 : strncasecmp(url, "https://", 8) == 0 ? 8 : 0;
  if (!sl || url[sl] == '/' || !url[sl]) {
    snprintf(why, why_len, "must be an http:// or https:// url");
    return false;
  }
  u = curl_url();
  if (!u) {
    snprintf(why, why_len, "out of memory");
    return false;
  }
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (rc == CURLUE_BAD_PORT_NUMBER) {
    snprintf(why, why_len, "port must be a number from 1 to 65535");
    goto out;
  }
  if (rc != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
    snprintf(why, why_len, "must be an http:// or https:// url");
    goto out;
  }
  /* a secret in the URL would be stored and listed in clear, and sent as Basic authentication */
  if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER ||
      curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) != CURLUE_NO_PASSWORD) {
    snprintf(why, why_len, "must not contain credentials (user:password@)");
    goto out;
  }
  rc = curl_url_get(u, CURLUPART_PORT, &port, 0);
  if (rc == CURLUE_OK) {
    char *end;
    unsigned long p = port[0] >= '0' && port[0] <= '9' ? strtoul(port, &end, 10) : 0;
    if (p < 1 || p > 65535 || *end) {
      snprintf(why, why_len, "port must be a number from 1 to 65535");
      goto out;
    }
  } else if (rc != CURLUE_NO_PORT) {
    snprintf(why, why_len, "port must be a number from 1 to 65535");
    goto out;
  }
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
    snprintf(why, why_len, "must name a host");
    goto out;
  }
  if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
    snprintf(why, why_len, "must not name an ipv6 zone");
    goto out;
  }
  unsigned char a[16];
  char reason[128];
  size_t hl = strlen(host);
  if (hl > 1 && host[hl - 1] == '.') host[--hl] = 0; /* "127.0.0.1." resolves as 127.0.0.1 */
  if (host[0] == '[') {
    host[hl - 1] = 0;
    if (inet_pton(AF_INET6, host + 1, a) != 1) {
      snprintf(why, why_len, "must name a host");
      goto out;
    }
    if (!partner_addr_allowed(AF_INET6, a, reason, sizeof reason)) {
      snprintf(why, why_len, "%s: webhooks are sent to public addresses only", reason);
      goto out;
    }
  } else if (inet_aton(host, (struct in_addr *)a) == 1) {
    /* inet_aton reads every form a resolver would (127.1, 0x7f.1, 2130706433, 0177.0.0.1) */
    if (!partner_addr_allowed(AF_INET, a, reason, sizeof reason)) {
      snprintf(why, why_len, "%s: webhooks are sent to public addresses only", reason);
      goto out;
    }
  } else if (loopback_name(host)) {
    static const unsigned char lo4[4] = {127, 0, 0, 1};
    if (!partner_addr_allowed(AF_INET, lo4, reason, sizeof reason)) {
      snprintf(why, why_len, "%s is a loopback name: webhooks are sent to public addresses only", host);
      goto out;
    }
  }
  ok = true;
out:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(user);
  curl_free(pass);
  curl_free(zone);
  curl_url_cleanup(u);
  return ok;
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

/* What the socket callback saw: the first address it refused, for the error. */
struct pin {
  bool refused;
  char why[160];
};

/* libcurl's socket opener, called with each address the host resolved to (and with a literal
 * address as it is) just before connecting: a refused address gets no socket, so libcurl tries the
 * next one or fails, and nothing is sent to it. */
static curl_socket_t open_pinned(void *arg, curlsocktype purpose, struct curl_sockaddr *sa) {
  struct pin *pin = arg;
  const unsigned char *a = NULL;
  if (sa->family == AF_INET && sa->addrlen >= sizeof(struct sockaddr_in))
    a = (const unsigned char *)&((const struct sockaddr_in *)&sa->addr)->sin_addr;
  else if (sa->family == AF_INET6 && sa->addrlen >= sizeof(struct sockaddr_in6))
    a = (const unsigned char *)&((const struct sockaddr_in6 *)&sa->addr)->sin6_addr;
  char why[sizeof pin->why];
  if (purpose != CURLSOCKTYPE_IPCXN || !a) {
    snprintf(why, sizeof why, "not an internet address");
  } else if (partner_addr_allowed(sa->family, a, why, sizeof why)) {
    return socket(sa->family, sa->socktype, sa->protocol);
  }
  if (!pin->refused) snprintf(pin->why, sizeof pin->why, "%s", why);
  pin->refused = true;
  return CURL_SOCKET_BAD;
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
  struct pin pin = {false, ""};
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
  SET(CURLOPT_OPENSOCKETFUNCTION, open_pinned);
  SET(CURLOPT_OPENSOCKETDATA, &pin);
  SET(CURLOPT_PROXY, "");          /* not http_proxy from the environment: the pin must see the receiver's address */
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
  else if (pin.refused)
    snprintf(err, err_len, "refused: %s (SPARKD_WEBHOOK_ALLOW_PRIVATE)", pin.why);
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
  char err[256] = "", why[200];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned status = 0;
  /* a URL stored before the check existed, or under a wider SPARKD_WEBHOOK_ALLOW_PRIVATE */
  if (!partner_webhook_url_check(j->url, why, sizeof why))
    snprintf(err, sizeof err, "refused: url %s", why);
  else
    status = partner_http_post(j->url, headers, body, len, PARTNER_WEBHOOK_TIMEOUT_MS, err, sizeof err);
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

static db_status release_orphans(db_conn *c, void *arg) {
  return db_webhook_release_orphans(c, PARTNER_WEBHOOK_ORPHAN_AGE_S, PARTNER_WEBHOOK_LEASE_S, arg);
}

/* Makes due again, at most every PARTNER_WEBHOOK_ORPHAN_EVERY_MS, the events a sender took and died
 * (or lost the lease) with: without this they wait for the end of their lease. */
static void release_orphans_due(struct timespec *last) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long ms = (now.tv_sec - last->tv_sec) * 1000 + (now.tv_nsec - last->tv_nsec) / 1000000;
  if (last->tv_sec && ms < (long)PARTNER_WEBHOOK_ORPHAN_EVERY_MS) return;
  *last = now;
  uint64_t released = 0;
  db_status rs = db_run_txn(D.pool, release_orphans, &released);
  if (rs != DB_OK)
    util_log(UTIL_LOG_WARN, "webhooks: events of a previous sender not released: %s (sent after their lease)",
             db_status_name(rs));
  else if (released)
    util_log(UTIL_LOG_INFO, "webhooks: %llu event(s) a previous sender took without an outcome are due again",
             (unsigned long long)released);
}

static void *worker(void *arg) {
  struct job_list *js = calloc(1, sizeof *js);
  if (!js) return NULL;
  struct timespec orphans_at = {0, 0};
  pthread_mutex_lock(&D.mu);
  while (!D.stop) {
    D.woken = false;
    pthread_mutex_unlock(&D.mu);
    release_orphans_due(&orphans_at);
    db_status s = db_run_txn(D.pool, take, js);
    size_t n = s == DB_OK ? js->n : 0;
    for (size_t i = 0; i < n; i++) {
      /* a sender that lost the lease stops before its next post: its successor will send the
       * rest once they are PARTNER_WEBHOOK_ORPHAN_AGE_S old */
      if (!partner_workers_hold()) {
        util_log(UTIL_LOG_WARN, "webhooks: the workers' lease is gone; %zu taken event(s) left to the next sender",
                 n - i);
        break;
      }
      deliver(&js->items[i]);
    }
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

bool partner_webhook_configure(const struct util_config *cfg) {
  char err[512] = "";
  if (!partner_http_set_ca_file(cfg->webhook_ca_file, err, sizeof err)) {
    util_log(UTIL_LOG_ERROR, "SPARKD_WEBHOOK_CA_FILE: %s", err);
    return false;
  }
  if (!partner_webhook_set_allow(cfg->webhook_allow_private, err, sizeof err)) {
    util_log(UTIL_LOG_ERROR, "SPARKD_WEBHOOK_ALLOW_PRIVATE: %s", err);
    return false;
  }
  return true;
}

bool partner_webhook_start(db_pool *pool, const struct util_config *cfg) {
  (void)cfg;
  if (D.running) return false;
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
