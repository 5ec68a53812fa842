/* ctest-label: node */
/* The shipped network files (every deploy/networks/ file, format sparkd.network/1) are well formed:
 * tests/chain/check_networks.mjs checks fields, types, EIP-55 checksums (npm ethers getAddress,
 * independent of our C checksum code), rate-limit keys, liquidity-layer venues (kinds read, unique
 * ids and addresses, APR options where they apply) and that every real address names its source;
 * and, first, that the checker itself refuses broken files (--self-test). Missing node or
 * node_modules is a FAILURE, not a skip. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs cmd with `sh -c` in the source tree (its output goes to the test log); returns its exit
 * code, or -1 when it did not exit normally. */
static int run(const char *cmd) {
  char full[4096];
  snprintf(full, sizeof full, "cd '%s' && %s", SPARKD_SOURCE_DIR, cmd);
  int ws = system(full);
  return (ws != -1 && WIFEXITED(ws)) ? WEXITSTATUS(ws) : -1;
}

static void require_node(void) {
  ck_assert_msg(run("command -v node >/dev/null 2>&1") == 0, "node is not installed");
  char path[2048];
  snprintf(path, sizeof path, "%s/node_modules/ethers/package.json", SPARKD_SOURCE_DIR);
  ck_assert_msg(access(path, R_OK) == 0, "%s is missing: run `npm ci` at the repository root", path);
}

START_TEST(checker_refuses_broken_files) {
  require_node();
  ck_assert_int_eq(run("timeout 60 node tests/chain/check_networks.mjs --self-test"), 0);
}
END_TEST

START_TEST(shipped_networks_are_well_formed) {
  require_node();
  ck_assert_int_eq(run("timeout 60 node tests/chain/check_networks.mjs --shipped"), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("node_networks");
  TCase *tc = tcase_create("networks");
  tcase_add_test(tc, checker_refuses_broken_files);
  tcase_add_test(tc, shipped_networks_are_well_formed);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
