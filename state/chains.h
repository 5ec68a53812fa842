/* The index of imported chains and the block each is as of, read first by the builders whose
 * responses span chains (savings vaults, the liquidity layer). */
#ifndef SPARKD_STATE_CHAINS_H
#define SPARKD_STATE_CHAINS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* The block a chain's state is as of. */
struct state_as_of {
  int64_t chain_id, block_number, block_timestamp;
};

/* Every imported chain's as_of, in chain id order. */
struct state_chains {
  size_t n;
  struct state_as_of v[64];
};

/* Returns the status of reading every chain's as_of into *c (chains past its capacity are left out). */
db_status state_chains_load(db_conn *conn, struct state_chains *c);
/* Returns the chain's as_of from the index, or NULL when it is not there. */
const struct state_as_of *state_chains_find(const struct state_chains *c, int64_t chain_id);

#endif
