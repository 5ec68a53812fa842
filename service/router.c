#include "service/router.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "handlers/handlers.h"
#include "service/metrics.h"

#define NOBODY 0
#define BODY SIZE_MAX                    /* the configured SPARKD_MAX_BODY_BYTES */
#define SNAPSHOT_BODY ((size_t)64 << 20) /* POST /v1/admin/snapshots: 64 MiB */

/* The route table: method, path template, handler, body limit, auth scope. */
const struct svc_route svc_routes[] = {
    {SVC_GET, "/healthz", svc_healthz_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/readyz", svc_readyz_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/metrics", svc_metrics_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/openapi.yaml", svc_openapi_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/docs", svc_docs_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/ops", svc_ops_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/assets/{file}", svc_assets_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_POST, "/v1/rates/convert", handler_rates_convert_post, BODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/chains", handler_chains_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/markets", handler_markets_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/markets/{chain}/reserves", handler_reserves_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/markets/{chain}/reserves/{asset}", handler_reserves_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/markets/{chain}/reserves/{asset}/history", handler_reserves_history_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/markets/{chain}/emode-categories", handler_emode_categories_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/savings/vaults", handler_savings_vaults_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/savings/vaults/{chain}/{vault}", handler_savings_vault_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/savings/vaults/{chain}/{vault}/history", handler_savings_vault_history, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/savings/vaults/{chain}/{vault}/preview", handler_savings_vault_preview, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/liquidity-layer/rate-limits", handler_liquidity_layer_rate_limits_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/liquidity-layer/allocations", handler_liquidity_layer_allocations_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/accounts/{chain}", handler_accounts_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_GET, "/v1/accounts/{chain}/{address}", handler_accounts_get, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_POST, "/v1/quotes", handler_quotes_post, BODY, SVC_SCOPE_PUBLIC},
    {SVC_POST, "/v1/partner/positions", handler_partner_positions_post, BODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/positions", handler_partner_positions_list, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/positions/{id}", handler_partner_position_get, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_PATCH, "/v1/partner/positions/{id}", handler_partner_position_patch, BODY, SVC_SCOPE_PARTNER},
    {SVC_POST, "/v1/partner/positions/{id}/attestations", handler_partner_attestations_post, BODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/positions/{id}/ltv", handler_partner_ltv_get, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/positions/{id}/ltv/history", handler_partner_ltv_history, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_POST, "/v1/partner/webhooks", handler_partner_webhooks_post, BODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/webhooks", handler_partner_webhooks_list, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_DELETE, "/v1/partner/webhooks/{id}", handler_partner_webhook_delete, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_POST, "/v1/partner/portfolios", handler_partner_portfolios_post, BODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/portfolios/{id}", handler_partner_portfolio_get, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_POST, "/v1/partner/portfolios/{id}/legs", handler_partner_portfolio_legs_post, BODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/portfolios/{id}/margin", handler_partner_portfolio_margin_get, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/portfolios/{id}/margin/history", handler_partner_portfolio_margin_history, NOBODY,
     SVC_SCOPE_PARTNER},
    {SVC_POST, "/v1/partner/portfolios/{id}/margin/quote", handler_partner_portfolio_margin_quote, BODY,
     SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/partner/portfolios/{id}/rate", handler_partner_portfolio_rate_get, NOBODY, SVC_SCOPE_PARTNER},
    {SVC_GET, "/v1/admin/margin-params", handler_admin_margin_params_get, NOBODY, SVC_SCOPE_ADMIN},
    {SVC_PUT, "/v1/admin/margin-params", handler_admin_margin_params_put, BODY, SVC_SCOPE_ADMIN},
    {SVC_GET, "/v1/signers", handler_signers_list, NOBODY, SVC_SCOPE_PUBLIC},
    {SVC_POST, "/v1/admin/snapshots", handler_admin_snapshots_post, SNAPSHOT_BODY, SVC_SCOPE_ADMIN},
    {SVC_GET, "/v1/risk/{chain}/liquidations-at-risk", handler_risk_liquidations_at_risk, NOBODY, SVC_SCOPE_OPS},
    {SVC_POST, "/v1/risk/{chain}/stress", handler_risk_stress_post, BODY, SVC_SCOPE_OPS},
    {SVC_GET, "/v1/risk/{chain}/var", handler_risk_var_get, NOBODY, SVC_SCOPE_OPS},
    {SVC_GET, "/v1/risk/{chain}/concentration", handler_risk_concentration_get, NOBODY, SVC_SCOPE_OPS},
    {SVC_GET, "/v1/oracles/{chain}", handler_oracles_get, NOBODY, SVC_SCOPE_OPS},
    {SVC_GET, "/v1/admin/risk/waterfall", handler_admin_risk_waterfall_get, NOBODY, SVC_SCOPE_ADMIN},
    {SVC_PUT, "/v1/admin/risk/waterfall", handler_admin_risk_waterfall_put, BODY, SVC_SCOPE_ADMIN},
    {SVC_GET, "/v1/risk/{chain}/health-factor-histogram", handler_risk_hf_histogram, NOBODY, SVC_SCOPE_OPS},
    {SVC_GET, "/v1/risk/partner-ltv", handler_risk_partner_ltv_list, NOBODY, SVC_SCOPE_OPS},
};
const size_t svc_routes_count = sizeof svc_routes / sizeof svc_routes[0];

static unsigned method_bit(const char *m) {
  if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) return SVC_GET;
  if (strcmp(m, "POST") == 0) return SVC_POST;
  if (strcmp(m, "PUT") == 0) return SVC_PUT;
  if (strcmp(m, "PATCH") == 0) return SVC_PATCH;
  if (strcmp(m, "DELETE") == 0) return SVC_DELETE;
  return 0;
}

/* Matches one template against path; a {name} segment matches one non-empty segment. */
static bool match_template(const char *tpl, const char *path, struct svc_route_match *m) {
  unsigned np = 0;
  while (*tpl && *path) {
    if (*tpl == '{') {
      const char *close = strchr(tpl, '}');
      if (!close || np == SVC_MAX_PATH_PARAMS) return false;
      const char *seg_end = strchr(path, '/');
      if (!seg_end) seg_end = path + strlen(path);
      if (seg_end == path) return false;
      m->params[np].name = tpl + 1;
      m->params[np].name_len = (size_t)(close - tpl - 1);
      m->params[np].value = path;
      m->params[np].value_len = (size_t)(seg_end - path);
      np++;
      tpl = close + 1;
      path = seg_end;
      continue;
    }
    if (*tpl != *path) return false;
    tpl++;
    path++;
  }
  if (*tpl || *path) return false;
  m->nparams = np;
  return true;
}

bool svc_route_match(const char *method, const char *path, struct svc_route_match *m) {
  memset(m, 0, sizeof *m);
  unsigned want = method_bit(method);
  struct svc_route_match tmp;
  for (size_t i = 0; i < svc_routes_count; i++) {
    memset(&tmp, 0, sizeof tmp);
    if (!match_template(svc_routes[i].path, path, &tmp)) continue;
    m->path_exists = true;
    if (!m->path_route) m->path_route = &svc_routes[i];
    m->allow |= svc_routes[i].method;
    if (!m->route && svc_routes[i].method == want) {
      m->route = &svc_routes[i];
      m->nparams = tmp.nparams;
      memcpy(m->params, tmp.params, sizeof tmp.params);
    }
  }
  return m->route != NULL;
}
