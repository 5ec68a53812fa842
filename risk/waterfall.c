/* The loss waterfall (risk/waterfall.h). */
#include "risk/waterfall.h"

risk_err risk_waterfall_apply(u256 loss, struct risk_wf_layer *layers, size_t n, u256 *unabsorbed) {
  if (n > RISK_WF_MAX_LAYERS) return RISK_INVALID;
  u256 left = loss;
  risk_err e;
  for (size_t l = 0; l < n; l++) {
    struct risk_wf_layer *L = &layers[l];
    if (L->n_holders == 0 || L->n_holders > RISK_WF_MAX_HOLDERS) return RISK_INVALID;
    L->capacity = L->absorbed = U256_ZERO;
    L->exhausted = false;
    for (size_t h = 0; h < L->n_holders; h++) {
      L->holders[h].absorbed = U256_ZERO;
      if ((e = u256_add(&L->capacity, L->capacity, L->holders[h].capacity))) return e;
    }
    if (u256_is_zero(left) || u256_is_zero(L->capacity)) {
      L->exhausted = !u256_is_zero(left);
      continue;
    }
    u256 take = u256_min(left, L->capacity);
    L->absorbed = take;
    L->exhausted = u256_eq(take, L->capacity);
    left = u256_sub_wrap(left, take);
    /* pro rata: floor(take * c_h / C) each, then one unit more to the largest remainders (ties to
     * the earlier holder) until the floors add up to take; a holder never passes its capacity,
     * since take <= C makes each floor + 1 <= c_h whenever its remainder is not zero */
    u256 rem[RISK_WF_MAX_HOLDERS], given = U256_ZERO;
    for (size_t h = 0; h < L->n_holders; h++) {
      u256 prod, q;
      if ((e = u256_mul(&prod, take, L->holders[h].capacity)) || (e = u256_divmod(&q, &rem[h], prod, L->capacity)))
        return e;
      L->holders[h].absorbed = q;
      given = u256_add_wrap(given, q);
    }
    u256 short_by = u256_sub_wrap(take, given); /* < n_holders */
    uint64_t k = short_by.w[0];
    bool used[RISK_WF_MAX_HOLDERS] = {0};
    while (k--) {
      int best = -1;
      for (size_t h = 0; h < L->n_holders; h++)
        if (!used[h] && !u256_is_zero(rem[h]) && (best < 0 || u256_gt(rem[h], rem[best]))) best = (int)h;
      if (best < 0) break; /* cannot happen: the floors fall short only where remainders are not zero */
      used[best] = true;
      L->holders[best].absorbed = u256_add_wrap(L->holders[best].absorbed, U256_ONE);
    }
  }
  *unabsorbed = left;
  return RISK_OK;
}
