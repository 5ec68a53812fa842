/* `sparkd migrate [--status]`: applies the compiled-in migrations, or lists their state. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "db/db.h"
#include "db/migrate.h"
#include "util/log.h"

/* db/ messages (each applied migration, connection trouble) go to the service log on stderr. */
static void db_to_util_log(int level, const char *msg) {
  util_log((enum util_log_level)level, "db: %s", msg); /* DB_LOG_* numbers match enum util_log_level */
}

static void usage(FILE *f) {
  fputs("usage: sparkd migrate [--status]\n"
        "  Applies every pending migration compiled into this binary to SPARKD_DATABASE_URL,\n"
        "  each in its own transaction, under an advisory lock (concurrent runs wait their turn).\n"
        "  --status   list each migration as applied (with time) or pending; change nothing\n"
        "  --help     show this text\n",
        f);
}

/* Returns the process exit status: 0 done, 1 failed, 2 bad usage. argv[0] is "migrate". */
int cli_cmd_migrate(int argc, char **argv, const struct util_config *cfg) {
  bool status = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--status") == 0) {
      status = true;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "sparkd migrate: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (!cfg || !cfg->database_url[0]) {
    fputs("sparkd migrate: SPARKD_DATABASE_URL is not set\n", stderr);
    return 1;
  }
  db_set_logger(db_to_util_log);
  char err[512] = "";
  if (status) {
    if (db_migrate_status(cfg->database_url, stdout, err, sizeof err) != 0) {
      fprintf(stderr, "sparkd migrate: %s\n", err);
      return 1;
    }
    return 0;
  }
  unsigned applied = 0;
  if (db_migrate_apply(cfg->database_url, &applied, err, sizeof err) != 0) {
    if (applied)
      fprintf(stderr, "sparkd migrate: applied %u migration%s before the failure\n", applied, applied == 1 ? "" : "s");
    fprintf(stderr, "sparkd migrate: %s\n", err);
    return 1;
  }
  if (applied)
    printf("applied %u migration%s; schema is current\n", applied, applied == 1 ? "" : "s");
  else
    printf("schema is current; nothing to apply (%u migration%s)\n", db_migrations_count,
           db_migrations_count == 1 ? "" : "s");
  fflush(stdout);
  return 0;
}
