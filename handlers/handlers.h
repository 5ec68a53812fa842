/* Every handler, one per route row in service/router.c. */
#ifndef SPARKD_HANDLERS_H
#define SPARKD_HANDLERS_H

#include "db/db.h"
#include "service/router.h"

/* Each returns SVC_HANDLED once it queued a response, SVC_HANDLER_FATAL otherwise. */
enum svc_handler_result handler_rates_convert_post(struct svc_request *req);

enum svc_handler_result handler_savings_vaults_list(struct svc_request *req);
enum svc_handler_result handler_savings_vault_get(struct svc_request *req);
enum svc_handler_result handler_savings_vault_history(struct svc_request *req);
enum svc_handler_result handler_savings_vault_preview(struct svc_request *req);

enum svc_handler_result handler_liquidity_layer_rate_limits_list(struct svc_request *req);
enum svc_handler_result handler_liquidity_layer_allocations_list(struct svc_request *req);

/* SparkLend markets (handlers/markets.c, handlers/reserves_history.c). */
enum svc_handler_result handler_chains_list(struct svc_request *req);
enum svc_handler_result handler_markets_list(struct svc_request *req);
enum svc_handler_result handler_reserves_list(struct svc_request *req);
enum svc_handler_result handler_reserves_get(struct svc_request *req);
enum svc_handler_result handler_reserves_history_get(struct svc_request *req);
enum svc_handler_result handler_emode_categories_list(struct svc_request *req);

/* SparkLend accounts and quotes (handlers/accounts_get.c, handlers/quotes_post.c). */
enum svc_handler_result handler_accounts_get(struct svc_request *req);
enum svc_handler_result handler_accounts_list(struct svc_request *req);
enum svc_handler_result handler_quotes_post(struct svc_request *req);

/* Partner positions and attestations, scope partner (handlers/partner_positions.c). */
enum svc_handler_result handler_partner_positions_post(struct svc_request *req);
enum svc_handler_result handler_partner_positions_list(struct svc_request *req);
enum svc_handler_result handler_partner_position_get(struct svc_request *req);
enum svc_handler_result handler_partner_position_patch(struct svc_request *req);
enum svc_handler_result handler_partner_attestations_post(struct svc_request *req);
/* Signed LTV records and signers (handlers/partner_ltv.c); webhooks (handlers/partner_webhooks.c). */
enum svc_handler_result handler_partner_ltv_get(struct svc_request *req);
enum svc_handler_result handler_partner_ltv_history(struct svc_request *req);
enum svc_handler_result handler_signers_list(struct svc_request *req);
enum svc_handler_result handler_partner_webhooks_post(struct svc_request *req);
enum svc_handler_result handler_partner_webhooks_list(struct svc_request *req);
enum svc_handler_result handler_partner_webhook_delete(struct svc_request *req);
/* Spark Prime portfolios and their margin, scope partner; margin parameters, scope admin
 * (handlers/partner_portfolios.c). */
enum svc_handler_result handler_partner_portfolios_post(struct svc_request *req);
enum svc_handler_result handler_partner_portfolio_get(struct svc_request *req);
enum svc_handler_result handler_partner_portfolio_legs_post(struct svc_request *req);
enum svc_handler_result handler_partner_portfolio_margin_get(struct svc_request *req);
enum svc_handler_result handler_partner_portfolio_margin_history(struct svc_request *req);
enum svc_handler_result handler_partner_portfolio_margin_quote(struct svc_request *req);
enum svc_handler_result handler_partner_portfolio_rate_get(struct svc_request *req);
enum svc_handler_result handler_admin_margin_params_get(struct svc_request *req);
enum svc_handler_result handler_admin_margin_params_put(struct svc_request *req);
/* Snapshot import over HTTP, scope admin (handlers/admin_snapshots.c). */
enum svc_handler_result handler_admin_snapshots_post(struct svc_request *req);
/* Ops risk analytics, scope ops or admin, and the loss waterfall, scope admin (handlers/risk.c). */
enum svc_handler_result handler_risk_liquidations_at_risk(struct svc_request *req);
enum svc_handler_result handler_risk_stress_post(struct svc_request *req);
enum svc_handler_result handler_risk_var_get(struct svc_request *req);
enum svc_handler_result handler_risk_concentration_get(struct svc_request *req);
enum svc_handler_result handler_oracles_get(struct svc_request *req);
enum svc_handler_result handler_admin_risk_waterfall_get(struct svc_request *req);
enum svc_handler_result handler_admin_risk_waterfall_put(struct svc_request *req);
/* Ops overview, scope ops or admin: the health-factor histogram (handlers/risk_histogram.c) and
 * the partner LTV positions across partners (handlers/partner_ltv_ops.c). */
enum svc_handler_result handler_risk_hf_histogram(struct svc_request *req);
enum svc_handler_result handler_risk_partner_ltv_list(struct svc_request *req);

#endif
