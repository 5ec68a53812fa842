/* The indexer core (see index.h). One step reads the node's head, checks that the last applied
 * block is still canonical (else walks back to the common ancestor and rewinds), then reads the
 * market at the next target block by its hash: reserves, strategies, eMode categories, prices,
 * and every account the logs since the last applied block touched. The snapshot document goes to
 * the store only when every read succeeded and the target is still canonical, so a failed step
 * applies nothing. */
#include "chain/index.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/abi.h"
#include "risk/wadray.h"
#include "util/hex.h"
#include "util/log.h"

#define SYM_MAX 64

struct sym {
  chain_addr asset;
  char symbol[SYM_MAX];
};

/* what a strategy contract is (probed once per address: those getters are immutable) */
struct irm_info {
  chain_addr irm;
  int target; /* 0 (a plain strategy), CHAIN_IRM_RATE_TARGET_BASE or _KINK */
  u256 spread_abs;
  bool spread_neg;
  chain_addr src;
  enum chain_rate_source_kind src_kind;
  unsigned src_decimals;
  u256 lower, upper, dflt;
};

struct chain_index {
  struct chain_index_opts o;
  struct chain_network net;
  struct chain_index_store store;
  struct chain_rpc *rpc;
  unsigned log_range;
  struct chain_index_stats stats;
  /* accounts removed by a rewind, read again with the next applied block */
  char (*pending)[43];
  size_t n_pending;
  bool pending_loaded;
  struct sym *syms; /* token symbols never change: read once */
  size_t n_syms;
  struct irm_info *irms;
  size_t n_irms;
  bool have_head;
  uint64_t head, head_ts;
  bool have_applied;
  uint64_t applied, applied_ts;
  char topics[10][67];
};

/* the events whose topics and data name the accounts a block touched */
static const char *const EVENTS[] = {
    "Supply(address,address,address,uint256,uint16)",
    "Withdraw(address,address,address,uint256)",
    "Borrow(address,address,address,uint256,uint8,uint256,uint16)",
    "Repay(address,address,address,uint256,bool)",
    "LiquidationCall(address,address,address,uint256,uint256,address,bool)",
    "ReserveUsedAsCollateralEnabled(address,address)",
    "ReserveUsedAsCollateralDisabled(address,address)",
    "UserEModeSet(address,uint8)",
    "Transfer(address,address,uint256)",
    "BalanceTransfer(address,address,uint256,uint256)",
};
enum { EV_SUPPLY, EV_WITHDRAW, EV_BORROW, EV_REPAY, EV_LIQUIDATION, EV_N = 10 };

static void progress(struct chain_index *ix) {
  if (!ix->store.progress) return;
  struct chain_index_progress p = {.chain_id = ix->net.chain_id,
                                   .have_head = ix->have_head,
                                   .head = ix->head,
                                   .head_timestamp = ix->head_ts,
                                   .have_applied = ix->have_applied,
                                   .applied = ix->applied,
                                   .applied_timestamp = ix->applied_ts};
  p.stats = chain_rpc_stats(ix->rpc, &p.n_stats);
  ix->store.progress(ix->store.ctx, &p);
}

struct chain_index *chain_index_new(const struct chain_index_opts *o, const struct chain_index_store *store, char *err,
                                    size_t err_len) {
  struct chain_index *ix = calloc(1, sizeof *ix);
  if (!ix) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  ix->o = *o;
  ix->net = *o->net;
  ix->o.net = &ix->net;
  ix->store = *store;
  if (!ix->o.log_range) ix->o.log_range = 2000;
  ix->log_range = ix->o.log_range;
  ix->rpc = chain_rpc_new(&o->rpc);
  if (!ix->rpc) {
    snprintf(err, err_len, "cannot start the json-rpc client");
    free(ix);
    return NULL;
  }
  for (int i = 0; i < EV_N; i++)
    chain_abi_topic(EVENTS[i], ix->topics[i]);
  return ix;
}

void chain_index_free(struct chain_index *ix) {
  if (!ix) return;
  chain_rpc_free(ix->rpc);
  free(ix->pending);
  free(ix->syms);
  free(ix->irms);
  free(ix);
}

const struct chain_index_stats *chain_index_stats(const struct chain_index *ix) { return &ix->stats; }
struct chain_rpc *chain_index_rpc(struct chain_index *ix) {
  return ix->rpc;
}

/* ---- a growable list of calls ---- */

struct calls {
  struct chain_rpc_call *v;
  size_t n, cap;
};

static size_t push(struct calls *c, const char *method, json_t *params) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    struct chain_rpc_call *v = realloc(c->v, cap * sizeof *v);
    if (!v) abort(); /* nothing sensible to do without memory for a call list */
    c->v = v;
    c->cap = cap;
  }
  c->v[c->n] = (struct chain_rpc_call){.method = method, .params = params};
  return c->n++;
}

static void calls_free(struct calls *c) {
  chain_rpc_calls_clear(c->v, c->n);
  free(c->v);
  c->v = NULL;
  c->n = c->cap = 0;
}

/* eth_call of `data` on `to`, pinned to the block by hash (EIP-1898) */
static size_t push_call(struct calls *c, const char *to, const char *data, const char *block_hash) {
  return push(c, "eth_call", json_pack("[{s:s, s:s}, {s:s}]", "to", to, "data", data, "blockHash", block_hash));
}

static size_t push_call0(struct calls *c, const char *to, const char *sig, const char *bh) {
  char data[16];
  chain_abi_encode(sig, NULL, 0, data, sizeof data);
  return push_call(c, to, data, bh);
}

static size_t push_call_addr(struct calls *c, const char *to, const char *sig, const char *arg, const char *bh) {
  char data[80];
  struct chain_abi_arg a = {.kind = CHAIN_ABI_ADDRESS, .address = arg};
  chain_abi_encode(sig, &a, 1, data, sizeof data);
  return push_call(c, to, data, bh);
}

static size_t push_call_uint(struct calls *c, const char *to, const char *sig, uint64_t arg, const char *bh) {
  char data[80];
  struct chain_abi_arg a = {.kind = CHAIN_ABI_UINT, .value = u256_from_u64(arg)};
  chain_abi_encode(sig, &a, 1, data, sizeof data);
  return push_call(c, to, data, bh);
}

/* Returns true with the return data of call i. */
static bool ret(const struct calls *c, size_t i, struct chain_abi_data *d) {
  const struct chain_rpc_call *k = &c->v[i];
  d->b = NULL;
  d->n = 0;
  if (k->error || !json_is_string(k->result)) return false;
  return chain_abi_from_hex(json_string_value(k->result), d);
}

static bool ret_word(const struct calls *c, size_t i, size_t w, u256 *out) {
  struct chain_abi_data d;
  if (!ret(c, i, &d)) return false;
  bool ok = chain_abi_word(&d, 0, w, out);
  chain_abi_data_free(&d);
  return ok;
}

static bool ret_addr(const struct calls *c, size_t i, char out[43]) {
  struct chain_abi_data d;
  if (!ret(c, i, &d)) return false;
  bool ok = chain_abi_address(&d, 0, 0, out);
  chain_abi_data_free(&d);
  return ok;
}

static const char *call_problem(const struct calls *c, size_t i) {
  return c->v[i].error ? c->v[i].err_msg : "malformed answer";
}

/* ---- blocks ---- */

struct header {
  uint64_t number, timestamp;
  char hash[67], parent[67];
};

static bool parse_qty(const json_t *v, uint64_t *out) {
  if (!json_is_string(v)) return false;
  const char *s = json_string_value(v);
  if (s[0] != '0' || s[1] != 'x' || !s[2] || strlen(s) > 18) return false;
  /* hex digits only (strtoull alone takes "0x-1" and "0x 1"), and within PostgreSQL's bigint: a
   * head of 2^64 - 1 wrapped the log range loop round to block 0 for ever */
  for (const char *p = s + 2; *p; p++)
    if (util_hexval(*p) < 0) return false;
  char *end;
  *out = strtoull(s + 2, &end, 16);
  return *end == '\0' && *out <= (uint64_t)INT64_MAX;
}

static bool parse_hash(const json_t *v, char out[67]) {
  if (!json_is_string(v) || json_string_length(v) != 66) return false;
  const char *s = json_string_value(v);
  if (s[0] != '0' || s[1] != 'x') return false;
  for (int i = 0; i < 66; i++)
    out[i] = (char)(i >= 2 && s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
  out[66] = '\0';
  for (int i = 2; i < 66; i++)
    if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'))) return false;
  return true;
}

static bool parse_header(const json_t *b, struct header *h) {
  return json_is_object(b) && parse_qty(json_object_get(b, "number"), &h->number) &&
         parse_qty(json_object_get(b, "timestamp"), &h->timestamp) && parse_hash(json_object_get(b, "hash"), h->hash) &&
         parse_hash(json_object_get(b, "parentHash"), h->parent);
}

static json_t *block_param(bool latest, uint64_t n) {
  if (latest) return json_pack("[s, b]", "latest", 0);
  char q[24];
  snprintf(q, sizeof q, "0x%" PRIx64, n);
  return json_pack("[s, b]", q, 0);
}

/* Returns 1 with *h, 0 when the node has no such block, -1 on a failure. */
static int get_header(struct chain_index *ix, bool latest, uint64_t n, struct header *h, char *err, size_t err_len) {
  json_t *r = NULL;
  int rc = chain_rpc_call1(ix->rpc, "eth_getBlockByNumber", block_param(latest, n), &r);
  if (rc != 0) {
    snprintf(err, err_len, "%s", chain_rpc_last_error(ix->rpc)); /* it names the method */
    return -1;
  }
  if (json_is_null(r)) {
    json_decref(r);
    return 0;
  }
  bool ok = parse_header(r, h) && (latest || h->number == n); /* the block asked for, not another */
  json_decref(r);
  if (!ok) {
    snprintf(err, err_len, "eth_getBlockByNumber: malformed block");
    return -1;
  }
  return 1;
}

/* ---- accounts ---- */

static int addr_cmp(const void *a, const void *b) { return memcmp(a, b, 43); }

struct addrs {
  char (*v)[43];
  size_t n, cap;
};

static void addrs_add(struct addrs *a, const char *s) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 256;
    char(*v)[43] = realloc(a->v, cap * sizeof *v);
    if (!v) abort();
    a->v = v;
    a->cap = cap;
  }
  memcpy(a->v[a->n++], s, 43);
}

static void addrs_sort_unique(struct addrs *a) {
  if (!a->n) return;
  qsort(a->v, a->n, 43, addr_cmp);
  size_t k = 1;
  for (size_t i = 1; i < a->n; i++)
    if (memcmp(a->v[i], a->v[k - 1], 43) != 0) memcpy(a->v[k++], a->v[i], 43);
  a->n = k;
}

static bool addrs_has(const struct addrs *a, const char *s) {
  return a->n && bsearch(s, a->v, a->n, 43, addr_cmp) != NULL;
}

/* Adds the address in a 32-byte topic or data word (64 hex digits) when it is one. */
static void add_word_addr(struct addrs *out, const char *hex64) {
  for (int i = 0; i < 24; i++)
    if (hex64[i] != '0') return;
  char a[43] = "0x";
  for (int i = 0; i < 40; i++) {
    char ch = hex64[24 + i];
    a[2 + i] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
  }
  a[42] = '\0';
  static const char zero[43] = "0x0000000000000000000000000000000000000000";
  if (memcmp(a, zero, 43) != 0) addrs_add(out, a);
}

/* Collects the accounts one log names: every indexed address, and the user or liquidator that
 * Supply, Borrow and LiquidationCall carry in their data. Over-collecting is harmless (an address
 * without positions is simply absent from the delta's result). */
static void log_accounts(struct chain_index *ix, const json_t *lg, struct addrs *out) {
  json_t *topics = json_object_get(lg, "topics");
  if (!json_is_array(topics) || json_array_size(topics) == 0) return;
  const char *t0 = json_string_value(json_array_get(topics, 0));
  if (!t0) return;
  int ev = -1;
  for (int i = 0; i < EV_N; i++)
    if (strcasecmp(t0, ix->topics[i]) == 0) ev = i;
  if (ev < 0) return;
  for (size_t i = 1; i < json_array_size(topics); i++) {
    const char *t = json_string_value(json_array_get(topics, i));
    if (t && strlen(t) == 66) add_word_addr(out, t + 2);
  }
  const char *data = json_string_value(json_object_get(lg, "data"));
  if (!data || strncmp(data, "0x", 2) != 0) return;
  size_t words = strlen(data + 2) / 64;
  size_t w = ev == EV_SUPPLY || ev == EV_BORROW ? 0 : ev == EV_LIQUIDATION ? 2 : SIZE_MAX;
  if (w != SIZE_MAX && w < words) add_word_addr(out, data + 2 + 64 * w);
}

/* ---- the market ---- */

struct reserve {
  chain_addr asset, a_token, s_token, v_token, irm;
  u256 cfg, liq_index, liq_rate, var_index, var_rate, accrued, isolation_debt;
  u256 a_total, v_total, available, optimal, base, slope1, slope2, price;
  chain_addr price_source;
  uint64_t last_update, id;
  char symbol[SYM_MAX];
  /* a rate-target strategy (Spark's RateTargetBase/RateTargetKinkInterestRateStrategy): kind 0 is
     none, else the snapshot's kind, with its spread and rate source */
  int target; /* 0, CHAIN_IRM_RATE_TARGET_BASE or CHAIN_IRM_RATE_TARGET_KINK */
  u256 spread_abs;
  bool spread_neg;
  chain_addr src;
  enum chain_rate_source_kind src_kind;
  u256 apr, lower, upper, dflt;
  unsigned src_decimals;
};

struct market {
  chain_addr pool, oracle;
  size_t n;
  struct reserve *r;
};

static const char *symbol_of(struct chain_index *ix, const char *asset) {
  for (size_t i = 0; i < ix->n_syms; i++)
    if (strcmp(ix->syms[i].asset, asset) == 0) return ix->syms[i].symbol;
  return NULL;
}

static void symbol_put(struct chain_index *ix, const char *asset, const char *sym) {
  struct sym *v = realloc(ix->syms, (ix->n_syms + 1) * sizeof *v);
  if (!v) return;
  ix->syms = v;
  memcpy(v[ix->n_syms].asset, asset, 43);
  snprintf(v[ix->n_syms].symbol, SYM_MAX, "%s", sym);
  ix->n_syms++;
}

static bool not_a_revert(const struct calls *c, size_t i);

/* A token's symbol: a string, or (older tokens such as MKR) a bytes32; "?" when the token has no
 * symbol (the call reverts) or its symbol is empty or not UTF-8. Returns false, with out "?", when
 * the node gave no answer about the token: an error other than a revert, or a result that is not
 * hex data. The caller then fails the step (reserve symbols are cached for good). */
static bool decode_symbol(const struct calls *c, size_t i, char *out, size_t cap) {
  struct chain_abi_data d;
  snprintf(out, cap, "?");
  if (c->v[i].error) return !not_a_revert(c, i);
  if (!ret(c, i, &d)) return false;
  out[0] = '\0';
  if (!chain_abi_string(&d, 0, 0, out, cap) && d.n == 32) {
    size_t k = 0;
    while (k < 32 && k + 1 < cap && d.b[k] >= 0x20 && d.b[k] < 0x7f)
      out[k] = (char)d.b[k], k++;
    out[k] = '\0';
  }
  chain_abi_data_free(&d);
  json_t *t = json_string(out); /* NULL: not UTF-8, which jansson refuses */
  if (!t || !out[0]) snprintf(out, cap, "?");
  json_decref(t);
  return true;
}

static int read_strategies(struct chain_index *ix, struct market *m, const char *bh, char *err, size_t err_len);

static int read_market(struct chain_index *ix, const char *bh, struct market *m, char *err, size_t err_len) {
  struct calls c = {0};
  int rc = -1;
  const char *pap = ix->net.pool_addresses_provider;
  size_t i_pool = push_call0(&c, pap, "getPool()", bh);
  size_t i_oracle = push_call0(&c, pap, "getPriceOracle()", bh);
  if (chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    goto out;
  }
  if (!c.v[i_pool].error && json_is_string(c.v[i_pool].result) &&
      (strcmp(json_string_value(c.v[i_pool].result), "0x") == 0 ||
       (ret_addr(&c, i_pool, m->pool) && strcmp(m->pool, "0x0000000000000000000000000000000000000000") == 0))) {
    rc = 1; /* a block before the market was deployed: no provider code yet, or no pool set */
    goto out;
  }
  if (!ret_addr(&c, i_pool, m->pool) || !ret_addr(&c, i_oracle, m->oracle)) {
    snprintf(err, err_len, "pool addresses provider %s: %s", pap,
             call_problem(&c, c.v[i_pool].error ? i_pool : i_oracle));
    goto out;
  }
  calls_free(&c);
  size_t i_list = push_call0(&c, m->pool, "getReservesList()", bh);
  if (chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    goto out;
  }
  struct chain_abi_data d;
  char(*list)[43] = NULL;
  size_t n = 0;
  if (!ret(&c, i_list, &d)) {
    snprintf(err, err_len, "getReservesList: %s", call_problem(&c, i_list));
    goto out;
  }
  bool ok = chain_abi_address_array(&d, 0, 0, &list, &n);
  chain_abi_data_free(&d);
  if (!ok) {
    snprintf(err, err_len, "getReservesList: malformed answer");
    goto out;
  }
  calls_free(&c);
  m->n = n;
  m->r = calloc(n ? n : 1, sizeof *m->r);
  if (!m->r) abort();
  size_t *i_rd = calloc(n ? n : 1, sizeof *i_rd);
  for (size_t k = 0; k < n; k++) {
    memcpy(m->r[k].asset, list[k], 43);
    i_rd[k] = push_call_addr(&c, m->pool, "getReserveData(address)", list[k], bh);
  }
  free(list);
  if (chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    free(i_rd);
    goto out;
  }
  for (size_t k = 0; k < n; k++) {
    struct reserve *r = &m->r[k];
    ok = ret(&c, i_rd[k], &d);
    ok = ok && chain_abi_word(&d, 0, 0, &r->cfg) && chain_abi_word(&d, 0, 1, &r->liq_index) &&
         chain_abi_word(&d, 0, 2, &r->liq_rate) && chain_abi_word(&d, 0, 3, &r->var_index) &&
         chain_abi_word(&d, 0, 4, &r->var_rate) && chain_abi_uint(&d, 0, 6, 40, &r->last_update) &&
         chain_abi_uint(&d, 0, 7, 16, &r->id) && chain_abi_address(&d, 0, 8, r->a_token) &&
         chain_abi_address(&d, 0, 9, r->s_token) && chain_abi_address(&d, 0, 10, r->v_token) &&
         chain_abi_address(&d, 0, 11, r->irm) && chain_abi_word(&d, 0, 12, &r->accrued) &&
         chain_abi_word(&d, 0, 14, &r->isolation_debt);
    if (c.v[i_rd[k]].result) chain_abi_data_free(&d);
    if (!ok) {
      snprintf(err, err_len, "getReserveData(%s): %s", r->asset, call_problem(&c, i_rd[k]));
      free(i_rd);
      goto out;
    }
  }
  free(i_rd);
  calls_free(&c);
  /* per reserve: token totals, liquidity, strategy, price, and the symbol once */
  enum { PER = 9 };
  size_t base = 0;
  size_t *i_sym = calloc(n ? n : 1, sizeof *i_sym);
  for (size_t k = 0; k < n; k++) {
    struct reserve *r = &m->r[k];
    base = c.n;
    push_call0(&c, r->a_token, "scaledTotalSupply()", bh);
    push_call0(&c, r->v_token, "scaledTotalSupply()", bh);
    push_call_addr(&c, r->asset, "balanceOf(address)", r->a_token, bh);
    push_call0(&c, r->irm, "OPTIMAL_USAGE_RATIO()", bh);
    push_call0(&c, r->irm, "getBaseVariableBorrowRate()", bh);
    push_call0(&c, r->irm, "getVariableRateSlope1()", bh);
    push_call0(&c, r->irm, "getVariableRateSlope2()", bh);
    push_call_addr(&c, m->oracle, "getAssetPrice(address)", r->asset, bh);
    push_call_addr(&c, m->oracle, "getSourceOfAsset(address)", r->asset, bh);
    (void)base;
    i_sym[k] = symbol_of(ix, r->asset) ? SIZE_MAX : SIZE_MAX - 1;
  }
  size_t fixed = c.n;
  for (size_t k = 0; k < n; k++)
    if (i_sym[k] == SIZE_MAX - 1) i_sym[k] = push_call0(&c, m->r[k].asset, "symbol()", bh);
  if (chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    free(i_sym);
    goto out;
  }
  (void)fixed;
  for (size_t k = 0; k < n; k++) {
    struct reserve *r = &m->r[k];
    size_t b = k * PER;
    u256 *dst[] = {&r->a_total, &r->v_total, &r->available, &r->optimal, &r->base, &r->slope1, &r->slope2, &r->price};
    for (size_t j = 0; j < 8; j++)
      if (!ret_word(&c, b + j, 0, dst[j])) {
        snprintf(err, err_len, "reserve %s: %s (call %zu)", r->asset, call_problem(&c, b + j), j);
        free(i_sym);
        goto out;
      }
    if (!ret_addr(&c, b + 8, r->price_source))
      memcpy(r->price_source, "0x0000000000000000000000000000000000000000", 43);
    if (i_sym[k] != SIZE_MAX) {
      char s[SYM_MAX];
      if (!decode_symbol(&c, i_sym[k], s, sizeof s)) {
        snprintf(err, err_len, "reserve %s symbol(): %s", r->asset, call_problem(&c, i_sym[k]));
        free(i_sym);
        goto out;
      }
      symbol_put(ix, r->asset, s);
    }
    const char *sym = symbol_of(ix, r->asset);
    snprintf(r->symbol, sizeof r->symbol, "%s", sym ? sym : "?");
  }
  free(i_sym);
  calls_free(&c);
  rc = read_strategies(ix, m, bh, err, err_len);
out:
  calls_free(&c);
  return rc;
}

/* What the importer re-derives from the source (spec snapshot.md): rate_target_base's base rate
 * is apr (as RAY) + spread, rate_target_kink's slope1 is max(apr (as RAY) + spread - base, 0).
 * Returns whether the getters agree, so that a contract computing otherwise is written as a
 * plain strategy (its getters' values) rather than a snapshot the importer refuses. */
static bool target_consistent(const struct reserve *r) {
  u256 scale, apr_ray, with;
  if (u256_pow10(&scale, 27 - r->src_decimals) != RISK_OK || u256_mul(&apr_ray, r->apr, scale) != RISK_OK) return false;
  bool neg = false;
  if (!r->spread_neg) {
    if (u256_add(&with, apr_ray, r->spread_abs) != RISK_OK) return false;
  } else if (u256_ge(apr_ray, r->spread_abs)) {
    with = u256_sub_wrap(apr_ray, r->spread_abs);
  } else {
    with = u256_sub_wrap(r->spread_abs, apr_ray);
    neg = true;
  }
  if (r->target == CHAIN_IRM_RATE_TARGET_BASE) return !neg && u256_eq(with, r->base);
  u256 slope1 = !neg && u256_gt(with, r->base) ? u256_sub_wrap(with, r->base) : U256_ZERO;
  return u256_eq(slope1, r->slope1);
}

/* Whether call i failed with a node error other than a revert (eth_call of a function the contract
 * lacks reverts: "execution reverted"). */
static bool not_a_revert(const struct calls *c, size_t i) {
  if (!c->v[i].error) return false;
  char low[sizeof c->v[i].err_msg];
  size_t k = 0;
  for (; c->v[i].err_msg[k]; k++)
    low[k] =
        (char)(c->v[i].err_msg[k] >= 'A' && c->v[i].err_msg[k] <= 'Z' ? c->v[i].err_msg[k] + 32 : c->v[i].err_msg[k]);
  low[k] = '\0';
  return !strstr(low, "revert");
}

/* Detects Spark's rate-target strategies by their getters: RATE_SOURCE() with
 * getBaseVariableBorrowRateSpread() (uint256) is rate_target_base, with
 * getVariableRateSlope1Spread() (int256) rate_target_kink. Their source's kind: lowerBound(),
 * upperBound() and defaultRate() make a CappedFallbackRateSource, susds() an SSRRateSource, pot()
 * a PotRateSource, anything else an oracle; decimals() absent (the first PotRateSource) is 27, as
 * its getAPR() is a RAY. All of that is immutable in those contracts, so each strategy address is
 * probed once (a probe of a plain strategy reverts, which counts as an RPC error); only the
 * source's getAPR() is read at every block. */
static int probe_strategies(struct chain_index *ix, const struct market *m, const char *bh, char *err, size_t err_len) {
  struct calls c = {0};
  size_t first = ix->n_irms;
  for (size_t k = 0; k < m->n; k++) {
    bool known = false;
    for (size_t i = 0; i < ix->n_irms && !known; i++)
      known = strcmp(ix->irms[i].irm, m->r[k].irm) == 0;
    if (known) continue;
    struct irm_info *v = realloc(ix->irms, (ix->n_irms + 1) * sizeof *v);
    if (!v) abort();
    ix->irms = v;
    memset(&v[ix->n_irms], 0, sizeof *v);
    memcpy(v[ix->n_irms++].irm, m->r[k].irm, 43);
    push_call0(&c, m->r[k].irm, "RATE_SOURCE()", bh);
    push_call0(&c, m->r[k].irm, "getBaseVariableBorrowRateSpread()", bh);
    push_call0(&c, m->r[k].irm, "getVariableRateSlope1Spread()", bh);
  }
  if (!c.n) return 0;
  int rc = -1;
  if (chain_rpc_batch(ix->rpc, c.v, c.n) != 0) goto rpc_failed;
  /* a probe's answer is cached for good: only a revert (the getter is absent) counts as "no";
     any other node error (a per-call rate limit, …) fails the step, which probes again */
  for (size_t i = 0; i < c.n; i++)
    if (not_a_revert(&c, i)) {
      snprintf(err, err_len, "strategy %s probe: %s", ix->irms[first + i / 3].irm, c.v[i].err_msg);
      ix->n_irms = first;
      goto out;
    }
  size_t n_src = 0;
  for (size_t i = first; i < ix->n_irms; i++) {
    struct irm_info *x = &ix->irms[i];
    size_t b = (i - first) * 3;
    u256 spread;
    if (!ret_addr(&c, b, x->src) || strcmp(x->src, "0x0000000000000000000000000000000000000000") == 0) continue;
    if (ret_word(&c, b + 1, 0, &spread)) {
      x->target = CHAIN_IRM_RATE_TARGET_BASE;
      x->spread_abs = spread;
    } else if (ret_word(&c, b + 2, 0, &spread)) {
      x->target = CHAIN_IRM_RATE_TARGET_KINK;
      x->spread_neg = u256_bits(spread) == 256; /* int256: two's complement */
      x->spread_abs = x->spread_neg ? u256_sub_wrap(U256_ZERO, spread) : spread;
    }
    n_src += x->target != 0;
  }
  calls_free(&c);
  if (!n_src) return 0;
  for (size_t i = first; i < ix->n_irms; i++) {
    if (!ix->irms[i].target) continue;
    const char *src = ix->irms[i].src;
    push_call0(&c, src, "decimals()", bh);
    push_call0(&c, src, "lowerBound()", bh);
    push_call0(&c, src, "upperBound()", bh);
    push_call0(&c, src, "defaultRate()", bh);
    push_call0(&c, src, "susds()", bh);
    push_call0(&c, src, "pot()", bh);
  }
  if (chain_rpc_batch(ix->rpc, c.v, c.n) != 0) goto rpc_failed;
  for (size_t i = 0; i < c.n; i++)
    if (not_a_revert(&c, i)) {
      snprintf(err, err_len, "rate source probe: %s", c.v[i].err_msg);
      ix->n_irms = first;
      goto out;
    }
  size_t b = 0;
  for (size_t i = first; i < ix->n_irms; i++) {
    struct irm_info *x = &ix->irms[i];
    if (!x->target) continue;
    u256 dec, any;
    x->src_decimals = 27;
    if (ret_word(&c, b, 0, &dec)) {
      if (u256_bits(dec) > 5 || dec.w[0] > 27) x->target = 0; /* the format's decimals are at most 27 */
      x->src_decimals = (unsigned)dec.w[0];
    }
    if (ret_word(&c, b + 1, 0, &x->lower) && ret_word(&c, b + 2, 0, &x->upper) && ret_word(&c, b + 3, 0, &x->dflt))
      x->src_kind = CHAIN_SRC_CAPPED_FALLBACK;
    else if (ret_word(&c, b + 4, 0, &any))
      x->src_kind = CHAIN_SRC_SSR;
    else if (ret_word(&c, b + 5, 0, &any))
      x->src_kind = CHAIN_SRC_POT;
    else
      x->src_kind = CHAIN_SRC_ORACLE;
    b += 6;
  }
  rc = 0;
  goto out;
rpc_failed:
  snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
  ix->n_irms = first; /* probed again next time */
out:
  calls_free(&c);
  return rc;
}

static int read_strategies(struct chain_index *ix, struct market *m, const char *bh, char *err, size_t err_len) {
  if (probe_strategies(ix, m, bh, err, err_len) != 0) return -1;
  struct calls c = {0};
  size_t *at = calloc(m->n ? m->n : 1, sizeof *at);
  if (!at) abort();
  for (size_t k = 0; k < m->n; k++) {
    struct reserve *r = &m->r[k];
    r->target = 0;
    for (size_t i = 0; i < ix->n_irms; i++)
      if (ix->irms[i].target && strcmp(ix->irms[i].irm, r->irm) == 0) {
        const struct irm_info *x = &ix->irms[i];
        r->target = x->target;
        r->spread_abs = x->spread_abs;
        r->spread_neg = x->spread_neg;
        memcpy(r->src, x->src, 43);
        r->src_kind = x->src_kind;
        r->src_decimals = x->src_decimals;
        r->lower = x->lower;
        r->upper = x->upper;
        r->dflt = x->dflt;
        at[k] = push_call0(&c, r->src, "getAPR()", bh);
      }
  }
  if (c.n && chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    calls_free(&c);
    free(at);
    return -1;
  }
  for (size_t k = 0; k < m->n; k++) {
    struct reserve *r = &m->r[k];
    if (!r->target) continue;
    if (not_a_revert(&c, at[k])) {
      /* a node error is not an answer: the step fails and is read again, never stored as a
         plain strategy */
      snprintf(err, err_len, "rpc: getAPR() of %s: %s", r->src, c.v[at[k]].err_msg);
      calls_free(&c);
      free(at);
      return -1;
    }
    /* a negative APR (an int256 getAPR) has no place in the format */
    if (!ret_word(&c, at[k], 0, &r->apr) || u256_bits(r->apr) == 256 || !target_consistent(r)) {
      util_log(UTIL_LOG_WARN,
               "index: reserve %s: strategy %s (rate source %s) does not follow the rate-target rule at this block;"
               " written as a plain strategy with its getters' values",
               r->asset, r->irm, r->src);
      r->target = 0;
    }
  }
  calls_free(&c);
  free(at);
  return 0;
}

static void market_free(struct market *m) {
  free(m->r);
  m->r = NULL;
  m->n = 0;
}

static json_t *jdec(u256 v) {
  char b[U256_DEC_MAX];
  u256_to_dec(v, b);
  return json_string(b);
}

/* a signed decimal string: "-" and the magnitude when neg */
static json_t *jdec_signed(bool neg, u256 abs) {
  char b[U256_DEC_MAX + 1];
  b[0] = '-';
  u256_to_dec(abs, b + 1);
  return json_string(neg && !u256_is_zero(abs) ? b : b + 1);
}

static unsigned cfg_bits(u256 cfg, unsigned shift, unsigned width) {
  u256 x = u256_shr(cfg, shift);
  return (unsigned)(x.w[0] & ((1ull << width) - 1));
}

/* Reads the touched accounts and appends them to doc's "accounts" (delta). */
static int read_accounts(struct chain_index *ix, const struct market *m, const struct addrs *acc, const char *bh,
                         json_t *accounts, bool emode_seen[256], char *err, size_t err_len) {
  size_t per = 2 + 2 * m->n;
  /* bounded batches of accounts keep the call list (and memory) small on a large back-fill */
  const size_t chunk = 512;
  for (size_t at = 0; at < acc->n; at += chunk) {
    size_t k = acc->n - at < chunk ? acc->n - at : chunk;
    struct calls c = {0};
    for (size_t a = 0; a < k; a++) {
      const char *u = acc->v[at + a];
      push_call_addr(&c, m->pool, "getUserConfiguration(address)", u, bh);
      push_call_addr(&c, m->pool, "getUserEMode(address)", u, bh);
      for (size_t r = 0; r < m->n; r++) {
        push_call_addr(&c, m->r[r].a_token, "scaledBalanceOf(address)", u, bh);
        push_call_addr(&c, m->r[r].v_token, "scaledBalanceOf(address)", u, bh);
      }
    }
    if (chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
      snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
      calls_free(&c);
      return -1;
    }
    for (size_t a = 0; a < k; a++) {
      size_t b = a * per;
      u256 ucfg, em;
      uint64_t emode;
      if (!ret_word(&c, b, 0, &ucfg) || !ret_word(&c, b + 1, 0, &em) || !u256_to_u64(em, &emode) || emode > 255) {
        snprintf(err, err_len, "account %s: %s", acc->v[at + a], call_problem(&c, b));
        calls_free(&c);
        return -1;
      }
      json_t *pos = json_array();
      for (size_t r = 0; r < m->n; r++) {
        u256 sa, sv;
        if (!ret_word(&c, b + 2 + 2 * r, 0, &sa) || !ret_word(&c, b + 3 + 2 * r, 0, &sv)) {
          snprintf(err, err_len, "account %s reserve %s: %s", acc->v[at + a], m->r[r].asset,
                   call_problem(&c, c.v[b + 2 + 2 * r].error ? b + 2 + 2 * r : b + 3 + 2 * r));
          json_decref(pos);
          calls_free(&c);
          return -1;
        }
        if (u256_is_zero(sa) && u256_is_zero(sv)) continue;
        bool coll = m->r[r].id < 128 && (u256_shr(ucfg, (unsigned)(2 * m->r[r].id + 1)).w[0] & 1);
        json_array_append_new(pos, json_pack("{s:s, s:o, s:o, s:b}", "asset", m->r[r].asset, "scaled_a_token_balance",
                                             jdec(sa), "scaled_variable_debt", jdec(sv), "collateral", coll));
      }
      emode_seen[emode] = true;
      json_array_append_new(accounts, json_pack("{s:s, s:I, s:o}", "address", acc->v[at + a], "emode_category",
                                                (json_int_t)emode, "positions", pos));
    }
    calls_free(&c);
    ix->stats.accounts_read += k;
  }
  return 0;
}

static int read_emode(struct chain_index *ix, const struct market *m, const bool seen[256], const char *bh, json_t *out,
                      char *err, size_t err_len) {
  struct calls c = {0};
  uint8_t ids[256];
  size_t n = 0;
  for (unsigned id = 1; id < 256; id++)
    if (seen[id]) {
      ids[n++] = (uint8_t)id;
      push_call_uint(&c, m->pool, "getEModeCategoryData(uint8)", id, bh);
    }
  if (n && chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    calls_free(&c);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    struct chain_abi_data d;
    size_t t;
    uint64_t ltv, lt, lb;
    char src[43], label[CHAIN_SNAPSHOT_TEXT_MAX];
    bool ok = ret(&c, i, &d);
    ok = ok && chain_abi_offset(&d, 0, 0, &t) && chain_abi_uint(&d, t, 0, 16, &ltv) &&
         chain_abi_uint(&d, t, 1, 16, &lt) && chain_abi_uint(&d, t, 2, 16, &lb) && chain_abi_address(&d, t, 3, src) &&
         chain_abi_string(&d, t, 4, label, sizeof label);
    if (c.v[i].result) chain_abi_data_free(&d);
    if (!ok) {
      snprintf(err, err_len, "getEModeCategoryData(%u): %s", ids[i], call_problem(&c, i));
      calls_free(&c);
      return -1;
    }
    if (lt == 0) continue; /* a category never configured reads as zeros */
    json_t *lab = json_string(label);
    json_array_append_new(out, json_pack("{s:I, s:I, s:I, s:I, s:s, s:o}", "id", (json_int_t)ids[i], "ltv",
                                         (json_int_t)ltv, "liquidation_threshold", (json_int_t)lt, "liquidation_bonus",
                                         (json_int_t)lb, "price_source", src, "label", lab ? lab : json_string("?")));
  }
  calls_free(&c);
  return 0;
}

/* eth_getLogs over [from, to] for the market's contracts and events, in block ranges that halve
 * when the node refuses one and grow back after successes. */
static int fetch_accounts(struct chain_index *ix, const struct market *m, uint64_t from, uint64_t to, struct addrs *out,
                          char *err, size_t err_len) {
  json_t *addrs = json_array();
  json_array_append_new(addrs, json_string(m->pool));
  for (size_t k = 0; k < m->n; k++) {
    json_array_append_new(addrs, json_string(m->r[k].a_token));
    json_array_append_new(addrs, json_string(m->r[k].v_token));
  }
  json_t *t0 = json_array();
  for (int i = 0; i < EV_N; i++)
    json_array_append_new(t0, json_string(ix->topics[i]));
  uint64_t cur = from;
  int rc = 0;
  while (cur <= to) {
    uint64_t end = to - cur + 1 > ix->log_range ? cur + ix->log_range - 1 : to;
    char f[24], t[24];
    snprintf(f, sizeof f, "0x%" PRIx64, cur);
    snprintf(t, sizeof t, "0x%" PRIx64, end);
    json_t *params =
        json_pack("[{s:s, s:s, s:O, s:[O]}]", "fromBlock", f, "toBlock", t, "address", addrs, "topics", t0);
    json_t *res = NULL;
    int r = chain_rpc_call1(ix->rpc, "eth_getLogs", params, &res);
    if (r == -1) {
      snprintf(err, err_len, "%s", chain_rpc_last_error(ix->rpc));
      rc = -1;
      break;
    }
    if (r == -2 || !json_is_array(res)) {
      json_decref(res);
      if (end > cur) { /* the node refused the range: halve it */
        ix->log_range = (unsigned)((end - cur + 1) / 2);
        if (!ix->log_range) ix->log_range = 1;
        continue;
      }
      snprintf(err, err_len, "eth_getLogs of block %" PRIu64 ": %s", cur, chain_rpc_last_error(ix->rpc));
      rc = -1;
      break;
    }
    size_t i;
    json_t *lg;
    json_array_foreach(res, i, lg) {
      if (json_is_true(json_object_get(lg, "removed"))) continue;
      log_accounts(ix, lg, out);
    }
    json_decref(res);
    cur = end + 1;
    if (ix->log_range < ix->o.log_range)
      ix->log_range = ix->log_range * 2 > ix->o.log_range ? ix->o.log_range : ix->log_range * 2;
  }
  json_decref(addrs);
  json_decref(t0);
  return rc;
}

/* Adds an asset to doc's assets unless listed. */
static bool asset_listed(const json_t *assets, const char *a) {
  size_t i;
  json_t *x;
  json_array_foreach(assets, i, x) {
    if (strcmp(json_string_value(json_object_get(x, "address")), a) == 0) return true;
  }
  return false;
}

/* SparkLend's KillSwitchOracle: triggered(), oracles(), and per oracle oracleThresholds(oracle)
 * with the oracle's latestAnswer() (int256), decimals() and description() (the label; the
 * oracle's address when it has none). A block before the contract existed has no section. */
static int read_kill_switch(struct chain_index *ix, const char *bh, json_t *doc, char *err, size_t err_len) {
  const char *ks = ix->net.kill_switch;
  struct calls c = {0};
  int rc = -1;
  push_call0(&c, ks, "triggered()", bh);
  push_call0(&c, ks, "oracles()", bh);
  if (chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    goto out;
  }
  if (!c.v[0].error && json_is_string(c.v[0].result) && strcmp(json_string_value(c.v[0].result), "0x") == 0) {
    rc = 0; /* no code at this block yet */
    goto out;
  }
  u256 trig;
  struct chain_abi_data d;
  char(*list)[43] = NULL;
  size_t n = 0;
  if (!ret_word(&c, 0, 0, &trig) || u256_bits(trig) > 1 || !ret(&c, 1, &d)) {
    snprintf(err, err_len, "kill switch %s: %s", ks, call_problem(&c, c.v[0].error ? 0 : 1));
    goto out;
  }
  bool ok = chain_abi_address_array(&d, 0, 0, &list, &n);
  chain_abi_data_free(&d);
  if (!ok) {
    snprintf(err, err_len, "kill switch %s oracles(): malformed answer", ks);
    goto out;
  }
  calls_free(&c);
  for (size_t i = 0; i < n; i++) {
    push_call_addr(&c, ks, "oracleThresholds(address)", list[i], bh);
    push_call0(&c, list[i], "latestAnswer()", bh);
    push_call0(&c, list[i], "decimals()", bh);
    push_call0(&c, list[i], "description()", bh);
  }
  if (n && chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    free(list);
    goto out;
  }
  json_t *oracles = json_array();
  for (size_t i = 0; i < n; i++) {
    u256 th, ans, dec;
    if (!ret_word(&c, 4 * i, 0, &th) || !ret_word(&c, 4 * i + 1, 0, &ans) || !ret_word(&c, 4 * i + 2, 0, &dec) ||
        dec.w[0] > 36 || u256_bits(dec) > 6 || u256_bits(th) == 256) {
      snprintf(err, err_len, "kill switch oracle %s: %s", list[i], call_problem(&c, 4 * i + 1));
      json_decref(oracles);
      free(list);
      goto out;
    }
    char label[CHAIN_SNAPSHOT_TEXT_MAX];
    if (!decode_symbol(&c, 4 * i + 3, label, sizeof label)) { /* a string getter, as symbol() */
      snprintf(err, err_len, "kill switch oracle %s description(): %s", list[i], call_problem(&c, 4 * i + 3));
      json_decref(oracles);
      free(list);
      goto out;
    }
    bool neg = u256_bits(ans) == 256;
    json_array_append_new(oracles,
                          json_pack("{s:s, s:s, s:o, s:o, s:I}", "address", list[i], "label",
                                    !label[0] || strcmp(label, "?") == 0 ? list[i] : label, "threshold", jdec(th),
                                    "latest_answer", jdec_signed(neg, neg ? u256_sub_wrap(U256_ZERO, ans) : ans),
                                    "decimals", (json_int_t)dec.w[0]));
  }
  free(list);
  json_object_set_new(
      doc, "kill_switch",
      json_pack("{s:s, s:b, s:o}", "address", ks, "triggered", !u256_is_zero(trig), "oracles", oracles));
  rc = 0;
out:
  calls_free(&c);
  return rc;
}

/* ---- the liquidity layer's venues, allocations and idle balances ---- */

#define SECONDS_PER_YEAR 31536000u

static size_t push_call_u256(struct calls *c, const char *to, const char *sig, u256 arg, const char *bh) {
  char data[80];
  struct chain_abi_arg a = {.kind = CHAIN_ABI_UINT, .value = arg};
  chain_abi_encode(sig, &a, 1, data, sizeof data);
  return push_call(c, to, data, bh);
}

/* call indices of one venue's reads (SIZE_MAX: not read) */
struct venue_reads {
  size_t bal, asset, pool_or_supply, rate, old_header; /* first round, at the block */
  size_t n_coins, coin_past, coin0, balance0;   /* first round, curve: N_COINS(), coins(n), coins(i), balances(i) */
  size_t reserve, amount, price_now, price_old; /* second round */
  char pool[43];
  u256 shares, probe; /* the ALM proxy's shares (LP tokens); the share amount the price is measured with */
  u256 coin_amount[CHAIN_NETWORK_CURVE_MAX_COINS]; /* curve: the ALM proxy's pro-rata claim per coin */
  struct header old;
};

/* The share-price APR over the window: (a1 / a0 - 1) annualised linearly over the seconds between
 * the two blocks, as a RAY, floored: (a1 - a0) * RAY * 31536000 / (a0 * dt). Returns 0 with *apr,
 * 1 when the price fell (*apr 0: the format's apr is unsigned), -1 when it cannot be computed. */
static int share_price_apr(u256 a0, u256 a1, uint64_t dt, u256 *apr) {
  *apr = U256_ZERO;
  if (u256_is_zero(a0) || dt == 0) return -1;
  if (u256_lt(a1, a0)) return 1;
  u256 num, den;
  if (u256_mul(&num, RISK_RAY, u256_from_u64(SECONDS_PER_YEAR)) != RISK_OK ||
      u256_mul(&den, a0, u256_from_u64(dt)) != RISK_OK)
    return -1;
  return u256_muldiv(apr, u256_sub_wrap(a1, a0), num, den) == RISK_OK ? 0 : -1;
}

/* The price a windowed APR is measured with: an ERC-4626 vault's convertToAssets of a fixed share
 * amount, a Curve pool's get_virtual_price() (the value of one LP token in the pool's coins, which
 * grows with the fees the pool keeps). */
static const char *price_getter(const struct chain_net_venue *v) {
  return v->kind == CHAIN_NET_VENUE_CURVE ? "get_virtual_price()" : "convertToAssets";
}

/* After the first round: checks the header of the block apr_window_blocks back and asks for the
 * price at the block and at that one (by its hash). Returns 0, or -1 with err. */
static int push_window_prices(const struct calls *c, struct calls *c2, const struct header *h,
                              const struct chain_net_venue *v, struct venue_reads *x, char *err, size_t err_len) {
  uint64_t old_n = h->number - v->apr_window_blocks;
  if (c->v[x->old_header].error || !parse_header(c->v[x->old_header].result, &x->old) || x->old.number != old_n) {
    snprintf(err, err_len, "venue %s apr: eth_getBlockByNumber(%" PRIu64 "): %s", v->id, old_n,
             c->v[x->old_header].error ? c->v[x->old_header].err_msg : "no such block or a malformed one");
    return -1;
  }
  if (v->kind == CHAIN_NET_VENUE_CURVE) {
    x->price_now = push_call0(c2, v->address, "get_virtual_price()", h->hash);
    x->price_old = push_call0(c2, v->address, "get_virtual_price()", x->old.hash);
  } else {
    x->price_now = push_call_u256(c2, v->address, "convertToAssets(uint256)", x->probe, h->hash);
    x->price_old = push_call_u256(c2, v->address, "convertToAssets(uint256)", x->probe, x->old.hash);
  }
  return 0;
}

/* The APR of a windowed venue from the two prices: never guessed (a node that no longer has the
 * older state fails the step, naming the venue, the block and the window). Returns 0 with *apr,
 * or -1 with err. */
static int window_apr(const struct calls *c2, const struct header *h, const struct chain_net_venue *v,
                      const struct venue_reads *x, u256 *apr, char *err, size_t err_len) {
  const char *g = price_getter(v);
  u256 a0, a1;
  if (!ret_word(c2, x->price_now, 0, &a1)) {
    snprintf(err, err_len, "venue %s (%s) %s: %s", v->id, v->address, g, call_problem(c2, x->price_now));
    return -1;
  }
  bool node_error = not_a_revert(c2, x->price_old);
  if (!node_error && !ret_word(c2, x->price_old, 0, &a0)) {
    snprintf(err, err_len,
             "venue %s apr: %s at block %" PRIu64 " (%u blocks back, apr_window_blocks): %s"
             " (no %s there yet? a shorter window is needed)",
             v->id, g, x->old.number, v->apr_window_blocks, call_problem(c2, x->price_old),
             v->kind == CHAIN_NET_VENUE_CURVE ? "pool" : "vault");
    return -1;
  }
  if (node_error) {
    /* a full node keeps the state of recent blocks only: say so, never guess a rate */
    snprintf(err, err_len,
             "venue %s apr: the node cannot serve block %" PRIu64 " (%u blocks back, apr_window_blocks): %s;"
             " a node keeping that state, or a shorter window, is needed",
             v->id, x->old.number, v->apr_window_blocks, call_problem(c2, x->price_old));
    return -1;
  }
  uint64_t dt = h->timestamp > x->old.timestamp ? h->timestamp - x->old.timestamp : 0;
  int k = share_price_apr(a0, a1, dt, apr);
  if (k < 0) {
    snprintf(err, err_len,
             "venue %s apr: no %s growth can be measured between blocks %" PRIu64 " and %" PRIu64
             " (price then 0, or no time between them)",
             v->id, v->kind == CHAIN_NET_VENUE_CURVE ? "virtual price" : "share price", x->old.number, h->number);
    return -1;
  }
  if (k > 0)
    util_log(UTIL_LOG_WARN, "index: venue %s: its %s fell over the last %u blocks; apr written as 0", v->id,
             v->kind == CHAIN_NET_VENUE_CURVE ? "virtual price" : "share price", v->apr_window_blocks);
  return 0;
}

/* A Curve StableSwap-NG pool after the first round: the file's coins are the pool's (N_COINS(),
 * or where a pool has no such getter, coins(n) reverting, checked after the second round; and coins(i) for each), and
 * the ALM proxy's claim on coin i is floor(lp_balance * balances(i) / totalSupply): its pro-rata share of what the pool
 * holds (balances() excludes the admin fees), not a withdrawal quote (no remove_liquidity_one_coin fee or slippage, no
 * imbalance). Returns 0, or -1 with err. */
static int curve_claims(const struct calls *c, struct calls *c2, const char *bh, const struct chain_net_venue *v,
                        struct venue_reads *x, char *err, size_t err_len) {
  u256 supply, n;
  if (!ret_word(c, x->pool_or_supply, 0, &supply)) {
    snprintf(err, err_len, "venue %s (%s) totalSupply(): %s", v->id, v->address, call_problem(c, x->pool_or_supply));
    return -1;
  }
  if (ret_word(c, x->n_coins, 0, &n)) {
    if (!u256_eq(n, u256_from_u64(v->n_coins))) {
      char d[80];
      u256_to_dec(n, d);
      snprintf(err, err_len, "venue %s (%s): the network file names %zu coins, the pool's N_COINS() is %s", v->id,
               v->address, v->n_coins, d);
      return -1;
    }
  } else if (not_a_revert(c, x->n_coins)) {
    snprintf(err, err_len, "venue %s (%s) N_COINS(): %s", v->id, v->address, call_problem(c, x->n_coins));
    return -1;
  } else {
    /* an older pool without N_COINS(): coins(n) must revert, asked in the second round only (a
       revert counts as an RPC error, so a pool that has N_COINS() is not probed every block) */
    x->coin_past = push_call_uint(c2, v->address, "coins(uint256)", v->n_coins, bh);
  }
  for (size_t i = 0; i < v->n_coins; i++) {
    char got[43];
    u256 bal;
    if (!ret_addr(c, x->coin0 + i, got)) {
      snprintf(err, err_len, "venue %s (%s) coins(%zu): %s", v->id, v->address, i, call_problem(c, x->coin0 + i));
      return -1;
    }
    if (strcmp(got, v->coins[i]) != 0) {
      snprintf(err, err_len, "venue %s (%s): the network file names coin %zu %s, the pool's coins(%zu) is %s", v->id,
               v->address, i, v->coins[i], i, got);
      return -1;
    }
    if (!ret_word(c, x->balance0 + i, 0, &bal)) {
      snprintf(err, err_len, "venue %s (%s) balances(%zu): %s", v->id, v->address, i, call_problem(c, x->balance0 + i));
      return -1;
    }
    if (u256_gt(x->shares, supply)) {
      snprintf(err, err_len, "venue %s (%s): the ALM proxy's LP balance is above the pool's totalSupply()", v->id,
               v->address);
      return -1;
    }
    if (u256_is_zero(supply)) {
      x->coin_amount[i] = U256_ZERO;
      if (!u256_is_zero(x->shares)) {
        snprintf(err, err_len, "venue %s (%s): the ALM proxy holds LP tokens of a pool whose totalSupply() is 0", v->id,
                 v->address);
        return -1;
      }
    } else if (u256_muldiv(&x->coin_amount[i], x->shares, bal, supply) != RISK_OK) {
      snprintf(err, err_len, "venue %s (%s): the claim on coin %zu does not fit 256 bits", v->id, v->address, i);
      return -1;
    }
  }
  return 0;
}

/* Adds asset to the idle list once. */
static void idle_add(char (*idle)[43], size_t *ni, const char *asset) {
  for (size_t k = 0; k < *ni; k++)
    if (strcasecmp(idle[k], asset) == 0) return;
  memcpy(idle[(*ni)++], asset, 43);
}

/* Whether asset is itself a venue: the shares of an ERC-4626 venue such as sUSDS, which another
 * venue (Fluid's vault, a Curve pool) may take as its asset. The ALM proxy's own shares of it are
 * that venue's allocation already, so their idle amount is 0: held and not deployed elsewhere is
 * nothing, and counting them as idle too would count them twice. */
static bool venue_shares(const struct chain_network *net, const char *asset) {
  for (size_t i = 0; i < net->n_venues; i++)
    if (strcasecmp(net->venues[i].address, asset) == 0) return true;
  return false;
}

/* Reads each venue of the network file at block h (and, for a windowed APR, at the block
 * apr_window_blocks before it, pinned by that block's hash), and the idle balance of every asset
 * the venues (a Curve pool's coins) and rate-limit keys name, held by the ALM proxy. Appends
 * "venues", "allocations" (a Curve pool: one per coin) and "idle" to ll and the assets not yet
 * listed (a Curve pool's LP token among them: the venue's asset) to assets. Returns 0, or -1 with
 * err (nothing invented: a venue that cannot be read fails the step). */
static int read_venues(struct chain_index *ix, const struct header *h, json_t *assets, json_t *ll, char *err,
                       size_t err_len) {
  const struct chain_network *net = &ix->net;
  const char *bh = h->hash, *alm = net->alm_proxy;
  size_t nv = net->n_venues;
  struct venue_reads *r = calloc(nv ? nv : 1, sizeof *r);
  char(*idle)[43] = calloc(nv * CHAIN_NETWORK_CURVE_MAX_COINS + net->n_keys + 1, sizeof *idle);
  size_t ni = 0;
  if (!r || !idle) abort();
  for (size_t i = 0; i < nv; i++) {
    const struct chain_net_venue *v = &net->venues[i];
    if (v->kind == CHAIN_NET_VENUE_CURVE)
      for (size_t k = 0; k < v->n_coins; k++)
        idle_add(idle, &ni, v->coins[k]);
    else
      idle_add(idle, &ni, v->asset);
  }
  for (size_t i = 0; i < net->n_keys; i++)
    if (net->keys[i].has_asset) idle_add(idle, &ni, net->keys[i].asset);
  struct calls c = {0}, c2 = {0};
  int rc = -1;
  for (size_t i = 0; i < nv; i++) {
    const struct chain_net_venue *v = &net->venues[i];
    struct venue_reads *x = &r[i];
    x->asset = x->rate = x->old_header = x->reserve = x->amount = x->price_now = x->price_old = SIZE_MAX;
    x->n_coins = x->coin_past = x->coin0 = x->balance0 = SIZE_MAX;
    x->bal = push_call_addr(&c, v->address, "balanceOf(address)", alm, bh);
    if (chain_net_venue_windowed(v)) {
      if (v->apr_window_blocks > h->number) {
        snprintf(err, err_len, "venue %s: its apr window of %u blocks reaches before block 0", v->id,
                 v->apr_window_blocks);
        goto out;
      }
      x->old_header = push(&c, "eth_getBlockByNumber", block_param(false, h->number - v->apr_window_blocks));
    }
    if (v->kind == CHAIN_NET_VENUE_ERC4626) {
      x->asset = push_call0(&c, v->address, "asset()", bh);
      x->pool_or_supply = push_call0(&c, v->address, "totalSupply()", bh);
      if (v->apr_source == CHAIN_NET_APR_SSR) x->rate = push_call0(&c, v->address, "ssr()", bh);
      if (v->apr_source == CHAIN_NET_APR_VSR) x->rate = push_call0(&c, v->address, "vsr()", bh);
    } else if (v->kind == CHAIN_NET_VENUE_CURVE) {
      x->pool_or_supply = push_call0(&c, v->address, "totalSupply()", bh);
      x->n_coins = push_call0(&c, v->address, "N_COINS()", bh);
      x->coin0 = c.n;
      for (size_t k = 0; k < v->n_coins; k++)
        push_call_uint(&c, v->address, "coins(uint256)", k, bh);
      x->balance0 = c.n;
      for (size_t k = 0; k < v->n_coins; k++)
        push_call_uint(&c, v->address, "balances(uint256)", k, bh);
    } else {
      x->asset = push_call0(&c, v->address, "UNDERLYING_ASSET_ADDRESS()", bh);
      x->pool_or_supply = push_call0(&c, v->address, "POOL()", bh);
    }
  }
  size_t idle0 = c.n;
  for (size_t k = 0; k < ni; k++)
    push_call_addr(&c, idle[k], "balanceOf(address)", alm, bh);
  /* symbol() and decimals() of every asset not yet listed: the idle ones (every venue's asset, a
     Curve pool's coins, the keys' assets) and a Curve pool's LP token (its venue's asset, with no
     idle entry) */
  size_t meta0 = c.n;
  size_t n_meta = 0;
  char(*meta)[43] = calloc(ni + nv + 1, sizeof *meta);
  if (!meta) abort();
  for (size_t k = 0; k < ni + nv; k++) {
    if (k >= ni && net->venues[k - ni].kind != CHAIN_NET_VENUE_CURVE) continue;
    const char *a = k < ni ? idle[k] : net->venues[k - ni].asset;
    bool dup = false;
    for (size_t j = 0; j < n_meta && !dup; j++)
      dup = strcasecmp(meta[j], a) == 0;
    if (dup || asset_listed(assets, a)) continue;
    memcpy(meta[n_meta++], a, 43);
    push_call0(&c, a, "symbol()", bh);
    push_call0(&c, a, "decimals()", bh);
  }
  if (c.n && chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    goto out_meta;
  }
  /* check what each venue is, then ask for amounts and rates */
  for (size_t i = 0; i < nv; i++) {
    const struct chain_net_venue *v = &net->venues[i];
    struct venue_reads *x = &r[i];
    char got[43];
    bool is_4626 = v->kind == CHAIN_NET_VENUE_ERC4626;
    if (!ret_word(&c, x->bal, 0, &x->shares)) {
      snprintf(err, err_len, "venue %s (%s) balanceOf(alm proxy): %s", v->id, v->address, call_problem(&c, x->bal));
      goto out_meta;
    }
    if (v->kind == CHAIN_NET_VENUE_CURVE) {
      if (curve_claims(&c, &c2, bh, v, x, err, err_len) != 0) goto out_meta;
      if (push_window_prices(&c, &c2, h, v, x, err, err_len) != 0) goto out_meta;
      continue;
    }
    if (!ret_addr(&c, x->asset, got)) {
      snprintf(err, err_len, "venue %s (%s) %s: %s", v->id, v->address,
               is_4626 ? "asset()" : "UNDERLYING_ASSET_ADDRESS()", call_problem(&c, x->asset));
      goto out_meta;
    }
    if (strcmp(got, v->asset) != 0) {
      snprintf(err, err_len, "venue %s (%s): the network file names asset %s, the contract's %s is %s", v->id,
               v->address, v->asset, is_4626 ? "asset()" : "UNDERLYING_ASSET_ADDRESS()", got);
      goto out_meta;
    }
    if (is_4626) {
      u256 supply;
      if (!ret_word(&c, x->pool_or_supply, 0, &supply)) {
        snprintf(err, err_len, "venue %s (%s) totalSupply(): %s", v->id, v->address,
                 call_problem(&c, x->pool_or_supply));
        goto out_meta;
      }
      /* the price is measured on the whole supply (every digit the vault has), or on 10^18
         shares of an empty vault; the same amount at both blocks */
      x->probe = u256_is_zero(supply) ? u256_from_u64(1000000000000000000ull) : supply;
      /* a Maple pool's exit amount deducts its unrealised losses; convertToAssets does not */
      x->amount = push_call_u256(&c2, v->address,
                                 v->amount == CHAIN_NET_AMOUNT_EXIT_ASSETS ? "convertToExitAssets(uint256)"
                                                                           : "convertToAssets(uint256)",
                                 x->shares, bh);
      if (x->old_header != SIZE_MAX && push_window_prices(&c, &c2, h, v, x, err, err_len) != 0) goto out_meta;
    } else {
      if (!ret_addr(&c, x->pool_or_supply, x->pool)) {
        snprintf(err, err_len, "venue %s (%s) POOL(): %s", v->id, v->address, call_problem(&c, x->pool_or_supply));
        goto out_meta;
      }
      x->reserve = push_call_addr(&c2, x->pool, "getReserveData(address)", v->asset, bh);
    }
  }
  if (c2.n && chain_rpc_batch(ix->rpc, c2.v, c2.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    goto out_meta;
  }
  json_t *venues = json_array(), *allocs = json_array(), *idles = json_array();
  json_object_set_new(ll, "venues", venues);
  json_object_set_new(ll, "allocations", allocs);
  json_object_set_new(ll, "idle", idles);
  for (size_t i = 0; i < nv; i++) {
    const struct chain_net_venue *v = &net->venues[i];
    struct venue_reads *x = &r[i];
    u256 amount, apr;
    if (v->kind == CHAIN_NET_VENUE_CURVE) {
      amount = U256_ZERO; /* one allocation per coin, below */
      if (x->coin_past != SIZE_MAX && !c2.v[x->coin_past].error) {
        snprintf(err, err_len, "venue %s (%s): the network file names %zu coins, the pool has a coins(%zu)", v->id,
                 v->address, v->n_coins, v->n_coins);
        goto out_meta;
      }
      if (x->coin_past != SIZE_MAX && not_a_revert(&c2, x->coin_past)) {
        snprintf(err, err_len, "venue %s (%s) coins(%zu): %s", v->id, v->address, v->n_coins,
                 call_problem(&c2, x->coin_past));
        goto out_meta;
      }
      if (window_apr(&c2, h, v, x, &apr, err, err_len) != 0) goto out_meta;
    } else if (v->kind != CHAIN_NET_VENUE_ERC4626) {
      /* an aToken's balanceOf is the supplied amount with interest to this block; the venue's
         yield is its reserve's currentLiquidityRate (word 2 of getReserveData, a RAY per year) */
      amount = x->shares;
      if (!ret_word(&c2, x->reserve, 2, &apr)) {
        snprintf(err, err_len, "venue %s: pool %s getReserveData(%s): %s", v->id, x->pool, v->asset,
                 call_problem(&c2, x->reserve));
        goto out_meta;
      }
    } else {
      if (!ret_word(&c2, x->amount, 0, &amount)) {
        snprintf(err, err_len, "venue %s (%s) %s: %s", v->id, v->address,
                 v->amount == CHAIN_NET_AMOUNT_EXIT_ASSETS ? "convertToExitAssets" : "convertToAssets",
                 call_problem(&c2, x->amount));
        goto out_meta;
      }
      if (x->rate != SIZE_MAX) {
        /* a per-second rate factor (RAY): apr = (rate - RAY) * 31536000, which Spark's _getAPY
           turns back into rpow(rate, 31536000) - RAY, the vault's own yearly compounding */
        u256 rate, yr;
        const char *g = v->apr_source == CHAIN_NET_APR_SSR ? "ssr()" : "vsr()";
        if (!ret_word(&c, x->rate, 0, &rate) || u256_lt(rate, RISK_RAY) ||
            u256_mul(&yr, u256_sub_wrap(rate, RISK_RAY), u256_from_u64(SECONDS_PER_YEAR)) != RISK_OK) {
          snprintf(err, err_len, "venue %s (%s) %s: %s", v->id, v->address, g,
                   c.v[x->rate].error ? c.v[x->rate].err_msg : "not a rate factor of at least RAY");
          goto out_meta;
        }
        apr = yr;
      } else if (window_apr(&c2, h, v, x, &apr, err, err_len) != 0) {
        goto out_meta;
      }
    }
    json_array_append_new(venues, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", v->id, "kind",
                                            chain_net_venue_kind_names[v->kind], "address", v->address, "asset",
                                            v->asset, "label", v->label));
    if (v->kind == CHAIN_NET_VENUE_CURVE) {
      for (size_t k = 0; k < v->n_coins; k++)
        json_array_append_new(allocs, json_pack("{s:s, s:s, s:o, s:o}", "venue", v->id, "asset", v->coins[k], "amount",
                                                jdec(x->coin_amount[k]), "apr", jdec(apr)));
    } else {
      json_array_append_new(allocs, json_pack("{s:s, s:s, s:o, s:o}", "venue", v->id, "asset", v->asset, "amount",
                                              jdec(amount), "apr", jdec(apr)));
    }
  }
  for (size_t k = 0; k < ni; k++) {
    u256 bal;
    if (!ret_word(&c, idle0 + k, 0, &bal)) {
      snprintf(err, err_len, "idle: %s balanceOf(alm proxy): %s", idle[k], call_problem(&c, idle0 + k));
      goto out_meta;
    }
    json_array_append_new(
        idles, json_pack("{s:s, s:o}", "asset", idle[k], "amount", jdec(venue_shares(net, idle[k]) ? U256_ZERO : bal)));
  }
  for (size_t k = 0; k < n_meta; k++) {
    char sym[SYM_MAX];
    u256 dec;
    if (!decode_symbol(&c, meta0 + 2 * k, sym, sizeof sym)) {
      snprintf(err, err_len, "asset %s symbol(): %s", meta[k], call_problem(&c, meta0 + 2 * k));
      goto out_meta;
    }
    if (!ret_word(&c, meta0 + 2 * k + 1, 0, &dec) || u256_bits(dec) > 6 || dec.w[0] > 36) {
      snprintf(err, err_len, "asset %s decimals(): %s", meta[k], call_problem(&c, meta0 + 2 * k + 1));
      goto out_meta;
    }
    json_array_append_new(
        assets, json_pack("{s:s, s:s, s:I}", "address", meta[k], "symbol", sym, "decimals", (json_int_t)dec.w[0]));
  }
  rc = 0;
out_meta:
  free(meta);
out:
  calls_free(&c);
  calls_free(&c2);
  free(r);
  free(idle);
  return rc;
}

/* Savings vaults (sDAI through its Pot, sUSDS, Spark Vaults V2) and the liquidity layer's rate
 * limits, where the network file names them. A PSM3 (on an L2) becomes a `susds` vault: the
 * snapshot has no PSM3 kind, but the L2's sUSDS is priced exactly as mainnet's from the SSR
 * oracle's chi, rho and ssr (getChi/getRho/getSSR), so the vault is the L2 sUSDS token (PSM3's
 * susds()), its asset the L2 USDS (PSM3's usds()), its supply the token's totalSupply(). PSM3's
 * own balances (pocket, swaps, LP shares) are not in the format and are not read. */
static int read_savings(struct chain_index *ix, const struct header *h, json_t *doc, char *err, size_t err_len) {
  const char *bh = h->hash;
  json_t *assets = json_object_get(doc, "assets");
  if (!assets) {
    assets = json_array();
    json_object_set_new(doc, "assets", assets);
  }
  struct calls c = {0};
  int rc = -1;
  size_t nv = ix->net.n_vaults;
  enum { VP = 10 };
  /* first, each PSM3's sUSDS and USDS tokens: the vault's address and asset below */
  char vaddr[CHAIN_NETWORK_MAX_VAULTS][43], vasset[CHAIN_NETWORK_MAX_VAULTS][43];
  struct calls c0 = {0};
  for (size_t i = 0; i < nv; i++) {
    snprintf(vaddr[i], sizeof vaddr[i], "%s", ix->net.vaults[i].address);
    vasset[i][0] = 0;
    if (ix->net.vaults[i].kind != CHAIN_NET_PSM3) continue;
    push_call0(&c0, ix->net.vaults[i].address, "susds()", bh);
    push_call0(&c0, ix->net.vaults[i].address, "usds()", bh);
  }
  if (c0.n && chain_rpc_batch(ix->rpc, c0.v, c0.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    calls_free(&c0);
    return -1;
  }
  for (size_t i = 0, j = 0; i < nv; i++) {
    if (ix->net.vaults[i].kind != CHAIN_NET_PSM3) continue;
    bool got_susds = ret_addr(&c0, j, vaddr[i]);
    if (!got_susds || !ret_addr(&c0, j + 1, vasset[i])) {
      snprintf(err, err_len, "psm3 %s %s: %s", ix->net.vaults[i].address, got_susds ? "usds()" : "susds()",
               call_problem(&c0, got_susds ? j + 1 : j));
      calls_free(&c0);
      return -1;
    }
    j += 2;
  }
  calls_free(&c0);
  for (size_t i = 0; i < nv; i++) {
    const char *v = vaddr[i];
    enum chain_net_vault_kind k = ix->net.vaults[i].kind;
    if (k == CHAIN_NET_PSM3) { /* same ten slots; the asset() slot is filler (the asset is known) */
      const char *o = ix->net.vaults[i].ssr_oracle;
      push_call0(&c, v, "totalSupply()", bh);
      push_call0(&c, v, "symbol()", bh);
      push_call0(&c, v, "decimals()", bh);
      push_call0(&c, v, "totalSupply()", bh);
      push_call0(&c, o, "getChi()", bh);
      push_call0(&c, o, "getRho()", bh);
      push_call0(&c, o, "getSSR()", bh);
      for (int f = 0; f < 3; f++)
        push_call0(&c, v, "totalSupply()", bh);
      continue;
    }
    push_call0(&c, v, "asset()", bh);
    push_call0(&c, v, "symbol()", bh);
    push_call0(&c, v, "decimals()", bh);
    push_call0(&c, v, "totalSupply()", bh);
    push_call0(&c, v, k == CHAIN_NET_SDAI ? "pot()" : "chi()", bh);
    push_call0(&c, v, k == CHAIN_NET_SDAI ? "pot()" : "rho()", bh);
    push_call0(&c, v, k == CHAIN_NET_SDAI ? "pot()" : k == CHAIN_NET_SUSDS ? "ssr()" : "vsr()", bh);
    push_call0(&c, v, k == CHAIN_NET_SPARK_V2 ? "minVsr()" : "totalSupply()", bh);
    push_call0(&c, v, k == CHAIN_NET_SPARK_V2 ? "maxVsr()" : "totalSupply()", bh);
    push_call0(&c, v, k == CHAIN_NET_SPARK_V2 ? "depositCap()" : "totalSupply()", bh);
  }
  size_t rl0 = c.n;
  for (size_t i = 0; ix->net.has_liquidity_layer && i < ix->net.n_keys; i++) {
    char data[80];
    struct chain_abi_arg a = {.kind = CHAIN_ABI_BYTES32, .address = ix->net.keys[i].key};
    chain_abi_encode("getRateLimitData(bytes32)", &a, 1, data, sizeof data);
    push_call(&c, ix->net.rate_limits, data, bh);
  }
  if (c.n && chain_rpc_batch(ix->rpc, c.v, c.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    goto out;
  }
  /* second round: the Pot behind sDAI, each asset's symbol and decimals, a V2 vault's idle assets */
  struct calls c2 = {0};
  json_t *vaults = json_array();
  for (size_t i = 0; i < nv; i++) {
    size_t b = i * VP;
    enum chain_net_vault_kind k = ix->net.vaults[i].kind;
    char asset[43], pot[43], sym[SYM_MAX];
    u256 dec, supply;
    if (k == CHAIN_NET_PSM3) snprintf(asset, sizeof asset, "%s", vasset[i]);
    if ((k != CHAIN_NET_PSM3 && !ret_addr(&c, b, asset)) || !ret_word(&c, b + 2, 0, &dec) ||
        !ret_word(&c, b + 3, 0, &supply)) {
      snprintf(err, err_len, "vault %s: %s", vaddr[i], call_problem(&c, b));
      json_decref(vaults);
      calls_free(&c2);
      goto out;
    }
    if (!decode_symbol(&c, b + 1, sym, sizeof sym)) {
      snprintf(err, err_len, "vault %s symbol(): %s", vaddr[i], call_problem(&c, b + 1));
      json_decref(vaults);
      calls_free(&c2);
      goto out;
    }
    json_t *vj = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "kind",
                           k == CHAIN_NET_SDAI                           ? "sdai"
                           : k == CHAIN_NET_SUSDS || k == CHAIN_NET_PSM3 ? "susds"
                                                                         : "spark_vault_v2",
                           "address", vaddr[i], "asset", asset, "symbol", sym, "decimals", (json_int_t)dec.w[0],
                           "total_supply", jdec(supply));
    if (k == CHAIN_NET_SDAI) {
      if (!ret_addr(&c, b + 4, pot)) {
        snprintf(err, err_len, "vault %s pot(): %s", ix->net.vaults[i].address, call_problem(&c, b + 4));
        json_decref(vj);
        json_decref(vaults);
        calls_free(&c2);
        goto out;
      }
      push_call0(&c2, pot, "chi()", bh);
      push_call0(&c2, pot, "rho()", bh);
      push_call0(&c2, pot, "dsr()", bh);
    } else {
      u256 chi, rho, rate;
      if (!ret_word(&c, b + 4, 0, &chi) || !ret_word(&c, b + 5, 0, &rho) || !ret_word(&c, b + 6, 0, &rate)) {
        snprintf(err, err_len, "vault %s: %s", ix->net.vaults[i].address, call_problem(&c, b + 4));
        json_decref(vj);
        json_decref(vaults);
        calls_free(&c2);
        goto out;
      }
      json_object_set_new(vj, "chi", jdec(chi));
      json_object_set_new(vj, "rho", json_integer((json_int_t)rho.w[0]));
      json_object_set_new(vj, "rate", jdec(rate));
      if (k == CHAIN_NET_SPARK_V2) {
        u256 mn, mx, cap;
        if (!ret_word(&c, b + 7, 0, &mn) || !ret_word(&c, b + 8, 0, &mx) || !ret_word(&c, b + 9, 0, &cap)) {
          snprintf(err, err_len, "vault %s: %s", ix->net.vaults[i].address, call_problem(&c, b + 7));
          json_decref(vj);
          json_decref(vaults);
          calls_free(&c2);
          goto out;
        }
        json_object_set_new(vj, "min_rate", jdec(mn));
        json_object_set_new(vj, "max_rate", jdec(mx));
        json_object_set_new(vj, "deposit_cap", jdec(cap));
      }
      push_call0(&c2, asset, "totalSupply()", bh); /* keeps three calls per vault in this round */
      push_call0(&c2, asset, "totalSupply()", bh);
      push_call_addr(&c2, asset, "balanceOf(address)", vaddr[i], bh);
    }
    push_call0(&c2, asset, "symbol()", bh);
    push_call0(&c2, asset, "decimals()", bh);
    json_array_append_new(vaults, vj);
  }
  if (c2.n && chain_rpc_batch(ix->rpc, c2.v, c2.n) != 0) {
    snprintf(err, err_len, "rpc: %s", chain_rpc_last_error(ix->rpc));
    json_decref(vaults);
    calls_free(&c2);
    goto out;
  }
  size_t i2;
  json_t *vj;
  json_array_foreach(vaults, i2, vj) {
    size_t b = i2 * 5;
    bool sdai = strcmp(json_string_value(json_object_get(vj, "kind")), "sdai") == 0;
    bool v2 = strcmp(json_string_value(json_object_get(vj, "kind")), "spark_vault_v2") == 0;
    if (sdai) {
      u256 chi, rho, rate;
      if (!ret_word(&c2, b, 0, &chi) || !ret_word(&c2, b + 1, 0, &rho) || !ret_word(&c2, b + 2, 0, &rate)) {
        snprintf(err, err_len, "pot of %s: %s", json_string_value(json_object_get(vj, "address")),
                 call_problem(&c2, b));
        json_decref(vaults);
        calls_free(&c2);
        goto out;
      }
      json_object_set_new(vj, "chi", jdec(chi));
      json_object_set_new(vj, "rho", json_integer((json_int_t)rho.w[0]));
      json_object_set_new(vj, "rate", jdec(rate));
    } else if (v2) {
      u256 idle;
      if (ret_word(&c2, b + 2, 0, &idle)) json_object_set_new(vj, "idle_assets", jdec(idle));
    }
    const char *asset = json_string_value(json_object_get(vj, "asset"));
    if (!asset_listed(assets, asset)) {
      char sym[SYM_MAX];
      u256 dec;
      if (!decode_symbol(&c2, b + 3, sym, sizeof sym)) {
        snprintf(err, err_len, "asset %s symbol(): %s", asset, call_problem(&c2, b + 3));
        json_decref(vaults);
        calls_free(&c2);
        goto out;
      }
      if (!ret_word(&c2, b + 4, 0, &dec) || dec.w[0] > 36) {
        snprintf(err, err_len, "asset %s decimals(): %s", asset, call_problem(&c2, b + 4));
        json_decref(vaults);
        calls_free(&c2);
        goto out;
      }
      json_array_append_new(
          assets, json_pack("{s:s, s:s, s:I}", "address", asset, "symbol", sym, "decimals", (json_int_t)dec.w[0]));
    }
  }
  calls_free(&c2);
  if (nv)
    json_object_set_new(doc, "savings_vaults", vaults);
  else
    json_decref(vaults);
  if (ix->net.has_liquidity_layer) {
    json_t *limits = json_array();
    for (size_t i = 0; i < ix->net.n_keys; i++) {
      struct chain_abi_data d;
      u256 mx, slope, last, upd;
      bool ok = ret(&c, rl0 + i, &d);
      ok = ok && chain_abi_word(&d, 0, 0, &mx) && chain_abi_word(&d, 0, 1, &slope) && chain_abi_word(&d, 0, 2, &last) &&
           chain_abi_word(&d, 0, 3, &upd) && u256_bits(upd) <= 62;
      chain_abi_data_free(&d);
      if (!ok) {
        snprintf(err, err_len, "getRateLimitData(%s): %s", ix->net.keys[i].key, call_problem(&c, rl0 + i));
        json_decref(limits);
        goto out;
      }
      /* a limit lowered below its last amount: the current value is max_amount either way (it is
         min(max, last + slope * dt)), and the format wants last <= max */
      if (u256_gt(last, mx)) last = mx;
      json_t *r = json_pack("{s:s, s:s, s:o, s:o, s:o, s:I}", "key", ix->net.keys[i].key, "name", ix->net.keys[i].name,
                            "max_amount", jdec(mx), "slope", jdec(slope), "last_amount", jdec(last), "last_updated",
                            (json_int_t)upd.w[0]);
      if (ix->net.keys[i].has_asset) json_object_set_new(r, "asset", json_string(ix->net.keys[i].asset));
      if (ix->net.keys[i].has_target) json_object_set_new(r, "target", json_string(ix->net.keys[i].target));
      json_array_append_new(limits, r);
    }
    json_t *ll = json_pack("{s:s, s:o}", "alm_proxy", ix->net.alm_proxy, "rate_limits", limits);
    json_object_set_new(doc, "liquidity_layer", ll);
    if (read_venues(ix, h, assets, ll, err, err_len) != 0) goto out;
  }
  rc = ix->net.has_kill_switch ? read_kill_switch(ix, bh, doc, err, err_len) : 0;
out:
  calls_free(&c);
  return rc;
}

/* Builds the snapshot of block h: the whole market and the delta of the accounts in acc. */
static json_t *build_doc(struct chain_index *ix, const struct header *h, uint64_t from, char *err, size_t err_len) {
  json_t *doc = json_pack("{s:s, s:I, s:{s:I, s:s, s:I}}", "format", "sparkd.snapshot/1", "chain_id",
                          (json_int_t)ix->net.chain_id, "block", "number", (json_int_t)h->number, "hash", h->hash,
                          "timestamp", (json_int_t)h->timestamp);
  if (!ix->net.has_sparklend) {
    if (read_savings(ix, h, doc, err, err_len) != 0) {
      json_decref(doc);
      return NULL;
    }
    return doc;
  }
  struct market m = {0};
  struct addrs acc = {0};
  int mr = read_market(ix, h->hash, &m, err, err_len);
  if (mr < 0) goto fail;
  if (mr > 0) { /* nothing of SparkLend at this block yet */
    market_free(&m);
    if (read_savings(ix, h, doc, err, err_len) != 0) {
      json_decref(doc);
      return NULL;
    }
    return doc;
  }
  if (fetch_accounts(ix, &m, from, h->number, &acc, err, err_len) != 0) goto fail;
  for (size_t i = 0; i < ix->n_pending; i++)
    addrs_add(&acc, ix->pending[i]);
  addrs_sort_unique(&acc);
  {
    /* contracts are not accounts: drop the tokens and the pool named in the logs' topics */
    struct addrs skip = {0};
    addrs_add(&skip, m.pool);
    for (size_t k = 0; k < m.n; k++) {
      addrs_add(&skip, m.r[k].asset);
      addrs_add(&skip, m.r[k].a_token);
      addrs_add(&skip, m.r[k].v_token);
    }
    addrs_sort_unique(&skip);
    size_t k = 0;
    for (size_t i = 0; i < acc.n; i++)
      if (!addrs_has(&skip, acc.v[i])) memcpy(acc.v[k++], acc.v[i], 43);
    acc.n = k;
    free(skip.v);
  }
  json_t *assets = json_array(), *reserves = json_array(), *prices = json_array(), *emode = json_array();
  json_t *accounts = json_array();
  json_object_set_new(doc, "assets", assets);
  json_object_set_new(doc, "reserves", reserves);
  json_object_set_new(doc, "emode_categories", emode);
  json_object_set_new(doc, "prices", prices);
  bool seen[256] = {false};
  for (size_t k = 0; k < m.n; k++) {
    const struct reserve *r = &m.r[k];
    unsigned decimals = cfg_bits(r->cfg, 48, 8);
    seen[cfg_bits(r->cfg, 168, 8)] = true;
    json_array_append_new(assets, json_pack("{s:s, s:s, s:I}", "address", r->asset, "symbol", r->symbol, "decimals",
                                            (json_int_t)decimals));
    json_t *irm = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "address", r->irm, "kind",
                            chain_irm_kind_names[r->target ? r->target : CHAIN_IRM_DEFAULT], "optimal_usage_ratio",
                            jdec(r->optimal), "base_variable_borrow_rate", jdec(r->base), "variable_rate_slope1",
                            jdec(r->slope1), "variable_rate_slope2", jdec(r->slope2));
    if (r->target) {
      json_object_set_new(irm, "spread", jdec_signed(r->spread_neg, r->spread_abs));
      json_t *src = json_pack("{s:s, s:s, s:o, s:I}", "kind", chain_rate_source_kind_names[r->src_kind], "address",
                              r->src, "apr", jdec(r->apr), "decimals", (json_int_t)r->src_decimals);
      if (r->src_kind == CHAIN_SRC_CAPPED_FALLBACK) {
        json_object_set_new(src, "lower_bound", jdec(r->lower));
        json_object_set_new(src, "upper_bound", jdec(r->upper));
        json_object_set_new(src, "default_rate", jdec(r->dflt));
      }
      json_object_set_new(irm, "rate_source", src);
    }
    json_t *rj =
        json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "asset", r->asset,
                  "id", (json_int_t)r->id, "configuration", jdec(r->cfg), "liquidity_index", jdec(r->liq_index),
                  "variable_borrow_index", jdec(r->var_index), "current_liquidity_rate", jdec(r->liq_rate),
                  "current_variable_borrow_rate", jdec(r->var_rate), "last_update_timestamp",
                  (json_int_t)r->last_update, "a_token", r->a_token, "variable_debt_token", r->v_token,
                  "a_token_scaled_total_supply", jdec(r->a_total), "variable_debt_scaled_total_supply",
                  jdec(r->v_total), "accrued_to_treasury", jdec(r->accrued), "isolation_mode_total_debt",
                  jdec(r->isolation_debt), "available_liquidity", jdec(r->available), "interest_rate_strategy", irm);
    json_array_append_new(reserves, rj);
    json_array_append_new(prices, json_pack("{s:s, s:o, s:s, s:I}", "asset", r->asset, "price", jdec(r->price),
                                            "source", r->price_source, "updated_at", (json_int_t)h->timestamp));
  }
  if (read_accounts(ix, &m, &acc, h->hash, accounts, seen, err, err_len) != 0) {
    json_decref(accounts);
    goto fail;
  }
  if (read_emode(ix, &m, seen, h->hash, emode, err, err_len) != 0) {
    json_decref(accounts);
    goto fail;
  }
  json_object_set_new(doc, "accounts_mode", json_string("delta"));
  json_object_set_new(doc, "accounts", accounts);
  if (read_savings(ix, h, doc, err, err_len) != 0) goto fail;
  market_free(&m);
  free(acc.v);
  return doc;
fail:
  market_free(&m);
  free(acc.v);
  json_decref(doc);
  return NULL;
}

/* Walks back from the last applied block to the highest one the node still has, and rewinds
 * the store to it. Returns 0 when done, -1 on a failure. */
/* How many applied blocks a reorg walk checks for the common ancestor. Far deeper than any reorg
 * (with folded catch-up steps an applied block may stand for thousands of chain blocks), and a
 * bound on the walk's calls. */
#define REORG_WALK_MAX 1024

static int handle_reorg(struct chain_index *ix, uint64_t bad, char *err, size_t err_len) {
  uint64_t at = bad;
  bool found = false;
  uint64_t anc = 0;
  unsigned walked = 0;
  while (at > 0) {
    if (++walked > REORG_WALK_MAX) {
      snprintf(err, err_len,
               "block %" PRIu64 " left the node's chain and none of the %u applied blocks below it is on it; "
               "nothing rewound (is SPARKD_RPC_URL a node of chain %" PRIu64 ", and synced?)",
               bad, REORG_WALK_MAX, ix->net.chain_id);
      return -1;
    }
    bool have;
    uint64_t n;
    char hash[67];
    if (ix->store.applied_at_or_below(ix->store.ctx, ix->net.chain_id, at - 1, &have, &n, hash) != 0) {
      snprintf(err, err_len, "cannot read applied blocks");
      return -1;
    }
    if (!have) break;
    struct header h;
    int g = get_header(ix, false, n, &h, err, err_len);
    if (g < 0) return -1;
    if (g == 1 && strcmp(h.hash, hash) == 0) {
      found = true;
      anc = n;
      break;
    }
    at = n;
  }
  if (!found) {
    /* No applied block is on the node's chain: a node of another chain, one not synced, or one
     * lying would have every block of this chain's state dropped (imported ones included). That
     * is refused; an operator who means it removes the chain's state and indexes afresh. */
    snprintf(err, err_len,
             "no applied block of chain %" PRIu64 " (the last, %" PRIu64 ", down to the first) is on the node's chain; "
             "nothing rewound (is SPARKD_RPC_URL a node of this chain, and synced?)",
             ix->net.chain_id, bad);
    return -1;
  }
  char(*removed)[43] = NULL;
  size_t nr = 0;
  if (ix->store.rewind(ix->store.ctx, ix->net.chain_id, found, anc, &removed, &nr) != 0) {
    snprintf(err, err_len, "rewind failed");
    return -1;
  }
  util_log(UTIL_LOG_WARN,
           "index: chain %" PRIu64 ": block %" PRIu64 " left the node's chain; rewound to %s%" PRIu64
           " (%zu accounts to read again)",
           ix->net.chain_id, bad, found ? "" : "before the start, block ", found ? anc : ix->net.start_block, nr);
  char(*p)[43] = realloc(ix->pending, (ix->n_pending + nr + 1) * sizeof *p);
  if (!p) abort();
  ix->pending = p;
  if (nr) memcpy(ix->pending + ix->n_pending, removed, nr * sizeof *removed); /* removed may be NULL */
  ix->n_pending += nr;
  free(removed);
  ix->stats.reorgs++;
  return 0;
}

int chain_index_step(struct chain_index *ix, char *err, size_t err_len) {
  err[0] = '\0';
  if (!ix->pending_loaded && ix->store.pending) {
    char(*acc)[43] = NULL;
    size_t n = 0;
    if (ix->store.pending(ix->store.ctx, ix->net.chain_id, &acc, &n) != 0) {
      snprintf(err, err_len, "cannot read the accounts to read again");
      return -1;
    }
    char(*p)[43] = realloc(ix->pending, (ix->n_pending + n + 1) * sizeof *p);
    if (!p) abort();
    ix->pending = p;
    if (n) memcpy(ix->pending + ix->n_pending, acc, n * sizeof *acc); /* acc is NULL when n is 0 */
    ix->n_pending += n;
    free(acc);
  }
  ix->pending_loaded = true;
  struct header head;
  int g = get_header(ix, true, 0, &head, err, err_len);
  if (g <= 0) {
    if (g == 0) snprintf(err, err_len, "the node has no latest block");
    progress(ix);
    return -1;
  }
  ix->have_head = true;
  ix->head = head.number;
  ix->head_ts = head.timestamp;
  bool have;
  uint64_t last;
  char last_hash[67];
  if (ix->store.applied_at_or_below(ix->store.ctx, ix->net.chain_id, UINT64_MAX, &have, &last, last_hash) != 0) {
    snprintf(err, err_len, "cannot read the last applied block");
    return -1;
  }
  if (have) {
    struct header h;
    g = get_header(ix, false, last, &h, err, err_len);
    if (g < 0) {
      progress(ix);
      return -1;
    }
    if (g == 0 || strcmp(h.hash, last_hash) != 0) {
      int rc = handle_reorg(ix, last, err, err_len);
      progress(ix);
      return rc < 0 ? -1 : 1;
    }
    if (!ix->have_applied || ix->applied != last) {
      ix->have_applied = true;
      ix->applied = last;
      ix->applied_ts = h.timestamp;
    }
  }
  if (head.number < ix->o.confirmations) {
    progress(ix);
    return 0;
  }
  uint64_t target = head.number - ix->o.confirmations;
  uint64_t from = have ? last + 1 : ix->net.start_block;
  if (target < from) {
    progress(ix);
    return 0;
  }
  /* 0: the whole range in one snapshot, read at its last block (a node without archive state can
     serve that; reading at every step of an old range needs one that keeps history) */
  uint64_t to = ix->o.step_blocks && target - from + 1 > ix->o.step_blocks ? from + ix->o.step_blocks - 1 : target;
  struct header h;
  g = get_header(ix, false, to, &h, err, err_len);
  if (g <= 0) {
    if (g == 0) snprintf(err, err_len, "the node has no block %" PRIu64, to);
    progress(ix);
    return -1;
  }
  if (have && to == last + 1 && strcmp(h.parent, last_hash) != 0) {
    /* the next block does not build on ours: the last applied one was just replaced */
    int rc = handle_reorg(ix, last, err, err_len);
    progress(ix);
    return rc < 0 ? -1 : 1;
  }
  json_t *doc = build_doc(ix, &h, from, err, err_len);
  if (!doc) {
    progress(ix);
    return -1;
  }
  /* everything was read by this hash; if the block left the chain meanwhile, the logs may be of
   * another branch: drop the step and let the next one find the reorg */
  struct header again;
  g = get_header(ix, false, to, &again, err, err_len);
  if (g <= 0 || strcmp(again.hash, h.hash) != 0) {
    json_decref(doc);
    if (g == 0 || g == 1) snprintf(err, err_len, "block %" PRIu64 " changed while it was read", to);
    progress(ix);
    return -1;
  }
  char *text = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  if (!text) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  int rc = ix->store.apply(ix->store.ctx, text, strlen(text), h.parent, err, err_len);
  free(text);
  if (rc != 0) {
    progress(ix);
    return -1;
  }
  if (ix->n_pending && ix->store.pending_done) ix->store.pending_done(ix->store.ctx, ix->net.chain_id);
  ix->n_pending = 0;
  ix->stats.blocks_applied++;
  ix->stats.blocks_covered += to - from + 1;
  ix->stats.last_applied = to;
  ix->have_applied = true;
  ix->applied = to;
  ix->applied_ts = h.timestamp;
  progress(ix);
  return 1;
}
