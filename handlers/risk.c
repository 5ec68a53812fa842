/* Ops risk analytics (scope ops, or admin): GET /v1/risk/{chain}/liquidations-at-risk,
 * POST /v1/risk/{chain}/stress, GET /v1/risk/{chain}/var, GET /v1/risk/{chain}/concentration,
 * GET /v1/oracles/{chain}; and the loss waterfall's configuration (scope admin):
 * GET and PUT /v1/admin/risk/waterfall, the PUT audited.
 *
 * Every figure is computed from the served state generation: the chain's market at its block
 * (state/markets.h) and every account the generation holds (state/accounts.h; a chain above
 * SPARKD_ACCOUNT_CACHE_MAX accounts is 422, since the analytics need the whole book in one
 * block). The math is risk/stress.h, risk/waterfall.h, risk/var.h, risk/concentration.h; the
 * JSON is views/risk_json.h. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db/risk.h"
#include "handlers/bodies.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "handlers/partner_write.h"
#include "risk/reserve.h"
#include "risk/wadray.h"
#include "service/body.h"
#include "service/heavy.h"
#include "service/request.h"
#include "service/server.h"
#include "state/cache.h"
#include "util/log.h"
#include "views/risk_json.h"

#define LAR_MAX_ASSETS 32
#define LAR_MAX_DROPS 101
#define LAR_MAX_POINTS 400 /* curves x drops: each point is a market in memory and work in the one pass */
#define VAR_HISTORY_S (90 * 86400)
#define VAR_MAX_OBS 20000

/* ---- the served chain and its book ---- */

struct rctx {
  struct state_cache *c;
  const struct state_market *mc;
  const struct state_acc_chain *x;
  const struct state_acc_view *v;
  struct risk_book b;
  struct risk_position *pos;
  uint32_t *first;
  uint8_t *emode;
  size_t n_pos;
};

static void rctx_close(struct rctx *r) {
  free(r->pos);
  free(r->first);
  free(r->emode);
  if (r->c) state_cache_release(r->c);
  memset(r, 0, sizeof *r);
}

static bool not_computable(struct svc_request *req, struct rctx *r, const char *why) {
  svc_reply_problem(req, SVC_ERR_not_computable, "chain %lld: %s", (long long)r->mc->chain_id, why);
  return false;
}

/* The chain of the request's path and, with book, every account; false after replying. */
static bool rctx_open_chain(struct svc_request *req, struct rctx *r, bool book, enum svc_handler_result *res) {
  char buf[32];
  const char *chain = svc_req_param(req, "chain", buf, sizeof buf);
  int64_t id = 0;
  if (!chain || !handler_parse_chain_id(chain, &id)) {
    svc_reply_problem_fields(
        req, SVC_ERR_invalid_parameter,
        json_pack("[o]", svc_field_error("chain", "invalid_chain_id", "must be a positive integer")),
        "chain must be a chain id");
    return false;
  }
  if (!(r->c = state_cache_acquire())) {
    svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
    return false;
  }
  r->mc = state_markets_chain(r->c, id);
  r->x = state_accounts_chain(r->c, id);
  if (!r->mc) {
    svc_reply_problem(req, SVC_ERR_chain_not_found, "no chain %lld has been imported", (long long)id);
    return false;
  }
  risk_err e = RISK_OK;
  if (!(r->v = state_accounts_view_at_block(r->c, r->mc, r->x, &e))) {
    util_log(UTIL_LOG_ERROR, "risk: market of chain %lld: %s", (long long)id, risk_err_name(e));
    *res = SVC_HANDLER_FATAL;
    return false;
  }
  if (!book) return true;
  if (!r->x || !r->x->accounts_cached)
    return not_computable(req, r,
                          "more accounts than SPARKD_ACCOUNT_CACHE_MAX; risk figures need every account in memory");
  const struct state_acc_chain *x = r->x;
  r->pos = malloc((x->n_positions ? x->n_positions : 1) * sizeof *r->pos);
  r->first = malloc((x->n_accounts + 1) * sizeof *r->first);
  r->emode = malloc(x->n_accounts ? x->n_accounts : 1);
  if (!r->pos || !r->first || !r->emode) {
    *res = SVC_HANDLER_FATAL;
    return false;
  }
  size_t n = 0;
  for (size_t i = 0; i < x->n_accounts; i++) {
    const struct state_acc *a = &x->accounts[i];
    r->first[i] = (uint32_t)n;
    r->emode[i] = a->emode;
    if (a->too_many) return not_computable(req, r, "an account holds more positions than the engine takes");
    for (uint32_t j = 0; j < a->n_pos; j++) {
      const struct state_acc_pos *q = &x->positions[a->first + j];
      if (q->reserve < 0 || (uint32_t)q->reserve >= r->v->m.n_reserves || !r->v->res[q->reserve])
        return not_computable(req, r, "an account holds a position the market does not list");
      r->pos[n++] = (struct risk_position){.reserve = (uint16_t)q->reserve,
                                           .collateral = q->collateral,
                                           .borrowing = !u256_is_zero(q->scaled_debt),
                                           .scaled_a = q->scaled_a,
                                           .scaled_debt = q->scaled_debt};
    }
  }
  r->first[x->n_accounts] = (uint32_t)n;
  r->n_pos = n;
  r->b = (struct risk_book){.n_accounts = x->n_accounts, .pos = r->pos, .first = r->first, .emode = r->emode};
  return true;
}

/* Opens the chain of the request's path and, with book, every account: the book routes are the
 * heavy ones, so they first take a place at the heavy-request gate (service/heavy.h). False after
 * replying, with r closed. */
static bool rctx_open(struct svc_request *req, struct rctx *r, bool book, enum svc_handler_result *res) {
  memset(r, 0, sizeof *r);
  *res = SVC_HANDLED;
  if (book && !svc_heavy_enter(req)) return false;
  if (rctx_open_chain(req, r, book, res)) return true;
  rctx_close(r);
  return false;
}

static enum svc_handler_result reply_jw(struct svc_request *req, struct jw *w) {
  if (w->oom) {
    jw_free(w);
    return SVC_HANDLER_FATAL;
  }
  return svc_reply_take(req, 200, "application/json", w->buf, w->len);
}

/* ---- small parsers ---- */

/* Parses a decimal "[-]d[.ddd]" with at most `dec` fraction digits into sign and the magnitude
 * scaled by 10^dec; false when malformed. */
static bool parse_signed_fixed(const char *s, unsigned dec, bool *neg, u256 *mag) {
  char digits[U256_DEC_MAX + 40];
  size_t n = 0, frac = 0;
  bool dot = false, any = false;
  *neg = false;
  if (*s == '-') *neg = true, s++;
  for (const char *p = s; *p; p++) {
    if (*p == '.' && !dot && any) {
      dot = true;
      continue;
    }
    if (!isdigit((unsigned char)*p)) return false;
    if (dot && ++frac > dec) return false;
    if (n + dec + 1 >= sizeof digits) return false;
    digits[n++] = *p;
    any = true;
  }
  if (!any || (dot && frac == 0)) return false;
  for (; frac < dec; frac++)
    digits[n++] = '0';
  return u256_from_dec(mag, digits, n) == RISK_OK;
}

/* A decimal within [lo, hi] as a double; false when malformed or outside. */
static bool parse_double_in(const char *s, double lo, double hi, double *out) {
  bool neg;
  u256 mag;
  if (!parse_signed_fixed(s, 18, &neg, &mag)) return false;
  if (mag.w[2] | mag.w[3]) return false;
  /* w[1] too: 2^64 / 1e18 is only 18.4, and impact_coefficient goes to 100 */
  double d = ((double)mag.w[1] * 0x1p64 + (double)mag.w[0]) / 1e18;
  if (neg) d = -d;
  if (d < lo || d > hi) return false;
  *out = d;
  return true;
}

/* Splits the next comma-separated item of *s into item (NUL-terminated); false at the end. */
static bool next_item(const char **s, char *item, size_t len, bool *too_long) {
  if (!*s) return false;
  const char *c = strchr(*s, ',');
  size_t n = c ? (size_t)(c - *s) : strlen(*s);
  *too_long = n >= len;
  snprintf(item, len, "%.*s", (int)(n < len ? n : len - 1), *s);
  *s = c ? c + 1 : NULL; /* "a," ends with an empty item, and "" is one: the caller refuses it */
  return true;
}

/* Stable-coin-like names are left out of the default shock set: a drop grid is about volatile collateral. */
static bool stable_name(const char *sym) {
  char u[48];
  size_t i = 0;
  for (; sym[i] && i + 1 < sizeof u; i++)
    u[i] = (char)toupper((unsigned char)sym[i]);
  u[i] = 0;
  return strstr(u, "USD") || strstr(u, "DAI");
}

static bool volatile_reserve(const struct state_acc_view *v, uint32_t r) {
  const struct state_reserve *s = v->res[r];
  return s && s->has_price && !u256_is_zero(s->price) && !u256_eq(s->price, u256_from_u64(100000000)) &&
         v->m.reserves[r].liquidation_threshold != 0 && !stable_name(s->symbol);
}

/* ---- GET /v1/risk/{chain}/liquidations-at-risk ---- */

/* A book at least this large is split over two threads (the engine keeps no state between
 * accounts, so the halves' points simply add up). */
#define LAR_SPLIT_ACCOUNTS 20000

struct lar_job {
  const struct risk_market *m, *ms;
  struct risk_book b;
  const bool (*shocked)[RISK_MAX_RESERVES];
  size_t nc;
  const uint32_t *drops;
  size_t nd;
  struct risk_account *as;
  struct risk_lar_point *out;
  risk_err e;
};

static void *lar_run(void *arg) {
  struct lar_job *j = arg;
  j->e = risk_lar_curves(j->m, j->ms, &j->b, j->shocked, j->nc, j->drops, j->nd, j->as, j->out);
  return NULL;
}

/* Every curve of the request in one pass over b (risk_lar_curves), on two threads for a large
 * book: ms holds nc * nd markets (shared by the threads), as two accounts, tmp nc * nd points. */
static risk_err lar_curves(const struct risk_market *m, const struct risk_book *b,
                           const bool (*shocked)[RISK_MAX_RESERVES], size_t nc, const uint32_t *drops, size_t nd,
                           struct risk_market *ms, struct risk_account *as, struct risk_lar_point *out,
                           struct risk_lar_point *tmp) {
  risk_err e = risk_lar_markets(m, shocked, nc, drops, nd, ms);
  if (e) return e;
  if (b->n_accounts < LAR_SPLIT_ACCOUNTS) return risk_lar_curves(m, ms, b, shocked, nc, drops, nd, as, out);
  size_t half = b->n_accounts / 2;
  struct lar_job j[2] = {
      {m, ms, {half, b->pos, b->first, b->emode}, shocked, nc, drops, nd, &as[0], out, RISK_OK},
      {m,
       ms,
       {b->n_accounts - half, b->pos, b->first + half, b->emode + half},
       shocked,
       nc,
       drops,
       nd,
       &as[1],
       tmp,
       RISK_OK},
  };
  pthread_t t;
  bool threaded = pthread_create(&t, NULL, lar_run, &j[1]) == 0;
  lar_run(&j[0]);
  if (threaded)
    pthread_join(t, NULL);
  else
    lar_run(&j[1]);
  if (j[0].e) return j[0].e;
  if (j[1].e) return j[1].e;
  for (size_t g = 0; g < nc * nd && !e; g++)
    e = risk_lar_point_add(&out[g], &tmp[g]);
  return e;
}

enum svc_handler_result handler_risk_liquidations_at_risk(struct svc_request *req) {
  struct rctx r;
  enum svc_handler_result res;
  if (!rctx_open(req, &r, true, &res)) return res;
  const struct state_acc_view *v = r.v;
  uint16_t assets[LAR_MAX_ASSETS];
  size_t na = 0;
  char item[128];
  bool too_long;
  res = SVC_HANDLER_FATAL;
  struct risk_lar_point *pts = NULL, *tmp = NULL;
  struct view_risk_curve *curves = NULL;
  struct risk_market *ms = NULL;
  struct risk_account *as = NULL;
  bool(*shocked)[RISK_MAX_RESERVES] = NULL;

  const char *q = svc_req_query(req, "assets");
  if (q) {
    const char *s = q;
    while (next_item(&s, item, sizeof item, &too_long)) {
      int id = too_long || !item[0] ? -1 : state_accounts_reserve_id(v, item);
      if (id < 0 || !v->res[id]) {
        char msg[200];
        snprintf(msg, sizeof msg, "'%.100s' is not a reserve of this chain", item);
        res = handler_bad_query(req, "assets", "unknown_asset", msg);
        goto out;
      }
      bool dup = false;
      for (size_t i = 0; i < na; i++)
        dup |= assets[i] == id;
      if (dup) continue;
      if (na == LAR_MAX_ASSETS) {
        res = handler_bad_query(req, "assets", "too_many", "at most 32 assets");
        goto out;
      }
      assets[na++] = (uint16_t)id;
    }
    if (na == 0) {
      res = handler_bad_query(req, "assets", "empty", "name at least one asset");
      goto out;
    }
  } else {
    for (uint32_t i = 0; i < v->m.n_reserves && na < LAR_MAX_ASSETS; i++)
      if (volatile_reserve(v, i)) assets[na++] = (uint16_t)i;
  }

  uint32_t drops[LAR_MAX_DROPS];
  size_t nd = 0;
  q = svc_req_query(req, "drops");
  if (q) {
    const char *s = q;
    while (next_item(&s, item, sizeof item, &too_long)) {
      bool neg;
      u256 m;
      uint64_t bps;
      if (too_long || !parse_signed_fixed(item, 4, &neg, &m) || neg || !u256_to_u64(m, &bps) || bps > 10000) {
        res = handler_bad_query(req, "drops", "out_of_range",
                                "each drop must be a fraction from 0 to 1 with at most 4 decimals");
        goto out;
      }
      if (nd == LAR_MAX_DROPS) {
        res = handler_bad_query(req, "drops", "too_many", "at most 101 drops");
        goto out;
      }
      drops[nd++] = (uint32_t)bps;
    }
    if (nd == 0) {
      res = handler_bad_query(req, "drops", "out_of_range", "name at least one drop");
      goto out;
    }
  } else {
    for (nd = 0; nd < 21; nd++)
      drops[nd] = (uint32_t)(nd * 250);
  }

  bool each = true, together = true;
  q = svc_req_query(req, "mode");
  if (q) {
    if (strcmp(q, "each") == 0)
      together = false;
    else if (strcmp(q, "together") == 0)
      each = false;
    else if (strcmp(q, "both") != 0) {
      res = handler_bad_query(req, "mode", "unknown_value", "must be each, together or both");
      goto out;
    }
  }
  size_t nc = (each ? na : 0) + (together && na > 0 ? 1 : 0);
  if (nc * nd > LAR_MAX_POINTS) {
    res = handler_bad_query(req, "drops", "too_many", "curves x drops must be at most 400; name fewer assets or drops");
    goto out;
  }
  pts = calloc(nc * nd + 1, sizeof *pts);
  curves = calloc(nc + 1, sizeof *curves);
  ms = malloc((nc * nd + 1) * sizeof *ms); /* one market per point of every curve, shared by the threads */
  as = malloc(2 * sizeof *as);
  tmp = malloc((nc * nd + 1) * sizeof *tmp);
  shocked = calloc(nc + 1, sizeof *shocked);
  if (!pts || !curves || !ms || !as || !tmp || !shocked) goto out;
  for (size_t c = 0; c < nc; c++) {
    struct view_risk_curve *cv = &curves[c];
    if (each && c < na) {
      cv->n_assets = 1;
      cv->assets[0] = assets[c];
      shocked[c][assets[c]] = true;
      snprintf(cv->label, sizeof cv->label, "%s", v->res[assets[c]]->symbol);
    } else {
      cv->n_assets = na;
      size_t len = 0;
      for (size_t i = 0; i < na; i++) {
        cv->assets[i] = assets[i];
        shocked[c][assets[i]] = true;
        if (len + 1 < sizeof cv->label)
          len += (size_t)snprintf(cv->label + len, sizeof cv->label - len, "%s%s", i ? "+" : "",
                                  v->res[assets[i]]->symbol);
      }
      if (len >= sizeof cv->label) cv->label[sizeof cv->label - 1] = 0;
    }
    cv->points = pts + c * nd;
    cv->n_points = nd;
  }
  risk_err e = lar_curves(&v->m, &r.b, (const bool(*)[RISK_MAX_RESERVES])shocked, nc, drops, nd, ms, as, pts, tmp);
  if (e) {
    util_log(UTIL_LOG_ERROR, "risk: liquidations at risk, chain %lld: %s", (long long)r.mc->chain_id, risk_err_name(e));
    res = svc_reply_problem(req, SVC_ERR_not_computable, "the engine cannot evaluate this grid: %s", risk_err_name(e));
    goto out;
  }
  size_t ci = nc;
  struct jw w = {0};
  view_risk_lar(&w, v, r.b.n_accounts, curves, ci);
  res = reply_jw(req, &w);
out:
  free(pts);
  free(tmp);
  free(curves);
  free(ms);
  free(as);
  free(shocked);
  rctx_close(&r);
  return res;
}

/* ---- the waterfall configuration ---- */

struct wf_load {
  struct view_risk_wf *wf;
  int last_layer;
  bool bad;
};

static db_status wf_row(const db_row *row, void *arg) {
  struct wf_load *l = arg;
  struct view_risk_wf *wf = l->wf;
  int layer = atoi(db_row_text(row, 0));
  if (layer != l->last_layer) {
    if (wf->n_layers == RISK_WF_MAX_LAYERS) return DB_ERROR;
    l->last_layer = layer;
    size_t i = wf->n_layers++;
    snprintf(wf->name[i], sizeof wf->name[i], "%s", db_row_text(row, 1));
    wf->residual[i] = db_row_text(row, 2)[0] == 't';
  }
  struct risk_wf_layer *L = &wf->layers[wf->n_layers - 1];
  if (L->n_holders == RISK_WF_MAX_HOLDERS) return DB_ERROR;
  size_t h = L->n_holders++;
  snprintf(wf->holder[wf->n_layers - 1][h], sizeof wf->holder[0][0], "%s", db_row_text(row, 4));
  if (!u256_parse_dec(db_row_text(row, 5), &L->holders[h].capacity)) return DB_ERROR;
  const char *t = db_row_text(row, 6);
  if (t && strcmp(t, wf->updated_at) > 0) snprintf(wf->updated_at, sizeof wf->updated_at, "%s", t);
  return DB_OK;
}

/* Reads the waterfall into wf; false after replying 503. */
static bool wf_read(struct svc_request *req, struct view_risk_wf *wf) {
  memset(wf, 0, sizeof *wf);
  db_conn *conn = svc_req_db(req);
  if (!conn) return false;
  struct wf_load l = {wf, -1, false};
  db_status st = db_risk_waterfall(conn, wf_row, &l);
  db_release(conn);
  if (st != DB_OK) {
    svc_reply_problem(req, SVC_ERR_database_unavailable, "the waterfall could not be read; retry shortly");
    return false;
  }
  return true;
}

enum svc_handler_result handler_admin_risk_waterfall_get(struct svc_request *req) {
  struct view_risk_wf *wf = malloc(sizeof *wf);
  if (!wf) return SVC_HANDLER_FATAL;
  enum svc_handler_result res = SVC_HANDLED;
  if (wf_read(req, wf)) {
    struct jw w = {0};
    view_risk_wf_config(&w, wf);
    res = reply_jw(req, &w);
  }
  free(wf);
  return res;
}

struct wf_holder_in {
  const char *name;
  u256 capacity;
};
struct wf_layer_in {
  const char *name;
  long long position;
  bool residual;
  size_t n_holders;
  struct wf_holder_in holders[RISK_WF_MAX_HOLDERS];
};
struct wf_body {
  size_t n_layers;
  struct wf_layer_in layers[RISK_WF_MAX_LAYERS];
};
static const struct svc_body_field wf_holder_spec[] = {
    {.name = "name",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct wf_holder_in, name),
     .lo = 1,
     .hi = 80},
    /* below 2^128: capacities and losses then multiply in 256 bits (risk/waterfall.h) */
    {.name = "capacity_base",
     .type = SVC_BODY_U256,
     .required = true,
     .offset = offsetof(struct wf_holder_in, capacity),
     .bits = 128},
};
static const struct svc_body_field wf_layer_spec[] = {
    {.name = "name",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct wf_layer_in, name),
     .lo = 1,
     .hi = 80},
    {.name = "position",
     .type = SVC_BODY_INT,
     .offset = offsetof(struct wf_layer_in, position),
     .lo = -1000000,
     .hi = 1000000},
    {.name = "residual", .type = SVC_BODY_BOOL, .offset = offsetof(struct wf_layer_in, residual)},
    {.name = "holders",
     .type = SVC_BODY_ARRAY,
     .required = true,
     .offset = offsetof(struct wf_layer_in, holders),
     .lo = 1,
     .hi = RISK_WF_MAX_HOLDERS,
     .sub = wf_holder_spec,
     .nsub = sizeof wf_holder_spec / sizeof wf_holder_spec[0],
     .elem_size = sizeof(struct wf_holder_in),
     .count_offset = offsetof(struct wf_layer_in, n_holders)},
};
static const struct svc_body_field wf_spec[] = {
    {.name = "layers",
     .type = SVC_BODY_ARRAY,
     .required = true,
     .offset = offsetof(struct wf_body, layers),
     .lo = 1,
     .hi = RISK_WF_MAX_LAYERS,
     .sub = wf_layer_spec,
     .nsub = sizeof wf_layer_spec / sizeof wf_layer_spec[0],
     .elem_size = sizeof(struct wf_layer_in),
     .count_offset = offsetof(struct wf_body, n_layers)},
};

struct wf_txn {
  struct svc_request *req;
  const struct wf_body *b;
};

static db_status wf_write(db_conn *conn, void *arg) {
  struct wf_txn *t = arg;
  db_status st = db_risk_waterfall_clear(conn);
  for (size_t l = 0; st == DB_OK && l < t->b->n_layers; l++) {
    const struct wf_layer_in *L = &t->b->layers[l];
    for (size_t h = 0; st == DB_OK && h < L->n_holders; h++) {
      char cap[U256_DEC_MAX];
      u256_to_dec(L->holders[h].capacity, cap);
      st = db_risk_waterfall_insert(conn, (int)l + 1, L->name, L->residual, (int)h + 1, L->holders[h].name, cap);
    }
  }
  if (st == DB_OK) st = handler_audit_append(conn, t->req, 200, 0);
  return st;
}

enum svc_handler_result handler_admin_risk_waterfall_put(struct svc_request *req) {
  struct wf_body *b = calloc(1, sizeof *b);
  struct view_risk_wf *wf = calloc(1, sizeof *wf);
  json_t *errors = json_array();
  enum svc_handler_result res = SVC_HANDLER_FATAL;
  struct svc_body *body = NULL;
  if (!b || !wf || !errors) goto out;
  body = svc_body_parse(req, wf_spec, sizeof wf_spec / sizeof wf_spec[0], b);
  if (!body) {
    res = SVC_HANDLED;
    goto out;
  }
  for (size_t l = 0; l < b->n_layers; l++)
    if (b->layers[l].residual && l + 1 != b->n_layers) {
      char f[64];
      snprintf(f, sizeof f, "layers[%zu].residual", l);
      json_array_append_new(errors, svc_field_error(f, "not_last", "only the last layer may be residual"));
    }
  if (json_array_size(errors)) {
    res = svc_reply_validation(req, errors);
    errors = NULL;
    goto out;
  }
  struct wf_txn t = {req, b};
  db_status st = db_run_txn(req->srv->pool, wf_write, &t);
  if (st != DB_OK) {
    util_log(UTIL_LOG_ERROR, "request %s: waterfall not written: %s", req->request_id, db_status_name(st));
    res = svc_reply_problem(req, SVC_ERR_database_unavailable, "the waterfall could not be written; retry shortly");
    goto out;
  }
  if (wf_read(req, wf)) {
    struct jw w = {0};
    view_risk_wf_config(&w, wf);
    res = reply_jw(req, &w);
  } else {
    res = SVC_HANDLED;
  }
out:
  json_decref(errors);
  svc_body_free(body);
  free(b);
  free(wf);
  return res;
}

/* ---- POST /v1/risk/{chain}/stress ---- */

struct stress_kv {
  const char *asset;
  const char *value;
};
struct stress_slip_in {
  const char *asset;
  long long spread_bps;
  const char *sigma, *y;
  u256 depth;
};
struct stress_body {
  size_t n_ps, n_rs, n_slip;
  struct stress_kv ps[RISK_MAX_RESERVES], rs[RISK_MAX_RESERVES];
  struct stress_slip_in slip[RISK_MAX_RESERVES];
  long long horizon_days, cascade_rounds;
};
static const struct svc_body_field kv_spec[] = {
    {.type = SVC_BODY_STRING, .offset = offsetof(struct stress_kv, value), .lo = 1, .hi = 64},
};
static const struct svc_body_field slip_fields[] = {
    {.name = "spread_bps",
     .type = SVC_BODY_INT,
     .offset = offsetof(struct stress_slip_in, spread_bps),
     .lo = 0,
     .hi = 10000},
    {.name = "daily_volatility",
     .type = SVC_BODY_STRING,
     .offset = offsetof(struct stress_slip_in, sigma),
     .lo = 1,
     .hi = 64},
    {.name = "impact_coefficient",
     .type = SVC_BODY_STRING,
     .offset = offsetof(struct stress_slip_in, y),
     .lo = 1,
     .hi = 64},
    {.name = "depth_base", .type = SVC_BODY_U256, .required = true, .offset = offsetof(struct stress_slip_in, depth)},
};
static const struct svc_body_field slip_spec[] = {
    {.type = SVC_BODY_OBJECT, .offset = 0, .sub = slip_fields, .nsub = sizeof slip_fields / sizeof slip_fields[0]},
};
#define SB(m) offsetof(struct stress_body, m)
static const struct svc_body_field stress_spec[] = {
    {.name = "price_shocks",
     .type = SVC_BODY_MAP,
     .offset = SB(ps),
     .hi = RISK_MAX_RESERVES,
     .sub = kv_spec,
     .nsub = 1,
     .elem_size = sizeof(struct stress_kv),
     .count_offset = SB(n_ps),
     .key_offset = offsetof(struct stress_kv, asset)},
    {.name = "rate_shocks",
     .type = SVC_BODY_MAP,
     .offset = SB(rs),
     .hi = RISK_MAX_RESERVES,
     .sub = kv_spec,
     .nsub = 1,
     .elem_size = sizeof(struct stress_kv),
     .count_offset = SB(n_rs),
     .key_offset = offsetof(struct stress_kv, asset)},
    {.name = "horizon_days", .type = SVC_BODY_INT, .offset = SB(horizon_days), .lo = 0, .hi = 365},
    {.name = "slippage",
     .type = SVC_BODY_MAP,
     .offset = SB(slip),
     .hi = RISK_MAX_RESERVES,
     .sub = slip_spec,
     .nsub = 1,
     .elem_size = sizeof(struct stress_slip_in),
     .count_offset = SB(n_slip),
     .key_offset = offsetof(struct stress_slip_in, asset)},
    {.name = "cascade_rounds",
     .type = SVC_BODY_INT,
     .offset = SB(cascade_rounds),
     .lo = 0,
     .hi = RISK_STRESS_MAX_ROUNDS - 1},
};
#undef SB

static void field_err(json_t *errors, const char *map, const char *key, const char *sub, const char *code,
                      const char *msg) {
  char f[200];
  snprintf(f, sizeof f, "%s.%.80s%s%s", map, key, sub ? "." : "", sub ? sub : "");
  json_array_append_new(errors, svc_field_error(f, code, msg));
}

enum svc_handler_result handler_risk_stress_post(struct svc_request *req) {
  struct rctx r;
  enum svc_handler_result res;
  if (!rctx_open(req, &r, true, &res)) return res;
  const struct state_acc_view *v = r.v;
  res = SVC_HANDLER_FATAL;
  struct stress_body *b = calloc(1, sizeof *b);
  json_t *errors = json_array();
  struct svc_body *body = NULL;
  struct state_reserve *copy = NULL;
  struct state_acc_view *sv = NULL;
  struct risk_market *ms = NULL;
  struct risk_account *as = NULL;
  struct risk_stress_result *out = NULL;
  struct view_risk_wf *wf = NULL;
  uint8_t *liq = NULL;
  struct risk_slippage *slip = NULL;
  struct view_risk_shock ps[RISK_MAX_RESERVES], rs[RISK_MAX_RESERVES];
  u256 price_f[RISK_MAX_RESERVES]; /* 1e18 + shock, or 0: none */
  bool price_set[RISK_MAX_RESERVES];
  u256 rate_shock[RISK_MAX_RESERVES];
  bool rate_set[RISK_MAX_RESERVES], rate_neg[RISK_MAX_RESERVES];
  memset(price_f, 0, sizeof price_f);
  memset(price_set, 0, sizeof price_set);
  memset(rate_set, 0, sizeof rate_set);
  if (!b || !errors) goto out;
  body = svc_body_parse_collect(req, stress_spec, sizeof stress_spec / sizeof stress_spec[0], b, errors);
  if (!body) {
    res = SVC_HANDLED;
    goto out;
  }
  if (!(slip = calloc(RISK_MAX_RESERVES, sizeof *slip))) goto out;
  for (size_t i = 0; i < b->n_ps; i++) {
    int id = state_accounts_reserve_id(v, b->ps[i].asset);
    bool neg;
    u256 m;
    if (id < 0 || !v->res[id]) {
      field_err(errors, "price_shocks", b->ps[i].asset, NULL, "unknown_asset", "is not a reserve of this chain");
      continue;
    }
    if (price_set[id]) { /* "WETH" and "weth", or a symbol and its address: which one would apply? */
      field_err(errors, "price_shocks", b->ps[i].asset, NULL, "duplicate", "names a reserve an earlier key names");
      continue;
    }
    if (!b->ps[i].value || !parse_signed_fixed(b->ps[i].value, 18, &neg, &m) ||
        u256_gt(m, u256_from_u64(neg ? 1000000000000000000ull : 10000000000000000000ull))) {
      field_err(errors, "price_shocks", b->ps[i].asset, NULL, "out_of_range",
                "must be a decimal string from -1 to 10 (a relative change)");
      continue;
    }
    u256 one = u256_from_u64(1000000000000000000ull);
    price_f[id] = neg ? u256_sub_wrap(one, m) : u256_add_wrap(one, m);
    price_set[id] = true; /* a factor of 0 (-100%) is a shock too */
    ps[i] = (struct view_risk_shock){(uint16_t)id, b->ps[i].value};
  }
  for (size_t i = 0; i < b->n_rs; i++) {
    int id = state_accounts_reserve_id(v, b->rs[i].asset);
    bool neg;
    u256 m;
    if (id < 0 || !v->res[id]) {
      field_err(errors, "rate_shocks", b->rs[i].asset, NULL, "unknown_asset", "is not a reserve of this chain");
      continue;
    }
    if (rate_set[id]) {
      field_err(errors, "rate_shocks", b->rs[i].asset, NULL, "duplicate", "names a reserve an earlier key names");
      continue;
    }
    u256 ten_ray; /* at most +10 (1000% APR) or -1 */
    (void)u256_mul(&ten_ray, RISK_RAY, u256_from_u64(10));
    if (!b->rs[i].value || !parse_signed_fixed(b->rs[i].value, 27, &neg, &m) || u256_gt(m, neg ? RISK_RAY : ten_ray)) {
      field_err(errors, "rate_shocks", b->rs[i].asset, NULL, "out_of_range",
                "must be a decimal string from -1 to 10 (APR added)");
      continue;
    }
    rate_set[id] = true;
    rate_neg[id] = neg;
    rate_shock[id] = m;
    rs[i] = (struct view_risk_shock){(uint16_t)id, b->rs[i].value};
  }
  for (size_t i = 0; i < b->n_slip; i++) {
    const struct stress_slip_in *s = &b->slip[i];
    int id = state_accounts_reserve_id(v, s->asset);
    if (id < 0 || !v->res[id]) {
      field_err(errors, "slippage", s->asset, NULL, "unknown_asset", "is not a reserve of this chain");
      continue;
    }
    if (slip[id].set) {
      field_err(errors, "slippage", s->asset, NULL, "duplicate", "names a reserve an earlier key names");
      continue;
    }
    double sigma = 0, y = 1;
    if (s->sigma && !parse_double_in(s->sigma, 0, 10, &sigma)) {
      field_err(errors, "slippage", s->asset, "daily_volatility", "out_of_range", "must be a decimal from 0 to 10");
      continue;
    }
    if (s->y && !parse_double_in(s->y, 0, 100, &y)) {
      field_err(errors, "slippage", s->asset, "impact_coefficient", "out_of_range", "must be a decimal from 0 to 100");
      continue;
    }
    long double depth = ldexpl((long double)s->depth.w[3], 192) + ldexpl((long double)s->depth.w[2], 128) +
                        ldexpl((long double)s->depth.w[1], 64) + (long double)s->depth.w[0];
    slip[id] = (struct risk_slippage){
        .set = true, .spread_bps = (uint32_t)s->spread_bps, .sigma_day = sigma, .depth_base = (double)depth, .y = y};
  }
  if (json_array_size(errors)) {
    res = svc_reply_validation(req, errors);
    errors = NULL;
    goto out;
  }

  /* the shocked market: rates first (accrued from the block at the shocked rate over the
   * horizon), then prices */
  copy = malloc((r.mc->n ? r.mc->n : 1) * sizeof *copy);
  sv = malloc(sizeof *sv);
  ms = malloc(sizeof *ms);
  as = malloc(sizeof *as);
  out = malloc(sizeof *out);
  wf = malloc(sizeof *wf);
  liq = malloc(r.b.n_accounts ? r.b.n_accounts : 1);
  if (!copy || !sv || !ms || !as || !out || !wf || !liq) goto out;
  memcpy(copy, r.mc->r, r.mc->n * sizeof *copy);
  struct state_market mc2 = *r.mc;
  mc2.r = copy;
  uint64_t t0 = (uint64_t)r.mc->block_timestamp;
  risk_err e = RISK_OK;
  for (size_t i = 0; i < mc2.n && !e; i++) {
    int id = copy[i].reserve_id;
    if (id < 0 || id >= RISK_MAX_RESERVES || !rate_set[id]) continue;
    struct risk_reserve_state *st = &copy[i].st;
    if (st->last_update_timestamp < t0) e = risk_reserve_update_state(st, st, t0);
    if (e) break;
    u256 rate = st->current_variable_borrow_rate;
    if (rate_neg[id])
      rate = u256_gt(rate_shock[id], rate) ? U256_ZERO : u256_sub_wrap(rate, rate_shock[id]);
    else
      rate = u256_add_wrap(rate, rate_shock[id]);
    st->current_variable_borrow_rate = rate;
  }
  if (!e) e = state_accounts_view(sv, &mc2, r.x, t0 + (uint64_t)b->horizon_days * 86400u, NULL);
  for (uint32_t id = 0; !e && id < sv->m.n_reserves; id++)
    if (price_set[id])
      e = u256_muldiv(&sv->m.reserves[id].price, v->m.reserves[id].price, price_f[id],
                      u256_from_u64(1000000000000000000ull));
  if (!e) e = risk_stress_run(&sv->m, &r.b, r.pos, slip, (uint32_t)b->cascade_rounds, liq, ms, as, out);
  if (e) {
    util_log(UTIL_LOG_WARN, "risk: stress on chain %lld: %s", (long long)r.mc->chain_id, risk_err_name(e));
    res = svc_reply_problem(req, SVC_ERR_not_computable, "the engine cannot evaluate this scenario: %s",
                            risk_err_name(e));
    goto out;
  }
  if (!wf_read(req, wf)) {
    res = SVC_HANDLED;
    goto out;
  }
  u256 unabsorbed;
  if ((e = risk_waterfall_apply(out->bad_debt_base, wf->layers, wf->n_layers, &unabsorbed))) {
    res = svc_reply_problem(req, SVC_ERR_not_computable, "the waterfall cannot take this loss: %s", risk_err_name(e));
    goto out;
  }
  struct jw w = {0};
  view_risk_stress(&w, v, ps, b->n_ps, rs, b->n_rs, b->horizon_days, (uint32_t)b->cascade_rounds, out, wf, unabsorbed);
  res = reply_jw(req, &w);
out:
  json_decref(errors);
  svc_body_free(body);
  free(b);
  free(slip);
  free(copy);
  free(sv);
  free(ms);
  free(as);
  free(out);
  free(wf);
  free(liq);
  rctx_close(&r);
  return res;
}

/* ---- GET /v1/risk/{chain}/var ---- */

struct series_ctx {
  const struct state_acc_view *v;
  int64_t *ts;
  int64_t *blocks;
  double *price; /* [reserve][obs] with stride VAR_MAX_OBS */
  size_t n_obs;
  bool full;
};

static db_status series_row(const db_row *row, void *arg) {
  struct series_ctx *s = arg;
  const char *asset = db_row_text(row, 0);
  int64_t block = strtoll(db_row_text(row, 1), NULL, 10), ts = strtoll(db_row_text(row, 2), NULL, 10);
  int id = state_accounts_reserve_id(s->v, asset);
  if (id < 0) return DB_OK;
  if (s->n_obs == 0 || s->blocks[s->n_obs - 1] != block) {
    if (s->n_obs == VAR_MAX_OBS) {
      s->full = true;
      return DB_OK;
    }
    s->blocks[s->n_obs] = block;
    s->ts[s->n_obs] = ts;
    s->n_obs++;
  }
  u256 p;
  if (!u256_parse_dec(db_row_text(row, 3), &p)) return DB_OK;
  s->price[(size_t)id * VAR_MAX_OBS + s->n_obs - 1] =
      (double)p.w[0] + (double)p.w[1] * 0x1p64 + (double)p.w[2] * 0x1p128 + (double)p.w[3] * 0x1p192;
  return DB_OK;
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *out) {
  if (!s || !*s || strlen(s) > 20) return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (!isdigit((unsigned char)*p)) return false;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v > max) return false;
  *out = v;
  return true;
}

enum svc_handler_result handler_risk_var_get(struct svc_request *req) {
  struct rctx r;
  enum svc_handler_result res;
  if (!rctx_open(req, &r, true, &res)) return res;
  const struct state_acc_view *v = r.v;
  res = SVC_HANDLER_FATAL;
  struct series_ctx sc = {0};
  struct risk_var_model vm = {0};
  long double *losses = NULL;
  struct risk_var_params *p = calloc(1, sizeof *p);
  double *sig = NULL, *corr = NULL;
  size_t *samples = NULL;
  if (!p) goto out;

  const char *hq = svc_req_query(req, "horizon");
  char horizon[8] = "1d";
  int64_t horizon_s = 86400;
  if (hq) {
    size_t n = strlen(hq);
    uint64_t k = 0;
    char num[8];
    bool ok = n >= 2 && n <= 4 && (hq[n - 1] == 'd' || hq[n - 1] == 'h');
    if (ok) {
      snprintf(num, sizeof num, "%.*s", (int)(n - 1), hq);
      ok = parse_uint(num, hq[n - 1] == 'd' ? 30 : 720, &k) && k >= 1;
    }
    if (!ok) {
      res = handler_bad_query(req, "horizon", "out_of_range", "must be <n>d (1 to 30) or <n>h (1 to 720)");
      goto out;
    }
    horizon_s = (int64_t)k * (hq[n - 1] == 'd' ? 86400 : 3600);
    snprintf(horizon, sizeof horizon, "%s", hq);
  }
  uint64_t paths = 10000, seed = 1;
  const char *q = svc_req_query(req, "paths");
  if (q && (!parse_uint(q, RISK_VAR_MAX_PATHS, &paths) || paths < 100)) {
    res = handler_bad_query(req, "paths", "out_of_range", "must be an integer from 100 to 100000");
    goto out;
  }
  q = svc_req_query(req, "seed");
  if (q && !parse_uint(q, UINT64_MAX, &seed)) {
    res = handler_bad_query(req, "seed", "out_of_range", "must be an integer from 0 to 18446744073709551615");
    goto out;
  }
  double req_sigma[RISK_MAX_RESERVES];
  bool req_set[RISK_MAX_RESERVES];
  memset(req_set, 0, sizeof req_set);
  q = svc_req_query(req, "vols");
  if (q) {
    const char *s = q;
    char item[128];
    bool too_long;
    while (next_item(&s, item, sizeof item, &too_long)) {
      char *colon = strchr(item, ':');
      double sg;
      int id = -1;
      if (colon) {
        *colon = 0;
        id = state_accounts_reserve_id(v, item);
      }
      if (too_long || !colon || id < 0 || !v->res[id]) {
        res = handler_bad_query(req, "vols", "unknown_asset", "must be ASSET:vol pairs naming reserves of this chain");
        goto out;
      }
      if (req_set[id]) {
        res = handler_bad_query(req, "vols", "duplicate", "names a reserve twice");
        goto out;
      }
      if (!parse_double_in(colon + 1, 0, 10, &sg)) {
        res = handler_bad_query(req, "vols", "out_of_range", "each volatility must be a decimal from 0 to 10");
        goto out;
      }
      req_sigma[id] = sg;
      req_set[id] = true;
    }
  }
  bool corr_given = false;
  double corr_all = 0;
  q = svc_req_query(req, "correlation");
  if (q) {
    if (!parse_double_in(q, -0.99, 1, &corr_all)) {
      res = handler_bad_query(req, "correlation", "out_of_range", "must be a decimal from -0.99 to 1");
      goto out;
    }
    corr_given = true;
  }

  /* the price history before the served block */
  size_t nr = v->m.n_reserves;
  sc.v = v;
  sc.ts = malloc(VAR_MAX_OBS * sizeof *sc.ts);
  sc.blocks = malloc(VAR_MAX_OBS * sizeof *sc.blocks);
  sc.price = calloc(nr * VAR_MAX_OBS + 1, sizeof *sc.price);
  sig = calloc(nr + 1, sizeof *sig);
  samples = calloc(nr + 1, sizeof *samples);
  corr = calloc(nr * nr + 1, sizeof *corr);
  if (!sc.ts || !sc.blocks || !sc.price || !sig || !samples || !corr) goto out;
  db_conn *conn = svc_req_db(req);
  if (!conn) {
    res = SVC_HANDLED;
    goto out;
  }
  db_status st = db_risk_price_series(conn, r.mc->chain_id, r.mc->block_timestamp - VAR_HISTORY_S, series_row, &sc);
  db_release(conn);
  if (st != DB_OK) {
    res = svc_reply_problem(req, SVC_ERR_database_unavailable, "the price history could not be read; retry shortly");
    goto out;
  }
  /* only observations up to the served block */
  while (sc.n_obs && sc.blocks[sc.n_obs - 1] > r.mc->block_number)
    sc.n_obs--;
  /* compact the per-reserve rows to stride n_obs */
  for (size_t a = 1; a < nr; a++)
    memmove(sc.price + a * sc.n_obs, sc.price + a * VAR_MAX_OBS, sc.n_obs * sizeof *sc.price);
  risk_var_estimate(sc.price, sc.ts, nr, sc.n_obs, sig, samples, corr);

  struct view_risk_var_asset va[RISK_VAR_MAX_ASSETS];
  size_t k = 0;
  for (size_t id = 0; id < nr; id++) {
    if (!v->res[id] || !v->res[id]->has_price) continue;
    bool hist = samples[id] > 0 && sig[id] > 0;
    if (!req_set[id] && !hist) continue;
    if (k == RISK_VAR_MAX_ASSETS) break;
    va[k] = (struct view_risk_var_asset){(uint16_t)id, req_set[id] ? req_sigma[id] : sig[id],
                                         req_set[id] ? "request" : "history", samples[id]};
    p->reserve[k] = (uint16_t)id;
    p->sigma[k] = va[k].sigma;
    k++;
  }
  p->k = k;
  for (size_t i = 0; i < k; i++)
    for (size_t j = 0; j < k; j++)
      p->corr[i][j] = i == j ? 1.0 : corr_given ? corr_all : corr[p->reserve[i] * nr + p->reserve[j]];
  p->horizon_years = (double)horizon_s / 31536000.0;
  p->seed = seed;
  p->paths = paths;

  size_t na = r.b.n_accounts ? r.b.n_accounts : 1;
  vm.entries = malloc(na * sizeof *vm.entries);
  vm.prefc = malloc(na * sizeof *vm.prefc);
  vm.prefd = malloc(na * sizeof *vm.prefd);
  vm.pair_of = malloc(na * sizeof *vm.pair_of);
  vm.pairs = malloc((size_t)RISK_MAX_RESERVES * RISK_MAX_RESERVES * sizeof *vm.pairs);
  vm.gfirst = malloc((na + 1) * sizeof *vm.gfirst);
  vm.terms = malloc((2 * r.n_pos + 1) * sizeof *vm.terms);
  losses = malloc(paths * sizeof *losses);
  if (!vm.entries || !vm.prefc || !vm.prefd || !vm.pair_of || !vm.pairs || !vm.gfirst || !vm.terms || !losses) goto out;
  risk_err e = risk_var_model_build(&v->m, &r.b, &vm);
  struct risk_var_result vr;
  if (!e) e = risk_var_run(&vm, nr, p, losses, &vr);
  if (e) {
    res = svc_reply_problem(req, SVC_ERR_not_computable, "the engine cannot evaluate this book: %s", risk_err_name(e));
    goto out;
  }
  struct jw w = {0};
  view_risk_var(&w, v, horizon, horizon_s, paths, seed, va, k, (const double(*)[RISK_VAR_MAX_ASSETS])p->corr, &vm, &vr);
  res = reply_jw(req, &w);
out:
  free(sc.ts);
  free(sc.blocks);
  free(sc.price);
  free(sig);
  free(samples);
  free(corr);
  free(vm.entries);
  free(vm.prefc);
  free(vm.prefd);
  free(vm.pair_of);
  free(vm.pairs);
  free(vm.gfirst);
  free(vm.terms);
  free(losses);
  free(p);
  rctx_close(&r);
  return res;
}

/* ---- GET /v1/risk/{chain}/concentration ---- */

enum svc_handler_result handler_risk_concentration_get(struct svc_request *req) {
  struct rctx r;
  enum svc_handler_result res;
  if (!rctx_open(req, &r, true, &res)) return res;
  uint64_t top = 10;
  const char *q = svc_req_query(req, "top");
  if (q && (!parse_uint(q, RISK_CONC_MAX_TOP, &top) || top < 1)) {
    res = handler_bad_query(req, "top", "out_of_range", "must be an integer from 1 to 100");
    rctx_close(&r);
    return res;
  }
  struct risk_conc_result *out = malloc(sizeof *out);
  res = SVC_HANDLER_FATAL;
  if (out) {
    risk_err e = risk_concentration(&r.v->m, &r.b, (uint32_t)top, out);
    if (e) {
      res =
          svc_reply_problem(req, SVC_ERR_not_computable, "the engine cannot evaluate this book: %s", risk_err_name(e));
    } else {
      struct jw w = {0};
      view_risk_concentration(&w, r.v, r.x, (uint32_t)top, out);
      res = reply_jw(req, &w);
    }
  }
  free(out);
  rctx_close(&r);
  return res;
}

/* ---- GET /v1/oracles/{chain} ---- */

struct oracle_ctx {
  const struct state_acc_view *v;
  struct view_risk_price *prices;
  struct view_risk_ks *ks;
};

static db_status price_row(const db_row *row, void *arg) {
  struct oracle_ctx *o = arg;
  int id = state_accounts_reserve_id(o->v, db_row_text(row, 0));
  if (id < 0 || id >= RISK_MAX_RESERVES) return DB_OK;
  struct view_risk_price *p = &o->prices[id];
  p->found = true;
  snprintf(p->source, sizeof p->source, "%s", db_row_text(row, 2));
  p->updated_at = strtoll(db_row_text(row, 3), NULL, 10);
  return DB_OK;
}

static db_status ks_row(const db_row *row, void *arg) {
  struct view_risk_ks *ks = arg;
  ks->known = true;
  snprintf(ks->address, sizeof ks->address, "%s", db_row_text(row, 0));
  ks->triggered = db_row_text(row, 1)[0] == 't';
  ks->block_number = strtoll(db_row_text(row, 2), NULL, 10);
  return DB_OK;
}

static db_status ks_oracle_row(const db_row *row, void *arg) {
  struct view_risk_ks *ks = arg;
  if (ks->n == sizeof ks->o / sizeof ks->o[0]) return DB_OK;
  struct view_risk_ks_oracle *o = &ks->o[ks->n++];
  snprintf(o->address, sizeof o->address, "%s", db_row_text(row, 0));
  snprintf(o->label, sizeof o->label, "%s", db_row_text(row, 1));
  snprintf(o->threshold, sizeof o->threshold, "%s", db_row_text(row, 2));
  snprintf(o->latest, sizeof o->latest, "%s", db_row_text(row, 3));
  o->decimals = atoi(db_row_text(row, 4));
  return DB_OK;
}

enum svc_handler_result handler_oracles_get(struct svc_request *req) {
  struct rctx r;
  enum svc_handler_result res;
  if (!rctx_open(req, &r, false, &res)) return res;
  res = SVC_HANDLER_FATAL;
  struct view_risk_price *prices = calloc(RISK_MAX_RESERVES, sizeof *prices);
  struct view_risk_ks *ks = calloc(1, sizeof *ks);
  if (prices && ks) {
    db_conn *conn = svc_req_db(req);
    if (!conn) {
      res = SVC_HANDLED;
    } else {
      struct oracle_ctx o = {r.v, prices, ks};
      db_status st = db_risk_prices(conn, r.mc->chain_id, price_row, &o);
      if (st == DB_OK) st = db_risk_kill_switch(conn, r.mc->chain_id, ks_row, ks);
      if (st == DB_OK && ks->known) st = db_risk_kill_switch_oracles(conn, r.mc->chain_id, ks_oracle_row, ks);
      db_release(conn);
      if (st != DB_OK) {
        res = svc_reply_problem(req, SVC_ERR_database_unavailable, "the oracles could not be read; retry shortly");
      } else {
        struct jw w = {0};
        view_risk_oracles(&w, r.v, prices, (int64_t)time(NULL), req->srv->cfg.oracle_stale_s, ks);
        res = reply_jw(req, &w);
      }
    }
  }
  free(prices);
  free(ks);
  rctx_close(&r);
  return res;
}

const struct handler_body_spec handler_body_risk_stress = {"POST", "/v1/risk/{chain}/stress", stress_spec,
                                                           sizeof stress_spec / sizeof stress_spec[0],
                                                           sizeof(struct stress_body)};
const struct handler_body_spec handler_body_risk_waterfall = {
    "PUT", "/v1/admin/risk/waterfall", wf_spec, sizeof wf_spec / sizeof wf_spec[0], sizeof(struct wf_body)};
