/* POST /v1/quotes: what-if simulation of SparkLend actions before signing. The account (one
 * prepared query, or empty for a new account) and the chain's market from the state cache, with
 * optional price overrides and a later time `at`; actions are validated and applied in order by
 * the engine (risk/account.h) exactly as the Pool would, and each step reports the account and the
 * touched reserve's utilization and rates afterwards. The first step that would revert stops the
 * quote: its on-chain error name, index and the largest amount that would pass are reported (200:
 * the quote worked, the action would not). Nothing is written, no lock is taken. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers/accounts.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "handlers/jsonw.h"
#include "risk/irm.h"
#include "risk/reserve.h"
#include "service/cache.h"
#include "service/log.h"
#include "service/request.h"

#define QUOTE_MAX_ACTIONS 20

/* Fills spec's destinations from obj as svc_parse_body does for the body (declarative), naming
 * fields "<prefix>.<name>"; appends problems to errors. Returns false when any field failed. */
static bool parse_object(json_t *obj, const struct svc_json_field *spec, size_t n, const char *prefix, json_t *errors) {
  static const char *const tname[] = {"string", "boolean", "integer", "object", "array"};
  char field[96]; /* "<prefix>.<name>", formatted only for a problem */
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(obj, spec[i].name);
    if (!v || json_is_null(v)) {
      if (spec[i].required) {
        snprintf(field, sizeof field, "%s.%s", prefix, spec[i].name);
        json_array_append_new(errors, svc_field_error(field, "required", "is required"));
        ok = false;
      }
      continue;
    }
    bool type_ok = false;
    switch (spec[i].type) {
    case SVC_JSON_STRING: type_ok = json_is_string(v); break;
    case SVC_JSON_BOOL: type_ok = json_is_boolean(v); break;
    case SVC_JSON_INT: type_ok = json_is_integer(v); break;
    case SVC_JSON_OBJECT: type_ok = json_is_object(v); break;
    case SVC_JSON_ARRAY: type_ok = json_is_array(v); break;
    }
    if (!type_ok) {
      char msg[48];
      snprintf(field, sizeof field, "%s.%s", prefix, spec[i].name);
      snprintf(msg, sizeof msg, "must be a %s", tname[spec[i].type]);
      json_array_append_new(errors, svc_field_error(field, "wrong_type", msg));
      ok = false;
      continue;
    }
    switch (spec[i].type) {
    case SVC_JSON_STRING: *(const char **)spec[i].dest = json_string_value(v); break;
    case SVC_JSON_BOOL: *(bool *)spec[i].dest = json_is_true(v); break;
    case SVC_JSON_INT: *(long long *)spec[i].dest = json_integer_value(v); break;
    default: *(json_t **)spec[i].dest = v; break;
    }
  }
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
      known = strcmp(spec[i].name, key) == 0;
    if (!known) {
      snprintf(field, sizeof field, "%s.%s", prefix, key);
      json_array_append_new(errors, svc_field_error(field, "unknown_field", "is not a known field"));
      ok = false;
    }
  }
  return ok;
}

struct quote_action {
  const char *type, *asset, *amount;
  bool enabled;
  long long category;
  bool has_enabled, has_category;
  risk_action_kind kind;
  bool is_max;
  u256 value;
  int reserve;
};

static const struct {
  const char *name;
  risk_action_kind kind;
  bool amount; /* takes an amount */
} kinds[] = {
    {"supply", RISK_ACT_SUPPLY, true},
    {"withdraw", RISK_ACT_WITHDRAW, true},
    {"borrow", RISK_ACT_BORROW, true},
    {"repay", RISK_ACT_REPAY, true},
    {"set_collateral", RISK_ACT_SET_COLLATERAL, false},
    {"set_emode", RISK_ACT_SET_EMODE, false},
};

static bool takes_amount(risk_action_kind k) {
  return k == RISK_ACT_SUPPLY || k == RISK_ACT_WITHDRAW || k == RISK_ACT_BORROW || k == RISK_ACT_REPAY;
}

/* Writes "<prefix><suffix>" into out (64 bytes; both are short: "actions[19]" and ".category"
 * at most). Field names of every action are needed on each quote; snprintf cost ~1k instructions
 * apiece. */
static void join(char out[64], const char *prefix, const char *suffix) {
  size_t a = strlen(prefix), b = strlen(suffix);
  if (a > 31) a = 31;
  if (b > 31) b = 31;
  memcpy(out, prefix, a);
  memcpy(out + a, suffix, b);
  out[a + b] = 0;
}

/* Writes "actions[<i>]" into prefix (i < 100). */
static void action_prefix(char prefix[32], size_t i) {
  char *p = prefix + 8;
  memcpy(prefix, "actions[", 8);
  if (i >= 10) *p++ = (char)('0' + i / 10 % 10);
  *p++ = (char)('0' + i % 10);
  *p++ = ']';
  *p = 0;
}

/* The checks of one action whose members have the right JSON types (qa filled from them);
 * returns false after appending errors. */
static bool check_action(struct quote_action *qa, const char *prefix, json_t *errors) {
  char field[64];
  int k = -1;
  for (size_t j = 0; j < sizeof kinds / sizeof kinds[0] && k < 0; j++)
    if (strcmp(kinds[j].name, qa->type) == 0) k = (int)j;
  if (k < 0) {
    join(field, prefix, ".type");
    json_array_append_new(errors, svc_field_error(field, "unknown_action",
                                                  "must be supply, withdraw, borrow, repay, set_collateral or "
                                                  "set_emode"));
    return false;
  }
  qa->kind = kinds[k].kind;
  bool ok = true;
  if (qa->kind != RISK_ACT_SET_EMODE && !qa->asset) {
    join(field, prefix, ".asset");
    json_array_append_new(errors, svc_field_error(field, "required", "is required for this action"));
    ok = false;
  }
  if (kinds[k].amount) {
    join(field, prefix, ".amount");
    if (!qa->amount) {
      json_array_append_new(errors, svc_field_error(field, "required", "is required for this action"));
      ok = false;
    } else if (strcmp(qa->amount, "max") == 0) {
      qa->is_max = true;
    } else if (!svc_parse_u256(qa->amount, field, &qa->value, errors)) {
      ok = false;
    } else if (u256_is_zero(qa->value)) {
      /* 0 goes to the engine: the chain reverts INVALID_AMOUNT, a quote result. */
    }
  }
  if (qa->kind == RISK_ACT_SET_COLLATERAL && !qa->has_enabled) {
    join(field, prefix, ".enabled");
    json_array_append_new(errors, svc_field_error(field, "required", "is required for set_collateral"));
    ok = false;
  }
  if (qa->kind == RISK_ACT_SET_EMODE) {
    join(field, prefix, ".category");
    if (!qa->has_category) {
      json_array_append_new(errors, svc_field_error(field, "required", "is required for set_emode"));
      ok = false;
    } else if (qa->category < 0 || qa->category > 255) {
      json_array_append_new(errors, svc_field_error(field, "out_of_range", "must be from 0 to 255"));
      ok = false;
    }
  }
  return ok;
}

/* Shape checks of one action (no chain needed); returns false after appending errors. */
static bool parse_action(json_t *item, size_t i, struct quote_action *qa, json_t *errors) {
  char prefix[32];
  action_prefix(prefix, i);
  memset(qa, 0, sizeof *qa);
  qa->reserve = -1;
  if (!json_is_object(item)) {
    json_array_append_new(errors, svc_field_error(prefix, "wrong_type", "must be an object"));
    return false;
  }
  const struct svc_json_field spec[] = {
      {"type", SVC_JSON_STRING, &qa->type, true},       {"asset", SVC_JSON_STRING, &qa->asset, false},
      {"amount", SVC_JSON_STRING, &qa->amount, false},  {"enabled", SVC_JSON_BOOL, &qa->enabled, false},
      {"category", SVC_JSON_INT, &qa->category, false},
  };
  if (!parse_object(item, spec, sizeof spec / sizeof spec[0], prefix, errors)) return false;
  json_t *enabled = json_object_get(item, "enabled"), *category = json_object_get(item, "category");
  qa->has_enabled = enabled && !json_is_null(enabled);
  qa->has_category = category && !json_is_null(category);
  return check_action(qa, prefix, errors);
}

/* ---- the common body without a JSON tree ----------------------------------------------------- */

/* A quote body read by read_body: values point into its own NUL-terminated copy of the text. */
#define FAST_MAX_OVERRIDES 32
struct fast_body {
  char *text;
  long long chain, at;
  const char *account;
  size_t n_actions, n_overrides;
  struct quote_action act[QUOTE_MAX_ACTIONS];
  const char *ov_asset[FAST_MAX_OVERRIDES], *ov_price[FAST_MAX_OVERRIDES];
};

static const char *ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

/* A string without escapes of printable ASCII: NUL-terminates it in place (the closing quote);
 * returns the position after it, or NULL. */
static char *fast_str(char *p, const char **out) {
  if (*p != '"') return NULL;
  char *q = ++p;
  while (*q >= 0x20 && *q <= 0x7e && *q != '"' && *q != '\\')
    q++;
  if (*q != '"') return NULL;
  *q = 0;
  *out = p;
  return q + 1;
}

/* An integer as jansson reads one (no fraction, exponent or leading zero), at most 18 digits. */
static char *fast_int(char *p, long long *out) {
  bool neg = *p == '-';
  if (neg) p++;
  if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9') || (neg && *p == '0')) return NULL;
  long long v = 0;
  int n = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (++n > 18) return NULL;
    v = v * 10 + (*p - '0');
  }
  if (*p == '.' || *p == 'e' || *p == 'E') return NULL;
  *out = neg ? -v : v;
  return p;
}

/* Reads the members of an object (p just after its '{'), calling member for each with the
 * position of its value; member returns the position after the value, or NULL to give up.
 * Returns the position after the closing '}', or NULL. */
static char *fast_object(char *p, char *(*member)(void *arg, const char *key, char *value), void *arg) {
  p = (char *)ws(p);
  if (*p == '}') return p + 1;
  for (;;) {
    const char *key;
    if (!(p = fast_str(p, &key))) return NULL;
    p = (char *)ws(p);
    if (*p++ != ':') return NULL;
    if (!(p = member(arg, key, (char *)ws(p)))) return NULL;
    p = (char *)ws(p);
    if (*p == '}') return p + 1;
    if (*p++ != ',') return NULL;
    p = (char *)ws(p);
  }
}

/* Sets *out to the string at p, or NULL for null; returns the position after it or NULL. */
static char *fast_str_or_null(char *p, const char **out) {
  if (strncmp(p, "null", 4) == 0) {
    *out = NULL;
    return p + 4;
  }
  return fast_str(p, out);
}

/* Returns the index of key in names (n of them) when the bit for it is not yet in *seen (and sets
 * it), else -1: an unknown or repeated member is left to the full parser, which names it. */
static int member_index(const char *key, const char *const *names, int n, unsigned *seen) {
  for (int i = 0; i < n; i++)
    if (strcmp(key, names[i]) == 0) {
      if (*seen & (1u << i)) return -1;
      *seen |= 1u << i;
      return i;
    }
  return -1;
}

struct fast_action_ctx {
  struct quote_action *qa;
  unsigned seen;
};

static char *action_member(void *arg, const char *key, char *p) {
  static const char *const names[] = {"type", "asset", "amount", "enabled", "category"};
  struct fast_action_ctx *x = arg;
  struct quote_action *qa = x->qa;
  switch (member_index(key, names, 5, &x->seen)) {
  case 0: return fast_str_or_null(p, &qa->type);
  case 1: return fast_str_or_null(p, &qa->asset);
  case 2: return fast_str_or_null(p, &qa->amount);
  case 3:
    if (strncmp(p, "null", 4) == 0) return p + 4;
    qa->has_enabled = true;
    if (strncmp(p, "true", 4) == 0) {
      qa->enabled = true;
      return p + 4;
    }
    return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
  case 4:
    if (strncmp(p, "null", 4) == 0) return p + 4;
    qa->has_category = true;
    return fast_int(p, &qa->category);
  default: return NULL;
  }
}

static char *override_member(void *arg, const char *asset, char *p) {
  struct fast_body *b = arg;
  if (b->n_overrides == FAST_MAX_OVERRIDES) return NULL;
  for (size_t k = 0; k < b->n_overrides; k++)
    if (strcmp(b->ov_asset[k], asset) == 0) return NULL;
  b->ov_asset[b->n_overrides] = asset;
  p = fast_str(p, &b->ov_price[b->n_overrides]); /* a price that is not a string: the full parser */
  b->n_overrides++;
  return p;
}

struct fast_body_ctx {
  struct fast_body *b;
  unsigned seen;
};

static char *body_member(void *arg, const char *key, char *p) {
  static const char *const names[] = {"chain", "account", "actions", "price_overrides", "at"};
  struct fast_body_ctx *x = arg;
  struct fast_body *b = x->b;
  switch (member_index(key, names, 5, &x->seen)) {
  case 0: return fast_int(p, &b->chain);
  case 1: return fast_str_or_null(p, &b->account);
  case 2:
    if (*p++ != '[') return NULL;
    p = (char *)ws(p);
    if (*p == ']') return p + 1;
    for (;;) {
      if (b->n_actions == QUOTE_MAX_ACTIONS || *p++ != '{') return NULL; /* more than 20: the 400 */
      struct quote_action *qa = &b->act[b->n_actions++];
      memset(qa, 0, sizeof *qa);
      qa->reserve = -1;
      struct fast_action_ctx ax = {qa, 0};
      if (!(p = fast_object(p, action_member, &ax)) || !qa->type) return NULL; /* type is required */
      p = (char *)ws(p);
      if (*p == ']') return p + 1;
      if (*p++ != ',') return NULL;
      p = (char *)ws(p);
    }
  case 3:
    if (strncmp(p, "null", 4) == 0) return p + 4;
    if (*p++ != '{') return NULL;
    return fast_object(p, override_member, b);
  case 4:
    if (strncmp(p, "null", 4) == 0) return p + 4;
    return fast_int(p, &b->at);
  default: return NULL;
  }
}

/* Reads the common shape of a quote body (the members a valid quote uses, with the right types,
 * strings without escapes, no repeated keys) without building a JSON tree: jansson's parse and
 * free were ~60k instructions of a 3-action quote. Returns false for anything else (malformed or
 * unusual bodies, which svc_parse_body then reads and answers exactly as before). b->text is
 * the caller's to free either way. */
static bool read_body(const char *body, size_t len, struct fast_body *b) {
  memset(b, 0, offsetof(struct fast_body, act));
  b->at = -1;
  if (!body || len == 0 || memchr(body, 0, len) || !(b->text = malloc(len + 1))) return false;
  memcpy(b->text, body, len);
  b->text[len] = 0;
  char *p = (char *)ws(b->text);
  if (*p++ != '{') return false;
  struct fast_body_ctx x = {b, 0};
  if (!(p = fast_object(p, body_member, &x))) return false;
  if ((x.seen & 5) != 5) return false; /* chain and actions are required */
  return *ws(p) == 0;
}

/* Writes the account summary at the current state of v and a as an object into w; returns false
 * on an engine error (*err set) before writing anything. Without liquidation prices, positions
 * go through memo (the same position after a step that did not touch it is a copy). */
static bool write_account(struct jw *w, const struct acc_view *v, const struct risk_account *a, bool with_liq_price,
                          struct acc_pos_memo *memo, risk_err *err) {
  struct risk_account_data d;
  if ((*err = risk_account_evaluate(&v->m, a, &d))) return false;
  jw_obj(w);
  handler_accounts_write_totals(w, v, a, &d);
  handler_accounts_write_base(w, "borrowing_power_base", d.available_borrows_base);
  jw_key(w, "positions");
  if (!(with_liq_price ? handler_accounts_write_positions(w, v, a, true)
                       : handler_accounts_write_positions_memo(w, v, a, memo))) {
    *err = RISK_OVERFLOW;
    return false;
  }
  jw_obj_end(w);
  return true;
}

/* Writes the reserve's utilization and rates as updateInterestRates leaves them after the step. */
static void write_reserve_after(struct jw *w, const struct acc_view *v, int id) {
  const struct risk_acct_reserve *r = &v->m.reserves[id];
  const struct mkt_reserve *mr = v->res[id];
  u256 idx = u256_is_zero(r->next_variable_borrow_index) ? r->variable_borrow_index : r->next_variable_borrow_index;
  u256 debt;
  struct risk_irm_rates rates;
  jw_obj(w);
  jw_kstr(w, "asset", mr->address_cs);
  jw_kstr(w, "symbol", mr->symbol);
  if (risk_reserve_from_scaled(&debt, r->variable_debt_scaled_total_supply, idx) != RISK_OK ||
      risk_irm_calculate(&rates, &mr->irm, debt, r->available_liquidity, mr->st.config.reserve_factor) != RISK_OK) {
    jw_kstr(w, "error", "the rate strategy reverts at this state");
    jw_obj_end(w);
    return;
  }
  jw_ku256(w, "available_liquidity", r->available_liquidity);
  jw_ku256(w, "total_debt", debt);
  jw_ku256_kfixed(w, "utilization_ray", "utilization", rates.utilization, 27);
  jw_ku256_kfixed(w, "liquidity_rate_ray", "liquidity_rate", rates.liquidity_rate, 27);
  jw_ku256_kfixed(w, "variable_borrow_rate_ray", "variable_borrow_rate", rates.variable_borrow_rate, 27);
  jw_obj_end(w);
}

/* Checks price_overrides.<key> (price: its string, NULL when the value is not a string) against
 * the chain's reserves into prices[reserve id]; appends problems to errors. */
static void check_override(const struct mkt_chain *mc, const char *key, const char *price, u256 *prices,
                           json_t *errors) {
  char field[128];
  snprintf(field, sizeof field, "price_overrides.%s", key);
  const struct mkt_reserve *r = handler_markets_find_reserve(mc, key);
  u256 p;
  if (!r || r->reserve_id < 0 || r->reserve_id >= RISK_MAX_RESERVES) {
    json_array_append_new(errors, svc_field_error(field, "unknown_asset", "is not a reserve of this chain"));
  } else if (!price) {
    json_array_append_new(errors, svc_field_error(field, "wrong_type", "must be an integer string (8 decimals)"));
  } else if (svc_parse_u256(price, field, &p, errors)) {
    if (u256_is_zero(p))
      json_array_append_new(errors, svc_field_error(field, "out_of_range", "must be greater than 0"));
    else
      prices[r->reserve_id] = p;
  }
}

static enum svc_handler_result fields_400(struct svc_request *req, json_t *errors) {
  return svc_reply_problem_fields(req, SVC_ERR_validation_failed, errors, "%zu field(s) failed validation",
                                  json_array_size(errors));
}

enum svc_handler_result handler_quotes_post(struct svc_request *req) {
  long long chain_id = 0, at = -1;
  const char *account = NULL;
  json_t *actions = NULL, *overrides = NULL;
  const struct svc_json_field spec[] = {
      {"chain", SVC_JSON_INT, &chain_id, true},
      {"account", SVC_JSON_STRING, &account, false},
      {"actions", SVC_JSON_ARRAY, &actions, true},
      {"price_overrides", SVC_JSON_OBJECT, &overrides, false},
      {"at", SVC_JSON_INT, &at, false},
  };
  /* The common shape is read without a tree; anything else goes through svc_parse_body (and its
   * 400s), and from there on both are handled alike. */
  struct fast_body fb;
  json_t *root = NULL;
  struct quote_action *qa = fb.act;
  size_t n = 0;
  if (read_body(req->body, req->body_len, &fb)) {
    chain_id = fb.chain;
    account = fb.account;
    at = fb.at;
    n = fb.n_actions;
  } else if (!(root = svc_parse_body(req, spec, sizeof spec / sizeof spec[0]))) {
    free(fb.text);
    return SVC_HANDLED;
  } else {
    n = json_array_size(actions);
  }

  enum svc_handler_result res = SVC_HANDLER_FATAL;
  struct svc_cache *c = NULL;
  struct acc_view *v = NULL;
  struct risk_account *a = NULL;
  u256 *prices = NULL;
  json_t *errors = json_array();
  char lower[43] = "";

  if (chain_id <= 0) json_array_append_new(errors, svc_field_error("chain", "out_of_range", "must be a chain id > 0"));
  if (account && !handler_accounts_parse_address(account, lower))
    json_array_append_new(errors, svc_field_error("account", "invalid_address", "must be 0x followed by 40 hex digits"));
  if (n > QUOTE_MAX_ACTIONS) {
    json_array_append_new(errors, svc_field_error("actions", "too_many", "must hold at most 20 actions"));
  } else {
    for (size_t i = 0; i < n; i++) {
      if (root) {
        parse_action(json_array_get(actions, i), i, &qa[i], errors);
      } else {
        char prefix[32];
        action_prefix(prefix, i);
        check_action(&qa[i], prefix, errors);
      }
    }
  }
  if (at != -1 && (at < 0 || at >= 1099511627776LL))
    json_array_append_new(errors, svc_field_error("at", "out_of_range", "must be unix seconds"));
  if (json_array_size(errors)) {
    res = fields_400(req, errors);
    errors = NULL;
    goto out;
  }

  c = svc_cache_acquire(req->srv);
  if (!c) {
    res = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
    goto out;
  }
  const struct mkt_chain *mc = handler_markets_chain(c, chain_id);
  if (!mc) {
    res = svc_reply_problem(req, SVC_ERR_chain_not_found, "no chain %lld has been imported", chain_id);
    goto out;
  }
  uint64_t t = (uint64_t)mc->block_timestamp;
  if (at != -1) {
    if ((uint64_t)at < t) {
      json_array_append_new(errors, svc_field_error("at", "out_of_range", "must not be before the chain's block"));
    } else {
      t = (uint64_t)at;
    }
  }
  /* Assets and price overrides against the chain's reserves. */
  v = malloc(sizeof *v);
  a = malloc(sizeof *a);
  /* Override prices by reserve id (4 KB zeroed): only when the quote has any. */
  bool any_override = root ? overrides && json_object_size(overrides) : fb.n_overrides > 0;
  if (any_override) prices = calloc(RISK_MAX_RESERVES, sizeof *prices);
  if (!v || !a || (any_override && !prices)) goto out;
  for (size_t i = 0; i < n; i++) {
    if (qa[i].kind == RISK_ACT_SET_EMODE) continue;
    const struct mkt_reserve *r = handler_markets_find_reserve(mc, qa[i].asset);
    if (!r || r->reserve_id < 0 || r->reserve_id >= RISK_MAX_RESERVES) {
      char field[48];
      snprintf(field, sizeof field, "actions[%zu].asset", i);
      json_array_append_new(errors, svc_field_error(field, "unknown_asset", "is not a reserve of this chain"));
    } else {
      qa[i].reserve = r->reserve_id;
    }
  }
  if (root && overrides) {
    const char *key;
    json_t *val;
    json_object_foreach(overrides, key, val) {
      check_override(mc, key, json_is_string(val) ? json_string_value(val) : NULL, prices, errors);
    }
  }
  for (size_t i = 0; !root && i < fb.n_overrides; i++)
    check_override(mc, fb.ov_asset[i], fb.ov_price[i], prices, errors);
  if (json_array_size(errors)) {
    res = fields_400(req, errors);
    errors = NULL;
    goto out;
  }

  risk_err e = RISK_OK;
  const struct acc_chain *x = handler_accounts_chain(c, chain_id);
  if (t == (uint64_t)mc->block_timestamp) {
    /* The per-thread view at the block, copied (steps change reserve totals), then the overrides:
     * prices feed only the evaluation, not the reserve's accrual. */
    const struct acc_view *bv = handler_accounts_view_at_block(c, mc, x, &e);
    if (bv) {
      /* Only the reserves the chain has: the whole view is ~70 KB, most of it unused ids. */
      memcpy(v, bv, offsetof(struct acc_view, m));
      v->m.n_reserves = bv->m.n_reserves;
      memcpy(v->m.reserves, bv->m.reserves, bv->m.n_reserves * sizeof bv->m.reserves[0]);
      memcpy(v->m.emode, bv->m.emode, sizeof v->m.emode);
      for (uint32_t id = 0; id < v->m.n_reserves; id++) {
        if (!prices || u256_is_zero(prices[id])) continue;
        v->m.reserves[id].price = prices[id];
        v->priced[id] = true;
      }
    }
  } else {
    e = handler_accounts_view(v, mc, x, t, prices);
  }
  if (e) {
    svc_log(SVC_LOG_ERROR, "quotes: market of chain %lld: %s", chain_id, risk_err_name(e));
    goto out;
  }
  memset(a, 0, offsetof(struct risk_account, pos));
  if (account) {
    bool found = false, replied = false;
    if (!handler_accounts_fetch(req, x, v, lower, a, &found, &replied)) {
      if (replied) res = SVC_HANDLED;
      goto out;
    }
  }

  struct jw w = {0}, sw = {0}, fw = {0};
  struct acc_pos_memo memo; /* ~6 KB: only its count and text need a start value */
  memo.n = 0;
  memo.text = (struct jw){0};
  jw_obj(&w);
  jw_kint(&w, "chain_id", mc->chain_id);
  if (account) {
    char cs[43];
    handler_address_checksum(lower, cs);
    jw_kstr(&w, "account", cs);
  } else {
    jw_knull(&w, "account");
  }
  jw_key(&w, "as_of");
  jw_obj(&w);
  handler_accounts_write_as_of_fields(&w, mc);
  jw_kint(&w, "evaluated_at", (int64_t)t);
  jw_obj_end(&w);
  jw_key(&w, "initial");
  if (!write_account(&w, v, a, false, &memo, &e)) {
    svc_log(SVC_LOG_ERROR, "quotes: evaluating the initial account: %s", risk_err_name(e));
    goto out_w;
  }
  bool failed = false;
  jw_arr(&sw);
  for (size_t i = 0; i < n; i++) {
    struct quote_action *q = &qa[i];
    struct risk_action act = {.kind = q->kind,
                              .reserve = (uint16_t)(q->reserve < 0 ? 0 : q->reserve),
                              .amount = q->value,
                              .use_as_collateral = q->enabled,
                              .emode_category = (uint32_t)q->category};
    jw_obj(&sw);
    jw_kint(&sw, "index", (int64_t)i);
    jw_kstr(&sw, "type", q->type);
    if (q->reserve >= 0)
      jw_kstr(&sw, "asset", v->res[q->reserve]->address_cs);
    else
      jw_knull(&sw, "asset");
    risk_onchain_err oe = RISK_ONCHAIN_OK;
    u256 max = U256_ZERO;
    bool unbounded = false, have_max = false;
    if (takes_amount(q->kind)) {
      jw_kstr(&sw, "amount_requested", q->amount);
      if (q->is_max) {
        oe = risk_account_max_amount(&v->m, a, &act, &max, &unbounded);
        have_max = true;
        if (unbounded) {
          char field[48];
          snprintf(field, sizeof field, "actions[%zu].amount", i);
          res = fields_400(req, json_pack("[o]", svc_field_error(field, "unbounded",
                                                                 "the reserve has no supply cap: give an amount")));
          goto out_w;
        }
        if (u256_is_zero(max)) {
          act.amount = U256_ZERO; /* nothing passes: report the smallest amount's revert */
        } else {
          act.amount = max;
          oe = RISK_ONCHAIN_OK;
        }
      }
    }
    if (!(q->is_max && u256_is_zero(max) && oe != RISK_ONCHAIN_OK)) oe = risk_account_apply(&v->m, a, &act);
    if (takes_amount(q->kind)) {
      if (!q->is_max || oe == RISK_ONCHAIN_OK) {
        jw_ku256_kfixed(&sw, "amount", "amount_human", act.amount, v->res[q->reserve]->decimals);
      } else {
        jw_knull(&sw, "amount");
        jw_knull(&sw, "amount_human");
      }
    }
    if (oe != RISK_ONCHAIN_OK) {
      if (takes_amount(q->kind) && !have_max) {
        act.amount = U256_ZERO;
        risk_account_max_amount(&v->m, a, &act, &max, &unbounded);
        have_max = true;
      }
      const char *code = risk_onchain_error_code(oe);
      jw_obj(&fw);
      jw_kint(&fw, "step", (int64_t)i);
      jw_kstr(&fw, "type", q->type);
      jw_kstr(&fw, "error", risk_onchain_error_name(oe));
      if (code)
        jw_kstr(&fw, "error_code", code);
      else
        jw_knull(&fw, "error_code");
      if (have_max && !unbounded) {
        jw_ku256_kfixed(&fw, "max_amount", "max_amount_human", max, v->res[q->reserve]->decimals);
      } else {
        jw_knull(&fw, "max_amount");
        jw_knull(&fw, "max_amount_human");
      }
      jw_obj_end(&fw);
      jw_kbool(&sw, "ok", false);
      jw_kstr(&sw, "error", risk_onchain_error_name(oe));
      if (code)
        jw_kstr(&sw, "error_code", code);
      else
        jw_knull(&sw, "error_code");
      jw_obj_end(&sw);
      failed = true;
      break;
    }
    jw_kbool(&sw, "ok", true);
    jw_knull(&sw, "error");
    jw_knull(&sw, "error_code");
    jw_key(&sw, "account");
    if (!write_account(&sw, v, a, false, &memo, &e)) {
      svc_log(SVC_LOG_ERROR, "quotes: evaluating step %zu: %s", i, risk_err_name(e));
      goto out_w;
    }
    jw_key(&sw, "reserves");
    jw_arr(&sw);
    if (q->reserve >= 0 && q->kind != RISK_ACT_SET_COLLATERAL) write_reserve_after(&sw, v, q->reserve);
    jw_arr_end(&sw);
    jw_obj_end(&sw);
  }
  jw_arr_end(&sw);
  jw_kbool(&w, "ok", !failed);
  jw_key(&w, "failure");
  if (failed)
    jw_append(&w, &fw);
  else
    jw_null(&w);
  jw_key(&w, "steps");
  jw_append(&w, &sw);
  jw_key(&w, "final");
  if (!write_account(&w, v, a, true, &memo, &e)) {
    svc_log(SVC_LOG_ERROR, "quotes: evaluating the final account: %s", risk_err_name(e));
    goto out_w;
  }
  jw_obj_end(&w);
  if (!w.oom) {
    res = svc_reply_take(req, 200, "application/json", w.buf, w.len);
    w.buf = NULL;
  }
out_w:
  jw_free(&w);
  jw_free(&sw);
  jw_free(&fw);
  jw_free(&memo.text);
out:
  json_decref(errors);
  json_decref(root);
  free(fb.text);
  free(prices);
  free(v);
  free(a);
  if (c) svc_cache_release(c);
  return res;
}
