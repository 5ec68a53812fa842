/* ctest-label: unit */
/* service/body.h, the one JSON body reader: each type's accept and reject cases, JSON paths of
 * nested fields in the errors, duplicate keys, unknown fields, and the u256 boundary (2^256-1
 * read, 2^256 refused). Expected values are written out by hand, not computed by the reader. */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "service/body.h"
#include "service/body_path.h"

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
    {.name = "amount",
     .type = SVC_BODY_U256,
     .offset = offsetof(struct item, amount),
     .given = SVC_BODY_FLAG(struct item, has_amount),
     .word = "max",
     .word_flag = SVC_BODY_FLAG(struct item, is_max)},
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
    {.name = "items",
     .type = SVC_BODY_ARRAY,
     .offset = D(items),
     .lo = 0,
     .hi = 3,
     .sub = item_spec,
     .nsub = 2,
     .elem_size = sizeof(struct item),
     .count_offset = D(n_items)},
    {.name = "prices",
     .type = SVC_BODY_MAP,
     .offset = D(prices),
     .lo = 0,
     .hi = 2,
     .sub = price_spec,
     .nsub = 1,
     .elem_size = sizeof(struct price),
     .count_offset = D(n_prices),
     .key_offset = offsetof(struct price, key)},
    {.name = "tags",
     .type = SVC_BODY_ARRAY,
     .required = true,
     .offset = D(tags),
     .lo = 1,
     .hi = 2,
     .sub = tag_spec,
     .nsub = 1,
     .elem_size = sizeof(((struct doc *)0)->tags[0]),
     .count_offset = D(n_tags)},
};
#undef D

#define U256_MAX_DEC "115792089237316195423570985008687907853269984665640564039457584007913129639935"
#define U256_TOO_BIG "115792089237316195423570985008687907853269984665640564039457584007913129639936"

static struct doc d;
static json_t *errors;
static struct svc_body *body;
static enum svc_error err;

/* Decodes text; returns whether it was accepted. */
static bool decode(const char *text) {
  char detail[256];
  svc_body_free(body);
  json_decref(errors);
  memset(&d, 0, sizeof d);
  errors = json_array();
  err = SVC_ERR_internal_error;
  body =
      svc_body_decode(text, strlen(text), spec, sizeof spec / sizeof spec[0], &d, errors, &err, detail, sizeof detail);
  return body != NULL;
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
  svc_body_free(body);
  json_decref(errors);
  body = NULL;
  errors = NULL;
}

START_TEST(accepts_each_type) {
  ck_assert(
      decode("{\"name\":\"abc\",\"flag\":false,\"n\":-2,\"addr\":\"0xAbCdEf0123456789abcdef0123456789ABCDEF01\","
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
  for (int w = 0; w < 4; w++)
    ck_assert(d.items[0].amount.w[w] == UINT64_MAX);
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
  refused("{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"" U256_TOO_BIG "\"}]" TAGS "}", "items[0].amount",
          "out_of_range");
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
      {"name", "wrong_type"},      {"n", "out_of_range"},           {"addr", "invalid_address"},
      {"colour", "unknown_value"}, {"inner.depth", "out_of_range"}, {"items[0].amount", "not_an_integer"},
      {"tags", "required"},        {"extra", "unknown_field"},
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

/* ---- both paths: the scanner must decline or fill byte for byte what jansson fills ---- */

/* A second spec for what doc lacks: a MAP of objects, arrays of enums and booleans, objects in
 * objects in array elements, a string of any length, the whole long long range, a required bool. */
struct leg {
  struct {
    long long qty;
    const char *note;
  } pos;
  bool live;
};
struct book {
  long long lo, hi;
  const char *memo;
  bool on;
  size_t n_sides, n_bits, n_legs;
  int sides[4];
  bool bits[3];
  struct {
    const char *key;
    struct leg leg;
  } legs[3];
};
static const struct svc_body_field pos_spec[] = {
    {.name = "qty", .type = SVC_BODY_INT, .required = true, .offset = 0, .lo = 0, .hi = 1000000},
    {.name = "note", .type = SVC_BODY_STRING, .offset = sizeof(long long)},
};
static const struct svc_body_field side_spec[] = {{.type = SVC_BODY_ENUM, .names = kinds}};
static const struct svc_body_field bit_spec[] = {{.type = SVC_BODY_BOOL}};
static const struct svc_body_field legv_spec[] = {
    {.name = "pos",
     .type = SVC_BODY_OBJECT,
     .required = true,
     .offset = offsetof(struct leg, pos) + sizeof(const char *),
     .sub = pos_spec,
     .nsub = 2},
    {.name = "live", .type = SVC_BODY_BOOL, .offset = offsetof(struct leg, live) + sizeof(const char *)},
};
#define B(m) offsetof(struct book, m)
static const struct svc_body_field book_spec[] = {
    {.name = "lo", .type = SVC_BODY_INT, .offset = B(lo), .lo = LLONG_MIN, .hi = LLONG_MAX},
    {.name = "hi", .type = SVC_BODY_INT, .offset = B(hi), .lo = LLONG_MIN, .hi = LLONG_MAX},
    {.name = "memo", .type = SVC_BODY_STRING, .offset = B(memo)},
    {.name = "on", .type = SVC_BODY_BOOL, .required = true, .offset = B(on)},
    {.name = "sides",
     .type = SVC_BODY_ARRAY,
     .offset = B(sides),
     .lo = 0,
     .hi = 4,
     .sub = side_spec,
     .nsub = 1,
     .elem_size = sizeof(int),
     .count_offset = B(n_sides)},
    {.name = "bits",
     .type = SVC_BODY_ARRAY,
     .offset = B(bits),
     .lo = 0,
     .hi = 3,
     .sub = bit_spec,
     .nsub = 1,
     .elem_size = sizeof(bool),
     .count_offset = B(n_bits)},
    {.name = "legs",
     .type = SVC_BODY_MAP,
     .offset = B(legs),
     .lo = 1,
     .hi = 3,
     .sub = legv_spec,
     .nsub = 2,
     .elem_size = sizeof(((struct book *)0)->legs[0]),
     .count_offset = B(n_legs),
     .key_offset = 0},
};
#undef B

/* Compares the strings both fillings point to by content, then clears those pointers in both so
 * that the rest can be compared byte for byte. */
static void strings_compared(const struct svc_body_field *fields, size_t n, char *a, char *b, const char *text) {
  for (size_t i = 0; i < n; i++) {
    const struct svc_body_field *f = &fields[i];
    switch (f->type) {
    case SVC_BODY_STRING: {
      const char **sa = (const char **)(a + f->offset), **sb = (const char **)(b + f->offset);
      ck_assert_msg(!*sa == !*sb && (!*sa || strcmp(*sa, *sb) == 0), "%s: %s differs", text, f->name);
      *sa = *sb = NULL;
      break;
    }
    case SVC_BODY_OBJECT: strings_compared(f->sub, f->nsub, a + f->offset, b + f->offset, text); break;
    case SVC_BODY_ARRAY:
    case SVC_BODY_MAP: {
      size_t count = *(size_t *)(a + f->count_offset);
      ck_assert_msg(count == *(size_t *)(b + f->count_offset), "%s: %s count differs", text, f->name);
      for (size_t e = 0; e < count; e++) {
        char *ea = a + f->offset + e * f->elem_size, *eb = b + f->offset + e * f->elem_size;
        if (f->type == SVC_BODY_MAP) {
          const char **ka = (const char **)(ea + f->key_offset), **kb = (const char **)(eb + f->key_offset);
          ck_assert_msg(*ka && *kb && strcmp(*ka, *kb) == 0, "%s: %s key %zu differs", text, f->name, e);
          *ka = *kb = NULL;
        }
        strings_compared(f->sub, f->nsub, ea, eb, text);
      }
      break;
    }
    default: break;
    }
  }
}

enum want {
  FAST, /* valid, and the scanner must take it */
  ANY,  /* valid; the scanner may decline (escapes it leaves to jansson, UTF-8) */
  BAD,  /* refused by jansson: the scanner must decline */
};
struct input {
  enum want want;
  const char *text;
};

/* Feeds text to the scanner alone, jansson alone and both in turn, and asserts they agree. */
static void both_paths(const struct svc_body_field *sp, size_t n, size_t size, const struct input *in) {
  const char *text = in->text;
  char *fast = calloc(1, size), *slow = calloc(1, size), *dflt = calloc(1, size), *zero = calloc(1, size);
  json_t *e_slow = json_array(), *e_dflt = json_array(), *e_fast = json_array();
  enum svc_error err_slow = SVC_ERR_internal_error, err_dflt = SVC_ERR_internal_error,
                 err_fast = SVC_ERR_internal_error;
  char detail[256];
  size_t len = strlen(text);
  struct svc_body *bf =
      svc_body_decode_path(SVC_BODY_PATH_FAST_ONLY, text, len, sp, n, fast, e_fast, &err_fast, detail, sizeof detail);
  struct svc_body *bs =
      svc_body_decode_path(SVC_BODY_PATH_SLOW_ONLY, text, len, sp, n, slow, e_slow, &err_slow, detail, sizeof detail);
  struct svc_body *bd = svc_body_decode(text, len, sp, n, dflt, e_dflt, &err_dflt, detail, sizeof detail);
  ck_assert_msg(!!bs == (in->want != BAD), "jansson %s %s", bs ? "accepted" : "refused", text);
  ck_assert_msg(!!bd == !!bs, "the default path disagrees with jansson on %s", text);
  ck_assert_msg(err_dflt == err_slow && json_equal(e_dflt, e_slow), "the default path's errors differ on %s", text);
  if (in->want == FAST) ck_assert_msg(bf != NULL, "the scanner declined %s", text);
  char *slow2 = malloc(size); /* strings_compared clears pointers: one copy of jansson's filling per comparison */
  memcpy(slow2, slow, size);
  if (bd) {
    strings_compared(sp, n, dflt, slow, text);
    ck_assert_msg(memcmp(dflt, slow, size) == 0, "the default path filled other bytes: %s", text);
  }
  if (bf) {
    ck_assert_msg(bs != NULL, "the scanner accepted what jansson refuses: %s", text);
    ck_assert_msg(json_array_size(e_fast) == 0, "%s", text);
    ck_assert_uint_eq(svc_body_members(bf), svc_body_members(bs));
    strings_compared(sp, n, fast, slow2, text);
  } else {
    ck_assert_msg(memcmp(fast, zero, size) == 0, "a declined scan left writes behind: %s", text);
    ck_assert_msg(json_array_size(e_fast) == 0 && err_fast == SVC_ERR_internal_error, "%s", text);
  }
  if (bf) ck_assert_msg(memcmp(fast, slow2, size) == 0, "the scanner filled other bytes than jansson: %s", text);
  free(slow2);
  svc_body_free(bf);
  svc_body_free(bs);
  svc_body_free(bd);
  json_decref(e_slow);
  json_decref(e_dflt);
  json_decref(e_fast);
  free(fast);
  free(slow);
  free(dflt);
  free(zero);
}

#define A1 "\"0x1111111111111111111111111111111111111111\""
#define T1 ",\"tags\":[" A1 "]"
static const struct input doc_inputs[] = {
    /* every type, nesting, arrays of objects, value arrays, a map, `word` */
    {FAST, "{\"name\":\"abc\",\"flag\":false,\"n\":-2,\"addr\":\"0xAbCdEf0123456789abcdef0123456789ABCDEF01\","
           "\"colour\":\"blue\",\"inner\":{\"depth\":3,\"owner\":\"0x00000000000000000000000000000000000000fF\"},"
           "\"items\":[{\"kind\":\"sell\",\"amount\":\"" U256_MAX_DEC "\"},{\"kind\":\"buy\",\"amount\":\"max\"},"
           "{\"kind\":\"buy\"}],\"prices\":{\"USDC\":\"100000000\",\"0xab\":\"0\"},\"tags\":[" A1 "," A1 "]}"},
    {FAST, "{\"tags\":[" A1 "],\"name\":\"x\"}"},
    {FAST, "{\"name\":\"x\",\"flag\":null,\"n\":null,\"addr\":null,\"colour\":null,\"inner\":null,\"items\":null,"
           "\"prices\":null" T1 "}"},
    {FAST, "{\"name\":\"x\",\"flag\":true,\"n\":10,\"items\":[],\"prices\":{}" T1 "}"},
    {FAST, "{\"name\":\"x\",\"n\":0,\"inner\":{\"depth\":1}" T1 "}"},
    {FAST, "{\"name\":\"x\",\"n\":-0" T1 "}"},
    {FAST, " \t\r\n{ \"name\" : \"x\" ,\n\t\"items\" : [ { \"kind\" : \"buy\" , \"amount\" : \"7\" } ] ,"
           "\"prices\" : { \"A\" : \"1\" } , \"tags\" : [ " A1 " ] } \n "},
    {FAST, "{\"name\":\"a\\\"b\\\\\"" T1 "}"},
    {FAST, "{\"name\":\"\\/\\b\\f\\n\\r\"" T1 "}"},
    {FAST, "{\"name\":\"\\t\",\"prices\":{\"a\\nb\":\"1\",\"a\\tb\":\"2\"}" T1 "}"},
    {FAST, "{\"name\":\"x\",\"items\":[{\"kind\":\"buy\",\"amount\":\"0\"},{\"kind\":\"sell\",\"amount\":\"max\"},"
           "{\"amount\":\"00012\",\"kind\":\"buy\"}]" T1 "}"},
    {FAST, "{\"name\":\"x\",\"items\":[{\"kind\":\"buy\",\"amount\":null}]" T1 "}"},
    {FAST, "{\"name\":\"x\x7f\"" T1 "}"},
    {ANY, "{\"name\":\"\\u0041\"" T1 "}"},
    {ANY, "{\"name\":\"\\u00e9\"" T1 "}"},
    {ANY, "{\"name\":\"\xc3\xa9\"" T1 "}"},
    {ANY, "{\"name\":\"\\ud83d\\ude00\"" T1 "}"},
    {ANY, "{\"name\":\"x\",\"prices\":{\"\\u0041\":\"1\"}" T1 "}"},
    {BAD, "{\"name\":\"x\",\"n\":1e0" T1 "}"}, /* a real, not an integer */
    /* invalid: duplicates, unknown fields, bad types, out of range */
    {BAD, "{\"name\":\"a\",\"name\":\"b\"" T1 "}"},
    {BAD, "{\"name\":\"a\",\"name\":null" T1 "}"},
    {BAD, "{\"name\":\"a\",\"inner\":{\"depth\":1,\"depth\":2}" T1 "}"},
    {BAD, "{\"name\":\"a\",\"prices\":{\"A\":\"1\",\"A\":\"2\"}" T1 "}"},
    {BAD, "{\"name\":\"a\",\"prices\":{\"A\":\"1\",\"\\u0041\":\"2\"}" T1 "}"},
    {BAD, "{\"name\":\"a\",\"x\":1" T1 "}"},
    {BAD, "{\"name\":\"a\",\"x\":null" T1 "}"},
    {BAD, "{\"name\":\"a\",\"inner\":{\"depth\":1,\"x\":{\"y\":[1]}}" T1 "}"},
    {BAD, "{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"colour\":\"red\"}]" T1 "}"},
    {BAD, "{\"name\":5" T1 "}"},
    {BAD, "{\"name\":\"a\",\"flag\":1" T1 "}"},
    {BAD, "{\"name\":\"a\",\"flag\":\"true\"" T1 "}"},
    {BAD, "{\"name\":\"a\",\"n\":\"1\"" T1 "}"},
    {BAD, "{\"name\":\"a\",\"n\":1.0" T1 "}"},
    {BAD, "{\"name\":\"a\",\"n\":11" T1 "}"},
    {BAD, "{\"name\":\"a\",\"n\":-3" T1 "}"},
    {BAD, "{\"name\":\"a\",\"n\":01" T1 "}"},
    {BAD, "{\"name\":\"a\",\"n\":-" T1 "}"},
    {BAD, "{\"name\":\"a\",\"n\":+1" T1 "}"},
    {BAD, "{\"name\":\"a\",\"n\":99999999999999999999" T1 "}"},
    {BAD, "{\"name\":\"\"" T1 "}"},
    {BAD, "{\"name\":\"abcdef\"" T1 "}"},
    {BAD, "{\"name\":null" T1 "}"},
    {BAD, "{\"tags\":[" A1 "]}"},
    {BAD, "{\"name\":\"a\",\"addr\":\"0x123\"" T1 "}"},
    {BAD, "{\"name\":\"a\",\"addr\":\"0xAbCdEf0123456789abcdef0123456789ABCDEF0g\"" T1 "}"},
    {BAD, "{\"name\":\"a\",\"colour\":\"Red\"" T1 "}"},
    {BAD, "{\"name\":\"a\",\"colour\":0" T1 "}"},
    {BAD, "{\"name\":\"a\",\"inner\":[]" T1 "}"},
    {BAD, "{\"name\":\"a\",\"inner\":{}" T1 "}"},
    {BAD, "{\"name\":\"a\",\"items\":[{\"kind\":\"buy\"},5]" T1 "}"},
    {BAD, "{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"" U256_TOO_BIG "\"}]" T1 "}"},
    {BAD, "{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"MAX\"}]" T1 "}"},
    {BAD, "{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":\"\"}]" T1 "}"},
    {BAD, "{\"name\":\"a\",\"items\":[{\"kind\":\"buy\",\"amount\":12}]" T1 "}"},
    {BAD,
     "{\"name\":\"a\",\"items\":[{\"kind\":\"buy\"},{\"kind\":\"buy\"},{\"kind\":\"buy\"},{\"kind\":\"buy\"}]" T1 "}"},
    {BAD, "{\"name\":\"a\",\"prices\":{\"A\":\"1\",\"B\":\"2\",\"C\":\"3\"}" T1 "}"},
    {BAD, "{\"name\":\"a\",\"prices\":{\"A\":null}" T1 "}"},
    {BAD, "{\"name\":\"a\",\"tags\":[]}"},
    {BAD, "{\"name\":\"a\",\"tags\":[null]}"},
    {BAD, "{\"name\":\"a\",\"tags\":{}}"},
    /* malformed, truncated, trailing garbage, deep nesting */
    {BAD, ""},
    {BAD, "   "},
    {BAD, "[1]"},
    {BAD, "\"x\""},
    {BAD, "{\"name\":\"a\"" T1},
    {BAD, "{\"name\":\"a"},
    {BAD, "{\"name\":\"a\"" T1 "}x"},
    {BAD, "{\"name\":\"a\"" T1 "}{}"},
    {BAD, "{\"name\":\"a\"" T1 ",}"},
    {BAD, "{\"name\":\"a\",\"items\":[{\"kind\":\"buy\"},]" T1 "}"},
    {BAD, "{\"name\":\"a\",,\"flag\":true" T1 "}"},
    {BAD, "{\"name\" \"a\"" T1 "}"},
    {BAD, "{'name':\"a\"" T1 "}"},
    {BAD, "{\"name\":\"a\",\"flag\":tru" T1 "}"},
    {BAD, "{\"name\":\"a\",\"flag\":truex" T1 "}"},
    {BAD, "{\"name\":\"a\",\"flag\":nul" T1 "}"},
    {BAD, "{\"name\":\"a\tb\"" T1 "}"},
    {BAD, "{\"name\":\"a\\x\"" T1 "}"},
    {BAD, "{\"name\":\"\\u0000\"" T1 "}"},
    {BAD, "{\"name\":\"\\ud800\"" T1 "}"},
    {BAD, "{\"name\":\"\xff\"" T1 "}"},
    {BAD, "{\"name\":\"\xc0\xaf\"" T1 "}"},
    {BAD,
     "{\"name\":\"a\",\"inner\":{\"depth\":1,\"owner\":{\"a\":{\"b\":{\"c\":{\"d\":[[[[[[[[[[[[]]]]]]]]]]]]}}}}}" T1
     "}"},
    {BAD, "{\"name\":\"a\",\"items\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"
          "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]" T1 "}"},
};

#define L1 ",\"legs\":{\"a\":{\"pos\":{\"qty\":1}}}"
static const struct input book_inputs[] = {
    {FAST, "{\"lo\":-9223372036854775808,\"hi\":9223372036854775807,\"on\":true" L1 "}"},
    {FAST, "{\"lo\":0,\"hi\":-1,\"memo\":\"\",\"on\":false,\"sides\":[\"sell\",\"buy\",\"sell\",\"buy\"],"
           "\"bits\":[true,false,true],\"legs\":{\"z\":{\"pos\":{\"qty\":1000000,\"note\":\"n\"},\"live\":true},"
           "\"a\":{\"live\":false,\"pos\":{\"note\":null,\"qty\":0}},\"\":{\"pos\":{\"qty\":5},\"live\":null}}}"},
    {FAST,
     "{\"on\":true,\"memo\":\"a long memo with no upper bound at all, 0123456789012345678901234567890123456789\"" L1
     "}"},
    {FAST, "{\"on\":true,\"sides\":[],\"bits\":[ false ]" L1 "}"},
    {BAD, "{\"lo\":-9223372036854775809,\"on\":true" L1 "}"},
    {BAD, "{\"hi\":9223372036854775808,\"on\":true" L1 "}"},
    {BAD, "{\"hi\":18446744073709551616,\"on\":true" L1 "}"},
    {BAD, "{\"on\":null" L1 "}"},
    {FAST, "{\"on\":true}"}, /* legs is optional; its lower bound holds only when given */
    {BAD, "{\"on\":true,\"legs\":{}}"},
    {BAD, "{\"on\":true,\"legs\":{\"a\":1}}"},
    {BAD, "{\"on\":true,\"legs\":{\"a\":{\"pos\":{}}}}"},
    {BAD, "{\"on\":true,\"legs\":{\"a\":{\"pos\":{\"qty\":1000001}}}}"},
    {BAD, "{\"on\":true,\"legs\":{\"a\":{\"pos\":{\"qty\":1},\"x\":1}}}"},
    {BAD, "{\"on\":true,\"legs\":{\"a\":{\"pos\":{\"qty\":1}},\"b\":{\"pos\":{\"qty\":1}},\"c\":{\"pos\":{\"qty\":1}},"
          "\"d\":{\"pos\":{\"qty\":1}}}}"},
    {BAD, "{\"on\":true,\"sides\":[\"buy\",\"hold\"]" L1 "}"},
    {BAD, "{\"on\":true,\"sides\":[\"buy\",null]" L1 "}"},
    {BAD, "{\"on\":true,\"bits\":[true,true,true,true]" L1 "}"},
    {BAD, "{\"on\":true,\"bits\":[1]" L1 "}"},
    {BAD, "{\"on\":true,\"memo\":[]" L1 "}"},
};

START_TEST(fast_and_slow_agree) {
  for (size_t i = 0; i < sizeof doc_inputs / sizeof doc_inputs[0]; i++)
    both_paths(spec, sizeof spec / sizeof spec[0], sizeof(struct doc), &doc_inputs[i]);
  for (size_t i = 0; i < sizeof book_inputs / sizeof book_inputs[0]; i++)
    both_paths(book_spec, sizeof book_spec / sizeof book_spec[0], sizeof(struct book), &book_inputs[i]);
}
END_TEST

/* A top-level member count for the PATCH "nothing to change" check, nulls included. */
START_TEST(members_counted) {
  static const char *const texts[] = {"{}", "{\"flag\":null}", "{\"name\":\"a\",\"flag\":null}"};
  static const size_t want[] = {0, 1, 2};
  struct svc_body_field opt[sizeof spec / sizeof spec[0]];
  memcpy(opt, spec, sizeof opt);
  for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
    opt[i].required = false;
  for (int path = SVC_BODY_PATH_FAST_ONLY; path <= SVC_BODY_PATH_SLOW_ONLY; path++)
    for (size_t i = 0; i < 3; i++) {
      char detail[64];
      json_t *e = json_array();
      struct doc x = {0};
      struct svc_body *b = svc_body_decode_path(path, texts[i], strlen(texts[i]), opt, sizeof opt / sizeof opt[0], &x,
                                                e, &err, detail, sizeof detail);
      ck_assert_ptr_nonnull(b);
      ck_assert_uint_eq(svc_body_members(b), want[i]);
      svc_body_free(b);
      json_decref(e);
    }
}
END_TEST

/* A no_null field may be omitted, but null is refused (wrong_type) on both paths, the fast one
 * declining to the slow one; a field without it still reads null as absent. */
START_TEST(no_null_refused) {
  struct svc_body_field opt[sizeof spec / sizeof spec[0]];
  memcpy(opt, spec, sizeof opt);
  for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
    opt[i].no_null = strcmp(opt[i].name, "flag") == 0;
  static const char *const texts[] = {"{\"name\":\"a\",\"flag\":null" TAGS "}", "{\"name\":\"a\"" TAGS "}",
                                      "{\"name\":\"a\",\"n\":null" TAGS "}"};
  static const bool ok[] = {false, true, true};
  static const enum svc_body_path paths[] = {SVC_BODY_PATH_BOTH, SVC_BODY_PATH_SLOW_ONLY};
  for (size_t p = 0; p < 2; p++)
    for (size_t i = 0; i < 3; i++) {
      enum svc_body_path path = paths[p];
      char detail[64];
      json_t *e = json_array();
      struct doc x = {0};
      struct svc_body *b = svc_body_decode_path(path, texts[i], strlen(texts[i]), opt, sizeof opt / sizeof opt[0], &x,
                                                e, &err, detail, sizeof detail);
      ck_assert_msg((b != NULL) == ok[i], "path %d: %s", path, texts[i]);
      if (!ok[i]) {
        ck_assert_uint_eq(json_array_size(e), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, 0), "field")), "flag");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, 0), "code")), "wrong_type");
      }
      svc_body_free(b);
      json_decref(e);
    }
  /* the fast path alone declines it rather than read null as absent */
  char detail[64];
  json_t *e = json_array();
  struct doc x = {0};
  ck_assert_ptr_null(svc_body_decode_path(SVC_BODY_PATH_FAST_ONLY, texts[0], strlen(texts[0]), opt,
                                          sizeof opt / sizeof opt[0], &x, e, &err, detail, sizeof detail));
  json_decref(e);
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
  tcase_add_test(tc, fast_and_slow_agree);
  tcase_add_test(tc, members_counted);
  tcase_add_test(tc, no_null_refused);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
