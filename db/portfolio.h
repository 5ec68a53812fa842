/* Spark Prime portfolios, their legs, margin parameters and margin results (migration 0025).
 * Every partner statement filters by partner_id in SQL. */
#ifndef SPARKD_DB_PORTFOLIO_H
#define SPARKD_DB_PORTFOLIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* Returns DB_OK with the new portfolio's id in *id (DB_CONFLICT: external_id taken). */
db_status db_portfolio_insert(db_conn *c, int64_t partner_id, const char *external_id, const char *borrower,
                              int64_t utilization_bps, int64_t *id);
/* Returns DB_OK with the portfolio's JSON text (malloc'd) in *json, or DB_NO_ROWS. */
db_status db_portfolio_json(db_conn *c, int64_t partner_id, int64_t id, char **json);
/* Returns DB_OK after locking the partner's portfolio row (its utilisation in *util_bps), or DB_NO_ROWS. */
db_status db_portfolio_lock(db_conn *c, int64_t partner_id, int64_t id, int64_t *util_bps);
/* Returns DB_OK when the partner has the portfolio, else DB_NO_ROWS. */
db_status db_portfolio_exists(db_conn *c, int64_t partner_id, int64_t id);

/* A stored leg (text columns as stored, integers in the units of migration 0025). */
struct db_portfolio_leg {
  char venue[64], kind[16], underlying[32], yield_kind[16], address[43], reference[257];
  int64_t quantity, entry_price, mark_price, funding, chain_id, yield_bps, yield_sd_bps, as_of;
};
/* Returns DB_OK after deleting the venue's legs of the portfolio. */
db_status db_portfolio_legs_clear(db_conn *c, int64_t partner_id, int64_t id, const char *venue);
/* Returns DB_OK after inserting leg leg_no of the portfolio. */
db_status db_portfolio_leg_insert(db_conn *c, int64_t partner_id, int64_t id, int leg_no,
                                  const struct db_portfolio_leg *l);
/* Returns the status of calling fn for each leg of the partner's portfolio (venue, leg_no order). */
db_status db_portfolio_legs(db_conn *c, int64_t partner_id, int64_t id,
                            db_status (*fn)(const struct db_portfolio_leg *l, void *arg), void *arg);

/* One SparkLend reserve position of an account, from the served chain state: supplied and borrowed
 * amounts in the asset's smallest unit (decimal text), its decimals, oracle price (USD, 8 decimals)
 * and price time. */
struct db_portfolio_lend {
  char asset[43], supplied[80], borrowed[80], price[80];
  int32_t decimals;
  int64_t price_ts;
};
db_status db_portfolio_sparklend(db_conn *c, int64_t chain_id, const char *address,
                                 db_status (*fn)(const struct db_portfolio_lend *l, void *arg), void *arg);
/* Returns DB_OK after reading the oracle price (decimal text, "" when none) and time (0) of each of
 * n (chain, asset) pairs into price[i] and ts[i], in one query. */
db_status db_portfolio_prices(db_conn *c, size_t n, const int64_t *chain_id, const char (*asset)[43], char (*price)[80],
                              int64_t *ts);
/* Returns DB_OK with the newest parameter version (0 when none) in *version. */
db_status db_margin_params_version(db_conn *c, int64_t *version);
/* Returns DB_OK with the newest parameter version and its JSON text (malloc'd). */
db_status db_margin_params_latest(db_conn *c, int64_t *version, char **json);
/* Returns DB_OK with the new version of params (JSON text) in *version. */
db_status db_margin_params_insert(db_conn *c, const char *json, int64_t *version);

/* The stored state of a portfolio's latest margin result (sequence 0 when none). fingerprint: what
 * the result was computed from and came to (has_fp false: not recorded). */
struct db_margin_prev {
  int64_t sequence, band, call_since, rate_bps, rate_at, as_of, fingerprint;
  bool has_rate, has_fp;
};
db_status db_margin_latest_prev(db_conn *c, int64_t id, struct db_margin_prev *p);
/* Returns DB_OK after upserting the latest result of a portfolio and its fingerprint. */
db_status db_margin_latest_put(db_conn *c, int64_t partner_id, int64_t id, int64_t sequence, int64_t params_version,
                               int band, int64_t hs_bps, int64_t call_since, int64_t as_of, const char *result,
                               int64_t fingerprint);
/* Returns DB_OK after recording the rate served at `at` for the daily change limit. */
db_status db_margin_rate_put(db_conn *c, int64_t id, int64_t rate_bps, int64_t at);
/* Returns DB_OK after appending a band change to the history and queueing event for every live
 * webhook of the partner subscribed to it (*queued: rows). */
db_status db_margin_band_change(db_conn *c, int64_t partner_id, int64_t id, int64_t sequence, int64_t params_version,
                                int band, int prev_band, int64_t hs_bps, int64_t as_of, const char *result,
                                const char *event, const char *payload, uint64_t *queued);
/* Calls fn with each history row's result text, newest first, sequence < before, at most limit. */
db_status db_margin_history(db_conn *c, int64_t partner_id, int64_t id, int64_t before, int64_t limit,
                            db_status (*fn)(const char *json, void *arg), void *arg, uint64_t *n);

/* A portfolio and the summary of its stored latest result (sequence 0 and band -1 when none). */
struct db_margin_stored {
  int64_t id, partner_id, sequence, band, call_since, fingerprint;
  int64_t legs_rev; /* moves with every write to the portfolio's legs (migration 0028) */
  bool has_fp;
};
/* Calls fn for every portfolio (all partners: the batch pass) with its stored result's summary,
 * locking the portfolio rows for the caller's transaction. */
db_status db_portfolios_all(db_conn *c, db_status (*fn)(const struct db_margin_stored *s, void *arg), void *arg);
/* Calls fn for every leg of every portfolio, in (portfolio, venue, leg_no) order (reference left
 * empty). */
db_status db_portfolio_legs_all(db_conn *c, db_status (*fn)(int64_t id, const struct db_portfolio_leg *l, void *arg),
                                void *arg);
/* Calls fn like db_portfolio_legs_all for the legs of the n portfolios ids only. */
db_status db_portfolio_legs_some(db_conn *c, size_t n, const int64_t *ids,
                                 db_status (*fn)(int64_t id, const struct db_portfolio_leg *l, void *arg), void *arg);
/* Returns DB_OK after updating, in one statement, the latest summary (sequence, health score, call,
 * fingerprint, version, time) of each of n portfolios whose stored band is band[i]; *updated gets
 * the count. */
db_status db_margin_latest_batch(db_conn *c, size_t n, const int64_t *id, const int64_t *sequence,
                                 const int64_t *hs_bps, const int64_t *call_since, const int *band,
                                 const int64_t *fingerprint, int64_t params_version, int64_t as_of, uint64_t *updated);

/* Returns DB_OK after writing band changes of a batch pass in one statement: changes_json is a
 * JSON array of {id, partner, seq, version, band, prev (-1: none), hs, since, as_of, result,
 * band_name, prev_name (null: none), fp (the fingerprint, a decimal string)}; each becomes the
 * latest result, a history row and, per subscribed webhook of event, an outbox row whose payload
 * is {event, portfolio_id, band, sequence, params_version, previous_band, record: the result}.
 * The count of those rows is added to the session's counter, which db_margin_changes_reset sets to
 * 0 and db_margin_changes_queued reads: the pass sends its changes in chunks in a pipeline
 * (db_pipeline_begin), where answers are not read. */
db_status db_margin_changes_reset(db_conn *c);
db_status db_margin_changes(db_conn *c, const char *changes_json, const char *event);
db_status db_margin_changes_queued(db_conn *c, uint64_t *queued);

#endif
