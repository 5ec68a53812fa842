/* ctest-label: unit */
/* risk/reserve: configuration bitmap, linear/compounded interest, normalized income and
 * debt, updateState, scaled balances. Expected numbers: spec protocol-math §5.2 vectors,
 * bitmaps built independently with OpenSSL BIGNUM, and hand-derived rayMul/rayDiv/percentMul
 * results written out in the comments. */
#include <check.h>
#include <openssl/bn.h>
#include <stdlib.h>
#include <string.h>

#include "risk/reserve.h"
#include "risk/wadray.h"
#include "support/u256check.h"

#define DAY 86400u
#define YEAR 31536000u

/* OpenSSL: bn += value << shift. */
static void bn_put(BIGNUM *bn, unsigned shift, unsigned long long value) {
  BIGNUM *t = BN_new();
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(BN_set_word(t, (BN_ULONG)value), 1);
  ck_assert_int_eq(BN_lshift(t, t, (int)shift), 1);
  ck_assert_int_eq(BN_add(bn, bn, t), 1);
  BN_free(t);
}

static u256 bn_to_u256(const BIGNUM *bn) {
  uint8_t be[32];
  ck_assert_int_eq(BN_bn2binpad(bn, be, 32), 32);
  return u256_from_be32(be);
}

/* A bitmap with every field set to a distinct known value, built with BIGNUM shifts. */
START_TEST(test_decode_known_bitmap) {
  BIGNUM *bn = BN_new();
  ck_assert_ptr_nonnull(bn);
  BN_zero(bn);
  bn_put(bn, 0, 8000);               /* ltv */
  bn_put(bn, 16, 8250);              /* liquidation threshold */
  bn_put(bn, 32, 10500);             /* liquidation bonus */
  bn_put(bn, 48, 6);                 /* decimals */
  bn_put(bn, 56, 1);                 /* active */
  bn_put(bn, 58, 1);                 /* borrowing enabled */
  bn_put(bn, 61, 1);                 /* borrowable in isolation */
  bn_put(bn, 63, 1);                 /* flash loans */
  bn_put(bn, 64, 1000);              /* reserve factor */
  bn_put(bn, 80, 68719476735ull);    /* borrow cap = 2^36-1 */
  bn_put(bn, 116, 3000000000ull);    /* supply cap, crosses the 128-bit limb boundary */
  bn_put(bn, 152, 1000);             /* liquidation protocol fee */
  bn_put(bn, 168, 2);                /* eMode category */
  bn_put(bn, 176, 12345);            /* unbacked mint cap */
  bn_put(bn, 212, 1099511627775ull); /* debt ceiling = 2^40-1 */
  bn_put(bn, 252, 0xF);              /* unused bits: ignored by decode */
  u256 bitmap = bn_to_u256(bn);
  BN_free(bn);

  struct risk_reserve_config c;
  risk_reserve_config_decode(bitmap, &c);
  ck_assert_uint_eq(c.ltv, 8000);
  ck_assert_uint_eq(c.liquidation_threshold, 8250);
  ck_assert_uint_eq(c.liquidation_bonus, 10500);
  ck_assert_uint_eq(c.decimals, 6);
  ck_assert(c.active);
  ck_assert(!c.frozen);
  ck_assert(c.borrowing_enabled);
  ck_assert(!c.stable_borrowing_enabled);
  ck_assert(!c.paused);
  ck_assert(c.borrowable_in_isolation);
  ck_assert(!c.siloed_borrowing);
  ck_assert(c.flashloan_enabled);
  ck_assert_uint_eq(c.reserve_factor, 1000);
  ck_assert_uint_eq(c.borrow_cap, 68719476735ull);
  ck_assert_uint_eq(c.supply_cap, 3000000000ull);
  ck_assert_uint_eq(c.liquidation_protocol_fee, 1000);
  ck_assert_uint_eq(c.emode_category, 2);
  ck_assert_uint_eq(c.unbacked_mint_cap, 12345);
  ck_assert_uint_eq(c.debt_ceiling, 1099511627775ull);

  /* Re-encoding drops only the unused top nibble. */
  u256 back;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &back), RISK_OK);
  u256 expect = bitmap;
  expect.w[3] &= 0x0FFFFFFFFFFFFFFFull;
  ck_assert(u256_eq(back, expect));
}
END_TEST

/* Each single flag / field lands on its own bit, checked against BIGNUM. */
START_TEST(test_encode_single_bits) {
  static const struct {
    unsigned bit;
    size_t offset;
  } flags[] = {
      {56, offsetof(struct risk_reserve_config, active)},
      {57, offsetof(struct risk_reserve_config, frozen)},
      {58, offsetof(struct risk_reserve_config, borrowing_enabled)},
      {59, offsetof(struct risk_reserve_config, stable_borrowing_enabled)},
      {60, offsetof(struct risk_reserve_config, paused)},
      {61, offsetof(struct risk_reserve_config, borrowable_in_isolation)},
      {62, offsetof(struct risk_reserve_config, siloed_borrowing)},
      {63, offsetof(struct risk_reserve_config, flashloan_enabled)},
  };
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    struct risk_reserve_config c;
    memset(&c, 0, sizeof c);
    *(bool *)((char *)&c + flags[i].offset) = true;
    u256 v;
    ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_OK);
    BIGNUM *bn = BN_new();
    BN_zero(bn);
    bn_put(bn, flags[i].bit, 1);
    ck_assert(u256_eq(v, bn_to_u256(bn)));
    BN_free(bn);
  }
}
END_TEST

START_TEST(test_round_trip) {
  /* pseudo-random bitmaps (bits 252-255 cleared) survive decode -> encode */
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int n = 0; n < 1000; n++) {
    u256 v;
    for (int i = 0; i < 4; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      v.w[i] = x;
    }
    v.w[3] &= 0x0FFFFFFFFFFFFFFFull;
    struct risk_reserve_config c;
    risk_reserve_config_decode(v, &c);
    u256 back;
    ck_assert_int_eq(risk_reserve_config_encode(&c, &back), RISK_OK);
    ck_assert(u256_eq(v, back));
  }
}
END_TEST

START_TEST(test_encode_rejects_wide_values) {
  struct risk_reserve_config c;
  u256 v = U256_ONE;
  memset(&c, 0, sizeof c);
  c.ltv = 65536;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
  ck_assert(u256_eq(v, U256_ONE));
  memset(&c, 0, sizeof c);
  c.decimals = 256;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
  memset(&c, 0, sizeof c);
  c.borrow_cap = 68719476736ull;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
  memset(&c, 0, sizeof c);
  c.supply_cap = 68719476736ull;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
  memset(&c, 0, sizeof c);
  c.unbacked_mint_cap = 68719476736ull;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
  memset(&c, 0, sizeof c);
  c.debt_ceiling = 1099511627776ull;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
  memset(&c, 0, sizeof c);
  c.emode_category = 256;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
  memset(&c, 0, sizeof c);
  c.reserve_factor = 70000;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
  memset(&c, 0, sizeof c);
  c.liquidation_protocol_fee = 65536;
  ck_assert_int_eq(risk_reserve_config_encode(&c, &v), RISK_INVALID);
}
END_TEST

/* §5.2 interest vectors */
START_TEST(test_compounded_5pct_year) {
  u256 r;
  ck_assert_int_eq(risk_compounded_interest(&r, D("50000000000000000000000000"), 1000, 1000 + 365 * DAY), RISK_OK);
  ck_assert_u256_dec(r, "1051265681539063650421944000");
}
END_TEST

START_TEST(test_compounded_5pct_day) {
  u256 r;
  ck_assert_int_eq(risk_compounded_interest(&r, D("50000000000000000000000000"), 0, DAY), RISK_OK);
  ck_assert_u256_dec(r, "1000136995684207123907444230");
}
END_TEST

START_TEST(test_linear_5pct_day) {
  u256 r;
  ck_assert_int_eq(risk_linear_interest(&r, D("50000000000000000000000000"), 0, DAY), RISK_OK);
  ck_assert_u256_dec(r, "1000136986301369863013698630");
}
END_TEST

START_TEST(test_compounded_10pct_30d) {
  u256 r;
  ck_assert_int_eq(risk_compounded_interest(&r, D("100000000000000000000000000"), 0, 30 * DAY), RISK_OK);
  ck_assert_u256_dec(r, "1008253045486897700926205808");
}
END_TEST

START_TEST(test_linear_10pct_30d) {
  u256 r;
  ck_assert_int_eq(risk_linear_interest(&r, D("100000000000000000000000000"), 0, 30 * DAY), RISK_OK);
  ck_assert_u256_dec(r, "1008219178082191780821917808");
}
END_TEST

START_TEST(test_interest_edges) {
  u256 r = U256_ZERO;
  /* zero elapsed time: RAY exactly */
  ck_assert_int_eq(risk_compounded_interest(&r, D("50000000000000000000000000"), 5, 5), RISK_OK);
  ck_assert(u256_eq(r, RISK_RAY));
  ck_assert_int_eq(risk_linear_interest(&r, D("50000000000000000000000000"), 5, 5), RISK_OK);
  ck_assert(u256_eq(r, RISK_RAY));
  /* one and two seconds: the Taylor terms vanish (expMinusOne / expMinusTwo = 0) */
  ck_assert_int_eq(risk_compounded_interest(&r, D("31536000000000000000000000000000000"), 0, 1), RISK_OK);
  ck_assert_u256_dec(r, "2000000000000000000000000000"); /* RAY + rate*1/YEAR, rate = 1000 RAY/YEAR */
  /* time going backwards: checked subtraction reverts */
  ck_assert_int_eq(risk_compounded_interest(&r, RISK_RAY, 10, 9), RISK_UNDERFLOW);
  ck_assert_int_eq(risk_linear_interest(&r, RISK_RAY, 10, 9), RISK_UNDERFLOW);
  /* rate*dt overflow */
  ck_assert_int_eq(risk_linear_interest(&r, U256_MAX, 0, 2), RISK_OVERFLOW);
  /* rayMul(rate, rate) overflow */
  ck_assert_int_eq(risk_compounded_interest(&r, U256_MAX, 0, 3), RISK_OVERFLOW);
}
END_TEST

static struct risk_reserve_state base_state(void) {
  struct risk_reserve_state s;
  memset(&s, 0, sizeof s);
  s.liquidity_index = RISK_RAY;
  s.variable_borrow_index = RISK_RAY;
  s.current_liquidity_rate = D("50000000000000000000000000");
  s.current_variable_borrow_rate = D("50000000000000000000000000");
  s.last_update_timestamp = 1700000000;
  s.variable_debt_scaled_total_supply = D("1000000000000");
  s.a_token_scaled_total_supply = D("2000000000000");
  s.config.reserve_factor = 1000;
  return s;
}

START_TEST(test_normalized_at_t) {
  struct risk_reserve_state s = base_state();
  u256 r;
  ck_assert_int_eq(risk_reserve_normalized_income(&r, &s, s.last_update_timestamp), RISK_OK);
  ck_assert(u256_eq(r, RISK_RAY));
  ck_assert_int_eq(risk_reserve_normalized_income(&r, &s, s.last_update_timestamp + DAY), RISK_OK);
  ck_assert_u256_dec(r, "1000136986301369863013698630"); /* rayMul(linear, RAY) = linear */
  ck_assert_int_eq(risk_reserve_normalized_debt(&r, &s, s.last_update_timestamp + DAY), RISK_OK);
  ck_assert_u256_dec(r, "1000136995684207123907444230");
  /* totals: rayMul(1e12, comp) = 1000136995684 (1000136995684.207 rounded half up);
   * rayMul(2e12, lin) = 2000273972602.739... -> 2000273972603 */
  ck_assert_int_eq(risk_reserve_total_debt(&r, &s, s.last_update_timestamp + DAY), RISK_OK);
  ck_assert_u256_dec(r, "1000136995684");
  ck_assert_int_eq(risk_reserve_total_supplied(&r, &s, s.last_update_timestamp + DAY), RISK_OK);
  ck_assert_u256_dec(r, "2000273972603");
  ck_assert_int_eq(risk_reserve_normalized_debt(&r, &s, s.last_update_timestamp - 1), RISK_UNDERFLOW);
}
END_TEST

/* updateState over one day, indexes at RAY, rates 5%, RF 10%, scaled debt 1e12:
 *   liquidity index = linear(5%, 1 d)       = 1000136986301369863013698630
 *   borrow index    = compounded(5%, 1 d)   = 1000136995684207123907444230
 *   prev = rayMul(1e12, RAY) = 1e12; curr = rayMul(1e12, borrow index) = 1000136995684
 *   accrued = 136995684; mint = percentMul(136995684, 1000) = fl(136995689000/10000) = 13699568
 *   treasury += rayDiv(13699568, liquidity index) = fl((13699568e27 + idx/2)/idx) = 13697692 */
START_TEST(test_update_state_small) {
  struct risk_reserve_state s = base_state();
  s.accrued_to_treasury = D("5");
  struct risk_reserve_state out;
  ck_assert_int_eq(risk_reserve_update_state(&out, &s, s.last_update_timestamp + DAY), RISK_OK);
  ck_assert_u256_dec(out.liquidity_index, "1000136986301369863013698630");
  ck_assert_u256_dec(out.variable_borrow_index, "1000136995684207123907444230");
  ck_assert_u256_dec(out.accrued_to_treasury, "13697697");
  ck_assert_uint_eq(out.last_update_timestamp, s.last_update_timestamp + DAY);
  /* rates and balances unchanged */
  ck_assert(u256_eq(out.current_liquidity_rate, s.current_liquidity_rate));
  ck_assert(u256_eq(out.variable_debt_scaled_total_supply, s.variable_debt_scaled_total_supply));

  /* same time again: no-op */
  struct risk_reserve_state again;
  ck_assert_int_eq(risk_reserve_update_state(&again, &out, out.last_update_timestamp), RISK_OK);
  ck_assert_int_eq(memcmp(&again, &out, sizeof out), 0);
}
END_TEST

/* Non-RAY indexes (1.02 / 1.05), RF 20%, in place (out == in):
 *   liquidity index = rayMul(lin, 1.02e27)  = 1020139726027397260273972603
 *   borrow index    = rayMul(comp, 1.05e27) = 1050143845468417480102816442
 *   prev = rayMul(1e12, 1.05e27) = 1050000000000; curr = 1050143845468; accrued = 143845468
 *   mint = fl((143845468*2000 + 5000)/10000) = 28769094; rayDiv(28769094, liq idx) = 28201131 */
START_TEST(test_update_state_indexes) {
  struct risk_reserve_state s = base_state();
  s.liquidity_index = D("1020000000000000000000000000");
  s.variable_borrow_index = D("1050000000000000000000000000");
  s.config.reserve_factor = 2000;
  ck_assert_int_eq(risk_reserve_update_state(&s, &s, s.last_update_timestamp + DAY), RISK_OK);
  ck_assert_u256_dec(s.liquidity_index, "1020139726027397260273972603");
  ck_assert_u256_dec(s.variable_borrow_index, "1050143845468417480102816442");
  ck_assert_u256_dec(s.accrued_to_treasury, "28201131");
}
END_TEST

START_TEST(test_update_state_skips) {
  /* no liquidity rate: liquidity index unchanged; no debt: borrow index unchanged,
   * nothing accrues; RF 0: no treasury accrual */
  struct risk_reserve_state s = base_state();
  s.current_liquidity_rate = U256_ZERO;
  s.variable_debt_scaled_total_supply = U256_ZERO;
  struct risk_reserve_state out;
  ck_assert_int_eq(risk_reserve_update_state(&out, &s, s.last_update_timestamp + DAY), RISK_OK);
  ck_assert(u256_eq(out.liquidity_index, RISK_RAY));
  ck_assert(u256_eq(out.variable_borrow_index, RISK_RAY));
  ck_assert(u256_is_zero(out.accrued_to_treasury));

  s = base_state();
  s.config.reserve_factor = 0;
  ck_assert_int_eq(risk_reserve_update_state(&out, &s, s.last_update_timestamp + DAY), RISK_OK);
  ck_assert(u256_is_zero(out.accrued_to_treasury));
  ck_assert_u256_dec(out.variable_borrow_index, "1000136995684207123907444230");
}
END_TEST

START_TEST(test_update_state_errors) {
  struct risk_reserve_state s = base_state();
  struct risk_reserve_state out = base_state();
  out.accrued_to_treasury = D("77");
  ck_assert_int_eq(risk_reserve_update_state(&out, &s, s.last_update_timestamp - 1), RISK_UNDERFLOW);
  ck_assert_u256_dec(out.accrued_to_treasury, "77"); /* untouched on error */
  /* liquidity index that leaves uint128: 2^128 - 1 grown by any interest */
  s.liquidity_index = D("340282366920938463463374607431768211455");
  ck_assert_int_eq(risk_reserve_update_state(&out, &s, s.last_update_timestamp + DAY), RISK_OVERFLOW);
  s = base_state();
  s.variable_borrow_index = D("340282366920938463463374607431768211455");
  ck_assert_int_eq(risk_reserve_update_state(&out, &s, s.last_update_timestamp + DAY), RISK_OVERFLOW);
  /* treasury: uint128 += overflows */
  s = base_state();
  s.accrued_to_treasury = D("340282366920938463463374607431768211455");
  ck_assert_int_eq(risk_reserve_update_state(&out, &s, s.last_update_timestamp + DAY), RISK_OVERFLOW);
}
END_TEST

START_TEST(test_scaled_balances) {
  u256 r;
  /* rayDiv(1000e6, 1.05e27) = fl((1e9*1e27 + 0.525e27)/1.05e27) = 952380952 (952380952.38) */
  ck_assert_int_eq(risk_reserve_to_scaled(&r, D("1000000000"), D("1050000000000000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "952380952");
  /* rayMul(952380952, 1.05e27) = 999999999.6 -> 1000000000 */
  ck_assert_int_eq(risk_reserve_from_scaled(&r, D("952380952"), D("1050000000000000000000000000")), RISK_OK);
  ck_assert_u256_dec(r, "1000000000");
  /* amount rounding to zero scaled units reverts (INVALID_MINT_AMOUNT) */
  ck_assert_int_eq(risk_reserve_to_scaled(&r, U256_ZERO, RISK_RAY), RISK_INVALID);
  ck_assert_int_eq(risk_reserve_to_scaled(&r, D("1"), D("3000000000000000000000000000")), RISK_INVALID);
  ck_assert_int_eq(risk_reserve_to_scaled(&r, D("1"), U256_ZERO), RISK_DIV_BY_ZERO);
  struct risk_reserve_state s = base_state();
  ck_assert_int_eq(risk_reserve_supply_balance(&r, &s, D("1000000"), s.last_update_timestamp + DAY), RISK_OK);
  ck_assert_u256_dec(r, "1000137"); /* 1000136.986 */
  ck_assert_int_eq(risk_reserve_debt_balance(&r, &s, D("1000000"), s.last_update_timestamp + DAY), RISK_OK);
  ck_assert_u256_dec(r, "1000137"); /* 1000136.996 */
}
END_TEST

static Suite *reserve_suite(void) {
  Suite *s = suite_create("reserve");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_decode_known_bitmap);
  tcase_add_test(tc, test_encode_single_bits);
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_encode_rejects_wide_values);
  tcase_add_test(tc, test_compounded_5pct_year);
  tcase_add_test(tc, test_compounded_5pct_day);
  tcase_add_test(tc, test_linear_5pct_day);
  tcase_add_test(tc, test_compounded_10pct_30d);
  tcase_add_test(tc, test_linear_10pct_30d);
  tcase_add_test(tc, test_interest_edges);
  tcase_add_test(tc, test_normalized_at_t);
  tcase_add_test(tc, test_update_state_small);
  tcase_add_test(tc, test_update_state_indexes);
  tcase_add_test(tc, test_update_state_skips);
  tcase_add_test(tc, test_update_state_errors);
  tcase_add_test(tc, test_scaled_balances);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(reserve_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
