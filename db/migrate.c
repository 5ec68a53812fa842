/* The migration runner (STYLE rule 9): numbered SQL files compiled into the binary, applied in
 * order, each in its own transaction, under a session advisory lock, and recorded with a SHA-256
 * checksum in sparkd_schema_migrations. Also the schema check the service runs before serving. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/internal.h"
#include "db/migrate.h"
#include "util/vec.h"

#define LOCK_KEY "8318255655809215847" /* "sparkdmg" as a big-endian int8 */
#define CONNECT_TIMEOUT_MS 10000u
#define LOCK_TIMEOUT "300s"

static const char create_table_sql[] = "CREATE TABLE IF NOT EXISTS sparkd_schema_migrations ("
                                       " version int PRIMARY KEY,"
                                       " name text NOT NULL,"
                                       " checksum text NOT NULL,"
                                       " applied_at timestamptz NOT NULL DEFAULT now())";

static const char table_present_sql[] = "SELECT to_regclass('sparkd_schema_migrations') IS NOT NULL AS present";

static const char applied_sql[] =
    "SELECT version, name, checksum,"
    " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS applied_at"
    " FROM sparkd_schema_migrations ORDER BY version";

static const char record_sql[] =
    "INSERT INTO sparkd_schema_migrations (version, name, checksum) VALUES ($1::int, $2, $3)";

/* ---- the compiled list ---- */

struct known {
  int version;
  const char *name;
  const char *sql;
  char checksum[65];
};

static pthread_once_t known_once = PTHREAD_ONCE_INIT;
static struct known *known_list;
static unsigned known_count;
static char known_err[256];

/* Returns the leading number of a migration file name ("0001_init.sql" -> 1), or -1. */
static int name_version(const char *name) {
  long v = 0;
  const char *p = name;
  if (*p < '0' || *p > '9') return -1;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (*p - '0');
    if (v > 1000000000L) return -1;
    p++;
  }
  return *p == '_' ? (int)v : -1;
}

static void sha256_hex(const char *text, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  out[0] = '\0';
  if (!EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL)) return;
  for (unsigned i = 0; i < len && i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void load_known(void) {
  known_list = calloc(db_migrations_count ? db_migrations_count : 1, sizeof *known_list);
  if (!known_list) {
    snprintf(known_err, sizeof known_err, "out of memory");
    return;
  }
  for (unsigned i = 0; i < db_migrations_count; i++) {
    struct known *k = &known_list[i];
    k->name = db_migrations[i].name;
    k->sql = db_migrations[i].sql;
    k->version = name_version(k->name);
    if (k->version < 0 && !known_err[0])
      snprintf(known_err, sizeof known_err, "migration file %s does not start with a number and '_'", k->name);
    if (i > 0 && k->version <= known_list[i - 1].version && !known_err[0])
      snprintf(known_err, sizeof known_err, "migration %s does not follow %s in number", k->name,
               known_list[i - 1].name);
    sha256_hex(k->sql, k->checksum);
  }
  known_count = db_migrations_count;
}

/* Returns the compiled migrations, or NULL with the reason in err. */
static const struct known *known(unsigned *n, char *err, size_t err_len) {
  pthread_once(&known_once, load_known);
  if (known_err[0] || !known_list) {
    snprintf(err, err_len, "%s", known_err[0] ? known_err : "out of memory");
    return NULL;
  }
  *n = known_count;
  return known_list;
}

/* ---- what the database has ---- */

struct applied {
  int32_t version;
  char name[256];
  char checksum[80];
  char applied_at[40];
};

struct applied_list {
  struct applied *v;
  size_t n, cap;
};

static db_status collect_applied(const db_row *row, void *arg) {
  struct applied_list *l = arg;
  if (!UTIL_VEC_RESERVE(l->v, l->n, l->cap, 16)) return DB_ERROR;
  struct applied *a = &l->v[l->n];
  struct db_col cols[] = {
      {"version", DB_COL_INT32, &a->version, 0, NULL},
      {"name", DB_COL_TEXT, a->name, sizeof a->name, NULL},
      {"checksum", DB_COL_TEXT, a->checksum, sizeof a->checksum, NULL},
      {"applied_at", DB_COL_TEXT, a->applied_at, sizeof a->applied_at, NULL},
  };
  db_status st = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (st == DB_OK) l->n++;
  return st;
}

/* Reads the version table (empty when it does not exist). Returns DB_OK or the failure. */
static db_status read_applied(db_conn *c, struct applied_list *l) {
  bool present = false;
  struct db_col col = {"present", DB_COL_BOOL, &present, 0, NULL};
  db_status st = db_query_one_params(c, table_present_sql, 0, NULL, &col, 1);
  if (st != DB_OK || !present) return st;
  return db_query_params(c, applied_sql, 0, NULL, collect_applied, l, NULL);
}

static const struct known *find_known(const struct known *k, unsigned n, int version) {
  for (unsigned i = 0; i < n; i++)
    if (k[i].version == version) return &k[i];
  return NULL;
}

static const struct applied *find_applied(const struct applied_list *l, int version) {
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i].version == version) return &l->v[i];
  return NULL;
}

/* Returns the schema state of applied rows against the compiled list, with a reason in why. */
static db_schema_state compare(const struct known *k, unsigned nk, const struct applied_list *l, char *why,
                               size_t why_len) {
  for (size_t i = 0; i < l->n; i++)
    if (!find_known(k, nk, l->v[i].version)) {
      snprintf(why, why_len, "database schema is newer than this binary: migration %s is unknown to it", l->v[i].name);
      return DB_SCHEMA_AHEAD;
    }
  for (size_t i = 0; i < l->n; i++) {
    const struct known *m = find_known(k, nk, l->v[i].version);
    if (strcmp(m->checksum, l->v[i].checksum) != 0) {
      snprintf(why, why_len, "migration %s was changed after it was applied (checksum differs)", m->name);
      return DB_SCHEMA_MODIFIED;
    }
  }
  unsigned pending = 0;
  const char *first = NULL;
  for (unsigned i = 0; i < nk; i++)
    if (!find_applied(l, k[i].version)) {
      pending++;
      if (!first) first = k[i].name;
    }
  if (pending) {
    snprintf(why, why_len, "%u pending migration%s, first %s", pending, pending == 1 ? "" : "s", first);
    return DB_SCHEMA_BEHIND;
  }
  snprintf(why, why_len, "%u migration%s applied", nk, nk == 1 ? "" : "s");
  return DB_SCHEMA_CURRENT;
}

/* ---- apply ---- */

static int fail(char *err, size_t err_len, const char *what, db_conn *c) {
  snprintf(err, err_len, "%s: %s", what, c && db_last_error(c)[0] ? db_last_error(c) : "database unavailable");
  return -1;
}

static int apply_one(db_conn *c, const struct known *m, char *err, size_t err_len) {
  char what[300];
  snprintf(what, sizeof what, "migration %s failed", m->name);
  if (db_exec(c, "BEGIN") != DB_OK) return fail(err, err_len, what, c);
  char version[16];
  snprintf(version, sizeof version, "%d", m->version);
  const char *params[] = {version, m->name, m->checksum};
  if (db_exec(c, m->sql) != DB_OK || db_exec_params(c, record_sql, 3, params, NULL) != DB_OK) {
    fail(err, err_len, what, c);
    db_exec(c, "ROLLBACK");
    return -1;
  }
  if (db_exec(c, "COMMIT") != DB_OK) return fail(err, err_len, what, c);
  db_log(DB_LOG_INFO, "applied migration %s", m->name);
  return 0;
}

int db_migrate_apply(const char *conninfo, unsigned *applied, char *err, size_t err_len) {
  if (applied) *applied = 0;
  unsigned nk = 0;
  const struct known *k = known(&nk, err, err_len);
  if (!k) return -1;
  db_conn *c = db_conn_open(conninfo, CONNECT_TIMEOUT_MS, err, err_len);
  if (!c) return -1;
  int rc = -1;
  struct applied_list l = {0};
  if (db_exec(c, "SET client_min_messages = warning") != DB_OK ||
      db_exec(c, "SET lock_timeout = '" LOCK_TIMEOUT "'") != DB_OK) {
    fail(err, err_len, "cannot prepare the migration session", c);
    goto out;
  }
  /* Concurrent runs queue here; the version table is read only after the lock is held. */
  if (db_exec(c, "SELECT pg_advisory_lock(" LOCK_KEY ")") != DB_OK) {
    fail(err, err_len, "cannot take the migration lock", c);
    goto out;
  }
  if (db_exec(c, "RESET lock_timeout") != DB_OK || db_exec(c, create_table_sql) != DB_OK) {
    fail(err, err_len, "cannot create sparkd_schema_migrations", c);
    goto unlock;
  }
  if (read_applied(c, &l) != DB_OK) {
    fail(err, err_len, "cannot read sparkd_schema_migrations", c);
    goto unlock;
  }
  char why[512];
  db_schema_state s = compare(k, nk, &l, why, sizeof why);
  if (s == DB_SCHEMA_AHEAD || s == DB_SCHEMA_MODIFIED) {
    snprintf(err, err_len, "%s", why);
    goto unlock;
  }
  rc = 0;
  for (unsigned i = 0; i < nk && rc == 0; i++) {
    if (find_applied(&l, k[i].version)) continue;
    rc = apply_one(c, &k[i], err, err_len);
    if (rc == 0 && applied) (*applied)++;
  }
unlock:
  db_exec(c, "SELECT pg_advisory_unlock(" LOCK_KEY ")");
out:
  free(l.v);
  db_conn_close(c);
  return rc;
}

/* ---- status and check ---- */

static const char *state_name(db_schema_state s) {
  switch (s) {
  case DB_SCHEMA_CURRENT: return "current";
  case DB_SCHEMA_BEHIND: return "behind";
  case DB_SCHEMA_AHEAD: return "ahead";
  case DB_SCHEMA_MODIFIED: return "modified";
  case DB_SCHEMA_UNKNOWN: break;
  }
  return "unknown";
}

int db_migrate_status(const char *conninfo, FILE *out, char *err, size_t err_len) {
  unsigned nk = 0;
  const struct known *k = known(&nk, err, err_len);
  if (!k) return -1;
  db_conn *c = db_conn_open(conninfo, CONNECT_TIMEOUT_MS, err, err_len);
  if (!c) return -1;
  struct applied_list l = {0};
  int rc = 0;
  if (read_applied(c, &l) != DB_OK) {
    rc = fail(err, err_len, "cannot read sparkd_schema_migrations", c);
  } else {
    for (unsigned i = 0; i < nk; i++) {
      const struct applied *a = find_applied(&l, k[i].version);
      if (!a)
        fprintf(out, "%-40s pending\n", k[i].name);
      else if (strcmp(a->checksum, k[i].checksum) != 0)
        fprintf(out, "%-40s applied %s (modified since: checksum differs)\n", k[i].name, a->applied_at);
      else
        fprintf(out, "%-40s applied %s\n", k[i].name, a->applied_at);
    }
    for (size_t i = 0; i < l.n; i++)
      if (!find_known(k, nk, l.v[i].version))
        fprintf(out, "%-40s applied %s (unknown to this binary)\n", l.v[i].name, l.v[i].applied_at);
    char why[512];
    db_schema_state s = compare(k, nk, &l, why, sizeof why);
    fprintf(out, "schema %s: %s\n", state_name(s), why);
  }
  free(l.v);
  db_conn_close(c);
  return rc;
}

db_schema_state db_schema_check(db_pool *pool, char *why, size_t why_len) {
  char tmp[512];
  if (!why) {
    why = tmp;
    why_len = sizeof tmp;
  }
  unsigned nk = 0;
  const struct known *k = known(&nk, why, why_len);
  if (!k) return DB_SCHEMA_UNKNOWN;
  pthread_mutex_lock(&pool->mu);
  unsigned wait = pool->wait_ms;
  pthread_mutex_unlock(&pool->mu);
  db_conn *c = db_acquire(pool, wait);
  if (!c) {
    snprintf(why, why_len, "database unavailable");
    return DB_SCHEMA_UNKNOWN;
  }
  struct applied_list l = {0};
  db_schema_state s;
  if (read_applied(c, &l) != DB_OK) {
    snprintf(why, why_len, "cannot read sparkd_schema_migrations: %s", db_last_error(c));
    s = DB_SCHEMA_UNKNOWN;
  } else {
    s = compare(k, nk, &l, why, why_len);
  }
  free(l.v);
  db_release(c);
  return s;
}
