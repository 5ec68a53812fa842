/* Savings vaults in the state cache: every vault at its chain's latest imported block, with the
 * realized APY over the windows below, as typed data under STATE_SAVINGS_KEY. */
#ifndef SPARKD_STATE_SAVINGS_H
#define SPARKD_STATE_SAVINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "risk/savings.h"
#include "state/chains.h"

struct state_cache;
struct state_builder;

#define STATE_SAVINGS_KEY "savings"
/* The realized-APY windows: 1d, 7d, 30d. */
#define STATE_SAVINGS_WINDOWS 3
extern const struct state_savings_window {
  const char *name;
  int64_t seconds;
} state_savings_windows[STATE_SAVINGS_WINDOWS];

struct state_realized {
  bool ok;
  char apy[40];
  int64_t from_block, from_timestamp, seconds;
};

enum state_vault_kind { STATE_VAULT_SDAI, STATE_VAULT_SUSDS, STATE_VAULT_V2 };

struct state_vault {
  struct state_as_of asof;
  char address[43]; /* lowercase */
  char checksum[43];
  enum state_vault_kind kind;
  char kind_name[16];
  char symbol[64];
  int decimals;
  char asset[43];
  char asset_symbol[64];
  int asset_decimals;
  u256 chi, rate, total_supply;
  uint64_t rho;
  bool has_min_rate, has_max_rate, has_cap, has_idle, has_intents;
  u256 min_rate, max_rate, deposit_cap, idle;
  char intents_address[43];
  bool has_intents_min, has_intents_max, has_intents_deadline;
  u256 intents_min, intents_max;
  int64_t intents_max_deadline;
  struct state_realized realized[STATE_SAVINGS_WINDOWS];
  char *item; /* this vault's JSON object at as_of (compact text), for pages built per request */
};

struct state_savings {
  size_t n, cap;
  struct state_vault *v;
  struct state_chains chains;
};

/* Returns the vault's parameters as the Spark Vault V2 engine takes them. */
struct risk_spark_vault state_vault_spark(const struct state_vault *v);
/* Returns RISK_OK and the vault's accumulator at t (nowChi). */
risk_err state_vault_chi_at(const struct state_vault *v, uint64_t t, u256 *c);

/* Returns DB_OK after adding every vault (STATE_SAVINGS_KEY) to the generation being built. */
db_status state_savings_load(db_conn *conn, struct state_builder *b);
/* Returns the vaults of a built generation (borrowed from c), or NULL. */
const struct state_savings *state_savings(const struct state_cache *c);

#endif
