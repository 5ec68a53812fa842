/* Solidity ABI helpers (see abi.h). */
#include "chain/abi.h"

#include <stdlib.h>
#include <string.h>

#include "risk/keccak.h"
#include "util/hex.h"

void chain_abi_selector(const char *signature, uint8_t out[4]) {
  uint8_t h[32];
  risk_keccak256((const uint8_t *)signature, strlen(signature), h);
  memcpy(out, h, 4);
}

void chain_abi_topic(const char *signature, char out[67]) {
  uint8_t h[32];
  risk_keccak256((const uint8_t *)signature, strlen(signature), h);
  util_hex0x(h, 32, out);
}

static bool hex_bytes(const char *s, size_t want, uint8_t *out) {
  if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || strlen(s) != 2 + 2 * want) return false;
  for (size_t i = 0; i < want; i++) {
    int hi = util_hexval(s[2 + 2 * i]), lo = util_hexval(s[3 + 2 * i]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

bool chain_abi_encode(const char *signature, const struct chain_abi_arg *args, size_t n, char *out, size_t cap) {
  if (cap < 2 + 8 + 64 * n + 1) return false;
  uint8_t sel[4];
  chain_abi_selector(signature, sel);
  util_hex0x(sel, 4, out);
  char *p = out + 10;
  for (size_t i = 0; i < n; i++) {
    uint8_t w[32] = {0};
    switch (args[i].kind) {
    case CHAIN_ABI_ADDRESS:
      if (!args[i].address || !hex_bytes(args[i].address, 20, w + 12)) return false;
      break;
    case CHAIN_ABI_BYTES32:
      if (!args[i].address || !hex_bytes(args[i].address, 32, w)) return false;
      break;
    case CHAIN_ABI_UINT: u256_to_be32(args[i].value, w); break;
    }
    char hx[67];
    util_hex0x(w, 32, hx);
    memcpy(p, hx + 2, 64);
    p += 64;
  }
  *p = '\0';
  return true;
}

bool chain_abi_from_hex(const char *hex, struct chain_abi_data *d) {
  d->b = NULL;
  d->n = 0;
  if (!hex || hex[0] != '0' || (hex[1] != 'x' && hex[1] != 'X')) return false;
  size_t len = strlen(hex + 2);
  if (len % 2) return false;
  d->b = malloc(len / 2 + 1);
  if (!d->b) return false;
  for (size_t i = 0; i < len / 2; i++) {
    int hi = util_hexval(hex[2 + 2 * i]), lo = util_hexval(hex[3 + 2 * i]);
    if (hi < 0 || lo < 0) {
      chain_abi_data_free(d);
      return false;
    }
    d->b[i] = (uint8_t)(hi << 4 | lo);
  }
  d->n = len / 2;
  return true;
}

void chain_abi_data_free(struct chain_abi_data *d) {
  free(d->b);
  d->b = NULL;
  d->n = 0;
}

static const uint8_t *word_at(const struct chain_abi_data *d, size_t base, size_t i) {
  if (base > d->n || i > (d->n - base) / 32 || d->n - base - 32 * i < 32) return NULL;
  return d->b + base + 32 * i;
}

bool chain_abi_word(const struct chain_abi_data *d, size_t base, size_t i, u256 *out) {
  const uint8_t *w = word_at(d, base, i);
  if (!w) return false;
  *out = u256_from_be32(w);
  return true;
}

bool chain_abi_uint(const struct chain_abi_data *d, size_t base, size_t i, unsigned bits, uint64_t *out) {
  u256 v;
  uint64_t x;
  if (!chain_abi_word(d, base, i, &v) || !u256_to_u64(v, &x)) return false;
  if (bits < 64 && (x >> bits) != 0) return false;
  *out = x;
  return true;
}

bool chain_abi_address(const struct chain_abi_data *d, size_t base, size_t i, char out[43]) {
  const uint8_t *w = word_at(d, base, i);
  if (!w) return false;
  for (int k = 0; k < 12; k++)
    if (w[k]) return false;
  util_hex0x(w + 12, 20, out);
  return true;
}

bool chain_abi_offset(const struct chain_abi_data *d, size_t base, size_t i, size_t *out) {
  uint64_t off;
  if (!chain_abi_uint(d, base, i, 64, &off) || off > d->n || base + off > d->n) return false;
  *out = base + (size_t)off;
  return true;
}

bool chain_abi_string(const struct chain_abi_data *d, size_t base, size_t i, char *out, size_t cap) {
  size_t at;
  uint64_t len;
  if (!chain_abi_offset(d, base, i, &at) || !chain_abi_uint(d, at, 0, 64, &len)) return false;
  if (len >= cap || len > d->n - at - 32) return false;
  memcpy(out, d->b + at + 32, (size_t)len);
  out[len] = '\0';
  return strlen(out) == len;
}

bool chain_abi_address_array(const struct chain_abi_data *d, size_t base, size_t i, char (**out)[43], size_t *count) {
  size_t at;
  uint64_t len;
  *out = NULL;
  *count = 0;
  if (!chain_abi_offset(d, base, i, &at) || !chain_abi_uint(d, at, 0, 64, &len)) return false;
  if (len > (d->n - at - 32) / 32) return false;
  char(*a)[43] = malloc((len ? len : 1) * sizeof *a);
  if (!a) return false;
  for (size_t k = 0; k < len; k++)
    if (!chain_abi_address(d, at + 32, k, a[k])) {
      free(a);
      return false;
    }
  *out = a;
  *count = (size_t)len;
  return true;
}
