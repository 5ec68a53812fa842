/* SparkLend accounts: GET /v1/accounts/{chain}/{address} (one account accrued to the chain's
 * latest block: positions, totals, health factor, liquidation prices, warnings) and
 * GET /v1/accounts/{chain} (the liquidation watch list from the health factors stored at import,
 * keyset-paginated), plus the cache builder for the per-chain data the account math needs beside
 * the markets builder's reserves (eMode categories, kill switch, and the accounts themselves).
 *
 * Reserves, indexes and prices come from the markets builder's typed data (handlers/markets.h).
 * The accounts and positions of a chain with at most SPARKD_ACCOUNT_CACHE_MAX accounts are read
 * by the builder in the same transaction as the reserves, so a lookup or a quote takes no
 * database round trip and sees one block's state; a larger chain's account is one prepared query
 * per request. All math is risk/account.h. */
#include "handlers/accounts.h"

#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "handlers/jsonw.h"
#include "risk/reserve.h"
#include "risk/wadray.h"
#include "service/cache.h"
#include "service/config.h"
#include "service/log.h"
#include "service/request.h"

/* ---- statements ----------------------------------------------------------------------------- */

static const struct db_statement stmts[] = {
    {"accounts_emode",
     "SELECT chain_id, category_id, ltv, liquidation_threshold, liquidation_bonus, label FROM emode_categories"
     " ORDER BY chain_id, category_id"},
    {"accounts_chains",
     "SELECT c.chain_id, k.triggered FROM chains c LEFT JOIN kill_switch k ON k.chain_id = c.chain_id"
     " ORDER BY c.chain_id"},
    {"accounts_count",
     "SELECT count(*) FROM (SELECT 1 FROM accounts WHERE chain_id = $1::bigint LIMIT $2::bigint) s"},
    /* The state cache's copy of a chain's accounts (handler_accounts_build_cache). */
    {"accounts_store_reserves", "SELECT asset, reserve_id FROM reserves WHERE chain_id = $1::bigint"},
    {"accounts_store_accounts", "SELECT address, emode_category FROM accounts WHERE chain_id = $1::bigint"},
    {"accounts_store_positions",
     "SELECT account, asset, scaled_a_token_balance::text, scaled_variable_debt::text, collateral FROM positions"
     " WHERE chain_id = $1::bigint AND (scaled_a_token_balance > 0 OR scaled_variable_debt > 0)"},
    /* Driven by the chain's row: its block tells whether the database is at the cached market's
     * block (an import rewrites positions without always touching the account row). Only held
     * positions, as the state cache's copy. */
    {"accounts_get",
     "SELECT c.block_number, a.emode_category, p.asset, p.scaled_a_token_balance::text,"
     " p.scaled_variable_debt::text, p.collateral, c.block_timestamp FROM chains c"
     " LEFT JOIN accounts a ON a.chain_id = c.chain_id AND a.address = $2::text"
     " LEFT JOIN positions p ON p.chain_id = a.chain_id AND p.account = a.address"
     " AND (p.scaled_a_token_balance > 0 OR p.scaled_variable_debt > 0)"
     " WHERE c.chain_id = $1::bigint"},
    /* Keyset on (health_factor, address); accounts whose health factor could not be computed at
     * import (NULL) are not listed. */
    {"accounts_list",
     "SELECT a.address, a.emode_category, a.block_number, a.health_factor::text, a.total_collateral_base::text,"
     " a.total_debt_base::text FROM accounts a"
     " WHERE a.chain_id = $1::bigint AND a.health_factor IS NOT NULL"
     " AND ($2::numeric IS NULL OR a.health_factor <= $2::numeric)"
     " AND ($3::numeric IS NULL OR a.total_debt_base >= $3::numeric)"
     " AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM positions p WHERE p.chain_id = a.chain_id"
     "   AND p.account = a.address AND p.asset = $4::text AND p.collateral AND p.scaled_a_token_balance > 0))"
     " AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM positions p WHERE p.chain_id = a.chain_id"
     "   AND p.account = a.address AND p.asset = $5::text AND p.scaled_variable_debt > 0))"
     " AND ($6::numeric IS NULL OR (a.health_factor, a.address::text) > ($6::numeric, $7::text))"
     " ORDER BY a.health_factor, a.address::text LIMIT $8::int"},
};

static void register_statements(void) {
  if (db_statements_register(stmts, sizeof stmts / sizeof stmts[0]) != 0)
    svc_log(SVC_LOG_ERROR, "accounts: statements could not be registered");
}
static pthread_once_t stmts_once = PTHREAD_ONCE_INIT;

/* ---- cache builder -------------------------------------------------------------------------- */

static bool dec(const char *t, u256 *out) { return t && u256_from_dec(out, t, strlen(t)) == RISK_OK; }

struct build_ctx {
  struct acc_chain *chains;
  size_t n, cap;
};

static struct acc_chain *chain_for(struct build_ctx *b, int64_t id) {
  for (size_t i = 0; i < b->n; i++)
    if (b->chains[i].chain_id == id) return &b->chains[i];
  return NULL;
}

static db_status chain_row(const db_row *row, void *arg) {
  struct build_ctx *b = arg;
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 4;
    struct acc_chain *p = realloc(b->chains, cap * sizeof *p);
    if (!p) return DB_ERROR;
    b->chains = p;
    b->cap = cap;
  }
  struct acc_chain *c = &b->chains[b->n++];
  memset(c, 0, sizeof *c);
  c->chain_id = strtoll(db_row_text(row, 0), NULL, 10);
  const char *t = db_row_text(row, 1);
  c->kill_switch_known = t != NULL;
  c->kill_switch_triggered = t && t[0] == 't';
  return DB_OK;
}

static db_status emode_row(const db_row *row, void *arg) {
  struct build_ctx *b = arg;
  struct acc_chain *c = chain_for(b, strtoll(db_row_text(row, 0), NULL, 10));
  long id = strtol(db_row_text(row, 1), NULL, 10);
  if (!c || id <= 0 || id >= RISK_MAX_EMODE) return DB_OK;
  c->emode_set[id] = true;
  c->emode[id].ltv = (uint32_t)strtoul(db_row_text(row, 2), NULL, 10);
  c->emode[id].liquidation_threshold = (uint32_t)strtoul(db_row_text(row, 3), NULL, 10);
  c->emode[id].liquidation_bonus = (uint32_t)strtoul(db_row_text(row, 4), NULL, 10);
  snprintf(c->emode_label[id], sizeof c->emode_label[id], "%s", db_row_text(row, 5));
  return DB_OK;
}

static void chain_free(void *p) {
  struct acc_chain *c = p;
  if (!c) return;
  free(c->accounts);
  free(c->positions);
  free(c);
}

static bool hex20(const char *s, uint8_t out[20]) {
  if (!s || strlen(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return false;
  for (int i = 0; i < 20; i++) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char ch = s[2 + 2 * i + k];
      int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                                  : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
  return true;
}

/* Loading a chain's accounts: the accounts, sorted by address; then the held positions, each
 * placed at its account (bsearch) with its reserve id (the chain's reserves are few), grouped per
 * account in reserve order. Two plain scans: no join or sort in PostgreSQL. */
struct store_ctx {
  struct acc_chain *c;
  size_t cap_acc;
  struct {
    uint8_t addr[20];
    int32_t id;
  } res[RISK_MAX_RESERVES];
  size_t n_res;
  struct tmp_pos {
    uint32_t acct;
    struct acc_pos_rec p;
  } *tmp;
  size_t n_tmp, cap_tmp;
  const char *unfit; /* why the chain's rows cannot be held (then the chain is left to the database) */
};

static int cmp_rec(const void *a, const void *b) { return memcmp(a, b, 20); }

static db_status store_reserve_row(const db_row *row, void *arg) {
  struct store_ctx *x = arg;
  if (x->unfit) return DB_OK;
  if (x->n_res == RISK_MAX_RESERVES) {
    x->unfit = "more reserves than the engine takes";
    return DB_OK;
  }
  if (!hex20(db_row_text(row, 0), x->res[x->n_res].addr)) {
    x->unfit = "a reserve address that is not an address";
    return DB_OK;
  }
  x->res[x->n_res++].id = (int32_t)strtol(db_row_text(row, 1), NULL, 10);
  return DB_OK;
}

static db_status store_account_row(const db_row *row, void *arg) {
  struct store_ctx *x = arg;
  struct acc_chain *c = x->c;
  if (x->unfit) return DB_OK;
  if (c->n_accounts == x->cap_acc) {
    size_t cap = x->cap_acc ? 2 * x->cap_acc : 1024;
    struct acc_rec *p = realloc(c->accounts, cap * sizeof *p);
    if (!p) return DB_ERROR;
    c->accounts = p;
    x->cap_acc = cap;
  }
  struct acc_rec *r = &c->accounts[c->n_accounts];
  memset(r, 0, sizeof *r);
  if (!hex20(db_row_text(row, 0), r->addr)) {
    x->unfit = "an account address that is not an address";
    return DB_OK;
  }
  r->emode = (uint8_t)strtoul(db_row_text(row, 1), NULL, 10);
  c->n_accounts++;
  return DB_OK;
}

static db_status store_position_row(const db_row *row, void *arg) {
  struct store_ctx *x = arg;
  struct acc_chain *c = x->c;
  if (x->unfit) return DB_OK;
  uint8_t addr[20], asset[20];
  if (!hex20(db_row_text(row, 0), addr) || !hex20(db_row_text(row, 1), asset)) {
    x->unfit = "a position address that is not an address";
    return DB_OK;
  }
  const struct acc_rec *r = c->n_accounts ? bsearch(addr, c->accounts, c->n_accounts, sizeof *r, cmp_rec) : NULL;
  if (!r) return DB_OK; /* a position without its account row: no lookup finds it (as in SQL) */
  if (x->n_tmp == x->cap_tmp) {
    size_t cap = x->cap_tmp ? 2 * x->cap_tmp : 4096;
    if (cap > UINT32_MAX) return DB_ERROR;
    struct tmp_pos *p = realloc(x->tmp, cap * sizeof *p);
    if (!p) return DB_ERROR;
    x->tmp = p;
    x->cap_tmp = cap;
  }
  struct tmp_pos *t = &x->tmp[x->n_tmp];
  t->acct = (uint32_t)(r - c->accounts);
  t->p.reserve = -1;
  for (size_t i = 0; i < x->n_res; i++)
    if (memcmp(x->res[i].addr, asset, 20) == 0) {
      t->p.reserve = x->res[i].id;
      break;
    }
  const char *col = db_row_text(row, 4);
  t->p.collateral = col && col[0] == 't';
  if (!dec(db_row_text(row, 2), &t->p.scaled_a) || !dec(db_row_text(row, 3), &t->p.scaled_debt)) {
    x->unfit = "a balance that is not a 256-bit integer";
    return DB_OK;
  }
  x->n_tmp++;
  return DB_OK;
}

/* Places the collected positions at their accounts, in reserve order (unlisted ones last). */
static db_status store_group(struct store_ctx *x) {
  struct acc_chain *c = x->c;
  if (x->n_tmp == 0) return DB_OK;
  c->positions = malloc(x->n_tmp * sizeof *c->positions);
  if (!c->positions) return DB_ERROR;
  for (size_t i = 0; i < x->n_tmp; i++)
    if (c->accounts[x->tmp[i].acct].n_pos++ == UINT16_MAX) { /* (PK: one row per asset) */
      x->unfit = "an account with more than 65535 positions";
      return DB_OK;
    }
  uint32_t next = 0;
  for (size_t i = 0; i < c->n_accounts; i++) {
    struct acc_rec *r = &c->accounts[i];
    r->first = next;
    next += r->n_pos;
    r->too_many = r->n_pos > RISK_ACCOUNT_MAX_POSITIONS;
    r->n_pos = 0; /* counts again while placing */
  }
  for (size_t i = 0; i < x->n_tmp; i++) {
    struct acc_rec *r = &c->accounts[x->tmp[i].acct];
    struct acc_pos_rec *slot = &c->positions[r->first], p = x->tmp[i].p;
    uint32_t k = r->n_pos++;
    uint32_t key = (uint32_t)p.reserve; /* -1 sorts last */
    while (k > 0 && (uint32_t)slot[k - 1].reserve > key) {
      slot[k] = slot[k - 1];
      k--;
    }
    slot[k] = p;
  }
  c->n_positions = x->n_tmp;
  return DB_OK;
}

static db_status count_row(const db_row *row, void *arg) {
  *(size_t *)arg = (size_t)strtoull(db_row_text(row, 0), NULL, 10);
  return DB_OK;
}

/* Reads chain c's accounts when there are at most max of them; otherwise, or when its rows are
 * not what the store can hold (logged), leaves them to the database. Fails only on a database
 * error, which fails the whole build. */
static db_status load_store(db_conn *conn, struct acc_chain *c, size_t max) {
  if (max == 0) return DB_OK;
  char chain[24], limit[24];
  snprintf(chain, sizeof chain, "%lld", (long long)c->chain_id);
  snprintf(limit, sizeof limit, "%zu", max + 1);
  const char *cparams[] = {chain, limit};
  size_t n = 0;
  db_status s = db_query_prepared(conn, "accounts_count", 2, cparams, count_row, &n, NULL);
  if (s != DB_OK) return s;
  if (n > max) {
    svc_log(SVC_LOG_INFO, "accounts: chain %lld has more than SPARKD_ACCOUNT_CACHE_MAX (%zu) accounts; lookups read "
                          "the database",
            (long long)c->chain_id, max);
    return DB_OK;
  }
  const char *params[] = {chain};
  struct store_ctx *x = calloc(1, sizeof *x);
  if (!x) return DB_ERROR;
  x->c = c;
  s = db_query_prepared(conn, "accounts_store_reserves", 1, params, store_reserve_row, x, NULL);
  if (s == DB_OK && !x->unfit)
    s = db_query_prepared(conn, "accounts_store_accounts", 1, params, store_account_row, x, NULL);
  if (s == DB_OK && !x->unfit) {
    if (c->n_accounts) qsort(c->accounts, c->n_accounts, sizeof *c->accounts, cmp_rec);
    s = db_query_prepared(conn, "accounts_store_positions", 1, params, store_position_row, x, NULL);
  }
  if (s == DB_OK && !x->unfit) s = store_group(x);
  if (s == DB_OK && !x->unfit) c->accounts_cached = true;
  if (!c->accounts_cached) {
    if (s == DB_OK)
      svc_log(SVC_LOG_WARN, "accounts: chain %lld not held in memory (%s); lookups read the database",
              (long long)c->chain_id, x->unfit);
    free(c->accounts);
    free(c->positions);
    c->accounts = NULL;
    c->positions = NULL;
    c->n_accounts = c->n_positions = 0;
  }
  free(x->tmp);
  free(x);
  return s;
}

db_status handler_accounts_build_cache(db_conn *conn, struct svc_cache_builder *b) {
  pthread_once(&stmts_once, register_statements);
  const struct svc_config *cfg = svc_cache_builder_config(b);
  size_t max = cfg ? cfg->account_cache_max : 0;
  struct build_ctx x = {0};
  db_status s = db_query_prepared(conn, "accounts_chains", 0, NULL, chain_row, &x, NULL);
  if (s == DB_OK) s = db_query_prepared(conn, "accounts_emode", 0, NULL, emode_row, &x, NULL);
  for (size_t i = 0; i < x.n && s == DB_OK; i++) {
    struct acc_chain *c = malloc(sizeof *c);
    if (!c) {
      s = DB_ERROR;
      break;
    }
    *c = x.chains[i];
    memset(&x.chains[i], 0, sizeof x.chains[i]);
    s = load_store(conn, c, max);
    if (s != DB_OK) {
      chain_free(c);
      break;
    }
    char key[64];
    snprintf(key, sizeof key, "accounts:%lld", (long long)c->chain_id);
    if (!svc_cache_put_data(b, key, c, chain_free)) s = DB_ERROR;
  }
  free(x.chains);
  return s;
}

/* Writes the decimal form of v (as "%lld" does) into out; returns out. On every lookup: cheaper
 * than snprintf. */
static char *int_dec(int64_t v, char out[24]) {
  char tmp[24], *p = jw_u64_digits(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, tmp + sizeof tmp);
  if (v < 0) *--p = '-';
  size_t n = (size_t)(tmp + sizeof tmp - p);
  memcpy(out, p, n);
  out[n] = 0;
  return out;
}

const struct acc_chain *handler_accounts_chain(const struct svc_cache *c, int64_t chain_id) {
  char key[64] = "accounts:";
  int_dec(chain_id, key + 9);
  const struct svc_cache_item *it = svc_cache_get(c, key);
  return it ? it->data : NULL;
}

/* ---- shared helpers ------------------------------------------------------------------------- */

bool handler_accounts_parse_address(const char *s, char lower[43]) {
  if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || strlen(s) != 42) return false;
  lower[0] = '0';
  lower[1] = 'x';
  for (int i = 0; i < 40; i++) {
    char ch = (char)tolower((unsigned char)s[2 + i]);
    if (!isxdigit((unsigned char)ch)) return false;
    lower[2 + i] = ch;
  }
  lower[42] = 0;
  return true;
}

risk_err handler_accounts_view(struct acc_view *v, const struct mkt_chain *mc, const struct acc_chain *x, uint64_t t,
                               const u256 *overrides) {
  memset(v, 0, sizeof *v);
  v->mc = mc;
  v->x = x;
  v->t = t;
  for (size_t i = 0; i < mc->n; i++) {
    const struct mkt_reserve *r = &mc->r[i];
    if (r->reserve_id < 0 || r->reserve_id >= RISK_MAX_RESERVES) return RISK_INVALID;
    uint16_t id = (uint16_t)r->reserve_id;
    v->res[id] = r;
    u256 price = r->has_price ? r->price : U256_ZERO;
    if (overrides && !u256_is_zero(overrides[id])) price = overrides[id];
    v->priced[id] = !u256_is_zero(price);
    risk_err e = risk_acct_reserve_from_state(&v->m.reserves[id], &r->st, price, t);
    if (e) return e;
    if ((uint32_t)id + 1 > v->m.n_reserves) v->m.n_reserves = (uint32_t)id + 1;
  }
  if (x) memcpy(v->m.emode, x->emode, sizeof v->m.emode);
  return risk_market_prepare(&v->m);
}

/* One view per request thread: building it runs updateState for every reserve, which is most of
 * an account lookup's engine time; the state cache is immutable per generation, so the view is
 * reused until the generation changes. */
struct view_slot {
  bool valid;
  uint64_t generation;
  int64_t chain_id;
  struct acc_view v;
};
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static void slot_key_init(void) { pthread_key_create(&slot_key, free); }

const struct acc_view *handler_accounts_view_at_block(const struct svc_cache *c, const struct mkt_chain *mc,
                                                      const struct acc_chain *x, risk_err *err) {
  pthread_once(&slot_once, slot_key_init);
  struct view_slot *s = pthread_getspecific(slot_key);
  if (!s) {
    if (!(s = calloc(1, sizeof *s)) || pthread_setspecific(slot_key, s) != 0) {
      free(s);
      *err = RISK_INVALID;
      return NULL;
    }
  }
  uint64_t gen = svc_cache_generation(c);
  if (!s->valid || s->generation != gen || s->chain_id != mc->chain_id || s->v.mc != mc) {
    s->valid = false;
    if ((*err = handler_accounts_view(&s->v, mc, x, (uint64_t)mc->block_timestamp, NULL))) return NULL;
    s->valid = true;
    s->generation = gen;
    s->chain_id = mc->chain_id;
  }
  return &s->v;
}

int handler_accounts_reserve_id(const struct acc_view *v, const char *asset) {
  const struct mkt_reserve *r = handler_markets_find_reserve(v->mc, asset);
  return r ? r->reserve_id : -1;
}

struct load_ctx {
  const struct acc_view *v;
  struct risk_account *a;
  bool found;
  bool bad;
  bool chain_seen;
  int64_t block, block_timestamp; /* the chain's block in the database */
};

static db_status load_row(const db_row *row, void *arg) {
  struct load_ctx *x = arg;
  x->chain_seen = true;
  x->block = strtoll(db_row_text(row, 0), NULL, 10);
  x->block_timestamp = strtoll(db_row_text(row, 6), NULL, 10);
  const char *emode = db_row_text(row, 1);
  if (!emode) return DB_OK; /* no such account */
  x->found = true;
  x->a->emode_category = (uint32_t)strtoul(emode, NULL, 10);
  const char *asset = db_row_text(row, 2);
  if (!asset) return DB_OK; /* an account row without (held) positions */
  int id = -1;
  for (uint32_t i = 0; i < x->v->m.n_reserves && id < 0; i++)
    if (x->v->res[i] && strcmp(x->v->res[i]->address, asset) == 0) id = (int)i;
  if (id < 0 || x->a->n_positions >= RISK_ACCOUNT_MAX_POSITIONS) {
    x->bad = true;
    return DB_OK;
  }
  struct risk_position *p = &x->a->pos[x->a->n_positions];
  memset(p, 0, sizeof *p);
  p->reserve = (uint16_t)id;
  const char *col = db_row_text(row, 5);
  p->collateral = col && col[0] == 't';
  if (!dec(db_row_text(row, 3), &p->scaled_a) || !dec(db_row_text(row, 4), &p->scaled_debt)) {
    x->bad = true;
    return DB_OK;
  }
  p->borrowing = !u256_is_zero(p->scaled_debt);
  if (u256_is_zero(p->scaled_a) && !p->borrowing) return DB_OK; /* nothing held */
  x->a->n_positions++;
  return DB_OK;
}

static int cmp_pos(const void *a, const void *b) {
  const struct risk_position *x = a, *y = b;
  return (int)x->reserve - (int)y->reserve;
}

/* Reads account `lower` in one prepared query into *a (*found false and empty when unknown), and
 * whether the database is at v's block (*same_block; true when the chain has no row). Returns
 * DB_ERROR (logged) for a position v's market does not list, but only when the blocks agree: at
 * another block that is expected (a reserve listed by an import the cache has not loaded yet). */
static db_status load(db_conn *conn, const struct acc_view *v, const char *lower, struct risk_account *a, bool *found,
                      bool *same_block, int64_t *block) {
  pthread_once(&stmts_once, register_statements);
  memset(a, 0, offsetof(struct risk_account, pos));
  char chain[24];
  int_dec(v->mc->chain_id, chain);
  const char *params[] = {chain, lower};
  struct load_ctx x = {.v = v, .a = a};
  db_status s = db_query_prepared(conn, "accounts_get", 2, params, load_row, &x, NULL);
  if (s != DB_OK) return s;
  /* number and timestamp: a re-import of the same height with another block (allow_older after a
   * reorg) is another block too */
  *same_block = !x.chain_seen || (x.block == v->mc->block_number && x.block_timestamp == v->mc->block_timestamp);
  *block = x.block;
  if (!*same_block) return DB_OK;
  if (x.bad) {
    svc_log(SVC_LOG_ERROR, "accounts: account %s on chain %s has a position the market does not list", lower, chain);
    return DB_ERROR;
  }
  qsort(a->pos, a->n_positions, sizeof a->pos[0], cmp_pos);
  *found = x.found;
  return DB_OK;
}

db_status handler_accounts_find(const struct acc_chain *x, const struct acc_view *v, const char *lower,
                                struct risk_account *a, bool *found) {
  memset(a, 0, offsetof(struct risk_account, pos));
  *found = false;
  uint8_t key[20];
  if (!hex20(lower, key)) return DB_ERROR;
  const struct acc_rec *r = x->n_accounts ? bsearch(key, x->accounts, x->n_accounts, sizeof *r, cmp_rec) : NULL;
  if (!r) return DB_OK;
  *found = true;
  a->emode_category = r->emode;
  if (r->too_many) {
    svc_log(SVC_LOG_ERROR, "accounts: account %s on chain %lld has more than %d positions", lower,
            (long long)x->chain_id, RISK_ACCOUNT_MAX_POSITIONS);
    return DB_ERROR;
  }
  for (uint32_t i = 0; i < r->n_pos; i++) {
    const struct acc_pos_rec *q = &x->positions[r->first + i];
    if (q->reserve < 0 || (uint32_t)q->reserve >= v->m.n_reserves || !v->res[q->reserve]) {
      svc_log(SVC_LOG_ERROR, "accounts: account %s on chain %lld has a position the market does not list", lower,
              (long long)x->chain_id);
      return DB_ERROR;
    }
    struct risk_position *p = &a->pos[a->n_positions++];
    memset(p, 0, sizeof *p);
    p->reserve = (uint16_t)q->reserve;
    p->collateral = q->collateral;
    p->scaled_a = q->scaled_a;
    p->scaled_debt = q->scaled_debt;
    p->borrowing = !u256_is_zero(q->scaled_debt);
  }
  return DB_OK;
}

bool handler_accounts_fetch(struct svc_request *req, const struct acc_chain *x, const struct acc_view *v,
                            const char *lower, struct risk_account *a, bool *found, bool *replied) {
  *replied = false;
  db_status s;
  if (x && x->accounts_cached) {
    s = handler_accounts_find(x, v, lower, a, found);
  } else {
    db_conn *conn = svc_req_db(req);
    if (!conn) {
      *replied = true;
      return false;
    }
    int64_t block = 0;
    bool same_block = true;
    s = load(conn, v, lower, a, found, &same_block, &block);
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

json_t *handler_accounts_hf_json(u256 hf) {
  if (u256_eq(hf, U256_MAX)) return json_null();
  char f[U256_DEC_MAX + 2];
  u256_to_fixed(hf, 18, f);
  return json_string(f);
}

static void put_u256(json_t *o, const char *name, u256 v) {
  char d[U256_DEC_MAX];
  u256_to_dec(v, d);
  json_object_set_new(o, name, json_string(d));
}

void handler_accounts_put_base(json_t *obj, const char *name, u256 v) {
  char f[U256_DEC_MAX + 2], key[96];
  put_u256(obj, name, v);
  u256_to_fixed(v, 8, f);
  size_t n = strlen(name);
  if (n > 5 && strcmp(name + n - 5, "_base") == 0) n -= 5;
  snprintf(key, sizeof key, "%.*s_usd", (int)n, name);
  json_object_set_new(obj, key, json_string(f));
}

/* GenericLogic's base-currency value of an amount: fl(amount * price / unit). */
static u256 base_value(const struct risk_acct_reserve *r, u256 amount) {
  u256 out = U256_ZERO;
  if (u256_muldiv(&out, amount, r->price, r->unit) != RISK_OK) return U256_MAX;
  return out;
}

/* name (integer string) and name with _base replaced by _usd (8-decimal human). */
static void write_base(struct jw *w, const char *name, u256 v) {
  char key[96];
  size_t n = strlen(name);
  if (n > 5 && strcmp(name + n - 5, "_base") == 0) n -= 5;
  if (n > sizeof key - 5) n = sizeof key - 5;
  memcpy(key, name, n);
  memcpy(key + n, "_usd", 5);
  jw_ku256_kfixed(w, name, key, v, 8);
}

/* name: integer string; name_human: the same with `decimals` decimals. */
static void write_amount(struct jw *w, const char *name, u256 v, unsigned decimals) {
  char key[96];
  size_t n = strlen(name);
  if (n > sizeof key - 7) n = sizeof key - 7;
  memcpy(key, name, n);
  memcpy(key + n, "_human", 7);
  jw_ku256_kfixed(w, name, key, v, decimals);
}

void handler_accounts_write_base(struct jw *w, const char *name, u256 v) { write_base(w, name, v); }

void handler_accounts_write_as_of_fields(struct jw *w, const struct mkt_chain *mc) {
  char t[32];
  jw_kint(w, "chain_id", mc->chain_id);
  jw_kint(w, "block_number", mc->block_number);
  jw_kint(w, "block_timestamp", mc->block_timestamp);
  jw_kstr(w, "block_time", handler_markets_time(mc->block_timestamp, t));
}

/* Writes position p of a at v as one object into w; returns false on an engine error. */
static bool write_position(struct jw *w, const struct acc_view *v, const struct risk_account *a,
                           const struct risk_position *p, bool with_liq_price) {
  const struct risk_acct_reserve *r = &v->m.reserves[p->reserve];
  const struct mkt_reserve *mr = v->res[p->reserve];
  u256 supplied, borrowed;
  if (risk_reserve_from_scaled(&supplied, p->scaled_a, r->liquidity_index) != RISK_OK ||
      risk_reserve_from_scaled(&borrowed, p->scaled_debt, r->variable_borrow_index) != RISK_OK)
    return false;
  jw_obj(w);
  jw_kstr(w, "asset", mr->address_cs);
  jw_kstr(w, "symbol", mr->symbol);
  jw_kint(w, "decimals", mr->decimals);
  jw_kint(w, "reserve_id", p->reserve);
  jw_ku256(w, "scaled_supplied", p->scaled_a);
  write_amount(w, "supplied", supplied, mr->decimals);
  jw_ku256(w, "scaled_borrowed", p->scaled_debt);
  write_amount(w, "borrowed", borrowed, mr->decimals);
  jw_kbool(w, "collateral", p->collateral);
  if (v->priced[p->reserve]) {
    jw_ku256_kfixed(w, "price", "price_usd", r->price, 8);
    write_base(w, "supplied_base", base_value(r, supplied));
    write_base(w, "borrowed_base", base_value(r, borrowed));
  } else {
    jw_knull(w, "price");
    jw_knull(w, "price_usd");
    jw_knull(w, "supplied_base");
    jw_knull(w, "supplied_usd");
    jw_knull(w, "borrowed_base");
    jw_knull(w, "borrowed_usd");
  }
  if (with_liq_price) {
    bool exists = false;
    u256 lp = U256_ZERO;
    if (p->collateral && risk_liquidation_price(&v->m, a, p->reserve, &exists, &lp) == RISK_OK && exists) {
      jw_ku256_kfixed(w, "liquidation_price", "liquidation_price_usd", lp, 8);
    } else {
      jw_knull(w, "liquidation_price");
      jw_knull(w, "liquidation_price_usd");
    }
  }
  jw_obj_end(w);
  return true;
}

bool handler_accounts_write_positions(struct jw *w, const struct acc_view *v, const struct risk_account *a,
                                      bool with_liq_price) {
  jw_arr(w);
  for (uint32_t i = 0; i < a->n_positions; i++)
    if (!write_position(w, v, a, &a->pos[i], with_liq_price)) return false;
  jw_arr_end(w);
  return true;
}

/* Returns true when entry e was written from the same inputs as position p at v: the object
 * depends on nothing else (the reserve's fixed data aside). */
static bool memo_matches(const struct acc_pos_memo_entry *e, const struct acc_view *v, const struct risk_position *p) {
  const struct risk_acct_reserve *r = &v->m.reserves[p->reserve];
  return e->reserve == p->reserve && e->collateral == p->collateral && e->priced == v->priced[p->reserve] &&
         u256_eq(e->scaled_a, p->scaled_a) && u256_eq(e->scaled_debt, p->scaled_debt) &&
         u256_eq(e->liquidity_index, r->liquidity_index) &&
         u256_eq(e->variable_borrow_index, r->variable_borrow_index) && u256_eq(e->price, r->price);
}

bool handler_accounts_write_positions_memo(struct jw *w, const struct acc_view *v, const struct risk_account *a,
                                           struct acc_pos_memo *m) {
  jw_arr(w);
  for (uint32_t i = 0; i < a->n_positions; i++) {
    const struct risk_position *p = &a->pos[i];
    struct acc_pos_memo_entry *e = NULL;
    for (uint32_t k = 0; k < m->n && !e; k++)
      if (m->e[k].reserve == p->reserve) e = &m->e[k];
    if (e && memo_matches(e, v, p) && !m->text.oom) {
      jw_sep(w);
      jw_raw(w, m->text.buf + e->off, e->len);
      continue;
    }
    size_t start = w->len;
    if (!write_position(w, v, a, p, false)) return false;
    if (w->oom) return true; /* the caller sees w.oom */
    if (w->buf[start] == ',') start++;
    if (!e && m->n < ACC_POS_MEMO_MAX) e = &m->e[m->n++];
    if (!e) continue;
    const struct risk_acct_reserve *r = &v->m.reserves[p->reserve];
    e->reserve = p->reserve;
    e->collateral = p->collateral;
    e->priced = v->priced[p->reserve];
    e->scaled_a = p->scaled_a;
    e->scaled_debt = p->scaled_debt;
    e->liquidity_index = r->liquidity_index;
    e->variable_borrow_index = r->variable_borrow_index;
    e->price = r->price;
    e->off = m->text.len;
    e->len = w->len - start;
    jw_raw(&m->text, w->buf + start, e->len);
  }
  jw_arr_end(w);
  return true;
}

void handler_accounts_write_totals(struct jw *w, const struct acc_view *v, const struct risk_account *a,
                                   const struct risk_account_data *d) {
  write_base(w, "total_collateral_base", d->total_collateral_base);
  write_base(w, "total_debt_base", d->total_debt_base);
  write_base(w, "available_borrows_base", d->available_borrows_base);
  jw_kint(w, "current_ltv_bps", d->avg_ltv);
  jw_kint(w, "current_liquidation_threshold_bps", d->avg_liquidation_threshold);
  if (u256_eq(d->health_factor, U256_MAX)) {
    jw_knull(w, "health_factor");
    jw_knull(w, "health_factor_wad");
  } else {
    jw_kfixed_ku256(w, "health_factor", "health_factor_wad", d->health_factor, 18);
  }
  jw_kint(w, "emode_category", a->emode_category);
  if (a->emode_category && v->x && a->emode_category < RISK_MAX_EMODE && v->x->emode_set[a->emode_category]) {
    const struct risk_emode_category *e = &v->x->emode[a->emode_category];
    jw_key(w, "emode");
    jw_obj(w);
    jw_kint(w, "id", a->emode_category);
    jw_kstr(w, "label", v->x->emode_label[a->emode_category]);
    jw_kint(w, "ltv_bps", e->ltv);
    jw_kint(w, "liquidation_threshold_bps", e->liquidation_threshold);
    jw_kint(w, "liquidation_bonus_bps", e->liquidation_bonus);
    jw_obj_end(w);
  } else {
    jw_knull(w, "emode");
  }
  jw_kbool(w, "isolated", d->isolated);
  if (d->isolated) {
    const struct risk_acct_reserve *r = &v->m.reserves[d->isolation_collateral];
    const struct mkt_reserve *mr = v->res[d->isolation_collateral];
    jw_key(w, "isolation");
    jw_obj(w);
    jw_kstr(w, "asset", mr->address_cs);
    jw_kstr(w, "symbol", mr->symbol);
    /* Debt ceiling and isolation-mode debt are USD with 2 decimals. */
    u256 ceiling = u256_from_u64(r->debt_ceiling);
    jw_ku256_kfixed(w, "debt_ceiling", "debt_ceiling_usd", ceiling, 2);
    jw_ku256_kfixed(w, "isolation_mode_total_debt", "isolation_mode_total_debt_usd", r->isolation_mode_total_debt, 2);
    u256 used = U256_ZERO;
    if (r->debt_ceiling) u256_muldiv(&used, r->isolation_mode_total_debt, u256_from_u64(10000), ceiling);
    uint64_t ub = 0;
    u256_to_u64(used, &ub);
    jw_kint(w, "debt_ceiling_used_bps", (int64_t)ub);
    jw_obj_end(w);
  } else {
    jw_knull(w, "isolation");
  }
}

/* ---- GET /v1/accounts/{chain}/{address} ----------------------------------------------------- */

static void warn(struct jw *w, const char *code, const char *severity, const char *asset, const char *message) {
  jw_obj(w);
  jw_kstr(w, "code", code);
  jw_kstr(w, "severity", severity);
  jw_kstr(w, "message", message);
  if (asset)
    jw_kstr(w, "asset", asset);
  else
    jw_knull(w, "asset");
  jw_obj_end(w);
}

static void warnings(struct jw *w, const struct acc_view *v, const struct risk_account *a,
                     const struct risk_account_data *d) {
  jw_arr(w);
  if (!u256_eq(d->health_factor, U256_MAX)) {
    u256 one1 = u256_from_u64(1100000000000000000ull);
    if (u256_lt(d->health_factor, RISK_WAD))
      warn(w, "liquidatable", "critical", NULL, "health factor below 1: the account can be liquidated");
    else if (u256_lt(d->health_factor, one1))
      warn(w, "health_factor_low", "warning", NULL, "health factor below 1.1");
  }
  if (v->x && v->x->kill_switch_triggered && d->n_borrowing_bits)
    warn(w, "kill_switch_triggered", "warning", NULL, "the kill switch is triggered: borrowing is disabled");
  for (uint32_t i = 0; i < a->n_positions; i++) {
    const struct risk_position *p = &a->pos[i];
    const struct risk_acct_reserve *r = &v->m.reserves[p->reserve];
    const char *asset = v->res[p->reserve]->address_cs;
    if (!v->priced[p->reserve])
      warn(w, "price_missing", "critical", asset, "no oracle price: values of this reserve are not counted");
    if (p->collateral && r->frozen) warn(w, "collateral_frozen", "warning", asset, "collateral reserve is frozen");
    if (r->paused) warn(w, "reserve_paused", "critical", asset, "reserve is paused: no action on it goes through");
    if (!r->active) warn(w, "reserve_inactive", "critical", asset, "reserve is not active");
    if (p->collateral && !u256_is_zero(p->scaled_a) && r->ltv == 0 && d->n_borrowing_bits)
      warn(w, "zero_ltv_collateral", "warning", asset,
           "collateral with ltv 0: withdrawals of other collateral and new borrows are blocked");
  }
  if (d->isolated) {
    const struct risk_acct_reserve *r = &v->m.reserves[d->isolation_collateral];
    u256 lim = U256_ZERO;
    if (u256_muldiv(&lim, u256_from_u64(r->debt_ceiling), u256_from_u64(9500), u256_from_u64(10000)) == RISK_OK &&
        u256_ge(r->isolation_mode_total_debt, lim))
      warn(w, "debt_ceiling_nearly_used", "info", v->res[d->isolation_collateral]->address_cs,
           "isolation debt ceiling at least 95% used");
  }
  jw_arr_end(w);
}

/* Returns the cache (a reference the caller releases) and the chain's market data, or NULL after
 * replying (503 before the first build, 400 for a malformed chain, 404 for an unknown one). */
static struct svc_cache *chain_or_reply(struct svc_request *req, const struct mkt_chain **mc,
                                        const struct acc_chain **x) {
  char buf[32];
  const char *chain = svc_req_param(req, "chain", buf, sizeof buf);
  int64_t id = 0;
  if (!chain || !handler_markets_parse_chain(chain, &id)) {
    svc_reply_problem_fields(req, SVC_ERR_invalid_parameter,
                             json_pack("[o]", svc_field_error("chain", "invalid_chain_id", "must be a positive integer")),
                             "chain must be a chain id");
    return NULL;
  }
  struct svc_cache *c = svc_cache_acquire(req->srv);
  if (!c) {
    svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
    return NULL;
  }
  *mc = handler_markets_chain(c, id);
  *x = handler_accounts_chain(c, id);
  if (!*mc) {
    svc_cache_release(c);
    svc_reply_problem(req, SVC_ERR_chain_not_found, "no chain %lld has been imported", (long long)id);
    return NULL;
  }
  return c;
}

enum svc_handler_result handler_accounts_get(struct svc_request *req) {
  char abuf[64], lower[43];
  const char *addr = svc_req_param(req, "address", abuf, sizeof abuf);
  if (!handler_accounts_parse_address(addr, lower))
    return svc_reply_problem_fields(
        req, SVC_ERR_invalid_parameter,
        json_pack("[o]", svc_field_error("address", "invalid_address", "must be 0x followed by 40 hex digits")),
        "address must be 0x and 40 hex digits");
  const struct mkt_chain *mc;
  const struct acc_chain *x;
  struct svc_cache *c = chain_or_reply(req, &mc, &x);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res = SVC_HANDLER_FATAL;
  struct risk_account *a = malloc(sizeof *a);
  if (!a) goto out;
  risk_err e = RISK_OK;
  const struct acc_view *v = handler_accounts_view_at_block(c, mc, x, &e);
  if (!v) {
    svc_log(SVC_LOG_ERROR, "accounts: market of chain %lld: %s", (long long)mc->chain_id, risk_err_name(e));
    goto out;
  }
  bool found = false, replied = false;
  if (!handler_accounts_fetch(req, x, v, lower, a, &found, &replied)) {
    if (replied) res = SVC_HANDLED;
    goto out;
  }
  struct risk_account_data d;
  if ((e = risk_account_evaluate(&v->m, a, &d))) {
    svc_log(SVC_LOG_ERROR, "accounts: evaluating %s: %s", lower, risk_err_name(e));
    goto out;
  }
  char cs[43];
  handler_address_checksum(lower, cs);
  struct jw w = {0};
  jw_obj(&w);
  jw_kint(&w, "chain_id", mc->chain_id);
  jw_kstr(&w, "address", cs);
  jw_key(&w, "as_of");
  jw_obj(&w);
  handler_accounts_write_as_of_fields(&w, mc);
  jw_obj_end(&w);
  jw_key(&w, "positions");
  if (!handler_accounts_write_positions(&w, v, a, true)) {
    jw_free(&w);
    goto out;
  }
  handler_accounts_write_totals(&w, v, a, &d);
  jw_key(&w, "warnings");
  warnings(&w, v, a, &d);
  jw_obj_end(&w);
  if (w.oom) {
    jw_free(&w);
    goto out;
  }
  res = svc_reply_take(req, 200, "application/json", w.buf, w.len);
out:
  free(a);
  svc_cache_release(c);
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
  if (!handler_accounts_parse_address(comma + 1, addr) || strcmp(addr, comma + 1) != 0) return false;
  strcpy(hf, raw);
  return true;
}

struct list_ctx {
  json_t *data;
  char last_hf[U256_DEC_MAX], last_addr[43];
  size_t n;
};

static db_status list_row(const db_row *row, void *arg) {
  struct list_ctx *x = arg;
  const char *addr = db_row_text(row, 0), *hf = db_row_text(row, 3);
  u256 hfv, coll = U256_ZERO, debt = U256_ZERO;
  if (!addr || !hf || !dec(hf, &hfv)) return DB_ERROR;
  dec(db_row_text(row, 4), &coll);
  dec(db_row_text(row, 5), &debt);
  char cs[43];
  handler_address_checksum(addr, cs);
  json_t *o = json_object();
  json_object_set_new(o, "address", json_string(cs));
  json_object_set_new(o, "health_factor", handler_accounts_hf_json(hfv));
  handler_accounts_put_base(o, "total_collateral_base", coll);
  handler_accounts_put_base(o, "total_debt_base", debt);
  json_object_set_new(o, "emode_category", json_integer(strtol(db_row_text(row, 1), NULL, 10)));
  json_object_set_new(o, "block_number", json_integer(strtoll(db_row_text(row, 2), NULL, 10)));
  json_array_append_new(x->data, o);
  snprintf(x->last_hf, sizeof x->last_hf, "%s", hf);
  snprintf(x->last_addr, sizeof x->last_addr, "%s", addr);
  x->n++;
  return DB_OK;
}

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 500

enum svc_handler_result handler_accounts_list(struct svc_request *req) {
  pthread_once(&stmts_once, register_statements);
  const struct mkt_chain *mc;
  const struct acc_chain *x;
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
  struct svc_cache *c = chain_or_reply(req, &mc, &x);
  if (!c) {
    json_decref(errors);
    return SVC_HANDLED;
  }
  /* Assets by address or symbol, resolved against the chain's reserves. */
  const struct mkt_reserve *rc = NULL, *rd = NULL;
  if (q_coll && !(rc = handler_markets_find_reserve(mc, q_coll)))
    json_array_append_new(errors, svc_field_error("collateral", "unknown_asset", "is not a reserve of this chain"));
  if (q_debtasset && !(rd = handler_markets_find_reserve(mc, q_debtasset)))
    json_array_append_new(errors, svc_field_error("debt", "unknown_asset", "is not a reserve of this chain"));
  if (json_array_size(errors)) {
    svc_cache_release(c);
    return svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errors, "%zu query parameter(s) are invalid",
                                    json_array_size(errors));
  }
  json_decref(errors);
  char chain[24], lim[24];
  snprintf(chain, sizeof chain, "%lld", (long long)mc->chain_id);
  snprintf(lim, sizeof lim, "%ld", limit + 1);
  const char *params[8] = {chain,
                           q_hf ? hf_s : NULL,
                           q_debt ? debt_s : NULL,
                           rc ? rc->address : NULL,
                           rd ? rd->address : NULL,
                           q_cursor ? cur_hf : NULL,
                           q_cursor ? cur_addr : NULL,
                           lim};
  json_t *as_of = handler_markets_as_of(mc);
  svc_cache_release(c);
  db_conn *conn = svc_req_db(req);
  if (!conn) {
    json_decref(as_of);
    return SVC_HANDLED;
  }
  struct list_ctx lx = {.data = json_array()};
  db_status s = db_query_prepared(conn, "accounts_list", 8, params, list_row, &lx, NULL);
  db_release(conn);
  if (s != DB_OK) {
    json_decref(lx.data);
    json_decref(as_of);
    if (s == DB_UNAVAILABLE)
      return svc_reply_problem(req, SVC_ERR_database_unavailable, "the database cannot be reached; retry shortly");
    return SVC_HANDLER_FATAL;
  }
  json_t *next = json_null();
  if (lx.n > (size_t)limit) {
    /* One row more than asked: drop it; the cursor is the last row kept. */
    json_array_remove(lx.data, (size_t)limit);
    json_t *last = json_array_get(lx.data, (size_t)limit - 1);
    char lower[43], hf[U256_DEC_MAX], cur[400];
    handler_accounts_parse_address(json_string_value(json_object_get(last, "address")), lower);
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
  return svc_reply_json_steal(req, 200, json_pack("{so so so}", "data", lx.data, "as_of", as_of, "next_cursor", next));
}
