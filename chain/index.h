/* The indexer core: reads a SparkLend market from an EVM node (chain/rpc.h) at one block at a
 * time, pinned by block hash, and hands each applied block to the store as a `sparkd.snapshot/1`
 * document (reserves, eMode categories, prices, and a `delta` of the accounts the block range's
 * logs touched). The store is a struct of callbacks (cli/index.c fills it with db/ functions):
 * the chain room never talks to the database itself. */
#ifndef SPARKD_CHAIN_INDEX_H
#define SPARKD_CHAIN_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain/network.h"
#include "chain/rpc.h"

struct chain_index_progress {
  uint64_t chain_id;
  bool have_head;
  uint64_t head, head_timestamp; /* the node's latest block */
  bool have_applied;
  uint64_t applied, applied_timestamp;
  size_t n_stats;
  const struct chain_rpc_method_stats *stats;
};

struct chain_index_store {
  void *ctx;
  /* The highest applied block of chain_id at or below `at`: returns 0 with *have false when
   * there is none, -1 on a failure. */
  int (*applied_at_or_below)(void *ctx, uint64_t chain_id, uint64_t at, bool *have, uint64_t *number, char hash[67]);
  /* Applies one snapshot document through the import path, recording its parent hash in the same
   * transaction (never a block without it): returns 0 when applied (or already applied), -1 with a
   * message in err. */
  int (*apply)(void *ctx, const char *doc, size_t len, const char *parent_hash, char *err, size_t err_len);
  /* Removes every applied block and every row of state above `number` in one transaction
   * (rewinds everything when have_number is false); returns 0 with the addresses of the accounts
   * it removed (malloc'd, *n of them) for the indexer to read again, -1 on a failure. */
  int (*rewind)(void *ctx, uint64_t chain_id, bool have_number, uint64_t number, char (**accounts)[43], size_t *n);
  /* Returns 0 with the accounts earlier rewinds left to read again (malloc'd, *n), -1 on a
   * failure; called before the first step. May be NULL. */
  int (*pending)(void *ctx, uint64_t chain_id, char (**accounts)[43], size_t *n);
  /* Forgets them once a block that read them is applied. May be NULL. */
  void (*pending_done)(void *ctx, uint64_t chain_id);
  /* Records what the indexer saw (head, applied block, RPC counters); may be NULL. */
  void (*progress)(void *ctx, const struct chain_index_progress *p);
};

struct chain_index_opts {
  const struct chain_network *net;
  struct chain_rpc_opts rpc;
  unsigned confirmations; /* serve head - confirmations */
  unsigned step_blocks;   /* most blocks folded into one applied snapshot while catching up; 0 = all */
  unsigned log_range;     /* first eth_getLogs block range (halved when a node refuses one) */
};

struct chain_index_stats {
  uint64_t blocks_applied; /* snapshots applied */
  uint64_t blocks_covered; /* blocks they covered */
  uint64_t accounts_read;  /* account re-reads */
  uint64_t reorgs;         /* rewinds to a common ancestor */
  uint64_t last_applied;   /* block number of the last snapshot applied */
};

struct chain_index;

/* Returns a new indexer, or NULL with a message in err. */
struct chain_index *chain_index_new(const struct chain_index_opts *o, const struct chain_index_store *store, char *err,
                                    size_t err_len);
/* Frees an indexer (NULL is fine). */
void chain_index_free(struct chain_index *ix);
/* Does one step: checks the last applied block is still on the node's chain (rewinding to the
 * common ancestor when not), then applies the next range up to head - confirmations. Returns 1
 * when a block was applied or a reorg handled, 0 when already at head - confirmations, -1 on a
 * failure (message in err; nothing of the step applied). */
int chain_index_step(struct chain_index *ix, char *err, size_t err_len);
/* Returns the indexer's counters. */
const struct chain_index_stats *chain_index_stats(const struct chain_index *ix);
/* Returns the RPC client (for its counters). */
struct chain_rpc *chain_index_rpc(struct chain_index *ix);

#endif
