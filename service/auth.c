/* Bearer-key authentication for the route table's scope column. A key is looked up by its SHA-256
 * (db_keys_lookup); valid keys are remembered for SVC_AUTH_CACHE_MS (so a revoke takes
 * effect within that). Failed attempts are counted in /metrics and limited per client address by
 * a token bucket. The key is always checked before the bucket is: an address is shared by many
 * clients (a proxy, a NAT, sparkd's own webhook deliveries to itself), so one of them failing must
 * not lock the others out, and a valid key always goes through. Only a failed key meets the bucket:
 * 401 while the address has budget left, 429 with Retry-After once it has none. */
#include "service/auth.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db/db.h"
#include "db/keys.h"
#include "service/metrics.h"
#include "service/request.h"
#include "util/log.h"

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *svc_scope_name(enum svc_scope s) {
  switch (s) {
  case SVC_SCOPE_PUBLIC: return "public";
  case SVC_SCOPE_PARTNER: return "partner";
  case SVC_SCOPE_OPS: return "ops";
  case SVC_SCOPE_ADMIN: return "admin";
  }
  return "?";
}

bool svc_scope_parse(const char *name, enum svc_scope *out) {
  static const enum svc_scope keyed[] = {SVC_SCOPE_PARTNER, SVC_SCOPE_OPS, SVC_SCOPE_ADMIN};
  for (size_t i = 0; i < sizeof keyed / sizeof keyed[0]; i++)
    if (strcmp(name, svc_scope_name(keyed[i])) == 0) {
      *out = keyed[i];
      return true;
    }
  return false;
}

bool svc_key_generate(char *out, size_t len) {
  static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char raw[33]; /* 32 random bytes and a zero pad byte: 11 groups of 3 */
  if (len < SVC_KEY_LEN + 1 || RAND_bytes(raw, 32) != 1) return false;
  raw[32] = 0;
  size_t n = strlen(SVC_KEY_PREFIX);
  memcpy(out, SVC_KEY_PREFIX, n);
  for (size_t i = 0; i < 33; i += 3) {
    uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
    out[n++] = b64url[v >> 18 & 63];
    out[n++] = b64url[v >> 12 & 63];
    out[n++] = b64url[v >> 6 & 63];
    out[n++] = b64url[v & 63];
  }
  n--; /* 32 bytes are 43 characters unpadded: drop the one that only encodes the pad byte */
  out[n] = 0;
  OPENSSL_cleanse(raw, sizeof raw);
  return n == SVC_KEY_LEN;
}

static void hex(const unsigned char *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = 0;
}

void svc_key_sha256_hex(const char *key, size_t len, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)key, len, md);
  hex(md, sizeof md, out);
}

/* ---- valid keys, remembered briefly (direct-mapped by the hash's first bytes) ---- */
#define KEY_SLOTS 256
struct key_entry {
  unsigned char sha[SHA256_DIGEST_LENGTH];
  uint64_t until_ms; /* 0 = empty */
  int64_t key_id, partner_id;
  enum svc_scope scope;
  char partner[64];
};
static struct key_entry key_cache[KEY_SLOTS];
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

static bool cache_get(const unsigned char *sha, struct key_entry *out) {
  struct key_entry *e = &key_cache[sha[0]];
  bool hit = false;
  pthread_mutex_lock(&key_lock);
  if (e->until_ms > now_ms() && CRYPTO_memcmp(e->sha, sha, sizeof e->sha) == 0) {
    *out = *e;
    hit = true;
  }
  pthread_mutex_unlock(&key_lock);
  return hit;
}

static void cache_put(const struct key_entry *in) {
  pthread_mutex_lock(&key_lock);
  key_cache[in->sha[0]] = *in;
  key_cache[in->sha[0]].until_ms = now_ms() + SVC_AUTH_CACHE_MS;
  pthread_mutex_unlock(&key_lock);
}

/* ---- failed attempts per client address: token buckets in a small open-addressed table ---- */
/* A bucket holds milliseconds of refill: one failed attempt costs rl_refill_ms of it and each
 * millisecond that passes gives one back, so refilling is exact integer arithmetic at any interval. */
#define RL_SLOTS 4096
#define RL_PROBE 8
struct rl_entry {
  unsigned char addr[16];
  uint8_t used;
  uint64_t credit_ms;
  uint64_t last_ms;
};
static struct rl_entry rl_table[RL_SLOTS];
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rl_burst = SVC_AUTH_FAIL_BURST_DEFAULT, rl_refill_ms = SVC_AUTH_FAIL_REFILL_MS_DEFAULT;

void svc_auth_configure(unsigned fail_burst, unsigned fail_refill_ms) {
  pthread_mutex_lock(&rl_lock);
  rl_burst = fail_burst ? fail_burst : 1;
  rl_refill_ms = fail_refill_ms ? fail_refill_ms : 1;
  memset(rl_table, 0, sizeof rl_table);
  pthread_mutex_unlock(&rl_lock);
}

static void client_addr(struct svc_request *req, unsigned char out[16]) {
  memset(out, 0, 16);
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!ci || !ci->client_addr) return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    out[10] = out[11] = 0xff; /* as an IPv4-mapped IPv6 address */
    memcpy(out + 12, &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  }
}

/* Returns e's credit refilled to now; rl_lock held. */
static uint64_t rl_refilled(const struct rl_entry *e, uint64_t now) {
  uint64_t full = rl_burst * rl_refill_ms, elapsed = now - e->last_ms;
  return elapsed >= full || e->credit_ms + elapsed >= full ? full : e->credit_ms + elapsed;
}

/* Returns the slot for addr, refilled to now (a new or recycled slot starts full); rl_lock held.
 * The victim is preferably a slot whose bucket is full again, since forgetting it loses nothing. */
static struct rl_entry *rl_slot(const unsigned char addr[16], uint64_t now) {
  uint32_t h = 2166136261u;
  for (int i = 0; i < 16; i++)
    h = (h ^ addr[i]) * 16777619u;
  struct rl_entry *victim = NULL;
  bool victim_full = false;
  for (unsigned p = 0; p < RL_PROBE; p++) {
    struct rl_entry *e = &rl_table[(h + p) % RL_SLOTS];
    if (e->used && memcmp(e->addr, addr, 16) == 0) {
      e->credit_ms = rl_refilled(e, now);
      e->last_ms = now;
      return e;
    }
    bool full = !e->used || rl_refilled(e, now) == rl_burst * rl_refill_ms;
    if (!victim || (full && !victim_full) || (full == victim_full && e->last_ms < victim->last_ms)) {
      victim = e;
      victim_full = full;
    }
  }
  memcpy(victim->addr, addr, 16);
  victim->used = 1;
  victim->credit_ms = rl_burst * rl_refill_ms;
  victim->last_ms = now;
  return victim;
}

/* Spends one failed attempt of addr's budget; returns 0 when there was one, else the seconds until
 * there is (nothing is spent then, so the budget refills at its rate however often the address
 * keeps failing). */
static unsigned rl_spend(const unsigned char addr[16]) {
  pthread_mutex_lock(&rl_lock);
  struct rl_entry *e = rl_slot(addr, now_ms());
  unsigned wait = 0;
  if (e->credit_ms >= rl_refill_ms)
    e->credit_ms -= rl_refill_ms;
  else
    wait = (unsigned)((rl_refill_ms - e->credit_ms + 999) / 1000);
  pthread_mutex_unlock(&rl_lock);
  return wait;
}

/* Replies to a failed key: 401 naming why while the address has budget left, else 429. Counted
 * once in /metrics, under why or as rate_limited, so the counters add up to the refused requests.
 *
 * The key was looked up before the budget was consulted, so an address over budget still costs a
 * database lookup per guess and learns from 200 against 429 whether a guess was right. That is the
 * price of never refusing a valid key from a shared address, and it buys a guesser nothing: keys are
 * 256 random bits, so the oracle is worthless at any rate, and the lookup is one indexed read,
 * what any holder of a valid key can cause anyway. The 429 stays so that well-behaved clients back
 * off and the failed attempts answered 401 stay bounded. Holding the reply back instead would park
 * one of the few pool threads per guess, which is a cheaper way to stall sparkd than the lookup. */
static bool refuse(struct svc_request *req, const unsigned char addr[16], enum svc_auth_fail why, const char *detail) {
  unsigned wait = rl_spend(addr);
  if (wait) {
    svc_metrics_auth_failure(SVC_AUTH_FAIL_LIMITED);
    req->retry_after_s = wait;
    svc_reply_problem(req, SVC_ERR_too_many_requests, "too many failed authentication attempts; retry in %u s", wait);
    return false;
  }
  svc_metrics_auth_failure(why);
  svc_reply_problem(req, SVC_ERR_unauthorized, "%s", detail);
  return false;
}

/* Returns the key from "Bearer <key>" (scheme case-insensitive), or NULL. */
static const char *bearer(const char *h, size_t *len) {
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
  h += 7;
  while (*h == ' ')
    h++;
  size_t n = strlen(h);
  while (n && h[n - 1] == ' ')
    n--;
  if (n == 0 || n > 512) return NULL;
  *len = n;
  return h;
}

bool svc_auth_request(struct svc_request *req) {
  req->key_id = 0;
  req->key_scope = SVC_SCOPE_PUBLIC;
  req->partner_id = 0;
  req->partner[0] = 0;
  const struct svc_route *rt = req->match.route;
  if (!rt || rt->scope == SVC_SCOPE_PUBLIC) return true;

  unsigned char addr[16];
  client_addr(req, addr);
  size_t klen = 0;
  const char *key = bearer(svc_req_header(req, "Authorization"), &klen);
  if (key && svc_req_header_count(req, "Authorization") > 1) /* which one would a proxy have checked? */
    return refuse(req, addr, SVC_AUTH_FAIL_MISSING, "send one Authorization header, not several");
  if (!key) return refuse(req, addr, SVC_AUTH_FAIL_MISSING, "send an api key as Authorization: Bearer <key>");

  /* every key was made by svc_key_generate, so one of another shape is refused without a lookup */
  if (klen != SVC_KEY_LEN || strncmp(key, SVC_KEY_PREFIX, strlen(SVC_KEY_PREFIX)) != 0)
    return refuse(req, addr, SVC_AUTH_FAIL_UNKNOWN, "the api key is not known");
  unsigned char sha[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)key, klen, sha);
  struct key_entry e;
  memset(&e, 0, sizeof e);
  if (!cache_get(sha, &e)) {
    char want[65];
    hex(sha, sizeof sha, want);
    db_conn *c = svc_req_db(req);
    if (!c) return false;
    struct db_api_key row;
    db_status st = db_keys_lookup(c, want, &row);
    db_release(c);
    if (st == DB_NO_ROWS) return refuse(req, addr, SVC_AUTH_FAIL_UNKNOWN, "the api key is not known");
    if (st != DB_OK) {
      svc_reply_problem(req, SVC_ERR_database_unavailable, "the key could not be checked; retry shortly");
      return false;
    }
    /* the index found it; compare the stored hash in constant time all the same */
    if (strlen(row.key_sha256) != 64 || CRYPTO_memcmp(row.key_sha256, want, 64) != 0)
      return refuse(req, addr, SVC_AUTH_FAIL_UNKNOWN, "the api key is not known");
    if (row.revoked) return refuse(req, addr, SVC_AUTH_FAIL_REVOKED, "the api key was revoked");
    if (!svc_scope_parse(row.scope, &e.scope)) {
      UTIL_BUG("api key %lld has scope '%s'", (long long)row.key_id, row.scope);
      return refuse(req, addr, SVC_AUTH_FAIL_UNKNOWN, "the api key is not known");
    }
    e.key_id = row.key_id;
    e.partner_id = row.partner_id;
    snprintf(e.partner, sizeof e.partner, "%s", row.partner);
    memcpy(e.sha, sha, sizeof sha);
    cache_put(&e);
  }
  req->key_id = e.key_id;
  req->key_scope = e.scope;
  req->partner_id = e.partner_id;
  snprintf(req->partner, sizeof req->partner, "%s", e.partner);
  /* an admin key may read what an ops key reads (the risk routes); no other scope stands in */
  if (e.scope != rt->scope && !(rt->scope == SVC_SCOPE_OPS && e.scope == SVC_SCOPE_ADMIN)) {
    svc_metrics_auth_failure(SVC_AUTH_FAIL_SCOPE);
    svc_reply_problem(req, SVC_ERR_forbidden, "this route needs a %s key; this key has scope %s",
                      svc_scope_name(rt->scope), svc_scope_name(e.scope));
    return false;
  }
  return true;
}
