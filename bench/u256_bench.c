/* Micro benchmark of the hot u256 / wadray operations: ns per call on realistic operands
 * (amounts up to ~2^100, indexes near RAY, prices, percentages), single thread.
 *
 *   u256_bench [ITERATIONS=20000000] [OP_NAME]
 *
 * Not in bench/CMakeLists.txt; build by hand:
 *   cc -O2 -std=c17 -D_GNU_SOURCE -I. bench/u256_bench.c risk/u256.c risk/wadray.c -o /tmp/u256_bench */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "risk/wadray.h"

#define NOPS 1024

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static u256 amounts[NOPS], indexes[NOPS], wads[NOPS], bps[NOPS], big[NOPS];

typedef risk_err (*binop)(u256 *, u256, u256);

static risk_err op_nop(u256 *r, u256 a, u256 b) {
  *r = b;
  (void)a;
  return RISK_OK;
}
static risk_err op_mul(u256 *r, u256 a, u256 b) { return u256_mul(r, a, b); }
static risk_err op_add(u256 *r, u256 a, u256 b) { return u256_add(r, a, b); }
static risk_err op_div(u256 *r, u256 a, u256 b) { return u256_div(r, a, b); }
static risk_err op_muldiv_ray(u256 *r, u256 a, u256 b) { return u256_muldiv(r, a, b, RISK_RAY); }

/* Runs op over the operand arrays `iters` times; prints and returns ns per call. */
static const char *only; /* run just the op of this name (for perf stat) */

static double run(const char *name, binop op, const u256 *xs, const u256 *ys, long iters) {
  if (only != NULL && strcmp(only, name) != 0) return 0;
  uint64_t sink = 0;
  long errors = 0;
  double t0 = now();
  for (long i = 0; i < iters; i++) {
    u256 r = U256_ZERO;
    errors += op(&r, xs[i & (NOPS - 1)], ys[(i * 7) & (NOPS - 1)]) != RISK_OK;
    sink ^= r.w[0];
  }
  double ns = (now() - t0) * 1e9 / (double)iters;
  printf("%-22s %7.1f ns/op   (errors %ld, sink %llx)\n", name, ns, errors, (unsigned long long)(sink & 0xff));
  return ns;
}

/* A random value below 2^bits. */
static u256 rbits(unsigned bits) {
  u256 v = {{rnd(), rnd(), rnd(), rnd()}};
  return u256_shr(v, 256 - bits);
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 20000000;
  only = argc > 2 ? argv[2] : NULL;
  for (int i = 0; i < NOPS; i++) {
    amounts[i] = rbits(40 + (unsigned)(rnd() % 60)); /* 1e12..1e30 */
    indexes[i] = u256_add_wrap(RISK_RAY, rbits(86)); /* 1.0..1.08 RAY */
    wads[i] = u256_add_wrap(RISK_WAD, rbits(58));    /* ~1 WAD */
    bps[i] = u256_from_u64(1 + rnd() % 10000);       /* percentages */
    big[i] = rbits(128 + (unsigned)(rnd() % 100));   /* 2-4 limb divisors */
  }
  run("(harness only)", op_nop, amounts, indexes, iters);
  run("u256_add", op_add, amounts, indexes, iters);
  run("u256_mul", op_mul, amounts, indexes, iters);
  run("u256_div (64-bit d)", op_div, indexes, bps, iters);
  run("u256_div (general)", op_div, big, amounts, iters);
  run("risk_ray_mul", risk_ray_mul, amounts, indexes, iters);
  run("risk_ray_div", risk_ray_div, amounts, indexes, iters);
  run("risk_wad_mul", risk_wad_mul, amounts, wads, iters);
  run("risk_wad_div", risk_wad_div, amounts, wads, iters);
  run("risk_percent_mul", risk_percent_mul, amounts, bps, iters);
  run("risk_percent_div", risk_percent_div, amounts, bps, iters);
  run("u256_muldiv (/RAY)", op_muldiv_ray, amounts, indexes, iters);

  return 0;
}
