/* `sparkd keys signing-create FILE`: a new secp256k1 key for signing LTV records, written to FILE
 * (created exclusively, mode 0600); prints the signer's address. See docs/ltv-signature.md. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "partner/signer.h"

int cli_cmd_keys_signing_create(int argc, char **argv, const struct util_config *cfg) {
  (void)cfg;
  if (argc != 3 || argv[2][0] == '-') {
    fputs("usage: sparkd keys signing-create FILE\n"
          "  writes a new secp256k1 signing key to FILE (must not exist; mode 0600) and prints its address;\n"
          "  point SPARKD_SIGNING_KEY_FILE at it. Exit status: 0 done, 1 failed, 2 bad usage.\n",
          stderr);
    return 2;
  }
  char addr[43], err[512];
  if (!partner_signer_create_file(argv[2], addr, err, sizeof err)) {
    fprintf(stderr, "sparkd keys signing-create: %s\n", err);
    return 1;
  }
  printf("%s\n", addr);
  return 0;
}
