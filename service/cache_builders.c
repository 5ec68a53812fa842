/* The builders of the state cache, one row each; each resource's builder lives beside its
 * handlers (handlers/<resource>.c). */
#include "handlers/handlers.h"
#include "service/cache.h"

const svc_cache_build_fn svc_cache_builders[] = {
    handler_savings_build,
    handler_liquidity_layer_build,
    handler_markets_build_cache,
    handler_accounts_build_cache,
};
const size_t svc_cache_builders_count = sizeof svc_cache_builders / sizeof svc_cache_builders[0];
