/* ctest-label: api */
/* Spark Prime portfolios and their margin against the real sparkd and a private PostgreSQL:
 * - margin parameters through the admin route (a new version; bad correlations and bands 400 naming
 *   the field; a partner key 403);
 * - a hedged book (custody ETH, short ETH perp, exchange cash, USD debt) margined on net risk with
 *   every figure derived by hand in the comments; the record's EIP-712 signature checked by npm
 *   ethers (tests/margin_eip712.mjs verify) against GET /v1/signers;
 * - what-if quotes (a venue removed, a price changed) never stored;
 * - the bands walked by oracle price changes with hysteresis: free -> margin_call -> (call kept)
 *   -> warning, history rows and webhook outbox rows on band changes only;
 * - the §5.3 rate with each term;
 * - partner isolation (no key 401, wrong scope 403, another partner 404) and bad input (unknown
 *   venue or underlying, negative size) 400 naming the field; Idempotency-Key replay. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/httptest.h"
#include "support/pgtest.h"

#define WETH "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
#define WSTETH "0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0"
#define USDC "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
#define DAI "0x6b175474e89094c44da98b954eedeac495271d0f"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;
static char key_a[64], key_b[64], key_admin[64], keyfile[256];
/* the sweep (which also recomputes every portfolio) is kept out of the way of the exact sequences
 * asserted below; imports (NOTIFY sparkd_state) drive the worker's passes here */
static const char *env[] = {"SPARKD_MIGRATE=auto", NULL, "SPARKD_WEBHOOK_ALLOW_PRIVATE=127.0.0.0/8",
                            "SPARKD_LTV_SWEEP_S=3600", NULL};

static json_t *body_json(const struct th_response *r) {
  json_t *j = json_loads(r->body, 0, NULL);
  ck_assert_msg(j != NULL, "not json: %s", r->body);
  return j;
}

/* Sends a request; returns the body as JSON after checking the status. */
static json_t *call(const char *method, const char *path, const char *key, const char *idem, const char *body,
                    int want) {
  char h[512] = "";
  size_t n = 0;
  if (key) n += (size_t)snprintf(h + n, sizeof h - n, "Authorization: Bearer %s\r\n", key);
  if (idem) n += (size_t)snprintf(h + n, sizeof h - n, "Idempotency-Key: %s\r\n", idem);
  if (body) snprintf(h + n, sizeof h - n, "Content-Type: application/json\r\n");
  struct th_response r;
  ck_assert(th_http(sd.port, method, path, h, body, &r) == 0);
  ck_assert_msg(r.status == want, "%s %s: %d (want %d) %s", method, path, r.status, want, r.body);
  json_t *j = r.body && *r.body ? body_json(&r) : json_null();
  th_response_free(&r);
  return j;
}

/* Asserts a 400 whose errors name field. */
static void bad(const char *method, const char *path, const char *key, const char *idem, const char *body,
                const char *field) {
  json_t *j = call(method, path, key, idem, body, 400);
  json_t *errs = json_object_get(j, "errors");
  bool found = false;
  size_t i;
  json_t *e;
  json_array_foreach(errs, i, e) found |= strcmp(json_string_value(json_object_get(e, "field")), field) == 0;
  ck_assert_msg(found, "no error naming %s: %s", field, json_dumps(j, 0));
  json_decref(j);
}

static const char *str(json_t *o, const char *path) {
  /* dotted path of object members */
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *cur = o;
  for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
    cur = json_object_get(cur, tok);
  ck_assert_msg(json_is_string(cur), "%s is not a string", path);
  return json_string_value(cur);
}
static long long num(json_t *o, const char *name) {
  json_t *v = json_object_get(o, name);
  ck_assert_msg(json_is_integer(v), "%s is not an integer", name);
  return json_integer_value(v);
}

static void set_weth(long usd) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "UPDATE prices SET price = %ld00000000, updated_at = floor(extract(epoch FROM now()))::bigint"
           " WHERE chain_id = 1 AND asset = '" WETH "'",
           usd);
  ck_assert(th_pg_exec(dburl, sql) == 0);
}

static long long count_sql(const char *sql) {
  char cmd[1400], out[64] = "";
  snprintf(cmd, sizeof cmd, "psql -At '%s' -c \"%s\"", dburl, sql);
  FILE *f = popen(cmd, "r");
  ck_assert(f != NULL);
  ck_assert(fgets(out, sizeof out, f) != NULL);
  pclose(f);
  return atoll(out);
}

/* Returns how many times needle occurs in the server's log. */
static int count_log(const char *needle) {
  char *lg = th_sparkd_log(&sd);
  int n = 0;
  for (const char *p = lg; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  free(lg);
  return n;
}

/* Returns whether the count query answers want within ms (polled every 100 ms). */
static bool wait_count(const char *sql, long long want, int ms) {
  for (int waited = 0;; waited += 100) {
    if (count_sql(sql) == want) return true;
    if (waited >= ms) return false;
    usleep(100 * 1000);
  }
}

/* ETH only (WETH), no volatility impact (sigma 0) so the liquidity add-on is the half spread. */
#define PARAMS(rho, bands)                                                                                             \
  "{\"underlyings\":[{\"symbol\":\"ETH\",\"chain_id\":1,\"asset\":\"" WETH "\",\"range_bps\":2100,\"basis_bps\":100,"  \
  "\"spread_bps\":10,\"sigma_bps\":0,\"adv_usd\":\"10000000000\",\"horizon_days\":1}" rho                              \
  "],\"cash_assets\":[{\"chain_id\":1,\"asset\":\"" USDC "\"},{\"chain_id\":1,\"asset\":\"" DAI "\"}],"                \
  "\"venues\":[{\"name\":\"custodian\",\"charge_bps\":50,\"max_staleness_seconds\":3600},"                             \
  "{\"name\":\"exchange\",\"charge_bps\":300,\"max_staleness_seconds\":300},"                                          \
  "{\"name\":\"sparklend\",\"charge_bps\":150,\"max_staleness_seconds\":3600}],"                                       \
  "\"tail_weight_bps\":3500,\"gamma_bps\":10000,\"lambda_bps\":2500,\"hedge_floor_net_bps\":200,"                      \
  "\"hedge_floor_hedged_bps\":100,\"impact_y_bps\":5000,\"participation_bps\":1000,\"im_multiplier_bps\":15000,"       \
  "\"bands\":" bands ",\"max_price_staleness_seconds\":3600,"                                                          \
  "\"rate\":{\"target_spread_bps\":100,\"lender_ref_bps\":450,\"lender_min_bps\":50,\"clamp_lo_bps\":300,"             \
  "\"clamp_hi_bps\":2500,\"funding_z_bps\":10000,\"util_k_bps\":200,\"util_kink_bps\":8000,\"util_max_bps\":9500,"     \
  "\"util_slope2_bps\":5000,\"risk_hs_bps\":[15000,12500],\"risk_premium_bps\":[50,100],\"max_daily_change_bps\":25}}"
#define GOOD_BANDS                                                                                                     \
  "{\"initial_bps\":15000,\"warning_bps\":15000,\"margin_call_bps\":12500,\"liquidation_bps\":10500,"                  \
  "\"return_to_bps\":13500,\"cure_period_seconds\":86400}"

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "partner", "acme", key_a, sizeof key_a), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "partner", "beta", key_b, sizeof key_b), 0);
  ck_assert_int_eq(th_sparkd_key(dburl, "admin", NULL, key_admin, sizeof key_admin), 0);
  char out[512], fixture[512];
  snprintf(fixture, sizeof fixture, "%s/tests/fixtures/snapshot_basic.json", SPARKD_SOURCE_DIR);
  const char *ia[] = {"import", fixture, NULL};
  ck_assert_int_eq(th_sparkd_run(dburl, ia, out, sizeof out), 0);
  snprintf(keyfile, sizeof keyfile, "/tmp/pf_api_%d.key", (int)getpid());
  unlink(keyfile);
  const char *ka[] = {"keys", "signing-create", keyfile, NULL};
  ck_assert_int_eq(th_sparkd_run(dburl, ka, out, sizeof out), 0);
  static char kenv[300];
  snprintf(kenv, sizeof kenv, "SPARKD_SIGNING_KEY_FILE=%s", keyfile);
  env[1] = kenv;
}

static void teardown_all(void) {
  unlink(keyfile);
  th_pg_stop(&pg);
}

static int ethers_verify(json_t *rec, const char *signer) {
  json_t *sig = json_object_get(rec, "signature");
  ck_assert_msg(json_is_object(sig), "record is not signed");
  json_t *f = json_pack("{s:i,s:s,s:O,s:O}", "chain_id", 1, "signer", signer, "signature",
                        json_object_get(sig, "signature"), "record", json_object_get(sig, "message"));
  char path[128];
  snprintf(path, sizeof path, "/tmp/pf_api_rec_%d.json", (int)getpid());
  ck_assert_int_eq(json_dump_file(f, path, 0), 0);
  json_decref(f);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cd %s && node tests/margin_eip712.mjs verify %s >/dev/null", SPARKD_SOURCE_DIR, path);
  int st = system(cmd);
  unlink(path);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void legs(const char *id, const char *idem, const char *body) {
  char path[96];
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/legs", id);
  json_decref(call("POST", path, key_a, idem, body, 201));
}

static char now_s[32];
static const char *now_rfc(void) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now_s, sizeof now_s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return now_s;
}

START_TEST(portfolio_margin) {
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
  /* the worker's first pass (on its listener's first connect, no portfolio yet) is let through
   * before any portfolio exists, so it cannot land between a read and the sequence checked below */
  bool leased = false;
  for (int i = 0; i < 100 && !leased; i++) {
    char *log = th_sparkd_log(&sd);
    leased = log && strstr(log, "workers: lease acquired");
    free(log);
    if (!leased) usleep(100 * 1000);
  }
  ck_assert_msg(leased, "the workers lease was not taken");
  usleep(500 * 1000);
  set_weth(3000);
  char body[8192], path[128];

  /* ---- parameters ---- */
  json_decref(call("GET", "/v1/admin/margin-params", NULL, NULL, NULL, 401));
  json_decref(call("GET", "/v1/admin/margin-params", key_a, NULL, NULL, 403));
  json_t *j = call("GET", "/v1/admin/margin-params", key_admin, NULL, NULL, 200);
  ck_assert_int_eq(num(j, "version"), 1); /* the default of migration 0025 */
  json_decref(j);
  /* a second underlying whose correlation row disagrees with the first: not symmetric */
  snprintf(body, sizeof body, "%s",
           PARAMS(",{\"symbol\":\"STETH\",\"chain_id\":1,\"asset\":\"" WSTETH "\",\"range_bps\":2100,\"basis_bps\":100,"
                  "\"spread_bps\":10,\"sigma_bps\":0,\"adv_usd\":\"1000000\",\"horizon_days\":2}],"
                  "\"correlations\":[[10000,9000],[8000,10000]",
                  GOOD_BANDS));
  bad("PUT", "/v1/admin/margin-params", key_admin, NULL, body, "correlations[1][0]");
  snprintf(body, sizeof body, "%s",
           PARAMS(",{\"symbol\":\"STETH\",\"chain_id\":1,\"asset\":\"" WSTETH "\",\"range_bps\":2100,\"basis_bps\":100,"
                  "\"spread_bps\":10,\"sigma_bps\":0,\"adv_usd\":\"1000000\",\"horizon_days\":2}],"
                  "\"correlations\":[[10000,10001],[10001,10000]",
                  GOOD_BANDS));
  bad("PUT", "/v1/admin/margin-params", key_admin, NULL, body, "correlations[0][1]");
  snprintf(body, sizeof body, "%s",
           PARAMS("],\"correlations\":[[10000]",
                  "{\"initial_bps\":15000,\"warning_bps\":15000,\"margin_call_bps\":10000,\"liquidation_bps\":10500,"
                  "\"return_to_bps\":13500,\"cure_period_seconds\":86400}"));
  bad("PUT", "/v1/admin/margin-params", key_admin, NULL, body, "bands.margin_call_bps");
  snprintf(body, sizeof body, "%s", PARAMS("],\"correlations\":[[10000]", GOOD_BANDS));
  j = call("PUT", "/v1/admin/margin-params", key_admin, NULL, body, 201);
  ck_assert_int_eq(num(j, "version"), 2);
  json_decref(j);

  /* ---- a portfolio, isolation, bad input ---- */
  json_decref(
      call("POST", "/v1/partner/portfolios", NULL, "p-1", "{\"external_id\":\"p1\",\"borrower\":\"fund\"}", 401));
  json_decref(
      call("POST", "/v1/partner/portfolios", key_admin, "p-1", "{\"external_id\":\"p1\",\"borrower\":\"fund\"}", 403));
  j = call("POST", "/v1/partner/portfolios", key_a, "p-1",
           "{\"external_id\":\"p1\",\"borrower\":\"fund\",\"utilization_bps\":8000}", 201);
  char id[24];
  snprintf(id, sizeof id, "%s", str(j, "id"));
  json_decref(j);
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s", id);
  json_decref(call("GET", path, key_b, NULL, NULL, 404));
  json_decref(call("GET", path, NULL, NULL, NULL, 401));
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/legs", id);
  snprintf(body, sizeof body,
           "{\"venue\":\"nowhere\",\"as_of\":\"%s\",\"reference\":\"r\",\"legs\":[{\"kind\":\"custody\","
           "\"underlying\":\"ETH\",\"quantity\":\"1\"}]}",
           now_rfc());
  bad("POST", path, key_a, "bad-1", body, "venue");
  snprintf(body, sizeof body,
           "{\"venue\":\"custodian\",\"as_of\":\"%s\",\"reference\":\"r\",\"legs\":[{\"kind\":\"custody\","
           "\"underlying\":\"ETH\",\"quantity\":\"-1\"}]}",
           now_rfc());
  bad("POST", path, key_a, "bad-2", body, "legs[0].quantity");
  snprintf(body, sizeof body,
           "{\"venue\":\"custodian\",\"as_of\":\"%s\",\"reference\":\"r\",\"legs\":[{\"kind\":\"custody\","
           "\"underlying\":\"DOGE\",\"quantity\":\"1\"}]}",
           now_rfc());
  bad("POST", path, key_a, "bad-3", body, "legs[0].underlying");
  json_decref(call("POST", path, key_a, NULL,
                   "{\"venue\":\"custodian\",\"as_of\":\"2026-01-01T00:00:00Z\",\"reference\":\"r\",\"legs\":[]}",
                   400));
  json_decref(call("POST", path, key_b, "b-1",
                   "{\"venue\":\"custodian\",\"as_of\":\"2026-01-01T00:00:00Z\",\"reference\":\"r\",\"legs\":[]}",
                   404));

  /* custodian: 100 ETH and a $150,000 USD debt; exchange: 100 ETH short perp at 3000 (funding EMA
   * 10% APR, sd 4%) and $100,000 cash */
  snprintf(body, sizeof body,
           "{\"venue\":\"custodian\",\"as_of\":\"%s\",\"reference\":\"cust-1\",\"legs\":["
           "{\"kind\":\"custody\",\"underlying\":\"ETH\",\"quantity\":\"100\"},"
           "{\"kind\":\"debt\",\"underlying\":\"USD\",\"quantity\":\"150000\"}]}",
           now_rfc());
  legs(id, "l-1", body);
  legs(id, "l-1", body); /* a replay answers the same, writes nothing */
  char exch[1024];
  snprintf(exch, sizeof exch,
           "{\"venue\":\"exchange\",\"as_of\":\"%s\",\"reference\":\"ex-1\",\"legs\":["
           "{\"kind\":\"perp\",\"underlying\":\"ETH\",\"quantity\":\"-100\",\"entry_price\":\"3000\","
           "\"mark_price\":\"3000\",\"funding\":\"0\",\"yield\":{\"kind\":\"basis\",\"bps\":1000,\"sd_bps\":400}},"
           "{\"kind\":\"spot\",\"underlying\":\"USD\",\"quantity\":\"100000\"}]}",
           now_rfc());
  legs(id, "l-2", exch);

  /* ---- the margin of the hedged book ----
   * equity = 100*3000 + 0 (perp at entry) + 100,000 - 150,000 = $250,000
   * net delta 0, hedged $300,000: scenario loss 0; basis 1% * 300,000 = 3,000; hedge floor
   * 1% * 300,000 = 3,000; liquidity 0; venues 0.5% * 300,000 = 1,500 + 3% * 100,000 = 3,000
   * MM = 3,000 + 3,000 + 4,500 = $10,500; IM = $15,750; HS = floor(250,000/10,500 * 1e4) = 238095;
   * D_max = 250,000 - 15,750 = $234,250 */
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin", id);
  json_decref(call("GET", path, key_b, NULL, NULL, 404));
  json_t *m = call("GET", path, key_a, NULL, NULL, 200);
  ck_assert_str_eq(str(m, "band"), "free");
  ck_assert_int_eq(num(m, "params_version"), 2);
  ck_assert_str_eq(str(m, "equity_usd"), "250000.00000000");
  ck_assert_str_eq(str(m, "maintenance_margin_usd"), "10500.00000000");
  ck_assert_str_eq(str(m, "initial_margin_usd"), "15750.00000000");
  ck_assert_int_eq(num(m, "health_score_bps"), 238095);
  ck_assert_str_eq(str(m, "max_borrow_usd"), "234250.00000000");
  ck_assert_str_eq(str(m, "components.portfolio_loss_usd"), "0.00000000");
  ck_assert_str_eq(str(m, "components.basis_usd"), "3000.00000000");
  ck_assert_str_eq(str(m, "components.hedge_floor_usd"), "3000.00000000");
  ck_assert_str_eq(str(m, "components.venue_usd"), "4500.00000000");
  ck_assert(json_is_null(json_object_get(json_array_get(json_object_get(m, "underlyings"), 0), "worst_scenario")));
  j = call("GET", "/v1/signers", NULL, NULL, NULL, 200);
  char signer[64]; /* kept past j: the walk below verifies more records */
  snprintf(signer, sizeof signer, "%s",
           json_string_value(json_object_get(json_array_get(json_object_get(j, "signers"), 0), "address")));
  ck_assert_int_eq(ethers_verify(m, signer), 0);
  long long seq = num(m, "sequence");
  json_decref(m);
  json_decref(j);

  /* ---- what-if, never stored ----
   * without the exchange: custody 100 ETH and the debt: equity $150,000; delta $300,000; worst
   * scenario -21%: loss 63,000 (tail -42% * 0.35 = 44,100 is less); hedge floor 2% = 6,000;
   * liquidity 5 bps = 150; venue 1,500; MM = 70,650; HS = floor(150,000/70,650 * 1e4) = 21231 */
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin/quote", id);
  json_decref(call("POST", path, key_b, NULL, "{\"remove_venues\":[\"exchange\"]}", 404));
  bad("POST", path, key_a, NULL, "{\"remove_venues\":[\"nowhere\"]}", "remove_venues[0]");
  bad("POST", path, key_a, NULL,
      "{\"add_legs\":[{\"venue\":\"exchange\",\"kind\":\"spot\",\"underlying\":\"ETH\",\"quantity\":\"-5\"}]}",
      "add_legs[0].quantity");
  m = call("POST", path, key_a, NULL, "{\"remove_venues\":[\"exchange\"]}", 200);
  ck_assert_str_eq(str(m, "maintenance_margin_usd"), "70650.00000000");
  ck_assert_int_eq(num(m, "health_score_bps"), 21231);
  json_t *w = json_object_get(json_array_get(json_object_get(m, "underlyings"), 0), "worst_scenario");
  ck_assert_int_eq(num(w, "shock_bps"), -2100);
  ck_assert_str_eq(str(w, "loss_usd"), "63000.00000000");
  ck_assert(json_is_true(json_object_get(m, "hypothetical")));
  json_decref(m);
  /* ETH at 2000 on the whole book: still hedged; basis 2,000 + floor 2,000 + venues 0.5% * 200,000
   * = 1,000 and 3% * (perp +100,000 + cash 100,000) = 6,000: MM 11,000; equity 250,000; HS 227272 */
  m = call("POST", path, key_a, NULL, "{\"prices\":[{\"underlying\":\"ETH\",\"price\":\"2000\"}]}", 200);
  ck_assert_str_eq(str(m, "maintenance_margin_usd"), "11000.00000000");
  ck_assert_int_eq(num(m, "health_score_bps"), 227272);
  json_decref(m);
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin/history", id);
  m = call("GET", path, key_a, NULL, NULL, 200);
  ck_assert_int_eq(json_array_size(json_object_get(m, "records")), 1); /* the first result only */
  json_decref(m);
  ck_assert_int_eq(count_sql("SELECT sequence FROM portfolio_margin_latest"), seq);
  /* a quote of the book as it is gives the stored figures (the same HS as the read above); it is
   * answered from memory from the second time on */
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin/quote", id);
  for (int i = 0; i < 3; i++) {
    m = call("POST", path, key_a, NULL, "{}", 200);
    ck_assert_int_eq(num(m, "health_score_bps"), 238095);
    json_decref(m);
  }

  /* ---- the rate (§5.3) ----
   * basis leg 10% - 1 sd 4% = 6% on $300,000 over assets $400,000: y = 450 bps; raw 350; floor
   * 450 + 50 = 500; core 500; utilisation 80% at the kink: 0; HS free: 0 -> 500 */
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/rate", id);
  json_decref(call("GET", path, key_b, NULL, NULL, 404));
  m = call("GET", path, key_a, NULL, NULL, 200);
  ck_assert_int_eq(num(m, "collateral_yield_bps"), 450);
  ck_assert_int_eq(num(json_object_get(m, "raw"), "bps"), 350);
  ck_assert_int_eq(num(json_object_get(m, "floor"), "bps"), 500);
  ck_assert_int_eq(num(m, "core_bps"), 500);
  ck_assert_int_eq(num(m, "rate_bps"), 500);
  json_decref(m);

  /* ---- bands walked by prices ----
   * a webhook subscribed to band changes; the exchange now holds only the cash and the debt grows
   * to $315,000: MM = 21% * V + 2% * V + 0.05% * V + 0.5% * V + 3,000 = 0.2355 V + 3,000 */
  char wh[256];
  snprintf(wh, sizeof wh, "{\"url\":\"http://127.0.0.1:9/hook\",\"events\":[\"portfolio.band_changed\"]}");
  json_decref(call("POST", "/v1/partner/webhooks", key_a, "wh-1", wh, 201));
  snprintf(body, sizeof body,
           "{\"venue\":\"exchange\",\"as_of\":\"%s\",\"reference\":\"ex-2\",\"legs\":["
           "{\"kind\":\"spot\",\"underlying\":\"USD\",\"quantity\":\"100000\"}]}",
           now_rfc());
  legs(id, "l-3", body);
  snprintf(body, sizeof body,
           "{\"venue\":\"custodian\",\"as_of\":\"%s\",\"reference\":\"cust-2\",\"legs\":["
           "{\"kind\":\"custody\",\"underlying\":\"ETH\",\"quantity\":\"100\"},"
           "{\"kind\":\"debt\",\"underlying\":\"USD\",\"quantity\":\"315000\"}]}",
           now_rfc());
  legs(id, "l-4", body);
  /* the quote held in memory above is gone with the new legs: the very next quote sees them
   * (3000: V 300,000, MM 73,650, equity 85,000: HS floor(11541.07)) */
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin/quote", id);
  m = call("POST", path, key_a, NULL, "{}", 200);
  ck_assert_int_eq(num(m, "health_score_bps"), 11541);
  json_decref(m);
  /* 3000: V 300,000, MM 73,650, equity 85,000: HS floor(11541.07) -> margin call, opened now */
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin", id);
  m = call("GET", path, key_a, NULL, NULL, 200);
  ck_assert_int_eq(num(m, "health_score_bps"), 11541);
  ck_assert_str_eq(str(m, "band"), "margin_call");
  char since[32], as_of[32];
  snprintf(since, sizeof since, "%s", str(m, "call_since"));
  snprintf(as_of, sizeof as_of, "%s", str(m, "as_of"));
  long long walk_seq = num(m, "sequence");
  ck_assert(json_is_string(json_object_get(m, "cure_deadline")));
  json_decref(m);
  /* reads that find nothing changed serve the stored record (same sequence, same as_of, signed)
   * and store nothing */
  sleep(1);
  for (int i = 0; i < 3; i++) {
    m = call("GET", path, key_a, NULL, NULL, 200);
    ck_assert_int_eq(num(m, "sequence"), walk_seq);
    ck_assert_str_eq(str(m, "as_of"), as_of);
    ck_assert_int_eq(num(m, "health_score_bps"), 11541);
    ck_assert_int_eq(ethers_verify(m, signer), 0);
    json_decref(m);
  }
  char qs[160];
  snprintf(qs, sizeof qs, "SELECT sequence FROM portfolio_margin_latest WHERE portfolio_id = %s", id);
  ck_assert_int_eq(count_sql(qs), walk_seq);
  /* 3150: V 315,000, MM 77,182.50, equity 100,000: HS 12956, above the call level, below
   * return_to 13500: the call stays, same start */
  set_weth(3150);
  m = call("GET", path, key_a, NULL, NULL, 200);
  ck_assert_int_eq(num(m, "sequence"), walk_seq + 1); /* a price change is a new record */
  ck_assert_int_eq(count_sql(qs), walk_seq + 1);
  ck_assert_int_eq(num(m, "health_score_bps"), 12956);
  ck_assert_str_eq(str(m, "band"), "margin_call");
  ck_assert_str_eq(str(m, "call_since"), since);
  json_decref(m);
  /* 3300: V 330,000, MM 80,715, equity 115,000: HS 14247 -> warning, the call clears */
  set_weth(3300);
  m = call("GET", path, key_a, NULL, NULL, 200);
  ck_assert_int_eq(num(m, "health_score_bps"), 14247);
  ck_assert_str_eq(str(m, "band"), "warning");
  ck_assert(json_is_null(json_object_get(m, "call_since")));
  json_decref(m);
  /* history: free, margin_call, warning (newest first); one outbox row per band change */
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin/history", id);
  json_decref(call("GET", path, key_b, NULL, NULL, 404));
  m = call("GET", path, key_a, NULL, NULL, 200);
  json_t *recs = json_object_get(m, "records");
  ck_assert_int_eq(json_array_size(recs), 3);
  ck_assert_str_eq(str(json_array_get(recs, 0), "band"), "warning");
  ck_assert_str_eq(str(json_array_get(recs, 1), "band"), "margin_call");
  ck_assert_str_eq(str(json_array_get(recs, 2), "band"), "free");
  json_decref(m);
  ck_assert_int_eq(count_sql("SELECT count(*) FROM webhook_outbox WHERE event = 'portfolio.band_changed'"), 2);

  /* ---- a SparkLend account read from the served chain state ----
   * account 0x1111... supplies 9876543210987654321 scaled WETH at liquidity index 1.012:
   * floor(9995061729519506172.85) wei = 9.99506172 ETH (floored to 8 decimals), at $3000 =
   * $29,985.18516; it owes 14000123456789012345678 scaled DAI (a cash asset) at borrow index
   * 1.098765432109876543210987654: ceil(15382851699590397652811.x) wei = $15,382.85169960 (ceiled).
   * equity = 29,985.18516 - 15,382.8516996 = $14,602.3334604.
   * MM: scan -21% of 2998518516000 usd8 = 999506172 * 3000 * 0.21 = 629688888360 (tail 42% * 0.35
   * is less); hedge floor 2% = 59970370320; liquidity 5 bps = 1499259258; venue 1.5% =
   * 44977777740; MM = 736136295678 ($7,361.36295678); HS = floor(1460233346040e4 / MM) = 19836 */
  set_weth(3000);
  j = call("POST", "/v1/partner/portfolios", key_a, "p-2", "{\"external_id\":\"p2\",\"borrower\":\"dao\"}", 201);
  char id2[24];
  snprintf(id2, sizeof id2, "%s", str(j, "id"));
  json_decref(j);
  snprintf(body, sizeof body,
           "{\"venue\":\"sparklend\",\"as_of\":\"%s\",\"reference\":\"acct\",\"legs\":[{\"kind\":\"sparklend\","
           "\"chain_id\":1,\"address\":\"0x1111111111111111111111111111111111111111\"}]}",
           now_rfc());
  legs(id2, "l-5", body);
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin", id2);
  m = call("GET", path, key_a, NULL, NULL, 200);
  ck_assert_int_eq(json_array_size(json_object_get(m, "legs")), 2);
  ck_assert_str_eq(str(m, "equity_usd"), "14602.33346040");
  ck_assert_str_eq(str(m, "maintenance_margin_usd"), "7361.36295678");
  ck_assert_int_eq(num(m, "health_score_bps"), 19836);
  ck_assert_str_eq(str(m, "band"), "free");
  json_decref(m);

  /* ---- an import recomputes every portfolio, without any read of the margin ----
   * An import writes prices and NOTIFYs sparkd_state (done here by hand, as check_api_ltv does);
   * the worker of this process (it holds the workers lease) then runs partner_margin_recompute_all
   * in its own transaction. No GET of a margin below: the stored rows are polled.
   * First the prices as at the portfolios' last stored results: ETH back at 3300 (p1 warning at
   * HS 14247, above; p2 at 3300: equity 9.99506172 * 3300 - 15,382.85 = 17,600.85, MM 0.2455 *
   * 32,983.70 = 8,097.5, HS ~21736: free), written without a NOTIFY. Then an import that moves
   * only wstETH, not an underlying of the parameters in force: p1's result is its stored one
   * (nothing written), p2's (stored at 3000) changed: a new summary (sequence + 1), no history or
   * outbox row. */
  set_weth(3300);
  char q[320];
  snprintf(q, sizeof q, "SELECT sequence FROM portfolio_margin_latest WHERE portfolio_id = %s", id);
  long long seq1 = count_sql(q);
  snprintf(q, sizeof q, "SELECT sequence FROM portfolio_margin_latest WHERE portfolio_id = %s", id2);
  long long seq2 = count_sql(q);
  ck_assert(th_pg_exec(dburl,
                       "UPDATE prices SET price = price + 1, updated_at = floor(extract(epoch FROM now()))::bigint"
                       " WHERE chain_id = 1 AND asset = '" WSTETH "'; NOTIFY sparkd_state;") == 0);
  snprintf(q, sizeof q, "SELECT count(*) FROM portfolio_margin_latest WHERE portfolio_id = %s AND sequence = %lld", id2,
           seq2 + 1);
  ck_assert_msg(wait_count(q, 1, 30000), "the import did not recompute the changed portfolio");
  ck_assert_int_eq(count_sql(qs), seq1);
  char qh[256], qb[256];
  snprintf(qh, sizeof qh, "SELECT count(*) FROM portfolio_margin_history WHERE portfolio_id IN (%s, %s)", id, id2);
  ck_assert_int_eq(count_sql(qh), 4); /* p1: free, margin_call, warning; p2: free */
  ck_assert_int_eq(count_sql("SELECT count(*) FROM webhook_outbox WHERE event = 'portfolio.band_changed'"), 3);
  snprintf(qb, sizeof qb, "SELECT band FROM portfolio_margin_latest WHERE portfolio_id = %s", id);
  ck_assert_int_eq(count_sql(qb), 1); /* warning */

  /* An import that moves ETH to 3000: p1 is HS 11541 again (as at the walk's first read): a band
   * change warning -> margin_call with its history row and one outbox row (one webhook
   * subscribed); p2 stays free (HS 19836) and only its summary moves. */
  ck_assert(th_pg_exec(dburl,
                       "UPDATE prices SET price = 300000000000, updated_at = floor(extract(epoch FROM now()))::bigint"
                       " WHERE chain_id = 1 AND asset = '" WETH "'; NOTIFY sparkd_state;") == 0);
  snprintf(q, sizeof q, "SELECT count(*) FROM portfolio_margin_latest WHERE portfolio_id = %s AND band = 2", id);
  ck_assert_msg(wait_count(q, 1, 30000), "the import did not move the stored band");
  snprintf(q, sizeof q, "SELECT hs_bps FROM portfolio_margin_latest WHERE portfolio_id = %s", id);
  ck_assert_int_eq(count_sql(q), 11541);
  snprintf(q, sizeof q, "SELECT sequence FROM portfolio_margin_latest WHERE portfolio_id = %s", id);
  ck_assert_int_eq(count_sql(q), seq1 + 1);
  snprintf(q, sizeof q, "SELECT sequence FROM portfolio_margin_latest WHERE portfolio_id = %s AND band = 0", id2);
  ck_assert_int_eq(count_sql(q), seq2 + 2);
  snprintf(q, sizeof q,
           "SELECT count(*) FROM portfolio_margin_history WHERE portfolio_id = %s AND sequence = %lld"
           " AND band = 2 AND prev_band = 1 AND hs_bps = 11541",
           id, seq1 + 1);
  ck_assert_int_eq(count_sql(q), 1);
  ck_assert_int_eq(count_sql(qh), 5);
  snprintf(q, sizeof q,
           "SELECT count(*) FROM webhook_outbox WHERE event = 'portfolio.band_changed' AND position_id = -%s"
           " AND payload->>'band' = 'margin_call' AND payload->>'previous_band' = 'warning'"
           " AND (payload->>'sequence')::bigint = %lld",
           id, seq1 + 1);
  ck_assert_int_eq(count_sql(q), 1);
  /* 2 from the walk, 1 for the second portfolio's first result, 1 from this import */
  ck_assert_int_eq(count_sql("SELECT count(*) FROM webhook_outbox WHERE event = 'portfolio.band_changed'"), 4);

  /* Exactly once: another import moving no relevant price (wstETH again) recomputes both, finds
   * both results unchanged and writes nothing (the pass's log line says so); p1's call stays open. */
  ck_assert(th_pg_exec(dburl,
                       "UPDATE prices SET price = price + 1, updated_at = floor(extract(epoch FROM now()))::bigint"
                       " WHERE chain_id = 1 AND asset = '" WSTETH "'; NOTIFY sparkd_state;") == 0);
  bool passed = false;
  for (int i = 0; i < 300 && !passed; i++) {
    char *lg = th_sparkd_log(&sd);
    passed = lg && strstr(lg, "margin: 2 portfolio(s) recomputed") && strstr(lg, "2 unchanged");
    free(lg);
    if (!passed) usleep(100000);
  }
  ck_assert_msg(passed, "the second import did not recompute both portfolios");
  snprintf(q, sizeof q,
           "SELECT count(*) FROM portfolio_margin_latest WHERE (portfolio_id = %s AND sequence = %lld AND band = 2)"
           " OR (portfolio_id = %s AND sequence = %lld AND band = 0)",
           id, seq1 + 1, id2, seq2 + 2);
  ck_assert_int_eq(count_sql(q), 2);
  ck_assert_int_eq(count_sql(qh), 5);
  ck_assert_int_eq(count_sql("SELECT count(*) FROM webhook_outbox WHERE event = 'portfolio.band_changed'"), 4);
  /* the history served (not a margin read): margin_call, warning, margin_call, free */
  snprintf(path, sizeof path, "/v1/partner/portfolios/%s/margin/history", id);
  m = call("GET", path, key_a, NULL, NULL, 200);
  recs = json_object_get(m, "records");
  ck_assert_int_eq(json_array_size(recs), 4);
  ck_assert_str_eq(str(json_array_get(recs, 0), "band"), "margin_call");
  ck_assert_str_eq(str(json_array_get(recs, 1), "band"), "warning");
  json_decref(m);
  /* No stale legs: the worker's pass keeps the legs it read between passes (migration 0028), so
   * legs written by another process (here plain SQL on another connection, as another sparkd
   * writes them) must reach its very next pass. Each write comes with an import-like NOTIFY. */
  char sql[1024];
  /* 1. An UPDATE: p1's debt 315,000 -> 300,000 at ETH 3000: V 300,000, MM 73,650 as above (the
   * debt is in no charge), equity 300,000 + 100,000 - 300,000 = 100,000: HS floor(13577.7) =
   * 13577, at least return_to 13500: the call clears, below warning 15000: warning. */
  snprintf(sql, sizeof sql,
           "UPDATE portfolio_legs SET quantity = 30000000000000 WHERE portfolio_id = %s AND kind = 'debt';"
           " UPDATE prices SET updated_at = floor(extract(epoch FROM now()))::bigint WHERE chain_id = 1"
           " AND asset = '" WSTETH "'; NOTIFY sparkd_state;",
           id);
  ck_assert(th_pg_exec(dburl, sql) == 0);
  snprintf(q, sizeof q,
           "SELECT count(*) FROM portfolio_margin_latest WHERE portfolio_id = %s AND band = 1 AND hs_bps = 13577", id);
  ck_assert_msg(wait_count(q, 1, 30000), "the pass did not see the updated leg");
  /* 2. An INSERT: a leg at a venue the parameters do not know makes p1 not computable: the pass
   * skips it (its stored record stays: same sequence), p2 is computed. */
  snprintf(q, sizeof q, "SELECT sequence FROM portfolio_margin_latest WHERE portfolio_id = %s", id);
  long long seq_a = count_sql(q);
  int passes = count_log("1 not computable");
  snprintf(sql, sizeof sql,
           "INSERT INTO portfolio_legs (portfolio_id, partner_id, venue, leg_no, kind, underlying, quantity, as_of,"
           " reference) SELECT portfolio_id, partner_id, 'nowhere', 0, 'spot', 'USD', 100000000, as_of, 'sql'"
           " FROM portfolio_legs WHERE portfolio_id = %s AND kind = 'debt';"
           " UPDATE prices SET updated_at = floor(extract(epoch FROM now()))::bigint WHERE chain_id = 1"
           " AND asset = '" WSTETH "'; NOTIFY sparkd_state;",
           id);
  ck_assert(th_pg_exec(dburl, sql) == 0);
  bool skipped = false;
  for (int i = 0; i < 300 && !skipped; i++) {
    skipped = count_log("1 not computable") > passes;
    if (!skipped) usleep(100000);
  }
  ck_assert_msg(skipped, "the pass did not see the inserted leg");
  ck_assert_int_eq(count_sql(q), seq_a);
  /* 3. A DELETE and an UPDATE in one transaction: the unknown leg goes, the debt is 315,000 again:
   * HS 11541 as at the walk's first read, below the call level 12500: margin_call. */
  snprintf(sql, sizeof sql,
           "BEGIN; DELETE FROM portfolio_legs WHERE portfolio_id = %s AND venue = 'nowhere';"
           " UPDATE portfolio_legs SET quantity = 31500000000000 WHERE portfolio_id = %s AND kind = 'debt'; COMMIT;"
           " NOTIFY sparkd_state;",
           id, id);
  ck_assert(th_pg_exec(dburl, sql) == 0);
  snprintf(q, sizeof q,
           "SELECT count(*) FROM portfolio_margin_latest WHERE portfolio_id = %s AND band = 2 AND hs_bps = 11541", id);
  ck_assert_msg(wait_count(q, 1, 30000), "the pass did not see the deleted leg");

  /* the worker logged the pass (its figures go in the report, not in an assertion) */
  char *log = th_sparkd_log(&sd);
  ck_assert_msg(log && strstr(log, "margin: 2 portfolio(s) recomputed in"), "no margin pass logged");
  const char *line = log;
  while ((line = strstr(line, "margin: 2 portfolio(s)")) != NULL) {
    const char *e = strchr(line, '\n');
    fprintf(stderr, "worker: %.*s\n", (int)(e ? e - line : (long)strlen(line)), line);
    line += 10;
  }
  free(log);
  ck_assert_int_eq(th_sparkd_stop(&sd), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("portfolio_api");
  TCase *tc = tcase_create("portfolio_api");
  tcase_set_timeout(tc, 180);
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_add_test(tc, portfolio_margin);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
