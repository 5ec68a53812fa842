/* ctest-label: chain */
/* The chain differential: a full Aave v3 market on anvil (tests/chain/aave_market.mjs),
 * seeded users (drive.mjs), then `sparkd migrate`, `sparkd index --once` and `sparkd serve`; for
 * every account and every reserve the served numbers must equal the contracts' own answers at the
 * served block (tests/chain/compare.mjs: getUserAccountData, getUserEMode, the configuration,
 * aToken / debt-token balanceOf and scaledBalanceOf, getReserveData, normalized income and debt,
 * the oracle, caps and flags): zero differences.
 *   - chain A: seed 1 (one transaction per block), indexed from the start; then seed 2 (four per
 *     block) on top, indexed incrementally while sparkd serves;
 *   - chain B: seed 3 (five per block, then 12 sawtooth accounts, ending with DAI paused) on a
 *     fresh market and database;
 *     then the same chain into another database in steps of 10 blocks from the provider's
 *     deployment block (the first steps see a half-deployed market).
 * On seeds 1 and 3 also liquidation prices and quotes against the chain (see stretch()). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/chaintest.h"
#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;

/* Drives one seed and returns the head block it ended on. */
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

/* extra: one more "NAME=value" or NULL */
static void index_once(const struct th_chain *ch, const char *dburl, const char *extra) {
  char rpc[256], net[512];
  snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", ch->url);
  snprintf(net, sizeof net, "SPARKD_NETWORK_FILE=%s/network.json", ch->dir);
  const char *env[] = {rpc, net, "SPARKD_INDEX_CONFIRMATIONS=0", "SPARKD_LOG_LEVEL=warn", extra, NULL};
  ck_assert_msg(th_sparkd_cmd(dburl, env, "index --once") == 0, "sparkd index --once %s failed (its log is above)",
                extra ? extra : "");
}

static void compare(const struct th_chain *ch, unsigned port, long long head, const char *tag) {
  ck_assert_msg(th_node("tests/chain/compare.mjs --rpc %s --addresses %s/addresses.json --sparkd http://127.0.0.1:%u "
                        "--expect-block %lld --truth-out %s/truth-%s.json --known-empty-emode",
                        ch->url, ch->dir, port, head, ch->dir, tag) == 0,
                "%s: sparkd and the chain differ at block %lld (differences listed above)", tag, head);
}

/* Further checks against the chain, on the served state: liquidation prices
 * (tests/chain/liqprice.mjs: HF >= 1 at the served price, < 1 one unit below, and no nearer
 * crossing between it and the current price) and quotes against execution (quotes.mjs: verdicts,
 * error codes, the account after a passing action, max_amount and one unit more). */
static void stretch(const struct th_chain *ch, unsigned port, int seed) {
  ck_assert_msg(th_node("tests/chain/liqprice.mjs --rpc %s --addresses %s/addresses.json --sparkd http://127.0.0.1:%u "
                        "--crossing",
                        ch->url, ch->dir, port) == 0,
                "liquidation prices disagree with the chain (listed above)");
  ck_assert_msg(th_node("tests/chain/quotes.mjs --rpc %s --addresses %s/addresses.json --sparkd http://127.0.0.1:%u "
                        "--seed %d --trials 60",
                        ch->url, ch->dir, port, seed) == 0,
                "quotes disagree with execution (listed above)");
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

START_TEST(served_state_equals_the_contracts) {
  struct th_chain ch;
  char dburl[TH_PG_CONNINFO_MAX], path[512];
  const char *serve_env[] = {"SPARKD_LOG_LEVEL=warn", NULL};

  new_market(&ch, dburl, sizeof dburl);
  long long head = drive(&ch, 1, 30, 150, 1);
  index_once(&ch, dburl, NULL);
  struct th_sparkd sd;
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);
  compare(&ch, sd.port, head, "seed1");
  stretch(&ch, sd.port, 1);
  head = drive(&ch, 2, 20, 100, 4);
  index_once(&ch, dburl, NULL);
  compare(&ch, sd.port, head, "seed2");
  th_sparkd_stop(&sd);
  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);

  new_market(&ch, dburl, sizeof dburl);
  /* ends with sawtooth accounts (WETH + DAI at LT 1 bp, debt at the threshold: HFs crossing 1
   * many times in DAI's price, for liqprice.mjs) and DAI paused: nothing may pass on a paused
   * reserve */
  ck_assert_int_eq(
      th_node("tests/chain/drive.mjs --rpc %s --addresses %s/addresses.json --seed 3 --users 25 --steps 125 "
              "--batch 5 --sawtooth 12 --pause DAI --out %s/drive-3.json --quiet >/dev/null",
              ch.url, ch.dir, ch.dir),
      0);
  snprintf(path, sizeof path, "%s/drive-3.json", ch.dir);
  head = th_json_file_int(path, "head");
  index_once(&ch, dburl, NULL);
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);
  compare(&ch, sd.port, head, "seed3");
  stretch(&ch, sd.port, 3);
  th_sparkd_stop(&sd);
  th_pg_drop_db(&pg, dburl);

  /* The same chain into a fresh database from the provider's block in steps of 10 blocks: the
   * first steps land while the market is still being deployed (no Pool yet, then no reserves),
   * as on a real network indexed step by step from its start block. */
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_cmd(dburl, NULL, "migrate"), 0);
  index_once(&ch, dburl, "SPARKD_INDEX_STEP_BLOCKS=10");
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);
  compare(&ch, sd.port, head, "seed3-steps");
  th_sparkd_stop(&sd);
  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);
}
END_TEST

int main(void) {
  if (th_pg_start(&pg) != 0) return EXIT_FAILURE;
  Suite *s = suite_create("chain_differential");
  TCase *tc = tcase_create("differential");
  tcase_set_timeout(tc, 500);
  tcase_add_test(tc, served_state_equals_the_contracts);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
