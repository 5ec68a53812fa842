/* Spark Prime portfolio margin around the engine (risk/margin.h): the versioned parameters read
 * from their stored JSON, a portfolio's legs turned into engine legs (SparkLend accounts expanded
 * from the served chain state, prices from the imported oracle), the result as served JSON with
 * its EIP-712 signature (docs/margin-signature.md), and the stored latest result, its history on
 * band changes and the webhook outbox rows, in the caller's transaction. */
#ifndef SPARKD_PARTNER_MARGIN_H
#define SPARKD_PARTNER_MARGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "db/portfolio.h"
#include "risk/margin.h"

#define PARTNER_MARGIN_EVENT_BAND "portfolio.band_changed"
#define PARTNER_MARGIN_MAX_CASH 16

struct partner_margin_config {
  int64_t version;
  struct risk_margin_params p;
  struct risk_margin_rate_params rate;
  char symbol[RISK_MARGIN_MAX_UNDERLYINGS][32];
  int64_t chain_id[RISK_MARGIN_MAX_UNDERLYINGS];
  char asset[RISK_MARGIN_MAX_UNDERLYINGS][43];
  char venue[RISK_MARGIN_MAX_VENUES][64];
  size_t ncash;
  int64_t cash_chain[PARTNER_MARGIN_MAX_CASH];
  char cash_asset[PARTNER_MARGIN_MAX_CASH][43];
};

/* Reads parameters JSON into cfg (version left as is). Returns NULL when they are complete and
 * consistent, else the JSON path of the first bad field ("correlations[0][1]", "bands.warning_bps")
 * written into field. */
const char *partner_margin_config_parse(const json_t *j, struct partner_margin_config *cfg, char *field,
                                        size_t field_len);
/* Returns DB_OK after reading the parameters in force into cfg (DB_ERROR, logged, if they do not parse);
 * from memory when partner_margin_config_memo can. */
db_status partner_margin_config_load(db_conn *c, struct partner_margin_config *cfg);
/* Returns true after copying the parameters in force into cfg from memory, false when memory cannot
 * vouch for them (the listeners are down, or something changed since they were read). */
bool partner_margin_config_memo(struct partner_margin_config *cfg);

/* Returns true once two listeners (NOTIFY sparkd_margin and sparkd_state) run on conninfo: from
 * then on the parameters and the stored books of quoted portfolios are kept in memory until a
 * notification (or partner_margin_touch) says they may have changed. */
bool partner_margin_memo_start(const char *conninfo);
/* Stops the listeners; memory is no longer trusted. */
void partner_margin_memo_stop(void);
/* Marks everything held in memory as old: called after this process commits a write a margin reads
 * (its own notification follows, but a client's next request must not wait for it). */
void partner_margin_touch(void);

/* Returns the index of a venue / underlying name in cfg, RISK_MARGIN_CASH for "USD" (underlying),
 * or -1. */
int partner_margin_venue(const struct partner_margin_config *cfg, const char *name);
int partner_margin_underlying(const struct partner_margin_config *cfg, const char *name);

/* Parses a decimal with at most 8 fractional digits ("-12.5") into units of 1e-8; false when it is
 * not one, has more digits, is negative with !allow_negative, or exceeds RISK_MARGIN_MAX_ABS. */
bool partner_margin_parse_e8(const char *s, bool allow_negative, int64_t *out);

/* A portfolio ready for the engine: legs, where each came from, and the underlyings' prices. */
struct partner_margin_book {
  size_t n;
  struct risk_margin_leg legs[RISK_MARGIN_MAX_LEGS];
  char venue[RISK_MARGIN_MAX_LEGS][64], kind[RISK_MARGIN_MAX_LEGS][16], underlying[RISK_MARGIN_MAX_LEGS][32];
  int64_t prices[RISK_MARGIN_MAX_UNDERLYINGS];
  uint64_t prices_ts[RISK_MARGIN_MAX_UNDERLYINGS];
};

/* Adds one stored leg to book (a sparklend leg adds one leg per reserve the account holds, read
 * from the served chain state). Returns DB_OK, or DB_NO_ROWS with why set when the leg cannot be
 * margined under cfg (unknown venue or underlying, too many legs, an unpriced asset). */
db_status partner_margin_book_add(db_conn *c, const struct partner_margin_config *cfg, struct partner_margin_book *b,
                                  const struct db_portfolio_leg *l, const char **why);
/* Returns DB_OK after reading the imported price of every underlying into book (an unpriced one is
 * price 1e-8 at time 0, so stale when a leg uses it). */
db_status partner_margin_book_prices(db_conn *c, const struct partner_margin_config *cfg,
                                     struct partner_margin_book *b);

/* Returns a new JSON object: the result (every MM component, the worst scenario per underlying,
 * D_max, the parameter version), signed when a signer is loaded. */
json_t *partner_margin_result_json(const struct partner_margin_config *cfg, const struct partner_margin_book *b,
                                   const struct risk_margin_result *r, int64_t portfolio_id, int64_t sequence,
                                   uint64_t now, bool signed_record);

/* The §5.3 rate as JSON, each term shown. */
json_t *partner_margin_rate_json(const struct risk_margin_rate *rate, const struct risk_margin_rate_params *rp,
                                 int64_t utilization_bps, int64_t params_version);

/* Computes the margin of the partner's portfolio at now on c (inside the caller's transaction) and,
 * when it differs from the stored latest result (its fingerprint: inputs, band, call, staleness,
 * health score), stores it as the new latest result with the next sequence (history and webhook
 * rows on a band change; *stored true); an unchanged result is the stored record, served with its
 * sequence and time. Returns DB_OK with *out (a new JSON object, signed), DB_NO_ROWS when the
 * partner has no such portfolio, or DB_OK with *out NULL and *why set when the engine cannot
 * compute it. stored may be NULL. */
db_status partner_margin_compute(db_conn *c, int64_t partner_id, int64_t portfolio_id, uint64_t now, json_t **out,
                                 const char **why, bool *stored);

/* A what-if: venues whose stored legs are left out, legs added, underlying prices replaced. */
struct partner_margin_whatif {
  const char *const *remove_venues;
  size_t nremove;
  const struct db_portfolio_leg *add;
  size_t nadd;
  const int *price_k;   /* underlying indexes */
  const int64_t *price; /* usd8 */
  size_t nprice;
};

/* Returns DB_OK with *out the result of the hypothetical portfolio under cfg at now, never stored
 * (or *out NULL and *why set when the engine cannot compute it), DB_NO_ROWS for no such portfolio. */
db_status partner_margin_quote(db_conn *c, int64_t partner_id, int64_t id, const struct partner_margin_config *cfg,
                               const struct partner_margin_whatif *w, uint64_t now, json_t **out, const char **why);
/* Returns true when memory answered the quote as partner_margin_quote would (*out the result, or
 * *out NULL and *why set), false when the database must be asked (nothing held, or a sparklend leg
 * added). */
bool partner_margin_quote_memo(int64_t partner_id, int64_t id, const struct partner_margin_config *cfg,
                               const struct partner_margin_whatif *w, uint64_t now, json_t **out, const char **why);

/* Returns like partner_margin_compute with the §5.3 rate of the portfolio, each term shown; the rate
 * served is remembered (for the daily change limit) when the portfolio has a stored result. */
db_status partner_margin_rate(db_conn *c, int64_t partner_id, int64_t id, uint64_t now, json_t **out, const char **why);

struct partner_margin_batch_stats {
  uint64_t portfolios;                  /* computed */
  uint64_t band_changes;                /* each with its full result, a history row and webhook rows */
  uint64_t outbox;                      /* webhook outbox rows queued */
  uint64_t not_computable;              /* skipped: a leg the parameters or the engine cannot take */
  uint64_t unchanged;                   /* computed, equal to the stored result: nothing written */
  uint64_t legs_reread;                 /* portfolios whose legs were read from the database (the
                                           others' legs were kept from the previous pass) */
  double read_ms, compute_ms, write_ms; /* where the pass spent its time (write: sending its writes,
                                           pipelined while it computes, and waiting for the last) */
};

/* Returns the status of recomputing every portfolio of every partner at now on c, inside the
 * caller's transaction (after a price import): previous bands read in one query, legs kept in
 * memory from the previous pass in this process and reread only for the portfolios whose legs_rev
 * moved (migration 0028; all of them on the first pass, a new parameter version or every 60 s), the
 * unchanged bands' summaries and the band changes (the full result, its history row and its
 * webhook rows) written in chunks of one statement each, pipelined while the pass computes. Fills
 * *stats. */
db_status partner_margin_recompute_all(db_conn *c, uint64_t now, struct partner_margin_batch_stats *stats);

#endif
