/* The JSON of savings vaults (views/savings_json.c). */
#ifndef SPARKD_VIEWS_SAVINGS_JSON_H
#define SPARKD_VIEWS_SAVINGS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"
#include "state/savings.h"

struct state_builder;

#define VIEW_VAULTS_PATH "/v1/savings/vaults"
/* Vaults on the first (pre-serialised) page of the list. */
#define VIEW_VAULTS_PAGE 100

/* Sets <prefix>rate_ray, <prefix>apr(_ray) and <prefix>apy(_ray) of a per-second rate on o. */
void view_put_rate(json_t *o, const char *prefix, u256 rate);
/* Returns the vault's JSON object at time t (new reference), or NULL when the arithmetic
 * overflows where the chain would revert (t too far ahead). */
json_t *view_vault(const struct state_vault *v, uint64_t t);
/* Returns a list page {data, as_of, next_cursor} of vaults [off, off+limit) as malloc'd JSON text
 * (*len its length), or NULL. */
char *view_vaults_page(const struct state_savings *ix, size_t off, size_t limit, size_t *len);
/* Returns false on a failure after adding the vault list and each vault to the generation being
 * built (a state_render_fn). */
bool view_savings_render(struct state_builder *b);

#endif
