/* Prometheus metrics: request counters by route template, method and status, a latency
 * histogram per route and method, database pool gauges and error counters. Lock-free counters, rendered on demand. */
#ifndef SPARKD_SERVICE_METRICS_H
#define SPARKD_SERVICE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "service/router.h"

/* Records one finished request; route_index is the row in svc_routes or -1 when unmatched, method
 * the request's as sent. */
void svc_metrics_observe(int route_index, const char *method, unsigned status, uint64_t micros);
/* Why an authentication attempt failed (service/auth.c). */
enum svc_auth_fail {
  SVC_AUTH_FAIL_MISSING = 0, /* no Bearer key */
  SVC_AUTH_FAIL_UNKNOWN,     /* no such key */
  SVC_AUTH_FAIL_REVOKED,
  SVC_AUTH_FAIL_SCOPE,   /* a valid key of another scope (403) */
  SVC_AUTH_FAIL_LIMITED, /* a failed key refused with 429: its address is over its failure budget */
  SVC_AUTH_FAIL_COUNT
};
/* Counts one failed authentication attempt in sparkd_auth_failures_total{reason}. */
void svc_metrics_auth_failure(enum svc_auth_fail why);
/* Counts one connection closed because its request head did not arrive within SPARKD_HEAD_TIMEOUT_MS. */
void svc_metrics_head_timeout(void);
/* Returns a malloc'd Prometheus text exposition (length in *len), or NULL on allocation failure. */
char *svc_metrics_render(db_pool *pool, size_t *len);

/* The service's own routes (service/health.c): /healthz, /readyz, /metrics, /openapi.yaml; and
 * (service/assets.c) the web pages /docs and /ops and the files under /assets/ they load. Each returns SVC_HANDLED once
 * it queued a response, SVC_HANDLER_FATAL otherwise. */
struct svc_request;
enum svc_handler_result svc_healthz_get(struct svc_request *req);
enum svc_handler_result svc_readyz_get(struct svc_request *req);
enum svc_handler_result svc_metrics_get(struct svc_request *req);
enum svc_handler_result svc_openapi_get(struct svc_request *req);
enum svc_handler_result svc_docs_get(struct svc_request *req);
enum svc_handler_result svc_ops_get(struct svc_request *req);
enum svc_handler_result svc_assets_get(struct svc_request *req);

#endif
