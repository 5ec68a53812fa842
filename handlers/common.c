/* Helpers the market, savings and liquidity-layer handlers share (handlers/common.h). */
#include "handlers/common.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "risk/eip55.h"
#include "service/request.h"
#include "service/server.h"
#include "state/cache.h"
#include "util/dec.h"

/* ---- as_of ---------------------------------------------------------------------------------- */

/* ---- numbers and amounts -------------------------------------------------------------------- */

bool handler_parse_chain_id(const char *text, int64_t *id) {
  int64_t v;
  if (!util_parse_i64(text, &v) || v <= 0) return false;
  *id = v;
  return true;
}

/* One spelling per id: "01" must not reach the row of "1" (an alias would let a caller probe,
 * cache or key idempotency past the id's one canonical path). */
bool handler_parse_id(const char *text, int64_t *id, char *out) {
  int64_t v;
  if (!text || text[0] == '0' || !util_parse_i64(text, &v)) return false;
  *id = v;
  if (out) util_i64_dec(v, out);
  return true;
}

/* ---- the state cache ------------------------------------------------------------------------ */

struct state_cache *handler_cache_data(struct svc_request *req, const char *key, const void **data,
                                       enum svc_handler_result *res) {
  struct state_cache *c = state_cache_acquire();
  const struct state_item *it = c ? state_cache_get(c, key) : NULL;
  if (!it || !it->data) {
    state_cache_release(c);
    *res = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
    return NULL;
  }
  *data = it->data;
  return c;
}

enum svc_handler_result handler_reply_cached(struct svc_request *req, struct state_cache *c, const char *key) {
  bool found;
  enum svc_handler_result res = svc_reply_cached(req, c, key, &found);
  if (!found) res = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  return res;
}

/* ---- query parameters ----------------------------------------------------------------------- */

enum svc_handler_result handler_bad_query(struct svc_request *req, const char *field, const char *code,
                                          const char *message) {
  json_t *errs = json_array();
  json_array_append_new(errs, svc_field_error(field, code, message));
  return svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errs, "%s: %s", field, message);
}

bool handler_query_limit(struct svc_request *req, size_t d, size_t m, size_t *out) {
  const char *l = svc_req_query(req, "limit");
  *out = d;
  if (!l) return true;
  int64_t x;
  if (!util_parse_i64(l, &x) || x < 1 || (size_t)x > m) {
    char msg[64];
    snprintf(msg, sizeof msg, "must be an integer from 1 to %zu", m);
    handler_bad_query(req, "limit", "out_of_range", msg);
    return false;
  }
  *out = (size_t)x;
  return true;
}

bool handler_query_at(struct svc_request *req, int64_t not_before, int64_t *t) {
  const char *at = svc_req_query(req, "at");
  if (!at) return true;
  int64_t x;
  if (!util_parse_i64(at, &x)) {
    handler_bad_query(req, "at", "not_an_integer", "must be unix seconds (decimal digits)");
    return false;
  }
  if (x < not_before) {
    handler_bad_query(req, "at", "before_block", "must not be before the block the state is as of");
    return false;
  }
  *t = x;
  return true;
}
