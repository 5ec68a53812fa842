/* Monte Carlo value at risk of bad debt (spec risk-engine §3.2-3.3): correlated geometric Brownian
 * price paths (zero drift, a Cholesky factor of the covariance, xoshiro256** seeded by splitmix64)
 * and the gap-model loss of a path, sum over accounts of max(0, debt - collateral) at the path's
 * prices. Each account's values are computed once from the engine's arithmetic; an account with
 * one collateral and one debt asset is insolvent on a path exactly when the path's price ratio is
 * below its own, so a path costs a binary search per (collateral, debt) pair; the other accounts
 * are sorted by debt / collateral too, and a path evaluates only those above the bound that its
 * smallest and largest price multipliers allow (debt * max > collateral * min). Statistics are doubles (estimates); the
 * deterministic loss is exact. Pure: no I/O, no globals; the caller provides every buffer. */
#ifndef SPARKD_RISK_VAR_H
#define SPARKD_RISK_VAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/account.h"
#include "risk/stress.h"

#define RISK_VAR_MAX_ASSETS 32
#define RISK_VAR_MAX_PATHS 100000

struct risk_var_entry {
  long double c, d; /* collateral and debt, base units at today's prices */
  uint32_t g;       /* other accounts: the account's index into gfirst */
};
struct risk_var_term {
  uint16_t reserve;
  long double v; /* debt positive, collateral negative; base units at today's prices */
};
struct risk_var_pair {
  uint16_t c, d;
  uint32_t first, n; /* entries[first .. first + n), sorted by d/c descending */
};

/* Buffers (caller-allocated, sizes as noted) and the precomputed book. */
struct risk_var_model {
  /* buffers */
  struct risk_var_entry *entries; /* n_accounts */
  long double *prefc, *prefd;     /* n_accounts: running sums inside each pair */
  uint32_t *pair_of;              /* n_accounts (scratch) */
  struct risk_var_pair *pairs;    /* RISK_MAX_RESERVES * RISK_MAX_RESERVES */
  uint32_t *gfirst;               /* n_accounts + 1 */
  struct risk_var_term *terms;    /* 2 * total positions */
  /* filled by risk_var_model_build */
  size_t n_pairs, n_pair_accounts, n_general, n_terms, n_reserves;
  u256 deterministic_loss; /* exact: sum of max(0, debt - collateral) today */
};

/* Fills vm from the book at m (collateral = bit set, LT != 0, listed; debt = borrowing). Returns
 * RISK_OK or the engine's error. */
risk_err risk_var_model_build(const struct risk_market *m, const struct risk_book *b, struct risk_var_model *vm);

/* Returns the gap-model loss of the book for the price multipliers mult[reserve] (1 = today). */
long double risk_var_path_loss(const struct risk_var_model *vm, const long double *mult);

struct risk_var_params {
  size_t k; /* assets with a volatility */
  uint16_t reserve[RISK_VAR_MAX_ASSETS];
  double sigma[RISK_VAR_MAX_ASSETS]; /* annualised */
  double corr[RISK_VAR_MAX_ASSETS][RISK_VAR_MAX_ASSETS];
  double horizon_years;
  uint64_t seed;
  size_t paths; /* 1 .. RISK_VAR_MAX_PATHS */
};
struct risk_var_result {
  long double var95, es95, var99, es99, mean, max;
};

/* Runs p->paths paths into losses[0..paths) (sorted ascending on return) and the statistics:
 * VaR_q = the ceil(q * N)-th smallest loss, ES_q = the mean of the losses from it up. Returns
 * RISK_OK, or RISK_INVALID for bad parameters (k, paths, a negative volatility). */
risk_err risk_var_run(const struct risk_var_model *vm, size_t n_reserves, const struct risk_var_params *p,
                      long double *losses, struct risk_var_result *out);

/* Lower-triangular L with L L^T = a (k x k, row-major in a and l); a pivot below 1e-12 (a
 * positive semi-definite matrix, e.g. two assets moving together) leaves that column zero. */
void risk_cholesky(const double *a, size_t k, double *l);

/* Estimates annualised volatilities and correlations from n_obs aligned observations: ts[t] in
 * seconds, price[a * n_obs + t] (<= 0: missing). A return is ln(p_t / p_{t-1}) over the interval
 * between two present observations, scaled to a year; sigma = sqrt(mean of squared scaled
 * returns) (zero mean); samples[a] = returns used; corr over the intervals both assets have. */
void risk_var_estimate(const double *price, const int64_t *ts, size_t n_assets, size_t n_obs, double *sigma,
                       size_t *samples, double *corr);

#endif
