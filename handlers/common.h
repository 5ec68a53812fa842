/* Helpers the market, savings and liquidity-layer handlers share: the per-chain as_of index and
 * its JSON, amounts as integer + _human strings, opaque cursors, and the 400s for query
 * parameters that several routes read alike. */
#ifndef SPARKD_HANDLERS_COMMON_H
#define SPARKD_HANDLERS_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "risk/u256.h"
#include "service/router.h"

struct svc_cache;

/* The block a chain's state is as of. */
struct handler_chain_asof {
  int64_t chain_id, block_number, block_timestamp;
};

/* Every imported chain's as_of, in chain id order (a cache builder loads it first). */
struct handler_chains {
  size_t n;
  struct handler_chain_asof v[64];
};

/* Row callback for a query of the chains' import positions (columns chain_id, block_number and
 * block_timestamp): appends the row to arg (struct handler_chains *); returns DB_OK (a row past the
 * capacity is left out) or the error. */
db_status handler_chains_row(const db_row *row, void *arg);
/* Returns the chain's as_of from the index, or NULL when it is not there. */
const struct handler_chain_asof *handler_chains_find(const struct handler_chains *c, int64_t chain_id);
/* Returns a new {chain_id, block_number, block_timestamp, block_time} object. */
json_t *handler_as_of_json(const struct handler_chain_asof *a);
/* Returns a new array of every chain's as_of object. */
json_t *handler_as_of_all(const struct handler_chains *c);
/* Writes the RFC 3339 UTC form of t into buf[32]; returns buf. */
char *handler_time_rfc3339(int64_t t, char buf[32]);

/* Returns true when text is a decimal integer below 2^256 (stored in *out). */
bool handler_parse_u256(const char *text, u256 *out);
/* Returns true when s is a non-negative decimal integer of at most 18 digits (stored in *out). */
bool handler_parse_i64(const char *s, int64_t *out);
/* Returns true when text is a chain id: a positive decimal integer of at most 18 digits (stored in *id). */
bool handler_parse_chain_id(const char *text, int64_t *id);
/* Returns a new JSON string of v in decimal. */
json_t *handler_json_u256(u256 v);
/* Returns a new JSON string of v with `decimals` decimals. */
json_t *handler_json_fixed(u256 v, unsigned decimals);
/* Sets name (integer string) and name_human (v with `decimals` decimals; null when decimals < 0) on o. */
void handler_put_amount(json_t *o, const char *name, u256 v, int64_t decimals);
/* Returns true when s is "0x" + 40 hex digits (any case); writes its lowercase form to lower[43]. */
bool handler_parse_address(const char *s, char lower[43]);
/* Sets name_ray (integer string) and name (27-decimal string) of the RAY value *v on o; both null when
 * v is NULL. */
void handler_put_ray(json_t *o, const char *name, const u256 *v);
/* Returns a new JSON string of the EIP-55 form of addr, or of addr as given when it is not an address. */
json_t *handler_json_address(const char *addr);
/* Returns a new {address (EIP-55), symbol, decimals} object of a token. */
json_t *handler_asset_json(const char *address, const char *symbol, int64_t decimals);

/* Writes the opaque (hex) form of plain (at most 31 characters) into out[64]. */
void handler_cursor_encode(const char *plain, char out[64]);
/* Returns true when c is an opaque cursor (even count of hex digits, at most 60); plain[32] gets its text. */
bool handler_cursor_decode(const char *c, char plain[32]);
/* Writes the opaque cursor "<tag>:<v>" into out[64]. */
void handler_cursor_make(char tag, int64_t v, char out[64]);
/* Returns true when c is the opaque cursor "<tag>:<number>" (number stored in *v). */
bool handler_cursor_parse(const char *c, char tag, int64_t *v);

/* Returns the state cache holding typed data under key (*data set), or NULL after replying 503 (the
 * reply's result in *res) when it is not built yet. Release a non-NULL cache with svc_cache_release. */
struct svc_cache *handler_cache_data(struct svc_request *req, const char *key, const void **data,
                                     enum svc_handler_result *res);

/* Replies with the cache entry for key, or 503 when the entry is missing; returns the reply's result. */
enum svc_handler_result handler_reply_cached(struct svc_request *req, struct svc_cache *c, const char *key);

/* Replies 400 bad_query_parameter naming field (code, message); returns the reply's result. */
enum svc_handler_result handler_bad_query(struct svc_request *req, const char *field, const char *code,
                                          const char *message);
/* Reads ?limit= (default d, at most m) into *out; returns false after replying 400. */
bool handler_query_limit(struct svc_request *req, size_t d, size_t m, size_t *out);
/* Reads ?at= (unix seconds, not before not_before) into *t, leaving *t when absent; returns false
 * after replying 400. */
bool handler_query_at(struct svc_request *req, int64_t not_before, int64_t *t);

/* Writes the EIP-55 checksummed form of addr ("0x" and 40 hex digits, any case) into out, as
 * risk_eip55 does; returns false when addr is not such an address. Each thread remembers the
 * last few thousand addresses it checksummed (keccak256 is most of an account lookup's own work
 * after the engine), so an address looked up again costs a table probe. */
bool handler_address_checksum(const char *addr, char out[43]);

#endif
