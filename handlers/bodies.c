/* The list of every body spec (handlers/bodies.h). */
#include "handlers/bodies.h"

const struct handler_body_spec *const handler_body_specs[] = {
    &handler_body_rates_convert,       &handler_body_quotes,           &handler_body_partner_position_create,
    &handler_body_partner_attestation, &handler_body_partner_webhook,  &handler_body_risk_stress,
    &handler_body_risk_waterfall,      &handler_body_portfolio_create, &handler_body_portfolio_legs,
    &handler_body_portfolio_quote,
};
const size_t handler_body_specs_n = sizeof handler_body_specs / sizeof handler_body_specs[0];
