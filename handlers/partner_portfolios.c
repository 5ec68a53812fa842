/* Spark Prime portfolios and their margin (spec risk-engine §2.6, §5.3), scope partner:
 *   POST /v1/partner/portfolios                          create (Idempotency-Key required)
 *   GET  /v1/partner/portfolios/{id}                     one, with its legs
 *   POST /v1/partner/portfolios/{id}/legs                a venue's legs as of a time (Idempotency-Key
 *                                                        required); replaces that venue's legs
 *   GET  /v1/partner/portfolios/{id}/margin              computed now, stored, signed
 *   GET  /v1/partner/portfolios/{id}/margin/history      results at band changes, newest first
 *   POST /v1/partner/portfolios/{id}/margin/quote        what-if, never stored
 *   GET  /v1/partner/portfolios/{id}/rate                the §5.3 collateral-yield rate
 * and scope admin:
 *   GET  /v1/admin/margin-params, PUT /v1/admin/margin-params   the parameters in force / a new version
 * Every partner statement filters by the key's partner_id in SQL: another partner's portfolio is
 * 404. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/portfolio.h"
#include "handlers/bodies.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "handlers/partner_write.h"
#include "partner/margin.h"
#include "service/body.h"
#include "service/request.h"
#include "service/server.h"

#define MAX_LEGS 32
#define MAX_PRICES RISK_MARGIN_MAX_UNDERLYINGS

static void field_err(json_t *errors, const char *field, const char *code, const char *msg) {
  json_array_append_new(errors, svc_field_error(field, code, msg));
}

static bool path_id(struct svc_request *req, int64_t *id) {
  char buf[32], out[24];
  return handler_parse_id(svc_req_param(req, "id", buf, sizeof buf), id, out);
}

static enum svc_handler_result not_found(struct svc_request *req, int64_t id) {
  return svc_reply_problem(req, SVC_ERR_portfolio_not_found, "no portfolio %lld for this partner", (long long)id);
}

static char *dump(json_t *v) {
  char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
  json_decref(v);
  return s;
}

/* ---- input: legs ---- */
static const char *const kind_names[] = {"custody", "spot", "perp", "sparklend", "defi", "debt", NULL};
static const char *const yield_names[] = {"none", "basis", "staking", "fixed", NULL};
enum { K_CUSTODY, K_SPOT, K_PERP, K_SPARKLEND, K_DEFI, K_DEBT };

struct leg_in {
  const char *venue; /* quote legs only */
  int kind;
  const char *underlying, *quantity, *entry_price, *mark_price, *funding;
  long long chain_id;
  char address[43];
  bool has_address, has_yield;
  int yield_kind;
  long long yield_bps, yield_sd_bps;
};
#define LG(m) offsetof(struct leg_in, m)
static const struct svc_body_field yield_spec[] = {
    {.name = "kind", .type = SVC_BODY_ENUM, .required = true, .offset = LG(yield_kind), .names = yield_names},
    {.name = "bps", .type = SVC_BODY_INT, .offset = LG(yield_bps), .lo = -100000, .hi = 100000},
    {.name = "sd_bps", .type = SVC_BODY_INT, .offset = LG(yield_sd_bps), .lo = 0, .hi = 100000},
};
#define LEG_FIELDS                                                                                                     \
  {.name = "kind", .type = SVC_BODY_ENUM, .required = true, .offset = LG(kind), .names = kind_names},                  \
      {.name = "underlying", .type = SVC_BODY_STRING, .offset = LG(underlying), .lo = 1, .hi = 31},                    \
      {.name = "quantity", .type = SVC_BODY_STRING, .offset = LG(quantity), .lo = 1, .hi = 40},                        \
      {.name = "entry_price", .type = SVC_BODY_STRING, .offset = LG(entry_price), .lo = 1, .hi = 40},                  \
      {.name = "mark_price", .type = SVC_BODY_STRING, .offset = LG(mark_price), .lo = 1, .hi = 40},                    \
      {.name = "funding", .type = SVC_BODY_STRING, .offset = LG(funding), .lo = 1, .hi = 40},                          \
      {.name = "chain_id", .type = SVC_BODY_INT, .offset = LG(chain_id), .lo = 1, .hi = 9007199254740991LL},           \
      {.name = "address",                                                                                              \
       .type = SVC_BODY_ADDRESS,                                                                                       \
       .offset = LG(address),                                                                                          \
       .given = SVC_BODY_FLAG(struct leg_in, has_address)},                                                            \
  {                                                                                                                    \
    .name = "yield", .type = SVC_BODY_OBJECT, .offset = 0, .sub = yield_spec,                                          \
    .nsub = sizeof yield_spec / sizeof yield_spec[0], .given = SVC_BODY_FLAG(struct leg_in, has_yield)                 \
  }
static const struct svc_body_field leg_spec[] = {LEG_FIELDS};
static const struct svc_body_field quote_leg_spec[] = {
    {.name = "venue", .type = SVC_BODY_STRING, .required = true, .offset = LG(venue), .lo = 1, .hi = 63}, LEG_FIELDS};
#undef LG

/* Checks one leg against the parameters in force and fills d (venue from the caller); names each
 * bad field under prefix ("legs[2]"). */
static void leg_check(const struct partner_margin_config *cfg, const struct leg_in *l, const char *prefix,
                      json_t *errors, struct db_portfolio_leg *d) {
  char f[96];
  static const char *const kinds[] = {"custody", "spot", "perp", "sparklend", "defi", "debt"};
  snprintf(d->kind, sizeof d->kind, "%s", kinds[l->kind]);
  snprintf(d->yield_kind, sizeof d->yield_kind, "%s", l->has_yield ? yield_names[l->yield_kind] : "none");
  d->yield_bps = l->has_yield ? l->yield_bps : 0;
  d->yield_sd_bps = l->has_yield ? l->yield_sd_bps : 0;
  if (l->kind == K_SPARKLEND) {
    if (!l->chain_id) {
      snprintf(f, sizeof f, "%s.chain_id", prefix);
      field_err(errors, f, "required", "a sparklend leg names its account's chain");
    }
    if (!l->has_address) {
      snprintf(f, sizeof f, "%s.address", prefix);
      field_err(errors, f, "required", "a sparklend leg names its account's address");
    }
    d->chain_id = l->chain_id;
    snprintf(d->address, sizeof d->address, "%s", l->address);
    if (l->underlying || l->quantity) {
      snprintf(f, sizeof f, "%s.%s", prefix, l->underlying ? "underlying" : "quantity");
      field_err(errors, f, "not_allowed", "a sparklend leg is read from the chain state");
    }
    return;
  }
  if (!l->underlying) {
    snprintf(f, sizeof f, "%s.underlying", prefix);
    field_err(errors, f, "required", "every leg but sparklend names its underlying");
  } else if (partner_margin_underlying(cfg, l->underlying) < 0) {
    snprintf(f, sizeof f, "%s.underlying", prefix);
    field_err(errors, f, "unknown_underlying", "is neither USD nor an underlying of the margin parameters");
  } else {
    snprintf(d->underlying, sizeof d->underlying, "%s", l->underlying);
    if (l->kind == K_PERP && strcmp(l->underlying, "USD") == 0) {
      snprintf(f, sizeof f, "%s.underlying", prefix);
      field_err(errors, f, "unknown_underlying", "a perp's underlying cannot be USD");
    }
  }
  snprintf(f, sizeof f, "%s.quantity", prefix);
  if (!l->quantity)
    field_err(errors, f, "required", "give the quantity in whole units");
  else if (!partner_margin_parse_e8(l->quantity, l->kind == K_PERP, &d->quantity))
    field_err(errors, f, l->quantity[0] == '-' ? "negative" : "invalid_decimal",
              l->quantity[0] == '-' ? "must not be negative (only a perp is signed; a debt is its own kind)"
                                    : "must be a decimal with at most 8 fractional digits, within 1.15e10");
  if (l->kind == K_PERP) {
    snprintf(f, sizeof f, "%s.mark_price", prefix);
    if (!l->mark_price || !partner_margin_parse_e8(l->mark_price, false, &d->mark_price) || d->mark_price == 0)
      field_err(errors, f, "invalid_price", "a perp needs a positive mark price in USD");
    snprintf(f, sizeof f, "%s.entry_price", prefix);
    if (!l->entry_price || !partner_margin_parse_e8(l->entry_price, false, &d->entry_price))
      field_err(errors, f, "invalid_price", "a perp needs its entry price in USD");
    snprintf(f, sizeof f, "%s.funding", prefix);
    if (l->funding && !partner_margin_parse_e8(l->funding, true, &d->funding))
      field_err(errors, f, "invalid_decimal", "must be a USD decimal with at most 8 fractional digits");
    /* the engine refuses a perp whose notional passes 2^60 usd8 ($11.5bn), which each of quantity
     * and price alone may reach: refused here, or the portfolio is stored and never computable */
    __int128 aq = d->quantity < 0 ? -(__int128)d->quantity : d->quantity;
    __int128 lim = (__int128)RISK_MARGIN_MAX_ABS * RISK_MARGIN_E8;
    snprintf(f, sizeof f, "%s.quantity", prefix);
    if (aq * d->mark_price > lim || aq * d->entry_price > lim)
      field_err(errors, f, "out_of_range",
                "quantity x mark_price and quantity x entry_price must be at most 2^60 usd8");
  } else if (l->mark_price || l->entry_price || l->funding) {
    snprintf(f, sizeof f, "%s.%s", prefix, l->mark_price ? "mark_price" : l->entry_price ? "entry_price" : "funding");
    field_err(errors, f, "not_allowed", "only a perp has entry, mark and funding; spot legs use the oracle price");
  }
}

static bool parse_time(const char *s, int64_t *t) {
  int y, mo, d, h, mi, se;
  char z = 0, extra = 0;
  if (!s || strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &y, &mo, &d, &h, &mi, &se, &z, &extra) != 7 ||
      z != 'Z' || y < 1970)
    return false;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
  time_t tt = timegm(&tm);
  struct tm back;
  if (!gmtime_r(&tt, &back) || back.tm_mon != mo - 1 || back.tm_mday != d || back.tm_hour != h) return false;
  *t = (int64_t)tt;
  return true;
}

/* Returns DB_OK with the parameters in force, or replies 503 and returns another status. */
static db_status load_config(struct svc_request *req, struct partner_margin_config *cfg) {
  db_conn *c = svc_req_db(req);
  if (!c) return DB_UNAVAILABLE;
  db_status st = partner_margin_config_load(c, cfg);
  db_release(c);
  if (st != DB_OK) svc_reply_problem(req, SVC_ERR_database_unavailable, "the margin parameters could not be read");
  return st;
}

/* ---- POST /v1/partner/portfolios ---- */
struct create_in {
  const char *external_id, *borrower;
  long long utilization_bps;
};
static const struct svc_body_field create_spec[] = {
    {.name = "external_id",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct create_in, external_id),
     .lo = 1,
     .hi = 128},
    {.name = "borrower",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct create_in, borrower),
     .lo = 1,
     .hi = 256},
    {.name = "utilization_bps",
     .type = SVC_BODY_INT,
     .offset = offsetof(struct create_in, utilization_bps),
     .lo = 0,
     .hi = 10000},
};

static db_status finish(db_conn *c, int64_t partner_id, int64_t id, unsigned status, struct handler_write_out *out) {
  char *text = NULL;
  db_status st = db_portfolio_json(c, partner_id, id, &text);
  if (st != DB_OK) {
    free(text);
    return st == DB_NO_ROWS ? DB_ERROR : st;
  }
  out->body = text;
  out->status = status;
  return DB_OK;
}

static db_status create_work(db_conn *c, struct svc_request *req, void *arg, struct handler_write_out *out) {
  const struct create_in *in = arg;
  int64_t id = 0;
  db_status st = db_portfolio_insert(c, req->partner_id, in->external_id, in->borrower, in->utilization_bps, &id);
  if (st != DB_OK) return st;
  return finish(c, req->partner_id, id, 201, out);
}

enum svc_handler_result handler_partner_portfolios_post(struct svc_request *req) {
  struct create_in in = {0};
  struct svc_body *body = svc_body_parse(req, create_spec, sizeof create_spec / sizeof create_spec[0], &in);
  if (!body) return SVC_HANDLED;
  enum svc_handler_result res = handler_partner_write(req, true, SVC_ERR_external_id_exists, create_work, &in);
  partner_margin_touch();
  svc_body_free(body);
  return res;
}

/* ---- GET /v1/partner/portfolios/{id} ---- */
enum svc_handler_result handler_partner_portfolio_get(struct svc_request *req) {
  int64_t id;
  if (!path_id(req, &id)) return svc_reply_problem(req, SVC_ERR_portfolio_not_found, "no such portfolio");
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  char *text = NULL;
  db_status st = db_portfolio_json(c, req->partner_id, id, &text);
  db_release(c);
  if (st == DB_NO_ROWS) return not_found(req, id);
  if (st != DB_OK) {
    free(text);
    return svc_reply_problem(req, SVC_ERR_database_unavailable, "the portfolio could not be read; retry shortly");
  }
  return svc_reply_take(req, 200, "application/json", text, strlen(text));
}

/* ---- POST /v1/partner/portfolios/{id}/legs ---- */
struct legs_in {
  const char *venue, *as_of, *reference;
  size_t n;
  struct leg_in legs[MAX_LEGS];
};
static const struct svc_body_field legs_spec[] = {
    {.name = "venue",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct legs_in, venue),
     .lo = 1,
     .hi = 63},
    {.name = "as_of", .type = SVC_BODY_STRING, .required = true, .offset = offsetof(struct legs_in, as_of)},
    {.name = "reference",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct legs_in, reference),
     .lo = 1,
     .hi = 256},
    {.name = "legs",
     .type = SVC_BODY_ARRAY,
     .required = true,
     .offset = offsetof(struct legs_in, legs),
     .lo = 0,
     .hi = MAX_LEGS,
     .sub = leg_spec,
     .nsub = sizeof leg_spec / sizeof leg_spec[0],
     .elem_size = sizeof(struct leg_in),
     .count_offset = offsetof(struct legs_in, n)},
};

struct legs_ctx {
  int64_t id;
  size_t n;
  struct db_portfolio_leg d[MAX_LEGS];
  const char *venue;
};
static db_status count_leg(const struct db_portfolio_leg *l, void *arg) {
  (void)l;
  ++*(size_t *)arg;
  return DB_OK;
}
static db_status legs_work(db_conn *c, struct svc_request *req, void *arg, struct handler_write_out *out) {
  struct legs_ctx *lc = arg;
  int64_t util;
  db_status st = db_portfolio_lock(c, req->partner_id, lc->id, &util);
  if (st == DB_NO_ROWS) {
    out->failed = true;
    out->err = SVC_ERR_portfolio_not_found;
    snprintf(out->detail, sizeof out->detail, "no portfolio %lld for this partner", (long long)lc->id);
    return DB_OK;
  }
  if (st != DB_OK) return st;
  if ((st = db_portfolio_legs_clear(c, req->partner_id, lc->id, lc->venue)) != DB_OK) return st;
  for (size_t i = 0; i < lc->n; i++)
    if ((st = db_portfolio_leg_insert(c, req->partner_id, lc->id, (int)i, &lc->d[i])) != DB_OK) return st;
  /* every venue's legs together must fit the engine, or the portfolio is never computable */
  size_t total = 0;
  if ((st = db_portfolio_legs(c, req->partner_id, lc->id, count_leg, &total)) != DB_OK) return st;
  if (total > RISK_MARGIN_MAX_LEGS) {
    out->failed = true;
    out->err = SVC_ERR_validation_failed;
    snprintf(out->detail, sizeof out->detail, "the portfolio would hold %zu legs across its venues; at most %d", total,
             RISK_MARGIN_MAX_LEGS);
    out->fields = json_pack("[o]", svc_field_error("legs", "too_many",
                                                   "with the other venues' legs, more than the "
                                                   "engine takes (64)"));
    return DB_OK;
  }
  return finish(c, req->partner_id, lc->id, 201, out);
}

enum svc_handler_result handler_partner_portfolio_legs_post(struct svc_request *req) {
  int64_t id;
  if (!path_id(req, &id)) return svc_reply_problem(req, SVC_ERR_portfolio_not_found, "no such portfolio");
  struct legs_in *in = calloc(1, sizeof *in);
  struct legs_ctx *lc = calloc(1, sizeof *lc);
  struct partner_margin_config *cfg = malloc(sizeof *cfg);
  enum svc_handler_result res = SVC_HANDLER_FATAL;
  json_t *errors = json_array();
  struct svc_body *body = NULL;
  if (!in || !lc || !cfg) goto done;
  body = svc_body_parse_collect(req, legs_spec, sizeof legs_spec / sizeof legs_spec[0], in, errors);
  if (!body) {
    res = SVC_HANDLED;
    goto done;
  }
  if (load_config(req, cfg) != DB_OK) {
    res = SVC_HANDLED;
    goto done;
  }
  int64_t as_of = 0;
  if (in->as_of && !parse_time(in->as_of, &as_of))
    field_err(errors, "as_of", "invalid_time", "must be an RFC 3339 UTC time to the second, e.g. 2026-01-15T00:00:00Z");
  else if (in->as_of && as_of > (int64_t)time(NULL) + 300)
    field_err(errors, "as_of", "in_future", "must not be more than 5 minutes ahead of the server clock");
  if (in->venue && partner_margin_venue(cfg, in->venue) < 0)
    field_err(errors, "venue", "unknown_venue", "is not a venue of the margin parameters");
  for (size_t i = 0; i < in->n; i++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "legs[%zu]", i);
    struct db_portfolio_leg *d = &lc->d[i];
    leg_check(cfg, &in->legs[i], prefix, errors, d);
    snprintf(d->venue, sizeof d->venue, "%s", in->venue ? in->venue : "");
    snprintf(d->reference, sizeof d->reference, "%s", in->reference ? in->reference : "");
    d->as_of = as_of;
  }
  if (json_array_size(errors)) {
    res = svc_reply_validation(req, errors);
    errors = NULL;
    goto done;
  }
  lc->id = id;
  lc->n = in->n;
  lc->venue = in->venue;
  res = handler_partner_write(req, true, SVC_ERR_external_id_exists, legs_work, lc);
  partner_margin_touch(); /* committed (or not): either way memory must not serve the old legs */
done:
  json_decref(errors);
  svc_body_free(body);
  free(in);
  free(lc);
  free(cfg);
  return res;
}

/* ---- GET /v1/partner/portfolios/{id}/margin ---- */
struct compute_arg {
  int64_t partner_id, id;
  json_t *out;
  const char *why;
  int kind; /* 0 margin, 1 rate */
  bool stored;
};
static db_status compute_txn(db_conn *c, void *arg) {
  struct compute_arg *a = arg;
  json_decref(a->out);
  a->out = NULL;
  uint64_t now = (uint64_t)time(NULL);
  return a->kind ? partner_margin_rate(c, a->partner_id, a->id, now, &a->out, &a->why)
                 : partner_margin_compute(c, a->partner_id, a->id, now, &a->out, &a->why, &a->stored);
}

static enum svc_handler_result run_compute(struct svc_request *req, int kind) {
  int64_t id;
  if (!path_id(req, &id)) return svc_reply_problem(req, SVC_ERR_portfolio_not_found, "no such portfolio");
  struct compute_arg a = {req->partner_id, id, NULL, NULL, kind, false};
  db_status st = db_run_txn(req->srv->pool, compute_txn, &a);
  if (a.stored) partner_margin_touch(); /* a stored result carries the band a quote starts from */
  if (st == DB_NO_ROWS) return not_found(req, id);
  if (st != DB_OK) {
    json_decref(a.out);
    return svc_reply_problem(req, SVC_ERR_database_unavailable, "the margin could not be computed; retry shortly");
  }
  if (!a.out) return svc_reply_problem(req, SVC_ERR_not_computable, "portfolio %lld: %s", (long long)id, a.why);
  return svc_reply_json_steal(req, 200, a.out);
}

enum svc_handler_result handler_partner_portfolio_margin_get(struct svc_request *req) { return run_compute(req, 0); }
enum svc_handler_result handler_partner_portfolio_rate_get(struct svc_request *req) { return run_compute(req, 1); }

/* ---- GET /v1/partner/portfolios/{id}/margin/history ---- */
static db_status hist_row(const char *text, void *arg) {
  json_t *j = json_loads(text, 0, NULL);
  if (!j) return DB_ERROR;
  json_array_append_new(arg, j);
  return DB_OK;
}

enum svc_handler_result handler_partner_portfolio_margin_history(struct svc_request *req) {
  int64_t id;
  if (!path_id(req, &id)) return svc_reply_problem(req, SVC_ERR_portfolio_not_found, "no such portfolio");
  size_t limit;
  if (!handler_query_limit(req, 50, 500, &limit)) return SVC_HANDLED;
  long long before = 999999999999999999LL;
  const char *q = svc_req_query(req, "before");
  if (q) {
    int64_t b;
    if (!handler_parse_id(q, &b, NULL))
      return handler_bad_query(req, "before", "invalid_cursor", "must be a sequence from next_before");
    before = b;
  }
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  db_status st = db_portfolio_exists(c, req->partner_id, id);
  if (st == DB_NO_ROWS) {
    db_release(c);
    return not_found(req, id);
  }
  json_t *arr = json_array();
  uint64_t n = 0;
  if (st == DB_OK) st = db_margin_history(c, req->partner_id, id, before, (int64_t)limit, hist_row, arr, &n);
  db_release(c);
  if (st != DB_OK) {
    json_decref(arr);
    return svc_reply_problem(req, SVC_ERR_database_unavailable, "the margin history could not be read");
  }
  json_t *last = json_array_get(arr, json_array_size(arr) - 1);
  json_int_t last_seq = last ? json_integer_value(json_object_get(last, "sequence")) : 0;
  char pid[24];
  snprintf(pid, sizeof pid, "%lld", (long long)id);
  return svc_reply_json_steal(req, 200,
                              json_pack("{s:s,s:o,s:o}", "portfolio_id", pid, "records", arr, "next_before",
                                        n == limit && last_seq > 1 ? json_integer(last_seq) : json_null()));
}

/* ---- POST /v1/partner/portfolios/{id}/margin/quote ---- */
struct price_in {
  const char *underlying, *price;
};
struct quote_in {
  size_t nadd, nremove, nprice;
  struct leg_in add[MAX_LEGS];
  const char *remove[RISK_MARGIN_MAX_VENUES];
  struct price_in prices[MAX_PRICES];
};
static const struct svc_body_field remove_spec[] = {{.type = SVC_BODY_STRING, .lo = 1, .hi = 63}};
static const struct svc_body_field price_spec[] = {
    {.name = "underlying",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct price_in, underlying),
     .lo = 1,
     .hi = 31},
    {.name = "price",
     .type = SVC_BODY_STRING,
     .required = true,
     .offset = offsetof(struct price_in, price),
     .lo = 1,
     .hi = 40},
};
static const struct svc_body_field quote_spec[] = {
    {.name = "add_legs",
     .type = SVC_BODY_ARRAY,
     .offset = offsetof(struct quote_in, add),
     .lo = 0,
     .hi = MAX_LEGS,
     .sub = quote_leg_spec,
     .nsub = sizeof quote_leg_spec / sizeof quote_leg_spec[0],
     .elem_size = sizeof(struct leg_in),
     .count_offset = offsetof(struct quote_in, nadd)},
    {.name = "remove_venues",
     .type = SVC_BODY_ARRAY,
     .offset = offsetof(struct quote_in, remove),
     .lo = 0,
     .hi = RISK_MARGIN_MAX_VENUES,
     .sub = remove_spec,
     .nsub = 1,
     .elem_size = sizeof(const char *),
     .count_offset = offsetof(struct quote_in, nremove)},
    {.name = "prices",
     .type = SVC_BODY_ARRAY,
     .offset = offsetof(struct quote_in, prices),
     .lo = 0,
     .hi = MAX_PRICES,
     .sub = price_spec,
     .nsub = sizeof price_spec / sizeof price_spec[0],
     .elem_size = sizeof(struct price_in),
     .count_offset = offsetof(struct quote_in, nprice)},
};

enum svc_handler_result handler_partner_portfolio_margin_quote(struct svc_request *req) {
  int64_t id;
  if (!path_id(req, &id)) return svc_reply_problem(req, SVC_ERR_portfolio_not_found, "no such portfolio");
  struct quote_in *in = calloc(1, sizeof *in);
  struct partner_margin_config *cfg = malloc(sizeof *cfg);
  struct db_portfolio_leg *add = calloc(MAX_LEGS, sizeof *add);
  enum svc_handler_result res = SVC_HANDLER_FATAL;
  json_t *errors = json_array();
  struct svc_body *body = NULL;
  if (!in || !cfg || !add) goto done;
  body = svc_body_parse_collect(req, quote_spec, sizeof quote_spec / sizeof quote_spec[0], in, errors);
  if (!body) {
    res = SVC_HANDLED;
    goto done;
  }
  if (!partner_margin_config_memo(cfg) && load_config(req, cfg) != DB_OK) {
    res = SVC_HANDLED;
    goto done;
  }
  uint64_t now = (uint64_t)time(NULL);
  char f[64];
  for (size_t i = 0; i < in->nadd; i++) {
    snprintf(f, sizeof f, "add_legs[%zu]", i);
    leg_check(cfg, &in->add[i], f, errors, &add[i]);
    if (partner_margin_venue(cfg, in->add[i].venue) < 0) {
      snprintf(f, sizeof f, "add_legs[%zu].venue", i);
      field_err(errors, f, "unknown_venue", "is not a venue of the margin parameters");
    }
    snprintf(add[i].venue, sizeof add[i].venue, "%s", in->add[i].venue);
    snprintf(add[i].reference, sizeof add[i].reference, "what-if");
    add[i].as_of = (int64_t)now;
  }
  for (size_t i = 0; i < in->nremove; i++)
    if (partner_margin_venue(cfg, in->remove[i]) < 0) {
      snprintf(f, sizeof f, "remove_venues[%zu]", i);
      field_err(errors, f, "unknown_venue", "is not a venue of the margin parameters");
    }
  int price_k[MAX_PRICES];
  int64_t price[MAX_PRICES];
  for (size_t i = 0; i < in->nprice; i++) {
    int k = partner_margin_underlying(cfg, in->prices[i].underlying);
    price_k[i] = k;
    if (k < 0 || k == (int)RISK_MARGIN_CASH) {
      snprintf(f, sizeof f, "prices[%zu].underlying", i);
      field_err(errors, f, "unknown_underlying", "is not an underlying of the margin parameters");
    }
    for (size_t j = 0; j < i; j++)
      if (k >= 0 && price_k[j] == k) {
        snprintf(f, sizeof f, "prices[%zu].underlying", i);
        field_err(errors, f, "duplicate", "is already priced by an earlier entry");
      }
    if (!partner_margin_parse_e8(in->prices[i].price, false, &price[i]) || price[i] == 0) {
      snprintf(f, sizeof f, "prices[%zu].price", i);
      field_err(errors, f, "invalid_price", "must be a positive USD decimal with at most 8 fractional digits");
    }
  }
  if (json_array_size(errors)) {
    res = svc_reply_validation(req, errors);
    errors = NULL;
    goto done;
  }
  struct partner_margin_whatif w = {in->remove, in->nremove, add, in->nadd, price_k, price, in->nprice};
  json_t *out = NULL;
  const char *why = NULL;
  db_status st = DB_OK;
  if (!partner_margin_quote_memo(req->partner_id, id, cfg, &w, now, &out, &why)) {
    db_conn *c = svc_req_db(req);
    if (!c) {
      res = SVC_HANDLED;
      goto done;
    }
    st = partner_margin_quote(c, req->partner_id, id, cfg, &w, now, &out, &why);
    db_release(c);
  }
  if (st == DB_NO_ROWS)
    res = not_found(req, id);
  else if (st != DB_OK)
    res = svc_reply_problem(req, SVC_ERR_database_unavailable, "the quote could not be computed; retry shortly");
  else if (!out)
    res = svc_reply_problem(req, SVC_ERR_not_computable, "portfolio %lld: %s", (long long)id, why);
  else
    res = svc_reply_json_steal(req, 200, out);
done:
  json_decref(errors);
  svc_body_free(body);
  free(in);
  free(cfg);
  free(add);
  return res;
}

/* ---- /v1/admin/margin-params ---- */
enum svc_handler_result handler_admin_margin_params_get(struct svc_request *req) {
  db_conn *c = svc_req_db(req);
  if (!c) return SVC_HANDLED;
  char *text = NULL;
  int64_t version = 0;
  db_status st = db_margin_params_latest(c, &version, &text);
  db_release(c);
  json_t *p = st == DB_OK ? json_loads(text, 0, NULL) : NULL;
  free(text);
  if (!p) return svc_reply_problem(req, SVC_ERR_database_unavailable, "the margin parameters could not be read");
  return svc_reply_json_steal(req, 200, json_pack("{s:I,s:o}", "version", (json_int_t)version, "params", p));
}

struct params_ctx {
  const char *text;
};
static db_status params_work(db_conn *c, struct svc_request *req, void *arg, struct handler_write_out *out) {
  (void)req;
  struct params_ctx *pc = arg;
  int64_t version = 0;
  db_status st = db_margin_params_insert(c, pc->text, &version);
  if (st != DB_OK) return st;
  json_t *p = json_loads(pc->text, 0, NULL);
  out->body = dump(json_pack("{s:I,s:o}", "version", (json_int_t)version, "params", p ? p : json_null()));
  out->status = 201;
  return out->body ? DB_OK : DB_ERROR;
}

/* The parameters are a nested document (matrix, arrays of objects) checked as a whole by
 * partner_margin_config_parse, the same reader the engine's loader uses, so what is accepted is
 * exactly what can be margined; it names the first bad field. */
enum svc_handler_result handler_admin_margin_params_put(struct svc_request *req) {
  json_error_t jerr;
  json_t *j = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
  if (!j || !json_is_object(j)) {
    json_decref(j);
    return svc_reply_problem(req, SVC_ERR_malformed_json, "the body is not a JSON object");
  }
  struct partner_margin_config *cfg = malloc(sizeof *cfg);
  if (!cfg) {
    json_decref(j);
    return SVC_HANDLER_FATAL;
  }
  cfg->version = 0;
  char field[96];
  const char *bad = partner_margin_config_parse(j, cfg, field, sizeof field);
  free(cfg);
  if (bad) {
    json_decref(j);
    json_t *errors = json_array();
    field_err(errors, bad, "invalid", "missing, out of range or inconsistent (see the margin parameters schema)");
    return svc_reply_validation(req, errors);
  }
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  struct params_ctx pc = {text};
  enum svc_handler_result res =
      text ? handler_partner_write(req, false, SVC_ERR_idempotency_conflict, params_work, &pc) : SVC_HANDLER_FATAL;
  partner_margin_touch();
  free(text);
  return res;
}

const struct handler_body_spec handler_body_portfolio_create = {"POST", "/v1/partner/portfolios", create_spec,
                                                                sizeof create_spec / sizeof create_spec[0],
                                                                sizeof(struct create_in)};
const struct handler_body_spec handler_body_portfolio_legs = {"POST", "/v1/partner/portfolios/{id}/legs", legs_spec,
                                                              sizeof legs_spec / sizeof legs_spec[0],
                                                              sizeof(struct legs_in)};
const struct handler_body_spec handler_body_portfolio_quote = {"POST", "/v1/partner/portfolios/{id}/margin/quote",
                                                               quote_spec, sizeof quote_spec / sizeof quote_spec[0],
                                                               sizeof(struct quote_in)};
