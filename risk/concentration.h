/* Concentration of a book (spec risk-engine §3.2): per reserve, for supply and for debt, the
 * total, the holders, the largest accounts and the Herfindahl-Hirschman index; per collateral the
 * debt it backs (each account's debt split over its collaterals pro rata by value). Amounts are
 * the engine's (rayMul of the scaled balances); HHI is a double (a statistic). Pure: no I/O, no
 * globals, no heap. */
#ifndef SPARKD_RISK_CONCENTRATION_H
#define SPARKD_RISK_CONCENTRATION_H

#include <stddef.h>
#include <stdint.h>

#include "risk/account.h"
#include "risk/stress.h"

#define RISK_CONC_MAX_TOP 100

struct risk_conc_side {
  u256 total;
  uint64_t holders;
  double sum_sq; /* sum of amount^2, amounts as doubles */
  uint32_t n_top;
  uint32_t top[RISK_CONC_MAX_TOP]; /* account indexes, largest first (ties: lower index first) */
  u256 top_amount[RISK_CONC_MAX_TOP];
};
struct risk_conc_reserve {
  struct risk_conc_side supply, debt;
  u256 collateral_base;  /* enabled collateral (LT != 0) at today's price */
  u256 debt_backed_base; /* floor(D * v_c / sum v) summed over accounts */
};
struct risk_conc_result {
  u256 total_debt_base;
  struct risk_conc_reserve res[RISK_MAX_RESERVES];
};

/* Returns the HHI of a side: sum_sq / total^2 (0 for an empty side). */
double risk_conc_hhi(const struct risk_conc_side *s);

/* Fills out for the book at m keeping top (1 .. RISK_CONC_MAX_TOP) accounts per side. Returns
 * RISK_OK, RISK_INVALID for a bad top, or the engine's error. */
risk_err risk_concentration(const struct risk_market *m, const struct risk_book *b, uint32_t top,
                            struct risk_conc_result *out);

#endif
