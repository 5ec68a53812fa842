/* LTV records of partner positions: recompute, store, history, outbox, worker (partner/ltv.h). */
#include "partner/ltv.h"
#include "util/hex.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/lease.h"
#include "db/listen.h"
#include "db/ltv.h"
#include "partner/delivery.h"
#include "partner/margin.h"
#include "partner/signer.h"
#include "risk/keccak.h"
#include "util/config.h"
#include "util/log.h"
#include "util/vec.h"
#include "views/jsonw.h"

static u256 dec(const char *s) {
  u256 r = U256_ZERO;
  if (u256_from_dec(&r, s, strlen(s)) != RISK_OK) UTIL_BUG("not a uint256: %.40s", s);
  return r;
}

/* Writes unix seconds t as RFC 3339 UTC into out[32]; returns out. */
static char *rfc3339(uint64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

static json_t *u256_json(u256 v) {
  char buf[U256_DEC_MAX];
  u256_to_dec(v, buf);
  return json_string(buf);
}

static json_t *fixed_json(u256 v, unsigned decimals) {
  char buf[U256_DEC_MAX + 2];
  u256_to_fixed(v, decimals, buf);
  return json_string(buf);
}

static json_t *time_json(uint64_t t) {
  char b[32];
  return t ? json_string(rfc3339(t, b)) : json_null();
}

/* The stored detail of a record: the inputs and per-line values, positional, with nothing that
 * can be derived when the record is served (decimal and USD renderings, RFC 3339 times):
 *   [2, position_version,
 *    [[chain_id, asset, amount, decimals, haircut_bps, price, price_ts, value, weighted_value, stale], ...],
 *    [chain_id, asset, decimals, principal, accrued, amount, apr_bps, accrual_start, price, price_ts, value, stale],
 *    [warning_bps, margin_call_bps, liquidation_bps, return_to_bps, cure_period_s, max_price_staleness_s],
 *    null | [attestation_id, as_of, custodian_reference],
 *    oldest_price_ts]
 * (uint256 values as decimal strings, times as unix seconds, 0 = none). About a third of the size
 * of the served objects, which is what the recompute writes 10,000 times per pass and what the
 * next pass reads back. partner_ltv_record_json expands it; it also still reads the objects earlier
 * versions stored. */
#define DETAIL_V2 2

static void detail_write(struct jw *w, const struct db_ltv_position *p, const struct db_ltv_line *lines,
                         const struct risk_ltv_line *rl, const struct risk_ltv_line_value *lv, size_t n,
                         const struct risk_ltv_result *r, u256 debt_price, bool debt_stale) {
  jw_arr(w);
  jw_int(w, DETAIL_V2);
  jw_int(w, p->version);
  jw_arr(w);
  for (size_t i = 0; i < n; i++) {
    jw_arr(w);
    jw_int(w, lines[i].chain_id);
    jw_str(w, lines[i].asset);
    jw_str(w, lines[i].amount);
    jw_int(w, rl[i].decimals);
    jw_int(w, rl[i].haircut_bps);
    jw_u256(w, rl[i].price);
    jw_int(w, (int64_t)rl[i].price_ts);
    jw_u256(w, lv[i].value);
    jw_u256(w, lv[i].weighted_value);
    jw_bool(w, lv[i].stale);
    jw_arr_end(w);
  }
  jw_arr_end(w);
  jw_arr(w);
  jw_int(w, p->debt_chain_id);
  jw_str(w, p->debt_asset);
  jw_int(w, p->debt_decimals);
  jw_str(w, p->principal);
  jw_u256(w, r->accrued);
  jw_u256(w, r->debt);
  jw_int(w, p->apr_bps);
  jw_int(w, p->accrual_start);
  jw_u256(w, debt_price);
  jw_int(w, (int64_t)p->debt_price_ts);
  jw_u256(w, r->debt_value);
  jw_bool(w, debt_stale);
  jw_arr_end(w);
  jw_arr(w);
  jw_int(w, p->warning);
  jw_int(w, p->margin_call);
  jw_int(w, p->liquidation);
  jw_int(w, p->return_to);
  jw_int(w, p->cure);
  jw_int(w, p->staleness);
  jw_arr_end(w);
  if (p->attestation_id) {
    jw_arr(w);
    jw_int(w, p->attestation_id);
    jw_int(w, p->attestation_as_of);
    jw_str(w, p->custodian_reference);
    jw_arr_end(w);
  } else {
    jw_null(w);
  }
  jw_int(w, (int64_t)r->oldest_price_ts);
  jw_arr_end(w);
}

/* The webhook payload of a state change (the event's "data"; docs/ltv.md, Webhooks). */
static void payload_write(struct jw *w, const struct db_ltv_position *p, int64_t seq, const struct risk_ltv_result *r,
                          uint64_t now) {
  char b[32];
  snprintf(b, sizeof b, "%lld", (long long)p->id);
  jw_obj(w);
  jw_kstr(w, "position_id", b);
  jw_kstr(w, "external_id", p->external_id);
  jw_kint(w, "sequence", seq);
  if (p->prev_state < 0)
    jw_knull(w, "previous_state");
  else
    jw_kstr(w, "previous_state", risk_ltv_state_name((enum risk_ltv_state)p->prev_state));
  jw_kstr(w, "state", risk_ltv_state_name(r->state));
  jw_kint(w, "ltv_bps", r->ltv_bps);
  jw_kint(w, "raw_ltv_bps", r->raw_ltv_bps);
  jw_kstr(w, "as_of", rfc3339(now, b));
  if (r->cure_deadline)
    jw_kstr(w, "cure_deadline", rfc3339(r->cure_deadline, b));
  else
    jw_knull(w, "cure_deadline");
  jw_obj_end(w);
}

/* A growing text buffer for the COPY rows, sent whenever it holds COPY_CHUNK bytes. */
#define COPY_CHUNK (1u << 20)
struct buf {
  char *p;
  size_t n, cap;
  bool oom;
};

static void buf_put(struct buf *b, const char *s, size_t len) {
  if (b->oom) return;
  if (!UTIL_VEC_RESERVE_N(b->p, b->n + len + 1, b->cap, 1 << 16)) {
    b->oom = true;
    return;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
}

static void buf_str(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_int(struct buf *b, long long v, char sep) {
  char t[32];
  int k = snprintf(t, sizeof t, "%lld%c", v, sep);
  buf_put(b, t, (size_t)k);
}

static void buf_u256(struct buf *b, u256 v) {
  char t[U256_DEC_MAX + 1];
  u256_to_dec(v, t);
  size_t k = strlen(t);
  t[k] = '\t';
  buf_put(b, t, k + 1);
}

/* Appends the JSON text of j escaped for COPY text format (or \N when it is empty), then sep. */
static void buf_json(struct buf *b, const struct jw *j, char sep) {
  if (j->oom) b->oom = true;
  if (j->len == 0 || j->oom) {
    buf_str(b, "\\N");
  } else {
    const char *q = j->buf, *run = q, *e = q + j->len;
    for (; q < e; q++) {
      const char *esc = *q == '\\' ? "\\\\" : *q == '\n' ? "\\n" : *q == '\r' ? "\\r" : *q == '\t' ? "\\t" : NULL;
      if (!esc) continue;
      buf_put(b, run, (size_t)(q - run));
      buf_str(b, esc);
      run = q + 1;
    }
    buf_put(b, run, (size_t)(q - run));
  }
  buf_put(b, &sep, 1);
}

/* Why the engine could not compute a record, for the partner (the served `reason`). */
static const char *not_computed_reason(risk_err e) {
  if (e == RISK_OVERFLOW) return "a value of the record does not fit 256 bits at the current prices";
  return "the position's inputs are outside what the engine accepts";
}

/* The positions a pass could not compute: flagged after the COPY, which holds the connection. */
struct failed {
  int64_t id;
  risk_err e;
};

/* The digest of a record's inputs other than the time (stored with the record as `inputs`): 32 hex
 * digits (after 0x) of the keccak-256 of their text, into out[35]. Two passes that see the same digest
 * compute the same record but for the time, which the sweep covers. */
static void inputs_digest(const struct db_ltv_position *p, const struct db_ltv_line *lines, size_t n, char out[35]) {
  struct jw w = {0};
  jw_arr(&w);
  jw_int(&w, p->partner_id);
  jw_int(&w, p->version);
  jw_int(&w, p->debt_chain_id);
  jw_str(&w, p->debt_asset);
  jw_int(&w, p->debt_decimals);
  jw_str(&w, p->principal);
  jw_int(&w, p->apr_bps);
  jw_int(&w, p->accrual_start);
  jw_str(&w, p->debt_price);
  jw_int(&w, (int64_t)p->debt_price_ts);
  jw_int(&w, p->warning);
  jw_int(&w, p->margin_call);
  jw_int(&w, p->liquidation);
  jw_int(&w, p->return_to);
  jw_int(&w, p->cure);
  jw_int(&w, p->staleness);
  jw_int(&w, p->attestation_id);
  jw_int(&w, p->attestation_as_of);
  jw_str(&w, p->custodian_reference);
  for (size_t i = 0; i < n; i++) {
    const struct db_ltv_line *l = &lines[i];
    jw_arr(&w);
    jw_int(&w, l->chain_id);
    jw_str(&w, l->asset);
    jw_str(&w, l->amount);
    jw_int(&w, l->decimals);
    jw_int(&w, l->haircut_bps);
    jw_str(&w, l->price);
    jw_int(&w, (int64_t)l->price_ts);
    jw_arr_end(&w);
  }
  jw_arr_end(&w);
  uint8_t d[32];
  if (w.oom) { /* never equal to a stored digest: the position is recomputed */
    out[0] = '\0';
  } else {
    risk_keccak256((const uint8_t *)w.buf, w.len, d);
    util_hex0x(d, 16, out);
  }
  free(w.buf);
}

static double ms_between(const struct timespec *a, const struct timespec *b) {
  return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

db_status partner_ltv_recompute(db_conn *c, int64_t position_id, uint64_t now, unsigned history_min_bps,
                                enum partner_ltv_pass pass, struct partner_ltv_stats *stats) {
  struct partner_ltv_stats st = {0};
  struct db_ltv_position *ps = NULL;
  struct db_ltv_line *lines = NULL;
  size_t nps = 0, nls = 0;
  struct buf rows = {0};
  struct jw detail = {0}, payload = {0};
  struct failed *failed = NULL;
  size_t nfailed = 0, failed_cap = 0;
  bool copying = false;
  db_status s = db_ltv_lock(c);
  struct timespec t0, t1, t2, t3, t4;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (s == DB_OK) s = db_ltv_positions(c, position_id, &ps, &nps);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (s == DB_OK) s = db_ltv_lines(c, position_id, &lines, &nls);
  clock_gettime(CLOCK_MONOTONIC, &t2);
  t3 = t4 = t2;
  if (s != DB_OK) goto out;
  /* rows stream to the server while later positions are computed */
  s = db_ltv_stage_begin(c);
  if (s != DB_OK) goto out;
  copying = true;
  size_t li = 0;
  for (size_t i = 0; i < nps; i++) {
    const struct db_ltv_position *p = &ps[i];
    while (li < nls && lines[li].position_id < p->id)
      li++;
    size_t first = li, n = 0;
    while (li + n < nls && lines[li + n].position_id == p->id)
      n++;
    li += n;
    if (n > RISK_LTV_MAX_LINES) {
      util_log(UTIL_LOG_WARN, "position %lld has %zu collateral lines; only %d are valued", (long long)p->id, n,
               RISK_LTV_MAX_LINES);
      n = RISK_LTV_MAX_LINES;
    }
    char inputs[35];
    inputs_digest(p, lines + first, n, inputs);
    if (pass == PARTNER_LTV_CHANGED_INPUTS && p->prev_state >= 0 && inputs[0] && strcmp(inputs, p->inputs) == 0) {
      st.unchanged++;
      continue;
    }
    struct risk_ltv_line rl[RISK_LTV_MAX_LINES];
    struct risk_ltv_line_value lv[RISK_LTV_MAX_LINES];
    for (size_t k = 0; k < n; k++) {
      const struct db_ltv_line *l = &lines[first + k];
      rl[k] = (struct risk_ltv_line){dec(l->amount), (unsigned)l->decimals, (uint32_t)l->haircut_bps, dec(l->price),
                                     l->price_ts};
    }
    struct risk_ltv_debt debt = {dec(p->principal),          (unsigned)p->debt_decimals, U256_ZERO,
                                 (uint64_t)p->accrual_start, dec(p->debt_price),         p->debt_price_ts};
    risk_ltv_apr_bps_to_ray(&debt.apr_ray, (uint32_t)p->apr_bps);
    struct risk_ltv_ladder lad = {(uint32_t)p->warning,   (uint32_t)p->margin_call, (uint32_t)p->liquidation,
                                  (uint32_t)p->return_to, (uint64_t)p->cure,        (uint64_t)p->staleness};
    struct risk_ltv_prev prev = {p->prev_state < 0 ? RISK_LTV_HEALTHY : (enum risk_ltv_state)p->prev_state,
                                 (uint64_t)p->call_since};
    struct risk_ltv_result r;
    risk_err e = risk_ltv_compute(&r, lv, rl, n, &debt, &lad, &prev, now);
    if (e != RISK_OK) {
      util_log(UTIL_LOG_WARN, "position %lld: ltv not computed: %s", (long long)p->id, risk_err_name(e));
      if (!UTIL_VEC_RESERVE_N(failed, nfailed + 1, failed_cap, 16)) {
        s = DB_ERROR;
        goto out;
      }
      failed[nfailed++] = (struct failed){p->id, e};
      continue;
    }
    int64_t seq = p->sequence + 1;
    bool hist = p->hist_state < 0 || (int)r.state != p->hist_state ||
                llabs((long long)r.ltv_bps - (long long)p->hist_ltv_bps) >= (long long)history_min_bps;
    bool changed = p->prev_state < 0 ? r.state != RISK_LTV_HEALTHY : (int)r.state != p->prev_state;
    if (pass == PARTNER_LTV_STATE_CHANGES && p->prev_state >= 0 && (int)r.state == p->prev_state) continue;
    payload.len = 0;
    if (changed) {
      payload_write(&payload, p, seq, &r, now);
      st.state_changes++;
    }
    buf_int(&rows, (long long)p->id, '\t');
    buf_int(&rows, (long long)p->partner_id, '\t');
    buf_int(&rows, (long long)seq, '\t');
    buf_int(&rows, (long long)r.state, '\t');
    buf_int(&rows, (long long)r.ltv_bps, '\t');
    buf_int(&rows, (long long)r.raw_ltv_bps, '\t');
    buf_u256(&rows, r.collateral_value);
    buf_u256(&rows, r.weighted_value);
    buf_u256(&rows, r.debt);
    buf_u256(&rows, r.accrued);
    buf_u256(&rows, r.debt_value);
    buf_int(&rows, (long long)now, '\t');
    buf_int(&rows, (long long)r.call_since, '\t');
    buf_int(&rows, (long long)r.cure_deadline, '\t');
    bool debt_stale =
        !u256_is_zero(r.debt) && (p->debt_price_ts > now ? p->debt_price_ts - now > RISK_LTV_FUTURE_SKEW_S
                                                         : now - p->debt_price_ts > (uint64_t)p->staleness);
    detail.len = 0;
    detail_write(&detail, p, lines + first, rl, lv, n, &r, debt.price, debt_stale);
    buf_json(&rows, &detail, '\t');
    buf_str(&rows, hist ? "t\t" : "f\t");
    buf_int(&rows, hist ? (long long)r.state : (long long)p->hist_state, '\t');
    buf_int(&rows, hist ? (long long)r.ltv_bps : (long long)p->hist_ltv_bps, '\t');
    buf_str(&rows, changed ? "t\t" : "f\t");
    buf_json(&rows, &payload, '\t');
    buf_str(&rows, inputs[0] ? inputs : "\\N");
    buf_str(&rows, "\n");
    if (rows.oom) {
      UTIL_BUG("cannot build the ltv row of position %lld", (long long)p->id);
      s = DB_ERROR;
      goto out;
    }
    if (rows.n >= COPY_CHUNK) {
      s = db_ltv_stage_put(c, rows.p, rows.n);
      rows.n = 0;
      if (s != DB_OK) goto out;
    }
    st.positions++;
    st.history += hist;
  }
  clock_gettime(CLOCK_MONOTONIC, &t3);
  s = db_ltv_stage_put(c, rows.p, rows.n);
  copying = false;
  if (s == DB_OK) s = db_ltv_stage_end(c);
  if (s == DB_OK && st.positions > 0) s = db_ltv_stage_apply(c, PARTNER_LTV_EVENT_STATE, &st.outbox);
  for (size_t i = 0; s == DB_OK && i < nfailed; i++) {
    st.reason = not_computed_reason(failed[i].e);
    s = db_ltv_not_recomputable(c, failed[i].id, now, st.reason);
  }
  st.not_recomputable = nfailed;
  clock_gettime(CLOCK_MONOTONIC, &t4);
  if (nps > 1)
    util_log(UTIL_LOG_DEBUG, "ltv recompute: positions %.1f ms, lines %.1f ms, engine+json %.1f ms, write %.1f ms",
             ms_between(&t0, &t1), ms_between(&t1, &t2), ms_between(&t2, &t3), ms_between(&t3, &t4));
out:
  if (copying) db_ltv_stage_end(c); /* leaves COPY mode; s is already an error, so the txn rolls back */
  free(rows.p);
  free(failed);
  free(detail.buf);
  free(payload.buf);
  free(ps);
  free(lines);
  if (stats) *stats = st;
  return s;
}

/* ---- serving a record ---- */

static struct partner_signer *g_signer;

const struct partner_signer *partner_ltv_signer(void) { return g_signer; }

static uint64_t jint(json_t *o, const char *k) { return (uint64_t)json_integer_value(json_object_get(o, k)); }
static const char *jstr(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "0";
}

static json_t *signature_json(const struct risk_ltv_signed *sr) {
  if (!g_signer) return json_null();
  uint8_t d[32], sig[65];
  risk_ltv_digest(sr, PARTNER_LTV_CHAIN_ID, d);
  /* signing is deterministic (RFC 6979), so every read of a record carries the same signature */
  if (!partner_signer_sign(g_signer, d, sig)) {
    util_log(UTIL_LOG_ERROR, "ltv record not signed: the signer failed");
    return json_null();
  }
  char dh[67], sh[133], pid[67];
  util_hex0x(d, 32, dh);
  util_hex0x(sig, 65, sh);
  util_hex0x(sr->position_id, 32, pid);
  char b[8][U256_DEC_MAX];
  snprintf(b[0], sizeof b[0], "%llu", (unsigned long long)sr->sequence);
  snprintf(b[1], sizeof b[1], "%llu", (unsigned long long)sr->as_of);
  snprintf(b[2], sizeof b[2], "%llu", (unsigned long long)sr->cure_deadline);
  u256_to_dec(sr->collateral_value, b[3]);
  u256_to_dec(sr->weighted_value, b[4]);
  u256_to_dec(sr->debt, b[5]);
  u256_to_dec(sr->debt_value, b[6]);
  json_t *message = json_pack("{s:s,s:s,s:I,s:I,s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "positionId", pid, "sequence", b[0],
                              "ltvBps", (json_int_t)sr->ltv_bps, "rawLtvBps", (json_int_t)sr->raw_ltv_bps, "state",
                              (int)sr->state, "collateralValue", b[3], "weightedCollateralValue", b[4], "debt", b[5],
                              "debtValue", b[6], "asOf", b[1], "cureDeadline", b[2]);
  static const char *const fields[][2] = {
      {"positionId", "bytes32"},
      {"sequence", "uint64"},
      {"ltvBps", "uint32"},
      {"rawLtvBps", "uint32"},
      {"state", "uint8"},
      {"collateralValue", "uint256"},
      {"weightedCollateralValue", "uint256"},
      {"debt", "uint256"},
      {"debtValue", "uint256"},
      {"asOf", "uint64"},
      {"cureDeadline", "uint64"},
  };
  json_t *tl = json_array();
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    json_array_append_new(tl, json_pack("{s:s,s:s}", "name", fields[i][0], "type", fields[i][1]));
  return json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s,s:i},s:s,s:{s:o},s:o}", "scheme", "eip712-secp256k1", "signer",
                   partner_signer_address(g_signer), "signature", sh, "digest", dh, "domain", "name", "sparkd",
                   "version", "1", "chainId", PARTNER_LTV_CHAIN_ID, "primary_type", "LtvRecord", "types", "LtvRecord",
                   tl, "message", message);
}

/* Element i of array a as a uint64 / a decimal string / a JSON time (0 = null). */
static uint64_t ai(const json_t *a, size_t i) { return (uint64_t)json_integer_value(json_array_get(a, i)); }
static const char *as(const json_t *a, size_t i) {
  const char *s = json_string_value(json_array_get(a, i));
  return s ? s : "0";
}

/* Expands a DETAIL_V2 array into the served objects (new references). */
static void expand_detail(const json_t *d, json_t **debt, json_t **coll, json_t **th, json_t **att, json_t **version) {
  char b[32];
  *version = json_incref(json_array_get(d, 1));
  *coll = json_array();
  const json_t *lines = json_array_get(d, 2), *l;
  size_t i;
  json_array_foreach(lines, i, l) {
    unsigned dec_n = (unsigned)ai(l, 3);
    json_array_append_new(
        *coll, json_pack("{s:I,s:s,s:s,s:i,s:o,s:i,s:s,s:o,s:s,s:o,s:s,s:o,s:b}", "chain_id", (json_int_t)ai(l, 0),
                         "asset", as(l, 1), "amount", as(l, 2), "decimals", (int)dec_n, "amount_decimal",
                         fixed_json(dec(as(l, 2)), dec_n), "haircut_bps", (int)ai(l, 4), "price_base", as(l, 5),
                         "price_updated_at", time_json(ai(l, 6)), "value_base", as(l, 7), "value_usd",
                         fixed_json(dec(as(l, 7)), 8), "weighted_value_base", as(l, 8), "weighted_value_usd",
                         fixed_json(dec(as(l, 8)), 8), "stale", json_is_true(json_array_get(l, 9))));
  }
  const json_t *x = json_array_get(d, 3);
  unsigned debt_dec = (unsigned)ai(x, 2);
  *debt =
      json_pack("{s:I,s:s,s:i,s:s,s:s,s:s,s:o,s:i,s:s,s:s,s:o,s:s,s:o,s:b}", "chain_id", (json_int_t)ai(x, 0), "asset",
                as(x, 1), "decimals", (int)debt_dec, "principal", as(x, 3), "accrued", as(x, 4), "amount", as(x, 5),
                "amount_decimal", fixed_json(dec(as(x, 5)), debt_dec), "apr_bps", (int)ai(x, 6), "accrual_start",
                rfc3339(ai(x, 7), b), "price_base", as(x, 8), "price_updated_at", time_json(ai(x, 9)), "value_base",
                as(x, 10), "value_usd", fixed_json(dec(as(x, 10)), 8), "stale", json_is_true(json_array_get(x, 11)));
  const json_t *t = json_array_get(d, 4);
  *th = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "warning_bps", (json_int_t)ai(t, 0), "margin_call_bps",
                  (json_int_t)ai(t, 1), "liquidation_bps", (json_int_t)ai(t, 2), "return_to_bps", (json_int_t)ai(t, 3),
                  "cure_period_seconds", (json_int_t)ai(t, 4), "max_price_staleness_seconds", (json_int_t)ai(t, 5));
  const json_t *a = json_array_get(d, 5);
  if (json_is_array(a)) {
    snprintf(b, sizeof b, "%llu", (unsigned long long)ai(a, 0));
    *att = json_pack("{s:s,s:o,s:s}", "id", b, "as_of", time_json(ai(a, 1)), "custodian_reference", as(a, 2));
  } else {
    *att = json_null();
  }
}

json_t *partner_ltv_record_json(const char *row_json) {
  json_error_t jerr;
  json_t *row = json_loads(row_json, 0, &jerr);
  if (!row) {
    UTIL_BUG("ltv row is not json: %s", jerr.text);
    return NULL;
  }
  json_t *detail = json_object_get(row, "detail");
  struct risk_ltv_signed sr = {0};
  const char *pid = jstr(row, "position_id");
  risk_keccak256((const uint8_t *)pid, strlen(pid), sr.position_id);
  sr.sequence = jint(row, "sequence");
  sr.ltv_bps = (uint32_t)jint(row, "ltv_bps");
  sr.raw_ltv_bps = (uint32_t)jint(row, "raw_ltv_bps");
  sr.state = (uint8_t)jint(row, "state");
  sr.collateral_value = dec(jstr(row, "collateral_value"));
  sr.weighted_value = dec(jstr(row, "weighted_value"));
  sr.debt = dec(jstr(row, "debt"));
  sr.debt_value = dec(jstr(row, "debt_value"));
  sr.as_of = jint(row, "as_of");
  sr.cure_deadline = jint(row, "cure_deadline");
  json_t *debt, *coll, *th, *att, *version;
  if (json_is_array(detail)) {
    expand_detail(detail, &debt, &coll, &th, &att, &version);
  } else { /* the served objects, as stored before DETAIL_V2 */
    debt = json_deep_copy(json_object_get(detail, "debt"));
    coll = json_deep_copy(json_object_get(detail, "collateral"));
    th = json_incref(json_object_get(detail, "thresholds"));
    att = json_incref(json_object_get(detail, "attestation"));
    version = json_incref(json_object_get(detail, "position_version"));
  }
  json_t *prices = json_array();
  size_t i;
  json_t *c;
  json_array_foreach(coll, i, c) {
    json_array_append_new(
        prices, json_pack("{s:O,s:O,s:O,s:O,s:O}", "chain_id", json_object_get(c, "chain_id"), "asset",
                          json_object_get(c, "asset"), "price_base", json_object_get(c, "price_base"), "updated_at",
                          json_object_get(c, "price_updated_at"), "stale", json_object_get(c, "stale")));
  }
  json_array_append_new(prices,
                        json_pack("{s:O,s:O,s:O,s:O,s:b}", "chain_id", json_object_get(debt, "chain_id"), "asset",
                                  json_object_get(debt, "asset"), "price_base", json_object_get(debt, "price_base"),
                                  "updated_at", json_object_get(debt, "price_updated_at"), "stale",
                                  json_is_true(json_object_get(debt, "stale"))));
  json_t *out = json_pack(
      "{s:s,s:s,s:I,s:s,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "position_id", pid,
      "external_id", jstr(row, "external_id"), "sequence", (json_int_t)sr.sequence, "state",
      risk_ltv_state_name((enum risk_ltv_state)sr.state), "ltv_bps", (json_int_t)sr.ltv_bps, "raw_ltv_bps",
      (json_int_t)sr.raw_ltv_bps, "collateral_value_base", u256_json(sr.collateral_value), "collateral_value_usd",
      fixed_json(sr.collateral_value, 8), "weighted_collateral_value_base", u256_json(sr.weighted_value),
      "weighted_collateral_value_usd", fixed_json(sr.weighted_value, 8), "debt", debt, "collateral", coll, "thresholds",
      th, "attestation", att, "prices", prices, "as_of", time_json(sr.as_of), "call_since",
      time_json(jint(row, "call_since")), "cure_deadline", time_json(sr.cure_deadline), "position_version", version);
  if (out) {
    json_t *since = json_object_get(row, "not_recomputable_since");
    json_object_set_new(out, "not_recomputable",
                        json_is_integer(since)
                            ? json_pack("{s:o,s:s}", "since", time_json((uint64_t)json_integer_value(since)), "reason",
                                        jstr(row, "not_recomputable_reason"))
                            : json_null());
    json_object_set_new(out, "signature", signature_json(&sr));
  }
  json_decref(row);
  return out;
}

/* ---- the worker ---- */

#define MAX_DIRTY 64

static struct {
  pthread_t thread;
  bool running, stop, all;
  bool imported; /* an import since the last pass: the positions whose inputs changed */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t dirty[MAX_DIRTY];
  size_t ndirty;
  bool ltv_connected; /* the sparkd_ltv listener connected once since the worker started */
  db_listener *state_l, *ltv_l;
  db_pool *pool;
  const struct util_config *cfg;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* A notification with a payload is an import (or a write standing for one): only the positions whose
 * inputs differ from their record's need a new record. The listener's (re)connect has none:
 * notifications may have been missed while disconnected, and the first pass of a worker gives
 * every position a record as of now. */
static void on_state(const char *payload, void *arg) {
  pthread_mutex_lock(&W.mu);
  if (payload)
    W.imported = true;
  else
    W.all = true;
  pthread_cond_signal(&W.cv);
  pthread_mutex_unlock(&W.mu);
}

static void on_ltv(const char *payload, void *arg) {
  pthread_mutex_lock(&W.mu);
  if (!payload && !W.ltv_connected) { /* the first connect: sparkd_state's first connect does the pass */
    W.ltv_connected = true;
    pthread_mutex_unlock(&W.mu);
    return;
  }
  long long id = payload ? strtoll(payload, NULL, 10) : 0;
  if (id <= 0 || W.ndirty == MAX_DIRTY) {
    W.all = true;
  } else {
    bool seen = false;
    for (size_t i = 0; i < W.ndirty; i++)
      seen |= W.dirty[i] == id;
    if (!seen) W.dirty[W.ndirty++] = id;
  }
  pthread_cond_signal(&W.cv);
  pthread_mutex_unlock(&W.mu);
}

struct txn_arg {
  int64_t id;
  enum partner_ltv_pass pass;
  uint64_t now;
  unsigned min_bps;
  struct partner_ltv_stats st;
};
static db_status txn_recompute(db_conn *c, void *arg) {
  struct txn_arg *a = arg;
  return partner_ltv_recompute(c, a->id, a->now, a->min_bps, a->pass, &a->st);
}

/* Drops Idempotency-Key rows older than SPARKD_IDEMPOTENCY_KEEP_H (with every full pass). */
static void purge_idempotency(void) {
  uint64_t removed = 0;
  db_status s = db_idempotency_purge(W.pool, W.cfg->idempotency_keep_h, &removed);
  if (s != DB_OK)
    util_log(UTIL_LOG_WARN, "idempotency keys: purge failed: %s", db_status_name(s));
  else if (removed)
    util_log(UTIL_LOG_INFO, "idempotency keys: %llu older than %u h removed", (unsigned long long)removed,
             W.cfg->idempotency_keep_h);
}

/* Recomputes id (0 = all); returns whether webhook rows were queued. */
static bool recompute(int64_t id, enum partner_ltv_pass pass) {
  struct txn_arg a = {id, pass, (uint64_t)time(NULL), W.cfg->ltv_history_min_bps, {0}};
  if (!a.min_bps) a.min_bps = 50;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  db_status s = db_run_txn(W.pool, txn_recompute, &a);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  if (s != DB_OK) {
    util_log(UTIL_LOG_WARN, "ltv recompute failed: %s", db_status_name(s));
    return false;
  }
  util_log(a.st.positions > 1 || a.st.state_changes ? UTIL_LOG_INFO : UTIL_LOG_DEBUG,
           "ltv: %llu position(s) recomputed in %.1f ms (%llu with unchanged inputs kept), %llu history row(s), %llu"
           " state change(s), %llu webhook(s)",
           (unsigned long long)a.st.positions, ms, (unsigned long long)a.st.unchanged, (unsigned long long)a.st.history,
           (unsigned long long)a.st.state_changes, (unsigned long long)a.st.outbox);
  return a.st.outbox > 0;
}

struct margin_arg {
  uint64_t now;
  struct partner_margin_batch_stats st;
};
static db_status txn_margin(db_conn *c, void *arg) {
  struct margin_arg *a = arg;
  return partner_margin_recompute_all(c, a->now, &a->st);
}

/* Recomputes every portfolio's margin (after an import and on the sweep: prices moved, or went
 * stale with time) in its own transaction, so a failure here never rolls back the LTV pass and the
 * other way round. Returns whether webhook rows (band changes) were queued. */
static bool margin_recompute(void) {
  struct margin_arg a = {(uint64_t)time(NULL), {0}};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  db_status s = db_run_txn(W.pool, txn_margin, &a);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (s != DB_OK) {
    util_log(UTIL_LOG_WARN, "margin recompute failed: %s", db_status_name(s));
    return false;
  }
  util_log(a.st.portfolios > 0 || a.st.not_computable > 0 ? UTIL_LOG_INFO : UTIL_LOG_DEBUG,
           "margin: %llu portfolio(s) recomputed in %.1f ms, %llu unchanged, %llu band change(s), %llu webhook(s), "
           "%llu not computable (read %.0f ms, legs reread for %llu; compute %.0f ms; write %.0f ms)",
           (unsigned long long)a.st.portfolios, ms_between(&t0, &t1), (unsigned long long)a.st.unchanged,
           (unsigned long long)a.st.band_changes, (unsigned long long)a.st.outbox,
           (unsigned long long)a.st.not_computable, a.st.read_ms, (unsigned long long)a.st.legs_reread, a.st.compute_ms,
           a.st.write_ms);
  return a.st.outbox > 0;
}

static bool reached(const struct timespec *now, const struct timespec *t) {
  return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

/* Sets *t to SPARKD_LTV_SWEEP_S from now on the monotonic clock (the worker's condvar clock). */
static void next_sweep_from_now(struct timespec *t) {
  clock_gettime(CLOCK_MONOTONIC, t);
  t->tv_sec += W.cfg->ltv_sweep_s ? W.cfg->ltv_sweep_s : 30;
}

static void *worker(void *arg) {
  pthread_mutex_lock(&W.mu);
  /* the first pass comes from the sparkd_state listener's first connect (a NULL notification).
   * The sweep is due SPARKD_LTV_SWEEP_S after the last full pass, however busy the worker is
   * with single positions (a steady trickle of attestations must not keep staleness unflagged). */
  struct timespec next_sweep;
  next_sweep_from_now(&next_sweep);
  while (!W.stop) {
    if (!W.all && !W.imported && W.ndirty == 0) pthread_cond_timedwait(&W.cv, &W.mu, &next_sweep);
    if (W.stop) break;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool due = reached(&now, &next_sweep);
    if (!W.all && !W.imported && W.ndirty == 0 && !due) continue;
    bool all = W.all, imported = W.imported && !all, sweep = due && !all;
    int64_t ids[MAX_DIRTY];
    size_t n = all ? 0 : W.ndirty;
    memcpy(ids, W.dirty, n * sizeof ids[0]);
    W.all = W.imported = false;
    W.ndirty = 0;
    pthread_mutex_unlock(&W.mu);
    bool queued = false;
    if (all) queued = recompute(0, PARTNER_LTV_ALL);
    if (imported) queued |= recompute(0, PARTNER_LTV_CHANGED_INPUTS);
    for (size_t i = 0; i < n; i++)
      queued |= recompute(ids[i], PARTNER_LTV_ALL);
    if (sweep) queued |= recompute(0, PARTNER_LTV_STATE_CHANGES);
    /* portfolio margins depend on prices only through the imported oracle (and on time through
     * staleness and cure deadlines): a single position's change does not touch them */
    if (all || imported || sweep) queued |= margin_recompute();
    if (queued) partner_webhook_wake();
    if (all || imported || sweep) purge_idempotency();
    /* an import's pass leaves the positions with unchanged inputs as they were: only a full pass
     * puts the sweep off (imports every few seconds must not keep staleness unflagged) */
    if (all || sweep) next_sweep_from_now(&next_sweep);
    pthread_mutex_lock(&W.mu);
  }
  pthread_mutex_unlock(&W.mu);
  return NULL;
}

/* ---- the workers and their lease ----
 *
 * Across all the processes serving one database exactly one runs the LTV worker and the webhook
 * sender: the one holding the "workers" lease (db/lease.h). A thread here keeps the lease once a
 * second, starts both when it is acquired and stops both when it is lost, so another process
 * takes over within about a second of the holder's session ending (at once for a process that
 * died; LEASE_IDLE_MS, 15 s, for one that hangs). Two senders never take the same event: an event is
 * leased in the transaction that takes it (db_webhook_take), a sender checks the lease before each
 * post, and the holder makes due again only the events a predecessor took at least
 * PARTNER_WEBHOOK_ORPHAN_AGE_S ago without recording an attempt (db_webhook_release_orphans). Two
 * LTV workers that overlap for a moment serialise on their transaction lock (db/ltv.c). */

#define LEASE_NAME "workers"
#define LEASE_KEEP_MS 1000u
#define LEASE_TIMEOUT_MS 3000u /* one keep's round trip, connecting included */
#define LEASE_IDLE_MS 15000u   /* the server drops a holder's session that is silent this long */

static struct {
  pthread_t thread;
  bool running, stop, workers_on;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  db_lease *lease;
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Starts the listeners, the LTV worker and the webhook sender; returns false (logged) if a thread
 * cannot be started (what did start is stopped). */
static bool workers_start(void) {
  pthread_mutex_lock(&W.mu);
  W.stop = false;
  W.all = W.imported = false;
  W.ndirty = 0;
  W.ltv_connected = false;
  pthread_mutex_unlock(&W.mu);
  W.state_l = db_listener_start(W.cfg->database_url, "sparkd_state", on_state, NULL);
  W.ltv_l = db_listener_start(W.cfg->database_url, "sparkd_ltv", on_ltv, NULL);
  if (!W.state_l || !W.ltv_l || pthread_create(&W.thread, NULL, worker, NULL) != 0) {
    util_log(UTIL_LOG_ERROR, "ltv: cannot start the worker threads");
    if (W.state_l) db_listener_stop(W.state_l);
    if (W.ltv_l) db_listener_stop(W.ltv_l);
    W.state_l = W.ltv_l = NULL;
    return false;
  }
  W.running = true;
  if (!partner_webhook_start(W.pool, W.cfg)) {
    util_log(UTIL_LOG_ERROR, "webhooks: cannot start the sender thread");
    return true; /* the LTV worker runs; the sender is retried by nothing: logged as an error */
  }
  return true;
}

static void workers_stop(void) {
  partner_webhook_stop();
  if (W.state_l) db_listener_stop(W.state_l);
  if (W.ltv_l) db_listener_stop(W.ltv_l);
  W.state_l = W.ltv_l = NULL;
  if (W.running) {
    pthread_mutex_lock(&W.mu);
    W.stop = true;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.thread, NULL);
    W.running = false;
  }
}

static void *lease_thread(void *arg) {
  (void)arg;
  pthread_mutex_lock(&L.mu);
  while (!L.stop) {
    pthread_mutex_unlock(&L.mu);
    bool held = db_lease_keep(L.lease, LEASE_TIMEOUT_MS);
    if (held && !L.workers_on) {
      util_log(UTIL_LOG_INFO, "workers: lease acquired; this process runs the LTV worker and the webhook sender");
      L.workers_on = workers_start();
      if (!L.workers_on) db_lease_release(L.lease); /* let another process run them */
    } else if (!held && L.workers_on) {
      util_log(UTIL_LOG_WARN, "workers: lease lost; stopping the LTV worker and the webhook sender");
      workers_stop();
      L.workers_on = false;
    }
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_nsec += (long)LEASE_KEEP_MS * 1000000L;
    dl.tv_sec += dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&L.mu);
    if (!L.stop) pthread_cond_timedwait(&L.cv, &L.mu, &dl);
  }
  pthread_mutex_unlock(&L.mu);
  if (L.workers_on) workers_stop(); /* before the lease goes: the next holder must not overlap */
  L.workers_on = false;
  db_lease_release(L.lease);
  return NULL;
}

bool partner_workers_hold(void) { return !L.lease || db_lease_held(L.lease); }

void partner_workers_status(struct partner_workers_status *out) {
  memset(out, 0, sizeof *out);
  out->lease_name = LEASE_NAME;
  out->leased = L.lease != NULL;
  struct db_lease_stats ls;
  db_lease_get_stats(L.lease, &ls);
  out->held = ls.held;
  out->acquired = ls.acquired;
  out->lost = ls.lost;
}

bool partner_ltv_start(db_pool *pool, const struct util_config *cfg) {
  if (W.running || L.running) return false; /* one worker per process */
  if (cfg->signing_key_file[0]) {
    char err[512] = "";
    g_signer = partner_signer_load(cfg->signing_key_file, err, sizeof err);
    if (!g_signer) {
      util_log(UTIL_LOG_ERROR, "SPARKD_SIGNING_KEY_FILE: %s", err);
      return false;
    }
    util_log(UTIL_LOG_INFO, "ltv records are signed by %s", partner_signer_address(g_signer));
  } else {
    util_log(UTIL_LOG_WARN, "SPARKD_SIGNING_KEY_FILE is empty: ltv records are served unsigned");
  }
  W.pool = pool;
  W.cfg = cfg;
  W.stop = false;
  /* the sweep's deadline is on the monotonic clock: a wall-clock step back must not hold it off */
  /* nothing waits on or signals W.cv yet (the listeners and the worker start below, and a failed
   * start never reaches them), so it is re-initialised in place */
  pthread_condattr_t ca;
  bool cv_ok = pthread_condattr_init(&ca) == 0;
  if (cv_ok) {
    cv_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_destroy(&W.cv) == 0 &&
            pthread_cond_init(&W.cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
  }
  if (!cv_ok) {
    util_log(UTIL_LOG_ERROR, "ltv: cannot set up the worker's monotonic clock");
    return false;
  }
  /* every process checks webhook URLs at registration, whether or not it sends them */
  if (!partner_webhook_configure(cfg)) return false;
  if (cfg->workers == UTIL_WORKERS_OFF) {
    util_log(UTIL_LOG_INFO, "workers: SPARKD_WORKERS=off; the LTV worker and webhook sender run elsewhere");
    return true;
  }
  L.lease = db_lease_create(cfg->database_url, LEASE_NAME, LEASE_IDLE_MS);
  if (!L.lease) {
    util_log(UTIL_LOG_ERROR, "workers: cannot create the lease");
    return false;
  }
  /* a wall-clock step must not stretch the keep interval: the lease thread waits on CLOCK_MONOTONIC */
  pthread_condattr_t la;
  bool l_ok = pthread_condattr_init(&la) == 0;
  if (l_ok) {
    l_ok = pthread_condattr_setclock(&la, CLOCK_MONOTONIC) == 0 && pthread_cond_destroy(&L.cv) == 0 &&
           pthread_cond_init(&L.cv, &la) == 0;
    pthread_condattr_destroy(&la);
  }
  L.stop = false;
  if (!l_ok || pthread_create(&L.thread, NULL, lease_thread, NULL) != 0) {
    util_log(UTIL_LOG_ERROR, "workers: cannot start the lease thread");
    db_lease_destroy(L.lease);
    L.lease = NULL;
    return false;
  }
  L.running = true;
  return true;
}

void partner_ltv_stop(void) {
  if (L.running) {
    pthread_mutex_lock(&L.mu);
    L.stop = true;
    pthread_cond_signal(&L.cv);
    pthread_mutex_unlock(&L.mu);
    pthread_join(L.thread, NULL); /* stops the workers, then releases the lease */
    L.running = false;
  }
  db_lease_destroy(L.lease);
  L.lease = NULL;
  partner_signer_free(g_signer);
  g_signer = NULL;
}
