/* ctest-label: db */
/* The demo data set loads with `sparkd import`: `sparkd demo-data | sparkd import -` into a
 * fresh database succeeds, and the row counts equal what the snapshots say (accounts and
 * positions after replaying full + delta, one series row per reserve / vault / price / rate
 * limit per snapshot); importing the same stream again changes nothing. */
#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/demo.h"
#include "db/migrate.h"
#include "support/pgtest.h"

#define ACCOUNTS 300
#define DAYS 2

static struct th_pg pg;

static long long count(const char *url, const char *sql) {
  PGconn *c = PQconnectdb(url);
  ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
  PGresult *r = PQexec(c, sql);
  ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
  long long v = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return v;
}

/* Runs cmd with sh -c and SPARKD_DATABASE_URL=url; returns its exit status. */
static int run(const char *url, const char *cmd) {
  setenv("SPARKD_DATABASE_URL", url, 1);
  setenv("SPARKD_LOG_LEVEL", "warn", 1);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_import_demo) {
  char url[TH_PG_CONNINFO_MAX], err[512] = "";
  ck_assert_int_eq(th_pg_create_db(&pg, url, sizeof url), 0);
  unsigned applied = 0;
  ck_assert_msg(db_migrate_apply(url, &applied, err, sizeof err) == 0, "%s", err);

  /* the expected counts, from the generator in-process */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  struct cli_demo_opts o = {5, ACCOUNTS, DAYS};
  ck_assert_int_eq(cli_demo_generate(f, &o, err, sizeof err), 0);
  fclose(f);
  char path[] = "/tmp/sparkd-demo-import-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *out = fdopen(fd, "w");
  fwrite(buf, 1, len, out);
  fclose(out);
  json_t *state = json_object();
  size_t snapshots = 0, reserves = 0, vaults = 0, prices = 0, limits = 0;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_t *s = json_loads(line, 0, NULL), *a;
    ck_assert_ptr_nonnull(s);
    snapshots++;
    reserves += json_array_size(json_object_get(s, "reserves"));
    vaults += json_array_size(json_object_get(s, "savings_vaults"));
    prices += json_array_size(json_object_get(s, "prices"));
    limits += json_array_size(json_object_get(json_object_get(s, "liquidity_layer"), "rate_limits"));
    const char *mode = json_string_value(json_object_get(s, "accounts_mode"));
    if (mode && strcmp(mode, "full") == 0) json_object_clear(state);
    size_t k;
    json_array_foreach(json_object_get(s, "accounts"), k, a) {
      const char *addr = json_string_value(json_object_get(a, "address"));
      if (json_array_size(json_object_get(a, "positions")) == 0)
        json_object_del(state, addr);
      else
        json_object_set(state, addr, a);
    }
    json_decref(s);
  }
  free(buf);
  long long want_positions = 0;
  const char *key;
  json_t *a;
  json_object_foreach(state, key, a) want_positions += (long long)json_array_size(json_object_get(a, "positions"));
  long long want_accounts = (long long)json_object_size(state);
  json_decref(state);
  ck_assert_uint_eq(snapshots, 1 + DAYS * 4);

  /* through the binaries, as a user would */
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           SPARKD_BINARY " demo-data --seed 5 --accounts %d --days %d | " SPARKD_BINARY " import - >/dev/null",
           ACCOUNTS, DAYS);
  ck_assert_int_eq(run(url, cmd), 0);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM accounts"), want_accounts);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM positions"), want_positions);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM reserves"), 18);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM savings_vaults"), 6);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM emode_categories"), 3);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM reserve_state_series"), (long long)reserves);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM vault_state_series"), (long long)vaults);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM price_series"), (long long)prices);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM rate_limit_series"), (long long)limits);
  /* borrowers get a finite health factor from the engine at import, suppliers 2^256-1 */
  ck_assert_int_gt(count(url, "SELECT count(*) FROM accounts WHERE health_factor < "
                              "115792089237316195423570985008687907853269984665640564039457584007913129639935"),
                   ACCOUNTS / 3);

  /* the last snapshot again is "already imported"; the whole file again is refused, its first
   * snapshot being older than the last imported block; neither changes anything */
  snprintf(cmd, sizeof cmd, "tail -n 1 %s | " SPARKD_BINARY " import - >/dev/null 2>&1", path);
  ck_assert_int_eq(run(url, cmd), 0);
  snprintf(cmd, sizeof cmd, SPARKD_BINARY " import %s >/dev/null 2>&1", path);
  ck_assert_int_ne(run(url, cmd), 0);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM accounts"), want_accounts);
  ck_assert_int_eq(count(url, "SELECT count(*) FROM reserve_state_series"), (long long)reserves);
  unlink(path);
  th_pg_drop_db(&pg, url);
}
END_TEST

int main(void) {
  if (th_pg_start(&pg) != 0) {
    fprintf(stderr, "check_db_demo_import: could not start PostgreSQL\n");
    return 1;
  }
  Suite *s = suite_create("demo_import");
  TCase *tc = tcase_create("demo_import");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_import_demo);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  th_pg_stop(&pg);
  return failed != 0;
}
