/* Savings vaults: GET /v1/savings/vaults, /v1/savings/vaults/{chain}/{vault}, .../history and
 * .../preview. The list and each vault are pre-serialised (views/savings_json.c) at the latest
 * imported block; `?at=` views and previews are computed per
 * request from the typed vault data attached to the cache (no database); the history is bucketed
 * in SQL per request. Arithmetic is the engine's (risk/savings.h, spec protocol-math §1). */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db/savings.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "risk/savings.h"
#include "risk/wadray.h"
#include "service/request.h"
#include "service/server.h"
#include "state/cache.h"
#include "state/savings.h"
#include "util/cursor.h"
#include "util/hex.h"
#include "util/time.h"
#include "views/json.h"
#include "views/savings_json.h"

#define DEFAULT_LIMIT VIEW_VAULTS_PAGE
#define MAX_LIMIT 500
#define HISTORY_DEFAULT_LIMIT 100
#define HISTORY_MAX_LIMIT 1000
#define HISTORY_MAX_BUCKETS 10000

/* ---- request helpers -------------------------------------------------------------------------- */

/* Returns the cache with the savings index, or NULL after replying 503. */
static struct state_cache *acquire(struct svc_request *req, const struct state_savings **ix) {
  const void *data = NULL;
  enum svc_handler_result res;
  struct state_cache *c = handler_cache_data(req, STATE_SAVINGS_KEY, &data, &res);
  *ix = data;
  return c;
}

/* Resolves {chain}/{vault}; returns the vault or NULL after replying 400/404. */
static const struct state_vault *resolve(struct svc_request *req, const struct state_savings *ix) {
  char chain_s[32], vault_s[128];
  const char *cs = svc_req_param(req, "chain", chain_s, sizeof chain_s);
  const char *vs = svc_req_param(req, "vault", vault_s, sizeof vault_s);
  int64_t chain;
  if (!cs || !handler_parse_chain_id(cs, &chain) || !state_chains_find(&ix->chains, chain)) {
    json_t *errs = json_array();
    json_array_append_new(errs, svc_field_error("chain", "not_found", "no imported chain has this id"));
    svc_reply_problem_fields(req, SVC_ERR_chain_not_found, errs, "chain %s is not known", cs ? cs : "");
    return NULL;
  }
  if (!vs) {
    svc_reply_problem(req, SVC_ERR_vault_not_found, "no vault given");
    return NULL;
  }
  bool hexlike = strncasecmp(vs, "0x", 2) == 0;
  if (hexlike) {
    char addr[43];
    if (!util_parse_address(vs, addr)) {
      json_t *errs = json_array();
      json_array_append_new(errs, svc_field_error("vault", "invalid_address", "must be 0x followed by 40 hex digits"));
      svc_reply_problem_fields(req, SVC_ERR_invalid_parameter, errs, "vault: not an address");
      return NULL;
    }
    for (size_t i = 0; i < ix->n; i++)
      if (ix->v[i].asof.chain_id == chain && strcmp(ix->v[i].address, addr) == 0) return &ix->v[i];
  } else {
    for (size_t i = 0; i < ix->n; i++)
      if (ix->v[i].asof.chain_id == chain && strcasecmp(ix->v[i].symbol, vs) == 0) return &ix->v[i];
  }
  json_t *errs = json_array();
  json_array_append_new(errs, svc_field_error("vault", "not_found", "no vault with this address or symbol"));
  svc_reply_problem_fields(req, SVC_ERR_vault_not_found, errs, "vault %s is not known on chain %" PRId64, vs, chain);
  return NULL;
}

/* Parses ?at= (defaults to the block); returns false after replying 400. */
static bool parse_at(struct svc_request *req, const struct state_vault *v, uint64_t *t) {
  int64_t x = v->asof.block_timestamp;
  if (!handler_query_at(req, v->asof.block_timestamp, &x)) return false;
  *t = (uint64_t)x;
  return true;
}

/* ---- GET /v1/savings/vaults ------------------------------------------------------------------- */

enum svc_handler_result handler_savings_vaults_list(struct svc_request *req) {
  const struct state_savings *ix;
  struct state_cache *c = acquire(req, &ix);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res;
  const char *cursor = svc_req_query(req, "cursor");
  size_t limit;
  int64_t off = 0;
  if (!handler_query_limit(req, DEFAULT_LIMIT, MAX_LIMIT, &limit)) {
    res = SVC_HANDLED;
  } else if (cursor && (!util_cursor_parse(cursor, 'o', &off) || (size_t)off > ix->n)) {
    res = handler_bad_query(req, "cursor", "invalid_cursor", "not a cursor this list returned");
  } else if (!cursor && limit == DEFAULT_LIMIT) {
    res = handler_reply_cached(req, c, VIEW_VAULTS_PATH);
  } else {
    size_t len;
    char *page = view_vaults_page(ix, (size_t)off, limit, &len);
    res = page ? svc_reply_take(req, 200, "application/json", page, len) : SVC_HANDLER_FATAL;
  }
  state_cache_release(c);
  return res;
}

/* ---- GET /v1/savings/vaults/{chain}/{vault} --------------------------------------------------- */

enum svc_handler_result handler_savings_vault_get(struct svc_request *req) {
  const struct state_savings *ix;
  struct state_cache *c = acquire(req, &ix);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res = SVC_HANDLED;
  const struct state_vault *v = resolve(req, ix);
  uint64_t t;
  if (v && parse_at(req, v, &t)) {
    if (!svc_req_query(req, "at")) {
      char key[160];
      snprintf(key, sizeof key, VIEW_VAULTS_PATH "/%" PRId64 "/%s", v->asof.chain_id, v->address);
      res = handler_reply_cached(req, c, key);
    } else {
      json_t *o = view_vault(v, t);
      if (!o) {
        res =
            handler_bad_query(req, "at", "out_of_range", "too far ahead: the accumulator overflows, the chain reverts");
      } else {
        json_object_set_new(o, "as_of", view_as_of_json(&v->asof));
        res = svc_reply_json_steal(req, 200, o);
      }
    }
  }
  state_cache_release(c);
  return res;
}

/* ---- GET /v1/savings/vaults/{chain}/{vault}/preview ------------------------------------------- */

enum action { ACT_DEPOSIT, ACT_MINT, ACT_WITHDRAW, ACT_REDEEM };
static const char *const action_names[] = {"deposit", "mint", "withdraw", "redeem"};

static const char *balance_revert(const struct state_vault *v) {
  switch (v->kind) {
  case STATE_VAULT_SDAI: return "SavingsDai/insufficient-balance";
  case STATE_VAULT_SUSDS: return "SUsds/insufficient-balance";
  default: return risk_vault_revert_string(RISK_VAULT_INSUFFICIENT_BALANCE);
  }
}

/* The largest amount of the action that passes at t (owner_shares may be absent = unbounded). */
static risk_err max_for(const struct state_vault *v, enum action a, bool has_owner, u256 owner, uint64_t t, u256 *m) {
  u256 c;
  risk_err e = state_vault_chi_at(v, t, &c);
  if (e != RISK_OK) return e;
  if (v->kind == STATE_VAULT_V2) {
    struct risk_spark_vault s = state_vault_spark(v);
    u256 own = has_owner ? owner : U256_MAX;
    switch (a) {
    case ACT_DEPOSIT: return risk_spark_vault_max_deposit(m, &s, t);
    case ACT_MINT: return risk_spark_vault_max_mint(m, &s, t);
    case ACT_WITHDRAW:
      if (!has_owner) {
        *m = s.liquidity;
        return RISK_OK;
      }
      return risk_spark_vault_max_withdraw(m, &s, own, t);
    case ACT_REDEEM: return risk_spark_vault_max_redeem(m, &s, own, t);
    }
  }
  switch (a) {
  case ACT_DEPOSIT:
  case ACT_MINT: *m = U256_MAX; return RISK_OK;
  case ACT_WITHDRAW:
    if (!has_owner) {
      *m = U256_MAX;
      return RISK_OK;
    }
    return risk_savings_convert_to_assets(m, owner, c);
  case ACT_REDEEM: *m = has_owner ? owner : U256_MAX; return RISK_OK;
  }
  return RISK_INVALID;
}

enum svc_handler_result handler_savings_vault_preview(struct svc_request *req) {
  const struct state_savings *ix;
  struct state_cache *c = acquire(req, &ix);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res = SVC_HANDLED;
  const struct state_vault *v = resolve(req, ix);
  uint64_t t;
  if (!v || !parse_at(req, v, &t)) goto done;

  const char *act_s = svc_req_query(req, "action");
  const char *amount_s = svc_req_query(req, "amount");
  const char *owner_s = svc_req_query(req, "owner_shares");
  json_t *errs = json_array();
  int act = -1;
  if (!act_s)
    json_array_append_new(errs, svc_field_error("action", "required", "is required"));
  else
    for (int i = 0; i < 4; i++)
      if (strcmp(act_s, action_names[i]) == 0) act = i;
  if (act_s && act < 0)
    json_array_append_new(errs,
                          svc_field_error("action", "unknown_action", "must be deposit, mint, withdraw or redeem"));
  u256 amount = U256_ZERO, owner = U256_ZERO;
  if (!amount_s)
    json_array_append_new(errs, svc_field_error("amount", "required", "is required"));
  else
    svc_parse_u256(amount_s, "amount", &amount, errs);
  bool has_owner = owner_s != NULL;
  if (has_owner) svc_parse_u256(owner_s, "owner_shares", &owner, errs);
  if (json_array_size(errs)) {
    res = svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errs, "%zu query parameter(s) are invalid",
                                   json_array_size(errs));
    goto done;
  }
  json_decref(errs);

  u256 chi_t, out = U256_ZERO;
  enum risk_vault_revert why = RISK_VAULT_OK;
  const char *revert = NULL;
  risk_err e = state_vault_chi_at(v, t, &chi_t);
  if (e == RISK_OK && v->kind == STATE_VAULT_V2) {
    struct risk_spark_vault s = state_vault_spark(v);
    u256 own = has_owner ? owner : U256_MAX;
    switch ((enum action)act) {
    case ACT_DEPOSIT: e = risk_spark_vault_deposit(NULL, &out, &why, &s, amount, t); break;
    case ACT_MINT: e = risk_spark_vault_mint(NULL, &out, &why, &s, amount, t); break;
    case ACT_WITHDRAW: e = risk_spark_vault_withdraw(NULL, &out, &why, &s, amount, own, t); break;
    case ACT_REDEEM: e = risk_spark_vault_redeem(NULL, &out, &why, &s, amount, own, t); break;
    }
    if (e == RISK_INVALID && why != RISK_VAULT_OK) revert = risk_vault_revert_string(why);
  } else if (e == RISK_OK) {
    switch ((enum action)act) {
    case ACT_DEPOSIT: e = risk_savings_preview_deposit(&out, amount, chi_t); break;
    case ACT_MINT: e = risk_savings_preview_mint(&out, amount, chi_t); break;
    case ACT_WITHDRAW:
      e = risk_savings_preview_withdraw(&out, amount, chi_t);
      if (e == RISK_OK && has_owner && u256_gt(out, owner)) revert = balance_revert(v);
      break;
    case ACT_REDEEM:
      e = risk_savings_preview_redeem(&out, amount, chi_t);
      if (e == RISK_OK && has_owner && u256_gt(amount, owner)) revert = balance_revert(v);
      break;
    }
  }
  bool in_shares = act == ACT_DEPOSIT || act == ACT_REDEEM; /* amount in assets, result in shares? */
  bool amount_is_assets = act == ACT_DEPOSIT || act == ACT_WITHDRAW;
  (void)in_shares;
  int amount_dec = amount_is_assets ? v->asset_decimals : v->decimals;
  int result_dec = amount_is_assets ? v->decimals : v->asset_decimals;
  u256 mx;
  bool has_max = max_for(v, (enum action)act, has_owner, owner, t, &mx) == RISK_OK;
  if (revert || e != RISK_OK) {
    const char *reason = revert ? revert : "arithmetic overflow or division by zero (Panic)";
    json_t *fe = svc_field_error("amount", revert ? "would_revert" : "overflow", reason);
    json_object_set_new(fe, "revert", json_string(reason));
    if (has_max)
      view_put_amount(fe, "max_amount", mx, amount_dec);
    else
      json_object_set_new(fe, "max_amount", json_null());
    json_t *arr = json_array();
    json_array_append_new(arr, fe);
    char mxs[U256_DEC_MAX] = "unknown";
    if (has_max) u256_to_dec(mx, mxs);
    res = svc_reply_problem_fields(req, SVC_ERR_vault_would_revert, arr, "%s(%s) reverts with %s; at most %s passes",
                                   action_names[act], amount_s, reason, mxs);
    goto done;
  }
  json_t *o = json_object();
  json_object_set_new(o, "chain_id", json_integer((json_int_t)v->asof.chain_id));
  json_object_set_new(o, "vault", json_string(v->checksum));
  json_object_set_new(o, "symbol", json_string(v->symbol));
  json_object_set_new(o, "kind", json_string(v->kind_name));
  json_object_set_new(o, "action", json_string(action_names[act]));
  view_put_amount(o, "amount", amount, amount_dec);
  json_object_set_new(o, "amount_unit", json_string(amount_is_assets ? "assets" : "shares"));
  view_put_amount(o, "result", out, result_dec);
  json_object_set_new(o, "result_unit", json_string(amount_is_assets ? "shares" : "assets"));
  json_object_set_new(o, "rounding", json_string(act == ACT_DEPOSIT || act == ACT_REDEEM ? "down" : "up"));
  json_object_set_new(o, "chi_ray", view_json_u256(chi_t));
  json_object_set_new(o, "at", json_integer((json_int_t)t));
  if (has_owner) view_put_amount(o, "owner_shares", owner, v->decimals);
  if (has_max) view_put_amount(o, "max_amount", mx, amount_dec);
  json_object_set_new(o, "as_of", view_as_of_json(&v->asof));
  res = svc_reply_json_steal(req, 200, o);
done:
  state_cache_release(c);
  return res;
}

/* ---- GET /v1/savings/vaults/{chain}/{vault}/history ------------------------------------------- */

struct hist_ctx {
  const struct state_vault *v;
  json_t *rows;
  int64_t bucket, from;
  int64_t last_bucket;
  size_t n;
};

static db_status hist_row(const db_row *row, void *arg) {
  struct hist_ctx *h = arg;
  int64_t b, bn, bts, rho;
  char chi_s[U256_DEC_MAX], rate_s[U256_DEC_MAX], ts_s[U256_DEC_MAX], idle_s[U256_DEC_MAX];
  bool idle_null;
  const struct db_col cols[] = {
      {"b", DB_COL_INT64, &b, 0, NULL},
      {"block_number", DB_COL_INT64, &bn, 0, NULL},
      {"block_timestamp", DB_COL_INT64, &bts, 0, NULL},
      {"chi", DB_COL_TEXT, chi_s, sizeof chi_s, NULL},
      {"rho", DB_COL_INT64, &rho, 0, NULL},
      {"rate", DB_COL_TEXT, rate_s, sizeof rate_s, NULL},
      {"total_supply", DB_COL_TEXT, ts_s, sizeof ts_s, NULL},
      {"idle_assets", DB_COL_TEXT, idle_s, sizeof idle_s, &idle_null},
  };
  db_status s = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (s != DB_OK) return s;
  h->n++;
  h->last_bucket = b;
  u256 chi, rate, ts, c, ta;
  if (!u256_parse_dec(chi_s, &chi) || !u256_parse_dec(rate_s, &rate) || !u256_parse_dec(ts_s, &ts)) return DB_ERROR;
  json_t *o = json_object();
  char t[32];
  int64_t start = h->from + b * h->bucket;
  util_time_rfc3339(start, t);
  json_object_set_new(o, "chain_id", json_integer((json_int_t)h->v->asof.chain_id));
  json_object_set_new(o, "address", json_string(h->v->checksum));
  json_object_set_new(o, "bucket_start", json_string(t));
  json_object_set_new(o, "bucket_start_timestamp", json_integer((json_int_t)start));
  json_object_set_new(o, "block_number", json_integer((json_int_t)bn));
  json_object_set_new(o, "block_timestamp", json_integer((json_int_t)bts));
  view_put_rate(o, "", rate);
  if (risk_savings_chi_at(&c, chi, (uint64_t)rho, rate, (uint64_t)bts) == RISK_OK &&
      risk_savings_convert_to_assets(&ta, ts, c) == RISK_OK) {
    json_object_set_new(o, "chi_ray", view_json_u256(c));
    json_object_set_new(o, "share_price", view_json_fixed(c, 27));
    view_put_amount(o, "total_assets", ta, h->v->asset_decimals);
  } else {
    json_object_set_new(o, "chi_ray", json_null());
    json_object_set_new(o, "share_price", json_null());
    json_object_set_new(o, "total_assets", json_null());
    json_object_set_new(o, "total_assets_human", json_null());
  }
  view_put_amount(o, "total_supply", ts, h->v->decimals);
  u256 idle;
  if (!idle_null && u256_parse_dec(idle_s, &idle))
    view_put_amount(o, "idle_assets", idle, h->v->asset_decimals);
  else
    json_object_set_new(o, "idle_assets", json_null());
  json_array_append_new(h->rows, o);
  return DB_OK;
}

static bool parse_time(struct svc_request *req, const char *name, int64_t dflt, int64_t *out) {
  const char *s = svc_req_query(req, name);
  *out = dflt;
  if (!s) return true;
  if (util_parse_i64(s, out)) return true;
  struct tm tm = {0};
  const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end && !*end) {
    *out = (int64_t)timegm(&tm);
    return true;
  }
  handler_bad_query(req, name, "invalid_time", "must be unix seconds or an RFC 3339 UTC time (2026-01-01T00:00:00Z)");
  return false;
}

enum svc_handler_result handler_savings_vault_history(struct svc_request *req) {
  const struct state_savings *ix;
  struct state_cache *c = acquire(req, &ix);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res = SVC_HANDLED;
  const struct state_vault *v = resolve(req, ix);
  if (!v) goto done;
  int64_t to, from, bucket = 86400, start;
  size_t limit;
  const char *iv = svc_req_query(req, "interval");
  if (iv) {
    if (strcmp(iv, "1h") == 0)
      bucket = 3600;
    else if (strcmp(iv, "6h") == 0)
      bucket = 6 * 3600;
    else if (strcmp(iv, "1d") == 0)
      bucket = 86400;
    else if (strcmp(iv, "7d") == 0)
      bucket = 7 * 86400;
    else {
      res = handler_bad_query(req, "interval", "unknown_interval", "must be 1h, 6h, 1d or 7d");
      goto done;
    }
  }
  if (!parse_time(req, "to", v->asof.block_timestamp, &to)) goto done;
  if (!parse_time(req, "from", to - 30 * 86400 < 0 ? 0 : to - 30 * 86400, &from)) goto done;
  if (from > to) {
    res = handler_bad_query(req, "from", "after_to", "must not be after to");
    goto done;
  }
  if ((to - from) / bucket + 1 > HISTORY_MAX_BUCKETS) {
    char msg[96];
    snprintf(msg, sizeof msg, "from..to holds more than %d buckets of this interval", HISTORY_MAX_BUCKETS);
    res = handler_bad_query(req, "interval", "too_many_buckets", msg);
    goto done;
  }
  if (!handler_query_limit(req, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, &limit)) goto done;
  start = from;
  const char *cursor = svc_req_query(req, "cursor");
  if (cursor) {
    int64_t b;
    if (!util_cursor_parse(cursor, 'b', &b) || b < 0 || from + b * bucket > to) {
      res = handler_bad_query(req, "cursor", "invalid_cursor", "not a cursor this series returned");
      goto done;
    }
    start = from + b * bucket;
  }
  db_conn *conn = svc_req_db_read(req);
  if (!conn) goto done;
  const struct db_savings_history_q q = {v->asof.chain_id, v->address, from, bucket, start, to, limit + 1};
  struct hist_ctx h = {v, json_array(), bucket, from, -1, 0};
  db_status s = db_savings_history(conn, &q, hist_row, &h);
  db_release(conn);
  if (s != DB_OK) {
    json_decref(h.rows);
    res = s == DB_UNAVAILABLE ? svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached")
                              : SVC_HANDLER_FATAL;
    goto done;
  }
  json_t *next = json_null();
  if (h.n > limit) { /* one more than asked: there is a next page starting at that bucket */
    json_array_remove(h.rows, limit);
    char cur[64];
    util_cursor_make('b', h.last_bucket, cur);
    next = json_string(cur);
  }
  char iv_s[8];
  snprintf(iv_s, sizeof iv_s, "%s", iv ? iv : "1d");
  json_t *o = json_pack("{s:o, s:o, s:o, s:s, s:I, s:I}", "data", h.rows, "as_of", view_as_of_json(&v->asof),
                        "next_cursor", next, "interval", iv_s, "from", (json_int_t)from, "to", (json_int_t)to);
  res = svc_reply_json_steal(req, 200, o);
done:
  state_cache_release(c);
  return res;
}
