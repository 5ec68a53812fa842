#include "state/cache.h"

#include <malloc.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/listen.h"
#include "db/replica.h"
#include "util/log.h"
#include "util/vec.h"

struct entry {
  struct state_item item;
  void (*free_data)(void *);
};

struct state_cache {
  atomic_int refs;
  uint64_t generation;
  struct entry *entries; /* sorted by key after the build */
  size_t n, cap;
};

struct state_builder {
  struct state_cache *c;
  bool failed;
  const struct util_config *cfg;
  const struct state_cache *prev; /* the generation in service when the build began (or NULL) */
};

void *state_builder_data(struct state_builder *b, const char *key) {
  for (size_t i = 0; i < b->c->n; i++)
    if (strcmp(b->c->entries[i].item.key, key) == 0) return b->c->entries[i].item.data;
  return NULL;
}

const struct util_config *state_builder_config(const struct state_builder *b) { return b->cfg; }

const void *state_builder_prev_data(const struct state_builder *b, const char *key) {
  return b->prev ? state_cache_data(b->prev, key) : NULL;
}

/* Process-wide cache state: one service per process (svc_serve), so a static is the simplest home. */
static struct {
  pthread_mutex_t mu; /* guards current */
  struct state_cache *current;
  pthread_mutex_t wake_mu; /* guards dirty/stop/building, signals the builder */
  pthread_cond_t wake;
  bool dirty, stop, building;
  pthread_t thread;
  bool running;
  db_listener *listener;
  uint64_t generation;
  db_pool *pool;
  const struct util_config *cfg;
  const state_render_fn *renderers;
  size_t n_renderers;
  /* Following a replica (SPARKD_DATABASE_READ_URL): the primary's WAL position after the newest
   * notification (under wake_mu), and the counters of state_cache_replica_stats (under wake_mu). */
  bool follow;
  uint64_t target_lsn;
  struct state_replica_stats rs;
} st = {PTHREAD_MUTEX_INITIALIZER,
        NULL,
        PTHREAD_MUTEX_INITIALIZER,
        PTHREAD_COND_INITIALIZER,
        false,
        false,
        false,
        0,
        false,
        NULL,
        0,
        NULL,
        NULL,
        NULL,
        0,
        false,
        0,
        {0}};

static void cache_free(struct state_cache *c) {
  for (size_t i = 0; i < c->n; i++) {
    free((char *)c->entries[i].item.key);
    free((char *)c->entries[i].item.body);
    if (c->entries[i].free_data) c->entries[i].free_data(c->entries[i].item.data);
  }
  free(c->entries);
  free(c);
}

void state_cache_release(struct state_cache *c) {
  if (c && atomic_fetch_sub(&c->refs, 1) == 1) cache_free(c);
}

struct state_cache *state_cache_acquire(void) {
  pthread_mutex_lock(&st.mu);
  struct state_cache *c = st.current;
  if (c) atomic_fetch_add(&c->refs, 1);
  pthread_mutex_unlock(&st.mu);
  return c;
}

void state_cache_retain(struct state_cache *c) { atomic_fetch_add(&c->refs, 1); }

const void *state_cache_data(const struct state_cache *c, const char *key) {
  const struct state_item *it = state_cache_get(c, key);
  return it ? it->data : NULL;
}

uint64_t state_cache_generation(const struct state_cache *c) { return c ? c->generation : 0; }

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const struct entry *)a)->item.key, ((const struct entry *)b)->item.key);
}

const struct state_item *state_cache_get(const struct state_cache *c, const char *key) {
  if (!c) return NULL;
  struct entry probe = {.item = {.key = key}};
  const struct entry *e = bsearch(&probe, c->entries, c->n, sizeof *c->entries, cmp_entry);
  return e ? &e->item : NULL;
}

static bool add(struct state_builder *b, const char *key, char *body, size_t len, void *data,
                void (*free_data)(void *)) {
  struct state_cache *c = b->c;
  if (!UTIL_VEC_RESERVE(c->entries, c->n, c->cap, 64)) goto fail;
  struct entry *e = &c->entries[c->n];
  memset(e, 0, sizeof *e);
  e->item.key = strdup(key);
  if (!e->item.key) goto fail;
  e->item.body = body;
  e->item.len = len;
  e->item.data = data;
  e->free_data = free_data;
  if (body) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)body, len, md);
    static const char hex[] = "0123456789abcdef";
    e->item.etag[0] = '"';
    for (int i = 0; i < 10; i++) {
      e->item.etag[1 + 2 * i] = hex[md[i] >> 4];
      e->item.etag[2 + 2 * i] = hex[md[i] & 15];
    }
    e->item.etag[21] = '"';
    e->item.etag[22] = 0;
  }
  c->n++;
  return true;
fail:
  free(body);
  if (free_data) free_data(data);
  b->failed = true;
  return false;
}

bool state_cache_put_json(struct state_builder *b, const char *key, json_t *body, void *data,
                          void (*free_data)(void *)) {
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!text) {
    if (free_data) free_data(data);
    b->failed = true;
    return false;
  }
  return add(b, key, text, strlen(text), data, free_data);
}

bool state_cache_put_data(struct state_builder *b, const char *key, void *data, void (*free_data)(void *)) {
  return add(b, key, NULL, 0, data, free_data);
}

/* Builds a new cache in one read-only transaction; returns NULL on failure. */
struct build_ctx {
  struct state_builder b;
};

static db_status build_all(db_conn *conn, void *arg) {
  struct build_ctx *ctx = arg;
  for (size_t i = 0; i < state_loaders_count; i++) {
    db_status s = state_loaders[i](conn, &ctx->b);
    if (s != DB_OK) return s;
    if (ctx->b.failed) return DB_ERROR;
  }
  return DB_OK;
}

static struct state_cache *build(void) {
  /* the generation in service, for loaders that share its unchanged parts; only this thread
   * swaps generations, and the reference keeps it alive while the build reads it */
  struct state_cache *prev = state_cache_acquire();
  struct build_ctx ctx = {{calloc(1, sizeof(struct state_cache)), false, st.cfg, prev}};
  if (!ctx.b.c) {
    state_cache_release(prev);
    return NULL;
  }
  struct db_txn_opts opts = {DB_ISO_REPEATABLE_READ, true, 0}; /* one consistent view of the state */
  db_status s = db_run_txn_ex(st.pool, &opts, build_all, &ctx);
  state_cache_release(prev); /* (a retried transaction reads prev again: it is never changed) */
  if (s != DB_OK) {
    cache_free(ctx.b.c);
    util_log(UTIL_LOG_WARN, "cache: rebuild failed (%s); keeping the previous state", db_status_name(s));
    return NULL;
  }
  /* Responses are rendered from the loaded data outside the transaction: it holds no snapshot
   * longer than the reads need. */
  for (size_t i = 0; i < st.n_renderers && !ctx.b.failed; i++)
    if (!st.renderers[i](&ctx.b)) ctx.b.failed = true;
  if (ctx.b.failed) {
    cache_free(ctx.b.c);
    util_log(UTIL_LOG_WARN, "cache: rendering failed; keeping the previous state");
    return NULL;
  }
  struct state_cache *c = ctx.b.c;
  qsort(c->entries, c->n, sizeof *c->entries, cmp_entry);
  for (size_t i = 1; i < c->n; i++)
    if (strcmp(c->entries[i - 1].item.key, c->entries[i].item.key) == 0) {
      UTIL_BUG("cache key %s built twice", c->entries[i].item.key);
      cache_free(c);
      return NULL;
    }
  atomic_store(&c->refs, 1);
  return c;
}

/* Returns true once the replica the cache reads from has replayed the primary's WAL up to target
 * (at once when not following a replica, or reading from a primary), false when it did not within
 * SPARKD_READ_REPLAY_WAIT_MS or could not be asked. Built before that, the new generation would
 * still show the state before the change that was announced, and nothing would ask again. */
static bool replica_caught_up(uint64_t target) {
  if (!st.follow || !target) return true;
  unsigned limit = st.cfg->read_replay_wait_ms;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned sleep_us = 1000;
  bool waited = false;
  for (;;) {
    db_conn *c = db_acquire(st.pool, st.cfg->db_wait_ms);
    bool standby = false;
    uint64_t replayed = 0;
    db_status s = c ? db_replica_replayed(c, &standby, &replayed) : DB_UNAVAILABLE;
    db_release(c);
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
    if (s != DB_OK) {
      util_log(UTIL_LOG_WARN, "cache: cannot read the replica's replay position (%s)", db_status_name(s));
      return false;
    }
    bool done = !standby || replayed >= target;
    pthread_mutex_lock(&st.wake_mu);
    if (!waited) st.rs.lag_bytes = done ? 0 : target - replayed;
    if (done && waited) {
      st.rs.waits++;
      st.rs.wait_ms += (uint64_t)ms;
    }
    if (!done && ms >= (long)limit) {
      st.rs.waits++;
      st.rs.wait_ms += (uint64_t)ms;
      st.rs.timeouts++;
    }
    bool stop = st.stop;
    pthread_mutex_unlock(&st.wake_mu);
    if (done) {
      if (waited)
        util_log(ms >= 1000 ? UTIL_LOG_WARN : UTIL_LOG_INFO, "cache: waited %ld ms for the replica to replay %llX/%llX",
                 ms, (unsigned long long)(target >> 32), (unsigned long long)(target & 0xffffffffu));
      return true;
    }
    if (ms >= (long)limit || stop) {
      util_log(UTIL_LOG_WARN,
               "cache: the replica replayed %llX/%llX, not %llX/%llX, within %u ms; keeping the previous state",
               (unsigned long long)(replayed >> 32), (unsigned long long)(replayed & 0xffffffffu),
               (unsigned long long)(target >> 32), (unsigned long long)(target & 0xffffffffu), limit);
      return false;
    }
    waited = true;
    struct timespec d = {0, (long)sleep_us * 1000};
    nanosleep(&d, NULL);
    if (sleep_us < 20000) sleep_us *= 2;
  }
}

void state_cache_replica_stats(struct state_replica_stats *out) {
  pthread_mutex_lock(&st.wake_mu);
  *out = st.rs;
  out->following = st.follow;
  pthread_mutex_unlock(&st.wake_mu);
}

static void *builder_thread(void *arg) {
  (void)arg;
  unsigned backoff_ms = 200;
  /* The first build waits (up to 3 s) for the listener's first connect, which asks for it: built
   * earlier, a change committed before LISTEN took effect could be missed, and the connect would
   * ask for a second build at once. Without a listener (or one that cannot connect) it builds
   * anyway. */
  pthread_mutex_lock(&st.wake_mu);
  struct timespec first;
  clock_gettime(CLOCK_REALTIME, &first);
  first.tv_sec += 3;
  while (!st.dirty && !st.stop)
    if (pthread_cond_timedwait(&st.wake, &st.wake_mu, &first) != 0) break;
  st.dirty = true;
  pthread_mutex_unlock(&st.wake_mu);
  for (;;) {
    pthread_mutex_lock(&st.wake_mu);
    while (!st.dirty && !st.stop)
      pthread_cond_wait(&st.wake, &st.wake_mu);
    bool stop = st.stop;
    st.dirty = false;
    st.building = !stop;
    uint64_t target = st.target_lsn;
    pthread_mutex_unlock(&st.wake_mu);
    if (stop) break;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct state_cache *c = replica_caught_up(target) ? build() : NULL;
    if (!c) { /* try again later; a NOTIFY or the retry brings it back */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += (long)(backoff_ms % 1000) * 1000000L;
      ts.tv_sec += backoff_ms / 1000 + ts.tv_nsec / 1000000000L;
      ts.tv_nsec %= 1000000000L;
      pthread_mutex_lock(&st.wake_mu);
      if (!st.stop) pthread_cond_timedwait(&st.wake, &st.wake_mu, &ts);
      st.dirty = true;
      st.building = false;
      pthread_mutex_unlock(&st.wake_mu);
      backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
      continue;
    }
    backoff_ms = 200;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    c->generation = ++st.generation;
    pthread_mutex_lock(&st.mu);
    struct state_cache *old = st.current;
    st.current = c;
    pthread_mutex_unlock(&st.mu);
    state_cache_release(old);
    /* a build's transient memory (query results, growth of its arrays: tens of MB with many
     * accounts) goes back to the system instead of staying in glibc's heap */
    struct timespec t2;
    malloc_trim(0);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    pthread_mutex_lock(&st.wake_mu);
    st.building = false;
    pthread_mutex_unlock(&st.wake_mu);
    util_log(UTIL_LOG_INFO, "cache: generation %llu with %zu entries built in %ld ms (memory returned in %ld us)",
             (unsigned long long)c->generation, c->n,
             (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
             (long)((t2.tv_sec - t1.tv_sec) * 1000000 + (t2.tv_nsec - t1.tv_nsec) / 1000));
  }
  return NULL;
}

void state_cache_invalidate(void) {
  pthread_mutex_lock(&st.wake_mu);
  st.dirty = true;
  pthread_cond_signal(&st.wake);
  pthread_mutex_unlock(&st.wake_mu);
}

void state_cache_status(uint64_t *generation, bool *pending) {
  /* pending first: a build that completes between the two reads then shows as its new
   * generation, never as the old one with nothing pending */
  pthread_mutex_lock(&st.wake_mu);
  bool busy = st.dirty || st.building;
  pthread_mutex_unlock(&st.wake_mu);
  pthread_mutex_lock(&st.mu);
  *generation = st.current ? st.current->generation : 0;
  pthread_mutex_unlock(&st.mu);
  *pending = busy || *generation == 0;
}

static void on_notify(const char *payload, uint64_t primary_lsn, void *arg) {
  util_log(UTIL_LOG_DEBUG, "cache: state changed (%s)", payload ? payload : "reconnected");
  (void)arg;
  pthread_mutex_lock(&st.wake_mu);
  if (primary_lsn > st.target_lsn) st.target_lsn = primary_lsn;
  st.dirty = true;
  pthread_cond_signal(&st.wake);
  pthread_mutex_unlock(&st.wake_mu);
}

bool state_cache_start(db_pool *pool, const struct util_config *cfg, const state_render_fn *renderers,
                       size_t n_renderers) {
  st.pool = pool;
  st.cfg = cfg;
  st.renderers = renderers;
  st.n_renderers = n_renderers;
  st.stop = false;
  st.dirty = false; /* the first build: asked for by the listener's connect (see builder_thread) */
  st.follow = cfg->database_read_url[0] != 0;
  st.target_lsn = 0;
  memset(&st.rs, 0, sizeof st.rs);
  if (pthread_create(&st.thread, NULL, builder_thread, NULL) != 0) return false;
  st.running = true;
  /* always the primary's notifications: a replica receives none */
  st.listener = db_listener_start_lsn(cfg->database_url, "sparkd_state", on_notify, NULL);
  if (!st.listener) {
    util_log(UTIL_LOG_WARN, "cache: cannot listen for state changes; serving what was built");
    state_cache_invalidate();
  }
  return true;
}

void state_cache_stop(void) {
  db_listener_stop(st.listener);
  st.listener = NULL;
  if (st.running) {
    pthread_mutex_lock(&st.wake_mu);
    st.stop = true;
    pthread_cond_signal(&st.wake);
    pthread_mutex_unlock(&st.wake_mu);
    pthread_join(st.thread, NULL);
    st.running = false;
  }
  pthread_mutex_lock(&st.mu);
  struct state_cache *c = st.current;
  st.current = NULL;
  pthread_mutex_unlock(&st.mu);
  state_cache_release(c);
}
