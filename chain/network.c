/* `sparkd.network/1` parser (see network.h). Strict like the snapshot parser: an unknown field is
 * an error, so a misspelt contract never silently goes unread. */
#include "chain/network.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hex.h"

#define NPATH 160

const char *const chain_net_venue_kind_names[] = {"sparklend", "aave", "erc4626", "curve", NULL};
const char *const chain_net_apr_source_names[] = {"share_price", "ssr", "vsr", NULL};
const char *const chain_net_amount_names[] = {"assets", "exit_assets", NULL};

/* The position of s in the NULL-ended names, or -1. */
static int name_index(const char *const *names, const char *s) {
  for (int k = 0; names[k]; k++)
    if (strcmp(names[k], s) == 0) return k;
  return -1;
}

/* Kinds of the snapshot format that the indexer does not read, and why: a venue the ALM proxy
 * holds no position in that balances on this chain state (a Curve pool, read, is a pro-rata share
 * of its balances; a Uniswap v4 range is not). */
static const struct {
  const char *kind, *why;
} NOT_READ[] = {
    {"spark_vault", "the ALM proxy takes assets from a Spark Vault V2 (take()) and holds no position in it; "
                    "list the vault under savings_vaults"},
    {"psm", "a PSM swaps and keeps no position for the ALM proxy; what it swapped to is in idle"},
    {"cctp", "a CCTP transfer leaves this chain; the ALM proxy holds nothing while it is in flight"},
    {"transfer", "assets transferred away are no longer held by the ALM proxy"},
    {"uniswap_v4", "a Uniswap v4 position is a price range whose two amounts follow the pool's price and "
                   "ticks, not a share of its balances; not read"},
    {"ethena", "USDe is minted and redeemed off chain through Ethena's minter; staked USDe is sUSDe, kind erc4626"},
    {"maple", "a Maple pool is an ERC-4626 vault: list it as kind erc4626 with \"amount\": \"exit_assets\""},
};

static void check_keys(struct chain_snapshot_errors *e, const json_t *obj, const char *path,
                       const char *const *allowed) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool ok = false;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = strcmp(allowed[i], key) == 0;
    if (!ok) {
      char p[NPATH];
      snprintf(p, sizeof p, "%s.%s", path, key);
      chain_snapshot_error(e, p, "unknown field");
    }
  }
}

/* Returns the member or NULL; reports a missing required one. */
static json_t *member(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                      bool required) {
  json_t *v = json_object_get(obj, key);
  if (!v && required) {
    char p[NPATH];
    snprintf(p, sizeof p, "%s.%s", path, key);
    chain_snapshot_error(e, p, "required");
  }
  return v;
}

static bool get_text(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                     bool required, char *out, size_t cap) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  char p[NPATH];
  snprintf(p, sizeof p, "%s.%s", path, key);
  if (!json_is_string(v)) {
    chain_snapshot_error(e, p, "must be a string");
    return false;
  }
  if (json_string_length(v) >= cap || strlen(json_string_value(v)) != json_string_length(v)) {
    chain_snapshot_error(e, p, "must be a string of at most %zu bytes without NUL", cap - 1);
    return false;
  }
  if (out) memcpy(out, json_string_value(v), json_string_length(v) + 1);
  return true;
}

static bool get_addr(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                     bool required, char out[43]) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  char p[NPATH];
  snprintf(p, sizeof p, "%s.%s", path, key);
  if (!json_is_string(v) || json_string_length(v) != 42 || !util_parse_address(json_string_value(v), out)) {
    chain_snapshot_error(e, p, "must be an address (0x and 40 hex digits)");
    return false;
  }
  return true;
}

static bool get_u64(struct chain_snapshot_errors *e, const json_t *obj, const char *path, const char *key,
                    bool required, uint64_t *out) {
  json_t *v = member(e, obj, path, key, required);
  if (!v) return false;
  char p[NPATH];
  snprintf(p, sizeof p, "%s.%s", path, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    chain_snapshot_error(e, p, "must be a non-negative integer");
    return false;
  }
  *out = (uint64_t)json_integer_value(v);
  return true;
}

static const json_t *object_at(struct chain_snapshot_errors *e, const json_t *root, const char *key, char *path) {
  json_t *v = json_object_get(root, key);
  if (!v) return NULL;
  snprintf(path, NPATH, "$.%s", key);
  if (!json_is_object(v)) {
    chain_snapshot_error(e, path, "must be an object");
    return NULL;
  }
  return v;
}

static void parse_vaults(struct chain_snapshot_errors *e, const json_t *arr, struct chain_network *net) {
  static const char *const kinds[] = {"sdai", "susds", "spark_vault_v2", "psm3", NULL};
  static const char *const keys[] = {"kind", "address", "source", "ssr_oracle", NULL};
  if (!json_is_array(arr)) {
    chain_snapshot_error(e, "$.savings_vaults", "must be an array");
    return;
  }
  if (json_array_size(arr) > CHAIN_NETWORK_MAX_VAULTS) {
    chain_snapshot_error(e, "$.savings_vaults", "more than %d vaults", CHAIN_NETWORK_MAX_VAULTS);
    return;
  }
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    char p[NPATH];
    snprintf(p, sizeof p, "$.savings_vaults[%zu]", i);
    if (!json_is_object(v)) {
      chain_snapshot_error(e, p, "must be an object");
      continue;
    }
    check_keys(e, v, p, keys);
    char kind[32] = "";
    if (get_text(e, v, p, "kind", true, kind, sizeof kind)) {
      int k = name_index(kinds, kind);
      if (k < 0) {
        char kp[NPATH + 16];
        snprintf(kp, sizeof kp, "%s.kind", p);
        chain_snapshot_error(e, kp, "must be one of sdai, susds, spark_vault_v2, psm3");
      } else {
        net->vaults[i].kind = (enum chain_net_vault_kind)k;
      }
    }
    get_addr(e, v, p, "address", true, net->vaults[i].address);
    get_text(e, v, p, "source", false, NULL, 1024);
    net->vaults[i].has_ssr_oracle = get_addr(e, v, p, "ssr_oracle", false, net->vaults[i].ssr_oracle);
    bool is_psm3 = net->vaults[i].kind == CHAIN_NET_PSM3 && strcmp(kind, "psm3") == 0;
    if (is_psm3 && !json_object_get(v, "ssr_oracle")) {
      char kp[NPATH + 16];
      snprintf(kp, sizeof kp, "%s.ssr_oracle", p);
      chain_snapshot_error(e, kp, "required for a psm3 vault");
    } else if (!is_psm3 && json_object_get(v, "ssr_oracle")) {
      char kp[NPATH + 16];
      snprintf(kp, sizeof kp, "%s.ssr_oracle", p);
      chain_snapshot_error(e, kp, "only a psm3 vault has an ssr oracle");
    }
  }
  net->n_vaults = json_array_size(arr);
}

/* Returns true when s is a venue id: 1 to 64 of [A-Za-z0-9._:-] (it is served in URLs and logs). */
static bool venue_id_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
          ch == ':' || ch == '-'))
      return false;
  }
  return true;
}

/* A curve venue's coins: required, 2 to 8 distinct addresses in the pool's order (coins(i)), each
 * checked against the pool by the indexer; any other kind has none. */
static void parse_coins(struct chain_snapshot_errors *e, const json_t *v, const char *p, struct chain_net_venue *x,
                        bool kind_ok, bool is_curve) {
  char kp[NPATH + 24];
  snprintf(kp, sizeof kp, "%s.coins", p);
  const json_t *arr = json_object_get(v, "coins");
  if (!arr) {
    if (is_curve) chain_snapshot_error(e, kp, "required for a curve venue (the pool's coins, in its order)");
    return;
  }
  if (kind_ok && !is_curve) {
    chain_snapshot_error(e, kp, "only a curve venue has coins");
    return;
  }
  if (!json_is_array(arr) || json_array_size(arr) < 2 || json_array_size(arr) > CHAIN_NETWORK_CURVE_MAX_COINS) {
    chain_snapshot_error(e, kp, "must be an array of 2 to %d addresses", CHAIN_NETWORK_CURVE_MAX_COINS);
    return;
  }
  size_t i;
  const json_t *c;
  json_array_foreach(arr, i, c) {
    char cp[NPATH + 64];
    snprintf(cp, sizeof cp, "%s[%zu]", kp, i);
    if (!json_is_string(c) || json_string_length(c) != 42 || !util_parse_address(json_string_value(c), x->coins[i])) {
      chain_snapshot_error(e, cp, "must be an address (0x and 40 hex digits)");
      continue;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(x->coins[j], x->coins[i]) == 0) chain_snapshot_error(e, cp, "duplicate of %s[%zu]", kp, j);
  }
  x->n_coins = json_array_size(arr);
}

static void parse_venues(struct chain_snapshot_errors *e, const json_t *arr, struct chain_network *net) {
  static const char *const keys[] = {"id",     "kind",  "address",           "asset", "label", "source", "apr_source",
                                     "amount", "coins", "apr_window_blocks", NULL};
  const char *P = "$.liquidity_layer.venues";
  if (!json_is_array(arr)) {
    chain_snapshot_error(e, P, "must be an array");
    return;
  }
  if (json_array_size(arr) > CHAIN_NETWORK_MAX_VENUES) {
    chain_snapshot_error(e, P, "more than %d venues", CHAIN_NETWORK_MAX_VENUES);
    return;
  }
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    char p[NPATH], kp[NPATH + 24];
    snprintf(p, sizeof p, "%s[%zu]", P, i);
    if (!json_is_object(v)) {
      chain_snapshot_error(e, p, "must be an object");
      continue;
    }
    struct chain_net_venue *x = &net->venues[i];
    check_keys(e, v, p, keys);
    if (get_text(e, v, p, "id", true, x->id, sizeof x->id)) {
      snprintf(kp, sizeof kp, "%s.id", p);
      if (!venue_id_ok(x->id)) chain_snapshot_error(e, kp, "must be 1 to 64 of A-Z a-z 0-9 . _ : -");
      for (size_t j = 0; j < i; j++)
        if (strcmp(net->venues[j].id, x->id) == 0) {
          chain_snapshot_error(e, kp, "duplicate of %s[%zu]", P, j);
          break;
        }
    }
    char kind[32] = "";
    bool kind_ok = false;
    if (get_text(e, v, p, "kind", true, kind, sizeof kind)) {
      snprintf(kp, sizeof kp, "%s.kind", p);
      int ki = name_index(chain_net_venue_kind_names, kind);
      if ((kind_ok = ki >= 0)) x->kind = (enum chain_net_venue_kind)ki;
      bool known = false;
      for (size_t k = 0; k < sizeof NOT_READ / sizeof NOT_READ[0]; k++)
        if (strcmp(NOT_READ[k].kind, kind) == 0) {
          chain_snapshot_error(e, kp, "%s is not read by sparkd index: %s", kind, NOT_READ[k].why);
          known = true;
        }
      if (!kind_ok && !known) chain_snapshot_error(e, kp, "must be one of sparklend, aave, erc4626, curve");
    }
    if (get_addr(e, v, p, "address", true, x->address))
      for (size_t j = 0; j < i; j++)
        if (strcmp(net->venues[j].address, x->address) == 0) {
          snprintf(kp, sizeof kp, "%s.address", p);
          chain_snapshot_error(e, kp, "duplicate of %s[%zu] (its allocation would count twice)", P, j);
          break;
        }
    bool is_curve = kind_ok && x->kind == CHAIN_NET_VENUE_CURVE;
    if (get_addr(e, v, p, "asset", true, x->asset) && is_curve && x->address[0] && strcmp(x->asset, x->address) != 0) {
      /* a StableSwap-NG pool is its own LP token: what the ALM proxy holds, and what the venue
         names as its asset (its coins are the allocations' assets) */
      snprintf(kp, sizeof kp, "%s.asset", p);
      chain_snapshot_error(e, kp, "a curve venue's asset is its pool, the LP token: must equal address");
    }
    parse_coins(e, v, p, x, kind_ok, is_curve);
    if (get_text(e, v, p, "label", true, x->label, sizeof x->label) && !x->label[0]) {
      snprintf(kp, sizeof kp, "%s.label", p);
      chain_snapshot_error(e, kp, "must not be empty");
    }
    get_text(e, v, p, "source", false, NULL, 1024);
    bool is_4626 = kind_ok && x->kind == CHAIN_NET_VENUE_ERC4626;
    x->apr_source = CHAIN_NET_APR_SHARE_PRICE;
    char src[32] = "";
    if (get_text(e, v, p, "apr_source", false, src, sizeof src)) {
      snprintf(kp, sizeof kp, "%s.apr_source", p);
      int k = name_index(chain_net_apr_source_names, src);
      if (kind_ok && !is_4626)
        chain_snapshot_error(e, kp,
                             "only an erc4626 venue has one (an aToken's apr is its reserve's liquidity rate, a "
                             "curve pool's its virtual price's growth)");
      else if (k < 0)
        chain_snapshot_error(e, kp, "must be one of share_price, ssr, vsr");
      else
        x->apr_source = (enum chain_net_apr_source)k;
    }
    x->amount = CHAIN_NET_AMOUNT_ASSETS;
    char am[32] = "";
    if (get_text(e, v, p, "amount", false, am, sizeof am)) {
      snprintf(kp, sizeof kp, "%s.amount", p);
      int k = name_index(chain_net_amount_names, am);
      if (kind_ok && !is_4626)
        chain_snapshot_error(e, kp, "only an erc4626 venue has one");
      else if (k < 0)
        chain_snapshot_error(e, kp, "must be one of assets, exit_assets");
      else
        x->amount = (enum chain_net_amount)k;
    }
    x->apr_window_blocks = CHAIN_NETWORK_APR_WINDOW_DEFAULT;
    uint64_t w;
    if (get_u64(e, v, p, "apr_window_blocks", false, &w)) {
      snprintf(kp, sizeof kp, "%s.apr_window_blocks", p);
      if (kind_ok && !is_curve && (!is_4626 || x->apr_source != CHAIN_NET_APR_SHARE_PRICE))
        chain_snapshot_error(e, kp, "only a curve venue or an erc4626 venue whose apr_source is share_price has one");
      else if (w < 1 || w > CHAIN_NETWORK_APR_WINDOW_MAX)
        chain_snapshot_error(e, kp, "must be 1 to %d", CHAIN_NETWORK_APR_WINDOW_MAX);
      else
        x->apr_window_blocks = (uint32_t)w;
    }
  }
  net->n_venues = json_array_size(arr);
}

static void parse_ll(struct chain_snapshot_errors *e, const json_t *ll, struct chain_network *net) {
  static const char *const keys[] = {"alm_proxy", "rate_limits", "source", "keys", "venues", NULL};
  static const char *const kkeys[] = {"key", "name", "asset", "target", NULL};
  check_keys(e, ll, "$.liquidity_layer", keys);
  get_addr(e, ll, "$.liquidity_layer", "alm_proxy", true, net->alm_proxy);
  get_addr(e, ll, "$.liquidity_layer", "rate_limits", true, net->rate_limits);
  get_text(e, ll, "$.liquidity_layer", "source", false, NULL, 1024);
  json_t *venues = json_object_get(ll, "venues");
  if (venues) parse_venues(e, venues, net);
  json_t *arr = json_object_get(ll, "keys");
  if (!arr) return;
  if (!json_is_array(arr)) {
    chain_snapshot_error(e, "$.liquidity_layer.keys", "must be an array");
    return;
  }
  if (json_array_size(arr) > CHAIN_NETWORK_MAX_KEYS) {
    chain_snapshot_error(e, "$.liquidity_layer.keys", "more than %d keys", CHAIN_NETWORK_MAX_KEYS);
    return;
  }
  size_t i;
  json_t *k;
  json_array_foreach(arr, i, k) {
    char p[NPATH];
    snprintf(p, sizeof p, "$.liquidity_layer.keys[%zu]", i);
    if (!json_is_object(k)) {
      chain_snapshot_error(e, p, "must be an object");
      continue;
    }
    check_keys(e, k, p, kkeys);
    char key[80] = "";
    if (get_text(e, k, p, "key", true, key, sizeof key)) {
      bool ok = strlen(key) == 66 && key[0] == '0' && (key[1] == 'x' || key[1] == 'X');
      for (size_t j = 2; ok && j < 66; j++)
        ok = util_hexval(key[j]) >= 0;
      if (!ok) {
        char kp[NPATH + 16];
        snprintf(kp, sizeof kp, "%s.key", p);
        chain_snapshot_error(e, kp, "must be 0x and 64 hex digits");
      } else {
        for (size_t j = 0; j < 67; j++)
          net->keys[i].key[j] = (char)(key[j] >= 'A' && key[j] <= 'F' ? key[j] - 'A' + 'a' : key[j]);
        net->keys[i].key[1] = 'x';
      }
    }
    get_text(e, k, p, "name", true, net->keys[i].name, sizeof net->keys[i].name);
    net->keys[i].has_asset = get_addr(e, k, p, "asset", false, net->keys[i].asset);
    net->keys[i].has_target = get_addr(e, k, p, "target", false, net->keys[i].target);
  }
  net->n_keys = json_array_size(arr);
}

bool chain_network_parse(const char *text, size_t len, struct chain_network *net, struct chain_snapshot_errors *errs) {
  static const char *const top[] = {"format",          "name",        "chain_id",
                                    "start_block",     "sparklend",   "savings_vaults",
                                    "liquidity_layer", "kill_switch", NULL};
  memset(net, 0, sizeof *net);
  unsigned before = errs->n + errs->dropped;
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    chain_snapshot_error(errs, "$", "not valid JSON (line %d column %d: %s)", jerr.line, jerr.column, jerr.text);
    return false;
  }
  if (!json_is_object(root)) {
    chain_snapshot_error(errs, "$", "must be an object");
    json_decref(root);
    return false;
  }
  check_keys(errs, root, "$", top);
  char fmt[64] = "";
  if (get_text(errs, root, "$", "format", true, fmt, sizeof fmt) && strcmp(fmt, CHAIN_NETWORK_FORMAT) != 0)
    chain_snapshot_error(errs, "$.format", "must be \"%s\"", CHAIN_NETWORK_FORMAT);
  get_text(errs, root, "$", "name", true, net->name, sizeof net->name);
  if (get_u64(errs, root, "$", "chain_id", true, &net->chain_id) && net->chain_id == 0)
    chain_snapshot_error(errs, "$.chain_id", "must be positive");
  get_u64(errs, root, "$", "start_block", true, &net->start_block);
  char p[NPATH];
  const json_t *sl = object_at(errs, root, "sparklend", p);
  if (sl) {
    static const char *const keys[] = {"pool_addresses_provider", "source", NULL};
    check_keys(errs, sl, p, keys);
    net->has_sparklend = get_addr(errs, sl, p, "pool_addresses_provider", true, net->pool_addresses_provider);
    get_text(errs, sl, p, "source", false, NULL, 1024);
  }
  json_t *vaults = json_object_get(root, "savings_vaults");
  if (vaults) parse_vaults(errs, vaults, net);
  const json_t *ll = object_at(errs, root, "liquidity_layer", p);
  if (ll) {
    net->has_liquidity_layer = true;
    parse_ll(errs, ll, net);
  }
  const json_t *ks = object_at(errs, root, "kill_switch", p);
  if (ks) {
    static const char *const keys[] = {"address", "source", NULL};
    check_keys(errs, ks, p, keys);
    net->has_kill_switch = get_addr(errs, ks, p, "address", true, net->kill_switch);
    get_text(errs, ks, p, "source", false, NULL, 1024);
  }
  json_decref(root);
  return errs->n + errs->dropped == before;
}

bool chain_network_load(const char *path, struct chain_network *net, struct chain_snapshot_errors *errs) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    chain_snapshot_error(errs, "$", "cannot open %s: %s", path, strerror(errno));
    return false;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (n < cap) break;
    if (cap >= (1u << 24)) { /* a network file is a few kB; refuse a huge one */
      free(buf);
      buf = NULL;
      break;
    }
    char *b = realloc(buf, cap * 2);
    if (!b) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = b;
    cap *= 2;
  }
  bool bad = ferror(f) != 0;
  fclose(f);
  if (!buf || bad) {
    free(buf);
    chain_snapshot_error(errs, "$", "cannot read %s", path);
    return false;
  }
  bool ok = chain_network_parse(buf, n, net, errs);
  free(buf);
  return ok;
}
