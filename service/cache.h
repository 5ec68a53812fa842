/* The state cache: an immutable, reference-counted set of pre-serialised responses (and any
 * typed data handlers want for computing on the fly), built from the database in one pass by
 * the builders in svc_cache_builders[], and swapped in atomically. It is rebuilt in a background
 * thread at start and whenever `NOTIFY sparkd_state` arrives; requests never wait for a rebuild. */
#ifndef SPARKD_SERVICE_CACHE_H
#define SPARKD_SERVICE_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "service/router.h"

struct svc_server;
struct svc_request;
struct svc_config;
struct svc_cache;
struct svc_cache_builder;

/* One pre-serialised response. */
struct svc_cache_item {
  const char *key;   /* the request path it answers, e.g. "/v1/markets/1/reserves" */
  const char *body;  /* JSON text */
  size_t len;
  char etag[24];     /* strong: "\"" + 20 hex digits of SHA-256(body) + "\"" */
  void *data;        /* typed data a builder attached (or NULL) */
};

/* A builder adds items for its resources; returns DB_OK, or a failure that aborts the rebuild
 * (the previous cache stays in service). */
typedef db_status (*svc_cache_build_fn)(db_conn *conn, struct svc_cache_builder *b);
extern const svc_cache_build_fn svc_cache_builders[];
extern const size_t svc_cache_builders_count;

/* Adds a response under key, taking the reference to body; data (may be NULL) is freed with
 * free_data when the cache is dropped. Returns false on allocation failure or a duplicate key. */
bool svc_cache_put_json(struct svc_cache_builder *b, const char *key, json_t *body, void *data,
                        void (*free_data)(void *));
/* The service's configuration, for builders whose output depends on it. */
const struct svc_config *svc_cache_builder_config(const struct svc_cache_builder *b);
/* Adds typed data without a response (for handlers that compute on the fly). */
bool svc_cache_put_data(struct svc_cache_builder *b, const char *key, void *data, void (*free_data)(void *));

/* Starts the listener and the rebuild thread; the first build happens in the background.
 * Returns false when threads cannot be started. */
bool svc_cache_start(struct svc_server *srv);
/* Stops the threads and drops the cache (requests in flight keep their references). */
void svc_cache_stop(struct svc_server *srv);
/* Asks for a rebuild (as NOTIFY does). */
void svc_cache_invalidate(struct svc_server *srv);
/* The generation in service (0 before the first build) and whether a rebuild is asked for or
 * running (what is served may be older than the database). For /metrics. */
void svc_cache_status(uint64_t *generation, bool *pending);

/* Returns the current cache with a reference taken, or NULL before the first build succeeded. */
struct svc_cache *svc_cache_acquire(struct svc_server *srv);
/* Drops a reference from svc_cache_acquire. */
void svc_cache_release(struct svc_cache *c);
/* Returns the item for key, or NULL. */
const struct svc_cache_item *svc_cache_get(const struct svc_cache *c, const char *key);
/* Returns how many rebuilds have completed (0 before the first). */
uint64_t svc_cache_generation(const struct svc_cache *c);

/* Replies with the cached response for key: 200 with ETag and Cache-Control, or 304 when
 * If-None-Match matches; the reply keeps a reference to the cache until it is sent. Returns
 * SVC_HANDLED, or SVC_HANDLER_FATAL without replying when key is absent (*found = false) so the
 * caller can answer 404 or 503 itself. */
enum svc_handler_result svc_reply_cached(struct svc_request *req, struct svc_cache *c, const char *key, bool *found);

#endif
