/* The state cache: one immutable, reference-counted generation of typed state (what handlers
 * compute from) and the responses pre-serialised from it, swapped in atomically. A generation is
 * built in two steps: the loaders in state_loaders[] read the database in one repeatable-read
 * transaction into typed data, then the renderers the service passes to state_cache_start
 * (views/) add pre-serialised responses from that data. It is rebuilt in a background thread at
 * start and whenever `NOTIFY sparkd_state` arrives; requests never wait for a rebuild. */
#ifndef SPARKD_STATE_CACHE_H
#define SPARKD_STATE_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

struct util_config;
struct state_cache;
struct state_builder;

/* One pre-serialised response. */
struct state_item {
  const char *key;  /* the request path it answers, e.g. "/v1/markets/1/reserves" */
  const char *body; /* JSON text */
  size_t len;
  char etag[24]; /* strong: "\"" + 20 hex digits of SHA-256(body) + "\"" */
  void *data;    /* typed data a builder attached (or NULL) */
};

/* A loader adds its resources' typed data (state_cache_put_data); returns DB_OK, or a failure
 * that aborts the rebuild (the previous cache stays in service). */
typedef db_status (*state_load_fn)(db_conn *conn, struct state_builder *b);
extern const state_load_fn state_loaders[];
extern const size_t state_loaders_count;
/* A renderer adds responses from loaded data (state_builder_data, state_cache_put_json); returns
 * false on a failure that aborts the rebuild. */
typedef bool (*state_render_fn)(struct state_builder *b);

/* Adds a response under key, taking the reference to body; data (may be NULL) is freed with
 * free_data when the cache is dropped. Returns false on allocation failure or a duplicate key. */
bool state_cache_put_json(struct state_builder *b, const char *key, json_t *body, void *data,
                          void (*free_data)(void *));
/* The service's configuration, for builders whose output depends on it. */
const struct util_config *state_builder_config(const struct state_builder *b);
/* Returns the data under key in the generation that was in service when this build began (NULL
 * when there is none or it has no such key): a loader may share its unchanged parts. */
const void *state_builder_prev_data(const struct state_builder *b, const char *key);
/* Adds typed data without a response (for handlers that compute on the fly). */
bool state_cache_put_data(struct state_builder *b, const char *key, void *data, void (*free_data)(void *));
/* Returns the data added under key to the generation being built (renderers may complete it),
 * or NULL. */
void *state_builder_data(struct state_builder *b, const char *key);
/* Returns the data under key in a built generation (borrowed from c), or NULL. */
const void *state_cache_data(const struct state_cache *c, const char *key);

/* Starts the listener (on cfg->database_url, the primary) and the rebuild thread, reading through
 * pool (a pool on SPARKD_DATABASE_READ_URL when it is set: the cache then waits, before each
 * rebuild, until the replica has replayed the primary's WAL up to where it was when the
 * notification arrived, at most SPARKD_READ_REPLAY_WAIT_MS) with cfg and rendering with
 * renderers[0..n) (all must outlive state_cache_stop); the first build happens in the background. Returns false when
 * threads cannot be started. */
bool state_cache_start(db_pool *pool, const struct util_config *cfg, const state_render_fn *renderers,
                       size_t n_renderers);
/* Stops the threads and drops the cache (requests in flight keep their references). */
void state_cache_stop(void);
/* Asks for a rebuild (as NOTIFY does). */
void state_cache_invalidate(void);
/* The generation in service (0 before the first build) and whether a rebuild is asked for or
 * running (what is served may be older than the database). For /metrics. */
void state_cache_status(uint64_t *generation, bool *pending);

/* Waits for the replica before rebuilds (SPARKD_DATABASE_READ_URL), for /metrics. */
struct state_replica_stats {
  bool following;     /* the cache reads from a replica and waits for it */
  uint64_t waits;     /* rebuilds that had to wait for the replica to replay */
  uint64_t wait_ms;   /* time spent in those waits */
  uint64_t timeouts;  /* waits that gave up (the rebuild was retried later) */
  uint64_t lag_bytes; /* how far behind the announced change the replica was at the last rebuild's first look */
};
/* Fills *out. */
void state_cache_replica_stats(struct state_replica_stats *out);

/* Returns the current cache with a reference taken, or NULL before the first build succeeded. */
struct state_cache *state_cache_acquire(void);
/* Takes one more reference to c (for a response that outlives the request's own reference). */
void state_cache_retain(struct state_cache *c);
/* Drops a reference from state_cache_acquire. */
void state_cache_release(struct state_cache *c);
/* Returns the item for key, or NULL. */
const struct state_item *state_cache_get(const struct state_cache *c, const char *key);
/* Returns how many rebuilds have completed (0 before the first). */
uint64_t state_cache_generation(const struct state_cache *c);

#endif
