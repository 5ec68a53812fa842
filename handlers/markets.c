/* SparkLend markets from the state cache: GET /v1/chains, /v1/markets,
 * /v1/markets/{chain}/reserves, /v1/markets/{chain}/reserves/{asset} and
 * /v1/markets/{chain}/emode-categories, served from what views/markets_json.c pre-serialised from state/markets.c.
 *
 * Values are the chain's views at the latest imported block's timestamp: every reserve is run
 * through ReserveLogic.updateState to that time (indexes, accrued treasury), the stored rates are
 * what the pool returns until the next action. `?at=` re-runs the same code at a later time from
 * the typed market data (STATE_MARKETS_KEY), without the database. */
#include "handlers/markets.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "service/request.h"
#include "state/cache.h"
#include "state/markets.h"
#include "util/hex.h"
#include "views/markets_json.h"

bool handler_markets_asset_ok(struct svc_request *req, const char *asset, enum svc_handler_result *res) {
  char lower[43];
  if (asset && !(asset[0] == '0' && (asset[1] == 'x' || asset[1] == 'X') && !util_parse_address(asset, lower)))
    return true;
  *res = svc_reply_problem_fields(
      req, SVC_ERR_invalid_parameter,
      json_pack("[o]", svc_field_error("asset", "invalid_address", "must be 0x followed by 40 hex digits")),
      "the asset is not an address");
  return false;
}

/* ---- handlers ------------------------------------------------------------------------------- */

/* Returns the cache, or NULL after replying 503 (not built yet). */
static struct state_cache *cache_or_503(struct svc_request *req) {
  struct state_cache *c = state_cache_acquire();
  if (!c) svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  return c;
}

/* Parses ?at= against the chain's block; returns 0 when absent, 1 with *t set, -1 after a 400. */
static int parse_at(struct svc_request *req, const struct state_market *m, uint64_t *t) {
  const char *at = svc_req_query(req, "at");
  if (!at) return 0;
  bool digits = *at && strlen(at) <= 12;
  for (const char *p = at; *p && digits; p++)
    digits = isdigit((unsigned char)*p);
  if (!digits) {
    svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter,
                             json_pack("[o]", svc_field_error("at", "not_an_integer", "must be unix seconds")),
                             "at must be unix seconds");
    return -1;
  }
  uint64_t v = strtoull(at, NULL, 10);
  if (v < (uint64_t)m->block_timestamp) {
    svc_reply_problem_fields(
        req, SVC_ERR_bad_query_parameter,
        json_pack("[o]", svc_field_error("at", "before_block", "must not be before the block the state is as of")),
        "at %llu is before block %lld (timestamp %lld)", (unsigned long long)v, (long long)m->block_number,
        (long long)m->block_timestamp);
    return -1;
  }
  *t = v;
  return 1;
}

static enum svc_handler_result reply_projection(struct svc_request *req, json_t *body, risk_err err) {
  if (!body)
    return svc_reply_problem_fields(
        req, SVC_ERR_bad_query_parameter,
        json_pack("[o]", svc_field_error("at", "out_of_range", "too far ahead: the chain's arithmetic overflows")),
        "the state cannot be projected to that time (%s)", risk_err_name(err));
  return svc_reply_json_steal(req, 200, body);
}

static enum svc_handler_result chain_not_found(struct svc_request *req, const char *chain) {
  return svc_reply_problem(req, SVC_ERR_chain_not_found, "no imported state for chain %.40s", chain);
}

/* Reads the {chain} path parameter into chain[32] ("?" when absent or too long) and *id; returns false
 * when it is not a chain id. */
static bool chain_param(struct svc_request *req, char chain[32], int64_t *id) {
  if (svc_req_param(req, "chain", chain, 32)) return handler_parse_chain_id(chain, id);
  snprintf(chain, 32, "?");
  return false;
}

/* Serves a whole-path cache entry (chains, markets). */
static enum svc_handler_result serve_key(struct svc_request *req, const char *key) {
  struct state_cache *c = cache_or_503(req);
  if (!c) return SVC_HANDLED;
  bool found;
  enum svc_handler_result r = svc_reply_cached(req, c, key, &found);
  if (!found) { /* the builder always writes these keys: only a failed build can miss them */
    r = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  }
  state_cache_release(c);
  return r;
}

enum svc_handler_result handler_chains_list(struct svc_request *req) { return serve_key(req, "/v1/chains"); }

enum svc_handler_result handler_markets_list(struct svc_request *req) { return serve_key(req, "/v1/markets"); }

enum svc_handler_result handler_reserves_list(struct svc_request *req) {
  char chain[32];
  int64_t id;
  if (!chain_param(req, chain, &id)) return chain_not_found(req, chain);
  struct state_cache *c = cache_or_503(req);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res;
  const struct state_market *m = state_markets_chain(c, id);
  uint64_t t;
  int at;
  if (!m) {
    res = chain_not_found(req, chain);
  } else if ((at = parse_at(req, m, &t)) < 0) {
    res = SVC_HANDLED;
  } else if (at > 0) {
    risk_err err = RISK_OK;
    res = reply_projection(req, view_reserves_list(m, t, &err), err);
  } else {
    char key[64];
    bool found;
    snprintf(key, sizeof key, "/v1/markets/%lld/reserves", (long long)id);
    res = svc_reply_cached(req, c, key, &found);
  }
  state_cache_release(c);
  return res;
}

enum svc_handler_result handler_reserves_get(struct svc_request *req) {
  char chain[32], asset[128];
  int64_t id;
  if (!chain_param(req, chain, &id)) return chain_not_found(req, chain);
  const char *a = svc_req_param(req, "asset", asset, sizeof asset);
  enum svc_handler_result bad;
  if (!handler_markets_asset_ok(req, a, &bad)) return bad;
  struct state_cache *c = cache_or_503(req);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res;
  const struct state_market *m = state_markets_chain(c, id);
  const struct state_reserve *r = m ? state_markets_find_reserve(m, a) : NULL;
  uint64_t t;
  int at;
  if (!m) {
    res = chain_not_found(req, chain);
  } else if (!r) {
    res = svc_reply_problem(req, SVC_ERR_asset_not_found, "chain %lld has no reserve %.64s", (long long)id, a);
  } else if ((at = parse_at(req, m, &t)) < 0) {
    res = SVC_HANDLED;
  } else if (at > 0) {
    risk_err err = RISK_OK;
    res = reply_projection(req, view_reserve_single(m, r, t, &err), err);
  } else {
    char key[128];
    bool found;
    snprintf(key, sizeof key, "/v1/markets/%lld/reserves/%s", (long long)id, r->address);
    res = svc_reply_cached(req, c, key, &found);
    if (!found)
      res = svc_reply_problem(req, SVC_ERR_internal_error, "reserve %s could not be evaluated", r->address_cs);
  }
  state_cache_release(c);
  return res;
}

enum svc_handler_result handler_emode_categories_list(struct svc_request *req) {
  char chain[32];
  int64_t id;
  if (!chain_param(req, chain, &id)) return chain_not_found(req, chain);
  struct state_cache *c = cache_or_503(req);
  if (!c) return SVC_HANDLED;
  char key[64];
  bool found;
  snprintf(key, sizeof key, "/v1/markets/%lld/emode-categories", (long long)id);
  enum svc_handler_result res = svc_reply_cached(req, c, key, &found);
  if (!found) res = chain_not_found(req, chain);
  state_cache_release(c);
  return res;
}
