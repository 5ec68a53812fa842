/* Spark Liquidity Layer: GET /v1/liquidity-layer/rate-limits and /v1/liquidity-layer/allocations.
 * Both are pre-serialised by the state-cache builder (handler_liquidity_layer_build) at each chain's
 * latest imported block; rate limits at `?at=` and other pages are computed per request from the
 * typed data attached to the cache. Arithmetic is the engine's (risk/ratelimit.h, spec
 * protocol-math §3.1; APY of a venue APR is Spark's _getAPY, risk/savings.h). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "risk/ratelimit.h"
#include "risk/savings.h"
#include "service/cache.h"
#include "service/request.h"
#include "service/server.h"

#define RL_KEY "/v1/liquidity-layer/rate-limits"
#define ALLOC_KEY "/v1/liquidity-layer/allocations"
#define RL_INDEX_KEY "liquidity-layer:rate-limits"
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 500

struct rl {
  const struct handler_chain_asof *asof;
  char key[67], name[128];
  bool has_asset, asset_known, has_target, has_venue;
  char asset[43], asset_symbol[64], target[43], venue_id[128], venue_label[128], venue_kind[32];
  int64_t asset_decimals;
  struct risk_rate_limit st;
};

struct rl_index {
  size_t n, cap;
  struct rl *v;
  struct handler_chains chains;
};

/* Returns one rate limit's JSON object at time t (new reference). */
static json_t *rl_json(const struct rl *r, uint64_t t) {
  json_t *o = json_object();
  int64_t d = r->asset_known ? r->asset_decimals : -1;
  json_object_set_new(o, "chain_id", json_integer((json_int_t)r->asof->chain_id));
  json_object_set_new(o, "key", json_string(r->key));
  json_object_set_new(o, "name", json_string(r->name));
  if (r->has_asset)
    json_object_set_new(o, "asset",
                        json_pack("{s:o, s:o, s:o}", "address", handler_json_address(r->asset), "symbol",
                                  r->asset_known ? json_string(r->asset_symbol) : json_null(), "decimals",
                                  r->asset_known ? json_integer(r->asset_decimals) : json_null()));
  else
    json_object_set_new(o, "asset", json_null());
  if (r->has_target)
    json_object_set_new(o, "target",
                        json_pack("{s:o, s:o, s:o, s:o}", "address", handler_json_address(r->target), "venue_id",
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
  handler_put_amount(o, "max_amount", r->st.max_amount, unlimited ? -1 : d);
  handler_put_amount(o, "slope_per_second", r->st.slope, d);
  u256 per_day, cur, secs;
  if (risk_rate_limit_per_day(&per_day, &r->st) == RISK_OK)
    handler_put_amount(o, "slope_per_day", per_day, d);
  else
    json_object_set_new(o, "slope_per_day", json_null());
  handler_put_amount(o, "last_amount", r->st.last_amount, unlimited ? -1 : d);
  json_object_set_new(o, "last_updated", json_integer((json_int_t)r->st.last_updated));
  if (risk_rate_limit_current(&cur, &r->st, t) == RISK_OK) {
    handler_put_amount(o, "current", cur, unlimited ? -1 : d);
    if (unlimited || inactive) {
      json_object_set_new(o, "headroom_pct", json_null());
    } else {
      u256 scaled, pct; /* fl(current * 100 * 10^4 / max) as a 4-decimal percentage */
      if (u256_muldiv(&pct, cur, u256_from_u64(1000000), r->st.max_amount) == RISK_OK)
        json_object_set_new(o, "headroom_pct", handler_json_fixed(pct, 4));
      else
        json_object_set_new(o, "headroom_pct", json_null());
      (void)scaled;
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

/* ---- builder ------------------------------------------------------------------------------------ */

static void rl_index_free(void *p) {
  struct rl_index *ix = p;
  if (!ix) return;
  free(ix->v);
  free(ix);
}

static db_status rl_row(const db_row *row, void *arg) {
  struct rl_index *ix = arg;
  if (ix->n == ix->cap) {
    size_t cap = ix->cap ? ix->cap * 2 : 32;
    struct rl *nv = realloc(ix->v, cap * sizeof *nv);
    if (!nv) return DB_ERROR;
    ix->v = nv;
    ix->cap = cap;
  }
  struct rl *r = &ix->v[ix->n];
  memset(r, 0, sizeof *r);
  int64_t chain = 0, lu = 0;
  char mx[U256_DEC_MAX], sl[U256_DEC_MAX], la[U256_DEC_MAX];
  bool n_asset, n_target, n_sym, n_dec, n_vid, n_vl, n_vk;
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &chain, 0, NULL},
      {"key", DB_COL_TEXT, r->key, sizeof r->key, NULL},
      {"name", DB_COL_TEXT, r->name, sizeof r->name, NULL},
      {"asset", DB_COL_TEXT, r->asset, sizeof r->asset, &n_asset},
      {"target", DB_COL_TEXT, r->target, sizeof r->target, &n_target},
      {"max_amount", DB_COL_TEXT, mx, sizeof mx, NULL},
      {"slope", DB_COL_TEXT, sl, sizeof sl, NULL},
      {"last_amount", DB_COL_TEXT, la, sizeof la, NULL},
      {"last_updated", DB_COL_INT64, &lu, 0, NULL},
      {"asset_symbol", DB_COL_TEXT, r->asset_symbol, sizeof r->asset_symbol, &n_sym},
      {"asset_decimals", DB_COL_INT64, &r->asset_decimals, 0, &n_dec},
      {"venue_id", DB_COL_TEXT, r->venue_id, sizeof r->venue_id, &n_vid},
      {"venue_label", DB_COL_TEXT, r->venue_label, sizeof r->venue_label, &n_vl},
      {"venue_kind", DB_COL_TEXT, r->venue_kind, sizeof r->venue_kind, &n_vk},
  };
  db_status s = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (s != DB_OK) return s;
  r->has_asset = !n_asset;
  r->asset_known = !n_sym && !n_dec;
  r->has_target = !n_target;
  r->has_venue = !n_vid && !n_vl && !n_vk;
  r->st.last_updated = (uint64_t)lu;
  if (!handler_parse_u256(mx, &r->st.max_amount) || !handler_parse_u256(sl, &r->st.slope) ||
      !handler_parse_u256(la, &r->st.last_amount))
    return DB_ERROR;
  r->asof = handler_chains_find(&ix->chains, chain);
  if (!r->asof) return DB_OK; /* a chain past the index's capacity: left out rather than failing the cache */
  ix->n++;
  return DB_OK;
}

struct alloc_ctx {
  const struct rl_index *ix;
  json_t *data;
};

static db_status alloc_row(const db_row *row, void *arg) {
  struct alloc_ctx *a = arg;
  int64_t chain, adec;
  char venue[128], kind[32], label[128], address[43], asset[43], sym[64], amount[U256_DEC_MAX], apr_s[U256_DEC_MAX];
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &chain, 0, NULL},
      {"venue_id", DB_COL_TEXT, venue, sizeof venue, NULL},
      {"kind", DB_COL_TEXT, kind, sizeof kind, NULL},
      {"label", DB_COL_TEXT, label, sizeof label, NULL},
      {"address", DB_COL_TEXT, address, sizeof address, NULL},
      {"asset", DB_COL_TEXT, asset, sizeof asset, NULL},
      {"symbol", DB_COL_TEXT, sym, sizeof sym, NULL},
      {"decimals", DB_COL_INT64, &adec, 0, NULL},
      {"amount", DB_COL_TEXT, amount, sizeof amount, NULL},
      {"apr", DB_COL_TEXT, apr_s, sizeof apr_s, NULL},
  };
  db_status s = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (s != DB_OK) return s;
  u256 amt, apr, apy;
  if (!handler_parse_u256(amount, &amt) || !handler_parse_u256(apr_s, &apr)) return DB_ERROR;
  json_t *o = json_object();
  json_object_set_new(o, "chain_id", json_integer((json_int_t)chain));
  json_object_set_new(o, "venue_id", json_string(venue));
  json_object_set_new(o, "kind", json_string(kind));
  json_object_set_new(o, "label", json_string(label));
  json_object_set_new(o, "address", handler_json_address(address));
  json_object_set_new(o, "asset", handler_asset_json(asset, sym, adec));
  handler_put_amount(o, "amount", amt, adec);
  handler_put_ray(o, "apr", &apr);
  handler_put_ray(o, "apy", risk_savings_get_apy(&apy, apr) == RISK_OK ? &apy : NULL);
  json_array_append_new(a->data, o);
  return DB_OK;
}

static db_status idle_row(const db_row *row, void *arg) {
  struct alloc_ctx *a = arg;
  int64_t chain, adec;
  char asset[43], sym[64], amount[U256_DEC_MAX], deployed[U256_DEC_MAX];
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &chain, 0, NULL},          {"asset", DB_COL_TEXT, asset, sizeof asset, NULL},
      {"symbol", DB_COL_TEXT, sym, sizeof sym, NULL},       {"decimals", DB_COL_INT64, &adec, 0, NULL},
      {"amount", DB_COL_TEXT, amount, sizeof amount, NULL}, {"deployed", DB_COL_TEXT, deployed, sizeof deployed, NULL},
  };
  db_status s = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (s != DB_OK) return s;
  u256 amt, dep;
  if (!handler_parse_u256(amount, &amt) || !handler_parse_u256(deployed, &dep)) return DB_ERROR;
  json_t *o = json_object();
  json_object_set_new(o, "chain_id", json_integer((json_int_t)chain));
  json_object_set_new(o, "asset", handler_asset_json(asset, sym, adec));
  handler_put_amount(o, "amount", amt, adec);
  handler_put_amount(o, "deployed", dep, adec);
  json_array_append_new(a->data, o);
  return DB_OK;
}

static const struct db_statement statements[] = {
    {"ll_chains", "SELECT chain_id, block_number, block_timestamp FROM chains ORDER BY chain_id"},
    {"ll_rate_limits",
     "SELECT r.chain_id, r.key, r.name, r.asset, r.target, r.max_amount::text AS max_amount, r.slope::text AS slope, "
     "r.last_amount::text AS last_amount, r.last_updated, a.symbol AS asset_symbol, a.decimals::bigint AS "
     "asset_decimals, v.venue_id, v.label AS venue_label, v.kind AS venue_kind "
     "FROM ll_rate_limits r LEFT JOIN assets a ON a.chain_id = r.chain_id AND a.address = r.asset "
     "LEFT JOIN LATERAL (SELECT venue_id, label, kind FROM ll_venues x WHERE x.chain_id = r.chain_id AND "
     "x.address = r.target ORDER BY venue_id LIMIT 1) v ON true ORDER BY r.chain_id, r.name, r.key"},
    {"ll_allocations",
     "SELECT l.chain_id, l.venue_id, v.kind, v.label, v.address, l.asset, a.symbol, a.decimals::bigint AS decimals, "
     "l.amount::text AS amount, l.apr::text AS apr FROM ll_allocations l "
     "JOIN ll_venues v ON v.chain_id = l.chain_id AND v.venue_id = l.venue_id "
     "JOIN assets a ON a.chain_id = l.chain_id AND a.address = l.asset ORDER BY l.chain_id, l.venue_id, l.asset"},
    {"ll_idle",
     "SELECT i.chain_id, i.asset, a.symbol, a.decimals::bigint AS decimals, i.amount::text AS amount, "
     "COALESCE((SELECT sum(amount) FROM ll_allocations l WHERE l.chain_id = i.chain_id AND l.asset = i.asset), 0)"
     "::text AS deployed FROM ll_idle i JOIN assets a ON a.chain_id = i.chain_id AND a.address = i.asset "
     "ORDER BY i.chain_id, i.asset"},
};

static pthread_once_t stmts_once = PTHREAD_ONCE_INIT;
static void register_statements(void) { db_statements_register(statements, sizeof statements / sizeof statements[0]); }

/* Returns a page {data, as_of, next_cursor} of rate limits at t (t = 0: each at its chain's block). */
static json_t *rl_page(const struct rl_index *ix, size_t off, size_t limit, uint64_t t) {
  json_t *data = json_array();
  size_t end = off + limit < ix->n ? off + limit : ix->n;
  for (size_t i = off; i < end; i++)
    json_array_append_new(data, rl_json(&ix->v[i], t ? t : (uint64_t)ix->v[i].asof->block_timestamp));
  json_t *next = json_null();
  if (end < ix->n) {
    char cur[64];
    handler_cursor_make('o', (int64_t)end, cur);
    next = json_string(cur);
  }
  return json_pack("{s:o, s:o, s:o}", "data", data, "as_of", handler_as_of_all(&ix->chains), "next_cursor", next);
}

/* State-cache builder: rate limits (with typed data for ?at=) and allocations. */
db_status handler_liquidity_layer_build(db_conn *conn, struct svc_cache_builder *b) {
  pthread_once(&stmts_once, register_statements);
  struct rl_index *ix = calloc(1, sizeof *ix);
  if (!ix) return DB_ERROR;
  db_status s = db_query_prepared(conn, "ll_chains", 0, NULL, handler_chains_row, &ix->chains, NULL);
  if (s == DB_OK) s = db_query_prepared(conn, "ll_rate_limits", 0, NULL, rl_row, ix, NULL);
  struct alloc_ctx ac = {ix, json_array()}, ic = {ix, json_array()};
  if (s == DB_OK) s = db_query_prepared(conn, "ll_allocations", 0, NULL, alloc_row, &ac, NULL);
  if (s == DB_OK) s = db_query_prepared(conn, "ll_idle", 0, NULL, idle_row, &ic, NULL);
  if (s != DB_OK) {
    json_decref(ac.data);
    json_decref(ic.data);
    rl_index_free(ix);
    return s;
  }
  json_t *alloc = json_pack("{s:o, s:o, s:o, s:n}", "data", ac.data, "idle", ic.data, "as_of",
                            handler_as_of_all(&ix->chains), "next_cursor");
  if (!svc_cache_put_json(b, ALLOC_KEY, alloc, NULL, NULL) ||
      !svc_cache_put_json(b, RL_KEY, rl_page(ix, 0, DEFAULT_LIMIT, 0), NULL, NULL)) {
    rl_index_free(ix);
    return DB_ERROR;
  }
  return svc_cache_put_data(b, RL_INDEX_KEY, ix, rl_index_free) ? DB_OK : DB_ERROR;
}

/* ---- handlers ----------------------------------------------------------------------------------- */

enum svc_handler_result handler_liquidity_layer_rate_limits_list(struct svc_request *req) {
  const void *data;
  enum svc_handler_result res = SVC_HANDLED;
  struct svc_cache *c = handler_cache_data(req, RL_INDEX_KEY, &data, &res);
  if (!c) return res;
  const struct rl_index *ix = data;
  const char *cursor = svc_req_query(req, "cursor"), *lim = svc_req_query(req, "limit"), *at = svc_req_query(req, "at");
  size_t limit;
  int64_t off = 0, t = 0, newest = 0; /* ?at= must not be before any chain's block */
  for (size_t i = 0; i < ix->chains.n; i++)
    if (ix->chains.v[i].block_timestamp > newest) newest = ix->chains.v[i].block_timestamp;
  if (!handler_query_limit(req, DEFAULT_LIMIT, MAX_LIMIT, &limit)) {
    res = SVC_HANDLED;
  } else if (cursor && (!handler_cursor_parse(cursor, 'o', &off) || (size_t)off > ix->n)) {
    res = handler_bad_query(req, "cursor", "invalid_cursor", "not a cursor this list returned");
  } else if (!handler_query_at(req, newest, &t)) {
    res = SVC_HANDLED;
  } else if (!cursor && !lim && !at) {
    res = handler_reply_cached(req, c, RL_KEY);
  } else {
    res = svc_reply_json_steal(req, 200, rl_page(ix, (size_t)off, limit, (uint64_t)t));
  }
  svc_cache_release(c);
  return res;
}

enum svc_handler_result handler_liquidity_layer_allocations_list(struct svc_request *req) {
  struct svc_cache *c = svc_cache_acquire(req->srv);
  bool found = false;
  enum svc_handler_result res = c ? svc_reply_cached(req, c, ALLOC_KEY, &found) : SVC_HANDLER_FATAL;
  if (!found)
    res = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  svc_cache_release(c);
  return res;
}
