/* ctest-label: api */
/* Scale-out on PostgreSQL's own replication, for real: a private primary and a streaming replica
 * of it (pg_basebackup -R), two `sparkd serve` processes that both build their state cache from the
 * replica (SPARKD_DATABASE_READ_URL) and share the primary, a webhook receiver on 127.0.0.1, and
 * blocks imported into the primary one after another. Checked:
 * - each import is served by both processes, with the same bodies, once the replica replayed it;
 *   with the replica's replay paused, neither serves the new block, and both do once it resumes
 *   (the cache waited for the replica instead of building the old state and stopping there);
 * - exactly one process holds the workers' lease; when it is killed with SIGKILL right after an
 *   import, the other takes the lease over and carries on: every expected webhook event (a state
 *   change of every position at every import, worked out by hand below) reaches the receiver, in
 *   order per position, and an event is received twice only if its first copy came before the
 *   kill (the dead sender's unrecorded attempt, at-least-once: the holder is killed while the
 *   receiver holds back its answer to one, which the survivor sends again), never twice from two
 *   live senders;
 *   the outbox has every event delivered, and none with two successful attempts recorded. */
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "support/httptest.h"
#include "support/pgtest.h"

#define WETH "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
#define NPOS 4
#define FIRST_BLOCK 21000100LL

static struct th_pg pg, rep;
static struct th_sparkd sa, sb; /* started in the test's own process (Check forks it) */
static char dburl[1024], readurl[1024], dbname[64], key[64];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the single value of sql (one row, one column) on conninfo as a number, or -1. */
static long long query_num(const char *conninfo, const char *sql) {
  char err[256];
  db_conn *c = db_conn_open(conninfo, 10000, err, sizeof err);
  if (!c) return -1;
  char v[64] = "";
  struct db_col col = {"n", DB_COL_TEXT, v, sizeof v, NULL};
  db_status st = db_query_one_params(c, sql, 0, NULL, &col, 1);
  db_conn_close(c);
  return st == DB_OK ? strtoll(v, NULL, 10) : -1;
}

/* Writes tests/fixtures/snapshot_basic.json as block `block` with WETH at `usd` dollars (8 decimals)
 * and every price fresh (updated now) to path. */
static void write_snapshot(const char *path, long long block, long usd) {
  char fixture[512];
  snprintf(fixture, sizeof fixture, "%s/tests/fixtures/snapshot_basic.json", SPARKD_SOURCE_DIR);
  json_error_t e;
  json_t *s = json_load_file(fixture, 0, &e);
  ck_assert_msg(s != NULL, "fixture: %s", e.text);
  long long now = (long long)time(NULL);
  json_t *blk = json_object_get(s, "block");
  char hash[67];
  snprintf(hash, sizeof hash, "0x%064llx", block);
  json_object_set_new(blk, "number", json_integer(block));
  json_object_set_new(blk, "hash", json_string(hash));
  json_object_set_new(blk, "timestamp", json_integer(now));
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(s, "prices"), i, p) {
    json_object_set_new(p, "updated_at", json_integer(now - 5));
    if (strcasecmp(json_string_value(json_object_get(p, "asset")), WETH) == 0) {
      char price[32];
      snprintf(price, sizeof price, "%ld00000000", usd);
      json_object_set_new(p, "price", json_string(price));
    }
  }
  ck_assert_int_eq(json_dump_file(s, path, 0), 0);
  json_decref(s);
}

static void import_block(long long block, long usd) {
  char path[128], out[4096];
  snprintf(path, sizeof path, "/tmp/replica_snap_%d.json", (int)getpid());
  write_snapshot(path, block, usd);
  const char *args[] = {"import", path, NULL};
  int rc = th_sparkd_run(dburl, args, out, sizeof out);
  unlink(path);
  ck_assert_msg(rc == 0, "import of block %lld: exit %d %s", block, rc, out);
}

/* Returns the value of the metric line starting with `series ` in s's /metrics, or -1. */
static double metric(const struct th_sparkd *s, const char *series) {
  struct th_response r;
  if (th_http(s->port, "GET", "/metrics", NULL, NULL, &r) != 0) return -1;
  double v = -1;
  size_t n = strlen(series);
  for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, series, n) == 0 && p[n] == ' ') {
      v = strtod(p + n + 1, NULL);
      break;
    }
  th_response_free(&r);
  return v;
}

static bool holds_lease(const struct th_sparkd *s) { return metric(s, "sparkd_lease_held{lease=\"workers\"}") == 1; }

/* Returns a malloc'd copy of the body of GET path on s (200 only), or NULL. */
static char *get_body(const struct th_sparkd *s, const char *path, const char *auth) {
  char h[256] = "";
  if (auth) snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", auth);
  struct th_response r;
  if (th_http(s->port, "GET", path, h, NULL, &r) != 0) return NULL;
  char *body = r.status == 200 ? strdup(r.body) : NULL;
  th_response_free(&r);
  return body;
}

/* Returns true when s serves block `block` on /v1/chains. */
static bool serves_block(const struct th_sparkd *s, long long block) {
  char *body = get_body(s, "/v1/chains", NULL);
  char want[32];
  snprintf(want, sizeof want, "%lld", block);
  bool ok = body && strstr(body, want);
  free(body);
  return ok;
}

/* Waits (up to ms) until every live process serves block, then checks they answer the chains and
 * reserves resources with the same bodies. */
static void wait_block_everywhere(struct th_sparkd *const *live, int n, long long block, long ms) {
  long long t0 = now_ms();
  for (int i = 0; i < n; i++)
    while (!serves_block(live[i], block)) {
      ck_assert_msg(now_ms() - t0 < ms, "process %d does not serve block %lld", i, block);
      sleep_ms(25);
    }
  const char *paths[] = {"/v1/chains", "/v1/markets/1/reserves"};
  for (size_t p = 0; p < 2; p++) {
    char *first = get_body(live[0], paths[p], NULL);
    ck_assert_msg(first != NULL, "%s", paths[p]);
    for (int i = 1; i < n; i++) {
      char *other = get_body(live[i], paths[p], NULL);
      ck_assert_msg(other && strcmp(first, other) == 0, "%s differs between the processes at block %lld", paths[p],
                    block);
      free(other);
    }
    free(first);
  }
}

/* ---- the webhook receiver: every delivery recorded with the time it arrived ---- */
#define MAX_GOT 512
static struct {
  int fd;
  unsigned port;
  int n;
  char event_id[MAX_GOT][64];
  char position[MAX_GOT][24];
  char state[MAX_GOT][24];
  long long at_ms[MAX_GOT];
  int slow_ms; /* answer each delivery this late (the sender waits on it) */
  pthread_mutex_t mu;
  pthread_t thread;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *receiver(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept(R.fd, NULL, NULL);
    if (c < 0) return NULL;
    char buf[65536];
    size_t got = 0;
    char *hdr_end = NULL;
    long clen = -1;
    while (got < sizeof buf - 1) {
      ssize_t k = recv(c, buf + got, sizeof buf - 1 - got, 0);
      if (k <= 0) break;
      got += (size_t)k;
      buf[got] = 0;
      if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
        char *cl = strcasestr(buf, "content-length:");
        clen = cl ? strtol(cl + 15, NULL, 10) : 0;
      }
      if (hdr_end && (long)(got - (size_t)(hdr_end + 4 - buf)) >= clen) break;
    }
    if (hdr_end) {
      json_t *j = json_loads(hdr_end + 4, 0, NULL);
      json_t *d = json_object_get(j, "data");
      pthread_mutex_lock(&R.mu);
      if (R.n < MAX_GOT) {
        snprintf(R.event_id[R.n], sizeof R.event_id[0], "%s",
                 j ? json_string_value(json_object_get(j, "event_id")) : "?");
        snprintf(R.position[R.n], sizeof R.position[0], "%s",
                 d ? json_string_value(json_object_get(d, "position_id")) : "?");
        snprintf(R.state[R.n], sizeof R.state[0], "%s", d ? json_string_value(json_object_get(d, "state")) : "?");
        R.at_ms[R.n] = now_ms();
        R.n++;
      }
      int slow = R.slow_ms;
      pthread_mutex_unlock(&R.mu);
      json_decref(j);
      if (slow) sleep_ms(slow);
    }
    const char *resp = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    send(c, resp, strlen(resp), MSG_NOSIGNAL);
    close(c);
  }
}

static void receiver_start(void) {
  R.fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(R.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
  ck_assert_int_eq(bind(R.fd, (struct sockaddr *)&addr, sizeof addr), 0);
  ck_assert_int_eq(listen(R.fd, 64), 0);
  socklen_t sl = sizeof addr;
  getsockname(R.fd, (struct sockaddr *)&addr, &sl);
  R.port = ntohs(addr.sin_port);
  pthread_create(&R.thread, NULL, receiver, NULL);
}

static void receiver_stop(void) {
  shutdown(R.fd, SHUT_RDWR);
  close(R.fd);
  pthread_join(R.thread, NULL);
}

/* Returns how many different event ids the receiver has seen. */
static int distinct_received(void) {
  pthread_mutex_lock(&R.mu);
  int d = 0;
  for (int i = 0; i < R.n; i++) {
    bool seen = false;
    for (int k = 0; k < i && !seen; k++)
      seen = strcmp(R.event_id[k], R.event_id[i]) == 0;
    d += !seen;
  }
  pthread_mutex_unlock(&R.mu);
  return d;
}

/* ---- partner positions ---- */

static long long create_position(const struct th_sparkd *s, int i) {
  char body[2048], h[256];
  snprintf(body, sizeof body,
           "{\"external_id\":\"rep-%d\",\"borrower\":\"fund-a\",\"custodian\":\"anchorage\","
           "\"collateral\":[{\"chain_id\":1,\"asset\":\"" WETH "\",\"amount\":\"100000000000000000000\","
           "\"haircut_bps\":1000}],"
           "\"debt\":{\"chain_id\":1,\"asset\":\"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\",\"principal\":"
           "\"50000000000\",\"apr_bps\":0,\"accrual_start\":\"2026-01-01T00:00:00Z\"},"
           "\"thresholds\":{\"warning_bps\":6500,\"margin_call_bps\":7000,\"liquidation_bps\":8000,"
           "\"return_to_bps\":6000},\"cure_period_seconds\":259200,\"max_price_staleness_seconds\":3600}",
           i);
  snprintf(h, sizeof h,
           "Authorization: Bearer %s\r\nIdempotency-Key: rep-create-%d\r\nContent-Type: application/json\r\n", key, i);
  struct th_response r;
  ck_assert(th_http(s->port, "POST", "/v1/partner/positions", h, body, &r) == 0);
  ck_assert_msg(r.status == 201, "create: %d %s", r.status, r.body);
  json_t *j = json_loads(r.body, 0, NULL);
  long long id = json_integer_value(json_object_get(j, "id"));
  json_decref(j);
  th_response_free(&r);
  return id;
}

/* Waits (up to 20 s) until position pos's latest record, read through s, is in `state`. */
static void wait_state(const struct th_sparkd *s, long long pos, const char *state) {
  char path[96], last[64] = "";
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/ltv", pos);
  for (int i = 0; i < 400; i++) {
    char *body = get_body(s, path, key);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    const char *st = json_string_value(json_object_get(j, "state"));
    bool ok = st && strcmp(st, state) == 0;
    snprintf(last, sizeof last, "%s", st ? st : "?");
    json_decref(j);
    if (ok) return;
    sleep_ms(50);
  }
  ck_abort_msg("position %lld never %s (last %s)", pos, state, last);
}

/* A failed assertion ends the test's process: the sparkd processes it started must not outlive it. */
static void kill_both(void) {
  if (sa.pid > 0) kill(sa.pid, SIGKILL);
  if (sb.pid > 0) kill(sb.pid, SIGKILL);
}

START_TEST(two_processes_on_a_replica) {
  char out[512];
  /* the first block (WETH at $1000) and a partner key, in the primary before the replica is copied */
  const char *mig[] = {"migrate", NULL};
  ck_assert_int_eq(th_sparkd_run(dburl, mig, out, sizeof out), 0);
  import_block(FIRST_BLOCK, 1000);
  const char *ka[] = {"keys", "create", "--scope", "partner", "--partner", "acme", NULL};
  ck_assert_int_eq(th_sparkd_run(dburl, ka, out, sizeof out), 0);
  size_t kn = strcspn(out, "\n");
  ck_assert_uint_lt(kn, sizeof key);
  memcpy(key, out, kn);
  key[kn] = 0;

  ck_assert_msg(th_pg_start_replica(&rep, &pg) == 0, "the streaming replica did not start");
  snprintf(readurl, sizeof readurl, "host=%s dbname=%s user=postgres", rep.dir, dbname);
  ck_assert_int_eq(query_num(readurl, "SELECT pg_is_in_recovery()::int AS n"), 1);

  receiver_start();
  char read_env[1200];
  snprintf(read_env, sizeof read_env, "SPARKD_DATABASE_READ_URL=%s", readurl);
  const char *env[] = {read_env, "SPARKD_WEBHOOK_ALLOW_PRIVATE=127.0.0.0/8", "SPARKD_READ_REPLAY_WAIT_MS=10000",
                       "SPARKD_LOG_LEVEL=info", NULL};
  atexit(kill_both);
  ck_assert(th_sparkd_start(&sa, dburl, env) == 0);
  /* a takes the lease first (at start, within a keep interval); b starts once it has */
  for (int i = 0; i < 100 && !holds_lease(&sa); i++)
    sleep_ms(50);
  ck_assert_msg(holds_lease(&sa), "the first process did not take the workers' lease");
  ck_assert(th_sparkd_start(&sb, dburl, env) == 0);
  sleep_ms(1500); /* more than a keep interval: b has tried and must not hold it */
  ck_assert(!holds_lease(&sb));
  ck_assert(holds_lease(&sa));
  struct th_sparkd *both[] = {&sa, &sb};
  wait_block_everywhere(both, 2, FIRST_BLOCK, 15000);
  ck_assert(metric(&sa, "sparkd_replica_following") == 1 && metric(&sb, "sparkd_replica_following") == 1);
  /* the reads really go to the replica: both processes hold sessions on it */
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '%s' AND application_name = 'sparkd'", dbname);
  ck_assert_int_ge(query_num(readurl, sql), 2);

  /* positions, all healthy at $1000: ltv = 50000 x 0.9999 / (100 x 1000 x 0.9) = 0.5555 */
  long long pos[NPOS];
  for (int i = 0; i < NPOS; i++)
    pos[i] = create_position(&sa, i);
  for (int i = 0; i < NPOS; i++)
    wait_state(&sa, pos[i], "healthy");
  /* the webhook, registered after the positions' first records: its events are the walk's */
  char whbody[256], h[256];
  snprintf(whbody, sizeof whbody, "{\"url\":\"http://127.0.0.1:%u/hook\",\"events\":[\"ltv.state_changed\"]}", R.port);
  snprintf(h, sizeof h, "Authorization: Bearer %s\r\nIdempotency-Key: rep-wh\r\nContent-Type: application/json\r\n",
           key);
  struct th_response r;
  ck_assert(th_http(sb.port, "POST", "/v1/partner/webhooks", h, whbody, &r) == 0);
  ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
  th_response_free(&r);

  /* The walk, one import per step; LTV = 50000 x 0.9999 (USDC) / (100 x P x 0.9 haircut):
   *   P=800: 49995/72000 = 0.6944 -> warning (6500 <= ltv < 7000)
   *   P=600: 49995/54000 = 0.9258 -> liquidation (>= 8000)
   *   P=950: 49995/85500 = 0.5847 -> healthy (below return_to 6000: the call clears)
   * so every import changes every position's state: NPOS events per import, in this order. */
  static const struct {
    long usd;
    const char *state;
  } walk[] = {{800, "warning"},     {600, "liquidation"}, {950, "healthy"}, {800, "warning"},
              {600, "liquidation"}, {950, "healthy"},     {800, "warning"}, {600, "liquidation"}};
  const int nwalk = (int)(sizeof walk / sizeof walk[0]);
  const int pause_at = 2, kill_at = 4;
  struct th_sparkd *live[2] = {&sa, &sb};
  int nlive = 2;
  long long killed_at = -1;
  for (int w = 0; w < nwalk; w++) {
    long long block = FIRST_BLOCK + 1 + w;
    if (w == pause_at) {
      /* the replica stops replaying: the import is announced, but neither process may build from a
       * replica that has not got it yet */
      ck_assert_int_eq(query_num(readurl, "SELECT 1 AS n FROM pg_wal_replay_pause()"), 1);
      import_block(block, walk[w].usd);
      sleep_ms(1500);
      for (int i = 0; i < nlive; i++)
        ck_assert_msg(!serves_block(live[i], block), "block %lld served before the replica replayed it", block);
      ck_assert_int_eq(query_num(readurl, "SELECT 1 AS n FROM pg_wal_replay_resume()"), 1);
    } else if (w == kill_at) {
      /* the lease holder dies in the middle of a post: the receiver holds its answer back, has
       * the event (received before the kill), and the sender never records the attempt */
      pthread_mutex_lock(&R.mu);
      R.slow_ms = 4000;
      int before = R.n;
      pthread_mutex_unlock(&R.mu);
      import_block(block, walk[w].usd);
      for (int i = 0; i < 400; i++) {
        pthread_mutex_lock(&R.mu);
        bool posting = R.n > before;
        pthread_mutex_unlock(&R.mu);
        if (posting) break;
        sleep_ms(25);
      }
      pthread_mutex_lock(&R.mu);
      ck_assert_msg(R.n > before, "no delivery began after block %lld", block);
      R.slow_ms = 0;
      pthread_mutex_unlock(&R.mu);
    } else {
      import_block(block, walk[w].usd);
    }
    if (w == kill_at) {
      ck_assert(holds_lease(&sa));
      ck_assert_int_eq(kill(sa.pid, SIGKILL), 0);
      waitpid(sa.pid, NULL, 0);
      sa.pid = 0;
      killed_at = now_ms();
      live[0] = &sb;
      nlive = 1;
      for (int i = 0; i < 200 && !holds_lease(&sb); i++)
        sleep_ms(50);
      ck_assert_msg(holds_lease(&sb), "the survivor did not take the workers' lease over");
    }
    for (int i = 0; i < NPOS; i++)
      wait_state(live[0], pos[i], walk[w].state);
    wait_block_everywhere(live, nlive, block, 15000);
  }
  ck_assert_int_ge(metric(&sb, "sparkd_replica_replay_waits_total"), 1);
  ck_assert_int_ge(metric(&sb, "sparkd_lease_acquired_total{lease=\"workers\"}"), 1);

  /* every event of the walk arrives */
  const int expected = NPOS * nwalk;
  for (int i = 0; i < 600 && distinct_received() < expected; i++)
    sleep_ms(100);
  ck_assert_int_eq(distinct_received(), expected);
  snprintf(sql, sizeof sql, "SELECT count(*) AS n FROM webhook_outbox");
  ck_assert_int_eq(query_num(dburl, sql), expected);
  for (int i = 0; i < 100 && query_num(dburl, "SELECT count(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL");
       i++)
    sleep_ms(100); /* the last delivery's outcome is recorded just after the receiver answered */
  ck_assert_int_eq(query_num(dburl, "SELECT count(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL"), 0);
  ck_assert_int_eq(query_num(dburl, "SELECT count(*) AS n FROM (SELECT event_seq FROM webhook_attempts WHERE"
                                    " http_status BETWEEN 200 AND 299 GROUP BY event_seq HAVING count(*) > 1) d"),
                   0);
  pthread_mutex_lock(&R.mu);
  int dups = 0;
  for (int i = 0; i < R.n; i++)
    for (int k = 0; k < i; k++)
      if (strcmp(R.event_id[k], R.event_id[i]) == 0) {
        dups++;
        ck_assert_msg(R.at_ms[k] < killed_at, "event %s received twice, the first time after the kill", R.event_id[i]);
        break;
      }
  /* per position, the states in the order they first arrived are the walk's */
  for (int p = 0; p < NPOS; p++) {
    char id[24];
    snprintf(id, sizeof id, "%lld", pos[p]);
    int step = 0;
    for (int i = 0; i < R.n; i++) {
      if (strcmp(R.position[i], id) != 0) continue;
      bool repeat = false;
      for (int k = 0; k < i && !repeat; k++)
        repeat = strcmp(R.event_id[k], R.event_id[i]) == 0;
      if (repeat) continue;
      ck_assert_msg(step < nwalk && strcmp(R.state[i], walk[step].state) == 0, "position %s event %d: %s, want %s", id,
                    step, R.state[i], step < nwalk ? walk[step].state : "none");
      step++;
    }
    ck_assert_int_eq(step, nwalk);
  }
  pthread_mutex_unlock(&R.mu);
  fprintf(stderr, "replica: %d events, %d received twice (sent by the killed process before it died)\n", expected,
          dups);
  /* the event the killed process was posting came again from the survivor (at least once), made due
   * by it rather than after the end of the 60 s lease the dead sender had taken it with */
  ck_assert_int_ge(dups, 1);
  char *log = th_sparkd_log(&sb);
  ck_assert_msg(strstr(log, "took without an outcome are due again") != NULL,
                "the survivor did not release the event the killed process was posting");
  free(log);

  ck_assert_int_eq(th_sparkd_stop(&sb), 0);
  receiver_stop();
  th_pg_stop(&rep);
}
END_TEST

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  const char *p = strstr(dburl, "dbname=");
  ck_assert_ptr_nonnull(p);
  snprintf(dbname, sizeof dbname, "%.*s", (int)strcspn(p + 7, " "), p + 7);
}

static void teardown_all(void) { th_pg_stop(&pg); }

int main(void) {
  Suite *s = suite_create("replica");
  TCase *tc = tcase_create("api");
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, two_processes_on_a_replica);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
