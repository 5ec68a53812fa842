/* Running statements and reading results: the only file that touches PGresult (STYLE rule 6).
 * Every PGresult is cleared before the function that made it returns; rows reach callers through
 * db_row_get, which copies them into typed destinations.
 *
 * SQLSTATE decides what a failure means (STYLE rule 7): 40001/40P01 -> DB_RETRY, 23505 ->
 * DB_CONFLICT, a lost connection (or class 08 / 57P01-57P03) -> DB_UNAVAILABLE, anything else ->
 * DB_ERROR with its cause logged. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db/internal.h"

struct db_row {
  PGresult *r;
  int row;
  db_conn *c;
};

void db_clear_error(db_conn *c) {
  c->sqlstate[0] = '\0';
  c->errmsg[0] = '\0';
}

const char *db_last_sqlstate(const db_conn *c) { return c ? c->sqlstate : ""; }

const char *db_last_error(const db_conn *c) { return c ? c->errmsg : ""; }

static void record(db_conn *c, const char *state, const char *msg) {
  snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
  snprintf(c->errmsg, sizeof c->errmsg, "%s", msg ? msg : "");
  db_one_line(c->errmsg);
}

static void count(db_conn *c, db_status st) {
  if (!c->pool) return;
  if (st == DB_ERROR)
    atomic_fetch_add(&c->pool->errors, 1);
  else if (st == DB_UNAVAILABLE)
    atomic_fetch_add(&c->pool->unavailable, 1);
}

/* Returns the status of result r (NULL: libpq failed to produce one); does not clear r. A failure
 * is added to the pool's gauges when counted. */
static db_status classify_ex(db_conn *c, const PGresult *r, const char *what, int err_level, bool counted) {
  if (r) {
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK || es == PGRES_EMPTY_QUERY) {
      db_clear_error(c);
      return DB_OK;
    }
  }
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!msg) msg = c->pg ? PQerrorMessage(c->pg) : "not connected";
  record(c, state, msg);
  db_status st;
  if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
    st = DB_UNAVAILABLE;
  else if (!state)
    st = DB_ERROR;
  else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
    st = DB_RETRY;
  else if (strcmp(state, "23505") == 0)
    st = DB_CONFLICT;
  else if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
           strcmp(state, "57P03") == 0)
    st = DB_UNAVAILABLE;
  else
    st = DB_ERROR;
  if (counted) count(c, st);
  switch (st) {
  case DB_RETRY:
  case DB_CONFLICT: db_log(DB_LOG_DEBUG, "%.120s: %s %s", what, c->sqlstate, c->errmsg); break;
  case DB_UNAVAILABLE:
    db_log(DB_LOG_WARN, "%.120s: database unavailable: %s%s%s", what, c->sqlstate, c->sqlstate[0] ? " " : "",
           c->errmsg);
    break;
  default: db_log(err_level, "%.120s: %s%s%s", what, c->sqlstate, c->sqlstate[0] ? " " : "", c->errmsg); break;
  }
  return st;
}

static db_status classify(db_conn *c, const PGresult *r, const char *what, int err_level) {
  return classify_ex(c, r, what, err_level, true);
}

db_status db_pq_prepare(db_conn *c, const char *name, const char *sql, int err_level) {
  /* the attempt on connect (DB_LOG_DEBUG) is no caller's outcome: it is retried, and counted, on first use */
  bool counted = err_level != DB_LOG_DEBUG;
  if (!c->pg) return classify_ex(c, NULL, name, err_level, counted);
  PGresult *r = PQprepare(c->pg, name, sql, 0, NULL);
  db_status st = classify_ex(c, r, name, err_level, counted);
  PQclear(r);
  return st;
}

db_status db_pq_prepare_batch(db_conn *c, const char *const *names, const char *const *sqls, size_t n,
                              unsigned char *ok, size_t *first_failed) {
  *first_failed = n;
  memset(ok, 0, n);
  if (!c->pg) return classify_ex(c, NULL, "prepare", DB_LOG_DEBUG, false);
  if (PQenterPipelineMode(c->pg) != 1) return classify_ex(c, NULL, "prepare", DB_LOG_DEBUG, false);
  /* A sync after each statement: a failure aborts only its own statement, not the ones after it. */
  size_t sent = 0;
  while (sent < n && PQsendPrepare(c->pg, names[sent], sqls[sent], 0, NULL) == 1 && PQpipelineSync(c->pg) == 1)
    sent++;
  db_status st = sent == n ? DB_OK : classify_ex(c, NULL, "prepare", DB_LOG_DEBUG, false);
  char why[sizeof c->errmsg] = "", state[sizeof c->sqlstate] = "";
  /* Results come per statement (its result, then NULL) and per sync (PGRES_PIPELINE_SYNC). */
  for (size_t i = 0, syncs = 0; syncs < sent;) {
    PGresult *r = PQgetResult(c->pg);
    if (!r) {
      if (PQstatus(c->pg) != CONNECTION_OK) {
        st = classify_ex(c, NULL, "prepare", DB_LOG_DEBUG, false);
        break;
      }
      continue;
    }
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_PIPELINE_SYNC) {
      syncs++;
    } else if (i < sent) {
      if (es == PGRES_COMMAND_OK) {
        ok[i] = 1;
      } else if (*first_failed == n) {
        *first_failed = i;
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), *q = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(why, sizeof why, "%s", m ? m : "prepare failed");
        snprintf(state, sizeof state, "%s", q ? q : "");
      }
      i++;
    }
    PQclear(r);
  }
  if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(c->pg) != 1 && st == DB_OK)
    st = classify_ex(c, NULL, "prepare", DB_LOG_DEBUG, false);
  if (st == DB_OK && *first_failed < n) record(c, state, why);
  return st;
}

enum kind { K_SIMPLE, K_PARAMS, K_PREPARED };

/* Runs one statement. Returns DB_OK with *out set to the result (the caller clears it), or the
 * failure status with *out NULL. */
static db_status execute(db_conn *c, enum kind k, const char *text, unsigned n, const char *const *params,
                         PGresult **out) {
  *out = NULL;
  if (!c) return DB_UNAVAILABLE;
  if (!c->pg) return classify(c, NULL, text, DB_LOG_ERROR);
  PGresult *r = NULL;
  db_status st;
  if (k == K_SIMPLE) {
    r = PQexec(c->pg, text);
  } else if (k == K_PARAMS) {
    r = PQexecParams(c->pg, text, (int)n, NULL, params, NULL, NULL, 0);
  } else {
    const char *sql = NULL;
    int idx = db_stmt_find(text, &sql);
    if (idx < 0) {
      record(c, "", "unknown prepared statement");
      db_log(DB_LOG_ERROR, "%s: no such statement in the registry", text);
      count(c, DB_ERROR);
      return DB_ERROR;
    }
    if (c->pipelined) {
      /* queued; db_pipeline_end reads its results. A statement not prepared yet is prepared in
       * the same pipeline (a pool that prepares on first use runs one statement many times in a
       * block's pipeline: a price per asset); if that fails, so does the pipeline, and
       * db_pipeline_end forgets what this connection had prepared. */
      if (!c->prepared[idx]) {
        if (PQsendPrepare(c->pg, text, sql, 0, NULL) != 1) return classify(c, NULL, text, DB_LOG_ERROR);
        c->prepared[idx] = 1;
        c->pipe_prep_idx[c->pipe_n_prep] = (unsigned short)idx;
        c->pipe_prep_at[c->pipe_n_prep++] = c->pipe_cmds++;
      }
      if (PQsendQueryPrepared(c->pg, text, (int)n, params, NULL, NULL, 0) != 1)
        return classify(c, NULL, text, DB_LOG_ERROR);
      c->pipe_cmds++;
      return DB_OK;
    }
    if ((st = db_stmt_prepare(c, idx, DB_LOG_ERROR)) != DB_OK) return st;
    r = PQexecPrepared(c->pg, text, (int)n, params, NULL, NULL, 0);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "26000") == 0) { /* the session lost it (DISCARD ALL): prepare again */
      PQclear(r);
      c->prepared[idx] = 0;
      if ((st = db_stmt_prepare(c, idx, DB_LOG_ERROR)) != DB_OK) return st;
      r = PQexecPrepared(c->pg, text, (int)n, params, NULL, NULL, 0);
    }
  }
  st = classify(c, r, text, DB_LOG_ERROR);
  if (st != DB_OK) {
    PQclear(r);
    return st;
  }
  *out = r;
  return DB_OK;
}

static uint64_t affected_rows(const PGresult *r) {
  const char *t = PQcmdTuples((PGresult *)r);
  return t && *t ? strtoull(t, NULL, 10) : 0;
}

static db_status run_exec(db_conn *c, enum kind k, const char *text, unsigned n, const char *const *params,
                          uint64_t *affected) {
  PGresult *r;
  db_status st = execute(c, k, text, n, params, &r);
  if (affected) *affected = st == DB_OK && r ? affected_rows(r) : 0; /* r NULL: pipelined */
  PQclear(r);
  return st;
}

static db_status run_query(db_conn *c, enum kind k, const char *text, unsigned n, const char *const *params,
                           db_row_fn fn, void *arg, uint64_t *nrows) {
  PGresult *r;
  db_status st = execute(c, k, text, n, params, &r);
  if (nrows) *nrows = 0;
  if (st != DB_OK) return st;
  int rows = PQntuples(r);
  if (nrows) *nrows = (uint64_t)rows;
  for (int i = 0; i < rows && fn && st == DB_OK; i++) {
    struct db_row row = {r, i, c};
    st = fn(&row, arg);
  }
  PQclear(r);
  return st;
}

static db_status run_one(db_conn *c, enum kind k, const char *text, unsigned n, const char *const *params,
                         const struct db_col *cols, size_t ncols) {
  PGresult *r;
  db_status st = execute(c, k, text, n, params, &r);
  if (st != DB_OK) return st;
  int rows = PQntuples(r);
  if (rows == 0) {
    st = DB_NO_ROWS;
  } else if (rows > 1) {
    db_log(DB_LOG_ERROR, "%.120s: expected one row, got %d", text, rows);
    record(c, "", "more than one row");
    count(c, DB_ERROR);
    st = DB_ERROR;
  } else {
    struct db_row row = {r, 0, c};
    st = db_row_get(&row, cols, ncols);
  }
  PQclear(r);
  return st;
}

db_status db_pipeline_begin(db_conn *c) {
  if (!c) return DB_UNAVAILABLE;
  if (!c->pg) return classify(c, NULL, "pipeline", DB_LOG_ERROR);
  if (PQenterPipelineMode(c->pg) != 1) return classify(c, NULL, "pipeline", DB_LOG_ERROR);
  c->pipelined = true;
  c->pipe_cmds = c->pipe_n_prep = 0;
  return DB_OK;
}

db_status db_pipeline_end(db_conn *c) {
  if (!c || !c->pipelined) return DB_ERROR;
  db_status first = DB_OK;
  if (PQpipelineSync(c->pg) != 1) first = classify(c, NULL, "pipeline", DB_LOG_ERROR);
  /* the statements prepared in this pipeline count as prepared once their result says so */
  for (unsigned j = 0; j < c->pipe_n_prep; j++)
    c->prepared[c->pipe_prep_idx[j]] = 0;
  unsigned cmd = 0, next_prep = 0;
  /* Each command's results end with a NULL; the run ends with the sync's result. A lost
   * connection gives an error result, then NULLs. */
  for (bool done = first != DB_OK; !done;) {
    PGresult *r = PQgetResult(c->pg);
    if (!r) {
      if (PQstatus(c->pg) != CONNECTION_OK) {
        if (first == DB_OK) first = classify(c, NULL, "pipeline", DB_LOG_ERROR);
        break;
      }
      cmd++;
      continue;
    }
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_PIPELINE_SYNC) {
      done = true;
    } else if (es != PGRES_PIPELINE_ABORTED && first == DB_OK) {
      first = classify(c, r, "pipelined statement", DB_LOG_ERROR);
      const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      if (state && strcmp(state, "26000") == 0) /* the session lost its statements (DISCARD ALL) */
        memset(c->prepared, 0, sizeof c->prepared);
    }
    while (next_prep < c->pipe_n_prep && c->pipe_prep_at[next_prep] < cmd)
      next_prep++;
    if (next_prep < c->pipe_n_prep && c->pipe_prep_at[next_prep] == cmd && es == PGRES_COMMAND_OK)
      c->prepared[c->pipe_prep_idx[next_prep]] = 1;
    PQclear(r);
  }
  c->pipelined = false;
  if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(c->pg) != 1 && first == DB_OK)
    first = classify(c, NULL, "pipeline", DB_LOG_ERROR);
  return first;
}

db_status db_exec(db_conn *c, const char *sql) { return run_exec(c, K_SIMPLE, sql, 0, NULL, NULL); }

db_status db_exec_params(db_conn *c, const char *sql, unsigned n, const char *const *params, uint64_t *affected) {
  return run_exec(c, K_PARAMS, sql, n, params, affected);
}

db_status db_exec_prepared(db_conn *c, const char *name, unsigned n, const char *const *params, uint64_t *affected) {
  return run_exec(c, K_PREPARED, name, n, params, affected);
}

db_status db_query_params(db_conn *c, const char *sql, unsigned n, const char *const *params, db_row_fn fn, void *arg,
                          uint64_t *nrows) {
  return run_query(c, K_PARAMS, sql, n, params, fn, arg, nrows);
}

db_status db_query_prepared(db_conn *c, const char *name, unsigned n, const char *const *params, db_row_fn fn,
                            void *arg, uint64_t *nrows) {
  return run_query(c, K_PREPARED, name, n, params, fn, arg, nrows);
}

db_status db_query_one_params(db_conn *c, const char *sql, unsigned n, const char *const *params,
                              const struct db_col *cols, size_t ncols) {
  return run_one(c, K_PARAMS, sql, n, params, cols, ncols);
}

db_status db_query_one_prepared(db_conn *c, const char *name, unsigned n, const char *const *params,
                                const struct db_col *cols, size_t ncols) {
  return run_one(c, K_PREPARED, name, n, params, cols, ncols);
}

/* ---- copying rows out ---- */

const char *db_row_text(const db_row *row, unsigned i) {
  if ((int)i >= PQnfields(row->r) || PQgetisnull(row->r, row->row, (int)i)) return NULL;
  return PQgetvalue(row->r, row->row, (int)i);
}

static db_status bad_column(const db_row *row, const struct db_col *col, const char *why) {
  db_log(DB_LOG_ERROR, "column %s: %s", col->name, why);
  record(row->c, "", why);
  count(row->c, DB_ERROR);
  return DB_ERROR;
}

static size_t zero_size(db_col_type t) {
  switch (t) {
  case DB_COL_TEXT_DUP: return sizeof(char *);
  case DB_COL_INT64: return sizeof(int64_t);
  case DB_COL_INT32: return sizeof(int32_t);
  case DB_COL_UINT64: return sizeof(uint64_t);
  case DB_COL_BOOL: return sizeof(bool);
  case DB_COL_DOUBLE: return sizeof(double);
  case DB_COL_TEXT: break;
  }
  return 0;
}

/* The column of the result named `name`: callers list their columns mostly in SELECT order, so the
 * column after the previous one is tried first (PQfnumber copies and folds the name and scans every
 * column: for 26 columns of 10,000 rows that alone was a few tens of ms). */
static int column(const PGresult *r, const char *name, int guess) {
  if (guess < PQnfields(r)) {
    const char *g = PQfname(r, guess);
    if (g && strcmp(g, name) == 0) return guess;
  }
  return PQfnumber(r, name);
}

db_status db_row_get(const db_row *row, const struct db_col *cols, size_t ncols) {
  int f = -1;
  for (size_t i = 0; i < ncols; i++) {
    const struct db_col *col = &cols[i];
    f = column(row->r, col->name, f + 1);
    if (f < 0) return bad_column(row, col, "no such column in the result");
    if (PQgetisnull(row->r, row->row, f)) {
      if (!col->is_null) return bad_column(row, col, "unexpected null");
      *col->is_null = true;
      if (col->type == DB_COL_TEXT) {
        if (col->dst_len) ((char *)col->dst)[0] = '\0';
      } else {
        memset(col->dst, 0, zero_size(col->type));
      }
      continue;
    }
    if (col->is_null) *col->is_null = false;
    const char *v = PQgetvalue(row->r, row->row, f);
    size_t len = (size_t)PQgetlength(row->r, row->row, f);
    char *end = NULL;
    errno = 0;
    switch (col->type) {
    case DB_COL_TEXT:
      if (len >= col->dst_len) return bad_column(row, col, "value too long for its buffer");
      memcpy(col->dst, v, len + 1);
      break;
    case DB_COL_TEXT_DUP: {
      char *d = malloc(len + 1);
      if (!d) return bad_column(row, col, "out of memory");
      memcpy(d, v, len + 1);
      *(char **)col->dst = d;
      break;
    }
    case DB_COL_INT64:
    case DB_COL_INT32: {
      long long x = strtoll(v, &end, 10);
      if (errno || end == v || *end) return bad_column(row, col, "not an integer");
      if (col->type == DB_COL_INT32) {
        if (x < INT32_MIN || x > INT32_MAX) return bad_column(row, col, "integer out of range");
        *(int32_t *)col->dst = (int32_t)x;
      } else {
        *(int64_t *)col->dst = (int64_t)x;
      }
      break;
    }
    case DB_COL_UINT64: {
      if (*v == '-') return bad_column(row, col, "negative value");
      unsigned long long x = strtoull(v, &end, 10);
      if (errno || end == v || *end) return bad_column(row, col, "not an unsigned integer");
      *(uint64_t *)col->dst = (uint64_t)x;
      break;
    }
    case DB_COL_BOOL:
      if (strcmp(v, "t") == 0)
        *(bool *)col->dst = true;
      else if (strcmp(v, "f") == 0)
        *(bool *)col->dst = false;
      else
        return bad_column(row, col, "not a boolean");
      break;
    case DB_COL_DOUBLE: {
      double x = strtod(v, &end);
      if (end == v || *end) return bad_column(row, col, "not a number");
      *(double *)col->dst = x;
      break;
    }
    }
  }
  return DB_OK;
}
