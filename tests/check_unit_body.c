/* ctest-label: unit */
/* service/body.h, the one JSON body reader: each type's accept and reject cases, JSON paths of
 * nested fields in the errors, duplicate keys, unknown fields, and the u256 boundary (2^256-1
 * read, 2^256 refused). Expected values are written out by hand, not computed by the reader. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "service/body.h"

struct item {
  int kind;
  u256 amount;
  bool is_max, has_amount;
};
struct price {
  const char *key;
  u256 value;
};
struct doc {
  const char *name;
  bool flag, has_flag;
  long long n;
  char addr[43];
  int colour;
  struct {
    long long depth;
    char owner[43];
  } inner;
  size_t n_items, n_prices, n_tags;
  struct item items[3];
  struct price prices[2];
  struct {
    char a[43];
  } tags[2];
};

static const char *const kinds[] = {"buy", "sell", NULL};
static const char *const colours[] = {"red", "green", "blue", NULL};
static const struct svc_body_field item_spec[] = {
    {.name = "kind", .type = SVC_BODY_ENUM, .required = true, .offset = offsetof(struct item, kind), .names = kinds},
    {.name = "amount", .type = SVC_BODY_U256, .offset = offsetof(struct item, amount),
     .given = SVC_BODY_FLAG(struct item, has_amount), .word = "max", .word_flag = SVC_BODY_FLAG(struct item, is_max)},
};
static const struct svc_body_field inner_spec[] = {
    {.name = "depth", .type = SVC_BODY_INT, .required = true, .offset = 0, .lo = 1, .hi = 3},
    {.name = "owner", .type = SVC_BODY_ADDRESS, .offset = sizeof(long long)},
};
static const struct svc_body_field price_spec[] = {{.type = SVC_BODY_U256, .offset = offsetof(struct price, value)}};
static const struct svc_body_field tag_spec[] = {{.type = SVC_BODY_ADDRESS, .offset = 0}};
#define D(m) offsetof(struct doc, m)
static const struct svc_body_field spec[] = {
    {.name = "name", .type = SVC_BODY_STRING, .required = true, .offset = D(name), .lo = 1, .hi = 5},
    {.name = "flag", .type = SVC_BODY_BOOL, .offset = D(flag), .given = SVC_BODY_FLAG(struct doc, has_flag)},
    {.name = "n", .type = SVC_BODY_INT, .offset = D(n), .lo = -2, .hi = 10},
    {.name = "addr", .type = SVC_BODY_ADDRESS, .offset = D(addr)},
    {.name = "colour", .type = SVC_BODY_ENUM, .offset = D(colour), .names = colours},
    {.name = "inner", .type = SVC_BODY_OBJECT, .offset = D(inner), .sub = inner_spec, .nsub = 2},
    {.name = "items", .type = SVC_BODY_ARRAY, .offset = D(items), .lo = 0, .hi = 3, .sub = item_spec, .nsub = 2,
     .elem_size = sizeof(struct item), .count_offset = D(n_items)},
    {.name = "prices", .type = SVC_BODY_MAP, .offset = D(prices), .lo = 0, .hi = 2, .sub = price_spec, .nsub = 1,
     .elem_size = sizeof(struct price), .count_offset = D(n_prices), .key_offset = offsetof(struct price, key)},
    {.name = "tags", .type = SVC_BODY_ARRAY, .required = true, .offset = D(tags), .lo = 1, .hi = 2, .sub = tag_spec, .nsub = 1,
     .elem_size = sizeof(((struct doc *)0)->tags[0]), .count_offset = D(n_tags)},
};
#undef D

#define U256_MAX_DEC "115792089237316195423570985008687907853269984665640564039457584007913129639935"
#define U256_TOO_BIG "115792089237316195423570985008687907853269984665640564039457584007913129639936"

static struct doc d;
static json_t *errors, *root;
static enum svc_error err;

/* Decodes text; returns whether it was accepted. */
static bool decode(const char *text) {
  char detail[256];
  json_decref(root);
  json_decref(errors);
  memset(&d, 0, sizeof d);
  errors = json_array();
  err = SVC_ERR_internal_error;
  root = svc_body_decode(text, strlen(text), spec, sizeof spec / sizeof spec[0], &d, errors, &err, detail,
                         sizeof detail);
  return root != NULL;
}

/* Asserts the decode was refused with validation_failed and exactly one error (field, code). */
static void refused(const char *text, const char *field, const char *code) {
  ck_assert_msg(!decode(text), "accepted %s", text);
  ck_assert_msg(err == SVC_ERR_validation_failed, "%s: %s", text, svc_error_code(err));
  ck_assert_msg(json_array_size(errors) == 1, "%s: %zu errors", text, json_array_size(errors));
  json_t *e = json_array_get(errors, 0);
  ck_assert_str_eq(json_string_value(json_object_get(e, "field")), field);
  ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
  ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "message")));
}

static void teardown(void) {
  json_decref(root);
  json_decref(errors);
  root = errors = NULL;
}

START_TEST(accepts_each_type) {
  ck_assert(decode("{\"name\":\"abc\",\"flag\":false,\"n\":-2,\"addr\":\"0xAbCdEf0123456789abcdef0123456789ABCDEF01\","
                   "\"colour\":\"blue\",\"inner\":{\"depth\":3,\"owner\":\"0x00000000000000000000000000000000000000fF\"},"
                   "\"items\":[{\"kind\":\"sell\",\"amount\":\"" U256_MAX_DEC "\"},{\"kind\":\"buy\",\"amount\":\"max\"},"
                   "{\"kind\":\"buy\"}],\"prices\":{\"USDC\":\"100000000\",\"0xab\":\"0\"},"
                   "\"tags\":[\"0x1111111111111111111111111111111111111111\"]}"));
  ck_assert_str_eq(d.name, "abc");
  ck_assert(d.has_flag && !d.flag);
  ck_assert_int_eq(d.n, -2);
  ck_assert_str_eq(d.addr, "0xabcdef0123456789abcdef0123456789abcdef01");
  ck_assert_int_eq(d.colour, 2);
  ck_assert_int_eq(d.inner.depth, 3);
  ck_assert_str_eq(d.inner.owner, "0x00000000000000000000000000000000000000ff");
  ck_assert_uint_eq(d.n_items, 3);
  ck_assert_int_eq(d.items[0].kind, 1);
  ck_assert(d.items[0].has_amount && !d.items[0].is_max);
  for (int w = 0; w < 4; w++) ck_assert(d.items[0].amount.w[w] == UINT64_MAX);
  ck_assert(d.items[1].is_max && d.items[1].has_amount);
  ck_assert(!d.items[2].has_amount && !d.items[2].is_max);
  ck_assert_uint_eq(d.n_prices, 2);
  ck_assert_str_eq(d.prices[0].key, "USDC");
  ck_assert(d.prices[0].value.w[0] == 100000000u && d.prices[0].value.w[1] == 0);
  ck_assert_str_eq(d.prices[1].key, "0xab");
  ck_assert(u256_is_zero(d.prices[1].value));
  ck_assert_uint_eq(d.n_tags, 1);
  ck_assert_str_eq(d.tags[0].a, "0x1111111111111111111111111111111111111111");
  /* optional fields absent or null leave their flags clear */
  ck_assert(decode("{\"name\":\"x\",\"flag\":null,\"tags\":[\"0x1111111111111111111111111111111111111111\"]}"));
  ck_assert(!d.has_flag);
  ck_assert_uint_eq(d.n_items, 0);
}
END_TEST

#define TAGS ",\"tags\":[\"0x1111111111111111111111111111111111111111\"]"

START_TEST(rejects_each_type) {
  refused("{\"tags\":[\"0x1111111111111111111111111111111111111111\"]}", "name", "required");
  refused("{\"name\":null" TAGS "}", "name", "required");
  refused("{\"name\":5" TAGS "}", "name", "wrong_type");
  refused("{\"name\":\"\"" TAGS "}", "name", "out_of_range");
  refused("{\"name\":\"abcdef\"" TAGS "}", "name", "out_of_range");
  refused("{\"name\":\"a\",\"flag\":1" TAGS "}", "flag", "wrong_type");
  refused("{\"name\":\"a\",\"flag\":\"true\"" TAGS "}", "flag", "wrong_type");
  refused("{\"name\":\"a\",\"n\":11" TAGS "}", "n", "out_of_range");
  refused("{\"name\":\"a\",\"n\":-3" TAGS "}", "n", "out_of_range");
  refused("{\"name\":\"a\",\"n\":1.5" TAGS "}", "n", "wrong_type");
  refused("{\"name\":\"a\",\"n\":\"1\"" TAGS "}", "n", "wrong_type");
  refused("{\"name\":\"a\",\"addr\":\"0x123\"" TAGS "}", "addr", "invalid_address");
  refused("{\"name\":\"a\",\"addr\":\"0xAbCdEf0123456789abcdef0123456789ABCDEF0g\"" TAGS "}", "addr",
          "invalid_address");
  refused("{\"name\":\"a\",\"addr\":\"00AbCdEf0123456789abcdef0123456789ABCDEF01\"" TAGS "}", "addr",
          "invalid_address");
  refused("{\"name\":\"a\",\"addr\":\"0xAbCdEf0123456789abcdef0123456789ABCDEF011\"" TAGS "}", "addr",
          "invalid_address");
  refused("{\"name\":\"a\",\"addr\":7" TAGS "}", "addr", "wrong_type");
  refused("{\"name\":\"a\",\"colour\":\"Red\"" TAGS "}", "colour", "unknown_value");
  refused("{\"name\":\"a\",\"colour\":0" TAGS "}", "colour", "wrong_type");
  refused("{\"name\":\"a\",\"inner\":[]" TAGS "}", "inner", "wrong_type");
  refused("{\"name\":\"a\",\"tags\":[]}", "tags", "out_of_range");
  refused("{\"name\":\"a\",\"tags\":{}}", "tags", "wrong_type");
}
END_TEST

START_TEST(u256_boundary) {
  ck_assert(decode("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"0\"}]" TAGS "}"));
  ck_assert(u256_is_zero(d.items[0].amount));
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"" U256_TOO_BIG "\"}]" TAGS "}",
          "items[0].amount", "out_of_range");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"1" U256_MAX_DEC "\"}]" TAGS "}", "items[0].amount",
          "out_of_range");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"-1\"}]" TAGS "}", "items[0].amount",
          "not_an_integer");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"1e3\"}]" TAGS "}", "items[0].amount",
          "not_an_integer");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"\"}]" TAGS "}", "items[0].amount",
          "not_an_integer");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"MAX\"}]" TAGS "}", "items[0].amount",
          "not_an_integer");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":12}]" TAGS "}", "items[0].amount", "wrong_type");
  refused("{\"name\":\"a\",\"prices\":{\"DAI\":\"" U256_TOO_BIG "\"}" TAGS "}", "prices.DAI", "out_of_range");
}
END_TEST

START_TEST(nested_paths) {
  refused("{\"name\":\"a\",\"inner\":{}" TAGS "}", "inner.depth", "required");
  refused("{\"name\":\"a\",\"inner\":{\"depth\":4}" TAGS "}", "inner.depth", "out_of_range");
  refused("{\"name\":\"a\",\"inner\":{\"depth\":1,\"owner\":\"0x\"}" TAGS "}", "inner.owner", "invalid_address");
  refused("{\"name\":\"a\",\"inner\":{\"depth\":1,\"x\":1}" TAGS "}", "inner.x", "unknown_field");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\"},{\"kind\":\"buy\"},{\"kind\":\"hold\"}]" TAGS "}",
          "items[2].kind", "unknown_value");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\"},5]" TAGS "}", "items[1]", "wrong_type");
  refused("{\"name\":\"a\",\"items\":[{}]" TAGS "}", "items[0].kind", "required");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"colour\":\"red\"}]" TAGS "}", "items[0].colour",
          "unknown_field");
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\"},{\"kind\":\"buy\"},{\"kind\":\"buy\"},{\"kind\":\"buy\"}]" TAGS
          "}",
          "items", "out_of_range");
  refused("{\"name\":\"a\",\"prices\":{\"A\":\"1\",\"B\":\"2\",\"C\":\"3\"}" TAGS "}", "prices", "out_of_range");
  refused("{\"name\":\"a\",\"prices\":{\"A\":1}" TAGS "}", "prices.A", "wrong_type");
  refused("{\"name\":\"a\",\"tags\":[\"0x1111111111111111111111111111111111111111\",\"0x1\"]}", "tags[1]",
          "invalid_address");
  refused("{\"name\":\"a\",\"tags\":[null]}", "tags[0]", "required");
}
END_TEST

START_TEST(every_error_collected) {
  ck_assert(!decode("{\"name\":7,\"n\":99,\"addr\":\"x\",\"inner\":{\"depth\":0},\"colour\":\"pink\","
                    "\"items\":[{\"kind\":\"buy\",\"amount\":\"x\"}],\"extra\":true}"));
  ck_assert_int_eq(err, SVC_ERR_validation_failed);
  static const char *const want[][2] = {
      {"name", "wrong_type"},       {"n", "out_of_range"},         {"addr", "invalid_address"},
      {"colour", "unknown_value"},  {"inner.depth", "out_of_range"}, {"items[0].amount", "not_an_integer"},
      {"tags", "required"},         {"extra", "unknown_field"},
  };
  char *dump = json_dumps(errors, 0);
  ck_assert_msg(json_array_size(errors) == sizeof want / sizeof want[0], "%s", dump);
  free(dump);
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    json_t *e = json_array_get(errors, i);
    ck_assert_str_eq(json_string_value(json_object_get(e, "field")), want[i][0]);
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), want[i][1]);
  }
}
END_TEST

START_TEST(document_level) {
  ck_assert(!decode("{\"name\":\"a\",\"name\":\"b\"" TAGS "}"));
  ck_assert_int_eq(err, SVC_ERR_duplicate_json_key);
  ck_assert_uint_eq(json_array_size(errors), 0);
  ck_assert(!decode("{\"name\":\"a\",\"inner\":{\"depth\":1,\"depth\":2}" TAGS "}"));
  ck_assert_int_eq(err, SVC_ERR_duplicate_json_key);
  ck_assert(!decode("{\"name\":\"a\""));
  ck_assert_int_eq(err, SVC_ERR_malformed_json);
  ck_assert(!decode(""));
  ck_assert_int_eq(err, SVC_ERR_malformed_json);
  ck_assert(!decode("[1]"));
  ck_assert_int_eq(err, SVC_ERR_validation_failed);
  ck_assert(!decode("\"x\"")); /* jansson reads only an object or array at the top */
  ck_assert_int_eq(err, SVC_ERR_malformed_json);
}
END_TEST

int main(void) {
  Suite *s = suite_create("body");
  TCase *tc = tcase_create("reader");
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, accepts_each_type);
  tcase_add_test(tc, rejects_each_type);
  tcase_add_test(tc, u256_boundary);
  tcase_add_test(tc, nested_paths);
  tcase_add_test(tc, every_error_collected);
  tcase_add_test(tc, document_level);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
