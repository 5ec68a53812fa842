/* Applying one validated snapshot (STYLE: one db file per operation).
 *
 * One transaction (db_run_txn): a per-chain advisory xact lock so that two imports of the same
 * chain serialise; the block-order check; the reference checks that need the database; then the
 * writes. A section present in the snapshot replaces that section's current rows of the chain
 * (assets are only ever added or updated); absent sections are left alone. Series rows are
 * appended. A full-mode snapshot's accounts and positions go through COPY; a delta's are compared
 * with the stored positions of the accounts it lists, and only the differences written
 * (write_delta). Each written account's health factor is computed with the engine
 * (risk/account.h) at the block's timestamp from the reserves, prices and eMode categories as they
 * stand after this snapshot's writes; the accounts a snapshot does not list are not re-evaluated
 * here when prices or indexes move (that rewrote every account row at every block): the state
 * cache computes every held account's health factor per generation in memory
 * (docs/architecture.md, "Where health factors live"). NOTIFY sparkd_state is sent inside the
 * transaction, so listeners hear it at commit. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/copy.h"
#include "db/internal.h"
#include "db/snapshot.h"
#include "risk/account.h"
#include "risk/reserve.h"
#include "util/vec.h"

#define MAXP 48

const struct db_statement db_snapshot_statements[] = {
    {"snap_lock",
     "SELECT pg_advisory_xact_lock(('x' || substr(md5('sparkd.import:' || $1::text), 1, 16))::bit(64)::bigint)"},
    {"snap_chain_get", "SELECT block_number, block_hash FROM chains WHERE chain_id = $1::bigint"},
    {"snap_chain_upsert",
     "INSERT INTO chains (chain_id, block_number, block_hash, block_timestamp) VALUES ($1, $2, $3, $4)"
     " ON CONFLICT (chain_id) DO UPDATE SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,"
     " block_timestamp = EXCLUDED.block_timestamp, imported_at = now()"},
    /* $5, the parent hash, is NULL for a file import; the indexer writes it in the block's own
       transaction, so no applied block is ever without it */
    {"snap_block_upsert",
     "INSERT INTO chain_blocks (chain_id, block_number, block_hash, block_timestamp, parent_hash)"
     " VALUES ($1, $2, $3, $4, $5)"
     " ON CONFLICT (chain_id, block_number) DO UPDATE SET block_hash = EXCLUDED.block_hash,"
     " block_timestamp = EXCLUDED.block_timestamp,"
     /* a file import of an indexed block (same hash) keeps the parent hash the indexer stored */
     " parent_hash = CASE WHEN EXCLUDED.parent_hash IS NULL AND chain_blocks.block_hash = EXCLUDED.block_hash"
     " THEN chain_blocks.parent_hash ELSE EXCLUDED.parent_hash END, imported_at = now()"},
    {"snap_known_assets", "SELECT address FROM assets WHERE chain_id = $1::bigint"},
    {"snap_known_reserves", "SELECT asset FROM reserves WHERE chain_id = $1::bigint"},
    {"snap_asset_upsert", "INSERT INTO assets (chain_id, address, symbol, name, decimals) VALUES ($1, $2, $3, $4, $5)"
                          " ON CONFLICT (chain_id, address) DO UPDATE SET symbol = EXCLUDED.symbol,"
                          " name = COALESCE(EXCLUDED.name, assets.name), decimals = EXCLUDED.decimals"},
    {"snap_reserves_delete", "DELETE FROM reserves WHERE chain_id = $1::bigint"},
    {"snap_reserve_insert",
     "INSERT INTO reserves (chain_id, asset, reserve_id, block_number, configuration, ltv, liquidation_threshold,"
     " liquidation_bonus, decimals, active, frozen, borrowing_enabled, stable_borrowing_enabled, paused,"
     " borrowable_in_isolation, siloed_borrowing, flashloan_enabled, reserve_factor, borrow_cap, supply_cap,"
     " liquidation_protocol_fee, emode_category, unbacked_mint_cap, debt_ceiling, liquidity_index,"
     " variable_borrow_index, current_liquidity_rate, current_variable_borrow_rate, last_update_timestamp, a_token,"
     " variable_debt_token, a_token_scaled_total_supply, variable_debt_scaled_total_supply, accrued_to_treasury,"
     " isolation_mode_total_debt, available_liquidity, irm_address, irm_kind, irm_optimal_usage_ratio,"
     " irm_base_variable_borrow_rate, irm_variable_rate_slope1, irm_variable_rate_slope2, irm_spread, irm_rate_source)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,"
     " $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43,"
     " $44::jsonb)"},
    {"snap_reserve_series_insert",
     "INSERT INTO reserve_state_series (chain_id, asset, block_number, block_timestamp, configuration,"
     " liquidity_index, variable_borrow_index, current_liquidity_rate, current_variable_borrow_rate,"
     " last_update_timestamp, a_token_scaled_total_supply, variable_debt_scaled_total_supply, accrued_to_treasury,"
     " isolation_mode_total_debt, available_liquidity)"
     " SELECT $1::bigint, t.asset, $2::bigint, $3::bigint, t.conf, t.li, t.vbi, t.clr, t.cvbr, t.lut, t.ats, t.vds,"
     " t.att, t.imtd, t.al FROM unnest($4::text[], $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[],"
     " $9::numeric[], $10::bigint[], $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[])"
     " AS t(asset, conf, li, vbi, clr, cvbr, lut, ats, vds, att, imtd, al) ON CONFLICT DO NOTHING"},
    {"snap_emode_delete", "DELETE FROM emode_categories WHERE chain_id = $1::bigint"},
    {"snap_emode_insert",
     "INSERT INTO emode_categories (chain_id, category_id, ltv, liquidation_threshold, liquidation_bonus,"
     " price_source, label) VALUES ($1, $2, $3, $4, $5, $6, $7)"},
    {"snap_prices_delete", "DELETE FROM prices WHERE chain_id = $1::bigint"},
    /* Sections of many rows go as one statement of arrays each (element i of every array is one
     * row): a statement per row was most of a block's small sections (272 statements for SparkLend
     * Ethereum's), and each INSERT into prices also ran the statement trigger of migration 0026. */
    {"snap_prices_insert",
     "INSERT INTO prices (chain_id, asset, price, source, updated_at, block_number)"
     " SELECT $1::bigint, t.asset, t.price, t.source, t.updated_at, $2::bigint"
     " FROM unnest($3::text[], $4::numeric[], $5::text[], $6::bigint[]) AS t(asset, price, source, updated_at)"},
    {"snap_price_series_insert",
     "INSERT INTO price_series (chain_id, asset, block_number, block_timestamp, price, updated_at)"
     " SELECT $1::bigint, t.asset, $2::bigint, $3::bigint, t.price, t.updated_at"
     " FROM unnest($4::text[], $5::numeric[], $6::bigint[]) AS t(asset, price, updated_at) ON CONFLICT DO NOTHING"},
    {"snap_vaults_delete", "DELETE FROM savings_vaults WHERE chain_id = $1::bigint"},
    {"snap_vault_insert",
     "INSERT INTO savings_vaults (chain_id, address, kind, asset, symbol, decimals, chi, rho, rate, min_rate,"
     " max_rate, deposit_cap, total_supply, idle_assets, intents_address, intents_min_assets, intents_max_assets,"
     " intents_max_deadline_seconds, block_number)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"},
    {"snap_vault_series",
     "INSERT INTO vault_state_series (chain_id, address, block_number, block_timestamp, chi, rho, rate,"
     " total_supply, idle_assets, deposit_cap) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
     " ON CONFLICT DO NOTHING"},
    {"snap_ll_delete", "DELETE FROM liquidity_layer WHERE chain_id = $1::bigint"},
    {"snap_ll_venues_delete", "DELETE FROM ll_venues WHERE chain_id = $1::bigint"},
    {"snap_ll_idle_delete", "DELETE FROM ll_idle WHERE chain_id = $1::bigint"},
    {"snap_ll_rl_delete", "DELETE FROM ll_rate_limits WHERE chain_id = $1::bigint"},
    {"snap_ll_insert", "INSERT INTO liquidity_layer (chain_id, alm_proxy, block_number) VALUES ($1, $2, $3)"},
    {"snap_ll_venue_insert",
     "INSERT INTO ll_venues (chain_id, venue_id, kind, address, asset, label) VALUES ($1, $2, $3, $4, $5, $6)"},
    {"snap_ll_alloc_insert",
     "INSERT INTO ll_allocations (chain_id, venue_id, asset, amount, apr) VALUES ($1, $2, $3, $4, $5)"},
    {"snap_ll_idle_insert", "INSERT INTO ll_idle (chain_id, asset, amount) VALUES ($1, $2, $3)"},
    {"snap_ll_rls_insert",
     "INSERT INTO ll_rate_limits (chain_id, key, name, asset, target, max_amount, slope, last_amount, last_updated)"
     " SELECT $1::bigint, t.key, t.name, t.asset, t.target, t.max, t.slope, t.last, t.updated"
     " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::numeric[], $8::numeric[],"
     " $9::bigint[]) AS t(key, name, asset, target, max, slope, last, updated)"},
    {"snap_rl_series_insert",
     "INSERT INTO rate_limit_series (chain_id, key, block_number, block_timestamp, max_amount, slope, last_amount,"
     " last_updated) SELECT $1::bigint, t.key, $2::bigint, $3::bigint, t.max, t.slope, t.last, t.updated"
     " FROM unnest($4::text[], $5::numeric[], $6::numeric[], $7::numeric[], $8::bigint[])"
     " AS t(key, max, slope, last, updated) ON CONFLICT DO NOTHING"},
    {"snap_ks_delete", "DELETE FROM kill_switch WHERE chain_id = $1::bigint"},
    {"snap_ks_oracles_delete", "DELETE FROM kill_switch_oracles WHERE chain_id = $1::bigint"},
    {"snap_ks_insert", "INSERT INTO kill_switch (chain_id, address, triggered, block_number) VALUES ($1, $2, $3, $4)"},
    {"snap_ks_oracle_insert",
     "INSERT INTO kill_switch_oracles (chain_id, address, label, threshold, latest_answer, decimals)"
     " VALUES ($1, $2, $3, $4, $5, $6)"},
    {"snap_has_accounts", "SELECT EXISTS (SELECT 1 FROM accounts WHERE chain_id = $1::bigint) AS v"},
    {"snap_accounts_delete_all", "DELETE FROM accounts WHERE chain_id = $1::bigint"},
    {"snap_positions_delete_all", "DELETE FROM positions WHERE chain_id = $1::bigint"},
    /* Delta mode (write_delta): the listed accounts' stored positions, then the differences, the
     * arrays' elements in step (element i of each array is one row). */
    {"snap_delta_positions",
     "SELECT account, asset, scaled_a_token_balance::text, scaled_variable_debt::text, collateral FROM positions"
     " WHERE chain_id = $1::bigint AND account = ANY ($2::text[]) ORDER BY account, asset"},
    {"snap_delta_positions_delete", "DELETE FROM positions p USING unnest($2::text[], $3::text[]) AS t(account, asset)"
                                    " WHERE p.chain_id = $1::bigint AND p.account = t.account AND p.asset = t.asset"},
    {"snap_delta_positions_update",
     "UPDATE positions p SET scaled_a_token_balance = t.a, scaled_variable_debt = t.d, collateral = t.c"
     " FROM unnest($2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::bool[]) AS t(account, asset, a, d, c)"
     " WHERE p.chain_id = $1::bigint AND p.account = t.account AND p.asset = t.asset"},
    {"snap_delta_positions_insert",
     "INSERT INTO positions (chain_id, account, asset, scaled_a_token_balance, scaled_variable_debt, collateral)"
     " SELECT $1::bigint, t.account, t.asset, t.a, t.d, t.c"
     " FROM unnest($2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::bool[]) AS t(account, asset, a, d, c)"},
    {"snap_delta_accounts_delete", "DELETE FROM accounts WHERE chain_id = $1::bigint AND address = ANY ($2::text[])"},
    /* the rows that exist are updated, the others inserted, in one statement; INSERT ... ON
     * CONFLICT DO UPDATE took 13 ms for 500 rows at 1,000,000 accounts against 7-13 ms for this */
    {"snap_delta_accounts_write",
     "WITH t AS (SELECT * FROM unnest($3::text[], $4::int[], $5::numeric[], $6::numeric[], $7::numeric[])"
     " AS t(address, emode, hf, tc, td)),"
     " u AS (UPDATE accounts a SET emode_category = t.emode, block_number = $2::bigint, health_factor = t.hf,"
     " total_collateral_base = t.tc, total_debt_base = t.td FROM t"
     " WHERE a.chain_id = $1::bigint AND a.address = t.address RETURNING a.address)"
     " INSERT INTO accounts (chain_id, address, emode_category, block_number, health_factor,"
     " total_collateral_base, total_debt_base)"
     " SELECT $1::bigint, t.address, t.emode, $2::bigint, t.hf, t.tc, t.td FROM t"
     " WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.address = t.address)"},
    {"snap_market_reserves",
     "SELECT r.reserve_id, r.asset, r.configuration, r.liquidity_index, r.variable_borrow_index,"
     " r.current_liquidity_rate, r.current_variable_borrow_rate, r.last_update_timestamp,"
     " r.a_token_scaled_total_supply, r.variable_debt_scaled_total_supply, r.accrued_to_treasury,"
     " r.isolation_mode_total_debt, r.available_liquidity, p.price"
     " FROM reserves r LEFT JOIN prices p ON p.chain_id = r.chain_id AND p.asset = r.asset"
     " WHERE r.chain_id = $1::bigint"},
    {"snap_market_emode", "SELECT category_id, ltv, liquidation_threshold, liquidation_bonus FROM emode_categories"
                          " WHERE chain_id = $1::bigint"},
    {"snap_notify", "SELECT pg_notify('sparkd_state', $1)"},
    /* The changed-accounts record (migration 0015): the state cache re-reads only these. The
     * changes of the last 1024 imports of a chain are kept. */
    {"snap_changes_head",
     "INSERT INTO account_change_heads AS h (chain_id, seq, block_number, block_timestamp, full_seq, kept_from)"
     " VALUES ($1::bigint, 1, $2::bigint, $3::bigint, 1, 1) ON CONFLICT (chain_id) DO UPDATE SET seq = h.seq + 1,"
     " block_number = EXCLUDED.block_number, block_timestamp = EXCLUDED.block_timestamp,"
     " full_seq = CASE WHEN $4::bool THEN h.seq + 1 ELSE h.full_seq END,"
     " kept_from = greatest(h.kept_from, h.seq + 1 - 1023) RETURNING seq"},
    {"snap_changes_insert", "INSERT INTO account_changes (chain_id, seq, address)"
                            " SELECT $1::bigint, $2::bigint, a FROM unnest($3::text[]) a ON CONFLICT DO NOTHING"},
    /* the bound a parameter, not a subquery: the planner then scans the index from its start (a
     * subquery's value is unknown to it, and it read every row of the 1,024 imports kept) */
    {"snap_changes_prune", "DELETE FROM account_changes WHERE chain_id = $1::bigint AND seq < $2::bigint - 1023"},
    /* Marks the transaction as an import's for the triggers of migration 0030: the import records
     * the accounts it writes itself; any other writer of accounts or positions makes the state
     * cache's next generation read every account. */
    {"snap_mark_import", "SELECT set_config('sparkd.import', 'on', true)"},
};

DB_STATEMENTS_COUNT(snapshot);

const char *db_snapshot_outcome_name(enum db_snapshot_outcome o) {
  switch (o) {
  case DB_SNAPSHOT_APPLIED: return "applied";
  case DB_SNAPSHOT_SAME_BLOCK: return "already imported";
  case DB_SNAPSHOT_OLDER: return "older than the last imported block";
  case DB_SNAPSHOT_INVALID: return "invalid";
  }
  return "?";
}

/* ---- text parameters ---- */

struct params {
  const char *v[MAXP];
  char buf[MAXP][U256_DEC_MAX + 2];
  unsigned n;
};
static void p_reset(struct params *p) { p->n = 0; }
static void p_str(struct params *p, const char *s) { p->v[p->n++] = s; }
static void p_null(struct params *p) { p->v[p->n++] = NULL; }
static void p_u64(struct params *p, uint64_t x) {
  snprintf(p->buf[p->n], sizeof p->buf[0], "%llu", (unsigned long long)x);
  p->v[p->n] = p->buf[p->n];
  p->n++;
}
static void p_u256(struct params *p, u256 x) {
  u256_to_dec(x, p->buf[p->n]);
  p->v[p->n] = p->buf[p->n];
  p->n++;
}
static void p_bool(struct params *p, bool b) { p_str(p, b ? "true" : "false"); }

static db_status run(db_conn *c, const char *name, struct params *p) {
  return db_exec_prepared(c, name, p->n, p->v, NULL);
}

/* ---- the transaction ---- */

struct apply_ctx {
  const struct chain_snapshot *s;
  bool allow_older;
  const char *parent_hash; /* NULL: not known (a file import) */
  struct db_snapshot_result *res;
  struct chain_snapshot_errors *errs;
  char chain[24];
  /* filled inside */
  chain_addr *known;
  size_t n_known, cap_known;
  bool found_prev;
  uint64_t prev_block;
  char prev_hash[67];
};

static db_status collect_addr(const db_row *row, void *arg) {
  struct apply_ctx *x = arg;
  const char *a = db_row_text(row, 0);
  if (!a || strlen(a) != 42) return DB_OK;
  if (!UTIL_VEC_RESERVE(x->known, x->n_known, x->cap_known, 64)) return DB_ERROR;
  memcpy(x->known[x->n_known++], a, 43);
  return DB_OK;
}

static bool in_list(const chain_addr *list, size_t n, const char *a) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(list[i], a, 42) == 0) return true;
  return false;
}

static db_status chain_row(const db_row *row, void *arg) {
  struct apply_ctx *x = arg;
  const char *b = db_row_text(row, 0), *h = db_row_text(row, 1);
  x->found_prev = true;
  x->prev_block = b ? strtoull(b, NULL, 10) : 0;
  snprintf(x->prev_hash, sizeof x->prev_hash, "%s", h ? h : "");
  return DB_OK;
}

static bool snap_asset(const struct chain_snapshot *s, const char *a) {
  for (size_t i = 0; i < s->n_assets; i++)
    if (memcmp(s->assets[i].address, a, 42) == 0) return true;
  return false;
}

/* Checks every asset reference against the snapshot's assets plus those the chain already has,
 * and every position's asset against the reserves it will have. Returns true when all hold. */
static db_status check_references(db_conn *c, struct apply_ctx *x, bool *ok) {
  const struct chain_snapshot *s = x->s;
  struct chain_snapshot_errors *e = x->errs;
  unsigned before = e->n + e->dropped;
  const char *param[] = {x->chain};
  x->n_known = 0;
  db_status st = db_query_prepared(c, "snap_known_assets", 1, param, collect_addr, x, NULL);
  if (st != DB_OK) return st;
  chain_addr *db_assets = x->known;
  size_t n_db = x->n_known;
#define KNOWN(a) (in_list(db_assets, n_db, (a)) || snap_asset(s, (a)))
  char p[200];
  for (size_t i = 0; i < s->n_reserves; i++)
    if (!KNOWN(s->reserves[i].asset))
      snprintf(p, sizeof p, "$.reserves[%zu].asset", i),
          chain_snapshot_error(e, p, "not listed in $.assets or known for chain %s", x->chain);
  for (size_t i = 0; i < s->n_prices; i++)
    if (!KNOWN(s->prices[i].asset))
      snprintf(p, sizeof p, "$.prices[%zu].asset", i),
          chain_snapshot_error(e, p, "not listed in $.assets or known for chain %s", x->chain);
  for (size_t i = 0; i < s->n_vaults; i++)
    if (!KNOWN(s->vaults[i].asset))
      snprintf(p, sizeof p, "$.savings_vaults[%zu].asset", i),
          chain_snapshot_error(e, p, "not listed in $.assets or known for chain %s", x->chain);
  for (size_t i = 0; i < s->n_venues; i++)
    if (!KNOWN(s->venues[i].asset))
      snprintf(p, sizeof p, "$.liquidity_layer.venues[%zu].asset", i),
          chain_snapshot_error(e, p, "not listed in $.assets or known for chain %s", x->chain);
  for (size_t i = 0; i < s->n_allocations; i++)
    if (!KNOWN(s->allocations[i].asset))
      snprintf(p, sizeof p, "$.liquidity_layer.allocations[%zu].asset", i),
          chain_snapshot_error(e, p, "not listed in $.assets or known for chain %s", x->chain);
  for (size_t i = 0; i < s->n_idle; i++)
    if (!KNOWN(s->idle[i].asset))
      snprintf(p, sizeof p, "$.liquidity_layer.idle[%zu].asset", i),
          chain_snapshot_error(e, p, "not listed in $.assets or known for chain %s", x->chain);
  for (size_t i = 0; i < s->n_rate_limits; i++)
    if (s->rate_limits[i].has_asset && !KNOWN(s->rate_limits[i].asset))
      snprintf(p, sizeof p, "$.liquidity_layer.rate_limits[%zu].asset", i),
          chain_snapshot_error(e, p, "not listed in $.assets or known for chain %s", x->chain);
#undef KNOWN
  /* Positions: their asset must be a reserve of the chain after this snapshot. */
  if (s->n_accounts) {
    chain_addr *res;
    size_t n_res;
    if (s->has_reserves) {
      n_res = s->n_reserves;
      res = malloc((n_res ? n_res : 1) * sizeof *res);
      if (!res) return DB_ERROR;
      for (size_t i = 0; i < n_res; i++)
        memcpy(res[i], s->reserves[i].asset, 43);
    } else {
      x->known = NULL;
      x->n_known = x->cap_known = 0;
      st = db_query_prepared(c, "snap_known_reserves", 1, param, collect_addr, x, NULL);
      res = x->known;
      n_res = x->n_known;
      x->known = db_assets; /* freed by the caller */
      x->n_known = n_db;
      if (st != DB_OK) {
        free(res);
        return st;
      }
    }
    struct chain_snap_account_iter it;
    bool read_ok = chain_snapshot_accounts_begin(s, &it);
    const struct chain_snap_account *a;
    for (size_t i = 0; read_ok && (a = chain_snapshot_accounts_next(&it)); i++)
      for (uint32_t j = 0; j < a->n_positions; j++)
        if (!in_list(res, n_res, a->positions[j].asset)) {
          snprintf(p, sizeof p, "$.accounts[%zu].positions[%u].asset", i, a->positions[j].json_index);
          chain_snapshot_error(e, p, "not a reserve of chain %s", x->chain);
        }
    read_ok = read_ok && !it.failed;
    chain_snapshot_accounts_end(&it);
    free(res);
    if (!read_ok) return DB_ERROR;
  }
  *ok = e->n + e->dropped == before;
  return DB_OK;
}

/* ---- health factors ---- */

struct market_ctx {
  struct risk_market *m;
  chain_addr asset[RISK_MAX_RESERVES];
  bool usable[RISK_MAX_RESERVES];
  uint64_t t;
};

static bool dec(const char *t, u256 *out) { return t && u256_from_dec(out, t, strlen(t)) == RISK_OK; }

static db_status market_row(const db_row *row, void *arg) {
  struct market_ctx *mc = arg;
  const char *id_t = db_row_text(row, 0);
  long id = id_t ? strtol(id_t, NULL, 10) : -1;
  if (id < 0 || id >= RISK_MAX_RESERVES) return DB_OK;
  struct risk_acct_reserve *r = &mc->m->reserves[id];
  memcpy(mc->asset[id], db_row_text(row, 1), 43);
  struct risk_reserve_state st;
  memset(&st, 0, sizeof st);
  u256 conf, price;
  bool ok =
      dec(db_row_text(row, 2), &conf) && dec(db_row_text(row, 3), &st.liquidity_index) &&
      dec(db_row_text(row, 4), &st.variable_borrow_index) && dec(db_row_text(row, 5), &st.current_liquidity_rate) &&
      dec(db_row_text(row, 6), &st.current_variable_borrow_rate) &&
      dec(db_row_text(row, 8), &r->a_token_scaled_total_supply) &&
      dec(db_row_text(row, 9), &r->variable_debt_scaled_total_supply) &&
      dec(db_row_text(row, 10), &r->accrued_to_treasury) && dec(db_row_text(row, 11), &r->isolation_mode_total_debt) &&
      dec(db_row_text(row, 12), &r->available_liquidity);
  st.last_update_timestamp = strtoull(db_row_text(row, 7), NULL, 10);
  bool priced = dec(db_row_text(row, 13), &price);
  struct risk_reserve_config cfg;
  risk_reserve_config_decode(conf, &cfg);
  st.config = cfg;
  r->listed = true;
  r->decimals = cfg.decimals;
  r->ltv = cfg.ltv;
  r->liquidation_threshold = cfg.liquidation_threshold;
  r->liquidation_bonus = cfg.liquidation_bonus;
  r->liquidation_protocol_fee = cfg.liquidation_protocol_fee;
  r->emode_category = cfg.emode_category;
  r->borrow_cap = cfg.borrow_cap;
  r->supply_cap = cfg.supply_cap;
  r->debt_ceiling = cfg.debt_ceiling;
  r->active = cfg.active;
  r->frozen = cfg.frozen;
  r->paused = cfg.paused;
  r->borrowing_enabled = cfg.borrowing_enabled;
  r->borrowable_in_isolation = cfg.borrowable_in_isolation;
  r->siloed_borrowing = cfg.siloed_borrowing;
  r->price = priced ? price : U256_ZERO;
  ok = ok && risk_reserve_normalized_income(&r->liquidity_index, &st, mc->t) == RISK_OK &&
       risk_reserve_normalized_debt(&r->variable_borrow_index, &st, mc->t) == RISK_OK;
  mc->usable[id] = ok && priced;
  if ((uint32_t)id + 1 > mc->m->n_reserves) mc->m->n_reserves = (uint32_t)id + 1;
  return DB_OK;
}

static db_status emode_row(const db_row *row, void *arg) {
  struct market_ctx *mc = arg;
  const char *t[4];
  for (unsigned i = 0; i < 4; i++)
    t[i] = db_row_text(row, i);
  long id = strtol(t[0], NULL, 10);
  if (id <= 0 || id >= RISK_MAX_EMODE) return DB_OK;
  mc->m->emode[id].ltv = (uint32_t)strtoul(t[1], NULL, 10);
  mc->m->emode[id].liquidation_threshold = (uint32_t)strtoul(t[2], NULL, 10);
  mc->m->emode[id].liquidation_bonus = (uint32_t)strtoul(t[3], NULL, 10);
  return DB_OK;
}

/* Growing text buffer for COPY rows; flushed to the server past FLUSH_AT bytes. */
#define FLUSH_AT (1u << 20)
struct cbuf {
  char *p;
  size_t len, cap;
};
static bool cb_reserve(struct cbuf *b, size_t more) {
  return UTIL_VEC_RESERVE_N(b->p, b->len + more, b->cap, FLUSH_AT + 4096);
}
static db_status cb_flush(db_conn *c, struct cbuf *b, bool force) {
  if (b->len == 0 || (!force && b->len < FLUSH_AT)) return DB_OK;
  db_status st = db_copy_put(c, b->p, b->len);
  b->len = 0;
  return st;
}

static int cmp_pos(const void *a, const void *b) {
  const struct risk_position *x = a, *y = b;
  return (int)x->reserve - (int)y->reserve;
}

static db_status has_row(const db_row *row, void *arg) {
  const char *v = db_row_text(row, 0);
  *(bool *)arg = v && v[0] == 't';
  return DB_OK;
}

/* Full mode over a chain that already has accounts: rows go to temporary tables first, then only
 * the differences reach accounts and positions (deleting every row and inserting it again would
 * leave 300,000 dead index entries for the unique checks of the new ones to step over). */
static const char merge_create_sql[] =
    "CREATE TEMP TABLE sparkd_import_acc (chain_id bigint, address text COLLATE \"C\", emode_category integer,"
    " block_number bigint, health_factor numeric(78,0), total_collateral_base numeric(78,0),"
    " total_debt_base numeric(78,0)) ON COMMIT DROP;"
    "CREATE TEMP TABLE sparkd_import_pos (chain_id bigint, account text COLLATE \"C\", asset text COLLATE \"C\","
    " scaled_a_token_balance numeric(78,0), scaled_variable_debt numeric(78,0), collateral boolean) ON COMMIT DROP";
static const char merge_accounts_delete_sql[] =
    "DELETE FROM accounts a WHERE a.chain_id = $1::bigint"
    " AND NOT EXISTS (SELECT 1 FROM sparkd_import_acc t WHERE t.address = a.address)";
static const char merge_positions_delete_sql[] =
    "DELETE FROM positions p WHERE p.chain_id = $1::bigint"
    " AND NOT EXISTS (SELECT 1 FROM sparkd_import_pos t WHERE t.account = p.account AND t.asset = p.asset)";
/* Changed rows are updated and new ones inserted by hash joins; INSERT ... ON CONFLICT would lock
 * (and so write) every existing row even when nothing changed. */
static const char merge_accounts_update_sql[] =
    "UPDATE accounts a SET emode_category = t.emode_category, block_number = t.block_number,"
    " health_factor = t.health_factor, total_collateral_base = t.total_collateral_base,"
    " total_debt_base = t.total_debt_base FROM sparkd_import_acc t"
    " WHERE a.chain_id = $1::bigint AND a.address = t.address"
    " AND (a.emode_category, a.health_factor, a.total_collateral_base, a.total_debt_base) IS DISTINCT FROM"
    " (t.emode_category, t.health_factor, t.total_collateral_base, t.total_debt_base)";
static const char merge_accounts_insert_sql[] =
    "INSERT INTO accounts SELECT t.* FROM sparkd_import_acc t"
    " WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.chain_id = $1::bigint AND a.address = t.address)";
static const char merge_positions_update_sql[] =
    "UPDATE positions p SET scaled_a_token_balance = t.scaled_a_token_balance,"
    " scaled_variable_debt = t.scaled_variable_debt, collateral = t.collateral FROM sparkd_import_pos t"
    " WHERE p.chain_id = $1::bigint AND p.account = t.account AND p.asset = t.asset"
    " AND (p.scaled_a_token_balance, p.scaled_variable_debt, p.collateral) IS DISTINCT FROM"
    " (t.scaled_a_token_balance, t.scaled_variable_debt, t.collateral)";
static const char merge_positions_insert_sql[] =
    "INSERT INTO positions SELECT t.* FROM sparkd_import_pos t WHERE NOT EXISTS"
    " (SELECT 1 FROM positions p WHERE p.chain_id = $1::bigint AND p.account = t.account AND p.asset = t.asset)";

/* Returns the snapshot's account addresses as a text[] literal (malloc'd), or NULL. */
static char *addr_array(const struct chain_snapshot *s) {
  char *arr = malloc(s->n_accounts * 43 + 3);
  if (!arr) return NULL;
  size_t k = 0;
  arr[k++] = '{';
  /* through the iterator: a streamed snapshot keeps its accounts in a spool, not in s->accounts */
  struct chain_snap_account_iter it;
  bool read_ok = chain_snapshot_accounts_begin(s, &it);
  const struct chain_snap_account *a;
  for (size_t i = 0; read_ok && i < s->n_accounts && (a = chain_snapshot_accounts_next(&it)); i++) {
    if (i) arr[k++] = ',';
    memcpy(arr + k, a->address, 42);
    k += 42;
  }
  read_ok = read_ok && !it.failed;
  chain_snapshot_accounts_end(&it);
  if (!read_ok) {
    free(arr);
    return NULL;
  }
  arr[k++] = '}';
  arr[k] = '\0';
  return arr;
}

static db_status seq_row(const db_row *row, void *arg) {
  *(char **)arg = strdup(db_row_text(row, 0));
  return *(char **)arg ? DB_OK : DB_ERROR;
}

/* Records which accounts this import wrote or removed (every account for a full-mode snapshot)
 * and the block it leaves the chain at, for the state cache's incremental rebuild; every applied
 * import counts, one without accounts too (the cache then knows no account changed). Then NOTIFY,
 * heard at commit. Two round trips: the head (its seq), then the rest in one pipeline. */
static db_status record_changes(db_conn *c, struct apply_ctx *x) {
  const struct chain_snapshot *s = x->s;
  char block[24], ts[24], note[64];
  snprintf(block, sizeof block, "%llu", (unsigned long long)s->block_number);
  snprintf(ts, sizeof ts, "%llu", (unsigned long long)s->block_timestamp);
  snprintf(note, sizeof note, "%s:%llu", x->chain, (unsigned long long)s->block_number);
  const char *hp[] = {x->chain, block, ts, s->has_accounts && s->accounts_full ? "true" : "false"};
  char *seq = NULL, *arr = NULL;
  db_status st = db_query_prepared(c, "snap_changes_head", 4, hp, seq_row, &seq, NULL);
  if (st == DB_OK && !seq) st = DB_ERROR;
  if (st == DB_OK && s->has_accounts && !s->accounts_full && s->n_accounts && !(arr = addr_array(s))) st = DB_ERROR;
  if (st == DB_OK) st = db_pipeline_begin(c);
  if (st == DB_OK) {
    const char *ip[] = {x->chain, seq, arr}, *np[] = {note};
    if (arr) st = db_exec_prepared(c, "snap_changes_insert", 3, ip, NULL);
    if (st == DB_OK) st = db_exec_prepared(c, "snap_changes_prune", 2, ip, NULL);
    if (st == DB_OK) st = db_exec_prepared(c, "snap_notify", 1, np, NULL);
    db_status end = db_pipeline_end(c); /* always: it leaves pipeline mode */
    if (st == DB_OK) st = end;
  }
  free(arr);
  free(seq);
  return st;
}

/* Computes account a's health factor and totals into *out with the market of mc (rp: scratch of
 * RISK_MAX_RESERVES positions); returns false when they cannot be computed (no market, too many
 * positions, a reserve the market does not list, a used position in a reserve without a price). */
static bool eval_account(const struct market_ctx *mc, bool market_ok, const struct chain_snap_account *a,
                         struct risk_position *rp, struct risk_account_data *out) {
  const struct risk_market *m = mc->m;
  if (!market_ok || a->n_positions > RISK_MAX_RESERVES) return false;
  uint32_t n = 0;
  for (uint32_t j = 0; j < a->n_positions; j++) {
    const struct chain_snap_position *p = &a->positions[j];
    int id = -1;
    for (uint32_t r = 0; r < m->n_reserves && id < 0; r++)
      if (m->reserves[r].listed && memcmp(mc->asset[r], p->asset, 42) == 0) id = (int)r;
    if (id < 0) return false;
    bool used = p->collateral || !u256_is_zero(p->scaled_variable_debt);
    if (used && !mc->usable[id]) return false;
    rp[n++] = (struct risk_position){.reserve = (uint16_t)id,
                                     .collateral = p->collateral,
                                     .borrowing = !u256_is_zero(p->scaled_variable_debt),
                                     .scaled_a = p->scaled_a_token_balance,
                                     .scaled_debt = p->scaled_variable_debt};
  }
  qsort(rp, n, sizeof *rp, cmp_pos);
  return risk_account_evaluate_positions(m, rp, n, a->emode_category, out) == RISK_OK;
}

/* Reads the market as it stands after this snapshot's writes into a new *mc (caller frees mc->m
 * and mc); *market_ok tells whether health factors can be computed with it. */
static db_status load_market(db_conn *c, struct apply_ctx *x, struct market_ctx **mcp, bool *market_ok) {
  const char *param[] = {x->chain};
  struct market_ctx *mc = calloc(1, sizeof *mc);
  struct risk_market *m = calloc(1, sizeof *m);
  *mcp = NULL;
  *market_ok = false;
  if (!mc || !m) {
    free(mc);
    free(m);
    return DB_ERROR;
  }
  mc->m = m;
  mc->t = x->s->block_timestamp;
  db_status st = db_query_prepared(c, "snap_market_reserves", 1, param, market_row, mc, NULL);
  if (st == DB_OK) st = db_query_prepared(c, "snap_market_emode", 1, param, emode_row, mc, NULL);
  *market_ok = st == DB_OK && risk_market_prepare(m) == RISK_OK;
  *mcp = mc;
  return st;
}

/* ---- delta mode: only what changed is written ----
 * The listed accounts' stored positions are read back and compared with the snapshot's in memory:
 * a position that is the same is left alone, one that differs is updated, a new one inserted, one
 * the account no longer lists deleted. The listed accounts' rows are rewritten (their health factor
 * and block), those left without positions deleted. Deleting every listed position and inserting it
 * again cost two index entries per unchanged position and a second pass over the same pages. The
 * writes go as five statements of arrays in one pipeline. */

/* A growing array literal ('{' elements '}') for a text[], numeric[], integer[] or boolean[]
 * parameter; every element written here is bare (hex addresses, decimals, t/f, NULL). */
struct alit {
  char *p;
  size_t len, cap, n;
};
static bool al_room(struct alit *l, size_t more) {
  if (!UTIL_VEC_RESERVE_N(l->p, l->len + more + 3, l->cap, 4096)) return false;
  l->p[l->len++] = l->n++ ? ',' : '{';
  return true;
}
static bool al_str(struct alit *l, const char *v, size_t n) {
  if (!al_room(l, n)) return false;
  memcpy(l->p + l->len, v, n);
  l->len += n;
  return true;
}
static bool al_u256(struct alit *l, u256 v) {
  if (!al_room(l, U256_DEC_MAX)) return false;
  l->len += u256_to_dec(v, l->p + l->len);
  return true;
}
static bool al_uint(struct alit *l, uint64_t v) {
  char b[24];
  return al_str(l, b, (size_t)snprintf(b, sizeof b, "%llu", (unsigned long long)v));
}
/* Any text, as a quoted element (a backslash before each double quote and backslash). */
static bool al_quoted(struct alit *l, const char *v) {
  size_t n = strlen(v);
  if (!al_room(l, 2 * n + 2)) return false;
  l->p[l->len++] = '"';
  for (size_t i = 0; i < n; i++) {
    if (v[i] == '"' || v[i] == '\\') l->p[l->len++] = '\\';
    l->p[l->len++] = v[i];
  }
  l->p[l->len++] = '"';
  return true;
}
/* Returns the literal as a string ("{}" when empty); NULL when out of memory. */
static const char *al_end(struct alit *l) {
  if (!UTIL_VEC_RESERVE_N(l->p, l->len + 3, l->cap, 4096)) return NULL;
  if (l->n == 0) l->p[l->len++] = '{';
  l->p[l->len++] = '}';
  l->p[l->len] = '\0';
  return l->p;
}

/* A stored position of a listed account, as read back. */
struct cur_pos {
  chain_addr account, asset;
  u256 a, d;
  bool collateral, parsed, seen;
};
struct cur_set {
  struct cur_pos *v;
  size_t n, cap;
};

static db_status cur_row(const db_row *row, void *arg) {
  struct cur_set *cs = arg;
  const char *acc = db_row_text(row, 0), *asset = db_row_text(row, 1), *coll = db_row_text(row, 4);
  if (!acc || !asset || strlen(acc) != 42 || strlen(asset) != 42) return DB_ERROR;
  if (!UTIL_VEC_RESERVE(cs->v, cs->n, cs->cap, 256)) return DB_ERROR;
  struct cur_pos *p = &cs->v[cs->n++];
  memset(p, 0, sizeof *p);
  memcpy(p->account, acc, 43);
  memcpy(p->asset, asset, 43);
  /* a value this build cannot read back compares unequal: the row is rewritten */
  p->parsed = dec(db_row_text(row, 2), &p->a) && dec(db_row_text(row, 3), &p->d);
  p->collateral = coll && coll[0] == 't';
  return DB_OK;
}

/* The array parameters of write_delta's statements: the accounts written (address, eMode, health
 * factor, totals) and removed; the positions updated and inserted (account, asset, amounts,
 * collateral) and deleted (account, asset). */
enum {
  L_ACC,
  L_EMODE,
  L_HF,
  L_TC,
  L_TD,
  L_GONE,
  L_UA,
  L_US,
  L_UBAL,
  L_UDEBT,
  L_UCOLL,
  L_IA,
  L_IS,
  L_IBAL,
  L_IDEBT,
  L_ICOLL,
  L_DA,
  L_DS,
  L_N
};

/* Appends one position to the five arrays from l on (an update's from L_UA, an insert's from L_IA:
 * account, asset, balance, debt, collateral). */
static bool al_position(struct alit *l, const char *account, const struct chain_snap_position *p) {
  return al_str(&l[0], account, 42) && al_str(&l[1], p->asset, 42) && al_u256(&l[2], p->scaled_a_token_balance) &&
         al_u256(&l[3], p->scaled_variable_debt) && al_str(&l[4], p->collateral ? "t" : "f", 1);
}
_Static_assert(L_US == L_UA + 1 && L_UBAL == L_UA + 2 && L_UDEBT == L_UA + 3 && L_UCOLL == L_UA + 4 &&
                   L_IS == L_IA + 1 && L_IBAL == L_IA + 2 && L_IDEBT == L_IA + 3 && L_ICOLL == L_IA + 4,
               "al_position writes an update's and an insert's arrays in the same order");

static db_status write_delta(db_conn *c, struct apply_ctx *x) {
  const struct chain_snapshot *s = x->s;
  if (s->n_accounts == 0) return DB_OK;
  char *arr = addr_array(s);
  if (!arr) return DB_ERROR;
  const char *rp_param[] = {x->chain, arr};
  struct cur_set cs = {0};
  db_status st = db_query_prepared(c, "snap_delta_positions", 2, rp_param, cur_row, &cs, NULL);
  free(arr);
  struct market_ctx *mc = NULL;
  bool market_ok = false;
  if (st == DB_OK) st = load_market(c, x, &mc, &market_ok);
  struct risk_position *rp = malloc(RISK_MAX_RESERVES * sizeof *rp);
  struct alit l[L_N];
  memset(l, 0, sizeof l);
  if (!rp && st == DB_OK) st = DB_ERROR;

  char blk[24];
  snprintf(blk, sizeof blk, "%llu", (unsigned long long)s->block_number);
  struct chain_snap_account_iter it = {0};
  if (st == DB_OK && !chain_snapshot_accounts_begin_sorted(s, &it)) st = DB_ERROR;
  const struct chain_snap_account *a;
  size_t k = 0; /* cs.v is in (account, asset) order, as the accounts */
  bool ok = true;
  while (st == DB_OK && ok && (a = chain_snapshot_accounts_next(&it))) {
    while (k < cs.n && memcmp(cs.v[k].account, a->address, 42) < 0)
      k++;
    size_t end = k;
    while (end < cs.n && memcmp(cs.v[end].account, a->address, 42) == 0)
      end++;
    if (end > k) x->res->accounts_removed++; /* replaced or removed, as the count has always said */
    for (uint32_t j = 0; j < a->n_positions && ok; j++) {
      const struct chain_snap_position *p = &a->positions[j];
      struct cur_pos *q = NULL;
      for (size_t i = k; i < end && !q; i++)
        if (memcmp(cs.v[i].asset, p->asset, 42) == 0) q = &cs.v[i];
      x->res->positions_written++;
      if (q) {
        q->seen = true;
        if (q->parsed && q->collateral == p->collateral && u256_eq(q->a, p->scaled_a_token_balance) &&
            u256_eq(q->d, p->scaled_variable_debt))
          continue;
      }
      ok = al_position(&l[q ? L_UA : L_IA], a->address, p);
    }
    for (size_t i = k; i < end && ok; i++)
      if (!cs.v[i].seen) ok = al_str(&l[L_DA], cs.v[i].account, 42) && al_str(&l[L_DS], cs.v[i].asset, 42);
    k = end;
    if (!ok) break;
    if (a->n_positions == 0) { /* an account with no positions is removed */
      ok = al_str(&l[L_GONE], a->address, 42);
      continue;
    }
    struct risk_account_data out;
    bool hf_ok = mc && eval_account(mc, market_ok, a, rp, &out);
    ok = al_str(&l[L_ACC], a->address, 42) && al_uint(&l[L_EMODE], a->emode_category);
    if (ok && hf_ok)
      ok = al_u256(&l[L_HF], out.health_factor) && al_u256(&l[L_TC], out.total_collateral_base) &&
           al_u256(&l[L_TD], out.total_debt_base);
    else if (ok)
      ok = al_str(&l[L_HF], "NULL", 4) && al_str(&l[L_TC], "NULL", 4) && al_str(&l[L_TD], "NULL", 4);
    hf_ok ? x->res->hf_computed++ : x->res->hf_null++;
    x->res->accounts_written++;
  }
  if (st == DB_OK && (!ok || it.failed)) st = DB_ERROR;
  chain_snapshot_accounts_end(&it);
  const char *v[L_N];
  for (unsigned i = 0; i < L_N && st == DB_OK; i++)
    if (!(v[i] = al_end(&l[i]))) st = DB_ERROR;

  if (st == DB_OK) st = db_pipeline_begin(c);
  if (st == DB_OK) {
    if (l[L_DA].n) {
      const char *p[] = {x->chain, v[L_DA], v[L_DS]};
      st = db_exec_prepared(c, "snap_delta_positions_delete", 3, p, NULL);
    }
    if (st == DB_OK && l[L_UA].n) {
      const char *p[] = {x->chain, v[L_UA], v[L_US], v[L_UBAL], v[L_UDEBT], v[L_UCOLL]};
      st = db_exec_prepared(c, "snap_delta_positions_update", 6, p, NULL);
    }
    if (st == DB_OK && l[L_IA].n) {
      const char *p[] = {x->chain, v[L_IA], v[L_IS], v[L_IBAL], v[L_IDEBT], v[L_ICOLL]};
      st = db_exec_prepared(c, "snap_delta_positions_insert", 6, p, NULL);
    }
    if (st == DB_OK && l[L_GONE].n) {
      const char *p[] = {x->chain, v[L_GONE]};
      st = db_exec_prepared(c, "snap_delta_accounts_delete", 2, p, NULL);
    }
    if (st == DB_OK && l[L_ACC].n) {
      const char *p[] = {x->chain, blk, v[L_ACC], v[L_EMODE], v[L_HF], v[L_TC], v[L_TD]};
      st = db_exec_prepared(c, "snap_delta_accounts_write", 7, p, NULL);
    }
    db_status end = db_pipeline_end(c); /* always: it leaves pipeline mode */
    if (st == DB_OK) st = end;
  }
  for (unsigned i = 0; i < L_N; i++)
    free(l[i].p);
  free(cs.v);
  free(rp);
  if (mc) free(mc->m);
  free(mc);
  return st;
}

static db_status write_accounts(db_conn *c, struct apply_ctx *x) {
  const struct chain_snapshot *s = x->s;
  const char *param[2] = {x->chain, NULL};
  uint64_t deleted = 0;
  db_status st;
  bool merge = false;
  if (!s->accounts_full) return write_delta(c, x);
  if (s->accounts_full) {
    if ((st = db_query_prepared(c, "snap_has_accounts", 1, param, has_row, &merge, NULL)) != DB_OK) return st;
  }
  if (merge) {
    /* temporary tables cannot be in the statement registry: these run unprepared */
    if ((st = db_exec(c, merge_create_sql)) != DB_OK) return st;
  } else if (s->accounts_full) {
    if ((st = db_exec_prepared(c, "snap_positions_delete_all", 1, param, NULL)) != DB_OK) return st;
    if ((st = db_exec_prepared(c, "snap_accounts_delete_all", 1, param, &deleted)) != DB_OK) return st;
  }
  x->res->accounts_removed = deleted;

  struct market_ctx *mc;
  bool market_ok;
  st = load_market(c, x, &mc, &market_ok);
  struct risk_market *m = mc ? mc->m : NULL;
  if (!mc) return st;

  char chain_block[64];
  snprintf(chain_block, sizeof chain_block, "%s\t", x->chain);
  char blk[24];
  snprintf(blk, sizeof blk, "%llu", (unsigned long long)s->block_number);
  struct cbuf acc = {0}, pos = {0};
  struct risk_position *rp = malloc(RISK_MAX_RESERVES * sizeof *rp);
  if (!rp) st = DB_ERROR;

  /* Accounts first (one COPY), then positions (a second COPY): a connection runs one COPY at a time. */
  if (st == DB_OK)
    st = db_copy_begin(c, merge ? "COPY sparkd_import_acc FROM STDIN"
                                : "COPY accounts (chain_id, address, emode_category, block_number,"
                                  " health_factor, total_collateral_base, total_debt_base) FROM STDIN");
  /* in address order: the primary keys' inserts then go to the end of the index instead of a
   * random page each (half the time of a first import's COPY at 1,000,000 accounts) */
  struct chain_snap_account_iter it = {0};
  if (st == DB_OK && !chain_snapshot_accounts_begin_sorted(s, &it)) st = DB_ERROR;
  const struct chain_snap_account *a;
  while (st == DB_OK && (a = chain_snapshot_accounts_next(&it))) {
    if (a->n_positions == 0) continue; /* an account with no positions is removed */
    struct risk_account_data out;
    bool hf_ok = eval_account(mc, market_ok, a, rp, &out);
    if (!cb_reserve(&acc, 64 + 43 + 3 * U256_DEC_MAX)) {
      st = DB_ERROR;
      break;
    }
    acc.len += (size_t)sprintf(acc.p + acc.len, "%s%s\t%u\t%s\t", chain_block, a->address, a->emode_category, blk);
    if (hf_ok) {
      acc.len += u256_to_dec(out.health_factor, acc.p + acc.len);
      acc.p[acc.len++] = '\t';
      acc.len += u256_to_dec(out.total_collateral_base, acc.p + acc.len);
      acc.p[acc.len++] = '\t';
      acc.len += u256_to_dec(out.total_debt_base, acc.p + acc.len);
      acc.p[acc.len++] = '\n';
      x->res->hf_computed++;
    } else {
      memcpy(acc.p + acc.len, "\\N\t\\N\t\\N\n", 9);
      acc.len += 9;
      x->res->hf_null++;
    }
    x->res->accounts_written++;
    st = cb_flush(c, &acc, false);
  }
  if (st == DB_OK && it.failed) st = DB_ERROR;
  if (st == DB_OK) st = cb_flush(c, &acc, true);
  if (st == DB_OK) st = db_copy_end(c, NULL);

  if (st == DB_OK)
    st = db_copy_begin(c, merge ? "COPY sparkd_import_pos FROM STDIN"
                                : "COPY positions (chain_id, account, asset, scaled_a_token_balance,"
                                  " scaled_variable_debt, collateral) FROM STDIN");
  chain_snapshot_accounts_end(&it);
  if (st == DB_OK && !chain_snapshot_accounts_begin_sorted(s, &it)) st = DB_ERROR;
  while (st == DB_OK && (a = chain_snapshot_accounts_next(&it))) {
    for (uint32_t j = 0; j < a->n_positions && st == DB_OK; j++) {
      const struct chain_snap_position *p = &a->positions[j];
      if (!cb_reserve(&pos, 64 + 86 + 2 * U256_DEC_MAX + 4)) {
        st = DB_ERROR;
        break;
      }
      pos.len += (size_t)sprintf(pos.p + pos.len, "%s%s\t%s\t", chain_block, a->address, p->asset);
      pos.len += u256_to_dec(p->scaled_a_token_balance, pos.p + pos.len);
      pos.p[pos.len++] = '\t';
      pos.len += u256_to_dec(p->scaled_variable_debt, pos.p + pos.len);
      memcpy(pos.p + pos.len, p->collateral ? "\tt\n" : "\tf\n", 3);
      pos.len += 3;
      x->res->positions_written++;
      st = cb_flush(c, &pos, false);
    }
  }
  if (st == DB_OK && it.failed) st = DB_ERROR;
  chain_snapshot_accounts_end(&it);
  if (st == DB_OK) st = cb_flush(c, &pos, true);
  if (st == DB_OK) st = db_copy_end(c, NULL);
  if (st == DB_OK && merge) {
    uint64_t dp = 0;
    st = db_exec_params(c, merge_positions_delete_sql, 1, param, &dp);
    if (st == DB_OK) st = db_exec_params(c, merge_accounts_delete_sql, 1, param, &deleted);
    if (st == DB_OK) st = db_exec_params(c, merge_accounts_update_sql, 1, param, NULL);
    if (st == DB_OK) st = db_exec_params(c, merge_accounts_insert_sql, 1, param, NULL);
    if (st == DB_OK) st = db_exec_params(c, merge_positions_update_sql, 1, param, NULL);
    if (st == DB_OK) st = db_exec_params(c, merge_positions_insert_sql, 1, param, NULL);
    x->res->accounts_removed = deleted;
  }
  free(acc.p);
  free(pos.p);
  free(rp);
  free(mc);
  free(m);
  return st;
}

/* ---- the small sections ---- */

static db_status write_reserves(db_conn *c, struct apply_ctx *x, struct params *p) {
  const struct chain_snapshot *s = x->s;
  db_status st;
  p_reset(p), p_str(p, x->chain);
  if ((st = run(c, "snap_reserves_delete", p)) != DB_OK) return st;
  for (size_t i = 0; i < s->n_reserves; i++) {
    const struct chain_snap_reserve *r = &s->reserves[i];
    const struct risk_reserve_config *g = &r->cfg;
    p_reset(p);
    p_str(p, x->chain), p_str(p, r->asset), p_u64(p, r->id), p_u64(p, s->block_number);
    p_u256(p, r->configuration), p_u64(p, g->ltv), p_u64(p, g->liquidation_threshold);
    p_u64(p, g->liquidation_bonus), p_u64(p, g->decimals), p_bool(p, g->active), p_bool(p, g->frozen);
    p_bool(p, g->borrowing_enabled), p_bool(p, g->stable_borrowing_enabled), p_bool(p, g->paused);
    p_bool(p, g->borrowable_in_isolation), p_bool(p, g->siloed_borrowing), p_bool(p, g->flashloan_enabled);
    p_u64(p, g->reserve_factor), p_u64(p, g->borrow_cap), p_u64(p, g->supply_cap);
    p_u64(p, g->liquidation_protocol_fee), p_u64(p, g->emode_category), p_u64(p, g->unbacked_mint_cap);
    p_u64(p, g->debt_ceiling);
    p_u256(p, r->liquidity_index), p_u256(p, r->variable_borrow_index), p_u256(p, r->current_liquidity_rate);
    p_u256(p, r->current_variable_borrow_rate), p_u64(p, r->last_update_timestamp);
    p_str(p, r->a_token), p_str(p, r->variable_debt_token);
    p_u256(p, r->a_token_scaled_total_supply), p_u256(p, r->variable_debt_scaled_total_supply);
    p_u256(p, r->accrued_to_treasury), p_u256(p, r->isolation_mode_total_debt), p_u256(p, r->available_liquidity);
    const struct chain_snap_irm *m = &r->irm;
    p_str(p, m->address), p_str(p, chain_irm_kind_names[m->kind]);
    p_u256(p, m->optimal_usage_ratio), p_u256(p, m->base_variable_borrow_rate);
    p_u256(p, m->variable_rate_slope1), p_u256(p, m->variable_rate_slope2);
    if (m->has_spread)
      p_str(p, m->spread_text);
    else
      p_null(p);
    char *src = NULL;
    if (m->has_source) {
      /* stored as jsonb, which keeps no key order or spacing: the text is jansson's */
      char apr[U256_DEC_MAX], lo[U256_DEC_MAX], hi[U256_DEC_MAX], def[U256_DEC_MAX];
      u256_to_dec(m->source.apr, apr);
      json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "kind", chain_rate_source_kind_names[m->source.kind], "address",
                            m->source.address, "apr", apr, "decimals", (int)m->source.decimals);
      if (o && m->source.has_bounds) {
        u256_to_dec(m->source.lower_bound, lo), u256_to_dec(m->source.upper_bound, hi);
        u256_to_dec(m->source.default_rate, def);
        json_object_set_new(o, "lower_bound", json_string(lo));
        json_object_set_new(o, "upper_bound", json_string(hi));
        json_object_set_new(o, "default_rate", json_string(def));
      }
      src = o ? json_dumps(o, JSON_COMPACT) : NULL;
      json_decref(o);
      if (!src) return DB_ERROR;
      p_str(p, src);
    } else {
      p_null(p);
    }
    st = run(c, "snap_reserve_insert", p);
    free(src);
    if (st != DB_OK) return st;
  }
  /* the series: one statement */
  struct alit l[12];
  memset(l, 0, sizeof l);
  bool ok = true;
  for (size_t i = 0; i < s->n_reserves && ok; i++) {
    const struct chain_snap_reserve *r = &s->reserves[i];
    ok = al_str(&l[0], r->asset, 42) && al_u256(&l[1], r->configuration) && al_u256(&l[2], r->liquidity_index) &&
         al_u256(&l[3], r->variable_borrow_index) && al_u256(&l[4], r->current_liquidity_rate) &&
         al_u256(&l[5], r->current_variable_borrow_rate) && al_uint(&l[6], r->last_update_timestamp) &&
         al_u256(&l[7], r->a_token_scaled_total_supply) && al_u256(&l[8], r->variable_debt_scaled_total_supply) &&
         al_u256(&l[9], r->accrued_to_treasury) && al_u256(&l[10], r->isolation_mode_total_debt) &&
         al_u256(&l[11], r->available_liquidity);
  }
  const char *v[15] = {x->chain, NULL, NULL};
  char blk[24], ts[24];
  snprintf(blk, sizeof blk, "%llu", (unsigned long long)s->block_number);
  snprintf(ts, sizeof ts, "%llu", (unsigned long long)s->block_timestamp);
  v[1] = blk, v[2] = ts;
  for (unsigned i = 0; i < 12 && ok; i++)
    ok = (v[3 + i] = al_end(&l[i])) != NULL;
  st = !ok ? DB_ERROR : s->n_reserves ? db_exec_prepared(c, "snap_reserve_series_insert", 15, v, NULL) : DB_OK;
  for (unsigned i = 0; i < 12; i++)
    free(l[i].p);
  return st;
}

static db_status write_small(db_conn *c, struct apply_ctx *x, struct params *p) {
  const struct chain_snapshot *s = x->s;
  db_status st = DB_OK;
  if (s->has_emode) {
    p_reset(p), p_str(p, x->chain);
    if ((st = run(c, "snap_emode_delete", p)) != DB_OK) return st;
    for (size_t i = 0; i < s->n_emode; i++) {
      const struct chain_snap_emode *e = &s->emode[i];
      p_reset(p);
      p_str(p, x->chain), p_u64(p, e->id), p_u64(p, e->ltv), p_u64(p, e->liquidation_threshold);
      p_u64(p, e->liquidation_bonus), p_str(p, e->price_source), p_str(p, e->label);
      if ((st = run(c, "snap_emode_insert", p)) != DB_OK) return st;
    }
  }
  char blk[24], ts[24];
  snprintf(blk, sizeof blk, "%llu", (unsigned long long)s->block_number);
  snprintf(ts, sizeof ts, "%llu", (unsigned long long)s->block_timestamp);
  if (s->has_prices) {
    p_reset(p), p_str(p, x->chain);
    if ((st = run(c, "snap_prices_delete", p)) != DB_OK) return st;
    struct alit l[4];
    memset(l, 0, sizeof l);
    bool ok = true;
    for (size_t i = 0; i < s->n_prices && ok; i++) {
      const struct chain_snap_price *q = &s->prices[i];
      ok = al_str(&l[0], q->asset, 42) && al_u256(&l[1], q->price) && al_str(&l[2], q->source, 42) &&
           al_uint(&l[3], q->updated_at);
    }
    const char *v[4];
    for (unsigned i = 0; i < 4 && ok; i++)
      ok = (v[i] = al_end(&l[i])) != NULL;
    st = ok ? DB_OK : DB_ERROR;
    if (st == DB_OK && s->n_prices) {
      const char *pp[] = {x->chain, blk, v[0], v[1], v[2], v[3]}, *sp[] = {x->chain, blk, ts, v[0], v[1], v[3]};
      st = db_exec_prepared(c, "snap_prices_insert", 6, pp, NULL);
      if (st == DB_OK) st = db_exec_prepared(c, "snap_price_series_insert", 6, sp, NULL);
    }
    for (unsigned i = 0; i < 4; i++)
      free(l[i].p);
    if (st != DB_OK) return st;
  }
  if (s->has_vaults) {
    p_reset(p), p_str(p, x->chain);
    if ((st = run(c, "snap_vaults_delete", p)) != DB_OK) return st;
    for (size_t i = 0; i < s->n_vaults; i++) {
      const struct chain_snap_vault *v = &s->vaults[i];
      p_reset(p);
      p_str(p, x->chain), p_str(p, v->address), p_str(p, chain_vault_kind_names[v->kind]), p_str(p, v->asset);
      p_str(p, v->symbol), p_u64(p, v->decimals), p_u256(p, v->chi), p_u64(p, v->rho), p_u256(p, v->rate);
      v->has_min_rate ? p_u256(p, v->min_rate) : p_null(p);
      v->has_max_rate ? p_u256(p, v->max_rate) : p_null(p);
      v->has_deposit_cap ? p_u256(p, v->deposit_cap) : p_null(p);
      p_u256(p, v->total_supply);
      v->has_idle_assets ? p_u256(p, v->idle_assets) : p_null(p);
      if (v->has_intents) {
        p_str(p, v->intents.address), p_u256(p, v->intents.min_assets), p_u256(p, v->intents.max_assets);
        p_u64(p, v->intents.max_deadline_seconds);
      } else {
        p_null(p), p_null(p), p_null(p), p_null(p);
      }
      p_u64(p, s->block_number);
      if ((st = run(c, "snap_vault_insert", p)) != DB_OK) return st;
      p_reset(p);
      p_str(p, x->chain), p_str(p, v->address), p_u64(p, s->block_number), p_u64(p, s->block_timestamp);
      p_u256(p, v->chi), p_u64(p, v->rho), p_u256(p, v->rate), p_u256(p, v->total_supply);
      v->has_idle_assets ? p_u256(p, v->idle_assets) : p_null(p);
      v->has_deposit_cap ? p_u256(p, v->deposit_cap) : p_null(p);
      if ((st = run(c, "snap_vault_series", p)) != DB_OK) return st;
    }
  }
  if (s->has_ll) {
    static const char *const dels[] = {"snap_ll_venues_delete", "snap_ll_idle_delete", "snap_ll_rl_delete",
                                       "snap_ll_delete"};
    for (size_t i = 0; i < 4; i++) {
      p_reset(p), p_str(p, x->chain);
      if ((st = run(c, dels[i], p)) != DB_OK) return st;
    }
    p_reset(p), p_str(p, x->chain), p_str(p, s->alm_proxy), p_u64(p, s->block_number);
    if ((st = run(c, "snap_ll_insert", p)) != DB_OK) return st;
    for (size_t i = 0; i < s->n_venues; i++) {
      const struct chain_snap_venue *v = &s->venues[i];
      p_reset(p);
      p_str(p, x->chain), p_str(p, v->id), p_str(p, v->kind), p_str(p, v->address), p_str(p, v->asset);
      p_str(p, v->label);
      if ((st = run(c, "snap_ll_venue_insert", p)) != DB_OK) return st;
    }
    for (size_t i = 0; i < s->n_allocations; i++) {
      const struct chain_snap_allocation *a = &s->allocations[i];
      p_reset(p);
      p_str(p, x->chain), p_str(p, a->venue), p_str(p, a->asset), p_u256(p, a->amount), p_u256(p, a->apr);
      if ((st = run(c, "snap_ll_alloc_insert", p)) != DB_OK) return st;
    }
    for (size_t i = 0; i < s->n_idle; i++) {
      p_reset(p);
      p_str(p, x->chain), p_str(p, s->idle[i].asset), p_u256(p, s->idle[i].amount);
      if ((st = run(c, "snap_ll_idle_insert", p)) != DB_OK) return st;
    }
    struct alit l[8];
    memset(l, 0, sizeof l);
    bool ok = true;
    for (size_t i = 0; i < s->n_rate_limits && ok; i++) {
      const struct chain_snap_rate_limit *r = &s->rate_limits[i];
      ok = al_str(&l[0], r->key, strlen(r->key)) && al_quoted(&l[1], r->name) &&
           (r->has_asset ? al_str(&l[2], r->asset, 42) : al_str(&l[2], "NULL", 4)) &&
           (r->has_target ? al_str(&l[3], r->target, 42) : al_str(&l[3], "NULL", 4)) && al_u256(&l[4], r->max_amount) &&
           al_u256(&l[5], r->slope) && al_u256(&l[6], r->last_amount) && al_uint(&l[7], r->last_updated);
    }
    const char *v[8];
    for (unsigned i = 0; i < 8 && ok; i++)
      ok = (v[i] = al_end(&l[i])) != NULL;
    st = ok ? DB_OK : DB_ERROR;
    if (st == DB_OK && s->n_rate_limits) {
      const char *rp[] = {x->chain, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]},
                 *sp[] = {x->chain, blk, ts, v[0], v[4], v[5], v[6], v[7]};
      st = db_exec_prepared(c, "snap_ll_rls_insert", 9, rp, NULL);
      if (st == DB_OK) st = db_exec_prepared(c, "snap_rl_series_insert", 8, sp, NULL);
    }
    for (unsigned i = 0; i < 8; i++)
      free(l[i].p);
    if (st != DB_OK) return st;
  }
  if (s->has_kill_switch) {
    p_reset(p), p_str(p, x->chain);
    if ((st = run(c, "snap_ks_oracles_delete", p)) != DB_OK) return st;
    if ((st = run(c, "snap_ks_delete", p)) != DB_OK) return st;
    p_reset(p), p_str(p, x->chain), p_str(p, s->ks_address), p_bool(p, s->ks_triggered), p_u64(p, s->block_number);
    if ((st = run(c, "snap_ks_insert", p)) != DB_OK) return st;
    for (size_t i = 0; i < s->n_oracles; i++) {
      const struct chain_snap_oracle *o = &s->oracles[i];
      p_reset(p);
      p_str(p, x->chain), p_str(p, o->address), p_str(p, o->label), p_str(p, o->threshold);
      p_str(p, o->latest_answer), p_u64(p, o->decimals);
      if ((st = run(c, "snap_ks_oracle_insert", p)) != DB_OK) return st;
    }
  }
  return DB_OK;
}

static db_status apply_txn(db_conn *c, void *arg) {
  struct apply_ctx *x = arg;
  const struct chain_snapshot *s = x->s;
  struct db_snapshot_result *res = x->res;
  memset(res, 0, sizeof *res);
  x->found_prev = false;
  const char *param[] = {x->chain};
  db_status st = db_query_prepared(c, "snap_lock", 1, param, NULL, NULL, NULL);
  if (st == DB_OK) st = db_query_prepared(c, "snap_chain_get", 1, param, chain_row, x, NULL);
  if (st != DB_OK) return st;
  res->had_previous = x->found_prev;
  res->previous_block = x->prev_block;
  if (x->found_prev && x->prev_block == s->block_number) {
    if (strcmp(x->prev_hash, s->block_hash) != 0) {
      chain_snapshot_error(x->errs, "$.block.hash", "block %llu of chain %s was imported with hash %s",
                           (unsigned long long)s->block_number, x->chain, x->prev_hash);
      res->outcome = DB_SNAPSHOT_INVALID;
      return DB_ERROR;
    }
    res->outcome = DB_SNAPSHOT_SAME_BLOCK;
    return DB_OK;
  }
  if (x->found_prev && s->block_number < x->prev_block && !x->allow_older) {
    res->outcome = DB_SNAPSHOT_OLDER;
    return DB_OK;
  }
  bool refs_ok = false;
  st = check_references(c, x, &refs_ok);
  free(x->known);
  x->known = NULL;
  x->n_known = x->cap_known = 0;
  if (st != DB_OK) return st;
  if (!refs_ok) {
    res->outcome = DB_SNAPSHOT_INVALID;
    return DB_ERROR; /* rolls back; nothing was written */
  }

  struct params *p = malloc(sizeof *p);
  if (!p) return DB_ERROR;
  /* A block's small sections are a few hundred single-row statements: pipelined, they cost one
   * round trip instead of one each (most of a history block's import time before). */
  st = db_pipeline_begin(c);
  if (st == DB_OK) {
    p_reset(p);
    st = run(c, "snap_mark_import", p);
    p_str(p, x->chain), p_u64(p, s->block_number), p_str(p, s->block_hash), p_u64(p, s->block_timestamp);
    if (st == DB_OK) st = run(c, "snap_chain_upsert", p);
    x->parent_hash ? p_str(p, x->parent_hash) : p_null(p);
    if (st == DB_OK) st = run(c, "snap_block_upsert", p);
    for (size_t i = 0; i < s->n_assets && st == DB_OK; i++) {
      const struct chain_snap_asset *a = &s->assets[i];
      p_reset(p);
      p_str(p, x->chain), p_str(p, a->address), p_str(p, a->symbol);
      a->has_name ? p_str(p, a->name) : p_null(p);
      p_u64(p, a->decimals);
      st = run(c, "snap_asset_upsert", p);
    }
    if (st == DB_OK && s->has_reserves) st = write_reserves(c, x, p);
    if (st == DB_OK) st = write_small(c, x, p);
    db_status end = db_pipeline_end(c); /* always: it leaves pipeline mode */
    if (st == DB_OK) st = end;
  }
  free(p);
  if (st == DB_OK && s->has_accounts) st = write_accounts(c, x);
  if (st == DB_OK) st = record_changes(c, x);
  if (st == DB_OK) res->outcome = DB_SNAPSHOT_APPLIED;
  return st;
}

db_status db_snapshot_apply(db_pool *pool, const struct chain_snapshot *s, bool allow_older,
                            struct db_snapshot_result *res, struct chain_snapshot_errors *errs) {
  return db_snapshot_apply_block(pool, s, allow_older, NULL, res, errs);
}

/* a snapshot writing at least this many accounts is a bulk load: statistics are refreshed after it */
#define ANALYZE_AFTER_ACCOUNTS 100000

static db_status analyze_txn(db_conn *c, void *arg) {
  (void)arg;
  return db_exec(c, "ANALYZE accounts, positions");
}

db_status db_snapshot_apply_block(db_pool *pool, const struct chain_snapshot *s, bool allow_older,
                                  const char *parent_hash, struct db_snapshot_result *res,
                                  struct chain_snapshot_errors *errs) {
  struct apply_ctx x = {.s = s, .allow_older = allow_older, .parent_hash = parent_hash, .res = res, .errs = errs};
  snprintf(x.chain, sizeof x.chain, "%llu", (unsigned long long)s->chain_id);
  unsigned n0 = errs->n, d0 = errs->dropped;
  db_status st = db_run_txn(pool, apply_txn, &x);
  if (res->outcome == DB_SNAPSHOT_INVALID) return DB_OK;
  if (st != DB_OK) {
    errs->n = n0; /* a database failure, not a snapshot problem */
    errs->dropped = d0;
    return st;
  }
  if (res->accounts_written >= ANALYZE_AFTER_ACCOUNTS) {
    /* Until autovacuum's next pass the planner has no statistics for the rows a bulk load wrote,
       and the next blocks' DELETE … = ANY($2) ran as a scan of every position (0.5 s at a million
       accounts, against 40 ms with statistics). A failure here costs speed, not data. */
    (void)db_run_txn(pool, analyze_txn, NULL);
  }
  return st;
}
