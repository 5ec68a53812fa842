/* ctest-label: api */
/* What an outside attack on the ops risk routes, the partner portfolios and `sparkd index` found,
 * each a regression test through the real sparkd against a private PostgreSQL loaded with
 * tests/fixtures/accounts_basic.json:
 * - query strings: a parameter given twice (`paths=100&paths=100000` was read as 100, while a
 *   proxy or log reading the last one saw 100000), a value cut by %00 (`paths=100%00junk` read as
 *   100), more than 64 parameters, and a trailing comma in a list (`assets=WETH,` was WETH) are
 *   400 bad_query_parameter naming the parameter, on any route;
 * - the stress scenario: the same reserve named twice (`WETH` and `weth`: the last silently
 *   applied, and the reply echoed a JSON object with the key twice) is 400 naming the second;
 *   an impact_coefficient above 18.4 (documented up to 100) was refused;
 * - portfolios: legs over several venues adding up to more than the engine's 64, or a perp whose
 *   quantity x price passes 2^60 usd8, were stored (201) and left the portfolio 422 for ever;
 *   both are now refused at the input, naming the field;
 * - `sparkd index` against a hostile node (a JSON-RPC server in this process): a head of
 *   0xffffffffffffffff (past bigint; the log range loop wrapped to block 0 for ever), "0x-1"
 *   (strtoull took it as 2^64 - 1), a block answered for another number than asked, and a
 *   redirect to another port (never followed) all stop the step before anything else is read;
 *   an answer past 64 MiB (a log flood) is refused unread, as the node refusing the call; and a
 *   node that knows none of the applied blocks no longer has all of the chain's state dropped;
 * - every reply carries X-Content-Type-Options: nosniff (a 404 echoes the path asked);
 * - two Authorization or two Idempotency-Key headers are refused (the first was used). */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chain/rpc.h"
#include "support/httptest.h"
#include "support/pgtest.h"

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/accounts_basic.json"
#define NETWORK SPARKD_SOURCE_DIR "/deploy/networks/ethereum.json"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;
static char key_partner[64], key_ops[64];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* One request; key and idem may be NULL. Returns the status, the body parsed into *out. */
static int call(const char *method, const char *path, const char *key, const char *idem, const char *body,
                json_t **out) {
  char h[512] = "";
  size_t n = 0;
  if (key) n += (size_t)snprintf(h + n, sizeof h - n, "Authorization: Bearer %s\r\n", key);
  if (idem) n += (size_t)snprintf(h + n, sizeof h - n, "Idempotency-Key: %s\r\n", idem);
  if (body) snprintf(h + n, sizeof h - n, "Content-Type: application/json\r\n");
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, method, path, h, body, &r), 0);
  int status = r.status;
  json_error_t e;
  *out = json_loads(r.body, 0, &e);
  ck_assert_msg(*out != NULL, "%s %s: not json: %s", method, path, r.body);
  th_response_free(&r);
  return status;
}

/* The reply is `status` with `code` and its errors name field (with field_code when not NULL). */
static void ck_refused(const char *method, const char *path, const char *key, const char *body, int status,
                       const char *code, const char *field, const char *field_code) {
  json_t *j;
  int st = call(method, path, key, NULL, body, &j);
  char *d = json_dumps(j, JSON_COMPACT);
  ck_assert_msg(st == status, "%s %s: %d, not %d: %s", method, path, st, status, d);
  ck_assert_msg(strcmp(json_string_value(json_object_get(j, "code")), code) == 0, "%s %s: %s", method, path, d);
  json_t *e;
  size_t i;
  bool found = false;
  json_array_foreach(json_object_get(j, "errors"), i, e) {
    found |= strcmp(json_string_value(json_object_get(e, "field")), field) == 0 &&
             (!field_code || strcmp(json_string_value(json_object_get(e, "code")), field_code) == 0);
  }
  ck_assert_msg(found, "%s %s: errors do not name %s (%s): %s", method, path, field, field_code ? field_code : "", d);
  free(d);
  json_decref(j);
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "partner", "acme", key_partner, sizeof key_partner), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "ops", NULL, key_ops, sizeof key_ops), 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  ck_assert_int_eq(th_sparkd_import(dburl, FIXTURE), 0);
  for (int i = 0; i < 200; i++) {
    json_t *j;
    int st = call("GET", "/v1/risk/1/concentration", key_ops, NULL, NULL, &j);
    json_decref(j);
    if (st == 200) return;
    sleep_ms(50);
  }
  ck_abort_msg("chain state never loaded");
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

START_TEST(query_strings) {
  const char *B = "bad_query_parameter";
  /* before: 200, computed with the first value */
  ck_refused("GET", "/v1/risk/1/var?paths=100&paths=100000", key_ops, NULL, 400, B, "paths", NULL);
  ck_refused("GET", "/v1/risk/1/var?paths=100%00junk", key_ops, NULL, 400, B, "paths", NULL);
  ck_refused("GET", "/v1/risk/1/var?seed=1%00", key_ops, NULL, 400, B, "seed", NULL);
  ck_refused("GET", "/v1/chains?limit=1&limit=2", NULL, NULL, 400, B, "limit", NULL); /* any route */
  char path[1024] = "/v1/risk/1/concentration?";
  for (int i = 0; i < 65; i++)
    snprintf(path + strlen(path), sizeof path - strlen(path), "%sp%d=1", i ? "&" : "", i);
  ck_refused("GET", path, key_ops, NULL, 400, B, "p64", NULL);
  /* before: 200 for WETH alone */
  ck_refused("GET", "/v1/risk/1/liquidations-at-risk?assets=WETH,", key_ops, NULL, 400, B, "assets", NULL);
  ck_refused("GET", "/v1/risk/1/liquidations-at-risk?drops=0.1,", key_ops, NULL, 400, B, "drops", NULL);
  ck_refused("GET", "/v1/risk/1/var?vols=WETH:0.5,weth:0.1", key_ops, NULL, 400, B, "vols", "duplicate");
  /* one of each is still fine, and so are 64 */
  json_t *j;
  ck_assert_int_eq(call("GET", "/v1/risk/1/var?paths=100&seed=7", key_ops, NULL, NULL, &j), 200);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "paths")), 100);
  json_decref(j);
  char *amp = strrchr(path, '&');
  *amp = 0;
  ck_assert_int_eq(call("GET", path, key_ops, NULL, NULL, &j), 200);
  json_decref(j);
}
END_TEST

START_TEST(stress_inputs) {
  const char *V = "validation_failed";
  /* before: 200, the second shock applied and "WETH" twice in the reply's scenario */
  ck_refused("POST", "/v1/risk/1/stress", key_ops, "{\"price_shocks\":{\"WETH\":\"-0.5\",\"weth\":\"-0.2\"}}", 400, V,
             "price_shocks.weth", "duplicate");
  ck_refused("POST", "/v1/risk/1/stress", key_ops, "{\"rate_shocks\":{\"USDC\":\"0.1\",\"usdc\":\"0.2\"}}", 400, V,
             "rate_shocks.usdc", "duplicate");
  ck_refused("POST", "/v1/risk/1/stress", key_ops,
             "{\"slippage\":{\"WETH\":{\"depth_base\":\"1\"},\"weth\":{\"depth_base\":\"2\"}}}", 400, V,
             "slippage.weth", "duplicate");
  /* documented 0 to 100; before: anything above 18.44 was out_of_range */
  json_t *j;
  ck_assert_int_eq(call("POST", "/v1/risk/1/stress", key_ops, NULL,
                        "{\"price_shocks\":{\"WETH\":\"-0.3\"},\"slippage\":{\"WETH\":{\"depth_base\":\"1000000000\","
                        "\"impact_coefficient\":\"100\"}}}",
                        &j),
                   200);
  json_decref(j);
  ck_refused("POST", "/v1/risk/1/stress", key_ops,
             "{\"slippage\":{\"WETH\":{\"depth_base\":\"1\",\"impact_coefficient\":\"100.5\"}}}", 400, V,
             "slippage.WETH.impact_coefficient", "out_of_range");
}
END_TEST

/* Headers read once but sent twice: which one did a proxy in front check? Before: the first was
 * used (a valid key first and junk after was served, and the first Idempotency-Key keyed the
 * write). */
START_TEST(duplicate_headers) {
  char h[512];
  snprintf(h, sizeof h, "Authorization: Bearer %s\r\nAuthorization: Bearer sk_junk\r\n", key_partner);
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, "GET", "/v1/partner/positions", h, NULL, &r), 0);
  ck_assert_msg(r.status == 401, "two Authorization headers: %d %s", r.status, r.body);
  th_response_free(&r);
  snprintf(h, sizeof h,
           "Authorization: Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: a\r\n"
           "Idempotency-Key: b\r\n",
           key_partner);
  const char *body = "{\"external_id\":\"dup-idem\",\"borrower\":\"b\"}";
  ck_assert_int_eq(th_http(sd.port, "POST", "/v1/partner/portfolios", h, body, &r), 0);
  ck_assert_msg(r.status == 400 && strstr(r.body, "\"field\":\"Idempotency-Key\"") && strstr(r.body, "duplicate"),
                "two Idempotency-Key headers: %d %s", r.status, r.body);
  th_response_free(&r);
  /* one of each is fine */
  json_t *j;
  ck_assert_int_eq(call("POST", "/v1/partner/portfolios", key_partner, "a", body, &j), 201);
  json_decref(j);
}
END_TEST

/* n spot legs of 1 ETH on venue as JSON (malloc'd). */
static char *spot_legs(const char *venue, int n) {
  json_t *legs = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(legs, json_pack("{s:s,s:s,s:s}", "kind", "spot", "underlying", "ETH", "quantity", "1"));
  json_t *b =
      json_pack("{s:s,s:s,s:s,s:o}", "venue", venue, "as_of", "2026-01-01T00:00:00Z", "reference", "r", "legs", legs);
  char *s = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  return s;
}

START_TEST(portfolio_legs_fit_the_engine) {
  json_t *j;
  ck_assert_int_eq(call("POST", "/v1/partner/portfolios", key_partner, "create-1",
                        "{\"external_id\":\"attack-1\",\"borrower\":\"b\"}", &j),
                   201);
  char path[128];
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/legs", json_string_value(json_object_get(j, "id")));
  json_decref(j);
  /* 32 + 32 fit the engine's 64; 32 more on a third venue do not (before: 201, then 422 for ever) */
  const char *venues[] = {"custodian", "exchange"};
  for (int v = 0; v < 2; v++) {
    char *body = spot_legs(venues[v], 32);
    ck_assert_int_eq(call("POST", path, key_partner, venues[v], body, &j), 201);
    json_decref(j);
    free(body);
  }
  char *body = spot_legs("defi", 32);
  ck_assert_int_eq(call("POST", path, key_partner, "defi", body, &j), 400);
  char *d = json_dumps(j, JSON_COMPACT);
  ck_assert_msg(strstr(d, "\"field\":\"legs\"") && strstr(d, "too_many"), "%s", d);
  free(d);
  json_decref(j);
  free(body);
  /* replacing a venue's legs is measured without its old ones: 32 new for custodian still fit */
  body = spot_legs("custodian", 32);
  ck_assert_int_eq(call("POST", path, key_partner, "custodian-again", body, &j), 201);
  json_decref(j);
  free(body);
  /* a perp whose notional passes 2^60 usd8 ($11.5bn) though quantity and prices each fit */
  ck_refused("POST", path, key_partner,
             "{\"venue\":\"defi\",\"as_of\":\"2026-01-01T00:00:00Z\",\"reference\":\"r\",\"legs\":[{\"kind\":\"perp\","
             "\"underlying\":\"BTC\",\"quantity\":\"1000000\",\"entry_price\":\"100000\",\"mark_price\":\"100000\"}]}",
             400, "validation_failed", "legs[0].quantity", "out_of_range");
}
END_TEST

/* ---- a hostile JSON-RPC node ---- */

enum node_mode { HEAD_MAX, HEAD_NEGATIVE, WRONG_NUMBER, REDIRECT, HUGE_ANSWER, NO_SUCH_BLOCKS };

struct node {
  int fd;
  unsigned port;
  enum node_mode mode;
  unsigned redirect_port;
  atomic_int accepted, requests, other_calls; /* other_calls: methods but eth_getBlockByNumber */
  atomic_bool stop;
  pthread_t thread;
};

static int listen_any(unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(fd, 16), 0);
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  *port = ntohs(a.sin_port);
  return fd;
}

static json_t *block(const char *number) {
  return json_pack("{s:s,s:s,s:s,s:s}", "number", number, "timestamp", "0x6000", "hash",
                   "0x1111111111111111111111111111111111111111111111111111111111111111", "parentHash",
                   "0x2222222222222222222222222222222222222222222222222222222222222222");
}

/* The answer to one JSON-RPC batch. */
static char *answer(struct node *n, json_t *batch) {
  json_t *out = json_array(), *c;
  size_t i;
  json_array_foreach(batch, i, c) {
    const char *m = json_string_value(json_object_get(c, "method"));
    json_t *id = json_object_get(c, "id"), *res = NULL;
    if (m && strcmp(m, "eth_getBlockByNumber") == 0) {
      const char *which = json_string_value(json_array_get(json_object_get(c, "params"), 0));
      bool latest = which && strcmp(which, "latest") == 0;
      if (n->mode == NO_SUCH_BLOCKS) /* a head above ours, and none of our blocks */
        res = latest ? block("0x1406f50") : json_null();
      else
        res = block(n->mode == HEAD_MAX        ? "0xffffffffffffffff"
                    : n->mode == HEAD_NEGATIVE ? "0x-1"
                    : latest                   ? "0x10"
                                               : "0x5"); /* WRONG_NUMBER: not the block asked for */
    } else {
      atomic_fetch_add(&n->other_calls, 1);
    }
    json_array_append_new(out, res ? json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result", res)
                                   : json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id, "error", "code",
                                               -32601, "message", "no"));
  }
  char *s = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  return s;
}

static void serve_one(struct node *n, int c) {
  char buf[65536];
  size_t len = 0;
  char *body = NULL;
  size_t want = 0;
  while (len + 1 < sizeof buf) {
    struct pollfd p = {c, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return;
    ssize_t k = recv(c, buf + len, sizeof buf - 1 - len, 0);
    if (k <= 0) return;
    len += (size_t)k;
    buf[len] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) continue;
    char *cl = strcasestr(buf, "Content-Length:");
    want = cl ? strtoul(cl + 15, NULL, 10) : 0;
    body = end + 4;
    if ((size_t)(buf + len - body) >= want) break;
  }
  if (!body) return;
  atomic_fetch_add(&n->requests, 1);
  char head[256];
  if (n->mode == REDIRECT) {
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%u/\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n",
                     n->redirect_port);
    send(c, head, (size_t)h, MSG_NOSIGNAL);
    return;
  }
  json_t *batch = json_loadb(body, want, 0, NULL);
  if (n->mode == HUGE_ANSWER) { /* one well-formed answer of 65 MiB: a result string of zeros */
    size_t pad = (size_t)65 << 20;
    char pre[96];
    int p = snprintf(pre, sizeof pre, "[{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":\"0x",
                     (long long)json_integer_value(json_object_get(json_array_get(batch, 0), "id")));
    json_decref(batch);
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     (size_t)p + pad + 3);
    send(c, head, (size_t)h, MSG_NOSIGNAL);
    send(c, pre, (size_t)p, MSG_NOSIGNAL);
    char *zeros = malloc(1 << 20);
    memset(zeros, '0', 1 << 20);
    for (size_t k = 0; k < pad >> 20; k++)
      if (send(c, zeros, 1 << 20, MSG_NOSIGNAL) < 0) break; /* the client hung up: refused */
    free(zeros);
    send(c, "\"}]", 3, MSG_NOSIGNAL);
    return;
  }
  char *a = batch ? answer(n, batch) : strdup("garbage");
  json_decref(batch);
  int h = snprintf(head, sizeof head,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   strlen(a));
  send(c, head, (size_t)h, MSG_NOSIGNAL);
  send(c, a, strlen(a), MSG_NOSIGNAL);
  free(a);
}

static void *node_run(void *arg) {
  struct node *n = arg;
  while (!atomic_load(&n->stop)) {
    struct pollfd p = {n->fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int c = accept(n->fd, NULL, NULL);
    if (c < 0) continue;
    atomic_fetch_add(&n->accepted, 1);
    if (n->mode != REDIRECT || n->redirect_port) serve_one(n, c);
    close(c);
  }
  return NULL;
}

static void node_start(struct node *n, enum node_mode mode, unsigned redirect_port) {
  memset(n, 0, sizeof *n);
  n->mode = mode;
  n->redirect_port = redirect_port;
  n->fd = listen_any(&n->port);
  ck_assert_int_eq(pthread_create(&n->thread, NULL, node_run, n), 0);
}

static void node_stop(struct node *n) {
  atomic_store(&n->stop, true);
  pthread_join(n->thread, NULL);
  close(n->fd);
}

/* Runs `sparkd index --once` against the node; returns its exit status. */
static int index_once(const struct node *n) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", n->port);
  setenv("SPARKD_RPC_URL", url, 1);
  setenv("SPARKD_NETWORK_FILE", NETWORK, 1);
  setenv("SPARKD_INDEX_POLL_MS", "10", 1);
  setenv("SPARKD_INDEX_RPC_RETRIES", "0", 1);
  setenv("SPARKD_INDEX_RPC_TIMEOUT_MS", "5000", 1);
  const char *args[] = {"index", "--once", NULL};
  char out[4096];
  int st = th_sparkd_run(dburl, args, out, sizeof out);
  unsetenv("SPARKD_RPC_URL");
  unsetenv("SPARKD_NETWORK_FILE");
  return st;
}

START_TEST(hostile_node_headers) {
  const enum node_mode modes[] = {HEAD_MAX, HEAD_NEGATIVE, WRONG_NUMBER};
  const char *names[] = {"head 0xffffffffffffffff", "head 0x-1", "block 5 answered for block 16"};
  for (int i = 0; i < 3; i++) {
    struct node n;
    node_start(&n, modes[i], 0);
    int st = index_once(&n);
    node_stop(&n);
    ck_assert_msg(st == 1, "%s: sparkd index exited %d", names[i], st);
    /* refused at the header: nothing of the market was read (before: eth_call and eth_getLogs) */
    ck_assert_msg(atomic_load(&n.requests) > 0, "%s: the node was never asked", names[i]);
    ck_assert_msg(atomic_load(&n.other_calls) == 0, "%s: %d calls past the header", names[i],
                  atomic_load(&n.other_calls));
  }
}
END_TEST

START_TEST(hostile_node_redirect) {
  struct node other, n;
  node_start(&other, REDIRECT, 0); /* counts what reaches it; answers nothing */
  node_start(&n, REDIRECT, other.port);
  int st = index_once(&n);
  node_stop(&n);
  sleep_ms(200);
  node_stop(&other);
  ck_assert_int_eq(st, 1);
  ck_assert_int_gt(atomic_load(&n.requests), 0);
  ck_assert_msg(atomic_load(&other.accepted) == 0, "the redirect was followed");
}
END_TEST

/* A node that knows none of the applied blocks (another chain, one not synced, or lying) had
 * sparkd index drop every block of the chain's state, the imported ones included: the chain was
 * then served at block 0. Now the step fails and nothing is rewound. */
START_TEST(hostile_node_cannot_rewind_everything) {
  struct node n;
  node_start(&n, NO_SUCH_BLOCKS, 0);
  int st = index_once(&n);
  node_stop(&n);
  ck_assert_int_eq(st, 1);
  json_t *j;
  ck_assert_int_eq(call("GET", "/v1/chains", NULL, NULL, NULL, &j), 200);
  json_t *c = json_array_get(json_object_get(j, "data"), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(c, "block_number")), 21000000);
  json_decref(j);
  ck_assert_int_eq(call("GET", "/v1/risk/1/concentration", key_ops, NULL, NULL, &j), 200);
  json_decref(j);
}
END_TEST

/* A node's 65 MiB answer (a log flood) is refused unread, as the node refusing the call, so an
 * eth_getLogs range halves (before: read whole, up to 512 MiB, about 1.8 GB parsed). */
START_TEST(rpc_answer_too_large) {
  struct node n;
  node_start(&n, HUGE_ANSWER, 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", n.port);
  struct chain_rpc_opts o = {.url = url, .timeout_ms = 20000, .retries = 0};
  struct chain_rpc *rpc = chain_rpc_new(&o);
  ck_assert_ptr_nonnull(rpc);
  json_t *res = NULL;
  int r = chain_rpc_call1(rpc, "eth_getLogs", json_array(), &res);
  ck_assert_msg(r == -2, "a 65 MiB answer: %d (%s)", r, chain_rpc_last_error(rpc));
  ck_assert_ptr_null(res);
  ck_assert_msg(strstr(chain_rpc_last_error(rpc), "larger than"), "%s", chain_rpc_last_error(rpc));
  chain_rpc_free(rpc);
  node_stop(&n);
}
END_TEST

/* Every reply says nosniff: a 404 echoes the path it was asked. */
START_TEST(replies_say_nosniff) {
  const char *paths[] = {"/v1/nothing/%3Cscript%3E", "/v1/chains", "/healthz", "/ops"};
  for (size_t i = 0; i < 4; i++) {
    struct th_response r;
    ck_assert_int_eq(th_http(sd.port, "GET", paths[i], NULL, NULL, &r), 0);
    char *h = th_header(&r, "X-Content-Type-Options");
    ck_assert_msg(h && strcmp(h, "nosniff") == 0, "%s: %s", paths[i], r.headers);
    ck_assert_msg(!strstr(strstr(r.headers, "nosniff") + 7, "nosniff"), "%s: nosniff twice: %s", paths[i], r.headers);
    free(h);
    th_response_free(&r);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("api_attack");
  TCase *tc = tcase_create("attack");
  tcase_set_timeout(tc, 300);
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_add_test(tc, query_strings);
  tcase_add_test(tc, stress_inputs);
  tcase_add_test(tc, portfolio_legs_fit_the_engine);
  tcase_add_test(tc, duplicate_headers);
  tcase_add_test(tc, hostile_node_headers);
  tcase_add_test(tc, hostile_node_redirect);
  tcase_add_test(tc, rpc_answer_too_large);
  tcase_add_test(tc, replies_say_nosniff);
  tcase_add_test(tc, hostile_node_cannot_rewind_everything);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
