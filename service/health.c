/* Operational routes: /healthz, /readyz, /metrics, /openapi.yaml (the web pages, /docs among them,
 * are service/assets.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/index.h"
#include "service/metrics.h"
#include "service/request.h"
#include "service/router.h"
#include "service/server.h"

extern const char svc_openapi_yaml[];
extern const size_t svc_openapi_yaml_len;

static const char healthz_body[] = "{\"status\":\"ok\"}";

enum svc_handler_result svc_healthz_get(struct svc_request *req) {
  return svc_reply_static(req, 200, "application/json", healthz_body, sizeof healthz_body - 1);
}

struct lag_check {
  unsigned max;
  char why[160];
};

static db_status lag_row(const struct db_index_status *s, void *arg) {
  struct lag_check *x = arg;
  if (x->why[0] || !s->has_head || !s->has_applied || s->head_block - s->applied_block <= (int64_t)x->max) return DB_OK;
  snprintf(x->why, sizeof x->why, "chain %lld: applied block %lld is %lld blocks behind the head %lld",
           (long long)s->chain_id, (long long)s->applied_block, (long long)(s->head_block - s->applied_block),
           (long long)s->head_block);
  return DB_OK;
}

enum svc_handler_result svc_readyz_get(struct svc_request *req) {
  char why[256] = "";
  db_schema_state st = db_schema_check(req->srv->pool, why, sizeof why);
  if (st == DB_SCHEMA_CURRENT && req->srv->cfg.ready_max_lag_blocks) {
    struct lag_check x = {.max = req->srv->cfg.ready_max_lag_blocks};
    db_conn *c = db_acquire(req->srv->pool, req->srv->cfg.db_wait_ms);
    if (!c) return svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached");
    db_status ds = db_index_status_list(c, lag_row, &x);
    db_release(c);
    if (ds != DB_OK) return svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached");
    if (x.why[0]) return svc_reply_problem(req, SVC_ERR_index_lagging, "%s", x.why);
  }
  switch (st) {
  case DB_SCHEMA_CURRENT: {
    static const char body[] = "{\"status\":\"ready\",\"schema\":\"current\"}";
    return svc_reply_static(req, 200, "application/json", body, sizeof body - 1);
  }
  case DB_SCHEMA_UNKNOWN: return svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached");
  default: return svc_reply_problem(req, SVC_ERR_schema_not_current, "%s", why);
  }
}

enum svc_handler_result svc_metrics_get(struct svc_request *req) {
  size_t len = 0;
  char *text = svc_metrics_render(req->srv->pool, &len);
  if (!text) return SVC_HANDLER_FATAL;
  return svc_reply_take(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

enum svc_handler_result svc_openapi_get(struct svc_request *req) {
  return svc_reply_static(req, 200, "application/yaml", svc_openapi_yaml, svc_openapi_yaml_len);
}
