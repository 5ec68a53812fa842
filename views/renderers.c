/* The renderers of a state-cache generation: what the service hands state_cache_start. */
#include "views/renderers.h"

#include "views/liquidity_json.h"
#include "views/markets_json.h"
#include "views/savings_json.h"

const state_render_fn view_renderers[] = {
    view_savings_render,
    view_liquidity_render,
    view_markets_render,
};
const size_t view_renderers_count = sizeof view_renderers / sizeof view_renderers[0];
