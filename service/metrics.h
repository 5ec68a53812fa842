/* Prometheus metrics: request counters by route template and status, a latency histogram per
 * route, database pool gauges and error counters. Lock-free counters, rendered on demand. */
#ifndef SPARKD_SERVICE_METRICS_H
#define SPARKD_SERVICE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* Records one finished request; route_index is the row in svc_routes or -1 when unmatched. */
void svc_metrics_observe(int route_index, unsigned status, uint64_t micros);
/* Returns a malloc'd Prometheus text exposition (length in *len), or NULL on allocation failure. */
char *svc_metrics_render(db_pool *pool, size_t *len);

#endif
