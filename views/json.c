/* JSON pieces every renderer uses: amounts as integer + _human strings, RAY values, addresses,
 * as_of objects. */
#include "views/json.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/eip55.h"
#include "util/hex.h"
#include "util/time.h"

json_t *view_json_u256(u256 v) {
  char b[U256_DEC_MAX];
  u256_to_dec(v, b);
  return json_string(b);
}

json_t *view_json_fixed(u256 v, unsigned decimals) {
  char b[U256_DEC_MAX + 2];
  u256_to_fixed(v, decimals, b);
  return json_string(b);
}

void view_put_amount(json_t *o, const char *name, u256 v, int64_t decimals) {
  char h[96];
  json_object_set_new(o, name, view_json_u256(v));
  snprintf(h, sizeof h, "%s_human", name);
  json_object_set_new(o, h, decimals >= 0 ? view_json_fixed(v, (unsigned)decimals) : json_null());
}

void view_put_ray(json_t *o, const char *name, const u256 *v) {
  char key[96];
  snprintf(key, sizeof key, "%s_ray", name);
  json_object_set_new(o, key, v ? view_json_u256(*v) : json_null());
  json_object_set_new(o, name, v ? view_json_fixed(*v, 27) : json_null());
}

json_t *view_json_address(const char *addr) {
  char cs[43];
  if (!risk_eip55(addr, cs)) snprintf(cs, sizeof cs, "%s", addr);
  return json_string(cs);
}

json_t *view_asset_json(const char *address, const char *symbol, int64_t decimals) {
  return json_pack("{s:o, s:s, s:I}", "address", view_json_address(address), "symbol", symbol, "decimals",
                   (json_int_t)decimals);
}

json_t *view_as_of_json(const struct state_as_of *a) {
  char t[32];
  return json_pack("{sI sI sI ss}", "chain_id", (json_int_t)a->chain_id, "block_number", (json_int_t)a->block_number,
                   "block_timestamp", (json_int_t)a->block_timestamp, "block_time",
                   util_time_rfc3339(a->block_timestamp, t));
}

json_t *view_as_of_all(const struct state_as_of *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, view_as_of_json(&v[i]));
  return a;
}

/* ---- EIP-55 checksums, remembered per thread ------------------------------------------------ */

/* 4096 sets of 2 entries (the more recently used first): 208 KB per thread that asks, enough
 * for most of the addresses a few thousand clients poll. */
#define CS_SET_BITS 12
struct cs_entry {
  uint8_t addr[20];
  uint8_t upper[5]; /* bit i: hex digit i is upper-case */
  bool used;
};
struct cs_cache {
  struct cs_entry set[1u << CS_SET_BITS][2];
};
static pthread_key_t cs_key;
static pthread_once_t cs_once = PTHREAD_ONCE_INIT;
static void cs_key_init(void) { pthread_key_create(&cs_key, free); }

bool view_address_checksum(const char *addr, char out[43]) {
  if (!addr || addr[0] != '0' || (addr[1] != 'x' && addr[1] != 'X')) return false;
  uint8_t raw[20];
  for (int i = 0; i < 40; i++) {
    int v = util_hexval(addr[2 + i]);
    if (v < 0) return false;
    if (i % 2 == 0)
      raw[i / 2] = (uint8_t)(v << 4);
    else
      raw[i / 2] |= (uint8_t)v;
  }
  if (addr[42] != '\0') return false;
  pthread_once(&cs_once, cs_key_init);
  struct cs_cache *c = pthread_getspecific(cs_key);
  if (!c) {
    c = calloc(1, sizeof *c);
    if (c && pthread_setspecific(cs_key, c) != 0) {
      free(c);
      c = NULL;
    }
    if (!c) return risk_eip55(addr, out);
  }
  uint64_t h;
  memcpy(&h, raw + 12, sizeof h);
  struct cs_entry *e = c->set[(h * 0x9e3779b97f4a7c15u) >> (64 - CS_SET_BITS)];
  for (int w = 0; w < 2; w++) {
    if (!e[w].used || memcmp(e[w].addr, raw, sizeof raw) != 0) continue;
    if (w == 1) {
      struct cs_entry t = e[0];
      e[0] = e[1];
      e[1] = t;
    }
    static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 40; i++) {
      unsigned nib = i % 2 == 0 ? raw[i / 2] >> 4 : raw[i / 2] & 15u;
      out[2 + i] = (e[0].upper[i / 8] >> (i % 8)) & 1 ? upper[nib] : lower[nib];
    }
    out[42] = '\0';
    return true;
  }
  if (!risk_eip55(addr, out)) return false;
  e[1] = e[0];
  memcpy(e[0].addr, raw, sizeof raw);
  memset(e[0].upper, 0, sizeof e[0].upper);
  for (int i = 0; i < 40; i++)
    if (out[2 + i] >= 'A' && out[2 + i] <= 'F') e[0].upper[i / 8] |= (uint8_t)(1u << (i % 8));
  e[0].used = true;
  return true;
}
