/* The demo data set: SparkLend Ethereum as configured (spec protocol-math §4) with synthetic
 * accounts and a history of snapshots, written as sparkd.snapshot/1 NDJSON
 * (docs/demo-data.md). Deterministic for a seed; every on-chain figure is computed with the
 * engine in risk/. */
#ifndef SPARKD_CLI_DEMO_H
#define SPARKD_CLI_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "risk/u256.h"

struct cli_demo_opts {
  uint64_t seed;     /* PRNG seed (default 1) */
  uint32_t accounts; /* synthetic accounts (default 20000); the ALM proxy and the treasury come on top */
  uint32_t days;     /* history length (default 90); one snapshot every 6 hours, plus the first */
};

#define CLI_DEMO_DEFAULT_SEED 1
#define CLI_DEMO_DEFAULT_ACCOUNTS 20000
#define CLI_DEMO_DEFAULT_DAYS 90
#define CLI_DEMO_MAX_ACCOUNTS 1000000
#define CLI_DEMO_MAX_DAYS 3650
#define CLI_DEMO_STEP_SECONDS 21600 /* 6 hours */
#define CLI_DEMO_BLOCK_SECONDS 12
/* The last snapshot is at this time (2026-05-01T00:00:00Z) and this block. */
#define CLI_DEMO_END_TIMESTAMP 1777593600ull
#define CLI_DEMO_END_BLOCK 25000000ull

/* Writes the snapshots as NDJSON to out. Returns 0, or -1 with a one-line message in err
 * (an engine error means a generator bug; a write error means out failed). */
int cli_demo_generate(FILE *out, const struct cli_demo_opts *opts, char *err, size_t errlen);

/* Returns RISK_OK and the largest per-second RAY rate r with rpow(r, YEAR) - RAY <= apy_bps
 * basis points, by bisection with the engine (the rates-conv table is 1 below this for
 * 3.75%, 5% and 10%; the generator uses the table's constants for those). */
risk_err cli_demo_rate_for_apy_bps(u256 *rate, uint32_t apy_bps);

/* Writes the EIP-55 checksummed form of a 20-byte address ("0x" + 40 chars + NUL). */
void cli_demo_eip55(const uint8_t addr[20], char out[43]);

#endif
