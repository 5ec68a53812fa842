#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "partner/delivery.h"
#include "service/server.h"
#include "util/log.h"

static void usage(FILE *out) {
  fprintf(out, "usage: sparkd serve\n\n"
               "Serves the HTTP API until SIGTERM or SIGINT. Configuration comes from the environment:\n\n");
  for (size_t i = 0; i < util_config_table_len; i++)
    fprintf(out, "  %-28s %s (default: %s)\n", util_config_table[i].env, util_config_table[i].help,
            *util_config_table[i].def ? util_config_table[i].def : "computed");
}

int cli_cmd_serve(int argc, char **argv, const struct util_config *cfg) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "sparkd serve: unexpected argument '%s'\n", argv[1]);
    usage(stderr);
    return 2;
  }
  /* libcurl's global set-up (webhook delivery) runs before svc_serve starts any thread */
  char why[512];
  if (!partner_http_global_init(why, sizeof why)) {
    fprintf(stderr, "sparkd serve: %s\n", why);
    return 1;
  }
  static struct svc_server srv; /* lives as long as the process */
  srv.cfg = *cfg;
  int rc = svc_serve(&srv);
  partner_http_global_cleanup();
  return rc;
}
