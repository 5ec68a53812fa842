/* GET /v1/risk/{chain}/health-factor-histogram (scope ops, or admin): how many accounts, and how
 * much debt and collateral, fall in each health-factor bucket, counted from the generation's
 * health-factor index (state/accounts.h, docs/architecture.md "Where health factors live"), so
 * at the block the markets are served at. The index is already sorted by health factor, so one
 * pass over it fills the buckets in order: linear in accounts, no database, no allocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "service/heavy.h"
#include "service/request.h"
#include "state/accounts.h"
#include "state/cache.h"
#include "views/ops_json.h"

/* Liquidatable below 1, then the bands a risk desk watches, then "safe" from 10 up. */
#define HF_DEFAULT_EDGES "1,1.05,1.1,1.25,1.5,2,3,5,10"

/* Parses "d[.ddd]" (at most 18 fraction digits, 30 integer digits) as a WAD; false when malformed. */
static bool parse_wad(const char *s, size_t n, u256 *out) {
  char digits[64];
  size_t k = 0, frac = 0, ints = 0;
  bool dot = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '.' && !dot && ints) {
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') return false;
    if (dot ? ++frac > 18 : ++ints > 30) return false;
    digits[k++] = c;
  }
  if (!ints || (dot && !frac)) return false;
  for (; frac < 18; frac++)
    digits[k++] = '0';
  return u256_from_dec(out, digits, k) == RISK_OK;
}

/* Reads the comma list `edges` into h; false after replying 400 naming the parameter. */
static bool parse_edges(struct svc_request *req, const char *q, struct view_ops_hf *h, enum svc_handler_result *res) {
  const char *why = NULL, *code = "not_a_decimal";
  h->n_edges = 0;
  for (const char *p = q;;) {
    const char *c = strchr(p, ',');
    size_t n = c ? (size_t)(c - p) : strlen(p);
    u256 e;
    if (h->n_edges == VIEW_OPS_HF_MAX_EDGES) {
      why = "at most 64 edges", code = "too_many";
      break;
    }
    if (!parse_wad(p, n, &e) || u256_is_zero(e)) {
      why = "each edge must be a positive decimal with at most 18 fraction digits";
      break;
    }
    if (h->n_edges && !u256_gt(e, h->edges[h->n_edges - 1])) {
      why = "edges must be strictly increasing", code = "not_increasing";
      break;
    }
    h->edges[h->n_edges++] = e;
    if (!c) break;
    p = c + 1;
  }
  if (!why) return true;
  *res = handler_bad_query(req, "edges", code, why);
  return false;
}

/* Fills h's buckets from x's index: the accounts without debt in one step (their totals are
 * kept per generation), each of the others by a binary search of the edges (the index hands
 * them over in no particular order, which sums do not mind). */
static void count(const struct state_acc_chain *x, struct view_ops_hf *h) {
  size_t nd;
  state_hf_no_debt(&x->hf, &nd, &h->no_debt_coll);
  h->no_debt_count += nd;
  h->accounts = x->n_accounts;
  h->not_evaluated = x->n_accounts - x->hf.n;
  size_t n = state_hf_n_debt(&x->hf);
  for (size_t i = 0; i < n; i++) {
    struct state_acc_health a;
    state_hf_get(&x->hf, x->hf.grouped[i], &a);
    size_t lo = 0, hi = h->n_edges; /* the first edge above a.hf: bucket lo holds [edge lo-1, edge lo) */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (u256_lt(a.hf, h->edges[mid]))
        hi = mid;
      else
        lo = mid + 1;
    }
    h->count[lo]++;
    /* sums of 8-decimal USD values: far below 2^256 */
    u256_add(&h->debt[lo], h->debt[lo], a.debt);
    u256_add(&h->coll[lo], h->coll[lo], a.coll);
  }
}

enum svc_handler_result handler_risk_hf_histogram(struct svc_request *req) {
  if (!svc_heavy_enter(req)) return SVC_HANDLED;
  char buf[32];
  const char *chain = svc_req_param(req, "chain", buf, sizeof buf);
  int64_t id = 0;
  if (!chain || !handler_parse_chain_id(chain, &id))
    return svc_reply_problem_fields(
        req, SVC_ERR_invalid_parameter,
        json_pack("[o]", svc_field_error("chain", "invalid_chain_id", "must be a positive integer")),
        "chain must be a chain id");
  struct view_ops_hf *h = calloc(1, sizeof *h);
  if (!h) return SVC_HANDLER_FATAL;
  enum svc_handler_result res = SVC_HANDLED;
  const char *q = svc_req_query(req, "edges");
  if (!parse_edges(req, q ? q : HF_DEFAULT_EDGES, h, &res)) {
    free(h);
    return res;
  }
  struct state_cache *c = state_cache_acquire();
  if (!c) {
    free(h);
    return svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  }
  const struct state_market *mc = state_markets_chain(c, id);
  const struct state_acc_chain *x = state_accounts_chain(c, id);
  if (!mc) {
    res = svc_reply_problem(req, SVC_ERR_chain_not_found, "no chain %lld has been imported", (long long)id);
  } else if (!x || !x->accounts_cached) {
    res = svc_reply_problem(req, SVC_ERR_not_computable,
                            "chain %lld: more accounts than SPARKD_ACCOUNT_CACHE_MAX; the histogram needs every "
                            "account in memory",
                            (long long)id);
  } else {
    count(x, h);
    struct jw w = {0};
    view_ops_hf_histogram(&w, mc, h);
    if (w.oom) {
      jw_free(&w);
      res = SVC_HANDLER_FATAL;
    } else {
      res = svc_reply_take(req, 200, "application/json", w.buf, w.len);
    }
  }
  state_cache_release(c);
  free(h);
  return res;
}
