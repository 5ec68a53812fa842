/* ctest-label: unit */
/* chain_rpc_batch against a JSON-RPC node in this process (a loopback thread, no anvil):
 *   - an answer past the client's 64 MiB limit for a batch of several calls is treated like a
 *     refusal for size: the batch is halved, the smaller size kept, and every call gets its result;
 *     a single call answered past the limit gets the per-call error -32005 (which a log range
 *     answers by halving its range);
 *   - a request that fails for good (HTTP 403) marks the calls of its chunk and of every later
 *     chunk failed, with a message; chunks answered before keep their results.
 * Expected results are the node's own: call i of a batch is answered "0x<its id>". */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chain/rpc.h"

struct node {
  int fd;
  unsigned port;
  size_t huge_from;      /* batches of at least this many calls get a 65 MiB answer (0: never) */
  int forbid_from;       /* requests from this one on (1-based) get HTTP 403 (0: never) */
  atomic_int requests;   /* HTTP requests received */
  atomic_int huge;       /* of them answered past 64 MiB */
  atomic_int largest_ok; /* the largest batch answered normally */
  atomic_bool stop;
  pthread_t thread;
};

static void send_all(int c, const char *p, size_t n) {
  while (n) {
    ssize_t k = send(c, p, n, MSG_NOSIGNAL);
    if (k <= 0) return; /* the client hung up */
    p += k, n -= (size_t)k;
  }
}

static void send_head(int c, int status, size_t len) {
  char head[200];
  int h = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, status == 200 ? "OK" : "Forbidden", len);
  send_all(c, head, (size_t)h);
}

static void serve_one(struct node *n, int c) {
  char buf[65536];
  size_t len = 0, want = 0;
  char *body = NULL;
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
  int nth = atomic_fetch_add(&n->requests, 1) + 1;
  if (n->forbid_from && nth >= n->forbid_from) {
    const char *no = "{\"error\":\"invalid api key\"}";
    send_head(c, 403, strlen(no));
    send_all(c, no, strlen(no));
    return;
  }
  json_t *batch = json_loadb(body, want, 0, NULL);
  size_t calls = json_array_size(batch);
  if (n->huge_from && calls >= n->huge_from) {
    /* one well-formed answer of 65 MiB, streamed a MiB at a time: a result string of zeros */
    atomic_fetch_add(&n->huge, 1);
    size_t pad = (size_t)65 << 20;
    char pre[96];
    int p = snprintf(pre, sizeof pre, "[{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":\"0x",
                     (long long)json_integer_value(json_object_get(json_array_get(batch, 0), "id")));
    json_decref(batch);
    send_head(c, 200, (size_t)p + pad + 3);
    send_all(c, pre, (size_t)p);
    char *zeros = malloc(1 << 20);
    memset(zeros, '0', 1 << 20);
    for (size_t k = 0; k < pad >> 20; k++)
      if (send(c, zeros, 1 << 20, MSG_NOSIGNAL) < 0) break; /* the client hung up */
    free(zeros);
    send_all(c, "\"}]", 3);
    return;
  }
  json_t *out = json_array(), *one;
  size_t i;
  json_array_foreach(batch, i, one) {
    json_t *id = json_object_get(one, "id");
    char r[32];
    snprintf(r, sizeof r, "0x%llx", (unsigned long long)json_integer_value(id));
    json_array_append_new(out, json_pack("{s:s,s:O,s:s}", "jsonrpc", "2.0", "id", id, "result", r));
  }
  json_decref(batch);
  char *a = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  int prev = atomic_load(&n->largest_ok);
  while ((int)calls > prev && !atomic_compare_exchange_weak(&n->largest_ok, &prev, (int)calls)) {
  }
  send_head(c, 200, strlen(a));
  send_all(c, a, strlen(a));
  free(a);
}

static void *node_run(void *arg) {
  struct node *n = arg;
  while (!atomic_load(&n->stop)) {
    struct pollfd p = {n->fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int c = accept(n->fd, NULL, NULL);
    if (c < 0) continue;
    serve_one(n, c);
    close(c);
  }
  return NULL;
}

static void node_start(struct node *n, size_t huge_from, int forbid_from) {
  memset(n, 0, sizeof *n);
  n->huge_from = huge_from;
  n->forbid_from = forbid_from;
  n->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(n->fd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(n->fd, 16), 0);
  socklen_t l = sizeof a;
  getsockname(n->fd, (struct sockaddr *)&a, &l);
  n->port = ntohs(a.sin_port);
  ck_assert_int_eq(pthread_create(&n->thread, NULL, node_run, n), 0);
}

static void node_stop(struct node *n) {
  atomic_store(&n->stop, true);
  pthread_join(n->thread, NULL);
  close(n->fd);
}

static struct chain_rpc *client(const struct node *n, char *url, size_t url_len, unsigned batch_max) {
  snprintf(url, url_len, "http://127.0.0.1:%u/", n->port);
  struct chain_rpc_opts o = {.url = url,
                             .timeout_ms = 30000,
                             .retries = 2,
                             .batch_max = batch_max,
                             .backoff_base_ms = 5,
                             .backoff_max_ms = 20};
  struct chain_rpc *r = chain_rpc_new(&o);
  ck_assert_ptr_nonnull(r);
  return r;
}

static void fill(struct chain_rpc_call *calls, size_t n) {
  for (size_t i = 0; i < n; i++)
    calls[i] = (struct chain_rpc_call){.method = "eth_blockNumber", .params = json_array()};
}

/* Whether every call has the node's answer for its id: ids are consecutive, so result i is the
   first one plus i. */
static void check_results(const struct chain_rpc_call *calls, size_t n) {
  ck_assert(!calls[0].error);
  ck_assert(json_is_string(calls[0].result));
  unsigned long long first = strtoull(json_string_value(calls[0].result), NULL, 16);
  for (size_t i = 0; i < n; i++) {
    ck_assert_msg(!calls[i].error, "call %zu: error %lld %s", i, calls[i].err_code, calls[i].err_msg);
    ck_assert(json_is_string(calls[i].result));
    ck_assert_uint_eq(strtoull(json_string_value(calls[i].result), NULL, 16), first + i);
  }
}

START_TEST(oversized_batch_answer_halves_the_batch) {
  struct node n;
  char url[64];
  /* batches of 3 or more calls are answered with 65 MiB, smaller ones normally */
  node_start(&n, 3, 0);
  struct chain_rpc *r = client(&n, url, sizeof url, 4);
  enum { N = 8 };
  struct chain_rpc_call calls[N];
  fill(calls, N);
  /* 4 calls → answer past 64 MiB → 2 calls per request from then on: four requests of 2 */
  ck_assert_msg(chain_rpc_batch(r, calls, N) == 0, "%s", chain_rpc_last_error(r));
  check_results(calls, N);
  chain_rpc_calls_clear(calls, N);
  ck_assert_uint_eq(chain_rpc_batch_max(r), 2);
  ck_assert_int_eq(atomic_load(&n.huge), 1);
  ck_assert_int_eq(atomic_load(&n.largest_ok), 2);
  ck_assert_int_eq(atomic_load(&n.requests), 1 + 4);
  /* the smaller size is kept: no second oversized answer */
  fill(calls, N);
  ck_assert_int_eq(chain_rpc_batch(r, calls, N), 0);
  check_results(calls, N);
  chain_rpc_calls_clear(calls, N);
  ck_assert_uint_eq(chain_rpc_batch_max(r), 2);
  ck_assert_int_eq(atomic_load(&n.huge), 1);
  ck_assert_uint_eq(chain_rpc_retries(r), 0);
  chain_rpc_free(r);
  node_stop(&n);
}
END_TEST

START_TEST(oversized_single_answer_is_a_call_error) {
  struct node n;
  char url[64];
  node_start(&n, 1, 0); /* every answer is 65 MiB */
  struct chain_rpc *r = client(&n, url, sizeof url, 4);
  struct chain_rpc_call call[1];
  fill(call, 1);
  /* the call has its error, as a node's own "query returned too much" would be */
  ck_assert_int_eq(chain_rpc_batch(r, call, 1), 0);
  ck_assert(call[0].error);
  ck_assert_int_eq(call[0].err_code, -32005);
  ck_assert_msg(strstr(call[0].err_msg, "eth_blockNumber") && strstr(call[0].err_msg, "64 MiB"), "%s", call[0].err_msg);
  ck_assert_ptr_null(call[0].result);
  chain_rpc_calls_clear(call, 1);
  ck_assert_uint_eq(chain_rpc_batch_max(r), 4);
  ck_assert_int_eq(atomic_load(&n.huge), 1);
  ck_assert_uint_eq(chain_rpc_retries(r), 0);
  chain_rpc_free(r);
  node_stop(&n);
}
END_TEST

START_TEST(failed_first_chunk_marks_every_call) {
  struct node n;
  char url[64];
  node_start(&n, 0, 1); /* 403 from the first request on */
  struct chain_rpc *r = client(&n, url, sizeof url, 4);
  enum { N = 8 };
  struct chain_rpc_call calls[N];
  fill(calls, N);
  ck_assert_int_eq(chain_rpc_batch(r, calls, N), -1);
  ck_assert(chain_rpc_last_permanent(r));
  for (size_t i = 0; i < N; i++) {
    ck_assert_msg(calls[i].error, "call %zu of the failed chunks is not marked failed", i);
    ck_assert_int_eq(calls[i].err_code, 0);
    ck_assert_msg(strstr(calls[i].err_msg, "403"), "call %zu: '%s'", i, calls[i].err_msg);
    ck_assert_ptr_null(calls[i].result);
  }
  chain_rpc_calls_clear(calls, N);
  /* not retried, and the later chunk was never sent */
  ck_assert_int_eq(atomic_load(&n.requests), 1);
  chain_rpc_free(r);
  node_stop(&n);
}
END_TEST

START_TEST(failed_middle_chunk_keeps_earlier_results) {
  struct node n;
  char url[64];
  node_start(&n, 0, 2); /* the first request is answered, 403 from the second on */
  struct chain_rpc *r = client(&n, url, sizeof url, 4);
  enum { N = 12 };
  struct chain_rpc_call calls[N];
  fill(calls, N);
  ck_assert_int_eq(chain_rpc_batch(r, calls, N), -1);
  check_results(calls, 4);
  for (size_t i = 4; i < N; i++) {
    ck_assert_msg(calls[i].error, "call %zu of the failed chunks is not marked failed", i);
    ck_assert_msg(strstr(calls[i].err_msg, "403"), "call %zu: '%s'", i, calls[i].err_msg);
    ck_assert_ptr_null(calls[i].result);
  }
  chain_rpc_calls_clear(calls, N);
  ck_assert_int_eq(atomic_load(&n.requests), 2);
  chain_rpc_free(r);
  node_stop(&n);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rpcbatch");
  TCase *tc = tcase_create("rpcbatch");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, oversized_batch_answer_halves_the_batch);
  tcase_add_test(tc, oversized_single_answer_is_a_call_error);
  tcase_add_test(tc, failed_first_chunk_marks_every_call);
  tcase_add_test(tc, failed_middle_chunk_keeps_earlier_results);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
