/* The JSON of the liquidity layer (views/liquidity_json.c). */
#ifndef SPARKD_VIEWS_LIQUIDITY_JSON_H
#define SPARKD_VIEWS_LIQUIDITY_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/liquidity.h"

struct state_builder;

#define VIEW_RATE_LIMITS_PATH "/v1/liquidity-layer/rate-limits"
#define VIEW_ALLOCATIONS_PATH "/v1/liquidity-layer/allocations"
/* Rate limits on the first (pre-serialised) page. */
#define VIEW_RATE_LIMITS_PAGE 100

/* Returns one rate limit's JSON object at time t (new reference). */
json_t *view_rate_limit(const struct state_rate_limit *r, uint64_t t);
/* Returns a page {data, as_of, next_cursor} of rate limits [off, off+limit) at t (t = 0: each at its
 * chain's block). */
json_t *view_rate_limits_page(const struct state_liquidity *ix, size_t off, size_t limit, uint64_t t);
/* Returns false on a failure after adding the allocations and the first rate-limit page to the
 * generation being built (a state_render_fn). */
bool view_liquidity_render(struct state_builder *b);

#endif
