/* JSON of the ops overview routes (views/ops_json.h). */
#include "views/ops_json.h"

#include "risk/ltv.h"
#include "util/time.h"
#include "views/account_json.h"

static void hf_or_null(struct jw *w, const char *k, const u256 *hf) {
  if (hf)
    jw_kfixed(w, k, *hf, 18);
  else
    jw_knull(w, k);
}

void view_ops_hf_histogram(struct jw *w, const struct state_market *mc, const struct view_ops_hf *h) {
  jw_obj(w);
  jw_key(w, "as_of");
  jw_obj(w);
  view_write_as_of_fields(w, mc);
  jw_obj_end(w);
  jw_kint(w, "accounts", (int64_t)h->accounts);
  jw_key(w, "edges");
  jw_arr(w);
  for (size_t i = 0; i < h->n_edges; i++)
    jw_fixed(w, h->edges[i], 18);
  jw_arr_end(w);
  jw_key(w, "buckets");
  jw_arr(w);
  for (size_t i = 0; i <= h->n_edges; i++) {
    jw_obj(w);
    hf_or_null(w, "min_health_factor", i ? &h->edges[i - 1] : NULL);
    hf_or_null(w, "max_health_factor", i < h->n_edges ? &h->edges[i] : NULL);
    jw_kint(w, "accounts", (int64_t)h->count[i]);
    jw_ku256_kfixed(w, "total_debt_base", "total_debt_usd", h->debt[i], 8);
    jw_ku256_kfixed(w, "total_collateral_base", "total_collateral_usd", h->coll[i], 8);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "no_debt");
  jw_obj(w);
  jw_kint(w, "accounts", (int64_t)h->no_debt_count);
  jw_ku256_kfixed(w, "total_collateral_base", "total_collateral_usd", h->no_debt_coll, 8);
  jw_obj_end(w);
  jw_kint(w, "not_evaluated", (int64_t)h->not_evaluated);
  jw_obj_end(w);
}

static void time_or_null(struct jw *w, const char *k, bool has, int64_t t) {
  char buf[32];
  if (has)
    jw_kstr(w, k, util_time_rfc3339(t, buf));
  else
    jw_knull(w, k);
}

static void int_or_null(struct jw *w, const char *k, bool has, int64_t v) {
  if (has)
    jw_kint(w, k, v);
  else
    jw_knull(w, k);
}

static void value_or_null(struct jw *w, const char *kb, const char *ku, bool has, u256 v) {
  if (has) {
    jw_ku256_kfixed(w, kb, ku, v, 8);
  } else {
    jw_knull(w, kb);
    jw_knull(w, ku);
  }
}

static void position_write(struct jw *w, int64_t now, const struct view_ops_ltv_position *p) {
  bool r = p->has_record;
  jw_obj(w);
  jw_kint(w, "partner_id", p->partner_id);
  jw_kstr(w, "partner", p->partner);
  jw_kint(w, "position_id", p->position_id);
  jw_kstr(w, "external_id", p->external_id);
  jw_kstr(w, "borrower", p->borrower);
  jw_kstr(w, "custodian", p->custodian);
  if (r)
    jw_kstr(w, "state", risk_ltv_state_name((enum risk_ltv_state)p->state));
  else
    jw_knull(w, "state");
  int_or_null(w, "ltv_bps", r, p->ltv_bps);
  int_or_null(w, "raw_ltv_bps", r, p->raw_ltv_bps);
  jw_key(w, "thresholds");
  jw_obj(w);
  jw_kint(w, "warning_bps", p->warning_bps);
  jw_kint(w, "margin_call_bps", p->margin_call_bps);
  jw_kint(w, "liquidation_bps", p->liquidation_bps);
  jw_kint(w, "return_to_bps", p->return_to_bps);
  jw_obj_end(w);
  value_or_null(w, "collateral_value_base", "collateral_value_usd", r, p->collateral_value);
  value_or_null(w, "weighted_collateral_value_base", "weighted_collateral_value_usd", r, p->weighted_value);
  value_or_null(w, "debt_value_base", "debt_value_usd", r, p->debt_value);
  int_or_null(w, "sequence", r, p->sequence);
  time_or_null(w, "record_as_of", r, p->as_of);
  int_or_null(w, "record_age_seconds", r, now > p->as_of ? now - p->as_of : 0);
  time_or_null(w, "call_since", r && p->call_since, p->call_since);
  time_or_null(w, "cure_deadline", r && p->cure_deadline, p->cure_deadline);
  jw_key(w, "staleness");
  jw_obj(w);
  jw_kint(w, "max_price_staleness_seconds", p->max_staleness_s);
  bool old = r && p->has_oldest_price && p->oldest_price_ts > 0;
  time_or_null(w, "oldest_price_at", old, p->oldest_price_ts);
  int_or_null(w, "oldest_price_age_seconds", old, now > p->oldest_price_ts ? now - p->oldest_price_ts : 0);
  jw_kbool(w, "stale", r && p->state == RISK_LTV_STALE);
  jw_obj_end(w);
  time_or_null(w, "attestation_as_of", r && p->has_attestation, p->attestation_as_of);
  if (r && p->not_recomputable) {
    jw_key(w, "not_recomputable");
    jw_obj(w);
    time_or_null(w, "since", true, p->not_recomputable_since);
    jw_kstr(w, "reason", p->not_recomputable_reason);
    jw_obj_end(w);
  } else {
    jw_knull(w, "not_recomputable");
  }
  jw_obj_end(w);
}

void view_ops_partner_ltv(struct jw *w, int64_t now, const struct view_ops_ltv_partner *partners, size_t n_partners,
                          const struct view_ops_ltv_position *positions, size_t n_positions, const char *next_cursor) {
  char t[32];
  jw_obj(w);
  jw_kstr(w, "now", util_time_rfc3339(now, t));
  jw_key(w, "partners");
  jw_arr(w);
  for (size_t i = 0; i < n_partners; i++) {
    const struct view_ops_ltv_partner *p = &partners[i];
    jw_obj(w);
    jw_kint(w, "partner_id", p->partner_id);
    jw_kstr(w, "name", p->name);
    jw_kint(w, "positions", p->positions);
    jw_key(w, "states");
    jw_obj(w);
    jw_kint(w, "healthy", p->healthy);
    jw_kint(w, "warning", p->warning);
    jw_kint(w, "margin_call", p->margin_call);
    jw_kint(w, "liquidation", p->liquidation);
    jw_kint(w, "stale", p->stale);
    jw_kint(w, "no_record", p->no_record);
    jw_obj_end(w);
    jw_kint(w, "not_recomputable", p->not_recomputable);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "positions");
  jw_arr(w);
  for (size_t i = 0; i < n_positions; i++)
    position_write(w, now, &positions[i]);
  jw_arr_end(w);
  if (next_cursor)
    jw_kstr(w, "next_cursor", next_cursor);
  else
    jw_knull(w, "next_cursor");
  jw_obj_end(w);
}
