/* The indexer's rows (db/index.h). */
#include "db/index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/internal.h"
#include "util/dec.h"

const struct db_statement db_index_statements[] = {
    {"index_applied_below",
     "SELECT block_number, block_hash FROM chain_blocks WHERE chain_id = $1::bigint AND block_number <= $2::bigint"
     " ORDER BY block_number DESC LIMIT 1"},
    /* the same lock as an import of this chain: a rewind never interleaves with an apply */
    {"index_lock",
     "SELECT pg_advisory_xact_lock(('x' || substr(md5('sparkd.import:' || $1::text), 1, 16))::bit(64)::bigint)"},
    /* Marks the transaction as the import's for the triggers of migration 0030 (as
       snap_mark_import): the rewind records its own change below, for its chain only, instead of
       making every chain's next generation read every account (and holding every chain's change
       head row until it commits, which made other chains' imports wait). */
    {"index_mark_import", "SELECT set_config('sparkd.import', 'on', true)"},
    /* The rewind's own record for the state cache (migration 0015, as snap_changes_head): one more
       change of this chain, at the block the rewind left it at (the chains row, just set); a full
       read of this chain ($2) when it removed every account, else the removed addresses ($3). */
    {"index_changes_head",
     "UPDATE account_change_heads h SET seq = h.seq + 1, block_number = c.block_number,"
     " block_timestamp = c.block_timestamp, full_seq = CASE WHEN $2::bool THEN h.seq + 1 ELSE h.full_seq END,"
     " kept_from = greatest(h.kept_from, h.seq + 1 - 1023) FROM chains c"
     " WHERE h.chain_id = $1::bigint AND c.chain_id = $1::bigint RETURNING h.seq"},
    {"index_changes_insert", "INSERT INTO account_changes (chain_id, seq, address)"
                             " SELECT $1::bigint, $2::bigint, a FROM unnest($3::text[]) a ON CONFLICT DO NOTHING"},
    {"index_changes_prune", "DELETE FROM account_changes WHERE chain_id = $1::bigint AND seq < $2::bigint - 1023"},
    {"index_rewind_positions",
     "DELETE FROM positions p USING accounts a WHERE p.chain_id = $1::bigint AND a.chain_id = $1::bigint"
     " AND a.address = p.account AND a.block_number > $2::bigint"},
    {"index_rewind_accounts",
     "WITH d AS (DELETE FROM accounts WHERE chain_id = $1::bigint AND block_number > $2::bigint RETURNING address),"
     " p AS (INSERT INTO index_pending_accounts (chain_id, address) SELECT $1::bigint, address FROM d"
     " ON CONFLICT DO NOTHING) SELECT address FROM d"},
    {"index_pending_list", "SELECT address FROM index_pending_accounts WHERE chain_id = $1::bigint ORDER BY address"},
    {"index_pending_clear", "DELETE FROM index_pending_accounts WHERE chain_id = $1::bigint"},
    {"index_rewind_reserve_series",
     "DELETE FROM reserve_state_series WHERE chain_id = $1::bigint AND block_number > $2::bigint"},
    {"index_rewind_vault_series",
     "DELETE FROM vault_state_series WHERE chain_id = $1::bigint AND block_number > $2::bigint"},
    {"index_rewind_price_series", "DELETE FROM price_series WHERE chain_id = $1::bigint AND block_number > $2::bigint"},
    {"index_rewind_rate_limit_series",
     "DELETE FROM rate_limit_series WHERE chain_id = $1::bigint AND block_number > $2::bigint"},
    {"index_rewind_blocks", "DELETE FROM chain_blocks WHERE chain_id = $1::bigint AND block_number > $2::bigint"},
    /* the chain's current block becomes the ancestor; with none left, block 0 and a zero hash, so
       that the next applied block is newer */
    {"index_rewind_chain",
     "UPDATE chains c SET block_number = COALESCE(b.block_number, 0),"
     " block_hash = COALESCE(b.block_hash, '0x0000000000000000000000000000000000000000000000000000000000000000'),"
     " block_timestamp = COALESCE(b.block_timestamp, 0), imported_at = now()"
     " FROM (SELECT 1) one LEFT JOIN chain_blocks b ON b.chain_id = $1::bigint AND b.block_number = $2::bigint"
     " WHERE c.chain_id = $1::bigint"},
    {"index_notify", "SELECT pg_notify('sparkd_state', $1)"},
    {"index_status_head",
     "INSERT INTO index_status (chain_id, head_block, head_timestamp, head_seen_at) VALUES ($1, $2, $3, now())"
     " ON CONFLICT (chain_id) DO UPDATE SET head_block = EXCLUDED.head_block,"
     " head_timestamp = EXCLUDED.head_timestamp, head_seen_at = now(), updated_at = now()"},
    {"index_status_applied",
     "INSERT INTO index_status (chain_id, applied_block, applied_timestamp, applied_at) VALUES ($1, $2, $3, now())"
     " ON CONFLICT (chain_id) DO UPDATE SET applied_at = CASE WHEN index_status.applied_block"
     " IS DISTINCT FROM EXCLUDED.applied_block THEN now() ELSE index_status.applied_at END,"
     " applied_block = EXCLUDED.applied_block, applied_timestamp = EXCLUDED.applied_timestamp, updated_at = now()"},
    {"index_rpc_add", "INSERT INTO index_rpc_calls (chain_id, method, calls, errors) VALUES ($1, $2, $3, $4)"
                      " ON CONFLICT (chain_id, method) DO UPDATE SET calls = index_rpc_calls.calls + EXCLUDED.calls,"
                      " errors = index_rpc_calls.errors + EXCLUDED.errors"},
    {"index_status_list", "SELECT chain_id, head_block, head_timestamp, applied_block, applied_timestamp,"
                          " COALESCE(EXTRACT(EPOCH FROM now() - head_seen_at), 0)::float8 AS head_age,"
                          " COALESCE(EXTRACT(EPOCH FROM now() - applied_at), 0)::float8 AS applied_age"
                          " FROM index_status ORDER BY chain_id"},
    {"index_rpc_list", "SELECT chain_id, method, calls, errors FROM index_rpc_calls ORDER BY chain_id, method"},
};
DB_STATEMENTS_COUNT(index);

struct applied {
  bool *have;
  uint64_t *number;
  char *hash;
};

static db_status applied_row(const db_row *row, void *arg) {
  struct applied *a = arg;
  int64_t n;
  const struct db_col cols[] = {{"block_number", DB_COL_INT64, &n, 0, NULL},
                                {"block_hash", DB_COL_TEXT, a->hash, 67, NULL}};
  db_status st = db_row_get(row, cols, 2);
  if (st == DB_OK) {
    *a->have = true;
    *a->number = (uint64_t)n;
  }
  return st;
}

struct applied_arg {
  uint64_t chain, at;
  struct applied a;
};

static db_status applied_txn(db_conn *c, void *arg) {
  struct applied_arg *x = arg;
  char p_chain[24], p_at[24];
  util_i64_dec((int64_t)x->chain, p_chain);
  util_i64_dec(x->at > INT64_MAX ? INT64_MAX : (int64_t)x->at, p_at);
  const char *params[] = {p_chain, p_at};
  *x->a.have = false;
  return db_query_prepared(c, "index_applied_below", 2, params, applied_row, &x->a, NULL);
}

db_status db_index_applied_at_or_below(db_pool *pool, uint64_t chain_id, uint64_t at, bool *have, uint64_t *number,
                                       char hash[67]) {
  struct applied_arg x = {chain_id, at, {have, number, hash}};
  return db_run_txn(pool, applied_txn, &x);
}

struct rewind_arg {
  uint64_t chain;
  bool have;
  uint64_t number;
  char (*acc)[43];
  size_t n, cap;
};

static db_status removed_row(const db_row *row, void *arg) {
  struct rewind_arg *x = arg;
  const char *a = db_row_text(row, 0);
  if (!a || strlen(a) != 42) return DB_ERROR;
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 64;
    char(*v)[43] = realloc(x->acc, cap * sizeof *v);
    if (!v) return DB_ERROR;
    x->acc = v;
    x->cap = cap;
  }
  memcpy(x->acc[x->n++], a, 43);
  return DB_OK;
}

static db_status seq_row(const db_row *row, void *arg) {
  snprintf(arg, 24, "%s", db_row_text(row, 0));
  return DB_OK;
}

/* Records the rewind's change of its chain for the state cache's incremental rebuild: the removed
 * accounts (a rewind to before every block, which removes them all, asks for a full read of this
 * chain instead of listing each). A chain without a change head yet gets none: the cache reads
 * every account of a chain it has no record of. */
static db_status record_changes(db_conn *c, const struct rewind_arg *x, const char *p_chain) {
  char seq[24] = "";
  const char *hp[] = {p_chain, x->have ? "false" : "true"};
  db_status st = db_query_prepared(c, "index_changes_head", 2, hp, seq_row, seq, NULL);
  if (st != DB_OK || !seq[0]) return st;
  if (x->have && x->n) {
    char *arr = malloc(x->n * 43 + 2), *p = arr;
    if (!arr) return DB_ERROR;
    *p++ = '{';
    for (size_t i = 0; i < x->n; i++) {
      if (i) *p++ = ',';
      memcpy(p, x->acc[i], 42);
      p += 42;
    }
    *p++ = '}';
    *p = '\0';
    const char *ip[] = {p_chain, seq, arr};
    st = db_exec_prepared(c, "index_changes_insert", 3, ip, NULL);
    free(arr);
  }
  const char *pp[] = {p_chain, seq};
  if (st == DB_OK) st = db_exec_prepared(c, "index_changes_prune", 2, pp, NULL);
  return st;
}

static db_status rewind_txn(db_conn *c, void *arg) {
  struct rewind_arg *x = arg;
  x->n = 0; /* a retried transaction starts over */
  char p_chain[24], p_n[24];
  util_i64_dec((int64_t)x->chain, p_chain);
  util_i64_dec(x->have ? (int64_t)x->number : -1, p_n);
  const char *params[] = {p_chain, p_n};
  static const char *const steps[] = {"index_rewind_positions",         "index_rewind_reserve_series",
                                      "index_rewind_vault_series",      "index_rewind_price_series",
                                      "index_rewind_rate_limit_series", "index_rewind_blocks"};
  db_status st = db_query_prepared(c, "index_lock", 1, params, NULL, NULL, NULL);
  if (st == DB_OK) st = db_query_prepared(c, "index_mark_import", 0, NULL, NULL, NULL, NULL);
  if (st == DB_OK) st = db_exec_prepared(c, steps[0], 2, params, NULL);
  if (st == DB_OK) st = db_query_prepared(c, "index_rewind_accounts", 2, params, removed_row, x, NULL);
  for (size_t i = 1; st == DB_OK && i < sizeof steps / sizeof steps[0]; i++)
    st = db_exec_prepared(c, steps[i], 2, params, NULL);
  if (st == DB_OK) st = db_exec_prepared(c, "index_rewind_chain", 2, params, NULL);
  if (st == DB_OK) st = record_changes(c, x, p_chain);
  if (st == DB_OK) {
    char note[64];
    snprintf(note, sizeof note, "%s:%s", p_chain, x->have ? p_n : "0");
    const char *np[] = {note};
    st = db_query_prepared(c, "index_notify", 1, np, NULL, NULL, NULL);
  }
  return st;
}

db_status db_index_rewind(db_pool *pool, uint64_t chain_id, bool have_number, uint64_t number, char (**accounts)[43],
                          size_t *n) {
  struct rewind_arg x = {.chain = chain_id, .have = have_number, .number = number};
  db_status st = db_run_txn(pool, rewind_txn, &x);
  if (st != DB_OK) {
    free(x.acc);
    *accounts = NULL;
    *n = 0;
    return st;
  }
  *accounts = x.acc;
  *n = x.n;
  return DB_OK;
}

static db_status pending_txn(db_conn *c, void *arg) {
  struct rewind_arg *x = arg;
  x->n = 0;
  char p_chain[24];
  util_i64_dec((int64_t)x->chain, p_chain);
  const char *params[] = {p_chain};
  return db_query_prepared(c, x->have ? "index_pending_clear" : "index_pending_list", 1, params,
                           x->have ? NULL : removed_row, x, NULL);
}

db_status db_index_pending(db_pool *pool, uint64_t chain_id, char (**accounts)[43], size_t *n) {
  struct rewind_arg x = {.chain = chain_id};
  db_status st = db_run_txn(pool, pending_txn, &x);
  if (st != DB_OK) {
    free(x.acc);
    x.acc = NULL;
    x.n = 0;
  }
  *accounts = x.acc;
  *n = x.n;
  return st;
}

db_status db_index_pending_clear(db_pool *pool, uint64_t chain_id) {
  struct rewind_arg x = {.chain = chain_id, .have = true};
  return db_run_txn(pool, pending_txn, &x);
}

struct progress_arg {
  uint64_t chain;
  bool have_head, have_applied;
  uint64_t head, head_ts, applied, applied_ts;
  const struct db_index_rpc_count *rpc;
  size_t n_rpc;
};

static db_status progress_txn(db_conn *c, void *arg) {
  struct progress_arg *x = arg;
  char p_chain[24], a[24], b[24];
  util_i64_dec((int64_t)x->chain, p_chain);
  db_status st = DB_OK;
  if (x->have_head) {
    util_i64_dec((int64_t)x->head, a);
    util_i64_dec((int64_t)x->head_ts, b);
    const char *p[] = {p_chain, a, b};
    st = db_exec_prepared(c, "index_status_head", 3, p, NULL);
  }
  if (st == DB_OK && x->have_applied) {
    util_i64_dec((int64_t)x->applied, a);
    util_i64_dec((int64_t)x->applied_ts, b);
    const char *p[] = {p_chain, a, b};
    st = db_exec_prepared(c, "index_status_applied", 3, p, NULL);
  }
  for (size_t i = 0; st == DB_OK && i < x->n_rpc; i++) {
    if (!x->rpc[i].calls && !x->rpc[i].errors) continue;
    util_i64_dec((int64_t)x->rpc[i].calls, a);
    util_i64_dec((int64_t)x->rpc[i].errors, b);
    const char *p[] = {p_chain, x->rpc[i].method, a, b};
    st = db_exec_prepared(c, "index_rpc_add", 4, p, NULL);
  }
  return st;
}

db_status db_index_progress(db_pool *pool, uint64_t chain_id, bool have_head, uint64_t head, uint64_t head_ts,
                            bool have_applied, uint64_t applied, uint64_t applied_ts,
                            const struct db_index_rpc_count *rpc, size_t n_rpc) {
  struct progress_arg x = {chain_id, have_head, have_applied, head, head_ts, applied, applied_ts, rpc, n_rpc};
  return db_run_txn(pool, progress_txn, &x);
}

struct status_ctx {
  db_index_status_fn fn;
  db_index_rpc_fn rfn;
  void *arg;
};

static db_status status_row(const db_row *row, void *arg) {
  struct status_ctx *x = arg;
  struct db_index_status s;
  memset(&s, 0, sizeof s);
  bool hn = false, htn = false, an = false, atn = false;
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &s.chain_id, 0, NULL},
      {"head_block", DB_COL_INT64, &s.head_block, 0, &hn},
      {"head_timestamp", DB_COL_INT64, &s.head_timestamp, 0, &htn},
      {"applied_block", DB_COL_INT64, &s.applied_block, 0, &an},
      {"applied_timestamp", DB_COL_INT64, &s.applied_timestamp, 0, &atn},
      {"head_age", DB_COL_DOUBLE, &s.head_seen_age_s, 0, NULL},
      {"applied_age", DB_COL_DOUBLE, &s.applied_age_s, 0, NULL},
  };
  db_status st = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (st != DB_OK) return st;
  s.has_head = !hn && !htn;
  s.has_applied = !an && !atn;
  return x->fn(&s, x->arg);
}

db_status db_index_status_list(db_conn *conn, db_index_status_fn fn, void *arg) {
  struct status_ctx x = {.fn = fn, .arg = arg};
  return db_query_prepared(conn, "index_status_list", 0, NULL, status_row, &x, NULL);
}

static db_status rpc_row(const db_row *row, void *arg) {
  struct status_ctx *x = arg;
  int64_t chain, calls, errors;
  char method[128];
  const struct db_col cols[] = {{"chain_id", DB_COL_INT64, &chain, 0, NULL},
                                {"method", DB_COL_TEXT, method, sizeof method, NULL},
                                {"calls", DB_COL_INT64, &calls, 0, NULL},
                                {"errors", DB_COL_INT64, &errors, 0, NULL}};
  db_status st = db_row_get(row, cols, 4);
  return st == DB_OK ? x->rfn(chain, method, calls, errors, x->arg) : st;
}

db_status db_index_rpc_list(db_conn *conn, db_index_rpc_fn fn, void *arg) {
  struct status_ctx x = {.rfn = fn, .arg = arg};
  return db_query_prepared(conn, "index_rpc_list", 0, NULL, rpc_row, &x, NULL);
}
