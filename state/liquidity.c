/* The liquidity-layer loader. */
#include "state/liquidity.h"

#include <stdlib.h>
#include <string.h>

#include "db/liquidity.h"
#include "state/cache.h"
#include "util/vec.h"

static void index_free(void *p) {
  struct state_liquidity *ix = p;
  if (!ix) return;
  free(ix->v);
  free(ix->alloc);
  free(ix->idle);
  free(ix);
}

static db_status rl_row(const db_row *row, void *arg) {
  struct state_liquidity *ix = arg;
  if (!UTIL_VEC_RESERVE(ix->v, ix->n, ix->cap, 32)) return DB_ERROR;
  struct state_rate_limit *r = &ix->v[ix->n];
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
  if (!u256_parse_dec(mx, &r->st.max_amount) || !u256_parse_dec(sl, &r->st.slope) ||
      !u256_parse_dec(la, &r->st.last_amount))
    return DB_ERROR;
  r->asof = state_chains_find(&ix->chains, chain);
  if (!r->asof) return DB_OK; /* a chain past the index's capacity: left out rather than failing the cache */
  ix->n++;
  return DB_OK;
}

static db_status alloc_row(const db_row *row, void *arg) {
  struct state_liquidity *ix = arg;
  if (!UTIL_VEC_RESERVE(ix->alloc, ix->n_alloc, ix->cap_alloc, 32)) return DB_ERROR;
  struct state_allocation *a = &ix->alloc[ix->n_alloc];
  memset(a, 0, sizeof *a);
  char amount[U256_DEC_MAX], apr[U256_DEC_MAX];
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &a->chain_id, 0, NULL},
      {"venue_id", DB_COL_TEXT, a->venue_id, sizeof a->venue_id, NULL},
      {"kind", DB_COL_TEXT, a->kind, sizeof a->kind, NULL},
      {"label", DB_COL_TEXT, a->label, sizeof a->label, NULL},
      {"address", DB_COL_TEXT, a->address, sizeof a->address, NULL},
      {"asset", DB_COL_TEXT, a->asset, sizeof a->asset, NULL},
      {"symbol", DB_COL_TEXT, a->symbol, sizeof a->symbol, NULL},
      {"decimals", DB_COL_INT64, &a->decimals, 0, NULL},
      {"amount", DB_COL_TEXT, amount, sizeof amount, NULL},
      {"apr", DB_COL_TEXT, apr, sizeof apr, NULL},
  };
  db_status s = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (s != DB_OK) return s;
  if (!u256_parse_dec(amount, &a->amount) || !u256_parse_dec(apr, &a->apr)) return DB_ERROR;
  ix->n_alloc++;
  return DB_OK;
}

static db_status idle_row(const db_row *row, void *arg) {
  struct state_liquidity *ix = arg;
  if (!UTIL_VEC_RESERVE(ix->idle, ix->n_idle, ix->cap_idle, 16)) return DB_ERROR;
  struct state_idle *a = &ix->idle[ix->n_idle];
  memset(a, 0, sizeof *a);
  char amount[U256_DEC_MAX], deployed[U256_DEC_MAX];
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &a->chain_id, 0, NULL},
      {"asset", DB_COL_TEXT, a->asset, sizeof a->asset, NULL},
      {"symbol", DB_COL_TEXT, a->symbol, sizeof a->symbol, NULL},
      {"decimals", DB_COL_INT64, &a->decimals, 0, NULL},
      {"amount", DB_COL_TEXT, amount, sizeof amount, NULL},
      {"deployed", DB_COL_TEXT, deployed, sizeof deployed, NULL},
  };
  db_status s = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (s != DB_OK) return s;
  if (!u256_parse_dec(amount, &a->amount) || !u256_parse_dec(deployed, &a->deployed)) return DB_ERROR;
  ix->n_idle++;
  return DB_OK;
}

db_status state_liquidity_load(db_conn *conn, struct state_builder *b) {
  struct state_liquidity *ix = calloc(1, sizeof *ix);
  if (!ix) return DB_ERROR;
  db_status s = state_chains_load(conn, &ix->chains);
  if (s == DB_OK) s = db_liquidity_rate_limits(conn, rl_row, ix);
  if (s == DB_OK) s = db_liquidity_allocations(conn, alloc_row, ix);
  if (s == DB_OK) s = db_liquidity_idle(conn, idle_row, ix);
  if (s != DB_OK) {
    index_free(ix);
    return s;
  }
  return state_cache_put_data(b, STATE_LIQUIDITY_KEY, ix, index_free) ? DB_OK : DB_ERROR;
}

const struct state_liquidity *state_liquidity(const struct state_cache *c) {
  return state_cache_data(c, STATE_LIQUIDITY_KEY);
}
