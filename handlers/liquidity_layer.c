/* Spark Liquidity Layer: GET /v1/liquidity-layer/rate-limits and /v1/liquidity-layer/allocations.
 * Both are pre-serialised (views/liquidity_json.c) at each chain's latest imported block; rate limits at `?at=` and
 * other pages are computed per request from the typed data attached to the cache. Arithmetic is the engine's
 * (risk/ratelimit.h, spec protocol-math §3.1; APY of a venue APR is Spark's _getAPY, risk/savings.h). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "service/request.h"
#include "state/cache.h"
#include "state/liquidity.h"
#include "util/cursor.h"
#include "views/liquidity_json.h"

#define DEFAULT_LIMIT VIEW_RATE_LIMITS_PAGE
#define MAX_LIMIT 500

/* ---- handlers ----------------------------------------------------------------------------------- */

enum svc_handler_result handler_liquidity_layer_rate_limits_list(struct svc_request *req) {
  const void *data;
  enum svc_handler_result res = SVC_HANDLED;
  struct state_cache *c = handler_cache_data(req, STATE_LIQUIDITY_KEY, &data, &res);
  if (!c) return res;
  const struct state_liquidity *ix = data;
  const char *cursor = svc_req_query(req, "cursor"), *lim = svc_req_query(req, "limit"), *at = svc_req_query(req, "at");
  size_t limit;
  int64_t off = 0, t = 0, newest = 0; /* ?at= must not be before any chain's block */
  for (size_t i = 0; i < ix->chains.n; i++)
    if (ix->chains.v[i].block_timestamp > newest) newest = ix->chains.v[i].block_timestamp;
  if (!handler_query_limit(req, DEFAULT_LIMIT, MAX_LIMIT, &limit)) {
    res = SVC_HANDLED;
  } else if (cursor && (!util_cursor_parse(cursor, 'o', &off) || (size_t)off > ix->n)) {
    res = handler_bad_query(req, "cursor", "invalid_cursor", "not a cursor this list returned");
  } else if (!handler_query_at(req, newest, &t)) {
    res = SVC_HANDLED;
  } else if (!cursor && !lim && !at) {
    res = handler_reply_cached(req, c, VIEW_RATE_LIMITS_PATH);
  } else {
    res = svc_reply_json_steal(req, 200, view_rate_limits_page(ix, (size_t)off, limit, (uint64_t)t));
  }
  state_cache_release(c);
  return res;
}

enum svc_handler_result handler_liquidity_layer_allocations_list(struct svc_request *req) {
  struct state_cache *c = state_cache_acquire();
  bool found = false;
  enum svc_handler_result res = c ? svc_reply_cached(req, c, VIEW_ALLOCATIONS_PATH, &found) : SVC_HANDLER_FATAL;
  if (!found) res = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  state_cache_release(c);
  return res;
}
