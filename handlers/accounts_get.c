/* SparkLend accounts: GET /v1/accounts/{chain}/{address} (one account accrued to the chain's
 * latest block: positions, totals, health factor, liquidation prices, warnings) and
 * GET /v1/accounts/{chain} (the liquidation watch list: accounts ordered by health factor at the
 * market's block, keyset-paginated; from the generation's index for a chain held in memory, else
 * from the health factors the database stored when each account was written).
 *
 * Reserves, indexes and prices come from the state cache's markets (state/markets.h), accounts
 * from state/accounts.h: a chain of at most SPARKD_ACCOUNT_CACHE_MAX accounts is held in the
 * generation, so a lookup or a quote takes no database round trip and sees one block's state; a
 * larger chain's account is one prepared query per request. All math is risk/account.h;
 * rendering is views/account_json.h. */
#include "handlers/accounts.h"

#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db/accounts.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "risk/reserve.h"
#include "risk/wadray.h"
#include "service/request.h"
#include "state/cache.h"
#include "util/hex.h"
#include "util/log.h"
#include "views/account_json.h"
#include "views/jsonw.h"
#include "views/markets_json.h"

bool handler_accounts_fetch(struct svc_request *req, const struct state_acc_chain *x, const struct state_acc_view *v,
                            const char *lower, struct risk_account *a, bool *found, bool *replied) {
  *replied = false;
  db_status s;
  if (x && x->accounts_cached) {
    s = state_accounts_find(x, v, lower, a, found);
  } else {
    db_conn *conn = svc_req_db_read(req);
    if (!conn) {
      *replied = true;
      return false;
    }
    int64_t block = 0;
    bool same_block = true;
    s = state_accounts_read(conn, v, lower, a, found, &same_block, &block);
    db_release(conn);
    if (s == DB_OK && !same_block) {
      /* the database is at another block than the market this request holds (an import is
       * being loaded into the cache): answering would pair one block's positions with another
       * block's indexes and prices */
      svc_reply_problem(req, SVC_ERR_state_updating,
                        "block %lld is being loaded (the database is at it, the served market at block %lld); retry "
                        "shortly",
                        (long long)block, (long long)v->mc->block_number);
      *replied = true;
      return false;
    }
  }
  if (s == DB_UNAVAILABLE) {
    svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached; retry shortly");
    *replied = true;
  }
  return s == DB_OK;
}

/* Returns the cache (a reference the caller releases) and the chain's market data, or NULL after
 * replying (503 before the first build, 400 for a malformed chain, 404 for an unknown one). */
static struct state_cache *chain_or_reply(struct svc_request *req, const struct state_market **mc,
                                          const struct state_acc_chain **x) {
  char buf[32];
  const char *chain = svc_req_param(req, "chain", buf, sizeof buf);
  int64_t id = 0;
  if (!chain || !handler_parse_chain_id(chain, &id)) {
    svc_reply_problem_fields(
        req, SVC_ERR_invalid_parameter,
        json_pack("[o]", svc_field_error("chain", "invalid_chain_id", "must be a positive integer")),
        "chain must be a chain id");
    return NULL;
  }
  struct state_cache *c = state_cache_acquire();
  if (!c) {
    svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
    return NULL;
  }
  *mc = state_markets_chain(c, id);
  *x = state_accounts_chain(c, id);
  if (!*mc) {
    state_cache_release(c);
    svc_reply_problem(req, SVC_ERR_chain_not_found, "no chain %lld has been imported", (long long)id);
    return NULL;
  }
  return c;
}

enum svc_handler_result handler_accounts_get(struct svc_request *req) {
  char abuf[64], lower[43];
  const char *addr = svc_req_param(req, "address", abuf, sizeof abuf);
  if (!util_parse_address(addr, lower))
    return svc_reply_problem_fields(
        req, SVC_ERR_invalid_parameter,
        json_pack("[o]", svc_field_error("address", "invalid_address", "must be 0x followed by 40 hex digits")),
        "address must be 0x and 40 hex digits");
  const struct state_market *mc;
  const struct state_acc_chain *x;
  struct state_cache *c = chain_or_reply(req, &mc, &x);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res = SVC_HANDLER_FATAL;
  struct risk_account *a = malloc(sizeof *a);
  if (!a) goto out;
  risk_err e = RISK_OK;
  const struct state_acc_view *v = state_accounts_view_at_block(c, mc, x, &e);
  if (!v) {
    util_log(UTIL_LOG_ERROR, "accounts: market of chain %lld: %s", (long long)mc->chain_id, risk_err_name(e));
    goto out;
  }
  bool found = false, replied = false;
  if (!handler_accounts_fetch(req, x, v, lower, a, &found, &replied)) {
    if (replied) res = SVC_HANDLED;
    goto out;
  }
  struct risk_account_data d;
  if ((e = risk_account_evaluate(&v->m, a, &d))) {
    util_log(UTIL_LOG_ERROR, "accounts: evaluating %s: %s", lower, risk_err_name(e));
    goto out;
  }
  char cs[43];
  view_address_checksum(lower, cs);
  struct jw w = {0};
  jw_obj(&w);
  jw_kint(&w, "chain_id", mc->chain_id);
  jw_kstr(&w, "address", cs);
  jw_key(&w, "as_of");
  jw_obj(&w);
  view_write_as_of_fields(&w, mc);
  jw_obj_end(&w);
  jw_key(&w, "positions");
  if (!view_write_positions(&w, v, a, true)) {
    jw_free(&w);
    goto out;
  }
  view_write_totals(&w, v, a, &d);
  jw_key(&w, "warnings");
  view_write_warnings(&w, v, a, &d);
  jw_obj_end(&w);
  if (w.oom) {
    jw_free(&w);
    goto out;
  }
  res = svc_reply_take(req, 200, "application/json", w.buf, w.len);
out:
  free(a);
  state_cache_release(c);
  return res;
}

/* ---- GET /v1/accounts/{chain} --------------------------------------------------------------- */

/* Parses a non-negative decimal ("1.05", "1000") with at most `decimals` fraction digits into
 * the integer scaled by 10^decimals. */
static bool parse_fixed(const char *s, unsigned decimals, u256 *out) {
  char digits[U256_DEC_MAX + 40];
  size_t n = 0, frac = 0;
  bool dot = false, any = false;
  for (const char *p = s; *p; p++) {
    if (*p == '.' && !dot) {
      dot = true;
      continue;
    }
    if (!isdigit((unsigned char)*p)) return false;
    if (dot && ++frac > decimals) return false;
    if (n + 1 >= sizeof digits - decimals) return false;
    digits[n++] = *p;
    any = true;
  }
  if (!any) return false;
  for (; frac < decimals; frac++)
    digits[n++] = '0';
  return u256_from_dec(out, digits, n) == RISK_OK;
}

static const char hexd[] = "0123456789abcdef";

/* The cursor is the hex of "<health factor>,<address>" of the last row returned. */
static void cursor_encode(const char *hf, const char *addr, char *out, size_t len) {
  char raw[160];
  int n = snprintf(raw, sizeof raw, "%s,%s", hf, addr);
  size_t j = 0;
  for (int i = 0; i < n && j + 2 < len; i++) {
    out[j++] = hexd[(unsigned char)raw[i] >> 4];
    out[j++] = hexd[(unsigned char)raw[i] & 15];
  }
  out[j] = 0;
}

static bool cursor_decode(const char *cur, char hf[U256_DEC_MAX], char addr[43]) {
  size_t n = strlen(cur);
  char raw[160];
  if (n % 2 || n / 2 >= sizeof raw) return false;
  for (size_t i = 0; i < n / 2; i++) {
    const char *a = strchr(hexd, cur[2 * i]), *b = strchr(hexd, cur[2 * i + 1]);
    if (!a || !b || !*a || !*b) return false;
    raw[i] = (char)(((a - hexd) << 4) | (b - hexd));
  }
  raw[n / 2] = 0;
  char *comma = strchr(raw, ',');
  if (!comma) return false;
  *comma = 0;
  u256 t;
  if (strlen(raw) >= U256_DEC_MAX || u256_from_dec(&t, raw, strlen(raw)) != RISK_OK) return false;
  if (!util_parse_address(comma + 1, addr) || strcmp(addr, comma + 1) != 0) return false;
  strcpy(hf, raw);
  return true;
}

struct list_ctx {
  json_t *data;
  size_t n;
};

/* One watch-list row, the same from memory or from the database. */
static void list_add(struct list_ctx *x, const char *addr, u256 hfv, u256 coll, u256 debt, long emode,
                     long long block) {
  char cs[43];
  view_address_checksum(addr, cs);
  json_t *o = json_object();
  json_object_set_new(o, "address", json_string(cs));
  json_object_set_new(o, "health_factor", view_hf_json(hfv));
  view_put_base(o, "total_collateral_base", coll);
  view_put_base(o, "total_debt_base", debt);
  json_object_set_new(o, "emode_category", json_integer(emode));
  json_object_set_new(o, "block_number", json_integer(block));
  json_array_append_new(x->data, o);
  x->n++;
}

static db_status list_row(const db_row *row, void *arg) {
  struct list_ctx *x = arg;
  const char *addr = db_row_text(row, 0), *hf = db_row_text(row, 3);
  u256 hfv, coll = U256_ZERO, debt = U256_ZERO;
  if (!addr || !hf || !u256_parse_dec(hf, &hfv)) return DB_ERROR;
  u256_parse_dec(db_row_text(row, 4), &coll);
  u256_parse_dec(db_row_text(row, 5), &debt);
  list_add(x, addr, hfv, coll, debt, strtol(db_row_text(row, 1), NULL, 10), strtoll(db_row_text(row, 2), NULL, 10));
  return DB_OK;
}

/* The watch list from the generation's health-factor index (state/accounts.h): the rows the
 * database query would return over health factors at the market's block, in the same order. */
struct list_mem_q {
  const u256 *max_hf, *min_debt;
  int coll_reserve, debt_reserve; /* -1: no filter */
  const u256 *after_hf;
  const uint8_t *after_addr;
  long limit;
};

static bool has_position(const struct state_acc_chain *x, const struct state_acc *r, int reserve, bool collateral) {
  for (uint32_t k = 0; k < r->n_pos; k++) {
    const struct state_acc_pos *p = &x->positions[r->first + k];
    if (p->reserve != reserve) continue;
    return collateral ? p->collateral && !u256_is_zero(p->scaled_a) : !u256_is_zero(p->scaled_debt);
  }
  return false;
}

/* Writes the page straight from the index with the streaming writer (views/jsonw.h): the same
 * bytes as the database path's jansson objects, without building them. */
static enum svc_handler_result list_memory(struct svc_request *req, const struct state_market *mc,
                                           const struct state_acc_chain *x, const struct list_mem_q *q) {
  uint32_t *rows = malloc((size_t)q->limit * sizeof *rows);
  if (!rows) return SVC_HANDLER_FATAL;
  size_t n = 0;
  struct state_hf_iter it;
  state_hf_seek(&x->hf, &it, q->after_hf, q->after_hf ? q->after_addr : NULL);
  uint32_t k;
  while (n < (size_t)q->limit && state_hf_next(&it, &k)) {
    const struct state_acc *r = &x->accounts[k];
    u256 debt, hf = state_hf_hf_debt(&x->hf, k, &debt);
    if (q->max_hf && u256_gt(hf, *q->max_hf)) break; /* ordered by health factor */
    if (q->min_debt && u256_lt(debt, *q->min_debt)) continue;
    if (q->coll_reserve >= 0 && !has_position(x, r, q->coll_reserve, true)) continue;
    if (q->debt_reserve >= 0 && !has_position(x, r, q->debt_reserve, false)) continue;
    rows[n++] = k;
  }
  bool more = n == (size_t)q->limit; /* limit is one more than asked */
  if (more) n--;
  struct jw w = {0};
  jw_obj(&w);
  jw_key(&w, "data");
  jw_arr(&w);
  char lower[43], cs[43];
  for (size_t j = 0; j < n; j++) {
    const struct state_acc *r = &x->accounts[rows[j]];
    struct state_acc_health hv, *h = &hv;
    state_hf_get(&x->hf, rows[j], h);
    util_hex0x(r->addr, 20, lower);
    view_address_checksum(lower, cs);
    jw_obj(&w);
    jw_kstr(&w, "address", cs);
    if (u256_eq(h->hf, U256_MAX))
      jw_knull(&w, "health_factor");
    else
      jw_kfixed(&w, "health_factor", h->hf, 18);
    jw_ku256_kfixed(&w, "total_collateral_base", "total_collateral_usd", h->coll, 8);
    jw_ku256_kfixed(&w, "total_debt_base", "total_debt_usd", h->debt, 8);
    jw_kint(&w, "emode_category", r->emode);
    jw_kint(&w, "block_number", r->block_number);
    jw_obj_end(&w);
  }
  jw_arr_end(&w);
  jw_key(&w, "as_of");
  jw_obj(&w);
  view_write_as_of_fields(&w, mc);
  jw_obj_end(&w);
  if (more && n > 0) {
    const struct state_acc *r = &x->accounts[rows[n - 1]];
    char hf[U256_DEC_MAX], cur[400];
    u256 debt;
    u256_to_dec(state_hf_hf_debt(&x->hf, rows[n - 1], &debt), hf);
    util_hex0x(r->addr, 20, lower);
    cursor_encode(hf, lower, cur, sizeof cur);
    jw_kstr(&w, "next_cursor", cur);
  } else {
    jw_knull(&w, "next_cursor");
  }
  jw_obj_end(&w);
  free(rows);
  if (w.oom) {
    jw_free(&w);
    return SVC_HANDLER_FATAL;
  }
  return svc_reply_take(req, 200, "application/json", w.buf, w.len);
}

static enum svc_handler_result list_reply(struct svc_request *req, struct list_ctx *lx, long limit, json_t *as_of);

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 500

enum svc_handler_result handler_accounts_list(struct svc_request *req) {
  const struct state_market *mc;
  const struct state_acc_chain *x;
  json_t *errors = json_array();
  const char *q_hf = svc_req_query(req, "max_health_factor"), *q_debt = svc_req_query(req, "min_debt_usd");
  const char *q_coll = svc_req_query(req, "collateral"), *q_debtasset = svc_req_query(req, "debt");
  const char *q_limit = svc_req_query(req, "limit"), *q_cursor = svc_req_query(req, "cursor");
  u256 hf_max = U256_ZERO, debt_min = U256_ZERO;
  char hf_s[U256_DEC_MAX] = "", debt_s[U256_DEC_MAX] = "", cur_hf[U256_DEC_MAX] = "", cur_addr[43] = "";
  long limit = LIST_DEFAULT_LIMIT;
  if (q_hf) {
    if (!parse_fixed(q_hf, 18, &hf_max))
      json_array_append_new(errors, svc_field_error("max_health_factor", "not_a_decimal",
                                                    "must be a non-negative decimal with at most 18 fraction digits"));
    else
      u256_to_dec(hf_max, hf_s);
  }
  if (q_debt) {
    if (!parse_fixed(q_debt, 8, &debt_min))
      json_array_append_new(errors, svc_field_error("min_debt_usd", "not_a_decimal",
                                                    "must be a non-negative decimal with at most 8 fraction digits"));
    else
      u256_to_dec(debt_min, debt_s);
  }
  if (q_limit) {
    char *end = NULL;
    limit = strtol(q_limit, &end, 10);
    if (!*q_limit || *end || limit < 1 || limit > LIST_MAX_LIMIT)
      json_array_append_new(errors, svc_field_error("limit", "out_of_range", "must be an integer from 1 to 500"));
  }
  if (q_cursor && !cursor_decode(q_cursor, cur_hf, cur_addr))
    json_array_append_new(errors, svc_field_error("cursor", "invalid_cursor", "is not a cursor this service returned"));
  if (json_array_size(errors))
    return svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errors, "%zu query parameter(s) are invalid",
                                    json_array_size(errors));
  struct state_cache *c = chain_or_reply(req, &mc, &x);
  if (!c) {
    json_decref(errors);
    return SVC_HANDLED;
  }
  /* Assets by address or symbol, resolved against the chain's reserves. */
  const struct state_reserve *rc = NULL, *rd = NULL;
  if (q_coll && !(rc = state_markets_find_reserve(mc, q_coll)))
    json_array_append_new(errors, svc_field_error("collateral", "unknown_asset", "is not a reserve of this chain"));
  if (q_debtasset && !(rd = state_markets_find_reserve(mc, q_debtasset)))
    json_array_append_new(errors, svc_field_error("debt", "unknown_asset", "is not a reserve of this chain"));
  if (json_array_size(errors)) {
    state_cache_release(c);
    return svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errors, "%zu query parameter(s) are invalid",
                                    json_array_size(errors));
  }
  json_decref(errors);
  if (x && x->accounts_cached) {
    u256 after_hf = U256_ZERO;
    uint8_t after_addr[20];
    if (q_cursor) {
      u256_from_dec(&after_hf, cur_hf, strlen(cur_hf));
      for (int k = 0; k < 20; k++) /* cursor_decode checked: 40 lowercase hex digits */
        after_addr[k] = (uint8_t)(util_hexval(cur_addr[2 + 2 * k]) << 4 | util_hexval(cur_addr[3 + 2 * k]));
    }
    const struct list_mem_q mq = {q_hf ? &hf_max : NULL,
                                  q_debt ? &debt_min : NULL,
                                  rc ? rc->reserve_id : -1,
                                  rd ? rd->reserve_id : -1,
                                  q_cursor ? &after_hf : NULL,
                                  q_cursor ? after_addr : NULL,
                                  limit + 1};
    enum svc_handler_result res = list_memory(req, mc, x, &mq);
    state_cache_release(c);
    return res;
  }
  /* copies: the cache (and the reserves in it) is released before the query runs */
  char coll_addr[43] = "", debt_addr[43] = "";
  if (rc) memcpy(coll_addr, rc->address, sizeof coll_addr);
  if (rd) memcpy(debt_addr, rd->address, sizeof debt_addr);
  const struct db_accounts_list_q q = {
      mc->chain_id,          q_hf ? hf_s : NULL,       q_debt ? debt_s : NULL,     rc ? coll_addr : NULL,
      rd ? debt_addr : NULL, q_cursor ? cur_hf : NULL, q_cursor ? cur_addr : NULL, limit + 1};
  json_t *as_of = view_market_as_of(mc);
  state_cache_release(c);
  db_conn *conn = svc_req_db_read(req);
  if (!conn) {
    json_decref(as_of);
    return SVC_HANDLED;
  }
  struct list_ctx lx = {.data = json_array()};
  db_status s = db_accounts_list(conn, &q, list_row, &lx);
  db_release(conn);
  if (s != DB_OK) {
    json_decref(lx.data);
    json_decref(as_of);
    if (s == DB_UNAVAILABLE)
      return svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached; retry shortly");
    return SVC_HANDLER_FATAL;
  }
  return list_reply(req, &lx, limit, as_of);
}

/* Replies with the rows in lx (one more than limit when there is a next page) and as_of (stolen). */
static enum svc_handler_result list_reply(struct svc_request *req, struct list_ctx *lx, long limit, json_t *as_of) {
  json_t *next = json_null();
  if (lx->n > (size_t)limit) {
    /* One row more than asked: drop it; the cursor is the last row kept. */
    json_array_remove(lx->data, (size_t)limit);
    json_t *last = json_array_get(lx->data, (size_t)limit - 1);
    char lower[43], hf[U256_DEC_MAX], cur[400];
    util_parse_address(json_string_value(json_object_get(last, "address")), lower);
    const char *hfs = json_string_value(json_object_get(last, "health_factor"));
    if (hfs) {
      u256 w;
      parse_fixed(hfs, 18, &w);
      u256_to_dec(w, hf);
    } else {
      u256_to_dec(U256_MAX, hf);
    }
    cursor_encode(hf, lower, cur, sizeof cur);
    json_decref(next);
    next = json_string(cur);
  }
  return svc_reply_json_steal(req, 200, json_pack("{so so so}", "data", lx->data, "as_of", as_of, "next_cursor", next));
}
