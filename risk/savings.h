/* Savings vaults (spec protocol-math §1): the MakerDAO rate accumulator (rpow, chi, drip)
 * shared by sDAI/Pot, sUSDS and Spark Vaults V2; ERC-4626 conversions with their rounding;
 * Spark Vaults V2 max functions and on-chain checks; APR/APY conversions of a per-second
 * rate; the cross-chain SSR oracle's exact / binomial / linear forms; PSM3 swap quotes and
 * LP-share conversions.
 * Pure: structs in, structs out; every error is where the contract reverts. */
#ifndef SPARKD_RISK_SAVINGS_H
#define SPARKD_RISK_SAVINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "risk/u256.h"

/* MakerDAO _rpow(x, n) with base RAY: exponentiation by squaring, half-up at each step.
 * Returns RISK_OVERFLOW exactly where the assembly reverts (x*x, xx+half, z*x, zx+half). */
risk_err risk_rpow(u256 *z, u256 x, uint64_t n);

/* Accumulator at time t: fl(rpow(rate, t - rho) * chi / RAY) when t > rho, else chi
 * (nowChi / Pot drip). Returns RISK_OVERFLOW where the contract reverts. */
risk_err risk_savings_chi_at(u256 *chi_t, u256 chi, uint64_t rho, u256 rate, uint64_t t);

/* Result of drip() at time t. */
struct risk_savings_drip {
  u256 chi;     /* new chi */
  uint64_t rho; /* new rho: t when t > rho, else unchanged */
  u256 diff;    /* fl(supply*chi_t/RAY) - fl(supply*chi/RAY): USDS minted by sUSDS / the
                 * Drip event's yield in SparkVault; 0 when t <= rho */
};
/* Returns RISK_OK and the drip of (chi, rho, rate) with total_supply at time t. */
risk_err risk_savings_drip(struct risk_savings_drip *out, u256 chi, uint64_t rho, u256 rate, u256 total_supply,
                           uint64_t t);

/* ERC-4626 conversions at accumulator c (§1.2). Each returns RISK_OK and the amount,
 * RISK_OVERFLOW when the product overflows, RISK_DIV_BY_ZERO when c == 0. */
risk_err risk_savings_convert_to_shares(u256 *shares, u256 assets, u256 c); /* fl(a*RAY/c) */
risk_err risk_savings_convert_to_assets(u256 *assets, u256 shares, u256 c); /* fl(s*c/RAY) */
risk_err risk_savings_preview_deposit(u256 *shares, u256 assets, u256 c);   /* = convertToShares */
risk_err risk_savings_preview_mint(u256 *assets, u256 shares, u256 c);      /* divup(s*c, RAY) */
risk_err risk_savings_preview_withdraw(u256 *shares, u256 assets, u256 c);  /* divup(a*RAY, c) */
risk_err risk_savings_preview_redeem(u256 *assets, u256 shares, u256 c);    /* = convertToAssets */

/* Per-second rate conversions (§1.3). */
/* Returns RISK_OK and (rate - RAY) * YEAR; RISK_UNDERFLOW when rate < RAY. */
risk_err risk_savings_apr_ray(u256 *apr, u256 rate);
/* Returns RISK_OK and rpow(rate, YEAR) - RAY; RISK_UNDERFLOW when rate < RAY. */
risk_err risk_savings_apy_ray(u256 *apy, u256 rate);
/* Returns RISK_OK and rates-conv Conv.rtob: fl(((rpow(rate, YEAR) - RAY)*10000 + RAY/2)/RAY). */
risk_err risk_savings_rtob(u256 *bps, u256 rate);
/* Returns RISK_OK and the spell helper _getAPY(apr) = rpow(fl(apr/YEAR) + RAY, YEAR) - RAY. */
risk_err risk_savings_get_apy(u256 *apy, u256 apr);

/* ---- Spark Vaults V2 (SparkVault.sol, §1.4) ---- */

/* Vault state as read from chain; liquidity = asset.balanceOf(vault) (idle assets). */
struct risk_spark_vault {
  u256 chi;
  uint64_t rho;
  u256 vsr;
  u256 total_supply;
  u256 deposit_cap;
  u256 liquidity;
};

/* The vault's own revert reasons that a caller can hit with valid arithmetic. */
enum risk_vault_revert {
  RISK_VAULT_OK = 0,
  RISK_VAULT_DEPOSIT_CAP_EXCEEDED,   /* "SparkVault/deposit-cap-exceeded" */
  RISK_VAULT_INSUFFICIENT_LIQUIDITY, /* "SparkVault/insufficient-liquidity" */
  RISK_VAULT_INSUFFICIENT_BALANCE,   /* "SparkVault/insufficient-balance" */
};
/* Returns the on-chain revert string for r ("" for RISK_VAULT_OK). */
const char *risk_vault_revert_string(enum risk_vault_revert r);

/* Each view below evaluates at time t with chi_t = nowChi(). */
/* Returns RISK_OK and nowChi(). */
risk_err risk_spark_vault_now_chi(u256 *chi_t, const struct risk_spark_vault *v, uint64_t t);
/* Returns RISK_OK and totalAssets() = convertToAssets(totalSupply). */
risk_err risk_spark_vault_total_assets(u256 *r, const struct risk_spark_vault *v, uint64_t t);
/* Returns RISK_OK and assetsOutstanding() = max(totalAssets - liquidity, 0). */
risk_err risk_spark_vault_assets_outstanding(u256 *r, const struct risk_spark_vault *v, uint64_t t);
/* Returns RISK_OK and maxDeposit = cap <= TA ? 0 : cap - TA. */
risk_err risk_spark_vault_max_deposit(u256 *r, const struct risk_spark_vault *v, uint64_t t);
/* Returns RISK_OK and maxMint = cap > (2^256-1)/RAY ? 2^256-1 : (cap <= TA ? 0 : fl((cap-TA)*RAY/c)). */
risk_err risk_spark_vault_max_mint(u256 *r, const struct risk_spark_vault *v, uint64_t t);
/* Returns RISK_OK and maxWithdraw = min(liquidity, convertToAssets(owner_shares)). */
risk_err risk_spark_vault_max_withdraw(u256 *r, const struct risk_spark_vault *v, u256 owner_shares, uint64_t t);
/* Returns RISK_OK and maxRedeem = min(fl(liquidity*RAY/c), owner_shares). */
risk_err risk_spark_vault_max_redeem(u256 *r, const struct risk_spark_vault *v, u256 owner_shares, uint64_t t);
/* Returns RISK_OK and previewRedeem(shares), or RISK_INVALID with *why =
 * INSUFFICIENT_LIQUIDITY when liquidity < the assets (why may be NULL). */
risk_err risk_spark_vault_preview_redeem(u256 *assets, enum risk_vault_revert *why, const struct risk_spark_vault *v,
                                         u256 shares, uint64_t t);
/* Returns RISK_OK and previewWithdraw(assets), or RISK_INVALID / INSUFFICIENT_LIQUIDITY. */
risk_err risk_spark_vault_preview_withdraw(u256 *shares, enum risk_vault_revert *why, const struct risk_spark_vault *v,
                                           u256 assets, uint64_t t);

/* Mutating calls at time t: drip, compute, check in the contract's order. On success the
 * state after the call is written to *after (may be NULL or alias v): chi/rho dripped,
 * total_supply and liquidity moved. A failed require returns RISK_INVALID and sets *why
 * (may be NULL); arithmetic reverts return their risk_err with *why = RISK_VAULT_OK.
 * Receiver / role checks (invalid-address, taker-cannot-deposit) are the caller's. */
/* Returns RISK_OK and the shares deposit(assets) mints; checks the deposit cap. */
risk_err risk_spark_vault_deposit(struct risk_spark_vault *after, u256 *shares, enum risk_vault_revert *why,
                                  const struct risk_spark_vault *v, u256 assets, uint64_t t);
/* Returns RISK_OK and the assets mint(shares) pulls; checks the deposit cap. */
risk_err risk_spark_vault_mint(struct risk_spark_vault *after, u256 *assets, enum risk_vault_revert *why,
                               const struct risk_spark_vault *v, u256 shares, uint64_t t);
/* Returns RISK_OK and the shares withdraw(assets) burns from an owner holding owner_shares. */
risk_err risk_spark_vault_withdraw(struct risk_spark_vault *after, u256 *shares, enum risk_vault_revert *why,
                                   const struct risk_spark_vault *v, u256 assets, u256 owner_shares, uint64_t t);
/* Returns RISK_OK and the assets redeem(shares) pays an owner holding owner_shares. */
risk_err risk_spark_vault_redeem(struct risk_spark_vault *after, u256 *assets, enum risk_vault_revert *why,
                                 const struct risk_spark_vault *v, u256 shares, u256 owner_shares, uint64_t t);

/* ---- cross-chain SSR oracle (xchain-ssr-oracle SSROracleBase, §1.5) ---- */

/* Stored data: ssr (uint96, >= RAY), chi (uint120), rho (uint40). */
struct risk_ssr_oracle {
  u256 ssr;
  u256 chi;
  uint64_t rho;
};
/* The conversion rate forms return RISK_OK and the 27-decimal sUSDS price at t (chi when
 * t == rho); RISK_UNDERFLOW when t < rho (the oracle reverts); RISK_INVALID when the
 * stored data cannot exist on chain (ssr < RAY, or a field wider than its storage type). */
/* Returns the exact form fl(rpow(ssr, t - rho) * chi / RAY). */
risk_err risk_ssr_oracle_rate(u256 *r, const struct risk_ssr_oracle *o, uint64_t t);
/* Returns the 3-term binomial approximation (§1.5). */
risk_err risk_ssr_oracle_rate_binomial(u256 *r, const struct risk_ssr_oracle *o, uint64_t t);
/* Returns the linear approximation fl(((ssr - RAY)*(t - rho) + RAY) * chi / RAY). */
risk_err risk_ssr_oracle_rate_linear(u256 *r, const struct risk_ssr_oracle *o, uint64_t t);
/* Returns RISK_OK and getAPR() = (ssr - RAY) * YEAR. */
risk_err risk_ssr_oracle_apr(u256 *apr, const struct risk_ssr_oracle *o);

/* ---- PSM3 (spark-psm src/PSM3.sol, §1.5): USDC / USDS / sUSDS on L2s ---- */

enum risk_psm3_asset { RISK_PSM3_USDC = 0, RISK_PSM3_USDS = 1, RISK_PSM3_SUSDS = 2 };

/* PSM3 state: rate = rateProvider.getConversionRate() (USD value of 1 sUSDS, RAY);
 * precision[i] = 10^decimals of each asset (1e6, 1e18, 1e18 on the deployed PSMs);
 * balance[i] = what the PSM holds (USDC at its pocket); total_shares = LP shares. */
struct risk_psm3 {
  u256 rate;
  u256 precision[3];
  u256 balance[3];
  u256 total_shares;
};

/* Returns RISK_OK and previewSwapExactIn(in, out, amount_in) (rounds down):
 * USDC<->USDS amount*precOut/precIn; to sUSDS fl(amount*1e27/rate)*precS/precIn;
 * from sUSDS fl(amount*rate/1e27)*precOut/precS. RISK_INVALID when in == out
 * ("PSM3/invalid-asset"), RISK_OVERFLOW / RISK_DIV_BY_ZERO where the contract reverts. */
risk_err risk_psm3_swap_exact_in(u256 *amount_out, const struct risk_psm3 *p, enum risk_psm3_asset in,
                                 enum risk_psm3_asset out, u256 amount_in);
/* Returns RISK_OK and previewSwapExactOut(in, out, amount_out): the same conversion from
 * out to in with a ceiling at each division. */
risk_err risk_psm3_swap_exact_out(u256 *amount_in, const struct risk_psm3 *p, enum risk_psm3_asset in,
                                  enum risk_psm3_asset out, u256 amount_out);
/* Returns RISK_OK and the 18-decimal USD value of amount of asset (sUSDS: rate/1e27,
 * rounded down, or up at both divisions when round_up). */
risk_err risk_psm3_asset_value(u256 *value, const struct risk_psm3 *p, enum risk_psm3_asset asset, u256 amount,
                               bool round_up);
/* Returns RISK_OK and totalAssets(): the summed value of the three balances (rounded down). */
risk_err risk_psm3_total_assets(u256 *value, const struct risk_psm3 *p);
/* Returns RISK_OK and convertToAssetValue(shares) = shares*totalAssets/totalShares (shares when
 * there are none). */
risk_err risk_psm3_convert_to_asset_value(u256 *value, const struct risk_psm3 *p, u256 shares);
/* Returns RISK_OK and convertToAssets(asset, shares): the asset amount worth those shares. */
risk_err risk_psm3_convert_to_assets(u256 *amount, const struct risk_psm3 *p, enum risk_psm3_asset asset, u256 shares);
/* Returns RISK_OK and previewDeposit(asset, amount): fl(value*totalShares/totalAssets), or
 * the value itself when totalAssets == 0. */
risk_err risk_psm3_preview_deposit(u256 *shares, const struct risk_psm3 *p, enum risk_psm3_asset asset, u256 amount);
/* Returns RISK_OK and previewWithdraw(asset, max_assets) for a holder of user_shares: assets
 * are capped by the PSM's balance, shares burned = ceil(value_up*totalShares/totalAssets);
 * when that exceeds user_shares, all user shares burn for convertToAssets(asset, user_shares). */
risk_err risk_psm3_preview_withdraw(u256 *shares_burned, u256 *assets_withdrawn, const struct risk_psm3 *p,
                                    enum risk_psm3_asset asset, u256 max_assets, u256 user_shares);

#endif
