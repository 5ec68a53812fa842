/* The JSON of SparkLend reserves (views/markets_json.c), for the state builder and for handlers
 * that project a reserve to a later time. */
#ifndef SPARKD_VIEWS_MARKETS_JSON_H
#define SPARKD_VIEWS_MARKETS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "risk/reserve.h"
#include "state/markets.h"

struct state_builder;

/* Returns a new {chain_id, block_number, block_timestamp, block_time} object of m's block. */
json_t *view_market_as_of(const struct state_market *m);
/* Writes utilization, rates, APR/APY and totals of s (already accrued by risk_reserve_update_state
 * to the time it describes) into obj; returns RISK_OK or the engine's error (obj incomplete then). */
risk_err view_reserve_put_state(json_t *obj, const struct risk_reserve_state *s, unsigned decimals);
/* Returns {"data": [every reserve at t], "as_of", "at", "next_cursor": null}, or NULL with *err. */
json_t *view_reserves_list(const struct state_market *m, uint64_t t, risk_err *err);
/* Returns {"data": the reserve at t with its rate strategy, "as_of", "at"}, or NULL with *err. */
json_t *view_reserve_single(const struct state_market *m, const struct state_reserve *r, uint64_t t, risk_err *err);
/* Returns false on a failure after adding /v1/chains, /v1/markets and each chain's reserve list,
 * reserves and eMode categories to the generation being built (a state_render_fn). */
bool view_markets_render(struct state_builder *b);

#endif
