/* ctest-label: chain */
/* `sparkd index` against a full Aave v3 market on anvil (tests/chain/aave_market.mjs, driven by
 * tests/chain/drive.mjs with seeded random users). Expected values are the contracts' own answers
 * (tests/chain/truth.mjs, every read pinned to the block by hash): after indexing, every user's
 * scaled balances, eMode, total collateral and debt and health factor, and every reserve's
 * indexes, rates, totals, liquidity and price in the database equal them exactly.
 *   - --once from the network file's start block;
 *   - a reorg (anvil_reorg) dropping blocks that touched accounts: the served state follows the
 *     new branch and nothing of the old one remains;
 *   - a fault proxy in front of anvil (drops, delays, 429, 503, garbled JSON, wrong batch sizes):
 *     the indexer ends with the chain's state, and counted the errors;
 *   - the JSON-RPC client's batches and retries directly, through the proxy and against a dead port;
 *   - follow mode: a new block is applied without a restart, and a second indexer of the same
 *     chain is refused while the first holds the lease (db/lease.h, "indexer.<chain id>"); a
 *     follower that lost its lease session to another holder applies nothing until it is free;
 *   - /metrics exports the indexer's status, /readyz honours SPARKD_READY_MAX_LAG_BLOCKS;
 *   - savings vaults (sDAI through its Pot, sUSDS, Spark Vault V2) and rate limits, from test
 *     doubles exposing the real contracts' getters (tests/chain/savings_fixture.mjs).
 * Missing node, node_modules or anvil is a FAILURE, not a skip. */
#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chain/rpc.h"
#include "db/lease.h"
#include "support/chaintest.h"
#include "support/pgtest.h"

static struct th_pg pg;
static char dir[256];
static char rpc_url[128];
static pid_t market_pid = -1, proxy_pid = -1;
static int market_stdin = -1, proxy_stdin = -1;
static char proxy_url[128];

/* Runs cmd with sh in the source tree; returns its exit code (-1 when it did not exit). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
  char cmd[4096], full[4300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  snprintf(full, sizeof full, "cd '%s' && %s", SPARKD_SOURCE_DIR, cmd);
  int ws = system(full);
  return (ws != -1 && WIFEXITED(ws)) ? WEXITSTATUS(ws) : -1;
}

/* Starts `node script args` with its stdin a pipe (closing it stops the script) and reads its
 * stdout until a line starting with key=; writes the value to out. Returns the pid or -1. */
static pid_t spawn_until(const char *script_args, const char *key, char *out, size_t cap, int *stdin_fd) {
  int in[2], o[2];
  if (pipe(in) || pipe(o)) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(o[1], 1);
    close(in[1]);
    close(o[0]);
    if (chdir(SPARKD_SOURCE_DIR) != 0) _exit(127);
    execl("/bin/sh", "sh", "-c", script_args, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(o[1]);
  *stdin_fd = in[1];
  FILE *f = fdopen(o[0], "r");
  char line[1024];
  size_t kl = strlen(key);
  out[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
      line[strcspn(line, "\r\n")] = '\0';
      snprintf(out, cap, "%s", line + kl + 1);
      break;
    }
  }
  /* the rest of its output is not needed; a reader keeps the pipe from filling */
  if (fork() == 0) {
    while (fgets(line, sizeof line, f))
      ;
    _exit(0);
  }
  fclose(f);
  return out[0] ? pid : -1;
}

static void stop_child(pid_t *pid, int *fd) {
  if (*fd >= 0) close(*fd);
  if (*pid > 0) {
    kill(*pid, SIGTERM);
    waitpid(*pid, NULL, 0);
  }
  *pid = -1;
  *fd = -1;
}

static json_t *load_json(const char *path) {
  json_error_t e;
  json_t *j = json_load_file(path, 0, &e);
  ck_assert_msg(j != NULL, "%s: %s", path, e.text);
  return j;
}

/* Returns the single value of a one-row, one-column query ("" for NULL or no row). */
static void q1(PGconn *c, const char *sql, const char *p1, char *out, size_t cap) {
  const char *params[] = {p1};
  PGresult *r = PQexecParams(c, sql, p1 ? 1 : 0, NULL, p1 ? params : NULL, NULL, NULL, 0);
  ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
  snprintf(out, cap, "%s", PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
}

/* Compares the database with truth.mjs's dump; returns the number of differences (each printed). */
static unsigned compare(const char *conninfo, const char *truth_path) {
  json_t *t = load_json(truth_path);
  PGconn *c = PQconnectdb(conninfo);
  ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
  unsigned bad = 0, checked = 0;
  char got[200], sql[512], key[200];
#define DIFF(what, want, have)                                                                                         \
  do {                                                                                                                 \
    if (strcmp((want), (have)) != 0) {                                                                                 \
      if (bad < 30) fprintf(stderr, "differs: %s: chain %s, sparkd %s\n", what, want, have);                           \
      bad++;                                                                                                           \
    }                                                                                                                  \
    checked++;                                                                                                         \
  } while (0)
  json_t *blk = json_object_get(t, "block");
  char bh[80];
  snprintf(bh, sizeof bh, "%s", json_string_value(json_object_get(blk, "hash")));
  th_lower(bh);
  q1(c, "SELECT block_hash FROM chains", NULL, got, sizeof got);
  DIFF("block hash", bh, got);
  const char *asset;
  json_t *r;
  json_object_foreach(json_object_get(t, "reserves"), asset, r) {
    char a[43];
    snprintf(a, sizeof a, "%s", asset);
    th_lower(a);
    json_t *d = json_object_get(r, "data");
    static const char *const cols[][2] = {{"liquidity_index", "liquidity_index"},
                                          {"variable_borrow_index", "variable_borrow_index"},
                                          {"current_liquidity_rate", "current_liquidity_rate"},
                                          {"current_variable_borrow_rate", "current_variable_borrow_rate"},
                                          {"configuration", "configuration"},
                                          {"accrued_to_treasury", "accrued_to_treasury"},
                                          {"isolation_mode_total_debt", "isolation_mode_total_debt"}};
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
      snprintf(sql, sizeof sql, "SELECT %s::text FROM reserves WHERE asset = $1", cols[k][0]);
      q1(c, sql, a, got, sizeof got);
      snprintf(key, sizeof key, "%s %s", json_string_value(json_object_get(r, "symbol")), cols[k][0]);
      DIFF(key, json_string_value(json_object_get(d, cols[k][1])), got);
    }
    static const char *const tot[][2] = {{"a_token_scaled_total_supply", "atoken_scaled_total_supply"},
                                         {"variable_debt_scaled_total_supply", "variable_debt_scaled_total_supply"},
                                         {"available_liquidity", "available_liquidity"}};
    for (size_t k = 0; k < 3; k++) {
      snprintf(sql, sizeof sql, "SELECT %s::text FROM reserves WHERE asset = $1", tot[k][0]);
      q1(c, sql, a, got, sizeof got);
      snprintf(key, sizeof key, "%s %s", json_string_value(json_object_get(r, "symbol")), tot[k][0]);
      DIFF(key, json_string_value(json_object_get(r, tot[k][1])), got);
    }
    q1(c, "SELECT price::text FROM prices WHERE asset = $1", a, got, sizeof got);
    snprintf(key, sizeof key, "%s price", json_string_value(json_object_get(r, "symbol")));
    DIFF(key, json_string_value(json_object_get(r, "price")), got);
  }
  const char *user;
  json_t *u;
  json_object_foreach(json_object_get(t, "users"), user, u) {
    char a[43];
    snprintf(a, sizeof a, "%s", user);
    th_lower(a);
    json_t *acc = json_object_get(u, "account");
    bool has_debt = strcmp(json_string_value(json_object_get(acc, "total_debt_base")), "0") != 0;
    bool has_any = false;
    json_t *b;
    json_object_foreach(json_object_get(u, "balances"), asset, b) {
      char s[43];
      snprintf(s, sizeof s, "%s", asset);
      th_lower(s);
      const char *ws = json_string_value(json_object_get(b, "a_scaled"));
      const char *wv = json_string_value(json_object_get(b, "v_scaled"));
      has_any |= strcmp(ws, "0") != 0 || strcmp(wv, "0") != 0;
      const char *params[] = {a, s};
      PGresult *res = PQexecParams(c,
                                   "SELECT scaled_a_token_balance::text, scaled_variable_debt::text FROM positions"
                                   " WHERE account = $1 AND asset = $2",
                                   2, NULL, params, NULL, NULL, 0);
      ck_assert(PQresultStatus(res) == PGRES_TUPLES_OK);
      const char *gs = PQntuples(res) ? PQgetvalue(res, 0, 0) : "0";
      const char *gv = PQntuples(res) ? PQgetvalue(res, 0, 1) : "0";
      snprintf(key, sizeof key, "%s %s scaled aToken", a, s);
      DIFF(key, ws, gs);
      snprintf(key, sizeof key, "%s %s scaled debt", a, s);
      DIFF(key, wv, gv);
      PQclear(res);
    }
    q1(c, "SELECT count(*)::text FROM accounts WHERE address = $1", a, got, sizeof got);
    snprintf(key, sizeof key, "%s stored", a);
    DIFF(key, has_any ? "1" : "0", got);
    if (!has_any) continue;
    char em[24];
    snprintf(em, sizeof em, "%lld", json_integer_value(json_object_get(u, "emode")));
    if (!json_is_integer(json_object_get(u, "emode")))
      snprintf(em, sizeof em, "%s", json_string_value(json_object_get(u, "emode")));
    q1(c, "SELECT emode_category::text FROM accounts WHERE address = $1", a, got, sizeof got);
    snprintf(key, sizeof key, "%s emode", a);
    DIFF(key, em, got);
    /* The stored totals and health factor are those of the block the account was last written at
     * (docs/architecture.md, "Where health factors live"; the served ones are computed per generation
     * and compared with the chain by check_chain_differential), so they are compared only for the
     * accounts the compared block itself wrote. */
    q1(c,
       "SELECT (block_number = (SELECT block_number FROM chains c WHERE c.chain_id = accounts.chain_id))::text"
       " FROM accounts WHERE address = $1",
       a, got, sizeof got);
    if (strcmp(got, "true") != 0) continue;
    q1(c, "SELECT total_collateral_base::text FROM accounts WHERE address = $1", a, got, sizeof got);
    snprintf(key, sizeof key, "%s total collateral", a);
    DIFF(key, json_string_value(json_object_get(acc, "total_collateral_base")), got);
    q1(c, "SELECT total_debt_base::text FROM accounts WHERE address = $1", a, got, sizeof got);
    snprintf(key, sizeof key, "%s total debt", a);
    DIFF(key, json_string_value(json_object_get(acc, "total_debt_base")), got);
    if (has_debt) {
      q1(c, "SELECT health_factor::text FROM accounts WHERE address = $1", a, got, sizeof got);
      snprintf(key, sizeof key, "%s health factor", a);
      DIFF(key, json_string_value(json_object_get(acc, "health_factor")), got);
    }
  }
#undef DIFF
  fprintf(stderr, "compared %u values at block %lld: %u differ\n", checked,
          json_integer_value(json_object_get(blk, "number")), bad);
  ck_assert_uint_gt(checked, 200);
  PQfinish(c);
  json_decref(t);
  return bad;
}

static int index_once(const char *conninfo, const char *url, const char *extra, char *out, size_t cap) {
  char path[400];
  snprintf(path, sizeof path, "%s/index.out", dir);
  int rc = run("SPARKD_DATABASE_URL='%s' SPARKD_MIGRATE=auto SPARKD_RPC_URL='%s' SPARKD_NETWORK_FILE='%s/net.json'"
               " SPARKD_LOG_LEVEL=warn SPARKD_LOG_FORMAT=text %s timeout 300 '%s' index --once >'%s'",
               conninfo, url, dir, extra ? extra : "", SPARKD_BINARY, path);
  FILE *f = fopen(path, "r");
  out[0] = '\0';
  if (f) {
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
  }
  fprintf(stderr, "index --once: %s", out);
  return rc;
}

static void truth(const char *name) {
  ck_assert_int_eq(run("timeout 120 node tests/chain/truth.mjs --rpc %s --addresses %s/addr.json --block latest"
                       " --out %s/%s >/dev/null",
                       rpc_url, dir, dir, name),
                   0);
}

static void drive(unsigned seed, unsigned users, unsigned steps) {
  ck_assert_int_eq(run("timeout 300 node tests/chain/drive.mjs --rpc %s --addresses %s/addr.json --seed %u"
                       " --users %u --steps %u --out %s/drive.json >/dev/null",
                       rpc_url, dir, seed, users, steps, dir),
                   0);
}

static char db_main[TH_PG_CONNINFO_MAX];

static void rpc_post(const char *body, char *out, size_t cap) {
  char path[400];
  snprintf(path, sizeof path, "%s/rpc.out", dir);
  ck_assert_int_eq(
      run("curl -s -m 30 -X POST -H 'content-type: application/json' --data '%s' %s >'%s'", body, rpc_url, path), 0);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(out, 1, cap - 1, f) : 0;
  out[n] = '\0';
  if (f) fclose(f);
}

/* Every applied block's parent hash is written in the block's own transaction: a trigger refuses
 * any chain_blocks row without one, so a block written first and completed by a second
 * transaction (where a crash in between leaves a block that a reorg walk cannot check) fails the
 * index. File imports, which have no parent hash, do not run in this database. */
static void refuse_blocks_without_parent(const char *conninfo) {
  ck_assert_int_eq(run("SPARKD_DATABASE_URL='%s' SPARKD_LOG_LEVEL=warn timeout 120 '%s' migrate >/dev/null", conninfo,
                       SPARKD_BINARY),
                   0);
  PGconn *c = PQconnectdb(conninfo);
  PGresult *r = PQexec(c, "CREATE FUNCTION test_need_parent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                          " IF NEW.parent_hash IS NULL THEN RAISE EXCEPTION 'block % without its parent hash',"
                          " NEW.block_number; END IF; RETURN NEW; END $$;"
                          " CREATE TRIGGER test_need_parent BEFORE INSERT OR UPDATE ON chain_blocks"
                          " FOR EACH ROW EXECUTE FUNCTION test_need_parent()");
  ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
}

/* Each applied block's stored parent hash is the node's parentHash of that block. */
static void parents_equal_the_nodes(const char *conninfo) {
  PGconn *c = PQconnectdb(conninfo);
  PGresult *r = PQexec(c, "SELECT block_number, parent_hash FROM chain_blocks ORDER BY block_number");
  ck_assert(PQresultStatus(r) == PGRES_TUPLES_OK);
  ck_assert_int_gt(PQntuples(r), 0);
  for (int i = 0; i < PQntuples(r); i++) {
    char body[200], res[8192];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBlockByNumber\",\"params\":[\"0x%llx\",false]}",
             strtoull(PQgetvalue(r, i, 0), NULL, 10));
    rpc_post(body, res, sizeof res);
    json_t *j = json_loads(res, 0, NULL);
    char want[80];
    snprintf(want, sizeof want, "%s", json_string_value(json_object_get(json_object_get(j, "result"), "parentHash")));
    th_lower(want);
    json_decref(j);
    ck_assert_msg(strcmp(want, PQgetvalue(r, i, 1)) == 0, "block %s: parent %s, node %s", PQgetvalue(r, i, 0),
                  PQgetvalue(r, i, 1), want);
  }
  PQclear(r);
  PQfinish(c);
}

START_TEST(once_equals_the_chain) {
  drive(11, 25, 120);
  char out[1024], path[400];
  refuse_blocks_without_parent(db_main);
  ck_assert_int_eq(index_once(db_main, rpc_url, NULL, out, sizeof out), 0);
  parents_equal_the_nodes(db_main);
  truth("t1.json");
  snprintf(path, sizeof path, "%s/t1.json", dir);
  ck_assert_uint_eq(compare(db_main, path), 0);
  /* a second run finds nothing new */
  ck_assert_int_eq(index_once(db_main, rpc_url, NULL, out, sizeof out), 0);
  ck_assert_ptr_nonnull(strstr(out, ": 0 snapshots applied"));
  /* the status rows /metrics exports */
  PGconn *c = PQconnectdb(db_main);
  char head[40], applied[40], calls[40];
  q1(c, "SELECT head_block::text FROM index_status", NULL, head, sizeof head);
  q1(c, "SELECT applied_block::text FROM index_status", NULL, applied, sizeof applied);
  q1(c, "SELECT calls::text FROM index_rpc_calls WHERE method = 'eth_call'", NULL, calls, sizeof calls);
  ck_assert_str_eq(head, applied);
  ck_assert_int_gt(atoi(calls), 100);
  PQfinish(c);
}
END_TEST

START_TEST(reorg_follows_the_new_branch) {
  char out[1024], path[400], res[4096];
  rpc_post("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\",\"params\":[]}", res, sizeof res);
  json_t *j = json_loads(res, 0, NULL);
  long long before = strtoll(json_string_value(json_object_get(j, "result")), NULL, 16);
  json_decref(j);
  /* new blocks that touch accounts, indexed, then dropped by a reorg that replaces them */
  drive(12, 8, 12);
  rpc_post("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\",\"params\":[]}", res, sizeof res);
  j = json_loads(res, 0, NULL);
  long long after = strtoll(json_string_value(json_object_get(j, "result")), NULL, 16);
  json_decref(j);
  ck_assert_int_gt(after, before);
  ck_assert_int_eq(index_once(db_main, rpc_url, NULL, out, sizeof out), 0);
  char body[200];
  snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"anvil_reorg\",\"params\":[%lld,[]]}",
           after - before);
  rpc_post(body, res, sizeof res);
  ck_assert_msg(strstr(res, "\"error\"") == NULL, "anvil_reorg: %s", res);
  ck_assert_int_eq(index_once(db_main, rpc_url, NULL, out, sizeof out), 0);
  ck_assert_ptr_nonnull(strstr(out, " 1 reorgs"));
  truth("t2.json");
  snprintf(path, sizeof path, "%s/t2.json", dir);
  ck_assert_uint_eq(compare(db_main, path), 0);
  /* no block of the old branch remains */
  PGconn *c = PQconnectdb(db_main);
  char n[40], h[80];
  q1(c, "SELECT max(block_number)::text FROM chain_blocks", NULL, n, sizeof n);
  q1(c, "SELECT block_hash FROM chain_blocks WHERE block_number = (SELECT max(block_number) FROM chain_blocks)", NULL,
     h, sizeof h);
  json_t *t = load_json(path);
  char want[80];
  snprintf(want, sizeof want, "%s", json_string_value(json_object_get(json_object_get(t, "block"), "hash")));
  th_lower(want);
  ck_assert_str_eq(h, want);
  PQfinish(c);
  parents_equal_the_nodes(db_main);
  c = PQconnectdb(db_main);
  /* the accounts the rewind removed were read again: none is left pending */
  q1(c, "SELECT count(*)::text FROM index_pending_accounts", NULL, n, sizeof n);
  ck_assert_str_eq(n, "0");
  json_decref(t);
  PQfinish(c);
}
END_TEST

START_TEST(faults_end_with_the_chains_state) {
  char db[TH_PG_CONNINFO_MAX], out[1024], path[400];
  ck_assert_int_eq(th_pg_create_db(&pg, db, sizeof db), 0);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "exec node tests/chain/faultproxy.mjs --target %s --seed 5 --rate 0.3 --lifetime 280",
           rpc_url);
  proxy_pid = spawn_until(cmd, "PROXY_URL", proxy_url, sizeof proxy_url, &proxy_stdin);
  ck_assert_msg(proxy_pid > 0, "the fault proxy did not start");
  ck_assert_int_eq(index_once(db, proxy_url,
                              "SPARKD_INDEX_RPC_TIMEOUT_MS=3000 SPARKD_INDEX_RPC_RETRIES=20"
                              " SPARKD_INDEX_STEP_BLOCKS=40 SPARKD_INDEX_BATCH_SIZE=25",
                              out, sizeof out),
                   0);
  truth("t3.json");
  snprintf(path, sizeof path, "%s/t3.json", dir);
  ck_assert_uint_eq(compare(db, path), 0);
  PGconn *c = PQconnectdb(db);
  char errors[40];
  q1(c, "SELECT sum(errors)::text FROM index_rpc_calls", NULL, errors, sizeof errors);
  ck_assert_int_gt(atoi(errors), 0);
  PQfinish(c);
  th_pg_drop_db(&pg, db);
}
END_TEST

START_TEST(rpc_batches_and_retries) {
  /* through the proxy: 300 calls in batches of 7, every answer placed by its id */
  struct chain_rpc_opts o = {
      .url = proxy_url, .timeout_ms = 3000, .retries = 30, .batch_max = 7, .backoff_base_ms = 5, .backoff_max_ms = 50};
  struct chain_rpc *r = chain_rpc_new(&o);
  ck_assert_ptr_nonnull(r);
  enum { N = 300 };
  static struct chain_rpc_call calls[N];
  for (int i = 0; i < N; i++) {
    char q[24];
    snprintf(q, sizeof q, "0x%x", i % 50);
    calls[i] = (struct chain_rpc_call){.method = "eth_getBlockByNumber", .params = json_pack("[s, b]", q, 0)};
  }
  ck_assert_int_eq(chain_rpc_batch(r, calls, N), 0);
  for (int i = 0; i < N; i++) {
    ck_assert(!calls[i].error);
    const char *num = json_string_value(json_object_get(calls[i].result, "number"));
    ck_assert_ptr_nonnull(num);
    ck_assert_int_eq(strtol(num, NULL, 16), i % 50);
  }
  chain_rpc_calls_clear(calls, N);
  ck_assert_uint_gt(chain_rpc_retries(r), 0); /* the proxy's faults were met and retried */
  size_t ns;
  const struct chain_rpc_method_stats *st = chain_rpc_stats(r, &ns);
  ck_assert_uint_eq(ns, 1);
  ck_assert_uint_ge(st[0].calls, N);
  ck_assert_uint_gt(st[0].errors, 0);
  /* a node error is the call's, not retried */
  json_t *res = NULL;
  ck_assert_int_eq(chain_rpc_call1(r, "eth_noSuchMethod", json_array(), &res), -2);
  chain_rpc_free(r);
  /* a dead port: the retries run out and the call fails */
  struct chain_rpc_opts dead = {
      .url = "http://127.0.0.1:9", .timeout_ms = 500, .retries = 2, .backoff_base_ms = 5, .backoff_max_ms = 10};
  r = chain_rpc_new(&dead);
  ck_assert_int_eq(chain_rpc_call1(r, "eth_blockNumber", json_array(), &res), -1);
  ck_assert_uint_eq(chain_rpc_retries(r), 2);
  st = chain_rpc_stats(r, &ns);
  ck_assert_uint_eq(st[0].calls, 3);
  ck_assert_uint_eq(st[0].errors, 3);
  chain_rpc_free(r);
  stop_child(&proxy_pid, &proxy_stdin);
}
END_TEST

START_TEST(follow_applies_new_blocks) {
  char path[400];
  snprintf(path, sizeof path, "%s/follow.log", dir);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("SPARKD_DATABASE_URL", db_main, 1);
    setenv("SPARKD_RPC_URL", rpc_url, 1);
    char net[400];
    snprintf(net, sizeof net, "%s/net.json", dir);
    setenv("SPARKD_NETWORK_FILE", net, 1);
    setenv("SPARKD_INDEX_POLL_MS", "100", 1);
    setenv("SPARKD_LOG_LEVEL", "warn", 1);
    if (!freopen(path, "w", stderr)) _exit(127);
    execl(SPARKD_BINARY, "sparkd", "index", (char *)NULL);
    _exit(127);
  }
  drive(13, 6, 10);
  char res[4096];
  rpc_post("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\",\"params\":[]}", res, sizeof res);
  json_t *j = json_loads(res, 0, NULL);
  long long head = strtoll(json_string_value(json_object_get(j, "result")), NULL, 16);
  json_decref(j);
  PGconn *c = PQconnectdb(db_main);
  char applied[40] = "";
  for (int i = 0; i < 600 && atoll(applied) < head; i++) {
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    q1(c, "SELECT applied_block::text FROM index_status", NULL, applied, sizeof applied);
  }
  PQfinish(c);
  /* the follower holds the chain's lease: a second indexer is refused */
  char out[1024];
  int second = index_once(db_main, rpc_url, NULL, out, sizeof out);
  kill(pid, SIGTERM);
  int ws;
  waitpid(pid, &ws, 0);
  ck_assert_int_eq(second, 1);
  ck_assert_int_eq(atoll(applied), head);
  /* it is the workers' lease mechanism (db/lease.h) under the name indexer.<chain id>: while
   * this test holds that lease, an indexer of chain 31337 is refused; released, it runs */
  db_lease *l = db_lease_create(db_main, "indexer.31337", 5000);
  ck_assert(db_lease_keep(l, 5000));
  ck_assert_int_eq(index_once(db_main, rpc_url, NULL, out, sizeof out), 1);
  db_lease_release(l);
  ck_assert_int_eq(index_once(db_main, rpc_url, NULL, out, sizeof out), 0);
  db_lease_destroy(l);
  ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  truth("t4.json");
  snprintf(path, sizeof path, "%s/t4.json", dir);
  ck_assert_uint_eq(compare(db_main, path), 0);
}
END_TEST

/* The indexer's lease is the workers' mechanism: a follower whose lease session is ended (as when
 * the server drops a silent holder) and whose lease another process then takes applies nothing
 * while that process holds it, and carries on once it is released. */
START_TEST(follow_gives_way_to_the_lease_holder) {
  char path[400];
  snprintf(path, sizeof path, "%s/follow2.log", dir);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("SPARKD_DATABASE_URL", db_main, 1);
    setenv("SPARKD_RPC_URL", rpc_url, 1);
    char net[400];
    snprintf(net, sizeof net, "%s/net.json", dir);
    setenv("SPARKD_NETWORK_FILE", net, 1);
    setenv("SPARKD_INDEX_POLL_MS", "100", 1);
    setenv("SPARKD_LOG_LEVEL", "warn", 1);
    if (!freopen(path, "w", stderr)) _exit(127);
    execl(SPARKD_BINARY, "sparkd", "index", (char *)NULL);
    _exit(127);
  }
  PGconn *c = PQconnectdb(db_main);
  char holders[40] = "";
  for (int i = 0; i < 100 && atoi(holders) < 1; i++) {
    nanosleep(&(struct timespec){0, 100000000}, NULL);
    q1(c, "SELECT count(*)::text FROM pg_stat_activity WHERE application_name = 'sparkd lease indexer.31337'", NULL,
       holders, sizeof holders);
  }
  ck_assert_str_eq(holders, "1");
  char before[40];
  q1(c, "SELECT applied_block::text FROM index_status", NULL, before, sizeof before);
  /* end the follower's lease session and take the lease before it takes it back */
  db_lease *l = db_lease_create(db_main, "indexer.31337", 5000);
  bool held = false;
  for (int i = 0; i < 50 && !held; i++) {
    PQclear(PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE application_name = 'sparkd lease indexer.31337' AND pid <> pg_backend_pid()"));
    held = db_lease_keep(l, 5000);
  }
  ck_assert_msg(held, "the test could not take the indexer's lease");
  drive(14, 4, 6);
  char res[4096];
  rpc_post("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\",\"params\":[]}", res, sizeof res);
  json_t *j = json_loads(res, 0, NULL);
  long long head = strtoll(json_string_value(json_object_get(j, "result")), NULL, 16);
  json_decref(j);
  ck_assert_int_gt(head, atoll(before));
  /* thirty polls of the follower: nothing applied while the lease is not its own */
  nanosleep(&(struct timespec){3, 0}, NULL);
  char during[40];
  q1(c, "SELECT max(block_number)::text FROM chain_blocks", NULL, during, sizeof during);
  ck_assert_str_eq(during, before);
  db_lease_release(l);
  db_lease_destroy(l);
  char applied[40] = "";
  for (int i = 0; i < 600 && atoll(applied) < head; i++) {
    nanosleep(&(struct timespec){0, 100000000}, NULL);
    q1(c, "SELECT max(block_number)::text FROM chain_blocks", NULL, applied, sizeof applied);
  }
  PQfinish(c);
  kill(pid, SIGTERM);
  int ws;
  waitpid(pid, &ws, 0);
  ck_assert_int_eq(atoll(applied), head);
  ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  truth("t5.json");
  snprintf(path, sizeof path, "%s/t5.json", dir);
  ck_assert_uint_eq(compare(db_main, path), 0);
}
END_TEST

/* /metrics exports the indexer's rows; /readyz fails while the lag is over SPARKD_READY_MAX_LAG_BLOCKS */
START_TEST(metrics_and_readiness) {
  PGconn *c = PQconnectdb(db_main);
  PQclear(PQexec(c, "UPDATE index_status SET head_block = applied_block + 5"));
  PQfinish(c);
  char port[16], listen[64], path[400];
  ck_assert_int_eq(run("node -e 'const s=require(\"net\").createServer().listen(0,\"127.0.0.1\",()=>{"
                       "console.log(s.address().port);s.close()})' >%s/port",
                       dir),
                   0);
  snprintf(path, sizeof path, "%s/port", dir);
  FILE *f = fopen(path, "r");
  ck_assert(f && fgets(port, sizeof port, f));
  fclose(f);
  port[strcspn(port, "\n")] = '\0';
  snprintf(listen, sizeof listen, "127.0.0.1:%s", port);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("SPARKD_DATABASE_URL", db_main, 1);
    setenv("SPARKD_LISTEN", listen, 1);
    setenv("SPARKD_READY_MAX_LAG_BLOCKS", "2", 1);
    setenv("SPARKD_LOG_LEVEL", "warn", 1);
    execl(SPARKD_BINARY, "sparkd", "serve", (char *)NULL);
    _exit(127);
  }
  int up = 1;
  for (int i = 0; i < 100 && up != 0; i++) {
    up = run("curl -s -m 2 -o /dev/null http://%s/healthz", listen);
    if (up) nanosleep(&(struct timespec){0, 100000000}, NULL);
  }
  ck_assert_int_eq(up, 0);
  int lagging = run("curl -s -m 5 http://%s/readyz | grep -q '\"code\":\"index_lagging\"'", listen);
  int metrics = run("curl -s -m 5 http://%s/metrics | grep -q '^sparkd_index_lag_blocks{chain=\"31337\"} 5$'", listen);
  int calls = run("curl -s -m 5 http://%s/metrics | grep -q "
                  "'^sparkd_index_rpc_calls_total{chain=\"31337\",method=\"eth_call\"} [1-9]'",
                  listen);
  c = PQconnectdb(db_main);
  PQclear(PQexec(c, "UPDATE index_status SET head_block = applied_block + 2"));
  PQfinish(c);
  int ready = run("curl -s -m 5 http://%s/readyz | grep -q '\"status\":\"ready\"'", listen);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  ck_assert_int_eq(lagging, 0);
  ck_assert_int_eq(metrics, 0);
  ck_assert_int_eq(calls, 0);
  ck_assert_int_eq(ready, 0);
}
END_TEST

/* savings vaults and rate limits read from test doubles exposing their getters */
START_TEST(savings_vaults_and_rate_limits) {
  char db[TH_PG_CONNINFO_MAX], out[1024], path[400];
  ck_assert_int_eq(run("timeout 180 node tests/chain/savings_fixture.mjs --rpc %s --network %s/snet.json --expect"
                       " %s/sexp.json --seed 9 >/dev/null",
                       rpc_url, dir, dir),
                   0);
  ck_assert_int_eq(th_pg_create_db(&pg, db, sizeof db), 0);
  ck_assert_int_eq(
      run("SPARKD_DATABASE_URL='%s' SPARKD_MIGRATE=auto SPARKD_RPC_URL='%s' SPARKD_NETWORK_FILE='%s/snet.json'"
          " SPARKD_LOG_LEVEL=warn timeout 120 '%s' index --once >'%s/sindex.out'",
          db, rpc_url, dir, SPARKD_BINARY, dir),
      0);
  (void)out;
  snprintf(path, sizeof path, "%s/sexp.json", dir);
  json_t *e = load_json(path);
  PGconn *c = PQconnectdb(db);
  const char *addr;
  json_t *v;
  unsigned n = 0;
  json_object_foreach(json_object_get(e, "vaults"), addr, v) {
    static const char *const cols[] = {"kind",         "asset",    "chi",      "rho",         "rate",
                                       "total_supply", "min_rate", "max_rate", "deposit_cap", "idle_assets"};
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
      json_t *w = json_object_get(v, cols[k]);
      char want[100], got[100], sql[200];
      if (json_is_integer(w))
        snprintf(want, sizeof want, "%lld", json_integer_value(w));
      else
        snprintf(want, sizeof want, "%s", w ? json_string_value(w) : "");
      snprintf(sql, sizeof sql, "SELECT %s::text FROM savings_vaults WHERE address = $1", cols[k]);
      q1(c, sql, addr, got, sizeof got);
      ck_assert_msg(strcmp(want, got) == 0, "vault %s %s: contract %s, sparkd %s", addr, cols[k], want, got);
      n++;
    }
  }
  json_object_foreach(json_object_get(e, "rate_limits"), addr, v) {
    static const char *const cols[] = {"name", "max_amount", "slope", "last_amount", "last_updated"};
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
      json_t *w = json_object_get(v, cols[k]);
      char want[100], got[100], sql[200];
      if (json_is_integer(w))
        snprintf(want, sizeof want, "%lld", json_integer_value(w));
      else
        snprintf(want, sizeof want, "%s", json_string_value(w));
      snprintf(sql, sizeof sql, "SELECT %s::text FROM ll_rate_limits WHERE key = $1", cols[k]);
      q1(c, sql, addr, got, sizeof got);
      ck_assert_msg(strcmp(want, got) == 0, "rate limit %s %s: contract %s, sparkd %s", addr, cols[k], want, got);
      n++;
    }
  }
  ck_assert_uint_eq(n, 3 * 10 + 2 * 5);
  PQfinish(c);
  json_decref(e);
  th_pg_drop_db(&pg, db);
}
END_TEST

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/sparkd-chain-index-XXXXXX");
  if (!mkdtemp(dir) || th_pg_start(&pg) != 0 || th_pg_create_db(&pg, db_main, sizeof db_main) != 0) {
    fputs("cannot start PostgreSQL\n", stderr);
    return EXIT_FAILURE;
  }
  char cmd[1200];
  snprintf(
      cmd, sizeof cmd,
      "exec node tests/chain/aave_market.mjs --anvil --network %s/net.json --addresses %s/addr.json --lifetime 900",
      dir, dir);
  market_pid = spawn_until(cmd, "RPC_URL", rpc_url, sizeof rpc_url, &market_stdin);
  int failed = 1;
  if (market_pid < 0) {
    fputs("the anvil market did not start (node, node_modules and anvil are needed)\n", stderr);
  } else {
    Suite *s = suite_create("chain_index");
    TCase *tc = tcase_create("index");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, once_equals_the_chain);
    tcase_add_test(tc, reorg_follows_the_new_branch);
    tcase_add_test(tc, faults_end_with_the_chains_state);
    tcase_add_test(tc, rpc_batches_and_retries);
    tcase_add_test(tc, follow_applies_new_blocks);
    tcase_add_test(tc, follow_gives_way_to_the_lease_holder);
    tcase_add_test(tc, metrics_and_readiness);
    tcase_add_test(tc, savings_vaults_and_rate_limits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* the tests share one chain and run in order */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
  }
  stop_child(&proxy_pid, &proxy_stdin);
  stop_child(&market_pid, &market_stdin);
  th_pg_drop_db(&pg, db_main);
  th_pg_stop(&pg);
  run("rm -rf '%s'", dir);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
