/* `sparkd.snapshot/1` (docs/snapshot.md): parsing one snapshot JSON into typed structs and
 * validating it, with every problem named by its JSON path. Pure: no database. Shared by
 * `sparkd import` and (later) POST /v1/admin/snapshots. Checks that need the database (assets
 * "already known for the chain", block order) are done by db_snapshot_apply. */
#ifndef SPARKD_CHAIN_SNAPSHOT_H
#define SPARKD_CHAIN_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/reserve.h"
#include "risk/u256.h"

#define CHAIN_SNAPSHOT_FORMAT "sparkd.snapshot/1"
#define CHAIN_SNAPSHOT_MAX_ERRORS 100
#define CHAIN_SNAPSHOT_ERR_LEN 256
#define CHAIN_SNAPSHOT_TEXT_MAX 128 /* symbols, names, labels, ids (bytes incl. NUL) */

/* Problems found, each "$.path: message"; at most CHAIN_SNAPSHOT_MAX_ERRORS are kept. */
struct chain_snapshot_errors {
  unsigned n;       /* kept */
  unsigned dropped; /* found beyond the cap */
  char msg[CHAIN_SNAPSHOT_MAX_ERRORS][CHAIN_SNAPSHOT_ERR_LEN];
};
/* Adds one "path: message" line (printf-style message). */
void chain_snapshot_error(struct chain_snapshot_errors *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef char chain_addr[43]; /* "0x" + 40 lowercase hex */

struct chain_snap_asset {
  chain_addr address;
  char symbol[CHAIN_SNAPSHOT_TEXT_MAX];
  char name[CHAIN_SNAPSHOT_TEXT_MAX];
  bool has_name;
  uint32_t decimals;
};

enum chain_irm_kind {
  CHAIN_IRM_DEFAULT,
  CHAIN_IRM_VARIABLE_BORROW,
  CHAIN_IRM_RATE_TARGET_BASE,
  CHAIN_IRM_RATE_TARGET_KINK
};
enum chain_rate_source_kind { CHAIN_SRC_SSR, CHAIN_SRC_POT, CHAIN_SRC_CAPPED_FALLBACK, CHAIN_SRC_ORACLE };
extern const char *const chain_irm_kind_names[];         /* "default", ... in enum order */
extern const char *const chain_rate_source_kind_names[]; /* "ssr", ... in enum order */

struct chain_snap_irm {
  chain_addr address;
  enum chain_irm_kind kind;
  u256 optimal_usage_ratio, base_variable_borrow_rate, variable_rate_slope1, variable_rate_slope2;
  bool has_spread;
  bool spread_negative; /* spread = -spread_abs when set */
  u256 spread_abs;
  char spread_text[U256_DEC_MAX + 2]; /* as given, canonical decimal */
  bool has_source;
  struct {
    enum chain_rate_source_kind kind;
    chain_addr address;
    u256 apr;
    uint32_t decimals;
    bool has_bounds; /* capped_fallback */
    u256 lower_bound, upper_bound, default_rate;
  } source;
};

struct chain_snap_reserve {
  chain_addr asset;
  uint32_t id;
  u256 configuration;
  struct risk_reserve_config cfg; /* decoded */
  u256 liquidity_index, variable_borrow_index, current_liquidity_rate, current_variable_borrow_rate;
  uint64_t last_update_timestamp;
  chain_addr a_token, variable_debt_token;
  u256 a_token_scaled_total_supply, variable_debt_scaled_total_supply;
  u256 accrued_to_treasury, isolation_mode_total_debt, available_liquidity;
  struct chain_snap_irm irm;
};

struct chain_snap_emode {
  uint32_t id, ltv, liquidation_threshold, liquidation_bonus;
  chain_addr price_source;
  char label[CHAIN_SNAPSHOT_TEXT_MAX];
};

struct chain_snap_price {
  chain_addr asset;
  u256 price;
  chain_addr source;
  uint64_t updated_at;
};

struct chain_snap_position {
  chain_addr asset;
  u256 scaled_a_token_balance, scaled_variable_debt;
  bool collateral;
  uint32_t json_index; /* index in the input's positions array (zero positions are dropped) */
};

struct chain_snap_account {
  chain_addr address;
  uint32_t emode_category;
  uint32_t n_positions; /* positions with both balances zero are dropped */
  struct chain_snap_position *positions;
};

enum chain_vault_kind { CHAIN_VAULT_SDAI, CHAIN_VAULT_SUSDS, CHAIN_VAULT_SPARK_V2 };
extern const char *const chain_vault_kind_names[];

struct chain_snap_vault {
  enum chain_vault_kind kind;
  chain_addr address, asset;
  char symbol[CHAIN_SNAPSHOT_TEXT_MAX];
  uint32_t decimals;
  u256 chi;
  uint64_t rho;
  u256 rate;
  bool has_min_rate, has_max_rate, has_deposit_cap, has_idle_assets, has_intents;
  u256 min_rate, max_rate, deposit_cap, total_supply, idle_assets;
  struct {
    chain_addr address;
    u256 min_assets, max_assets;
    uint64_t max_deadline_seconds;
  } intents;
};

struct chain_snap_venue {
  char id[CHAIN_SNAPSHOT_TEXT_MAX];
  char kind[CHAIN_SNAPSHOT_TEXT_MAX];
  chain_addr address, asset;
  char label[CHAIN_SNAPSHOT_TEXT_MAX];
};
struct chain_snap_allocation {
  char venue[CHAIN_SNAPSHOT_TEXT_MAX];
  chain_addr asset;
  u256 amount, apr;
};
struct chain_snap_idle {
  chain_addr asset;
  u256 amount;
};
struct chain_snap_rate_limit {
  char key[67]; /* "0x" + 64 lowercase hex */
  char name[CHAIN_SNAPSHOT_TEXT_MAX];
  bool has_asset, has_target;
  chain_addr asset, target;
  u256 max_amount, slope, last_amount;
  uint64_t last_updated;
};
struct chain_snap_oracle {
  chain_addr address;
  char label[CHAIN_SNAPSHOT_TEXT_MAX];
  char threshold[U256_DEC_MAX + 2];     /* int256, canonical decimal */
  char latest_answer[U256_DEC_MAX + 2]; /* int256, canonical decimal */
  uint32_t decimals;
};

/* One validated snapshot. Arrays are NULL with n = 0 when the section is absent; has_<section>
 * tells "absent" (no change) from "present and empty". */
struct chain_snapshot {
  uint64_t chain_id;
  uint64_t block_number;
  char block_hash[67];
  uint64_t block_timestamp;

  bool has_assets, has_reserves, has_emode, has_prices, has_accounts, has_vaults, has_ll, has_kill_switch;
  size_t n_assets, n_reserves, n_emode, n_prices, n_accounts, n_vaults;
  struct chain_snap_asset *assets;
  struct chain_snap_reserve *reserves;
  struct chain_snap_emode *emode;
  struct chain_snap_price *prices;
  bool accounts_full; /* accounts_mode "full" (else "delta") */
  struct chain_snap_account *accounts;
  struct chain_snap_vault *vaults;

  /* liquidity_layer */
  chain_addr alm_proxy;
  size_t n_venues, n_allocations, n_idle, n_rate_limits;
  struct chain_snap_venue *venues;
  struct chain_snap_allocation *allocations;
  struct chain_snap_idle *idle;
  struct chain_snap_rate_limit *rate_limits;

  /* kill_switch */
  chain_addr ks_address;
  bool ks_triggered;
  size_t n_oracles;
  struct chain_snap_oracle *oracles;

  struct chain_snap_position *position_pool; /* one allocation behind every account's positions */
  /* A streamed snapshot (chain_snapshot_stream_next) keeps its accounts out of memory: accounts is
   * NULL, n_accounts counts them, and they are read back in order from this spool (a temporary
   * file). Read accounts through chain_snapshot_accounts_begin/next, which serve both kinds. */
  struct chain_snap_spool *spool;
};

/* Returns a new snapshot parsed from one JSON text (len bytes), or NULL with every problem added
 * to errs (which the caller zeroes first). Duplicate keys, unknown fields, out-of-range integers
 * and the rest of the spec's validation (docs/snapshot.md) are reported by JSON path. */
struct chain_snapshot *chain_snapshot_parse(const char *text, size_t len, struct chain_snapshot_errors *errs);
/* Frees a snapshot from chain_snapshot_parse (NULL is fine). */
void chain_snapshot_free(struct chain_snapshot *s);

/* Splits an input into snapshots: the whole text when it is not NDJSON (its first non-blank line
 * is not a complete object "{...}"), else one per non-blank line. */
struct chain_snapshot_reader {
  const char *text;
  size_t len, pos;
  unsigned line; /* 1-based line of the piece last returned */
  bool ndjson;
};
/* Starts reading text[0..len). */
void chain_snapshot_reader_init(struct chain_snapshot_reader *r, const char *text, size_t len);
/* Returns true with the next piece in *start and *plen (and its line in r->line), false at the end. */
bool chain_snapshot_reader_next(struct chain_snapshot_reader *r, const char **start, size_t *plen);

/* ---- accounts, in memory or spooled ---- */

/* Reads a snapshot's accounts in document order, wherever they are kept. */
struct chain_snap_account_iter {
  const struct chain_snapshot *s;
  size_t i;
  bool failed; /* a spool read failed (next returned NULL early) */
  struct chain_snap_account acc;
  struct chain_snap_position *pos;
  size_t cap;
  void *file;      /* the spool file read (FILE *), or NULL */
  uint32_t *order; /* in-memory accounts in address order (their indexes), or NULL */
};
/* Starts at the first account; returns false when the spool cannot be rewound. */
bool chain_snapshot_accounts_begin(const struct chain_snapshot *s, struct chain_snap_account_iter *it);
/* Starts at the first account in address order (bytewise, as COLLATE "C"), for bulk writes whose
 * index inserts are then sequential; the addresses must be valid and distinct (a validated
 * snapshot's). A spool is copied once in that order to a second temporary file, kept with it.
 * Returns false when memory or the temporary file fails. */
bool chain_snapshot_accounts_begin_sorted(const struct chain_snapshot *s, struct chain_snap_account_iter *it);
/* Returns the next account (valid until the next call), or NULL at the end or on failure (it->failed). */
const struct chain_snap_account *chain_snapshot_accounts_next(struct chain_snap_account_iter *it);
/* Frees what the iterator holds. */
void chain_snapshot_accounts_end(struct chain_snap_account_iter *it);

/* ---- streaming ---- */

/* Snapshots parsed as they are read (chain/snapshot_stream.c), with the same splitting as
 * chain_snapshot_reader (one document, or NDJSON) and the same results and problems, word for
 * word, as chain_snapshot_parse on each piece. Memory does not grow with the document: each
 * element of $.accounts is parsed on its own as it arrives, validated, and spooled to a temporary
 * file; only a short entry per account (for the duplicate check) stays in memory. */
typedef size_t (*chain_snapshot_read_fn)(void *buf, size_t cap, void *arg); /* 0 at the end, (size_t)-1 failed */
struct chain_snapshot_stream;
/* Returns a stream reading through read(arg), or NULL (out of memory). */
struct chain_snapshot_stream *chain_snapshot_stream_new(chain_snapshot_read_fn read, void *arg);
/* Reads the next snapshot. Returns 1 with *out set (or *out NULL with the problems in errs, which
 * the caller zeroes first), 0 at the end of the input, -1 when reading or spooling failed. */
int chain_snapshot_stream_next(struct chain_snapshot_stream *st, struct chain_snapshot **out,
                               struct chain_snapshot_errors *errs);
/* 1-based line of the piece last returned (1 for a single document). */
unsigned chain_snapshot_stream_line(const struct chain_snapshot_stream *st);
/* True once the input is known to be NDJSON. */
bool chain_snapshot_stream_ndjson(const struct chain_snapshot_stream *st);
/* Most bytes the stream's own buffers held at once (its elements, index and queues). */
size_t chain_snapshot_stream_peak_bytes(const struct chain_snapshot_stream *st);
void chain_snapshot_stream_free(struct chain_snapshot_stream *st);

#endif
