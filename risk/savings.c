/* Savings vault math (spec protocol-math §1). All products are checked 256-bit
 * multiplications followed by floor division, as in the Solidity sources; only rpow
 * rounds half-up, and mint/withdraw round up with divup. */
#include "risk/savings.h"

#include "risk/wadray.h"

risk_err risk_rpow(u256 *out, u256 x, uint64_t n) {
  if (u256_is_zero(x)) {
    *out = n == 0 ? RISK_RAY : U256_ZERO;
    return RISK_OK;
  }
  u256 z = (n & 1) ? x : RISK_RAY;
  const u256 half = RISK_HALF_RAY;
  risk_err e;
  for (n >>= 1; n != 0; n >>= 1) {
    u256 xx, zx;
    if ((e = u256_mul(&xx, x, x)) != RISK_OK) return e;
    if ((e = u256_add(&xx, xx, half)) != RISK_OK) return e;
    (void)u256_div(&x, xx, RISK_RAY);
    if (n & 1) {
      /* z*x is only checked when x != 0; with x == 0 the product is 0 anyway */
      if ((e = u256_mul(&zx, z, x)) != RISK_OK) return e;
      if ((e = u256_add(&zx, zx, half)) != RISK_OK) return e;
      (void)u256_div(&z, zx, RISK_RAY);
    }
  }
  *out = z;
  return RISK_OK;
}

risk_err risk_savings_chi_at(u256 *chi_t, u256 chi, uint64_t rho, u256 rate, uint64_t t) {
  if (t <= rho) {
    *chi_t = chi;
    return RISK_OK;
  }
  u256 p, r;
  risk_err e = risk_rpow(&p, rate, t - rho);
  if (e == RISK_OK) e = u256_mul(&p, p, chi);
  if (e == RISK_OK) e = u256_div(&r, p, RISK_RAY);
  if (e == RISK_OK) *chi_t = r;
  return e;
}

risk_err risk_savings_drip(struct risk_savings_drip *out, u256 chi, uint64_t rho, u256 rate, u256 total_supply,
                           uint64_t t) {
  struct risk_savings_drip d = {chi, rho, U256_ZERO};
  if (t > rho) {
    u256 a, b;
    risk_err e = risk_savings_chi_at(&d.chi, chi, rho, rate, t);
    if (e == RISK_OK) e = u256_mul(&a, total_supply, d.chi);
    if (e == RISK_OK) e = u256_mul(&b, total_supply, chi);
    if (e != RISK_OK) return e;
    (void)u256_div(&a, a, RISK_RAY);
    (void)u256_div(&b, b, RISK_RAY);
    if ((e = u256_sub(&d.diff, a, b)) != RISK_OK) return e;
    d.rho = t;
  }
  *out = d;
  return RISK_OK;
}

/* Returns RISK_OK and fl(a*b/d) with the product checked (not a 512-bit muldiv). */
static risk_err mul_div(u256 *r, u256 a, u256 b, u256 d) {
  u256 p;
  risk_err e = u256_mul(&p, a, b);
  if (e != RISK_OK) return e;
  return u256_div(r, p, d);
}

/* Returns RISK_OK and divup(a*b, d) with the product checked. */
static risk_err mul_divup(u256 *r, u256 a, u256 b, u256 d) {
  u256 p;
  risk_err e = u256_mul(&p, a, b);
  if (e != RISK_OK) return e;
  return risk_divup(r, p, d);
}

risk_err risk_savings_convert_to_shares(u256 *shares, u256 assets, u256 c) {
  return mul_div(shares, assets, RISK_RAY, c);
}

risk_err risk_savings_convert_to_assets(u256 *assets, u256 shares, u256 c) {
  return mul_div(assets, shares, c, RISK_RAY);
}

risk_err risk_savings_preview_deposit(u256 *shares, u256 assets, u256 c) {
  return risk_savings_convert_to_shares(shares, assets, c);
}

risk_err risk_savings_preview_mint(u256 *assets, u256 shares, u256 c) { return mul_divup(assets, shares, c, RISK_RAY); }

risk_err risk_savings_preview_withdraw(u256 *shares, u256 assets, u256 c) {
  return mul_divup(shares, assets, RISK_RAY, c);
}

risk_err risk_savings_preview_redeem(u256 *assets, u256 shares, u256 c) {
  return risk_savings_convert_to_assets(assets, shares, c);
}

risk_err risk_savings_apr_ray(u256 *apr, u256 rate) {
  u256 d;
  risk_err e = u256_sub(&d, rate, RISK_RAY);
  if (e != RISK_OK) return e;
  return u256_mul(apr, d, u256_from_u64(RISK_YEAR));
}

risk_err risk_savings_apy_ray(u256 *apy, u256 rate) {
  u256 y;
  risk_err e = risk_rpow(&y, rate, RISK_YEAR);
  if (e != RISK_OK) return e;
  return u256_sub(apy, y, RISK_RAY);
}

risk_err risk_savings_rtob(u256 *bps, u256 rate) {
  u256 d, n;
  risk_err e = risk_savings_apy_ray(&d, rate);
  if (e == RISK_OK) e = u256_mul(&n, d, u256_from_u64(RISK_PERCENTAGE_FACTOR));
  if (e == RISK_OK) e = u256_add(&n, n, RISK_HALF_RAY);
  if (e == RISK_OK) e = u256_div(bps, n, RISK_RAY);
  return e;
}

risk_err risk_savings_get_apy(u256 *apy, u256 apr) {
  u256 rate;
  (void)u256_div(&rate, apr, u256_from_u64(RISK_YEAR));
  risk_err e = u256_add(&rate, rate, RISK_RAY);
  if (e != RISK_OK) return e;
  return risk_savings_apy_ray(apy, rate);
}

/* ---- Spark Vaults V2 ---- */

const char *risk_vault_revert_string(enum risk_vault_revert r) {
  switch (r) {
  case RISK_VAULT_OK: return "";
  case RISK_VAULT_DEPOSIT_CAP_EXCEEDED: return "SparkVault/deposit-cap-exceeded";
  case RISK_VAULT_INSUFFICIENT_LIQUIDITY: return "SparkVault/insufficient-liquidity";
  case RISK_VAULT_INSUFFICIENT_BALANCE: return "SparkVault/insufficient-balance";
  }
  return "";
}

risk_err risk_spark_vault_now_chi(u256 *chi_t, const struct risk_spark_vault *v, uint64_t t) {
  return risk_savings_chi_at(chi_t, v->chi, v->rho, v->vsr, t);
}

/* Returns RISK_OK and totalAssets at accumulator c. */
static risk_err total_assets_at(u256 *r, const struct risk_spark_vault *v, u256 c) {
  return risk_savings_convert_to_assets(r, v->total_supply, c);
}

risk_err risk_spark_vault_total_assets(u256 *r, const struct risk_spark_vault *v, uint64_t t) {
  u256 c;
  risk_err e = risk_spark_vault_now_chi(&c, v, t);
  if (e != RISK_OK) return e;
  return total_assets_at(r, v, c);
}

risk_err risk_spark_vault_assets_outstanding(u256 *r, const struct risk_spark_vault *v, uint64_t t) {
  u256 ta;
  risk_err e = risk_spark_vault_total_assets(&ta, v, t);
  if (e != RISK_OK) return e;
  *r = u256_ge(ta, v->liquidity) ? u256_sub_wrap(ta, v->liquidity) : U256_ZERO;
  return RISK_OK;
}

risk_err risk_spark_vault_max_deposit(u256 *r, const struct risk_spark_vault *v, uint64_t t) {
  u256 ta;
  risk_err e = risk_spark_vault_total_assets(&ta, v, t);
  if (e != RISK_OK) return e;
  *r = u256_le(v->deposit_cap, ta) ? U256_ZERO : u256_sub_wrap(v->deposit_cap, ta);
  return RISK_OK;
}

risk_err risk_spark_vault_max_mint(u256 *r, const struct risk_spark_vault *v, uint64_t t) {
  u256 lim, c, ta;
  (void)u256_div(&lim, U256_MAX, RISK_RAY);
  if (u256_gt(v->deposit_cap, lim)) {
    *r = U256_MAX;
    return RISK_OK;
  }
  risk_err e = risk_spark_vault_now_chi(&c, v, t);
  if (e == RISK_OK) e = total_assets_at(&ta, v, c);
  if (e != RISK_OK) return e;
  if (u256_le(v->deposit_cap, ta)) {
    *r = U256_ZERO;
    return RISK_OK;
  }
  return mul_div(r, u256_sub_wrap(v->deposit_cap, ta), RISK_RAY, c);
}

risk_err risk_spark_vault_max_withdraw(u256 *r, const struct risk_spark_vault *v, u256 owner_shares, uint64_t t) {
  u256 c, a;
  risk_err e = risk_spark_vault_now_chi(&c, v, t);
  if (e == RISK_OK) e = risk_savings_convert_to_assets(&a, owner_shares, c);
  if (e != RISK_OK) return e;
  *r = u256_min(v->liquidity, a);
  return RISK_OK;
}

risk_err risk_spark_vault_max_redeem(u256 *r, const struct risk_spark_vault *v, u256 owner_shares, uint64_t t) {
  u256 c, s;
  risk_err e = risk_spark_vault_now_chi(&c, v, t);
  if (e == RISK_OK) e = risk_savings_convert_to_shares(&s, v->liquidity, c);
  if (e != RISK_OK) return e;
  *r = u256_min(s, owner_shares);
  return RISK_OK;
}

static void set_why(enum risk_vault_revert *why, enum risk_vault_revert r) {
  if (why != NULL) *why = r;
}

risk_err risk_spark_vault_preview_redeem(u256 *assets, enum risk_vault_revert *why, const struct risk_spark_vault *v,
                                         u256 shares, uint64_t t) {
  u256 c, a;
  set_why(why, RISK_VAULT_OK);
  risk_err e = risk_spark_vault_now_chi(&c, v, t);
  if (e == RISK_OK) e = risk_savings_convert_to_assets(&a, shares, c);
  if (e != RISK_OK) return e;
  if (u256_lt(v->liquidity, a)) {
    set_why(why, RISK_VAULT_INSUFFICIENT_LIQUIDITY);
    return RISK_INVALID;
  }
  *assets = a;
  return RISK_OK;
}

risk_err risk_spark_vault_preview_withdraw(u256 *shares, enum risk_vault_revert *why, const struct risk_spark_vault *v,
                                           u256 assets, uint64_t t) {
  u256 c;
  set_why(why, RISK_VAULT_OK);
  if (u256_lt(v->liquidity, assets)) { /* checked before the conversion */
    set_why(why, RISK_VAULT_INSUFFICIENT_LIQUIDITY);
    return RISK_INVALID;
  }
  risk_err e = risk_spark_vault_now_chi(&c, v, t);
  if (e != RISK_OK) return e;
  return risk_savings_preview_withdraw(shares, assets, c);
}

/* drip() on a copy of v; returns RISK_OK and the dripped state. */
static risk_err vault_drip(struct risk_spark_vault *d, const struct risk_spark_vault *v, uint64_t t) {
  struct risk_savings_drip r;
  risk_err e = risk_savings_drip(&r, v->chi, v->rho, v->vsr, v->total_supply, t);
  if (e != RISK_OK) return e;
  *d = *v;
  d->chi = r.chi;
  d->rho = r.rho;
  return RISK_OK;
}

/* _mint's arithmetic checks after drip: deposit cap, then supply and balance updates. */
static risk_err vault_mint(struct risk_spark_vault *s, enum risk_vault_revert *why, u256 assets, u256 shares) {
  u256 ta, sum;
  risk_err e = total_assets_at(&ta, s, s->chi);
  if (e == RISK_OK) e = u256_add(&sum, ta, assets);
  if (e != RISK_OK) return e;
  if (u256_gt(sum, s->deposit_cap)) {
    set_why(why, RISK_VAULT_DEPOSIT_CAP_EXCEEDED);
    return RISK_INVALID;
  }
  if ((e = u256_add(&s->total_supply, s->total_supply, shares)) != RISK_OK) return e;
  return u256_add(&s->liquidity, s->liquidity, assets);
}

/* _burn's checks: owner balance, then the idle-liquidity check of _pushAsset. */
static risk_err vault_burn(struct risk_spark_vault *s, enum risk_vault_revert *why, u256 assets, u256 shares,
                           u256 owner_shares) {
  if (u256_lt(owner_shares, shares)) {
    set_why(why, RISK_VAULT_INSUFFICIENT_BALANCE);
    return RISK_INVALID;
  }
  s->total_supply = u256_sub_wrap(s->total_supply, shares); /* unchecked: balance <= supply */
  if (u256_gt(assets, s->liquidity)) {
    set_why(why, RISK_VAULT_INSUFFICIENT_LIQUIDITY);
    return RISK_INVALID;
  }
  s->liquidity = u256_sub_wrap(s->liquidity, assets);
  return RISK_OK;
}

risk_err risk_spark_vault_deposit(struct risk_spark_vault *after, u256 *shares, enum risk_vault_revert *why,
                                  const struct risk_spark_vault *v, u256 assets, uint64_t t) {
  struct risk_spark_vault s;
  u256 sh;
  set_why(why, RISK_VAULT_OK);
  risk_err e = vault_drip(&s, v, t);
  if (e == RISK_OK) e = risk_savings_convert_to_shares(&sh, assets, s.chi);
  if (e == RISK_OK) e = vault_mint(&s, why, assets, sh);
  if (e != RISK_OK) return e;
  *shares = sh;
  if (after != NULL) *after = s;
  return RISK_OK;
}

risk_err risk_spark_vault_mint(struct risk_spark_vault *after, u256 *assets, enum risk_vault_revert *why,
                               const struct risk_spark_vault *v, u256 shares, uint64_t t) {
  struct risk_spark_vault s;
  u256 a;
  set_why(why, RISK_VAULT_OK);
  risk_err e = vault_drip(&s, v, t);
  if (e == RISK_OK) e = risk_savings_preview_mint(&a, shares, s.chi);
  if (e == RISK_OK) e = vault_mint(&s, why, a, shares);
  if (e != RISK_OK) return e;
  *assets = a;
  if (after != NULL) *after = s;
  return RISK_OK;
}

risk_err risk_spark_vault_withdraw(struct risk_spark_vault *after, u256 *shares, enum risk_vault_revert *why,
                                   const struct risk_spark_vault *v, u256 assets, u256 owner_shares, uint64_t t) {
  struct risk_spark_vault s;
  u256 sh;
  set_why(why, RISK_VAULT_OK);
  risk_err e = vault_drip(&s, v, t);
  if (e == RISK_OK) e = risk_savings_preview_withdraw(&sh, assets, s.chi);
  if (e == RISK_OK) e = vault_burn(&s, why, assets, sh, owner_shares);
  if (e != RISK_OK) return e;
  *shares = sh;
  if (after != NULL) *after = s;
  return RISK_OK;
}

risk_err risk_spark_vault_redeem(struct risk_spark_vault *after, u256 *assets, enum risk_vault_revert *why,
                                 const struct risk_spark_vault *v, u256 shares, u256 owner_shares, uint64_t t) {
  struct risk_spark_vault s;
  u256 a;
  set_why(why, RISK_VAULT_OK);
  risk_err e = vault_drip(&s, v, t);
  if (e == RISK_OK) e = risk_savings_convert_to_assets(&a, shares, s.chi);
  if (e == RISK_OK) e = vault_burn(&s, why, a, shares, owner_shares);
  if (e != RISK_OK) return e;
  *assets = a;
  if (after != NULL) *after = s;
  return RISK_OK;
}

/* ---- SSR oracle ---- */

#define UINT40_MAX_VALUE 1099511627775ull

/* Returns RISK_OK when o holds data SSRAuthOracle could have stored, and t >= rho. */
static risk_err oracle_check(const struct risk_ssr_oracle *o, uint64_t t) {
  if (u256_bits(o->ssr) > 96 || u256_bits(o->chi) > 120 || o->rho > UINT40_MAX_VALUE || u256_lt(o->ssr, RISK_RAY))
    return RISK_INVALID;
  if (t < o->rho) return RISK_UNDERFLOW;
  return RISK_OK;
}

risk_err risk_ssr_oracle_rate(u256 *r, const struct risk_ssr_oracle *o, uint64_t t) {
  risk_err e = oracle_check(o, t);
  if (e != RISK_OK) return e;
  if (t == o->rho) {
    *r = o->chi;
    return RISK_OK;
  }
  return risk_savings_chi_at(r, o->chi, o->rho, o->ssr, t);
}

/* The base powers and the divisions by 2 and 6 are unchecked on chain; with ssr < 2^96
 * they cannot wrap. The products exp*(exp-1)*p2 and exp*(exp-1)*(exp-2)*p3, rate*exp,
 * the sum and chi * sum are checked. */
risk_err risk_ssr_oracle_rate_binomial(u256 *r, const struct risk_ssr_oracle *o, uint64_t t) {
  risk_err e = oracle_check(o, t);
  if (e != RISK_OK) return e;
  uint64_t ex = t - o->rho;
  if (ex == 0) {
    *r = o->chi;
    return RISK_OK;
  }
  u256 rate = u256_sub_wrap(o->ssr, RISK_RAY);
  u256 exp = u256_from_u64(ex), em1 = u256_from_u64(ex - 1), em2 = u256_from_u64(ex > 2 ? ex - 2 : 0);
  u256 p2, p3, tmp, second, third, sum;
  (void)u256_mul(&tmp, rate, rate);
  (void)u256_div(&p2, tmp, RISK_RAY);
  (void)u256_mul(&tmp, p2, rate);
  (void)u256_div(&p3, tmp, RISK_RAY);
  e = u256_mul(&tmp, exp, em1);
  if (e == RISK_OK) e = u256_mul(&second, tmp, p2);
  if (e == RISK_OK) {
    second = u256_shr(second, 1);
    e = u256_mul(&tmp, exp, em1);
  }
  if (e == RISK_OK) e = u256_mul(&tmp, tmp, em2);
  if (e == RISK_OK) e = u256_mul(&third, tmp, p3);
  if (e == RISK_OK) {
    (void)u256_div(&third, third, u256_from_u64(6));
    e = u256_mul(&tmp, rate, exp);
  }
  if (e == RISK_OK) e = u256_add(&sum, RISK_RAY, tmp);
  if (e == RISK_OK) e = u256_add(&sum, sum, second);
  if (e == RISK_OK) e = u256_add(&sum, sum, third);
  if (e == RISK_OK) e = mul_div(r, o->chi, sum, RISK_RAY);
  return e;
}

risk_err risk_ssr_oracle_rate_linear(u256 *r, const struct risk_ssr_oracle *o, uint64_t t) {
  risk_err e = oracle_check(o, t);
  if (e != RISK_OK) return e;
  if (t == o->rho) {
    *r = o->chi;
    return RISK_OK;
  }
  u256 tmp;
  e = u256_mul(&tmp, u256_sub_wrap(o->ssr, RISK_RAY), u256_from_u64(t - o->rho));
  if (e == RISK_OK) e = u256_add(&tmp, tmp, RISK_RAY);
  if (e == RISK_OK) e = mul_div(r, tmp, o->chi, RISK_RAY);
  return e;
}

risk_err risk_ssr_oracle_apr(u256 *apr, const struct risk_ssr_oracle *o) {
  if (u256_lt(o->ssr, RISK_RAY)) return RISK_INVALID;
  return risk_savings_apr_ray(apr, o->ssr);
}

/* ---- PSM3 ---- */

/* Math.ceilDiv: reverts on b == 0, else a == 0 ? 0 : (a-1)/b + 1. */
static risk_err ceil_div(u256 *r, u256 a, u256 b) {
  if (u256_is_zero(b)) return RISK_DIV_BY_ZERO;
  return risk_divup(r, a, b);
}

/* Returns RISK_OK and fl(fl(a*b/c)*d/e), or ceil(ceil(a*b/c)*d/e) when up; products checked. */
static risk_err two_step(u256 *r, u256 a, u256 b, u256 c, u256 d, u256 e, bool up) {
  u256 p, q;
  risk_err err = u256_mul(&p, a, b);
  if (err == RISK_OK) err = up ? ceil_div(&q, p, c) : u256_div(&q, p, c);
  if (err == RISK_OK) err = u256_mul(&p, q, d);
  if (err == RISK_OK) err = up ? ceil_div(r, p, e) : u256_div(r, p, e);
  return err;
}

static bool psm3_valid(enum risk_psm3_asset a) {
  return a == RISK_PSM3_USDC || a == RISK_PSM3_USDS || a == RISK_PSM3_SUSDS;
}

/* _getSwapQuote(asset, quoteAsset, amount, roundUp). */
static risk_err psm3_quote(u256 *r, const struct risk_psm3 *p, enum risk_psm3_asset asset, enum risk_psm3_asset quote,
                           u256 amount, bool up) {
  if (!psm3_valid(asset) || !psm3_valid(quote) || asset == quote) return RISK_INVALID;
  const u256 ray = RISK_RAY;
  const u256 ps = p->precision[RISK_PSM3_SUSDS];
  if (quote == RISK_PSM3_SUSDS) /* amount*1e27/rate * precS / precAsset */
    return two_step(r, amount, ray, p->rate, ps, p->precision[asset], up);
  if (asset == RISK_PSM3_SUSDS) /* amount*rate/1e27 * precQuote / precS */
    return two_step(r, amount, p->rate, ray, p->precision[quote], ps, up);
  /* one to one: amount*precQuote/precAsset */
  return two_step(r, amount, p->precision[quote], U256_ONE, U256_ONE, p->precision[asset], up);
}

risk_err risk_psm3_swap_exact_in(u256 *amount_out, const struct risk_psm3 *p, enum risk_psm3_asset in,
                                 enum risk_psm3_asset out, u256 amount_in) {
  return psm3_quote(amount_out, p, in, out, amount_in, false);
}

risk_err risk_psm3_swap_exact_out(u256 *amount_in, const struct risk_psm3 *p, enum risk_psm3_asset in,
                                  enum risk_psm3_asset out, u256 amount_out) {
  return psm3_quote(amount_in, p, out, in, amount_out, true);
}

risk_err risk_psm3_asset_value(u256 *value, const struct risk_psm3 *p, enum risk_psm3_asset asset, u256 amount,
                               bool round_up) {
  if (!psm3_valid(asset)) return RISK_INVALID;
  if (asset == RISK_PSM3_SUSDS) /* amount*rate/1e9/precS, or ceil(ceil(amount*rate/1e9)/precS) */
    return two_step(value, amount, p->rate, u256_from_u64(1000000000u), U256_ONE, p->precision[asset], round_up);
  return mul_div(value, amount, RISK_WAD, p->precision[asset]); /* amount*1e18/prec */
}

risk_err risk_psm3_total_assets(u256 *value, const struct risk_psm3 *p) {
  u256 sum = U256_ZERO, v;
  for (int i = 0; i < 3; i++) {
    risk_err e = risk_psm3_asset_value(&v, p, (enum risk_psm3_asset)i, p->balance[i], false);
    if (e == RISK_OK) e = u256_add(&sum, sum, v);
    if (e != RISK_OK) return e;
  }
  *value = sum;
  return RISK_OK;
}

risk_err risk_psm3_convert_to_asset_value(u256 *value, const struct risk_psm3 *p, u256 shares) {
  if (u256_is_zero(p->total_shares)) {
    *value = shares;
    return RISK_OK;
  }
  u256 ta;
  risk_err e = risk_psm3_total_assets(&ta, p);
  if (e != RISK_OK) return e;
  return mul_div(value, shares, ta, p->total_shares);
}

risk_err risk_psm3_convert_to_assets(u256 *amount, const struct risk_psm3 *p, enum risk_psm3_asset asset, u256 shares) {
  if (!psm3_valid(asset)) return RISK_INVALID;
  u256 v;
  risk_err e = risk_psm3_convert_to_asset_value(&v, p, shares);
  if (e != RISK_OK) return e;
  if (asset != RISK_PSM3_SUSDS) return mul_div(amount, v, p->precision[asset], RISK_WAD); /* value*prec/1e18 */
  u256 t;                                                                                 /* value*1e9*precS/rate */
  e = u256_mul(&t, v, u256_from_u64(1000000000u));
  if (e != RISK_OK) return e;
  return mul_div(amount, t, p->precision[asset], p->rate);
}

/* convertToShares(value) rounding down, or _convertToSharesRoundUp. */
static risk_err psm3_value_to_shares(u256 *shares, const struct risk_psm3 *p, u256 value, bool up) {
  u256 ta;
  risk_err e = risk_psm3_total_assets(&ta, p);
  if (e != RISK_OK) return e;
  if (u256_is_zero(ta)) {
    *shares = value;
    return RISK_OK;
  }
  return up ? mul_divup(shares, value, p->total_shares, ta) : mul_div(shares, value, p->total_shares, ta);
}

risk_err risk_psm3_preview_deposit(u256 *shares, const struct risk_psm3 *p, enum risk_psm3_asset asset, u256 amount) {
  u256 v;
  risk_err e = risk_psm3_asset_value(&v, p, asset, amount, false);
  if (e != RISK_OK) return e;
  return psm3_value_to_shares(shares, p, v, false);
}

risk_err risk_psm3_preview_withdraw(u256 *shares_burned, u256 *assets_withdrawn, const struct risk_psm3 *p,
                                    enum risk_psm3_asset asset, u256 max_assets, u256 user_shares) {
  if (!psm3_valid(asset)) return RISK_INVALID;
  u256 assets = u256_min(p->balance[asset], max_assets), v, sh;
  risk_err e = risk_psm3_asset_value(&v, p, asset, assets, true);
  if (e == RISK_OK) e = psm3_value_to_shares(&sh, p, v, true);
  if (e != RISK_OK) return e;
  if (u256_gt(sh, user_shares)) {
    if ((e = risk_psm3_convert_to_assets(&assets, p, asset, user_shares)) != RISK_OK) return e;
    sh = user_shares;
  }
  *shares_burned = sh;
  *assets_withdrawn = assets;
  return RISK_OK;
}
