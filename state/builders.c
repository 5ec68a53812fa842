/* The loaders of a state-cache generation, in order: accounts read after markets see the same
 * repeatable-read snapshot. */
#include "state/accounts.h"
#include "state/cache.h"
#include "state/liquidity.h"
#include "state/markets.h"
#include "state/savings.h"

const state_load_fn state_loaders[] = {
    state_savings_load,
    state_liquidity_load,
    state_markets_load,
    state_accounts_load,
};
const size_t state_loaders_count = sizeof state_loaders / sizeof state_loaders[0];
