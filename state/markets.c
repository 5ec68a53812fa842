/* The markets loader: every chain's reserves, prices, rate strategies and eMode categories read
 * in the build's transaction into typed data (struct state_markets). */
#include "state/markets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db/markets.h"
#include "risk/eip55.h"
#include "state/cache.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/time.h"
#include "util/vec.h"

/* ---- the loader ---------------------------------------------------------------------- */

struct chain_row {
  int64_t id, block, ts;
  char hash[67], imported_at[32];
};
struct chains_acc {
  struct chain_row *rows;
  size_t n, cap;
};

static db_status chain_row_cb(const db_row *row, void *arg) {
  struct chains_acc *a = arg;
  if (!UTIL_VEC_RESERVE(a->rows, a->n, a->cap, 8)) return DB_ERROR;
  struct chain_row *c = &a->rows[a->n++];
  c->id = atoll(db_row_text(row, 0));
  c->block = atoll(db_row_text(row, 1));
  snprintf(c->hash, sizeof c->hash, "%s", db_row_text(row, 2));
  c->ts = atoll(db_row_text(row, 3));
  snprintf(c->imported_at, sizeof c->imported_at, "%s", db_row_text(row, 4));
  return DB_OK;
}

struct reserves_acc {
  struct state_market *m;
  size_t cap;
};

static bool parse_int256(const char *text, bool *neg, u256 *mag) {
  *neg = false;
  *mag = U256_ZERO;
  if (!text) return true;
  if (*text == '-') {
    *neg = true;
    text++;
  }
  return u256_parse_dec(text, mag);
}

static db_status reserve_row_cb(const db_row *row, void *arg) {
  struct reserves_acc *a = arg;
  struct state_market *m = a->m;
  if (!UTIL_VEC_RESERVE(m->r, m->n, a->cap, 32)) return DB_ERROR;
  struct state_reserve *r = &m->r[m->n];
  memset(r, 0, sizeof *r);
  unsigned i = 0;
#define T(k) db_row_text(row, (k))
  snprintf(r->address, sizeof r->address, "%s", T(i++));
  risk_eip55(r->address, r->address_cs);
  snprintf(r->symbol, sizeof r->symbol, "%s", T(i++));
  snprintf(r->name, sizeof r->name, "%s", T(i++));
  r->decimals = (unsigned)atoi(T(i++));
  r->reserve_id = atoi(T(i++));
  u256 bitmap;
  bool ok = u256_parse_dec(T(i++), &bitmap);
  risk_reserve_config_decode(bitmap, &r->st.config);
  ok = ok && u256_parse_dec(T(i++), &r->st.liquidity_index) && u256_parse_dec(T(i++), &r->st.variable_borrow_index) &&
       u256_parse_dec(T(i++), &r->st.current_liquidity_rate) &&
       u256_parse_dec(T(i++), &r->st.current_variable_borrow_rate);
  r->st.last_update_timestamp = (uint64_t)atoll(T(i++));
  risk_eip55(T(i++), r->a_token_cs);
  risk_eip55(T(i++), r->debt_token_cs);
  ok = ok && u256_parse_dec(T(i++), &r->st.a_token_scaled_total_supply) &&
       u256_parse_dec(T(i++), &r->st.variable_debt_scaled_total_supply) &&
       u256_parse_dec(T(i++), &r->st.accrued_to_treasury) && u256_parse_dec(T(i++), &r->st.isolation_mode_total_debt) &&
       u256_parse_dec(T(i++), &r->st.available_liquidity);
  risk_eip55(T(i++), r->irm_address_cs);
  snprintf(r->irm_kind, sizeof r->irm_kind, "%s", T(i++));
  struct risk_irm *irm = &r->irm;
  irm->kind = strcmp(r->irm_kind, "default") == 0            ? RISK_IRM_DEFAULT
              : strcmp(r->irm_kind, "variable_borrow") == 0  ? RISK_IRM_VARIABLE_BORROW
              : strcmp(r->irm_kind, "rate_target_base") == 0 ? RISK_IRM_RATE_TARGET_BASE
                                                             : RISK_IRM_RATE_TARGET_KINK;
  ok = ok && u256_parse_dec(T(i++), &irm->optimal_usage_ratio) &&
       u256_parse_dec(T(i++), &irm->base_variable_borrow_rate) && u256_parse_dec(T(i++), &irm->variable_rate_slope1) &&
       u256_parse_dec(T(i++), &irm->variable_rate_slope2);
  ok = ok && parse_int256(T(i++), &irm->spread_negative, &irm->spread);
  const char *sk = T(i++), *sa = T(i++), *sapr = T(i++), *sdec = T(i++), *sjson = T(i++);
  if (sk) {
    r->has_source = true;
    snprintf(r->source_kind, sizeof r->source_kind, "%s", sk);
    if (sa) risk_eip55(sa, r->source_address_cs);
    snprintf(r->source_json, sizeof r->source_json, "%s", sjson ? sjson : "");
    /* The stored apr is the source's getAPR() after any CappedFallback clamp: read it as an oracle. */
    irm->source.kind = RISK_RATE_SOURCE_ORACLE;
    irm->source.decimals = sdec ? (unsigned)atoi(sdec) : 27;
    ok = ok && u256_parse_dec(sapr, &irm->source.value);
  }
  const char *price = T(i++), *pu = T(i++);
  if (price) {
    r->has_price = u256_parse_dec(price, &r->price);
    r->price_updated_at = pu ? (uint64_t)atoll(pu) : 0;
  }
#undef T
  if (!ok) {
    util_log(UTIL_LOG_ERROR, "markets: reserve %s of chain %lld has a malformed stored value", r->address,
             (long long)m->chain_id);
    return DB_ERROR;
  }
  r->liquidation_protocol_fee = r->st.config.liquidation_protocol_fee;
  r->unbacked_mint_cap = r->st.config.unbacked_mint_cap;
  r->debt_ceiling = r->st.config.debt_ceiling;
  m->n++;
  return DB_OK;
}

static void free_chain(void *p) {
  struct state_market *m = p;
  if (!m) return;
  free(m->r);
  free(m);
}

static db_status emode_row_cb(const db_row *row, void *arg) {
  struct state_market *m = arg;
  struct state_emode *e = &m->emode[m->n_emode];
  if (m->n_emode == sizeof m->emode / sizeof m->emode[0]) return DB_OK; /* eMode ids are uint8 */
  memset(e, 0, sizeof *e);
  e->id = atoi(db_row_text(row, 0));
  e->ltv = (unsigned)atoi(db_row_text(row, 1));
  e->liquidation_threshold = (unsigned)atoi(db_row_text(row, 2));
  e->liquidation_bonus = (unsigned)atoi(db_row_text(row, 3));
  snprintf(e->price_source, sizeof e->price_source, "%s", db_row_text(row, 4));
  bool zero = true;
  for (int k = 2; e->price_source[k]; k++)
    if (e->price_source[k] != '0') zero = false;
  if (zero) e->price_source[0] = 0;
  snprintf(e->label, sizeof e->label, "%s", db_row_text(row, 5));
  m->n_emode++;
  return DB_OK;
}

static void free_markets(void *p) {
  struct state_markets *all = p;
  if (!all) return;
  for (size_t i = 0; i < all->n; i++)
    free_chain(all->v[i]);
  free(all->v);
  free(all);
}

db_status state_markets_load(db_conn *conn, struct state_builder *b) {
  struct chains_acc ca = {0};
  db_status s = db_markets_chains(conn, chain_row_cb, &ca);
  struct state_markets *all = calloc(1, sizeof *all);
  if (all && ca.n) all->v = calloc(ca.n, sizeof *all->v);
  if (!all || (ca.n && !all->v)) s = DB_ERROR;
  for (size_t i = 0; i < ca.n && s == DB_OK; i++) {
    const struct chain_row *cr = &ca.rows[i];
    struct state_market *m = calloc(1, sizeof *m);
    if (!m) {
      s = DB_ERROR;
      break;
    }
    all->v[all->n++] = m;
    m->chain_id = cr->id;
    m->block_number = cr->block;
    m->block_timestamp = cr->ts;
    memcpy(m->block_hash, cr->hash, sizeof m->block_hash);
    memcpy(m->imported_at, cr->imported_at, sizeof m->imported_at);
    struct reserves_acc ra = {m, 0};
    s = db_markets_reserves(conn, cr->id, reserve_row_cb, &ra);
    if (s == DB_OK) s = db_markets_emode(conn, cr->id, emode_row_cb, m);
  }
  free(ca.rows);
  if (s != DB_OK) {
    free_markets(all);
    return s;
  }
  return state_cache_put_data(b, STATE_MARKETS_KEY, all, free_markets) ? DB_OK : DB_ERROR;
}

/* ---- lookups ---------------------------------------------------------------------------------- */

const struct state_market *state_markets_chain(const struct state_cache *c, int64_t chain_id) {
  const struct state_markets *all = state_cache_data(c, STATE_MARKETS_KEY);
  for (size_t i = 0; all && i < all->n; i++)
    if (all->v[i]->chain_id == chain_id) return all->v[i];
  return NULL;
}

const struct state_reserve *state_markets_find_reserve(const struct state_market *m, const char *asset) {
  char lower[43];
  bool by_address = util_parse_address(asset, lower);
  for (size_t i = 0; i < m->n; i++) {
    if (by_address ? strcmp(m->r[i].address, lower) == 0 : strcasecmp(m->r[i].symbol, asset) == 0) return &m->r[i];
  }
  return NULL;
}
