/* Helpers the market, savings and liquidity-layer handlers share (handlers/common.h). */
#include "handlers/common.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "risk/eip55.h"
#include "service/cache.h"
#include "service/request.h"
#include "service/server.h"

/* ---- as_of ---------------------------------------------------------------------------------- */

db_status handler_chains_row(const db_row *row, void *arg) {
  struct handler_chains *c = arg;
  if (c->n == sizeof c->v / sizeof c->v[0]) return DB_OK;
  struct handler_chain_asof *a = &c->v[c->n];
  const struct db_col cols[] = {
      {"chain_id", DB_COL_INT64, &a->chain_id, 0, NULL},
      {"block_number", DB_COL_INT64, &a->block_number, 0, NULL},
      {"block_timestamp", DB_COL_INT64, &a->block_timestamp, 0, NULL},
  };
  db_status s = db_row_get(row, cols, 3);
  if (s == DB_OK) c->n++;
  return s;
}

const struct handler_chain_asof *handler_chains_find(const struct handler_chains *c, int64_t chain_id) {
  for (size_t i = 0; i < c->n; i++)
    if (c->v[i].chain_id == chain_id) return &c->v[i];
  return NULL;
}

char *handler_time_rfc3339(int64_t t, char buf[32]) {
  /* Most calls format the same block timestamp again (every account lookup and quote of a
   * generation): each thread keeps its last result (gmtime_r and strftime are ~1.5k instructions). */
  static _Thread_local int64_t last_t;
  static _Thread_local char last[32];
  if (last[0] && last_t == t) return memcpy(buf, last, 32);
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  memcpy(last, buf, 32);
  last_t = t;
  return buf;
}

json_t *handler_as_of_json(const struct handler_chain_asof *a) {
  char t[32];
  return json_pack("{sI sI sI ss}", "chain_id", (json_int_t)a->chain_id, "block_number", (json_int_t)a->block_number,
                   "block_timestamp", (json_int_t)a->block_timestamp, "block_time",
                   handler_time_rfc3339(a->block_timestamp, t));
}

json_t *handler_as_of_all(const struct handler_chains *c) {
  json_t *a = json_array();
  for (size_t i = 0; i < c->n; i++)
    json_array_append_new(a, handler_as_of_json(&c->v[i]));
  return a;
}

/* ---- numbers and amounts -------------------------------------------------------------------- */

bool handler_parse_u256(const char *text, u256 *out) {
  return text && u256_from_dec(out, text, strlen(text)) == RISK_OK;
}

bool handler_parse_i64(const char *s, int64_t *out) {
  if (!s || !*s || strlen(s) > 18) return false;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return true;
}

bool handler_parse_chain_id(const char *text, int64_t *id) {
  int64_t v;
  if (!handler_parse_i64(text, &v) || v <= 0) return false;
  *id = v;
  return true;
}

json_t *handler_json_u256(u256 v) {
  char b[U256_DEC_MAX];
  u256_to_dec(v, b);
  return json_string(b);
}

json_t *handler_json_fixed(u256 v, unsigned decimals) {
  char b[U256_DEC_MAX + 2];
  u256_to_fixed(v, decimals, b);
  return json_string(b);
}

void handler_put_amount(json_t *o, const char *name, u256 v, int64_t decimals) {
  char h[96];
  json_object_set_new(o, name, handler_json_u256(v));
  snprintf(h, sizeof h, "%s_human", name);
  json_object_set_new(o, h, decimals >= 0 ? handler_json_fixed(v, (unsigned)decimals) : json_null());
}

void handler_put_ray(json_t *o, const char *name, const u256 *v) {
  char key[96];
  snprintf(key, sizeof key, "%s_ray", name);
  json_object_set_new(o, key, v ? handler_json_u256(*v) : json_null());
  json_object_set_new(o, name, v ? handler_json_fixed(*v, 27) : json_null());
}

bool handler_parse_address(const char *s, char lower[43]) {
  if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || strlen(s) != 42) return false;
  lower[0] = '0';
  lower[1] = 'x';
  for (int i = 2; i < 42; i++) {
    if (!isxdigit((unsigned char)s[i])) return false;
    lower[i] = (char)tolower((unsigned char)s[i]);
  }
  lower[42] = 0;
  return true;
}

json_t *handler_json_address(const char *addr) {
  char cs[43];
  if (!risk_eip55(addr, cs)) snprintf(cs, sizeof cs, "%s", addr);
  return json_string(cs);
}

json_t *handler_asset_json(const char *address, const char *symbol, int64_t decimals) {
  return json_pack("{s:o, s:s, s:I}", "address", handler_json_address(address), "symbol", symbol, "decimals",
                   (json_int_t)decimals);
}

/* ---- cursors -------------------------------------------------------------------------------- */

void handler_cursor_encode(const char *plain, char out[64]) {
  size_t n = strnlen(plain, 31);
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", (unsigned char)plain[i]);
  out[2 * n] = 0;
}

bool handler_cursor_decode(const char *c, char plain[32]) {
  size_t n = strlen(c);
  if (n % 2 || n > 60) return false;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned x;
    if (!isxdigit((unsigned char)c[2 * i]) || !isxdigit((unsigned char)c[2 * i + 1]) ||
        sscanf(c + 2 * i, "%2x", &x) != 1)
      return false;
    plain[i] = (char)x;
  }
  plain[n / 2] = 0;
  return true;
}

void handler_cursor_make(char tag, int64_t v, char out[64]) {
  char plain[32];
  snprintf(plain, sizeof plain, "%c:%" PRId64, tag, v);
  handler_cursor_encode(plain, out);
}

bool handler_cursor_parse(const char *c, char tag, int64_t *v) {
  char plain[32];
  return handler_cursor_decode(c, plain) && plain[0] == tag && plain[1] == ':' && handler_parse_i64(plain + 2, v);
}

/* ---- the state cache ------------------------------------------------------------------------ */

struct svc_cache *handler_cache_data(struct svc_request *req, const char *key, const void **data,
                                     enum svc_handler_result *res) {
  struct svc_cache *c = svc_cache_acquire(req->srv);
  const struct svc_cache_item *it = c ? svc_cache_get(c, key) : NULL;
  if (!it || !it->data) {
    svc_cache_release(c);
    *res = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
    return NULL;
  }
  *data = it->data;
  return c;
}

enum svc_handler_result handler_reply_cached(struct svc_request *req, struct svc_cache *c, const char *key) {
  bool found;
  enum svc_handler_result res = svc_reply_cached(req, c, key, &found);
  if (!found) res = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  return res;
}

/* ---- query parameters ----------------------------------------------------------------------- */

enum svc_handler_result handler_bad_query(struct svc_request *req, const char *field, const char *code,
                                          const char *message) {
  json_t *errs = json_array();
  json_array_append_new(errs, svc_field_error(field, code, message));
  return svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errs, "%s: %s", field, message);
}

bool handler_query_limit(struct svc_request *req, size_t d, size_t m, size_t *out) {
  const char *l = svc_req_query(req, "limit");
  *out = d;
  if (!l) return true;
  int64_t x;
  if (!handler_parse_i64(l, &x) || x < 1 || (size_t)x > m) {
    char msg[64];
    snprintf(msg, sizeof msg, "must be an integer from 1 to %zu", m);
    handler_bad_query(req, "limit", "out_of_range", msg);
    return false;
  }
  *out = (size_t)x;
  return true;
}

bool handler_query_at(struct svc_request *req, int64_t not_before, int64_t *t) {
  const char *at = svc_req_query(req, "at");
  if (!at) return true;
  int64_t x;
  if (!handler_parse_i64(at, &x)) {
    handler_bad_query(req, "at", "not_an_integer", "must be unix seconds (decimal digits)");
    return false;
  }
  if (x < not_before) {
    handler_bad_query(req, "at", "before_block", "must not be before the block the state is as of");
    return false;
  }
  *t = x;
  return true;
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

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool handler_address_checksum(const char *addr, char out[43]) {
  if (!addr || addr[0] != '0' || (addr[1] != 'x' && addr[1] != 'X')) return false;
  uint8_t raw[20];
  for (int i = 0; i < 40; i++) {
    int v = hex_digit(addr[2 + i]);
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
