/* GET /v1/risk/partner-ltv (scope ops, or admin): the partner LTV positions of every partner, for
 * a risk team. Each partner's positions counted by the state of their latest record, and one
 * page of positions, ordered by (partner, position), each with its state, LTV, thresholds,
 * values, record time and price staleness. Read only; no attestation contents, no signatures,
 * nothing a partner's own key guards beyond these figures. A partner key is 403 (scopes are
 * exact). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/ops.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "service/request.h"
#include "service/server.h"
#include "util/cursor.h"
#include "util/dec.h"
#include "views/ops_json.h"

#define OPS_LTV_DEFAULT_LIMIT 100
#define OPS_LTV_MAX_LIMIT 500
#define OPS_LTV_CURSOR_TAG 'l'

struct partners {
  struct view_ops_ltv_partner *v;
  size_t n, cap;
};

static db_status partner_row(const db_row *row, void *arg) {
  struct partners *ps = arg;
  if (ps->n == ps->cap) {
    size_t cap = ps->cap ? 2 * ps->cap : 16;
    void *v = realloc(ps->v, cap * sizeof *ps->v);
    if (!v) return DB_ERROR;
    ps->v = v;
    ps->cap = cap;
  }
  struct view_ops_ltv_partner *p = &ps->v[ps->n++];
  memset(p, 0, sizeof *p);
  struct db_col cols[] = {
      {"partner_id", DB_COL_INT64, &p->partner_id, 0, NULL},
      {"name", DB_COL_TEXT, p->name, sizeof p->name, NULL},
      {"positions", DB_COL_INT64, &p->positions, 0, NULL},
      {"healthy", DB_COL_INT64, &p->healthy, 0, NULL},
      {"warning", DB_COL_INT64, &p->warning, 0, NULL},
      {"margin_call", DB_COL_INT64, &p->margin_call, 0, NULL},
      {"liquidation", DB_COL_INT64, &p->liquidation, 0, NULL},
      {"stale", DB_COL_INT64, &p->stale, 0, NULL},
      {"no_record", DB_COL_INT64, &p->no_record, 0, NULL},
      {"not_recomputable", DB_COL_INT64, &p->not_recomputable, 0, NULL},
  };
  return db_row_get(row, cols, sizeof cols / sizeof cols[0]);
}

struct positions {
  struct view_ops_ltv_position *v;
  size_t n, cap;
};

static db_status position_row(const db_row *row, void *arg) {
  struct positions *ps = arg;
  if (ps->n == ps->cap) return DB_ERROR; /* the query's LIMIT is cap */
  struct view_ops_ltv_position *p = &ps->v[ps->n++];
  memset(p, 0, sizeof *p);
  bool no_seq, no_oldest, no_att, no_nr, no_reason;
  char coll[80], weighted[80], debt[80];
  struct db_col cols[] = {
      {"partner_id", DB_COL_INT64, &p->partner_id, 0, NULL},
      {"partner", DB_COL_TEXT, p->partner, sizeof p->partner, NULL},
      {"position_id", DB_COL_INT64, &p->position_id, 0, NULL},
      {"external_id", DB_COL_TEXT, p->external_id, sizeof p->external_id, NULL},
      {"borrower", DB_COL_TEXT, p->borrower, sizeof p->borrower, NULL},
      {"custodian", DB_COL_TEXT, p->custodian, sizeof p->custodian, NULL},
      {"warning_bps", DB_COL_INT64, &p->warning_bps, 0, NULL},
      {"margin_call_bps", DB_COL_INT64, &p->margin_call_bps, 0, NULL},
      {"liquidation_bps", DB_COL_INT64, &p->liquidation_bps, 0, NULL},
      {"return_to_bps", DB_COL_INT64, &p->return_to_bps, 0, NULL},
      {"max_price_staleness_seconds", DB_COL_INT64, &p->max_staleness_s, 0, NULL},
      {"sequence", DB_COL_INT64, &p->sequence, 0, &no_seq},
      {"state", DB_COL_INT64, &p->state, 0, &no_seq},
      {"ltv_bps", DB_COL_INT64, &p->ltv_bps, 0, &no_seq},
      {"raw_ltv_bps", DB_COL_INT64, &p->raw_ltv_bps, 0, &no_seq},
      {"collateral_value", DB_COL_TEXT, coll, sizeof coll, &no_seq},
      {"weighted_value", DB_COL_TEXT, weighted, sizeof weighted, &no_seq},
      {"debt_value", DB_COL_TEXT, debt, sizeof debt, &no_seq},
      {"as_of", DB_COL_INT64, &p->as_of, 0, &no_seq},
      {"call_since", DB_COL_INT64, &p->call_since, 0, &no_seq},
      {"cure_deadline", DB_COL_INT64, &p->cure_deadline, 0, &no_seq},
      {"oldest_price_ts", DB_COL_INT64, &p->oldest_price_ts, 0, &no_oldest},
      {"attestation_as_of", DB_COL_INT64, &p->attestation_as_of, 0, &no_att},
      {"not_recomputable_since", DB_COL_INT64, &p->not_recomputable_since, 0, &no_nr},
      {"not_recomputable_reason", DB_COL_TEXT, p->not_recomputable_reason, sizeof p->not_recomputable_reason,
       &no_reason},
  };
  db_status st = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  if (st != DB_OK) return st;
  /* every record column is NOT NULL in partner_ltv_latest: one NULL means no record (left join) */
  no_seq = db_row_text(row, 11) == NULL;
  p->has_record = !no_seq;
  p->has_oldest_price = !no_oldest;
  p->has_attestation = !no_att;
  p->not_recomputable = !no_nr;
  if (p->has_record && (u256_from_dec(&p->collateral_value, coll, strlen(coll)) != RISK_OK ||
                        u256_from_dec(&p->weighted_value, weighted, strlen(weighted)) != RISK_OK ||
                        u256_from_dec(&p->debt_value, debt, strlen(debt)) != RISK_OK))
    return DB_ERROR;
  return DB_OK;
}

struct read_arg {
  struct partners *ps;
  struct positions *pos;
  int64_t after, limit;
};
static db_status read_all(db_conn *conn, void *arg) {
  struct read_arg *a = arg;
  a->ps->n = a->pos->n = 0; /* a retried transaction starts over */
  db_status st = db_ops_partner_ltv_summary(conn, partner_row, a->ps);
  return st == DB_OK ? db_ops_partner_ltv_positions(conn, a->after, a->limit, position_row, a->pos) : st;
}

enum svc_handler_result handler_risk_partner_ltv_list(struct svc_request *req) {
  json_t *errors = json_array();
  const char *q_limit = svc_req_query(req, "limit"), *q_cursor = svc_req_query(req, "cursor");
  int64_t limit = OPS_LTV_DEFAULT_LIMIT, after = 0;
  if (q_limit && (!util_parse_i64(q_limit, &limit) || limit < 1 || limit > OPS_LTV_MAX_LIMIT))
    json_array_append_new(errors, svc_field_error("limit", "out_of_range", "must be an integer from 1 to 500"));
  if (q_cursor && (!util_cursor_parse(q_cursor, OPS_LTV_CURSOR_TAG, &after) || after < 1))
    json_array_append_new(errors, svc_field_error("cursor", "invalid_cursor", "is not a cursor this service returned"));
  if (json_array_size(errors))
    return svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter, errors, "%zu query parameter(s) are invalid",
                                    json_array_size(errors));
  json_decref(errors);
  struct partners ps = {0};
  struct positions pos = {calloc((size_t)limit + 1, sizeof *pos.v), 0, (size_t)limit + 1};
  if (!pos.v) return SVC_HANDLER_FATAL;
  /* one snapshot for both reads, so the counts and the page agree */
  struct read_arg a = {&ps, &pos, after, limit + 1};
  const struct db_txn_opts opts = {DB_ISO_REPEATABLE_READ, true, 0};
  db_status st = db_run_txn_ex(req->srv->read_pool, &opts, read_all, &a);
  enum svc_handler_result res;
  if (st != DB_OK) {
    res = svc_reply_problem(req, SVC_ERR_database_unavailable, "the ltv records could not be read; retry shortly");
  } else {
    char cursor[64];
    bool more = pos.n > (size_t)limit; /* one row more than asked */
    if (more) {
      pos.n = (size_t)limit;
      util_cursor_make(OPS_LTV_CURSOR_TAG, pos.v[pos.n - 1].position_id, cursor);
    }
    struct jw w = {0};
    view_ops_partner_ltv(&w, (int64_t)time(NULL), ps.v, ps.n, pos.v, pos.n, more ? cursor : NULL);
    if (w.oom) {
      jw_free(&w);
      res = SVC_HANDLER_FATAL;
    } else {
      res = svc_reply_take(req, 200, "application/json", w.buf, w.len);
    }
  }
  free(ps.v);
  free(pos.v);
  return res;
}
