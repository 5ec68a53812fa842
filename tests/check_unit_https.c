/* ctest-label: unit */
/* https:// webhook delivery (partner/delivery.c, partner_http_post): a TLS receiver on 127.0.0.1 in this
 * process, with certificates made here (P-256, self-signed). The client must send the POST over
 * TLS to a receiver whose certificate chains to the CA file and names the URL's host, and refuse
 * one that does not (untrusted, another host name, or no CA file set: the system's store does not
 * hold these) without sending the body; return a 3xx as it is, without following it; give up on a
 * receiver that never answers at the timeout; refuse schemes other than http and https; and, with
 * no SPARKD_WEBHOOK_ALLOW_PRIVATE, refuse to connect to the loopback receiver, whether named by
 * address or by a name that resolves to it, so nothing is sent. The other tests list 127.0.0.0/8
 * and ::1 to reach the receiver. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "partner/delivery.h"

struct cert {
  EVP_PKEY *key;
  X509 *x509;
};

/* A self-signed certificate for DNS name `dns`, valid from an hour ago for a day. */
static struct cert make_cert(const char *dns) {
  struct cert c = {EVP_EC_gen("P-256"), X509_new()};
  ck_assert_ptr_nonnull(c.key);
  ck_assert_ptr_nonnull(c.x509);
  X509_set_version(c.x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.x509), (long)(random() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(c.x509), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.x509), 86400);
  X509_set_pubkey(c.x509, c.key);
  X509_NAME *name = X509_get_subject_name(c.x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)dns, -1, -1, 0);
  X509_set_issuer_name(c.x509, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, c.x509, c.x509, NULL, NULL, 0);
  char san[300];
  snprintf(san, sizeof san, "DNS:%s", dns);
  const char *exts[][2] = {{"subjectAltName", san}, {"basicConstraints", "critical,CA:TRUE"}};
  for (size_t i = 0; i < 2; i++) {
    X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
    ck_assert_ptr_nonnull(e);
    X509_add_ext(c.x509, e, -1);
    X509_EXTENSION_free(e);
  }
  ck_assert_int_gt(X509_sign(c.x509, c.key, EVP_sha256()), 0);
  return c;
}

static void free_cert(struct cert *c) {
  EVP_PKEY_free(c->key);
  X509_free(c->x509);
}

/* ---- the receiver: accepts connections on 127.0.0.1, TLS with the current certificate ---- */
static struct {
  int fd;
  unsigned port;
  pthread_t thread;
  pthread_mutex_t mu;
  SSL_CTX *ctx; /* the certificate it presents */
  int handshakes_ok, requests;
  char last[4096];    /* the last request received, head and body */
  const char *answer; /* the response it sends; NULL: none */
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char ANSWER_202[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static void *receiver(void *arg) {
  (void)arg;
  for (;;) {
    int fd = accept(R.fd, NULL, NULL);
    if (fd < 0) return NULL;
    pthread_mutex_lock(&R.mu);
    SSL *ssl = SSL_new(R.ctx);
    pthread_mutex_unlock(&R.mu);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      char buf[4096];
      size_t got = 0;
      /* read until the head and the Content-Length body are in */
      for (;;) {
        int n = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
        if (n <= 0) break;
        got += (size_t)n;
        buf[got] = 0;
        const char *end = strstr(buf, "\r\n\r\n"), *cl = strstr(buf, "Content-Length: ");
        if (end && cl && got >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10)) break;
      }
      buf[got] = 0;
      pthread_mutex_lock(&R.mu);
      const char *answer = R.answer;
      R.handshakes_ok++;
      if (got) R.requests++;
      snprintf(R.last, sizeof R.last, "%s", buf);
      pthread_mutex_unlock(&R.mu);
      if (answer)
        SSL_write(ssl, answer, (int)strlen(answer));
      else
        while (SSL_read(ssl, buf, sizeof buf) > 0) /* silent until the client gives up */
          ;
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(fd);
  }
}

static void receiver_use(const struct cert *c) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  ck_assert_ptr_nonnull(ctx);
  ck_assert_int_eq(SSL_CTX_use_certificate(ctx, c->x509), 1);
  ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, c->key), 1);
  pthread_mutex_lock(&R.mu);
  SSL_CTX *old = R.ctx;
  R.ctx = ctx;
  pthread_mutex_unlock(&R.mu);
  SSL_CTX_free(old);
}

static struct cert trusted, stranger, other_host;
static char ca_path[64], not_pem_path[64];

static void setup(void) {
  signal(SIGPIPE, SIG_IGN);
  char err[512] = "";
  ck_assert_msg(partner_http_global_init(err, sizeof err), "%s", err);
  ck_assert_msg(partner_webhook_set_allow("127.0.0.0/8,::1", err, sizeof err), "%s", err);
  trusted = make_cert("localhost");
  stranger = make_cert("localhost"); /* right name, not in the CA file */
  other_host = make_cert("partner.example");
  snprintf(ca_path, sizeof ca_path, "/tmp/sparkd-https-ca.XXXXXX");
  int fd = mkstemp(ca_path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  ck_assert(PEM_write_X509(f, trusted.x509) == 1 && PEM_write_X509(f, other_host.x509) == 1);
  fclose(f);
  snprintf(not_pem_path, sizeof not_pem_path, "/tmp/sparkd-https-notpem.XXXXXX");
  fd = mkstemp(not_pem_path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "not a certificate\n", 18), 18);
  close(fd);

  R.answer = ANSWER_202;
  R.fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(R.fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(R.fd, (struct sockaddr *)&a, &al);
  R.port = ntohs(a.sin_port);
  ck_assert_int_eq(listen(R.fd, 16), 0);
  receiver_use(&trusted);
  ck_assert_int_eq(pthread_create(&R.thread, NULL, receiver, NULL), 0);
}

static void teardown(void) {
  shutdown(R.fd, SHUT_RDWR);
  close(R.fd);
  pthread_join(R.thread, NULL);
  SSL_CTX_free(R.ctx);
  unlink(ca_path);
  unlink(not_pem_path);
  free_cert(&trusted);
  free_cert(&stranger);
  free_cert(&other_host);
  partner_http_global_cleanup();
}

static unsigned post_url(const char *url, unsigned timeout_ms, char *err, size_t err_len) {
  const char *body = "{\"event\":\"ltv.state_changed\"}";
  return partner_http_post(url, "X-Sparkd-Timestamp: 1700000000\r\n", body, strlen(body), timeout_ms, err, err_len);
}

static unsigned post(const char *host, char *err, size_t err_len) {
  char url[128];
  snprintf(url, sizeof url, "https://%s:%u/hooks/sparkd", host, R.port);
  return post_url(url, 5000, err, err_len);
}

static int requests(void) {
  pthread_mutex_lock(&R.mu);
  int n = R.requests;
  pthread_mutex_unlock(&R.mu);
  return n;
}

START_TEST(https_delivery) {
  char err[512] = "";
  /* no CA file set: the system's store, which does not hold the receiver's certificate */
  ck_assert_uint_eq(post("localhost", err, sizeof err), 0);
  ck_assert_msg(strstr(err, "tls handshake with localhost failed") != NULL, "err: %s", err);
  ck_assert_int_eq(requests(), 0);
  /* a CA file that cannot be read, or holds no certificate, is refused */
  ck_assert(!partner_http_set_ca_file("/nonexistent/ca.pem", err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/ca.pem"));
  ck_assert(!partner_http_set_ca_file(not_pem_path, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, not_pem_path));
  ck_assert(partner_http_set_ca_file(ca_path, err, sizeof err));

  /* trusted and named: delivered over TLS, head and body intact */
  ck_assert_uint_eq(post("localhost", err, sizeof err), 202);
  pthread_mutex_lock(&R.mu);
  ck_assert_int_eq(R.requests, 1);
  ck_assert_ptr_nonnull(strstr(R.last, "POST /hooks/sparkd HTTP/1.1\r\n"));
  ck_assert_ptr_nonnull(strstr(R.last, "X-Sparkd-Timestamp: 1700000000\r\n"));
  ck_assert_ptr_nonnull(strstr(R.last, "\r\n\r\n{\"event\":\"ltv.state_changed\"}"));
  pthread_mutex_unlock(&R.mu);

  /* a certificate that does not chain to the CA file: no answer, the body never sent */
  receiver_use(&stranger);
  err[0] = 0;
  ck_assert_uint_eq(post("localhost", err, sizeof err), 0);
  ck_assert_msg(strstr(err, "tls handshake with localhost failed") != NULL, "err: %s", err);
  /* a trusted certificate for another host name */
  receiver_use(&other_host);
  err[0] = 0;
  ck_assert_uint_eq(post("localhost", err, sizeof err), 0);
  ck_assert_msg(strstr(err, "tls handshake with localhost failed") != NULL, "err: %s", err);
  pthread_mutex_lock(&R.mu);
  ck_assert_int_eq(R.requests, 1);
  pthread_mutex_unlock(&R.mu);

  /* and the trusted one again; a CA file refused later leaves the one set before in place */
  receiver_use(&trusted);
  ck_assert(!partner_http_set_ca_file("/nonexistent/ca.pem", err, sizeof err));
  ck_assert_uint_eq(post("localhost", err, sizeof err), 202);
  ck_assert_int_eq(requests(), 2);

  /* the CA file is the only trust: without it again, the same receiver is refused */
  ck_assert(partner_http_set_ca_file(NULL, err, sizeof err));
  err[0] = 0;
  ck_assert_uint_eq(post("localhost", err, sizeof err), 0);
  ck_assert_msg(strstr(err, "tls handshake with localhost failed") != NULL, "err: %s", err);
  ck_assert_int_eq(requests(), 2);
  ck_assert(partner_http_set_ca_file(ca_path, err, sizeof err));
}
END_TEST

/* A 307 (which would repeat the POST at Location) is the answer: returned, not followed. */
START_TEST(redirect_not_followed) {
  char err[512] = "";
  receiver_use(&trusted);
  ck_assert(partner_http_set_ca_file(ca_path, err, sizeof err));
  pthread_mutex_lock(&R.mu);
  R.answer =
      "HTTP/1.1 307 Temporary Redirect\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  pthread_mutex_unlock(&R.mu);
  int before = requests();
  ck_assert_uint_eq(post("localhost", err, sizeof err), 307);
  ck_assert_int_eq(requests(), before + 1);
  pthread_mutex_lock(&R.mu);
  ck_assert_ptr_nonnull(strstr(R.last, "POST /hooks/sparkd HTTP/1.1\r\n"));
  R.answer = ANSWER_202;
  pthread_mutex_unlock(&R.mu);
}
END_TEST

/* A receiver that takes the request and never answers: given up at the timeout. */
START_TEST(silent_receiver_times_out) {
  char err[512] = "";
  receiver_use(&trusted);
  ck_assert(partner_http_set_ca_file(ca_path, err, sizeof err));
  pthread_mutex_lock(&R.mu);
  R.answer = NULL;
  pthread_mutex_unlock(&R.mu);
  int before = requests();
  char url[128];
  snprintf(url, sizeof url, "https://localhost:%u/hooks/sparkd", R.port);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ck_assert_uint_eq(post_url(url, 1000, err, sizeof err), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  ck_assert_msg(ms >= 950 && ms < 4000, "%ld ms", ms);
  ck_assert_msg(strstr(err, "timed out") != NULL, "err: %s", err);
  ck_assert_int_eq(requests(), before + 1);
  pthread_mutex_lock(&R.mu);
  R.answer = ANSWER_202;
  pthread_mutex_unlock(&R.mu);
}
END_TEST

/* A listener that takes the connection and never answers the handshake: given up at the timeout. */
START_TEST(silent_handshake_times_out) {
  char err[512] = "";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  ck_assert_int_eq(listen(fd, 4), 0); /* the kernel completes the connect; nobody accepts */
  char url[128];
  snprintf(url, sizeof url, "https://localhost:%u/hooks/sparkd", ntohs(a.sin_port));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ck_assert_uint_eq(post_url(url, 400, err, sizeof err), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  ck_assert_msg(ms >= 350 && ms < 3000, "%ld ms", ms);
  ck_assert_msg(strstr(err, "timed out") != NULL, "err: %s", err);
  close(fd);
}
END_TEST

/* Only http and https: nothing is read from or sent to any other scheme. */
START_TEST(other_schemes_refused) {
  char err[512] = "";
  ck_assert_uint_eq(post_url("file:///etc/passwd", 1000, err, sizeof err), 0);
  ck_assert_str_eq(err, "unsupported url scheme");
  err[0] = 0;
  ck_assert_uint_eq(post_url("ftp://localhost/hooks", 1000, err, sizeof err), 0);
  ck_assert_str_eq(err, "unsupported url scheme");
  err[0] = 0;
  ck_assert_uint_eq(post_url("localhost/hooks", 1000, err, sizeof err), 0);
  ck_assert_str_eq(err, "malformed url");
}
END_TEST

/* With no allow-list the receiver on 127.0.0.1 is refused after resolution, before a connection:
 * localhost is a name here (partner_http_post does not look at names), refused on the address it
 * resolves to. */
START_TEST(loopback_refused_without_allow_list) {
  char err[512] = "";
  receiver_use(&trusted);
  ck_assert(partner_http_set_ca_file(ca_path, err, sizeof err));
  ck_assert(partner_webhook_set_allow("", err, sizeof err));
  int before = requests();
  pthread_mutex_lock(&R.mu);
  int handshakes = R.handshakes_ok;
  pthread_mutex_unlock(&R.mu);
  char url[128];
  const char *hosts[] = {"localhost", "127.0.0.1", "127.1", "[::ffff:127.0.0.1]"};
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
    snprintf(url, sizeof url, "https://%s:%u/hooks/sparkd", hosts[i], R.port);
    err[0] = 0;
    ck_assert_uint_eq(post_url(url, 2000, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "refused: ") == err && strstr(err, "is a loopback address") != NULL, "%s: %s", url, err);
  }
  snprintf(url, sizeof url, "http://0.0.0.0:%u/hooks/sparkd", R.port);
  ck_assert_uint_eq(post_url(url, 2000, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "refused: 0.0.0.0 is an unspecified address") == err, "%s", err);
  pthread_mutex_lock(&R.mu);
  ck_assert_int_eq(R.handshakes_ok, handshakes); /* not even a TLS handshake */
  pthread_mutex_unlock(&R.mu);
  ck_assert_int_eq(requests(), before);
  /* an allow-list of another network does not help */
  ck_assert(partner_webhook_set_allow("10.0.0.0/8", err, sizeof err));
  ck_assert_uint_eq(post("localhost", err, sizeof err), 0);
  ck_assert_msg(strstr(err, "refused: ") == err, "%s", err);
  ck_assert_int_eq(requests(), before);
  /* and with loopback listed, delivered */
  ck_assert(partner_webhook_set_allow("127.0.0.0/8,::1", err, sizeof err));
  ck_assert_uint_eq(post("localhost", err, sizeof err), 202);
  ck_assert_int_eq(requests(), before + 1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("https");
  TCase *tc = tcase_create("https");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, https_delivery);
  tcase_add_test(tc, redirect_not_followed);
  tcase_add_test(tc, silent_receiver_times_out);
  tcase_add_test(tc, silent_handshake_times_out);
  tcase_add_test(tc, other_schemes_refused);
  tcase_add_test(tc, loopback_refused_without_allow_list);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
