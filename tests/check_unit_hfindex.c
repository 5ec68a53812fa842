/* ctest-label: unit */
/* The watch-list index (state/hfindex.h) against a plain sort: accounts with random figures drawn
 * to hit its edges (many equal health factors, values on both sides of bucket boundaries, 0,
 * 2^64, 2^128 - 1 and above, 2^256 - 1 without debt, totals of 2^64 and more that need the wide
 * table, accounts without figures, collateral left to be computed on demand) are indexed on 1 to
 * 4 threads, with each account's bucket given or found by the index. A walk from the start, every seek
 * after an entry or between entries, and pages of every size with their cursors must give what
 * qsort by (health factor, address) gives; so must several threads walking a fresh index at once
 * (each bucket sorted on first use by whichever comes first). The seed is fixed and printed; set
 * SPARKD_TEST_SEED to try another. */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/hfindex.h"

/* ck_assert records every passing check (a write each): the hot loops only call in on failure */
#define REQUIRE(c, ...)                                                                                                \
  do {                                                                                                                 \
    if (!(c)) ck_abort_msg(__VA_ARGS__);                                                                               \
  } while (0)

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }

/* An account as the accounts loader lays them out: the address first, then other fields. */
struct acct {
  uint8_t addr[20];
  uint8_t pad[20];
};

struct model {
  size_t n;
  struct acct *acc;
  struct state_acc_health *h; /* the figures (what state_hf_get must give) */
  bool *has, *lazy;
  struct state_hf_fig *fig;
  struct state_acc_health *wide;
  size_t n_wide;
  uint32_t *ref; /* the accounts with figures, by (hf, address) */
  size_t n_ref;
};

static void coll_of(const void *ctx, uint32_t k, u256 *coll) {
  const struct model *m = ctx;
  REQUIRE(m->lazy[k], "coll_of for account %u, not left for later", k);
  *coll = m->h[k].coll;
}

static u256 of_bits(unsigned bits) { /* a random value of `bits` bits (top one set) */
  u256 v = {{rnd(), rnd(), rnd(), rnd()}};
  if (bits == 0) return U256_ZERO;
  if (bits < 256) v = u256_shr(v, 256 - bits);
  v.w[(bits - 1) / 64] |= (uint64_t)1 << ((bits - 1) % 64);
  return v;
}

/* A health factor with debt: mostly from a few shared values (ties), else near a bucket
 * boundary or of any size. */
static u256 draw_hf(const u256 *common, size_t n_common) {
  switch (below(8)) {
  case 0:
  case 1:
  case 2: return common[below(n_common)];
  case 3: { /* around 2^b or a mantissa boundary */
    unsigned b = (unsigned)below(140);
    u256 v = u256_shl(u256_from_u64(1), b);
    if (below(2) && b > 12) v = u256_add_wrap(v, u256_shl(u256_from_u64(below(4)), b - 10));
    uint64_t d = below(3);
    return below(2) ? u256_add_wrap(v, u256_from_u64(d)) : u256_sub_wrap(v, u256_from_u64(d));
  }
  case 4: return u256_from_u64(below(4)); /* 0 .. 3 */
  case 5: return below(4) == 0 ? of_bits(129 + (unsigned)below(127)) : of_bits(64 + (unsigned)below(65));
  default: return of_bits(50 + (unsigned)below(20)); /* around 1e18 */
  }
}

static struct model *make(size_t n) {
  struct model *m = calloc(1, sizeof *m);
  m->n = n;
  m->acc = calloc(n, sizeof *m->acc);
  m->h = calloc(n, sizeof *m->h);
  m->has = calloc(n, sizeof *m->has);
  m->lazy = calloc(n, sizeof *m->lazy);
  m->fig = calloc(n, sizeof *m->fig);
  m->wide = calloc(n, sizeof *m->wide);
  ck_assert(m->acc && m->h && m->has && m->lazy && m->fig && m->wide);
  u256 common[6];
  for (size_t i = 0; i < 6; i++)
    common[i] = of_bits(58 + (unsigned)below(6));
  common[5] = u256_sub_wrap(u256_shl(u256_from_u64(1), 128), u256_from_u64(1)); /* 2^128 - 1: wide */
  uint64_t a = 0;
  for (size_t k = 0; k < n; k++) {
    a += 1 + below(1000); /* ascending addresses, big-endian */
    for (int i = 0; i < 8; i++)
      m->acc[k].addr[19 - i] = (uint8_t)(a >> (8 * i));
    struct state_acc_health *h = &m->h[k];
    unsigned kind = (unsigned)below(10);
    if (kind == 0) { /* no figures */
      state_hf_set_none(&m->fig[k]);
      continue;
    }
    m->has[k] = true;
    if (kind <= 2) { /* no debt */
      h->hf = U256_MAX;
      h->coll = below(8) ? u256_from_u64(below(1u << 30)) : of_bits(60 + (unsigned)below(100));
      h->debt = U256_ZERO;
      if (kind == 2) {
        m->lazy[k] = true;
        state_hf_set_no_debt(&m->fig[k]);
        continue;
      }
    } else {
      h->hf = draw_hf(common, 6);
      h->coll = below(8) ? u256_from_u64(below(1ull << 40)) : of_bits(60 + (unsigned)below(100));
      h->debt = below(8) ? u256_from_u64(1 + below(1ull << 40)) : of_bits(60 + (unsigned)below(100));
      if (below(50) == 0) h->debt = u256_from_u64(UINT64_MAX); /* just too large for the compact form */
    }
    if (!state_hf_set(&m->fig[k], h)) {
      m->wide[m->n_wide] = *h;
      state_hf_set_wide(&m->fig[k], m->n_wide++);
    }
  }
  return m;
}

static const struct model *sort_m;
static int cmp_ref(const void *a, const void *b) {
  uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
  int d = u256_cmp(sort_m->h[i].hf, sort_m->h[j].hf);
  return d ? d : memcmp(sort_m->acc[i].addr, sort_m->acc[j].addr, 20);
}

static void make_ref(struct model *m) {
  m->ref = malloc((m->n ? m->n : 1) * sizeof *m->ref);
  m->n_ref = 0;
  for (size_t k = 0; k < m->n; k++)
    if (m->has[k]) m->ref[m->n_ref++] = (uint32_t)k;
  sort_m = m;
  qsort(m->ref, m->n_ref, sizeof *m->ref, cmp_ref);
}

static void free_model(struct model *m) {
  free(m->acc);
  free(m->h);
  free(m->has);
  free(m->lazy);
  free(m->fig);
  free(m->wide);
  free(m->ref);
  free(m);
}

static void build(struct state_hf_index *x, const struct model *m, unsigned threads, bool given_buckets) {
  uint32_t *bucket = NULL;
  if (given_buckets) { /* as the evaluation notes them: by the true health factor */
    bucket = malloc(m->n * sizeof *bucket);
    ck_assert_ptr_nonnull(bucket);
    for (size_t k = 0; k < m->n; k++)
      bucket[k] = m->has[k] ? state_hf_bucket(&m->h[k].hf) : STATE_HF_NONE;
  }
  ck_assert(
      state_hf_build(x, m->n, m->fig, m->wide, m->acc[0].addr, sizeof m->acc[0], coll_of, m, threads, bucket, NULL));
  free(bucket);
}

static void check_entry(const struct state_hf_index *x, const struct model *m, uint32_t k, size_t at) {
  REQUIRE(k == m->ref[at], "entry %zu: account %u, expected %u", at, k, m->ref[at]);
  struct state_acc_health h;
  state_hf_get(x, k, &h);
  REQUIRE(u256_eq(h.hf, m->h[k].hf) && u256_eq(h.coll, m->h[k].coll) && u256_eq(h.debt, m->h[k].debt),
          "account %u: other figures", k);
  u256 debt, hf = state_hf_hf_debt(x, k, &debt);
  REQUIRE(u256_eq(hf, m->h[k].hf) && u256_eq(debt, m->h[k].debt), "account %u: other health factor or debt", k);
}

/* Walks from (hf, addr) (NULL: the start) and checks up to `limit` entries from ref[at]. */
static void check_from(const struct state_hf_index *x, const struct model *m, const u256 *hf, const uint8_t *addr,
                       size_t at, size_t limit) {
  struct state_hf_iter it;
  state_hf_seek(x, &it, hf, addr);
  uint32_t k;
  size_t i = at;
  while (i < m->n_ref && i - at < limit) {
    REQUIRE(state_hf_next(&it, &k), "walk ended at %zu of %zu", i, m->n_ref);
    check_entry(x, m, k, i++);
  }
  if (i == m->n_ref) REQUIRE(!state_hf_next(&it, &k), "entries after the last");
}

/* The first entry of ref after (hf, addr). */
static size_t ref_after(const struct model *m, const u256 *hf, const uint8_t *addr) {
  size_t lo = 0, hi = m->n_ref;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint32_t k = m->ref[mid];
    int d = u256_cmp(m->h[k].hf, *hf);
    if (d == 0) d = memcmp(m->acc[k].addr, addr, 20);
    if (d <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void check_all(const struct model *m, unsigned threads, bool given) {
  struct state_hf_index x;
  build(&x, m, threads, given);
  ck_assert_uint_eq(x.n, m->n_ref);
  /* pages with their cursors, on a fresh index: buckets sorted as the pages reach them */
  size_t page = 1 + below(40), at = 0;
  const u256 *chf = NULL;
  const uint8_t *caddr = NULL;
  while (at < m->n_ref) {
    check_from(&x, m, chf, caddr, at, page);
    at += page;
    if (at > m->n_ref) at = m->n_ref;
    uint32_t last = m->ref[at - 1];
    chf = &m->h[last].hf;
    caddr = m->acc[last].addr;
  }
  check_from(&x, m, NULL, NULL, 0, SIZE_MAX);
  /* after every entry, and between entries: the address one above or below, another health factor */
  for (size_t i = 0; i < m->n_ref; i++) {
    uint32_t k = m->ref[i];
    check_from(&x, m, &m->h[k].hf, m->acc[k].addr, i + 1, 3);
    uint8_t a[20];
    memcpy(a, m->acc[k].addr, 20);
    a[19] ^= 1;
    check_from(&x, m, &m->h[k].hf, a, ref_after(m, &m->h[k].hf, a), 3);
    u256 h = below(2) ? u256_add_wrap(m->h[k].hf, u256_from_u64(1)) : u256_sub_wrap(m->h[k].hf, u256_from_u64(1));
    check_from(&x, m, &h, m->acc[k].addr, ref_after(m, &h, m->acc[k].addr), 3);
  }
  /* the histogram's parts */
  size_t nd = 0, nd_want = 0, n_debt = 0;
  u256 coll, coll_want = U256_ZERO;
  for (size_t i = 0; i < m->n_ref; i++)
    if (u256_eq(m->h[m->ref[i]].hf, U256_MAX)) {
      nd_want++;
      u256_add(&coll_want, coll_want, m->h[m->ref[i]].coll);
    } else {
      n_debt++;
    }
  state_hf_no_debt(&x, &nd, &coll);
  ck_assert_uint_eq(nd, nd_want);
  ck_assert(u256_eq(coll, coll_want));
  ck_assert_uint_eq(state_hf_n_debt(&x), n_debt);
  state_hf_free(&x, NULL);
}

START_TEST(index_equals_sort) {
  const size_t sizes[] = {0, 1, 2, 31, 500, 5000, 70000};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (unsigned threads = 1; threads <= 4; threads++) {
      struct model *m = make(sizes[s] ? sizes[s] : 1);
      if (sizes[s] == 0) { /* one account without figures */
        m->has[0] = false;
        state_hf_set_none(&m->fig[0]);
      }
      make_ref(m);
      check_all(m, threads, false);
      check_all(m, threads, true);
      free_model(m);
    }
}
END_TEST

struct walker {
  const struct state_hf_index *x;
  const struct model *m;
  unsigned seed;
};

static void *walk(void *arg) {
  struct walker *w = arg;
  /* each thread its own order of reads: some from the start, some from random cursors */
  for (unsigned r = 0; r < 4; r++) {
    if ((w->seed + r) % 2 == 0) {
      check_from(w->x, w->m, NULL, NULL, 0, SIZE_MAX);
    } else {
      for (size_t i = (w->seed * 7919u + r * 104729u) % w->m->n_ref; i < w->m->n_ref; i += 997) {
        uint32_t k = w->m->ref[i];
        check_from(w->x, w->m, &w->m->h[k].hf, w->m->acc[k].addr, i + 1, 50);
      }
    }
  }
  return NULL;
}

START_TEST(concurrent_first_use) {
  struct model *m = make(60000);
  make_ref(m);
  for (int round = 0; round < 3; round++) {
    struct state_hf_index x;
    build(&x, m, 2, round == 1);
    enum { T = 6 };
    pthread_t tid[T];
    struct walker w[T];
    for (unsigned t = 0; t < T; t++) {
      w[t] = (struct walker){&x, m, t + (unsigned)round};
      ck_assert_int_eq(pthread_create(&tid[t], NULL, walk, &w[t]), 0);
    }
    for (unsigned t = 0; t < T; t++)
      pthread_join(tid[t], NULL);
    state_hf_free(&x, NULL);
  }
  free_model(m);
}
END_TEST

START_TEST(buckets_are_monotone) {
  for (int i = 0; i < 200000; i++) {
    u256 a = of_bits((unsigned)below(257)), b = below(4) ? of_bits((unsigned)below(257)) : a;
    if (below(8) == 0) b = u256_add_wrap(a, u256_from_u64(1 + below(3)));
    if (u256_gt(a, b)) {
      u256 t = a;
      a = b;
      b = t;
    }
    REQUIRE(state_hf_bucket(&a) <= state_hf_bucket(&b), "buckets out of order");
    REQUIRE(state_hf_bucket(&b) < STATE_HF_BUCKETS, "no such bucket");
  }
  u256 max = U256_MAX, below_max = u256_sub_wrap(U256_MAX, u256_from_u64(1)), two128 = u256_shl(u256_from_u64(1), 128);
  ck_assert_uint_eq(state_hf_bucket(&max), STATE_HF_B_MAX);
  ck_assert_uint_eq(state_hf_bucket(&below_max), STATE_HF_B_HIGH);
  ck_assert_uint_eq(state_hf_bucket(&two128), STATE_HF_B_HIGH);
  u256 z = U256_ZERO;
  ck_assert_uint_eq(state_hf_bucket(&z), 0);
}
END_TEST

START_TEST(compact_round_trip) {
  const u256 vals[] = {U256_ZERO,
                       u256_from_u64(1),
                       u256_from_u64(UINT64_MAX - 1),
                       u256_from_u64(UINT64_MAX),
                       {{0, 1, 0, 0}},
                       {{UINT64_MAX, UINT64_MAX - 1, 0, 0}},
                       {{UINT64_MAX, UINT64_MAX, 0, 0}},
                       {{0, 0, 1, 0}},
                       U256_MAX};
  size_t nv = sizeof vals / sizeof vals[0];
  for (size_t a = 0; a < nv; a++)
    for (size_t b = 0; b < nv; b++)
      for (size_t c = 0; c < nv; c++) {
        struct state_acc_health h = {vals[a], vals[b], vals[c]}, got;
        struct state_hf_fig f;
        struct state_acc_health wide[1];
        if (!state_hf_set(&f, &h)) {
          wide[0] = h;
          state_hf_set_wide(&f, 0);
        }
        REQUIRE(state_hf_has(&f), "%zu %zu %zu: no figures", a, b, c);
        struct state_hf_index x = {.fig = &f, .wide = wide, .n_accounts = 1};
        state_hf_get(&x, 0, &got);
        REQUIRE(u256_eq(got.hf, h.hf) && u256_eq(got.coll, h.coll) && u256_eq(got.debt, h.debt), "%zu %zu %zu", a, b,
                c);
      }
  struct state_hf_fig f;
  state_hf_set_none(&f);
  ck_assert(!state_hf_has(&f));
}
END_TEST

int main(void) {
  const char *s = getenv("SPARKD_TEST_SEED");
  rng_state = s ? strtoull(s, NULL, 10) : 20261207;
  if (!rng_state) rng_state = 1;
  printf("check_unit_hfindex: seed %" PRIu64 "\n", rng_state);
  Suite *su = suite_create("hfindex");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, compact_round_trip);
  tcase_add_test(tc, buckets_are_monotone);
  tcase_add_test(tc, index_equals_sort);
  tcase_add_test(tc, concurrent_first_use);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
