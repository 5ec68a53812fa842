/* ctest-label: node */
/* chain/abi.c against npm ethers 6's Interface (tests/abi_vectors.mjs, seeded): calldata of the
 * indexer's calls, event topics, and decoding of the return shapes it reads (getReserveData's
 * static struct, getEModeCategoryData's struct with a string, getReservesList's address[], a
 * string). Truncated or inconsistent data must be refused, never read past. Missing node or
 * node_modules is a FAILURE, not a skip. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/abi.h"

static json_t *vec;

/* Run once in main, before Check forks the tests. */
static void load(void) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s' && timeout 120 node tests/abi_vectors.mjs 300", SPARKD_SOURCE_DIR);
  FILE *p = popen(cmd, "r");
  if (!p) {
    fputs("cannot run node\n", stderr);
    exit(EXIT_FAILURE);
  }
  json_error_t e;
  vec = json_loadf(p, 0, &e);
  int rc = pclose(p);
  if (!vec || rc != 0) {
    fprintf(stderr, "tests/abi_vectors.mjs failed (node and node_modules/ethers needed): %s\n", e.text);
    exit(EXIT_FAILURE);
  }
}

static const char *str(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  ck_assert_msg(s != NULL, "vector without %s", k);
  return s;
}

static void lower(char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'F') *s = (char)(*s - 'A' + 'a');
}

START_TEST(calldata_and_topics) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(vec, "calls"), i, c) {
    struct chain_abi_arg a = {0};
    if (strcmp(str(c, "kind"), "address") == 0) {
      a.kind = CHAIN_ABI_ADDRESS;
      a.address = str(c, "arg");
    } else {
      a.kind = CHAIN_ABI_UINT;
      a.value = u256_from_u64(strtoull(str(c, "arg"), NULL, 10));
    }
    char out[200];
    ck_assert(chain_abi_encode(str(c, "sig"), &a, 1, out, sizeof out));
    ck_assert_str_eq(out, str(c, "data"));
  }
  ck_assert_uint_gt(i, 1000); /* 300 vectors of 7 calls */
  json_array_foreach(json_object_get(vec, "topics"), i, c) {
    char t[67];
    chain_abi_topic(str(c, "sig"), t);
    ck_assert_str_eq(t, str(c, "topic"));
  }
  char small[20];
  struct chain_abi_arg a = {.kind = CHAIN_ABI_ADDRESS, .address = "0x12"};
  ck_assert(!chain_abi_encode("balanceOf(address)", &a, 1, small, sizeof small));
  char out[200];
  ck_assert(!chain_abi_encode("balanceOf(address)", &a, 1, out, sizeof out));
}
END_TEST

START_TEST(reserve_data) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(vec, "reserve_data"), i, c) {
    struct chain_abi_data d;
    ck_assert(chain_abi_from_hex(str(c, "data"), &d));
    ck_assert_uint_eq(d.n, 15 * 32);
    json_t *vals = json_object_get(c, "values");
    for (size_t k = 0; k < 15; k++) {
      const char *want = json_string_value(json_array_get(vals, k));
      if (k >= 8 && k <= 11) {
        char got[43], w[43];
        ck_assert(chain_abi_address(&d, 0, k, got));
        snprintf(w, sizeof w, "%s", want);
        lower(w);
        ck_assert_str_eq(got, w);
      } else {
        u256 v;
        char got[U256_DEC_MAX];
        ck_assert(chain_abi_word(&d, 0, k, &v));
        u256_to_dec(v, got);
        ck_assert_str_eq(got, want);
      }
    }
    uint64_t x;
    ck_assert(chain_abi_uint(&d, 0, 6, 40, &x)); /* uint40 fits */
    ck_assert(!chain_abi_word(&d, 0, 15, &(u256){0}));
    d.n -= 1; /* one byte short: the last word is gone */
    ck_assert(!chain_abi_word(&d, 0, 14, &(u256){0}));
    chain_abi_data_free(&d);
  }
}
END_TEST

START_TEST(emode_lists_strings) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(vec, "emode"), i, c) {
    struct chain_abi_data d;
    size_t t;
    uint64_t ltv, lt, lb;
    char src[43], label[128], w[43];
    ck_assert(chain_abi_from_hex(str(c, "data"), &d));
    ck_assert(chain_abi_offset(&d, 0, 0, &t));
    ck_assert(chain_abi_uint(&d, t, 0, 16, &ltv) && chain_abi_uint(&d, t, 1, 16, &lt) &&
              chain_abi_uint(&d, t, 2, 16, &lb));
    ck_assert_uint_eq(ltv, strtoull(str(c, "ltv"), NULL, 10));
    ck_assert_uint_eq(lt, strtoull(str(c, "lt"), NULL, 10));
    ck_assert_uint_eq(lb, strtoull(str(c, "lb"), NULL, 10));
    ck_assert(chain_abi_address(&d, t, 3, src));
    snprintf(w, sizeof w, "%s", str(c, "source"));
    lower(w);
    ck_assert_str_eq(src, w);
    ck_assert(chain_abi_string(&d, t, 4, label, sizeof label));
    ck_assert_str_eq(label, str(c, "label"));
    if (strlen(label) > 1) ck_assert(!chain_abi_string(&d, t, 4, label, strlen(label))); /* no room: refused */
    chain_abi_data_free(&d);
  }
  json_array_foreach(json_object_get(vec, "lists"), i, c) {
    struct chain_abi_data d;
    char(*list)[43];
    size_t n;
    ck_assert(chain_abi_from_hex(str(c, "data"), &d));
    ck_assert(chain_abi_address_array(&d, 0, 0, &list, &n));
    json_t *want = json_object_get(c, "list");
    ck_assert_uint_eq(n, json_array_size(want));
    for (size_t k = 0; k < n; k++) {
      char w[43];
      snprintf(w, sizeof w, "%s", json_string_value(json_array_get(want, k)));
      lower(w);
      ck_assert_str_eq(list[k], w);
    }
    free(list);
    if (n > 0) { /* the last element cut off: the array is refused */
      d.n -= 32;
      ck_assert(!chain_abi_address_array(&d, 0, 0, &list, &n));
    }
    chain_abi_data_free(&d);
  }
  json_array_foreach(json_object_get(vec, "strings"), i, c) {
    struct chain_abi_data d;
    char s[128];
    ck_assert(chain_abi_from_hex(str(c, "data"), &d));
    ck_assert(chain_abi_string(&d, 0, 0, s, sizeof s));
    ck_assert_str_eq(s, str(c, "text"));
    chain_abi_data_free(&d);
  }
  /* an offset or length pointing past the data */
  struct chain_abi_data d;
  ck_assert(chain_abi_from_hex("0x0000000000000000000000000000000000000000000000000000000000000040"
                               "0000000000000000000000000000000000000000000000000000000000000001",
                               &d));
  char s[8];
  ck_assert(!chain_abi_string(&d, 0, 0, s, sizeof s));
  chain_abi_data_free(&d);
  ck_assert(chain_abi_from_hex("0x0000000000000000000000000000000000000000000000000000000000000020"
                               "00000000000000000000000000000000000000000000000000000000000000ff",
                               &d));
  ck_assert(!chain_abi_string(&d, 0, 0, s, sizeof s));
  chain_abi_data_free(&d);
  ck_assert(!chain_abi_from_hex("0x123", &d));
  ck_assert(!chain_abi_from_hex("0xzz", &d));
}
END_TEST

int main(void) {
  load();
  Suite *s = suite_create("node_abi");
  TCase *tc = tcase_create("abi");
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, calldata_and_topics);
  tcase_add_test(tc, reserve_data);
  tcase_add_test(tc, emode_lists_strings);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
