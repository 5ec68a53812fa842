/* Applying a validated `sparkd.snapshot/1` snapshot (service/snapshot.h) to the database in one
 * transaction. Shared by `sparkd import` and POST /v1/admin/snapshots. */
#ifndef SPARKD_DB_SNAPSHOT_H
#define SPARKD_DB_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain/snapshot.h"
#include "db/db.h"

enum db_snapshot_outcome {
  DB_SNAPSHOT_APPLIED = 0,
  DB_SNAPSHOT_SAME_BLOCK, /* this (chain, block) was the last one imported: nothing changed */
  DB_SNAPSHOT_OLDER,      /* older than the chain's last block and allow_older not set: nothing changed */
  DB_SNAPSHOT_INVALID,    /* a check needing the database failed (listed in errs): nothing changed */
};

struct db_snapshot_result {
  enum db_snapshot_outcome outcome;
  bool had_previous;       /* the chain had been imported before */
  uint64_t previous_block; /* its last block then */
  size_t accounts_written; /* accounts (with at least one position) written */
  size_t positions_written;
  size_t accounts_removed; /* deleted by full mode, or by delta for accounts without positions */
  size_t hf_computed;      /* written accounts whose health factor was computed */
  size_t hf_null;          /* written accounts stored with a NULL health factor (missing price or reserve) */
};

/* Returns a short lowercase name for an outcome. */
const char *db_snapshot_outcome_name(enum db_snapshot_outcome o);

/* Applies s in one transaction under a per-chain advisory lock, with NOTIFY sparkd_state
 * '<chain>:<block>' delivered at commit. Returns DB_OK with res->outcome telling what happened
 * (DB_SNAPSHOT_INVALID: problems added to errs, nothing written), or the database failure. */
db_status db_snapshot_apply(db_pool *pool, const struct chain_snapshot *s, bool allow_older,
                            struct db_snapshot_result *res, struct chain_snapshot_errors *errs);
/* The same, recording parent_hash (a 0x-prefixed 32-byte hash, or NULL) with the block in the same
 * transaction: the indexer's reorg walk relies on every applied block having it. */
db_status db_snapshot_apply_block(db_pool *pool, const struct chain_snapshot *s, bool allow_older,
                                  const char *parent_hash, struct db_snapshot_result *res,
                                  struct chain_snapshot_errors *errs);

#endif
