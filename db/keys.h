/* API keys (service/auth.h): the bearer-key lookup and `sparkd keys create|list|revoke`. The
 * database keeps only a key's SHA-256. */
#ifndef SPARKD_DB_KEYS_H
#define SPARKD_DB_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

/* One api_keys row as authentication needs it. */
struct db_api_key {
  int64_t key_id;
  int64_t partner_id; /* 0 = none */
  char scope[16];
  char partner[64];    /* "" = none */
  char key_sha256[65]; /* as stored, 64 lowercase hex digits */
  bool revoked;
};

/* One api_keys row as `sparkd keys list` prints it (never a secret). */
struct db_api_key_info {
  int64_t key_id;
  char scope[16];
  char partner[64]; /* "" = none */
  char key_prefix[32];
  char created_at[32]; /* RFC 3339 UTC */
  char revoked_at[32]; /* RFC 3339 UTC, "" = not revoked */
};
/* Called once per key; anything but DB_OK stops the listing and becomes its status. */
typedef db_status (*db_api_key_fn)(const struct db_api_key_info *key, void *arg);

/* Returns DB_OK with the key whose SHA-256 is sha256_hex in *out, or DB_NO_ROWS. */
db_status db_keys_lookup(db_conn *conn, const char *sha256_hex, struct db_api_key *out);
/* Returns DB_OK with the new key's id in *key_id after storing it (scope, partner name or NULL,
 * SHA-256 hex, display prefix) in one transaction on conn, creating the partner on first use;
 * on failure the transaction is rolled back and db_last_error(conn) still tells why. */
db_status db_keys_create(db_conn *conn, const char *scope, const char *partner, const char *sha256_hex,
                         const char *prefix, int64_t *key_id);
/* Returns the status of calling fn for every key, in id order. */
db_status db_keys_list(db_conn *conn, db_api_key_fn fn, void *arg);
/* Returns DB_OK after revoking key_id (an already revoked key keeps its first time; *was_revoked
 * says whether it was), or DB_NO_ROWS when there is no such key. */
db_status db_keys_revoke(db_conn *conn, int64_t key_id, bool *was_revoked);

#endif
