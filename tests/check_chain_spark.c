/* ctest-label: chain */
/* SparkLend's additions read by `sparkd index`, from test doubles exposing the real contracts'
 * getters on top of the Aave v3 market (tests/chain/spark_fixture.mjs):
 *   - the KillSwitchOracle named by the network file: GET /v1/oracles/{chain} serves its address,
 *     triggered flag and, per oracle, the label, threshold, latest answer and decimals the
 *     contracts answer (one oracle's answer negative, one without description(): labelled by
 *     its address);
 *   - rate-target strategies (RateTargetBase with an SSR source and with an 18-decimal oracle
 *     source, RateTargetKink with a capped fallback source and, with a negative spread, with a
 *     Pot source without decimals()): GET /v1/markets/{chain}/reserves/{asset} serves the kind,
 *     the spread, the rate source (kind, address, APR, decimals) and the effective base rate and
 *     slope1 the strategies' getters answer; the capped source's bounds are stored;
 *   - the same through a node answering one rate source's getAPR() with a node error (not a
 *     revert): the step fails and is read again, the reserve never stored as a plain strategy.
 * Expected values are read back from the contracts by the fixture (eth_call at the head). */
#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/chaintest.h"
#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;

static json_t *get(unsigned port, const char *path, const char *key) {
  char h[256] = "", why[1024];
  if (key) snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", key);
  json_t *j = th_get_json(port, path, h, why, sizeof why);
  ck_assert_msg(j != NULL, "%s", why);
  return j;
}

/* compares a served string (addresses case-insensitively) with the contract's */
static void same(const char *what, const json_t *want, const json_t *got) {
  char w[200], g[200];
  if (json_is_integer(want))
    snprintf(w, sizeof w, "%lld", json_integer_value(want));
  else if (json_is_boolean(want))
    snprintf(w, sizeof w, "%s", json_is_true(want) ? "true" : "false");
  else
    snprintf(w, sizeof w, "%s", json_string_value(want) ? json_string_value(want) : "(none)");
  if (json_is_integer(got))
    snprintf(g, sizeof g, "%lld", json_integer_value(got));
  else if (json_is_boolean(got))
    snprintf(g, sizeof g, "%s", json_is_true(got) ? "true" : "false");
  else
    snprintf(g, sizeof g, "%s", json_string_value(got) ? json_string_value(got) : "(none)");
  if (strncmp(w, "0x", 2) == 0 && strlen(w) == 42) th_lower(g);
  ck_assert_msg(strcmp(w, g) == 0, "%s: contract %s, served %s", what, w, g);
}

/* Compares each rate-target reserve the fixture lists in e (expect.json) with what the server on
   port serves and dburl stores; returns the number of values compared. */
static unsigned rate_targets_equal(unsigned port, const json_t *e, const char *dburl) {
  char path[512];
  unsigned checked = 0;
  const char *asset;
  json_t *w;
  json_object_foreach(json_object_get(e, "reserves"), asset, w) {
    snprintf(path, sizeof path, "/v1/markets/31337/reserves/%s", asset);
    json_t *r = get(port, path, NULL);
    json_t *irm = json_object_get(json_object_get(r, "data"), "interest_rate_strategy");
    if (!irm) irm = json_object_get(r, "interest_rate_strategy");
    ck_assert_msg(irm != NULL, "%s: no interest_rate_strategy", path);
    char what[160];
    const char *sym = json_string_value(json_object_get(w, "symbol"));
    json_t *src = json_object_get(irm, "rate_source"), *wsrc = json_object_get(w, "rate_source");
    struct {
      const char *name;
      json_t *want, *got;
    } rows[] = {
        {"strategy", json_object_get(w, "strategy"), json_object_get(irm, "address")},
        {"kind", json_object_get(w, "kind"), json_object_get(irm, "kind")},
        {"spread", json_object_get(w, "spread"), json_object_get(irm, "spread_ray")},
        {"base rate", json_object_get(w, "base_variable_borrow_rate"),
         json_object_get(irm, "base_variable_borrow_rate_ray")},
        {"slope1", json_object_get(w, "variable_rate_slope1"), json_object_get(irm, "variable_rate_slope1_ray")},
        {"source kind", json_object_get(wsrc, "kind"), json_object_get(src, "kind")},
        {"source address", json_object_get(wsrc, "address"), json_object_get(src, "address")},
        {"source apr", json_object_get(wsrc, "apr"), json_object_get(src, "apr_raw")},
        {"source decimals", json_object_get(wsrc, "decimals"), json_object_get(src, "decimals")},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++, checked++) {
      snprintf(what, sizeof what, "%s %s", sym, rows[k].name);
      same(what, rows[k].want, rows[k].got);
    }
    json_decref(r);
    if (json_object_get(wsrc, "lower_bound")) {
      /* the bounds are stored with the source (the view does not list them) */
      PGconn *c = PQconnectdb(dburl);
      static const char *const b[] = {"lower_bound", "upper_bound", "default_rate"};
      for (size_t k = 0; k < 3; k++, checked++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT irm_rate_source->>'%s' FROM reserves WHERE asset = $1", b[k]);
        const char *p[] = {asset};
        PGresult *q = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
        ck_assert(PQresultStatus(q) == PGRES_TUPLES_OK && PQntuples(q) == 1);
        json_t *got = json_string(PQgetvalue(q, 0, 0));
        snprintf(what, sizeof what, "%s source %s", sym, b[k]);
        same(what, json_object_get(wsrc, b[k]), got);
        json_decref(got);
        PQclear(q);
      }
      PQfinish(c);
    }
  }
  return checked;
}

START_TEST(kill_switch_and_rate_targets_equal_the_contracts) {
  struct th_chain ch;
  char dburl[TH_PG_CONNINFO_MAX], path[512], key[64];
  ck_assert_msg(th_chain_start(&ch) == 0, "anvil did not start");
  ck_assert_int_eq(th_node("tests/chain/aave_market.mjs --rpc %s --network %s/network.json --addresses "
                           "%s/addresses.json --quiet",
                           ch.url, ch.dir, ch.dir),
                   0);
  ck_assert_int_eq(th_node("tests/chain/spark_fixture.mjs --rpc %s --addresses %s/addresses.json --network-in "
                           "%s/network.json --network-out %s/spark.json --expect %s/expect.json",
                           ch.url, ch.dir, ch.dir, ch.dir, ch.dir),
                   0);
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_cmd(dburl, NULL, "migrate"), 0);
  char rpc[256], net[512];
  snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", ch.url);
  snprintf(net, sizeof net, "SPARKD_NETWORK_FILE=%s/spark.json", ch.dir);
  const char *env[] = {rpc, net, "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert_int_eq(th_sparkd_cmd(dburl, env, "index --once"), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "ops", NULL, key, sizeof key), 0);

  snprintf(path, sizeof path, "%s/expect.json", ch.dir);
  json_error_t err;
  json_t *e = json_load_file(path, 0, &err);
  ck_assert_msg(e != NULL, "%s: %s", path, err.text);
  const char *const serve_env[] = {"SPARKD_LOG_LEVEL=warn", NULL};
  struct th_sparkd sd;
  ck_assert(th_sparkd_start(&sd, dburl, serve_env) == 0);

  /* the kill switch */
  json_t *o = get(sd.port, "/v1/oracles/31337", key);
  json_t *ks = json_object_get(o, "kill_switch"), *wks = json_object_get(e, "kill_switch");
  ck_assert(json_is_true(json_object_get(ks, "known")));
  same("kill switch address", json_object_get(wks, "address"), json_object_get(ks, "address"));
  same("kill switch triggered", json_object_get(wks, "triggered"), json_object_get(ks, "triggered"));
  json_t *wo = json_object_get(wks, "oracles"), *so = json_object_get(ks, "oracles");
  ck_assert_uint_eq(json_array_size(wo), 3);
  ck_assert_uint_eq(json_array_size(so), json_array_size(wo));
  unsigned checked = 0;
  for (size_t i = 0; i < json_array_size(wo); i++) {
    json_t *w = json_array_get(wo, i), *s = NULL;
    for (size_t k = 0; k < json_array_size(so); k++) {
      char a[43];
      snprintf(a, sizeof a, "%s", json_string_value(json_object_get(json_array_get(so, k), "address")));
      th_lower(a);
      if (strcmp(a, json_string_value(json_object_get(w, "address"))) == 0) s = json_array_get(so, k);
    }
    ck_assert_msg(s != NULL, "oracle %s not served", json_string_value(json_object_get(w, "address")));
    static const char *const f[] = {"label", "threshold", "latest_answer", "decimals"};
    for (size_t k = 0; k < 4; k++, checked++) {
      char what[120];
      snprintf(what, sizeof what, "oracle %s %s", json_string_value(json_object_get(w, "address")), f[k]);
      same(what, json_object_get(w, f[k]), json_object_get(s, f[k]));
    }
  }
  json_decref(o);

  /* the rate-target strategies */
  checked += rate_targets_equal(sd.port, e, dburl);
  ck_assert_uint_eq(checked, 3 * 4 + 4 * 9 + 3);
  printf("kill switch and rate-target strategies: %u values equal the contracts'\n", checked);
  th_sparkd_stop(&sd);

  /* a node error that is not a revert on one rate source's getAPR() (the first direct call
     answered -32000 "header not found"): the step fails and is read again, the reserve is never
     stored as a plain strategy, and the indexer ends with every strategy as the contracts say */
  char dburl2[TH_PG_CONNINFO_MAX], proxy[128], args[1024];
  struct th_bg fp = {0, -1};
  snprintf(args, sizeof args,
           "tests/chain/faultproxy.mjs --target %s --rate 0 --error-call 'getAPR()' --error-times 1 --lifetime 300 "
           "--stats %s/apr.json",
           ch.url, ch.dir);
  ck_assert_int_eq(th_spawn_line(args, "PROXY_URL=", proxy, sizeof proxy, 30, &fp), 0);
  ck_assert(th_pg_create_db(&pg, dburl2, sizeof dburl2) == 0);
  ck_assert_int_eq(th_sparkd_cmd(dburl2, NULL, "migrate"), 0);
  snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", proxy);
  const char *env2[] = {rpc, net, "SPARKD_LOG_LEVEL=warn", "SPARKD_INDEX_POLL_MS=50", NULL};
  ck_assert_int_eq(th_sparkd_cmd(dburl2, env2, "index --once"), 0);
  th_bg_stop(&fp);
  snprintf(path, sizeof path, "%s/apr.json", ch.dir);
  json_t *st = json_load_file(path, 0, &err);
  ck_assert_msg(st != NULL, "%s: %s", path, err.text);
  ck_assert_int_eq(json_integer_value(json_object_get(st, "call_errors")), 1);
  json_decref(st);
  ck_assert(th_sparkd_start(&sd, dburl2, serve_env) == 0);
  ck_assert_uint_eq(rate_targets_equal(sd.port, e, dburl2), 4 * 9 + 3);
  th_sparkd_stop(&sd);
  th_pg_drop_db(&pg, dburl2);

  /* a node error, then a malformed answer ("result": null), on the first symbol() read (a
     reserve's token, whose symbol is cached for good): the step fails and is read again, and every
     reserve is served with its token's own symbol, never an empty or placeholder one */
  static const char *const kinds[] = {"node", "null"};
  for (size_t kind = 0; kind < 2; kind++) {
    snprintf(args, sizeof args,
             "tests/chain/faultproxy.mjs --target %s --rate 0 --error-call 'symbol()' --error-times 1 --error-kind %s "
             "--lifetime 300 --stats %s/sym.json",
             ch.url, kinds[kind], ch.dir);
    ck_assert_int_eq(th_spawn_line(args, "PROXY_URL=", proxy, sizeof proxy, 30, &fp), 0);
    ck_assert(th_pg_create_db(&pg, dburl2, sizeof dburl2) == 0);
    ck_assert_int_eq(th_sparkd_cmd(dburl2, NULL, "migrate"), 0);
    snprintf(rpc, sizeof rpc, "SPARKD_RPC_URL=%s", proxy);
    ck_assert_int_eq(th_sparkd_cmd(dburl2, env2, "index --once"), 0);
    th_bg_stop(&fp);
    snprintf(path, sizeof path, "%s/sym.json", ch.dir);
    st = json_load_file(path, 0, &err);
    ck_assert_msg(st != NULL, "%s: %s", path, err.text);
    ck_assert_int_eq(json_integer_value(json_object_get(st, "call_errors")), 1);
    json_decref(st);
    ck_assert(th_sparkd_start(&sd, dburl2, serve_env) == 0);
    const char *asset;
    json_t *w;
    unsigned n_sym = 0;
    json_object_foreach(json_object_get(e, "reserves"), asset, w) {
      snprintf(path, sizeof path, "/v1/markets/31337/reserves/%s", asset);
      json_t *r = get(sd.port, path, NULL);
      json_t *d = json_object_get(r, "data") ? json_object_get(r, "data") : r;
      char what[120];
      snprintf(what, sizeof what, "reserve symbol after a %s answer to symbol()", kinds[kind]);
      same(what, json_object_get(w, "symbol"), json_object_get(d, "symbol"));
      json_decref(r);
      n_sym++;
    }
    ck_assert_uint_ge(n_sym, 3);
    th_sparkd_stop(&sd);
    th_pg_drop_db(&pg, dburl2);
  }
  json_decref(e);
  th_chain_stop(&ch);
  th_pg_drop_db(&pg, dburl);
}
END_TEST

int main(void) {
  if (th_pg_start(&pg) != 0) return EXIT_FAILURE;
  Suite *s = suite_create("chain_spark");
  TCase *tc = tcase_create("spark");
  tcase_set_timeout(tc, 400);
  tcase_add_test(tc, kill_switch_and_rate_targets_equal_the_contracts);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
