/* Shared by the SparkLend market handlers (handlers/markets.c, handlers/reserves_history.c): the
 * typed data the markets cache builder attaches, and the JSON helpers both use. */
#ifndef SPARKD_HANDLERS_MARKETS_H
#define SPARKD_HANDLERS_MARKETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "risk/irm.h"
#include "risk/reserve.h"
#include "service/router.h"

struct svc_cache;
struct svc_request;

/* One reserve as imported (lowercase addresses; checksummed copies for output). */
struct mkt_reserve {
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

/* One chain's market at its latest imported block. */
struct mkt_chain {
  int64_t chain_id, block_number, block_timestamp;
  size_t n;
  struct mkt_reserve *r;
};

/* Returns the chain's market data from the cache (borrowed from c), or NULL when the chain is unknown. */
const struct mkt_chain *handler_markets_chain(const struct svc_cache *c, int64_t chain_id);
/* Returns the reserve named by address (any case) or symbol (case-insensitive), or NULL. */
const struct mkt_reserve *handler_markets_find_reserve(const struct mkt_chain *m, const char *asset);
/* Returns true when asset (the {asset} path parameter) is a symbol or "0x" + 40 hex digits; otherwise
 * replies 400 validation_failed, stores the reply's result in *res and returns false. */
bool handler_markets_asset_ok(struct svc_request *req, const char *asset, enum svc_handler_result *res);
/* Returns true when text is a positive decimal chain id (stored in *id): handler_parse_chain_id, kept for
 * the accounts handlers. */
bool handler_markets_parse_chain(const char *text, int64_t *id);
/* Returns a new {chain_id, block_number, block_timestamp, block_time} object. */
json_t *handler_markets_as_of(const struct mkt_chain *m);
/* Writes utilization, rates, APR/APY and totals of s (already accrued by risk_reserve_update_state
 * to the time it describes) into obj; returns RISK_OK or the engine's error (obj incomplete then). */
risk_err handler_markets_put_state(json_t *obj, const struct risk_reserve_state *s, unsigned decimals);

/* Writes the RFC 3339 UTC form of t into buf[32]; returns buf (handler_time_rfc3339, kept for the
 * accounts handlers). */
char *handler_markets_time(int64_t t, char buf[32]);

#endif
