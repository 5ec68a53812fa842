/* JSON pieces every renderer uses (DESIGN "Numbers on the wire"): amounts as an integer string
 * beside a human decimal string, RAY values beside their 27-decimal form, EIP-55 addresses, and
 * the as_of object naming the block a response describes. */
#ifndef SPARKD_VIEWS_JSON_H
#define SPARKD_VIEWS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"
#include "state/chains.h"

/* Returns a new JSON string of v in decimal. */
json_t *view_json_u256(u256 v);
/* Returns a new JSON string of v with `decimals` decimals. */
json_t *view_json_fixed(u256 v, unsigned decimals);
/* Sets name (integer string) and name_human (v with `decimals` decimals; null when decimals < 0) on o. */
void view_put_amount(json_t *o, const char *name, u256 v, int64_t decimals);
/* Sets name_ray (integer string) and name (27-decimal string) of the RAY value *v on o; both null when
 * v is NULL. */
void view_put_ray(json_t *o, const char *name, const u256 *v);
/* Returns a new JSON string of the EIP-55 form of addr, or of addr as given when it is not an address. */
json_t *view_json_address(const char *addr);
/* Returns a new {address (EIP-55), symbol, decimals} object of a token. */
json_t *view_asset_json(const char *address, const char *symbol, int64_t decimals);
/* Returns a new {chain_id, block_number, block_timestamp, block_time} object. */
json_t *view_as_of_json(const struct state_as_of *a);
/* Returns a new array of the as_of objects v[0..n). */
json_t *view_as_of_all(const struct state_as_of *v, size_t n);

/* Writes the EIP-55 checksummed form of addr ("0x" and 40 hex digits, any case) into out, as
 * risk_eip55 does; returns false when addr is not such an address. Each thread remembers the
 * last few thousand addresses it checksummed (keccak256 is most of an account lookup's own work
 * after the engine), so an address looked up again costs a table probe. */
bool view_address_checksum(const char *addr, char out[43]);

#endif
