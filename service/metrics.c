#include "service/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/index.h"
#include "partner/ltv.h"
#include "service/heavy.h"
#include "service/router.h"
#include "state/cache.h"

/* Status codes we count individually; anything else lands in "other" (the last slot). */
static const unsigned statuses[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 406,
                                    409, 413, 415, 422, 429, 431, 500, 502, 503, 0};
#define NSTATUS (sizeof statuses / sizeof statuses[0])
/* Histogram bucket upper bounds in microseconds. */
static const uint64_t buckets_us[] = {250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
#define NBUCKET (sizeof buckets_us / sizeof buckets_us[0])
#define MAX_ROUTES 128 /* routes + 1 slot for unmatched */
/* The request's method, a label of every per-route series: several rows share a path template
 * (GET and POST /v1/partner/positions), and a 405 or OPTIONS counts under its path's first row,
 * so without it one route label would name several series. Methods outside the list are "other"
 * (a client's string never becomes a label value). */
static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};
#define NMETHOD (sizeof methods / sizeof methods[0])

static _Atomic uint64_t counts[MAX_ROUTES][NMETHOD][NSTATUS];
static _Atomic uint64_t hist[MAX_ROUTES][NMETHOD][NBUCKET + 1];
static _Atomic uint64_t hist_sum_us[MAX_ROUTES][NMETHOD];

static _Atomic uint64_t auth_failures[SVC_AUTH_FAIL_COUNT];
static const char *const auth_fail_names[SVC_AUTH_FAIL_COUNT] = {"missing", "unknown", "revoked", "scope",
                                                                 "rate_limited"};

static _Atomic uint64_t head_timeouts;

void svc_metrics_head_timeout(void) { atomic_fetch_add_explicit(&head_timeouts, 1, memory_order_relaxed); }

void svc_metrics_auth_failure(enum svc_auth_fail why) {
  if ((unsigned)why < SVC_AUTH_FAIL_COUNT) atomic_fetch_add_explicit(&auth_failures[why], 1, memory_order_relaxed);
}

static int slot(int route_index) {
  if (route_index < 0 || (size_t)route_index >= svc_routes_count || route_index >= MAX_ROUTES - 1)
    return MAX_ROUTES - 1;
  return route_index;
}

static size_t method_slot(const char *method) {
  for (size_t i = 0; i + 1 < NMETHOD; i++)
    if (method && strcmp(methods[i], method) == 0) return i;
  return NMETHOD - 1;
}

void svc_metrics_observe(int route_index, const char *method, unsigned status, uint64_t micros) {
  int r = slot(route_index);
  size_t m = method_slot(method);
  size_t s = NSTATUS - 1;
  for (size_t i = 0; i + 1 < NSTATUS; i++)
    if (statuses[i] == status) {
      s = i;
      break;
    }
  atomic_fetch_add_explicit(&counts[r][m][s], 1, memory_order_relaxed);
  size_t b = 0;
  while (b < NBUCKET && micros > buckets_us[b])
    b++;
  atomic_fetch_add_explicit(&hist[r][m][b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&hist_sum_us[r][m], micros, memory_order_relaxed);
}

struct buf {
  char *p;
  size_t len, cap;
  int failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...) {
  if (b->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t ncap = b->cap * 2 + (size_t)n;
    char *np = realloc(b->p, ncap);
    if (!np) {
      b->failed = 1;
      return;
    }
    b->p = np;
    b->cap = ncap;
  }
}

static const char *route_name(int r) { return r == MAX_ROUTES - 1 ? "unmatched" : svc_routes[r].path; }

/* Returns true when row r's histogram for method slot m is shown: always for the route's own
 * method (so its series exist from the start), else once it has counted a request. */
static bool hist_shown(int r, size_t m) {
  if (r != MAX_ROUTES - 1 && m == method_slot(svc_method_name(svc_routes[r].method))) return true;
  for (size_t i = 0; i <= NBUCKET; i++)
    if (atomic_load_explicit(&hist[r][m][i], memory_order_relaxed)) return true;
  return false;
}

/* ---- the indexer's view, as `sparkd index` stored it (any replica can export it) ---- */

#define INDEX_MAX_CHAINS 64
#define INDEX_MAX_RPC 512

struct index_rows {
  struct db_index_status st[INDEX_MAX_CHAINS];
  size_t n;
  struct {
    int64_t chain, calls, errors;
    char method[64];
  } rpc[INDEX_MAX_RPC];
  size_t n_rpc;
};

static db_status index_status_row(const struct db_index_status *s, void *arg) {
  struct index_rows *x = arg;
  if (x->n < INDEX_MAX_CHAINS) x->st[x->n++] = *s;
  return DB_OK;
}

static db_status index_rpc_row(int64_t chain, const char *method, int64_t calls, int64_t errors, void *arg) {
  struct index_rows *x = arg;
  if (x->n_rpc == INDEX_MAX_RPC) return DB_OK;
  x->rpc[x->n_rpc].chain = chain;
  x->rpc[x->n_rpc].calls = calls;
  x->rpc[x->n_rpc].errors = errors;
  snprintf(x->rpc[x->n_rpc].method, sizeof x->rpc[x->n_rpc].method, "%s", method);
  x->n_rpc++;
  return DB_OK;
}

/* Families are written whole, one after another, as the exposition format wants. */
static void index_metrics(struct buf *b, db_pool *pool) {
  struct index_rows *x = calloc(1, sizeof *x);
  if (!x) return;
  db_conn *c = db_acquire(pool, 200);
  if (!c) { /* the pool gauges above already tell a database problem */
    free(x);
    return;
  }
  db_status st = db_index_status_list(c, index_status_row, x);
  if (st == DB_OK) st = db_index_rpc_list(c, index_rpc_row, x);
  db_release(c);
  if (st != DB_OK || (!x->n && !x->n_rpc)) {
    free(x);
    return;
  }
  put(b, "# HELP sparkd_index_head_block The node's latest block the indexer saw.\n"
         "# TYPE sparkd_index_head_block gauge\n");
  for (size_t i = 0; i < x->n; i++)
    if (x->st[i].has_head)
      put(b, "sparkd_index_head_block{chain=\"%lld\"} %lld\n", (long long)x->st[i].chain_id,
          (long long)x->st[i].head_block);
  put(b, "# HELP sparkd_index_applied_block The last block the indexer applied.\n"
         "# TYPE sparkd_index_applied_block gauge\n");
  for (size_t i = 0; i < x->n; i++)
    if (x->st[i].has_applied)
      put(b, "sparkd_index_applied_block{chain=\"%lld\"} %lld\n", (long long)x->st[i].chain_id,
          (long long)x->st[i].applied_block);
  put(b, "# HELP sparkd_index_lag_blocks Head seen less block applied.\n# TYPE sparkd_index_lag_blocks gauge\n");
  for (size_t i = 0; i < x->n; i++)
    if (x->st[i].has_head && x->st[i].has_applied)
      put(b, "sparkd_index_lag_blocks{chain=\"%lld\"} %lld\n", (long long)x->st[i].chain_id,
          (long long)(x->st[i].head_block > x->st[i].applied_block ? x->st[i].head_block - x->st[i].applied_block : 0));
  put(b, "# HELP sparkd_index_lag_seconds Head's timestamp less the applied block's.\n"
         "# TYPE sparkd_index_lag_seconds gauge\n");
  for (size_t i = 0; i < x->n; i++)
    if (x->st[i].has_head && x->st[i].has_applied)
      put(b, "sparkd_index_lag_seconds{chain=\"%lld\"} %lld\n", (long long)x->st[i].chain_id,
          (long long)(x->st[i].head_timestamp > x->st[i].applied_timestamp
                          ? x->st[i].head_timestamp - x->st[i].applied_timestamp
                          : 0));
  put(b, "# HELP sparkd_index_applied_age_seconds Seconds since the applied block last changed.\n"
         "# TYPE sparkd_index_applied_age_seconds gauge\n");
  for (size_t i = 0; i < x->n; i++)
    if (x->st[i].has_applied)
      put(b, "sparkd_index_applied_age_seconds{chain=\"%lld\"} %.3f\n", (long long)x->st[i].chain_id,
          x->st[i].applied_age_s);
  put(b, "# HELP sparkd_index_rpc_calls_total JSON-RPC calls the indexer made, by method.\n"
         "# TYPE sparkd_index_rpc_calls_total counter\n");
  for (size_t i = 0; i < x->n_rpc; i++)
    put(b, "sparkd_index_rpc_calls_total{chain=\"%lld\",method=\"%s\"} %lld\n", (long long)x->rpc[i].chain,
        x->rpc[i].method, (long long)x->rpc[i].calls);
  put(b, "# HELP sparkd_index_rpc_errors_total JSON-RPC calls that failed (transport or node error), by method.\n"
         "# TYPE sparkd_index_rpc_errors_total counter\n");
  for (size_t i = 0; i < x->n_rpc; i++)
    put(b, "sparkd_index_rpc_errors_total{chain=\"%lld\",method=\"%s\"} %lld\n", (long long)x->rpc[i].chain,
        x->rpc[i].method, (long long)x->rpc[i].errors);
  free(x);
}

char *svc_metrics_render(db_pool *pool, size_t *len) {
  struct buf b = {malloc(16384), 0, 16384, 0};
  if (!b.p) return NULL;
  put(&b, "# HELP sparkd_http_requests_total HTTP requests by route template, method and status.\n"
          "# TYPE sparkd_http_requests_total counter\n");
  for (int r = 0; r < MAX_ROUTES; r++) {
    if (r != MAX_ROUTES - 1 && (size_t)r >= svc_routes_count) continue;
    for (size_t m = 0; m < NMETHOD; m++)
      for (size_t s = 0; s < NSTATUS; s++) {
        uint64_t v = atomic_load_explicit(&counts[r][m][s], memory_order_relaxed);
        if (!v) continue;
        if (statuses[s])
          put(&b, "sparkd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n", route_name(r),
              methods[m], statuses[s], (unsigned long long)v);
        else
          put(&b, "sparkd_http_requests_total{route=\"%s\",method=\"%s\",status=\"other\"} %llu\n", route_name(r),
              methods[m], (unsigned long long)v);
      }
  }
  put(&b, "# HELP sparkd_http_request_duration_seconds Time from the first byte of a request to its completion.\n"
          "# TYPE sparkd_http_request_duration_seconds histogram\n");
  for (int r = 0; r < MAX_ROUTES; r++) {
    if (r != MAX_ROUTES - 1 && (size_t)r >= svc_routes_count) continue;
    for (size_t m = 0; m < NMETHOD; m++) {
      if (!hist_shown(r, m)) continue;
      const char *rn = route_name(r), *mn = methods[m];
      uint64_t cum = 0;
      for (size_t i = 0; i <= NBUCKET; i++) {
        cum += atomic_load_explicit(&hist[r][m][i], memory_order_relaxed);
        if (i < NBUCKET)
          put(&b, "sparkd_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%g\"} %llu\n", rn, mn,
              (double)buckets_us[i] / 1e6, (unsigned long long)cum);
        else
          put(&b, "sparkd_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n", rn, mn,
              (unsigned long long)cum);
      }
      put(&b, "sparkd_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n", rn, mn,
          (double)atomic_load_explicit(&hist_sum_us[r][m], memory_order_relaxed) / 1e6);
      put(&b, "sparkd_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n", rn, mn,
          (unsigned long long)cum);
    }
  }
  put(&b, "# HELP sparkd_auth_failures_total Refused api key checks, each counted once: missing, unknown or revoked"
          " (401), scope (403), rate_limited (a missing, unknown or revoked key answered 429 because its address"
          " is over its failure budget).\n# TYPE sparkd_auth_failures_total counter\n");
  for (int i = 0; i < SVC_AUTH_FAIL_COUNT; i++)
    put(&b, "sparkd_auth_failures_total{reason=\"%s\"} %llu\n", auth_fail_names[i],
        (unsigned long long)atomic_load_explicit(&auth_failures[i], memory_order_relaxed));
  put(&b,
      "# HELP sparkd_http_head_timeouts_total Connections closed because their request line and headers did not"
      " all arrive within SPARKD_HEAD_TIMEOUT_MS, or their body then came slower than a byte per ms on average.\n"
      "# TYPE sparkd_http_head_timeouts_total counter\nsparkd_http_head_timeouts_total %llu\n",
      (unsigned long long)atomic_load_explicit(&head_timeouts, memory_order_relaxed));
  struct svc_heavy_stats hs;
  svc_heavy_stats(&hs);
  put(&b,
      "# HELP sparkd_heavy_admitted_total Heavy computations (risk routes, margin what-if quotes) let through the"
      " gate, at once or after a wait.\n# TYPE sparkd_heavy_admitted_total counter\nsparkd_heavy_admitted_total %llu\n"
      "# HELP sparkd_heavy_refused_total Heavy requests answered 503 busy: every place taken for"
      " SPARKD_HEAVY_WAIT_MS, or too many already waiting.\n# TYPE sparkd_heavy_refused_total counter\n"
      "sparkd_heavy_refused_total %llu\n"
      "# HELP sparkd_heavy_in_flight Heavy computations running now.\n# TYPE sparkd_heavy_in_flight gauge\n"
      "sparkd_heavy_in_flight %u\n"
      "# HELP sparkd_heavy_limit SPARKD_HEAVY_CONCURRENCY.\n# TYPE sparkd_heavy_limit gauge\nsparkd_heavy_limit %u\n",
      (unsigned long long)hs.admitted, (unsigned long long)hs.refused, hs.in_flight, hs.limit);
  uint64_t generation;
  bool pending;
  state_cache_status(&generation, &pending);
  put(&b,
      "# HELP sparkd_state_cache_generation State cache rebuilds completed (0: nothing built yet).\n"
      "# TYPE sparkd_state_cache_generation gauge\nsparkd_state_cache_generation %llu\n"
      "# HELP sparkd_state_cache_pending 1 before the first build and while a rebuild is asked for or running: "
      "the cached state may be older than the database.\n# TYPE sparkd_state_cache_pending "
      "gauge\nsparkd_state_cache_pending %d\n",
      (unsigned long long)generation, pending ? 1 : 0);
  struct partner_workers_status ws;
  partner_workers_status(&ws);
  put(&b,
      "# HELP sparkd_lease_held 1 while this process holds the lease and runs what it guards (one process of all"
      " sharing the database holds it; none with SPARKD_WORKERS=off).\n# TYPE sparkd_lease_held gauge\n"
      "sparkd_lease_held{lease=\"%s\"} %d\n"
      "# HELP sparkd_lease_acquired_total Times this process acquired the lease.\n"
      "# TYPE sparkd_lease_acquired_total counter\nsparkd_lease_acquired_total{lease=\"%s\"} %llu\n"
      "# HELP sparkd_lease_lost_total Times this process lost the lease while holding it (its session broke).\n"
      "# TYPE sparkd_lease_lost_total counter\nsparkd_lease_lost_total{lease=\"%s\"} %llu\n",
      ws.lease_name, ws.held ? 1 : 0, ws.lease_name, (unsigned long long)ws.acquired, ws.lease_name,
      (unsigned long long)ws.lost);
  struct state_replica_stats rs;
  state_cache_replica_stats(&rs);
  put(&b,
      "# HELP sparkd_replica_following 1 when the state cache is built from SPARKD_DATABASE_READ_URL's replica.\n"
      "# TYPE sparkd_replica_following gauge\nsparkd_replica_following %d\n"
      "# HELP sparkd_replica_replay_waits_total Cache rebuilds that waited for the replica to replay an announced"
      " change.\n# TYPE sparkd_replica_replay_waits_total counter\nsparkd_replica_replay_waits_total %llu\n"
      "# HELP sparkd_replica_replay_wait_seconds_total Time spent in those waits.\n"
      "# TYPE sparkd_replica_replay_wait_seconds_total counter\nsparkd_replica_replay_wait_seconds_total %.3f\n"
      "# HELP sparkd_replica_replay_timeouts_total Waits that gave up after SPARKD_READ_REPLAY_WAIT_MS (the"
      " previous state stayed in service).\n# TYPE sparkd_replica_replay_timeouts_total counter\n"
      "sparkd_replica_replay_timeouts_total %llu\n"
      "# HELP sparkd_replica_lag_bytes WAL bytes the replica was behind the announced change at the last"
      " rebuild's first look.\n# TYPE sparkd_replica_lag_bytes gauge\nsparkd_replica_lag_bytes %llu\n",
      rs.following ? 1 : 0, (unsigned long long)rs.waits, (double)rs.wait_ms / 1e3, (unsigned long long)rs.timeouts,
      (unsigned long long)rs.lag_bytes);
  if (pool) {
    db_pool_stats st;
    db_pool_get_stats(pool, &st);
    put(&b,
        "# HELP sparkd_db_pool_size Configured database connections.\n# TYPE sparkd_db_pool_size gauge\n"
        "sparkd_db_pool_size %u\n"
        "# HELP sparkd_db_pool_in_use Connections handed out now.\n# TYPE sparkd_db_pool_in_use gauge\n"
        "sparkd_db_pool_in_use %u\n"
        "# HELP sparkd_db_pool_idle Connected, free connections.\n# TYPE sparkd_db_pool_idle gauge\n"
        "sparkd_db_pool_idle %u\n"
        "# HELP sparkd_db_pool_acquired_total Connections handed out.\n# TYPE sparkd_db_pool_acquired_total counter\n"
        "sparkd_db_pool_acquired_total %llu\n"
        "# HELP sparkd_db_pool_wait_timeouts_total Acquires that gave up waiting.\n"
        "# TYPE sparkd_db_pool_wait_timeouts_total counter\n"
        "sparkd_db_pool_wait_timeouts_total %llu\n"
        "# HELP sparkd_db_pool_reconnects_total Connections (re)established.\n"
        "# TYPE sparkd_db_pool_reconnects_total counter\n"
        "sparkd_db_pool_reconnects_total %llu\n"
        "# HELP sparkd_db_errors_total Database calls that failed, by kind.\n# TYPE sparkd_db_errors_total counter\n"
        "sparkd_db_errors_total{kind=\"error\"} %llu\n"
        "sparkd_db_errors_total{kind=\"unavailable\"} %llu\n",
        st.size, st.in_use, st.idle, (unsigned long long)st.acquired, (unsigned long long)st.wait_timeouts,
        (unsigned long long)st.reconnects, (unsigned long long)st.errors, (unsigned long long)st.unavailable);
  }
  if (pool) index_metrics(&b, pool);
  if (b.failed) {
    free(b.p);
    return NULL;
  }
  *len = b.len;
  return b.p;
}
