/* API keys and scopes: `Authorization: Bearer <key>` checked against the SHA-256 kept in
 * api_keys, the route table's scope column, and a per-client-address limit on failed attempts. */
#ifndef SPARKD_SERVICE_AUTH_H
#define SPARKD_SERVICE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "service/router.h"

struct svc_request;

#define SVC_KEY_PREFIX "sk_"
/* "sk_" + base64url of 32 random bytes, unpadded (43 characters). */
#define SVC_KEY_LEN (3 + 43)
/* A valid key is remembered this long, so a revoke takes effect within it. */
#define SVC_AUTH_CACHE_MS 2000u
/* Failed attempts (401) allowed per client address in a burst, and the refill: one per interval,
 * until svc_auth_configure sets them from SPARKD_AUTH_FAIL_BURST and SPARKD_AUTH_FAIL_REFILL_MS. */
#define SVC_AUTH_FAIL_BURST_DEFAULT 50u
#define SVC_AUTH_FAIL_REFILL_MS_DEFAULT 1000u

/* Sets the per-address failure budget (zeroes are taken as 1) and forgets every address's count. */
void svc_auth_configure(unsigned fail_burst, unsigned fail_refill_ms);

/* Returns true when the request may go on to its handler (a public route, or a key of the route's
 * scope, recorded in req->key_*); false once a 401, 403, 429 or 503 reply was queued. */
bool svc_auth_request(struct svc_request *req);

/* Returns true after writing a new key (SVC_KEY_LEN characters and a NUL) into out; false when the
 * random generator failed or out is too small. */
bool svc_key_generate(char *out, size_t len);
/* Writes the SHA-256 of key[0..len) as 64 lowercase hex digits and a NUL into out. */
void svc_key_sha256_hex(const char *key, size_t len, char out[65]);
/* Returns "public", "partner", "ops" or "admin". */
const char *svc_scope_name(enum svc_scope s);
/* Returns true and sets *out when name is "partner", "ops" or "admin". */
bool svc_scope_parse(const char *name, enum svc_scope *out);

#endif
