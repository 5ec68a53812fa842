/* The one registry of prepared statements (STYLE rule 8).
 *
 * Every area of db/ defines its statements in an array in db/<area>.c and DB_AREAS below lists the
 * areas. The registry is seeded from that list on its first use; the list is fixed at build time,
 * so every statement is known before the first connection and prepared on every new one, and no
 * caller has to remember to register anything.
 *
 * The registry is append-only: entries below `count` never change, so a reader takes the count
 * under the lock and then reads those entries without it. Each connection remembers which entries
 * it has prepared; a new connection prepares them all, and one that failed to prepare (say its
 * table did not exist before the migrations ran) is prepared again on first use. */
#include <stdio.h>
#include <string.h>

#include "db/internal.h"

/* Statements the db layer itself needs. */
static const struct db_statement db_core_statements[] = {
    {"sparkd_ping", "SELECT 1 AS one"},
};
static DB_STATEMENTS_COUNT(core);

/* Every area that holds statements, in registration order. To add an area: define
 *   const struct db_statement db_<area>_statements[] = {...};  DB_STATEMENTS_COUNT(<area>);
 * in db/<area>.c (db/internal.h has the macro) and add one X(<area>) line here. Names are
 * unique across all areas; tests/check_db_core.c prepares every entry against a migrated schema. */
#define DB_AREAS(X)                                                                                                    \
  X(keys)                                                                                                              \
  X(partner)                                                                                                           \
  X(ltv)                                                                                                               \
  X(webhooks)                                                                                                          \
  X(reserves_history)                                                                                                  \
  X(markets)                                                                                                           \
  X(savings)                                                                                                           \
  X(liquidity)                                                                                                         \
  X(accounts)                                                                                                          \
  X(portfolio)                                                                                                         \
  X(snapshot)                                                                                                          \
  X(replica)                                                                                                           \
  X(risk)                                                                                                              \
  X(index)                                                                                                             \
  X(ops)

#define DECLARE_AREA(area)                                                                                             \
  extern const struct db_statement db_##area##_statements[];                                                           \
  extern const size_t db_##area##_statements_n;
DB_AREAS(DECLARE_AREA)

#define AREA_ROW(area) {#area, db_##area##_statements, &db_##area##_statements_n},
static const struct {
  const char *area;
  const struct db_statement *stmts;
  const size_t *n;
} areas[] = {{"core", db_core_statements, &db_core_statements_n}, DB_AREAS(AREA_ROW)};
#undef AREA_ROW

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct db_statement registry[DB_MAX_STATEMENTS];
static size_t reg_count;
static bool reg_seeded;

/* Returns 0 when the n statements can be added (valid, unique names, room left); reg_mu held. */
static int check_locked(const struct db_statement *stmts, size_t n) {
  if (reg_count + n > DB_MAX_STATEMENTS) return -1;
  for (size_t i = 0; i < n; i++) {
    if (!stmts[i].name || !stmts[i].sql || !stmts[i].name[0]) return -1;
    for (size_t j = 0; j < reg_count; j++)
      if (strcmp(registry[j].name, stmts[i].name) == 0) return -1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(stmts[j].name, stmts[i].name) == 0) return -1;
  }
  return 0;
}

/* Called with reg_mu held: adds every area's statements once. */
static void seed_locked(void) {
  if (reg_seeded) return;
  reg_seeded = true;
  for (size_t a = 0; a < sizeof areas / sizeof areas[0]; a++) {
    if (check_locked(areas[a].stmts, *areas[a].n) != 0) {
      /* a duplicate name would prepare the wrong text under it; the registry test catches this */
      db_log(DB_LOG_ERROR, "statements of db area %s not registered (duplicate or bad name, or registry full)",
             areas[a].area);
      continue;
    }
    for (size_t i = 0; i < *areas[a].n; i++)
      registry[reg_count++] = areas[a].stmts[i];
  }
}

static size_t snapshot_count(void) {
  pthread_mutex_lock(&reg_mu);
  seed_locked();
  size_t n = reg_count;
  pthread_mutex_unlock(&reg_mu);
  return n;
}

int db_statements_register(const struct db_statement *stmts, size_t n) {
  pthread_mutex_lock(&reg_mu);
  seed_locked();
  int rc = check_locked(stmts, n);
  if (rc == 0)
    for (size_t i = 0; i < n; i++)
      registry[reg_count++] = stmts[i];
  pthread_mutex_unlock(&reg_mu);
  if (rc != 0) db_log(DB_LOG_ERROR, "statement registration refused (duplicate or bad name, or registry full)");
  return rc;
}

size_t db_statements_count(void) { return snapshot_count(); }

const char *db_statements_name(size_t i) { return i < snapshot_count() ? registry[i].name : NULL; }

db_status db_statements_prepare_all(db_conn *c, char *failed, size_t failed_len) {
  size_t n = snapshot_count();
  if (failed && failed_len) failed[0] = 0;
  for (size_t i = 0; i < n; i++) {
    db_status st = db_stmt_prepare(c, (int)i, DB_LOG_ERROR);
    if (st != DB_OK) {
      if (failed && failed_len) snprintf(failed, failed_len, "%s", registry[i].name);
      return st;
    }
  }
  return DB_OK;
}

int db_stmt_find(const char *name, const char **sql) {
  size_t n = snapshot_count();
  for (size_t i = 0; i < n; i++)
    if (strcmp(registry[i].name, name) == 0) {
      if (sql) *sql = registry[i].sql;
      return (int)i;
    }
  return -1;
}

db_status db_stmt_prepare(db_conn *c, int idx, int err_level) {
  if (c->prepared[idx]) return DB_OK;
  db_status st = db_pq_prepare(c, registry[idx].name, registry[idx].sql, err_level);
  if (st == DB_OK) c->prepared[idx] = 1;
  return st;
}

void db_stmt_prepare_all(db_conn *c) {
  size_t n = snapshot_count(), failed = 0, first = 0;
  char why[sizeof c->errmsg] = "";
  memset(c->prepared, 0, sizeof c->prepared);
  if (!c->pg) return;
  /* In one round trip: one each was 10 ms of every new connection (160 statements), most of a
   * small import's fixed cost. */
  const char *nm[DB_MAX_STATEMENTS], *sq[DB_MAX_STATEMENTS];
  for (size_t i = 0; i < n; i++)
    nm[i] = registry[i].name, sq[i] = registry[i].sql;
  if (db_pq_prepare_batch(c, nm, sq, n, c->prepared, &first) != DB_OK) {
    memset(c->prepared, 0, sizeof c->prepared); /* the connection failed: prepared on first use */
    failed = n, first = 0;
    memcpy(why, c->errmsg, sizeof why);
  } else if (first < n) {
    for (size_t i = 0; i < n; i++)
      failed += !c->prepared[i];
    memcpy(why, c->errmsg, sizeof why);
  }
  /* one line per connection: before the migrations ran, most statements fail alike */
  if (failed)
    db_log(DB_LOG_WARN, "%zu statement(s) not prepared on connect (retried on first use); %s: %s", failed,
           registry[first].name, why);
  db_clear_error(c);
}
