/* SparkLend (Aave v3.0.2) account math: GenericLogic.calculateUserAccountData, the
 * ValidationLogic checks of supply / withdraw / borrow / repay / set-collateral /
 * set-eMode in the on-chain order with the Errors.sol names, the state changes of
 * those actions (so a quote can chain them), and the exact maximum amount each action
 * accepts (spec protocol-math §2.5, §2.6). Pure: no I/O, no globals, no heap.
 *
 * Everything is evaluated "at time t": the caller fills each reserve with the indexes
 * that ReserveLogic.updateState(t) would leave (normalized income and debt at t) and
 * the totals as they stand after that update. Stable debt does not exist on Spark and
 * is taken as zero. Price oracle sentinel: none (not modelled). */
#ifndef SPARKD_RISK_ACCOUNT_H
#define SPARKD_RISK_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"

#define RISK_MAX_RESERVES 128 /* MAX_RESERVES_COUNT */
#define RISK_MAX_EMODE 256
/* 10^decimals is precomputed; decimals above this are refused (RISK_INVALID) because
 * the chain's unchecked 10**decimals and cap*10**decimals would wrap. */
#define RISK_MAX_DECIMALS 60

/* The per-reserve inputs of the account math. Fill the public part, then call
 * risk_market_prepare (it fills the derived part). */
struct risk_acct_reserve {
  /* configuration (bitmap fields, §2.2) */
  uint32_t decimals;
  uint32_t ltv;                      /* bps */
  uint32_t liquidation_threshold;    /* bps */
  uint32_t liquidation_bonus;        /* bps incl. principal */
  uint32_t liquidation_protocol_fee; /* bps of the bonus */
  uint32_t emode_category;
  uint64_t borrow_cap;   /* whole tokens, 0 = none */
  uint64_t supply_cap;   /* whole tokens, 0 = none */
  uint64_t debt_ceiling; /* USD, 2 decimals; 0 = not an isolated asset */
  bool listed;           /* false: no reserve at this id (skipped like address(0)) */
  bool active, frozen, paused, borrowing_enabled, borrowable_in_isolation, siloed_borrowing;
  /* state at the evaluation time t */
  u256 price;                      /* AaveOracle price, 8 decimals */
  u256 liquidity_index;            /* normalized income at t (= nextLiquidityIndex) */
  u256 variable_borrow_index;      /* normalized variable debt at t (getNormalizedDebt) */
  u256 next_variable_borrow_index; /* the index updateState(t) leaves: equals the above when
                                      the scaled total debt is non-zero, else the stored index;
                                      zero means "same as variable_borrow_index" */
  u256 a_token_scaled_total_supply;
  u256 accrued_to_treasury; /* after updateState(t), scaled */
  u256 variable_debt_scaled_total_supply;
  u256 isolation_mode_total_debt; /* USD, 2 decimals (this reserve as isolated collateral) */
  u256 available_liquidity;       /* underlying.balanceOf(aToken) */
  /* derived by risk_market_prepare */
  u256 unit;      /* 10^decimals */
  uint64_t unit5; /* 5^decimals when decimals <= 27 (unit = unit5 << decimals), else 0 */
};

struct risk_emode_category {
  uint32_t ltv, liquidation_threshold, liquidation_bonus; /* bps; LT == 0: category unset */
};

struct risk_market {
  uint32_t n_reserves; /* reserve ids are 0 .. n_reserves-1 */
  struct risk_acct_reserve reserves[RISK_MAX_RESERVES];
  struct risk_emode_category emode[RISK_MAX_EMODE];
};

/* One reserve the user touches: the bit pair of the user configuration and the two
 * scaled balances. */
struct risk_position {
  uint16_t reserve;
  bool collateral;  /* using-as-collateral bit */
  bool borrowing;   /* borrowing bit (set while scaled_debt != 0, cleared on full repay) */
  u256 scaled_a;    /* aToken scaledBalanceOf */
  u256 scaled_debt; /* variable debt token scaledBalanceOf */
};

#define RISK_ACCOUNT_MAX_POSITIONS RISK_MAX_RESERVES
struct risk_account {
  uint32_t emode_category;
  uint32_t n_positions; /* strictly ascending by reserve id */
  struct risk_position pos[RISK_ACCOUNT_MAX_POSITIONS];
};

/* calculateUserAccountData and what the checks need beside it. */
struct risk_account_data {
  u256 total_collateral_base; /* 8-decimal USD */
  u256 total_debt_base;
  u256 available_borrows_base; /* max(percentMul(coll, avgLtv) - debt, 0) */
  u256 health_factor;          /* WAD; 2^256-1 when there is no debt */
  uint32_t avg_ltv;            /* bps */
  uint32_t avg_liquidation_threshold;
  bool has_zero_ltv_collateral;
  bool isolated;                 /* exactly one collateral bit, and its debt ceiling != 0 */
  uint16_t isolation_collateral; /* reserve id when isolated */
  uint32_t n_collateral_bits;
  uint32_t n_borrowing_bits;
  uint16_t first_borrowed; /* lowest borrowed reserve id (valid when n_borrowing_bits > 0) */
};

struct risk_reserve_state;
/* Fills *out from a reserve's stored state (risk/reserve.h) and its oracle price as seen at
 * time t: configuration fields, normalized income and debt at t, and the index,
 * accrued_to_treasury and totals that ReserveLogic.updateState(t) leaves. The derived fields
 * are filled by risk_market_prepare afterwards. Returns RISK_OK or the error of the index
 * math (RISK_UNDERFLOW when t is before the last update). */
risk_err risk_acct_reserve_from_state(struct risk_acct_reserve *out, const struct risk_reserve_state *s, u256 price,
                                      uint64_t t);

/* Fills the derived fields of every reserve; returns RISK_INVALID when a reserve has
 * decimals > RISK_MAX_DECIMALS or n_reserves > RISK_MAX_RESERVES. */
risk_err risk_market_prepare(struct risk_market *m);

/* calculateUserAccountData over positions pos[0..n) (strictly ascending reserve ids) with
 * the user's eMode category. Returns RISK_OK, RISK_OVERFLOW where the chain reverts, or
 * RISK_INVALID for an unknown reserve id or unsorted positions. */
risk_err risk_account_evaluate_positions(const struct risk_market *m, const struct risk_position *pos, size_t n,
                                         uint32_t emode_category, struct risk_account_data *out);
/* The same for a risk_account. */
risk_err risk_account_evaluate(const struct risk_market *m, const struct risk_account *a,
                               struct risk_account_data *out);

/* Revert reasons, in Errors.sol names. RISK_ONCHAIN_OK means the action goes through. */
typedef enum {
  RISK_ONCHAIN_OK = 0,
  RISK_ONCHAIN_INVALID_AMOUNT,
  RISK_ONCHAIN_RESERVE_INACTIVE,
  RISK_ONCHAIN_RESERVE_PAUSED,
  RISK_ONCHAIN_RESERVE_FROZEN,
  RISK_ONCHAIN_BORROWING_NOT_ENABLED,
  RISK_ONCHAIN_SUPPLY_CAP_EXCEEDED,
  RISK_ONCHAIN_BORROW_CAP_EXCEEDED,
  RISK_ONCHAIN_NOT_ENOUGH_AVAILABLE_USER_BALANCE,
  RISK_ONCHAIN_COLLATERAL_BALANCE_IS_ZERO,
  RISK_ONCHAIN_LTV_VALIDATION_FAILED,
  RISK_ONCHAIN_COLLATERAL_CANNOT_COVER_NEW_BORROW,
  RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD,
  RISK_ONCHAIN_ASSET_NOT_BORROWABLE_IN_ISOLATION,
  RISK_ONCHAIN_DEBT_CEILING_EXCEEDED,
  RISK_ONCHAIN_SILOED_BORROWING_VIOLATION,
  RISK_ONCHAIN_INCONSISTENT_EMODE_CATEGORY,
  RISK_ONCHAIN_NO_DEBT_OF_SELECTED_TYPE,
  RISK_ONCHAIN_NO_EXPLICIT_AMOUNT_TO_REPAY_ON_BEHALF,
  RISK_ONCHAIN_UNDERLYING_BALANCE_ZERO,
  RISK_ONCHAIN_USER_IN_ISOLATION_MODE_OR_LTV_ZERO,
  RISK_ONCHAIN_INVALID_MINT_AMOUNT,
  RISK_ONCHAIN_INVALID_BURN_AMOUNT,
  RISK_ONCHAIN_HEALTH_FACTOR_NOT_BELOW_THRESHOLD,
  RISK_ONCHAIN_COLLATERAL_CANNOT_BE_LIQUIDATED,
  RISK_ONCHAIN_SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER,
  /* Not Errors.sol strings: the chain reverts without a protocol reason. */
  RISK_ONCHAIN_INSUFFICIENT_LIQUIDITY, /* rate strategy underflow / underlying transfer fails */
  RISK_ONCHAIN_ARITHMETIC,             /* Panic(0x11) overflow/underflow, or a SafeCast revert */
  RISK_ONCHAIN__COUNT
} risk_onchain_err;

/* Returns the Errors.sol constant name ("BORROW_CAP_EXCEEDED"), "OK" for success, and a
 * descriptive upper-case name for the two non-Errors.sol reverts. */
const char *risk_onchain_error_name(risk_onchain_err e);
/* Returns the numeric Errors.sol code ("50"), or NULL when the revert has none. */
const char *risk_onchain_error_code(risk_onchain_err e);

typedef enum {
  RISK_ACT_SUPPLY,
  RISK_ACT_WITHDRAW,
  RISK_ACT_BORROW, /* variable rate */
  RISK_ACT_REPAY,  /* variable rate, with the underlying */
  RISK_ACT_SET_COLLATERAL,
  RISK_ACT_SET_EMODE,
} risk_action_kind;

struct risk_action {
  risk_action_kind kind;
  uint16_t reserve;                  /* all but SET_EMODE */
  u256 amount;                       /* SUPPLY/WITHDRAW/BORROW/REPAY; 2^256-1 = "all" for WITHDRAW/REPAY */
  bool use_as_collateral;            /* SET_COLLATERAL */
  uint32_t emode_category;           /* SET_EMODE */
  bool isolated_collateral_supplier; /* SUPPLY: caller holds ISOLATED_COLLATERAL_SUPPLIER_ROLE */
  bool on_behalf;                    /* REPAY: msg.sender != onBehalfOf */
};

/* Checks the action against the account and market as the Pool would, in the on-chain
 * order; returns the first revert reason or RISK_ONCHAIN_OK. Nothing is modified. */
risk_onchain_err risk_account_validate(const struct risk_market *m, const struct risk_account *a,
                                       const struct risk_action *act);
/* Validates, then (only when it passes) applies the action to *a and to the reserve
 * totals in *m: scaled balances with the chain's rounding, collateral / borrowing bits
 * (including the automatic collateral rule of a first supply), isolation-mode debt, and
 * the available liquidity. Returns the revert reason or RISK_ONCHAIN_OK. */
risk_onchain_err risk_account_apply(struct risk_market *m, struct risk_account *a, const struct risk_action *act);

/* The exact maximum amount of an action: *max passes risk_account_validate and *max + 1
 * does not (*unbounded is set, and *max = 2^256-1, for a supply without a cap). When no
 * amount passes, *max = 0 and the reason is the revert of the smallest amount. Works for
 * SUPPLY, WITHDRAW, BORROW and REPAY (act->amount is ignored). Returns the revert reason
 * of *max + 1 (or of 1 when nothing passes). REPAY: *max is the current debt, and the
 * return is the validation of that amount (larger amounts pass too, capped at the debt). */
risk_onchain_err risk_account_max_amount(const struct risk_market *m, const struct risk_account *a,
                                         const struct risk_action *act, u256 *max, bool *unbounded);

/* Position of reserve r in a, or NULL. */
const struct risk_position *risk_account_find(const struct risk_account *a, uint16_t r);

/* Internal-but-shared: evaluation with one position replaced (or added) and/or one price
 * and/or the eMode category overridden. Used by the validators and by liquidation.c. */
struct risk_eval_override {
  const struct risk_position *pos; /* NULL: none; replaces the position of pos->reserve */
  int price_reserve;               /* -1: none */
  u256 price;
  int emode; /* -1: none, else the category to use */
};
/* Returns as risk_account_evaluate_positions, for the overridden account. */
risk_err risk_account_evaluate_with(const struct risk_market *m, const struct risk_account *a,
                                    const struct risk_eval_override *ov, struct risk_account_data *out);

#endif
