/* Keccak-256 as Ethereum uses it (see keccak.h): a plain, allocation-free sponge
 * over Keccak-f[1600] (FIPS 202 permutation, 24 rounds). */
#include "risk/keccak.h"

#include <string.h>

#define RATE 136

static const uint64_t RC[24] = {
    0x0000000000000001u, 0x0000000000008082u, 0x800000000000808au, 0x8000000080008000u, 0x000000000000808bu,
    0x0000000080000001u, 0x8000000080008081u, 0x8000000000008009u, 0x000000000000008au, 0x0000000000000088u,
    0x0000000080008009u, 0x000000008000000au, 0x000000008000808bu, 0x800000000000008bu, 0x8000000000008089u,
    0x8000000000008003u, 0x8000000000008002u, 0x8000000000000080u, 0x000000000000800au, 0x800000008000000au,
    0x8000000080008081u, 0x8000000000008080u, 0x0000000080000001u, 0x8000000080008008u,
};

/* Rotation offsets and lane order of the combined rho-pi step. */
static const unsigned ROTC[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                  27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
static const unsigned PILN[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                  15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

static inline uint64_t rotl(uint64_t x, unsigned n) { return (x << n) | (x >> (64 - n)); }

/* Applies Keccak-f[1600] to the state. */
static void keccakf(uint64_t st[25]) {
  uint64_t bc[5];
  for (int round = 0; round < 24; round++) {
    /* theta */
    for (int i = 0; i < 5; i++)
      bc[i] = st[i] ^ st[i + 5] ^ st[i + 10] ^ st[i + 15] ^ st[i + 20];
    for (int i = 0; i < 5; i++) {
      uint64_t t = bc[(i + 4) % 5] ^ rotl(bc[(i + 1) % 5], 1);
      for (int j = 0; j < 25; j += 5)
        st[j + i] ^= t;
    }
    /* rho and pi */
    uint64_t t = st[1];
    for (int i = 0; i < 24; i++) {
      unsigned j = PILN[i];
      uint64_t tmp = st[j];
      st[j] = rotl(t, ROTC[i]);
      t = tmp;
    }
    /* chi */
    for (int j = 0; j < 25; j += 5) {
      for (int i = 0; i < 5; i++)
        bc[i] = st[j + i];
      for (int i = 0; i < 5; i++)
        st[j + i] ^= (~bc[(i + 1) % 5]) & bc[(i + 2) % 5];
    }
    /* iota */
    st[0] ^= RC[round];
  }
}

/* XORs one little-endian lane-ordered block of n bytes into the state. */
static void absorb(uint64_t st[25], const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    st[i / 8] ^= (uint64_t)p[i] << (8 * (i % 8));
}

/* Writes keccak256(data[0..len)) into out. */
void risk_keccak256(const uint8_t *data, size_t len, uint8_t out[32]) {
  uint64_t st[25];
  memset(st, 0, sizeof st);
  while (len >= RATE) {
    absorb(st, data, RATE);
    keccakf(st);
    data += RATE;
    len -= RATE;
  }
  uint8_t last[RATE];
  memset(last, 0, sizeof last);
  if (len > 0) memcpy(last, data, len);
  last[len] ^= 0x01;
  last[RATE - 1] ^= 0x80;
  absorb(st, last, RATE);
  keccakf(st);
  for (int i = 0; i < 32; i++)
    out[i] = (uint8_t)(st[i / 8] >> (8 * (i % 8)));
}
