/* Spark Prime portfolio margin around the engine (partner/margin.h). */
#include "partner/margin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/listen.h"
#include "partner/ltv.h"
#include "partner/signer.h"
#include "risk/keccak.h"
#include "util/hex.h"
#include "util/log.h"

/* ---- parameters ---- */

static bool get_int(const json_t *o, const char *name, long long lo, long long hi, long long *out) {
  json_t *v = json_object_get(o, name);
  if (!json_is_integer(v)) return false;
  *out = json_integer_value(v);
  return *out >= lo && *out <= hi;
}

#define FAIL(...)                                                                                                      \
  do {                                                                                                                 \
    snprintf(field, field_len, __VA_ARGS__);                                                                           \
    return field;                                                                                                      \
  } while (0)
#define INT(obj, name, lo, hi, dst, ...)                                                                               \
  do {                                                                                                                 \
    long long v_;                                                                                                      \
    if (!get_int(obj, name, lo, hi, &v_)) FAIL(__VA_ARGS__);                                                           \
    dst = v_;                                                                                                          \
  } while (0)

static bool address_ok(const char *s) {
  if (!s || strlen(s) != 42 || s[0] != '0' || s[1] != 'x') return false;
  for (int i = 2; i < 42; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

static bool name_ok(const char *s, size_t max) {
  if (!s || !*s || strlen(s) >= max) return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
          *p == '.'))
      return false;
  return true;
}

const char *partner_margin_config_parse(const json_t *j, struct partner_margin_config *cfg, char *field,
                                        size_t field_len) {
  int64_t version = cfg->version;
  memset(cfg, 0, sizeof *cfg);
  cfg->version = version;
  struct risk_margin_params *p = &cfg->p;
  if (!json_is_object(j)) FAIL("%s", "");
  json_t *us = json_object_get(j, "underlyings");
  if (!json_is_array(us) || json_array_size(us) < 1 || json_array_size(us) > RISK_MARGIN_MAX_UNDERLYINGS)
    FAIL("underlyings");
  p->n_underlyings = json_array_size(us);
  for (size_t k = 0; k < p->n_underlyings; k++) {
    json_t *u = json_array_get(us, k);
    struct risk_margin_underlying *x = &p->underlyings[k];
    if (!json_is_object(u)) FAIL("underlyings[%zu]", k);
    const char *sym = json_string_value(json_object_get(u, "symbol"));
    if (!name_ok(sym, sizeof cfg->symbol[k]) || strcmp(sym, "USD") == 0) FAIL("underlyings[%zu].symbol", k);
    for (size_t l = 0; l < k; l++)
      if (strcmp(cfg->symbol[l], sym) == 0) FAIL("underlyings[%zu].symbol", k);
    snprintf(cfg->symbol[k], sizeof cfg->symbol[k], "%s", sym);
    INT(u, "chain_id", 1, 9007199254740991LL, cfg->chain_id[k], "underlyings[%zu].chain_id", k);
    const char *a = json_string_value(json_object_get(u, "asset"));
    if (!address_ok(a)) FAIL("underlyings[%zu].asset", k);
    snprintf(cfg->asset[k], sizeof cfg->asset[k], "%s", a);
    INT(u, "range_bps", 1, 4999, x->range_bps, "underlyings[%zu].range_bps", k);
    INT(u, "basis_bps", 0, 10000, x->basis_bps, "underlyings[%zu].basis_bps", k);
    INT(u, "spread_bps", 0, 10000, x->spread_bps, "underlyings[%zu].spread_bps", k);
    INT(u, "sigma_bps", 0, 10000, x->sigma_bps, "underlyings[%zu].sigma_bps", k);
    INT(u, "horizon_days", 1, 365, x->horizon_days, "underlyings[%zu].horizon_days", k);
    const char *adv = json_string_value(json_object_get(u, "adv_usd"));
    if (!adv || !partner_margin_parse_e8(adv, false, &x->adv) || x->adv < 1) FAIL("underlyings[%zu].adv_usd", k);
  }
  json_t *cash = json_object_get(j, "cash_assets");
  if (cash) {
    if (!json_is_array(cash) || json_array_size(cash) > PARTNER_MARGIN_MAX_CASH) FAIL("cash_assets");
    cfg->ncash = json_array_size(cash);
    for (size_t i = 0; i < cfg->ncash; i++) {
      json_t *c = json_array_get(cash, i);
      INT(c, "chain_id", 1, 9007199254740991LL, cfg->cash_chain[i], "cash_assets[%zu].chain_id", i);
      const char *a = json_string_value(json_object_get(c, "asset"));
      if (!address_ok(a)) FAIL("cash_assets[%zu].asset", i);
      snprintf(cfg->cash_asset[i], sizeof cfg->cash_asset[i], "%s", a);
    }
  }
  json_t *vs = json_object_get(j, "venues");
  if (!json_is_array(vs) || json_array_size(vs) < 1 || json_array_size(vs) > RISK_MARGIN_MAX_VENUES) FAIL("venues");
  p->n_venues = json_array_size(vs);
  for (size_t v = 0; v < p->n_venues; v++) {
    json_t *o = json_array_get(vs, v);
    const char *name = json_string_value(json_object_get(o, "name"));
    if (!name_ok(name, sizeof cfg->venue[v])) FAIL("venues[%zu].name", v);
    for (size_t w = 0; w < v; w++)
      if (strcmp(cfg->venue[w], name) == 0) FAIL("venues[%zu].name", v);
    snprintf(cfg->venue[v], sizeof cfg->venue[v], "%s", name);
    INT(o, "charge_bps", 0, 10000, p->venues[v].charge_bps, "venues[%zu].charge_bps", v);
    INT(o, "max_staleness_seconds", 1, 31536000, p->venues[v].max_staleness_s, "venues[%zu].max_staleness_seconds", v);
  }
  json_t *rho = json_object_get(j, "correlations");
  if (!json_is_array(rho) || json_array_size(rho) != p->n_underlyings) FAIL("correlations");
  for (size_t k = 0; k < p->n_underlyings; k++) {
    json_t *row = json_array_get(rho, k);
    if (!json_is_array(row) || json_array_size(row) != p->n_underlyings) FAIL("correlations[%zu]", k);
    for (size_t l = 0; l < p->n_underlyings; l++) {
      json_t *x = json_array_get(row, l);
      long long r = json_is_integer(x) ? json_integer_value(x) : 99999;
      if (r < -10000 || r > 10000 || (k == l && r != 10000)) FAIL("correlations[%zu][%zu]", k, l);
      p->rho_bps[k][l] = (int32_t)r;
    }
  }
  for (size_t k = 0; k < p->n_underlyings; k++)
    for (size_t l = 0; l < k; l++)
      if (p->rho_bps[k][l] != p->rho_bps[l][k]) FAIL("correlations[%zu][%zu]", k, l);
  INT(j, "tail_weight_bps", 0, 10000, p->tail_weight_bps, "tail_weight_bps");
  INT(j, "gamma_bps", 0, 10000, p->gamma_bps, "gamma_bps");
  INT(j, "lambda_bps", 0, 10000, p->lambda_bps, "lambda_bps");
  INT(j, "hedge_floor_net_bps", 0, 10000, p->md_net_bps, "hedge_floor_net_bps");
  INT(j, "hedge_floor_hedged_bps", 0, 10000, p->md_hedged_bps, "hedge_floor_hedged_bps");
  INT(j, "impact_y_bps", 0, 100000, p->impact_y_bps, "impact_y_bps");
  INT(j, "participation_bps", 1, 10000, p->participation_bps, "participation_bps");
  INT(j, "im_multiplier_bps", 10000, 100000, p->im_mult_bps, "im_multiplier_bps");
  INT(j, "max_price_staleness_seconds", 1, 31536000, p->max_price_staleness_s, "max_price_staleness_seconds");
  json_t *b = json_object_get(j, "bands");
  if (!json_is_object(b)) FAIL("bands");
  INT(b, "liquidation_bps", 0, 1000000, p->liquidation_bps, "bands.liquidation_bps");
  INT(b, "margin_call_bps", 0, 1000000, p->margin_call_bps, "bands.margin_call_bps");
  INT(b, "warning_bps", 0, 1000000, p->warning_bps, "bands.warning_bps");
  INT(b, "return_to_bps", 0, 1000000, p->return_to_bps, "bands.return_to_bps");
  INT(b, "initial_bps", 0, 1000000, p->hs_initial_bps, "bands.initial_bps");
  INT(b, "cure_period_seconds", 0, 31536000, p->cure_period_s, "bands.cure_period_seconds");
  const char *bad = risk_margin_params_check(p);
  if (bad) FAIL("%s", bad);
  json_t *r = json_object_get(j, "rate");
  if (!json_is_object(r)) FAIL("rate");
  struct risk_margin_rate_params *rp = &cfg->rate;
  INT(r, "target_spread_bps", -100000, 100000, rp->target_spread_bps, "rate.target_spread_bps");
  INT(r, "lender_ref_bps", -100000, 100000, rp->lender_ref_bps, "rate.lender_ref_bps");
  INT(r, "lender_min_bps", -100000, 100000, rp->lender_min_bps, "rate.lender_min_bps");
  INT(r, "clamp_lo_bps", -100000, 100000, rp->clamp_lo_bps, "rate.clamp_lo_bps");
  INT(r, "clamp_hi_bps", -100000, 100000, rp->clamp_hi_bps, "rate.clamp_hi_bps");
  INT(r, "funding_z_bps", 0, 100000, rp->funding_z_bps, "rate.funding_z_bps");
  INT(r, "util_k_bps", -100000, 100000, rp->util_k_bps, "rate.util_k_bps");
  INT(r, "util_kink_bps", 0, 10000, rp->util_kink_bps, "rate.util_kink_bps");
  INT(r, "util_max_bps", 0, 9999, rp->util_max_bps, "rate.util_max_bps");
  INT(r, "util_slope2_bps", 0, 1000000, rp->util_slope2_bps, "rate.util_slope2_bps");
  INT(r, "max_daily_change_bps", 0, 100000, rp->max_daily_change_bps, "rate.max_daily_change_bps");
  json_t *hs = json_object_get(r, "risk_hs_bps"), *pr = json_object_get(r, "risk_premium_bps");
  if (!json_is_array(hs) || json_array_size(hs) != 2) FAIL("rate.risk_hs_bps");
  if (!json_is_array(pr) || json_array_size(pr) != 2) FAIL("rate.risk_premium_bps");
  for (size_t i = 0; i < 2; i++) {
    json_t *h = json_array_get(hs, i), *q = json_array_get(pr, i);
    if (!json_is_integer(h) || json_integer_value(h) < 0 || json_integer_value(h) > 1000000)
      FAIL("rate.risk_hs_bps[%zu]", i);
    if (!json_is_integer(q) || json_integer_value(q) < 0 || json_integer_value(q) > 100000)
      FAIL("rate.risk_premium_bps[%zu]", i);
    rp->risk_hs_bps[i] = json_integer_value(h);
    rp->risk_premium_bps[i] = (int32_t)json_integer_value(q);
  }
  bad = risk_margin_rate_params_check(rp);
  if (bad) FAIL("rate.%s", bad);
  return NULL;
}

/* ---- what is held in memory ----
 *
 * One generation counter says whether anything a margin reads may have changed: it moves on every
 * NOTIFY sparkd_margin (migration 0026: portfolios, legs, latest results, parameters), every NOTIFY
 * sparkd_state (imports: prices and SparkLend accounts), every (re)connect of either listener (what
 * was sent while disconnected is lost) and every write this process commits (partner_margin_touch,
 * so a client reads its own writes without waiting for the notification). Memory is trusted only
 * once both listeners have connected, and an entry at most MEMO_TTL_S old bounds what a silently
 * broken listener could leave stale. Without the listeners (no serve: tests, the CLI) every read
 * goes to the database. */
#define MEMO_SLOTS 256
#define MEMO_TTL_S 2

struct memo_slot {
  bool used;
  int64_t partner, id, version;
  uint64_t gen, at;
  struct partner_margin_book book; /* the stored legs, expanded, and the prices */
  struct risk_margin_prev prev;
};

static struct {
  pthread_mutex_t mu;
  atomic_uint_fast64_t gen;
  atomic_bool state_up, margin_up;
  db_listener *state_l, *margin_l;
  struct memo_slot *slots;
  /* the parsed parameters of the newest version (cfg_gen: the generation they were read at) */
  bool valid;
  uint64_t cfg_gen, cfg_at;
  struct partner_margin_config cfg;
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static bool memo_live(void) { return atomic_load(&cache.state_up) && atomic_load(&cache.margin_up); }

void partner_margin_touch(void) { atomic_fetch_add(&cache.gen, 1); }

static void on_state(const char *payload, void *arg) {
  (void)payload;
  (void)arg;
  atomic_fetch_add(&cache.gen, 1);
  atomic_store(&cache.state_up, true);
}

static void on_margin(const char *payload, void *arg) {
  (void)payload;
  (void)arg;
  atomic_fetch_add(&cache.gen, 1);
  atomic_store(&cache.margin_up, true);
}

bool partner_margin_memo_start(const char *conninfo) {
  pthread_mutex_lock(&cache.mu);
  if (!cache.slots) cache.slots = calloc(MEMO_SLOTS, sizeof *cache.slots);
  pthread_mutex_unlock(&cache.mu);
  if (!cache.slots) return false;
  cache.state_l = db_listener_start(conninfo, "sparkd_state", on_state, NULL);
  cache.margin_l = db_listener_start(conninfo, "sparkd_margin", on_margin, NULL);
  if (cache.state_l && cache.margin_l) return true;
  partner_margin_memo_stop();
  return false;
}

void partner_margin_memo_stop(void) {
  atomic_store(&cache.state_up, false);
  atomic_store(&cache.margin_up, false);
  if (cache.state_l) db_listener_stop(cache.state_l);
  if (cache.margin_l) db_listener_stop(cache.margin_l);
  cache.state_l = cache.margin_l = NULL;
  atomic_fetch_add(&cache.gen, 1);
}

bool partner_margin_config_memo(struct partner_margin_config *cfg) {
  if (!memo_live()) return false;
  uint64_t g = atomic_load(&cache.gen);
  pthread_mutex_lock(&cache.mu);
  uint64_t now = (uint64_t)time(NULL);
  bool hit = cache.valid && cache.cfg_gen == g && now >= cache.cfg_at && now < cache.cfg_at + MEMO_TTL_S;
  if (hit) *cfg = cache.cfg;
  pthread_mutex_unlock(&cache.mu);
  return hit;
}

db_status partner_margin_config_load(db_conn *c, struct partner_margin_config *cfg) {
  if (partner_margin_config_memo(cfg)) return DB_OK;
  /* read before the database: a change committed after this moves the counter past it */
  uint64_t g = atomic_load(&cache.gen);
  int64_t want = 0;
  db_status st = db_margin_params_version(c, &want);
  if (st != DB_OK) return st;
  pthread_mutex_lock(&cache.mu);
  bool hit = cache.valid && cache.cfg.version == want;
  if (hit) {
    *cfg = cache.cfg;
    cache.cfg_gen = g;
    cache.cfg_at = (uint64_t)time(NULL);
  }
  pthread_mutex_unlock(&cache.mu);
  if (hit) return DB_OK;
  char *text = NULL;
  int64_t version = 0;
  st = db_margin_params_latest(c, &version, &text);
  if (st != DB_OK) {
    free(text);
    return st == DB_NO_ROWS ? DB_ERROR : st;
  }
  json_t *j = json_loads(text, 0, NULL);
  free(text);
  char field[96];
  cfg->version = version;
  const char *bad = partner_margin_config_parse(j, cfg, field, sizeof field);
  json_decref(j);
  if (bad) {
    util_log(UTIL_LOG_ERROR, "margin params version %lld do not parse at %s", (long long)version, bad);
    return DB_ERROR;
  }
  pthread_mutex_lock(&cache.mu);
  if (!cache.valid || cache.cfg.version <= version) {
    cache.cfg = *cfg;
    cache.cfg_gen = version == want ? g : 0;
    cache.cfg_at = (uint64_t)time(NULL);
    cache.valid = true;
  }
  pthread_mutex_unlock(&cache.mu);
  return DB_OK;
}

static struct memo_slot *memo_slot_of(int64_t partner, int64_t id) {
  uint64_t h = ((uint64_t)id * 0x9E3779B97F4A7C15ull) ^ (uint64_t)partner;
  return &cache.slots[(h >> 32) % MEMO_SLOTS];
}

/* Returns true with the stored book and previous band of the portfolio when memory holds them for
 * the current generation and parameter version. */
static bool memo_get(int64_t partner, int64_t id, int64_t version, uint64_t now, struct partner_margin_book *b,
                     struct risk_margin_prev *prev) {
  if (!cache.slots || !memo_live()) return false;
  uint64_t g = atomic_load(&cache.gen);
  pthread_mutex_lock(&cache.mu);
  struct memo_slot *s = memo_slot_of(partner, id);
  bool hit = s->used && s->partner == partner && s->id == id && s->version == version && s->gen == g &&
             now < s->at + MEMO_TTL_S && now >= s->at;
  if (hit) {
    memcpy(b, &s->book, sizeof *b);
    *prev = s->prev;
  }
  pthread_mutex_unlock(&cache.mu);
  return hit;
}

static void memo_put(int64_t partner, int64_t id, int64_t version, uint64_t gen, uint64_t now,
                     const struct partner_margin_book *b, const struct risk_margin_prev *prev) {
  if (!cache.slots || !memo_live()) return;
  pthread_mutex_lock(&cache.mu);
  struct memo_slot *s = memo_slot_of(partner, id);
  s->used = true;
  s->partner = partner;
  s->id = id;
  s->version = version;
  s->gen = gen;
  s->at = now;
  memcpy(&s->book, b, sizeof *b);
  s->prev = *prev;
  pthread_mutex_unlock(&cache.mu);
}

int partner_margin_venue(const struct partner_margin_config *cfg, const char *name) {
  for (size_t v = 0; v < cfg->p.n_venues; v++)
    if (strcmp(cfg->venue[v], name) == 0) return (int)v;
  return -1;
}

int partner_margin_underlying(const struct partner_margin_config *cfg, const char *name) {
  if (strcmp(name, "USD") == 0) return RISK_MARGIN_CASH;
  for (size_t k = 0; k < cfg->p.n_underlyings; k++)
    if (strcmp(cfg->symbol[k], name) == 0) return (int)k;
  return -1;
}

bool partner_margin_parse_e8(const char *s, bool allow_negative, int64_t *out) {
  bool neg = false;
  if (*s == '-') {
    if (!allow_negative) return false;
    neg = true;
    s++;
  }
  if (!*s || *s == '.') return false;
  unsigned __int128 v = 0;
  int frac = -1;
  for (; *s; s++) {
    if (*s == '.') {
      if (frac >= 0 || !s[1]) return false;
      frac = 0;
      continue;
    }
    if (*s < '0' || *s > '9') return false;
    if (frac >= 0 && ++frac > 8) return false;
    v = v * 10 + (unsigned)(*s - '0');
    if (v > ((unsigned __int128)1 << 100)) return false;
  }
  for (int f = frac < 0 ? 0 : frac; f < 8; f++)
    v *= 10;
  if (v > (unsigned __int128)RISK_MARGIN_MAX_ABS) return false;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return true;
}

/* ---- the book ---- */

/* amount (smallest unit, decimal text) with `decimals` to whole units * 1e8, floor (supplied) or
 * ceil (borrowed); false when it does not fit */
static bool units_e8(const char *amount, int decimals, bool up, int64_t *out) {
  size_t n = strlen(amount);
  if (n == 0 || n > 60) return false;
  /* value = amount * 10^(8 - decimals) */
  unsigned __int128 v = 0;
  int shift = 8 - decimals;
  size_t keep = n;
  bool rem = false;
  if (shift < 0) {
    size_t drop = (size_t)-shift;
    keep = n > drop ? n - drop : 0;
    for (size_t i = keep; i < n; i++)
      rem |= amount[i] != '0';
  }
  for (size_t i = 0; i < keep; i++) {
    v = v * 10 + (unsigned)(amount[i] - '0');
    if (v > ((unsigned __int128)1 << 100)) return false;
  }
  for (int i = 0; i < shift; i++)
    v *= 10;
  if (up && rem) v++;
  if (v > (unsigned __int128)RISK_MARGIN_MAX_ABS) return false;
  *out = (int64_t)v;
  return true;
}

static int asset_underlying(const struct partner_margin_config *cfg, int64_t chain, const char *asset) {
  for (size_t k = 0; k < cfg->p.n_underlyings; k++)
    if (cfg->chain_id[k] == chain && strcmp(cfg->asset[k], asset) == 0) return (int)k;
  for (size_t i = 0; i < cfg->ncash; i++)
    if (cfg->cash_chain[i] == chain && strcmp(cfg->cash_asset[i], asset) == 0) return RISK_MARGIN_CASH;
  return -1;
}

struct lend_ctx {
  const struct partner_margin_config *cfg;
  struct partner_margin_book *b;
  const struct db_portfolio_leg *leg;
  int venue;
  const char *why;
};

static bool push(struct partner_margin_book *b, const struct risk_margin_leg *l, const char *venue, const char *kind,
                 const char *underlying) {
  if (b->n == RISK_MARGIN_MAX_LEGS) return false;
  b->legs[b->n] = *l;
  snprintf(b->venue[b->n], sizeof b->venue[0], "%s", venue);
  snprintf(b->kind[b->n], sizeof b->kind[0], "%s", kind);
  snprintf(b->underlying[b->n], sizeof b->underlying[0], "%s", underlying);
  b->n++;
  return true;
}

static db_status lend_row(const struct db_portfolio_lend *r, void *arg) {
  struct lend_ctx *lc = arg;
  if (lc->why) return DB_OK;
  int k = asset_underlying(lc->cfg, lc->leg->chain_id, r->asset);
  bool any = strcmp(r->supplied, "0") != 0 || strcmp(r->borrowed, "0") != 0;
  if (!any) return DB_OK;
  if (k < 0) {
    lc->why = "a sparklend reserve of the account is neither an underlying nor a cash asset of the parameters";
    return DB_OK;
  }
  const char *sym = k == (int)RISK_MARGIN_CASH ? "USD" : lc->cfg->symbol[k];
  /* the account's legs are as of the leg's attestation; their prices carry the oracle's time */
  struct risk_margin_leg l = {.venue = (uint16_t)lc->venue, .underlying = (uint16_t)k, .as_of = lc->leg->as_of};
  int64_t q;
  if (strcmp(r->supplied, "0") != 0) {
    if (!units_e8(r->supplied, r->decimals, false, &q)) {
      lc->why = "a sparklend balance is too large for the engine";
      return DB_OK;
    }
    l.kind = RISK_MARGIN_SPOT;
    l.qty = q;
    if (!push(lc->b, &l, lc->leg->venue, "sparklend", sym)) lc->why = "more legs than the engine takes";
  }
  if (strcmp(r->borrowed, "0") != 0) {
    if (!units_e8(r->borrowed, r->decimals, true, &q)) {
      lc->why = "a sparklend debt is too large for the engine";
      return DB_OK;
    }
    l.kind = RISK_MARGIN_DEBT;
    l.qty = q;
    if (!push(lc->b, &l, lc->leg->venue, "sparklend", sym)) lc->why = "more legs than the engine takes";
  }
  return DB_OK;
}

static int yield_kind(const char *s) {
  if (strcmp(s, "basis") == 0) return RISK_YIELD_BASIS;
  if (strcmp(s, "staking") == 0) return RISK_YIELD_STAKING;
  if (strcmp(s, "fixed") == 0) return RISK_YIELD_FIXED;
  return RISK_YIELD_NONE;
}

db_status partner_margin_book_add(db_conn *c, const struct partner_margin_config *cfg, struct partner_margin_book *b,
                                  const struct db_portfolio_leg *l, const char **why) {
  *why = NULL;
  int v = partner_margin_venue(cfg, l->venue);
  if (v < 0) {
    *why = "a leg's venue is not in the margin parameters";
    return DB_NO_ROWS;
  }
  if (strcmp(l->kind, "sparklend") == 0) {
    struct lend_ctx lc = {cfg, b, l, v, NULL};
    db_status st = db_portfolio_sparklend(c, l->chain_id, l->address, lend_row, &lc);
    if (st != DB_OK) return st;
    if (lc.why) {
      *why = lc.why;
      return DB_NO_ROWS;
    }
    return DB_OK;
  }
  int k = partner_margin_underlying(cfg, l->underlying);
  if (k < 0) {
    *why = "a leg's underlying is not in the margin parameters";
    return DB_NO_ROWS;
  }
  struct risk_margin_leg x = {.venue = (uint16_t)v,
                              .underlying = (uint16_t)k,
                              .qty = l->quantity,
                              .entry = l->entry_price,
                              .mark = l->mark_price,
                              .funding = l->funding,
                              .yield_kind = (uint8_t)yield_kind(l->yield_kind),
                              .yield_bps = (int32_t)l->yield_bps,
                              .yield_sd_bps = (int32_t)l->yield_sd_bps,
                              .as_of = (uint64_t)l->as_of};
  x.kind = strcmp(l->kind, "perp") == 0   ? RISK_MARGIN_PERP
           : strcmp(l->kind, "debt") == 0 ? RISK_MARGIN_DEBT
                                          : RISK_MARGIN_SPOT;
  if (x.kind == RISK_MARGIN_PERP && k == (int)RISK_MARGIN_CASH) {
    *why = "a perp leg needs an underlying other than USD";
    return DB_NO_ROWS;
  }
  if (!push(b, &x, l->venue, l->kind, l->underlying)) {
    *why = "more legs than the engine takes";
    return DB_NO_ROWS;
  }
  return DB_OK;
}

db_status partner_margin_book_prices(db_conn *c, const struct partner_margin_config *cfg,
                                     struct partner_margin_book *b) {
  char price[RISK_MARGIN_MAX_UNDERLYINGS][80];
  int64_t ts[RISK_MARGIN_MAX_UNDERLYINGS];
  db_status st = db_portfolio_prices(c, cfg->p.n_underlyings, cfg->chain_id, cfg->asset, price, ts);
  if (st != DB_OK) return st;
  for (size_t k = 0; k < cfg->p.n_underlyings; k++) {
    /* the oracle's price is an integer with 8 decimals: already usd8 */
    size_t len = strlen(price[k]);
    bool digits = len > 0 && len <= 18 && strspn(price[k], "0123456789") == len;
    int64_t p = digits ? strtoll(price[k], NULL, 10) : 0;
    if (p > 0 && p <= RISK_MARGIN_MAX_ABS) {
      b->prices[k] = p;
      b->prices_ts[k] = (uint64_t)ts[k];
    } else {
      b->prices[k] = 1; /* unpriced: any leg on it makes the result stale */
      b->prices_ts[k] = 0;
    }
  }
  return DB_OK;
}

/* ---- JSON ---- */

static json_t *usd(int64_t v) {
  char b[40];
  uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  snprintf(b, sizeof b, "%s%llu.%08llu", v < 0 ? "-" : "", (unsigned long long)(a / 100000000ull),
           (unsigned long long)(a % 100000000ull));
  return json_string(b);
}

static json_t *i64s(int64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%lld", (long long)v);
  return json_string(b);
}

static json_t *time_or_null(uint64_t t) {
  if (!t) return json_null();
  char b[32];
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return json_string(b);
}

static json_t *hs_json(int64_t hs) {
  if (hs == RISK_MARGIN_HS_INFINITE) return json_null();
  return json_integer(hs);
}

static json_t *signature_json(const struct risk_margin_signed *s) {
  const struct partner_signer *g = partner_ltv_signer();
  if (!g) return json_null();
  uint8_t d[32], sig[65];
  risk_margin_digest(s, PARTNER_LTV_CHAIN_ID, d);
  if (!partner_signer_sign(g, d, sig)) {
    util_log(UTIL_LOG_ERROR, "margin record not signed: the signer failed");
    return json_null();
  }
  char dh[67], sh[133], pid[67];
  util_hex0x(d, 32, dh);
  util_hex0x(sig, 65, sh);
  util_hex0x(s->portfolio_id, 32, pid);
  json_t *message = json_pack(
      "{s:s,s:o,s:o,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "portfolioId", pid, "sequence", i64s((int64_t)s->sequence),
      "paramsVersion", i64s((int64_t)s->params_version), "band", (int)s->band, "equity", i64s(s->equity),
      "maintenanceMargin", i64s(s->mm), "initialMargin", i64s(s->im), "healthScoreBps", i64s(s->hs_bps), "maxBorrow",
      i64s(s->d_max), "asOf", i64s((int64_t)s->as_of), "cureDeadline", i64s((int64_t)s->cure_deadline));
  static const char *const fields[][2] = {
      {"portfolioId", "bytes32"},   {"sequence", "uint64"},
      {"paramsVersion", "uint64"},  {"band", "uint8"},
      {"equity", "int256"},         {"maintenanceMargin", "uint256"},
      {"initialMargin", "uint256"}, {"healthScoreBps", "int256"},
      {"maxBorrow", "uint256"},     {"asOf", "uint64"},
      {"cureDeadline", "uint64"},
  };
  json_t *tl = json_array();
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    json_array_append_new(tl, json_pack("{s:s,s:s}", "name", fields[i][0], "type", fields[i][1]));
  return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:i},s:s,s:{s:o},s:o}", "scheme", "eip712-secp256k1", "signer",
                   partner_signer_address(g), "signature", sh, "digest", dh, "domain", "name", "sparkd", "version", "1",
                   "chainId", PARTNER_LTV_CHAIN_ID, "primary_type", "MarginRecord", "types", "MarginRecord", tl,
                   "message", message);
}

json_t *partner_margin_result_json(const struct partner_margin_config *cfg, const struct partner_margin_book *b,
                                   const struct risk_margin_result *r, int64_t portfolio_id, int64_t sequence,
                                   uint64_t now, bool signed_record) {
  json_t *unds = json_array();
  for (size_t k = 0; k < cfg->p.n_underlyings; k++) {
    const struct risk_margin_factor *f = &r->factors[k];
    json_t *worst = json_null();
    if (f->worst >= 0) {
      int m = risk_margin_scenario_thirds[f->worst];
      worst = json_pack("{s:i,s:i,s:o,s:o,s:i}", "index", f->worst, "shock_bps",
                        (int)(m * (int)cfg->p.underlyings[k].range_bps / 3), "loss_usd", usd(f->loss[f->worst]),
                        "weighted_loss_usd", usd(f->weighted_loss), "weight_bps",
                        (m == 6 || m == -6) ? (int)cfg->p.tail_weight_bps : 10000);
    }
    json_array_append_new(
        unds, json_pack("{s:s,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:o}", "symbol", cfg->symbol[k],
                        "price_usd", usd(b->prices[k]), "price_updated_at", time_or_null(b->prices_ts[k]), "priced",
                        b->prices_ts[k] != 0, "net_delta_usd", usd(f->net_delta), "long_usd", usd(f->long_notional),
                        "short_usd", usd(f->short_notional), "hedged_usd", usd(f->hedged), "scenario_loss_usd",
                        usd(f->weighted_loss), "worst_scenario", worst, "direction", f->direction, "basis_usd",
                        usd(f->basis), "hedge_floor_usd", usd(f->hedge_floor), "liquidity_usd", usd(f->liquidity)));
  }
  json_t *venues = json_array();
  for (size_t v = 0; v < cfg->p.n_venues; v++)
    json_array_append_new(venues, json_pack("{s:s,s:o,s:i,s:o}", "name", cfg->venue[v], "assets_usd",
                                            usd(r->venue_assets[v]), "charge_bps", (int)cfg->p.venues[v].charge_bps,
                                            "charge_usd", usd(r->venue_charges[v])));
  json_t *legs = json_array();
  for (size_t i = 0; i < b->n; i++) {
    const struct risk_margin_leg *l = &b->legs[i];
    int64_t price = l->underlying == RISK_MARGIN_CASH ? RISK_MARGIN_E8 : b->prices[l->underlying];
    json_array_append_new(legs, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "venue", b->venue[i], "kind", b->kind[i],
                                          "underlying", b->underlying[i], "quantity", usd(l->qty), "value_usd",
                                          usd(risk_margin_leg_value(l, price)), "as_of", time_or_null(l->as_of)));
  }
  char pid[24];
  snprintf(pid, sizeof pid, "%lld", (long long)portfolio_id);
  json_t *out =
      json_pack("{s:s,s:I,s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "portfolio_id", pid, "sequence",
                (json_int_t)sequence, "params_version", (json_int_t)cfg->version, "band",
                risk_margin_band_name(r->band), "health_score_bps", hs_json(r->hs_bps), "equity_usd", usd(r->equity),
                "assets_usd", usd(r->assets), "liabilities_usd", usd(r->liabilities), "maintenance_margin_usd",
                usd(r->mm), "initial_margin_usd", usd(r->im), "max_borrow_usd", usd(r->d_max), "stale", r->stale);
  json_object_set_new(out, "components",
                      json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "scenario_loss_sum_usd", usd(r->loss_sum),
                                "scenario_loss_max_usd", usd(r->loss_max), "diversified_loss_usd", usd(r->loss_div),
                                "portfolio_loss_usd", usd(r->loss_port), "basis_usd", usd(r->basis), "hedge_floor_usd",
                                usd(r->hedge_floor), "liquidity_usd", usd(r->liquidity), "venue_usd", usd(r->venue),
                                "total_usd", usd(r->mm)));
  json_object_set_new(out, "underlyings", unds);
  json_object_set_new(out, "venues", venues);
  json_object_set_new(out, "legs", legs);
  json_object_set_new(out, "bands",
                      json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "initial_bps", (json_int_t)cfg->p.hs_initial_bps,
                                "warning_bps", (json_int_t)cfg->p.warning_bps, "margin_call_bps",
                                (json_int_t)cfg->p.margin_call_bps, "liquidation_bps",
                                (json_int_t)cfg->p.liquidation_bps, "return_to_bps", (json_int_t)cfg->p.return_to_bps,
                                "cure_period_seconds", (json_int_t)cfg->p.cure_period_s));
  json_object_set_new(out, "call_since", time_or_null(r->call_since));
  json_object_set_new(out, "cure_deadline", time_or_null(r->cure_deadline));
  json_object_set_new(out, "as_of", time_or_null(now));
  if (signed_record) {
    struct risk_margin_signed s = {.sequence = (uint64_t)sequence,
                                   .params_version = (uint64_t)cfg->version,
                                   .band = (uint8_t)r->band,
                                   .equity = r->equity,
                                   .mm = r->mm,
                                   .im = r->im,
                                   .hs_bps = r->hs_bps,
                                   .d_max = r->d_max,
                                   .as_of = now,
                                   .cure_deadline = r->cure_deadline};
    risk_keccak256((const uint8_t *)pid, strlen(pid), s.portfolio_id);
    json_object_set_new(out, "signature", signature_json(&s));
  }
  return out;
}

json_t *partner_margin_rate_json(const struct risk_margin_rate *rate, const struct risk_margin_rate_params *rp,
                                 int64_t utilization_bps, int64_t params_version) {
  json_t *o = json_object();
  json_object_set_new(o, "params_version", json_integer(params_version));
  json_object_set_new(o, "collateral_yield_bps", json_integer(rate->collateral_yield_bps));
  json_object_set_new(o, "raw",
                      json_pack("{s:i,s:i,s:i}", "bps", rate->raw_bps, "collateral_yield_bps",
                                rate->collateral_yield_bps, "target_spread_bps", rp->target_spread_bps));
  json_object_set_new(o, "floor",
                      json_pack("{s:i,s:i,s:i}", "bps", rate->floor_bps, "lender_ref_bps", rp->lender_ref_bps,
                                "lender_min_bps", rp->lender_min_bps));
  json_object_set_new(o, "clamp", json_pack("{s:i,s:i}", "lo_bps", rp->clamp_lo_bps, "hi_bps", rp->clamp_hi_bps));
  json_object_set_new(o, "core_bps", json_integer(rate->core_bps));
  json_object_set_new(o, "utilization",
                      json_pack("{s:I,s:i,s:i,s:i,s:i,s:i}", "utilization_bps", (json_int_t)utilization_bps, "kink_bps",
                                rp->util_kink_bps, "k_bps", rp->util_k_bps, "max_bps", rp->util_max_bps, "slope2_bps",
                                rp->util_slope2_bps, "bps", rate->util_bps));
  json_object_set_new(o, "risk_premium_bps", json_integer(rate->risk_bps));
  json_object_set_new(o, "target_bps", json_integer(rate->target_bps));
  json_object_set_new(o, "max_change_bps", json_integer(rate->max_change_bps));
  json_object_set_new(o, "max_daily_change_bps", json_integer(rp->max_daily_change_bps));
  json_object_set_new(o, "limited", json_boolean(rate->limited));
  json_object_set_new(o, "rate_bps", json_integer(rate->rate_bps));
  return o;
}

/* ---- compute and store ---- */

/* legs are read first, then expanded (a SparkLend expansion is a query of its own, which cannot run
 * while the legs' result is being read) */
struct legs_vec {
  size_t n;
  struct db_portfolio_leg *l;
};
static db_status collect_leg(const struct db_portfolio_leg *l, void *arg) {
  struct legs_vec *v = arg;
  if (v->n == RISK_MARGIN_MAX_LEGS) return DB_NO_ROWS;
  v->l[v->n++] = *l;
  return DB_OK;
}

/* A what-if price moves the underlying and, by the same factor, the marks of its perps (the basis
 * is kept). */
static void whatif_prices(const struct partner_margin_whatif *w, uint64_t now, struct partner_margin_book *b) {
  for (size_t i = 0; i < w->nprice; i++) {
    int k = w->price_k[i];
    int64_t old = b->prices[k];
    for (size_t j = 0; j < b->n; j++)
      if (b->legs[j].kind == RISK_MARGIN_PERP && b->legs[j].underlying == k)
        b->legs[j].mark = (int64_t)((__int128)b->legs[j].mark * w->price[i] / old);
    b->prices[k] = w->price[i];
    b->prices_ts[k] = now;
  }
}

static const char *engine_why(risk_err e) {
  return e == RISK_OVERFLOW ? "a total of the portfolio does not fit the engine"
                            : "a leg is outside the engine's domain (size, price or sign)";
}

/* Reads the portfolio's legs (less the removed venues, plus the added legs) and prices (what-if
 * prices first) into b, and computes r with the stored previous band. Returns DB_OK (with *why set
 * and nothing computed when the engine cannot), DB_NO_ROWS for no such portfolio, or a failure. */
static db_status evaluate(db_conn *c, int64_t partner_id, int64_t id, bool lock,
                          const struct partner_margin_config *cfg, const struct partner_margin_whatif *w, uint64_t now,
                          struct partner_margin_book *b, struct risk_margin_result *r, struct db_margin_prev *prev,
                          int64_t *util, const char **why) {
  *why = NULL;
  db_status st = lock ? db_portfolio_lock(c, partner_id, id, util) : db_portfolio_exists(c, partner_id, id);
  if (st != DB_OK) return st;
  struct legs_vec v = {0, calloc(RISK_MARGIN_MAX_LEGS, sizeof(struct db_portfolio_leg))};
  if (!v.l) return DB_ERROR;
  st = db_portfolio_legs(c, partner_id, id, collect_leg, &v);
  if (st == DB_NO_ROWS) {
    *why = "more legs than the engine takes";
    st = DB_OK;
    goto done;
  }
  if (st != DB_OK) goto done;
  for (size_t i = 0; i < v.n + (w ? w->nadd : 0) && !*why; i++) {
    const struct db_portfolio_leg *l = i < v.n ? &v.l[i] : &w->add[i - v.n];
    bool removed = false;
    for (size_t j = 0; w && i < v.n && j < w->nremove; j++)
      removed |= strcmp(w->remove_venues[j], l->venue) == 0;
    if (removed) continue;
    st = partner_margin_book_add(c, cfg, b, l, why);
    if (st == DB_NO_ROWS) st = DB_OK;
    if (st != DB_OK) goto done;
  }
  if (*why) goto done;
  if ((st = partner_margin_book_prices(c, cfg, b)) != DB_OK) goto done;
  if (w) whatif_prices(w, now, b);
  if ((st = db_margin_latest_prev(c, id, prev)) != DB_OK) goto done;
  struct risk_margin_prev rp = {prev->band < 0 ? RISK_MARGIN_FREE : (enum risk_margin_band)prev->band,
                                (uint64_t)prev->call_since};
  risk_err e = risk_margin_compute(r, b->legs, b->n, b->prices, b->prices_ts, &cfg->p, &rp, now);
  if (e != RISK_OK) *why = engine_why(e);
done:
  free(v.l);
  return st;
}

/* Builds in b the what-if book from full (the stored legs, expanded, with their prices): the removed
 * venues' legs left out, the added legs appended, the what-if prices applied. Returns false when an
 * added leg needs the database (a sparklend account); *why is set when the engine cannot take it. */
static bool whatif_book(const struct partner_margin_config *cfg, const struct partner_margin_book *full,
                        const struct partner_margin_whatif *w, uint64_t now, struct partner_margin_book *b,
                        const char **why) {
  *why = NULL;
  for (size_t i = 0; i < w->nadd; i++)
    if (strcmp(w->add[i].kind, "sparklend") == 0) return false;
  b->n = 0;
  memcpy(b->prices, full->prices, sizeof b->prices);
  memcpy(b->prices_ts, full->prices_ts, sizeof b->prices_ts);
  for (size_t i = 0; i < full->n; i++) {
    bool removed = false;
    for (size_t j = 0; j < w->nremove; j++)
      removed |= strcmp(w->remove_venues[j], full->venue[i]) == 0;
    if (!removed) push(b, &full->legs[i], full->venue[i], full->kind[i], full->underlying[i]);
  }
  for (size_t i = 0; i < w->nadd && !*why; i++)
    partner_margin_book_add(NULL, cfg, b, &w->add[i], why); /* never the database: not sparklend */
  if (*why) return true;
  whatif_prices(w, now, b);
  return true;
}

/* Computes the quote of book b into *out (or *why). */
static void quote_out(const struct partner_margin_config *cfg, const struct partner_margin_book *b,
                      const struct risk_margin_prev *prev, int64_t id, uint64_t now, json_t **out, const char **why) {
  struct risk_margin_result *r = malloc(sizeof *r);
  if (!r) {
    *why = "out of memory";
    return;
  }
  risk_err e = risk_margin_compute(r, b->legs, b->n, b->prices, b->prices_ts, &cfg->p, prev, now);
  if (e != RISK_OK) {
    *why = engine_why(e);
  } else {
    *out = partner_margin_result_json(cfg, b, r, id, 0, now, false);
    json_object_set_new(*out, "hypothetical", json_true());
  }
  free(r);
}

bool partner_margin_quote_memo(int64_t partner_id, int64_t id, const struct partner_margin_config *cfg,
                               const struct partner_margin_whatif *w, uint64_t now, json_t **out, const char **why) {
  *out = NULL;
  *why = NULL;
  struct partner_margin_book *full = malloc(sizeof *full), *b = malloc(sizeof *b);
  struct risk_margin_prev prev;
  bool hit =
      full && b && memo_get(partner_id, id, cfg->version, now, full, &prev) && whatif_book(cfg, full, w, now, b, why);
  if (hit && !*why) quote_out(cfg, b, &prev, id, now, out, why);
  free(full);
  free(b);
  return hit;
}

db_status partner_margin_quote(db_conn *c, int64_t partner_id, int64_t id, const struct partner_margin_config *cfg,
                               const struct partner_margin_whatif *w, uint64_t now, json_t **out, const char **why) {
  *out = NULL;
  struct partner_margin_book *b = calloc(1, sizeof *b), *full = calloc(1, sizeof *full);
  struct risk_margin_result *r = malloc(sizeof *r);
  struct db_margin_prev prev;
  int64_t util = 0;
  db_status st = DB_ERROR;
  if (!b || !full || !r) goto done;
  /* the stored book as it is (what the next quotes of this portfolio start from), then the what-if
   * on a copy; when the stored book alone cannot be margined (a leg of a removed venue may be the
   * reason) the what-if is read from the database as asked */
  uint64_t g = atomic_load(&cache.gen);
  st = evaluate(c, partner_id, id, false, cfg, NULL, now, full, r, &prev, &util, why);
  if (st != DB_OK) goto done;
  struct risk_margin_prev rp = {prev.band < 0 ? RISK_MARGIN_FREE : (enum risk_margin_band)prev.band,
                                (uint64_t)prev.call_since};
  if (!*why) memo_put(partner_id, id, cfg->version, g, now, full, &rp);
  if (!*why && whatif_book(cfg, full, w, now, b, why)) {
    if (!*why) quote_out(cfg, b, &rp, id, now, out, why);
    goto done;
  }
  memset(b, 0, sizeof *b);
  st = evaluate(c, partner_id, id, false, cfg, w, now, b, r, &prev, &util, why);
  if (st == DB_OK && !*why) {
    *out = partner_margin_result_json(cfg, b, r, id, 0, now, false);
    json_object_set_new(*out, "hypothetical", json_true());
  }
done:
  free(b);
  free(full);
  free(r);
  return st;
}

db_status partner_margin_rate(db_conn *c, int64_t partner_id, int64_t id, uint64_t now, json_t **out,
                              const char **why) {
  *out = NULL;
  struct partner_margin_config *cfg = malloc(sizeof *cfg);
  struct partner_margin_book *b = calloc(1, sizeof *b);
  struct risk_margin_result *r = malloc(sizeof *r);
  struct db_margin_prev prev;
  int64_t util = 0;
  db_status st = cfg && b && r ? partner_margin_config_load(c, cfg) : DB_ERROR;
  if (st == DB_OK) st = evaluate(c, partner_id, id, true, cfg, NULL, now, b, r, &prev, &util, why);
  if (st == DB_OK && !*why) {
    struct risk_margin_rate_input in = {.utilization_bps = (int32_t)util,
                                        .has_prev = prev.has_rate,
                                        .prev_rate_bps = (int32_t)prev.rate_bps,
                                        .prev_at = (uint64_t)prev.rate_at,
                                        .now = now};
    struct risk_margin_rate rate;
    if (risk_margin_rate_compute(&rate, b->legs, b->n, b->prices, r, &cfg->rate, &in) != RISK_OK) {
      *why = "the rate parameters are inconsistent";
    } else {
      /* the daily change limit needs the last rate served; it is kept with the latest margin result */
      if (prev.sequence > 0) st = db_margin_rate_put(c, id, rate.rate_bps, (int64_t)now);
      if (st == DB_OK) {
        *out = partner_margin_rate_json(&rate, &cfg->rate, util, cfg->version);
        char pid[24];
        snprintf(pid, sizeof pid, "%lld", (long long)id);
        json_object_set_new(*out, "portfolio_id", json_string(pid));
        json_object_set_new(*out, "health_score_bps", hs_json(r->hs_bps));
        json_object_set_new(*out, "previous_rate_bps", prev.has_rate ? json_integer(prev.rate_bps) : json_null());
        json_object_set_new(*out, "as_of", time_or_null(now));
      }
    }
  }
  free(cfg);
  free(b);
  free(r);
  return st;
}

/* FNV-1a, 64 bits, over integers fed one at a time (so struct padding never counts). */
static uint64_t fnv(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    h ^= (v >> (8 * i)) & 0xFF;
    h *= 0x100000001B3ull;
  }
  return h;
}
static uint64_t fnv_str(uint64_t h, const char *s) {
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001B3ull;
  }
  return fnv(h, 0);
}

/* Returns the fingerprint of a result: the figures it was computed from (parameter version, legs,
 * prices) and those that carry state or time (band, open call, cure deadline, staleness, health
 * score). Two computations with the same fingerprint sign the same record but for its sequence and
 * time, so the stored one stands. A new attestation or oracle round that leaves every figure as it
 * was is not a new record: the times it shows (the legs' as_of, the prices' updated_at) stay those
 * of the stored record until a figure moves or a staleness bound is crossed. */
static int64_t margin_fingerprint(const struct partner_margin_config *cfg, const struct partner_margin_book *b,
                                  const struct risk_margin_result *r) {
  uint64_t h = 0xCBF29CE484222325ull;
  h = fnv(h, (uint64_t)cfg->version);
  h = fnv(h, b->n);
  for (size_t i = 0; i < b->n; i++) {
    const struct risk_margin_leg *l = &b->legs[i];
    h = fnv(h, (uint64_t)l->kind | (uint64_t)l->yield_kind << 8 | (uint64_t)l->venue << 16 |
                   (uint64_t)l->underlying << 32);
    h = fnv(h, (uint64_t)l->qty);
    h = fnv(h, (uint64_t)l->entry);
    h = fnv(h, (uint64_t)l->mark);
    h = fnv(h, (uint64_t)l->funding);
    h = fnv(h, (uint64_t)(uint32_t)l->yield_bps | (uint64_t)(uint32_t)l->yield_sd_bps << 32);
    h = fnv_str(h, b->kind[i]);
  }
  for (size_t k = 0; k < cfg->p.n_underlyings; k++)
    h = fnv(h, (uint64_t)b->prices[k]);
  h = fnv(h, (uint64_t)r->band);
  h = fnv(h, r->call_since);
  h = fnv(h, r->cure_deadline);
  h = fnv(h, r->stale);
  h = fnv(h, (uint64_t)r->hs_bps);
  return (int64_t)h;
}

db_status partner_margin_compute(db_conn *c, int64_t partner_id, int64_t portfolio_id, uint64_t now, json_t **out,
                                 const char **why, bool *stored) {
  *out = NULL;
  if (stored) *stored = false;
  struct partner_margin_config *cfg = malloc(sizeof *cfg);
  struct partner_margin_book *b = calloc(1, sizeof *b);
  struct risk_margin_result *rr = malloc(sizeof *rr);
  struct db_margin_prev prev;
  int64_t util = 0;
  db_status st = cfg && b && rr ? partner_margin_config_load(c, cfg) : DB_ERROR;
  if (st == DB_OK) st = evaluate(c, partner_id, portfolio_id, true, cfg, NULL, now, b, rr, &prev, &util, why);
  if (st != DB_OK || *why) goto done;
  const struct risk_margin_result r = *rr;
  int64_t fp = margin_fingerprint(cfg, b, &r);
  if (prev.sequence > 0 && prev.has_fp && prev.fingerprint == fp) {
    /* nothing changed since the stored record: it is served again, as stored */
    *out = partner_margin_result_json(cfg, b, &r, portfolio_id, prev.sequence, (uint64_t)prev.as_of, true);
    goto done;
  }
  int64_t seq = prev.sequence + 1;
  if (stored) *stored = true;
  json_t *res = partner_margin_result_json(cfg, b, &r, portfolio_id, seq, now, false);
  char *text = json_dumps(res, JSON_COMPACT);
  st = text ? db_margin_latest_put(c, partner_id, portfolio_id, seq, cfg->version, r.band, r.hs_bps,
                                   (int64_t)r.call_since, (int64_t)now, text, fp)
            : DB_ERROR;
  if (st == DB_OK && (int)prev.band != (int)r.band) {
    char pid[24];
    snprintf(pid, sizeof pid, "%lld", (long long)portfolio_id);
    json_t *payload =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}", "event", PARTNER_MARGIN_EVENT_BAND, "portfolio_id", pid, "band",
                  risk_margin_band_name(r.band), "sequence", (json_int_t)seq, "params_version",
                  (json_int_t)cfg->version, "previous_band",
                  prev.band < 0 ? json_null() : json_string(risk_margin_band_name((enum risk_margin_band)prev.band)));
    json_object_set(payload, "record", res);
    char *ptext = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    uint64_t queued = 0;
    st = ptext ? db_margin_band_change(c, partner_id, portfolio_id, seq, cfg->version, r.band, (int)prev.band, r.hs_bps,
                                       (int64_t)now, text, PARTNER_MARGIN_EVENT_BAND, ptext, &queued)
               : DB_ERROR;
    free(ptext);
  }
  free(text);
  json_decref(res);
  if (st == DB_OK) *out = partner_margin_result_json(cfg, b, &r, portfolio_id, seq, now, true);
done:
  free(cfg);
  free(b);
  free(rr);
  return st;
}

/* ---- the batch pass ---- */

/* One stored leg of the batch, already in engine terms (kind_no: the index in leg_kinds). */
struct batch_leg {
  int64_t id;
  struct risk_margin_leg leg;
  uint8_t kind_no;
  bool bad;
};
static const char *const leg_kinds[] = {"custody", "spot", "perp", "sparklend", "defi", "debt"};

struct batch_pf {
  int64_t id, partner, seq, since, fp, rev;
  int band;
  bool has_fp;
};

struct batch {
  const struct partner_margin_config *cfg;
  struct batch_pf *pf;
  size_t npf, cappf;
  struct batch_leg *legs;
  size_t nlegs, caplegs;
  struct db_portfolio_leg *lend; /* sparklend legs, expanded per portfolio */
  int64_t *lend_id;
  size_t nlend, caplend;
};

static db_status batch_pf_row(const struct db_margin_stored *s, void *arg) {
  struct batch *b = arg;
  if (b->npf == b->cappf) {
    size_t cap = b->cappf ? 2 * b->cappf : 1024;
    void *p = realloc(b->pf, cap * sizeof *b->pf);
    if (!p) return DB_ERROR;
    b->pf = p;
    b->cappf = cap;
  }
  b->pf[b->npf++] = (struct batch_pf){s->id,          s->partner_id, s->sequence,  s->call_since,
                                      s->fingerprint, s->legs_rev,   (int)s->band, s->has_fp};
  return DB_OK;
}

static db_status batch_leg_row(int64_t id, const struct db_portfolio_leg *l, void *arg) {
  struct batch *b = arg;
  if (strcmp(l->kind, "sparklend") == 0) {
    if (b->nlend == b->caplend) {
      size_t cap = b->caplend ? 2 * b->caplend : 64;
      void *p = realloc(b->lend, cap * sizeof *b->lend), *q = realloc(b->lend_id, cap * sizeof *b->lend_id);
      if (p) b->lend = p;
      if (q) b->lend_id = q;
      if (!p || !q) return DB_ERROR;
      b->caplend = cap;
    }
    b->lend[b->nlend] = *l;
    b->lend_id[b->nlend++] = id;
    return DB_OK;
  }
  if (b->nlegs == b->caplegs) {
    size_t cap = b->caplegs ? 2 * b->caplegs : 8192;
    void *p = realloc(b->legs, cap * sizeof *b->legs);
    if (!p) return DB_ERROR;
    b->legs = p;
    b->caplegs = cap;
  }
  struct batch_leg *x = &b->legs[b->nlegs++];
  memset(x, 0, sizeof *x);
  x->id = id;
  int v = partner_margin_venue(b->cfg, l->venue), k = partner_margin_underlying(b->cfg, l->underlying);
  uint8_t kn = 0;
  while (kn < 6 && strcmp(leg_kinds[kn], l->kind) != 0)
    kn++;
  x->kind_no = kn;
  x->bad = v < 0 || k < 0 || kn == 6;
  x->leg = (struct risk_margin_leg){.kind = kn == 2   ? RISK_MARGIN_PERP
                                            : kn == 5 ? RISK_MARGIN_DEBT
                                                      : RISK_MARGIN_SPOT,
                                    .yield_kind = (uint8_t)yield_kind(l->yield_kind),
                                    .venue = (uint16_t)(v < 0 ? 0 : v),
                                    .underlying = (uint16_t)(k < 0 ? 0 : k),
                                    .qty = l->quantity,
                                    .entry = l->entry_price,
                                    .mark = l->mark_price,
                                    .funding = l->funding,
                                    .yield_bps = (int32_t)l->yield_bps,
                                    .yield_sd_bps = (int32_t)l->yield_sd_bps,
                                    .as_of = (uint64_t)l->as_of};
  return DB_OK;
}

/* ---- the legs kept between batch passes ----
 *
 * Legs change rarely, prices often: a pass keeps the legs it read (in engine terms, for the
 * parameter version it used) with each portfolio's legs_rev, and the next pass rereads only the
 * portfolios whose legs_rev moved (migration 0028: every statement on portfolio_legs moves it, in
 * the writing transaction, on the row the pass locks before it reads legs), plus the new ones. A
 * new parameter version, a failed pass or LEGS_TTL_S since the last full read reads everything. */
#define LEGS_TTL_S 60

static struct {
  pthread_mutex_t mu;
  bool valid;
  int64_t version;
  uint64_t full_at;
  struct batch b; /* pf: id and rev only; legs and lend in pf order */
} kept = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void batch_free(struct batch *b) {
  free(b->pf);
  free(b->legs);
  free(b->lend);
  free(b->lend_id);
  memset(b, 0, sizeof *b);
}

static bool batch_reserve(struct batch *b, size_t nlegs, size_t nlend) {
  if (nlegs > b->caplegs) {
    void *p = realloc(b->legs, nlegs * sizeof *b->legs);
    if (!p) return false;
    b->legs = p;
    b->caplegs = nlegs;
  }
  if (nlend > b->caplend) {
    void *p = realloc(b->lend, nlend * sizeof *b->lend), *q = realloc(b->lend_id, nlend * sizeof *b->lend_id);
    if (p) b->lend = p;
    if (q) b->lend_id = q;
    if (!p || !q) return false;
    b->caplend = nlend;
  }
  return true;
}

/* Reads the legs of b's portfolios (b->pf read, b->legs empty) into b, from the kept ones where
 * their revision still holds; *reread gets how many portfolios were read from the database. */
static db_status legs_read(db_conn *c, struct batch *b, uint64_t wall, uint64_t *reread) {
  *reread = b->npf;
  bool warm = kept.valid && kept.version == b->cfg->version && wall >= kept.full_at && wall < kept.full_at + LEGS_TTL_S;
  int64_t *ids = warm ? malloc((b->npf + 1) * sizeof *ids) : NULL;
  size_t nids = 0;
  if (ids) {
    /* both lists are in portfolio order */
    for (size_t i = 0, k = 0; i < b->npf; i++) {
      while (k < kept.b.npf && kept.b.pf[k].id < b->pf[i].id)
        k++;
      if (k == kept.b.npf || kept.b.pf[k].id != b->pf[i].id || kept.b.pf[k].rev != b->pf[i].rev)
        ids[nids++] = b->pf[i].id;
    }
  }
  if (!ids || nids > b->npf / 2) {
    /* cold, or most legs moved: one full read */
    free(ids);
    db_status st = db_portfolio_legs_all(c, batch_leg_row, b);
    if (st == DB_OK) kept.full_at = wall;
    return st;
  }
  struct batch fresh = {.cfg = b->cfg};
  db_status st = nids ? db_portfolio_legs_some(c, nids, ids, batch_leg_row, &fresh) : DB_OK;
  free(ids);
  *reread = nids;
  /* merge, portfolio by portfolio: the kept legs of the unchanged, the fresh ones of the others */
  if (st == DB_OK && !batch_reserve(b, kept.b.nlegs + fresh.nlegs + 1, kept.b.nlend + fresh.nlend + 1)) st = DB_ERROR;
  size_t k = 0, kl = 0, ks = 0, fl = 0, fs = 0;
  for (size_t i = 0; st == DB_OK && i < b->npf; i++) {
    int64_t id = b->pf[i].id;
    while (k < kept.b.npf && kept.b.pf[k].id < id)
      k++;
    bool keep = k < kept.b.npf && kept.b.pf[k].id == id && kept.b.pf[k].rev == b->pf[i].rev;
    const struct batch *src = keep ? &kept.b : &fresh;
    size_t *li = keep ? &kl : &fl, *si = keep ? &ks : &fs;
    while (*li < src->nlegs && src->legs[*li].id < id)
      (*li)++;
    for (; *li < src->nlegs && src->legs[*li].id == id; (*li)++)
      b->legs[b->nlegs++] = src->legs[*li];
    while (*si < src->nlend && src->lend_id[*si] < id)
      (*si)++;
    for (; *si < src->nlend && src->lend_id[*si] == id; (*si)++) {
      b->lend[b->nlend] = src->lend[*si];
      b->lend_id[b->nlend++] = id;
    }
  }
  batch_free(&fresh);
  return st;
}

/* Keeps b's legs (read by legs_read for cfg version) for the next pass; b gives up its arrays. */
static void legs_keep(struct batch *b) {
  batch_free(&kept.b);
  kept.b = *b;
  kept.b.cfg = NULL;
  kept.version = b->cfg->version;
  kept.valid = true;
  memset(b, 0, sizeof *b);
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the batch pass's writes ----
 *
 * Sent while the pass computes, in chunks, in a libpq pipeline: the server parses and stores one
 * chunk (most of it: the band changes' results as jsonb) while the pass computes the next. Nothing
 * waits for an answer until the end (db_pipeline_end returns the first failure); a query the pass
 * must read meanwhile (a sparklend leg's account) ends the pipeline first. */
#define CHANGES_CHUNK 32     /* band changes (a result of a few kB each) per statement */
#define SUMMARIES_CHUNK 2048 /* unchanged bands' summaries per statement */

struct batch_out {
  db_conn *c;
  int64_t version, now;
  bool piped, reset;
  json_t *changes;
  size_t nb; /* summaries held */
  int64_t *ids, *seqs, *hss, *sinces, *fps;
  int *bands;
  double ms; /* spent sending */
};

static db_status out_pipe(struct batch_out *o) {
  if (o->piped) return DB_OK;
  db_status st = db_pipeline_begin(o->c);
  o->piped = st == DB_OK;
  return st;
}

/* Ends the pipeline (if any): returns the first failure of what it carried. */
static db_status out_sync(struct batch_out *o) {
  if (!o->piped) return DB_OK;
  double t = mono_ms();
  o->piped = false;
  db_status st = db_pipeline_end(o->c);
  o->ms += mono_ms() - t;
  return st;
}

/* Sends the held band changes (force: any; else only a full chunk) and summaries. */
static db_status out_send(struct batch_out *o, bool force) {
  db_status st = DB_OK;
  size_t nch = json_array_size(o->changes);
  bool changes = nch >= CHANGES_CHUNK || (force && nch), sums = o->nb >= SUMMARIES_CHUNK || (force && o->nb);
  if (!changes && !sums) return DB_OK;
  double t = mono_ms();
  st = out_pipe(o);
  if (st == DB_OK && changes) {
    if (!o->reset) st = db_margin_changes_reset(o->c);
    o->reset = true;
    char *text = st == DB_OK ? json_dumps(o->changes, JSON_COMPACT) : NULL;
    if (st == DB_OK) st = text ? db_margin_changes(o->c, text, PARTNER_MARGIN_EVENT_BAND) : DB_ERROR;
    free(text);
    json_array_clear(o->changes);
  }
  if (st == DB_OK && sums) {
    uint64_t updated = 0;
    st = db_margin_latest_batch(o->c, o->nb, o->ids, o->seqs, o->hss, o->sinces, o->bands, o->fps, o->version, o->now,
                                &updated);
    o->nb = 0;
  }
  o->ms += mono_ms() - t;
  return st;
}

db_status partner_margin_recompute_all(db_conn *c, uint64_t now, struct partner_margin_batch_stats *stats) {
  memset(stats, 0, sizeof *stats);
  double t0 = mono_ms(), t1 = t0, t2 = t0;
  struct partner_margin_config *cfg = malloc(sizeof *cfg);
  struct partner_margin_book *tpl = calloc(1, sizeof *tpl), *bk = malloc(sizeof *bk);
  struct batch b = {0};
  struct batch_out o = {.c = c, .now = (int64_t)now, .changes = json_array()};
  db_status st = cfg && tpl && bk && o.changes ? partner_margin_config_load(c, cfg) : DB_ERROR;
  b.cfg = cfg;
  if (st == DB_OK) st = partner_margin_book_prices(c, cfg, tpl);
  if (st == DB_OK) st = db_portfolios_all(c, batch_pf_row, &b);
  /* one pass at a time uses the kept legs; another one meanwhile (not the worker's) reads all */
  bool mine = st == DB_OK && pthread_mutex_trylock(&kept.mu) == 0;
  if (mine) {
    st = legs_read(c, &b, (uint64_t)time(NULL), &stats->legs_reread);
    if (st != DB_OK) kept.valid = false;
  } else if (st == DB_OK) {
    stats->legs_reread = b.npf;
    st = db_portfolio_legs_all(c, batch_leg_row, &b);
  }
  if (st != DB_OK) goto done;
  t1 = mono_ms();
  o.version = cfg->version;
  o.ids = malloc(SUMMARIES_CHUNK * sizeof *o.ids);
  o.seqs = malloc(SUMMARIES_CHUNK * sizeof *o.seqs);
  o.hss = malloc(SUMMARIES_CHUNK * sizeof *o.hss);
  o.sinces = malloc(SUMMARIES_CHUNK * sizeof *o.sinces);
  o.bands = malloc(SUMMARIES_CHUNK * sizeof *o.bands);
  o.fps = malloc(SUMMARIES_CHUNK * sizeof *o.fps);
  if (!o.ids || !o.seqs || !o.hss || !o.sinces || !o.bands || !o.fps) {
    st = DB_ERROR;
    goto done;
  }
  size_t li = 0, si = 0;
  for (size_t i = 0; i < b.npf; i++) {
    const struct batch_pf *pf = &b.pf[i];
    bk->n = 0;
    memcpy(bk->prices, tpl->prices, sizeof bk->prices);
    memcpy(bk->prices_ts, tpl->prices_ts, sizeof bk->prices_ts);
    bool bad = false;
    const struct batch_leg *src[RISK_MARGIN_MAX_LEGS];
    while (li < b.nlegs && b.legs[li].id < pf->id)
      li++;
    for (; li < b.nlegs && b.legs[li].id == pf->id; li++) {
      const struct batch_leg *x = &b.legs[li];
      if (x->bad || bk->n == RISK_MARGIN_MAX_LEGS) {
        bad = true;
        continue;
      }
      bk->legs[bk->n] = x->leg;
      strcpy(bk->kind[bk->n], leg_kinds[x->kind_no]); /* the fingerprint's; the other names only when a
                                                        result is rendered */
      src[bk->n++] = x;
    }
    while (si < b.nlend && b.lend_id[si] < pf->id)
      si++;
    size_t nplain = bk->n;
    for (; si < b.nlend && b.lend_id[si] == pf->id && !bad; si++) {
      const char *why = NULL;
      if ((st = out_sync(&o)) != DB_OK) goto done; /* the account is read: no pipeline */
      st = partner_margin_book_add(c, cfg, bk, &b.lend[si], &why);
      if (st == DB_NO_ROWS)
        bad = true;
      else if (st != DB_OK)
        goto done;
    }
    for (size_t j = nplain; j < bk->n; j++)
      src[j] = NULL;
    st = DB_OK;
    struct risk_margin_prev prev = {pf->band < 0 ? RISK_MARGIN_FREE : (enum risk_margin_band)pf->band,
                                    (uint64_t)pf->since};
    struct risk_margin_result r;
    if (bad || risk_margin_compute(&r, bk->legs, bk->n, bk->prices, bk->prices_ts, &cfg->p, &prev, now) != RISK_OK) {
      stats->not_computable++;
      continue;
    }
    stats->portfolios++;
    int64_t fp = margin_fingerprint(cfg, bk, &r);
    if (pf->seq > 0 && pf->has_fp && pf->fp == fp) {
      stats->unchanged++; /* the stored record stands: nothing to write */
      continue;
    }
    int64_t seq = pf->seq + 1;
    if (pf->band == (int)r.band) {
      o.ids[o.nb] = pf->id;
      o.seqs[o.nb] = seq;
      o.hss[o.nb] = r.hs_bps;
      o.sinces[o.nb] = (int64_t)r.call_since;
      o.fps[o.nb] = fp;
      o.bands[o.nb++] = r.band;
      if ((st = out_send(&o, false)) != DB_OK) goto done;
      continue;
    }
    /* a band change: the full result, a history row and the webhook rows, written together below */
    stats->band_changes++;
    for (size_t j = 0; j < bk->n; j++) {
      const struct batch_leg *x = src[j];
      if (!x) continue; /* a sparklend reserve: named when it was added */
      snprintf(bk->venue[j], sizeof bk->venue[0], "%s", cfg->venue[x->leg.venue]);
      snprintf(bk->underlying[j], sizeof bk->underlying[0], "%s",
               x->leg.underlying == RISK_MARGIN_CASH ? "USD" : cfg->symbol[x->leg.underlying]);
    }
    json_t *res = partner_margin_result_json(cfg, bk, &r, pf->id, seq, now, false);
    /* the webhook payload (the result as its record) is assembled by the statement, only for the
     * rows that have a subscribed webhook: the result crosses the wire and is parsed once */
    char fps_[24];
    snprintf(fps_, sizeof fps_, "%lld", (long long)fp);
    json_t *ch = json_pack(
        "{s:I,s:I,s:I,s:I,s:i,s:i,s:I,s:I,s:I,s:o,s:s,s:o,s:s}", "id", (json_int_t)pf->id, "partner",
        (json_int_t)pf->partner, "seq", (json_int_t)seq, "version", (json_int_t)cfg->version, "band", (int)r.band,
        "prev", pf->band, "hs", (json_int_t)r.hs_bps, "since", (json_int_t)r.call_since, "as_of", (json_int_t)now,
        "result", res, "band_name", risk_margin_band_name(r.band), "prev_name",
        pf->band < 0 ? json_null() : json_string(risk_margin_band_name((enum risk_margin_band)pf->band)), "fp", fps_);
    if (!ch || json_array_append_new(o.changes, ch) != 0) {
      st = DB_ERROR;
      goto done;
    }
    if ((st = out_send(&o, false)) != DB_OK) goto done;
  }
  t2 = mono_ms();
  double sent = o.ms; /* sending while computing */
  st = out_send(&o, true);
  db_status sync = out_sync(&o);
  if (st == DB_OK) st = sync;
  if (st == DB_OK && o.reset) st = db_margin_changes_queued(c, &stats->outbox);
  if (st != DB_OK) goto done;
  stats->read_ms = t1 - t0;
  /* the time spent sending during the computation counts as writing */
  stats->compute_ms = t2 - t1 - sent;
  stats->write_ms = sent + (mono_ms() - t2);
  /* the legs read stand whether or not the caller commits: the pass writes none */
  if (mine && st == DB_OK) legs_keep(&b);
done:
  if (mine) {
    if (st != DB_OK) kept.valid = false;
    pthread_mutex_unlock(&kept.mu);
  }
  free(cfg);
  free(tpl);
  free(bk);
  free(b.pf);
  free(b.legs);
  free(b.lend);
  free(b.lend_id);
  if (o.piped) (void)out_sync(&o); /* failed: leave pipeline mode, the first failure stands */
  free(o.ids);
  free(o.seqs);
  free(o.hss);
  free(o.sinces);
  free(o.bands);
  free(o.fps);
  json_decref(o.changes);
  return st;
}
