/* The one registry of prepared statements (STYLE rule 8).
 *
 * The registry is append-only: entries below `count` never change, so a reader takes the count
 * under the lock and then reads those entries without it. Each connection remembers which entries
 * it has prepared; a new connection prepares them all, and one that failed to prepare (say its
 * table did not exist before the migrations ran) is prepared again on first use. */
#include <string.h>

#include "db/areas.h"
#include "db/internal.h"

/* Statements the db layer itself needs. */
static const struct db_statement core_statements[] = {
    {"sparkd_ping", "SELECT 1 AS one"},
};

/* Every area's statements, registered together before the first connection: a new db/<area>.c
 * adds one line here (its array is declared in db/areas.h). */
static const struct {
  const struct db_statement *v;
  const size_t *n;
} areas[] = {
    {core_statements, NULL},
    {db_markets_statements, &db_markets_statements_n},
    {db_savings_statements, &db_savings_statements_n},
    {db_liquidity_statements, &db_liquidity_statements_n},
    {db_accounts_statements, &db_accounts_statements_n},
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct db_statement registry[DB_MAX_STATEMENTS];
static size_t reg_count;
static bool reg_seeded;

/* Called with reg_mu held: adds the core statements once. */
static void seed_locked(void) {
  if (reg_seeded) return;
  reg_seeded = true;
  for (size_t a = 0; a < sizeof areas / sizeof areas[0]; a++) {
    size_t n = areas[a].n ? *areas[a].n : sizeof core_statements / sizeof core_statements[0];
    for (size_t i = 0; i < n && reg_count < DB_MAX_STATEMENTS; i++)
      registry[reg_count++] = areas[a].v[i];
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
  int rc = 0;
  if (reg_count + n > DB_MAX_STATEMENTS) rc = -1;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (!stmts[i].name || !stmts[i].sql || !stmts[i].name[0]) rc = -1;
    for (size_t j = 0; j < reg_count && rc == 0; j++)
      if (strcmp(registry[j].name, stmts[i].name) == 0) rc = -1;
    for (size_t j = 0; j < i && rc == 0; j++)
      if (strcmp(stmts[j].name, stmts[i].name) == 0) rc = -1;
  }
  if (rc == 0)
    for (size_t i = 0; i < n; i++)
      registry[reg_count++] = stmts[i];
  pthread_mutex_unlock(&reg_mu);
  if (rc != 0) db_log(DB_LOG_ERROR, "statement registration refused (duplicate or bad name, or registry full)");
  return rc;
}

size_t db_statements_count(void) { return snapshot_count(); }

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
  size_t n = snapshot_count();
  memset(c->prepared, 0, sizeof c->prepared);
  for (size_t i = 0; i < n && c->pg; i++)
    if (db_stmt_prepare(c, (int)i, DB_LOG_DEBUG) != DB_OK)
      db_log(DB_LOG_WARN, "statement %s not prepared on connect (retried on first use): %s", registry[i].name,
             c->errmsg);
  db_clear_error(c);
}
