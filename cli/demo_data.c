/* sparkd demo-data: writes the demo data set (docs/demo-data.md) as NDJSON to stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/demo.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: sparkd demo-data [--seed N] [--accounts N] [--days N]\n\n"
          "Writes sparkd.snapshot/1 snapshots (NDJSON) of SparkLend Ethereum with synthetic accounts to stdout:\n"
          "the first with every account, then one every 6 hours for --days (deltas).\n"
          "Defaults: --seed %d --accounts %d --days %d. The output is the same for the same options.\n",
          CLI_DEMO_DEFAULT_SEED, CLI_DEMO_DEFAULT_ACCOUNTS, CLI_DEMO_DEFAULT_DAYS);
}

/* Parses a decimal unsigned option value in [lo, hi]; returns 0 or -1. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int cli_cmd_demo_data(int argc, char **argv, const struct util_config *cfg) {
  (void)cfg;
  struct cli_demo_opts o = {CLI_DEMO_DEFAULT_SEED, CLI_DEMO_DEFAULT_ACCOUNTS, CLI_DEMO_DEFAULT_DAYS};
  for (int i = 1; i < argc; i++) {
    uint64_t v = 0;
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--seed") == 0) {
      if (parse_u64(i + 1 < argc ? argv[++i] : NULL, 0, UINT64_MAX, &v)) goto bad;
      o.seed = v;
    } else if (strcmp(a, "--accounts") == 0) {
      if (parse_u64(i + 1 < argc ? argv[++i] : NULL, 1, CLI_DEMO_MAX_ACCOUNTS, &v)) goto bad;
      o.accounts = (uint32_t)v;
    } else if (strcmp(a, "--days") == 0) {
      if (parse_u64(i + 1 < argc ? argv[++i] : NULL, 0, CLI_DEMO_MAX_DAYS, &v)) goto bad;
      o.days = (uint32_t)v;
    } else {
      fprintf(stderr, "sparkd demo-data: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
    continue;
  bad:
    fprintf(stderr, "sparkd demo-data: %s needs a number (--seed 0..2^64-1, --accounts 1..%d, --days 0..%d)\n", a,
            CLI_DEMO_MAX_ACCOUNTS, CLI_DEMO_MAX_DAYS);
    return 2;
  }
  static char buf[1 << 20];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  char err[256] = "";
  if (cli_demo_generate(stdout, &o, err, sizeof err) != 0) {
    fprintf(stderr, "sparkd demo-data: %s\n", err);
    return 1;
  }
  return 0;
}
