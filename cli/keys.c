/* `sparkd keys create|list|revoke`: API keys. A new key is printed once on standard output; the
 * database keeps only its SHA-256 (service/auth.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "db/db.h"
#include "db/keys.h"
#include "db/migrate.h"
#include "service/auth.h"

static void usage(FILE *f) {
  fputs("usage: sparkd keys create --scope admin|ops|partner [--partner NAME]\n"
        "       sparkd keys list\n"
        "       sparkd keys revoke ID\n"
        "       sparkd keys signing-create FILE\n"
        "  create  makes a key and prints it once on standard output (only its SHA-256 is stored);\n"
        "          a partner key needs --partner (created on first use: a-z 0-9 . _ -, at most 63)\n"
        "  list    prints id, scope, partner, key prefix, created and revoked times (never a secret)\n"
        "  revoke  revokes key ID; the service refuses it within a few seconds\n"
        "  signing-create  writes a new secp256k1 LTV signing key to FILE (mode 0600) and prints its address\n"
        "  Exit status: 0 done, 1 failed, 2 bad usage.\n",
        f);
}

static bool partner_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '_' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

static db_conn *open_db(const struct util_config *cfg) {
  char err[512] = "";
  if (!cfg || !cfg->database_url[0]) {
    fputs("sparkd keys: SPARKD_DATABASE_URL is not set\n", stderr);
    return NULL;
  }
  if (cfg->migrate == UTIL_MIGRATE_AUTO && db_migrate_apply(cfg->database_url, &(unsigned){0}, err, sizeof err) != 0) {
    fprintf(stderr, "sparkd keys: %s\n", err);
    return NULL;
  }
  db_conn *c = db_conn_open(cfg->database_url, cfg->db_wait_ms ? cfg->db_wait_ms : DB_DEFAULT_WAIT_MS, err, sizeof err);
  if (!c) fprintf(stderr, "sparkd keys: %s\n", err);
  return c;
}

static int create(int argc, char **argv, const struct util_config *cfg) {
  const char *scope_name = NULL, *partner = NULL;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--scope") == 0 && i + 1 < argc) {
      scope_name = argv[++i];
    } else if (strcmp(argv[i], "--partner") == 0 && i + 1 < argc) {
      partner = argv[++i];
    } else {
      fprintf(stderr, "sparkd keys create: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  enum svc_scope scope;
  if (!scope_name || !svc_scope_parse(scope_name, &scope)) {
    fputs("sparkd keys create: --scope must be admin, ops or partner\n", stderr);
    return 2;
  }
  if ((scope == SVC_SCOPE_PARTNER) != (partner != NULL)) {
    fputs(scope == SVC_SCOPE_PARTNER ? "sparkd keys create: a partner key needs --partner NAME\n"
                                     : "sparkd keys create: --partner is only for partner keys\n",
          stderr);
    return 2;
  }
  if (partner && !partner_name_ok(partner)) {
    fputs("sparkd keys create: a partner name is 1 to 63 of a-z 0-9 . _ - (starting with a letter or digit)\n", stderr);
    return 2;
  }
  char key[SVC_KEY_LEN + 1], sha[65], prefix[9];
  if (!svc_key_generate(key, sizeof key)) {
    fputs("sparkd keys create: the random generator failed\n", stderr);
    return 1;
  }
  svc_key_sha256_hex(key, strlen(key), sha);
  snprintf(prefix, sizeof prefix, "%.8s", key);
  db_conn *c = open_db(cfg);
  if (!c) return 1;
  int64_t id = 0;
  db_status st = db_keys_create(c, svc_scope_name(scope), partner, sha, prefix, &id);
  if (st != DB_OK) {
    fprintf(stderr, "sparkd keys create: %s (%s)\n", db_status_name(st), db_last_error(c));
    db_conn_close(c);
    return 1;
  }
  db_conn_close(c);
  printf("%s\n", key);
  fflush(stdout);
  fprintf(stderr, "sparkd keys: created key %lld (scope %s%s%s); it is shown only this once\n", (long long)id,
          svc_scope_name(scope), partner ? ", partner " : "", partner ? partner : "");
  return 0;
}

static db_status list_row(const struct db_api_key_info *k, void *arg) {
  (void)arg;
  printf("%-6lld %-8s %-20s %-10s %-20s %s\n", (long long)k->key_id, k->scope, k->partner[0] ? k->partner : "-",
         k->key_prefix, k->created_at, k->revoked_at[0] ? k->revoked_at : "-");
  return DB_OK;
}

static int list(const struct util_config *cfg) {
  db_conn *c = open_db(cfg);
  if (!c) return 1;
  printf("%-6s %-8s %-20s %-10s %-20s %s\n", "ID", "SCOPE", "PARTNER", "PREFIX", "CREATED", "REVOKED");
  db_status st = db_keys_list(c, list_row, NULL);
  if (st != DB_OK) fprintf(stderr, "sparkd keys list: %s (%s)\n", db_status_name(st), db_last_error(c));
  db_conn_close(c);
  return st == DB_OK ? 0 : 1;
}

static int revoke(int argc, char **argv, const struct util_config *cfg) {
  if (argc != 3) {
    usage(stderr);
    return 2;
  }
  char *end;
  errno = 0;
  long long id = strtoll(argv[2], &end, 10);
  if (errno || *end || end == argv[2] || id <= 0) {
    fprintf(stderr, "sparkd keys revoke: '%s' is not a key id\n", argv[2]);
    return 2;
  }
  db_conn *c = open_db(cfg);
  if (!c) return 1;
  bool was_revoked = false;
  db_status st = db_keys_revoke(c, (int64_t)id, &was_revoked);
  db_conn_close(c);
  if (st == DB_NO_ROWS) {
    fprintf(stderr, "sparkd keys revoke: no key %lld\n", id);
    return 1;
  }
  if (st != DB_OK) {
    fprintf(stderr, "sparkd keys revoke: %s\n", db_status_name(st));
    return 1;
  }
  printf(was_revoked ? "key %lld was already revoked\n" : "key %lld revoked\n", id);
  return 0;
}

/* Returns the process exit status: 0 done, 1 failed, 2 bad usage. argv[0] is "keys". */
int cli_cmd_keys(int argc, char **argv, const struct util_config *cfg) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  /* `--help` anywhere (`sparkd keys create --help`) asks for the usage, which is no error */
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    }
  if (strcmp(argv[1], "create") == 0) return create(argc, argv, cfg);
  if (strcmp(argv[1], "list") == 0 && argc == 2) return list(cfg);
  if (strcmp(argv[1], "revoke") == 0) return revoke(argc, argv, cfg);
  if (strcmp(argv[1], "signing-create") == 0) return cli_cmd_keys_signing_create(argc, argv, cfg);
  fprintf(stderr, "sparkd keys: unknown subcommand '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
