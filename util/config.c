#include "util/config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const migrate_modes[] = {"check", "auto", NULL};
static const char *const worker_modes[] = {"lease", "off", NULL};

#define OFF(f) offsetof(struct util_config, f), sizeof(((struct util_config *)0)->f)

/* The one table: every entry's variable, type, default, help, field and bounds. */
const struct util_config_entry util_config_table[] = {
    {"SPARKD_DATABASE_URL", "string", "host=127.0.0.1 dbname=sparkd", "libpq conninfo or postgresql:// URI",
     OFF(database_url), 0, 0, NULL},
    {"SPARKD_LISTEN", "hostport", "127.0.0.1:8080", "address and port to serve HTTP on", 0, 0, 0, 0, NULL},
    {"SPARKD_THREADS", "uint", "", "worker threads (empty = number of CPUs)", OFF(threads), 1, 1024, NULL},
    {"SPARKD_LOG_LEVEL", "enum", "info", "debug, info, warn or error", OFF(log_level), 0, 0, log_levels},
    {"SPARKD_LOG_FORMAT", "enum", "json", "json or text", OFF(log_format), 0, 0, log_formats},
    {"SPARKD_MIGRATE", "enum", "check",
     "check: refuse to serve an out-of-date schema; auto: apply pending migrations at start", OFF(migrate), 0, 0,
     migrate_modes},
    {"SPARKD_MAX_BODY_BYTES", "uint", "1048576", "largest request body accepted, in bytes", OFF(max_body_bytes), 1024,
     1073741824ull, NULL},
    {"SPARKD_CORS_ORIGINS", "string", "", "comma-separated origins allowed to GET cross-origin, * for any",
     OFF(cors_origins), 0, 0, NULL},
    {"SPARKD_DB_WAIT_MS", "uint", "2000", "longest wait for a pooled database connection, in ms", OFF(db_wait_ms), 1,
     600000, NULL},
    {"SPARKD_SHUTDOWN_GRACE_MS", "uint", "10000", "time in-flight requests get to finish on SIGTERM, in ms",
     OFF(shutdown_grace_ms), 0, 600000, NULL},
    {"SPARKD_CONNECTION_TIMEOUT_S", "uint", "30", "idle keep-alive connections are closed after this many seconds",
     OFF(connection_timeout_s), 1, 3600, NULL},
    {"SPARKD_CACHE_MAX_AGE_S", "uint", "5",
     "Cache-Control max-age of responses served from the state cache, in seconds", OFF(cache_max_age_s), 0, 86400,
     NULL},
    {"SPARKD_SIGNING_KEY_FILE", "string", "",
     "file with the secp256k1 key that signs LTV records (sparkd keys signing-create); empty = unsigned",
     OFF(signing_key_file), 0, 0, NULL},
    {"SPARKD_LTV_HISTORY_MIN_BPS", "uint", "50",
     "an LTV record joins a position's history on a state change or an LTV move of at least this many bps",
     OFF(ltv_history_min_bps), 1, 10000, NULL},
    {"SPARKD_WEBHOOK_CA_FILE", "string", "",
     "PEM file of the CA certificates https webhook receivers must chain to; empty = the system's (ca-certificates)",
     OFF(webhook_ca_file), 0, 0, NULL},
    {"SPARKD_WEBHOOK_ALLOW_PRIVATE", "string", "",
     "comma-separated networks (127.0.0.0/8, ::1/128, 10.1.2.3) webhooks may be sent to although loopback, private, "
     "link-local or otherwise not public; empty = none",
     OFF(webhook_allow_private), 0, 0, NULL},
    {"SPARKD_ACCOUNT_CACHE_MAX", "uint", "2000000",
     "a chain with at most this many accounts has them held in memory with its market (0 = always read the database)",
     OFF(account_cache_max), 0, 100000000ull, NULL},
    {"SPARKD_ACCOUNT_CACHE_INCREMENTAL", "uint", "1",
     "1: a new state generation re-reads only the accounts the imports since the previous one wrote; 0: every "
     "account, every time",
     OFF(account_cache_incremental), 0, 1, NULL},
    {"SPARKD_HEALTH_THREADS", "uint", "",
     "threads that compute a new state generation's health factors for a chain held in memory (empty = number "
     "of CPUs, at most 16)",
     OFF(health_threads), 1, 16, NULL},
    {"SPARKD_LTV_SWEEP_S", "uint", "30",
     "seconds between LTV and portfolio margin sweeps (prices going stale, cure deadlines) when no import "
     "recomputes everything",
     OFF(ltv_sweep_s), 1, 3600, NULL},
    {"SPARKD_IDEMPOTENCY_KEEP_H", "uint", "168",
     "hours an Idempotency-Key's stored response is kept for replay; older keys are purged and may be used again",
     OFF(idempotency_keep_h), 1, 87600, NULL},
    {"SPARKD_AUTH_FAIL_BURST", "uint", "50",
     "failed api key checks a client address may make in a burst before its failed keys get 429", OFF(auth_fail_burst),
     1, 1000000, NULL},
    {"SPARKD_AUTH_FAIL_REFILL_MS", "uint", "1000",
     "one failed api key check of the burst is given back to an address per this many ms", OFF(auth_fail_refill_ms), 1,
     3600000, NULL},
    {"SPARKD_MAX_CONNECTIONS", "uint", "",
     "open HTTP connections in all, at least SPARKD_THREADS (empty = the open-file limit less a reserve)",
     OFF(max_connections), 1, 1000000, NULL},
    {"SPARKD_MAX_CONNECTIONS_PER_CLIENT", "uint", "256",
     "open HTTP connections one client address may hold; more are closed at once (0 = no bound)",
     OFF(max_connections_per_client), 0, 1000000, NULL},
    {"SPARKD_DATABASE_READ_URL", "string", "",
     "a streaming replica of SPARKD_DATABASE_URL the state cache and read-only queries use; empty = the primary",
     OFF(database_read_url), 0, 0, NULL},
    {"SPARKD_READ_REPLAY_WAIT_MS", "uint", "5000",
     "longest wait for the replica to replay a change the primary announced before the cache is rebuilt from it, in ms",
     OFF(read_replay_wait_ms), 1, 600000, NULL},
    {"SPARKD_WORKERS", "enum", "lease",
     "lease: run the LTV worker and webhook sender while holding their database lease (one process at a time); "
     "off: never",
     OFF(workers), 0, 0, worker_modes},
    {"SPARKD_ORACLE_STALE_SECONDS", "uint", "86400",
     "GET /v1/oracles flags a price not updated for longer than this many seconds as stale", OFF(oracle_stale_s), 1,
     31536000, NULL},
    {"SPARKD_RPC_URL", "string", "", "http(s) URL of the EVM JSON-RPC node sparkd index reads", OFF(rpc_url), 0, 0,
     NULL},
    {"SPARKD_NETWORK_FILE", "string", "", "sparkd.network/1 file naming the contracts sparkd index reads",
     OFF(network_file), 0, 0, NULL},
    {"SPARKD_INDEX_CONFIRMATIONS", "uint", "0", "sparkd index applies blocks up to the head less this many",
     OFF(index_confirmations), 0, 10000, NULL},
    {"SPARKD_INDEX_POLL_MS", "uint", "2000", "sparkd index polls the node for a new head this often, in ms",
     OFF(index_poll_ms), 10, 3600000, NULL},
    {"SPARKD_INDEX_BATCH_SIZE", "uint", "200",
     "calls per JSON-RPC batch request of sparkd index (halved, and kept so, when the node refuses a batch for its "
     "size)",
     OFF(index_batch_size), 1, 10000, NULL},
    {"SPARKD_INDEX_STEP_BLOCKS", "uint", "0",
     "while catching up, sparkd index folds at most this many blocks into one applied snapshot (0 = all of them)",
     OFF(index_step_blocks), 0, 1000000, NULL},
    {"SPARKD_INDEX_LOG_RANGE", "uint", "2000",
     "first block range of an eth_getLogs request (halved when the node refuses a range)", OFF(index_log_range), 1,
     1000000, NULL},
    {"SPARKD_INDEX_RPC_TIMEOUT_MS", "uint", "10000", "time one JSON-RPC request of sparkd index may take, in ms",
     OFF(index_rpc_timeout_ms), 100, 600000, NULL},
    {"SPARKD_INDEX_RPC_RETRIES", "uint", "8",
     "retries (exponential backoff with jitter) of a JSON-RPC request that failed for a transient reason"
     " (not an HTTP 4xx other than 408 and 429)",
     OFF(index_rpc_retries), 0, 100, NULL},
    {"SPARKD_READY_MAX_LAG_BLOCKS", "uint", "0",
     "/readyz fails while an indexed chain's applied block lags its head by more than this (0 = off)",
     OFF(ready_max_lag_blocks), 0, 100000000ull, NULL},
    {"SPARKD_HEAD_TIMEOUT_MS", "uint", "10000",
     "a request's line and headers must all arrive within this many ms of the connection opening (or of the"
     " request line, on a kept-alive connection), and a body then at 1 byte per ms past that much again; slower"
     " connections are closed",
     OFF(head_timeout_ms), 100, 3600000, NULL},
    {"SPARKD_HEALTH_PORT", "uint", "0",
     "a second port on SPARKD_LISTEN's host serving only /healthz, /readyz and /metrics (0 = off)", OFF(health_port), 0,
     65535, NULL},
    {"SPARKD_HEAVY_CONCURRENCY", "uint", "",
     "heavy computations (the ops risk routes) running at once; more wait, then get 503 busy "
     "(empty = half of SPARKD_THREADS, at least 1)",
     OFF(heavy_concurrency), 1, 1024, NULL},
    {"SPARKD_HEAVY_WAIT_MS", "uint", "500",
     "a heavy request finding every place taken waits this many ms for one before 503 busy (0 = refuse at once)",
     OFF(heavy_wait_ms), 0, 60000, NULL},
};
const size_t util_config_table_len = sizeof util_config_table / sizeof util_config_table[0];

static bool parse_uint(const char *s, unsigned long long *out) {
  if (*s < '0' || *s > '9') return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

static bool parse_hostport(const char *s, struct util_config *cfg, char *why, size_t why_len) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s) {
    snprintf(why, why_len, "must be host:port");
    return false;
  }
  const char *host = s;
  size_t hlen = (size_t)(colon - s);
  if (host[0] == '[') { /* [::1]:8080 */
    if (hlen < 3 || host[hlen - 1] != ']') {
      snprintf(why, why_len, "must be host:port");
      return false;
    }
    host++;
    hlen -= 2;
  }
  if (hlen >= sizeof cfg->listen_host) {
    snprintf(why, why_len, "host is too long");
    return false;
  }
  unsigned long long port;
  if (!parse_uint(colon + 1, &port) || port > 65535) {
    snprintf(why, why_len, "port must be a number from 0 to 65535");
    return false;
  }
  memcpy(cfg->listen_host, host, hlen);
  cfg->listen_host[hlen] = 0;
  cfg->listen_port = (unsigned)port;
  return true;
}

static bool apply(const struct util_config_entry *e, const char *val, struct util_config *cfg, char *why,
                  size_t why_len) {
  char *base = (char *)cfg;
  if (strcmp(e->type, "hostport") == 0) return parse_hostport(val, cfg, why, why_len);
  if (strcmp(e->type, "string") == 0) {
    if (strlen(val) >= e->size) {
      snprintf(why, why_len, "longer than %zu bytes", e->size - 1);
      return false;
    }
    strcpy(base + e->offset, val);
    return true;
  }
  if (strcmp(e->type, "uint") == 0) {
    unsigned long long v;
    if (!parse_uint(val, &v)) {
      snprintf(why, why_len, "must be a whole number");
      return false;
    }
    if (v < e->lo || v > e->hi) {
      snprintf(why, why_len, "must be between %llu and %llu", e->lo, e->hi);
      return false;
    }
    if (e->size == sizeof(unsigned))
      *(unsigned *)(base + e->offset) = (unsigned)v;
    else
      *(size_t *)(base + e->offset) = (size_t)v;
    return true;
  }
  /* enum */
  for (int i = 0; e->choices[i]; i++)
    if (strcmp(val, e->choices[i]) == 0) {
      *(int *)(base + e->offset) = i;
      return true;
    }
  {
    size_t n = (size_t)snprintf(why, why_len, "must be one of");
    for (int i = 0; e->choices[i] && n < why_len; i++)
      n += (size_t)snprintf(why + n, why_len - n, "%s %s", i ? "," : "", e->choices[i]);
  }
  return false;
}

bool util_config_load(struct util_config *cfg, util_env_lookup lookup, void *ctx, char *err, size_t err_len) {
  memset(cfg, 0, sizeof *cfg);
  for (size_t i = 0; i < util_config_table_len; i++) {
    const struct util_config_entry *e = &util_config_table[i];
    const char *val = lookup(e->env, ctx);
    if (!val) val = e->def;
    if (*val == 0 && *e->def == 0 && strcmp(e->type, "uint") == 0) continue; /* computed default below */
    char why[256];
    if (!apply(e, val, cfg, why, sizeof why)) {
      snprintf(err, err_len, "%s=\"%s\": %s", e->env, val, why);
      return false;
    }
  }
  if (cfg->threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = n > 0 && n <= 1024 ? (unsigned)n : 2;
  }
  /* the rest of the worker threads stay free for the cheap routes however many heavy requests come */
  if (cfg->heavy_concurrency == 0) cfg->heavy_concurrency = cfg->threads > 1 ? cfg->threads / 2 : 1;
  if (cfg->health_threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->health_threads = n > 0 && n <= 16 ? (unsigned)n : n > 16 ? 16 : 2;
  }
  if (cfg->max_connections == 0) {
    /* Every connection holds a descriptor, and past the open-file limit accept() fails and so
     * does everything else that opens one; the reserve keeps room for what else holds files: a
     * database connection, an epoll and a wake-up descriptor per thread, the listeners, logs,
     * webhook deliveries. */
    struct rlimit rl;
    unsigned long long files = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 65536;
    unsigned long long reserve = 64 + 4ull * cfg->threads;
    unsigned long long n = files > reserve ? files - reserve : 0;
    if (n > 1000000) n = 1000000;
    cfg->max_connections = n > cfg->threads ? (unsigned)n : cfg->threads;
  }
  if (cfg->max_connections < cfg->threads) { /* libmicrohttpd gives each thread an equal share */
    snprintf(err, err_len, "SPARKD_MAX_CONNECTIONS=\"%u\": must be at least SPARKD_THREADS (%u)", cfg->max_connections,
             cfg->threads);
    return false;
  }
  return true;
}

static const char *env_lookup(const char *name, void *ctx) {
  (void)ctx;
  return getenv(name);
}

bool util_config_from_env(struct util_config *cfg, char *err, size_t err_len) {
  return util_config_load(cfg, env_lookup, NULL, err, err_len);
}
