/* The Spark Liquidity Layer in the state cache: rate limits, allocations per venue and idle
 * balances at each chain's latest imported block, as typed data under STATE_LIQUIDITY_KEY. */
#ifndef SPARKD_STATE_LIQUIDITY_H
#define SPARKD_STATE_LIQUIDITY_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "risk/ratelimit.h"
#include "state/chains.h"

struct state_cache;
struct state_builder;

#define STATE_LIQUIDITY_KEY "liquidity-layer"

struct state_rate_limit {
  const struct state_as_of *asof;
  char key[67], name[128];
  bool has_asset, asset_known, has_target, has_venue;
  char asset[43], asset_symbol[64], target[43], venue_id[128], venue_label[128], venue_kind[32];
  int64_t asset_decimals;
  struct risk_rate_limit st;
};

struct state_allocation {
  int64_t chain_id, decimals;
  char venue_id[128], kind[32], label[128], address[43], asset[43], symbol[64];
  u256 amount, apr;
};

struct state_idle {
  int64_t chain_id, decimals;
  char asset[43], symbol[64];
  u256 amount, deployed;
};

struct state_liquidity {
  size_t n, cap;
  struct state_rate_limit *v;
  size_t n_alloc, cap_alloc;
  struct state_allocation *alloc;
  size_t n_idle, cap_idle;
  struct state_idle *idle;
  struct state_chains chains;
};

/* Returns DB_OK after adding the liquidity layer (STATE_LIQUIDITY_KEY) to the generation being built. */
db_status state_liquidity_load(db_conn *conn, struct state_builder *b);
/* Returns the liquidity layer of a built generation (borrowed from c), or NULL. */
const struct state_liquidity *state_liquidity(const struct state_cache *c);

#endif
