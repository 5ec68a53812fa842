/* The JSON of savings vaults: rate, APR/APY, share price at a time, supply, caps, liquidity,
 * queued-redemption bounds, realized APY; list pages; the pre-serialised list and vaults. */
#include "views/savings_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/savings.h"
#include "state/cache.h"
#include "util/cursor.h"
#include "views/json.h"
#include "views/jsonw.h"

#define REALIZED_METHOD                                                                                                \
  "(chi_now / chi_then)^(31536000 / seconds) - 1, chi_then from the last imported block at or before now - "           \
  "window (estimate, binary floating point)"

void view_put_rate(json_t *o, const char *prefix, u256 rate) {
  char n[64];
  u256 apr, apy;
  snprintf(n, sizeof n, "%srate_ray", prefix);
  json_object_set_new(o, n, view_json_u256(rate));
  snprintf(n, sizeof n, "%sapr", prefix);
  view_put_ray(o, n, risk_savings_apr_ray(&apr, rate) == RISK_OK ? &apr : NULL);
  snprintf(n, sizeof n, "%sapy", prefix);
  view_put_ray(o, n, risk_savings_apy_ray(&apy, rate) == RISK_OK ? &apy : NULL);
}

json_t *view_vault(const struct state_vault *v, uint64_t t) {
  u256 c, ta, ten, one_share;
  if (state_vault_chi_at(v, t, &c) != RISK_OK) return NULL;
  if (risk_savings_convert_to_assets(&ta, v->total_supply, c) != RISK_OK) return NULL;
  if (u256_pow10(&ten, (unsigned)v->decimals) != RISK_OK ||
      risk_savings_convert_to_assets(&one_share, ten, c) != RISK_OK)
    return NULL;
  json_t *o = json_object();
  json_object_set_new(o, "chain_id", json_integer((json_int_t)v->asof.chain_id));
  json_object_set_new(o, "kind", json_string(v->kind_name));
  json_object_set_new(o, "address", json_string(v->checksum));
  json_object_set_new(o, "symbol", json_string(v->symbol));
  json_object_set_new(o, "decimals", json_integer(v->decimals));
  json_object_set_new(o, "asset", view_asset_json(v->asset, v->asset_symbol, v->asset_decimals));
  view_put_rate(o, "", v->rate);
  json_object_set_new(o, "chi_ray", view_json_u256(c));
  json_object_set_new(o, "chi_stored_ray", view_json_u256(v->chi));
  json_object_set_new(o, "rho", json_integer((json_int_t)v->rho));
  json_object_set_new(o, "at", json_integer((json_int_t)t));
  json_object_set_new(o, "share_price", view_json_fixed(c, 27));
  view_put_amount(o, "assets_per_share", one_share, v->asset_decimals);
  view_put_amount(o, "total_supply", v->total_supply, v->decimals);
  view_put_amount(o, "total_assets", ta, v->asset_decimals);

  if (v->kind == STATE_VAULT_V2) {
    struct risk_spark_vault s = state_vault_spark(v);
    u256 out, md, mm;
    if (v->has_idle)
      view_put_amount(o, "idle_assets", v->idle, v->asset_decimals);
    else
      json_object_set_new(o, "idle_assets", json_null());
    if (risk_spark_vault_assets_outstanding(&out, &s, t) == RISK_OK)
      view_put_amount(o, "assets_outstanding", out, v->asset_decimals);
    if (v->has_cap)
      view_put_amount(o, "deposit_cap", v->deposit_cap, v->asset_decimals);
    else
      json_object_set_new(o, "deposit_cap", json_null());
    json_object_set_new(o, "deposit_cap_unlimited", json_boolean(!v->has_cap));
    if (risk_spark_vault_max_deposit(&md, &s, t) == RISK_OK) view_put_amount(o, "max_deposit", md, v->asset_decimals);
    if (risk_spark_vault_max_mint(&mm, &s, t) == RISK_OK) view_put_amount(o, "max_mint", mm, v->decimals);
  } else {
    /* sDAI / sUSDS: redemptions are paid by minting (Pot / USDS join), deposits are uncapped. */
    json_object_set_new(o, "idle_assets", json_null());
    json_object_set_new(o, "deposit_cap", json_null());
    json_object_set_new(o, "deposit_cap_unlimited", json_true());
    view_put_amount(o, "max_deposit", U256_MAX, v->asset_decimals);
    view_put_amount(o, "max_mint", U256_MAX, v->decimals);
  }
  if (v->has_min_rate || v->has_max_rate) {
    json_t *b = json_object();
    if (v->has_min_rate) view_put_rate(b, "min_", v->min_rate);
    if (v->has_max_rate) view_put_rate(b, "max_", v->max_rate);
    json_object_set_new(o, "rate_bounds", b);
  } else {
    json_object_set_new(o, "rate_bounds", json_null());
  }
  if (v->has_intents) {
    json_t *q = json_object();
    json_object_set_new(q, "intents_address", view_json_address(v->intents_address));
    if (v->has_intents_min)
      view_put_amount(q, "min_assets", v->intents_min, v->asset_decimals);
    else
      json_object_set_new(q, "min_assets", json_null());
    if (v->has_intents_max)
      view_put_amount(q, "max_assets", v->intents_max, v->asset_decimals);
    else
      json_object_set_new(q, "max_assets", json_null());
    json_object_set_new(q, "max_deadline_seconds",
                        v->has_intents_deadline ? json_integer((json_int_t)v->intents_max_deadline) : json_null());
    json_object_set_new(o, "queued_redemptions", q);
  } else {
    json_object_set_new(o, "queued_redemptions", json_null());
  }
  json_t *r = json_object();
  for (int i = 0; i < STATE_SAVINGS_WINDOWS; i++) {
    const struct state_realized *x = &v->realized[i];
    json_object_set_new(r, state_savings_windows[i].name,
                        x->ok ? json_pack("{s:s, s:I, s:I, s:I}", "apy", x->apy, "from_block",
                                          (json_int_t)x->from_block, "from_timestamp", (json_int_t)x->from_timestamp,
                                          "seconds", (json_int_t)x->seconds)
                              : json_null());
  }
  json_object_set_new(r, "method", json_string(REALIZED_METHOD));
  json_object_set_new(o, "realized_apy", r);
  return o;
}

char *view_vaults_page(const struct state_savings *ix, size_t off, size_t limit, size_t *len) {
  json_t *asof = view_as_of_all(ix->chains.v, ix->chains.n);
  char *asof_text = json_dumps(asof, JSON_COMPACT);
  json_decref(asof);
  if (!asof_text) return NULL;
  size_t end = off + limit < ix->n ? off + limit : ix->n;
  struct jw w = {0};
  jw_obj(&w);
  jw_key(&w, "data");
  jw_arr(&w);
  for (size_t i = off; i < end; i++)
    jw_json(&w, ix->v[i].item, strlen(ix->v[i].item));
  jw_arr_end(&w);
  jw_key(&w, "as_of");
  jw_json(&w, asof_text, strlen(asof_text));
  free(asof_text);
  if (end < ix->n) {
    char cur[64];
    util_cursor_make('o', (int64_t)end, cur);
    jw_kstr(&w, "next_cursor", cur);
  } else {
    jw_knull(&w, "next_cursor");
  }
  jw_obj_end(&w);
  size_t n = w.len;
  char *out = jw_cstr(&w);
  if (out) *len = n;
  return out;
}

bool view_savings_render(struct state_builder *b) {
  struct state_savings *ix = state_builder_data(b, STATE_SAVINGS_KEY);
  if (!ix) return true;
  for (size_t i = 0; i < ix->n; i++) {
    struct state_vault *v = &ix->v[i];
    json_t *o = view_vault(v, (uint64_t)v->asof.block_timestamp);
    if (!o) { /* cannot happen for state the chain holds; leave it out rather than fail everything */
      o = json_pack("{s:I, s:s, s:s, s:s}", "chain_id", (json_int_t)v->asof.chain_id, "kind", v->kind_name, "address",
                    v->checksum, "symbol", v->symbol);
    }
    v->item = json_dumps(o, JSON_COMPACT);
    json_object_set_new(o, "as_of", view_as_of_json(&v->asof));
    char key[160];
    snprintf(key, sizeof key, VIEW_VAULTS_PATH "/%" PRId64 "/%s", v->asof.chain_id, v->address);
    if (!v->item || !state_cache_put_json(b, key, o, NULL, NULL)) return false;
  }
  size_t len;
  char *page = view_vaults_page(ix, 0, VIEW_VAULTS_PAGE, &len);
  json_error_t e;
  json_t *list = page ? json_loadb(page, len, 0, &e) : NULL;
  free(page);
  return list && state_cache_put_json(b, VIEW_VAULTS_PATH, list, NULL, NULL);
}
