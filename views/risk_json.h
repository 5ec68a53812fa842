/* JSON of the ops risk routes (handlers/risk.c): liquidations at risk, stress with the waterfall,
 * VaR, concentration, oracles, and the waterfall configuration. Shapes: openapi Rsk* schemas. */
#ifndef SPARKD_VIEWS_RISK_JSON_H
#define SPARKD_VIEWS_RISK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/concentration.h"
#include "risk/stress.h"
#include "risk/var.h"
#include "risk/waterfall.h"
#include "state/accounts.h"
#include "views/jsonw.h"

/* One liquidations-at-risk curve: its label, the reserve ids it shocks, its points. */
struct view_risk_curve {
  char label[512];
  size_t n_assets;
  uint16_t assets[RISK_MAX_RESERVES];
  const struct risk_lar_point *points;
  size_t n_points;
};
/* Writes the liquidations-at-risk response. */
void view_risk_lar(struct jw *w, const struct state_acc_view *v, size_t accounts, const struct view_risk_curve *c,
                   size_t n);

/* The waterfall's names, beside the engine's layers. */
struct view_risk_wf {
  size_t n_layers;
  struct risk_wf_layer layers[RISK_WF_MAX_LAYERS];
  char name[RISK_WF_MAX_LAYERS][81];
  bool residual[RISK_WF_MAX_LAYERS];
  char holder[RISK_WF_MAX_LAYERS][RISK_WF_MAX_HOLDERS][81];
  char updated_at[32]; /* "" when none */
};
/* Writes the waterfall configuration ({layers, updated_at}). */
void view_risk_wf_config(struct jw *w, const struct view_risk_wf *wf);

/* A shock as sent: the reserve it names and the decimal text. */
struct view_risk_shock {
  uint16_t reserve;
  const char *text;
};
/* Writes the stress response: base has the prices before the shocks. */
void view_risk_stress(struct jw *w, const struct state_acc_view *base, const struct view_risk_shock *ps, size_t nps,
                      const struct view_risk_shock *rs, size_t nrs, long long horizon_days, uint32_t cascade_rounds,
                      const struct risk_stress_result *r, const struct view_risk_wf *wf, u256 unabsorbed);

/* One VaR asset: reserve id, its volatility, where it came from, the returns it was estimated on. */
struct view_risk_var_asset {
  uint16_t reserve;
  double sigma;
  const char *source; /* history, request, none */
  size_t samples;
};
/* Writes the VaR response. */
void view_risk_var(struct jw *w, const struct state_acc_view *v, const char *horizon, int64_t horizon_s, size_t paths,
                   uint64_t seed, const struct view_risk_var_asset *a, size_t k,
                   const double corr[RISK_VAR_MAX_ASSETS][RISK_VAR_MAX_ASSETS], const struct risk_var_model *vm,
                   const struct risk_var_result *r);

/* Writes the concentration response (accounts from x for the top lists). */
void view_risk_concentration(struct jw *w, const struct state_acc_view *v, const struct state_acc_chain *x,
                             uint32_t top, const struct risk_conc_result *r);

/* The oracle side of a chain, as read from the database. */
struct view_risk_price {
  bool found;
  char source[43];
  int64_t updated_at;
};
struct view_risk_ks_oracle {
  char address[43], label[128];
  char threshold[84], latest[84]; /* signed decimal integers */
  int decimals;
};
struct view_risk_ks {
  bool known, triggered;
  char address[43];
  int64_t block_number;
  size_t n;
  struct view_risk_ks_oracle o[64];
};
/* Writes the oracles response: prices[reserve id] from the database, now the wall clock. */
void view_risk_oracles(struct jw *w, const struct state_acc_view *v, const struct view_risk_price *prices, int64_t now,
                       unsigned stale_s, const struct view_risk_ks *ks);

#endif
