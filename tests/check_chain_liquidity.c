/* ctest-label: chain */
/* The Spark Liquidity Layer's venues, allocations and idle balances read by `sparkd index`
 * (tests/chain/ll_fixture.mjs on the real Aave v3 market of aave_market.mjs): an account acting
 * as the ALM proxy supplies USDC and WETH into the Pool (venues of kind sparklend and aave, their
 * aTokens) and deposits into three ERC-4626 doubles (one whose share price grows: an APR over a
 * trailing window of blocks; one with an sUSDS-style ssr(); one over the latter's shares, as
 * Fluid's vault over sUSDS: the ALM's own shares of the DAI vault are its allocation, so their
 * idle amount is 0, and the nested vault's amount is their deployed sum). After `index --once`,
 * GET /v1/liquidity-layer/allocations serves per venue the amount and apr_ray, and per asset the
 * idle balance and the sum deployed, equal to the contracts' own answers (balanceOf,
 * currentLiquidityRate, convertToAssets, ssr) at the served block, as the fixture computes them
 * with BigInt. Then, after more transactions:
 *   - a network file naming the wrong asset for a vault, or for an aToken: the step fails, naming
 *     the venue and both assets, and the last applied block is still served, unchanged;
 *   - a node answering every convertToAssets with a node error (faultproxy): the same;
 *   - a share-price window reaching past the states the node keeps (anvil keeps the last 200
 *     blocks' state, as a pruned full node does): the same, never a guessed APR;
 *   - the good file against the node again: the new block's allocations equal the contracts';
 *   - a vault whose share price moves by amounts chosen here: its APR equals a hand-computed
 *     constant (the fixture's expected APRs use the same formula as the indexer).
 * Each failing step must say why (the venue and the cause, from its log), not only fail. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/chaintest.h"
#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;

static json_t *get(unsigned port, const char *path) {
  char why[1024];
  json_t *j = th_get_json(port, path, "", why, sizeof why);
  ck_assert_msg(j != NULL, "%s", why);
  return j;
}

static long long served_block(const json_t *doc) {
  const json_t *as_of = json_object_get(doc, "as_of");
  for (size_t i = 0; i < json_array_size(as_of); i++) {
    const json_t *a = json_array_get(as_of, i);
    if (json_integer_value(json_object_get(a, "chain_id")) == 31337)
      return json_integer_value(json_object_get(a, "block_number"));
  }
  return -1;
}

/* Runs `sparkd index --once`, which must fail, and asserts that its log says why: every one of the
 * NULL-ended `causes` appears in it (the venue id among them), so a step failing for another
 * reason (a parse error, another node error) does not pass. */
static void index_fails_with(const char *dburl, const char *const *env, const char *const *causes) {
  static char out[1 << 16];
  int rc = th_sparkd_cmd_out(dburl, env, "index --once", out, sizeof out);
  ck_assert_msg(rc != 0, "index --once succeeded:\n%s", out);
  for (const char *const *c = causes; *c; c++)
    ck_assert_msg(strstr(out, *c) != NULL, "index --once failed without saying \"%s\":\n%s", *c, out);
}

/* GETs the allocations until the served block is `block` (the cache reloads after a NOTIFY). */
static json_t *allocations_at(unsigned port, long long block) {
  for (int i = 0; i < 100; i++) {
    json_t *j = get(port, "/v1/liquidity-layer/allocations");
    if (served_block(j) == block) return j;
    json_decref(j);
    nanosleep(&(struct timespec){0, 100000000}, NULL);
  }
  ck_abort_msg("block %lld never served", block);
  return NULL;
}

/* After a step that failed: what is served is still `first`, its allocations, idle balances and
 * block; nothing of the failed step was applied. */
static void still_served(unsigned port, const json_t *first) {
  json_t *j = get(port, "/v1/liquidity-layer/allocations");
  ck_assert(json_equal(json_object_get(j, "data"), json_object_get(first, "data")));
  ck_assert(json_equal(json_object_get(j, "idle"), json_object_get(first, "idle")));
  ck_assert_int_eq(served_block(j), served_block(first));
  json_decref(j);
}

static void same(const char *what, const char *want, const json_t *got) {
  ck_assert_msg(json_is_string(got), "%s: not served", what);
  ck_assert_msg(strcmp(want, json_string_value(got)) == 0, "%s: contracts %s, served %s", what, want,
                json_string_value(got));
}

/* Compares the served allocations, keyed by (venue, asset), and idle balances with the fixture's
 * expect file (expect, curve-expect: allocations keyed "venue|asset"); returns the values compared. */
static unsigned equal_to_contracts(const json_t *doc, const char *expect_path) {
  json_error_t err;
  json_t *e = json_load_file(expect_path, 0, &err);
  ck_assert_msg(e != NULL, "%s: %s", expect_path, err.text);
  ck_assert_int_eq(served_block(doc), json_integer_value(json_object_get(e, "block")));
  const json_t *data = json_object_get(doc, "data"), *idle = json_object_get(doc, "idle");
  const json_t *wa = json_object_get(e, "allocations"), *wi = json_object_get(e, "idle");
  ck_assert_uint_eq(json_array_size(data), json_object_size(wa));
  ck_assert_uint_eq(json_array_size(idle), json_object_size(wi));
  unsigned checked = 0;
  for (size_t i = 0; i < json_array_size(data); i++) {
    const json_t *d = json_array_get(data, i);
    char key[200], what[240];
    snprintf(key, sizeof key, "%s|%s", json_string_value(json_object_get(d, "venue_id")),
             json_string_value(json_object_get(json_object_get(d, "asset"), "address")));
    th_lower(key);
    const json_t *w = json_object_get(wa, key);
    ck_assert_msg(w != NULL, "allocation %s served, not expected", key);
    snprintf(what, sizeof what, "%s amount", key);
    same(what, json_string_value(json_object_get(w, "amount")), json_object_get(d, "amount")), checked++;
    snprintf(what, sizeof what, "%s apr_ray", key);
    same(what, json_string_value(json_object_get(w, "apr_ray")), json_object_get(d, "apr_ray")), checked++;
  }
  for (size_t i = 0; i < json_array_size(idle); i++) {
    const json_t *d = json_array_get(idle, i);
    char asset[64], what[160];
    snprintf(asset, sizeof asset, "%s", json_string_value(json_object_get(json_object_get(d, "asset"), "address")));
    th_lower(asset);
    const json_t *w = json_object_get(wi, asset);
    ck_assert_msg(w != NULL, "idle %s served, not expected", asset);
    snprintf(what, sizeof what, "idle %s amount", asset);
    same(what, json_string_value(json_object_get(w, "amount")), json_object_get(d, "amount")), checked++;
    snprintf(what, sizeof what, "idle %s deployed", asset);
    same(what, json_string_value(json_object_get(w, "deployed")), json_object_get(d, "deployed")), checked++;
  }
  json_decref(e);
  return checked;
}

START_TEST(allocations_equal_the_contracts) {
  struct th_chain ch;
  char dburl[TH_PG_CONNINFO_MAX], path[512];
  /* a node keeping the state of the last 200 blocks: the default window (100) is within it */
  ck_assert_msg(th_chain_start_keep(&ch, 200) == 0, "anvil did not start");
  ck_assert_int_eq(th_node("tests/chain/aave_market.mjs --rpc %s --network %s/network.json --addresses "
                           "%s/addresses.json --quiet",
                           ch.url, ch.dir, ch.dir),
                   0);
  ck_assert_int_eq(th_node("tests/chain/ll_fixture.mjs deploy --rpc %s --addresses %s/addresses.json --network-in "
                           "%s/network.json --network-out %s/ll.json --state %s/state.json --bad-asset %s/bad.json "
                           "--bad-atoken %s/bad2.json",
                           ch.url, ch.dir, ch.dir, ch.dir, ch.dir, ch.dir, ch.dir),
                   0);
  ck_assert_int_eq(th_node("tests/chain/ll_fixture.mjs expect --rpc %s --state %s/state.json --network %s/ll.json "
                           "--expect %s/expect1.json",
                           ch.url, ch.dir, ch.dir, ch.dir),
                   0);
  /* the fixture's addresses, lowercase as the indexer writes them, for its failure messages */
  char usdc[43], dai[43], weth[43], vusdc[43];
  {
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/state.json", ch.dir);
    json_t *st = json_load_file(path, 0, &jerr);
    ck_assert_msg(st != NULL, "%s: %s", path, jerr.text);
    const char *names[] = {"usdc", "dai", "weth", "vusdc"};
    char *into[] = {usdc, dai, weth, vusdc};
    for (int i = 0; i < 4; i++) {
      const char *v = json_string_value(json_object_get(st, names[i]));
      ck_assert_msg(v && strlen(v) == 42, "state.json %s", names[i]);
      memcpy(into[i], v, 43);
      th_lower(into[i]);
    }
    json_decref(st);
  }
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_cmd(dburl, NULL, "migrate"), 0);
  char rpc[256], net[512], bad[512];
  snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", ch.url);
  snprintf(net, sizeof net, "SPARKD_NETWORK_FILE=%s/ll.json", ch.dir);
  snprintf(bad, sizeof bad, "SPARKD_NETWORK_FILE=%s/bad.json", ch.dir);
  const char *env[] = {rpc, net, "SPARKD_LOG_LEVEL=warn", "SPARKD_INDEX_CONFIRMATIONS=0", NULL};
  ck_assert_int_eq(th_sparkd_cmd(dburl, env, "index --once"), 0);

  const char *const serve_env[] = {"SPARKD_LOG_LEVEL=warn", NULL};
  struct th_sparkd sd;
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);
  snprintf(path, sizeof path, "%s/expect1.json", ch.dir);
  long long b1 = th_json_file_int(path, "block");
  json_t *first = allocations_at(sd.port, b1);
  unsigned checked = equal_to_contracts(first, path);
  ck_assert_uint_eq(checked, 5 * 2 + 6 * 2);
  printf("liquidity layer at block %lld: %u values equal the contracts'\n", b1, checked);

  /* the chain moves on; a step that cannot read a venue applies nothing */
  ck_assert_int_eq(th_node("tests/chain/ll_fixture.mjs move --rpc %s --state %s/state.json", ch.url, ch.dir), 0);
  const char *env_bad[] = {rpc, bad, "SPARKD_LOG_LEVEL=warn", "SPARKD_INDEX_CONFIRMATIONS=0", "SPARKD_INDEX_POLL_MS=50",
                           NULL};
  /* the USDC vault named with DAI: its asset() says USDC */
  index_fails_with(dburl, env_bad,
                   (const char *const[]){"venue grow-usdc (", vusdc, "): the network file names asset", dai,
                                         "the contract's asset() is", usdc, NULL});
  still_served(sd.port, first);
  snprintf(bad, sizeof bad, "SPARKD_NETWORK_FILE=%s/bad2.json", ch.dir);
  /* the USDC aToken named with WETH: its UNDERLYING_ASSET_ADDRESS() says USDC */
  index_fails_with(dburl, env_bad,
                   (const char *const[]){"venue sparklend-usdc (", "): the network file names asset", weth,
                                         "the contract's UNDERLYING_ASSET_ADDRESS() is", usdc, NULL});
  still_served(sd.port, first);

  char proxy[128], args[1024];
  struct th_bg fp = {0, -1};
  snprintf(args, sizeof args,
           "tests/chain/faultproxy.mjs --target %s --rate 0 --error-call 'convertToAssets(uint256)' "
           "--error-times 1000000 --lifetime 300 --stats %s/errors.json",
           ch.url, ch.dir);
  ck_assert_int_eq(th_spawn_line(args, "PROXY_URL=", proxy, sizeof proxy, 30, &fp), 0);
  char rpc_proxy[256];
  snprintf(rpc_proxy, sizeof rpc_proxy, "SPARKD_RPC_URL=%s", proxy);
  const char *env_err[] = {
      rpc_proxy, net, "SPARKD_LOG_LEVEL=warn", "SPARKD_INDEX_CONFIRMATIONS=0", "SPARKD_INDEX_POLL_MS=50", NULL};
  /* the first convertToAssets read is the USDC vault's amount: the node's own error is named */
  index_fails_with(dburl, env_err,
                   (const char *const[]){"venue grow-usdc (", vusdc, ") convertToAssets: ", "header not found", NULL});
  th_bg_stop(&fp);
  snprintf(path, sizeof path, "%s/errors.json", ch.dir);
  ck_assert_int_ge(th_json_file_int(path, "call_errors"), 1);
  still_served(sd.port, first);

  /* the USDC vault's window reaching 250 blocks back, past the 200 the node keeps */
  json_error_t jerr;
  snprintf(path, sizeof path, "%s/ll.json", ch.dir);
  json_t *deep = json_load_file(path, 0, &jerr);
  ck_assert_msg(deep != NULL, "%s: %s", path, jerr.text);
  json_t *venues = json_object_get(json_object_get(deep, "liquidity_layer"), "venues");
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(venues, 2), "id")), "grow-usdc");
  json_object_set_new(json_array_get(venues, 2), "apr_window_blocks", json_integer(250));
  snprintf(path, sizeof path, "%s/deep.json", ch.dir);
  ck_assert_int_eq(json_dump_file(deep, path, 0), 0);
  json_decref(deep);
  char net_deep[600];
  snprintf(net_deep, sizeof net_deep, "SPARKD_NETWORK_FILE=%s", path);
  const char *env_deep[] = {
      rpc, net_deep, "SPARKD_LOG_LEVEL=warn", "SPARKD_INDEX_CONFIRMATIONS=0", "SPARKD_INDEX_POLL_MS=50", NULL};
  index_fails_with(dburl, env_deep,
                   (const char *const[]){"venue grow-usdc apr: the node cannot serve block", "250 blocks back",
                                         "a node keeping that state, or a shorter window, is needed", NULL});
  still_served(sd.port, first);
  json_decref(first);

  /* a working node and the right file: the new block, equal to the contracts again */
  ck_assert_int_eq(th_node("tests/chain/ll_fixture.mjs expect --rpc %s --state %s/state.json --network %s/ll.json "
                           "--expect %s/expect2.json",
                           ch.url, ch.dir, ch.dir, ch.dir),
                   0);
  ck_assert_int_eq(th_sparkd_cmd(dburl, env, "index --once"), 0);
  snprintf(path, sizeof path, "%s/expect2.json", ch.dir);
  long long b2 = th_json_file_int(path, "block");
  ck_assert_int_gt(b2, b1);
  json_t *second = allocations_at(sd.port, b2);
  ck_assert_uint_eq(equal_to_contracts(second, path), 5 * 2 + 6 * 2);
  json_decref(second);

  /* One share-price APR by hand, not by the fixture's formula (which is the C code's): a new vault
   * (tests/chain/ll_fixture.mjs fixed) takes the ALM proxy's first deposit of D = 999999937 (D
   * shares: convertToAssets(totalSupply) = a0 = D), and W - 1 = 9 blocks later Y = 1234567 is paid
   * into it (a1 = D * (D + Y) / D = 1001234504); the head is that block, W = 10 blocks of 12 s
   * after the deposit: dt = 120 s. apr = floor((a1 - a0) * RAY * 31536000 / (a0 * dt))
   *   = floor(1234567 * 10^27 * 31536000 / (999999937 * 120))
   *   = floor(1234567 * 262800 * 10^27 / 999999937)          (31536000 / 120 = 262800)
   *   = floor(324444207600 * 10^27 / 999999937)
   *   = 324444228039986366519141090705, remainder 888714415 (324444228039986366519141090705 *
   *     999999937 + 888714415 = 324444207600 * 10^27).
   * The remainder is more than half of 999999937: a rounded division gives ...706; blocks for
   * seconds (dt = 10) give 12 times as much, 3893330736479836398229693088470; a year of 365.25
   * days gives 324666450113986357181140502411; a WAD, 10^9 times less. The amount is
   * convertToAssets(D) = 1001234504. */
  ck_assert_int_eq(th_node("tests/chain/ll_fixture.mjs fixed --rpc %s --state %s/state.json --network-in %s/ll.json "
                           "--network-out %s/fixed.json --deposit 999999937 --paid 1234567 --window 10",
                           ch.url, ch.dir, ch.dir, ch.dir),
                   0);
  char net_fixed[600];
  snprintf(net_fixed, sizeof net_fixed, "SPARKD_NETWORK_FILE=%s/fixed.json", ch.dir);
  const char *env_fixed[] = {rpc, net_fixed, "SPARKD_LOG_LEVEL=warn", "SPARKD_INDEX_CONFIRMATIONS=0", NULL};
  ck_assert_int_eq(th_sparkd_cmd(dburl, env_fixed, "index --once"), 0);
  char head[128];
  ck_assert_int_eq(th_rpc(ch.url, "eth_blockNumber", NULL, head, sizeof head), 0);
  long long b3 = strtoll(head + 1, NULL, 16); /* "\"0x…\"" */
  ck_assert_int_gt(b3, b2);
  json_t *third = allocations_at(sd.port, b3);
  const json_t *fixed = NULL, *data = json_object_get(third, "data");
  for (size_t i = 0; i < json_array_size(data); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(data, i), "venue_id")), "fixed-usdc") == 0)
      fixed = json_array_get(data, i);
  ck_assert_msg(fixed != NULL, "venue fixed-usdc not served");
  same("fixed-usdc apr_ray", "324444228039986366519141090705", json_object_get(fixed, "apr_ray"));
  same("fixed-usdc amount", "1001234504", json_object_get(fixed, "amount"));
  json_decref(third);
  th_sparkd_stop(&sd);
  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);
}
END_TEST

/* ---- kinds curve and erc4626 with "amount": "exit_assets" (ll_fixture.mjs curve-deploy) ---- */

/* A Curve-like pool with a 6- and an 18-decimal coin, the ALM proxy holding part of its LP supply:
 * one allocation per (venue, coin), floor(lp * balances(i) / totalSupply), and the APR of
 * get_virtual_price() over the window; a Maple-like pool read with convertToExitAssets. Every
 * served amount and apr equals the fixture's BigInt arithmetic on the contracts' answers. Then a
 * file listing the pool's coins in the wrong order: the step fails naming the venue and the coin,
 * the last applied block stays served; the good file again serves the new head. */
START_TEST(curve_and_exit_assets) {
  struct th_chain ch;
  char dburl[TH_PG_CONNINFO_MAX], path[512];
  ck_assert_msg(th_chain_start_keep(&ch, 200) == 0, "anvil did not start");
  ck_assert_int_eq(th_node("tests/chain/ll_fixture.mjs curve-deploy --rpc %s --network-out %s/curve.json --state "
                           "%s/cstate.json --bad-coins %s/curve_bad.json",
                           ch.url, ch.dir, ch.dir, ch.dir),
                   0);
  ck_assert_int_eq(th_node("tests/chain/ll_fixture.mjs curve-expect --rpc %s --state %s/cstate.json --network "
                           "%s/curve.json --expect %s/cexpect1.json",
                           ch.url, ch.dir, ch.dir, ch.dir),
                   0);
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_cmd(dburl, NULL, "migrate"), 0);
  char rpc[256], net[512], bad[512];
  snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", ch.url);
  snprintf(net, sizeof net, "SPARKD_NETWORK_FILE=%s/curve.json", ch.dir);
  snprintf(bad, sizeof bad, "SPARKD_NETWORK_FILE=%s/curve_bad.json", ch.dir);
  const char *env[] = {rpc, net, "SPARKD_LOG_LEVEL=warn", "SPARKD_INDEX_CONFIRMATIONS=0", NULL};
  ck_assert_int_eq(th_sparkd_cmd(dburl, env, "index --once"), 0);
  const char *const serve_env[] = {"SPARKD_LOG_LEVEL=warn", NULL};
  struct th_sparkd sd;
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);
  snprintf(path, sizeof path, "%s/cexpect1.json", ch.dir);
  long long b1 = th_json_file_int(path, "block");
  json_t *first = allocations_at(sd.port, b1);
  /* 2 coins of the pool + the Maple pool, amount and apr each; 2 idle coins, amount and deployed */
  ck_assert_uint_eq(equal_to_contracts(first, path), 3 * 2 + 2 * 2);

  /* the chain moves on; the file names the pool's coins swapped */
  char out[256];
  ck_assert_int_eq(th_rpc(ch.url, "anvil_mine", "[\"0x5\"]", out, sizeof out), 0);
  const char *env_bad[] = {rpc, bad, "SPARKD_LOG_LEVEL=warn", "SPARKD_INDEX_CONFIRMATIONS=0", "SPARKD_INDEX_POLL_MS=50",
                           NULL};
  index_fails_with(dburl, env_bad, (const char *const[]){"venue curve-t6-t18", "coins(0)", NULL});
  still_served(sd.port, first);
  json_decref(first);

  /* the right file: the new head, equal to the contracts again */
  ck_assert_int_eq(th_node("tests/chain/ll_fixture.mjs curve-expect --rpc %s --state %s/cstate.json --network "
                           "%s/curve.json --expect %s/cexpect2.json",
                           ch.url, ch.dir, ch.dir, ch.dir),
                   0);
  ck_assert_int_eq(th_sparkd_cmd(dburl, env, "index --once"), 0);
  snprintf(path, sizeof path, "%s/cexpect2.json", ch.dir);
  long long b2 = th_json_file_int(path, "block");
  ck_assert_int_gt(b2, b1);
  json_t *second = allocations_at(sd.port, b2);
  ck_assert_uint_eq(equal_to_contracts(second, path), 3 * 2 + 2 * 2);
  printf("curve and maple venues at blocks %lld and %lld equal the contracts'\n", b1, b2);
  json_decref(second);
  th_sparkd_stop(&sd);
  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);
}
END_TEST

int main(void) {
  if (th_pg_start(&pg) != 0) return EXIT_FAILURE;
  Suite *s = suite_create("chain_liquidity");
  TCase *tc = tcase_create("liquidity");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, allocations_equal_the_contracts);
  tcase_add_test(tc, curve_and_exit_assets);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
