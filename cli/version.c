#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "db/version.h"

int cli_cmd_version(int argc, char **argv, const struct util_config *cfg) {
  (void)cfg;
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("usage: sparkd version\n\nPrints the version, the git commit and the library versions.\n");
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "usage: sparkd version\n");
    return 2;
  }
  printf("sparkd %s (commit %s)\n", SPARKD_VERSION, SPARKD_GIT_COMMIT);
  printf("libmicrohttpd %s\njansson %s\nlibpq %s\n%s\n", MHD_get_version(), jansson_version_str(), db_libpq_version(),
         OpenSSL_version(OPENSSL_VERSION));
  return 0;
}
