/* 256-bit unsigned arithmetic (see u256.h). Four 64-bit limbs, little-endian; limb
 * products and 128/64 divisions use unsigned __int128. Checked operations report
 * the condition the EVM reverts on instead of wrapping. No heap, no globals. */
#include "risk/u256.h"
#include "risk/u256_impl.h"

#include <string.h>

/* 10^n for n = 0..77. */
static const u256 POW10[78] = {
    {{0x0000000000000001u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x000000000000000au, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x0000000000000064u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x00000000000003e8u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x0000000000002710u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x00000000000186a0u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x00000000000f4240u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x0000000000989680u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x0000000005f5e100u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x000000003b9aca00u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x00000002540be400u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x000000174876e800u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x000000e8d4a51000u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x000009184e72a000u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x00005af3107a4000u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x00038d7ea4c68000u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x002386f26fc10000u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x016345785d8a0000u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x0de0b6b3a7640000u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x8ac7230489e80000u, 0x0000000000000000u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x6bc75e2d63100000u, 0x0000000000000005u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x35c9adc5dea00000u, 0x0000000000000036u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x19e0c9bab2400000u, 0x000000000000021eu, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x02c7e14af6800000u, 0x000000000000152du, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x1bcecceda1000000u, 0x000000000000d3c2u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x161401484a000000u, 0x0000000000084595u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0xdcc80cd2e4000000u, 0x000000000052b7d2u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x9fd0803ce8000000u, 0x00000000033b2e3cu, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x3e25026110000000u, 0x00000000204fce5eu, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x6d7217caa0000000u, 0x00000001431e0faeu, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x4674edea40000000u, 0x0000000c9f2c9cd0u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0xc0914b2680000000u, 0x0000007e37be2022u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x85acef8100000000u, 0x000004ee2d6d415bu, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x38c15b0a00000000u, 0x0000314dc6448d93u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x378d8e6400000000u, 0x0001ed09bead87c0u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x2b878fe800000000u, 0x0013426172c74d82u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0xb34b9f1000000000u, 0x00c097ce7bc90715u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x00f436a000000000u, 0x0785ee10d5da46d9u, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x098a224000000000u, 0x4b3b4ca85a86c47au, 0x0000000000000000u, 0x0000000000000000u}},
    {{0x5f65568000000000u, 0xf050fe938943acc4u, 0x0000000000000002u, 0x0000000000000000u}},
    {{0xb9f5610000000000u, 0x6329f1c35ca4bfabu, 0x000000000000001du, 0x0000000000000000u}},
    {{0x4395ca0000000000u, 0xdfa371a19e6f7cb5u, 0x0000000000000125u, 0x0000000000000000u}},
    {{0xa3d9e40000000000u, 0xbc627050305adf14u, 0x0000000000000b7au, 0x0000000000000000u}},
    {{0x6682e80000000000u, 0x5bd86321e38cb6ceu, 0x00000000000072cbu, 0x0000000000000000u}},
    {{0x011d100000000000u, 0x9673df52e37f2410u, 0x0000000000047bf1u, 0x0000000000000000u}},
    {{0x0b22a00000000000u, 0xe086b93ce2f768a0u, 0x00000000002cd76fu, 0x0000000000000000u}},
    {{0x6f5a400000000000u, 0xc5433c60ddaa1640u, 0x0000000001c06a5eu, 0x0000000000000000u}},
    {{0x5986800000000000u, 0xb4a05bc8a8a4de84u, 0x00000000118427b3u, 0x0000000000000000u}},
    {{0x7f41000000000000u, 0x0e4395d69670b12bu, 0x00000000af298d05u, 0x0000000000000000u}},
    {{0xf88a000000000000u, 0x8ea3da61e066ebb2u, 0x00000006d79f8232u, 0x0000000000000000u}},
    {{0xb564000000000000u, 0x926687d2c40534fdu, 0x000000446c3b15f9u, 0x0000000000000000u}},
    {{0x15e8000000000000u, 0xb8014e3ba83411e9u, 0x000002ac3a4edbbfu, 0x0000000000000000u}},
    {{0xdb10000000000000u, 0x300d0e549208b31au, 0x00001aba4714957du, 0x0000000000000000u}},
    {{0x8ea0000000000000u, 0xe0828f4db456ff0cu, 0x00010b46c6cdd6e3u, 0x0000000000000000u}},
    {{0x9240000000000000u, 0xc51999090b65f67du, 0x000a70c3c40a64e6u, 0x0000000000000000u}},
    {{0xb680000000000000u, 0xb2fffa5a71fba0e7u, 0x006867a5a867f103u, 0x0000000000000000u}},
    {{0x2100000000000000u, 0xfdffc78873d4490du, 0x04140c78940f6a24u, 0x0000000000000000u}},
    {{0x4a00000000000000u, 0xebfdcb54864ada83u, 0x28c87cb5c89a2571u, 0x0000000000000000u}},
    {{0xe400000000000000u, 0x37e9f14d3eec8920u, 0x97d4df19d6057673u, 0x0000000000000001u}},
    {{0xe800000000000000u, 0x2f236d04753d5b48u, 0xee50b7025c36a080u, 0x000000000000000fu}},
    {{0x1000000000000000u, 0xd762422c946590d9u, 0x4f2726179a224501u, 0x000000000000009fu}},
    {{0xa000000000000000u, 0x69d695bdcbf7a87au, 0x17877cec0556b212u, 0x0000000000000639u}},
    {{0x4000000000000000u, 0x2261d969f7ac94cau, 0xeb4ae1383562f4b8u, 0x0000000000003e3au}},
    {{0x8000000000000000u, 0x57d27e23acbdcfe6u, 0x30eccc3215dd8f31u, 0x0000000000026e4du}},
    {{0x0000000000000000u, 0x6e38ed64bf6a1f01u, 0xe93ff9f4daa797edu, 0x0000000000184f03u}},
    {{0x0000000000000000u, 0x4e3945ef7a25360au, 0x1c7fc3908a8bef46u, 0x0000000000f31627u}},
    {{0x0000000000000000u, 0x0e3cbb5ac5741c64u, 0x1cfda3a5697758bfu, 0x00000000097edd87u}},
    {{0x0000000000000000u, 0x8e5f518bb6891be8u, 0x21e864761ea97776u, 0x000000005ef4a747u}},
    {{0x0000000000000000u, 0x8fb92f75215b1710u, 0x5313ec9d329eaaa1u, 0x00000003b58e88c7u}},
    {{0x0000000000000000u, 0x9d3bda934d8ee6a0u, 0x3ec73e23fa32aa4fu, 0x00000025179157c9u}},
    {{0x0000000000000000u, 0x245689c107950240u, 0x73c86d67c5faa71cu, 0x00000172ebad6ddcu}},
    {{0x0000000000000000u, 0x6b61618a4bd21680u, 0x85d4460dbbca8719u, 0x00000e7d34c64a9cu}},
    {{0x0000000000000000u, 0x31cdcf66f634e100u, 0x3a4abc8955e946feu, 0x000090e40fbeea1du}},
    {{0x0000000000000000u, 0xf20a1a059e10ca00u, 0x46eb5d5d5b1cc5edu, 0x0005a8e89d752524u}},
    {{0x0000000000000000u, 0x746504382ca7e400u, 0xc531a5a58f1fbb4bu, 0x003899162693736au}},
    {{0x0000000000000000u, 0x8bf22a31be8ee800u, 0xb3f07877973d50f2u, 0x0235fadd81c2822bu}},
    {{0x0000000000000000u, 0x7775a5f171951000u, 0x0764b4abe8652979u, 0x161bcca7119915b5u}},
    {{0x0000000000000000u, 0xaa987b6e6fd2a000u, 0x49ef0eb713f39ebeu, 0xdd15fe86affad912u}},
};

/* Returns a short lowercase name for e. */
const char *risk_err_name(risk_err e) {
  switch (e) {
  case RISK_OK: return "ok";
  case RISK_OVERFLOW: return "overflow";
  case RISK_UNDERFLOW: return "underflow";
  case RISK_DIV_BY_ZERO: return "division by zero";
  case RISK_PARSE: return "malformed number";
  case RISK_INVALID: return "invalid argument";
  }
  return "unknown error";
}

/* Number of significant limbs among the first n of x (0 for zero). */
static inline int limbs(const uint64_t *x, int n) {
  while (n > 0 && x[n - 1] == 0)
    n--;
  return n;
}

/* Compares the n-limb numbers x and y. */
static inline int cmp_limbs(const uint64_t *x, const uint64_t *y, int n) {
  for (int i = n - 1; i >= 0; i--)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

/* (hi:lo) / d for hi < d: returns the 64-bit quotient, stores the remainder. */
static inline uint64_t div128(uint64_t hi, uint64_t lo, uint64_t d, uint64_t *rem) {
#if defined(__x86_64__)
  uint64_t q, r;
  __asm__("divq %[d]" : "=a"(q), "=d"(r) : [d] "rm"(d), "a"(lo), "d"(hi) : "cc");
  *rem = r;
  return q;
#else
  u128 n = ((u128)hi << 64) | lo;
  uint64_t q = (uint64_t)(n / d);
  *rem = (uint64_t)(n - (u128)q * d);
  return q;
#endif
}

/* q = u / d for an n-limb u and a nonzero one-limb d (q may alias u); returns u mod d. */
static uint64_t div_limb(uint64_t *q, const uint64_t *u, int n, uint64_t d) {
  uint64_t r = 0;
  for (int i = n - 1; i >= 0; i--) {
    uint64_t ui = u[i];
    q[i] = div128(r, ui, d, &r);
  }
  return r;
}

/* Knuth, TAOCP vol. 2, 4.3.1, algorithm D. u has m limbs (m <= 8), v has n limbs
 * (2 <= n <= 4, m >= n, v[n-1] != 0). Writes the m-n+1 quotient limbs to q and the
 * n remainder limbs to r. */
static void div_knuth(uint64_t *q, uint64_t *r, const uint64_t *u, int m, const uint64_t *v, int n) {
  uint64_t un[9], vn[4];
  const int s = __builtin_clzll(v[n - 1]);
  if (s != 0) {
    for (int i = n - 1; i > 0; i--)
      vn[i] = (v[i] << s) | (v[i - 1] >> (64 - s));
    vn[0] = v[0] << s;
    un[m] = u[m - 1] >> (64 - s);
    for (int i = m - 1; i > 0; i--)
      un[i] = (u[i] << s) | (u[i - 1] >> (64 - s));
    un[0] = u[0] << s;
  } else {
    memcpy(vn, v, (size_t)n * sizeof vn[0]);
    memcpy(un, u, (size_t)m * sizeof un[0]);
    un[m] = 0;
  }
  const uint64_t vtop = vn[n - 1], vnext = vn[n - 2];

  for (int j = m - n; j >= 0; j--) {
    /* Estimate qhat from the top two limbs; it is at most 2 too large. The top n limbs
     * of un are below vn, so un[j+n] <= vtop. */
    uint64_t qhat, rhat;
    bool rhat_big = false; /* rhat >= 2^64: the correction test cannot succeed */
    if (un[j + n] >= vtop) {
      qhat = UINT64_MAX;
      u128 t = (u128)un[j + n - 1] + vtop;
      rhat_big = (t >> 64) != 0;
      rhat = (uint64_t)t;
    } else {
      qhat = div128(un[j + n], un[j + n - 1], vtop, &rhat);
    }
    while (!rhat_big && (u128)qhat * vnext > (((u128)rhat << 64) | un[j + n - 2])) {
      qhat--;
      u128 t = (u128)rhat + vtop;
      rhat_big = (t >> 64) != 0;
      rhat = (uint64_t)t;
    }

    /* un[j..j+n] -= qhat * vn */
    uint64_t k = 0, borrow = 0;
    for (int i = 0; i < n; i++) {
      u128 p = (u128)qhat * vn[i] + k;
      k = (uint64_t)(p >> 64);
      uint64_t pl = (uint64_t)p, x = un[i + j];
      uint64_t d1 = x - pl;
      uint64_t b1 = x < pl;
      uint64_t d2 = d1 - borrow;
      uint64_t b2 = d1 < borrow;
      un[i + j] = d2;
      borrow = b1 | b2;
    }
    u128 sub = (u128)k + borrow;
    bool negative = (u128)un[j + n] < sub;
    un[j + n] -= (uint64_t)sub;
    if (negative) { /* qhat was one too large: add vn back */
      qhat--;
      uint64_t c = 0;
      for (int i = 0; i < n; i++) {
        u128 t = (u128)un[i + j] + vn[i] + c;
        un[i + j] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
      }
      un[j + n] += c;
    }
    q[j] = qhat;
  }

  if (s != 0) {
    for (int i = 0; i < n - 1; i++)
      r[i] = (un[i] >> s) | (un[i + 1] << (64 - s));
    r[n - 1] = un[n - 1] >> s;
  } else {
    memcpy(r, un, (size_t)n * sizeof r[0]);
  }
}

/* p[0..na+nb-1] = a * b for na, nb >= 1 limbs. */
static inline void mul_limbs(uint64_t *p, const uint64_t *a, int na, const uint64_t *b, int nb) {
  for (int j = 0; j < nb; j++)
    p[j] = 0;
  for (int i = 0; i < na; i++) {
    uint64_t k = 0;
    for (int j = 0; j < nb; j++) {
      u128 t = (u128)a[i] * b[j] + p[i + j] + k;
      p[i + j] = (uint64_t)t;
      k = (uint64_t)(t >> 64);
    }
    p[i + nb] = k;
  }
}

/* Returns the u256 of four limbs just written one at a time. Loading them as scalars (the
 * empty asm keeps them in general registers) lets each load forward from its store; the
 * 16-byte vector loads the compiler would otherwise use stall on store forwarding. */
static inline u256 load4(const uint64_t *s) {
  uint64_t a = s[0], b = s[1], c = s[2], d = s[3];
  __asm__("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
  return (u256){{a, b, c, d}};
}

/* Returns true when a fits in 64 bits and stores it in *out when out is not NULL. */
bool u256_to_u64(u256 a, uint64_t *out) {
  if ((a.w[1] | a.w[2] | a.w[3]) != 0) return false;
  if (out != NULL) *out = a.w[0];
  return true;
}

/* Returns -1, 0 or 1 as a <, ==, > b. */
int u256_cmp(u256 a, u256 b) {
  for (int i = 3; i >= 0; i--)
    if (a.w[i] != b.w[i]) return a.w[i] < b.w[i] ? -1 : 1;
  return 0;
}

/* Returns RISK_OK and a + b, or RISK_OVERFLOW. */
risk_err u256_add(u256 *r, u256 a, u256 b) {
  u256 s;
  if (add4(&s, &a, &b) != 0) return RISK_OVERFLOW;
  *r = s;
  return RISK_OK;
}

/* Returns RISK_OK and a - b, or RISK_UNDERFLOW when b > a. */
risk_err u256_sub(u256 *r, u256 a, u256 b) {
  u256 d;
  if (sub4(&d, &a, &b) != 0) return RISK_UNDERFLOW;
  *r = d;
  return RISK_OK;
}

/* Returns the wrapped sum a + b mod 2^256. */
u256 u256_add_wrap(u256 a, u256 b) {
  u256 s;
  (void)add4(&s, &a, &b);
  return s;
}

/* Returns the wrapped difference a - b mod 2^256. */
u256 u256_sub_wrap(u256 a, u256 b) {
  u256 d;
  (void)sub4(&d, &a, &b);
  return d;
}

/* Returns RISK_OK and a * b, or RISK_OVERFLOW when the product needs more than 256 bits. */
risk_err u256_mul(u256 *r, u256 a, u256 b) {
  u256 p;
  if (mul4(&p, &a, &b)) return RISK_OVERFLOW;
  *r = p;
  return RISK_OK;
}

/* Returns RISK_OK with floor(a / b) in *q and a mod b in *rem (either may be NULL),
 * or RISK_DIV_BY_ZERO. */
risk_err u256_divmod(u256 *q, u256 *rem, u256 a, u256 b) { return u256_divmod_ref(q, rem, &a, &b); }

/* Returns what u256_divmod returns, with the operands by reference (see u256_impl.h). */
risk_err u256_divmod_ref(u256 *q, u256 *rem, const u256 *a, const u256 *b) {
  int nb = limbs(b->w, 4);
  if (nb == 0) return RISK_DIV_BY_ZERO;
  int na = limbs(a->w, 4);
  if (na < nb || (na == nb && cmp_limbs(a->w, b->w, na) < 0)) {
    if (rem != NULL) *rem = load4(a->w);
    if (q != NULL) *q = U256_ZERO;
    return RISK_OK;
  }
  uint64_t qq[4] = {0, 0, 0, 0}, rr[4] = {0, 0, 0, 0};
  if (nb == 1)
    rr[0] = div_limb(qq, a->w, na, b->w[0]);
  else
    div_knuth(qq, rr, a->w, na, b->w, nb);
  if (q != NULL) *q = load4(qq);
  if (rem != NULL) *rem = load4(rr);
  return RISK_OK;
}

/* Returns RISK_OK and floor(a / b), or RISK_DIV_BY_ZERO. */
risk_err u256_div(u256 *q, u256 a, u256 b) { return u256_divmod(q, NULL, a, b); }

/* floor or ceil of a * b / d through a 512-bit product. */
static risk_err muldiv(u256 *r, u256 a, u256 b, u256 d, bool up) {
  int nd = limbs(d.w, 4);
  if (nd == 0) return RISK_DIV_BY_ZERO;
  int na = limbs(a.w, 4), nb = limbs(b.w, 4);
  if (na == 0 || nb == 0) {
    *r = U256_ZERO;
    return RISK_OK;
  }
  uint64_t p[8] = {0};
  mul_limbs(p, a.w, na, b.w, nb);
  int np = limbs(p, na + nb);
  /* The quotient fits 256 bits exactly when the high half of the product is below d. */
  if (np > 4 && cmp_limbs(p + 4, d.w, 4) >= 0) return RISK_OVERFLOW;

  u256 q = U256_ZERO;
  bool inexact;
  if (np < nd || (np == nd && cmp_limbs(p, d.w, np) < 0)) {
    inexact = true; /* 0 < p < d */
  } else if (nd == 1) {
    uint64_t qq[8] = {0};
    inexact = div_limb(qq, p, np, d.w[0]) != 0;
    q = load4(qq);
  } else {
    uint64_t qq[8] = {0}, rr[4];
    div_knuth(qq, rr, p, np, d.w, nd);
    inexact = limbs(rr, nd) != 0;
    q = load4(qq);
  }
  if (up && inexact) {
    if (u256_eq(q, U256_MAX)) return RISK_OVERFLOW;
    q = u256_add_wrap(q, U256_ONE);
  }
  *r = q;
  return RISK_OK;
}

/* Returns RISK_OK and floor(a * b / d), RISK_DIV_BY_ZERO, or RISK_OVERFLOW. */
risk_err u256_muldiv(u256 *r, u256 a, u256 b, u256 d) { return muldiv(r, a, b, d, false); }

/* Returns RISK_OK and ceil(a * b / d), RISK_DIV_BY_ZERO, or RISK_OVERFLOW. */
risk_err u256_muldiv_up(u256 *r, u256 a, u256 b, u256 d) { return muldiv(r, a, b, d, true); }

/* Returns a << n (bits shifted out are lost; 0 for n >= 256). */
u256 u256_shl(u256 a, unsigned n) {
  if (n >= 256) return U256_ZERO;
  uint64_t w0 = a.w[0], w1 = a.w[1], w2 = a.w[2], w3 = a.w[3];
  for (unsigned limb = n / 64; limb > 0; limb--) {
    w3 = w2;
    w2 = w1;
    w1 = w0;
    w0 = 0;
  }
  const unsigned bit = n % 64;
  if (bit != 0) {
    w3 = (w3 << bit) | (w2 >> (64 - bit));
    w2 = (w2 << bit) | (w1 >> (64 - bit));
    w1 = (w1 << bit) | (w0 >> (64 - bit));
    w0 <<= bit;
  }
  return (u256){{w0, w1, w2, w3}};
}

/* Returns a >> n (0 for n >= 256). */
u256 u256_shr(u256 a, unsigned n) {
  if (n >= 256) return U256_ZERO;
  uint64_t w0 = a.w[0], w1 = a.w[1], w2 = a.w[2], w3 = a.w[3];
  for (unsigned limb = n / 64; limb > 0; limb--) {
    w0 = w1;
    w1 = w2;
    w2 = w3;
    w3 = 0;
  }
  const unsigned bit = n % 64;
  if (bit != 0) {
    w0 = (w0 >> bit) | (w1 << (64 - bit));
    w1 = (w1 >> bit) | (w2 << (64 - bit));
    w2 = (w2 >> bit) | (w3 << (64 - bit));
    w3 >>= bit;
  }
  return (u256){{w0, w1, w2, w3}};
}

/* Returns the number of significant bits of a (0 for 0). */
unsigned u256_bits(u256 a) {
  for (int i = 3; i >= 0; i--)
    if (a.w[i] != 0) return (unsigned)(64 * i + 64 - __builtin_clzll(a.w[i]));
  return 0;
}

/* Returns RISK_OK and 10^n, or RISK_OVERFLOW for n > 77. */
risk_err u256_pow10(u256 *r, unsigned n) {
  if (n > 77) return RISK_OVERFLOW;
  *r = POW10[n];
  return RISK_OK;
}

/* v = v * m + add; returns the carry out of the top limb. */
static inline uint64_t mul_add_small(u256 *v, uint64_t m, uint64_t add) {
  uint64_t k = add;
  for (int i = 0; i < 4; i++) {
    u128 t = (u128)v->w[i] * m + k;
    v->w[i] = (uint64_t)t;
    k = (uint64_t)(t >> 64);
  }
  return k;
}

/* Returns RISK_OK and the value of the decimal text, RISK_PARSE or RISK_OVERFLOW. */
risk_err u256_from_dec(u256 *r, const char *text, size_t len) {
  if (text == NULL || len == 0 || len > 78) return RISK_PARSE;
  for (size_t i = 0; i < len; i++)
    if (text[i] < '0' || text[i] > '9') return RISK_PARSE;
  u256 v = U256_ZERO;
  size_t i = 0;
  size_t chunk = len % 19 ? len % 19 : 19;
  while (i < len) {
    uint64_t c = 0;
    for (size_t k = 0; k < chunk; k++)
      c = c * 10 + (uint64_t)(text[i + k] - '0');
    if (mul_add_small(&v, POW10[chunk].w[0], c) != 0) return RISK_OVERFLOW;
    i += chunk;
    chunk = 19;
  }
  *r = v;
  return RISK_OK;
}

/* Writes the decimal form of a and a NUL into buf; returns its length. */
size_t u256_to_dec(u256 a, char *buf) {
  uint64_t chunks[5];
  int nc = 0;
  uint64_t w[4] = {a.w[0], a.w[1], a.w[2], a.w[3]};
  int n = limbs(w, 4);
  do {
    u256 cur = {{w[0], w[1], w[2], w[3]}}, q;
    chunks[nc++] = div_recip(&q, &cur, U256_RECIP_TEN19);
    memcpy(w, q.w, sizeof w);
    n = limbs(w, n);
  } while (n > 0);

  size_t len = 0;
  char tmp[20];
  /* top chunk without leading zeros */
  uint64_t c = chunks[nc - 1];
  int t = 0;
  do {
    tmp[t++] = (char)('0' + c % 10);
    c /= 10;
  } while (c != 0);
  while (t > 0)
    buf[len++] = tmp[--t];
  for (int k = nc - 2; k >= 0; k--) {
    c = chunks[k];
    for (int d = 18; d >= 0; d--) {
      buf[len + (size_t)d] = (char)('0' + c % 10);
      c /= 10;
    }
    len += 19;
  }
  buf[len] = '\0';
  return len;
}

/* Writes a / 10^decimals with exactly `decimals` fractional digits; returns its length.
 * decimals above 79 are treated as 79 (the largest that fits the buffer). */
size_t u256_to_fixed(u256 a, unsigned decimals, char *buf) {
  char digits[U256_DEC_MAX];
  size_t n = u256_to_dec(a, digits);
  return u256_dec_to_fixed(digits, n, decimals, buf);
}

size_t u256_dec_to_fixed(const char *digits, size_t n, unsigned decimals, char *buf) {
  if (decimals > 79) decimals = 79;
  if (decimals == 0) {
    memcpy(buf, digits, n + 1);
    return n;
  }
  size_t len = 0;
  if (n > decimals) {
    size_t ip = n - decimals;
    memcpy(buf, digits, ip);
    len = ip;
    buf[len++] = '.';
    memcpy(buf + len, digits + ip, decimals);
    len += decimals;
  } else {
    buf[len++] = '0';
    buf[len++] = '.';
    for (size_t k = n; k < decimals; k++)
      buf[len++] = '0';
    memcpy(buf + len, digits, n);
    len += n;
  }
  buf[len] = '\0';
  return len;
}

/* Returns the value of hex digit c, or -1. */
int risk_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Returns RISK_OK and the value of the hex text (optional 0x, 1..64 digits), or RISK_PARSE. */
risk_err u256_from_hex(u256 *r, const char *text, size_t len) {
  if (text == NULL) return RISK_PARSE;
  size_t start = 0;
  if (len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) start = 2;
  size_t nd = len - start;
  if (nd == 0 || nd > 64) return RISK_PARSE;
  u256 v = U256_ZERO;
  for (size_t k = 0; k < nd; k++) {
    int h = risk_hexval(text[len - 1 - k]);
    if (h < 0) return RISK_PARSE;
    v.w[k / 16] |= (uint64_t)h << (4 * (k % 16));
  }
  *r = v;
  return RISK_OK;
}

/* Writes "0x" + minimal lowercase hex of a and a NUL into buf; returns its length. */
size_t u256_to_hex(u256 a, char *buf) {
  static const char HEX[] = "0123456789abcdef";
  size_t len = 0;
  buf[len++] = '0';
  buf[len++] = 'x';
  unsigned bits = u256_bits(a);
  int nibbles = bits == 0 ? 1 : (int)((bits + 3) / 4);
  for (int k = nibbles - 1; k >= 0; k--)
    buf[len++] = HEX[(a.w[k / 16] >> (4 * (k % 16))) & 0xf];
  buf[len] = '\0';
  return len;
}

/* Writes a as a 32-byte big-endian word. */
void u256_to_be32(u256 a, uint8_t out[32]) {
  for (int i = 0; i < 32; i++)
    out[31 - i] = (uint8_t)(a.w[i / 8] >> (8 * (i % 8)));
}

/* Returns the value of a 32-byte big-endian word. */
u256 u256_from_be32(const uint8_t in[32]) {
  u256 v = U256_ZERO;
  for (int i = 0; i < 32; i++)
    v.w[i / 8] |= (uint64_t)in[31 - i] << (8 * (i % 8));
  return v;
}

bool u256_parse_dec(const char *text, u256 *out) { return text && u256_from_dec(out, text, strlen(text)) == RISK_OK; }
