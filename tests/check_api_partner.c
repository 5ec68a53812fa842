/* ctest-label: api */
/* Keys, scopes and partner positions against the real sparkd and a private PostgreSQL:
 * the scope/isolation matrix of every keyed route, revoked keys, idempotency replay and conflict,
 * validation naming each bad field, the audit trail, rate limiting of failed key checks, the
 * `sparkd keys` command line, and POST /v1/admin/snapshots against `sparkd import`. Hashes the
 * test expects are computed here with OpenSSL from the bytes it sent. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "support/httptest.h"
#include "support/pgtest.h"

static struct th_pg pg;
static char dburl[1024];
static struct th_sparkd sd;
/* keys made with `sparkd keys create` in setup_all */
static char key_a[64], key_a2[64], key_b[64], key_ops[64], key_admin[64];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Runs `sparkd ARGS...` against url; returns the exit status with stdout and stderr copied. */
static int run_sparkd(const char *url, const char *const *args, char *out, size_t out_len, char *err, size_t err_len) {
  char of[] = "/tmp/prt_outXXXXXX", ef[] = "/tmp/prt_errXXXXXX";
  int ofd = mkstemp(of), efd = mkstemp(ef);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(ofd, 1);
    dup2(efd, 2);
    setenv("SPARKD_DATABASE_URL", url, 1);
    setenv("SPARKD_MIGRATE", "auto", 1);
    setenv("SPARKD_LOG_LEVEL", "warn", 1);
    char *argv[16] = {(char *)SPARKD_BINARY};
    int n = 1;
    for (; args[n - 1] && n < 15; n++)
      argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    execv(SPARKD_BINARY, argv);
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  ssize_t k = pread(ofd, out, out_len - 1, 0);
  out[k > 0 ? k : 0] = '\0';
  k = pread(efd, err, err_len - 1, 0);
  err[k > 0 ? k : 0] = '\0';
  close(ofd), close(efd);
  unlink(of), unlink(ef);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Creates a key with the CLI; returns it in key (without the newline). */
static void make_key(const char *scope, const char *partner, char *key, size_t len) {
  char out[512], err[512];
  const char *args[] = {"keys", "create", "--scope", scope, partner ? "--partner" : NULL, partner, NULL};
  int rc = run_sparkd(dburl, args, out, sizeof out, err, sizeof err);
  ck_assert_msg(rc == 0, "keys create: %d %s", rc, err);
  size_t n = strcspn(out, "\n");
  ck_assert_uint_lt(n, len);
  memcpy(key, out, n);
  key[n] = 0;
}

static void setup_all(void) {
  ck_assert_msg(th_pg_start(&pg) == 0, "private PostgreSQL did not start");
  ck_assert(th_pg_create_db(&pg, dburl, sizeof dburl) == 0);
  make_key("partner", "acme", key_a, sizeof key_a);
  make_key("partner", "acme", key_a2, sizeof key_a2);
  make_key("partner", "beta", key_b, sizeof key_b);
  make_key("ops", NULL, key_ops, sizeof key_ops);
  make_key("admin", NULL, key_admin, sizeof key_admin);
  const char *env[] = {"SPARKD_MIGRATE=auto", NULL};
  ck_assert(th_sparkd_start(&sd, dburl, env) == 0);
}

static void teardown_all(void) {
  th_sparkd_stop(&sd);
  th_pg_stop(&pg);
}

/* ---- helpers ---- */
static json_t *body_json(const struct th_response *r) {
  json_error_t e;
  json_t *j = json_loads(r->body, 0, &e);
  ck_assert_msg(j != NULL, "not json: %s", r->body);
  return j;
}

static void assert_problem(const struct th_response *r, int status, const char *code) {
  ck_assert_msg(r->status == status, "status %d, want %d: %s", r->status, status, r->body);
  json_t *j = body_json(r);
  ck_assert_str_eq(json_string_value(json_object_get(j, "code")), code);
  json_decref(j);
}

/* Returns true when the problem's errors list names field (with code, when code is not NULL). */
static bool names_field(const struct th_response *r, const char *field, const char *code) {
  json_t *j = body_json(r);
  json_t *errs = json_object_get(j, "errors");
  size_t i;
  json_t *e;
  bool found = false;
  json_array_foreach(errs, i, e) {
    if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0 &&
        (!code || strcmp(json_string_value(json_object_get(e, "code")), code) == 0))
      found = true;
  }
  json_decref(j);
  return found;
}

/* One request with an optional key, Idempotency-Key and JSON body. */
static void req(const char *method, const char *path, const char *key, const char *idem, const char *body,
                struct th_response *r) {
  char h[512] = "";
  size_t n = 0;
  if (key) n += (size_t)snprintf(h + n, sizeof h - n, "Authorization: Bearer %s\r\n", key);
  if (idem) n += (size_t)snprintf(h + n, sizeof h - n, "Idempotency-Key: %s\r\n", idem);
  if (body) snprintf(h + n, sizeof h - n, "Content-Type: application/json\r\n");
  ck_assert(th_http(sd.port, method, path, h, body, r) == 0);
}

static const char *position_body(const char *external_id, char *buf, size_t len) {
  snprintf(buf, len,
           "{\"external_id\":\"%s\",\"borrower\":\"fund-a\",\"custodian\":\"anchorage\","
           "\"collateral\":[{\"chain_id\":1,\"asset\":\"0x2260fac5e5542a773aa44fbcfedf7c193bc2c599\","
           "\"amount\":\"300000000000\",\"haircut_bps\":1000}],"
           "\"debt\":{\"chain_id\":1,\"asset\":\"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\","
           "\"principal\":\"150000000000000\",\"apr_bps\":750,\"accrual_start\":\"2026-01-15T00:00:00Z\"},"
           "\"thresholds\":{\"warning_bps\":6500,\"margin_call_bps\":7000,\"liquidation_bps\":8000,"
           "\"return_to_bps\":6000},\"cure_period_seconds\":259200,\"max_price_staleness_seconds\":3600}",
           external_id);
  return buf;
}

/* Creates a position for key; returns its id. */
static long long create_position(const char *key, const char *external_id) {
  char body[2048], idem[96];
  snprintf(idem, sizeof idem, "create-%s", external_id);
  struct th_response r;
  req("POST", "/v1/partner/positions", key, idem, position_body(external_id, body, sizeof body), &r);
  ck_assert_msg(r.status == 201, "create: %d %s", r.status, r.body);
  json_t *j = body_json(&r);
  long long id = json_integer_value(json_object_get(j, "id"));
  json_decref(j);
  th_response_free(&r);
  ck_assert_int_gt(id, 0);
  return id;
}

static const char *attestation_body(const char *ref, char *buf, size_t len) {
  snprintf(buf, len,
           "{\"as_of\":\"2026-02-01T00:00:00Z\",\"custodian_reference\":\"%s\",\"balances\":[{\"chain_id\":1,"
           "\"asset\":\"0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599\",\"amount\":\"290000000000\"}]}",
           ref);
  return buf;
}

static long long db_count(const char *sql, const char *p1) {
  char err[256];
  db_conn *c = db_conn_open(dburl, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  int64_t n = -1;
  struct db_col cols[] = {{"n", DB_COL_INT64, &n, 0, NULL}};
  const char *p[] = {p1};
  db_status st = db_query_one_params(c, sql, p1 ? 1 : 0, p1 ? p : NULL, cols, 1);
  ck_assert_msg(st == DB_OK, "%s: %s", sql, db_last_error(c));
  db_conn_close(c);
  return n;
}

static void sha256_hex(const char *s, size_t len, char out[65]) {
  unsigned char md[32];
  SHA256((const unsigned char *)s, len, md);
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- the scope matrix ---- */
struct route {
  const char *method, *path, *body;
};

START_TEST(scope_matrix) {
  long long id = create_position(key_a, "matrix-1");
  char p1[96], p2[96], pbody[2048], abody[512];
  snprintf(p1, sizeof p1, "/v1/partner/positions/%lld", id);
  snprintf(p2, sizeof p2, "/v1/partner/positions/%lld/attestations", id);
  const struct route routes[] = {
      {"POST", "/v1/partner/positions", position_body("matrix-2", pbody, sizeof pbody)},
      {"GET", "/v1/partner/positions", NULL},
      {"GET", p1, NULL},
      {"PATCH", p1, "{\"borrower\":\"x\"}"},
      {"POST", p2, attestation_body("m-1", abody, sizeof abody)},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    const struct route *rt = &routes[i];
    struct th_response r;
    req(rt->method, rt->path, NULL, "m", rt->body, &r); /* no key */
    assert_problem(&r, 401, "unauthorized");
    char *www = th_header(&r, "WWW-Authenticate");
    ck_assert_msg(www && strcmp(www, "Bearer") == 0, "%s %s: WWW-Authenticate", rt->method, rt->path);
    free(www);
    th_response_free(&r);
    req(rt->method, rt->path, "sk_not-a-real-key", "m", rt->body, &r); /* unknown key */
    assert_problem(&r, 401, "unauthorized");
    th_response_free(&r);
    req(rt->method, rt->path, key_ops, "m", rt->body, &r); /* wrong scope */
    assert_problem(&r, 403, "forbidden");
    th_response_free(&r);
    req(rt->method, rt->path, key_admin, "m", rt->body, &r);
    assert_problem(&r, 403, "forbidden");
    th_response_free(&r);
  }
  /* the admin route refuses partner and ops keys and no key */
  struct th_response r;
  req("POST", "/v1/admin/snapshots", NULL, NULL, "{}", &r);
  assert_problem(&r, 401, "unauthorized");
  th_response_free(&r);
  req("POST", "/v1/admin/snapshots", key_a, NULL, "{}", &r);
  assert_problem(&r, 403, "forbidden");
  th_response_free(&r);
  req("POST", "/v1/admin/snapshots", key_ops, NULL, "{}", &r);
  assert_problem(&r, 403, "forbidden");
  th_response_free(&r);
  /* a bearer scheme is required; public routes ignore keys */
  ck_assert(th_http(sd.port, "GET", "/v1/partner/positions", "Authorization: Basic eDp5\r\n", NULL, &r) == 0);
  assert_problem(&r, 401, "unauthorized");
  th_response_free(&r);
  req("GET", "/healthz", "sk_not-a-real-key", NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  /* failures are counted */
  ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, &r) == 0);
  long long missing = -1, unknown = -1, scope = -1;
  const char *m = strstr(r.body, "sparkd_auth_failures_total{reason=\"missing\"} ");
  if (m) missing = atoll(m + strlen("sparkd_auth_failures_total{reason=\"missing\"} "));
  m = strstr(r.body, "sparkd_auth_failures_total{reason=\"unknown\"} ");
  if (m) unknown = atoll(m + strlen("sparkd_auth_failures_total{reason=\"unknown\"} "));
  m = strstr(r.body, "sparkd_auth_failures_total{reason=\"scope\"} ");
  if (m) scope = atoll(m + strlen("sparkd_auth_failures_total{reason=\"scope\"} "));
  ck_assert_int_ge(missing, 7);
  ck_assert_int_ge(unknown, 5);
  ck_assert_int_ge(scope, 12);
  th_response_free(&r);
}
END_TEST

START_TEST(partner_isolation) {
  long long id = create_position(key_a, "iso-1");
  long long idb = create_position(key_b, "iso-b");
  char p1[96], p2[96], abody[512];
  snprintf(p1, sizeof p1, "/v1/partner/positions/%lld", id);
  snprintf(p2, sizeof p2, "/v1/partner/positions/%lld/attestations", id);
  struct th_response r;
  req("GET", p1, key_b, NULL, NULL, &r);
  assert_problem(&r, 404, "position_not_found");
  th_response_free(&r);
  req("PATCH", p1, key_b, NULL, "{\"borrower\":\"stolen\"}", &r);
  assert_problem(&r, 404, "position_not_found");
  th_response_free(&r);
  req("POST", p2, key_b, "iso-att", attestation_body("iso-att", abody, sizeof abody), &r);
  assert_problem(&r, 404, "position_not_found");
  th_response_free(&r);
  /* nothing changed, and the same partner's other key sees it */
  req("GET", p1, key_a2, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  json_t *j = body_json(&r);
  ck_assert_str_eq(json_string_value(json_object_get(j, "borrower")), "fund-a");
  ck_assert(json_is_null(json_object_get(j, "latest_attestation")));
  ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
  json_decref(j);
  th_response_free(&r);
  /* lists: each partner sees only its own */
  for (int who = 0; who < 2; who++) {
    req("GET", "/v1/partner/positions?limit=500", who ? key_b : key_a, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    json_t *arr = json_object_get(j, "positions");
    size_t i;
    json_t *p;
    bool saw_a = false, saw_b = false;
    json_array_foreach(arr, i, p) {
      long long pid = json_integer_value(json_object_get(p, "id"));
      saw_a |= pid == id;
      saw_b |= pid == idb;
    }
    ck_assert(who ? (!saw_a && saw_b) : (saw_a && !saw_b));
    json_decref(j);
    th_response_free(&r);
  }
  /* a non-numeric or absent id is simply not found */
  req("GET", "/v1/partner/positions/abc", key_a, NULL, NULL, &r);
  assert_problem(&r, 404, "position_not_found");
  th_response_free(&r);
  req("GET", "/v1/partner/positions/999999999", key_a, NULL, NULL, &r);
  assert_problem(&r, 404, "position_not_found");
  th_response_free(&r);
}
END_TEST

START_TEST(revoked_key) {
  char key[64], out[4096], err[512];
  make_key("partner", "acme", key, sizeof key);
  struct th_response r;
  req("GET", "/v1/partner/positions", key, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  /* its id: the last row of `keys list` */
  const char *la[] = {"keys", "list", NULL};
  ck_assert_int_eq(run_sparkd(dburl, la, out, sizeof out, err, sizeof err), 0);
  char prefix[9];
  snprintf(prefix, sizeof prefix, "%.8s", key);
  char *line = strstr(out, prefix);
  ck_assert_ptr_nonnull(line);
  while (line > out && line[-1] != '\n')
    line--;
  char id[24];
  snprintf(id, sizeof id, "%lld", atoll(line));
  const char *ra[] = {"keys", "revoke", id, NULL};
  ck_assert_int_eq(run_sparkd(dburl, ra, out, sizeof out, err, sizeof err), 0);
  sleep_ms(2500); /* valid keys are remembered for at most 2 s */
  req("GET", "/v1/partner/positions", key, NULL, NULL, &r);
  assert_problem(&r, 401, "unauthorized");
  th_response_free(&r);
}
END_TEST

START_TEST(idempotency) {
  char body[2048], body2[2048];
  position_body("idem-1", body, sizeof body);
  struct th_response r1, r2, r3;
  req("POST", "/v1/partner/positions", key_a, NULL, body, &r1);
  assert_problem(&r1, 400, "idempotency_key_required");
  th_response_free(&r1);
  req("POST", "/v1/partner/positions", key_a, "idem-key-1", body, &r1);
  ck_assert_int_eq(r1.status, 201);
  req("POST", "/v1/partner/positions", key_a, "idem-key-1", body, &r2);
  ck_assert_int_eq(r2.status, 201);
  ck_assert_str_eq(r1.body, r2.body); /* the first response, byte for byte */
  char *rep = th_header(&r2, "Idempotent-Replayed");
  ck_assert_ptr_nonnull(rep);
  ck_assert_str_eq(rep, "true");
  free(rep);
  rep = th_header(&r1, "Idempotent-Replayed");
  ck_assert_ptr_null(rep);
  /* same key, another body */
  position_body("idem-2", body2, sizeof body2);
  req("POST", "/v1/partner/positions", key_a, "idem-key-1", body2, &r3);
  assert_problem(&r3, 409, "idempotency_conflict");
  th_response_free(&r3);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM partner_positions WHERE external_id = 'idem-1'", NULL), 1);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM partner_positions WHERE external_id = 'idem-2'", NULL), 0);
  /* an Idempotency-Key belongs to one api key: the other key of the partner is a new request, and
   * the external id is then taken */
  req("POST", "/v1/partner/positions", key_a2, "idem-key-1", body, &r3);
  assert_problem(&r3, 409, "external_id_exists");
  th_response_free(&r3);
  /* attestations: replay and conflict */
  json_t *j = body_json(&r1);
  char path[96], ab[512], ab2[512];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld/attestations",
           (long long)json_integer_value(json_object_get(j, "id")));
  json_decref(j);
  attestation_body("idem-att-1", ab, sizeof ab);
  struct th_response a1, a2;
  req("POST", path, key_a, NULL, ab, &a1);
  assert_problem(&a1, 400, "idempotency_key_required");
  th_response_free(&a1);
  req("POST", path, key_a, "att-1", ab, &a1);
  ck_assert_msg(a1.status == 201, "%s", a1.body);
  req("POST", path, key_a, "att-1", ab, &a2);
  ck_assert_int_eq(a2.status, 201);
  ck_assert_str_eq(a1.body, a2.body);
  th_response_free(&a2);
  req("POST", path, key_a, "att-1", attestation_body("idem-att-2", ab2, sizeof ab2), &a2);
  assert_problem(&a2, 409, "idempotency_conflict");
  th_response_free(&a2);
  /* the same custodian reference under a new Idempotency-Key */
  req("POST", path, key_a, "att-2", ab, &a2);
  assert_problem(&a2, 409, "attestation_exists");
  th_response_free(&a2);
  th_response_free(&a1);
  th_response_free(&r1);
  th_response_free(&r2);
}
END_TEST

/* Eight clients send the same Idempotency-Key at once: one position is created and every client
 * gets its response; with eight different bodies, one wins and seven get 409. */
#define RACERS 8
struct racer {
  const char *body;
  const char *idem;
  int status;
  char *resp;
};
static void *race(void *arg) {
  struct racer *rc = arg;
  struct th_response r;
  char h[256];
  snprintf(h, sizeof h, "Authorization: Bearer %s\r\nIdempotency-Key: %s\r\nContent-Type: application/json\r\n", key_a,
           rc->idem);
  if (th_http(sd.port, "POST", "/v1/partner/positions", h, rc->body, &r) == 0) {
    rc->status = r.status;
    rc->resp = strdup(r.body);
    th_response_free(&r);
  }
  return NULL;
}

/* Returns true once s holds the "workers" lease (its /metrics says so), ending the session of
 * the process that holds it (pg_terminate_backend: as if that process had died) until s is the one
 * that takes it over; at most about 20 s. */
static bool take_workers_lease(const struct th_sparkd *s) {
  for (int i = 0; i < 100; i++) {
    struct th_response r;
    bool held = false;
    if (th_http(s->port, "GET", "/metrics", NULL, NULL, &r) == 0) {
      held = strstr(r.body, "sparkd_lease_held{lease=\"workers\"} 1") != NULL;
      th_response_free(&r);
    }
    if (held) return true;
    if (i % 10 == 0)
      th_pg_exec(dburl, "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid"
                        " WHERE a.application_name = 'sparkd lease workers' AND l.locktype = 'advisory' AND l.granted"
                        " AND a.datname = current_database()");
    sleep_ms(200);
  }
  return false;
}

/* Keys older than SPARKD_IDEMPOTENCY_KEEP_H are purged with the LTV worker's full pass (here the
 * first pass of a second sparkd on the same database, once it holds the workers' lease); a newer key
 * stays, and a purged key is a new request again. */
START_TEST(idempotency_purge) {
  char body[2048];
  struct th_response r;
  req("POST", "/v1/partner/positions", key_a, "purge-old", position_body("purge-1", body, sizeof body), &r);
  ck_assert_int_eq(r.status, 201);
  th_response_free(&r);
  req("POST", "/v1/partner/positions", key_a, "purge-new", position_body("purge-2", body, sizeof body), &r);
  ck_assert_int_eq(r.status, 201);
  th_response_free(&r);
  ck_assert_int_eq(db_count("WITH u AS (UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
                            " WHERE idempotency_key = $1 RETURNING 1) SELECT count(*) AS n FROM u",
                            "purge-old"),
                   1);
  struct th_sparkd s2;
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_IDEMPOTENCY_KEEP_H=24", NULL};
  ck_assert(th_sparkd_start(&s2, dburl, env) == 0);
  ck_assert_msg(take_workers_lease(&s2), "the second sparkd did not take the workers' lease over");
  const char *count_sql = "SELECT count(*) AS n FROM idempotency_keys WHERE idempotency_key = $1";
  long long left = 1;
  for (int i = 0; i < 200 && (left = db_count(count_sql, "purge-old")) != 0; i++)
    sleep_ms(50);
  th_sparkd_stop(&s2);
  ck_assert_msg(left == 0, "the 25-hour-old key was not purged");
  ck_assert_int_eq(db_count(count_sql, "purge-new"), 1);
  /* the purged key with another body: a new request (201), not 409 idempotency_conflict */
  req("POST", "/v1/partner/positions", key_a, "purge-old", position_body("purge-3", body, sizeof body), &r);
  ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
  th_response_free(&r);
  /* and the kept one still replays: another body is a conflict */
  req("POST", "/v1/partner/positions", key_a, "purge-new", position_body("purge-4", body, sizeof body), &r);
  assert_problem(&r, 409, "idempotency_conflict");
  th_response_free(&r);
}
END_TEST

START_TEST(idempotency_concurrent) {
  char body[2048], bodies[RACERS][2048];
  position_body("race-1", body, sizeof body);
  struct racer rc[RACERS];
  pthread_t th[RACERS];
  for (int i = 0; i < RACERS; i++) {
    rc[i] = (struct racer){body, "race-key-1", 0, NULL};
    pthread_create(&th[i], NULL, race, &rc[i]);
  }
  for (int i = 0; i < RACERS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < RACERS; i++) {
    ck_assert_msg(rc[i].status == 201, "racer %d: %d %s", i, rc[i].status, rc[i].resp ? rc[i].resp : "");
    ck_assert_str_eq(rc[i].resp, rc[0].resp);
  }
  for (int i = 0; i < RACERS; i++)
    free(rc[i].resp);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM partner_positions WHERE external_id = 'race-1'", NULL), 1);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM audit_log a JOIN partner_positions p USING (position_id)"
                            " WHERE p.external_id = 'race-1'",
                            NULL),
                   1);

  int created = 0, conflicts = 0;
  for (int i = 0; i < RACERS; i++) {
    char ext[32];
    snprintf(ext, sizeof ext, "race-2-%d", i);
    position_body(ext, bodies[i], sizeof bodies[i]);
    rc[i] = (struct racer){bodies[i], "race-key-2", 0, NULL};
    pthread_create(&th[i], NULL, race, &rc[i]);
  }
  for (int i = 0; i < RACERS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < RACERS; i++) {
    if (rc[i].status == 201)
      created++;
    else if (rc[i].status == 409 && strstr(rc[i].resp, "\"idempotency_conflict\""))
      conflicts++;
    free(rc[i].resp);
  }
  ck_assert_int_eq(created, 1);
  ck_assert_int_eq(conflicts, RACERS - 1);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM partner_positions WHERE external_id LIKE 'race-2-%'", NULL), 1);
}
END_TEST

/* Sends a create with one replacement spliced into the good body and expects field to be named. */
static void expect_bad_create(const char *from, const char *to, const char *field, const char *code) {
  char body[2048], bad[2100];
  position_body("bad-1", body, sizeof body);
  char *at = strstr(body, from);
  ck_assert_msg(at != NULL, "%s not in body", from);
  snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - body), body, to, at + strlen(from));
  struct th_response r;
  req("POST", "/v1/partner/positions", key_a, "bad-create", bad, &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert_msg(names_field(&r, field, code), "%s/%s not named: %s", field, code ? code : "-", r.body);
  th_response_free(&r);
}

START_TEST(validation) {
  expect_bad_create("\"warning_bps\":6500", "\"warning_bps\":7000", "thresholds.warning_bps", "out_of_order");
  expect_bad_create("\"warning_bps\":6500", "\"warning_bps\":7500", "thresholds.warning_bps", "out_of_order");
  expect_bad_create("\"liquidation_bps\":8000", "\"liquidation_bps\":7000", "thresholds.margin_call_bps",
                    "out_of_order");
  expect_bad_create("\"liquidation_bps\":8000", "\"liquidation_bps\":10001", "thresholds.liquidation_bps",
                    "out_of_range");
  expect_bad_create("\"return_to_bps\":6000", "\"return_to_bps\":7000", "thresholds.return_to_bps", "out_of_order");
  expect_bad_create("\"warning_bps\":6500", "\"warning_bps\":-1", "thresholds.warning_bps", "out_of_range");
  expect_bad_create("\"haircut_bps\":1000", "\"haircut_bps\":10001", "collateral[0].haircut_bps", "out_of_range");
  expect_bad_create("\"amount\":\"300000000000\"", "\"amount\":\"1.5\"", "collateral[0].amount", NULL);
  expect_bad_create("\"principal\":\"150000000000000\"", "\"principal\":150", "debt.principal", "wrong_type");
  expect_bad_create("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "0xA0b8", "debt.asset", "invalid_address");
  expect_bad_create("2026-01-15T00:00:00Z", "2026-02-30T00:00:00Z", "debt.accrual_start", "invalid_time");
  expect_bad_create("\"apr_bps\":750", "\"apr_bps\":750,\"colour\":1", "debt.colour", "unknown_field");
  expect_bad_create("\"cure_period_seconds\":259200,", "", "cure_period_seconds", "required");
  expect_bad_create("\"max_price_staleness_seconds\":3600", "\"max_price_staleness_seconds\":0",
                    "max_price_staleness_seconds", "out_of_range");
  expect_bad_create("\"external_id\":\"bad-1\"", "\"external_id\":\"\"", "external_id", "out_of_range");
  struct th_response r;
  req("POST", "/v1/partner/positions", key_a, "bad-json", "{\"external_id\":", &r);
  assert_problem(&r, 400, "malformed_json");
  th_response_free(&r);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM partner_positions WHERE external_id = 'bad-1'", NULL), 0);

  /* PATCH: the merged ladder is checked; the fixed external_id is refused */
  long long id = create_position(key_a, "val-1");
  char path[96];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld", id);
  req("PATCH", path, key_a, NULL,
      "{\"thresholds\":{\"warning_bps\":6500,\"margin_call_bps\":9000,\"liquidation_bps\":8000,\"return_to_bps\":6000}"
      "}",
      &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert(names_field(&r, "thresholds.margin_call_bps", "out_of_order"));
  th_response_free(&r);
  req("PATCH", path, key_a, NULL, "{\"external_id\":\"other\"}", &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert(names_field(&r, "external_id", "unknown_field"));
  th_response_free(&r);
  req("PATCH", path, key_a, NULL, "{}", &r);
  assert_problem(&r, 400, "validation_failed");
  th_response_free(&r);
  req("PATCH", path, key_a, NULL,
      "{\"thresholds\":{\"warning_bps\":6000,\"margin_call_bps\":7500,\"liquidation_bps\":10000,\"return_to_bps\":5000}"
      ","
      "\"cure_period_seconds\":86400}",
      &r);
  ck_assert_msg(r.status == 200, "%s", r.body);
  json_t *j = body_json(&r);
  json_t *t = json_object_get(j, "thresholds");
  ck_assert_int_eq(json_integer_value(json_object_get(t, "margin_call_bps")), 7500);
  ck_assert_int_eq(json_integer_value(json_object_get(t, "liquidation_bps")), 10000);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "cure_period_seconds")), 86400);
  ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 2);
  ck_assert_str_eq(json_string_value(json_object_get(j, "borrower")), "fund-a"); /* untouched */
  /* addresses come back EIP-55 (spec vectors: WBTC and USDC mainnet checksums) */
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "collateral"), 0), "asset")),
                   "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599");
  ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "debt"), "asset")),
                   "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48");
  json_decref(j);
  th_response_free(&r);

  /* attestations: only the position's assets, every line, no future as_of */
  char apath[128];
  snprintf(apath, sizeof apath, "%s/attestations", path);
  req("POST", apath, key_a, "va-1",
      "{\"as_of\":\"2026-02-01T00:00:00Z\",\"custodian_reference\":\"r1\",\"balances\":[{\"chain_id\":1,"
      "\"asset\":\"0x6B175474E89094C44Da98b954EedeAC495271d0F\",\"amount\":\"1\"}]}",
      &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert(names_field(&r, "balances[0].asset", "not_collateral"));
  ck_assert(names_field(&r, "balances", "missing_line"));
  th_response_free(&r);
  req("POST", apath, key_a, "va-2",
      "{\"as_of\":\"2999-01-01T00:00:00Z\",\"custodian_reference\":\"r1\",\"balances\":[{\"chain_id\":1,"
      "\"asset\":\"0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599\",\"amount\":\"-3\"}]}",
      &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert(names_field(&r, "as_of", "in_future"));
  ck_assert(names_field(&r, "balances[0].amount", NULL));
  th_response_free(&r);
  char idstr[24];
  snprintf(idstr, sizeof idstr, "%lld", id);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM partner_attestations WHERE position_id = $1::bigint", idstr), 0);
}
END_TEST

START_TEST(audit_rows) {
  char body[2048];
  position_body("audit-1", body, sizeof body);
  struct th_response r;
  req("POST", "/v1/partner/positions", key_b, "audit-key", body, &r);
  ck_assert_int_eq(r.status, 201);
  char *rid = th_header(&r, "X-Request-Id");
  json_t *j = body_json(&r);
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(j, "id")));
  json_decref(j);
  th_response_free(&r);
  char sha[65];
  sha256_hex(body, strlen(body), sha);
  char sql[1024];
  snprintf(sql, sizeof sql,
           "SELECT count(*) AS n FROM audit_log a JOIN partners p ON p.partner_id = a.partner_id"
           " WHERE p.name = 'beta' AND a.method = 'POST' AND a.route = '/v1/partner/positions'"
           " AND a.path = '/v1/partner/positions' AND a.status = 201 AND a.position_id = $1::bigint"
           " AND a.body_sha256 = '%s' AND a.request_id = '%s'",
           sha, rid);
  ck_assert_int_eq(db_count(sql, id), 1);
  free(rid);
  /* a replay and a rejected write add nothing; a PATCH and an attestation add one each */
  long long before = db_count("SELECT count(*) AS n FROM audit_log WHERE position_id = $1::bigint", id);
  req("POST", "/v1/partner/positions", key_b, "audit-key", body, &r);
  ck_assert_int_eq(r.status, 201);
  th_response_free(&r);
  char path[96], ab[512];
  snprintf(path, sizeof path, "/v1/partner/positions/%s", id);
  req("PATCH", path, key_b, NULL, "{\"cure_period_seconds\":-5}", &r);
  ck_assert_int_eq(r.status, 400);
  th_response_free(&r);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM audit_log WHERE position_id = $1::bigint", id), before);
  req("PATCH", path, key_b, NULL, "{\"custodian\":\"bitgo\"}", &r);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  snprintf(path, sizeof path, "/v1/partner/positions/%s/attestations", id);
  req("POST", path, key_b, "audit-att", attestation_body("audit-att", ab, sizeof ab), &r);
  ck_assert_int_eq(r.status, 201);
  th_response_free(&r);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM audit_log WHERE position_id = $1::bigint", id), before + 2);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM audit_log WHERE position_id = $1::bigint"
                            " AND route = '/v1/partner/positions/{id}/attestations'",
                            id),
                   1);
  /* append-only */
  ck_assert_int_ne(th_pg_exec(dburl, "UPDATE audit_log SET status = 0"), 0);
  ck_assert_int_ne(th_pg_exec(dburl, "DELETE FROM audit_log"), 0);
  ck_assert_int_ne(th_pg_exec(dburl, "TRUNCATE audit_log"), 0);
}
END_TEST

START_TEST(keys_cli) {
  char out[8192], err[1024], key[64];
  const char *ca[] = {"keys", "create", "--scope", "partner", "--partner", "gamma", NULL};
  ck_assert_int_eq(run_sparkd(dburl, ca, out, sizeof out, err, sizeof err), 0);
  /* one line: sk_ + 43 base64url characters (32 bytes) */
  regex_t re;
  ck_assert_int_eq(regcomp(&re, "^sk_[A-Za-z0-9_-]{43}\n$", REG_EXTENDED), 0);
  ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "key output: %s", out);
  regfree(&re);
  snprintf(key, sizeof key, "%.46s", out);
  ck_assert_ptr_nonnull(strstr(err, "shown only this once"));
  /* only the SHA-256 is stored */
  char sha[65], sql[512];
  sha256_hex(key, strlen(key), sha);
  snprintf(sql, sizeof sql, "SELECT count(*) AS n FROM api_keys WHERE key_sha256 = '%s' AND scope = 'partner'", sha);
  ck_assert_int_eq(db_count(sql, NULL), 1);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM api_keys k WHERE position($1 IN k::text) > 0", key), 0);
  /* list shows no secret */
  const char *la[] = {"keys", "list", NULL};
  ck_assert_int_eq(run_sparkd(dburl, la, out, sizeof out, err, sizeof err), 0);
  ck_assert_ptr_null(strstr(out, key));
  ck_assert_ptr_null(strstr(out, key + 8));
  ck_assert_ptr_nonnull(strstr(out, "gamma"));
  /* usage errors */
  const char *bad1[] = {"keys", "create", "--scope", "partner", NULL};
  ck_assert_int_eq(run_sparkd(dburl, bad1, out, sizeof out, err, sizeof err), 2);
  const char *bad2[] = {"keys", "create", "--scope", "root", NULL};
  ck_assert_int_eq(run_sparkd(dburl, bad2, out, sizeof out, err, sizeof err), 2);
  const char *bad3[] = {"keys", "create", "--scope", "admin", "--partner", "x", NULL};
  ck_assert_int_eq(run_sparkd(dburl, bad3, out, sizeof out, err, sizeof err), 2);
  const char *bad4[] = {"keys", "create", "--scope", "partner", "--partner", "Bad Name", NULL};
  ck_assert_int_eq(run_sparkd(dburl, bad4, out, sizeof out, err, sizeof err), 2);
  const char *rv[] = {"keys", "revoke", "987654", NULL};
  ck_assert_int_eq(run_sparkd(dburl, rv, out, sizeof out, err, sizeof err), 1);
  /* revoke: the key works, then is refused, and list shows the time */
  struct th_response r;
  req("GET", "/v1/partner/positions", key, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  char id[24];
  snprintf(sql, sizeof sql, "SELECT key_id AS n FROM api_keys WHERE key_sha256 = '%s'", sha);
  snprintf(id, sizeof id, "%lld", db_count(sql, NULL));
  const char *rk[] = {"keys", "revoke", id, NULL};
  ck_assert_int_eq(run_sparkd(dburl, rk, out, sizeof out, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(out, "revoked"));
  ck_assert_int_eq(run_sparkd(dburl, rk, out, sizeof out, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(out, "already revoked"));
  snprintf(sql, sizeof sql, "SELECT count(*) AS n FROM api_keys WHERE key_sha256 = '%s' AND revoked_at IS NOT NULL",
           sha);
  ck_assert_int_eq(db_count(sql, NULL), 1);
  sleep_ms(2500);
  req("GET", "/v1/partner/positions", key, NULL, NULL, &r);
  assert_problem(&r, 401, "unauthorized");
  th_response_free(&r);
}
END_TEST

/* One request to s->port with "Authorization: Bearer key" (none when key is NULL). */
static void keyed(const struct th_sparkd *s, const char *method, const char *path, const char *key, const char *body,
                  struct th_response *r) {
  char h[256] = "";
  size_t n = 0;
  if (key) n += (size_t)snprintf(h + n, sizeof h - n, "Authorization: Bearer %s\r\n", key);
  if (body) snprintf(h + n, sizeof h - n, "Content-Type: application/json\r\n");
  ck_assert(th_http(s->port, method, path, h, body, r) == 0);
}

/* A well-formed key that no one holds ("sk_" and 43 base64url characters), so it is looked up. */
static void unknown_key(int i, char out[64]) { snprintf(out, 64, "sk_%043d", i); }

/* Returns n when /metrics has sparkd_auth_failures_total{reason="<reason>"} n, else -1. */
static long long auth_failures(const struct th_sparkd *s, const char *reason) {
  struct th_response r;
  ck_assert(th_http(s->port, "GET", "/metrics", NULL, NULL, &r) == 0);
  char pat[96];
  snprintf(pat, sizeof pat, "sparkd_auth_failures_total{reason=\"%s\"} ", reason);
  const char *m = strstr(r.body, pat);
  long long n = m ? atoll(m + strlen(pat)) : -1;
  th_response_free(&r);
  return n;
}

static void assert_429(const struct th_response *r) {
  assert_problem(r, 429, "too_many_requests");
  char *ra = th_header(r, "Retry-After");
  ck_assert_ptr_nonnull(ra);
  ck_assert_int_ge(atoi(ra), 1);
  free(ra);
}

/* Failed attempts from one address: 50 are answered 401, then failed keys get 429 with
 * Retry-After, but valid partner and admin keys from the same address still get through, and one
 * failure a second (a misconfigured client retrying) neither locks valid keys out nor keeps the
 * address over budget for longer than the refill. Its own sparkd, so the other tests' failures do
 * not count. */
START_TEST(rate_limit) {
  struct th_sparkd s2;
  const char *env[] = {"SPARKD_MIGRATE=auto", NULL};
  ck_assert(th_sparkd_start(&s2, dburl, env) == 0);
  struct th_response r;
  char guess[64];
  /* a token comes back each second, so a slow run may see a 401 more than the burst of 50 */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int first_429 = -1, n401 = 0;
  for (int i = 0; i < 60; i++) {
    unknown_key(i, guess);
    keyed(&s2, "GET", "/v1/partner/positions", guess, NULL, &r);
    if (r.status == 429) {
      if (first_429 < 0) first_429 = i;
      assert_429(&r);
    } else {
      assert_problem(&r, 401, "unauthorized");
      n401++;
    }
    th_response_free(&r);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ck_assert_int_eq(first_429, 50);
  ck_assert_int_le(n401, 50 + (t1.tv_sec - t0.tv_sec) + 1);
  /* over budget: valid keys of both scopes still pass (the admin's empty snapshot is then 400) */
  keyed(&s2, "GET", "/v1/partner/positions", key_a, NULL, &r);
  ck_assert_msg(r.status == 200, "partner key: %d %s", r.status, r.body);
  th_response_free(&r);
  keyed(&s2, "POST", "/v1/admin/snapshots", key_admin, "{}", &r);
  assert_problem(&r, 400, "validation_failed");
  th_response_free(&r);
  /* a valid key of the wrong scope is still 403, and failed keys are still refused */
  keyed(&s2, "POST", "/v1/admin/snapshots", key_a, "{}", &r);
  assert_problem(&r, 403, "forbidden");
  th_response_free(&r);
  keyed(&s2, "GET", "/v1/partner/positions", "sk_guess", NULL, &r);
  assert_429(&r);
  th_response_free(&r);
  keyed(&s2, "GET", "/v1/partner/positions", NULL, NULL, &r);
  assert_429(&r);
  th_response_free(&r);
  ck_assert(th_http(s2.port, "GET", "/healthz", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  /* the guesses past the budget, "sk_guess" and the missing key were refused with 429 */
  ck_assert_int_eq(auth_failures(&s2, "rate_limited"), 60 - n401 + 2);
  ck_assert_int_eq(auth_failures(&s2, "unknown"), n401);
  ck_assert_int_eq(auth_failures(&s2, "missing"), 0);
  ck_assert_int_eq(auth_failures(&s2, "scope"), 1);
  /* a bad key a second: one token comes back per second, each is spent on a 401, and the valid
   * key in between is never refused */
  for (int i = 0; i < 3; i++) {
    sleep_ms(1100);
    unknown_key(100 + i, guess);
    keyed(&s2, "GET", "/v1/partner/positions", guess, NULL, &r);
    assert_problem(&r, 401, "unauthorized");
    th_response_free(&r);
    keyed(&s2, "GET", "/v1/partner/positions", guess, NULL, &r);
    assert_429(&r);
    th_response_free(&r);
    keyed(&s2, "GET", "/v1/partner/positions", key_b, NULL, &r);
    ck_assert_msg(r.status == 200, "partner key: %d %s", r.status, r.body);
    th_response_free(&r);
  }
  th_sparkd_stop(&s2);
}
END_TEST

/* The failure budget is configurable and refills completely: a burst of 5 refilling one per 300 ms
 * is whole again after 1.5 s, so the address is unthrottled. */
START_TEST(rate_limit_decay) {
  struct th_sparkd s3;
  const char *env[] = {"SPARKD_MIGRATE=auto", "SPARKD_AUTH_FAIL_BURST=5", "SPARKD_AUTH_FAIL_REFILL_MS=300", NULL};
  ck_assert(th_sparkd_start(&s3, dburl, env) == 0);
  struct th_response r;
  char guess[64];
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 5; i++) {
      unknown_key(round * 10 + i, guess);
      keyed(&s3, "GET", "/v1/partner/positions", guess, NULL, &r);
      assert_problem(&r, 401, "unauthorized");
      th_response_free(&r);
    }
    keyed(&s3, "GET", "/v1/partner/positions", guess, NULL, &r);
    assert_429(&r);
    th_response_free(&r);
    keyed(&s3, "GET", "/v1/partner/positions", key_a, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    th_response_free(&r);
    sleep_ms(1600);
  }
  th_sparkd_stop(&s3);
}
END_TEST

/* A keyed route answers before reading the body: an unauthenticated 50 MB upload is refused at
 * once, and an admin upload above the route's 64 MiB limit is 413. */
START_TEST(refused_before_body) {
  struct th_response r;
  const char *raw = "POST /v1/admin/snapshots HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    "Content-Length: 50000000\r\n\r\n";
  ck_assert(th_raw(sd.port, raw, strlen(raw), &r) == 0);
  assert_problem(&r, 401, "unauthorized");
  th_response_free(&r);
  char raw2[512];
  snprintf(raw2, sizeof raw2,
           "POST /v1/admin/snapshots HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n",
           key_admin, (64 << 20) + 1);
  ck_assert(th_raw(sd.port, raw2, strlen(raw2), &r) == 0);
  assert_problem(&r, 413, "body_too_large");
  th_response_free(&r);
}
END_TEST

/* The tables an import writes, as one text per table, for comparing two databases. */
static const char *const state_queries[] = {
    "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') AS v FROM (SELECT chain_id, block_number,"
    " block_hash, block_timestamp FROM chains) t",
    "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') AS v FROM assets t",
    "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') AS v FROM reserves t",
    "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') AS v FROM prices t",
    "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') AS v FROM positions t",
    "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') AS v FROM (SELECT chain_id, address,"
    " emode_category, block_number FROM accounts) t",
};

static char *db_text(const char *url, const char *sql) {
  char err[256];
  db_conn *c = db_conn_open(url, 5000, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  char *v = NULL;
  struct db_col cols[] = {{"v", DB_COL_TEXT_DUP, &v, 0, NULL}};
  db_status st = db_query_one_params(c, sql, 0, NULL, cols, 1);
  ck_assert_msg(st == DB_OK, "%s: %s", sql, db_last_error(c));
  db_conn_close(c);
  return v;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  ck_assert((long)fread(buf, 1, (size_t)n, f) == n);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* Reads the state cache gauges from /metrics. */
static void cache_gauges(long long *generation, long long *pending) {
  struct th_response r;
  ck_assert(th_http(sd.port, "GET", "/metrics", NULL, NULL, &r) == 0);
  ck_assert_int_eq(r.status, 200);
  const char *g = strstr(r.body, "\nsparkd_state_cache_generation "),
             *p = strstr(r.body, "\nsparkd_state_cache_pending ");
  ck_assert_msg(g && p, "no state cache gauges in /metrics");
  *generation = atoll(g + strlen("\nsparkd_state_cache_generation "));
  *pending = atoll(p + strlen("\nsparkd_state_cache_pending "));
  th_response_free(&r);
}

START_TEST(admin_snapshot_import) {
  char fixture[512];
  snprintf(fixture, sizeof fixture, "%s/tests/fixtures/snapshot_basic.json", SPARKD_SOURCE_DIR);
  char *text = slurp(fixture);
  struct th_response r;
  long long gen0, gen, pending;
  for (int i = 0; i < 200; i++) { /* the start-up build(s) settle first */
    cache_gauges(&gen0, &pending);
    if (!pending && gen0 > 0) break;
    sleep_ms(50);
  }
  ck_assert_msg(!pending && gen0 > 0, "state cache never settled after start");
  req("POST", "/v1/admin/snapshots", key_admin, NULL, text, &r);
  ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
  json_t *j = body_json(&r);
  json_t *s0 = json_array_get(json_object_get(j, "snapshots"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(s0, "outcome")), "applied");
  ck_assert_int_eq(json_integer_value(json_object_get(s0, "chain_id")), 1);
  json_decref(j);
  th_response_free(&r);
  /* from the reply on, /metrics says the served state is behind until a newer build is in */
  cache_gauges(&gen, &pending);
  ck_assert_msg(pending == 1 || gen > gen0, "import answered but the cache shows neither a pending nor a new build");
  for (int i = 0; i < 200 && (pending || gen == gen0); i++) {
    sleep_ms(50);
    cache_gauges(&gen, &pending);
  }
  ck_assert_msg(!pending && gen > gen0, "cache did not rebuild after the import (generation %lld, pending %lld)", gen,
                pending);
  ck_assert(th_http(sd.port, "GET", "/v1/markets", NULL, NULL, &r) == 0);
  ck_assert_msg(strstr(r.body, "21000000") != NULL, "settled cache does not serve block 21000000: %.300s", r.body);
  th_response_free(&r);
  req("POST", "/v1/admin/snapshots", key_admin, NULL, text, &r);
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_nonnull(strstr(r.body, "\"same_block\""));
  th_response_free(&r);
  /* the CLI into a second database gives the same tables */
  char url2[1024], out[4096], err[4096];
  ck_assert(th_pg_create_db(&pg, url2, sizeof url2) == 0);
  const char *ia[] = {"import", fixture, NULL};
  ck_assert_msg(run_sparkd(url2, ia, out, sizeof out, err, sizeof err) == 0, "%s", err);
  for (size_t i = 0; i < sizeof state_queries / sizeof state_queries[0]; i++) {
    char *a = db_text(dburl, state_queries[i]), *b = db_text(url2, state_queries[i]);
    ck_assert_msg(strlen(a) > 0, "empty: %s", state_queries[i]);
    ck_assert_msg(strcmp(a, b) == 0, "differs: %s", state_queries[i]);
    free(a);
    free(b);
  }
  th_pg_drop_db(&pg, url2);
  /* an invalid snapshot names its problems by JSON path; nothing is written */
  req("POST", "/v1/admin/snapshots", key_admin, NULL, "{\"format\":\"sparkd.snapshot/1\",\"chain_id\":0}", &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert_ptr_nonnull(strstr(r.body, "\"field\":\"$."));
  th_response_free(&r);
  /* an older block is refused unless allow_older=true */
  json_error_t e;
  json_t *snap = json_loads(text, 0, &e);
  json_t *block = json_object_get(snap, "block");
  json_object_set_new(block, "number", json_integer(20999999));
  json_object_set_new(block, "hash", json_string("0xcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"));
  char *older = json_dumps(snap, JSON_COMPACT);
  json_decref(snap);
  req("POST", "/v1/admin/snapshots", key_admin, NULL, older, &r);
  assert_problem(&r, 409, "snapshot_older");
  th_response_free(&r);
  req("POST", "/v1/admin/snapshots?allow_older=yes", key_admin, NULL, older, &r);
  assert_problem(&r, 400, "bad_query_parameter");
  th_response_free(&r);
  free(older);
  free(text);
  ck_assert_int_ge(db_count("SELECT count(*) AS n FROM audit_log WHERE route = '/v1/admin/snapshots'"
                            " AND partner_id IS NULL",
                            NULL),
                   4);
}
END_TEST

/* An event listed twice is refused naming the repeat, and nothing is registered. */
START_TEST(webhook_duplicate_events) {
  struct th_response r;
  req("POST", "/v1/partner/webhooks", key_a, "wh-dup-events",
      "{\"url\":\"https://partner.example/dup-events\",\"events\":[\"ltv.state_changed\",\"ltv.state_changed\"]}", &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert_msg(names_field(&r, "events[1]", "duplicate"), "%s", r.body);
  ck_assert_msg(!names_field(&r, "events[0]", NULL), "%s", r.body);
  th_response_free(&r);
  ck_assert_int_eq(
      db_count("SELECT count(*) AS n FROM partner_webhooks WHERE url = 'https://partner.example/dup-events'", NULL), 0);
  /* an unknown event is named as such, not also as a repeat of the first */
  req("POST", "/v1/partner/webhooks", key_a, "wh-bad-event",
      "{\"url\":\"https://partner.example/dup-events\",\"events\":[\"ltv.state_changed\",\"ltv.nope\"]}", &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert_msg(names_field(&r, "events[1]", "unknown_value"), "%s", r.body);
  ck_assert_msg(!names_field(&r, "events[1]", "duplicate"), "%s", r.body);
  th_response_free(&r);
  req("POST", "/v1/partner/webhooks", key_a, "wh-one-event",
      "{\"url\":\"https://partner.example/dup-events\",\"events\":[\"ltv.state_changed\"]}", &r);
  ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
  th_response_free(&r);
}
END_TEST

/* The zero address is no token: refused as collateral and as the debt asset, on create and patch.
 * A chain no snapshot has been imported for is accepted: its lines are priced (stale until then)
 * once the chain is imported. */
START_TEST(position_zero_address) {
  expect_bad_create("0x2260fac5e5542a773aa44fbcfedf7c193bc2c599", "0x0000000000000000000000000000000000000000",
                    "collateral[0].asset", "invalid_address");
  expect_bad_create("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "0x0000000000000000000000000000000000000000",
                    "debt.asset", "invalid_address");
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM partner_positions WHERE external_id = 'bad-1'", NULL), 0);
  long long id = create_position(key_a, "zero-1");
  char path[96];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld", id);
  struct th_response r;
  req("PATCH", path, key_a, NULL,
      "{\"collateral\":[{\"chain_id\":1,\"asset\":\"0x2260fac5e5542a773aa44fbcfedf7c193bc2c599\",\"amount\":\"1\"},"
      "{\"chain_id\":1,\"asset\":\"0X0000000000000000000000000000000000000000\",\"amount\":\"1\"}]}",
      &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert_msg(names_field(&r, "collateral[1].asset", "invalid_address"), "%s", r.body);
  th_response_free(&r);
  /* a chain not imported (none is, in this test) */
  req("PATCH", path, key_a, NULL,
      "{\"collateral\":[{\"chain_id\":424242,\"asset\":\"0x2260fac5e5542a773aa44fbcfedf7c193bc2c599\","
      "\"amount\":\"1\"}]}",
      &r);
  ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
  th_response_free(&r);
}
END_TEST

/* Ids in paths are canonical decimal: with a leading zero the id names nothing (404, as any id
 * that is not one), and nothing is changed through it. */
START_TEST(path_ids_canonical) {
  long long id = create_position(key_a, "canon-1");
  char path[128], abody[512];
  struct th_response r;
  static const char *const forms[] = {"0%lld", "00%lld", "+%lld", "%lld.0", "%lld ", "0"};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    char idtext[40], esc[64] = "";
    snprintf(idtext, sizeof idtext, forms[i], id);
    for (const char *c = idtext; *c; c++) /* percent-encode what a path cannot carry as is */
      snprintf(esc + strlen(esc), sizeof esc - strlen(esc), *c == '+' || *c == ' ' ? "%%%02X" : "%c", *c);
    snprintf(path, sizeof path, "/v1/partner/positions/%s", esc);
    req("GET", path, key_a, NULL, NULL, &r);
    assert_problem(&r, 404, "position_not_found");
    th_response_free(&r);
    req("PATCH", path, key_a, NULL, "{\"borrower\":\"via-alias\"}", &r);
    assert_problem(&r, 404, "position_not_found");
    th_response_free(&r);
    snprintf(path, sizeof path, "/v1/partner/positions/%s/attestations", esc);
    char idem[32];
    snprintf(idem, sizeof idem, "canon-att-%zu", i);
    req("POST", path, key_a, idem, attestation_body(idem, abody, sizeof abody), &r);
    assert_problem(&r, 404, "position_not_found");
    th_response_free(&r);
    snprintf(path, sizeof path, "/v1/partner/positions/%s/ltv", esc);
    req("GET", path, key_a, NULL, NULL, &r);
    assert_problem(&r, 404, "position_not_found");
    th_response_free(&r);
    snprintf(path, sizeof path, "/v1/partner/positions/%s/ltv/history", esc);
    req("GET", path, key_a, NULL, NULL, &r);
    assert_problem(&r, 404, "position_not_found");
    th_response_free(&r);
  }
  snprintf(path, sizeof path, "/v1/partner/positions/%lld", id);
  req("GET", path, key_a, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  json_t *j = body_json(&r);
  ck_assert_str_eq(json_string_value(json_object_get(j, "borrower")), "fund-a");
  ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
  ck_assert(json_is_null(json_object_get(j, "latest_attestation")));
  json_decref(j);
  th_response_free(&r);

  req("POST", "/v1/partner/webhooks", key_a, "wh-canon",
      "{\"url\":\"https://partner.example/canon\",\"events\":[\"ltv.state_changed\"]}", &r);
  ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
  j = body_json(&r);
  char wid[24];
  snprintf(wid, sizeof wid, "%s", json_string_value(json_object_get(j, "id")));
  json_decref(j);
  th_response_free(&r);
  snprintf(path, sizeof path, "/v1/partner/webhooks/0%s", wid);
  req("DELETE", path, key_a, NULL, NULL, &r);
  assert_problem(&r, 404, "webhook_not_found");
  th_response_free(&r);
  ck_assert_int_eq(db_count("SELECT count(*) AS n FROM partner_webhooks WHERE webhook_id = $1::bigint"
                            " AND deleted_at IS NULL",
                            wid),
                   1);
  snprintf(path, sizeof path, "/v1/partner/webhooks/%s", wid);
  req("DELETE", path, key_a, NULL, NULL, &r);
  ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
  th_response_free(&r);
}
END_TEST

/* Returns the position's version and borrower (into borrower) as served. */
static long long position_version(const char *path, char *borrower, size_t len) {
  struct th_response r;
  req("GET", path, key_a, NULL, NULL, &r);
  ck_assert_int_eq(r.status, 200);
  json_t *j = body_json(&r);
  long long v = json_integer_value(json_object_get(j, "version"));
  snprintf(borrower, len, "%s", json_string_value(json_object_get(j, "borrower")));
  json_decref(j);
  th_response_free(&r);
  return v;
}

/* Sends a PATCH that changes nothing and expects 200 with the version as it was. */
static void expect_noop_patch(const char *path, const char *body, long long version) {
  struct th_response r;
  req("PATCH", path, key_a, NULL, body, &r);
  ck_assert_msg(r.status == 200, "%s: %d %s", body, r.status, r.body);
  json_t *j = body_json(&r);
  ck_assert_msg(json_integer_value(json_object_get(j, "version")) == version, "%s: %s", body, r.body);
  json_decref(j);
  th_response_free(&r);
}

/* A PATCH changes the version only when it changes the terms: null for a field that cannot be
 * null is a 400 naming it, and members equal to the stored terms are a 200 with the version kept. */
START_TEST(patch_noop_keeps_version) {
  long long id = create_position(key_a, "noop-1");
  char path[96], borrower[64];
  snprintf(path, sizeof path, "/v1/partner/positions/%lld", id);
  struct th_response r;
  static const char *const nulls[] = {"borrower",
                                      "custodian",
                                      "collateral",
                                      "debt",
                                      "thresholds",
                                      "cure_period_seconds",
                                      "max_price_staleness_seconds"};
  for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++) {
    char body[96];
    snprintf(body, sizeof body, "{\"%s\":null}", nulls[i]);
    req("PATCH", path, key_a, NULL, body, &r);
    assert_problem(&r, 400, "validation_failed");
    ck_assert_msg(names_field(&r, nulls[i], "wrong_type"), "%s: %s", body, r.body);
    th_response_free(&r);
  }
  req("PATCH", path, key_a, NULL, "{\"borrower\":null,\"custodian\":\"bitgo\"}", &r);
  assert_problem(&r, 400, "validation_failed");
  ck_assert(names_field(&r, "borrower", "wrong_type"));
  th_response_free(&r);
  ck_assert_int_eq(position_version(path, borrower, sizeof borrower), 1);
  ck_assert_str_eq(borrower, "fund-a");

  /* the same values as stored, in any spelling the reader accepts */
  expect_noop_patch(path, "{\"borrower\":\"fund-a\"}", 1);
  expect_noop_patch(path,
                    "{\"collateral\":[{\"chain_id\":1,\"asset\":\"0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599\","
                    "\"amount\":\"300000000000\",\"haircut_bps\":1000}],"
                    "\"debt\":{\"chain_id\":1,\"asset\":\"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\","
                    "\"principal\":\"150000000000000\",\"apr_bps\":750,\"accrual_start\":\"2026-01-15T00:00:00Z\"},"
                    "\"thresholds\":{\"warning_bps\":6500,\"margin_call_bps\":7000,\"liquidation_bps\":8000,"
                    "\"return_to_bps\":6000},\"cure_period_seconds\":259200,\"max_price_staleness_seconds\":3600}",
                    1);
  ck_assert_int_eq(position_version(path, borrower, sizeof borrower), 1);

  /* a real change still counts, each once; a line's haircut or order is a change */
  expect_noop_patch(path, "{\"custodian\":\"anchorage\"}", 1);
  req("PATCH", path, key_a, NULL, "{\"custodian\":\"bitgo\"}", &r);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  ck_assert_int_eq(position_version(path, borrower, sizeof borrower), 2);
  req("PATCH", path, key_a, NULL,
      "{\"collateral\":[{\"chain_id\":1,\"asset\":\"0x2260fac5e5542a773aa44fbcfedf7c193bc2c599\","
      "\"amount\":\"300000000000\"}]}",
      &r);
  ck_assert_int_eq(r.status, 200);
  th_response_free(&r);
  ck_assert_int_eq(position_version(path, borrower, sizeof borrower), 3);
  expect_noop_patch(path,
                    "{\"collateral\":[{\"chain_id\":1,\"asset\":\"0x2260fac5e5542a773aa44fbcfedf7c193bc2c599\","
                    "\"amount\":\"300000000000\",\"haircut_bps\":0}]}",
                    3);
}
END_TEST

int main(void) {
  Suite *s = suite_create("partner");
  TCase *tc = tcase_create("api");
  tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, scope_matrix);
  tcase_add_test(tc, partner_isolation);
  tcase_add_test(tc, revoked_key);
  tcase_add_test(tc, idempotency);
  tcase_add_test(tc, idempotency_concurrent);
  tcase_add_test(tc, idempotency_purge);
  tcase_add_test(tc, validation);
  tcase_add_test(tc, audit_rows);
  tcase_add_test(tc, keys_cli);
  tcase_add_test(tc, rate_limit);
  tcase_add_test(tc, rate_limit_decay);
  tcase_add_test(tc, admin_snapshot_import);
  tcase_add_test(tc, refused_before_body);
  tcase_add_test(tc, webhook_duplicate_events);
  tcase_add_test(tc, position_zero_address);
  tcase_add_test(tc, path_ids_canonical);
  tcase_add_test(tc, patch_noop_keeps_version);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
