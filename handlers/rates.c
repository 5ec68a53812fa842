/* POST /v1/rates/convert: a per-second rate (dsr, ssr, vsr) or an annual APR, both RAY, turned into
 * APR and APY exactly as the chain's helpers compute them (spec protocol-math §1.3). */
#include <string.h>

#include "handlers/bodies.h"
#include "handlers/handlers.h"
#include "risk/savings.h"
#include "risk/wadray.h"
#include "service/body.h"
#include "service/request.h"

/* Adds name (RAY integer string) and name without "_ray" (27-decimal human string) to obj. */
static void put_ray(json_t *obj, const char *name, u256 v) {
  char dec[U256_DEC_MAX], fixed[U256_DEC_MAX + 2], human[64];
  u256_to_dec(v, dec);
  u256_to_fixed(v, 27, fixed);
  json_object_set_new(obj, name, json_string(dec));
  size_t n = strlen(name) - strlen("_ray");
  memcpy(human, name, n);
  human[n] = 0;
  json_object_set_new(obj, human, json_string(fixed));
}

struct convert_body {
  u256 rate, apr;
  bool has_rate, has_apr;
};
static const struct svc_body_field convert_spec[] = {
    {.name = "rate_ray",
     .type = SVC_BODY_U256,
     .offset = offsetof(struct convert_body, rate),
     .given = SVC_BODY_FLAG(struct convert_body, has_rate)},
    {.name = "apr_ray",
     .type = SVC_BODY_U256,
     .offset = offsetof(struct convert_body, apr),
     .given = SVC_BODY_FLAG(struct convert_body, has_apr)},
};

enum svc_handler_result handler_rates_convert_post(struct svc_request *req) {
  struct convert_body in = {0};
  struct svc_body *body = svc_body_parse(req, convert_spec, sizeof convert_spec / sizeof convert_spec[0], &in);
  if (!body) return SVC_HANDLED;
  json_t *errors = json_array();
  u256 rate = in.rate, apr = in.apr, apy, bps;
  bool rate_s = in.has_rate;
  if (in.has_rate == in.has_apr) {
    json_array_append_new(errors, svc_field_error(in.has_rate ? "apr_ray" : "rate_ray", "one_of",
                                                  "give exactly one of rate_ray and apr_ray"));
  } else if (in.has_rate) {
    if (u256_lt(rate, RISK_RAY))
      json_array_append_new(
          errors, svc_field_error("rate_ray", "out_of_range", "a per-second rate must be at least 1e27 (RAY)"));
    else if (risk_savings_apr_ray(&apr, rate) != RISK_OK || risk_savings_apy_ray(&apy, rate) != RISK_OK ||
             risk_savings_rtob(&bps, rate) != RISK_OK)
      json_array_append_new(errors, svc_field_error("rate_ray", "out_of_range",
                                                    "too large: compounding over a year overflows, the chain reverts"));
  } else {
    u256 per_second;
    if (u256_div(&per_second, apr, u256_from_u64(RISK_YEAR)) != RISK_OK ||
        u256_add(&rate, per_second, RISK_RAY) != RISK_OK || risk_savings_get_apy(&apy, apr) != RISK_OK)
      json_array_append_new(errors, svc_field_error("apr_ray", "out_of_range",
                                                    "too large: compounding over a year overflows, the chain reverts"));
  }
  svc_body_free(body);
  if (json_array_size(errors))
    return svc_reply_problem_fields(req, SVC_ERR_validation_failed, errors, "the rate cannot be converted");
  json_decref(errors);

  json_t *out = json_object();
  put_ray(out, "rate_ray", rate);
  put_ray(out, "apr_ray", apr);
  put_ray(out, "apy_ray", apy);
  if (rate_s) {
    uint64_t b = 0;
    u256_to_u64(bps, &b);
    json_object_set_new(out, "apy_bps", json_integer((json_int_t)b));
    json_object_set_new(out, "apy_method", json_string("rpow(rate, 31536000) - RAY"));
  } else {
    json_object_set_new(out, "apy_method", json_string("rpow(floor(apr / 31536000) + RAY, 31536000) - RAY"));
  }
  return svc_reply_json_steal(req, 200, out);
}

const struct handler_body_spec handler_body_rates_convert = {"POST", "/v1/rates/convert", convert_spec,
                                                             sizeof convert_spec / sizeof convert_spec[0],
                                                             sizeof(struct convert_body)};
