/* ctest-label: unit */
/* sparkd.snapshot/1 parsing without a database: integer-width boundaries (2^128-1, 2^256-1,
 * int256's -2^255 .. 2^255-1, written out by hand), the error cap, the NDJSON reader, dropped
 * zero positions, and EIP-55 against the specification's own examples. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/snapshot.h"
#include "risk/eip55.h"

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/snapshot_basic.json"

#define U128_MAX "340282366920938463463374607431768211455"
#define U128_OVER "340282366920938463463374607431768211456"
#define U256_MAX_S "115792089237316195423570985008687907853269984665640564039457584007913129639935"
#define I256_MIN "-57896044618658097711785492504343953926634992332820282019728792003956564819968"
#define I256_UNDER "-57896044618658097711785492504343953926634992332820282019728792003956564819969"
#define I256_OVER "57896044618658097711785492504343953926634992332820282019728792003956564819968"

static json_t *fixture(void) {
  json_error_t e;
  json_t *j = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(j != NULL, "%s", e.text);
  return j;
}

/* Parses j; returns the snapshot (or NULL) and leaves the problems in *errs. */
static struct chain_snapshot *parse(const json_t *j, struct chain_snapshot_errors *errs) {
  char *t = json_dumps(j, JSON_COMPACT);
  memset(errs, 0, sizeof *errs);
  struct chain_snapshot *s = chain_snapshot_parse(t, strlen(t), errs);
  free(t);
  return s;
}

static json_t *reserve(json_t *j, size_t i) { return json_array_get(json_object_get(j, "reserves"), i); }
static json_t *irm0(json_t *j) { return json_object_get(reserve(j, 0), "interest_rate_strategy"); }

START_TEST(test_eip55_spec_examples) {
  static const char *const ok[] = {
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
      "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
      "0xC13e21B648A5Ee794902342038FF3aDAB66BE987"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char in[43], out[43];
    for (size_t k = 0; k < 43; k++)
      in[k] = (char)((ok[i][k] >= 'A' && ok[i][k] <= 'F') ? ok[i][k] - 'A' + 'a' : ok[i][k]);
    ck_assert(risk_eip55(in, out));
    ck_assert_str_eq(out, ok[i]);
    ck_assert(risk_eip55(ok[i], out)); /* any case in */
    ck_assert_str_eq(out, ok[i]);
  }
}
END_TEST

START_TEST(test_fixture_parses) {
  json_t *j = fixture();
  struct chain_snapshot_errors errs;
  struct chain_snapshot *s = parse(j, &errs);
  ck_assert_msg(s != NULL, "%s", errs.n ? errs.msg[0] : "");
  ck_assert_uint_eq(s->chain_id, 1);
  ck_assert_uint_eq(s->block_number, 21000000);
  ck_assert_uint_eq(s->n_reserves, 4);
  /* addresses are lowercased */
  ck_assert_str_eq(s->reserves[2].asset, "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2");
  /* the WETH bitmap was built from these fields (tests/fixtures) */
  ck_assert_uint_eq(s->reserves[2].cfg.ltv, 8200);
  ck_assert_uint_eq(s->reserves[2].cfg.liquidation_threshold, 8300);
  ck_assert_uint_eq(s->reserves[2].cfg.supply_cap, 2000000);
  ck_assert_uint_eq(s->reserves[2].cfg.emode_category, 1);
  /* account 4's all-zero USDC position is dropped, its DAI one kept with its input index */
  ck_assert_uint_eq(s->accounts[3].n_positions, 1);
  ck_assert_uint_eq(s->accounts[3].positions[0].json_index, 1);
  ck_assert(s->accounts_full);
  ck_assert(s->reserves[0].irm.spread_negative);
  ck_assert_str_eq(s->reserves[0].irm.spread_text, "-400000000000000000000000");
  chain_snapshot_free(s);
  json_decref(j);
}
END_TEST

START_TEST(test_width_boundaries) {
  json_t *j = fixture();
  struct chain_snapshot_errors errs;
  /* the largest values of each width pass */
  json_object_set_new(reserve(j, 1), "accrued_to_treasury", json_string(U128_MAX));
  json_object_set_new(reserve(j, 1), "available_liquidity", json_string(U256_MAX_S));
  json_object_set_new(reserve(j, 1), "a_token_scaled_total_supply", json_string("000123")); /* leading zeros */
  struct chain_snapshot *s = parse(j, &errs);
  ck_assert_msg(s != NULL, "%s", errs.n ? errs.msg[0] : "");
  char buf[U256_DEC_MAX];
  u256_to_dec(s->reserves[1].accrued_to_treasury, buf);
  ck_assert_str_eq(buf, U128_MAX);
  u256_to_dec(s->reserves[1].available_liquidity, buf);
  ck_assert_str_eq(buf, U256_MAX_S);
  chain_snapshot_free(s);
  /* one more does not */
  json_object_set_new(reserve(j, 1), "accrued_to_treasury", json_string(U128_OVER));
  json_object_set_new(reserve(j, 1), "available_liquidity", json_string("1" U256_MAX_S));
  json_object_set_new(reserve(j, 1), "isolation_mode_total_debt", json_string(""));
  json_object_set_new(reserve(j, 1), "variable_debt_scaled_total_supply", json_string("+5"));
  ck_assert_ptr_null(parse(j, &errs));
  ck_assert_uint_eq(errs.n, 4);
  ck_assert_str_eq(errs.msg[0], "$.reserves[1].variable_debt_scaled_total_supply: not a decimal integer string");
  ck_assert_str_eq(errs.msg[1], "$.reserves[1].accrued_to_treasury: above 2^128-1");
  ck_assert_str_eq(errs.msg[2], "$.reserves[1].isolation_mode_total_debt: not a decimal integer string");
  ck_assert_str_eq(errs.msg[3], "$.reserves[1].available_liquidity: above 2^256-1");
  json_decref(j);
}
END_TEST

START_TEST(test_int256_spread) {
  json_t *j = fixture();
  struct chain_snapshot_errors errs;
  /* -2^255 is in range; slope1 then clamps to 0 (max(apr + spread - base, 0)) */
  json_object_set_new(irm0(j), "spread", json_string(I256_MIN));
  json_object_set_new(irm0(j), "variable_rate_slope1", json_string("0"));
  struct chain_snapshot *s = parse(j, &errs);
  ck_assert_msg(s != NULL, "%s", errs.n ? errs.msg[0] : "");
  ck_assert_str_eq(s->reserves[0].irm.spread_text, I256_MIN);
  chain_snapshot_free(s);
  json_object_set_new(irm0(j), "spread", json_string(I256_UNDER));
  ck_assert_ptr_null(parse(j, &errs));
  ck_assert_str_eq(errs.msg[0], "$.reserves[0].interest_rate_strategy.spread: out of int256 range");
  json_object_set_new(irm0(j), "spread", json_string(I256_OVER));
  ck_assert_ptr_null(parse(j, &errs));
  ck_assert_str_eq(errs.msg[0], "$.reserves[0].interest_rate_strategy.spread: out of int256 range");
  /* a spread on a non-rate-target strategy is refused */
  json_object_set_new(irm0(j), "spread", json_string("0"));
  json_object_set_new(json_object_get(reserve(j, 1), "interest_rate_strategy"), "spread", json_string("0"));
  ck_assert_ptr_null(parse(j, &errs));
  ck_assert_str_eq(errs.msg[errs.n - 1], "$.reserves[1].interest_rate_strategy.spread: only for rate-target kinds");
  json_decref(j);
}
END_TEST

START_TEST(test_error_cap) {
  json_t *j = fixture();
  json_t *accts = json_object_get(j, "accounts");
  for (int i = 0; i < 150; i++)
    json_array_append_new(accts, json_pack("{s:s, s:i, s:[]}", "address", "0xnope", "emode_category", 0, "positions"));
  struct chain_snapshot_errors errs;
  ck_assert_ptr_null(parse(j, &errs));
  ck_assert_uint_eq(errs.n, CHAIN_SNAPSHOT_MAX_ERRORS);
  ck_assert_uint_eq(errs.dropped, 50);
  ck_assert_str_eq(errs.msg[0], "$.accounts[4].address: not an address (0x + 40 hex digits)");
  json_decref(j);
}
END_TEST

static unsigned count_pieces(const char *text, char lines[][8]) {
  struct chain_snapshot_reader r;
  chain_snapshot_reader_init(&r, text, strlen(text));
  const char *p;
  size_t n;
  unsigned k = 0;
  while (chain_snapshot_reader_next(&r, &p, &n)) {
    snprintf(lines[k], 8, "%u:%.*s", r.line, (int)(n < 3 ? n : 3), p);
    k++;
  }
  return k;
}

START_TEST(test_reader) {
  char l[8][8];
  ck_assert_uint_eq(count_pieces("{\n  \"a\": 1\n}\n", l), 1); /* pretty-printed: one document */
  ck_assert_str_eq(l[0], "1:{\n ");
  ck_assert_uint_eq(count_pieces("{\"a\":1}\n", l), 1); /* one line, trailing newline */
  ck_assert_uint_eq(count_pieces("{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"c\":3}", l), 3);
  ck_assert_str_eq(l[0], "1:{\"a");
  ck_assert_str_eq(l[1], "3:{\"b");
  ck_assert_str_eq(l[2], "5:{\"c");
  ck_assert_uint_eq(count_pieces("", l), 1); /* empty input is one (empty) piece, reported as such */
  struct chain_snapshot_errors errs = {0};
  ck_assert_ptr_null(chain_snapshot_parse("", 0, &errs));
  ck_assert_str_eq(errs.msg[0], "$: empty input");
}
END_TEST

int main(void) {
  Suite *s = suite_create("snapshot");
  TCase *tc = tcase_create("snapshot");
  tcase_add_test(tc, test_eip55_spec_examples);
  tcase_add_test(tc, test_fixture_parses);
  tcase_add_test(tc, test_width_boundaries);
  tcase_add_test(tc, test_int256_spread);
  tcase_add_test(tc, test_error_cap);
  tcase_add_test(tc, test_reader);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
