/* GET /v1/markets/{chain}/reserves/{asset}/history?from=&to=&interval=1h|6h|1d&cursor=&limit=
 *
 * Buckets come from db_reserves_history: for each interval the last imported block of the reserve
 * in it, with the oracle price in force at that block. Each bucket's utilization, totals,
 * APR and APY are then the engine's, from that block's stored state accrued to its timestamp.
 * Pages are walked with an opaque cursor naming the next bucket's start. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/reserves_history.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "handlers/markets.h"
#include "service/request.h"
#include "state/cache.h"
#include "util/log.h"
#include "views/markets_json.h"

#define HISTORY_MAX_BUCKETS 10000 /* per request window (from..to) */
#define HISTORY_DEFAULT_LIMIT 100
#define HISTORY_MAX_LIMIT 1000
#define HISTORY_DEFAULT_SPAN (30 * 86400)

/* Parses unix seconds or an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ). */
static bool parse_time(const char *s, int64_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 32) return false;
  bool digits = true;
  for (size_t i = 0; i < n; i++)
    digits = digits && isdigit((unsigned char)s[i]);
  if (digits) {
    if (n > 12) return false;
    *out = atoll(s);
    return true;
  }
  struct tm tm = {0};
  const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || strcmp(end, "Z") != 0) return false;
  time_t t = timegm(&tm);
  if (t < 0) return false;
  *out = (int64_t)t;
  return true;
}

/* The cursor is "h1." + the next bucket's start, hex-encoded: opaque to clients, checked on return. */
static void cursor_encode(int64_t bucket, char out[64]) {
  char plain[32];
  snprintf(plain, sizeof plain, "h1.%lld", (long long)bucket);
  util_cursor_encode(plain, out);
}

static bool cursor_decode(const char *c, int64_t *bucket) {
  char plain[32];
  if (!util_cursor_decode(c, plain) || strncmp(plain, "h1.", 3) != 0 || !plain[3]) return false;
  for (const char *p = plain + 3; *p; p++)
    if (!isdigit((unsigned char)*p)) return false;
  *bucket = atoll(plain + 3);
  return true;
}

struct rows_ctx {
  const struct state_market *m;
  const struct state_reserve *r;
  json_t *data;
  int64_t interval;
  long limit, seen;
  int64_t next_bucket; /* -1: none */
  bool failed;
};

static db_status row_cb(const struct db_reserve_bucket *b, void *arg) {
  struct rows_ctx *x = arg;
  int64_t bucket = b->bucket;
  if (++x->seen > x->limit) {
    x->next_bucket = bucket;
    return DB_OK;
  }
  struct risk_reserve_state s = {0}, at;
  u256 bitmap;
  bool ok = u256_parse_dec(b->configuration, &bitmap);
  risk_reserve_config_decode(bitmap, &s.config);
  ok = ok && u256_parse_dec(b->liquidity_index, &s.liquidity_index) &&
       u256_parse_dec(b->variable_borrow_index, &s.variable_borrow_index) &&
       u256_parse_dec(b->current_liquidity_rate, &s.current_liquidity_rate) &&
       u256_parse_dec(b->current_variable_borrow_rate, &s.current_variable_borrow_rate);
  s.last_update_timestamp = (uint64_t)b->last_update_timestamp;
  ok = ok && u256_parse_dec(b->a_token_scaled_total_supply, &s.a_token_scaled_total_supply) &&
       u256_parse_dec(b->variable_debt_scaled_total_supply, &s.variable_debt_scaled_total_supply) &&
       u256_parse_dec(b->accrued_to_treasury, &s.accrued_to_treasury) &&
       u256_parse_dec(b->isolation_mode_total_debt, &s.isolation_mode_total_debt) &&
       u256_parse_dec(b->available_liquidity, &s.available_liquidity);
  int64_t bn = b->block_number, ts = b->block_timestamp;
  if (!ok) return DB_ERROR;
  if ((uint64_t)ts < s.last_update_timestamp || risk_reserve_update_state(&at, &s, (uint64_t)ts) != RISK_OK ||
      risk_reserve_normalized_income(&at.liquidity_index, &s, (uint64_t)ts) != RISK_OK ||
      risk_reserve_normalized_debt(&at.variable_borrow_index, &s, (uint64_t)ts) != RISK_OK)
    at = s; /* the stored state when it cannot be accrued (never on consistent data) */
  char t1[32];
  json_t *o = json_pack("{sI ss sI ss sI sI}", "bucket_start", (json_int_t)bucket, "time",
                        util_time_rfc3339(bucket, t1), "chain_id", (json_int_t)x->m->chain_id, "asset",
                        x->r->address_cs, "block_number", (json_int_t)bn, "block_timestamp", (json_int_t)ts);
  if (view_reserve_put_state(o, &at, x->r->decimals) != RISK_OK) {
    json_decref(o);
    x->failed = true;
    return DB_ERROR;
  }
  const char *price = b->price_null ? NULL : b->price;
  u256 p;
  if (price && u256_parse_dec(price, &p)) {
    char f[U256_DEC_MAX + 2];
    u256_to_fixed(p, 8, f);
    json_object_set_new(o, "price", json_string(price));
    json_object_set_new(o, "price_usd", json_string(f));
  } else {
    json_object_set_new(o, "price", json_null());
    json_object_set_new(o, "price_usd", json_null());
  }
  json_array_append_new(x->data, o);
  return DB_OK;
}

enum svc_handler_result handler_reserves_history_get(struct svc_request *req) {
  char chain[32] = "", asset[128];
  int64_t id;
  if (!svc_req_param(req, "chain", chain, sizeof chain) || !handler_parse_chain_id(chain, &id))
    return svc_reply_problem(req, SVC_ERR_chain_not_found, "no imported state for chain %.40s", chain);
  const char *a = svc_req_param(req, "asset", asset, sizeof asset);
  if (!a) return svc_reply_problem(req, SVC_ERR_asset_not_found, "no such reserve");
  enum svc_handler_result bad;
  if (!handler_markets_asset_ok(req, a, &bad)) return bad;

  /* Query parameters, each checked before anything else happens. */
  int64_t interval = 86400;
  const char *iv = svc_req_query(req, "interval");
  if (iv) {
    if (strcmp(iv, "1h") == 0)
      interval = 3600;
    else if (strcmp(iv, "6h") == 0)
      interval = 6 * 3600;
    else if (strcmp(iv, "1d") == 0)
      interval = 86400;
    else
      return handler_bad_query(req, "interval", "unknown_interval", "must be 1h, 6h or 1d");
  }
  long limit = HISTORY_DEFAULT_LIMIT;
  const char *ls = svc_req_query(req, "limit");
  if (ls) {
    bool ok = *ls && strlen(ls) <= 6;
    for (const char *p = ls; ok && *p; p++)
      ok = isdigit((unsigned char)*p);
    if (!ok || atol(ls) < 1 || atol(ls) > HISTORY_MAX_LIMIT)
      return handler_bad_query(req, "limit", "out_of_range", "must be an integer from 1 to 1000");
    limit = atol(ls);
  }
  int64_t from = 0, to = 0, cursor = -1;
  const char *fs = svc_req_query(req, "from"), *ts = svc_req_query(req, "to"), *cs = svc_req_query(req, "cursor");
  if (fs && !parse_time(fs, &from))
    return handler_bad_query(req, "from", "invalid_time", "must be unix seconds or RFC 3339 (UTC)");
  if (ts && !parse_time(ts, &to))
    return handler_bad_query(req, "to", "invalid_time", "must be unix seconds or RFC 3339 (UTC)");
  if (cs && !cursor_decode(cs, &cursor))
    return handler_bad_query(req, "cursor", "invalid_cursor", "is not a cursor this service gave");

  struct state_cache *c = state_cache_acquire();
  if (!c) return svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  enum svc_handler_result res = SVC_HANDLED;
  const struct state_market *m = state_markets_chain(c, id);
  const struct state_reserve *r = m ? state_markets_find_reserve(m, a) : NULL;
  if (!m) {
    res = svc_reply_problem(req, SVC_ERR_chain_not_found, "no imported state for chain %.40s", chain);
    goto out;
  }
  if (!r) {
    res = svc_reply_problem(req, SVC_ERR_asset_not_found, "chain %lld has no reserve %.64s", (long long)id, a);
    goto out;
  }
  if (!ts) to = m->block_timestamp;
  if (!fs) from = to > HISTORY_DEFAULT_SPAN ? to - HISTORY_DEFAULT_SPAN : 0;
  if (from > to) {
    res = handler_bad_query(req, "from", "after_to", "must not be after to");
    goto out;
  }
  int64_t start = from / interval * interval;
  if ((to - start) / interval + 1 > HISTORY_MAX_BUCKETS) {
    res = handler_bad_query(req, "interval", "too_many_buckets",
                            "from..to holds more than 10000 buckets at this interval");
    goto out;
  }
  if (cursor >= 0) {
    if (cursor < start || cursor > to || cursor % interval) {
      res = handler_bad_query(req, "cursor", "invalid_cursor", "does not belong to this from, to and interval");
      goto out;
    }
    start = cursor;
  }

  db_conn *conn = svc_req_db_read(req);
  if (!conn) goto out;
  struct rows_ctx x = {m, r, json_array(), interval, limit, 0, -1, false};
  /* one more than asked for: its bucket is the next page's cursor */
  db_status s = db_reserves_history(conn, id, r->address, interval, start, to, limit + 1, row_cb, &x);
  db_release(conn);
  if (s != DB_OK) {
    json_decref(x.data);
    if (s == DB_UNAVAILABLE)
      res = svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached; retry shortly");
    else
      res = SVC_HANDLER_FATAL;
    goto out;
  }
  json_t *next = json_null();
  if (x.next_bucket >= 0) {
    char cur[64];
    cursor_encode(x.next_bucket, cur);
    json_decref(next);
    next = json_string(cur);
  }
  const char *ivname = interval == 3600 ? "1h" : interval == 21600 ? "6h" : "1d";
  char t1[32], t2[32];
  json_t *body = json_pack("{so so so s{ss ss ss ss sI}}", "data", x.data, "as_of", view_market_as_of(m), "next_cursor",
                           next, "query", "from", util_time_rfc3339(from, t1), "to", util_time_rfc3339(to, t2),
                           "interval", ivname, "asset", r->address_cs, "limit", (json_int_t)limit);
  res = svc_reply_json_steal(req, 200, body);
out:
  state_cache_release(c);
  return res;
}
