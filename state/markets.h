/* SparkLend markets in the state cache: each chain's reserves at its latest imported block, as
 * typed data (for handlers that compute at another time or for an account; views/markets_json.c
 * pre-serialises the responses from it). */
#ifndef SPARKD_STATE_MARKETS_H
#define SPARKD_STATE_MARKETS_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "risk/irm.h"
#include "risk/reserve.h"

struct state_cache;
struct state_builder;

/* One reserve as imported (lowercase addresses; checksummed copies for output). */
struct state_reserve {
  char address[43], address_cs[43];
  char symbol[40], name[80];
  unsigned decimals;
  int reserve_id;
  char a_token_cs[43], debt_token_cs[43];
  struct risk_reserve_state st;
  bool has_price;
  u256 price; /* AaveOracle, 8 decimals */
  uint64_t price_updated_at;
  struct risk_irm irm;
  char irm_address_cs[43];
  char irm_kind[24]; /* as stored: default, variable_borrow, rate_target_base, rate_target_kink */
  bool has_source;
  char source_kind[24]; /* ssr, pot, capped_fallback, oracle */
  char source_address_cs[43];
  char source_json[512]; /* the stored rate source object (JSON text) */
  uint32_t liquidation_protocol_fee;
  uint64_t unbacked_mint_cap, debt_ceiling;
};

/* One eMode category as imported. */
struct state_emode {
  int id;
  unsigned ltv, liquidation_threshold, liquidation_bonus; /* bps */
  char price_source[43];                                  /* lowercase; "" when none (zero address) */
  char label[128];
};

/* One chain's market at its latest imported block. */
struct state_market {
  int64_t chain_id, block_number, block_timestamp;
  char block_hash[67], imported_at[32]; /* imported_at: RFC 3339 UTC */
  size_t n;
  struct state_reserve *r;
  size_t n_emode;
  struct state_emode emode[256];
};

/* Every imported chain's market, by chain id: the data under STATE_MARKETS_KEY. */
#define STATE_MARKETS_KEY "markets"
struct state_markets {
  size_t n;
  struct state_market **v;
};

/* Returns the chain's market data from the cache (borrowed from c), or NULL when the chain is unknown. */
const struct state_market *state_markets_chain(const struct state_cache *c, int64_t chain_id);
/* Returns the reserve named by address (any case) or symbol (case-insensitive), or NULL. */
const struct state_reserve *state_markets_find_reserve(const struct state_market *m, const char *asset);
/* Returns DB_OK after adding every chain's market (STATE_MARKETS_KEY) to the generation being built. */
db_status state_markets_load(db_conn *conn, struct state_builder *b);

#endif
