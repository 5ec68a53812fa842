/* Shared by the u256 and wadray tests: a reproducible generator of edge-biased 256-bit
 * operands and conversions to and from OpenSSL BIGNUM (the independent reference). */
#ifndef SPARKD_TESTS_U256_GEN_H
#define SPARKD_TESTS_U256_GEN_H

#include <inttypes.h>
#include <openssl/bn.h>
#include <stdio.h>
#include <stdlib.h>

#include "fast_assert.h"
#include "risk/u256.h"

#define N_CASES 100000

static uint64_t g_seed = 0x5eed2026c0de0001u;

/* splitmix64: small, fast, reproducible. */
typedef struct {
  uint64_t s;
} rng_t;

static inline uint64_t rnd(rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static inline rng_t rng_for(unsigned op) { return (rng_t){g_seed ^ ((uint64_t)op * 0x100000001b3u)}; }

static inline unsigned rnd_below(rng_t *r, unsigned n) { return (unsigned)(rnd(r) % n); }

/* Limb values that stress carries and Knuth D's qhat estimate and add-back step. */
static inline uint64_t special_limb(rng_t *r) {
  switch (rnd_below(r, 8)) {
  case 0: return 0;
  case 1: return UINT64_MAX;
  case 2: return 1;
  case 3: return 0x8000000000000000u;
  case 4: return 0x7fffffffffffffffu;
  case 5: return UINT64_MAX - 1;
  case 6: return 0x8000000000000001u;
  default: return rnd(r);
  }
}

/* An edge value: 0, 1, 2^k and 2^k±1 for limb boundaries, 2^256-1, ... */
static inline u256 edge_value(rng_t *r) {
  static const unsigned pows[] = {0, 1, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255};
  u256 one = U256_ONE;
  switch (rnd_below(r, 6)) {
  case 0: return U256_ZERO;
  case 1: return U256_ONE;
  case 2: return U256_MAX;
  case 3: {
    u256 p = u256_shl(one, pows[rnd_below(r, 12)]);
    return p;
  }
  case 4: { /* 2^k - 1 */ u256 p = u256_shl(one, pows[rnd_below(r, 12)]); return u256_sub_wrap(p, one);
  }
  default: { /* 2^k + 1 */ u256 p = u256_shl(one, pows[rnd_below(r, 12)]); return u256_add_wrap(p, one);
  }
  }
}

/* A random value of exactly `bits` significant bits (bits in 1..256). */
static inline u256 of_width(rng_t *r, unsigned bits) {
  u256 v = {{rnd(r), rnd(r), rnd(r), rnd(r)}};
  v = u256_shr(v, 256 - bits);
  v.w[(bits - 1) / 64] |= (uint64_t)1 << ((bits - 1) % 64);
  return v;
}

/* Draws an operand: edge values, random widths, special limb patterns, near-edge. */
static inline u256 draw(rng_t *r) {
  switch (rnd_below(r, 10)) {
  case 0:
  case 1: return edge_value(r);
  case 2:
  case 3:
  case 4:
  case 5: return of_width(r, 1 + rnd_below(r, 256));
  case 6:
  case 7: {
    u256 v;
    for (int i = 0; i < 4; i++)
      v.w[i] = special_limb(r);
    return u256_shr(v, rnd_below(r, 4) * 64); /* also shorter numbers */
  }
  case 8: { /* edge ± small */
    u256 e = edge_value(r), d = u256_from_u64(rnd_below(r, 1000));
    return rnd_below(r, 2) ? u256_add_wrap(e, d) : u256_sub_wrap(e, d);
  }
  default: return u256_from_u64(rnd(r) >> rnd_below(r, 64));
  }
}

/* Returns a new BIGNUM equal to a. */
static inline BIGNUM *to_bn(u256 a) {
  uint8_t be[32];
  u256_to_be32(a, be);
  BIGNUM *b = BN_bin2bn(be, 32, NULL);
  REQ(b);
  return b;
}

/* Returns true and the value when 0 <= b < 2^256. */
static inline bool from_bn(const BIGNUM *b, u256 *out) {
  if (BN_is_negative(b) || BN_num_bits(b) > 256) return false;
  uint8_t be[32];
  REQ_INT_EQ(BN_bn2binpad(b, be, 32), 32);
  *out = u256_from_be32(be);
  return true;
}

static inline const char *hexs(u256 a, char *buf) {
  u256_to_hex(a, buf);
  return buf;
}

static const u256 SENTINEL = {{0x1111111111111111u, 0x2222222222222222u, 0x3333333333333333u, 0x4444444444444444u}};

/* Checks a checked-op result against BIGNUM's true value `want` (NULL for /0). */
static inline void expect(const char *op, long i, u256 a, u256 b, risk_err got_e, u256 got, const BIGNUM *want,
                          risk_err err_when_out_of_range) {
  char ha[80], hb[80], hg[80];
  if (want == NULL) {
    REQ_MSG(got_e == RISK_DIV_BY_ZERO, "%s #%ld seed %" PRIx64 ": a=%s b=%s: want div0 got %s", op, i, g_seed,
            hexs(a, ha), hexs(b, hb), risk_err_name(got_e));
    REQ_MSG(u256_eq(got, SENTINEL), "%s: result written on error", op);
    return;
  }
  u256 w;
  if (!from_bn(want, &w)) {
    REQ_MSG(got_e == err_when_out_of_range, "%s #%ld seed %" PRIx64 ": a=%s b=%s: want %s got %s", op, i, g_seed,
            hexs(a, ha), hexs(b, hb), risk_err_name(err_when_out_of_range), risk_err_name(got_e));
    REQ_MSG(u256_eq(got, SENTINEL), "%s: result written on error", op);
    return;
  }
  char *wd = BN_bn2hex(want);
  REQ_MSG(got_e == RISK_OK && u256_eq(got, w), "%s #%ld seed %" PRIx64 ": a=%s b=%s: want 0x%s got %s %s", op, i,
          g_seed, hexs(a, ha), hexs(b, hb), wd, risk_err_name(got_e), hexs(got, hg));
  OPENSSL_free(wd);
}

/* Per-test BIGNUM scratch: a context, 2^256 and temporaries. */
typedef struct {
  BN_CTX *ctx;
  BIGNUM *mod; /* 2^256 */
  BIGNUM *t, *u;
} bnk_t;

static inline bnk_t bnk_new(void) {
  bnk_t k = {BN_CTX_new(), BN_new(), BN_new(), BN_new()};
  REQ(k.ctx && k.mod && k.t && k.u);
  REQ(BN_set_bit(k.mod, 256));
  return k;
}

static inline void bnk_free(bnk_t *k) {
  BN_CTX_free(k->ctx);
  BN_free(k->mod);
  BN_free(k->t);
  BN_free(k->u);
}

/* Reads SPARKD_TEST_SEED (if set) into g_seed and prints the seed in use. */
static inline void seed_init(const char *test) {
  const char *env = getenv("SPARKD_TEST_SEED");
  if (env != NULL && *env != '\0') g_seed = strtoull(env, NULL, 0);
  printf("%s: seed 0x%" PRIx64 " (set SPARKD_TEST_SEED to change)\n", test, g_seed);
  fflush(stdout);
}

#endif
