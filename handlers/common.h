/* Helpers the handlers share: the state cache's data or a 503, and the 400s for path and query
 * parameters that several routes read alike. The JSON pieces are views/json.h; addresses,
 * numbers and cursors are util/. */
#ifndef SPARKD_HANDLERS_COMMON_H
#define SPARKD_HANDLERS_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "risk/u256.h"
#include "service/router.h"
#include "util/cursor.h"
#include "util/hex.h"
#include "util/time.h"
#include "views/json.h"

struct state_cache;

/* Returns true when text is a chain id: a positive decimal integer of at most 18 digits (stored in *id). */
bool handler_parse_chain_id(const char *text, int64_t *id);

/* Returns true when text is a resource id in canonical decimal (1 to 18 digits, no leading zero,
 * so greater than 0), stored in *id, and in out (24 bytes) as text when out is not NULL. */
bool handler_parse_id(const char *text, int64_t *id, char *out);

/* Returns the state cache holding typed data under key (*data set), or NULL after replying 503 (the
 * reply's result in *res) when it is not built yet. Release a non-NULL cache with state_cache_release. */
struct state_cache *handler_cache_data(struct svc_request *req, const char *key, const void **data,
                                       enum svc_handler_result *res);

/* Replies with the cache entry for key, or 503 when the entry is missing; returns the reply's result. */
enum svc_handler_result handler_reply_cached(struct svc_request *req, struct state_cache *c, const char *key);

/* Replies 400 bad_query_parameter naming field (code, message); returns the reply's result. */
enum svc_handler_result handler_bad_query(struct svc_request *req, const char *field, const char *code,
                                          const char *message);
/* Reads ?limit= (default d, at most m) into *out; returns false after replying 400. */
bool handler_query_limit(struct svc_request *req, size_t d, size_t m, size_t *out);
/* Reads ?at= (unix seconds, not before not_before) into *t, leaving *t when absent; returns false
 * after replying 400. */
bool handler_query_at(struct svc_request *req, int64_t not_before, int64_t *t);

#endif
