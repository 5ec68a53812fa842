/* The JSON of the liquidity layer: rate limits at a time (current value, headroom, time to
 * refill), allocations with venue APR/APY, idle balances. */
#include "views/liquidity_json.h"

#include <stdint.h>

#include "risk/savings.h"
#include "state/cache.h"
#include "util/cursor.h"
#include "views/json.h"

json_t *view_rate_limit(const struct state_rate_limit *r, uint64_t t) {
  json_t *o = json_object();
  int64_t d = r->asset_known ? r->asset_decimals : -1;
  json_object_set_new(o, "chain_id", json_integer((json_int_t)r->asof->chain_id));
  json_object_set_new(o, "key", json_string(r->key));
  json_object_set_new(o, "name", json_string(r->name));
  if (r->has_asset)
    json_object_set_new(o, "asset",
                        json_pack("{s:o, s:o, s:o}", "address", view_json_address(r->asset), "symbol",
                                  r->asset_known ? json_string(r->asset_symbol) : json_null(), "decimals",
                                  r->asset_known ? json_integer(r->asset_decimals) : json_null()));
  else
    json_object_set_new(o, "asset", json_null());
  if (r->has_target)
    json_object_set_new(o, "target",
                        json_pack("{s:o, s:o, s:o, s:o}", "address", view_json_address(r->target), "venue_id",
                                  r->has_venue ? json_string(r->venue_id) : json_null(), "venue_label",
                                  r->has_venue ? json_string(r->venue_label) : json_null(), "venue_kind",
                                  r->has_venue ? json_string(r->venue_kind) : json_null()));
  else
    json_object_set_new(o, "target", json_null());
  bool unlimited = risk_rate_limit_is_unlimited(&r->st);
  bool inactive = u256_is_zero(r->st.max_amount);
  json_object_set_new(o, "status", json_string(unlimited ? "unlimited" : inactive ? "deactivated" : "active"));
  json_object_set_new(o, "unlimited", json_boolean(unlimited));
  json_object_set_new(o, "at", json_integer((json_int_t)t));
  view_put_amount(o, "max_amount", r->st.max_amount, unlimited ? -1 : d);
  view_put_amount(o, "slope_per_second", r->st.slope, d);
  u256 per_day, cur, secs;
  if (risk_rate_limit_per_day(&per_day, &r->st) == RISK_OK)
    view_put_amount(o, "slope_per_day", per_day, d);
  else
    json_object_set_new(o, "slope_per_day", json_null());
  view_put_amount(o, "last_amount", r->st.last_amount, unlimited ? -1 : d);
  json_object_set_new(o, "last_updated", json_integer((json_int_t)r->st.last_updated));
  if (risk_rate_limit_current(&cur, &r->st, t) == RISK_OK) {
    view_put_amount(o, "current", cur, unlimited ? -1 : d);
    if (unlimited || inactive) {
      json_object_set_new(o, "headroom_pct", json_null());
    } else {
      u256 pct; /* fl(current * 100 * 10^4 / max) as a 4-decimal percentage */
      if (u256_muldiv(&pct, cur, u256_from_u64(1000000), r->st.max_amount) == RISK_OK)
        json_object_set_new(o, "headroom_pct", view_json_fixed(pct, 4));
      else
        json_object_set_new(o, "headroom_pct", json_null());
    }
  } else {
    json_object_set_new(o, "current", json_null());
    json_object_set_new(o, "current_human", json_null());
    json_object_set_new(o, "headroom_pct", json_null());
  }
  uint64_t s64;
  if (!inactive && risk_rate_limit_seconds_until_full(&secs, &r->st, t) == RISK_OK && u256_to_u64(secs, &s64) &&
      s64 < (uint64_t)INT64_MAX) {
    json_object_set_new(o, "seconds_until_full", json_integer((json_int_t)s64));
    json_object_set_new(o, "full_at", json_integer((json_int_t)(t + s64)));
  } else {
    json_object_set_new(o, "seconds_until_full", json_null()); /* never refills (slope 0) or deactivated */
    json_object_set_new(o, "full_at", json_null());
  }
  return o;
}

json_t *view_rate_limits_page(const struct state_liquidity *ix, size_t off, size_t limit, uint64_t t) {
  json_t *data = json_array();
  size_t end = off + limit < ix->n ? off + limit : ix->n;
  for (size_t i = off; i < end; i++)
    json_array_append_new(data, view_rate_limit(&ix->v[i], t ? t : (uint64_t)ix->v[i].asof->block_timestamp));
  json_t *next = json_null();
  if (end < ix->n) {
    char cur[64];
    util_cursor_make('o', (int64_t)end, cur);
    next = json_string(cur);
  }
  return json_pack("{s:o, s:o, s:o}", "data", data, "as_of", view_as_of_all(ix->chains.v, ix->chains.n), "next_cursor",
                   next);
}

static json_t *allocations(const struct state_liquidity *ix) {
  json_t *data = json_array(), *idle = json_array();
  for (size_t i = 0; i < ix->n_alloc; i++) {
    const struct state_allocation *a = &ix->alloc[i];
    u256 apy;
    json_t *o = json_object();
    json_object_set_new(o, "chain_id", json_integer((json_int_t)a->chain_id));
    json_object_set_new(o, "venue_id", json_string(a->venue_id));
    json_object_set_new(o, "kind", json_string(a->kind));
    json_object_set_new(o, "label", json_string(a->label));
    json_object_set_new(o, "address", view_json_address(a->address));
    json_object_set_new(o, "asset", view_asset_json(a->asset, a->symbol, a->decimals));
    view_put_amount(o, "amount", a->amount, a->decimals);
    view_put_ray(o, "apr", &a->apr);
    view_put_ray(o, "apy", risk_savings_get_apy(&apy, a->apr) == RISK_OK ? &apy : NULL);
    json_array_append_new(data, o);
  }
  for (size_t i = 0; i < ix->n_idle; i++) {
    const struct state_idle *a = &ix->idle[i];
    json_t *o = json_object();
    json_object_set_new(o, "chain_id", json_integer((json_int_t)a->chain_id));
    json_object_set_new(o, "asset", view_asset_json(a->asset, a->symbol, a->decimals));
    view_put_amount(o, "amount", a->amount, a->decimals);
    view_put_amount(o, "deployed", a->deployed, a->decimals);
    json_array_append_new(idle, o);
  }
  return json_pack("{s:o, s:o, s:o, s:n}", "data", data, "idle", idle, "as_of",
                   view_as_of_all(ix->chains.v, ix->chains.n), "next_cursor");
}

bool view_liquidity_render(struct state_builder *b) {
  const struct state_liquidity *ix = state_builder_data(b, STATE_LIQUIDITY_KEY);
  if (!ix) return true;
  return state_cache_put_json(b, VIEW_ALLOCATIONS_PATH, allocations(ix), NULL, NULL) &&
         state_cache_put_json(b, VIEW_RATE_LIMITS_PATH, view_rate_limits_page(ix, 0, VIEW_RATE_LIMITS_PAGE, 0), NULL,
                              NULL);
}
