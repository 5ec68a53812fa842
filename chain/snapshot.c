/* `sparkd.snapshot/1` parsing and validation (docs/snapshot.md). Every problem is collected with
 * its JSON path; nothing stops at the first one. Values are checked for type, width and the
 * protocol's own constraints (spec protocol-math §2.2, §2.6, §1, §3.1). */
#include "chain/snapshot.h"
#include "chain/snapshot_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/account.h"
#include "risk/wadray.h"
#include "util/hex.h"

const char *const chain_irm_kind_names[] = {"default", "variable_borrow", "rate_target_base", "rate_target_kink", NULL};
const char *const chain_rate_source_kind_names[] = {"ssr", "pot", "capped_fallback", "oracle", NULL};
const char *const chain_vault_kind_names[] = {"sdai", "susds", "spark_vault_v2", NULL};

#define PATH_MAX_LEN 160
/* Paths longer than PATH_MAX_LEN are cut short on purpose. */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no such warning, and warns about the name */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

void chain_snapshot_error(struct chain_snapshot_errors *e, const char *path, const char *fmt, ...) {
  if (e->n >= CHAIN_SNAPSHOT_MAX_ERRORS) {
    e->dropped++;
    return;
  }
  char *m = e->msg[e->n++];
  int k = snprintf(m, CHAIN_SNAPSHOT_ERR_LEN, "%s: ", path);
  if (k < 0 || k >= CHAIN_SNAPSHOT_ERR_LEN) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m + k, CHAIN_SNAPSHOT_ERR_LEN - (size_t)k, fmt, ap);
  va_end(ap);
}

static unsigned nerr(const struct chain_snapshot_errors *e) { return e->n + e->dropped; }

/* ---- paths ---- */

static void kpath(char *out, const char *base, const char *key) { snprintf(out, PATH_MAX_LEN, "%s.%s", base, key); }
static void ipath(char *out, const char *base, const char *key, size_t i) {
  snprintf(out, PATH_MAX_LEN, "%s.%s[%zu]", base, key, i);
}

/* ---- generic field access ---- */

/* Reports every key of obj not in allowed (NULL-terminated). */
static void check_keys(struct chain_snapshot_errors *e, const json_t *obj, const char *path,
                       const char *const *allowed) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool ok = false;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = strcmp(allowed[i], key) == 0;
    if (!ok) {
      char p[PATH_MAX_LEN];
      kpath(p, path, key);
      chain_snapshot_error(e, p, "unknown field");
    }
  }
}

/* Returns the member or NULL; reports a missing required one. */
static json_t *member(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                      bool required) {
  json_t *v = json_object_get(obj, key);
  if (!v && required) {
    char p[PATH_MAX_LEN];
    kpath(p, path, key);
    chain_snapshot_error(e, p, "required");
  }
  return v;
}

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a fractional number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

const char *chain_snapshot_type_name_(const json_t *v) { return type_name(v); }

/* A small non-negative integer given as a JSON number, at most max. */
static bool get_uint(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                     bool required, uint64_t max, uint64_t *out) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  char p[PATH_MAX_LEN];
  kpath(p, path, key);
  if (!json_is_integer(v)) {
    chain_snapshot_error(e, p, "must be an integer number, not %s", type_name(v));
    return false;
  }
  json_int_t x = json_integer_value(v);
  if (x < 0) {
    chain_snapshot_error(e, p, "must not be negative (%lld)", (long long)x);
    return false;
  }
  if ((uint64_t)x > max) {
    chain_snapshot_error(e, p, "%lld is above %llu", (long long)x, (unsigned long long)max);
    return false;
  }
  *out = (uint64_t)x;
  return true;
}

static bool get_u32(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                    bool required, uint32_t max, uint32_t *out) {
  uint64_t x = 0;
  if (!get_uint(e, obj, path, key, required, max, &x)) return false;
  *out = (uint32_t)x;
  return true;
}

/* Parses an unsigned decimal string of at most `bits` bits (bits <= 256). */
static bool parse_uint_text(struct chain_snapshot_errors *e, const char *p, const json_t *v, unsigned bits, u256 *out) {
  if (!json_is_string(v)) {
    chain_snapshot_error(e, p, "must be a string of decimal digits, not %s", type_name(v));
    return false;
  }
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (n > 0 && s[0] == '-') {
    chain_snapshot_error(e, p, "must not be negative");
    return false;
  }
  while (n > 1 && s[0] == '0') /* leading zeros do not count against the 78 digits */
    s++, n--;
  bool digits = n > 0;
  for (size_t i = 0; i < n && digits; i++)
    digits = s[i] >= '0' && s[i] <= '9';
  risk_err r = digits && n > 78 ? RISK_OVERFLOW : u256_from_dec(out, s, n);
  if (r == RISK_OVERFLOW) {
    chain_snapshot_error(e, p, "above 2^256-1");
    return false;
  }
  if (r != RISK_OK || n == 0) {
    chain_snapshot_error(e, p, "not a decimal integer string");
    return false;
  }
  if (bits < 256 && u256_bits(*out) > bits) {
    chain_snapshot_error(e, p, "above 2^%u-1", bits);
    return false;
  }
  return true;
}

static bool get_un(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key, bool required,
                   unsigned bits, u256 *out) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  char p[PATH_MAX_LEN];
  kpath(p, path, key);
  return parse_uint_text(e, p, v, bits, out);
}

/* int256 decimal string ("-" allowed): writes the canonical text and sign/magnitude. */
static bool get_i256(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                     bool required, char *canon, bool *neg, u256 *abs) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  char p[PATH_MAX_LEN];
  kpath(p, path, key);
  if (!json_is_string(v)) {
    chain_snapshot_error(e, p, "must be a string of decimal digits, not %s", type_name(v));
    return false;
  }
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  bool negative = n > 0 && s[0] == '-';
  if (negative) s++, n--;
  while (n > 1 && s[0] == '0')
    s++, n--;
  bool digits = n > 0;
  for (size_t i = 0; i < n && digits; i++)
    digits = s[i] >= '0' && s[i] <= '9';
  u256 a;
  risk_err r = digits && n > 78 ? RISK_OVERFLOW : u256_from_dec(&a, s, n);
  if (r != RISK_OK || n == 0) {
    chain_snapshot_error(e, p, r == RISK_OVERFLOW ? "out of int256 range" : "not a decimal integer string");
    return false;
  }
  u256 lim = u256_shl(U256_ONE, 255); /* -2^255 .. 2^255-1 */
  if (negative ? u256_gt(a, lim) : u256_ge(a, lim)) {
    chain_snapshot_error(e, p, "out of int256 range");
    return false;
  }
  if (u256_is_zero(a)) negative = false;
  *neg = negative;
  *abs = a;
  canon[0] = '-';
  u256_to_dec(a, canon + (negative ? 1 : 0));
  return true;
}

/* "0x" + ndig hex digits, any case -> lowercase into out (ndig + 3 bytes). */
static bool parse_hex(const json_t *v, unsigned ndig, char *out) {
  if (!json_is_string(v) || json_string_length(v) != ndig + 2) return false;
  const char *s = json_string_value(v);
  if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return false;
  out[0] = '0';
  out[1] = 'x';
  for (unsigned i = 0; i < ndig; i++) {
    int d = util_hexval(s[2 + i]);
    if (d < 0) return false;
    out[2 + i] = "0123456789abcdef"[d];
  }
  out[ndig + 2] = '\0';
  return true;
}

static bool get_addr(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                     bool required, char *out) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  if (parse_hex(v, 40, out)) return true;
  char p[PATH_MAX_LEN];
  kpath(p, path, key);
  chain_snapshot_error(e, p, "not an address (0x + 40 hex digits)");
  return false;
}

static bool get_bytes32(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                        bool required, char *out) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  if (parse_hex(v, 64, out)) return true;
  char p[PATH_MAX_LEN];
  kpath(p, path, key);
  chain_snapshot_error(e, p, "not a 32-byte hex value (0x + 64 hex digits)");
  return false;
}

static bool get_text(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                     bool required, bool nonempty, char *out, size_t cap) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  char p[PATH_MAX_LEN];
  kpath(p, path, key);
  if (!json_is_string(v)) {
    chain_snapshot_error(e, p, "must be a string, not %s", type_name(v));
    return false;
  }
  size_t n = json_string_length(v);
  if (n >= cap) {
    chain_snapshot_error(e, p, "longer than %zu bytes", cap - 1);
    return false;
  }
  if (nonempty && n == 0) {
    chain_snapshot_error(e, p, "must not be empty");
    return false;
  }
  if (memchr(json_string_value(v), '\0', n)) {
    chain_snapshot_error(e, p, "contains a NUL character");
    return false;
  }
  memcpy(out, json_string_value(v), n + 1);
  return true;
}

static bool get_bool(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                     bool required, bool *out) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  if (!json_is_boolean(v)) {
    char p[PATH_MAX_LEN];
    kpath(p, path, key);
    chain_snapshot_error(e, p, "must be a boolean, not %s", type_name(v));
    return false;
  }
  *out = json_is_true(v);
  return true;
}

/* Returns the index of the member's text in names (NULL-terminated), or -1 (reported). */
static int get_enum(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                    bool required, const char *const *names) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return -1;
  char p[PATH_MAX_LEN];
  kpath(p, path, key);
  if (json_is_string(v))
    for (int i = 0; names[i]; i++)
      if (strcmp(names[i], json_string_value(v)) == 0) return i;
  char list[256] = "";
  for (int i = 0; names[i]; i++) {
    strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, names[i], sizeof list - strlen(list) - 1);
  }
  chain_snapshot_error(e, p, "must be one of %s", list);
  return -1;
}

/* Returns the member when it is an array (reported otherwise). */
static json_t *get_array(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                         bool required) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return NULL;
  if (!json_is_array(v)) {
    char p[PATH_MAX_LEN];
    kpath(p, path, key);
    chain_snapshot_error(e, p, "must be an array, not %s", type_name(v));
    return NULL;
  }
  return v;
}

/* Returns true when v is an object (reported otherwise). */
static bool is_obj(struct chain_snapshot_errors *e, const json_t *v, const char *p) {
  if (json_is_object(v)) return true;
  chain_snapshot_error(e, p, "must be an object, not %s", type_name(v));
  return false;
}

static json_t *get_object(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                          bool required) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return NULL;
  char p[PATH_MAX_LEN];
  kpath(p, path, key);
  return is_obj(e, v, p) ? v : NULL;
}

static uint32_t percent_mul(uint32_t v, uint32_t p) { return (uint32_t)(((uint64_t)v * p + 5000) / 10000); }

/* ---- sections ---- */

static void parse_assets(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *arr) {
  static const char *const keys[] = {"address", "symbol", "decimals", "name", NULL};
  s->n_assets = json_array_size(arr);
  s->assets = calloc(s->n_assets ? s->n_assets : 1, sizeof *s->assets);
  for (size_t i = 0; i < s->n_assets; i++) {
    char p[PATH_MAX_LEN];
    ipath(p, "$", "assets", i);
    json_t *o = json_array_get(arr, i);
    if (!is_obj(e, o, p)) continue;
    struct chain_snap_asset *a = &s->assets[i];
    check_keys(e, o, p, keys);
    get_addr(e, o, p, "address", true, a->address);
    get_text(e, o, p, "symbol", true, false, a->symbol, sizeof a->symbol);
    get_u32(e, o, p, "decimals", true, 36, &a->decimals);
    a->has_name = get_text(e, o, p, "name", false, false, a->name, sizeof a->name);
    for (size_t j = 0; j < i; j++)
      if (a->address[0] && strcmp(s->assets[j].address, a->address) == 0) {
        char q[PATH_MAX_LEN];
        kpath(q, p, "address");
        chain_snapshot_error(e, q, "duplicate of $.assets[%zu]", j);
        break;
      }
  }
}

/* Returns the index of the asset in the snapshot's list, or -1. */
static long find_asset(const struct chain_snapshot *s, const char *addr) {
  for (size_t i = 0; i < s->n_assets; i++)
    if (strcmp(s->assets[i].address, addr) == 0) return (long)i;
  return -1;
}

static void parse_irm(struct chain_snapshot_errors *e, const struct chain_snapshot *s, const json_t *o, const char *p,
                      struct chain_snap_irm *m) {
  static const char *const keys[] = {"address",
                                     "kind",
                                     "optimal_usage_ratio",
                                     "base_variable_borrow_rate",
                                     "variable_rate_slope1",
                                     "variable_rate_slope2",
                                     "spread",
                                     "rate_source",
                                     NULL};
  static const char *const src_keys[] = {"kind",        "address",     "apr",          "decimals",
                                         "lower_bound", "upper_bound", "default_rate", NULL};
  check_keys(e, o, p, keys);
  get_addr(e, o, p, "address", true, m->address);
  int kind = get_enum(e, o, p, "kind", true, chain_irm_kind_names);
  m->kind = kind < 0 ? CHAIN_IRM_DEFAULT : (enum chain_irm_kind)kind;
  bool ok = kind >= 0;
  ok &= get_un(e, o, p, "optimal_usage_ratio", true, 256, &m->optimal_usage_ratio);
  ok &= get_un(e, o, p, "base_variable_borrow_rate", true, 256, &m->base_variable_borrow_rate);
  ok &= get_un(e, o, p, "variable_rate_slope1", true, 256, &m->variable_rate_slope1);
  ok &= get_un(e, o, p, "variable_rate_slope2", true, 256, &m->variable_rate_slope2);
  if (ok && u256_gt(m->optimal_usage_ratio, RISK_RAY)) {
    char q[PATH_MAX_LEN];
    kpath(q, p, "optimal_usage_ratio");
    chain_snapshot_error(e, q, "above RAY (100%%)");
  }
  bool target = kind == CHAIN_IRM_RATE_TARGET_BASE || kind == CHAIN_IRM_RATE_TARGET_KINK;
  char q[PATH_MAX_LEN];
  if (kind >= 0 && !target) {
    if (json_object_get(o, "spread")) kpath(q, p, "spread"), chain_snapshot_error(e, q, "only for rate-target kinds");
    if (json_object_get(o, "rate_source"))
      kpath(q, p, "rate_source"), chain_snapshot_error(e, q, "only for rate-target kinds");
    return;
  }
  if (!target) return;
  m->has_spread = get_i256(e, o, p, "spread", true, m->spread_text, &m->spread_negative, &m->spread_abs);
  if (m->has_spread && kind == CHAIN_IRM_RATE_TARGET_BASE && m->spread_negative) {
    kpath(q, p, "spread");
    chain_snapshot_error(e, q, "must not be negative for rate_target_base (uint256 on chain)");
    m->has_spread = false;
  }
  json_t *src = get_object(e, o, p, "rate_source", true);
  if (!src) return;
  char sp[PATH_MAX_LEN];
  kpath(sp, p, "rate_source");
  check_keys(e, src, sp, src_keys);
  int sk = get_enum(e, src, sp, "kind", true, chain_rate_source_kind_names);
  m->source.kind = sk < 0 ? CHAIN_SRC_SSR : (enum chain_rate_source_kind)sk;
  get_addr(e, src, sp, "address", true, m->source.address);
  bool src_ok = sk >= 0;
  src_ok &= get_un(e, src, sp, "apr", true, 256, &m->source.apr);
  src_ok &= get_u32(e, src, sp, "decimals", true, 27, &m->source.decimals);
  if (sk == CHAIN_SRC_CAPPED_FALLBACK) {
    bool b = get_un(e, src, sp, "lower_bound", true, 256, &m->source.lower_bound);
    b &= get_un(e, src, sp, "upper_bound", true, 256, &m->source.upper_bound);
    b &= get_un(e, src, sp, "default_rate", true, 256, &m->source.default_rate);
    m->source.has_bounds = b;
    if (b && u256_gt(m->source.lower_bound, m->source.upper_bound)) {
      kpath(q, sp, "lower_bound");
      chain_snapshot_error(e, q, "above upper_bound");
    }
  } else if (sk >= 0) {
    static const char *const only[] = {"lower_bound", "upper_bound", "default_rate"};
    for (int i = 0; i < 3; i++)
      if (json_object_get(src, only[i])) kpath(q, sp, only[i]), chain_snapshot_error(e, q, "only for capped_fallback");
  }
  m->has_source = src_ok;
  if (!ok || !src_ok || !m->has_spread) return;
  /* Re-derive what the contract computes from the source (spec protocol-math §2.4). */
  u256 scale, apr_ray, with_spread;
  if (u256_pow10(&scale, 27 - m->source.decimals) != RISK_OK || u256_mul(&apr_ray, m->source.apr, scale) != RISK_OK) {
    kpath(q, sp, "apr");
    chain_snapshot_error(e, q, "overflows when scaled to 27 decimals");
    return;
  }
  bool neg = false; /* with_spread = apr_ray + spread, sign in neg */
  if (!m->spread_negative) {
    if (u256_add(&with_spread, apr_ray, m->spread_abs) != RISK_OK) return;
  } else if (u256_ge(apr_ray, m->spread_abs)) {
    with_spread = u256_sub_wrap(apr_ray, m->spread_abs);
  } else {
    with_spread = u256_sub_wrap(m->spread_abs, apr_ray);
    neg = true;
  }
  char want[U256_DEC_MAX];
  if (kind == CHAIN_IRM_RATE_TARGET_BASE) {
    if (!u256_eq(with_spread, m->base_variable_borrow_rate)) {
      u256_to_dec(with_spread, want);
      kpath(q, p, "base_variable_borrow_rate");
      chain_snapshot_error(e, q, "is not rate_source apr (as RAY) + spread = %s", want);
    }
  } else {
    u256 slope1 = U256_ZERO;
    if (!neg && u256_gt(with_spread, m->base_variable_borrow_rate))
      slope1 = u256_sub_wrap(with_spread, m->base_variable_borrow_rate);
    if (!u256_eq(slope1, m->variable_rate_slope1)) {
      u256_to_dec(slope1, want);
      kpath(q, p, "variable_rate_slope1");
      chain_snapshot_error(e, q, "is not max(rate_source apr (as RAY) + spread - base, 0) = %s", want);
    }
  }
}

static void parse_reserves(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *arr) {
  static const char *const keys[] = {"asset",
                                     "id",
                                     "configuration",
                                     "liquidity_index",
                                     "variable_borrow_index",
                                     "current_liquidity_rate",
                                     "current_variable_borrow_rate",
                                     "last_update_timestamp",
                                     "a_token",
                                     "variable_debt_token",
                                     "a_token_scaled_total_supply",
                                     "variable_debt_scaled_total_supply",
                                     "accrued_to_treasury",
                                     "isolation_mode_total_debt",
                                     "available_liquidity",
                                     "interest_rate_strategy",
                                     NULL};
  s->n_reserves = json_array_size(arr);
  s->reserves = calloc(s->n_reserves ? s->n_reserves : 1, sizeof *s->reserves);
  for (size_t i = 0; i < s->n_reserves; i++) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    ipath(p, "$", "reserves", i);
    json_t *o = json_array_get(arr, i);
    if (!is_obj(e, o, p)) continue;
    struct chain_snap_reserve *r = &s->reserves[i];
    check_keys(e, o, p, keys);
    if (get_addr(e, o, p, "asset", true, r->asset))
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->reserves[j].asset, r->asset) == 0) {
          kpath(q, p, "asset");
          chain_snapshot_error(e, q, "duplicate of $.reserves[%zu]", j);
          break;
        }
    if (get_u32(e, o, p, "id", true, RISK_MAX_RESERVES - 1, &r->id))
      for (size_t j = 0; j < i; j++)
        if (s->reserves[j].id == r->id && s->reserves[j].asset[0]) {
          kpath(q, p, "id");
          chain_snapshot_error(e, q, "duplicate of $.reserves[%zu]", j);
          break;
        }
    kpath(q, p, "configuration");
    if (get_un(e, o, p, "configuration", true, 256, &r->configuration)) {
      struct risk_reserve_config *c = &r->cfg;
      risk_reserve_config_decode(r->configuration, c);
      if (c->ltv > 10000) chain_snapshot_error(e, q, "ltv %u is above 10000 bps", c->ltv);
      if (c->liquidation_threshold > 10000)
        chain_snapshot_error(e, q, "liquidation threshold %u is above 10000 bps", c->liquidation_threshold);
      if (c->ltv > c->liquidation_threshold)
        chain_snapshot_error(e, q, "ltv %u is above liquidation threshold %u", c->ltv, c->liquidation_threshold);
      if (c->liquidation_threshold != 0 && c->liquidation_bonus <= 10000)
        chain_snapshot_error(e, q, "liquidation bonus %u must be above 10000 when the threshold is not 0",
                             c->liquidation_bonus);
      else if (c->liquidation_threshold != 0 && percent_mul(c->liquidation_threshold, c->liquidation_bonus) > 10000)
        chain_snapshot_error(e, q, "liquidation threshold %u times bonus %u is above 10000", c->liquidation_threshold,
                             c->liquidation_bonus);
      if (c->liquidation_threshold == 0 && c->liquidation_bonus != 0)
        chain_snapshot_error(e, q, "liquidation bonus %u must be 0 when the threshold is 0", c->liquidation_bonus);
      if (c->decimals > 36) chain_snapshot_error(e, q, "decimals %u is above 36", c->decimals);
      if (c->reserve_factor > 10000)
        chain_snapshot_error(e, q, "reserve factor %u is above 10000 bps", c->reserve_factor);
      if (c->liquidation_protocol_fee > 10000)
        chain_snapshot_error(e, q, "liquidation protocol fee %u is above 10000 bps", c->liquidation_protocol_fee);
      if (r->asset[0]) {
        long a = find_asset(s, r->asset);
        if (a >= 0 && s->assets[a].decimals != c->decimals)
          chain_snapshot_error(e, q, "decimals %u differ from $.assets[%ld].decimals %u", c->decimals, a,
                               s->assets[a].decimals);
      }
    }
    if (get_un(e, o, p, "liquidity_index", true, 128, &r->liquidity_index) && u256_lt(r->liquidity_index, RISK_RAY))
      kpath(q, p, "liquidity_index"), chain_snapshot_error(e, q, "below RAY (1e27)");
    if (get_un(e, o, p, "variable_borrow_index", true, 128, &r->variable_borrow_index) &&
        u256_lt(r->variable_borrow_index, RISK_RAY))
      kpath(q, p, "variable_borrow_index"), chain_snapshot_error(e, q, "below RAY (1e27)");
    get_un(e, o, p, "current_liquidity_rate", true, 128, &r->current_liquidity_rate);
    get_un(e, o, p, "current_variable_borrow_rate", true, 128, &r->current_variable_borrow_rate);
    if (get_uint(e, o, p, "last_update_timestamp", true, 1099511627775ull, &r->last_update_timestamp) &&
        r->last_update_timestamp > s->block_timestamp && s->block_timestamp)
      kpath(q, p, "last_update_timestamp"),
          chain_snapshot_error(e, q, "%llu is after block.timestamp %llu", (unsigned long long)r->last_update_timestamp,
                               (unsigned long long)s->block_timestamp);
    get_addr(e, o, p, "a_token", true, r->a_token);
    get_addr(e, o, p, "variable_debt_token", true, r->variable_debt_token);
    get_un(e, o, p, "a_token_scaled_total_supply", true, 256, &r->a_token_scaled_total_supply);
    get_un(e, o, p, "variable_debt_scaled_total_supply", true, 256, &r->variable_debt_scaled_total_supply);
    get_un(e, o, p, "accrued_to_treasury", true, 128, &r->accrued_to_treasury);
    get_un(e, o, p, "isolation_mode_total_debt", true, 128, &r->isolation_mode_total_debt);
    get_un(e, o, p, "available_liquidity", true, 256, &r->available_liquidity);
    json_t *irm = get_object(e, o, p, "interest_rate_strategy", true);
    if (irm) {
      kpath(q, p, "interest_rate_strategy");
      parse_irm(e, s, irm, q, &r->irm);
    }
  }
}

static void parse_emode(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *arr) {
  static const char *const keys[] = {"id",    "ltv", "liquidation_threshold", "liquidation_bonus", "price_source",
                                     "label", NULL};
  s->n_emode = json_array_size(arr);
  s->emode = calloc(s->n_emode ? s->n_emode : 1, sizeof *s->emode);
  for (size_t i = 0; i < s->n_emode; i++) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    ipath(p, "$", "emode_categories", i);
    json_t *o = json_array_get(arr, i);
    if (!is_obj(e, o, p)) continue;
    struct chain_snap_emode *c = &s->emode[i];
    check_keys(e, o, p, keys);
    bool id_ok = get_u32(e, o, p, "id", true, 255, &c->id);
    kpath(q, p, "id");
    if (id_ok && c->id == 0) chain_snapshot_error(e, q, "0 is not a category (it means none)"), id_ok = false;
    if (id_ok)
      for (size_t j = 0; j < i; j++)
        if (s->emode[j].id == c->id) {
          chain_snapshot_error(e, q, "duplicate of $.emode_categories[%zu]", j);
          break;
        }
    bool ok = get_u32(e, o, p, "ltv", true, 10000, &c->ltv);
    ok &= get_u32(e, o, p, "liquidation_threshold", true, 10000, &c->liquidation_threshold);
    ok &= get_u32(e, o, p, "liquidation_bonus", true, RISK_RESERVE_MAX_BPS, &c->liquidation_bonus);
    get_addr(e, o, p, "price_source", true, c->price_source);
    get_text(e, o, p, "label", true, false, c->label, sizeof c->label);
    if (!ok) continue;
    /* PoolConfigurator.setEModeCategory (spec protocol-math §2.6). */
    if (c->ltv == 0) kpath(q, p, "ltv"), chain_snapshot_error(e, q, "must not be 0");
    if (c->liquidation_threshold == 0)
      kpath(q, p, "liquidation_threshold"), chain_snapshot_error(e, q, "must not be 0");
    if (c->ltv > c->liquidation_threshold)
      kpath(q, p, "ltv"),
          chain_snapshot_error(e, q, "%u is above liquidation threshold %u", c->ltv, c->liquidation_threshold);
    if (c->liquidation_bonus <= 10000)
      kpath(q, p, "liquidation_bonus"), chain_snapshot_error(e, q, "%u must be above 10000", c->liquidation_bonus);
    else if (percent_mul(c->liquidation_threshold, c->liquidation_bonus) > 10000)
      kpath(q, p, "liquidation_bonus"),
          chain_snapshot_error(e, q, "liquidation threshold %u times bonus %u is above 10000", c->liquidation_threshold,
                               c->liquidation_bonus);
    if (!id_ok) continue;
    for (size_t j = 0; j < s->n_reserves; j++) {
      const struct chain_snap_reserve *r = &s->reserves[j];
      if (!r->asset[0] || r->cfg.emode_category != c->id) continue;
      if (c->ltv <= r->cfg.ltv)
        kpath(q, p, "ltv"),
            chain_snapshot_error(e, q, "%u is not above member $.reserves[%zu] ltv %u", c->ltv, j, r->cfg.ltv);
      if (c->liquidation_threshold <= r->cfg.liquidation_threshold)
        kpath(q, p, "liquidation_threshold"),
            chain_snapshot_error(e, q, "%u is not above member $.reserves[%zu] liquidation threshold %u",
                                 c->liquidation_threshold, j, r->cfg.liquidation_threshold);
    }
  }
}

static void parse_prices(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *arr) {
  static const char *const keys[] = {"asset", "price", "source", "updated_at", NULL};
  s->n_prices = json_array_size(arr);
  s->prices = calloc(s->n_prices ? s->n_prices : 1, sizeof *s->prices);
  for (size_t i = 0; i < s->n_prices; i++) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    ipath(p, "$", "prices", i);
    json_t *o = json_array_get(arr, i);
    if (!is_obj(e, o, p)) continue;
    struct chain_snap_price *x = &s->prices[i];
    check_keys(e, o, p, keys);
    if (get_addr(e, o, p, "asset", true, x->asset))
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->prices[j].asset, x->asset) == 0) {
          kpath(q, p, "asset");
          chain_snapshot_error(e, q, "duplicate of $.prices[%zu]", j);
          break;
        }
    get_un(e, o, p, "price", true, 256, &x->price);
    get_addr(e, o, p, "source", true, x->source);
    get_uint(e, o, p, "updated_at", true, INT64_MAX, &x->updated_at);
  }
}

static int cmp_account_idx(const void *a, const void *b, void *arg) {
  const struct chain_snap_account *acc = arg;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int c = strcmp(acc[i].address, acc[j].address);
  return c ? c : (i < j ? -1 : i > j);
}

/* Validates one element of $.accounts (index i) into a, whose positions array holds room for
 * every element of its "positions" (zero positions are dropped). */
void chain_snapshot_parse_account_(struct chain_snapshot_errors *e, const json_t *o, size_t i,
                                   struct chain_snap_account *a) {
  static const char *const keys[] = {"address", "emode_category", "positions", NULL};
  static const char *const pkeys[] = {"asset", "scaled_a_token_balance", "scaled_variable_debt", "collateral", NULL};
  char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
  ipath(p, "$", "accounts", i);
  if (!is_obj(e, o, p)) return;
  check_keys(e, o, p, keys);
  get_addr(e, o, p, "address", true, a->address);
  get_u32(e, o, p, "emode_category", true, 255, &a->emode_category);
  json_t *pos = get_array(e, o, p, "positions", true);
  size_t np = json_array_size(pos);
  for (size_t j = 0; j < np; j++) {
    ipath(q, p, "positions", j);
    json_t *po = json_array_get(pos, j);
    if (!is_obj(e, po, q)) continue;
    struct chain_snap_position *x = &a->positions[a->n_positions];
    check_keys(e, po, q, pkeys);
    bool ok = get_addr(e, po, q, "asset", true, x->asset);
    ok &= get_un(e, po, q, "scaled_a_token_balance", true, 256, &x->scaled_a_token_balance);
    ok &= get_un(e, po, q, "scaled_variable_debt", true, 256, &x->scaled_variable_debt);
    ok &= get_bool(e, po, q, "collateral", true, &x->collateral);
    if (!ok) continue;
    bool dup = false;
    for (uint32_t k = 0; k < a->n_positions && !dup; k++)
      if (strcmp(a->positions[k].asset, x->asset) == 0) {
        char r[PATH_MAX_LEN];
        kpath(r, q, "asset");
        chain_snapshot_error(e, r, "a second position in the same asset");
        dup = true;
      }
    if (dup) continue;
    if (u256_is_zero(x->scaled_a_token_balance) && u256_is_zero(x->scaled_variable_debt)) continue; /* dropped */
    x->json_index = (uint32_t)j;
    a->n_positions++;
  }
}

void chain_snapshot_duplicate_error_(struct chain_snapshot_errors *e, size_t i, size_t first) {
  char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
  ipath(p, "$", "accounts", i);
  kpath(q, p, "address");
  chain_snapshot_error(e, q, "duplicate of $.accounts[%zu]", first);
}

static void parse_accounts(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *arr) {
  s->n_accounts = json_array_size(arr);
  s->accounts = calloc(s->n_accounts ? s->n_accounts : 1, sizeof *s->accounts);
  size_t total = 0;
  for (size_t i = 0; i < s->n_accounts; i++) {
    json_t *pos = json_object_get(json_array_get(arr, i), "positions");
    if (json_is_array(pos)) total += json_array_size(pos);
  }
  s->position_pool = calloc(total ? total : 1, sizeof *s->position_pool);
  if (!s->accounts || !s->position_pool) {
    chain_snapshot_error(e, "$.accounts", "out of memory");
    return;
  }
  size_t used = 0;
  for (size_t i = 0; i < s->n_accounts; i++) {
    struct chain_snap_account *a = &s->accounts[i];
    a->positions = s->position_pool + used;
    chain_snapshot_parse_account_(e, json_array_get(arr, i), i, a);
    used += a->n_positions;
  }
  /* Duplicate addresses: sort indexes by address. */
  size_t *idx = malloc((s->n_accounts ? s->n_accounts : 1) * sizeof *idx);
  if (!idx) return;
  for (size_t i = 0; i < s->n_accounts; i++)
    idx[i] = i;
  qsort_r(idx, s->n_accounts, sizeof *idx, cmp_account_idx, s->accounts);
  for (size_t k = 1; k < s->n_accounts; k++) {
    const struct chain_snap_account *x = &s->accounts[idx[k]], *y = &s->accounts[idx[k - 1]];
    if (x->address[0] && strcmp(x->address, y->address) == 0) chain_snapshot_duplicate_error_(e, idx[k], idx[k - 1]);
  }
  free(idx);
}

static void parse_vaults(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *arr) {
  static const char *const keys[] = {"kind",        "address",      "asset",       "symbol",   "decimals",
                                     "chi",         "rho",          "rate",        "min_rate", "max_rate",
                                     "deposit_cap", "total_supply", "idle_assets", "intents",  NULL};
  static const char *const ikeys[] = {"address", "min_assets", "max_assets", "max_deadline_seconds", NULL};
  s->n_vaults = json_array_size(arr);
  s->vaults = calloc(s->n_vaults ? s->n_vaults : 1, sizeof *s->vaults);
  for (size_t i = 0; i < s->n_vaults; i++) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    ipath(p, "$", "savings_vaults", i);
    json_t *o = json_array_get(arr, i);
    if (!is_obj(e, o, p)) continue;
    struct chain_snap_vault *v = &s->vaults[i];
    check_keys(e, o, p, keys);
    int kind = get_enum(e, o, p, "kind", true, chain_vault_kind_names);
    v->kind = kind < 0 ? CHAIN_VAULT_SDAI : (enum chain_vault_kind)kind;
    if (get_addr(e, o, p, "address", true, v->address))
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->vaults[j].address, v->address) == 0) {
          kpath(q, p, "address");
          chain_snapshot_error(e, q, "duplicate of $.savings_vaults[%zu]", j);
          break;
        }
    get_addr(e, o, p, "asset", true, v->asset);
    get_text(e, o, p, "symbol", true, false, v->symbol, sizeof v->symbol);
    get_u32(e, o, p, "decimals", true, 36, &v->decimals);
    /* sUSDS and Spark Vaults V2 pack chi as uint192 and rho as uint64; the Pot keeps uint256. */
    unsigned chi_bits = kind == CHAIN_VAULT_SDAI ? 256 : 192;
    if (get_un(e, o, p, "chi", true, chi_bits, &v->chi) && u256_lt(v->chi, RISK_RAY))
      kpath(q, p, "chi"), chain_snapshot_error(e, q, "below RAY (1e27)");
    get_uint(e, o, p, "rho", true, INT64_MAX, &v->rho);
    if (v->rho > s->block_timestamp && s->block_timestamp)
      kpath(q, p, "rho"), chain_snapshot_error(e, q, "%llu is after block.timestamp %llu", (unsigned long long)v->rho,
                                               (unsigned long long)s->block_timestamp);
    bool rate_ok = get_un(e, o, p, "rate", true, 256, &v->rate);
    if (rate_ok && u256_lt(v->rate, RISK_RAY)) kpath(q, p, "rate"), chain_snapshot_error(e, q, "below RAY (1e27)");
    bool v2 = kind == CHAIN_VAULT_SPARK_V2;
    if (kind >= 0) {
      v->has_min_rate = get_un(e, o, p, "min_rate", v2, 256, &v->min_rate);
      v->has_max_rate = get_un(e, o, p, "max_rate", v2, 256, &v->max_rate);
      v->has_deposit_cap = get_un(e, o, p, "deposit_cap", false, 256, &v->deposit_cap);
      if (!v2) {
        static const char *const only[] = {"min_rate", "max_rate", "deposit_cap"};
        for (int k = 0; k < 3; k++)
          if (json_object_get(o, only[k])) kpath(q, p, only[k]), chain_snapshot_error(e, q, "only for spark_vault_v2");
      }
      if (v2 && v->has_min_rate && v->has_max_rate) {
        if (u256_gt(v->min_rate, v->max_rate)) kpath(q, p, "min_rate"), chain_snapshot_error(e, q, "above max_rate");
        if (u256_lt(v->min_rate, RISK_RAY)) kpath(q, p, "min_rate"), chain_snapshot_error(e, q, "below RAY (1e27)");
        if (rate_ok && (u256_lt(v->rate, v->min_rate) || u256_gt(v->rate, v->max_rate)))
          kpath(q, p, "rate"), chain_snapshot_error(e, q, "outside [min_rate, max_rate]");
      }
    }
    get_un(e, o, p, "total_supply", true, 256, &v->total_supply);
    v->has_idle_assets = get_un(e, o, p, "idle_assets", false, 256, &v->idle_assets);
    json_t *in = get_object(e, o, p, "intents", false);
    if (in) {
      kpath(q, p, "intents");
      check_keys(e, in, q, ikeys);
      bool ok = get_addr(e, in, q, "address", true, v->intents.address);
      ok &= get_un(e, in, q, "min_assets", true, 256, &v->intents.min_assets);
      ok &= get_un(e, in, q, "max_assets", true, 256, &v->intents.max_assets);
      ok &= get_uint(e, in, q, "max_deadline_seconds", true, INT64_MAX, &v->intents.max_deadline_seconds);
      if (ok && u256_gt(v->intents.min_assets, v->intents.max_assets)) {
        char r[PATH_MAX_LEN];
        kpath(r, q, "min_assets");
        chain_snapshot_error(e, r, "above max_assets");
      }
      v->has_intents = ok;
    }
  }
}

static void parse_ll(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *o) {
  static const char *const keys[] = {"alm_proxy", "venues", "allocations", "idle", "rate_limits", NULL};
  static const char *const vkeys[] = {"id", "kind", "address", "asset", "label", NULL};
  static const char *const akeys[] = {"venue", "asset", "amount", "apr", NULL};
  static const char *const ikeys[] = {"asset", "amount", NULL};
  static const char *const rkeys[] = {"key",   "name",        "asset",        "target", "max_amount",
                                      "slope", "last_amount", "last_updated", NULL};
  const char *P = "$.liquidity_layer";
  check_keys(e, o, P, keys);
  get_addr(e, o, P, "alm_proxy", true, s->alm_proxy);
  char p[PATH_MAX_LEN], q[PATH_MAX_LEN];

  json_t *arr = get_array(e, o, P, "venues", false);
  s->n_venues = json_array_size(arr);
  s->venues = calloc(s->n_venues ? s->n_venues : 1, sizeof *s->venues);
  for (size_t i = 0; i < s->n_venues; i++) {
    ipath(p, P, "venues", i);
    json_t *x = json_array_get(arr, i);
    if (!is_obj(e, x, p)) continue;
    struct chain_snap_venue *v = &s->venues[i];
    check_keys(e, x, p, vkeys);
    if (get_text(e, x, p, "id", true, true, v->id, sizeof v->id))
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->venues[j].id, v->id) == 0) {
          kpath(q, p, "id");
          chain_snapshot_error(e, q, "duplicate of $.liquidity_layer.venues[%zu]", j);
          break;
        }
    get_text(e, x, p, "kind", true, true, v->kind, sizeof v->kind);
    get_addr(e, x, p, "address", true, v->address);
    get_addr(e, x, p, "asset", true, v->asset);
    get_text(e, x, p, "label", true, false, v->label, sizeof v->label);
  }

  arr = get_array(e, o, P, "allocations", false);
  s->n_allocations = json_array_size(arr);
  s->allocations = calloc(s->n_allocations ? s->n_allocations : 1, sizeof *s->allocations);
  for (size_t i = 0; i < s->n_allocations; i++) {
    ipath(p, P, "allocations", i);
    json_t *x = json_array_get(arr, i);
    if (!is_obj(e, x, p)) continue;
    struct chain_snap_allocation *a = &s->allocations[i];
    check_keys(e, x, p, akeys);
    if (get_text(e, x, p, "venue", true, true, a->venue, sizeof a->venue)) {
      bool found = false;
      for (size_t j = 0; j < s->n_venues && !found; j++)
        found = strcmp(s->venues[j].id, a->venue) == 0;
      if (!found) kpath(q, p, "venue"), chain_snapshot_error(e, q, "no venue with id \"%s\"", a->venue);
    }
    if (get_addr(e, x, p, "asset", true, a->asset))
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->allocations[j].asset, a->asset) == 0 && strcmp(s->allocations[j].venue, a->venue) == 0) {
          kpath(q, p, "asset");
          chain_snapshot_error(e, q, "duplicate of $.liquidity_layer.allocations[%zu]", j);
          break;
        }
    get_un(e, x, p, "amount", true, 256, &a->amount);
    get_un(e, x, p, "apr", true, 256, &a->apr);
  }

  arr = get_array(e, o, P, "idle", false);
  s->n_idle = json_array_size(arr);
  s->idle = calloc(s->n_idle ? s->n_idle : 1, sizeof *s->idle);
  for (size_t i = 0; i < s->n_idle; i++) {
    ipath(p, P, "idle", i);
    json_t *x = json_array_get(arr, i);
    if (!is_obj(e, x, p)) continue;
    struct chain_snap_idle *a = &s->idle[i];
    check_keys(e, x, p, ikeys);
    if (get_addr(e, x, p, "asset", true, a->asset))
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->idle[j].asset, a->asset) == 0) {
          kpath(q, p, "asset");
          chain_snapshot_error(e, q, "duplicate of $.liquidity_layer.idle[%zu]", j);
          break;
        }
    get_un(e, x, p, "amount", true, 256, &a->amount);
  }

  arr = get_array(e, o, P, "rate_limits", false);
  s->n_rate_limits = json_array_size(arr);
  s->rate_limits = calloc(s->n_rate_limits ? s->n_rate_limits : 1, sizeof *s->rate_limits);
  for (size_t i = 0; i < s->n_rate_limits; i++) {
    ipath(p, P, "rate_limits", i);
    json_t *x = json_array_get(arr, i);
    if (!is_obj(e, x, p)) continue;
    struct chain_snap_rate_limit *r = &s->rate_limits[i];
    check_keys(e, x, p, rkeys);
    if (get_bytes32(e, x, p, "key", true, r->key))
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->rate_limits[j].key, r->key) == 0) {
          kpath(q, p, "key");
          chain_snapshot_error(e, q, "duplicate of $.liquidity_layer.rate_limits[%zu]", j);
          break;
        }
    get_text(e, x, p, "name", true, true, r->name, sizeof r->name);
    r->has_asset = get_addr(e, x, p, "asset", false, r->asset);
    r->has_target = get_addr(e, x, p, "target", false, r->target);
    bool ok = get_un(e, x, p, "max_amount", true, 256, &r->max_amount);
    get_un(e, x, p, "slope", true, 256, &r->slope);
    ok &= get_un(e, x, p, "last_amount", true, 256, &r->last_amount);
    if (ok && u256_gt(r->last_amount, r->max_amount))
      kpath(q, p, "last_amount"), chain_snapshot_error(e, q, "above max_amount");
    if (get_uint(e, x, p, "last_updated", true, INT64_MAX, &r->last_updated) && r->last_updated > s->block_timestamp)
      kpath(q, p, "last_updated"),
          chain_snapshot_error(e, q, "%llu is after block.timestamp %llu", (unsigned long long)r->last_updated,
                               (unsigned long long)s->block_timestamp);
  }
}

static void parse_kill_switch(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *o) {
  static const char *const keys[] = {"address", "triggered", "oracles", NULL};
  static const char *const okeys[] = {"address", "label", "threshold", "latest_answer", "decimals", NULL};
  const char *P = "$.kill_switch";
  check_keys(e, o, P, keys);
  get_addr(e, o, P, "address", true, s->ks_address);
  get_bool(e, o, P, "triggered", true, &s->ks_triggered);
  json_t *arr = get_array(e, o, P, "oracles", true);
  s->n_oracles = json_array_size(arr);
  s->oracles = calloc(s->n_oracles ? s->n_oracles : 1, sizeof *s->oracles);
  for (size_t i = 0; i < s->n_oracles; i++) {
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    ipath(p, P, "oracles", i);
    json_t *x = json_array_get(arr, i);
    if (!is_obj(e, x, p)) continue;
    struct chain_snap_oracle *r = &s->oracles[i];
    check_keys(e, x, p, okeys);
    if (get_addr(e, x, p, "address", true, r->address))
      for (size_t j = 0; j < i; j++)
        if (strcmp(s->oracles[j].address, r->address) == 0) {
          kpath(q, p, "address");
          chain_snapshot_error(e, q, "duplicate of $.kill_switch.oracles[%zu]", j);
          break;
        }
    get_text(e, x, p, "label", true, false, r->label, sizeof r->label);
    bool neg;
    u256 abs;
    get_i256(e, x, p, "threshold", true, r->threshold, &neg, &abs);
    get_i256(e, x, p, "latest_answer", true, r->latest_answer, &neg, &abs);
    get_u32(e, x, p, "decimals", true, 36, &r->decimals);
  }
}

/* Every asset reference must be listed in $.assets or already known for the chain; the second
 * part needs the database, so it is checked by db_snapshot_apply. Nothing to do here. */

void chain_snapshot_parse_root_(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *root,
                                chain_snapshot_accounts_hook_ hook, void *hook_arg) {
  static const char *const keys[] = {"format",   "chain_id",         "block",           "assets",
                                     "reserves", "emode_categories", "prices",          "accounts_mode",
                                     "accounts", "savings_vaults",   "liquidity_layer", "kill_switch",
                                     NULL};
  static const char *const bkeys[] = {"number", "hash", "timestamp", NULL};
  check_keys(e, root, "$", keys);
  json_t *fmt = member(e, root, "$", "format", true);
  if (fmt && !(json_is_string(fmt) && strcmp(json_string_value(fmt), CHAIN_SNAPSHOT_FORMAT) == 0))
    chain_snapshot_error(e, "$.format", "must be \"%s\"", CHAIN_SNAPSHOT_FORMAT);
  if (get_uint(e, root, "$", "chain_id", true, INT64_MAX, &s->chain_id) && s->chain_id == 0)
    chain_snapshot_error(e, "$.chain_id", "must not be 0");
  json_t *b = get_object(e, root, "$", "block", true);
  if (b) {
    check_keys(e, b, "$.block", bkeys);
    get_uint(e, b, "$.block", "number", true, INT64_MAX, &s->block_number);
    get_bytes32(e, b, "$.block", "hash", true, s->block_hash);
    get_uint(e, b, "$.block", "timestamp", true, INT64_MAX, &s->block_timestamp);
  }
  json_t *arr;
  if ((arr = get_array(e, root, "$", "assets", false))) s->has_assets = true, parse_assets(e, s, arr);
  if ((arr = get_array(e, root, "$", "reserves", false))) s->has_reserves = true, parse_reserves(e, s, arr);
  if ((arr = get_array(e, root, "$", "emode_categories", false))) s->has_emode = true, parse_emode(e, s, arr);
  if ((arr = get_array(e, root, "$", "prices", false))) s->has_prices = true, parse_prices(e, s, arr);
  json_t *mode = json_object_get(root, "accounts_mode");
  arr = get_array(e, root, "$", "accounts", false);
  if (json_object_get(root, "accounts")) {
    static const char *const modes[] = {"full", "delta", NULL};
    int m = get_enum(e, root, "$", "accounts_mode", true, modes);
    s->accounts_full = m == 0;
  } else if (mode) {
    chain_snapshot_error(e, "$.accounts_mode", "given without accounts");
  }
  if (arr) {
    s->has_accounts = true;
    if (hook)
      hook(e, s, arr, hook_arg);
    else
      parse_accounts(e, s, arr);
  }
  if ((arr = get_array(e, root, "$", "savings_vaults", false))) s->has_vaults = true, parse_vaults(e, s, arr);
  json_t *o;
  if ((o = get_object(e, root, "$", "liquidity_layer", false))) s->has_ll = true, parse_ll(e, s, o);
  if ((o = get_object(e, root, "$", "kill_switch", false))) s->has_kill_switch = true, parse_kill_switch(e, s, o);
}

struct chain_snapshot *chain_snapshot_parse(const char *text, size_t len, struct chain_snapshot_errors *errs) {
  unsigned before = nerr(errs);
  size_t k = 0;
  while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r' || text[k] == '\n'))
    k++;
  if (k == len) {
    chain_snapshot_error(errs, "$", "empty input");
    return NULL;
  }
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    chain_snapshot_error(errs, "$", "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    return NULL;
  }
  if (!json_is_object(root)) {
    chain_snapshot_error(errs, "$", "must be an object, not %s", type_name(root));
    json_decref(root);
    return NULL;
  }
  struct chain_snapshot *s = calloc(1, sizeof *s);
  if (!s) {
    json_decref(root);
    chain_snapshot_error(errs, "$", "out of memory");
    return NULL;
  }
  chain_snapshot_parse_root_(errs, s, root, NULL, NULL);
  json_decref(root);
  if (nerr(errs) != before) {
    chain_snapshot_free(s);
    return NULL;
  }
  return s;
}

void chain_snapshot_free(struct chain_snapshot *s) {
  if (!s) return;
  free(s->assets);
  free(s->reserves);
  free(s->emode);
  free(s->prices);
  free(s->accounts);
  free(s->position_pool);
  free(s->vaults);
  free(s->venues);
  free(s->allocations);
  free(s->idle);
  free(s->rate_limits);
  free(s->oracles);
  chain_snapshot_spool_free_(s->spool);
  free(s);
}

/* ---- splitting an input ---- */

static bool blank(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
  return true;
}

void chain_snapshot_reader_init(struct chain_snapshot_reader *r, const char *text, size_t len) {
  memset(r, 0, sizeof *r);
  r->text = text;
  r->len = len;
  /* NDJSON when the first non-blank line is a whole object on its own. */
  size_t pos = 0;
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    size_t a = pos, b = end;
    while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
      a++;
    while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
      b--;
    if (a < b) {
      r->ndjson = text[a] == '{' && text[b - 1] == '}' && end < len && !blank(text + end, len - end);
      break;
    }
    pos = end + 1;
  }
}

bool chain_snapshot_reader_next(struct chain_snapshot_reader *r, const char **start, size_t *plen) {
  if (!r->ndjson) {
    if (r->pos > 0 || (r->len == 0 && r->line > 0)) return false;
    r->pos = r->len ? r->len : 1;
    r->line = 1;
    *start = r->text;
    *plen = r->len;
    return true;
  }
  while (r->pos < r->len) {
    const char *nl = memchr(r->text + r->pos, '\n', r->len - r->pos);
    size_t end = nl ? (size_t)(nl - r->text) : r->len;
    size_t a = r->pos;
    r->pos = end + 1;
    r->line++;
    if (!blank(r->text + a, end - a)) {
      *start = r->text + a;
      *plen = end - a;
      return true;
    }
  }
  return false;
}
