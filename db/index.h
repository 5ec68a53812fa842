/* The indexer's rows: applied blocks (their parent hash is written with the block by
 * db_snapshot_apply_block), the rewind to a common ancestor,
 * and what the indexer saw (head, applied block, RPC counters) for /metrics and /readyz. The
 * snapshots themselves go through db_snapshot_apply like any import. */
#ifndef SPARKD_DB_INDEX_H
#define SPARKD_DB_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* Returns DB_OK with *have and the highest applied block of chain_id at or below `at` (its number
 * and hash). */
db_status db_index_applied_at_or_below(db_pool *pool, uint64_t chain_id, uint64_t at, bool *have, uint64_t *number,
                                       char hash[67]);
/* In one transaction under the import lock: removes the applied blocks above `number` (all of
 * them when have_number is false), the time-series rows above it, and the accounts written above
 * it with their positions (remembered as pending until read again); sets the chain's current
 * block back to `number`; records the change for the state cache (account_change_heads and
 * account_changes of this chain only: the removed addresses, or a full read of the chain when
 * have_number is false), marking the transaction as the import's so that the triggers of
 * migration 0030 do not count it as every chain's; NOTIFY sparkd_state.
 * Returns DB_OK with the removed accounts' addresses (malloc'd, *n of them). */
db_status db_index_rewind(db_pool *pool, uint64_t chain_id, bool have_number, uint64_t number, char (**accounts)[43],
                          size_t *n);

/* Returns DB_OK with the accounts rewinds removed that no applied block has read again yet
 * (malloc'd, *n of them). */
db_status db_index_pending(db_pool *pool, uint64_t chain_id, char (**accounts)[43], size_t *n);
/* Returns the status of forgetting them once a block that read them is applied. */
db_status db_index_pending_clear(db_pool *pool, uint64_t chain_id);

struct db_index_rpc_count {
  const char *method;
  uint64_t calls, errors;
};
/* Returns the status of storing the indexer's view: the head (when have_head), the applied block
 * (when have_applied), and RPC calls and errors by method made since the last report (added to
 * the stored counters, so they survive restarts). */
db_status db_index_progress(db_pool *pool, uint64_t chain_id, bool have_head, uint64_t head, uint64_t head_ts,
                            bool have_applied, uint64_t applied, uint64_t applied_ts,
                            const struct db_index_rpc_count *rpc, size_t n_rpc);

/* One chain's indexer status, for /metrics. */
struct db_index_status {
  int64_t chain_id;
  bool has_head, has_applied;
  int64_t head_block, head_timestamp, applied_block, applied_timestamp;
  double head_seen_age_s, applied_age_s; /* seconds since each was recorded */
};
typedef db_status (*db_index_status_fn)(const struct db_index_status *s, void *arg);
/* Returns the status of calling fn for every chain the indexer reported on. */
db_status db_index_status_list(db_conn *conn, db_index_status_fn fn, void *arg);
typedef db_status (*db_index_rpc_fn)(int64_t chain_id, const char *method, int64_t calls, int64_t errors, void *arg);
/* Returns the status of calling fn for every (chain, method) RPC counter. */
db_status db_index_rpc_list(db_conn *conn, db_index_rpc_fn fn, void *arg);

#endif
