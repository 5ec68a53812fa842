/* The watch-list index of a generation (state/hfindex.c): every held account's figures at the
 * generation's block in 32 bytes, and the accounts that have figures grouped by health factor
 * into buckets when the generation is built. A bucket is put in (health factor, address) order the
 * first time a request reads it (once, whichever request comes first), so building a generation
 * costs two linear passes instead of a sort, and a watch-list page sorts only the buckets it
 * reads (docs/architecture.md, "Where health factors live"). */
#ifndef SPARKD_STATE_HFINDEX_H
#define SPARKD_STATE_HFINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"

/* One account's figures at the generation's block (the engine's calculateUserAccountData over its
 * held positions; WAD health factor, 2^256-1 with no debt; 8-decimal USD totals). */
struct state_acc_health {
  u256 hf, coll, debt;
};

/* The same, compact: a health factor below 2^128 - 1 and totals below 2^64 - 1 are stored as
 * they are; the rest is told by hf all ones (2^128 - 1) and debt:
 *   debt 0:           no debt, health factor 2^256-1; coll 2^64-1: not computed yet (coll_of);
 *   debt 2^64-1:      coll indexes the wide table (any figures that do not fit), or, with coll
 *                     2^64-1 too, the account has no figures (not in the index). */
struct state_hf_fig {
  uint64_t hf[2], coll, debt;
};

/* Stores h in *f; false when it does not fit (then store it in the wide table, state_hf_set_wide). */
bool state_hf_set(struct state_hf_fig *f, const struct state_acc_health *h);
/* Stores a reference to wide-table entry w in *f. */
void state_hf_set_wide(struct state_hf_fig *f, uint64_t w);
/* Marks *f as an account without figures. */
void state_hf_set_none(struct state_hf_fig *f);
/* Marks *f as an account without debt whose collateral is computed on demand (coll_of). */
void state_hf_set_no_debt(struct state_hf_fig *f);
/* Returns whether *f holds figures. */
bool state_hf_has(const struct state_hf_fig *f);

/* Buckets, in health-factor order: 0 for 0; for a health factor below 2^128 of `bits` bits,
 * 1 + (bits - 1) * 512 + the 9 bits below its leading one; then the rest below 2^256 - 1; then
 * 2^256 - 1 (no debt). */
#define STATE_HF_MANT_BITS 9
#define STATE_HF_B_HIGH (1u + (128u << STATE_HF_MANT_BITS))
#define STATE_HF_B_MAX (STATE_HF_B_HIGH + 1u)
#define STATE_HF_BUCKETS (STATE_HF_B_MAX + 1u)
/* Returns the bucket of health factor h. */
uint32_t state_hf_bucket(const u256 *h);

/* Computes account k's total collateral (an account stored with state_hf_set_no_debt). */
typedef void (*state_hf_coll_fn)(const void *ctx, uint32_t k, u256 *coll);

/* The index. Everything but the lazily written parts (sorted, state, the no-debt totals, each
 * written under one of lazy's mutexes) is fixed once built. */
struct state_hf_index {
  size_t n_accounts, n;           /* accounts; entries (accounts with figures) */
  const struct state_hf_fig *fig; /* [n_accounts] */
  const struct state_acc_health *wide;
  const uint8_t *addr; /* account k's address: addr + k * addr_stride (accounts sorted by address) */
  size_t addr_stride;
  state_hf_coll_fn coll_of;
  const void *coll_ctx;
  uint32_t *grouped; /* [n]: account numbers, bucket after bucket, in address order within one */
  uint32_t *sorted;  /* [n]: a bucket's entries in order, once its state says so */
  uint32_t *off;     /* [STATE_HF_BUCKETS + 1]: bucket b is grouped[off[b] .. off[b + 1]) */
  _Atomic uint8_t *state;
  struct state_hf_lazy *lazy; /* the mutexes and the no-debt totals */
};

/* Builds x over fig[0 .. n_accounts) (account k at address addr + k * addr_stride, addresses
 * ascending) and the wide table, on up to `threads` threads (at most STATE_HF_MAX_THREADS).
 * bucket (NULL: computed here from fig) may give each account's bucket, STATE_HF_NONE for one
 * without figures, as the evaluation can note it on its way. grouped and sorted are taken from
 * take(bytes) (NULL: malloc) so a caller may reuse memory. coll_of (may be NULL when no entry is
 * stored with state_hf_set_no_debt) and its ctx must outlive x. Returns false when out of memory
 * (x then holds nothing to free). */
#define STATE_HF_MAX_THREADS 16
#define STATE_HF_NONE UINT32_MAX
bool state_hf_build(struct state_hf_index *x, size_t n_accounts, const struct state_hf_fig *fig,
                    const struct state_acc_health *wide, const uint8_t *addr, size_t addr_stride,
                    state_hf_coll_fn coll_of, const void *coll_ctx, unsigned threads, const uint32_t *bucket,
                    void *(*take)(size_t bytes));
/* Frees what x holds but grouped and sorted, which it hands to give (NULL: free) with their size. */
void state_hf_free(struct state_hf_index *x, void (*give)(void *p, size_t bytes));

/* Fills *h with account k's figures (k has figures; coll computed when it was left for later). */
void state_hf_get(const struct state_hf_index *x, uint32_t k, struct state_acc_health *h);
/* Returns account k's health factor and fills *debt (k has figures); never computes. */
u256 state_hf_hf_debt(const struct state_hf_index *x, uint32_t k, u256 *debt);

/* Walks the entries in (health factor, address) order. */
struct state_hf_iter {
  const struct state_hf_index *x;
  const uint32_t *seg; /* the current bucket's entries, in order */
  uint32_t b, i, n;
};
/* Positions it at the first entry after (hf, addr), or at the first entry with addr NULL. */
void state_hf_seek(const struct state_hf_index *x, struct state_hf_iter *it, const u256 *hf, const uint8_t *addr);
/* Returns true with the next entry's account number in *k, false at the end. */
bool state_hf_next(struct state_hf_iter *it, uint32_t *k);

/* Fills the number of entries without debt and the sum of their collateral (computed once per
 * index, on first use). */
void state_hf_no_debt(const struct state_hf_index *x, size_t *count, u256 *coll);
/* Returns the number of entries with debt; they are grouped[0 .. that), in no particular order. */
size_t state_hf_n_debt(const struct state_hf_index *x);

#endif
