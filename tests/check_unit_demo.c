/* ctest-label: unit */
/* sparkd demo-data (cli/demo.c): the generated snapshots are valid sparkd.snapshot/1
 * lines, deterministic for a seed, and consistent with the engine: reserve totals are the
 * sums of the positions, stored rates are the strategy's output at the stored utilization,
 * indexes move by updateState, chi by drip, every account re-evaluated with the engine is at
 * HF >= 1 where the generator opened it, and the mix holds eMode and isolated accounts. Real-world values are checked
 * against the spec's §4 table; rate-limit keys against the ethers-generated fixture; EIP-55 against the EIP's own
 * example. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/demo.h"
#include "risk/account.h"
#include "risk/irm.h"
#include "risk/reserve.h"
#include "risk/savings.h"
#include "risk/wadray.h"

#define N_ACCOUNTS 500
#define N_DAYS 3

static char *generate(uint64_t seed, uint32_t accounts, uint32_t days, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  ck_assert_ptr_nonnull(f);
  struct cli_demo_opts o = {seed, accounts, days};
  char err[256] = "";
  int rc = cli_demo_generate(f, &o, err, sizeof err);
  fclose(f);
  ck_assert_msg(rc == 0, "generate: %s", err);
  *len = n;
  return buf;
}

/* Splits the output into parsed lines. */
static json_t **parse_lines(char *buf, size_t *count) {
  size_t cap = 64, n = 0;
  json_t **out = malloc(cap * sizeof *out);
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_error_t e;
    json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(j != NULL, "line %zu is not JSON: %s", n + 1, e.text);
    if (n == cap) out = realloc(out, (cap *= 2) * sizeof *out);
    out[n++] = j;
  }
  *count = n;
  return out;
}

static json_t **demo(size_t *count) {
  size_t len;
  char *buf = generate(1, N_ACCOUNTS, N_DAYS, &len);
  json_t **l = parse_lines(buf, count);
  free(buf);
  ck_assert_uint_eq(*count, 1 + N_DAYS * 4);
  return l;
}

static u256 S(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  ck_assert_msg(json_is_string(v), "%s is not a string", key);
  u256 r;
  ck_assert_msg(u256_from_dec(&r, json_string_value(v), strlen(json_string_value(v))) == RISK_OK, "%s: %s", key,
                json_string_value(v));
  return r;
}
static uint64_t N(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  ck_assert_msg(json_is_integer(v) && json_integer_value(v) >= 0, "%s is not a non-negative integer", key);
  return (uint64_t)json_integer_value(v);
}
#define ck_assert_u256_eq(a, b, what)                                                                                  \
  do {                                                                                                                 \
    char x_[U256_DEC_MAX], y_[U256_DEC_MAX];                                                                           \
    u256_to_dec((a), x_), u256_to_dec((b), y_);                                                                        \
    ck_assert_msg(u256_eq((a), (b)), "%s: %s != %s", (what), x_, y_);                                                  \
  } while (0)

/* Every key of o must be in allowed (NULL-ended) and every key of required present. */
static void keys(json_t *o, const char *where, const char *const *required, const char *const *optional) {
  ck_assert_msg(json_is_object(o), "%s is not an object", where);
  for (const char *const *k = required; *k; k++)
    ck_assert_msg(json_object_get(o, *k), "%s.%s missing", where, *k);
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    bool ok = false;
    for (const char *const *k = required; *k && !ok; k++)
      ok = strcmp(*k, key) == 0;
    for (const char *const *k = optional; k && *k && !ok; k++)
      ok = strcmp(*k, key) == 0;
    ck_assert_msg(ok, "%s.%s is not a snapshot field", where, key);
  }
}

static bool is_addr(json_t *v) {
  const char *s = json_string_value(v);
  if (!s || strlen(s) != 42 || strncmp(s, "0x", 2) != 0) return false;
  for (int i = 2; i < 42; i++)
    if (!strchr("0123456789abcdefABCDEF", s[i])) return false;
  uint8_t a[20];
  for (int i = 0; i < 20; i++)
    sscanf(s + 2 + 2 * i, "%2hhx", &a[i]);
  char chk[43];
  cli_demo_eip55(a, chk);
  return strcmp(chk, s) == 0; /* the generator writes EIP-55 */
}

static int reserve_index(json_t *reserves, const char *asset) {
  for (size_t i = 0; i < json_array_size(reserves); i++)
    if (strcasecmp(json_string_value(json_object_get(json_array_get(reserves, i), "asset")), asset) == 0) return (int)i;
  return -1;
}

static void decode(json_t *res, struct risk_reserve_config *c) {
  risk_reserve_config_decode(S(res, "configuration"), c);
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_fields) {
  static const char *const top[] = {"format",         "chain_id",        "block",       "reserves", "prices",
                                    "savings_vaults", "liquidity_layer", "kill_switch", NULL};
  static const char *const top_opt[] = {"assets", "emode_categories", "accounts_mode", "accounts", NULL};
  static const char *const block[] = {"number", "hash", "timestamp", NULL};
  static const char *const reserve[] = {"asset",
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
  static const char *const irm[] = {"address",
                                    "kind",
                                    "optimal_usage_ratio",
                                    "base_variable_borrow_rate",
                                    "variable_rate_slope1",
                                    "variable_rate_slope2",
                                    NULL};
  static const char *const irm_opt[] = {"spread", "rate_source", NULL};
  static const char *const src[] = {"kind", "address", "apr", "decimals", NULL};
  static const char *const src_opt[] = {"lower_bound", "upper_bound", "default_rate", NULL};
  static const char *const price[] = {"asset", "price", "source", "updated_at", NULL};
  static const char *const account[] = {"address", "emode_category", "positions", NULL};
  static const char *const position[] = {"asset", "scaled_a_token_balance", "scaled_variable_debt", "collateral", NULL};
  static const char *const vault[] = {"kind", "address", "asset", "symbol",       "decimals",
                                      "chi",  "rho",     "rate",  "total_supply", NULL};
  static const char *const vault_opt[] = {"min_rate", "max_rate", "deposit_cap", "idle_assets", "intents", NULL};
  static const char *const ll[] = {"alm_proxy", "venues", "allocations", "idle", "rate_limits", NULL};
  static const char *const rl[] = {"key", "name", "max_amount", "slope", "last_amount", "last_updated", NULL};
  static const char *const rl_opt[] = {"asset", "target", NULL};
  static const char *const ks[] = {"address", "triggered", "oracles", NULL};
  static const char *const kso[] = {"address", "label", "threshold", "latest_answer", "decimals", NULL};
  size_t n;
  json_t **l = demo(&n);
  uint64_t prev_block = 0, prev_t = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *s = l[i];
    keys(s, "$", top, top_opt);
    ck_assert_str_eq(json_string_value(json_object_get(s, "format")), "sparkd.snapshot/1");
    ck_assert_int_eq(json_integer_value(json_object_get(s, "chain_id")), 1);
    json_t *b = json_object_get(s, "block");
    keys(b, "$.block", block, NULL);
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(b, "hash"))), 66);
    if (i) { /* 6 hours = 1800 blocks of 12 s */
      ck_assert_uint_eq(N(b, "number"), prev_block + 1800);
      ck_assert_uint_eq(N(b, "timestamp"), prev_t + 21600);
    }
    prev_block = N(b, "number"), prev_t = N(b, "timestamp");
    ck_assert(i == 0 ? json_is_array(json_object_get(s, "assets")) : !json_object_get(s, "assets"));
    const char *mode = json_string_value(json_object_get(s, "accounts_mode"));
    if (i == 0)
      ck_assert_str_eq(mode, "full");
    else if (mode)
      ck_assert_str_eq(mode, "delta");
    ck_assert((mode != NULL) == (json_object_get(s, "accounts") != NULL));
    json_t *v, *w;
    size_t k, k2;
    json_array_foreach(json_object_get(s, "reserves"), k, v) {
      keys(v, "$.reserves[]", reserve, NULL);
      ck_assert(is_addr(json_object_get(v, "asset")));
      json_t *m = json_object_get(v, "interest_rate_strategy");
      keys(m, "$.reserves[].interest_rate_strategy", irm, irm_opt);
      if (json_object_get(m, "rate_source")) keys(json_object_get(m, "rate_source"), "rate_source", src, src_opt);
      ck_assert_uint_eq(N(v, "last_update_timestamp"), prev_t);
    }
    json_array_foreach(json_object_get(s, "prices"), k, v) keys(v, "$.prices[]", price, NULL);
    json_array_foreach(json_object_get(s, "accounts"), k, v) {
      keys(v, "$.accounts[]", account, NULL);
      ck_assert(is_addr(json_object_get(v, "address")));
      json_array_foreach(json_object_get(v, "positions"), k2, w) {
        keys(w, "$.accounts[].positions[]", position, NULL);
        ck_assert(!u256_is_zero(S(w, "scaled_a_token_balance")) || !u256_is_zero(S(w, "scaled_variable_debt")));
      }
    }
    json_array_foreach(json_object_get(s, "savings_vaults"), k, v) keys(v, "$.savings_vaults[]", vault, vault_opt);
    json_t *lay = json_object_get(s, "liquidity_layer");
    keys(lay, "$.liquidity_layer", ll, NULL);
    json_array_foreach(json_object_get(lay, "rate_limits"), k, v) {
      keys(v, "$.liquidity_layer.rate_limits[]", rl, rl_opt);
      ck_assert(u256_le(S(v, "last_amount"), S(v, "max_amount")));
      ck_assert_uint_le(N(v, "last_updated"), prev_t);
    }
    json_t *kill = json_object_get(s, "kill_switch");
    keys(kill, "$.kill_switch", ks, NULL);
    json_array_foreach(json_object_get(kill, "oracles"), k, v) keys(v, "$.kill_switch.oracles[]", kso, NULL);
  }
  for (size_t i = 0; i < n; i++)
    json_decref(l[i]);
  free(l);
}
END_TEST

START_TEST(test_determinism) {
  size_t a_len, b_len, c_len;
  char *a = generate(7, 300, 2, &a_len), *b = generate(7, 300, 2, &b_len), *c = generate(8, 300, 2, &c_len);
  ck_assert_uint_eq(a_len, b_len);
  ck_assert(memcmp(a, b, a_len) == 0);
  ck_assert(a_len != c_len || memcmp(a, c, a_len) != 0);
  free(a), free(b), free(c);
}
END_TEST

/* Reserve totals = sum of the account positions (replaying full + delta snapshots). */
START_TEST(test_totals) {
  size_t n;
  json_t **l = demo(&n);
  json_t *state = json_object();
  for (size_t i = 0; i < n; i++) {
    json_t *s = l[i], *a;
    size_t k, k2;
    if (json_object_get(s, "accounts_mode") &&
        strcmp(json_string_value(json_object_get(s, "accounts_mode")), "full") == 0)
      json_object_clear(state);
    json_array_foreach(json_object_get(s, "accounts"), k, a) {
      const char *addr = json_string_value(json_object_get(a, "address"));
      if (json_array_size(json_object_get(a, "positions")) == 0)
        json_object_del(state, addr);
      else
        json_object_set(state, addr, a);
    }
    json_t *reserves = json_object_get(s, "reserves");
    size_t nr = json_array_size(reserves);
    u256 sa[32] = {{{0}}}, sd[32] = {{{0}}};
    const char *key;
    json_object_foreach(state, key, a) {
      json_t *p;
      json_array_foreach(json_object_get(a, "positions"), k, p) {
        int r = reserve_index(reserves, json_string_value(json_object_get(p, "asset")));
        ck_assert_int_ge(r, 0);
        ck_assert_int_eq(u256_add(&sa[r], sa[r], S(p, "scaled_a_token_balance")), RISK_OK);
        ck_assert_int_eq(u256_add(&sd[r], sd[r], S(p, "scaled_variable_debt")), RISK_OK);
      }
    }
    /* the liquidity layer's SparkLend allocations are the ALM proxy's aToken balances */
    json_t *alm = json_object_get(state, "0x1601843c5E9bC251A3272907010AFa41Fa18347E"), *al;
    unsigned sparklend = 0;
    json_array_foreach(json_object_get(json_object_get(s, "liquidity_layer"), "allocations"), k, al) {
      if (strncmp(json_string_value(json_object_get(al, "venue")), "sparklend-", 10) != 0) continue;
      const char *asset = json_string_value(json_object_get(al, "asset"));
      json_t *res = json_array_get(reserves, (size_t)reserve_index(reserves, asset)), *p;
      u256 want = U256_ZERO;
      json_array_foreach(json_object_get(alm, "positions"), k2, p) {
        if (strcasecmp(json_string_value(json_object_get(p, "asset")), asset) == 0)
          ck_assert_int_eq(risk_reserve_from_scaled(&want, S(p, "scaled_a_token_balance"), S(res, "liquidity_index")),
                           RISK_OK);
      }
      ck_assert_u256_eq(S(al, "amount"), want, "SparkLend allocation");
      sparklend++;
    }
    ck_assert_uint_eq(sparklend, 6);
    for (size_t r = 0; r < nr; r++) {
      json_t *res = json_array_get(reserves, r);
      ck_assert_u256_eq(sa[r], S(res, "a_token_scaled_total_supply"), "aToken scaled supply");
      ck_assert_u256_eq(sd[r], S(res, "variable_debt_scaled_total_supply"), "debt scaled supply");
      /* balanceOf(aToken) ~ supplied + treasury - borrowed (interest accrues on both sides) */
      u256 sup, debt, lhs, rhs;
      ck_assert_int_eq(risk_reserve_from_scaled(&sup, u256_add_wrap(sa[r], S(res, "accrued_to_treasury")),
                                                S(res, "liquidity_index")),
                       RISK_OK);
      ck_assert_int_eq(risk_reserve_from_scaled(&debt, sd[r], S(res, "variable_borrow_index")), RISK_OK);
      lhs = sup, rhs = u256_add_wrap(S(res, "available_liquidity"), debt);
      u256 diff = u256_gt(lhs, rhs) ? u256_sub_wrap(lhs, rhs) : u256_sub_wrap(rhs, lhs), tol;
      ck_assert_int_eq(u256_muldiv(&tol, lhs, u256_from_u64(1), u256_from_u64(1000)), RISK_OK); /* 0.1% */
      ck_assert_msg(u256_le(diff, u256_add_wrap(tol, u256_from_u64(1000))), "snapshot %zu reserve %zu: supply != L + D",
                    i, r);
    }
  }
  json_decref(state);
  for (size_t i = 0; i < n; i++)
    json_decref(l[i]);
  free(l);
}
END_TEST

static void irm_from_json(json_t *j, struct risk_irm *m) {
  memset(m, 0, sizeof *m);
  const char *kind = json_string_value(json_object_get(j, "kind"));
  m->kind = strcmp(kind, "default") == 0            ? RISK_IRM_DEFAULT
            : strcmp(kind, "variable_borrow") == 0  ? RISK_IRM_VARIABLE_BORROW
            : strcmp(kind, "rate_target_base") == 0 ? RISK_IRM_RATE_TARGET_BASE
                                                    : RISK_IRM_RATE_TARGET_KINK;
  m->optimal_usage_ratio = S(j, "optimal_usage_ratio");
  m->base_variable_borrow_rate = S(j, "base_variable_borrow_rate");
  m->variable_rate_slope1 = S(j, "variable_rate_slope1");
  m->variable_rate_slope2 = S(j, "variable_rate_slope2");
  json_t *sp = json_object_get(j, "spread");
  if (sp) {
    const char *t = json_string_value(sp);
    m->spread_negative = t[0] == '-';
    if (m->spread_negative) t++;
    ck_assert_int_eq(u256_from_dec(&m->spread, t, strlen(t)), RISK_OK);
    json_t *src = json_object_get(j, "rate_source");
    /* the source as the strategy reads it: getAPR() in its decimals (the capped value) */
    m->source.kind = RISK_RATE_SOURCE_ORACLE;
    m->source.value = S(src, "apr");
    m->source.decimals = (unsigned)N(src, "decimals");
    if (json_object_get(src, "lower_bound")) {
      m->source.capped = true;
      m->source.lower_bound = S(src, "lower_bound");
      m->source.upper_bound = S(src, "upper_bound");
      m->source.default_rate = S(src, "default_rate");
    }
  }
}

/* Stored rates = the strategy at the stored utilization; indexes = updateState of the
 * previous snapshot; chi = drip of the previous snapshot. */
START_TEST(test_engine_consistency) {
  size_t n;
  json_t **l = demo(&n);
  for (size_t i = 0; i < n; i++) {
    json_t *res;
    size_t r;
    json_array_foreach(json_object_get(l[i], "reserves"), r, res) {
      struct risk_reserve_config c;
      decode(res, &c);
      struct risk_irm m;
      irm_from_json(json_object_get(res, "interest_rate_strategy"), &m);
      struct risk_irm_params p;
      ck_assert_int_eq(risk_irm_get_params(&p, &m), RISK_OK);
      ck_assert_u256_eq(p.variable_rate_slope1,
                        S(json_object_get(res, "interest_rate_strategy"), "variable_rate_slope1"),
                        "slope1 re-derived from the source");
      u256 d;
      ck_assert_int_eq(
          risk_reserve_from_scaled(&d, S(res, "variable_debt_scaled_total_supply"), S(res, "variable_borrow_index")),
          RISK_OK);
      struct risk_irm_rates rates;
      ck_assert_int_eq(risk_irm_calculate(&rates, &m, d, S(res, "available_liquidity"), c.reserve_factor), RISK_OK);
      ck_assert_u256_eq(rates.variable_borrow_rate, S(res, "current_variable_borrow_rate"), "borrow rate");
      ck_assert_u256_eq(rates.liquidity_rate, S(res, "current_liquidity_rate"), "liquidity rate");
      if (i == 0) continue;
      json_t *prev = json_array_get(json_object_get(l[i - 1], "reserves"), r);
      struct risk_reserve_state st = {0}, next;
      decode(prev, &st.config);
      st.liquidity_index = S(prev, "liquidity_index");
      st.variable_borrow_index = S(prev, "variable_borrow_index");
      st.current_liquidity_rate = S(prev, "current_liquidity_rate");
      st.current_variable_borrow_rate = S(prev, "current_variable_borrow_rate");
      st.last_update_timestamp = N(prev, "last_update_timestamp");
      st.a_token_scaled_total_supply = S(prev, "a_token_scaled_total_supply");
      st.variable_debt_scaled_total_supply = S(prev, "variable_debt_scaled_total_supply");
      st.accrued_to_treasury = S(prev, "accrued_to_treasury");
      ck_assert_int_eq(risk_reserve_update_state(&next, &st, N(res, "last_update_timestamp")), RISK_OK);
      ck_assert_u256_eq(next.liquidity_index, S(res, "liquidity_index"), "liquidity index");
      ck_assert_u256_eq(next.variable_borrow_index, S(res, "variable_borrow_index"), "borrow index");
      ck_assert_u256_eq(next.accrued_to_treasury, S(res, "accrued_to_treasury"), "accrued to treasury");
    }
    json_t *v;
    json_array_foreach(json_object_get(l[i], "savings_vaults"), r, v) {
      ck_assert(u256_ge(S(v, "chi"), RISK_RAY) && u256_ge(S(v, "rate"), RISK_RAY));
      if (json_object_get(v, "max_rate")) {
        ck_assert(u256_le(S(v, "min_rate"), S(v, "rate")) && u256_le(S(v, "rate"), S(v, "max_rate")));
        u256 ta;
        ck_assert_int_eq(risk_savings_convert_to_assets(&ta, S(v, "total_supply"), S(v, "chi")), RISK_OK);
        ck_assert(u256_le(ta, S(v, "deposit_cap")));
      }
      if (i == 0) continue;
      json_t *pv = json_array_get(json_object_get(l[i - 1], "savings_vaults"), r);
      struct risk_savings_drip dr;
      uint64_t t = N(json_object_get(l[i], "block"), "timestamp");
      ck_assert_int_eq(risk_savings_drip(&dr, S(pv, "chi"), N(pv, "rho"), S(pv, "rate"), S(pv, "total_supply"), t),
                       RISK_OK);
      ck_assert_u256_eq(dr.chi, S(v, "chi"), "chi");
      ck_assert_uint_eq(dr.rho, N(v, "rho"));
    }
  }
  for (size_t i = 0; i < n; i++)
    json_decref(l[i]);
  free(l);
}
END_TEST

struct mix {
  unsigned below, near, emode, isolated, borrowers, suppliers;
};

/* Replays snapshots 0..upto (full, then deltas) and evaluates every account with the engine at
 * the reserves and prices of snapshot upto. */
static void account_mix(json_t **l, size_t upto, struct mix *out) {
  json_t *state = json_object(), *a;
  size_t k;
  for (size_t i = 0; i <= upto; i++) {
    if (json_object_get(l[i], "accounts_mode") &&
        strcmp(json_string_value(json_object_get(l[i], "accounts_mode")), "full") == 0)
      json_object_clear(state);
    json_array_foreach(json_object_get(l[i], "accounts"), k, a) {
      const char *addr = json_string_value(json_object_get(a, "address"));
      if (json_array_size(json_object_get(a, "positions")) == 0)
        json_object_del(state, addr);
      else
        json_object_set(state, addr, a);
    }
  }
  json_t *snap = l[upto], *reserves = json_object_get(snap, "reserves"), *res;
  struct risk_market *m = calloc(1, sizeof *m);
  m->n_reserves = (uint32_t)json_array_size(reserves);
  json_array_foreach(reserves, k, res) {
    struct risk_reserve_config c;
    decode(res, &c);
    struct risk_acct_reserve *x = &m->reserves[N(res, "id")];
    x->decimals = c.decimals, x->ltv = c.ltv, x->liquidation_threshold = c.liquidation_threshold;
    x->liquidation_bonus = c.liquidation_bonus, x->emode_category = c.emode_category, x->debt_ceiling = c.debt_ceiling;
    x->listed = x->active = true;
    x->liquidity_index = S(res, "liquidity_index"), x->variable_borrow_index = S(res, "variable_borrow_index");
    json_t *p;
    size_t j;
    json_array_foreach(json_object_get(snap, "prices"), j,
                       p) if (strcmp(json_string_value(json_object_get(p, "asset")),
                                     json_string_value(json_object_get(res, "asset"))) == 0) x->price = S(p, "price");
    ck_assert(!u256_is_zero(x->price));
  }
  json_t *e;
  json_array_foreach(json_object_get(l[0], "emode_categories"), k, e) {
    struct risk_emode_category *c = &m->emode[N(e, "id")];
    c->ltv = (uint32_t)N(e, "ltv"), c->liquidation_threshold = (uint32_t)N(e, "liquidation_threshold");
    c->liquidation_bonus = (uint32_t)N(e, "liquidation_bonus");
  }
  ck_assert_int_eq(risk_market_prepare(m), RISK_OK);
  memset(out, 0, sizeof *out);
  const char *key;
  json_object_foreach(state, key, a) {
    struct risk_account acc = {0};
    acc.emode_category = (uint32_t)N(a, "emode_category");
    json_t *p;
    json_array_foreach(json_object_get(a, "positions"), k, p) {
      struct risk_position *q = &acc.pos[acc.n_positions++];
      q->reserve = (uint16_t)reserve_index(reserves, json_string_value(json_object_get(p, "asset")));
      q->collateral = json_is_true(json_object_get(p, "collateral"));
      q->scaled_a = S(p, "scaled_a_token_balance"), q->scaled_debt = S(p, "scaled_variable_debt");
      q->borrowing = !u256_is_zero(q->scaled_debt);
      /* the Pool clears the collateral bit with the last of the balance */
      ck_assert_msg(!q->collateral || !u256_is_zero(q->scaled_a), "%s: collateral bit without a balance", key);
      if (acc.n_positions > 1) ck_assert_uint_gt(q->reserve, acc.pos[acc.n_positions - 2].reserve);
    }
    struct risk_account_data d;
    ck_assert_int_eq(risk_account_evaluate(m, &acc, &d), RISK_OK);
    if (u256_is_zero(d.total_debt_base)) {
      out->suppliers++;
      continue;
    }
    out->borrowers++;
    if (u256_lt(d.health_factor, RISK_WAD))
      out->below++;
    else if (u256_lt(d.health_factor, u256_from_u64(1100000000000000000ull)))
      out->near++;
    if (acc.emode_category) out->emode++;
    if (d.isolated) out->isolated++;
  }
  free(m);
  json_decref(state);
}

/* Health factors, re-evaluated with the engine. In the first snapshot every borrow has just
 * passed the Pool's checks at its prices, so no account is below 1 there, while accounts
 * opened near their limit sit just above it; eMode and isolated accounts exist throughout. */
START_TEST(test_account_mix) {
  size_t n;
  json_t **l = demo(&n);
  struct mix first, last;
  account_mix(l, 0, &first);
  ck_assert_uint_eq(first.below, 0);
  ck_assert_uint_gt(first.near, 0);
  ck_assert_uint_gt(first.emode, 10);
  ck_assert_uint_gt(first.isolated, 0);
  ck_assert_uint_gt(first.suppliers, N_ACCOUNTS / 5);
  ck_assert_uint_gt(first.borrowers, N_ACCOUNTS / 3);
  account_mix(l, n - 1, &last);
  ck_assert_uint_gt(last.emode, 10);
  ck_assert_uint_gt(last.isolated, 0);
  ck_assert_uint_gt(last.suppliers, N_ACCOUNTS / 5);
  ck_assert_uint_gt(last.borrowers, N_ACCOUNTS / 3);
  for (size_t i = 0; i < n; i++)
    json_decref(l[i]);
  free(l);
}
END_TEST

/* Real configuration against spec protocol-math §4.1, §4.2, §1.6 and §4.6. */
START_TEST(test_real_config) {
  size_t n;
  json_t **l = demo(&n);
  json_t *s = l[0], *assets = json_object_get(s, "assets");
  static const struct {
    const char *addr;
    unsigned ltv, lt, lb, rf, emode, dec;
    bool frozen, borrowing;
  } want[] = {
      {"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", 8500, 8600, 10500, 500, 1, 18, false, true},   /* WETH */
      {"0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0", 8300, 8400, 10700, 3000, 1, 18, false, true},  /* wstETH */
      {"0xae78736Cd615f374D3085123A210448E74Fc6393", 0, 8000, 10700, 1500, 1, 18, true, true},      /* rETH */
      {"0xCd5fE23C85820F7B72D0926FC9b05b43E359b7ee", 7900, 8000, 10800, 1500, 0, 18, false, false}, /* weETH */
      {"0xA1290d69c65A6Fe4DF752f95823fae25cB99e5A7", 7500, 7600, 11000, 1500, 0, 18, true, false},  /* rsETH */
      {"0xbf5495Efe5DB9ce00f80364C8B423567e58d2110", 7500, 7600, 11000, 1500, 0, 18, true, false},  /* ezETH */
      {"0xcbB7C0000aB88B473b1f5aFd9ef808440eed33Bf", 8100, 8200, 10800, 2000, 3, 8, false, true},   /* cbBTC */
      {"0x8236a87084f8B84306f72007F36F2618A5634494", 7400, 7500, 10800, 1500, 3, 8, false, false},  /* LBTC */
      {"0x18084fbA666a33d37592fA2633fD49a74DD93a88", 7400, 7500, 10800, 9900, 0, 18, true, true},   /* tBTC */
      {"0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD", 0, 8000, 10500, 1000, 2, 18, false, false},    /* sUSDS */
      {"0x6B175474E89094C44Da98b954EedeAC495271d0F", 0, 1, 10450, 1000, 0, 18, false, true},        /* DAI */
      {"0xdC035D45d973E3EC169d2276DDab16f1e407384F", 0, 0, 0, 1000, 0, 18, false, true},            /* USDS */
      {"0xdAC17F958D2ee523a2206206994597C13D831ec7", 0, 0, 0, 100, 2, 6, false, true},              /* USDT */
      {"0x6c3ea9036406852006290770BEdFcAbA0e23A0e8", 0, 0, 0, 1000, 2, 6, false, true},             /* PYUSD */
  };
  json_t *reserves = json_object_get(s, "reserves");
  ck_assert_uint_eq(json_array_size(reserves), 18);
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    int r = reserve_index(reserves, want[i].addr);
    ck_assert_msg(r >= 0, "%s not listed", want[i].addr);
    struct risk_reserve_config c;
    decode(json_array_get(reserves, (size_t)r), &c);
    ck_assert_uint_eq(c.ltv, want[i].ltv);
    ck_assert_uint_eq(c.liquidation_threshold, want[i].lt);
    ck_assert_uint_eq(c.liquidation_bonus, want[i].lb);
    ck_assert_uint_eq(c.reserve_factor, want[i].rf);
    ck_assert_uint_eq(c.emode_category, want[i].emode);
    ck_assert_uint_eq(c.decimals, want[i].dec);
    ck_assert(c.frozen == want[i].frozen && c.borrowing_enabled == want[i].borrowing && c.active && !c.paused);
  }
  struct risk_reserve_config c;
  decode(json_array_get(reserves, (size_t)reserve_index(reserves, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")), &c);
  ck_assert(c.supply_cap == 68719476735ull && c.borrow_cap == 68719476735ull); /* USDC caps 2^36-1 */
  decode(json_array_get(reserves, (size_t)reserve_index(reserves, "0xa3931d71877C0E7a3148CB7Eb4463524FEc27fbD")), &c);
  ck_assert_uint_eq(c.supply_cap, 1); /* sUSDS */
  decode(json_array_get(reserves, (size_t)reserve_index(reserves, "0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0")), &c);
  ck_assert_uint_eq(c.borrow_cap, 1); /* wstETH */
  decode(json_array_get(reserves, (size_t)reserve_index(reserves, "0xdC035D45d973E3EC169d2276DDab16f1e407384F")), &c);
  ck_assert(c.borrowable_in_isolation && c.flashloan_enabled); /* USDS */
  /* every reserve asset is an asset; stablecoin prices exactly 1e8 */
  json_t *p;
  size_t k;
  json_array_foreach(json_object_get(s, "prices"), k, p) {
    ck_assert(is_addr(json_object_get(p, "asset")));
    const char *a = json_string_value(json_object_get(p, "asset"));
    if (strcmp(a, "0x6B175474E89094C44Da98b954EedeAC495271d0F") == 0 ||
        strcmp(a, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48") == 0 ||
        strcmp(a, "0xdAC17F958D2ee523a2206206994597C13D831ec7") == 0 ||
        strcmp(a, "0xdC035D45d973E3EC169d2276DDab16f1e407384F") == 0 ||
        strcmp(a, "0x6c3ea9036406852006290770BEdFcAbA0e23A0e8") == 0)
      ck_assert_u256_eq(S(p, "price"), u256_from_u64(100000000), "stablecoin price");
  }
  ck_assert_uint_ge(json_array_size(assets), 18);
  /* eMode §4.2 */
  json_t *e;
  unsigned found = 0;
  json_array_foreach(json_object_get(s, "emode_categories"), k, e) {
    uint64_t id = N(e, "id");
    if (id == 1)
      found++,
          ck_assert(N(e, "ltv") == 9200 && N(e, "liquidation_threshold") == 9300 && N(e, "liquidation_bonus") == 10100);
    if (id == 2)
      found++,
          ck_assert(N(e, "ltv") == 9100 && N(e, "liquidation_threshold") == 9200 && N(e, "liquidation_bonus") == 10100);
    if (id == 3)
      found++,
          ck_assert(N(e, "ltv") == 8500 && N(e, "liquidation_threshold") == 9000 && N(e, "liquidation_bonus") == 10200);
  }
  ck_assert_uint_eq(found, 3);
  /* SSR 3.75% in the stablecoin strategies: getAPR = (ssr - RAY) * YEAR */
  json_t *dai = json_array_get(reserves, (size_t)reserve_index(reserves, "0x6B175474E89094C44Da98b954EedeAC495271d0F"));
  json_t *src = json_object_get(json_object_get(dai, "interest_rate_strategy"), "rate_source");
  ck_assert_str_eq(json_string_value(json_object_get(src, "kind")), "ssr");
  ck_assert_str_eq(json_string_value(json_object_get(src, "apr")), "36813973144203954141840000");
  /* Savings V2: spUSDC cap 2,000,000,000e6, max 10% */
  json_t *v;
  unsigned v2 = 0;
  json_array_foreach(json_object_get(s, "savings_vaults"), k, v) {
    if (strcmp(json_string_value(json_object_get(v, "kind")), "spark_vault_v2") == 0) v2++;
    if (strcmp(json_string_value(json_object_get(v, "address")), "0x28B3a8fb53B741A8Fd78c0fb9A6B2393d896a43d") == 0) {
      ck_assert_str_eq(json_string_value(json_object_get(v, "deposit_cap")), "2000000000000000");
      ck_assert_str_eq(json_string_value(json_object_get(v, "max_rate")), "1000000003022265980097387650");
      ck_assert_uint_eq(N(v, "decimals"), 6);
    }
  }
  ck_assert_uint_eq(v2, 4);
  for (size_t i = 0; i < n; i++)
    json_decref(l[i]);
  free(l);
}
END_TEST

/* Rate-limit keys equal the ethers-generated fixture where it has the same key. */
START_TEST(test_rate_limit_keys) {
  size_t n;
  json_t **l = demo(&n);
  FILE *f = fopen(SPARKD_SOURCE_DIR "/tests/fixtures/ratelimit_keys.txt", "r");
  ck_assert_ptr_nonnull(f);
  char line[512];
  unsigned matched = 0;
  json_t *rls = json_object_get(json_object_get(l[0], "liquidity_layer"), "rate_limits");
  while (fgets(line, sizeof line, f)) {
    char kind[32], name[64], a[80], b[80], key[80];
    int got = sscanf(line, "%31s %63s %79s %79s %79s", kind, name, a, b, key);
    const char *want_key = NULL, *want_asset = NULL, *want_target = NULL;
    if (got == 4 && strcmp(kind, "uint32") == 0 && strcmp(name, "LIMIT_USDC_TO_DOMAIN") == 0 &&
        (strcmp(a, "2") == 0 || strcmp(a, "10") == 0)) {
      /* the data set has the Optimism (2) and Unichain (10) domains, in that order */
      json_t *x;
      size_t k;
      unsigned seen = 0;
      json_array_foreach(rls, k, x) {
        if (strcmp(json_string_value(json_object_get(x, "name")), name) != 0) continue;
        if (seen++ == (strcmp(a, "2") == 0 ? 0u : 1u)) {
          ck_assert_str_eq(json_string_value(json_object_get(x, "key")), b);
          matched++;
        }
      }
      continue;
    }
    static const char *const plain[] = {"LIMIT_USDS_MINT", "LIMIT_USDS_TO_USDC",   "LIMIT_USDE_MINT",
                                        "LIMIT_USDE_BURN", "LIMIT_SUSDE_COOLDOWN", NULL};
    bool is_plain = false;
    for (const char *const *q = plain; *q; q++)
      is_plain |= strcmp(*q, name) == 0;
    if (got == 3 && strcmp(kind, "base") == 0 && is_plain)
      want_key = a;
    else if (got == 4 && strcmp(kind, "address") == 0)
      want_key = b, want_target = a;
    else if (got == 5 && strcmp(kind, "address_address") == 0)
      want_key = key, want_asset = a, want_target = b;
    else
      continue;
    json_t *x;
    size_t k;
    json_array_foreach(rls, k, x) {
      if (strcmp(json_string_value(json_object_get(x, "name")), name) != 0) continue;
      json_t *ta = json_object_get(x, "target"), *aa = json_object_get(x, "asset");
      if (strcmp(kind, "base") == 0 && ta) continue;
      if (strcmp(kind, "base") != 0 && (!ta || strcasecmp(json_string_value(ta), want_target) != 0)) continue;
      if (want_asset && (!aa || strcasecmp(json_string_value(aa), want_asset) != 0)) continue;
      ck_assert_str_eq(json_string_value(json_object_get(x, "key")), want_key);
      matched++;
    }
  }
  fclose(f);
  ck_assert_uint_ge(matched, 11); /* 5 plain, 2 domains, vault take x2, asset transfer to vaults x2 */
  for (size_t i = 0; i < n; i++)
    json_decref(l[i]);
  free(l);
}
END_TEST

START_TEST(test_eip55) {
  /* EIP-55's own examples */
  static const char *const ex[] = {
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
      "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"};
  for (size_t i = 0; i < 4; i++) {
    uint8_t a[20];
    for (int j = 0; j < 20; j++)
      sscanf(ex[i] + 2 + 2 * j, "%2hhx", &a[j]);
    char out[43];
    cli_demo_eip55(a, out);
    ck_assert_str_eq(out, ex[i]);
  }
  /* the rates-conv constants of §1.6 sit 1 below the bisection's largest rate */
  u256 r;
  ck_assert_int_eq(cli_demo_rate_for_apy_bps(&r, 375), RISK_OK);
  char b[U256_DEC_MAX];
  u256_to_dec(r, b);
  ck_assert_str_eq(b, "1000000001167363430498603316");
}
END_TEST

/* The binary writes the same bytes as the in-process generator, and refuses bad options. */
START_TEST(test_cli) {
  size_t len;
  char *want = generate(3, 40, 1, &len);
  FILE *p = popen(SPARKD_BINARY " demo-data --seed 3 --accounts 40 --days 1", "r");
  ck_assert_ptr_nonnull(p);
  char *got = malloc(len + 1);
  size_t n = fread(got, 1, len + 1, p);
  int st = pclose(p);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert_uint_eq(n, len);
  ck_assert(memcmp(got, want, len) == 0);
  free(got), free(want);
  st = system(SPARKD_BINARY " demo-data --accounts 0 >/dev/null 2>&1");
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  st = system(SPARKD_BINARY " demo-data --days x >/dev/null 2>&1");
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("demo");
  TCase *tc = tcase_create("demo");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_fields);
  tcase_add_test(tc, test_determinism);
  tcase_add_test(tc, test_totals);
  tcase_add_test(tc, test_engine_consistency);
  tcase_add_test(tc, test_account_mix);
  tcase_add_test(tc, test_real_config);
  tcase_add_test(tc, test_rate_limit_keys);
  tcase_add_test(tc, test_eip55);
  tcase_add_test(tc, test_cli);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
