/* The gate on heavy computations: the routes whose cost grows with the whole book (liquidations
 * at risk, stress, VaR, concentration, the health-factor histogram) each run on the worker thread that took the
 * request, so a few of them at once would hold every worker thread and starve the cheap public routes. At most
 * SPARKD_HEAVY_CONCURRENCY of them run at a time; a request arriving when all places are taken
 * waits up to SPARKD_HEAVY_WAIT_MS (if fewer than the waiting bound are already waiting) and is
 * then answered 503 `busy` with Retry-After. */
#ifndef SPARKD_SERVICE_HEAVY_H
#define SPARKD_SERVICE_HEAVY_H

#include <stdbool.h>
#include <stdint.h>

struct svc_request;

struct svc_heavy_stats {
  uint64_t admitted;  /* places taken, at once or after a wait */
  uint64_t refused;   /* requests answered 503 busy */
  unsigned in_flight; /* places held now */
  unsigned limit;     /* SPARKD_HEAVY_CONCURRENCY */
};

/* Sets the gate's size, how long a request may wait for a place (ms) and how many may wait at
 * once (0: refuse at once). Called once at start, before any request. */
void svc_heavy_configure(unsigned limit, unsigned wait_ms, unsigned max_waiters);
/* Returns true once req holds a place (given back by the daemon when the handler returns), false
 * after replying 503 busy. The first call of a heavy handler: `if (!svc_heavy_enter(req)) return
 * SVC_HANDLED;`. */
bool svc_heavy_enter(struct svc_request *req);
/* Gives back req's place, if it holds one (the daemon calls it when the handler returns). */
void svc_heavy_leave(struct svc_request *req);
/* Returns true when a place was taken within wait_ms (the gate without a request; tests). */
bool svc_heavy_acquire(unsigned wait_ms);
/* Gives back a place svc_heavy_acquire took. */
void svc_heavy_release(void);
/* Fills *out with the counters /metrics shows. */
void svc_heavy_stats(struct svc_heavy_stats *out);

#endif
