/* The partner LTV record and its EIP-712 digest; conventions in risk/ltv.h. */
#include "risk/ltv.h"

#include <string.h>

#include "risk/keccak.h"
#include "risk/wadray.h"

static const char *const state_names[] = {"healthy", "warning", "margin_call", "liquidation", "stale"};

const char *risk_ltv_state_name(enum risk_ltv_state s) {
  if ((unsigned)s < sizeof state_names / sizeof state_names[0]) return state_names[s];
  return "unknown";
}

int risk_ltv_state_parse(const char *s) {
  for (int i = 0; i < (int)(sizeof state_names / sizeof state_names[0]); i++)
    if (strcmp(s, state_names[i]) == 0) return i;
  return -1;
}

const char *risk_ltv_ladder_check(const struct risk_ltv_ladder *l) {
  if (l->warning_bps > 10000) return "warning_bps";
  if (l->margin_call_bps < 1 || l->margin_call_bps > 10000 || l->margin_call_bps <= l->warning_bps)
    return "margin_call_bps";
  if (l->liquidation_bps < 1 || l->liquidation_bps > 10000 || l->liquidation_bps <= l->margin_call_bps)
    return "liquidation_bps";
  if (l->return_to_bps > 10000 || l->return_to_bps >= l->margin_call_bps) return "return_to_bps";
  return NULL;
}

risk_err risk_ltv_apr_bps_to_ray(u256 *r, uint32_t apr_bps) {
  u256 e23;
  u256_pow10(&e23, 23);
  return u256_mul(r, u256_from_u64(apr_bps), e23);
}

risk_err risk_ltv_accrue(u256 *debt, u256 *accrued, const struct risk_ltv_debt *d, uint64_t now) {
  u256 acc = U256_ZERO;
  if (now > d->accrual_start && !u256_is_zero(d->principal) && !u256_is_zero(d->apr_ray)) {
    u256 rate_dt, denom;
    risk_err e = u256_mul(&rate_dt, d->apr_ray, u256_from_u64(now - d->accrual_start));
    if (e) return e;
    if ((e = u256_mul(&denom, RISK_RAY, u256_from_u64(RISK_LTV_YEAR_S)))) return e;
    if ((e = u256_muldiv_up(&acc, d->principal, rate_dt, denom))) return e;
  }
  risk_err e = u256_add(debt, d->principal, acc);
  if (e) return e;
  *accrued = acc;
  return RISK_OK;
}

/* ceil(num * 10000 / den) as bps, RISK_LTV_BPS_INFINITE when den is 0 (num > 0) or it does
 * not fit; 0 when num is 0. */
static uint32_t ratio_bps(u256 num, u256 den) {
  if (u256_is_zero(num)) return 0;
  if (u256_is_zero(den)) return RISK_LTV_BPS_INFINITE;
  u256 q;
  uint64_t v;
  if (u256_muldiv_up(&q, num, u256_from_u64(10000), den) || !u256_to_u64(q, &v) || v >= RISK_LTV_BPS_INFINITE)
    return RISK_LTV_BPS_INFINITE;
  return (uint32_t)v;
}

/* Returns whether a price as of ts is too old (or in the future) at now. */
static bool is_stale(uint64_t ts, uint64_t now, uint64_t max_age) {
  if (ts > now) return ts - now > RISK_LTV_FUTURE_SKEW_S;
  return now - ts > max_age;
}

risk_err risk_ltv_compute(struct risk_ltv_result *out, struct risk_ltv_line_value *line_out,
                          const struct risk_ltv_line *lines, size_t n, const struct risk_ltv_debt *debt,
                          const struct risk_ltv_ladder *ladder, const struct risk_ltv_prev *prev, uint64_t now) {
  if (n > RISK_LTV_MAX_LINES || risk_ltv_ladder_check(ladder) || debt->decimals > 77) return RISK_INVALID;
  memset(out, 0, sizeof *out);
  risk_err e;
  uint64_t oldest = UINT64_MAX;
  bool stale = false;
  for (size_t i = 0; i < n; i++) {
    const struct risk_ltv_line *l = &lines[i];
    if (l->decimals > 77 || l->haircut_bps > 10000) return RISK_INVALID;
    u256 scale, v, w;
    u256_pow10(&scale, l->decimals);
    if ((e = u256_muldiv(&v, l->amount, l->price, scale))) return e;
    if ((e = u256_muldiv(&w, v, u256_from_u64(10000 - l->haircut_bps), u256_from_u64(10000)))) return e;
    bool ls = !u256_is_zero(l->amount) && is_stale(l->price_ts, now, ladder->max_staleness_s);
    if (!u256_is_zero(l->amount) && l->price_ts < oldest) oldest = l->price_ts;
    stale |= ls;
    if ((e = u256_add(&out->collateral_value, out->collateral_value, v))) return e;
    if ((e = u256_add(&out->weighted_value, out->weighted_value, w))) return e;
    if (line_out) line_out[i] = (struct risk_ltv_line_value){v, w, ls};
  }
  if ((e = risk_ltv_accrue(&out->debt, &out->accrued, debt, now))) return e;
  u256 dscale;
  u256_pow10(&dscale, debt->decimals);
  if ((e = u256_muldiv_up(&out->debt_value, out->debt, debt->price, dscale))) return e;
  if (!u256_is_zero(out->debt)) {
    stale |= is_stale(debt->price_ts, now, ladder->max_staleness_s);
    if (debt->price_ts < oldest) oldest = debt->price_ts;
  }
  out->oldest_price_ts = oldest == UINT64_MAX ? 0 : oldest;
  out->ltv_bps = ratio_bps(out->debt_value, out->weighted_value);
  out->raw_ltv_bps = ratio_bps(out->debt_value, out->collateral_value);
  out->stale = stale;

  uint64_t call_since = prev ? prev->call_since : 0;
  if (stale) {
    out->state = RISK_LTV_STALE;
  } else {
    uint32_t L = out->ltv_bps;
    if (L >= ladder->liquidation_bps) {
      out->state = RISK_LTV_LIQUIDATION;
      if (!call_since) call_since = now;
    } else if (L >= ladder->margin_call_bps) {
      out->state = RISK_LTV_MARGIN_CALL;
      if (!call_since) call_since = now;
    } else if (call_since && L >= ladder->return_to_bps) {
      out->state = RISK_LTV_MARGIN_CALL;
    } else {
      out->state = L >= ladder->warning_bps ? RISK_LTV_WARNING : RISK_LTV_HEALTHY;
      call_since = 0;
    }
  }
  out->call_since = call_since;
  if (call_since) {
    out->cure_deadline =
        call_since + ladder->cure_period_s < call_since ? UINT64_MAX : call_since + ladder->cure_period_s;
    if (out->state == RISK_LTV_MARGIN_CALL && now >= out->cure_deadline) out->state = RISK_LTV_LIQUIDATION;
  }
  return RISK_OK;
}

/* ---- EIP-712 ---- */

const char risk_ltv_eip712_type[] =
    "LtvRecord(bytes32 positionId,uint64 sequence,uint32 ltvBps,uint32 rawLtvBps,uint8 state,"
    "uint256 collateralValue,uint256 weightedCollateralValue,uint256 debt,uint256 debtValue,"
    "uint64 asOf,uint64 cureDeadline)";

static const char domain_type[] = "EIP712Domain(string name,string version,uint256 chainId)";

static void keccak_str(const char *s, uint8_t out[32]) { risk_keccak256((const uint8_t *)s, strlen(s), out); }

static void word_u64(uint8_t w[32], uint64_t v) { u256_to_be32(u256_from_u64(v), w); }

void risk_ltv_domain_separator(uint64_t chain_id, uint8_t out[32]) {
  uint8_t buf[4 * 32];
  keccak_str(domain_type, buf);
  keccak_str("sparkd", buf + 32);
  keccak_str("1", buf + 64);
  word_u64(buf + 96, chain_id);
  risk_keccak256(buf, sizeof buf, out);
}

void risk_ltv_struct_hash(const struct risk_ltv_signed *r, uint8_t out[32]) {
  uint8_t buf[12 * 32];
  keccak_str(risk_ltv_eip712_type, buf);
  memcpy(buf + 32, r->position_id, 32);
  word_u64(buf + 2 * 32, r->sequence);
  word_u64(buf + 3 * 32, r->ltv_bps);
  word_u64(buf + 4 * 32, r->raw_ltv_bps);
  word_u64(buf + 5 * 32, r->state);
  u256_to_be32(r->collateral_value, buf + 6 * 32);
  u256_to_be32(r->weighted_value, buf + 7 * 32);
  u256_to_be32(r->debt, buf + 8 * 32);
  u256_to_be32(r->debt_value, buf + 9 * 32);
  word_u64(buf + 10 * 32, r->as_of);
  word_u64(buf + 11 * 32, r->cure_deadline);
  risk_keccak256(buf, sizeof buf, out);
}

void risk_ltv_digest(const struct risk_ltv_signed *r, uint64_t chain_id, uint8_t out[32]) {
  uint8_t buf[2 + 64];
  buf[0] = 0x19;
  buf[1] = 0x01;
  risk_ltv_domain_separator(chain_id, buf + 2);
  risk_ltv_struct_hash(r, buf + 34);
  risk_keccak256(buf, sizeof buf, out);
}
