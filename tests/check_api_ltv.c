/* ctest-label: api */
/* Partner LTV records and webhooks against the real sparkd and a private PostgreSQL:
 * - the state machine through warning, margin call (hysteresis: stays until below return_to),
 *   liquidation, back to healthy, and stale, driven by oracle price changes (an UPDATE of the
 *   imported prices and NOTIFY sparkd_state, as an import does), with the LTV values derived by
 *   hand in the comments; history rows appended on each state change;
 * - the signature checked by npm ethers (tests/ltv_eip712.mjs verify: the recovered address equals
 *   GET /v1/signers, and every changed field fails);
 * - webhooks delivered to a receiver on 127.0.0.1 (a thread here) with a valid HMAC-SHA256 of
 *   timestamp + "." + body, in order, retried when the receiver answers 500, and delivered after a
 *   sparkd restart; another partner's position is 404;
 * - with SPARKD_WEBHOOK_ALLOW_PRIVATE unset, webhook URLs aimed at loopback, private, link-local or
 *   unspecified addresses, with credentials or with a bad port are refused (400, `url`), and a host
 *   name that resolves to loopback is refused when the webhook is sent: the attempt is recorded as
 *   failed and the receiver gets no connection. */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

#define WETH "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
#define USDC "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;
static char key_a[64], key_b[64], keyfile[256];
/* the receiver is on 127.0.0.1, which webhooks may reach only when listed */
static const char *env[] = {"SPARKD_MIGRATE=auto", NULL, "SPARKD_LTV_HISTORY_MIN_BPS=50",
                            "SPARKD_WEBHOOK_ALLOW_PRIVATE=127.0.0.0/8", NULL};

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static json_t *body_json(const struct th_response *r) {
  json_error_t e;
  json_t *j = json_loads(r->body, 0, &e);
  ck_assert_msg(j != NULL, "not json: %s", r->body);
  return j;
}

static void req(const char *method, const char *path, const char *key, const char *idem, const char *body,
                struct th_response *r) {
  char h[512] = "";
  size_t n = 0;
  if (key) n += (size_t)snprintf(h + n, sizeof h - n, "Authorization: Bearer %s\r\n", key);
  if (idem) n += (size_t)snprintf(h + n, sizeof h - n, "Idempotency-Key: %s\r\n", idem);
  if (body) snprintf(h + n, sizeof h - n, "Content-Type: application/json\r\n");
  ck_assert(th_http(sd.port, method, path, h, body, r) == 0);
}

/* Sets the WETH price (USD, whole dollars) as of `age` seconds ago and notifies like an import. */
static void set_weth(long usd, long age) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "UPDATE prices SET price = %ld00000000, updated_at = floor(extract(epoch FROM now()))::bigint - %ld"
           " WHERE chain_id = 1 AND asset = '" WETH "';"
           "UPDATE prices SET price = 100000000, updated_at = floor(extract(epoch FROM now()))::bigint"
           " WHERE chain_id = 1 AND asset = '" USDC "'; NOTIFY sparkd_state;",
           usd, age);
  ck_assert(th_pg_exec(dburl, sql) == 0);
}

/* Returns the latest record once it shows ltv and state (waits up to 10 s). A recompute that began
 * before a price change may land after it, so the sequence alone does not say which prices a
 * record used. */
static json_t *ltv_wait(long long pos, long ltv, const char *state) {
  char path[128], last[256] = "";
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", pos);
  for (int i = 0; i < 200; i++) {
    struct th_response r;
    req("GET", path, key_a, NULL, NULL, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    json_t *j = body_json(&r);
    th_response_free(&r);
    const char *st = json_string_value(json_object_get(j, "state"));
    long long l = json_integer_value(json_object_get(j, "ltv_bps"));
    if (l == ltv && st && strcmp(st, state) == 0) return j;
    snprintf(last, sizeof last, "ltv %lld state %s", l, st ? st : "?");
    json_decref(j);
    sleep_ms(50);
  }
  ck_abort_msg("never ltv %ld %s; last %s", ltv, state, last);
  return NULL;
}

/* The served detail of a record of create_position's position at WETH = usd (whole dollars): every
 * value follows from the position's inputs (100 WETH, 10% haircut, 50,000 USDC at $1, no interest). */
static void check_detail(json_t *rec, long usd, bool weth_stale) {
  char want[64];
  json_t *c = json_array_get(json_object_get(rec, "collateral"), 0);
  ck_assert_int_eq(json_array_size(json_object_get(rec, "collateral")), 1);
  ck_assert_str_eq(json_string_value(json_object_get(c, "asset")), WETH);
  ck_assert_int_eq(json_integer_value(json_object_get(c, "chain_id")), 1);
  ck_assert_str_eq(json_string_value(json_object_get(c, "amount")), "100000000000000000000");
  ck_assert_int_eq(json_integer_value(json_object_get(c, "decimals")), 18);
  ck_assert_str_eq(json_string_value(json_object_get(c, "amount_decimal")), "100.000000000000000000");
  ck_assert_int_eq(json_integer_value(json_object_get(c, "haircut_bps")), 1000);
  snprintf(want, sizeof want, "%ld00000000", usd);
  ck_assert_str_eq(json_string_value(json_object_get(c, "price_base")), want);
  ck_assert(json_is_string(json_object_get(c, "price_updated_at")));
  snprintf(want, sizeof want, "%ld0000000000", usd); /* 100 x usd, 8 decimals */
  ck_assert_str_eq(json_string_value(json_object_get(c, "value_base")), want);
  snprintf(want, sizeof want, "%ld00.00000000", usd);
  ck_assert_str_eq(json_string_value(json_object_get(c, "value_usd")), want);
  snprintf(want, sizeof want, "%ld000000000", usd * 9); /* 90 x usd */
  ck_assert_str_eq(json_string_value(json_object_get(c, "weighted_value_base")), want);
  snprintf(want, sizeof want, "%ld0.00000000", usd * 9);
  ck_assert_str_eq(json_string_value(json_object_get(c, "weighted_value_usd")), want);
  ck_assert(json_is_boolean(json_object_get(c, "stale")) && json_is_true(json_object_get(c, "stale")) == weth_stale);
  json_t *d = json_object_get(rec, "debt");
  ck_assert_str_eq(json_string_value(json_object_get(d, "asset")), USDC);
  ck_assert_int_eq(json_integer_value(json_object_get(d, "decimals")), 6);
  ck_assert_str_eq(json_string_value(json_object_get(d, "principal")), "50000000000");
  ck_assert_str_eq(json_string_value(json_object_get(d, "accrued")), "0");
  ck_assert_str_eq(json_string_value(json_object_get(d, "amount")), "50000000000");
  ck_assert_str_eq(json_string_value(json_object_get(d, "amount_decimal")), "50000.000000");
  ck_assert_int_eq(json_integer_value(json_object_get(d, "apr_bps")), 0);
  ck_assert_str_eq(json_string_value(json_object_get(d, "accrual_start")), "2026-01-01T00:00:00Z");
  ck_assert_str_eq(json_string_value(json_object_get(d, "price_base")), "100000000");
  ck_assert_str_eq(json_string_value(json_object_get(d, "value_base")), "5000000000000");
  ck_assert_str_eq(json_string_value(json_object_get(d, "value_usd")), "50000.00000000");
  ck_assert(json_is_false(json_object_get(d, "stale")));
  json_t *t = json_object_get(rec, "thresholds");
  ck_assert_int_eq(json_integer_value(json_object_get(t, "warning_bps")), 6500);
  ck_assert_int_eq(json_integer_value(json_object_get(t, "margin_call_bps")), 7000);
  ck_assert_int_eq(json_integer_value(json_object_get(t, "liquidation_bps")), 8000);
  ck_assert_int_eq(json_integer_value(json_object_get(t, "return_to_bps")), 6000);
  ck_assert_int_eq(json_integer_value(json_object_get(t, "cure_period_seconds")), 259200);
  ck_assert_int_eq(json_integer_value(json_object_get(t, "max_price_staleness_seconds")), 3600);
  ck_assert(json_is_null(json_object_get(rec, "attestation")));
  ck_assert(json_is_integer(json_object_get(rec, "position_version")));
  json_t *prices = json_object_get(rec, "prices");
  ck_assert_int_eq(json_array_size(prices), 2); /* the collateral line's, then the debt's */
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(prices, 0), "asset")), WETH);
  ck_assert(json_is_true(json_object_get(json_array_get(prices, 0), "stale")) == weth_stale);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(prices, 1), "price_base")), "100000000");
}

/* ---- the webhook receiver ---- */
#define MAX_EVENTS 64
static struct {
  int fd;
  unsigned port;
  char secret[128];
  int fail_next; /* answer 500 to this many requests */
  int requests;
  int n;
  char states[MAX_EVENTS][32];
  char event_ids[MAX_EVENTS][64];
  bool hmac_ok[MAX_EVENTS];
  pthread_mutex_t mu;
  pthread_t thread;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *receiver(void *arg) {
  for (;;) {
    int c = accept(R.fd, NULL, NULL);
    if (c < 0) return NULL;
    char buf[65536];
    size_t got = 0;
    char *hdr_end = NULL;
    long clen = -1;
    while (got < sizeof buf - 1) {
      ssize_t k = recv(c, buf + got, sizeof buf - 1 - got, 0);
      if (k <= 0) break;
      got += (size_t)k;
      buf[got] = 0;
      if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
        char *cl = strcasestr(buf, "content-length:");
        clen = cl ? strtol(cl + 15, NULL, 10) : 0;
      }
      if (hdr_end && (long)(got - (size_t)(hdr_end + 4 - buf)) >= clen) break;
    }
    pthread_mutex_lock(&R.mu);
    R.requests++;
    bool fail = R.fail_next > 0;
    if (fail) R.fail_next--;
    if (!fail && hdr_end && R.n < MAX_EVENTS) {
      *hdr_end = 0;
      const char *body = hdr_end + 4;
      char ts[32] = "", sig[80] = "";
      char *t = strcasestr(buf, "x-sparkd-timestamp:"), *s = strcasestr(buf, "x-sparkd-signature:");
      if (t) sscanf(t + 19, " %31[0-9]", ts);
      if (s) sscanf(s + 19, " %79[0-9a-f]", sig);
      /* expected: HMAC-SHA256(secret, ts + "." + body), computed here with OpenSSL */
      char msg[70000];
      int mlen = snprintf(msg, sizeof msg, "%s.%s", ts, body);
      unsigned char mac[32];
      unsigned ml = 0;
      HMAC(EVP_sha256(), R.secret, (int)strlen(R.secret), (unsigned char *)msg, (size_t)mlen, mac, &ml);
      char hex[65];
      for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
      R.hmac_ok[R.n] = ts[0] && strcmp(hex, sig) == 0;
      json_t *j = json_loads(body, 0, NULL);
      snprintf(R.states[R.n], sizeof R.states[0], "%s",
               j ? json_string_value(json_object_get(json_object_get(j, "data"), "state")) : "?");
      snprintf(R.event_ids[R.n], sizeof R.event_ids[0], "%s",
               j ? json_string_value(json_object_get(j, "event_id")) : "?");
      json_decref(j);
      R.n++;
    }
    pthread_mutex_unlock(&R.mu);
    const char *resp = fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            : "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    send(c, resp, strlen(resp), MSG_NOSIGNAL);
    close(c);
  }
}

static void receiver_start(void) {
  R.fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(R.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(R.port)};
  ck_assert_int_eq(bind(R.fd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(R.fd, 16), 0);
  socklen_t sl = sizeof a;
  getsockname(R.fd, (struct sockaddr *)&a, &sl);
  R.port = ntohs(a.sin_port);
  pthread_create(&R.thread, NULL, receiver, NULL);
}

static void receiver_stop(void) {
  shutdown(R.fd, SHUT_RDWR);
  close(R.fd);
  pthread_join(R.thread, NULL);
}

static int received(void) {
  pthread_mutex_lock(&R.mu);
  int n = R.n;
  pthread_mutex_unlock(&R.mu);
  return n;
}

static bool wait_received(int n, int ms) {
  for (int i = 0; i < ms / 50; i++) {
    if (received() >= n) return true;
    sleep_ms(50);
  }
  return received() >= n;
}

/* A position of 100 units of collateral (18 decimals) at a 10% haircut against 50,000 USDC. */
static long long create_position_on(const char *key, const char *ext, const char *collateral) {
  char body[2048], idem[64];
  snprintf(body, sizeof body,
           "{\"external_id\":\"%s\",\"borrower\":\"fund-a\",\"custodian\":\"anchorage\","
           "\"collateral\":[{\"chain_id\":1,\"asset\":\"%s\",\"amount\":\"100000000000000000000\","
           "\"haircut_bps\":1000}],"
           "\"debt\":{\"chain_id\":1,\"asset\":\"" USDC "\",\"principal\":\"50000000000\",\"apr_bps\":0,"
           "\"accrual_start\":\"2026-01-01T00:00:00Z\"},"
           "\"thresholds\":{\"warning_bps\":6500,\"margin_call_bps\":7000,\"liquidation_bps\":8000,"
           "\"return_to_bps\":6000},\"cure_period_seconds\":259200,\"max_price_staleness_seconds\":3600}",
           ext, collateral);
  snprintf(idem, sizeof idem, "create-%s", ext);
  struct th_response r;
  req("POST", "/v1/partner/positions", key, idem, body, &r);
  ck_assert_msg(r.status == 201, "create: %d %s", r.status, r.body);
  json_t *j = body_json(&r);
  long long id = json_integer_value(json_object_get(j, "id"));
  json_decref(j);
  th_response_free(&r);
  return id;
}

static long long create_position(const char *key, const char *ext) { return create_position_on(key, ext, WETH); }

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "partner", "acme", key_a, sizeof key_a), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "partner", "beta", key_b, sizeof key_b), 0);
  char out[512], fixture[512];
  snprintf(fixture, sizeof fixture, "%s/tests/fixtures/snapshot_basic.json", SPARKD_SOURCE_DIR);
  const char *ia[] = {"import", fixture, NULL};
  ck_assert_int_eq(th_sparkd_run(dburl, ia, out, sizeof out), 0);
  snprintf(keyfile, sizeof keyfile, "/tmp/ltv_api_%d.key", (int)getpid());
  unlink(keyfile);
  const char *ka[] = {"keys", "signing-create", keyfile, NULL};
  ck_assert_int_eq(th_sparkd_run(dburl, ka, out, sizeof out), 0);
  struct stat st;
  ck_assert_int_eq(stat(keyfile, &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0600);
  static char kenv[300];
  snprintf(kenv, sizeof kenv, "SPARKD_SIGNING_KEY_FILE=%s", keyfile);
  env[1] = kenv;
}

static void teardown_all(void) {
  unlink(keyfile);
  th_pg_stop(&pg);
}

/* Verifies rec's signature with ethers against signer; returns the script's exit status. */
static int ethers_verify(json_t *rec, const char *signer) {
  json_t *sig = json_object_get(rec, "signature");
  ck_assert_msg(json_is_object(sig), "record is not signed");
  json_t *f = json_pack("{s:i,s:s,s:O,s:O}", "chain_id", 1, "signer", signer, "signature",
                        json_object_get(sig, "signature"), "record", json_object_get(sig, "message"));
  char path[128];
  snprintf(path, sizeof path, "/tmp/ltv_api_rec_%d.json", (int)getpid());
  ck_assert_int_eq(json_dump_file(f, path, 0), 0);
  json_decref(f);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cd %s && node tests/ltv_eip712.mjs verify %s >/dev/null", SPARKD_SOURCE_DIR, path);
  int st = system(cmd);
  unlink(path);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(ltv_state_machine_signature_webhooks) {
  /* started here, not in the fixture: Check runs the test in a child, which must own sparkd to
   * stop and restart it */
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  receiver_start();
  /* the webhook; its secret keys the receiver's HMAC check */
  char whbody[256];
  snprintf(whbody, sizeof whbody, "{\"url\":\"http://127.0.0.1:%u/hook\",\"events\":[\"ltv.state_changed\"]}", R.port);
  struct th_response r;
  req("POST", "/v1/partner/webhooks", key_a, "wh-1", whbody, &r);
  ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
  json_t *j = body_json(&r);
  snprintf(R.secret, sizeof R.secret, "%s", json_string_value(json_object_get(j, "secret")));
  ck_assert(strncmp(R.secret, "whsec_", 6) == 0);
  json_decref(j);
  th_response_free(&r);
  req("GET", "/v1/partner/webhooks", key_a, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_null(strstr(r.body, "whsec_")); /* the secret is shown once */
  th_response_free(&r);
  req("POST", "/v1/partner/webhooks", key_a, "wh-bad", "{\"url\":\"ftp://x\",\"events\":[\"nope\"]}", &r);
  ck_assert_int_eq(r.status, 400);
  ck_assert_ptr_nonnull(strstr(r.body, "\"url\""));
  ck_assert_ptr_nonnull(strstr(r.body, "events[0]"));
  th_response_free(&r);
  /* https is accepted (delivery over TLS: check_unit_https); deleted again so the walk below sees one */
  req("POST", "/v1/partner/webhooks", key_a, "wh-https",
      "{\"url\":\"https://partner.example/hooks/sparkd\",\"events\":[\"ltv.state_changed\"]}", &r);
  ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
  j = body_json(&r);
  char whpath[96];
  snprintf(whpath, sizeof whpath, "/v1/partner/webhooks/%s", json_string_value(json_object_get(j, "id")));
  json_decref(j);
  th_response_free(&r);
  req("DELETE", whpath, key_a, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);

  /* signer */
  req("GET", "/v1/signers", NULL, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  j = body_json(&r);
  char signer[64];
  snprintf(signer, sizeof signer, "%s",
           json_string_value(json_object_get(json_array_get(json_object_get(j, "signers"), 0), "address")));
  ck_assert_int_eq(strlen(signer), 42);
  json_decref(j);
  th_response_free(&r);

  /* 100 WETH, 10% haircut, 50,000 USDC at $1, no interest:
   * ltv = ceil(50000 / (100 * P * 0.9) * 10000). P = 1000 -> 5556 healthy. */
  set_weth(1000, 0);
  long long pos = create_position(key_a, "ltv-1");
  json_t *rec = ltv_wait(pos, 5556, "healthy");
  ck_assert_int_eq(json_integer_value(json_object_get(rec, "raw_ltv_bps")), 5000);
  ck_assert_str_eq(json_string_value(json_object_get(rec, "collateral_value_usd")), "100000.00000000");
  ck_assert_str_eq(json_string_value(json_object_get(rec, "weighted_collateral_value_usd")), "90000.00000000");
  ck_assert_int_eq(ethers_verify(rec, signer), 0);
  check_detail(rec, 1000, false);
  /* the same record is served again with the same signature (each read signs it again, with an
   * RFC 6979 nonce, so the signature follows from the record alone). Two reads that see the same
   * sequence (a recompute may land between them) are compared. */
  {
    char p2[128];
    snprintf(p2, sizeof p2, "/v1/partner/positions/%lld/ltv", pos);
    bool compared = false;
    for (int i = 0; i < 20 && !compared; i++) {
      json_t *two[2];
      for (int k = 0; k < 2; k++) {
        req("GET", p2, key_a, NULL, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        two[k] = body_json(&r);
        th_response_free(&r);
      }
      if (json_integer_value(json_object_get(two[0], "sequence")) ==
          json_integer_value(json_object_get(two[1], "sequence"))) {
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(two[0], "signature"), "signature")),
                         json_string_value(json_object_get(json_object_get(two[1], "signature"), "signature")));
        compared = true;
      }
      json_decref(two[0]);
      json_decref(two[1]);
    }
    ck_assert_msg(compared, "no two reads of the record saw the same sequence");
  }
  long long seq = json_integer_value(json_object_get(rec, "sequence"));
  ck_assert_int_ge(seq, 1);
  json_decref(rec);

  /* another partner: 404 on the record and its history */
  char path[128];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", pos);
  req("GET", path, key_b, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 404);
  th_response_free(&r);
  req("GET", path, NULL, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 401);
  th_response_free(&r);

  /* the walk: P, expected ltv, expected state; the receiver gets every state change in order */
  struct {
    long usd, age;
    long ltv;
    const char *state;
  } walk[] = {
      {800, 0, 6945, "warning"},     /* 50000/72000 = 0.69444 */
      {780, 0, 7123, "margin_call"}, /* 50000/70200 = 0.71225 */
      {850, 0, 6536, "margin_call"}, /* 50000/76500 = 0.65359: >= return_to 6000, the call holds */
      {600, 0, 9260, "liquidation"}, /* 50000/54000 = 0.92593 */
      {950, 0, 5848, "healthy"},     /* 50000/85500 = 0.58480: below return_to, cleared */
      {950, 4000, 5848, "stale"},    /* the WETH price is 4000 s old, bound 3600 */
      {1000, 0, 5556, "healthy"},
  };
  for (size_t i = 0; i < sizeof walk / sizeof walk[0]; i++) {
    set_weth(walk[i].usd, walk[i].age);
    rec = ltv_wait(pos, walk[i].ltv, walk[i].state);
    long long s2 = json_integer_value(json_object_get(rec, "sequence"));
    ck_assert_int_gt(s2, seq); /* monotonic */
    seq = s2;
    if (strcmp(walk[i].state, "margin_call") == 0 || strcmp(walk[i].state, "liquidation") == 0)
      ck_assert(json_is_string(json_object_get(rec, "cure_deadline")));
    if (strcmp(walk[i].state, "healthy") == 0) ck_assert(json_is_null(json_object_get(rec, "cure_deadline")));
    ck_assert_int_eq(ethers_verify(rec, signer), 0);
    check_detail(rec, walk[i].usd, strcmp(walk[i].state, "stale") == 0);
    json_decref(rec);
  }
  /* the state changes of the walk (850 keeps margin_call; 9260 -> 5848 goes straight to healthy) */
  const char *seen[] = {"warning", "margin_call", "liquidation", "healthy", "stale", "healthy"};
  size_t nseen = sizeof seen / sizeof seen[0];
  ck_assert_msg(wait_received((int)nseen, 15000), "received %d webhooks", received());
  pthread_mutex_lock(&R.mu);
  for (size_t i = 0; i < nseen; i++) {
    ck_assert_msg(strcmp(R.states[i], seen[i]) == 0, "event %zu: %s, want %s", i, R.states[i], seen[i]);
    ck_assert_msg(R.hmac_ok[i], "event %zu: bad hmac", i);
  }
  pthread_mutex_unlock(&R.mu);

  /* history: one row per state change at least, newest first, signed */
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv/history?limit=3", pos);
  req("GET", path, key_a, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  j = body_json(&r);
  json_t *recs = json_object_get(j, "records");
  ck_assert_int_eq(json_array_size(recs), 3);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(recs, 0), "state")), "healthy");
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(recs, 1), "state")), "stale");
  ck_assert(json_is_integer(json_object_get(j, "next_before")));
  ck_assert_int_eq(ethers_verify(json_array_get(recs, 1), signer), 0);
  json_decref(j);
  th_response_free(&r);

  /* retried on 500: the next change is answered 500 twice, then delivered */
  pthread_mutex_lock(&R.mu);
  R.fail_next = 2;
  int before_requests = R.requests;
  pthread_mutex_unlock(&R.mu);
  set_weth(800, 0); /* warning */
  ck_assert_msg(wait_received((int)nseen + 1, 15000), "not delivered after 500s");
  pthread_mutex_lock(&R.mu);
  ck_assert_int_ge(R.requests - before_requests, 3);
  ck_assert_str_eq(R.states[nseen], "warning");
  ck_assert(R.hmac_ok[nseen]);
  pthread_mutex_unlock(&R.mu);

  /* delivered after a restart: the receiver is down when the event is written, sparkd stops,
   * the receiver comes back, sparkd starts again and delivers from the outbox */
  unsigned port = R.port;
  receiver_stop();
  set_weth(780, 0); /* margin_call */
  json_decref(ltv_wait(pos, 7123, "margin_call"));
  sleep_ms(300); /* at least one failed attempt (connection refused) */
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
  R.port = port;
  receiver_start();
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  ck_assert_msg(wait_received((int)nseen + 2, 20000), "not delivered after restart");
  pthread_mutex_lock(&R.mu);
  ck_assert_str_eq(R.states[nseen + 1], "margin_call");
  ck_assert(R.hmac_ok[nseen + 1]);
  pthread_mutex_unlock(&R.mu);
  receiver_stop();
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
}
END_TEST

/* A price going stale with time alone is flagged by the sweep, which is due SPARKD_LTV_SWEEP_S (2 s
 * here) after the last full pass even while single-position notifications keep arriving (every
 * 250 ms here, as a busy partner's attestations would): they once postponed it for ever. */
START_TEST(ltv_sweep_not_starved) {
  const char *env2[] = {"SPARKD_MIGRATE=auto", env[1], "SPARKD_LTV_SWEEP_S=2", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env2) == 0);
  set_weth(1000, 3590); /* 3,590 s old, bound 3,600: fresh for about 10 s more */
  long long p1 = create_position(key_a, "sweep-1"), p2 = create_position(key_a, "sweep-2");
  json_decref(ltv_wait(p1, 5556, "healthy"));
  char path[128], notify[96];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", p1);
  snprintf(notify, sizeof notify, "NOTIFY sparkd_ltv, '%lld'", p2);
  bool stale = false;
  for (int i = 0; i < 120 && !stale; i++) { /* 30 s */
    ck_assert(th_pg_exec(dburl, notify) == 0);
    struct th_response r;
    req("GET", path, key_a, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *j = body_json(&r);
    th_response_free(&r);
    stale = strcmp(json_string_value(json_object_get(j, "state")), "stale") == 0;
    json_decref(j);
    if (!stale) sleep_ms(250);
  }
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
  ck_assert_msg(stale, "position %lld never went stale while another position was notified every 250 ms", p1);
}
END_TEST

#define WSTETH "0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0"

static int get_ltv(long long pos, json_t **out);

/* Sets one asset's price (whole dollars) as of `age` seconds ago, then notifies as an import does
 * (a payload: chain and block); the other prices are left exactly as they are. */
static void set_price(const char *asset, long usd, long age) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "UPDATE prices SET price = %ld00000000, updated_at = floor(extract(epoch FROM now()))::bigint - %ld"
           " WHERE chain_id = 1 AND asset = '%s'; NOTIFY sparkd_state, '1:21000001';",
           usd, age, asset);
  ck_assert(th_pg_exec(dburl, sql) == 0);
}

/* Returns the latest record of pos once its sequence is above `after` (waits up to 10 s). */
static json_t *record_after(long long pos, long long after) {
  for (int i = 0; i < 200; i++) {
    json_t *j = NULL;
    if (get_ltv(pos, &j) == 200 && json_integer_value(json_object_get(j, "sequence")) > after) return j;
    json_decref(j);
    sleep_ms(50);
  }
  ck_abort_msg("position %lld: no record after sequence %lld", pos, after);
  return NULL;
}

static long long seq_of(long long pos) {
  json_t *j = NULL;
  ck_assert_int_eq(get_ltv(pos, &j), 200);
  long long s = json_integer_value(json_object_get(j, "sequence"));
  json_decref(j);
  return s;
}

static const char *collateral_price(json_t *rec) {
  return json_string_value(json_object_get(json_array_get(json_object_get(rec, "collateral"), 0), "price_base"));
}

/* An import gives a new record only to the positions whose inputs changed: a price move of another
 * asset leaves a position's record (its sequence) alone, a move of its own asset's price gives it a
 * new one with the values the full recompute gives (hand arithmetic in ltv_state_machine's walk),
 * and a price going stale with time alone is still flagged by the sweep, even while imports that
 * change nothing for the position arrive every 250 ms. */
START_TEST(ltv_import_recomputes_changed_only) {
  const char *env2[] = {"SPARKD_MIGRATE=auto", env[1], "SPARKD_LTV_SWEEP_S=2", NULL};
  ck_assert(th_pg_exec(dburl, "UPDATE prices SET updated_at = floor(extract(epoch FROM now()))::bigint"
                              " WHERE chain_id = 1") == 0);
  set_weth(1000, 0);
  set_price(WSTETH, 1000, 0);
  ck_assert(th_sparkd_start(&sd, dburl, env2) == 0);
  long long pw = create_position(key_a, "inputs-weth"), ps = create_position_on(key_a, "inputs-wsteth", WSTETH);
  json_decref(ltv_wait(pw, 5556, "healthy"));
  json_decref(ltv_wait(ps, 5556, "healthy"));
  sleep_ms(1500); /* the worker's first full pass, if still due, has run */
  long long sw = seq_of(pw), ss = seq_of(ps);

  /* wstETH moves: the wstETH position gets a new record, the WETH one keeps its own */
  set_price(WSTETH, 900, 0);
  json_t *rec = record_after(ps, ss);
  ck_assert_str_eq(collateral_price(rec), "90000000000");
  ck_assert_int_eq(json_integer_value(json_object_get(rec, "ltv_bps")), 6173); /* 50000 / (90 x 900) = 0.61728 */
  ss = json_integer_value(json_object_get(rec, "sequence"));
  json_decref(rec);
  sleep_ms(500);
  ck_assert_int_eq(seq_of(pw), sw);

  /* WETH moves: the other way round */
  set_price(WETH, 800, 0);
  rec = record_after(pw, sw);
  ck_assert_str_eq(collateral_price(rec), "80000000000");
  ck_assert_int_eq(json_integer_value(json_object_get(rec, "ltv_bps")), 6945); /* as in the walk */
  ck_assert_str_eq(json_string_value(json_object_get(rec, "state")), "warning");
  check_detail(rec, 800, false);
  sw = json_integer_value(json_object_get(rec, "sequence"));
  json_decref(rec);
  sleep_ms(500);
  ck_assert_int_eq(seq_of(ps), ss);

  /* the same prices again (an import that changes nothing): no new record for either */
  ck_assert(th_pg_exec(dburl, "NOTIFY sparkd_state, '1:21000002'") == 0);
  sleep_ms(1000);
  ck_assert_int_eq(seq_of(pw), sw);
  ck_assert_int_eq(seq_of(ps), ss);

  /* WETH priced 3,597 s ago (bound 3,600): fresh now, stale within seconds with no price change */
  set_price(WETH, 800, 3597);
  rec = record_after(pw, sw);
  ck_assert_str_eq(json_string_value(json_object_get(rec, "state")), "warning");
  sw = json_integer_value(json_object_get(rec, "sequence"));
  json_decref(rec);
  bool stale = false;
  for (int i = 0; i < 60 && !stale; i++) { /* 15 s; imports touching only wstETH keep arriving */
    set_price(WSTETH, 900 + (i % 2), 0);
    json_t *j = NULL;
    ck_assert_int_eq(get_ltv(pw, &j), 200);
    stale = strcmp(json_string_value(json_object_get(j, "state")), "stale") == 0;
    if (stale) ck_assert_int_gt(json_integer_value(json_object_get(j, "sequence")), sw);
    json_decref(j);
    if (!stale) sleep_ms(250);
  }
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
  ck_assert_msg(stale, "position %lld never went stale while imports of another price kept arriving", pw);
}
END_TEST

/* Returns whether name resolves, and only to 127.0.0.0/8 (this machine's host name usually does:
 * Debian's /etc/hosts maps it to 127.0.1.1). */
static bool resolves_to_loopback(const char *name) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(name, NULL, &hints, &res) != 0) return false;
  bool all = res != NULL;
  for (struct addrinfo *p = res; p; p = p->ai_next)
    all = all && p->ai_family == AF_INET && (ntohl(((struct sockaddr_in *)p->ai_addr)->sin_addr.s_addr) >> 24) == 127;
  freeaddrinfo(res);
  return all;
}

START_TEST(webhook_targets_refused) {
  const char *env3[] = {"SPARKD_MIGRATE=auto", env[1], NULL}; /* no SPARKD_WEBHOOK_ALLOW_PRIVATE */
  ck_assert(th_sparkd_start(&sd, dburl, env3) == 0);
  receiver_start();
  static const char *const refused[] = {
      "http://127.0.0.1:%u/hook",
      "http://[::1]:5432/",
      "http://0.0.0.0:22/",
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/hook",
      "http://0x7f.1:%u/hook",
      "http://2130706433:%u/hook",
      "http://[::ffff:127.0.0.1]:%u/hook",
      "http://localhost:%u/v1/admin/snapshots",
      "https://user:pass@partner.example/hook",
      "https://partner.example:99999/hook",
      "https://partner.example:-1/hook",
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    char url[128], body[256], idem[32];
    snprintf(url, sizeof url, refused[i], R.port);
    snprintf(body, sizeof body, "{\"url\":\"%s\",\"events\":[\"ltv.state_changed\"]}", url);
    snprintf(idem, sizeof idem, "wh-refused-%zu", i);
    struct th_response r;
    req("POST", "/v1/partner/webhooks", key_b, idem, body, &r);
    ck_assert_msg(r.status == 400, "%s: %d %s", url, r.status, r.body);
    json_t *j = body_json(&r);
    json_t *e = json_array_get(json_object_get(j, "errors"), 0);
    ck_assert_msg(e && strcmp(json_string_value(json_object_get(e, "field")), "url") == 0, "%s: %s", url, r.body);
    json_decref(j);
    th_response_free(&r);
  }

  /* a name that resolves to loopback passes registration (names are not resolved then) and is
   * refused when the webhook is sent */
  char host[256] = "";
  ck_assert_int_eq(gethostname(host, sizeof host), 0);
  if (!resolves_to_loopback(host) || strcmp(host, "localhost") == 0) {
    fprintf(stderr,
            "webhook_targets_refused: the host name %s does not resolve to loopback only; "
            "the delivery-time check is covered by check_unit_https only\n",
            host);
    receiver_stop();
    ck_assert_int_eq(th_sparkd_stop(&sd), 0);
    return;
  }
  char body[512];
  snprintf(body, sizeof body, "{\"url\":\"http://%s:%u/hook\",\"events\":[\"ltv.state_changed\"]}", host, R.port);
  struct th_response r;
  req("POST", "/v1/partner/webhooks", key_b, "wh-rebind", body, &r);
  ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
  json_t *j = body_json(&r);
  long long wid = strtoll(json_string_value(json_object_get(j, "id")), NULL, 10);
  json_decref(j);
  th_response_free(&r);
  set_weth(800, 0);
  create_position(key_b, "rebind-1"); /* its first record (warning, 6945) is an event for beta's webhook */
  char sql[768];
  snprintf(sql, sizeof sql,
           "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM webhook_attempts a JOIN webhook_outbox o USING (event_seq)"
           " WHERE o.webhook_id = %lld AND o.delivered_at IS NULL AND a.http_status IS NULL"
           " AND a.error LIKE 'refused: 127.%% is a loopback address%%') THEN RAISE EXCEPTION 'no refused attempt';"
           " END IF; END $$",
           wid);
  bool seen = false;
  for (int i = 0; i < 100 && !seen; i++) { /* 10 s */
    seen = th_pg_exec(dburl, sql) == 0;
    if (!seen) sleep_ms(100);
  }
  ck_assert_msg(seen, "no attempt of webhook %lld refused as loopback", wid);
  pthread_mutex_lock(&R.mu);
  ck_assert_int_eq(R.requests, 0); /* the receiver was never connected to */
  pthread_mutex_unlock(&R.mu);
  receiver_stop();
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
}
END_TEST

/* Posts a position whose collateral amount and debt principal are as given; returns the status,
 * with the field named by the first error (or "") in field. */
static int post_position(const char *ext, const char *amount, const char *principal, char *field, size_t len) {
  char body[2048], idem[64];
  snprintf(body, sizeof body,
           "{\"external_id\":\"%s\",\"borrower\":\"fund-a\",\"custodian\":\"anchorage\","
           "\"collateral\":[{\"chain_id\":1,\"asset\":\"" WETH "\",\"amount\":\"%s\",\"haircut_bps\":1000}],"
           "\"debt\":{\"chain_id\":1,\"asset\":\"" USDC "\",\"principal\":\"%s\",\"apr_bps\":0,"
           "\"accrual_start\":\"2026-01-01T00:00:00Z\"},"
           "\"thresholds\":{\"warning_bps\":6500,\"margin_call_bps\":7000,\"liquidation_bps\":8000,"
           "\"return_to_bps\":6000},\"cure_period_seconds\":259200,\"max_price_staleness_seconds\":3600}",
           ext, amount, principal);
  snprintf(idem, sizeof idem, "create-%s", ext);
  struct th_response r;
  req("POST", "/v1/partner/positions", key_a, idem, body, &r);
  json_t *j = body_json(&r);
  const char *f = json_string_value(json_object_get(json_array_get(json_object_get(j, "errors"), 0), "field"));
  snprintf(field, len, "%s", f ? f : "");
  int st = r.status;
  json_decref(j);
  th_response_free(&r);
  return st;
}

#define U256_MAX_DEC "115792089237316195423570985008687907853269984665640564039457584007913129639935"
#define U128_MAX_DEC "340282366920938463463374607431768211455"
#define U128_DEC "340282366920938463463374607431768211456"

/* Returns the status of GET .../ltv of pos, with the body in *out (caller frees). */
static int get_ltv(long long pos, json_t **out) {
  char path[128];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", pos);
  struct th_response r;
  req("GET", path, key_a, NULL, NULL, &r);
  int st = r.status;
  *out = body_json(&r);
  th_response_free(&r);
  return st;
}

/* Amounts the LTV computation cannot carry are refused at input, naming the field; a record that
 * cannot be recomputed (a price far beyond any asset's) is served flagged, never silently, and a
 * position that never had one is a 422, not a 503. */
START_TEST(ltv_overflow) {
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  set_weth(1000, 0);
  char field[64];
  ck_assert_int_eq(post_position("ovf-1", U256_MAX_DEC, "50000000000", field, sizeof field), 400);
  ck_assert_str_eq(field, "collateral[0].amount");
  ck_assert_int_eq(post_position("ovf-2", U128_DEC, "50000000000", field, sizeof field), 400);
  ck_assert_str_eq(field, "collateral[0].amount");
  ck_assert_int_eq(post_position("ovf-3", "100000000000000000000", U256_MAX_DEC, field, sizeof field), 400);
  ck_assert_str_eq(field, "debt.principal");
  ck_assert_int_eq(post_position("ovf-4", U128_MAX_DEC, U128_MAX_DEC, field, sizeof field), 201);

  long long p = create_position(key_a, "ovf-5");
  char path[128];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/attestations", p);
  struct th_response r;
  req("POST", path, key_a, "attest-ovf-5",
      "{\"as_of\":\"2026-01-02T00:00:00Z\",\"custodian_reference\":\"ovf\","
      "\"balances\":[{\"chain_id\":1,\"asset\":\"" WETH "\",\"amount\":\"" U256_MAX_DEC "\"}]}",
      &r);
  ck_assert_msg(r.status == 400, "%d %s", r.status, r.body);
  json_t *j = body_json(&r);
  th_response_free(&r);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "errors"), 0), "field")),
                   "balances[0].amount");
  json_decref(j);

  /* 100 WETH at 2^255 base units each is worth 100 * 2^255: more than 256 bits */
  j = ltv_wait(p, 5556, "healthy");
  ck_assert(json_is_null(json_object_get(j, "not_recomputable")));
  long long seq = json_integer_value(json_object_get(j, "sequence"));
  json_decref(j);
  ck_assert(
      th_pg_exec(
          dburl,
          "UPDATE prices SET price = 57896044618658097711785492504343953926634992332820282019728792003956564819968"
          " WHERE chain_id = 1 AND asset = '" WETH "'; NOTIFY sparkd_state;") == 0);
  json_t *nr = NULL;
  for (int i = 0; i < 200; i++) {
    ck_assert_int_eq(get_ltv(p, &j), 200);
    nr = json_object_get(j, "not_recomputable");
    ck_assert_msg(nr != NULL, "the record has no not_recomputable field");
    if (json_is_object(nr)) break;
    json_decref(j);
    j = NULL;
    sleep_ms(50);
  }
  ck_assert_msg(j != NULL, "the old record was never flagged");
  /* the last record, as it was computed at $1,000 */
  ck_assert_int_eq(json_integer_value(json_object_get(j, "ltv_bps")), 5556);
  ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "healthy");
  seq = json_integer_value(json_object_get(j, "sequence"));
  ck_assert(json_is_string(json_object_get(nr, "since")));
  ck_assert(strstr(json_string_value(json_object_get(nr, "reason")), "256 bits") != NULL);
  json_decref(j);

  /* a new position at that price has no record to serve */
  long long q = create_position(key_a, "ovf-6");
  ck_assert_int_eq(get_ltv(q, &j), 422);
  ck_assert_str_eq(json_string_value(json_object_get(j, "code")), "not_computable");
  json_decref(j);

  /* the price comes back: both get a current record */
  set_weth(1000, 0);
  for (int i = 0; i < 200; i++) {
    ck_assert_int_eq(get_ltv(p, &j), 200);
    if (json_is_null(json_object_get(j, "not_recomputable"))) break;
    json_decref(j);
    j = NULL;
    sleep_ms(50);
  }
  ck_assert_msg(j != NULL, "the flag was never cleared");
  ck_assert_int_gt(json_integer_value(json_object_get(j, "sequence")), seq);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "ltv_bps")), 5556);
  json_decref(j);
  json_decref(ltv_wait(q, 5556, "healthy"));
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ltv_api");
  TCase *tc = tcase_create("ltv_api");
  tcase_set_timeout(tc, 180);
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_add_test(tc, ltv_state_machine_signature_webhooks);
  tcase_add_test(tc, ltv_sweep_not_starved);
  tcase_add_test(tc, ltv_import_recomputes_changed_only);
  tcase_add_test(tc, webhook_targets_refused);
  tcase_add_test(tc, ltv_overflow);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
