/* `sparkd import FILE|- [--allow-older]`: loads `sparkd.snapshot/1` snapshots (one JSON document,
 * or NDJSON, one per line, applied in order). Each snapshot is validated completely before any of
 * it is written, then applied in one transaction (db/snapshot_apply.c). The input is parsed as it
 * is read (chain_snapshot_stream): accounts are validated one by one and spooled to a temporary
 * file, so memory does not grow with the snapshot. The first invalid or
 * refused snapshot stops the run: the ones before it stay applied, it and the rest are not. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain/snapshot.h"
#include "cli/commands.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/snapshot.h"

static void usage(FILE *f) {
  fputs("usage: sparkd import FILE|- [--allow-older]\n"
        "  Loads chain-state snapshots (format sparkd.snapshot/1, docs/snapshot.md) into\n"
        "  SPARKD_DATABASE_URL. FILE holds one snapshot or NDJSON (one per line, applied in order);\n"
        "  - reads standard input. Every snapshot is validated before anything of it is written,\n"
        "  and applied in one transaction; problems are printed one per line with their JSON path.\n"
        "  The same block again changes nothing; an older block is refused.\n"
        "  --allow-older  apply a snapshot older than the chain's last imported block\n"
        "  --help         show this text\n"
        "  Exit status: 0 all applied (or already imported), 1 a snapshot was invalid, refused or\n"
        "  could not be written, 2 bad usage.\n",
        f);
}

/* The stream's reader: the file as it comes (the document is never held whole). */
static size_t read_file(void *buf, size_t cap, void *arg) {
  FILE *f = arg;
  size_t k = fread(buf, 1, cap, f);
  return k == 0 && ferror(f) ? (size_t)-1 : k;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_errors(const char *src, unsigned line, const struct chain_snapshot_errors *e) {
  for (unsigned i = 0; i < e->n; i++)
    fprintf(stderr, "%s:%u: %s\n", src, line, e->msg[i]);
  if (e->dropped) fprintf(stderr, "%s:%u: ... and %u more problems\n", src, line, e->dropped);
}

/* Returns the process exit status: 0 done, 1 failed, 2 bad usage. argv[0] is "import". */
int cli_cmd_import(int argc, char **argv, const struct util_config *cfg) {
  const char *file = NULL;
  bool allow_older = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--allow-older") == 0) {
      allow_older = true;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "sparkd import: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    } else if (file) {
      fprintf(stderr, "sparkd import: only one input may be given\n");
      return 2;
    } else {
      file = argv[i];
    }
  }
  if (!file) {
    fputs("sparkd import: no input (give a file, or - for standard input)\n", stderr);
    usage(stderr);
    return 2;
  }
  if (!cfg || !cfg->database_url[0]) {
    fputs("sparkd import: SPARKD_DATABASE_URL is not set\n", stderr);
    return 1;
  }
  bool use_stdin = strcmp(file, "-") == 0;
  const char *src = use_stdin ? "<stdin>" : file;
  FILE *f = use_stdin ? stdin : fopen(file, "rb");
  if (!f) {
    fprintf(stderr, "sparkd import: %s: %s\n", file, strerror(errno));
    return 1;
  }
  struct chain_snapshot_stream *stream = chain_snapshot_stream_new(read_file, f);
  if (!stream) {
    fputs("sparkd import: out of memory\n", stderr);
    if (!use_stdin) fclose(f);
    return 1;
  }
#define FREE_INPUT() (chain_snapshot_stream_free(stream), use_stdin ? (void)0 : (void)fclose(f))

  char err[512] = "";
  if (cfg->migrate == UTIL_MIGRATE_AUTO && db_migrate_apply(cfg->database_url, &(unsigned){0}, err, sizeof err) != 0) {
    fprintf(stderr, "sparkd import: %s\n", err);
    FREE_INPUT();
    return 1;
  }
  db_pool *pool = db_pool_create(cfg->database_url, 1);
  if (!pool) {
    fputs("sparkd import: cannot create a database pool\n", stderr);
    FREE_INPUT();
    return 1;
  }
  db_pool_set_wait(pool, cfg->db_wait_ms ? cfg->db_wait_ms : DB_DEFAULT_WAIT_MS);
  db_pool_set_prepare_on_connect(pool, false); /* one connection, a few dozen statements */
  char why[256] = "";
  db_schema_state sch = db_schema_check(pool, why, sizeof why);
  if (sch != DB_SCHEMA_CURRENT) {
    fprintf(stderr, "sparkd import: database schema is not current (%s); run sparkd migrate\n", why);
    db_pool_destroy(pool);
    FREE_INPUT();
    return 1;
  }

  struct chain_snapshot_errors *errs = malloc(sizeof *errs);
  int rc = errs ? 0 : 1;
  unsigned count = 0, applied = 0;
  for (;;) {
    if (rc != 0) break;
    double t0 = now_s();
    memset(errs, 0, sizeof *errs);
    struct chain_snapshot *s = NULL;
    int got = chain_snapshot_stream_next(stream, &s, errs);
    if (got == 0) break;
    unsigned line = chain_snapshot_stream_line(stream);
    count++;
    if (got < 0) {
      fprintf(stderr, "sparkd import: %s:%u: read failed (input or temporary file); nothing of it written\n", src,
              line);
      rc = 1;
      break;
    }
    if (!s) {
      fprintf(stderr, "sparkd import: %s:%u: invalid snapshot, nothing of it written:\n", src, line);
      print_errors(src, line, errs);
      rc = 1;
      break;
    }
    double t1 = now_s();
    struct db_snapshot_result res;
    db_status st = db_snapshot_apply(pool, s, allow_older, &res, errs);
    double t2 = now_s();
    if (st != DB_OK) {
      fprintf(stderr, "sparkd import: %s:%u: chain %llu block %llu: database error (%s); nothing of it written\n", src,
              line, (unsigned long long)s->chain_id, (unsigned long long)s->block_number, db_status_name(st));
      rc = 1;
    } else if (res.outcome == DB_SNAPSHOT_INVALID) {
      fprintf(stderr, "sparkd import: %s:%u: invalid snapshot, nothing of it written:\n", src, line);
      print_errors(src, line, errs);
      rc = 1;
    } else if (res.outcome == DB_SNAPSHOT_OLDER) {
      fprintf(stderr,
              "sparkd import: %s:%u: chain %llu block %llu is older than the last imported block %llu;"
              " refused (--allow-older applies it)\n",
              src, line, (unsigned long long)s->chain_id, (unsigned long long)s->block_number,
              (unsigned long long)res.previous_block);
      rc = 1;
    } else if (res.outcome == DB_SNAPSHOT_SAME_BLOCK) {
      printf("chain %llu block %llu: already imported, no change\n", (unsigned long long)s->chain_id,
             (unsigned long long)s->block_number);
    } else {
      applied++;
      printf("chain %llu block %llu: applied", (unsigned long long)s->chain_id, (unsigned long long)s->block_number);
      if (s->has_accounts)
        printf(" (%s accounts: %zu written, %zu positions, %zu replaced or removed; health factor %zu computed, %zu"
               " null)",
               s->accounts_full ? "full" : "delta", res.accounts_written, res.positions_written, res.accounts_removed,
               res.hf_computed, res.hf_null);
      printf(" in %.3f s (parse %.3f s, write %.3f s)\n", t2 - t0, t1 - t0, t2 - t1);
    }
    fflush(stdout);
    chain_snapshot_free(s);
  }
  if (rc == 0 && count == 0) {
    fprintf(stderr, "sparkd import: %s: empty input\n", src);
    rc = 1;
  }
  if (rc != 0 && count > 0 && applied > 0)
    fprintf(stderr, "sparkd import: %u snapshot%s before it applied; later ones not read\n", applied,
            applied == 1 ? "" : "s");
  free(errs);
  db_pool_destroy(pool);
  FREE_INPUT();
  return rc;
}
