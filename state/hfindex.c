/* The watch-list index (state/hfindex.h): compact figures, buckets by health factor filled in two
 * parallel passes when a generation is built, and each bucket sorted on first use. */
#include "state/hfindex.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define M64 UINT64_MAX

/* state[b]: a bucket's entries are in order in grouped (IN_GROUPED: at most one entry, or all
 * with one health factor) or in sorted (SORTED), or not yet (UNSORTED). */
enum { UNSORTED = 0, IN_GROUPED = 1, SORTED = 2 };

/* Sorts take a lock by bucket, among SORT_LOCKS: a request walking every bucket (a filter with no
 * max_health_factor) sorts them one after another without holding up a request that needs another
 * bucket, and two requests needing the same bucket sort it once. */
#define SORT_LOCKS 16

struct state_hf_lazy {
  pthread_mutex_t mu[SORT_LOCKS];
  pthread_mutex_t nd_mu; /* the no-debt totals (a histogram does not hold up a watch list) */
  bool nd_done;
  size_t nd_count;
  u256 nd_coll;
};

bool state_hf_set(struct state_hf_fig *f, const struct state_acc_health *h) {
  if (h->coll.w[1] | h->coll.w[2] | h->coll.w[3] | h->debt.w[1] | h->debt.w[2] | h->debt.w[3]) return false;
  if (h->coll.w[0] == M64 || h->debt.w[0] == M64) return false;
  if (u256_eq(h->hf, U256_MAX)) {
    if (h->debt.w[0] != 0) return false;
    *f = (struct state_hf_fig){{M64, M64}, h->coll.w[0], 0};
    return true;
  }
  if ((h->hf.w[2] | h->hf.w[3]) || (h->hf.w[0] & h->hf.w[1]) == M64) return false;
  *f = (struct state_hf_fig){{h->hf.w[0], h->hf.w[1]}, h->coll.w[0], h->debt.w[0]};
  return true;
}

void state_hf_set_wide(struct state_hf_fig *f, uint64_t w) { *f = (struct state_hf_fig){{M64, M64}, w, M64}; }
void state_hf_set_none(struct state_hf_fig *f) { *f = (struct state_hf_fig){{M64, M64}, M64, M64}; }
void state_hf_set_no_debt(struct state_hf_fig *f) { *f = (struct state_hf_fig){{M64, M64}, M64, 0}; }

static inline bool is_top(const struct state_hf_fig *f) { return (f->hf[0] & f->hf[1]) == M64; }
bool state_hf_has(const struct state_hf_fig *f) { return !is_top(f) || f->debt != M64 || f->coll != M64; }

static inline uint32_t bucket128(uint64_t lo, uint64_t hi) {
  unsigned bits = hi ? 128u - (unsigned)__builtin_clzll(hi) : lo ? 64u - (unsigned)__builtin_clzll(lo) : 0;
  if (bits == 0) return 0;
  unsigned __int128 v = (unsigned __int128)hi << 64 | lo;
  const unsigned m = STATE_HF_MANT_BITS;
  uint32_t mant = bits > m ? (uint32_t)(v >> (bits - 1 - m)) : (uint32_t)(v << (m + 1 - bits));
  return 1u + ((bits - 1) << m) + (mant & ((1u << m) - 1));
}

uint32_t state_hf_bucket(const u256 *h) {
  if (h->w[2] | h->w[3]) return u256_eq(*h, U256_MAX) ? STATE_HF_B_MAX : STATE_HF_B_HIGH;
  return bucket128(h->w[0], h->w[1]);
}

/* The bucket of an account with figures. */
static inline uint32_t bucket_of(const struct state_hf_index *x, uint32_t k) {
  const struct state_hf_fig *f = &x->fig[k];
  if (!is_top(f)) return bucket128(f->hf[0], f->hf[1]);
  if (f->debt == 0) return STATE_HF_B_MAX;
  return state_hf_bucket(&x->wide[f->coll].hf);
}

u256 state_hf_hf_debt(const struct state_hf_index *x, uint32_t k, u256 *debt) {
  const struct state_hf_fig *f = &x->fig[k];
  if (!is_top(f)) {
    *debt = u256_from_u64(f->debt);
    return (u256){{f->hf[0], f->hf[1], 0, 0}};
  }
  if (f->debt == 0) {
    *debt = U256_ZERO;
    return U256_MAX;
  }
  *debt = x->wide[f->coll].debt;
  return x->wide[f->coll].hf;
}

void state_hf_get(const struct state_hf_index *x, uint32_t k, struct state_acc_health *h) {
  const struct state_hf_fig *f = &x->fig[k];
  if (is_top(f) && f->debt == M64) {
    *h = x->wide[f->coll];
    return;
  }
  h->hf = state_hf_hf_debt(x, k, &h->debt);
  if (is_top(f) && f->coll == M64)
    x->coll_of(x->coll_ctx, k, &h->coll);
  else
    h->coll = u256_from_u64(f->coll);
}

/* ---- building: count per bucket, then place, each thread over its own range of accounts ---- */

struct build_job {
  const struct state_hf_index *x;
  const uint32_t *bucket; /* given: each account's bucket (or NULL) */
  size_t from, to;
  uint32_t *cnt; /* [STATE_HF_BUCKETS]: counts, then this range's next place per bucket */
  uint32_t *grouped;
  bool bad; /* a given bucket that is not one */
};

/* Account k's bucket, or STATE_HF_NONE. */
static inline uint32_t bucket_at(const struct build_job *j, size_t k) {
  if (j->bucket) return j->bucket[k];
  return state_hf_has(&j->x->fig[k]) ? bucket_of(j->x, (uint32_t)k) : STATE_HF_NONE;
}

static void *count_run(void *arg) {
  struct build_job *j = arg;
  for (size_t k = j->from; k < j->to; k++) {
    uint32_t b = bucket_at(j, k);
    if (b < STATE_HF_BUCKETS)
      j->cnt[b]++;
    else if (b != STATE_HF_NONE)
      j->bad = true;
  }
  return NULL;
}

static void *place_run(void *arg) {
  struct build_job *j = arg;
  for (size_t k = j->from; k < j->to; k++) {
    uint32_t b = bucket_at(j, k);
    if (b < STATE_HF_BUCKETS) j->grouped[j->cnt[b]++] = (uint32_t)k;
  }
  return NULL;
}

/* Runs fn over jobs[0 .. t) on t threads (the caller's among them; a job whose thread cannot be
 * started runs on the caller's). */
static void run_jobs(void *(*fn)(void *), struct build_job *jobs, size_t t) {
  pthread_t tid[STATE_HF_MAX_THREADS];
  bool started[STATE_HF_MAX_THREADS] = {false};
  for (size_t k = 1; k < t; k++)
    started[k] = pthread_create(&tid[k], NULL, fn, &jobs[k]) == 0;
  fn(&jobs[0]);
  for (size_t k = 1; k < t; k++)
    if (started[k])
      pthread_join(tid[k], NULL);
    else
      fn(&jobs[k]);
}

bool state_hf_build(struct state_hf_index *x, size_t n_accounts, const struct state_hf_fig *fig,
                    const struct state_acc_health *wide, const uint8_t *addr, size_t addr_stride,
                    state_hf_coll_fn coll_of, const void *coll_ctx, unsigned threads, const uint32_t *bucket,
                    void *(*take)(size_t bytes)) {
  memset(x, 0, sizeof *x);
  x->n_accounts = n_accounts;
  x->fig = fig;
  x->wide = wide;
  x->addr = addr;
  x->addr_stride = addr_stride;
  x->coll_of = coll_of;
  x->coll_ctx = coll_ctx;
  size_t t = threads < 1 ? 1 : threads > STATE_HF_MAX_THREADS ? STATE_HF_MAX_THREADS : threads;
  if (t > 1 + n_accounts / 65536) t = 1 + n_accounts / 65536; /* small chains: not worth a thread */
  struct build_job jobs[STATE_HF_MAX_THREADS];
  x->off = malloc((STATE_HF_BUCKETS + 1) * sizeof *x->off);
  x->state = calloc(STATE_HF_BUCKETS, sizeof *x->state);
  x->lazy = calloc(1, sizeof *x->lazy);
  uint32_t *cnt = calloc(t * STATE_HF_BUCKETS, sizeof *cnt);
  bool ok = x->off && x->state && x->lazy && cnt && pthread_mutex_init(&x->lazy->nd_mu, NULL) == 0;
  if (!ok) goto fail;
  for (size_t k = 0; k < SORT_LOCKS; k++)
    if (pthread_mutex_init(&x->lazy->mu[k], NULL) != 0) {
      while (k--)
        pthread_mutex_destroy(&x->lazy->mu[k]);
      pthread_mutex_destroy(&x->lazy->nd_mu);
      goto fail;
    }
  for (size_t k = 0; k < t; k++)
    jobs[k] = (struct build_job){.x = x,
                                 .bucket = bucket,
                                 .from = n_accounts * k / t,
                                 .to = n_accounts * (k + 1) / t,
                                 .cnt = cnt + k * STATE_HF_BUCKETS};
  run_jobs(count_run, jobs, t);
  for (size_t k = 0; k < t; k++)
    if (jobs[k].bad) {
      UTIL_BUG("hf index: a bucket that is not one");
      goto fail_mu;
    }
  uint32_t sum = 0;
  for (uint32_t b = 0; b < STATE_HF_BUCKETS; b++) {
    x->off[b] = sum;
    for (size_t k = 0; k < t; k++) {
      uint32_t c = jobs[k].cnt[b];
      jobs[k].cnt[b] = sum;
      sum += c;
    }
    uint32_t m = sum - x->off[b];
    atomic_init(&x->state[b], m <= 1 || b == STATE_HF_B_MAX ? IN_GROUPED : UNSORTED);
  }
  x->off[STATE_HF_BUCKETS] = sum;
  x->n = sum;
  size_t bytes = (sum ? sum : 1) * sizeof(uint32_t);
  x->grouped = take ? take(bytes) : malloc(bytes);
  x->sorted = take ? take(bytes) : malloc(bytes);
  if (!x->grouped || !x->sorted) goto fail_mu;
  for (size_t k = 0; k < t; k++)
    jobs[k].grouped = x->grouped;
  run_jobs(place_run, jobs, t);
  free(cnt);
  return true;
fail_mu:
  for (size_t k = 0; k < SORT_LOCKS; k++)
    pthread_mutex_destroy(&x->lazy->mu[k]);
  pthread_mutex_destroy(&x->lazy->nd_mu);
fail:
  free(cnt);
  free(x->off);
  free((void *)x->state);
  free(x->lazy);
  free(x->grouped);
  free(x->sorted);
  memset(x, 0, sizeof *x);
  return false;
}

void state_hf_free(struct state_hf_index *x, void (*give)(void *p, size_t bytes)) {
  if (!x->off) return;
  for (size_t k = 0; k < SORT_LOCKS; k++)
    pthread_mutex_destroy(&x->lazy->mu[k]);
  pthread_mutex_destroy(&x->lazy->nd_mu);
  free(x->lazy);
  free(x->off);
  free((void *)x->state);
  size_t bytes = (x->n ? x->n : 1) * sizeof(uint32_t);
  if (give) {
    give(x->grouped, bytes);
    give(x->sorted, bytes);
  } else {
    free(x->grouped);
    free(x->sorted);
  }
  memset(x, 0, sizeof *x);
}

/* ---- sorting a bucket on first use ---- */

struct kv {
  u256 h;
  uint32_t k;
};

/* Bits shift .. shift + 10 of h (shift < 256), masked. */
static inline uint32_t digit(const u256 *h, unsigned shift, uint32_t mask) {
  unsigned w = shift / 64, o = shift % 64;
  uint64_t v = h->w[w] >> o;
  if (o > 64 - 11 && w < 3) v |= h->w[w + 1] << (64 - o);
  return (uint32_t)v & mask;
}

/* Orders v[0 .. m) by health factor, keeping the given (address) order among equal ones: an LSD
 * radix sort, 11 bits a pass, over the digits that are not the same in every key (a bucket's
 * keys share their leading bits), or an insertion sort for a few. Returns false out of memory. */
static bool sort_kv(struct kv *v, size_t m) {
  if (m < 32) {
    for (size_t i = 1; i < m; i++) {
      struct kv e = v[i];
      size_t j = i;
      while (j > 0 && u256_gt(v[j - 1].h, e.h)) {
        v[j] = v[j - 1];
        j--;
      }
      v[j] = e;
    }
    return true;
  }
  struct kv *t = malloc(m * sizeof *t);
  uint32_t *count = malloc(2048 * sizeof *count);
  if (!t || !count) {
    free(t);
    free(count);
    return false;
  }
  u256 all_or = U256_ZERO, all_and = U256_MAX;
  for (size_t i = 0; i < m; i++)
    for (int w = 0; w < 4; w++) {
      all_or.w[w] |= v[i].h.w[w];
      all_and.w[w] &= v[i].h.w[w];
    }
  struct kv *a = v, *out = t;
  for (unsigned shift = 0; shift < 256; shift += 11) {
    unsigned width = shift + 11 > 256 ? 256 - shift : 11;
    uint32_t mask = (1u << width) - 1;
    u256 diff = {{all_or.w[0] ^ all_and.w[0], all_or.w[1] ^ all_and.w[1], all_or.w[2] ^ all_and.w[2],
                  all_or.w[3] ^ all_and.w[3]}};
    if (digit(&diff, shift, mask) == 0) continue; /* every key has this digit */
    memset(count, 0, 2048 * sizeof *count);
    for (size_t i = 0; i < m; i++)
      count[digit(&a[i].h, shift, mask)]++;
    uint32_t sum = 0;
    for (uint32_t d = 0; d <= mask; d++) {
      uint32_t c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < m; i++)
      out[count[digit(&a[i].h, shift, mask)]++] = a[i];
    struct kv *s = a;
    a = out;
    out = s;
  }
  if (a != v) memcpy(v, a, m * sizeof *v);
  free(t);
  free(count);
  return true;
}

/* Puts bucket b in order (in sorted) unless it is; returns the bucket's entries in order. */
static const uint32_t *open_bucket(const struct state_hf_index *x, uint32_t b) {
  uint32_t lo = x->off[b], m = x->off[b + 1] - lo;
  uint8_t s = atomic_load_explicit(&x->state[b], memory_order_acquire);
  if (s == IN_GROUPED) return x->grouped + lo;
  if (s == SORTED) return x->sorted + lo;
  pthread_mutex_t *mu = &x->lazy->mu[b % SORT_LOCKS];
  pthread_mutex_lock(mu);
  s = atomic_load_explicit(&x->state[b], memory_order_relaxed);
  if (s == UNSORTED) {
    struct kv *v = malloc(m * sizeof *v);
    bool ok = v != NULL;
    if (ok) {
      u256 debt;
      for (uint32_t i = 0; i < m; i++)
        v[i] = (struct kv){state_hf_hf_debt(x, x->grouped[lo + i], &debt), x->grouped[lo + i]};
      ok = sort_kv(v, m);
    }
    if (ok) {
      for (uint32_t i = 0; i < m; i++)
        x->sorted[lo + i] = v[i].k;
      s = SORTED;
      atomic_store_explicit(&x->state[b], SORTED, memory_order_release);
    }
    free(v);
    if (!ok) { /* out of memory: order it in place with an insertion sort, slowly but surely */
      UTIL_BUG("hf index: no memory to sort a bucket of %u", m);
      uint32_t *o = x->sorted + lo;
      memcpy(o, x->grouped + lo, m * sizeof *o);
      u256 debt;
      for (uint32_t i = 1; i < m; i++) {
        uint32_t e = o[i];
        u256 he = state_hf_hf_debt(x, e, &debt);
        uint32_t j = i;
        while (j > 0 && u256_gt(state_hf_hf_debt(x, o[j - 1], &debt), he)) {
          o[j] = o[j - 1];
          j--;
        }
        o[j] = e;
      }
      s = SORTED;
      atomic_store_explicit(&x->state[b], SORTED, memory_order_release);
    }
  }
  pthread_mutex_unlock(mu);
  return s == IN_GROUPED ? x->grouped + lo : x->sorted + lo;
}

/* ---- walking in order ---- */

static void enter(struct state_hf_iter *it, uint32_t b) {
  it->b = b;
  it->i = 0;
  it->n = it->x->off[b + 1] - it->x->off[b];
  it->seg = it->n ? open_bucket(it->x, b) : NULL;
}

/* Enters the bucket that holds entry pos (< x->n): a binary search of the offsets, so a walk
 * never steps through the empty buckets one by one (most of the 65,539 are). */
static void enter_at(struct state_hf_iter *it, uint32_t pos) {
  const uint32_t *off = it->x->off;
  uint32_t lo = 0, hi = STATE_HF_BUCKETS; /* the last bucket b with off[b] <= pos */
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (off[mid] <= pos)
      lo = mid;
    else
      hi = mid;
  }
  enter(it, lo);
}

static void end(struct state_hf_iter *it) {
  it->b = STATE_HF_BUCKETS;
  it->n = it->i = 0;
  it->seg = NULL;
}

void state_hf_seek(const struct state_hf_index *x, struct state_hf_iter *it, const u256 *hf, const uint8_t *addr) {
  memset(it, 0, sizeof *it);
  it->x = x;
  if (!x->off || x->n == 0) { /* an empty index */
    end(it);
    return;
  }
  if (!addr || !hf) {
    enter_at(it, 0);
    return;
  }
  enter(it, state_hf_bucket(hf));
  uint32_t lo = 0, hi = it->n;
  while (lo < hi) { /* the first entry > (hf, addr) */
    uint32_t mid = lo + (hi - lo) / 2, k = it->seg[mid];
    u256 debt;
    int d = u256_cmp(state_hf_hf_debt(x, k, &debt), *hf);
    if (d == 0) d = memcmp(x->addr + (size_t)k * x->addr_stride, addr, 20);
    if (d <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  it->i = lo;
}

bool state_hf_next(struct state_hf_iter *it, uint32_t *k) {
  if (it->i == it->n) {
    if (it->b >= STATE_HF_BUCKETS) return false;
    uint32_t pos = it->x->off[it->b + 1]; /* the first entry after this bucket */
    if (pos >= it->x->n) {
      end(it);
      return false;
    }
    enter_at(it, pos);
  }
  *k = it->seg[it->i++];
  return true;
}

/* ---- the histogram's parts ---- */

size_t state_hf_n_debt(const struct state_hf_index *x) { return x->off ? x->off[STATE_HF_B_MAX] : 0; }

void state_hf_no_debt(const struct state_hf_index *x, size_t *count, u256 *coll) {
  if (!x->off) {
    *count = 0;
    *coll = U256_ZERO;
    return;
  }
  pthread_mutex_lock(&x->lazy->nd_mu);
  if (!x->lazy->nd_done) {
    u256 sum = U256_ZERO;
    struct state_acc_health h;
    for (uint32_t i = x->off[STATE_HF_B_MAX]; i < x->off[STATE_HF_B_MAX + 1]; i++) {
      state_hf_get(x, x->grouped[i], &h);
      u256_add(&sum, sum, h.coll); /* 8-decimal USD values: far below 2^256 */
    }
    x->lazy->nd_coll = sum;
    x->lazy->nd_count = x->off[STATE_HF_B_MAX + 1] - x->off[STATE_HF_B_MAX];
    x->lazy->nd_done = true;
  }
  *count = x->lazy->nd_count;
  *coll = x->lazy->nd_coll;
  pthread_mutex_unlock(&x->lazy->nd_mu);
}
