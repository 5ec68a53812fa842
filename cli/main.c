/* sparkd: one binary, subcommands dispatched from one table. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "util/config.h"
#include "util/log.h"

struct command {
  const char *name;
  int (*run)(int argc, char **argv, const struct util_config *cfg);
  const char *help;
  int needs_config;
};

static const struct command commands[] = {
    {"serve", cli_cmd_serve, "serve the HTTP API (the default)", 1},
    {"migrate", cli_cmd_migrate, "apply pending database migrations (--status lists them)", 1},
    {"import", cli_cmd_import, "load chain-state snapshots (sparkd.snapshot/1) from a file or -", 1},
    {"index", cli_cmd_index, "index chain state from an EVM JSON-RPC node (--once: up to the head, then exit)", 1},
    {"version", cli_cmd_version, "print version, git commit and library versions", 0},
    {"keys", cli_cmd_keys, "create, list and revoke api keys (a new key is printed once)", 1},
    {"demo-data", cli_cmd_demo_data, "write demo snapshots (NDJSON) of SparkLend with synthetic accounts", 0},
};

static void usage(FILE *out) {
  fprintf(out, "usage: sparkd [command] [--help]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "serve";
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    usage(stdout);
    return 0;
  }
  const struct command *cmd = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(commands[i].name, name) == 0) cmd = &commands[i];
  if (!cmd) {
    fprintf(stderr, "sparkd: unknown command '%s'\n", name);
    usage(stderr);
    return 2;
  }
  int sub_argc = argc > 1 ? argc - 1 : 1;
  char *default_argv[] = {(char *)"serve", NULL};
  char **sub_argv = argc > 1 ? argv + 1 : default_argv;
  int wants_help = 0;
  for (int i = 1; i < sub_argc; i++)
    wants_help |= strcmp(sub_argv[i], "--help") == 0 || strcmp(sub_argv[i], "-h") == 0;
  static struct util_config cfg;
  if (cmd->needs_config && !wants_help) {
    char err[512];
    if (!util_config_from_env(&cfg, err, sizeof err)) {
      fprintf(stderr, "sparkd: configuration error: %s\n", err);
      return 1;
    }
    util_log_init(cfg.log_level, cfg.log_format);
  }
  return cmd->run(sub_argc, sub_argv, &cfg);
}
