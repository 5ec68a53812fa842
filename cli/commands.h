/* Subcommands of the sparkd binary: one file each, one row each in cli/main.c. */
#ifndef SPARKD_CLI_COMMANDS_H
#define SPARKD_CLI_COMMANDS_H

#include "util/config.h"

/* Each returns the process exit code: 0 success, 1 failure, 2 usage error. */
int cli_cmd_serve(int argc, char **argv, const struct util_config *cfg);
int cli_cmd_migrate(int argc, char **argv, const struct util_config *cfg);
int cli_cmd_version(int argc, char **argv, const struct util_config *cfg);
int cli_cmd_demo_data(int argc, char **argv, const struct util_config *cfg);
int cli_cmd_import(int argc, char **argv, const struct util_config *cfg);
int cli_cmd_index(int argc, char **argv, const struct util_config *cfg);
int cli_cmd_keys(int argc, char **argv, const struct util_config *cfg);
/* `sparkd keys signing-create FILE` (cli/signing.c), dispatched by cli_cmd_keys. */
int cli_cmd_keys_signing_create(int argc, char **argv, const struct util_config *cfg);

#endif
