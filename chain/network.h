/* `sparkd.network/1` (the files in deploy/networks/): the contracts the indexer reads on one chain.
 * Strict: unknown fields, wrong types and malformed addresses are errors named by JSON path. */
#ifndef SPARKD_CHAIN_NETWORK_H
#define SPARKD_CHAIN_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain/snapshot.h"

#define CHAIN_NETWORK_FORMAT "sparkd.network/1"
#define CHAIN_NETWORK_MAX_VAULTS 32
#define CHAIN_NETWORK_MAX_KEYS 64
#define CHAIN_NETWORK_MAX_VENUES 64
/* the trailing window an erc4626 venue's share-price APR is measured over, in blocks: within the
 * 128 recent blocks whose state a geth full node keeps */
#define CHAIN_NETWORK_APR_WINDOW_DEFAULT 100
#define CHAIN_NETWORK_APR_WINDOW_MAX 1000000

enum chain_net_vault_kind { CHAIN_NET_SDAI, CHAIN_NET_SUSDS, CHAIN_NET_SPARK_V2, CHAIN_NET_PSM3 };

/* The liquidity layer's venues the indexer reads: an Aave v3 market's aToken (SparkLend's or
 * Aave's), an ERC-4626 vault, and a Curve StableSwap-NG pool (its own LP token: one allocation per
 * coin, the ALM proxy's pro-rata claim on the pool's balances). The other kinds of the snapshot
 * format are refused by the parser (each with the reason it has no honest on-chain amount for the
 * ALM proxy). */
enum chain_net_venue_kind {
  CHAIN_NET_VENUE_SPARKLEND,
  CHAIN_NET_VENUE_AAVE,
  CHAIN_NET_VENUE_ERC4626,
  CHAIN_NET_VENUE_CURVE
};
extern const char *const chain_net_venue_kind_names[];
/* where an erc4626 venue's APR comes from: the share price over a trailing window of blocks, or
 * the vault's own per-second rate getter (ssr() of sUSDS, vsr() of a Spark Vault V2) */
enum chain_net_apr_source { CHAIN_NET_APR_SHARE_PRICE, CHAIN_NET_APR_SSR, CHAIN_NET_APR_VSR };
extern const char *const chain_net_apr_source_names[];
/* what an erc4626 venue's amount is: convertToAssets(shares), or Maple's convertToExitAssets(shares),
 * which deducts the pool's unrealised losses */
enum chain_net_amount { CHAIN_NET_AMOUNT_ASSETS, CHAIN_NET_AMOUNT_EXIT_ASSETS };
extern const char *const chain_net_amount_names[];
/* a Curve StableSwap-NG pool has 2 to 8 coins */
#define CHAIN_NETWORK_CURVE_MAX_COINS 8

struct chain_net_venue {
  char id[CHAIN_SNAPSHOT_TEXT_MAX];
  enum chain_net_venue_kind kind;
  chain_addr address, asset;
  char label[CHAIN_SNAPSHOT_TEXT_MAX];
  enum chain_net_apr_source apr_source; /* erc4626 only */
  uint32_t apr_window_blocks;           /* erc4626 with share_price, and curve */
  enum chain_net_amount amount;         /* erc4626 only */
  size_t n_coins;                       /* curve only: the pool's coins, in its order */
  chain_addr coins[CHAIN_NETWORK_CURVE_MAX_COINS];
};

/* Returns true when the venue's APR is measured over a trailing window of blocks (an erc4626 share
 * price, a Curve pool's virtual price), reading the state apr_window_blocks before the block. */
static inline bool chain_net_venue_windowed(const struct chain_net_venue *v) {
  return v->kind == CHAIN_NET_VENUE_CURVE ||
         (v->kind == CHAIN_NET_VENUE_ERC4626 && v->apr_source == CHAIN_NET_APR_SHARE_PRICE);
}

struct chain_network {
  char name[CHAIN_SNAPSHOT_TEXT_MAX];
  uint64_t chain_id;
  uint64_t start_block;
  bool has_sparklend;
  chain_addr pool_addresses_provider;
  size_t n_vaults;
  struct {
    enum chain_net_vault_kind kind;
    chain_addr address;
    bool has_ssr_oracle;
    chain_addr ssr_oracle;
  } vaults[CHAIN_NETWORK_MAX_VAULTS];
  bool has_liquidity_layer;
  chain_addr alm_proxy, rate_limits;
  size_t n_keys;
  struct {
    char key[67];
    char name[CHAIN_SNAPSHOT_TEXT_MAX];
    bool has_asset, has_target;
    chain_addr asset, target;
  } keys[CHAIN_NETWORK_MAX_KEYS];
  size_t n_venues;
  struct chain_net_venue venues[CHAIN_NETWORK_MAX_VENUES];
  bool has_kill_switch;
  chain_addr kill_switch;
};

/* Returns true with *net filled from the JSON text[0..len); false with every problem added to
 * errs (zeroed by the caller), each "$.path: message". */
bool chain_network_parse(const char *text, size_t len, struct chain_network *net, struct chain_snapshot_errors *errs);
/* Returns true after reading and parsing the file at path; false with problems in errs (a file that
 * cannot be read is one problem naming it). */
bool chain_network_load(const char *path, struct chain_network *net, struct chain_snapshot_errors *errs);

#endif
