/* The accounts loader (per chain: eMode categories, kill switch, and for a chain of at most
 * SPARKD_ACCOUNT_CACHE_MAX accounts every account and held position, read in the same
 * transaction as the markets), the engine's market assembled from a generation at a time, and
 * one account read from the generation or, for a chain it does not hold, from the database. */
#include "state/accounts.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "db/accounts.h"
#include "risk/health.h"
#include "state/cache.h"
#include "util/config.h"
#include "util/dec.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/vec.h"

/* ---- cache builder -------------------------------------------------------------------------- */

struct build_ctx {
  struct state_acc_chain *chains;
  size_t n, cap;
};

static struct state_acc_chain *chain_for(struct build_ctx *b, int64_t id) {
  for (size_t i = 0; i < b->n; i++)
    if (b->chains[i].chain_id == id) return &b->chains[i];
  return NULL;
}

static db_status chain_row(const db_row *row, void *arg) {
  struct build_ctx *b = arg;
  if (!UTIL_VEC_RESERVE(b->chains, b->n, b->cap, 4)) return DB_ERROR;
  struct state_acc_chain *c = &b->chains[b->n++];
  memset(c, 0, sizeof *c);
  c->chain_id = strtoll(db_row_text(row, 0), NULL, 10);
  const char *t = db_row_text(row, 1);
  c->kill_switch_known = t != NULL;
  c->kill_switch_triggered = t && t[0] == 't';
  return DB_OK;
}

static db_status emode_row(const db_row *row, void *arg) {
  struct build_ctx *b = arg;
  struct state_acc_chain *c = chain_for(b, strtoll(db_row_text(row, 0), NULL, 10));
  long id = strtol(db_row_text(row, 1), NULL, 10);
  if (!c || id <= 0 || id >= RISK_MAX_EMODE) return DB_OK;
  c->emode_set[id] = true;
  c->emode[id].ltv = (uint32_t)strtoul(db_row_text(row, 2), NULL, 10);
  c->emode[id].liquidation_threshold = (uint32_t)strtoul(db_row_text(row, 3), NULL, 10);
  c->emode[id].liquidation_bonus = (uint32_t)strtoul(db_row_text(row, 4), NULL, 10);
  snprintf(c->emode_label[id], sizeof c->emode_label[id], "%s", db_row_text(row, 5));
  return DB_OK;
}

#define BIG ((size_t)4 << 20)

/* The arrays a generation allocates anew (figures, the watch-list index, an accounts array, 40 MB
 * and more at a million accounts) in transparent huge pages where the system allows it: their
 * page faults were a tenth of a block's time at that size. Freed with free(). */
static void *big_alloc(size_t n) {
  if (n < BIG) return malloc(n);
  void *p = NULL;
  if (posix_memalign(&p, (size_t)2 << 20, n) != 0) return NULL;
  (void)madvise(p, n, MADV_HUGEPAGE); /* advice only: without it, small pages */
  return p;
}

/* And a few of them are kept when a generation is freed, for the next one to take: fresh pages
 * are zeroed by the kernel on first touch, which was as much as a tenth of a block's CPU time at
 * a million accounts. A generation is built while the one before it is in service, so the arrays
 * of the one before that (freed when the last one was swapped in) are the ones reused. */
#define STASH_MAX 8
static struct {
  pthread_mutex_t mu;
  size_t n;
  struct {
    void *p;
    size_t bytes;
  } v[STASH_MAX];
} stash = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}};

/* Returns n bytes (from the stash when one there fits without wasting more than a quarter). */
static void *big_take(size_t n) {
  if (n >= BIG) {
    pthread_mutex_lock(&stash.mu);
    size_t best = STASH_MAX;
    for (size_t i = 0; i < stash.n; i++)
      if (stash.v[i].bytes >= n && stash.v[i].bytes - n <= n / 4 &&
          (best == STASH_MAX || stash.v[i].bytes < stash.v[best].bytes))
        best = i;
    void *p = NULL;
    if (best < STASH_MAX) {
      p = stash.v[best].p;
      stash.v[best] = stash.v[--stash.n];
    }
    pthread_mutex_unlock(&stash.mu);
    if (p) return p;
  }
  return big_alloc(n);
}

/* Frees p (at least `bytes` long, from big_take or big_alloc), into the stash when it is large. */
static void big_give(void *p, size_t bytes) {
  if (p && bytes >= BIG) {
    pthread_mutex_lock(&stash.mu);
    if (stash.n == STASH_MAX) { /* the oldest goes */
      free(stash.v[0].p);
      memmove(&stash.v[0], &stash.v[1], (STASH_MAX - 1) * sizeof stash.v[0]);
      stash.n--;
    }
    stash.v[stash.n].p = p;
    stash.v[stash.n++].bytes = bytes;
    pthread_mutex_unlock(&stash.mu);
    return;
  }
  free(p);
}

/* positions[0 .. used) is written, room for cap; the next generation appends the positions of
 * the accounts it re-read at `used` (merge_append) and shares the rest: readers of a generation
 * only read the positions its accounts point at, which are never written again. garbage counts
 * the positions no newer account points at; past a quarter of `used`, the next delta copies the
 * live ones to a new store. Only the cache's builder thread changes used and garbage. */
struct state_acc_store {
  atomic_int refs;
  struct state_acc *accounts;
  size_t acc_bytes; /* accounts came from big_take (0: malloc) */
  struct state_acc_pos *positions;
  struct state_acc_store *pos_owner; /* the store whose positions these are (held), or NULL: its own */
  size_t cap, used, garbage;         /* of its own positions */
};

static void store_release(struct state_acc_store *st) {
  if (!st || atomic_fetch_sub(&st->refs, 1) != 1) return;
  big_give(st->accounts, st->acc_bytes);
  if (st->pos_owner)
    store_release(st->pos_owner);
  else
    free(st->positions);
  free(st);
}

/* Hands c's accounts and positions (room for cap) to a new store (refs 1). */
static bool store_wrap(struct state_acc_chain *c, size_t cap) {
  struct state_acc_store *st = malloc(sizeof *st);
  if (!st) return false;
  atomic_init(&st->refs, 1);
  st->accounts = c->accounts;
  st->acc_bytes = 0;
  st->positions = c->positions;
  st->cap = cap;
  st->used = c->n_positions;
  st->garbage = 0;
  st->pos_owner = NULL;
  c->store = st;
  return true;
}

static void chain_free(void *p) {
  struct state_acc_chain *c = p;
  if (!c) return;
  if (c->store) {
    store_release(c->store);
  } else {
    free(c->accounts);
    free(c->positions);
  }
  state_hf_free(&c->hf, big_give);
  big_give(c->fig, c->n_accounts * sizeof *c->fig);
  free(c->wide);
  free(c->hf_view);
  free(c->hf_market);
  free(c);
}

static bool hex20(const char *s, uint8_t out[20]) {
  if (!s || strlen(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return false;
  for (int i = 0; i < 20; i++) {
    int hi = util_hexval(s[2 + 2 * i]), lo = util_hexval(s[3 + 2 * i]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

/* Loading a chain's accounts: the accounts, sorted by address; then the held positions, each
 * placed at its account (bsearch) with its reserve id (the chain's reserves are few), grouped per
 * account in reserve order. Two plain scans: no join or sort in PostgreSQL. */
struct store_ctx {
  struct state_acc_chain *c;
  size_t cap_acc;
  struct tmp_pos {
    uint32_t acct;
    struct state_acc_pos p;
  } * tmp;
  size_t n_tmp, cap_tmp;
  const char *unfit; /* why the chain's rows cannot be held (then the chain is left to the database) */
  const struct state_acc_chain *res_of; /* whose reserves map resolves positions (c, or the chain c is a delta of) */
};

static int cmp_rec(const void *a, const void *b) { return memcmp(a, b, 20); }

static db_status store_reserve_row(const db_row *row, void *arg) {
  struct store_ctx *x = arg;
  struct state_acc_chain *c = x->c;
  if (x->unfit) return DB_OK;
  if (c->n_res == RISK_MAX_RESERVES) {
    x->unfit = "more reserves than the engine takes";
    return DB_OK;
  }
  if (!hex20(db_row_text(row, 0), c->res[c->n_res].addr)) {
    x->unfit = "a reserve address that is not an address";
    return DB_OK;
  }
  c->res[c->n_res++].id = (int32_t)strtol(db_row_text(row, 1), NULL, 10);
  return DB_OK;
}

static db_status store_account_row(const db_row *row, void *arg) {
  struct store_ctx *x = arg;
  struct state_acc_chain *c = x->c;
  if (x->unfit) return DB_OK;
  if (!UTIL_VEC_RESERVE(c->accounts, c->n_accounts, x->cap_acc, 1024)) return DB_ERROR;
  struct state_acc *r = &c->accounts[c->n_accounts];
  memset(r, 0, sizeof *r);
  if (!hex20(db_row_text(row, 0), r->addr)) {
    x->unfit = "an account address that is not an address";
    return DB_OK;
  }
  r->emode = (uint8_t)strtoul(db_row_text(row, 1), NULL, 10);
  r->block_number = strtoll(db_row_text(row, 2), NULL, 10);
  c->n_accounts++;
  return DB_OK;
}

static db_status store_position_row(const db_row *row, void *arg) {
  struct store_ctx *x = arg;
  struct state_acc_chain *c = x->c;
  if (x->unfit) return DB_OK;
  uint8_t addr[20], asset[20];
  if (!hex20(db_row_text(row, 0), addr) || !hex20(db_row_text(row, 1), asset)) {
    x->unfit = "a position address that is not an address";
    return DB_OK;
  }
  const struct state_acc *r = c->n_accounts ? bsearch(addr, c->accounts, c->n_accounts, sizeof *r, cmp_rec) : NULL;
  if (!r) return DB_OK; /* a position without its account row: no lookup finds it (as in SQL) */
  if (x->n_tmp >= UINT32_MAX || !UTIL_VEC_RESERVE(x->tmp, x->n_tmp, x->cap_tmp, 4096)) return DB_ERROR;
  struct tmp_pos *t = &x->tmp[x->n_tmp];
  t->acct = (uint32_t)(r - c->accounts);
  t->p.reserve = -1;
  const struct state_acc_res *rr =
      x->res_of->n_res ? bsearch(asset, x->res_of->res, x->res_of->n_res, sizeof *rr, cmp_rec) : NULL;
  if (rr) t->p.reserve = rr->id;
  const char *col = db_row_text(row, 4);
  t->p.collateral = col && col[0] == 't';
  if (!u256_parse_dec(db_row_text(row, 2), &t->p.scaled_a) || !u256_parse_dec(db_row_text(row, 3), &t->p.scaled_debt)) {
    x->unfit = "a balance that is not a 256-bit integer";
    return DB_OK;
  }
  x->n_tmp++;
  return DB_OK;
}

/* Sets r->no_debt from its positions (see struct state_acc). */
static void set_no_debt(struct state_acc *r, const struct state_acc_pos *pos) {
  bool nd = !r->too_many;
  for (uint32_t k = 0; k < r->n_pos && nd; k++) {
    const struct state_acc_pos *p = &pos[r->first + k];
    nd = p->reserve >= 0 && u256_is_zero(p->scaled_debt) &&
         (!p->collateral || (p->scaled_a.w[1] | p->scaled_a.w[2] | p->scaled_a.w[3]) == 0);
  }
  r->no_debt = nd;
}

/* Places the collected positions at their accounts, in reserve order (unlisted ones last). */
static db_status store_group(struct store_ctx *x) {
  struct state_acc_chain *c = x->c;
  if (x->n_tmp == 0) {
    for (size_t i = 0; i < c->n_accounts; i++)
      set_no_debt(&c->accounts[i], NULL);
    return DB_OK;
  }
  c->positions = malloc(x->n_tmp * sizeof *c->positions);
  if (!c->positions) return DB_ERROR;
  for (size_t i = 0; i < x->n_tmp; i++)
    if (c->accounts[x->tmp[i].acct].n_pos++ == UINT16_MAX) { /* (PK: one row per asset) */
      x->unfit = "an account with more than 65535 positions";
      return DB_OK;
    }
  uint32_t next = 0;
  for (size_t i = 0; i < c->n_accounts; i++) {
    struct state_acc *r = &c->accounts[i];
    r->first = next;
    next += r->n_pos;
    r->too_many = r->n_pos > RISK_ACCOUNT_MAX_POSITIONS;
    r->n_pos = 0; /* counts again while placing */
  }
  for (size_t i = 0; i < x->n_tmp; i++) {
    struct state_acc *r = &c->accounts[x->tmp[i].acct];
    struct state_acc_pos *slot = &c->positions[r->first], p = x->tmp[i].p;
    uint32_t k = r->n_pos++;
    uint32_t key = (uint32_t)p.reserve; /* -1 sorts last */
    while (k > 0 && (uint32_t)slot[k - 1].reserve > key) {
      slot[k] = slot[k - 1];
      k--;
    }
    slot[k] = p;
  }
  c->n_positions = x->n_tmp;
  for (size_t i = 0; i < c->n_accounts; i++)
    set_no_debt(&c->accounts[i], c->positions);
  return DB_OK;
}

/* Reads every account of chain c (its reserves map already in c) when there are at most max of
 * them; otherwise, or when its rows are not what the store can hold (logged), leaves them to the
 * database. Fails only on a database error, which fails the whole build. */
static db_status load_full(db_conn *conn, struct state_acc_chain *c, struct store_ctx *x, size_t max) {
  size_t n = 0;
  db_status s = db_accounts_count(conn, c->chain_id, max + 1, &n);
  if (s != DB_OK) return s;
  if (n > max) {
    util_log(UTIL_LOG_INFO,
             "accounts: chain %lld has more than SPARKD_ACCOUNT_CACHE_MAX (%zu) accounts; lookups read "
             "the database",
             (long long)c->chain_id, max);
    return DB_OK;
  }
  s = db_accounts_store_accounts(conn, c->chain_id, store_account_row, x);
  if (s == DB_OK && !x->unfit) {
    if (c->n_accounts) qsort(c->accounts, c->n_accounts, sizeof *c->accounts, cmp_rec);
    s = db_accounts_store_positions(conn, c->chain_id, store_position_row, x);
  }
  if (s == DB_OK && !x->unfit) s = store_group(x);
  if (s == DB_OK && !x->unfit) c->accounts_cached = true;
  return s;
}

/* The chain's change record (migration 0015). */
struct change_head {
  bool known;
  int64_t seq, full_seq, kept_from, block_number, block_timestamp;
};

static db_status head_row(const db_row *row, void *arg) {
  struct change_head *h = arg;
  h->known = true;
  h->seq = strtoll(db_row_text(row, 0), NULL, 10);
  h->full_seq = strtoll(db_row_text(row, 1), NULL, 10);
  h->kept_from = strtoll(db_row_text(row, 2), NULL, 10);
  h->block_number = strtoll(db_row_text(row, 3), NULL, 10);
  h->block_timestamp = strtoll(db_row_text(row, 4), NULL, 10);
  return DB_OK;
}

struct addr_set {
  uint8_t (*v)[20];
  size_t n, cap;
  bool bad;
};

static db_status addr_row(const db_row *row, void *arg) {
  struct addr_set *a = arg;
  if (!UTIL_VEC_RESERVE(a->v, a->n, a->cap, 256)) return DB_ERROR;
  if (!hex20(db_row_text(row, 0), a->v[a->n]))
    a->bad = true;
  else
    a->n++;
  return DB_OK;
}

/* Appends account r (its positions at pos[r->first ..]) to c's arrays at c->n_accounts. */
static void put_account(struct state_acc_chain *c, const struct state_acc *r, const struct state_acc_pos *pos) {
  struct state_acc *o = &c->accounts[c->n_accounts++];
  *o = *r;
  o->first = (uint32_t)c->n_positions;
  if (r->n_pos) memcpy(&c->positions[c->n_positions], &pos[r->first], r->n_pos * sizeof *pos);
  c->n_positions += r->n_pos;
}

/* Chain c shares prev's accounts and positions (no import wrote an account since prev). */
static void share_prev(struct state_acc_chain *c, const struct state_acc_chain *prev) {
  util_log(UTIL_LOG_INFO, "accounts: chain %lld: no account written since the previous generation; %zu shared",
           (long long)c->chain_id, prev->n_accounts);
  if (prev->store) atomic_fetch_add(&prev->store->refs, 1);
  c->store = prev->store;
  c->accounts = prev->accounts;
  c->positions = prev->positions;
  c->n_accounts = prev->n_accounts;
  c->n_positions = prev->n_positions;
  c->accounts_cached = true;
}

/* First index in accounts[from .. n) whose address is not below addr. */
static size_t lower_bound(const struct state_acc *accounts, size_t from, size_t n, const uint8_t addr[20]) {
  while (from < n) {
    size_t mid = from + (n - from) / 2;
    if (memcmp(accounts[mid].addr, addr, 20) < 0)
      from = mid + 1;
    else
      n = mid;
  }
  return from;
}

/* Chain c (c->accounts allocated for prev's and d's accounts) from prev with the changed
 * accounts chg, of which d holds the ones that exist: the runs of unchanged accounts are copied
 * whole and keep their positions in the store st; d's positions are appended to st (which has
 * room); c gets a store of its own for its accounts array that holds st. */
static db_status merge_append(struct state_acc_chain *c, const struct state_acc_chain *prev,
                              const struct state_acc_chain *d, const struct addr_set *chg, struct state_acc_store *st) {
  struct state_acc_store *own = malloc(sizeof *own);
  if (!own) return DB_ERROR;
  size_t base = st->used, removed = 0, i = 0, k = 0;
  if (d->n_positions) memcpy(&st->positions[base], d->positions, d->n_positions * sizeof *d->positions);
  for (size_t j = 0; j <= chg->n; j++) {
    size_t stop = j < chg->n ? lower_bound(prev->accounts, i, prev->n_accounts, chg->v[j]) : prev->n_accounts;
    if (stop > i) memcpy(&c->accounts[c->n_accounts], &prev->accounts[i], (stop - i) * sizeof *c->accounts);
    c->n_accounts += stop - i;
    i = stop;
    if (j == chg->n) break;
    if (i < prev->n_accounts && memcmp(prev->accounts[i].addr, chg->v[j], 20) == 0)
      removed += prev->accounts[i++].n_pos; /* replaced or removed */
    if (k < d->n_accounts && memcmp(d->accounts[k].addr, chg->v[j], 20) == 0) {
      struct state_acc *o = &c->accounts[c->n_accounts++];
      *o = d->accounts[k++];
      o->first += (uint32_t)base;
    }
  }
  st->used += d->n_positions;
  st->garbage += removed;
  c->n_positions = prev->n_positions - removed + d->n_positions;
  c->positions = st->positions;
  atomic_init(&own->refs, 1);
  own->accounts = c->accounts;
  own->acc_bytes = 0;
  own->positions = st->positions;
  own->pos_owner = st;
  own->cap = own->used = own->garbage = 0;
  atomic_fetch_add(&st->refs, 1);
  c->store = own;
  return DB_OK;
}

/* Chain c from prev and what the imports after prev's change record wrote: the accounts they did
 * not touch are copied from prev, the ones they touched are read again (or dropped when removed).
 * Sets *done false (and leaves c untouched) when the changes cannot be held: the caller reads
 * everything. */
static db_status load_delta(db_conn *conn, struct state_acc_chain *c, const struct state_acc_chain *prev, size_t max,
                            bool *done) {
  *done = false;
  struct addr_set chg = {0};
  struct state_acc_chain *d = calloc(1, sizeof *d);
  struct store_ctx *x = calloc(1, sizeof *x);
  db_status s = d && x ? DB_OK : DB_ERROR;
  if (s == DB_OK) {
    d->chain_id = c->chain_id;
    x->c = d;
    x->res_of = c;
    s = db_accounts_changed(conn, DB_ACCOUNTS_CHANGED_ADDRESSES, c->chain_id, prev->changes_seq, addr_row, &chg);
  }
  if (s == DB_OK && !chg.bad && chg.n == 0) { /* imports without accounts (prices-only blocks) */
    share_prev(c, prev);
    *done = true;
    free(d);
    free(x);
    free(chg.v);
    return DB_OK;
  }
  if (s == DB_OK && !chg.bad)
    s = db_accounts_changed(conn, DB_ACCOUNTS_CHANGED_ACCOUNTS, c->chain_id, prev->changes_seq, store_account_row, x);
  if (s == DB_OK && !chg.bad && !x->unfit) {
    if (d->n_accounts) qsort(d->accounts, d->n_accounts, sizeof *d->accounts, cmp_rec);
    if (chg.n) qsort(chg.v, chg.n, sizeof *chg.v, cmp_rec);
    s = db_accounts_changed(conn, DB_ACCOUNTS_CHANGED_POSITIONS, c->chain_id, prev->changes_seq, store_position_row, x);
  }
  if (s == DB_OK && !chg.bad && !x->unfit) s = store_group(x);
  if (s == DB_OK && !chg.bad && !x->unfit) {
    /* merge by address: prev's accounts, less the changed ones, plus the changed ones that exist */
    struct state_acc_store *st = prev->store ? (prev->store->pos_owner ? prev->store->pos_owner : prev->store) : NULL;
    bool appended = false;
    size_t cap_a = prev->n_accounts + d->n_accounts;
    c->accounts = cap_a ? big_take(cap_a * sizeof *c->accounts) : NULL;
    if (cap_a && !c->accounts) s = DB_ERROR;
    if (s == DB_OK && st && st->positions == prev->positions && st->used + d->n_positions <= st->cap &&
        st->garbage <= st->used / 4) {
      s = merge_append(c, prev, d, &chg, st);
      appended = true;
    } else if (s == DB_OK) {
      /* a new store with room for the next blocks' positions (merge_append) */
      size_t cap_p = prev->n_positions + d->n_positions;
      cap_p += cap_p / 8 + 4096;
      c->positions = big_alloc(cap_p * sizeof *c->positions);
      if (!c->positions) s = DB_ERROR;
      size_t i = 0, j = 0, k = 0;
      while (s == DB_OK && (i < prev->n_accounts || j < chg.n)) {
        int cmp = i < prev->n_accounts && j < chg.n ? memcmp(prev->accounts[i].addr, chg.v[j], 20)
                  : i < prev->n_accounts            ? -1
                                                    : 1;
        if (cmp < 0) {
          put_account(c, &prev->accounts[i++], prev->positions);
          continue;
        }
        if (cmp == 0) i++; /* replaced or removed */
        if (k < d->n_accounts && memcmp(d->accounts[k].addr, chg.v[j], 20) == 0)
          put_account(c, &d->accounts[k++], d->positions);
        j++;
      }
      if (s == DB_OK && !store_wrap(c, cap_p)) s = DB_ERROR;
    }
    if (s == DB_OK) c->store->acc_bytes = cap_a * sizeof *c->accounts; /* (big_take) */
    if (s == DB_OK) {
      *done = true;
      util_log(UTIL_LOG_INFO, "accounts: chain %lld: %zu changed accounts re-read, %zu of %zu shared, positions %s",
               (long long)c->chain_id, chg.n, c->n_accounts - d->n_accounts, c->n_accounts,
               appended ? "appended" : "copied");
      if (c->n_accounts > max) {
        util_log(UTIL_LOG_INFO,
                 "accounts: chain %lld has more than SPARKD_ACCOUNT_CACHE_MAX (%zu) accounts; lookups read "
                 "the database",
                 (long long)c->chain_id, max);
      } else {
        c->accounts_cached = true;
      }
    }
  }
  if (s == DB_OK && !*done) {
    util_log(UTIL_LOG_WARN, "accounts: chain %lld: changed accounts not held (%s); reading every account",
             (long long)c->chain_id, chg.bad ? "an address that is not an address" : x->unfit);
  }
  if (s != DB_OK || !c->accounts_cached) {
    if (c->store) {
      store_release(c->store);
    } else {
      free(c->accounts);
      if (!prev->store || c->positions != prev->store->positions) free(c->positions);
    }
    c->store = NULL;
    c->accounts = NULL;
    c->positions = NULL;
    c->n_accounts = c->n_positions = 0;
  }
  if (d) {
    free(d->accounts);
    free(d->positions);
  }
  free(d);
  if (x) free(x->tmp);
  free(x);
  free(chg.v);
  return s;
}

/* Loads chain c's accounts (at most max; 0: none): shared with prev (the generation in service's
 * copy of the chain) when no import wrote an account since, prev plus the changed accounts when
 * its change record still lists every change since prev and nothing else wrote the chain, and
 * every account otherwise (a restart, a chain prev does not hold, a full-mode snapshot, another
 * reserves map, incremental off). */
static db_status load_store(db_conn *conn, struct state_acc_chain *c, size_t max, const struct state_acc_chain *prev,
                            const struct state_market *mc, bool incremental) {
  if (max == 0) return DB_OK;
  struct change_head h = {0};
  struct store_ctx *x = calloc(1, sizeof *x);
  if (!x) return DB_ERROR;
  x->c = c;
  x->res_of = c;
  db_status s = db_accounts_change_head(conn, c->chain_id, head_row, &h);
  if (s == DB_OK) s = db_accounts_store_reserves(conn, c->chain_id, store_reserve_row, x);
  if (s == DB_OK && c->n_res) qsort(c->res, c->n_res, sizeof c->res[0], cmp_rec);
  c->changes_known = h.known;
  c->changes_seq = h.seq;
  bool from_prev = s == DB_OK && !x->unfit && incremental && prev && prev->accounts_cached && prev->changes_known &&
                   h.known && mc && h.block_number == mc->block_number && h.block_timestamp == mc->block_timestamp &&
                   prev->changes_seq <= h.seq && h.full_seq <= prev->changes_seq &&
                   prev->changes_seq + 1 >= h.kept_from && prev->n_res == c->n_res &&
                   memcmp(prev->res, c->res, c->n_res * sizeof c->res[0]) == 0;
  bool done = false;
  if (from_prev && prev->changes_seq == h.seq) { /* no import since */
    share_prev(c, prev);
    free(x);
    return DB_OK;
  }
  if (from_prev) s = load_delta(conn, c, prev, max, &done);
  if (c->store) { /* shared: no account written */
    free(x);
    return s;
  }
  if (s == DB_OK && !done && !x->unfit) s = load_full(conn, c, x, max);
  if (s == DB_OK && c->accounts_cached && !store_wrap(c, c->n_positions)) s = DB_ERROR;
  if (!c->accounts_cached || s != DB_OK) {
    if (s == DB_OK && x->unfit)
      util_log(UTIL_LOG_WARN, "accounts: chain %lld not held in memory (%s); lookups read the database",
               (long long)c->chain_id, x->unfit);
    if (!c->store) {
      free(c->accounts);
      free(c->positions);
    }
    c->accounts = NULL;
    c->positions = NULL;
    c->n_accounts = c->n_positions = 0;
    c->accounts_cached = false;
  }
  free(x->tmp);
  free(x);
  return s;
}

/* ---- health factors, in bulk, per generation ----
 * Every held account is evaluated at the market's block; an account gets no health factor (as
 * the import's NULL) when it has more positions than the engine takes, a position in a reserve
 * the market does not list, or a used position (collateral or debt) in a reserve without a
 * price. The index over them (state/hfindex.h) is the watch list. */

static bool health_one(const struct state_acc_view *v, const struct risk_health_market *hm,
                       const struct state_acc_chain *c, const struct state_acc *r, struct risk_position *rp,
                       struct state_acc_health *out) {
  if (r->too_many) return false;
  for (uint32_t k = 0; k < r->n_pos; k++) {
    const struct state_acc_pos *q = &c->positions[r->first + k];
    if (q->reserve < 0 || (uint32_t)q->reserve >= v->m.n_reserves || !v->res[q->reserve]) return false;
    bool borrowing = !u256_is_zero(q->scaled_debt);
    if ((q->collateral || borrowing) && !v->priced[q->reserve]) return false;
    rp[k] = (struct risk_position){.reserve = (uint16_t)q->reserve,
                                   .collateral = q->collateral,
                                   .borrowing = borrowing,
                                   .scaled_a = q->scaled_a,
                                   .scaled_debt = q->scaled_debt};
  }
  struct risk_health f;
  if (risk_health_fast(hm, rp, r->n_pos, r->emode, &f)) {
    *out = (struct state_acc_health){.hf = f.hf, .coll = f.coll, .debt = f.debt};
    return true;
  }
  struct risk_account_data d; /* outside the fast path's domain: the engine itself */
  if (risk_account_evaluate_positions(&v->m, rp, r->n_pos, r->emode, &d) != RISK_OK) return false;
  out->hf = d.health_factor;
  out->coll = d.total_collateral_base;
  out->debt = d.total_debt_base;
  return true;
}

/* The evaluation's threads take the accounts CHUNK at a time from `next` (a thread that the
 * system holds back leaves its share to the others). The figures that do not fit in c->fig go to
 * a thread's wide (with their account in wide_k), n_wide of them; bucket[i] is account i's bucket
 * in the index. skip_no_debt: accounts marked no_debt are not evaluated (see health_compute). */
#define CHUNK 8192
struct health_ctx {
  const struct state_acc_view *v;
  const struct risk_health_market *hm;
  struct state_acc_chain *c;
  uint32_t *bucket;
  bool skip_no_debt;
  atomic_size_t next;
};
struct health_job {
  struct health_ctx *h;
  struct state_acc_health *wide;
  uint32_t *wide_k;
  size_t n_wide, cap_wide;
  bool oom;
  double cpu_ms;
};

static double clock_ms(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *health_run(void *arg) {
  struct health_job *j = arg;
  struct health_ctx *x = j->h;
  struct state_acc_chain *c = x->c;
  double c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
  struct risk_position rp[RISK_ACCOUNT_MAX_POSITIONS];
  struct state_acc_health h;
  for (;;) {
    size_t from = atomic_fetch_add(&x->next, CHUNK), to = from + CHUNK;
    if (from >= c->n_accounts || j->oom) break;
    if (to > c->n_accounts) to = c->n_accounts;
    for (size_t i = from; i < to; i++) {
      struct state_hf_fig *f = &c->fig[i];
      const struct state_acc *r = &c->accounts[i];
      if (x->skip_no_debt && r->no_debt) {
        state_hf_set_no_debt(f);
        x->bucket[i] = STATE_HF_B_MAX;
        continue;
      }
      if (!health_one(x->v, x->hm, c, r, rp, &h)) {
        state_hf_set_none(f);
        x->bucket[i] = STATE_HF_NONE;
        continue;
      }
      x->bucket[i] = state_hf_bucket(&h.hf);
      if (state_hf_set(f, &h)) continue;
      if (j->n_wide == j->cap_wide) {
        size_t cap = j->cap_wide ? 2 * j->cap_wide : 16;
        struct state_acc_health *w = realloc(j->wide, cap * sizeof *w);
        if (w) j->wide = w;
        uint32_t *wk = w ? realloc(j->wide_k, cap * sizeof *wk) : NULL;
        if (wk) j->wide_k = wk;
        if (!w || !wk) {
          j->oom = true;
          break;
        }
        j->cap_wide = cap;
      }
      j->wide[j->n_wide] = h;
      j->wide_k[j->n_wide++] = (uint32_t)i;
    }
  }
  j->cpu_ms = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
  return NULL;
}

/* The collateral of account k of chain ctx, not evaluated by its generation (no_debt): what the
 * evaluation would have given, with the generation's market. */
static void coll_of(const void *ctx, uint32_t k, u256 *coll) {
  const struct state_acc_chain *c = ctx;
  struct risk_position rp[RISK_ACCOUNT_MAX_POSITIONS];
  struct state_acc_health h;
  *coll = U256_ZERO;
  if (health_one(c->hf_view, c->hf_market, c, &c->accounts[k], rp, &h))
    *coll = h.coll;
  else /* cannot be: no_debt is only skipped where the evaluation answers */
    UTIL_BUG("accounts: account %u was left unevaluated as without debt and cannot be evaluated", k);
}

/* Whether the accounts marked no_debt have the health factor 2^256-1 at v's prices without being
 * evaluated: every reserve of c's reserves map (all a position can be in) is in the market, priced
 * and in the fast path's domain (then health_one answers through risk_health_fast, which gives
 * 2^256-1 with no debt). */
static bool no_debt_skippable(const struct state_acc_chain *c, const struct state_acc_view *v,
                              const struct risk_health_market *hm) {
  for (size_t i = 0; i < c->n_res; i++) {
    int32_t id = c->res[i].id;
    if (id < 0 || (uint32_t)id >= v->m.n_reserves || (uint32_t)id >= hm->n_reserves || !v->res[id] || !v->priced[id] ||
        !hm->r[id].fast)
      return false;
  }
  return true;
}

/* Fills c->fig and the index c->hf from c's accounts and the market mc (NULL: none gets figures),
 * on up to `threads` threads (the calling thread is one of them).
 * *eval_ms and *index_ms: the wall time of the two steps, *cpu_ms the evaluation's CPU time. */
static bool health_compute(struct state_acc_chain *c, const struct state_market *mc, unsigned threads, double *eval_ms,
                           double *cpu_ms, double *index_ms) {
  *eval_ms = *cpu_ms = *index_ms = 0;
  if (c->n_accounts == 0) return true;
  double t0 = clock_ms(CLOCK_MONOTONIC);
  c->fig = big_take(c->n_accounts * sizeof *c->fig);
  struct state_acc_view *v = c->hf_view = malloc(sizeof *v);
  struct risk_health_market *hm = c->hf_market = malloc(sizeof *hm);
  struct health_ctx hx = {.v = v, .hm = hm, .c = c, .bucket = big_take(c->n_accounts * sizeof *hx.bucket)};
  atomic_init(&hx.next, 0);
  struct health_job jobs[STATE_HF_MAX_THREADS];
  memset(jobs, 0, sizeof jobs);
  size_t t = threads < 1 ? 1 : threads > STATE_HF_MAX_THREADS ? STATE_HF_MAX_THREADS : threads;
  if (t > 1 + c->n_accounts / 4096) t = 1 + c->n_accounts / 4096; /* small chains: not worth a thread */
  bool ok = c->fig && v && hm && hx.bucket;
  if (ok && mc && state_accounts_view(v, mc, c, (uint64_t)mc->block_timestamp, NULL) == RISK_OK) {
    risk_health_prepare(hm, &v->m);
    hx.skip_no_debt = no_debt_skippable(c, v, hm);
    pthread_t tid[STATE_HF_MAX_THREADS];
    bool started[STATE_HF_MAX_THREADS] = {false};
    for (size_t k = 0; k < t; k++)
      jobs[k].h = &hx;
    for (size_t k = 1; k < t; k++)
      started[k] = pthread_create(&tid[k], NULL, health_run, &jobs[k]) == 0;
    health_run(&jobs[0]); /* (takes what a thread that could not start would have taken) */
    for (size_t k = 1; k < t; k++)
      if (started[k]) pthread_join(tid[k], NULL);
    size_t n_wide = 0;
    for (size_t k = 0; k < t; k++) {
      n_wide += jobs[k].n_wide;
      *cpu_ms += jobs[k].cpu_ms;
      if (jobs[k].oom) ok = false;
    }
    if (ok && n_wide) { /* rare: figures of 2^64 and more, health factors of 2^128 and more */
      c->wide = malloc(n_wide * sizeof *c->wide);
      ok = c->wide != NULL;
      for (size_t k = 0; k < t && ok; k++)
        for (size_t i = 0; i < jobs[k].n_wide; i++) {
          c->wide[c->n_wide] = jobs[k].wide[i];
          state_hf_set_wide(&c->fig[jobs[k].wide_k[i]], c->n_wide++);
        }
    }
  } else if (ok) { /* no market: no account has figures */
    for (size_t i = 0; i < c->n_accounts; i++) {
      state_hf_set_none(&c->fig[i]);
      hx.bucket[i] = STATE_HF_NONE;
    }
  }
  double t1 = clock_ms(CLOCK_MONOTONIC);
  if (ok)
    ok = state_hf_build(&c->hf, c->n_accounts, c->fig, c->wide, c->accounts[0].addr, sizeof *c->accounts, coll_of, c,
                        threads, hx.bucket, big_take);
  *eval_ms = t1 - t0;
  *index_ms = clock_ms(CLOCK_MONOTONIC) - t1;
  for (size_t k = 0; k < t; k++) {
    free(jobs[k].wide);
    free(jobs[k].wide_k);
  }
  big_give(hx.bucket, c->n_accounts * sizeof *hx.bucket);
  return ok;
}

static const struct state_market *market_of(struct state_builder *b, int64_t chain_id) {
  const struct state_markets *ms = state_builder_data(b, STATE_MARKETS_KEY);
  for (size_t i = 0; ms && i < ms->n; i++)
    if (ms->v[i]->chain_id == chain_id) return ms->v[i];
  return NULL;
}

db_status state_accounts_load(db_conn *conn, struct state_builder *b) {
  const struct util_config *cfg = state_builder_config(b);
  size_t max = cfg ? cfg->account_cache_max : 0;
  struct build_ctx x = {0};
  db_status s = db_accounts_chains(conn, chain_row, &x);
  if (s == DB_OK) s = db_accounts_emode(conn, emode_row, &x);
  for (size_t i = 0; i < x.n && s == DB_OK; i++) {
    struct state_acc_chain *c = malloc(sizeof *c);
    if (!c) {
      s = DB_ERROR;
      break;
    }
    *c = x.chains[i];
    memset(&x.chains[i], 0, sizeof x.chains[i]);
    char key[64];
    snprintf(key, sizeof key, "accounts:%lld", (long long)c->chain_id);
    const struct state_market *mc = market_of(b, c->chain_id);
    double t0 = clock_ms(CLOCK_MONOTONIC);
    s = load_store(conn, c, max, state_builder_prev_data(b, key), mc, cfg && cfg->account_cache_incremental);
    double t1 = clock_ms(CLOCK_MONOTONIC), eval_ms, cpu_ms, index_ms;
    if (s == DB_OK && c->accounts_cached &&
        !health_compute(c, mc, cfg ? cfg->health_threads : 1, &eval_ms, &cpu_ms, &index_ms))
      s = DB_ERROR;
    if (s == DB_OK && c->accounts_cached)
      util_log(UTIL_LOG_INFO,
               "accounts: chain %lld: %zu accounts loaded in %.0f ms, health factors in %.0f ms (evaluation %.0f ms, "
               "%.0f ms of CPU; index %.0f ms)",
               (long long)c->chain_id, c->n_accounts, t1 - t0, clock_ms(CLOCK_MONOTONIC) - t1, eval_ms, cpu_ms,
               index_ms);
    if (s != DB_OK) {
      chain_free(c);
      break;
    }
    if (!state_cache_put_data(b, key, c, chain_free)) s = DB_ERROR;
  }
  free(x.chains);
  return s;
}

const struct state_acc_chain *state_accounts_chain(const struct state_cache *c, int64_t chain_id) {
  char key[64] = "accounts:";
  util_i64_dec(chain_id, key + 9);
  const struct state_item *it = state_cache_get(c, key);
  return it ? it->data : NULL;
}

/* ---- the engine's market at a time, and one account ---------------------------------------- */

risk_err state_accounts_view(struct state_acc_view *v, const struct state_market *mc, const struct state_acc_chain *x,
                             uint64_t t, const u256 *overrides) {
  memset(v, 0, sizeof *v);
  v->mc = mc;
  v->x = x;
  v->t = t;
  for (size_t i = 0; i < mc->n; i++) {
    const struct state_reserve *r = &mc->r[i];
    if (r->reserve_id < 0 || r->reserve_id >= RISK_MAX_RESERVES) return RISK_INVALID;
    uint16_t id = (uint16_t)r->reserve_id;
    v->res[id] = r;
    u256 price = r->has_price ? r->price : U256_ZERO;
    if (overrides && !u256_is_zero(overrides[id])) price = overrides[id];
    v->priced[id] = !u256_is_zero(price);
    risk_err e = risk_acct_reserve_from_state(&v->m.reserves[id], &r->st, price, t);
    if (e) return e;
    if ((uint32_t)id + 1 > v->m.n_reserves) v->m.n_reserves = (uint32_t)id + 1;
  }
  if (x) memcpy(v->m.emode, x->emode, sizeof v->m.emode);
  return risk_market_prepare(&v->m);
}

/* One view per request thread: building it runs updateState for every reserve, which is most of
 * an account lookup's engine time; the state cache is immutable per generation, so the view is
 * reused until the generation changes. */
struct view_slot {
  bool valid;
  uint64_t generation;
  int64_t chain_id;
  struct state_acc_view v;
};
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static void slot_key_init(void) { pthread_key_create(&slot_key, free); }

const struct state_acc_view *state_accounts_view_at_block(const struct state_cache *c, const struct state_market *mc,
                                                          const struct state_acc_chain *x, risk_err *err) {
  pthread_once(&slot_once, slot_key_init);
  struct view_slot *s = pthread_getspecific(slot_key);
  if (!s) {
    if (!(s = calloc(1, sizeof *s)) || pthread_setspecific(slot_key, s) != 0) {
      free(s);
      *err = RISK_INVALID;
      return NULL;
    }
  }
  uint64_t gen = state_cache_generation(c);
  if (!s->valid || s->generation != gen || s->chain_id != mc->chain_id || s->v.mc != mc) {
    s->valid = false;
    if ((*err = state_accounts_view(&s->v, mc, x, (uint64_t)mc->block_timestamp, NULL))) return NULL;
    s->valid = true;
    s->generation = gen;
    s->chain_id = mc->chain_id;
  }
  return &s->v;
}

int state_accounts_reserve_id(const struct state_acc_view *v, const char *asset) {
  const struct state_reserve *r = state_markets_find_reserve(v->mc, asset);
  return r ? r->reserve_id : -1;
}

struct load_ctx {
  const struct state_acc_view *v;
  struct risk_account *a;
  bool found;
  bool bad;
  bool chain_seen;
  int64_t block, block_timestamp; /* the chain's block in the database */
};

static db_status load_row(const db_row *row, void *arg) {
  struct load_ctx *x = arg;
  x->chain_seen = true;
  x->block = strtoll(db_row_text(row, 0), NULL, 10);
  x->block_timestamp = strtoll(db_row_text(row, 6), NULL, 10);
  const char *emode = db_row_text(row, 1);
  if (!emode) return DB_OK; /* no such account */
  x->found = true;
  x->a->emode_category = (uint32_t)strtoul(emode, NULL, 10);
  const char *asset = db_row_text(row, 2);
  if (!asset) return DB_OK; /* an account row without (held) positions */
  int id = -1;
  for (uint32_t i = 0; i < x->v->m.n_reserves && id < 0; i++)
    if (x->v->res[i] && strcmp(x->v->res[i]->address, asset) == 0) id = (int)i;
  if (id < 0 || x->a->n_positions >= RISK_ACCOUNT_MAX_POSITIONS) {
    x->bad = true;
    return DB_OK;
  }
  struct risk_position *p = &x->a->pos[x->a->n_positions];
  memset(p, 0, sizeof *p);
  p->reserve = (uint16_t)id;
  const char *col = db_row_text(row, 5);
  p->collateral = col && col[0] == 't';
  if (!u256_parse_dec(db_row_text(row, 3), &p->scaled_a) || !u256_parse_dec(db_row_text(row, 4), &p->scaled_debt)) {
    x->bad = true;
    return DB_OK;
  }
  p->borrowing = !u256_is_zero(p->scaled_debt);
  if (u256_is_zero(p->scaled_a) && !p->borrowing) return DB_OK; /* nothing held */
  x->a->n_positions++;
  return DB_OK;
}

static int cmp_pos(const void *a, const void *b) {
  const struct risk_position *x = a, *y = b;
  return (int)x->reserve - (int)y->reserve;
}

db_status state_accounts_read(db_conn *conn, const struct state_acc_view *v, const char *lower, struct risk_account *a,
                              bool *found, bool *same_block, int64_t *block) {
  memset(a, 0, offsetof(struct risk_account, pos));
  char chain[24];
  util_i64_dec(v->mc->chain_id, chain);
  struct load_ctx x = {.v = v, .a = a};
  db_status s = db_accounts_get(conn, chain, lower, load_row, &x);
  if (s != DB_OK) return s;
  /* number and timestamp: a re-import of the same height with another block (allow_older after a
   * reorg) is another block too */
  *same_block = !x.chain_seen || (x.block == v->mc->block_number && x.block_timestamp == v->mc->block_timestamp);
  *block = x.block;
  if (!*same_block) return DB_OK;
  if (x.bad) {
    util_log(UTIL_LOG_ERROR, "accounts: account %s on chain %s has a position the market does not list", lower, chain);
    return DB_ERROR;
  }
  qsort(a->pos, a->n_positions, sizeof a->pos[0], cmp_pos);
  *found = x.found;
  return DB_OK;
}

db_status state_accounts_find(const struct state_acc_chain *x, const struct state_acc_view *v, const char *lower,
                              struct risk_account *a, bool *found) {
  memset(a, 0, offsetof(struct risk_account, pos));
  *found = false;
  uint8_t key[20];
  if (!hex20(lower, key)) return DB_ERROR;
  const struct state_acc *r = x->n_accounts ? bsearch(key, x->accounts, x->n_accounts, sizeof *r, cmp_rec) : NULL;
  if (!r) return DB_OK;
  *found = true;
  a->emode_category = r->emode;
  if (r->too_many) {
    util_log(UTIL_LOG_ERROR, "accounts: account %s on chain %lld has more than %d positions", lower,
             (long long)x->chain_id, RISK_ACCOUNT_MAX_POSITIONS);
    return DB_ERROR;
  }
  for (uint32_t i = 0; i < r->n_pos; i++) {
    const struct state_acc_pos *q = &x->positions[r->first + i];
    if (q->reserve < 0 || (uint32_t)q->reserve >= v->m.n_reserves || !v->res[q->reserve]) {
      util_log(UTIL_LOG_ERROR, "accounts: account %s on chain %lld has a position the market does not list", lower,
               (long long)x->chain_id);
      return DB_ERROR;
    }
    struct risk_position *p = &a->pos[a->n_positions++];
    memset(p, 0, sizeof *p);
    p->reserve = (uint16_t)q->reserve;
    p->collateral = q->collateral;
    p->scaled_a = q->scaled_a;
    p->scaled_debt = q->scaled_debt;
    p->borrowing = !u256_is_zero(q->scaled_debt);
  }
  return DB_OK;
}
