/* Numbered SQL migrations compiled into the binary (migrations/NNNN_name.sql, STYLE rule 9). */
#ifndef SPARKD_DB_MIGRATE_H
#define SPARKD_DB_MIGRATE_H

#include <stdbool.h>
#include <stdio.h>

struct db_migration {
  const char *name; /* file name, e.g. "0001_init.sql"; the leading number orders them */
  const char *sql;  /* file text */
};
/* Generated at build time from the migrations folder (cmake/embed_migrations.cmake). */
extern const struct db_migration db_migrations[];
extern const unsigned db_migrations_count;

/* Applies every pending migration on conninfo, each in its own transaction, under a
 * session advisory lock so concurrent runs serialise; records name, checksum (SHA-256 hex)
 * and time in sparkd_schema_migrations. Returns 0 on success; on failure writes one line
 * to err and returns -1. An applied migration whose checksum differs is an error. */
int db_migrate_apply(const char *conninfo, unsigned *applied, char *err, size_t err_len);
/* Prints one line per migration (applied with time, or pending) to out; returns 0, or -1 with err. */
int db_migrate_status(const char *conninfo, FILE *out, char *err, size_t err_len);

#endif
