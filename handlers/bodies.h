/* The body spec of every route that reads a JSON body through service/body.h, so that the fuzz
 * target fuzz/body.c and tests/check_unit_fuzz.c feed each reader the handlers use (a route that
 * reads a body and is missing here fails check_unit_fuzz). */
#ifndef SPARKD_HANDLERS_BODIES_H
#define SPARKD_HANDLERS_BODIES_H

#include <stddef.h>

#include "service/body.h"

struct handler_body_spec {
  const char *method, *path;         /* the route's row in service/router.c */
  const struct svc_body_field *spec; /* as the handler passes it to svc_body_parse */
  size_t n;
  size_t size; /* of the struct it fills */
};

extern const struct handler_body_spec handler_body_rates_convert;
extern const struct handler_body_spec handler_body_quotes;
extern const struct handler_body_spec handler_body_partner_position_create;
extern const struct handler_body_spec handler_body_partner_attestation;
extern const struct handler_body_spec handler_body_partner_webhook;
extern const struct handler_body_spec handler_body_risk_stress;
extern const struct handler_body_spec handler_body_risk_waterfall;
extern const struct handler_body_spec handler_body_portfolio_create;
extern const struct handler_body_spec handler_body_portfolio_legs;
extern const struct handler_body_spec handler_body_portfolio_quote;

/* All of the above, in one list (handlers/bodies.c): a route that reads a body adds its spec here
 * and the fuzz target and check_unit_fuzz pick it up. */
extern const struct handler_body_spec *const handler_body_specs[];
extern const size_t handler_body_specs_n;

/* Writes the PATCH /v1/partner/positions/{id} spec (the create spec without external_id, every
 * field optional and not null) into out, which holds at least handler_body_partner_position_create.n
 * entries; returns how many it wrote. */
size_t handler_partner_patch_spec(struct svc_body_field *out);

#endif
