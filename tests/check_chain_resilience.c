/* ctest-label: chain */
/* sparkd index under a reorg and under a misbehaving node, judged by what `sparkd serve` answers
 * against the contracts (tests/chain/compare.mjs, as in check_chain_differential):
 *   - reorg: index, evm_snapshot, more blocks (seed B, new users), index, evm_revert, a different
 *     and longer branch (seed C), index: the served state equals the new branch, and seed B's
 *     users, who exist only on the old branch, are served empty;
 *   - faults: index through tests/chain/faultproxy.mjs (seeded drops, delays, 429, 503, garbled
 *     JSON, batch results of the wrong size), in small batches so the faults land everywhere; `sparkd index --once`
 * still finishes, the proxy did inject every kind, and the served state equals the chain; then once more after new
 * blocks;
 *   - node limits: a node refusing batches of more than 7 calls (HTTP 413 and geth's JSON-RPC
 *     "batch too large", alternately): the client halves its batch size and keeps the smaller one,
 *     and the indexer ends with the chain's state; a node answering 403 (a wrong API key): no
 *     retries, an error naming the method and the status, and `sparkd index` exits 1 both with
 *     --once and following. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/rpc.h"
#include "support/chaintest.h"
#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;

static long long drive(const struct th_chain *ch, int seed, int users, int steps, int batch) {
  ck_assert_int_eq(
      th_node("tests/chain/drive.mjs --rpc %s --addresses %s/addresses.json --seed %d --users %d --steps %d "
              "--batch %d --out %s/drive-%d.json --quiet >/dev/null",
              ch->url, ch->dir, seed, users, steps, batch, ch->dir, seed),
      0);
  char path[512];
  snprintf(path, sizeof path, "%s/drive-%d.json", ch->dir, seed);
  long long head = th_json_file_int(path, "head");
  ck_assert_int_gt(head, 0);
  return head;
}

/* `sparkd index --once` against rpc_url; extra: more "NAME=value" entries or NULL. */
static int index_once(const struct th_chain *ch, const char *dburl, const char *rpc_url, const char *extra1,
                      const char *extra2) {
  char rpc[256], net[512];
  snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", rpc_url);
  snprintf(net, sizeof net, "SPARKD_NETWORK_FILE=%s/network.json", ch->dir);
  const char *env[] = {rpc, net, "SPARKD_INDEX_CONFIRMATIONS=0", "SPARKD_LOG_LEVEL=warn", extra1, extra2, NULL};
  if (!extra1)
    env[4] = NULL;
  else if (!extra2)
    env[5] = NULL;
  return th_sparkd_cmd(dburl, env, "index --once");
}

static void compare(const struct th_chain *ch, unsigned port, long long head, const char *tag) {
  ck_assert_msg(th_node("tests/chain/compare.mjs --rpc %s --addresses %s/addresses.json --sparkd http://127.0.0.1:%u "
                        "--expect-block %lld --truth-out %s/truth-%s.json --known-empty-emode",
                        ch->url, ch->dir, port, head, ch->dir, tag) == 0,
                "%s: sparkd and the chain differ at block %lld (differences listed above)", tag, head);
}

static void new_market(struct th_chain *ch, char *dburl, size_t len) {
  ck_assert_msg(th_chain_start(ch) == 0, "anvil did not start");
  ck_assert_int_eq(
      th_node("tests/chain/aave_market.mjs --rpc %s --network %s/network.json --addresses %s/addresses.json "
              "--quiet",
              ch->url, ch->dir, ch->dir),
      0);
  ck_assert(th_pg_create_db(&pg, dburl, len) == 0);
  ck_assert_int_eq(th_sparkd_cmd(dburl, NULL, "migrate"), 0);
}

static const char *const serve_env[] = {"SPARKD_LOG_LEVEL=warn", NULL};

START_TEST(reorg_served_state_follows_the_new_branch) {
  struct th_chain ch;
  char dburl[TH_PG_CONNINFO_MAX], snap[128], res[128], params[160];
  new_market(&ch, dburl, sizeof dburl);
  long long h1 = drive(&ch, 21, 20, 80, 2);
  ck_assert_int_eq(index_once(&ch, dburl, ch.url, NULL, NULL), 0);
  struct th_sparkd sd;
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);
  compare(&ch, sd.port, h1, "before");

  ck_assert_int_eq(th_rpc(ch.url, "evm_snapshot", NULL, snap, sizeof snap), 0);
  long long h2 = drive(&ch, 22, 15, 50, 2); /* the branch that will be dropped: new users */
  ck_assert_int_eq(index_once(&ch, dburl, ch.url, NULL, NULL), 0);
  compare(&ch, sd.port, h2, "old-branch");

  snprintf(params, sizeof params, "[%s]", snap);
  ck_assert_int_eq(th_rpc(ch.url, "evm_revert", params, res, sizeof res), 0);
  ck_assert_str_eq(res, "true");
  long long h3 = drive(&ch, 23, 15, 80, 2); /* different transactions, a longer branch */
  ck_assert_int_gt(h3, h2);
  ck_assert_int_eq(index_once(&ch, dburl, ch.url, NULL, NULL), 0);
  /* addresses.json still lists seed 22's users: on the new branch they have nothing. */
  compare(&ch, sd.port, h3, "new-branch");

  th_sparkd_stop(&sd);
  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);
}
END_TEST

START_TEST(faulty_node_served_state_equals_the_chain) {
  struct th_chain ch;
  char dburl[TH_PG_CONNINFO_MAX], proxy[128], args[1024];
  new_market(&ch, dburl, sizeof dburl);
  long long head = drive(&ch, 31, 25, 120, 3);

  struct th_bg fp = {0, -1};
  snprintf(args, sizeof args,
           "tests/chain/faultproxy.mjs --target %s --seed 7 --rate 0.3 --clean-after 400 --lifetime 300 "
           "--stats %s/faults.json",
           ch.url, ch.dir);
  ck_assert_int_eq(th_spawn_line(args, "PROXY_URL=", proxy, sizeof proxy, 30, &fp), 0);
  /* small batches: many requests, so faults land in every phase; short timeouts: delays of up
   * to 1.5 s sometimes time out and are retried */
  const char *small = "SPARKD_INDEX_BATCH_SIZE=25";
  const char *steps = "SPARKD_INDEX_RPC_TIMEOUT_MS=1000";
  ck_assert_msg(index_once(&ch, dburl, proxy, small, steps) == 0, "sparkd index --once did not survive the faults");
  struct th_sparkd sd;
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);
  compare(&ch, sd.port, head, "faults");

  head = drive(&ch, 32, 10, 40, 2);
  ck_assert_msg(index_once(&ch, dburl, proxy, small, steps) == 0, "sparkd index --once did not survive the faults");
  compare(&ch, sd.port, head, "faults-again");
  th_bg_stop(&fp);

  char path[512];
  snprintf(path, sizeof path, "%s/faults.json", ch.dir);
  json_error_t err;
  json_t *st = json_load_file(path, 0, &err);
  ck_assert_msg(st != NULL, "%s: %s", path, err.text);
  json_t *f = json_object_get(st, "faults");
  const char *kinds[] = {"drop", "delay", "429", "503", "garble", "wrongsize"};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    ck_assert_msg(json_integer_value(json_object_get(f, kinds[i])) > 0, "the proxy never injected '%s' (%s)", kinds[i],
                  json_dumps(st, 0));
  char *dump = json_dumps(st, 0);
  printf("faultproxy: %s\n", dump ? dump : "?");
  free(dump);
  json_decref(st);

  th_sparkd_stop(&sd);
  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);
}
END_TEST

static json_t *proxy_stats(const struct th_chain *ch, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", ch->dir, name);
  json_error_t err;
  json_t *st = json_load_file(path, 0, &err);
  ck_assert_msg(st != NULL, "%s: %s", path, err.text);
  char *dump = json_dumps(st, 0);
  printf("faultproxy %s: %s\n", name, dump ? dump : "?");
  free(dump);
  return st;
}

START_TEST(node_limits_and_refusals) {
  struct th_chain ch;
  char dburl[TH_PG_CONNINFO_MAX], proxy[128], args[1024];
  new_market(&ch, dburl, sizeof dburl);
  long long head = drive(&ch, 41, 12, 50, 2);

  /* batches: the client's own, 300 calls asked in batches of 64 through a node taking at most 7 */
  struct th_bg fp = {0, -1};
  snprintf(args, sizeof args,
           "tests/chain/faultproxy.mjs --target %s --rate 0 --max-batch 7 --lifetime 300 --stats %s/batch.json", ch.url,
           ch.dir);
  ck_assert_int_eq(th_spawn_line(args, "PROXY_URL=", proxy, sizeof proxy, 30, &fp), 0);
  struct chain_rpc_opts o = {
      .url = proxy, .timeout_ms = 5000, .retries = 3, .batch_max = 64, .backoff_base_ms = 5, .backoff_max_ms = 50};
  struct chain_rpc *r = chain_rpc_new(&o);
  enum { N = 300 };
  static struct chain_rpc_call calls[N];
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < N; i++) {
      char q[24];
      snprintf(q, sizeof q, "0x%x", i % 20);
      calls[i] = (struct chain_rpc_call){.method = "eth_getBlockByNumber", .params = json_pack("[s, b]", q, 0)};
    }
    ck_assert_int_eq(chain_rpc_batch(r, calls, N), 0);
    for (int i = 0; i < N; i++) {
      ck_assert(!calls[i].error);
      ck_assert_int_eq(strtol(json_string_value(json_object_get(calls[i].result, "number")), NULL, 16), i % 20);
    }
    chain_rpc_calls_clear(calls, N);
    /* 64 -> 32 -> 16 -> 8 refused (4 refusals of the first request), 4 taken and kept: the second
       round meets no refusal: the errors stay those of the 4 refused requests, 64 + 32 + 16 + 8 */
    ck_assert_uint_eq(chain_rpc_batch_max(r), 4);
    size_t ns;
    const struct chain_rpc_method_stats *st = chain_rpc_stats(r, &ns);
    ck_assert_uint_eq(st[0].errors, 64 + 32 + 16 + 8);
  }
  ck_assert_uint_eq(chain_rpc_retries(r), 0);
  chain_rpc_free(r);

  /* the indexer, asking for batches of 200 */
  ck_assert_msg(index_once(&ch, dburl, proxy, "SPARKD_INDEX_BATCH_SIZE=200", NULL) == 0,
                "sparkd index --once failed against a node with a batch limit");
  th_bg_stop(&fp);
  struct th_sparkd sd;
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);
  compare(&ch, sd.port, head, "batch-limit");
  th_sparkd_stop(&sd);
  json_t *st = proxy_stats(&ch, "batch.json");
  long long r413 = json_integer_value(json_object_get(st, "refused_413"));
  long long rjs = json_integer_value(json_object_get(st, "refused_jsonrpc"));
  ck_assert_int_gt(r413, 0);
  ck_assert_int_gt(rjs, 0);
  ck_assert_int_le(json_integer_value(json_object_get(st, "largest_forwarded")), 7);
  /* the client's 4 refusals, then the indexer's: halving from at most 200 reaches 7 or less after at
     most 5 refusals (200, 100, 50, 25, 12), and the smaller size is kept for the rest of the run */
  ck_assert_int_le(r413 + rjs, 4 + 5);
  json_decref(st);

  /* a node answering 403 to everything */
  snprintf(args, sizeof args,
           "tests/chain/faultproxy.mjs --target %s --rate 0 --status 403 --lifetime 300 --stats %s/status.json", ch.url,
           ch.dir);
  ck_assert_int_eq(th_spawn_line(args, "PROXY_URL=", proxy, sizeof proxy, 30, &fp), 0);
  struct chain_rpc_opts o2 = {.url = proxy, .timeout_ms = 5000, .retries = 20};
  r = chain_rpc_new(&o2);
  json_t *res = NULL;
  ck_assert_int_eq(chain_rpc_call1(r, "eth_blockNumber", json_array(), &res), -1);
  ck_assert(chain_rpc_last_permanent(r));
  ck_assert_uint_eq(chain_rpc_retries(r), 0);
  const char *why = chain_rpc_last_error(r);
  ck_assert_msg(strstr(why, "eth_blockNumber") && strstr(why, "http status 403"), "error: %s", why);
  chain_rpc_free(r);
  /* with 20 retries allowed and backoff up to 5 s, retrying would take minutes: both modes end in
     well under 30 s with exit status 1 */
  time_t t0 = time(NULL);
  ck_assert_int_eq(index_once(&ch, dburl, proxy, "SPARKD_INDEX_RPC_RETRIES=20", "SPARKD_INDEX_POLL_MS=100"), 1);
  char rpc[256], net[512];
  snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", proxy);
  snprintf(net, sizeof net, "SPARKD_NETWORK_FILE=%s/network.json", ch.dir);
  const char *env[] = {rpc, net, "SPARKD_INDEX_RPC_RETRIES=20", "SPARKD_INDEX_POLL_MS=100", "SPARKD_LOG_LEVEL=warn",
                       NULL};
  ck_assert_int_eq(th_sparkd_cmd(dburl, env, "index"), 1);
  ck_assert_int_lt(time(NULL) - t0, 30);
  th_bg_stop(&fp);
  st = proxy_stats(&ch, "status.json");
  /* no request was retried: the client's one, and one head read per step, three steps in a row
     failing this way (INDEX_PERMANENT_FAILURES) in each of the two runs */
  ck_assert_int_eq(json_integer_value(json_object_get(st, "status")), 1 + 3 + 3);
  json_decref(st);

  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);
}
END_TEST

int main(void) {
  if (th_pg_start(&pg) != 0) return EXIT_FAILURE;
  Suite *s = suite_create("chain_resilience");
  TCase *tc = tcase_create("resilience");
  tcase_set_timeout(tc, 400);
  tcase_add_test(tc, reorg_served_state_follows_the_new_branch);
  tcase_add_test(tc, faulty_node_served_state_equals_the_chain);
  tcase_add_test(tc, node_limits_and_refusals);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
