/* ctest-label: chain */
/* An L2's sUSDS, read by `sparkd index` through the PSM3 vault the network file names
 * (deploy/networks/base.json and the other L2s): test doubles of the SSR oracle (SSROracleBase's
 * getters), of PSM3 (usds(), susds()) and of the L2 tokens (tests/chain/psm3_fixture.mjs). After
 * `index --once`, GET /v1/savings/vaults/{chain}/{sUSDS}?at=T serves a `susds` vault at the sUSDS
 * token's address with the USDS asset, the oracle's ssr, chi and rho, the token's total supply,
 * and chi at T, the share price, APR, APY and total assets equal to the fixture's own BigInt
 * evaluation of protocol-math §1.1 (rpow, chi) from the values it set. */
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

/* a served value (string or integer; addresses compared lower-case) against the fixture's */
static void same(const char *what, const json_t *want, const json_t *got) {
  char w[200], g[200];
  if (json_is_integer(want))
    snprintf(w, sizeof w, "%lld", json_integer_value(want));
  else
    snprintf(w, sizeof w, "%s", json_string_value(want) ? json_string_value(want) : "(none)");
  if (json_is_integer(got))
    snprintf(g, sizeof g, "%lld", json_integer_value(got));
  else
    snprintf(g, sizeof g, "%s", json_string_value(got) ? json_string_value(got) : "(none)");
  if (strncmp(w, "0x", 2) == 0 && strlen(w) == 42) th_lower(g);
  ck_assert_msg(strcmp(w, g) == 0, "%s: expected %s, served %s", what, w, g);
}

START_TEST(psm3_serves_the_l2_susds) {
  struct th_chain ch;
  char dburl[TH_PG_CONNINFO_MAX], path[512];
  ck_assert_msg(th_chain_start(&ch) == 0, "anvil did not start");
  ck_assert_int_eq(th_node("tests/chain/psm3_fixture.mjs --rpc %s --network %s/psm3.json --expect %s/expect.json",
                           ch.url, ch.dir, ch.dir),
                   0);
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_cmd(dburl, NULL, "migrate"), 0);
  char rpc[256], net[512];
  snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", ch.url);
  snprintf(net, sizeof net, "SPARKD_NETWORK_FILE=%s/psm3.json", ch.dir);
  const char *env[] = {rpc, net, "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert_int_eq(th_sparkd_cmd(dburl, env, "index --once"), 0);

  snprintf(path, sizeof path, "%s/expect.json", ch.dir);
  json_error_t err;
  json_t *e = json_load_file(path, 0, &err);
  ck_assert_msg(e != NULL, "%s: %s", path, err.text);
  const char *const serve_env[] = {"SPARKD_LOG_LEVEL=warn", NULL};
  struct th_sparkd sd;
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);

  snprintf(path, sizeof path, "/v1/savings/vaults/31337/%s?at=%lld", json_string_value(json_object_get(e, "vault")),
           json_integer_value(json_object_get(e, "at")));
  json_t *v = get(sd.port, path);
  same("address", json_object_get(e, "vault"), json_object_get(v, "address"));
  same("asset", json_object_get(e, "asset"), json_object_get(json_object_get(v, "asset"), "address"));
  same("at", json_object_get(e, "at"), json_object_get(v, "at"));
  static const char *const f[] = {"kind",    "symbol",  "decimals", "rate_ray",    "chi_stored_ray", "rho",
                                  "chi_ray", "apr_ray", "apy_ray",  "share_price", "total_supply",   "total_assets"};
  for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
    same(f[k], json_object_get(e, f[k]), json_object_get(v, f[k]));
  printf("psm3: the L2 sUSDS served with %zu values equal to the oracle's and the fixture's arithmetic\n",
         3 + sizeof f / sizeof f[0]);
  json_decref(v);
  json_decref(e);
  th_sparkd_stop(&sd);
  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);
}
END_TEST

int main(void) {
  if (th_pg_start(&pg) != 0) return EXIT_FAILURE;
  Suite *s = suite_create("chain_psm3");
  TCase *tc = tcase_create("psm3");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, psm3_serves_the_l2_susds);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
