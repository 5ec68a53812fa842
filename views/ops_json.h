/* JSON of the ops overview routes: the health-factor histogram of a chain held in memory
 * (handlers/risk_histogram.c) and the partner LTV positions across partners
 * (handlers/partner_ltv_ops.c). Shapes: openapi RskHfHistogram and OpsPartnerLtv. */
#ifndef SPARKD_VIEWS_OPS_JSON_H
#define SPARKD_VIEWS_OPS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"
#include "state/markets.h"
#include "views/jsonw.h"

#define VIEW_OPS_HF_MAX_EDGES 64

/* A histogram over health factors (WAD): bucket 0 holds HF < edges[0], bucket i holds
 * edges[i-1] <= HF < edges[i], bucket n_edges holds HF >= edges[n_edges-1]; accounts without
 * debt are apart (no_debt), as are those the engine could not evaluate (not_evaluated). Totals
 * are 8-decimal USD. */
struct view_ops_hf {
  size_t n_edges;
  u256 edges[VIEW_OPS_HF_MAX_EDGES];
  uint64_t count[VIEW_OPS_HF_MAX_EDGES + 1];
  u256 debt[VIEW_OPS_HF_MAX_EDGES + 1], coll[VIEW_OPS_HF_MAX_EDGES + 1];
  uint64_t no_debt_count;
  u256 no_debt_coll;
  uint64_t accounts, not_evaluated;
};
/* Writes the histogram response, as of mc's block. */
void view_ops_hf_histogram(struct jw *w, const struct state_market *mc, const struct view_ops_hf *h);

/* One partner's positions counted by the state of their latest LTV record. */
struct view_ops_ltv_partner {
  int64_t partner_id;
  char name[64];
  int64_t positions, healthy, warning, margin_call, liquidation, stale, no_record, not_recomputable;
};
/* One position with its latest record (has_record false: none yet). */
struct view_ops_ltv_position {
  int64_t partner_id, position_id;
  char partner[64], external_id[132], borrower[260], custodian[260];
  int64_t warning_bps, margin_call_bps, liquidation_bps, return_to_bps, max_staleness_s;
  bool has_record;
  int64_t sequence, state, ltv_bps, raw_ltv_bps, as_of, call_since, cure_deadline;
  u256 collateral_value, weighted_value, debt_value;
  bool has_oldest_price, has_attestation, not_recomputable;
  int64_t oldest_price_ts, attestation_as_of, not_recomputable_since;
  char not_recomputable_reason[200];
};
/* Writes the partner LTV overview at `now`: every partner's counts, one page of positions and
 * next_cursor (NULL: the last page). */
void view_ops_partner_ltv(struct jw *w, int64_t now, const struct view_ops_ltv_partner *partners, size_t n_partners,
                          const struct view_ops_ltv_position *positions, size_t n_positions, const char *next_cursor);

#endif
