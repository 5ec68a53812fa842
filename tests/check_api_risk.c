/* ctest-label: api */
/* The ops risk routes through the real sparkd against a private PostgreSQL loaded with
 * tests/fixtures/accounts_basic.json (indexes at RAY, zero rates; WETH LT 8600, bonus 10500, fee
 * 1000 of the bonus). Expected numbers are hand arithmetic (Aave v3.0.2 LiquidationLogic):
 *   A: 10 WETH vs 20,000 USDC (HF 1.29); D: 1 WETH vs 2,500 DAI (HF 1.032);
 *   F: 1 WETH vs 2,700 USDC (HF 0.9555: below 1 already, above 0.95: close factor 50%);
 *   B: wstETH vs WETH debt, C: ISO vs USDC (HF 12), E: USDC supply only.
 * Also: scopes (no key 401, partner key 403, ops and admin keys 200 on ops routes, ops key 403 on
 * the admin route), bad input naming the field, the waterfall stored, audited and applied in
 * order, pro rata and conserved, and VaR reproducible from its seed. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/accounts_basic.json"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;
static char key_partner[64], key_ops[64], key_admin[64];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* One request; key may be NULL. Returns the status, the body parsed into *out (may be NULL). */
static int call(const char *method, const char *path, const char *key, const char *body, json_t **out) {
  char h[256] = "";
  size_t n = 0;
  if (key) n += (size_t)snprintf(h + n, sizeof h - n, "Authorization: Bearer %s\r\n", key);
  if (body) snprintf(h + n, sizeof h - n, "Content-Type: application/json\r\n");
  struct th_response r;
  ck_assert_int_eq(th_http(sd.port, method, path, h, body, &r), 0);
  int status = r.status;
  if (out) {
    json_error_t e;
    *out = json_loads(r.body, 0, &e);
    ck_assert_msg(*out != NULL, "%s %s: not json: %s", method, path, r.body);
  }
  th_response_free(&r);
  return status;
}

/* The value at a path of keys and [n] indexes ("curves[0].points[1].drop"). */
static json_t *at(json_t *j, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *cur = j;
  for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
    char *br = strchr(tok, '[');
    if (br) *br = 0;
    if (*tok) cur = json_object_get(cur, tok);
    while (br && cur) {
      cur = json_array_get(cur, strtoul(br + 1, NULL, 10));
      br = strchr(br + 1, '[');
    }
  }
  return cur;
}
static const char *s_at(json_t *j, const char *path) {
  json_t *v = at(j, path);
  ck_assert_msg(v && json_is_string(v), "no string at %s", path);
  return json_string_value(v);
}
static long long i_at(json_t *j, const char *path) {
  json_t *v = at(j, path);
  ck_assert_msg(v && json_is_integer(v), "no integer at %s", path);
  return json_integer_value(v);
}

/* The 400's errors name field. */
static void ck_field(json_t *j, const char *field) {
  json_t *errs = json_object_get(j, "errors"), *e;
  size_t i;
  bool found = false;
  json_array_foreach(errs, i, e) found |= strcmp(json_string_value(json_object_get(e, "field")), field) == 0;
  char *d = json_dumps(j, JSON_COMPACT);
  ck_assert_msg(found, "errors do not name %s: %s", field, d);
  free(d);
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "partner", "acme", key_partner, sizeof key_partner), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "ops", NULL, key_ops, sizeof key_ops), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "admin", NULL, key_admin, sizeof key_admin), 0);
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_LOG_LEVEL=warn", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  ck_assert_int_eq(th_sparkd_import(dburl, FIXTURE), 0);
  for (int i = 0; i < 200; i++) {
    json_t *j;
    int st = call("GET", "/v1/risk/1/concentration", key_ops, NULL, &j);
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

START_TEST(scopes) {
  const char *paths[] = {"/v1/risk/1/liquidations-at-risk", "/v1/risk/1/var?paths=100", "/v1/risk/1/concentration",
                         "/v1/oracles/1"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    ck_assert_int_eq(call("GET", paths[i], NULL, NULL, NULL), 401);
    ck_assert_int_eq(call("GET", paths[i], key_partner, NULL, NULL), 403);
    ck_assert_int_eq(call("GET", paths[i], key_ops, NULL, NULL), 200);
    ck_assert_int_eq(call("GET", paths[i], key_admin, NULL, NULL), 200);
  }
  ck_assert_int_eq(call("POST", "/v1/risk/1/stress", NULL, "{}", NULL), 401);
  ck_assert_int_eq(call("POST", "/v1/risk/1/stress", key_partner, "{}", NULL), 403);
  ck_assert_int_eq(call("POST", "/v1/risk/1/stress", key_ops, "{}", NULL), 200);
  ck_assert_int_eq(call("GET", "/v1/admin/risk/waterfall", NULL, NULL, NULL), 401);
  ck_assert_int_eq(call("GET", "/v1/admin/risk/waterfall", key_ops, NULL, NULL), 403);
  ck_assert_int_eq(call("GET", "/v1/admin/risk/waterfall", key_partner, NULL, NULL), 403);
  ck_assert_int_eq(call("GET", "/v1/risk/999/concentration", key_ops, NULL, NULL), 404);
}
END_TEST

START_TEST(liquidations_at_risk) {
  json_t *j;
  ck_assert_int_eq(call("GET", "/v1/risk/1/liquidations-at-risk?assets=weth&drops=0,0.05&mode=each", key_ops, NULL, &j),
                   200);
  ck_assert_int_eq(i_at(j, "accounts_evaluated"), 6);
  ck_assert_str_eq(s_at(j, "curves[0].label"), "WETH");
  ck_assert_int_eq(json_array_size(at(j, "curves")), 1);
  /* drop 0: only F (HF 3000*.86/2700 = 0.9556 > 0.95: close factor 50%, 1,350 USDC covered):
   * collateral = 1350e6 * 1e8 * 1e18 / (3000e8 * 1e6) = 0.45e18, with the 5% bonus 0.4725e18
   * = 472500000000000000 wei ($1,417.50 = 141750000000 base); fee = 10% of the bonus part
   * (0.4725e18 - 0.45e18 = 0.0225e18): 2250000000000000 */
  ck_assert_str_eq(s_at(j, "curves[0].points[0].drop"), "0");
  ck_assert_int_eq(i_at(j, "curves[0].points[0].accounts_liquidatable"), 1);
  ck_assert_str_eq(s_at(j, "curves[0].points[0].debt_at_risk_base"), "270000000000");
  ck_assert_str_eq(s_at(j, "curves[0].points[0].collateral_seized_base"), "141750000000");
  ck_assert_str_eq(s_at(j, "curves[0].points[0].debt_repaid_base"), "135000000000");
  ck_assert_str_eq(s_at(j, "curves[0].points[0].reserves[0].symbol"), "WETH");
  ck_assert_str_eq(s_at(j, "curves[0].points[0].reserves[0].collateral_seized"), "472500000000000000");
  ck_assert_str_eq(s_at(j, "curves[0].points[0].reserves[0].protocol_fee"), "2250000000000000");
  ck_assert_str_eq(s_at(j, "curves[0].points[0].reserves[1].debt_repaid"), "1350000000");
  /* 5%: WETH 2850; D: 2850*.86/2500 = 0.9804 joins; A (1.2255) does not; so D and F */
  ck_assert_str_eq(s_at(j, "curves[0].points[1].drop"), "0.05");
  ck_assert_int_eq(i_at(j, "curves[0].points[1].accounts_liquidatable"), 2);
  json_decref(j);
  /* default grid: 21 points, 0 to 0.5; default assets WETH and wstETH (volatile collateral), each and together */
  ck_assert_int_eq(call("GET", "/v1/risk/1/liquidations-at-risk", key_ops, NULL, &j), 200);
  ck_assert_int_eq(json_array_size(at(j, "curves[0].points")), 21);
  ck_assert_str_eq(s_at(j, "curves[0].points[20].drop"), "0.5");
  json_decref(j);
  /* a 100% drop: A, D and F (WETH their only collateral) are below HF 1 with all their debt
   * (20,000 USDC + 2,500 DAI + 2,700 USDC = 2520000000000 base) but a collateral priced 0 cannot
   * be liquidated (the chain's liquidationCall divides by its price and reverts): nothing seized.
   * B's WETH debt is worth 0: not at risk. */
  ck_assert_int_eq(call("GET", "/v1/risk/1/liquidations-at-risk?drops=1&assets=WETH", key_ops, NULL, &j), 200);
  ck_assert_int_eq(i_at(j, "curves[0].points[0].drop_bps"), 10000);
  ck_assert_int_eq(i_at(j, "curves[0].points[0].accounts_liquidatable"), 3);
  ck_assert_str_eq(s_at(j, "curves[0].points[0].debt_at_risk_base"), "2520000000000");
  ck_assert_str_eq(s_at(j, "curves[0].points[0].collateral_seized_base"), "0");
  ck_assert_str_eq(s_at(j, "curves[0].points[0].debt_repaid_base"), "0");
  json_decref(j);
  /* bad input names the field */
  const char *bad[][2] = {{"/v1/risk/1/liquidations-at-risk?assets=NOPE", "assets"},
                          {"/v1/risk/1/liquidations-at-risk?drops=0,1.5", "drops"},
                          {"/v1/risk/1/liquidations-at-risk?drops=-0.1", "drops"},
                          {"/v1/risk/1/liquidations-at-risk?drops=0.12345", "drops"},
                          {"/v1/risk/1/liquidations-at-risk?mode=all", "mode"},
                          {"/v1/risk/1/var?paths=100001", "paths"},
                          {"/v1/risk/1/var?paths=99", "paths"},
                          {"/v1/risk/1/var?horizon=31d", "horizon"},
                          {"/v1/risk/1/var?vols=NOPE:0.5", "vols"},
                          {"/v1/risk/1/var?correlation=1.5", "correlation"},
                          {"/v1/risk/1/concentration?top=0", "top"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_msg(call("GET", bad[i][0], key_ops, NULL, &j) == 400, "%s", bad[i][0]);
    ck_field(j, bad[i][1]);
    json_decref(j);
  }
}
END_TEST

START_TEST(stress_and_waterfall) {
  json_t *j;
  /* the seeded waterfall: Spark's order */
  ck_assert_int_eq(call("GET", "/v1/admin/risk/waterfall", key_admin, NULL, &j), 200);
  ck_assert_int_eq(json_array_size(at(j, "layers")), 5);
  ck_assert_str_eq(s_at(j, "layers[0].name"), "Prime risk capital");
  ck_assert_str_eq(s_at(j, "layers[4].name"), "USDS holders");
  ck_assert(json_is_true(at(j, "layers[4].residual")));
  json_decref(j);
  /* negative capacity, a residual layer not last: 400 naming the field */
  ck_assert_int_eq(call("PUT", "/v1/admin/risk/waterfall", key_admin,
                        "{\"layers\":[{\"name\":\"x\",\"holders\":[{\"name\":\"a\",\"capacity_base\":\"-5\"}]}]}", &j),
                   400);
  ck_field(j, "layers[0].holders[0].capacity_base");
  json_decref(j);
  ck_assert_int_eq(call("PUT", "/v1/admin/risk/waterfall", key_admin,
                        "{\"layers\":[{\"name\":\"x\",\"residual\":true,\"holders\":[{\"name\":\"a\",\"capacity_base\":"
                        "\"5\"}]},{\"name\":\"y\",\"holders\":[{\"name\":\"b\",\"capacity_base\":\"5\"}]}]}",
                        &j),
                   400);
  ck_field(j, "layers[0].residual");
  json_decref(j);
  ck_assert_int_eq(call("PUT", "/v1/admin/risk/waterfall", key_ops, "{\"layers\":[]}", NULL), 403);
  /* a small waterfall: 1,000 + 3,000 USD, then 500 USD, then USDS holders with 10,000,000 USD */
  ck_assert_int_eq(call("PUT", "/v1/admin/risk/waterfall", key_admin,
                        "{\"layers\":[{\"name\":\"first\",\"holders\":[{\"name\":\"a\",\"capacity_base\":"
                        "\"100000000000\"},{\"name\":\"b\",\"capacity_base\":\"300000000000\"}]},"
                        "{\"name\":\"second\",\"holders\":[{\"name\":\"c\",\"capacity_base\":\"50000000000\"}]},"
                        "{\"name\":\"USDS holders\",\"residual\":true,\"holders\":[{\"name\":\"USDS\","
                        "\"capacity_base\":\"1000000000000000\"}]}]}",
                        &j),
                   200);
  ck_assert_int_eq(json_array_size(at(j, "layers")), 3);
  json_decref(j);
  /* the write is in the audit log */
  char sqlout[64];
  (void)sqlout;
  ck_assert_int_eq(th_pg_exec(dburl, "DO $$ BEGIN IF (SELECT count(*) FROM audit_log WHERE route = "
                                     "'/v1/admin/risk/waterfall' AND method = 'PUT' AND status = 200) <> 1 THEN "
                                     "RAISE EXCEPTION 'no audit row'; END IF; END $$;"),
                   0);

  /* WETH -40% (1800e8), no slippage, no cascade. Every WETH-backed account is below 0.95:
   *   A: 10 WETH vs 20,000 USDC: all 10 WETH go for percentDiv(18,000e6, 10500) = 17142857143 USDC;
   *      2857142857 USDC left: bad debt 285714285700 base
   *   D: 1 WETH vs 2,500 DAI: percentDiv(1800e18, 10500) = 1714285714285714285714 covered; left
   *      785714285714285714286 DAI: 78571428571 base
   *   F: 1 WETH vs 2,700 USDC: percentDiv(1800e6, 10500) = 1714285714; left 985714286: 98571428600
   *   total 462857142871 */
  ck_assert_int_eq(call("POST", "/v1/risk/1/stress", key_ops, "{\"price_shocks\":{\"WETH\":\"-0.40\"}}", &j), 200);
  ck_assert_int_eq(i_at(j, "totals.accounts_liquidated"), 3);
  ck_assert_int_eq(i_at(j, "totals.accounts_insolvent"), 3);
  ck_assert_str_eq(s_at(j, "totals.bad_debt_base"), "462857142871");
  ck_assert_str_eq(s_at(j, "totals.bad_debt_usd"), "4628.57142871");
  ck_assert_str_eq(s_at(j, "reserves[0].price_after_base"), "180000000000");
  ck_assert_str_eq(s_at(j, "reserves[1].bad_debt_base"), "384285714300"); /* USDC: A + F */
  ck_assert_str_eq(s_at(j, "reserves[2].bad_debt_base"), "78571428571");  /* DAI: D */
  /* the waterfall: first layer exhausted (1,000 and 3,000 USD pro rata = all of each), second
   * exhausted (500), the residual takes 462857142871 - 400000000000 - 50000000000 = 12857142871 */
  ck_assert_str_eq(s_at(j, "waterfall.loss_base"), "462857142871");
  ck_assert_str_eq(s_at(j, "waterfall.layers[0].absorbed_base"), "400000000000");
  ck_assert_str_eq(s_at(j, "waterfall.layers[0].holders[0].absorbed_base"), "100000000000");
  ck_assert_str_eq(s_at(j, "waterfall.layers[0].holders[1].absorbed_base"), "300000000000");
  ck_assert(json_is_true(at(j, "waterfall.layers[0].exhausted")));
  ck_assert_str_eq(s_at(j, "waterfall.layers[1].absorbed_base"), "50000000000");
  ck_assert_str_eq(s_at(j, "waterfall.layers[2].absorbed_base"), "12857142871");
  ck_assert_str_eq(s_at(j, "waterfall.usds_haircut_base"), "12857142871");
  ck_assert_str_eq(s_at(j, "waterfall.usds_haircut_fraction"), "0.000012857142871");
  ck_assert_str_eq(s_at(j, "waterfall.unabsorbed_base"), "0");
  json_decref(j);
  /* a smaller loss stays in the first layer, pro rata 1:3: WETH -35% (1950e8) liquidates A, D, F;
   * only their remainders are bad debt; whatever it is, a takes a quarter and b three quarters */
  ck_assert_int_eq(
      call("POST", "/v1/risk/1/stress", key_ops,
           "{\"price_shocks\":{\"WETH\":\"-0.35\"},\"cascade_rounds\":2,\"rate_shocks\":{\"USDC\":\"0.05\"},"
           "\"horizon_days\":1,\"slippage\":{\"WETH\":{\"spread_bps\":10,\"daily_volatility\":\"0.05\","
           "\"depth_base\":\"100000000000000\"}}}",
           &j),
      200);
  ck_assert_int_eq(json_array_size(at(j, "rounds")) >= 1, 1);
  json_decref(j);
  /* WETH -100%: nothing can be liquidated (every WETH-backed account's only collateral is priced
   * 0); the debts of A, D and F are bad debt whole: 2520000000000 */
  ck_assert_int_eq(call("POST", "/v1/risk/1/stress", key_ops, "{\"price_shocks\":{\"WETH\":\"-1\"}}", &j), 200);
  ck_assert_int_eq(i_at(j, "totals.accounts_liquidated"), 0);
  ck_assert_int_eq(i_at(j, "totals.accounts_insolvent"), 3);
  ck_assert_str_eq(s_at(j, "totals.bad_debt_base"), "2520000000000");
  json_decref(j);
  /* a cascade to 0: no price shock; F (HF 0.9556) loses 0.4725 WETH for 1,350 USDC in round 0;
   * selling it with spread 100% and Y * sigma = 18 is an impact of 100%: WETH is 0 in round 1,
   * where A, D and F are below HF 1 with nothing to seize. Bad debt at WETH 0: 2,000,000,000,000
   * (A) + 250,000,000,000 (D) + 135,000,000,000 (F's 1,350 USDC left) = 2385000000000 */
  ck_assert_int_eq(call("POST", "/v1/risk/1/stress", key_ops,
                        "{\"slippage\":{\"WETH\":{\"spread_bps\":10000,\"daily_volatility\":\"1\","
                        "\"impact_coefficient\":\"18\",\"depth_base\":\"1\"}},\"cascade_rounds\":5}",
                        &j),
                   200);
  ck_assert_int_eq(json_array_size(at(j, "rounds")), 2);
  ck_assert_int_eq(i_at(j, "totals.accounts_liquidated"), 1);
  ck_assert_int_eq(i_at(j, "totals.accounts_insolvent"), 3);
  ck_assert_str_eq(s_at(j, "totals.bad_debt_base"), "2385000000000");
  ck_assert_str_eq(s_at(j, "reserves[0].price_after_base"), "0");
  json_decref(j);
  /* the same with the attack report's year at +1000% APR: an answer, not 422 */
  ck_assert_int_eq(call("POST", "/v1/risk/1/stress", key_ops,
                        "{\"slippage\":{\"WETH\":{\"spread_bps\":10000,\"daily_volatility\":\"1\","
                        "\"impact_coefficient\":\"18\",\"depth_base\":\"1\"}},\"cascade_rounds\":5,"
                        "\"horizon_days\":365,\"rate_shocks\":{\"USDC\":\"10\",\"DAI\":\"10\",\"WETH\":\"10\"}}",
                        NULL),
                   200);
  /* bad stress input names the field */
  const char *bad[][2] = {{"{\"price_shocks\":{\"NOPE\":\"-0.1\"}}", "price_shocks.NOPE"},
                          {"{\"price_shocks\":{\"WETH\":\"-1.5\"}}", "price_shocks.WETH"},
                          {"{\"rate_shocks\":{\"USDC\":\"abc\"}}", "rate_shocks.USDC"},
                          {"{\"cascade_rounds\":9}", "cascade_rounds"},
                          {"{\"slippage\":{\"WETH\":{\"depth_base\":\"-1\"}}}", "slippage.WETH.depth_base"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_msg(call("POST", "/v1/risk/1/stress", key_ops, bad[i][0], &j) == 400, "%s", bad[i][0]);
    ck_field(j, bad[i][1]);
    json_decref(j);
  }
}
END_TEST

START_TEST(var_concentration_oracles) {
  json_t *a, *b;
  /* same seed, same answer */
  ck_assert_int_eq(call("GET", "/v1/risk/1/var?paths=2000&seed=42&vols=WETH:1.5", key_ops, NULL, &a), 200);
  ck_assert_int_eq(call("GET", "/v1/risk/1/var?paths=2000&seed=42&vols=WETH:1.5", key_ops, NULL, &b), 200);
  ck_assert(json_equal(a, b));
  /* nothing is under water today; F goes under below 2,700 (-10%), about 1.3 one-day sigmas at 150%
   * a year, so the 99% loss is positive */
  ck_assert_str_eq(s_at(a, "deterministic_loss_base"), "0");
  ck_assert_str_eq(s_at(a, "levels[1].confidence"), "0.99");
  ck_assert_str_ne(s_at(a, "levels[1].var_base"), "0");
  ck_assert_str_eq(s_at(a, "assets[0].source"), "request");
  json_decref(a);
  json_decref(b);
  /* zero volatility: every statistic is the deterministic loss */
  ck_assert_int_eq(call("GET", "/v1/risk/1/var?paths=100&vols=WETH:0", key_ops, NULL, &a), 200);
  ck_assert_str_eq(s_at(a, "levels[0].var_base"), s_at(a, "deterministic_loss_base"));
  ck_assert_str_eq(s_at(a, "levels[1].es_base"), s_at(a, "deterministic_loss_base"));
  json_decref(a);

  /* WETH supply: A 10, D 1, F 1 = 12 WETH: top 1 is A with 10/12 = 0.8333; HHI = (100+1+1)/144
   * = 0.70833 -> "0.7083" */
  ck_assert_int_eq(call("GET", "/v1/risk/1/concentration?top=1", key_ops, NULL, &a), 200);
  ck_assert_str_eq(s_at(a, "reserves[0].symbol"), "WETH");
  ck_assert_str_eq(s_at(a, "reserves[0].supply.total"), "12000000000000000000");
  ck_assert_str_eq(s_at(a, "reserves[0].supply.top_share"), "0.8333");
  ck_assert_str_eq(s_at(a, "reserves[0].supply.hhi"), "0.7083");
  ck_assert_str_eq(s_at(a, "reserves[0].supply.top_accounts[0].address"), "0x00000000000000000000000000000000000000A1");
  json_decref(a);

  /* oracles: WETH updated at 1729999900, 100 s before the block; the kill switch known, not triggered */
  ck_assert_int_eq(call("GET", "/v1/oracles/1", key_ops, NULL, &a), 200);
  ck_assert_str_eq(s_at(a, "assets[0].symbol"), "WETH");
  ck_assert_int_eq(i_at(a, "assets[0].age_at_block_seconds"), 100);
  ck_assert(json_is_false(at(a, "assets[0].stale_at_block")));
  ck_assert(json_is_true(at(a, "assets[0].stale"))); /* the fixture's 2024 block is long past */
  ck_assert(json_is_true(at(a, "kill_switch.known")));
  ck_assert(json_is_false(at(a, "kill_switch.triggered")));
  json_decref(a);
}
END_TEST

int main(void) {
  Suite *s = suite_create("risk");
  TCase *tc = tcase_create("api");
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, scopes);
  tcase_add_test(tc, liquidations_at_risk);
  tcase_add_test(tc, stress_and_waterfall);
  tcase_add_test(tc, var_concentration_oracles);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
