/* ctest-label: unit */
/* The streaming parse (chain_snapshot_stream) against the in-memory one (chain_snapshot_reader +
 * chain_snapshot_parse), which is the reference: on every input both must split the same pieces,
 * at the same lines, with the same problems word for word, or equal snapshots. Inputs: the
 * fixture (pretty, compact, NDJSON, leading blank lines), generated documents with thousands of
 * accounts and problems late in them, every prefix of a document, and bytes changed at random
 * places (seeded); reads are cut into chunks of 1, 7 and 64 KiB bytes. Then the memory: jansson's
 * own allocations counted (json_set_alloc_funcs) for two document sizes. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/snapshot.h"

#define FIXTURE SPARKD_SOURCE_DIR "/tests/fixtures/snapshot_basic.json"
#define MAXP 8

struct piece {
  unsigned line;
  struct chain_snapshot_errors errs;
  struct chain_snapshot *s;
};

struct mem_src {
  const char *p;
  size_t len, pos, chunk;
};
static size_t read_mem(void *buf, size_t cap, void *arg) {
  struct mem_src *m = arg;
  size_t k = m->len - m->pos;
  if (k > cap) k = cap;
  if (k > m->chunk) k = m->chunk;
  memcpy(buf, m->p + m->pos, k);
  m->pos += k;
  return k;
}

static unsigned by_reader(const char *t, size_t len, struct piece *out) {
  struct chain_snapshot_reader rd;
  chain_snapshot_reader_init(&rd, t, len);
  const char *p;
  size_t n;
  unsigned k = 0;
  while (k < MAXP && chain_snapshot_reader_next(&rd, &p, &n)) {
    memset(&out[k].errs, 0, sizeof out[k].errs);
    out[k].s = chain_snapshot_parse(p, n, &out[k].errs);
    out[k].line = rd.line;
    k++;
  }
  return k;
}

static unsigned by_stream(const char *t, size_t len, size_t chunk, struct piece *out, size_t *peak) {
  struct mem_src m = {t, len, 0, chunk};
  struct chain_snapshot_stream *st = chain_snapshot_stream_new(read_mem, &m);
  ck_assert_ptr_nonnull(st);
  unsigned k = 0;
  while (k < MAXP) {
    memset(&out[k].errs, 0, sizeof out[k].errs);
    int got = chain_snapshot_stream_next(st, &out[k].s, &out[k].errs);
    ck_assert_int_ge(got, 0);
    if (got == 0) break;
    out[k].line = chain_snapshot_stream_line(st);
    k++;
  }
  if (peak) *peak = chain_snapshot_stream_peak_bytes(st);
  chain_snapshot_stream_free(st);
  return k;
}

#define SAME_ARR(f, n)                                                                                                 \
  do {                                                                                                                 \
    ck_assert_uint_eq(a->n, b->n);                                                                                     \
    if (a->n) ck_assert_msg(memcmp(a->f, b->f, a->n * sizeof *a->f) == 0, "%s differ (%s)", #f, what);                 \
  } while (0)

static void same_snapshot(const struct chain_snapshot *a, const struct chain_snapshot *b, const char *what) {
  ck_assert_uint_eq(a->chain_id, b->chain_id);
  ck_assert_uint_eq(a->block_number, b->block_number);
  ck_assert_str_eq(a->block_hash, b->block_hash);
  ck_assert_uint_eq(a->block_timestamp, b->block_timestamp);
  ck_assert(a->has_assets == b->has_assets && a->has_reserves == b->has_reserves && a->has_emode == b->has_emode);
  ck_assert(a->has_prices == b->has_prices && a->has_accounts == b->has_accounts && a->has_vaults == b->has_vaults);
  ck_assert(a->has_ll == b->has_ll && a->has_kill_switch == b->has_kill_switch);
  ck_assert(a->accounts_full == b->accounts_full && a->ks_triggered == b->ks_triggered);
  ck_assert_str_eq(a->alm_proxy, b->alm_proxy);
  ck_assert_str_eq(a->ks_address, b->ks_address);
  SAME_ARR(assets, n_assets);
  SAME_ARR(reserves, n_reserves);
  SAME_ARR(emode, n_emode);
  SAME_ARR(prices, n_prices);
  SAME_ARR(vaults, n_vaults);
  SAME_ARR(venues, n_venues);
  SAME_ARR(allocations, n_allocations);
  SAME_ARR(idle, n_idle);
  SAME_ARR(rate_limits, n_rate_limits);
  SAME_ARR(oracles, n_oracles);
  ck_assert_uint_eq(a->n_accounts, b->n_accounts);
  struct chain_snap_account_iter ia, ib;
  ck_assert(chain_snapshot_accounts_begin(a, &ia) && chain_snapshot_accounts_begin(b, &ib));
  for (size_t i = 0; i < a->n_accounts; i++) {
    const struct chain_snap_account *x = chain_snapshot_accounts_next(&ia), *y = chain_snapshot_accounts_next(&ib);
    ck_assert_msg(x && y, "account %zu missing (%s)", i, what);
    ck_assert_str_eq(x->address, y->address);
    ck_assert_uint_eq(x->emode_category, y->emode_category);
    ck_assert_uint_eq(x->n_positions, y->n_positions);
    for (uint32_t j = 0; j < x->n_positions; j++) {
      const struct chain_snap_position *p = &x->positions[j], *q = &y->positions[j];
      ck_assert_str_eq(p->asset, q->asset);
      ck_assert(u256_eq(p->scaled_a_token_balance, q->scaled_a_token_balance));
      ck_assert(u256_eq(p->scaled_variable_debt, q->scaled_variable_debt));
      ck_assert(p->collateral == q->collateral);
      ck_assert_uint_eq(p->json_index, q->json_index);
    }
  }
  ck_assert_ptr_null(chain_snapshot_accounts_next(&ia));
  ck_assert_ptr_null(chain_snapshot_accounts_next(&ib));
  ck_assert(!ia.failed && !ib.failed);
  chain_snapshot_accounts_end(&ia);
  chain_snapshot_accounts_end(&ib);
}

/* Both ways, for each chunk size; returns the number of pieces. */
static unsigned compare(const char *t, size_t len, const char *what) {
  static const size_t chunks[] = {65536, 7, 1};
  struct piece want[MAXP], got[MAXP];
  unsigned nw = by_reader(t, len, want);
  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    if (chunks[c] == 1 && len > 20000) continue; /* byte by byte only for the small ones */
    unsigned ng = by_stream(t, len, chunks[c], got, NULL);
    ck_assert_msg(ng == nw, "%s: %u pieces streamed, %u in memory", what, ng, nw);
    for (unsigned k = 0; k < nw; k++) {
      ck_assert_msg(got[k].line == want[k].line, "%s: piece %u line %u, in memory %u", what, k, got[k].line,
                    want[k].line);
      ck_assert_msg(got[k].errs.n == want[k].errs.n && got[k].errs.dropped == want[k].errs.dropped,
                    "%s: piece %u: %u+%u problems streamed, %u+%u in memory (first: %s / %s)", what, k, got[k].errs.n,
                    got[k].errs.dropped, want[k].errs.n, want[k].errs.dropped, got[k].errs.n ? got[k].errs.msg[0] : "",
                    want[k].errs.n ? want[k].errs.msg[0] : "");
      for (unsigned i = 0; i < want[k].errs.n; i++)
        ck_assert_msg(strcmp(got[k].errs.msg[i], want[k].errs.msg[i]) == 0, "%s: problem %u: \"%s\" streamed, \"%s\"",
                      what, i, got[k].errs.msg[i], want[k].errs.msg[i]);
      ck_assert((got[k].s == NULL) == (want[k].s == NULL));
      if (want[k].s) {
        ck_assert_ptr_null(want[k].s->spool);
        ck_assert(want[k].s->n_accounts == 0 || got[k].s->spool != NULL);
        same_snapshot(got[k].s, want[k].s, what);
      }
      chain_snapshot_free(got[k].s);
    }
  }
  for (unsigned k = 0; k < nw; k++)
    chain_snapshot_free(want[k].s);
  return nw;
}
static unsigned compare_str(const char *t, const char *what) { return compare(t, strlen(t), what); }

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* The fixture with its accounts replaced by n generated ones (two positions each, over the
 * fixture's reserves); bad_at >= 0 gives that account a bad address. */
static json_t *generated(size_t n, long bad_at, long dup_of) {
  json_error_t e;
  json_t *j = json_load_file(FIXTURE, JSON_REJECT_DUPLICATES, &e);
  ck_assert_msg(j != NULL, "%s", e.text);
  json_t *res = json_object_get(j, "reserves");
  json_t *acc = json_array();
  for (size_t i = 0; i < n; i++) {
    char addr[43];
    size_t who = dup_of >= 0 && i == n - 1 ? (size_t)dup_of : i;
    snprintf(addr, sizeof addr, "0x%040zx", who * 2654435761u + 1);
    if ((long)i == bad_at) addr[10] = 'g';
    json_t *pos = json_array();
    for (size_t k = 0; k < 2; k++) {
      json_t *r = json_array_get(res, (i + k) % json_array_size(res));
      char amt[40];
      snprintf(amt, sizeof amt, "%zu000000000000000000", i * 7 + k + 1);
      json_array_append_new(pos, json_pack("{s:O, s:s, s:s, s:b}", "asset", json_object_get(r, "asset"),
                                           "scaled_a_token_balance", k ? "0" : amt, "scaled_variable_debt",
                                           k ? amt : "0", "collateral", k == 0));
    }
    json_array_append_new(acc, json_pack("{s:s, s:i, s:o}", "address", addr, "emode_category", 0, "positions", pos));
  }
  json_object_set_new(j, "accounts", acc);
  return j;
}

static char *dump(const json_t *j, size_t flags) {
  char *t = json_dumps(j, flags | JSON_PRESERVE_ORDER);
  ck_assert_ptr_nonnull(t);
  char *c = strdup(t); /* freed with free() whatever allocator jansson has */
  json_free_t f;
  json_get_alloc_funcs(NULL, &f);
  f(t);
  return c;
}

START_TEST(test_fixture_ways) {
  size_t len;
  char *pretty = slurp(FIXTURE, &len);
  ck_assert_uint_eq(compare(pretty, len, "pretty fixture"), 1);
  json_t *j = json_loads(pretty, 0, NULL);
  char *compact = dump(j, JSON_COMPACT);
  size_t cl = strlen(compact);
  char *buf = malloc(4 * len + 4 * cl + 64);
  /* one line with a newline after it: NDJSON of one */
  sprintf(buf, "%s\n", compact);
  ck_assert_uint_eq(compare_str(buf, "compact + newline"), 1);
  /* NDJSON with blank lines, a broken line and a good one after it */
  sprintf(buf, "\n  \n%s\n\r\n %s \n{\"format\": 1}\n%s", compact, compact, compact);
  ck_assert_uint_eq(compare_str(buf, "ndjson"), 4);
  /* leading blank lines before a pretty document (they count in jansson's line numbers) */
  sprintf(buf, "\n \n\t\n%s", pretty);
  ck_assert_uint_eq(compare_str(buf, "blank lines + pretty"), 1);
  sprintf(buf, "\n\n  %s x", pretty);
  ck_assert_uint_eq(compare_str(buf, "pretty + junk"), 1);
  sprintf(buf, "\n\n%s x\n", compact);
  ck_assert_uint_eq(compare_str(buf, "compact + junk on its line"), 1);
  sprintf(buf, "%s\n%s", pretty, pretty);
  ck_assert_uint_eq(compare_str(buf, "two pretty documents"), 1);
  static const char *const small[] = {"",
                                      "   \n\t ",
                                      "[]",
                                      "{}",
                                      "1",
                                      "\"x\"",
                                      "{\"accounts\": 5}",
                                      "{\"accounts\": [1, \"a\", null, [], {}]}",
                                      "{\"accounts\": [{}, {\"a\":1,\"a\":2}]}",
                                      "{\"\\u0061ccounts\": [{\"address\": 1}], \"accounts_mode\": \"full\"}",
                                      "{\"accounts\": [{\"address\": \"0x\\u00e9\"}], \"accounts\": []}",
                                      "{\"accounts\": [{\"x\": \"\xc3\xa9\xc3\xa9\xc3\xa9\"}  x]}",
                                      "{\"accounts\": [{\n}x]}",
                                      "{\"accounts\": [{\"a\":\"\n\"}]}",
                                      "{\"accounts\": [{",
                                      "{\"accounts\": [{}]",
                                      "{\"accounts\": [\xff]}",
                                      "{\"a\": [{\"accounts\": [{}]}]}"};
  for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
    compare_str(small[i], small[i]);
  /* streamed elements, then one that is not an object: it and the rest come from jansson's tree */
  compare_str("{\"accounts\": [{\"address\": \"0x1\"}, {\"emode_category\": 300}, 5, {\"address\": 1},\n"
              " {\"positions\": {}}], \"accounts_mode\": \"delta\"}",
              "tail after streamed elements");
  /* an element nested deeper than the stream holds back (left to the tree), then a normal one */
  char deep[1024] = "{\"accounts\": [{\"positions\": [{\"x\": ";
  for (int i = 0; i < 80; i++)
    strcat(deep, "[");
  for (int i = 0; i < 80; i++)
    strcat(deep, "]");
  strcat(deep, "}]}, {\"address\": \"0x2\"}]}");
  compare_str(deep, "deep element");
  free(buf);
  free(compact);
  free(pretty);
  json_decref(j);
}
END_TEST

/* Every prefix of a document with a few accounts, and bytes changed or removed here and there. */
START_TEST(test_prefixes_and_mutations) {
  json_t *j = generated(6, -1, -1);
  char *t = dump(j, JSON_INDENT(1));
  size_t len = strlen(t);
  char *m = malloc(len + 2);
  char what[64];
  for (size_t k = 0; k <= len; k += 3) {
    snprintf(what, sizeof what, "prefix %zu", k);
    memcpy(m, t, k);
    compare(m, k, what);
  }
  static const char alphabet[] = "{}[],:\"\\0a1-. \n\xc3\xff";
  unsigned seed = 13;
  for (int round = 0; round < 1500; round++) {
    seed = seed * 1103515245u + 12345u;
    size_t at = (seed >> 8) % len;
    char c = alphabet[(seed >> 4) % (sizeof alphabet - 1)];
    memcpy(m, t, len + 1);
    size_t ml = len;
    if (round % 3 == 2) { /* removed */
      memmove(m + at, m + at + 1, len - at);
      ml--;
    } else {
      m[at] = c;
    }
    snprintf(what, sizeof what, "round %d: byte %zu", round, at);
    compare(m, ml, what);
  }
  free(m);
  free(t);
  json_decref(j);
}
END_TEST

/* Thousands of accounts: good, one bad address at the very end, more problems than are kept,
 * and a duplicate of the first account as the last. */
START_TEST(test_generated_documents) {
  const size_t n = 5000;
  json_t *good = generated(n, -1, -1);
  char *t = dump(good, JSON_COMPACT);
  compare_str(t, "5000 accounts compact");
  free(t);
  t = dump(good, JSON_INDENT(2));
  compare_str(t, "5000 accounts pretty");
  free(t);
  json_t *late = generated(n, (long)n - 1, -1);
  t = dump(late, JSON_COMPACT);
  struct piece p[MAXP];
  ck_assert_uint_eq(by_stream(t, strlen(t), 65536, p, NULL), 1);
  ck_assert_ptr_null(p[0].s);
  ck_assert_uint_eq(p[0].errs.n, 1);
  ck_assert_str_eq(p[0].errs.msg[0], "$.accounts[4999].address: not an address (0x + 40 hex digits)");
  compare_str(t, "bad address last");
  free(t);
  /* every account's eMode out of range, and a bad block hash before the accounts in the list */
  json_t *many = generated(n, -1, -1);
  json_object_set_new(json_object_get(many, "block"), "hash", json_string("0x12"));
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(many, "accounts"), i, a)
      json_object_set_new(a, "emode_category", json_integer(256));
  t = dump(many, JSON_COMPACT);
  ck_assert_uint_eq(by_stream(t, strlen(t), 65536, p, NULL), 1);
  ck_assert_uint_eq(p[0].errs.n, CHAIN_SNAPSHOT_MAX_ERRORS);
  ck_assert_uint_eq(p[0].errs.dropped, n + 1 - CHAIN_SNAPSHOT_MAX_ERRORS);
  compare_str(t, "more problems than kept");
  free(t);
  json_t *dup = generated(n, -1, 0);
  t = dump(dup, JSON_COMPACT);
  ck_assert_uint_eq(by_stream(t, strlen(t), 65536, p, NULL), 1);
  ck_assert_str_eq(p[0].errs.msg[0], "$.accounts[4999].address: duplicate of $.accounts[0]");
  compare_str(t, "duplicate last");
  free(t);
  json_decref(good);
  json_decref(late);
  json_decref(many);
  json_decref(dup);
}
END_TEST

/* ---- memory ---- */

static size_t live, peak;
static void *count_malloc(size_t n) {
  size_t *p = malloc(n + 16);
  if (!p) return NULL;
  *p = n;
  live += n;
  if (live > peak) peak = live;
  return (char *)p + 16;
}
static void count_free(void *q) {
  if (!q) return;
  size_t *p = (size_t *)((char *)q - 16);
  live -= *p;
  free(p);
}

struct measured {
  size_t doc, tree, stream_jansson, stream_own;
};
static struct measured measure(size_t n) {
  struct measured r;
  json_t *j = generated(n, -1, -1);
  char *t = dump(j, JSON_COMPACT);
  json_decref(j);
  r.doc = strlen(t);
  struct piece p[MAXP];
  size_t base = live;
  peak = live;
  ck_assert_uint_eq(by_reader(t, r.doc, p), 1);
  ck_assert_ptr_nonnull(p[0].s);
  chain_snapshot_free(p[0].s);
  r.tree = peak - base;
  peak = live;
  ck_assert_uint_eq(by_stream(t, r.doc, 65536, p, &r.stream_own), 1);
  ck_assert_ptr_nonnull(p[0].s);
  chain_snapshot_free(p[0].s);
  r.stream_jansson = peak - base;
  free(t);
  return r;
}

START_TEST(test_memory_bounded) {
  json_set_alloc_funcs(count_malloc, count_free); /* this test's process only (check forks) */
  struct measured s = measure(2000), b = measure(20000);
  printf("snapshot stream: %zu accounts, %zu-byte document: jansson peak %zu in memory, %zu streamed;"
         " stream's own buffers %zu\n",
         (size_t)20000, b.doc, b.tree, b.stream_jansson, b.stream_own);
  fflush(stdout);
  /* In memory the tree outweighs the document; streamed, jansson holds one pointer per account
   * (the array of nulls: 8 bytes, up to 24 while it doubles) and the largest element, and the
   * stream an index entry (28 bytes, up to 84 while it doubles) per account besides its fixed
   * buffers. */
  ck_assert_uint_gt(b.tree, b.doc);
  ck_assert_uint_lt(b.stream_jansson - s.stream_jansson, 18000 * 32);
  ck_assert_uint_lt(b.stream_own - s.stream_own, 18000 * 96);
  ck_assert_uint_lt(b.stream_jansson, b.tree / 20);
}
END_TEST

int main(void) {
  Suite *s = suite_create("snapshot_stream");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_fixture_ways);
  tcase_add_test(tc, test_prefixes_and_mutations);
  tcase_add_test(tc, test_generated_documents);
  tcase_add_test(tc, test_memory_bounded);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
