/* The savings loader: every vault and, per window, the accumulator at the last stored block at
 * or before that long ago (realized APY). */
#include "state/savings.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/markets.h"
#include "db/savings.h"
#include "risk/eip55.h"
#include "risk/wadray.h"
#include "state/cache.h"
#include "util/vec.h"

const struct state_savings_window state_savings_windows[STATE_SAVINGS_WINDOWS] = {
    {"1d", 86400}, {"7d", 7 * 86400}, {"30d", 30 * 86400}};

struct risk_spark_vault state_vault_spark(const struct state_vault *v) {
  struct risk_spark_vault s = {v->chi,
                               v->rho,
                               v->rate,
                               v->total_supply,
                               v->has_cap ? v->deposit_cap : U256_MAX,
                               v->has_idle ? v->idle : U256_ZERO};
  return s;
}

risk_err state_vault_chi_at(const struct state_vault *v, uint64_t t, u256 *c) {
  return risk_savings_chi_at(c, v->chi, v->rho, v->rate, t);
}

static void index_free(void *p) {
  struct state_savings *ix = p;
  if (!ix) return;
  for (size_t i = 0; i < ix->n; i++)
    free(ix->v[i].item);
  free(ix->v);
  free(ix);
}

static db_status vault_row(const db_row *row, void *arg) {
  struct state_savings *ix = arg;
  if (!UTIL_VEC_RESERVE(ix->v, ix->n, ix->cap, 16)) return DB_ERROR;
  struct state_vault *v = &ix->v[ix->n];
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
  if (!u256_parse_dec(chi, &v->chi) || !u256_parse_dec(rate, &v->rate) || !u256_parse_dec(ts, &v->total_supply))
    return DB_ERROR;
  v->has_min_rate = !n_minr && u256_parse_dec(minr, &v->min_rate);
  v->has_max_rate = !n_maxr && u256_parse_dec(maxr, &v->max_rate);
  v->has_cap = !n_cap && u256_parse_dec(cap, &v->deposit_cap);
  v->has_idle = !n_idle && u256_parse_dec(idle, &v->idle);
  v->has_intents = !n_ia;
  v->has_intents_min = !n_imin && u256_parse_dec(imin, &v->intents_min);
  v->has_intents_max = !n_imax && u256_parse_dec(imax, &v->intents_max);
  v->has_intents_deadline = !n_idl;
  v->kind = strcmp(v->kind_name, "sdai") == 0    ? STATE_VAULT_SDAI
            : strcmp(v->kind_name, "susds") == 0 ? STATE_VAULT_SUSDS
                                                 : STATE_VAULT_V2;
  if (!risk_eip55(v->address, v->checksum)) return DB_ERROR;
  const struct state_as_of *a = state_chains_find(&ix->chains, v->asof.chain_id);
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

static db_status realized_for(db_conn *conn, struct state_vault *v) {
  u256 now_chi;
  if (state_vault_chi_at(v, (uint64_t)v->asof.block_timestamp, &now_chi) != RISK_OK) return DB_OK;
  for (int i = 0; i < STATE_SAVINGS_WINDOWS; i++) {
    struct then_row t = {0};
    db_status s = db_savings_chi_then(conn, v->asof.chain_id, v->address,
                                      v->asof.block_timestamp - state_savings_windows[i].seconds, then_cb, &t);
    if (s != DB_OK) return s;
    if (!t.found || t.block_timestamp <= 0) continue;
    u256 chi, rate, chi_then;
    if (!u256_parse_dec(t.chi, &chi) || !u256_parse_dec(t.rate, &rate)) continue;
    if (risk_savings_chi_at(&chi_then, chi, (uint64_t)t.rho, rate, (uint64_t)t.block_timestamp) != RISK_OK) continue;
    int64_t dt = v->asof.block_timestamp - t.block_timestamp;
    if (dt <= 0 || u256_is_zero(chi_then)) continue;
    struct state_realized *r = &v->realized[i];
    r->ok = true;
    r->from_block = t.block_number;
    r->from_timestamp = t.block_timestamp;
    r->seconds = dt;
    annualise(now_chi, chi_then, dt, r->apy);
  }
  return DB_OK;
}

db_status state_savings_load(db_conn *conn, struct state_builder *b) {
  struct state_savings *ix = calloc(1, sizeof *ix);
  if (!ix) return DB_ERROR;
  db_status s = state_chains_load(conn, &ix->chains);
  if (s == DB_OK) s = db_savings_vaults(conn, vault_row, ix);
  for (size_t i = 0; s == DB_OK && i < ix->n; i++)
    s = realized_for(conn, &ix->v[i]);
  if (s != DB_OK) {
    index_free(ix);
    return s;
  }
  return state_cache_put_data(b, STATE_SAVINGS_KEY, ix, index_free) ? DB_OK : DB_ERROR;
}

const struct state_savings *state_savings(const struct state_cache *c) {
  return state_cache_data(c, STATE_SAVINGS_KEY);
}
