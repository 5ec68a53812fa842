/* The builders of the state cache, one row each; each resource's builder lives beside its
 * handlers (handlers/<resource>.c). */
#include "handlers/handlers.h"
#include "service/cache.h"

const svc_cache_build_fn svc_cache_builders[] = {
    NULL, /* placeholder: the first builder replaces this row */
};
const size_t svc_cache_builders_count = 0;
