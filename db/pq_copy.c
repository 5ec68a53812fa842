/* COPY FROM STDIN through libpq. Results are cleared here; nothing of PGresult leaves db/. */
#include <stdlib.h>
#include <string.h>

#include "db/copy.h"
#include "db/internal.h"

static db_status fail(db_conn *c, PGresult *r, const char *what) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!msg) msg = c->pg ? PQerrorMessage(c->pg) : "not connected";
  snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
  snprintf(c->errmsg, sizeof c->errmsg, "%s", msg);
  db_one_line(c->errmsg);
  PQclear(r);
  if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
    db_log(DB_LOG_WARN, "%s: database unavailable: %s", what, c->errmsg);
    return DB_UNAVAILABLE;
  }
  if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) return DB_RETRY;
  if (state && strcmp(state, "23505") == 0) return DB_CONFLICT;
  db_log(DB_LOG_ERROR, "%s: %s %s", what, c->sqlstate, c->errmsg);
  return DB_ERROR;
}

db_status db_copy_begin(db_conn *c, const char *sql) {
  if (!c || !c->pg) return DB_UNAVAILABLE;
  PGresult *r = PQexec(c->pg, sql);
  if (PQresultStatus(r) != PGRES_COPY_IN) return fail(c, r, "copy begin");
  PQclear(r);
  db_clear_error(c);
  return DB_OK;
}

db_status db_copy_put(db_conn *c, const char *data, size_t len) {
  while (len > 0) {
    int n = len > (1u << 30) ? (1 << 30) : (int)len;
    if (PQputCopyData(c->pg, data, n) != 1) return fail(c, NULL, "copy data");
    data += n;
    len -= (size_t)n;
  }
  return DB_OK;
}

db_status db_copy_end(db_conn *c, uint64_t *rows) {
  if (rows) *rows = 0;
  if (PQputCopyEnd(c->pg, NULL) != 1) return fail(c, NULL, "copy end");
  db_status st = DB_OK;
  PGresult *r;
  while ((r = PQgetResult(c->pg)) != NULL) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      if (st == DB_OK) {
        st = fail(c, r, "copy");
        continue; /* fail cleared r */
      }
    } else if (rows) {
      const char *t = PQcmdTuples(r);
      *rows = t && *t ? strtoull(t, NULL, 10) : 0;
    }
    PQclear(r);
  }
  if (st == DB_OK) db_clear_error(c);
  return st;
}
