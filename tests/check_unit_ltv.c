/* ctest-label: unit */
/* risk/ltv: values, accrual, ladder, every state transition with hysteresis, cure expiry and
 * staleness, with expected numbers derived by hand (worked in the comments); the EIP-712
 * digest against npm ethers (tests/ltv_eip712.mjs vectors). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "risk/ltv.h"

#define T0 1767225600ull /* 2026-01-01T00:00:00Z */
#define E8 100000000ull

static u256 dec(const char *s) {
  u256 r;
  ck_assert_int_eq(u256_from_dec(&r, s, strlen(s)), RISK_OK);
  return r;
}

static const struct risk_ltv_ladder LADDER = {.warning_bps = 6500,
                                              .margin_call_bps = 7000,
                                              .liquidation_bps = 8000,
                                              .return_to_bps = 6000,
                                              .cure_period_s = 259200,
                                              .max_staleness_s = 3600};

/* 100 BTC (8 decimals) with a 10% haircut at price_usd, against 5,000,000 USDC at $1. */
static struct risk_ltv_result run(uint64_t price_usd, uint64_t call_since, enum risk_ltv_state prev_state,
                                  uint64_t now) {
  struct risk_ltv_line line = {u256_from_u64(100 * E8), 8, 1000, u256_from_u64(price_usd * E8), now - 60};
  struct risk_ltv_debt debt = {u256_from_u64(5000000000000ull), 6, U256_ZERO, T0, u256_from_u64(E8), now - 60};
  struct risk_ltv_prev prev = {prev_state, call_since};
  struct risk_ltv_result r;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &debt, &LADDER, &prev, now), RISK_OK);
  return r;
}

START_TEST(test_values) {
  /* value = 100e8 * 100000e8 / 1e8 = 1e15 ($10M); weighted 9e14; debt value 5e12*1e8/1e6 = 5e14;
   * ltv = ceil(5e14*1e4/9e14) = ceil(5555.55) = 5556; raw = 5000. */
  struct risk_ltv_line_value lv;
  struct risk_ltv_line line = {u256_from_u64(100 * E8), 8, 1000, u256_from_u64(100000 * E8), T0};
  struct risk_ltv_debt debt = {u256_from_u64(5000000000000ull), 6, U256_ZERO, T0, u256_from_u64(E8), T0};
  struct risk_ltv_result r;
  ck_assert_int_eq(risk_ltv_compute(&r, &lv, &line, 1, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert(u256_eq(r.collateral_value, dec("1000000000000000")));
  ck_assert(u256_eq(r.weighted_value, dec("900000000000000")));
  ck_assert(u256_eq(lv.value, r.collateral_value) && u256_eq(lv.weighted_value, r.weighted_value));
  ck_assert(u256_eq(r.debt_value, dec("500000000000000")));
  ck_assert_uint_eq(r.ltv_bps, 5556);
  ck_assert_uint_eq(r.raw_ltv_bps, 5000);
  ck_assert_int_eq(r.state, RISK_LTV_HEALTHY);
  ck_assert_uint_eq(r.call_since, 0);
  ck_assert_uint_eq(r.cure_deadline, 0);
  ck_assert_uint_eq(r.oldest_price_ts, T0);

  /* two lines: 10 ETH (18 dec) at $3000, haircut 25%: value 1e19*3e11/1e18 = 3e12, weighted
   * 2.25e12; 1 wei of ETH is worth floor(3e11/1e18) = 0. */
  struct risk_ltv_line two[2] = {
      {dec("10000000000000000000"), 18, 2500, u256_from_u64(3000 * E8), T0 - 10},
      {u256_from_u64(1), 18, 0, u256_from_u64(3000 * E8), T0 - 20},
  };
  struct risk_ltv_line_value out[2];
  debt.principal = u256_from_u64(15000000000ull); /* 15,000 USDC = 1.5e12 base */
  ck_assert_int_eq(risk_ltv_compute(&r, out, two, 2, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert(u256_eq(out[0].value, u256_from_u64(3000000000000ull)));
  ck_assert(u256_eq(out[0].weighted_value, u256_from_u64(2250000000000ull)));
  ck_assert(u256_is_zero(out[1].value));
  ck_assert_uint_eq(r.ltv_bps, 6667);     /* ceil(1.5e12*1e4/2.25e12) = ceil(6666.67) */
  ck_assert_uint_eq(r.raw_ltv_bps, 5000); /* 1.5/3 */
  ck_assert_int_eq(r.state, RISK_LTV_WARNING);
  ck_assert_uint_eq(r.oldest_price_ts, T0 - 20);

  /* no debt: 0 and healthy; no collateral with debt: infinite and liquidation */
  debt.principal = U256_ZERO;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, two, 2, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert_uint_eq(r.ltv_bps, 0);
  ck_assert_int_eq(r.state, RISK_LTV_HEALTHY);
  debt.principal = u256_from_u64(1);
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, two, 0, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert_uint_eq(r.ltv_bps, RISK_LTV_BPS_INFINITE);
  ck_assert_int_eq(r.state, RISK_LTV_LIQUIDATION);
  ck_assert_uint_eq(r.call_since, T0);
}
END_TEST

START_TEST(test_accrual) {
  /* 1,000,000 USDC (1e12) at 5% APR (5e25 ray): one year accrues exactly 5e10; one day accrues
   * 1e12*0.05/365 = 136986301.37 -> 136986302 (rounded up); before the start nothing. */
  struct risk_ltv_debt d = {u256_from_u64(1000000000000ull), 6, U256_ZERO, T0, u256_from_u64(E8), T0};
  ck_assert_int_eq(risk_ltv_apr_bps_to_ray(&d.apr_ray, 500), RISK_OK);
  ck_assert(u256_eq(d.apr_ray, dec("50000000000000000000000000")));
  u256 debt, acc;
  ck_assert_int_eq(risk_ltv_accrue(&debt, &acc, &d, T0 + 31536000), RISK_OK);
  ck_assert(u256_eq(acc, u256_from_u64(50000000000ull)));
  ck_assert(u256_eq(debt, u256_from_u64(1050000000000ull)));
  ck_assert_int_eq(risk_ltv_accrue(&debt, &acc, &d, T0 + 86400), RISK_OK);
  ck_assert(u256_eq(acc, u256_from_u64(136986302ull)));
  ck_assert_int_eq(risk_ltv_accrue(&debt, &acc, &d, T0 - 5), RISK_OK);
  ck_assert(u256_is_zero(acc));
  ck_assert(u256_eq(debt, d.principal));
  /* accrual feeds the LTV: 100 BTC at $100k, no haircut, 6,999,000 USDC at 0% is 6999 bps
   * (warning); with 5% for one day the debt is 6999000e6 + ceil(6999000e6*0.05/365) =
   * 6,999,958.7671... -> ltv ceil(6999.96) = 7000: margin call. */
  struct risk_ltv_line line = {u256_from_u64(100 * E8), 8, 0, u256_from_u64(100000 * E8), T0 + 86400};
  d.principal = u256_from_u64(6999000000000ull);
  d.price_ts = T0 + 86400;
  struct risk_ltv_result r;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &d, &LADDER, NULL, T0 + 86400), RISK_OK);
  ck_assert(u256_eq(r.accrued, u256_from_u64(958767124ull))); /* 6999000e6*0.05/365 = 958767123.29 */
  ck_assert_uint_eq(r.ltv_bps, 7000);
  ck_assert_int_eq(r.state, RISK_LTV_MARGIN_CALL);
  d.apr_ray = U256_ZERO;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &d, &LADDER, NULL, T0 + 86400), RISK_OK);
  ck_assert_uint_eq(r.ltv_bps, 6999);
  ck_assert_int_eq(r.state, RISK_LTV_WARNING);
}
END_TEST

START_TEST(test_boundaries_round_up) {
  /* 100 BTC at $100k, no haircut (1e15 base); debt d USDC: ltv = ceil(d*1e8/1e6*1e4/1e15). */
  struct risk_ltv_line line = {u256_from_u64(100 * E8), 8, 0, u256_from_u64(100000 * E8), T0};
  struct risk_ltv_debt d = {U256_ZERO, 6, U256_ZERO, T0, u256_from_u64(E8), T0};
  struct risk_ltv_result r;
  struct {
    const char *debt;
    uint64_t call_since;
    uint32_t ltv;
    enum risk_ltv_state st;
  } cases[] = {
      {"7000000000000", 0, 7000, RISK_LTV_MARGIN_CALL}, /* exactly margin_call */
      {"6999999999999", 0, 7000, RISK_LTV_MARGIN_CALL}, /* 6999.99999 rounds up */
      {"6999000000000", 0, 6999, RISK_LTV_WARNING},     /* just below */
      {"6500000000000", 0, 6500, RISK_LTV_WARNING},     /* exactly warning */
      {"6499000000000", 0, 6499, RISK_LTV_HEALTHY},
      {"8000000000000", 0, 8000, RISK_LTV_LIQUIDATION}, /* exactly liquidation */
      {"7999000000000", 0, 7999, RISK_LTV_MARGIN_CALL},
      {"6000000000000", T0, 6000, RISK_LTV_MARGIN_CALL}, /* in a call at exactly return_to: stays */
      {"5999000000000", T0, 5999, RISK_LTV_HEALTHY},     /* strictly below return_to: clears */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    d.principal = dec(cases[i].debt);
    struct risk_ltv_prev p = {cases[i].call_since ? RISK_LTV_MARGIN_CALL : RISK_LTV_HEALTHY, cases[i].call_since};
    ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &d, &LADDER, &p, T0 + 10), RISK_OK);
    ck_assert_msg(r.ltv_bps == cases[i].ltv, "case %zu ltv %u", i, r.ltv_bps);
    ck_assert_msg(r.state == cases[i].st, "case %zu state %d", i, r.state);
  }
}
END_TEST

START_TEST(test_state_machine_walk) {
  /* 100 BTC, 10% haircut, 5,000,000 USDC debt; ltv = ceil(5e6 / (100*price*0.9) * 1e4).
   * 100000 -> 5556 healthy; 80000 -> 6945 warning; 78000 -> 7123 margin call (call opens);
   * 85000 -> 6536 still margin call (>= return_to 6000); 60000 -> 9260 liquidation (same call);
   * 90000 -> 6173 margin call (in the call); 95000 -> 5848 healthy (call cleared). */
  uint64_t t = T0;
  struct risk_ltv_result r = run(100000, 0, RISK_LTV_HEALTHY, t);
  ck_assert_uint_eq(r.ltv_bps, 5556);
  ck_assert_int_eq(r.state, RISK_LTV_HEALTHY);

  r = run(80000, r.call_since, r.state, t += 60);
  ck_assert_uint_eq(r.ltv_bps, 6945);
  ck_assert_int_eq(r.state, RISK_LTV_WARNING);
  ck_assert_uint_eq(r.call_since, 0);

  r = run(78000, r.call_since, r.state, t += 60);
  ck_assert_uint_eq(r.ltv_bps, 7123);
  ck_assert_uint_eq(r.raw_ltv_bps, 6411); /* ceil(5e6/7.8e6*1e4) = ceil(6410.26) */
  ck_assert_int_eq(r.state, RISK_LTV_MARGIN_CALL);
  uint64_t opened = t;
  ck_assert_uint_eq(r.call_since, opened);
  ck_assert_uint_eq(r.cure_deadline, opened + 259200);

  r = run(85000, r.call_since, r.state, t += 60);
  ck_assert_uint_eq(r.ltv_bps, 6536);
  ck_assert_int_eq(r.state, RISK_LTV_MARGIN_CALL); /* hysteresis */
  ck_assert_uint_eq(r.cure_deadline, opened + 259200);
  /* the same LTV without an open call is only a warning */
  ck_assert_int_eq(run(85000, 0, RISK_LTV_WARNING, t).state, RISK_LTV_WARNING);

  r = run(60000, r.call_since, r.state, t += 60);
  ck_assert_uint_eq(r.ltv_bps, 9260);
  ck_assert_int_eq(r.state, RISK_LTV_LIQUIDATION);
  ck_assert_uint_eq(r.call_since, opened);

  r = run(90000, r.call_since, r.state, t += 60);
  ck_assert_uint_eq(r.ltv_bps, 6173);
  ck_assert_int_eq(r.state, RISK_LTV_MARGIN_CALL);
  ck_assert_int_eq(run(90000, 0, RISK_LTV_HEALTHY, t).state, RISK_LTV_HEALTHY);

  r = run(95000, r.call_since, r.state, t += 60);
  ck_assert_uint_eq(r.ltv_bps, 5848);
  ck_assert_int_eq(r.state, RISK_LTV_HEALTHY);
  ck_assert_uint_eq(r.call_since, 0);
  ck_assert_uint_eq(r.cure_deadline, 0);
}
END_TEST

START_TEST(test_cure_expiry) {
  /* a call opened at T0 at 7123 bps: one second before the deadline still a margin call, at the
   * deadline (T0 + 72 h) liquidation; below return_to it clears regardless. */
  struct risk_ltv_result r = run(78000, T0, RISK_LTV_MARGIN_CALL, T0 + 259199);
  ck_assert_int_eq(r.state, RISK_LTV_MARGIN_CALL);
  r = run(78000, T0, RISK_LTV_MARGIN_CALL, T0 + 259200);
  ck_assert_int_eq(r.state, RISK_LTV_LIQUIDATION);
  ck_assert_uint_eq(r.cure_deadline, T0 + 259200);
  r = run(95000, T0, RISK_LTV_MARGIN_CALL, T0 + 400000);
  ck_assert_int_eq(r.state, RISK_LTV_HEALTHY);
}
END_TEST

START_TEST(test_stale) {
  struct risk_ltv_line line = {u256_from_u64(100 * E8), 8, 1000, u256_from_u64(78000 * E8), T0 - 3600};
  struct risk_ltv_debt debt = {u256_from_u64(5000000000000ull), 6, U256_ZERO, T0, u256_from_u64(E8), T0};
  struct risk_ltv_prev prev = {RISK_LTV_MARGIN_CALL, T0 - 100};
  struct risk_ltv_line_value lv;
  struct risk_ltv_result r;
  /* exactly max_staleness old: fresh */
  ck_assert_int_eq(risk_ltv_compute(&r, &lv, &line, 1, &debt, &LADDER, &prev, T0), RISK_OK);
  ck_assert_int_eq(r.state, RISK_LTV_MARGIN_CALL);
  ck_assert(!lv.stale);
  /* one second older: stale; numbers still computed, the open call kept */
  line.price_ts = T0 - 3601;
  ck_assert_int_eq(risk_ltv_compute(&r, &lv, &line, 1, &debt, &LADDER, &prev, T0), RISK_OK);
  ck_assert_int_eq(r.state, RISK_LTV_STALE);
  ck_assert(r.stale && lv.stale);
  ck_assert_uint_eq(r.ltv_bps, 7123);
  ck_assert_uint_eq(r.call_since, T0 - 100);
  ck_assert_uint_eq(r.cure_deadline, T0 - 100 + 259200);
  /* stale even when the LTV is healthy; no call opened */
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert_int_eq(r.state, RISK_LTV_STALE);
  ck_assert_uint_eq(r.call_since, 0);
  /* a price up to 60 s from the future is clock skew; further is stale */
  line.price_ts = T0 + 60;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert_int_ne(r.state, RISK_LTV_STALE);
  line.price_ts = T0 + 61;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert_int_eq(r.state, RISK_LTV_STALE);
  /* a stale debt price too */
  line.price_ts = T0;
  debt.price_ts = T0 - 4000;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert_int_eq(r.state, RISK_LTV_STALE);
  /* a zero-amount line does not count, nor the debt price when there is no debt */
  debt.price_ts = T0;
  struct risk_ltv_line two[2] = {line, {U256_ZERO, 8, 0, u256_from_u64(E8), T0 - 99999}};
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, two, 2, &debt, &LADDER, NULL, T0), RISK_OK);
  ck_assert_int_ne(r.state, RISK_LTV_STALE);
  /* back fresh after stale: the kept call still holds (hysteresis across stale) */
  prev = (struct risk_ltv_prev){RISK_LTV_STALE, T0 - 100};
  line.price = u256_from_u64(85000 * E8);
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &debt, &LADDER, &prev, T0), RISK_OK);
  ck_assert_int_eq(r.state, RISK_LTV_MARGIN_CALL);
}
END_TEST

START_TEST(test_ladder_and_invalid) {
  struct risk_ltv_ladder l = LADDER;
  ck_assert_ptr_null(risk_ltv_ladder_check(&l));
  l.warning_bps = 7000;
  ck_assert_str_eq(risk_ltv_ladder_check(&l), "margin_call_bps");
  l = LADDER;
  l.liquidation_bps = 10001;
  ck_assert_str_eq(risk_ltv_ladder_check(&l), "liquidation_bps");
  l = LADDER;
  l.return_to_bps = 7000;
  ck_assert_str_eq(risk_ltv_ladder_check(&l), "return_to_bps");
  l = LADDER;
  l.warning_bps = 0; /* allowed: every LTV is at least a warning */
  ck_assert_ptr_null(risk_ltv_ladder_check(&l));
  l.warning_bps = 10001;
  ck_assert_str_eq(risk_ltv_ladder_check(&l), "warning_bps");
  struct risk_ltv_line line = {u256_from_u64(1), 8, 10001, u256_from_u64(1), T0};
  struct risk_ltv_debt debt = {U256_ZERO, 6, U256_ZERO, T0, u256_from_u64(E8), T0};
  struct risk_ltv_result r;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &debt, &LADDER, NULL, T0), RISK_INVALID);
  line.haircut_bps = 0;
  line.decimals = 78;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, &line, 1, &debt, &LADDER, NULL, T0), RISK_INVALID);
  ck_assert_str_eq(risk_ltv_state_name(RISK_LTV_MARGIN_CALL), "margin_call");
  ck_assert_int_eq(risk_ltv_state_parse("stale"), RISK_LTV_STALE);
  ck_assert_int_eq(risk_ltv_state_parse("nope"), -1);
}
END_TEST

static void hex32(const uint8_t h[32], char out[67]) {
  out[0] = '0';
  out[1] = 'x';
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 + 2 * i, 3, "%02x", h[i]);
}

START_TEST(test_eip712_against_ethers) {
  /* expected values printed by `node tests/ltv_eip712.mjs vectors` (npm ethers 6) */
  struct risk_ltv_signed s = {.sequence = 7,
                              .ltv_bps = 7123,
                              .raw_ltv_bps = 6411,
                              .state = 2,
                              .collateral_value = dec("780000000000000"),
                              .weighted_value = dec("702000000000000"),
                              .debt = dec("5000000000000"),
                              .debt_value = dec("500000000000000"),
                              .as_of = 1767225600,
                              .cure_deadline = 1767484800};
  u256 pid;
  ck_assert_int_eq(u256_from_hex(&pid, "0x75fdccd46b60892280386b549edede0a2ca821f9ed5b93540d1087b17ec78751", 66),
                   RISK_OK);
  u256_to_be32(pid, s.position_id);
  uint8_t h[32];
  char out[67];
  risk_ltv_domain_separator(1, h);
  hex32(h, out);
  ck_assert_str_eq(out, "0xdf5b38abdd367374c5d7d2bbd8088dc6dd3d92ed637beb3c344637745f5f01a0");
  risk_ltv_struct_hash(&s, h);
  hex32(h, out);
  ck_assert_str_eq(out, "0x0a63f1a4e81b6f23f251b7ae49c38637a21552a2f8ecf9d28306ce814b96a979");
  risk_ltv_digest(&s, 1, h);
  hex32(h, out);
  ck_assert_str_eq(out, "0xc52614528425621d1da4cf28c762f11d4ffa2f57bb0d3c2b47c82f00667feb29");
  risk_ltv_digest(&s, 8453, h);
  hex32(h, out);
  ck_assert_str_eq(out, "0xf7bd3e614a97457ddacb82ffbd2b50bc46f435e6bba5f7acd72453900260f0a2");
}
END_TEST

/* The bounds of risk/ltv.h at their worst: 32 lines of 2^128-1 units with 0 decimals at a price
 * of 2^112-1, a debt of 2^128-1 at 1000% APR accrued over 2^35 s at the same price, all computed;
 * at a price 2^16 times higher the sum of the lines no longer fits. */
START_TEST(test_input_bounds) {
  u256 amax = u256_sub_wrap(u256_shl(u256_from_u64(1), RISK_LTV_AMOUNT_BITS), u256_from_u64(1));
  u256 pmax = u256_sub_wrap(u256_shl(u256_from_u64(1), RISK_LTV_PRICE_BITS), u256_from_u64(1));
  struct risk_ltv_line lines[RISK_LTV_MAX_LINES];
  for (size_t i = 0; i < RISK_LTV_MAX_LINES; i++)
    lines[i] = (struct risk_ltv_line){amax, 0, 0, pmax, T0};
  uint64_t now = T0 + (1ull << 35);
  struct risk_ltv_debt d = {amax, 0, U256_ZERO, T0, pmax, now};
  ck_assert_int_eq(risk_ltv_apr_bps_to_ray(&d.apr_ray, 100000), RISK_OK);
  struct risk_ltv_result r;
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, lines, RISK_LTV_MAX_LINES, &d, &LADDER, NULL, now), RISK_OK);
  /* the line values: 32 * (2^128-1) * (2^112-1), computed independently */
  ck_assert(
      u256_eq(r.collateral_value, dec("56539106072908298546665520023773381617277589730515861347790984742246023200")));
  for (size_t i = 0; i < RISK_LTV_MAX_LINES; i++)
    lines[i].price = u256_shl(pmax, 16);
  ck_assert_int_eq(risk_ltv_compute(&r, NULL, lines, RISK_LTV_MAX_LINES, &d, &LADDER, NULL, now), RISK_OVERFLOW);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ltv");
  TCase *tc = tcase_create("ltv");
  tcase_add_test(tc, test_values);
  tcase_add_test(tc, test_accrual);
  tcase_add_test(tc, test_boundaries_round_up);
  tcase_add_test(tc, test_state_machine_walk);
  tcase_add_test(tc, test_cure_expiry);
  tcase_add_test(tc, test_stale);
  tcase_add_test(tc, test_ladder_and_invalid);
  tcase_add_test(tc, test_eip712_against_ethers);
  tcase_add_test(tc, test_input_bounds);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
