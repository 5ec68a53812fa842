/* Savings vaults: GET /v1/savings/vaults, /v1/savings/vaults/{chain}/{vault}, .../history and
 * .../preview. The list and each vault are pre-serialised by the state-cache builder
 * (handler_savings_build) at the latest imported block; `?at=` views and previews are computed per
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

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "risk/eip55.h"
#include "risk/savings.h"
#include "risk/wadray.h"
#include "service/cache.h"
#include "service/request.h"
#include "service/server.h"

#define INDEX_KEY "savings:index"
#define LIST_KEY "/v1/savings/vaults"
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 500
#define HISTORY_DEFAULT_LIMIT 100
#define HISTORY_MAX_LIMIT 1000
#define HISTORY_MAX_BUCKETS 10000
#define REALIZED_METHOD                                                                                                \
  "(chi_now / chi_then)^(31536000 / seconds) - 1, chi_then from the last imported block at or before now - "           \
  "window (estimate, binary floating point)"

struct realized {
  bool ok;
  char apy[40];
  int64_t from_block, from_timestamp, seconds;
};

enum vault_kind { KIND_SDAI, KIND_SUSDS, KIND_V2 };

struct vault {
  struct handler_chain_asof asof;
  char address[43]; /* lowercase */
  char checksum[43];
  enum vault_kind kind;
  char kind_name[16];
  char symbol[64];
  int decimals;
  char asset[43];
  char asset_symbol[64];
  int asset_decimals;
  u256 chi, rate, total_supply;
  uint64_t rho;
  bool has_min_rate, has_max_rate, has_cap, has_idle, has_intents;
  u256 min_rate, max_rate, deposit_cap, idle;
  char intents_address[43];
  bool has_intents_min, has_intents_max, has_intents_deadline;
  u256 intents_min, intents_max;
  int64_t intents_max_deadline;
  struct realized realized[3];
  char *item; /* this vault's JSON object at as_of (compact text), for pages built per request */
};

struct savings_index {
  size_t n, cap;
  struct vault *v;
  struct handler_chains chains;
};

static const struct {
  const char *name;
  int64_t seconds;
} windows[3] = {{"1d", 86400}, {"7d", 7 * 86400}, {"30d", 30 * 86400}};

/* ---- small helpers ---------------------------------------------------------------------------- */

/* ---- the engine's views at time t ------------------------------------------------------------- */

static struct risk_spark_vault as_spark(const struct vault *v) {
  struct risk_spark_vault s = {v->chi,
                               v->rho,
                               v->rate,
                               v->total_supply,
                               v->has_cap ? v->deposit_cap : U256_MAX,
                               v->has_idle ? v->idle : U256_ZERO};
  return s;
}

/* Returns RISK_OK and the vault's accumulator at t (nowChi). */
static risk_err chi_at(const struct vault *v, uint64_t t, u256 *c) {
  return risk_savings_chi_at(c, v->chi, v->rho, v->rate, t);
}

static void put_rate(json_t *o, const char *prefix, u256 rate) {
  char n[64];
  u256 apr, apy;
  snprintf(n, sizeof n, "%srate_ray", prefix);
  json_object_set_new(o, n, handler_json_u256(rate));
  snprintf(n, sizeof n, "%sapr", prefix);
  handler_put_ray(o, n, risk_savings_apr_ray(&apr, rate) == RISK_OK ? &apr : NULL);
  snprintf(n, sizeof n, "%sapy", prefix);
  handler_put_ray(o, n, risk_savings_apy_ray(&apy, rate) == RISK_OK ? &apy : NULL);
}

/* Returns the vault's JSON object at time t (new reference), or NULL when the arithmetic
 * overflows where the chain would revert (t too far ahead). */
static json_t *vault_json(const struct vault *v, uint64_t t) {
  u256 c, ta, ten, one_share;
  if (chi_at(v, t, &c) != RISK_OK) return NULL;
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
  json_object_set_new(o, "asset", handler_asset_json(v->asset, v->asset_symbol, v->asset_decimals));
  put_rate(o, "", v->rate);
  json_object_set_new(o, "chi_ray", handler_json_u256(c));
  json_object_set_new(o, "chi_stored_ray", handler_json_u256(v->chi));
  json_object_set_new(o, "rho", json_integer((json_int_t)v->rho));
  json_object_set_new(o, "at", json_integer((json_int_t)t));
  json_object_set_new(o, "share_price", handler_json_fixed(c, 27));
  handler_put_amount(o, "assets_per_share", one_share, v->asset_decimals);
  handler_put_amount(o, "total_supply", v->total_supply, v->decimals);
  handler_put_amount(o, "total_assets", ta, v->asset_decimals);

  if (v->kind == KIND_V2) {
    struct risk_spark_vault s = as_spark(v);
    u256 out, md, mm;
    if (v->has_idle)
      handler_put_amount(o, "idle_assets", v->idle, v->asset_decimals);
    else
      json_object_set_new(o, "idle_assets", json_null());
    if (risk_spark_vault_assets_outstanding(&out, &s, t) == RISK_OK)
      handler_put_amount(o, "assets_outstanding", out, v->asset_decimals);
    if (v->has_cap)
      handler_put_amount(o, "deposit_cap", v->deposit_cap, v->asset_decimals);
    else
      json_object_set_new(o, "deposit_cap", json_null());
    json_object_set_new(o, "deposit_cap_unlimited", json_boolean(!v->has_cap));
    if (risk_spark_vault_max_deposit(&md, &s, t) == RISK_OK)
      handler_put_amount(o, "max_deposit", md, v->asset_decimals);
    if (risk_spark_vault_max_mint(&mm, &s, t) == RISK_OK) handler_put_amount(o, "max_mint", mm, v->decimals);
  } else {
    /* sDAI / sUSDS: redemptions are paid by minting (Pot / USDS join), deposits are uncapped. */
    json_object_set_new(o, "idle_assets", json_null());
    json_object_set_new(o, "deposit_cap", json_null());
    json_object_set_new(o, "deposit_cap_unlimited", json_true());
    handler_put_amount(o, "max_deposit", U256_MAX, v->asset_decimals);
    handler_put_amount(o, "max_mint", U256_MAX, v->decimals);
  }
  if (v->has_min_rate || v->has_max_rate) {
    json_t *b = json_object();
    if (v->has_min_rate) put_rate(b, "min_", v->min_rate);
    if (v->has_max_rate) put_rate(b, "max_", v->max_rate);
    json_object_set_new(o, "rate_bounds", b);
  } else {
    json_object_set_new(o, "rate_bounds", json_null());
  }
  if (v->has_intents) {
    json_t *q = json_object();
    json_object_set_new(q, "intents_address", handler_json_address(v->intents_address));
    if (v->has_intents_min)
      handler_put_amount(q, "min_assets", v->intents_min, v->asset_decimals);
    else
      json_object_set_new(q, "min_assets", json_null());
    if (v->has_intents_max)
      handler_put_amount(q, "max_assets", v->intents_max, v->asset_decimals);
    else
      json_object_set_new(q, "max_assets", json_null());
    json_object_set_new(q, "max_deadline_seconds",
                        v->has_intents_deadline ? json_integer((json_int_t)v->intents_max_deadline) : json_null());
    json_object_set_new(o, "queued_redemptions", q);
  } else {
    json_object_set_new(o, "queued_redemptions", json_null());
  }
  json_t *r = json_object();
  for (int i = 0; i < 3; i++) {
    const struct realized *x = &v->realized[i];
    json_object_set_new(r, windows[i].name,
                        x->ok ? json_pack("{s:s, s:I, s:I, s:I}", "apy", x->apy, "from_block",
                                          (json_int_t)x->from_block, "from_timestamp", (json_int_t)x->from_timestamp,
                                          "seconds", (json_int_t)x->seconds)
                              : json_null());
  }
  json_object_set_new(r, "method", json_string(REALIZED_METHOD));
  json_object_set_new(o, "realized_apy", r);
  return o;
}

/* ---- the cache builder ------------------------------------------------------------------------ */

static void index_free(void *p) {
  struct savings_index *ix = p;
  if (!ix) return;
  for (size_t i = 0; i < ix->n; i++)
    free(ix->v[i].item);
  free(ix->v);
  free(ix);
}

static db_status vault_row(const db_row *row, void *arg) {
  struct savings_index *ix = arg;
  if (ix->n == ix->cap) {
    size_t cap = ix->cap ? ix->cap * 2 : 16;
    struct vault *nv = realloc(ix->v, cap * sizeof *nv);
    if (!nv) return DB_ERROR;
    ix->v = nv;
    ix->cap = cap;
  }
  struct vault *v = &ix->v[ix->n];
  memset(v, 0, sizeof *v);
  char chi[U256_DEC_MAX], rate[U256_DEC_MAX], ts[U256_DEC_MAX], minr[U256_DEC_MAX], maxr[U256_DEC_MAX],
      cap[U256_DEC_MAX], idle[U256_DEC_MAX], imin[U256_DEC_MAX], imax[U256_DEC_MAX];
  bool n_minr, n_maxr, n_cap, n_idle, n_ia, n_imin, n_imax, n_idl;
  int64_t rho = 0, decimals = 0, adec = 0;
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &v->asof.chain_id, 0, NULL},
      {"address", DB_COL_TEXT, v->address, sizeof v->address, NULL},
      {"kind", DB_COL_TEXT, v->kind_name, sizeof v->kind_name, NULL},
      {"asset", DB_COL_TEXT, v->asset, sizeof v->asset, NULL},
      {"symbol", DB_COL_TEXT, v->symbol, sizeof v->symbol, NULL},
      {"decimals", DB_COL_INT64, &decimals, 0, NULL},
      {"chi", DB_COL_TEXT, chi, sizeof chi, NULL},
      {"rho", DB_COL_INT64, &rho, 0, NULL},
      {"rate", DB_COL_TEXT, rate, sizeof rate, NULL},
      {"min_rate", DB_COL_TEXT, minr, sizeof minr, &n_minr},
      {"max_rate", DB_COL_TEXT, maxr, sizeof maxr, &n_maxr},
      {"deposit_cap", DB_COL_TEXT, cap, sizeof cap, &n_cap},
      {"total_supply", DB_COL_TEXT, ts, sizeof ts, NULL},
      {"idle_assets", DB_COL_TEXT, idle, sizeof idle, &n_idle},
      {"intents_address", DB_COL_TEXT, v->intents_address, sizeof v->intents_address, &n_ia},
      {"intents_min_assets", DB_COL_TEXT, imin, sizeof imin, &n_imin},
      {"intents_max_assets", DB_COL_TEXT, imax, sizeof imax, &n_imax},
      {"intents_max_deadline_seconds", DB_COL_INT64, &v->intents_max_deadline, 0, &n_idl},
      {"asset_symbol", DB_COL_TEXT, v->asset_symbol, sizeof v->asset_symbol, NULL},
      {"asset_decimals", DB_COL_INT64, &adec, 0, NULL},
  };
  db_status s = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (s != DB_OK) return s;
  v->decimals = (int)decimals;
  v->asset_decimals = (int)adec;
  v->rho = (uint64_t)rho;
  if (!handler_parse_u256(chi, &v->chi) || !handler_parse_u256(rate, &v->rate) ||
      !handler_parse_u256(ts, &v->total_supply))
    return DB_ERROR;
  v->has_min_rate = !n_minr && handler_parse_u256(minr, &v->min_rate);
  v->has_max_rate = !n_maxr && handler_parse_u256(maxr, &v->max_rate);
  v->has_cap = !n_cap && handler_parse_u256(cap, &v->deposit_cap);
  v->has_idle = !n_idle && handler_parse_u256(idle, &v->idle);
  v->has_intents = !n_ia;
  v->has_intents_min = !n_imin && handler_parse_u256(imin, &v->intents_min);
  v->has_intents_max = !n_imax && handler_parse_u256(imax, &v->intents_max);
  v->has_intents_deadline = !n_idl;
  v->kind = strcmp(v->kind_name, "sdai") == 0 ? KIND_SDAI : strcmp(v->kind_name, "susds") == 0 ? KIND_SUSDS : KIND_V2;
  if (!risk_eip55(v->address, v->checksum)) return DB_ERROR;
  const struct handler_chain_asof *a = handler_chains_find(&ix->chains, v->asof.chain_id);
  if (!a) return DB_OK; /* a chain past the index's capacity: left out rather than failing the cache */
  v->asof = *a;
  ix->n++;
  return DB_OK;
}

struct then_row {
  bool found;
  int64_t block_number, block_timestamp, rho;
  char chi[U256_DEC_MAX], rate[U256_DEC_MAX];
};

static db_status then_cb(const db_row *row, void *arg) {
  struct then_row *t = arg;
  const struct db_col cols[] = {
      {"block_number", DB_COL_INT64, &t->block_number, 0, NULL},
      {"block_timestamp", DB_COL_INT64, &t->block_timestamp, 0, NULL},
      {"chi", DB_COL_TEXT, t->chi, sizeof t->chi, NULL},
      {"rho", DB_COL_INT64, &t->rho, 0, NULL},
      {"rate", DB_COL_TEXT, t->rate, sizeof t->rate, NULL},
  };
  db_status s = db_row_get(row, cols, 5);
  t->found = s == DB_OK;
  return s;
}

/* Returns (chi_now / chi_then)^(YEAR / dt) - 1 as a decimal string (an estimate in long double). */
static void annualise(u256 now, u256 then, int64_t dt, char out[40]) {
  /* Both are RAY-scaled accumulators of at most ~1e30; their ratio is taken from 30 digits. */
  char a[U256_DEC_MAX], b[U256_DEC_MAX];
  u256_to_dec(now, a);
  u256_to_dec(then, b);
  long double ratio = strtold(a, NULL) / strtold(b, NULL);
  long double apy = expm1l(log1pl(ratio - 1.0L) * ((long double)RISK_YEAR / (long double)dt));
  snprintf(out, 40, "%.12Lf", apy);
}

static db_status realized_for(db_conn *conn, struct vault *v) {
  u256 now_chi;
  if (chi_at(v, (uint64_t)v->asof.block_timestamp, &now_chi) != RISK_OK) return DB_OK;
  for (int i = 0; i < 3; i++) {
    char chain[24], target[24];
    snprintf(chain, sizeof chain, "%" PRId64, v->asof.chain_id);
    snprintf(target, sizeof target, "%" PRId64, v->asof.block_timestamp - windows[i].seconds);
    const char *params[] = {chain, v->address, target};
    struct then_row t = {0};
    db_status s = db_query_prepared(conn, "savings_chi_then", 3, params, then_cb, &t, NULL);
    if (s != DB_OK) return s;
    if (!t.found || t.block_timestamp <= 0) continue;
    u256 chi, rate, chi_then;
    if (!handler_parse_u256(t.chi, &chi) || !handler_parse_u256(t.rate, &rate)) continue;
    if (risk_savings_chi_at(&chi_then, chi, (uint64_t)t.rho, rate, (uint64_t)t.block_timestamp) != RISK_OK) continue;
    int64_t dt = v->asof.block_timestamp - t.block_timestamp;
    if (dt <= 0 || u256_is_zero(chi_then)) continue;
    struct realized *r = &v->realized[i];
    r->ok = true;
    r->from_block = t.block_number;
    r->from_timestamp = t.block_timestamp;
    r->seconds = dt;
    annualise(now_chi, chi_then, dt, r->apy);
  }
  return DB_OK;
}

static const struct db_statement statements[] = {
    {"savings_chains", "SELECT chain_id, block_number, block_timestamp FROM chains ORDER BY chain_id"},
    {"savings_vaults",
     "SELECT v.chain_id, v.address, v.kind, v.asset, v.symbol, v.decimals, v.chi::text AS chi, v.rho, "
     "v.rate::text AS rate, v.min_rate::text AS min_rate, v.max_rate::text AS max_rate, "
     "v.deposit_cap::text AS deposit_cap, v.total_supply::text AS total_supply, v.idle_assets::text AS idle_assets, "
     "v.intents_address, v.intents_min_assets::text AS intents_min_assets, "
     "v.intents_max_assets::text AS intents_max_assets, v.intents_max_deadline_seconds, "
     "a.symbol AS asset_symbol, a.decimals AS asset_decimals "
     "FROM savings_vaults v JOIN assets a ON a.chain_id = v.chain_id AND a.address = v.asset "
     "ORDER BY v.chain_id, v.address"},
    {"savings_chi_then",
     "SELECT block_number, block_timestamp, chi::text AS chi, rho, rate::text AS rate FROM vault_state_series "
     "WHERE chain_id = $1 AND address = $2 AND block_timestamp <= $3 ORDER BY block_timestamp DESC, block_number "
     "DESC LIMIT 1"},
    /* One row per bucket: the last imported block inside it. $4 = bucket seconds, $5 = first bucket start
     * (cursor), $6 = rows wanted. */
    {"savings_history",
     "SELECT DISTINCT ON (b) (block_timestamp - $3::bigint) / $4::bigint AS b, block_number, block_timestamp, "
     "chi::text AS chi, rho, rate::text AS rate, total_supply::text AS total_supply, "
     "idle_assets::text AS idle_assets FROM vault_state_series "
     "WHERE chain_id = $1 AND address = $2 AND block_timestamp >= $5::bigint AND block_timestamp <= $6::bigint "
     "ORDER BY b, block_timestamp DESC, block_number DESC LIMIT $7"},
};

static pthread_once_t stmts_once = PTHREAD_ONCE_INIT;
static void register_statements(void) { db_statements_register(statements, sizeof statements / sizeof statements[0]); }

/* Builds a list page {data, as_of, next_cursor} from items [off, off+limit) as JSON text. */
static char *list_page(const struct savings_index *ix, size_t off, size_t limit, size_t *len) {
  json_t *asof = handler_as_of_all(&ix->chains);
  char *asof_text = json_dumps(asof, JSON_COMPACT);
  json_decref(asof);
  if (!asof_text) return NULL;
  size_t end = off + limit < ix->n ? off + limit : ix->n;
  size_t cap = 128 + strlen(asof_text);
  for (size_t i = off; i < end; i++)
    cap += strlen(ix->v[i].item) + 1;
  char *out = malloc(cap);
  if (!out) {
    free(asof_text);
    return NULL;
  }
  size_t n = 0;
  n += (size_t)sprintf(out + n, "{\"data\":[");
  for (size_t i = off; i < end; i++) {
    if (i > off) out[n++] = ',';
    size_t l = strlen(ix->v[i].item);
    memcpy(out + n, ix->v[i].item, l);
    n += l;
  }
  char cur[64] = "";
  if (end < ix->n) handler_cursor_make('o', (int64_t)end, cur);
  n += (size_t)sprintf(out + n, "],\"as_of\":%s,\"next_cursor\":", asof_text);
  n += (size_t)(end < ix->n ? sprintf(out + n, "\"%s\"}", cur) : sprintf(out + n, "null}"));
  free(asof_text);
  *len = n;
  return out;
}

/* State-cache builder: the vault list, one body per vault, and the typed index. */
db_status handler_savings_build(db_conn *conn, struct svc_cache_builder *b) {
  pthread_once(&stmts_once, register_statements);
  struct savings_index *ix = calloc(1, sizeof *ix);
  if (!ix) return DB_ERROR;
  db_status s = db_query_prepared(conn, "savings_chains", 0, NULL, handler_chains_row, &ix->chains, NULL);
  if (s == DB_OK) s = db_query_prepared(conn, "savings_vaults", 0, NULL, vault_row, ix, NULL);
  for (size_t i = 0; s == DB_OK && i < ix->n; i++)
    s = realized_for(conn, &ix->v[i]);
  if (s != DB_OK) {
    index_free(ix);
    return s;
  }
  for (size_t i = 0; i < ix->n; i++) {
    struct vault *v = &ix->v[i];
    json_t *o = vault_json(v, (uint64_t)v->asof.block_timestamp);
    if (!o) { /* cannot happen for state the chain holds; leave it out rather than fail everything */
      o = json_pack("{s:I, s:s, s:s, s:s}", "chain_id", (json_int_t)v->asof.chain_id, "kind", v->kind_name, "address",
                    v->checksum, "symbol", v->symbol);
    }
    v->item = json_dumps(o, JSON_COMPACT);
    json_object_set_new(o, "as_of", handler_as_of_json(&v->asof));
    char key[160];
    snprintf(key, sizeof key, LIST_KEY "/%" PRId64 "/%s", v->asof.chain_id, v->address);
    if (!v->item || !svc_cache_put_json(b, key, o, NULL, NULL)) {
      index_free(ix);
      return DB_ERROR;
    }
  }
  size_t len;
  char *page = list_page(ix, 0, DEFAULT_LIMIT, &len);
  json_error_t e;
  json_t *list = page ? json_loadb(page, len, 0, &e) : NULL;
  free(page);
  if (!list || !svc_cache_put_json(b, LIST_KEY, list, NULL, NULL)) {
    index_free(ix);
    return DB_ERROR;
  }
  return svc_cache_put_data(b, INDEX_KEY, ix, index_free) ? DB_OK : DB_ERROR;
}

/* ---- request helpers -------------------------------------------------------------------------- */

/* Returns the cache with the savings index, or NULL after replying 503. */
static struct svc_cache *acquire(struct svc_request *req, const struct savings_index **ix) {
  const void *data = NULL;
  enum svc_handler_result res;
  struct svc_cache *c = handler_cache_data(req, INDEX_KEY, &data, &res);
  *ix = data;
  return c;
}

/* Resolves {chain}/{vault}; returns the vault or NULL after replying 400/404. */
static const struct vault *resolve(struct svc_request *req, const struct savings_index *ix) {
  char chain_s[32], vault_s[128];
  const char *cs = svc_req_param(req, "chain", chain_s, sizeof chain_s);
  const char *vs = svc_req_param(req, "vault", vault_s, sizeof vault_s);
  int64_t chain;
  if (!cs || !handler_parse_chain_id(cs, &chain) || !handler_chains_find(&ix->chains, chain)) {
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
    if (!handler_parse_address(vs, addr)) {
      json_t *errs = json_array();
      json_array_append_new(errs,
                            svc_field_error("vault", "invalid_address", "must be 0x followed by 40 hex digits"));
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
static bool parse_at(struct svc_request *req, const struct vault *v, uint64_t *t) {
  int64_t x = v->asof.block_timestamp;
  if (!handler_query_at(req, v->asof.block_timestamp, &x)) return false;
  *t = (uint64_t)x;
  return true;
}

/* ---- GET /v1/savings/vaults ------------------------------------------------------------------- */

enum svc_handler_result handler_savings_vaults_list(struct svc_request *req) {
  const struct savings_index *ix;
  struct svc_cache *c = acquire(req, &ix);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res;
  const char *cursor = svc_req_query(req, "cursor");
  size_t limit;
  int64_t off = 0;
  if (!handler_query_limit(req, DEFAULT_LIMIT, MAX_LIMIT, &limit)) {
    res = SVC_HANDLED;
  } else if (cursor && (!handler_cursor_parse(cursor, 'o', &off) || (size_t)off > ix->n)) {
    res = handler_bad_query(req, "cursor", "invalid_cursor", "not a cursor this list returned");
  } else if (!cursor && limit == DEFAULT_LIMIT) {
    res = handler_reply_cached(req, c, LIST_KEY);
  } else {
    size_t len;
    char *page = list_page(ix, (size_t)off, limit, &len);
    res = page ? svc_reply_take(req, 200, "application/json", page, len) : SVC_HANDLER_FATAL;
  }
  svc_cache_release(c);
  return res;
}

/* ---- GET /v1/savings/vaults/{chain}/{vault} --------------------------------------------------- */

enum svc_handler_result handler_savings_vault_get(struct svc_request *req) {
  const struct savings_index *ix;
  struct svc_cache *c = acquire(req, &ix);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res = SVC_HANDLED;
  const struct vault *v = resolve(req, ix);
  uint64_t t;
  if (v && parse_at(req, v, &t)) {
    if (!svc_req_query(req, "at")) {
      char key[160];
      snprintf(key, sizeof key, LIST_KEY "/%" PRId64 "/%s", v->asof.chain_id, v->address);
      res = handler_reply_cached(req, c, key);
    } else {
      json_t *o = vault_json(v, t);
      if (!o) {
        res =
            handler_bad_query(req, "at", "out_of_range", "too far ahead: the accumulator overflows, the chain reverts");
      } else {
        json_object_set_new(o, "as_of", handler_as_of_json(&v->asof));
        res = svc_reply_json_steal(req, 200, o);
      }
    }
  }
  svc_cache_release(c);
  return res;
}

/* ---- GET /v1/savings/vaults/{chain}/{vault}/preview ------------------------------------------- */

enum action { ACT_DEPOSIT, ACT_MINT, ACT_WITHDRAW, ACT_REDEEM };
static const char *const action_names[] = {"deposit", "mint", "withdraw", "redeem"};

static const char *balance_revert(const struct vault *v) {
  switch (v->kind) {
  case KIND_SDAI: return "SavingsDai/insufficient-balance";
  case KIND_SUSDS: return "SUsds/insufficient-balance";
  default: return risk_vault_revert_string(RISK_VAULT_INSUFFICIENT_BALANCE);
  }
}

/* The largest amount of the action that passes at t (owner_shares may be absent = unbounded). */
static risk_err max_for(const struct vault *v, enum action a, bool has_owner, u256 owner, uint64_t t, u256 *m) {
  u256 c;
  risk_err e = chi_at(v, t, &c);
  if (e != RISK_OK) return e;
  if (v->kind == KIND_V2) {
    struct risk_spark_vault s = as_spark(v);
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
  const struct savings_index *ix;
  struct svc_cache *c = acquire(req, &ix);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res = SVC_HANDLED;
  const struct vault *v = resolve(req, ix);
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
  risk_err e = chi_at(v, t, &chi_t);
  if (e == RISK_OK && v->kind == KIND_V2) {
    struct risk_spark_vault s = as_spark(v);
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
      handler_put_amount(fe, "max_amount", mx, amount_dec);
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
  handler_put_amount(o, "amount", amount, amount_dec);
  json_object_set_new(o, "amount_unit", json_string(amount_is_assets ? "assets" : "shares"));
  handler_put_amount(o, "result", out, result_dec);
  json_object_set_new(o, "result_unit", json_string(amount_is_assets ? "shares" : "assets"));
  json_object_set_new(o, "rounding", json_string(act == ACT_DEPOSIT || act == ACT_REDEEM ? "down" : "up"));
  json_object_set_new(o, "chi_ray", handler_json_u256(chi_t));
  json_object_set_new(o, "at", json_integer((json_int_t)t));
  if (has_owner) handler_put_amount(o, "owner_shares", owner, v->decimals);
  if (has_max) handler_put_amount(o, "max_amount", mx, amount_dec);
  json_object_set_new(o, "as_of", handler_as_of_json(&v->asof));
  res = svc_reply_json_steal(req, 200, o);
done:
  svc_cache_release(c);
  return res;
}

/* ---- GET /v1/savings/vaults/{chain}/{vault}/history ------------------------------------------- */

struct hist_ctx {
  const struct vault *v;
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
  u256 chi, rate, ts, c, ta, apy;
  if (!handler_parse_u256(chi_s, &chi) || !handler_parse_u256(rate_s, &rate) || !handler_parse_u256(ts_s, &ts))
    return DB_ERROR;
  json_t *o = json_object();
  char t[32];
  int64_t start = h->from + b * h->bucket;
  handler_time_rfc3339(start, t);
  json_object_set_new(o, "chain_id", json_integer((json_int_t)h->v->asof.chain_id));
  json_object_set_new(o, "address", json_string(h->v->checksum));
  json_object_set_new(o, "bucket_start", json_string(t));
  json_object_set_new(o, "bucket_start_timestamp", json_integer((json_int_t)start));
  json_object_set_new(o, "block_number", json_integer((json_int_t)bn));
  json_object_set_new(o, "block_timestamp", json_integer((json_int_t)bts));
  put_rate(o, "", rate);
  (void)apy;
  if (risk_savings_chi_at(&c, chi, (uint64_t)rho, rate, (uint64_t)bts) == RISK_OK &&
      risk_savings_convert_to_assets(&ta, ts, c) == RISK_OK) {
    json_object_set_new(o, "chi_ray", handler_json_u256(c));
    json_object_set_new(o, "share_price", handler_json_fixed(c, 27));
    handler_put_amount(o, "total_assets", ta, h->v->asset_decimals);
  } else {
    json_object_set_new(o, "chi_ray", json_null());
    json_object_set_new(o, "share_price", json_null());
    json_object_set_new(o, "total_assets", json_null());
    json_object_set_new(o, "total_assets_human", json_null());
  }
  handler_put_amount(o, "total_supply", ts, h->v->decimals);
  u256 idle;
  if (!idle_null && handler_parse_u256(idle_s, &idle))
    handler_put_amount(o, "idle_assets", idle, h->v->asset_decimals);
  else
    json_object_set_new(o, "idle_assets", json_null());
  json_array_append_new(h->rows, o);
  return DB_OK;
}

static bool parse_time(struct svc_request *req, const char *name, int64_t dflt, int64_t *out) {
  const char *s = svc_req_query(req, name);
  *out = dflt;
  if (!s) return true;
  if (handler_parse_i64(s, out)) return true;
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
  const struct savings_index *ix;
  struct svc_cache *c = acquire(req, &ix);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res = SVC_HANDLED;
  const struct vault *v = resolve(req, ix);
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
    if (!handler_cursor_parse(cursor, 'b', &b) || b < 0 || from + b * bucket > to) {
      res = handler_bad_query(req, "cursor", "invalid_cursor", "not a cursor this series returned");
      goto done;
    }
    start = from + b * bucket;
  }
  pthread_once(&stmts_once, register_statements);
  db_conn *conn = svc_req_db(req);
  if (!conn) goto done;
  char p_chain[24], p_from[24], p_bucket[24], p_start[24], p_to[24], p_lim[24];
  snprintf(p_chain, sizeof p_chain, "%" PRId64, v->asof.chain_id);
  snprintf(p_from, sizeof p_from, "%" PRId64, from);
  snprintf(p_bucket, sizeof p_bucket, "%" PRId64, bucket);
  snprintf(p_start, sizeof p_start, "%" PRId64, start);
  snprintf(p_to, sizeof p_to, "%" PRId64, to);
  snprintf(p_lim, sizeof p_lim, "%zu", limit + 1);
  const char *params[] = {p_chain, v->address, p_from, p_bucket, p_start, p_to, p_lim};
  struct hist_ctx h = {v, json_array(), bucket, from, -1, 0};
  db_status s = db_query_prepared(conn, "savings_history", 7, params, hist_row, &h, NULL);
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
    handler_cursor_make('b', h.last_bucket, cur);
    next = json_string(cur);
  }
  char iv_s[8];
  snprintf(iv_s, sizeof iv_s, "%s", iv ? iv : "1d");
  json_t *o = json_pack("{s:o, s:o, s:o, s:s, s:I, s:I}", "data", h.rows, "as_of", handler_as_of_json(&v->asof),
                        "next_cursor", next, "interval", iv_s, "from", (json_int_t)from, "to", (json_int_t)to);
  res = svc_reply_json_steal(req, 200, o);
done:
  svc_cache_release(c);
  return res;
}
