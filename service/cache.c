#include "service/cache.h"

#include <malloc.h>
#include <microhttpd.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "db/listen.h"
#include "service/log.h"
#include "service/request.h"
#include "service/server.h"

struct entry {
  struct svc_cache_item item;
  void (*free_data)(void *);
};

struct svc_cache {
  atomic_int refs;
  uint64_t generation;
  struct entry *entries; /* sorted by key after the build */
  size_t n, cap;
};

struct svc_cache_builder {
  struct svc_cache *c;
  bool failed;
  const struct svc_config *cfg;
};

const struct svc_config *svc_cache_builder_config(const struct svc_cache_builder *b) { return b->cfg; }

/* Process-wide cache state: one service per process (svc_serve), so a static is the simplest home. */
static struct {
  pthread_mutex_t mu;      /* guards current */
  struct svc_cache *current;
  pthread_mutex_t wake_mu; /* guards dirty/stop/building, signals the builder */
  pthread_cond_t wake;
  bool dirty, stop, building;
  pthread_t thread;
  bool running;
  db_listener *listener;
  uint64_t generation;
} st = {PTHREAD_MUTEX_INITIALIZER, NULL, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
        false, false, false, 0, false, NULL, 0};

static void cache_free(struct svc_cache *c) {
  for (size_t i = 0; i < c->n; i++) {
    free((char *)c->entries[i].item.key);
    free((char *)c->entries[i].item.body);
    if (c->entries[i].free_data) c->entries[i].free_data(c->entries[i].item.data);
  }
  free(c->entries);
  free(c);
}

void svc_cache_release(struct svc_cache *c) {
  if (c && atomic_fetch_sub(&c->refs, 1) == 1) cache_free(c);
}

struct svc_cache *svc_cache_acquire(struct svc_server *srv) {
  (void)srv;
  pthread_mutex_lock(&st.mu);
  struct svc_cache *c = st.current;
  if (c) atomic_fetch_add(&c->refs, 1);
  pthread_mutex_unlock(&st.mu);
  return c;
}

uint64_t svc_cache_generation(const struct svc_cache *c) { return c ? c->generation : 0; }

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const struct entry *)a)->item.key, ((const struct entry *)b)->item.key);
}

const struct svc_cache_item *svc_cache_get(const struct svc_cache *c, const char *key) {
  if (!c) return NULL;
  struct entry probe = {.item = {.key = key}};
  const struct entry *e = bsearch(&probe, c->entries, c->n, sizeof *c->entries, cmp_entry);
  return e ? &e->item : NULL;
}

static bool add(struct svc_cache_builder *b, const char *key, char *body, size_t len, void *data,
                void (*free_data)(void *)) {
  struct svc_cache *c = b->c;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    struct entry *e = realloc(c->entries, cap * sizeof *e);
    if (!e) goto fail;
    c->entries = e;
    c->cap = cap;
  }
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

bool svc_cache_put_json(struct svc_cache_builder *b, const char *key, json_t *body, void *data,
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

bool svc_cache_put_data(struct svc_cache_builder *b, const char *key, void *data, void (*free_data)(void *)) {
  return add(b, key, NULL, 0, data, free_data);
}

/* Builds a new cache in one read-only transaction; returns NULL on failure. */
struct build_ctx {
  struct svc_cache_builder b;
};

static db_status build_all(db_conn *conn, void *arg) {
  struct build_ctx *ctx = arg;
  for (size_t i = 0; i < svc_cache_builders_count; i++) {
    db_status s = svc_cache_builders[i](conn, &ctx->b);
    if (s != DB_OK) return s;
    if (ctx->b.failed) return DB_ERROR;
  }
  return DB_OK;
}

static struct svc_cache *build(struct svc_server *srv) {
  struct build_ctx ctx = {{calloc(1, sizeof(struct svc_cache)), false, &srv->cfg}};
  if (!ctx.b.c) return NULL;
  struct db_txn_opts opts = {DB_ISO_REPEATABLE_READ, true, 0}; /* one consistent view of the state */
  db_status s = db_run_txn_ex(srv->pool, &opts, build_all, &ctx);
  if (s != DB_OK) {
    cache_free(ctx.b.c);
    svc_log(SVC_LOG_WARN, "cache: rebuild failed (%s); keeping the previous state", db_status_name(s));
    return NULL;
  }
  struct svc_cache *c = ctx.b.c;
  qsort(c->entries, c->n, sizeof *c->entries, cmp_entry);
  for (size_t i = 1; i < c->n; i++)
    if (strcmp(c->entries[i - 1].item.key, c->entries[i].item.key) == 0) {
      SVC_BUG("cache key %s built twice", c->entries[i].item.key);
      cache_free(c);
      return NULL;
    }
  atomic_store(&c->refs, 1);
  return c;
}

static void *builder_thread(void *arg) {
  struct svc_server *srv = arg;
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
    while (!st.dirty && !st.stop) pthread_cond_wait(&st.wake, &st.wake_mu);
    bool stop = st.stop;
    st.dirty = false;
    st.building = !stop;
    pthread_mutex_unlock(&st.wake_mu);
    if (stop) break;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct svc_cache *c = build(srv);
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
    struct svc_cache *old = st.current;
    st.current = c;
    pthread_mutex_unlock(&st.mu);
    svc_cache_release(old);
    /* a build's transient memory (query results, growth of its arrays: tens of MB with many
     * accounts) goes back to the system instead of staying in glibc's heap */
    struct timespec t2;
    malloc_trim(0);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    pthread_mutex_lock(&st.wake_mu);
    st.building = false;
    pthread_mutex_unlock(&st.wake_mu);
    svc_log(SVC_LOG_INFO, "cache: generation %llu with %zu entries built in %ld ms (memory returned in %ld us)",
            (unsigned long long)c->generation, c->n,
            (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
            (long)((t2.tv_sec - t1.tv_sec) * 1000000 + (t2.tv_nsec - t1.tv_nsec) / 1000));
  }
  return NULL;
}

void svc_cache_invalidate(struct svc_server *srv) {
  (void)srv;
  pthread_mutex_lock(&st.wake_mu);
  st.dirty = true;
  pthread_cond_signal(&st.wake);
  pthread_mutex_unlock(&st.wake_mu);
}

void svc_cache_status(uint64_t *generation, bool *pending) {
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

static void on_notify(const char *payload, void *arg) {
  svc_log(SVC_LOG_DEBUG, "cache: state changed (%s)", payload ? payload : "reconnected");
  svc_cache_invalidate(arg);
}

bool svc_cache_start(struct svc_server *srv) {
  st.stop = false;
  st.dirty = false; /* the first build: asked for by the listener's connect (see builder_thread) */
  if (pthread_create(&st.thread, NULL, builder_thread, srv) != 0) return false;
  st.running = true;
  st.listener = db_listener_start(srv->cfg.database_url, "sparkd_state", on_notify, srv);
  if (!st.listener) {
    svc_log(SVC_LOG_WARN, "cache: cannot listen for state changes; serving what was built");
    svc_cache_invalidate(srv);
  }
  return true;
}

void svc_cache_stop(struct svc_server *srv) {
  (void)srv;
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
  struct svc_cache *c = st.current;
  st.current = NULL;
  pthread_mutex_unlock(&st.mu);
  svc_cache_release(c);
}

static void release_cb(void *cls) { svc_cache_release(cls); }

/* Returns true when the If-None-Match header lists etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag) {
  if (!inm) return false;
  size_t n = strlen(etag);
  for (const char *p = inm; *p;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == '*') return true;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    if (strncmp(p, etag, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' ')) return true;
    while (*p && *p != ',') p++;
  }
  return false;
}

enum svc_handler_result svc_reply_cached(struct svc_request *req, struct svc_cache *c, const char *key, bool *found) {
  const struct svc_cache_item *it = svc_cache_get(c, key);
  *found = it && it->body;
  if (!*found) return SVC_HANDLER_FATAL;
  bool not_modified = etag_matches(svc_req_header(req, "If-None-Match"), it->etag);
  struct MHD_Response *r;
  if (not_modified) {
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  } else {
    atomic_fetch_add(&c->refs, 1); /* held by the response until MHD destroys it */
    r = MHD_create_response_from_buffer_with_free_callback_cls(it->len, (void *)it->body, release_cb, c);
    if (!r) {
      svc_cache_release(c);
      return SVC_HANDLER_FATAL;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
  }
  if (!r) return SVC_HANDLER_FATAL;
  MHD_add_response_header(r, "ETag", it->etag);
  char cc[64];
  snprintf(cc, sizeof cc, "public, max-age=%u", req->srv->cfg.cache_max_age_s);
  MHD_add_response_header(r, "Cache-Control", cc);
  return svc_queue_response(req, not_modified ? 304 : 200, r, not_modified ? 0 : it->len);
}
