/* ctest-label: chain */
/* The anvil fixture itself (tests/chain/): aave_market.mjs deploys a full Aave v3 market from
 * the npm @aave/core-v3 artifacts and writes a network file the format checker accepts;
 * drive.mjs runs seeded users; truth.mjs dumps the contracts' answers; sanity.mjs checks them
 * independently (balanceOf = rayMul(scaled, normalized income or debt) recomputed with BigInt,
 * health factors, configuration bits, a real run with liquidations and time jumps). The same
 * seed replayed after evm_revert ends on the same block hash: the chain tests are reproducible. Missing
 * node, node_modules or anvil is a FAILURE, not a skip. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/chaintest.h"

/* Reads the head hash from a drive.mjs summary. */
static void head_hash(const char *dir, char *out, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/drive.json", dir);
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  ck_assert_msg(j != NULL, "%s: %s", path, err.text);
  const char *h = json_string_value(json_object_get(j, "head_hash"));
  ck_assert_ptr_nonnull(h);
  snprintf(out, len, "%s", h);
  json_decref(j);
}

START_TEST(market_drive_truth_sane_and_reproducible) {
  struct th_chain ch;
  ck_assert_msg(th_chain_start(&ch) == 0, "anvil did not start");
  ck_assert_int_eq(
      th_node("tests/chain/aave_market.mjs --rpc %s --network %s/network.json --addresses %s/addresses.json "
              "--quiet",
              ch.url, ch.dir, ch.dir),
      0);
  ck_assert_int_eq(th_node("tests/chain/check_networks.mjs --test %s/network.json", ch.dir), 0);
  char snap[128], h1[80], h2[80], res[128];
  ck_assert_int_eq(th_rpc(ch.url, "evm_snapshot", NULL, snap, sizeof snap), 0);
  const char *drive = "tests/chain/drive.mjs --rpc %s --addresses %s/addresses.json --seed 11 --users 30 --steps 150 "
                      "--out %s/drive.json --quiet >/dev/null";
  ck_assert_int_eq(th_node(drive, ch.url, ch.dir, ch.dir), 0);
  ck_assert_int_eq(th_node("tests/chain/truth.mjs --rpc %s --addresses %s/addresses.json --out %s/truth.json", ch.url,
                           ch.dir, ch.dir),
                   0);
  ck_assert_int_eq(th_node("tests/chain/sanity.mjs --truth %s/truth.json --drive %s/drive.json", ch.dir, ch.dir), 0);
  head_hash(ch.dir, h1, sizeof h1);
  /* The same seed replayed from the same state ends on the same block hash. */
  char params[160];
  snprintf(params, sizeof params, "[%s]", snap);
  ck_assert_int_eq(th_rpc(ch.url, "evm_revert", params, res, sizeof res), 0);
  ck_assert_str_eq(res, "true");
  ck_assert_int_eq(th_node(drive, ch.url, ch.dir, ch.dir), 0);
  head_hash(ch.dir, h2, sizeof h2);
  ck_assert_msg(strcmp(h1, h2) == 0, "seed 11 ended on %s, then on %s: the driver is not deterministic", h1, h2);
  th_chain_stop(&ch);
}
END_TEST

int main(void) {
  Suite *s = suite_create("chain_fixture");
  TCase *tc = tcase_create("fixture");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, market_drive_truth_sane_and_reproducible);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
