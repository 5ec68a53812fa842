/* Configuration: one table (util/config.c) gives every entry's name, environment
 * variable, type, default and bounds (STYLE rule 12). Nothing else calls getenv. */
#ifndef SPARKD_UTIL_CONFIG_H
#define SPARKD_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum util_log_format { UTIL_LOG_TEXT, UTIL_LOG_JSON };
enum util_log_level { UTIL_LOG_DEBUG, UTIL_LOG_INFO, UTIL_LOG_WARN, UTIL_LOG_ERROR };
enum util_migrate_mode { UTIL_MIGRATE_CHECK, UTIL_MIGRATE_AUTO };
enum util_workers_mode { UTIL_WORKERS_LEASE, UTIL_WORKERS_OFF };

struct util_config {
  char database_url[1024];             /* SPARKD_DATABASE_URL */
  char listen_host[256];               /* SPARKD_LISTEN host part */
  unsigned listen_port;                /* SPARKD_LISTEN port part */
  unsigned threads;                    /* SPARKD_THREADS */
  enum util_log_level log_level;       /* SPARKD_LOG_LEVEL */
  enum util_log_format log_format;     /* SPARKD_LOG_FORMAT */
  enum util_migrate_mode migrate;      /* SPARKD_MIGRATE */
  size_t max_body_bytes;               /* SPARKD_MAX_BODY_BYTES */
  char cors_origins[1024];             /* SPARKD_CORS_ORIGINS: comma-separated, "*" for any */
  unsigned db_wait_ms;                 /* SPARKD_DB_WAIT_MS: longest wait for a pooled connection */
  unsigned shutdown_grace_ms;          /* SPARKD_SHUTDOWN_GRACE_MS: in-flight requests get this long */
  unsigned connection_timeout_s;       /* SPARKD_CONNECTION_TIMEOUT_S: idle keep-alive connections close */
  unsigned cache_max_age_s;            /* SPARKD_CACHE_MAX_AGE_S: Cache-Control max-age of cached state */
  char signing_key_file[1024];         /* SPARKD_SIGNING_KEY_FILE: secp256k1 key signing LTV records */
  char webhook_ca_file[1024];          /* SPARKD_WEBHOOK_CA_FILE: CAs for https webhooks; empty = the system's */
  char webhook_allow_private[1024];    /* SPARKD_WEBHOOK_ALLOW_PRIVATE: networks webhooks may reach though not public */
  unsigned ltv_history_min_bps;        /* SPARKD_LTV_HISTORY_MIN_BPS: LTV move that appends to history */
  unsigned account_cache_max;          /* SPARKD_ACCOUNT_CACHE_MAX: accounts per chain held in the state cache */
  unsigned account_cache_incremental;  /* SPARKD_ACCOUNT_CACHE_INCREMENTAL: 1 = re-read only changed accounts */
  unsigned health_threads;             /* SPARKD_HEALTH_THREADS: threads computing a generation's health factors */
  unsigned ltv_sweep_s;                /* SPARKD_LTV_SWEEP_S: longest time between full LTV passes */
  unsigned idempotency_keep_h;         /* SPARKD_IDEMPOTENCY_KEEP_H: replay window of Idempotency-Key rows */
  unsigned auth_fail_burst;            /* SPARKD_AUTH_FAIL_BURST: failed key checks per address before 429 */
  unsigned auth_fail_refill_ms;        /* SPARKD_AUTH_FAIL_REFILL_MS: one failed check given back per interval */
  unsigned max_connections;            /* SPARKD_MAX_CONNECTIONS: open HTTP connections in all */
  unsigned max_connections_per_client; /* SPARKD_MAX_CONNECTIONS_PER_CLIENT: per client address; 0 = no bound */
  char database_read_url[1024];        /* SPARKD_DATABASE_READ_URL: a streaming replica; empty = the primary */
  unsigned read_replay_wait_ms;        /* SPARKD_READ_REPLAY_WAIT_MS: wait for the replica to catch up */
  enum util_workers_mode workers;      /* SPARKD_WORKERS: lease (one holder runs them) or off */
  unsigned oracle_stale_s;             /* SPARKD_ORACLE_STALE_SECONDS: oracle age flagged stale */
  char rpc_url[1024];                  /* SPARKD_RPC_URL: the EVM JSON-RPC node `sparkd index` reads */
  char network_file[1024];             /* SPARKD_NETWORK_FILE: the sparkd.network/1 file naming the contracts */
  unsigned index_confirmations;        /* SPARKD_INDEX_CONFIRMATIONS: serve head - N */
  unsigned index_poll_ms;              /* SPARKD_INDEX_POLL_MS: wait between polls for a new head */
  unsigned index_batch_size;           /* SPARKD_INDEX_BATCH_SIZE: calls per JSON-RPC batch request */
  unsigned index_step_blocks;          /* SPARKD_INDEX_STEP_BLOCKS: most blocks per applied snapshot */
  unsigned index_log_range;            /* SPARKD_INDEX_LOG_RANGE: first eth_getLogs block range */
  unsigned index_rpc_timeout_ms;       /* SPARKD_INDEX_RPC_TIMEOUT_MS: one JSON-RPC request */
  unsigned index_rpc_retries;          /* SPARKD_INDEX_RPC_RETRIES: retries of a failed request */
  unsigned ready_max_lag_blocks;       /* SPARKD_READY_MAX_LAG_BLOCKS: /readyz lag bound; 0 = off */
  unsigned head_timeout_ms;            /* SPARKD_HEAD_TIMEOUT_MS: a request head must arrive within this */
  unsigned health_port;                /* SPARKD_HEALTH_PORT: probes-only listener; 0 = off */
  unsigned heavy_concurrency;          /* SPARKD_HEAVY_CONCURRENCY: heavy computations running at once */
  unsigned heavy_wait_ms;              /* SPARKD_HEAVY_WAIT_MS: a heavy request waits this long for a place */
};

/* One row of the table; exported for the env.example test and `sparkd serve --help`. */
struct util_config_entry {
  const char *env;            /* SPARKD_... */
  const char *type;           /* "string", "uint", "enum", "hostport" */
  const char *def;            /* default as text ("" = computed or empty) */
  const char *help;           /* one line */
  size_t offset, size;        /* the field in struct util_config (not used by "hostport") */
  unsigned long long lo, hi;  /* "uint" bounds */
  const char *const *choices; /* "enum": names in enum order, NULL-terminated */
};
extern const struct util_config_entry util_config_table[];
extern const size_t util_config_table_len;

/* Returns true and fills *cfg from `lookup` (getenv in the service, a fake in tests); on a bad
 * value returns false with one line naming the variable and the problem in err. */
typedef const char *(*util_env_lookup)(const char *name, void *ctx);
bool util_config_load(struct util_config *cfg, util_env_lookup lookup, void *ctx, char *err, size_t err_len);
/* Returns true after loading from the process environment; err as above. */
bool util_config_from_env(struct util_config *cfg, char *err, size_t err_len);

#endif
