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
      int k = -1;
      for (int j = 0; kinds[j]; j++)
        if (strcmp(kinds[j], kind) == 0) k = j;
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

static void parse_ll(struct chain_snapshot_errors *e, const json_t *ll, struct chain_network *net) {
  static const char *const keys[] = {"alm_proxy", "rate_limits", "source", "keys", NULL};
  static const char *const kkeys[] = {"key", "name", "asset", "target", NULL};
  check_keys(e, ll, "$.liquidity_layer", keys);
  get_addr(e, ll, "$.liquidity_layer", "alm_proxy", true, net->alm_proxy);
  get_addr(e, ll, "$.liquidity_layer", "rate_limits", true, net->rate_limits);
  get_text(e, ll, "$.liquidity_layer", "source", false, NULL, 1024);
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
