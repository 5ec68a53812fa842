/* Spark Prime portfolios, legs, margin parameters and results (db/portfolio.h). */
#include "db/portfolio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/internal.h"
#include "util/dec.h"

#define LEG_COLS                                                                                                       \
  "venue, kind, COALESCE(underlying, '') AS underlying, quantity, entry_price, mark_price, funding,"                   \
  " COALESCE(chain_id, 0) AS chain_id, COALESCE(address::text, '') AS address, yield_kind, yield_bps, yield_sd_bps,"   \
  " as_of, reference"

const struct db_statement db_portfolio_statements[] = {
    {"pf_insert", "INSERT INTO partner_portfolios (partner_id, external_id, borrower, utilization_bps)"
                  " VALUES ($1, $2, $3, $4) RETURNING portfolio_id"},
    {"pf_get",
     "SELECT jsonb_build_object('id', p.portfolio_id::text, 'external_id', p.external_id, 'borrower', p.borrower,"
     " 'utilization_bps', p.utilization_bps, 'created_at', to_char(p.created_at AT TIME ZONE 'UTC',"
     " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'legs', COALESCE((SELECT jsonb_agg(jsonb_build_object('venue', l.venue,"
     " 'kind', l.kind, 'underlying', l.underlying, 'quantity_e8', l.quantity::text, 'entry_price_e8',"
     " l.entry_price::text, 'mark_price_e8', l.mark_price::text, 'funding_e8', l.funding::text, 'chain_id',"
     " l.chain_id, 'address', l.address::text, 'yield', jsonb_build_object('kind', l.yield_kind, 'bps', l.yield_bps,"
     " 'sd_bps', l.yield_sd_bps), 'as_of', l.as_of, 'reference', l.reference) ORDER BY l.venue, l.leg_no)"
     " FROM portfolio_legs l WHERE l.partner_id = p.partner_id AND l.portfolio_id = p.portfolio_id), '[]'))::text"
     " AS body FROM partner_portfolios p WHERE p.partner_id = $1 AND p.portfolio_id = $2"},
    {"pf_lock",
     "SELECT utilization_bps FROM partner_portfolios WHERE partner_id = $1 AND portfolio_id = $2 FOR UPDATE"},
    {"pf_exists", "SELECT portfolio_id FROM partner_portfolios WHERE partner_id = $1 AND portfolio_id = $2"},
    {"pf_legs_clear", "DELETE FROM portfolio_legs WHERE partner_id = $1 AND portfolio_id = $2 AND venue = $3"},
    {"pf_leg_insert",
     "INSERT INTO portfolio_legs (portfolio_id, partner_id, venue, leg_no, kind, underlying, quantity, entry_price,"
     " mark_price, funding, chain_id, address, yield_kind, yield_bps, yield_sd_bps, as_of, reference)"
     " VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9, $10, NULLIF($11::bigint, 0), NULLIF($12, "
     "'')::evm_address,"
     " $13, $14, $15, $16, $17)"},
    {"pf_legs", "SELECT " LEG_COLS " FROM portfolio_legs WHERE partner_id = $1 AND portfolio_id = $2"
                " ORDER BY venue, leg_no"},
    /* supplied = scaled * liquidityIndex / RAY (floor), borrowed = ceil(scaled * variableBorrowIndex
     * / RAY): the account's balances as of the imported block, rounded against the borrower */
    {"pf_all", "SELECT p.portfolio_id, p.partner_id, COALESCE(l.sequence, 0) AS sequence, COALESCE(l.band, -1) AS band,"
               " COALESCE(l.call_since, 0) AS call_since, COALESCE(l.fingerprint, 0) AS fingerprint,"
               " l.fingerprint IS NOT NULL AS has_fp, p.legs_rev FROM partner_portfolios p"
               " LEFT JOIN portfolio_margin_latest l ON l.portfolio_id = p.portfolio_id"
               " ORDER BY p.portfolio_id FOR UPDATE OF p"},
    /* every leg of every portfolio: the batch pass reads 12 a portfolio by the ten thousand, so only
     * the columns it uses (no reference; an address only where a sparklend leg has one) */
    {"pf_legs_all",
     "SELECT portfolio_id, venue, kind, COALESCE(underlying, '') AS underlying, quantity, entry_price, mark_price,"
     " funding, COALESCE(chain_id, 0) AS chain_id, CASE WHEN address IS NULL THEN '' ELSE address::text END AS address,"
     " yield_kind, yield_bps, yield_sd_bps, as_of FROM portfolio_legs ORDER BY portfolio_id, venue, leg_no"},
    /* the same for the portfolios whose legs moved since the pass kept them (migration 0028) */
    {"pf_legs_some",
     "SELECT portfolio_id, venue, kind, COALESCE(underlying, '') AS underlying, quantity, entry_price, mark_price,"
     " funding, COALESCE(chain_id, 0) AS chain_id, CASE WHEN address IS NULL THEN '' ELSE address::text END AS address,"
     " yield_kind, yield_bps, yield_sd_bps, as_of FROM portfolio_legs WHERE portfolio_id = ANY ($1::bigint[])"
     " ORDER BY portfolio_id, venue, leg_no"},
    /* the batch pass: the summary of every changed result whose band did not change, in one
     * statement (the result JSON stays the one of the last full computation; the fingerprint says
     * what a read re-renders) */
    {"ml_batch",
     "UPDATE portfolio_margin_latest l SET sequence = u.sequence, params_version = $6, hs_bps = u.hs_bps,"
     " call_since = u.call_since, as_of = $7, fingerprint = u.fingerprint FROM unnest($1::bigint[], $2::bigint[],"
     " $3::bigint[], $4::bigint[], $5::smallint[], $8::bigint[]) AS u(portfolio_id, sequence, hs_bps, call_since, band,"
     " fingerprint) WHERE l.portfolio_id = u.portfolio_id AND l.band = u.band"},
    /* the batch pass's band changes, all in one statement: $1 a JSON array (db_margin_changes), $2
     * the event. The full result goes to the history; the latest row keeps its summary and
     * fingerprint (a read re-renders the record from them), so a big document is written once */
    {"ml_changes",
     "WITH x AS MATERIALIZED (SELECT (e->>'id')::bigint AS id, (e->>'partner')::bigint AS partner,"
     "   (e->>'seq')::bigint AS seq, (e->>'version')::bigint AS version, (e->>'band')::smallint AS band,"
     "   NULLIF((e->>'prev')::int, -1)::smallint AS prev, (e->>'hs')::bigint AS hs, (e->>'since')::bigint AS since,"
     "   (e->>'as_of')::bigint AS as_of, e->'result' AS result, e->>'band_name' AS band_name,"
     "   e->>'prev_name' AS prev_name, (e->>'fp')::bigint AS fp"
     "   FROM jsonb_array_elements($1::jsonb) e),"
     " up AS (INSERT INTO portfolio_margin_latest (portfolio_id, partner_id, sequence, params_version, band, hs_bps,"
     "   call_since, as_of, result, fingerprint) SELECT id, partner, seq, version, band, hs, since, as_of, result, fp"
     "   FROM x ON CONFLICT (portfolio_id) DO UPDATE SET sequence = EXCLUDED.sequence,"
     "   params_version = EXCLUDED.params_version, band = EXCLUDED.band, hs_bps = EXCLUDED.hs_bps,"
     "   call_since = EXCLUDED.call_since, as_of = EXCLUDED.as_of, fingerprint = EXCLUDED.fingerprint),"
     " h AS (INSERT INTO portfolio_margin_history (portfolio_id, sequence, partner_id, params_version, band, prev_band,"
     "   hs_bps, as_of, result) SELECT id, seq, partner, version, band, prev, hs, as_of, result FROM x),"
     " o AS (INSERT INTO webhook_outbox (webhook_id, partner_id, position_id, event, payload)"
     "   SELECT w.webhook_id, x.partner, -x.id, $2::text, json_build_object('event', $2::text, 'portfolio_id',"
     "   x.id::text, 'band', x.band_name, 'sequence', x.seq, 'params_version', x.version, 'previous_band',"
     "   x.prev_name, 'record', x.result) FROM x JOIN partner_webhooks w"
     "   ON w.partner_id = x.partner AND w.deleted_at IS NULL AND $2::text = ANY (w.events)"
     "   ORDER BY x.id, w.webhook_id RETURNING 1)"
     /* the pass sends these pipelined, without reading their answers: each adds its outbox rows to
      * a session counter (db_margin_changes_queued) */
     " SELECT set_config('sparkd.margin_queued', (current_setting('sparkd.margin_queued')::bigint + count(*))::text,"
     " false) AS queued FROM o"},
    {"ml_queued_reset", "SELECT set_config('sparkd.margin_queued', '0', false)"},
    {"ml_queued", "SELECT current_setting('sparkd.margin_queued')::bigint AS queued"},
    {"pf_sparklend",
     "SELECT p.asset::text AS asset, a.decimals,"
     " trunc(p.scaled_a_token_balance::numeric * r.liquidity_index::numeric / 1e27)::text AS supplied,"
     " ceil(p.scaled_variable_debt::numeric * r.variable_borrow_index::numeric / 1e27)::text AS borrowed,"
     " COALESCE(pr.price::text, '0') AS price, COALESCE(pr.updated_at, 0) AS price_ts"
     " FROM positions p JOIN reserves r ON r.chain_id = p.chain_id AND r.asset = p.asset"
     " JOIN assets a ON a.chain_id = p.chain_id AND a.address = p.asset"
     " LEFT JOIN prices pr ON pr.chain_id = p.chain_id AND pr.asset = p.asset"
     " WHERE p.chain_id = $1 AND p.account = $2 ORDER BY p.asset"},
    /* the prices of many (chain, asset) pairs in one round trip, in the order given */
    {"pf_prices", "SELECT u.i::int AS i, COALESCE(p.price::text, '') AS price, COALESCE(p.updated_at, 0) AS updated_at"
                  " FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS u(chain_id, asset, i)"
                  " LEFT JOIN prices p ON p.chain_id = u.chain_id AND p.asset = u.asset::evm_address ORDER BY u.i"},
    {"mp_version", "SELECT COALESCE(max(version), 0) AS version FROM margin_params"},
    {"mp_latest", "SELECT version, params::text AS params FROM margin_params ORDER BY version DESC LIMIT 1"},
    {"mp_insert", "INSERT INTO margin_params (params) VALUES ($1::jsonb) RETURNING version"},
    {"ml_prev", "SELECT sequence, band, call_since, COALESCE(rate_bps, 0) AS rate_bps, COALESCE(rate_at, 0) AS rate_at,"
                " rate_bps IS NOT NULL AS has_rate, as_of, COALESCE(fingerprint, 0) AS fingerprint,"
                " fingerprint IS NOT NULL AS has_fp FROM portfolio_margin_latest WHERE portfolio_id = $1"},
    {"ml_put",
     "INSERT INTO portfolio_margin_latest (portfolio_id, partner_id, sequence, params_version, band, hs_bps,"
     " call_since, as_of, result, fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)"
     " ON CONFLICT (portfolio_id) DO UPDATE SET sequence = EXCLUDED.sequence, params_version = EXCLUDED.params_version,"
     " band = EXCLUDED.band, hs_bps = EXCLUDED.hs_bps, call_since = EXCLUDED.call_since, as_of = EXCLUDED.as_of,"
     " result = EXCLUDED.result, fingerprint = EXCLUDED.fingerprint"},
    {"ml_rate", "UPDATE portfolio_margin_latest SET rate_bps = $2, rate_at = $3 WHERE portfolio_id = $1"},
    {"mh_insert",
     "INSERT INTO portfolio_margin_history (portfolio_id, sequence, partner_id, params_version, band, prev_band,"
     " hs_bps, as_of, result) VALUES ($1, $2, $3, $4, $5, NULLIF($6::int, -1), $7, $8, $9::jsonb)"},
    /* the outbox orders deliveries per (webhook, position_id); a portfolio's events use -portfolio_id
     * there so they never share an order with a position's */
    {"mh_outbox",
     "WITH o AS (INSERT INTO webhook_outbox (webhook_id, partner_id, position_id, event, payload)"
     " SELECT w.webhook_id, $1, -$2::bigint, $3::text, $4::json FROM partner_webhooks w"
     " WHERE w.partner_id = $1 AND w.deleted_at IS NULL AND $3::text = ANY (w.events) ORDER BY w.webhook_id"
     " RETURNING 1) SELECT count(*) AS queued FROM o"},
    {"mh_list", "SELECT result::text AS body FROM portfolio_margin_history WHERE partner_id = $1 AND portfolio_id = $2"
                " AND sequence < $3 ORDER BY sequence DESC LIMIT $4"},
};
DB_STATEMENTS_COUNT(portfolio);

#define I64(name, v)                                                                                                   \
  char name[24];                                                                                                       \
  util_i64_dec((v), name)

db_status db_portfolio_insert(db_conn *c, int64_t partner_id, const char *external_id, const char *borrower,
                              int64_t utilization_bps, int64_t *id) {
  I64(p, partner_id);
  I64(u, utilization_bps);
  const char *params[] = {p, external_id, borrower, u};
  struct db_col col[] = {{"portfolio_id", DB_COL_INT64, id, 0, NULL}};
  return db_query_one_prepared(c, "pf_insert", 4, params, col, 1);
}

db_status db_portfolio_json(db_conn *c, int64_t partner_id, int64_t id, char **json) {
  I64(p, partner_id);
  I64(i, id);
  const char *params[] = {p, i};
  struct db_col col[] = {{"body", DB_COL_TEXT_DUP, json, 0, NULL}};
  return db_query_one_prepared(c, "pf_get", 2, params, col, 1);
}

db_status db_portfolio_lock(db_conn *c, int64_t partner_id, int64_t id, int64_t *util_bps) {
  I64(p, partner_id);
  I64(i, id);
  const char *params[] = {p, i};
  struct db_col col[] = {{"utilization_bps", DB_COL_INT64, util_bps, 0, NULL}};
  return db_query_one_prepared(c, "pf_lock", 2, params, col, 1);
}

db_status db_portfolio_exists(db_conn *c, int64_t partner_id, int64_t id) {
  I64(p, partner_id);
  I64(i, id);
  int64_t got = 0;
  const char *params[] = {p, i};
  struct db_col col[] = {{"portfolio_id", DB_COL_INT64, &got, 0, NULL}};
  return db_query_one_prepared(c, "pf_exists", 2, params, col, 1);
}

db_status db_portfolio_legs_clear(db_conn *c, int64_t partner_id, int64_t id, const char *venue) {
  I64(p, partner_id);
  I64(i, id);
  const char *params[] = {p, i, venue};
  return db_exec_prepared(c, "pf_legs_clear", 3, params, NULL);
}

db_status db_portfolio_leg_insert(db_conn *c, int64_t partner_id, int64_t id, int leg_no,
                                  const struct db_portfolio_leg *l) {
  I64(i, id);
  I64(p, partner_id);
  I64(n, leg_no);
  I64(q, l->quantity);
  I64(e, l->entry_price);
  I64(m, l->mark_price);
  I64(f, l->funding);
  I64(ch, l->chain_id);
  I64(y, l->yield_bps);
  I64(sd, l->yield_sd_bps);
  I64(at, l->as_of);
  const char *params[] = {i,  p,  l->venue,    n, l->kind, l->underlying, q, e, m, f, ch, l->address, l->yield_kind, y,
                          sd, at, l->reference};
  return db_exec_prepared(c, "pf_leg_insert", 17, params, NULL);
}

struct legs_ctx {
  db_status (*fn)(const struct db_portfolio_leg *l, void *arg);
  void *arg;
};
static db_status leg_row(const db_row *row, void *arg) {
  struct legs_ctx *lc = arg;
  struct db_portfolio_leg l;
  memset(&l, 0, sizeof l);
  struct db_col cols[] = {
      {"venue", DB_COL_TEXT, l.venue, sizeof l.venue, NULL},
      {"kind", DB_COL_TEXT, l.kind, sizeof l.kind, NULL},
      {"underlying", DB_COL_TEXT, l.underlying, sizeof l.underlying, NULL},
      {"quantity", DB_COL_INT64, &l.quantity, 0, NULL},
      {"entry_price", DB_COL_INT64, &l.entry_price, 0, NULL},
      {"mark_price", DB_COL_INT64, &l.mark_price, 0, NULL},
      {"funding", DB_COL_INT64, &l.funding, 0, NULL},
      {"chain_id", DB_COL_INT64, &l.chain_id, 0, NULL},
      {"address", DB_COL_TEXT, l.address, sizeof l.address, NULL},
      {"yield_kind", DB_COL_TEXT, l.yield_kind, sizeof l.yield_kind, NULL},
      {"yield_bps", DB_COL_INT64, &l.yield_bps, 0, NULL},
      {"yield_sd_bps", DB_COL_INT64, &l.yield_sd_bps, 0, NULL},
      {"as_of", DB_COL_INT64, &l.as_of, 0, NULL},
      {"reference", DB_COL_TEXT, l.reference, sizeof l.reference, NULL},
  };
  db_status st = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  return st == DB_OK ? lc->fn(&l, lc->arg) : st;
}

db_status db_portfolio_legs(db_conn *c, int64_t partner_id, int64_t id,
                            db_status (*fn)(const struct db_portfolio_leg *l, void *arg), void *arg) {
  I64(p, partner_id);
  I64(i, id);
  const char *params[] = {p, i};
  struct legs_ctx lc = {fn, arg};
  return db_query_prepared(c, "pf_legs", 2, params, leg_row, &lc, NULL);
}

struct lend_ctx {
  db_status (*fn)(const struct db_portfolio_lend *l, void *arg);
  void *arg;
};
static db_status lend_row(const db_row *row, void *arg) {
  struct lend_ctx *lc = arg;
  struct db_portfolio_lend l;
  memset(&l, 0, sizeof l);
  struct db_col cols[] = {
      {"asset", DB_COL_TEXT, l.asset, sizeof l.asset, NULL},
      {"decimals", DB_COL_INT32, &l.decimals, 0, NULL},
      {"supplied", DB_COL_TEXT, l.supplied, sizeof l.supplied, NULL},
      {"borrowed", DB_COL_TEXT, l.borrowed, sizeof l.borrowed, NULL},
      {"price", DB_COL_TEXT, l.price, sizeof l.price, NULL},
      {"price_ts", DB_COL_INT64, &l.price_ts, 0, NULL},
  };
  db_status st = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  return st == DB_OK ? lc->fn(&l, lc->arg) : st;
}

db_status db_portfolio_sparklend(db_conn *c, int64_t chain_id, const char *address,
                                 db_status (*fn)(const struct db_portfolio_lend *l, void *arg), void *arg) {
  I64(ch, chain_id);
  const char *params[] = {ch, address};
  struct lend_ctx lc = {fn, arg};
  return db_query_prepared(c, "pf_sparklend", 2, params, lend_row, &lc, NULL);
}

struct prices_ctx {
  char (*price)[80];
  int64_t *ts;
  size_t n;
};
static db_status price_row(const db_row *row, void *arg) {
  struct prices_ctx *pc = arg;
  int32_t i = 0;
  char price[80];
  int64_t ts = 0;
  struct db_col cols[] = {{"i", DB_COL_INT32, &i, 0, NULL},
                          {"price", DB_COL_TEXT, price, sizeof price, NULL},
                          {"updated_at", DB_COL_INT64, &ts, 0, NULL}};
  db_status st = db_row_get(row, cols, 3);
  if (st != DB_OK) return st;
  if (i < 1 || (size_t)i > pc->n) return DB_ERROR;
  memcpy(pc->price[i - 1], price, sizeof price);
  pc->ts[i - 1] = ts;
  return DB_OK;
}

db_status db_portfolio_prices(db_conn *c, size_t n, const int64_t *chain_id, const char (*asset)[43], char (*price)[80],
                              int64_t *ts) {
  /* array literals: addresses are 0x + hex, chain ids digits, so nothing needs quoting */
  size_t cap = 4 + n * 48;
  char *chains = malloc(cap), *assets = malloc(cap);
  if (!chains || !assets) {
    free(chains);
    free(assets);
    return DB_ERROR;
  }
  size_t a = 0, b = 0;
  chains[a++] = '{';
  assets[b++] = '{';
  for (size_t i = 0; i < n; i++) {
    a += (size_t)snprintf(chains + a, cap - a, "%s%lld", i ? "," : "", (long long)chain_id[i]);
    b += (size_t)snprintf(assets + b, cap - b, "%s%s", i ? "," : "", asset[i]);
  }
  chains[a] = '}';
  chains[a + 1] = 0;
  assets[b] = '}';
  assets[b + 1] = 0;
  for (size_t i = 0; i < n; i++) {
    price[i][0] = 0;
    ts[i] = 0;
  }
  const char *params[] = {chains, assets};
  struct prices_ctx pc = {price, ts, n};
  db_status st = db_query_prepared(c, "pf_prices", 2, params, price_row, &pc, NULL);
  free(chains);
  free(assets);
  return st;
}

db_status db_margin_params_version(db_conn *c, int64_t *version) {
  struct db_col cols[] = {{"version", DB_COL_INT64, version, 0, NULL}};
  return db_query_one_prepared(c, "mp_version", 0, NULL, cols, 1);
}

db_status db_margin_params_latest(db_conn *c, int64_t *version, char **json) {
  struct db_col cols[] = {{"version", DB_COL_INT64, version, 0, NULL}, {"params", DB_COL_TEXT_DUP, json, 0, NULL}};
  return db_query_one_prepared(c, "mp_latest", 0, NULL, cols, 2);
}

db_status db_margin_params_insert(db_conn *c, const char *json, int64_t *version) {
  const char *params[] = {json};
  struct db_col cols[] = {{"version", DB_COL_INT64, version, 0, NULL}};
  return db_query_one_prepared(c, "mp_insert", 1, params, cols, 1);
}

db_status db_margin_latest_prev(db_conn *c, int64_t id, struct db_margin_prev *p) {
  memset(p, 0, sizeof *p);
  I64(i, id);
  const char *params[] = {i};
  struct db_col cols[] = {
      {"sequence", DB_COL_INT64, &p->sequence, 0, NULL},     {"band", DB_COL_INT64, &p->band, 0, NULL},
      {"call_since", DB_COL_INT64, &p->call_since, 0, NULL}, {"rate_bps", DB_COL_INT64, &p->rate_bps, 0, NULL},
      {"rate_at", DB_COL_INT64, &p->rate_at, 0, NULL},       {"has_rate", DB_COL_BOOL, &p->has_rate, 0, NULL},
      {"as_of", DB_COL_INT64, &p->as_of, 0, NULL},           {"fingerprint", DB_COL_INT64, &p->fingerprint, 0, NULL},
      {"has_fp", DB_COL_BOOL, &p->has_fp, 0, NULL}};
  db_status st = db_query_one_prepared(c, "ml_prev", 1, params, cols, 9);
  if (st == DB_NO_ROWS) {
    memset(p, 0, sizeof *p);
    p->band = -1;
    return DB_OK;
  }
  return st;
}

db_status db_margin_latest_put(db_conn *c, int64_t partner_id, int64_t id, int64_t sequence, int64_t params_version,
                               int band, int64_t hs_bps, int64_t call_since, int64_t as_of, const char *result,
                               int64_t fingerprint) {
  I64(i, id);
  I64(p, partner_id);
  I64(s, sequence);
  I64(v, params_version);
  I64(b, band);
  I64(h, hs_bps);
  I64(cs, call_since);
  I64(at, as_of);
  I64(fp, fingerprint);
  const char *params[] = {i, p, s, v, b, h, cs, at, result, fp};
  return db_exec_prepared(c, "ml_put", 10, params, NULL);
}

db_status db_margin_rate_put(db_conn *c, int64_t id, int64_t rate_bps, int64_t at) {
  I64(i, id);
  I64(r, rate_bps);
  I64(a, at);
  const char *params[] = {i, r, a};
  return db_exec_prepared(c, "ml_rate", 3, params, NULL);
}

db_status db_margin_band_change(db_conn *c, int64_t partner_id, int64_t id, int64_t sequence, int64_t params_version,
                                int band, int prev_band, int64_t hs_bps, int64_t as_of, const char *result,
                                const char *event, const char *payload, uint64_t *queued) {
  I64(i, id);
  I64(p, partner_id);
  I64(s, sequence);
  I64(v, params_version);
  I64(b, band);
  I64(pb, prev_band);
  I64(h, hs_bps);
  I64(at, as_of);
  const char *hp[] = {i, s, p, v, b, pb, h, at, result};
  db_status st = db_exec_prepared(c, "mh_insert", 9, hp, NULL);
  if (st != DB_OK) return st;
  const char *op[] = {p, i, event, payload};
  struct db_col col[] = {{"queued", DB_COL_UINT64, queued, 0, NULL}};
  return db_query_one_prepared(c, "mh_outbox", 4, op, col, 1);
}

struct hist_ctx {
  db_status (*fn)(const char *json, void *arg);
  void *arg;
};
static db_status hist_row(const db_row *row, void *arg) {
  struct hist_ctx *h = arg;
  const char *t = db_row_text(row, 0);
  return t ? h->fn(t, h->arg) : DB_ERROR;
}

db_status db_margin_history(db_conn *c, int64_t partner_id, int64_t id, int64_t before, int64_t limit,
                            db_status (*fn)(const char *json, void *arg), void *arg, uint64_t *n) {
  I64(p, partner_id);
  I64(i, id);
  I64(b, before);
  I64(l, limit);
  const char *params[] = {p, i, b, l};
  struct hist_ctx h = {fn, arg};
  return db_query_prepared(c, "mh_list", 4, params, hist_row, &h, n);
}

struct all_ctx {
  db_status (*fn)(const struct db_margin_stored *s, void *arg);
  void *arg;
};
static db_status all_row(const db_row *row, void *arg) {
  struct all_ctx *a = arg;
  struct db_margin_stored s = {0};
  struct db_col cols[] = {
      {"portfolio_id", DB_COL_INT64, &s.id, 0, NULL},       {"partner_id", DB_COL_INT64, &s.partner_id, 0, NULL},
      {"sequence", DB_COL_INT64, &s.sequence, 0, NULL},     {"band", DB_COL_INT64, &s.band, 0, NULL},
      {"call_since", DB_COL_INT64, &s.call_since, 0, NULL}, {"fingerprint", DB_COL_INT64, &s.fingerprint, 0, NULL},
      {"has_fp", DB_COL_BOOL, &s.has_fp, 0, NULL},          {"legs_rev", DB_COL_INT64, &s.legs_rev, 0, NULL}};
  db_status st = db_row_get(row, cols, 8);
  return st == DB_OK ? a->fn(&s, a->arg) : st;
}

db_status db_portfolios_all(db_conn *c, db_status (*fn)(const struct db_margin_stored *s, void *arg), void *arg) {
  struct all_ctx a = {fn, arg};
  return db_query_prepared(c, "pf_all", 0, NULL, all_row, &a, NULL);
}

struct legs_all_ctx {
  db_status (*fn)(int64_t id, const struct db_portfolio_leg *l, void *arg);
  void *arg;
};
static db_status legs_all_row(const db_row *row, void *arg) {
  struct legs_all_ctx *a = arg;
  int64_t id = 0;
  struct db_portfolio_leg l;
  memset(&l, 0, sizeof l);
  /* one lookup pass in SELECT order: the columns are found by position on every row */
  struct db_col cols[] = {
      {"portfolio_id", DB_COL_INT64, &id, 0, NULL},
      {"venue", DB_COL_TEXT, l.venue, sizeof l.venue, NULL},
      {"kind", DB_COL_TEXT, l.kind, sizeof l.kind, NULL},
      {"underlying", DB_COL_TEXT, l.underlying, sizeof l.underlying, NULL},
      {"quantity", DB_COL_INT64, &l.quantity, 0, NULL},
      {"entry_price", DB_COL_INT64, &l.entry_price, 0, NULL},
      {"mark_price", DB_COL_INT64, &l.mark_price, 0, NULL},
      {"funding", DB_COL_INT64, &l.funding, 0, NULL},
      {"chain_id", DB_COL_INT64, &l.chain_id, 0, NULL},
      {"address", DB_COL_TEXT, l.address, sizeof l.address, NULL},
      {"yield_kind", DB_COL_TEXT, l.yield_kind, sizeof l.yield_kind, NULL},
      {"yield_bps", DB_COL_INT64, &l.yield_bps, 0, NULL},
      {"yield_sd_bps", DB_COL_INT64, &l.yield_sd_bps, 0, NULL},
      {"as_of", DB_COL_INT64, &l.as_of, 0, NULL},
  };
  db_status st = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  return st == DB_OK ? a->fn(id, &l, a->arg) : st;
}

db_status db_portfolio_legs_all(db_conn *c, db_status (*fn)(int64_t id, const struct db_portfolio_leg *l, void *arg),
                                void *arg) {
  struct legs_all_ctx a = {fn, arg};
  return db_query_prepared(c, "pf_legs_all", 0, NULL, legs_all_row, &a, NULL);
}

db_status db_portfolio_legs_some(db_conn *c, size_t n, const int64_t *ids,
                                 db_status (*fn)(int64_t id, const struct db_portfolio_leg *l, void *arg), void *arg) {
  char *arr = malloc(3 + n * 21);
  if (!arr) return DB_ERROR;
  size_t at = 0;
  arr[at++] = '{';
  for (size_t i = 0; i < n; i++) {
    if (i) arr[at++] = ',';
    char tmp[24];
    util_i64_dec(ids[i], tmp);
    size_t len = strlen(tmp);
    memcpy(arr + at, tmp, len);
    at += len;
  }
  arr[at++] = '}';
  arr[at] = 0;
  const char *params[] = {arr};
  struct legs_all_ctx a = {fn, arg};
  db_status st = db_query_prepared(c, "pf_legs_some", 1, params, legs_all_row, &a, NULL);
  free(arr);
  return st;
}

db_status db_margin_latest_batch(db_conn *c, size_t n, const int64_t *id, const int64_t *sequence,
                                 const int64_t *hs_bps, const int64_t *call_since, const int *band,
                                 const int64_t *fingerprint, int64_t params_version, int64_t as_of, uint64_t *updated) {
  size_t cap = 4 + n * 22;
  char *arr[6];
  for (int k = 0; k < 6; k++)
    arr[k] = malloc(cap);
  db_status st = DB_ERROR;
  if (arr[0] && arr[1] && arr[2] && arr[3] && arr[4] && arr[5]) {
    for (int k = 0; k < 6; k++) {
      size_t at = 0;
      arr[k][at++] = '{';
      for (size_t i = 0; i < n; i++) {
        int64_t v = k == 0   ? id[i]
                    : k == 1 ? sequence[i]
                    : k == 2 ? hs_bps[i]
                    : k == 3 ? call_since[i]
                    : k == 4 ? band[i]
                             : fingerprint[i];
        if (i) arr[k][at++] = ',';
        char tmp[24];
        util_i64_dec(v, tmp);
        size_t len = strlen(tmp);
        memcpy(arr[k] + at, tmp, len);
        at += len;
      }
      arr[k][at++] = '}';
      arr[k][at] = 0;
    }
    I64(v, params_version);
    I64(a, as_of);
    const char *params[] = {arr[0], arr[1], arr[2], arr[3], arr[4], v, a, arr[5]};
    st = db_exec_prepared(c, "ml_batch", 8, params, updated);
  }
  for (int k = 0; k < 6; k++)
    free(arr[k]);
  return st;
}

db_status db_margin_changes_reset(db_conn *c) { return db_exec_prepared(c, "ml_queued_reset", 0, NULL, NULL); }

db_status db_margin_changes(db_conn *c, const char *changes_json, const char *event) {
  const char *params[] = {changes_json, event};
  return db_exec_prepared(c, "ml_changes", 2, params, NULL);
}

db_status db_margin_changes_queued(db_conn *c, uint64_t *queued) {
  struct db_col col[] = {{"queued", DB_COL_UINT64, queued, 0, NULL}};
  return db_query_one_prepared(c, "ml_queued", 0, NULL, col, 1);
}
