#include "service/heavy.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "service/request.h"
#include "util/log.h" /* UTIL_BUG */

/* Until configured: one place, no waiting (a bound that cannot starve anything). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t freed;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;
static unsigned limit = 1, wait_ms, max_waiters, in_flight, waiting;
static uint64_t admitted, refused;

/* The wait is timed on CLOCK_MONOTONIC: a clock step must not stretch or cut it. */
static void cond_init(void) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(&freed, &a);
  pthread_condattr_destroy(&a);
}

void svc_heavy_configure(unsigned lim, unsigned wait, unsigned waiters) {
  pthread_once(&cond_once, cond_init);
  pthread_mutex_lock(&mu);
  limit = lim ? lim : 1;
  wait_ms = wait;
  max_waiters = waiters;
  pthread_mutex_unlock(&mu);
}

static bool acquire(unsigned ms) {
  pthread_once(&cond_once, cond_init);
  pthread_mutex_lock(&mu);
  bool ok = in_flight < limit;
  if (!ok && ms && waiting < max_waiters) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    waiting++;
    int rc = 0;
    while (in_flight >= limit && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&freed, &mu, &until);
    waiting--;
    ok = in_flight < limit;
  }
  if (ok) {
    in_flight++;
    admitted++;
  } else {
    refused++;
  }
  pthread_mutex_unlock(&mu);
  return ok;
}

bool svc_heavy_acquire(unsigned ms) { return acquire(ms); }

void svc_heavy_release(void) {
  pthread_once(&cond_once, cond_init);
  pthread_mutex_lock(&mu);
  if (in_flight)
    in_flight--;
  else
    UTIL_BUG("heavy gate released more often than taken");
  pthread_cond_signal(&freed);
  pthread_mutex_unlock(&mu);
}

bool svc_heavy_enter(struct svc_request *req) {
  if (req->heavy) return true;
  pthread_mutex_lock(&mu);
  unsigned ms = wait_ms;
  pthread_mutex_unlock(&mu);
  if (acquire(ms)) {
    req->heavy = true;
    return true;
  }
  svc_reply_problem(req, SVC_ERR_busy,
                    "as many heavy computations as this server runs at once are running; retry shortly");
  return false;
}

void svc_heavy_leave(struct svc_request *req) {
  if (!req->heavy) return;
  req->heavy = false;
  svc_heavy_release();
}

void svc_heavy_stats(struct svc_heavy_stats *out) {
  pthread_mutex_lock(&mu);
  out->admitted = admitted;
  out->refused = refused;
  out->in_flight = in_flight;
  out->limit = limit;
  pthread_mutex_unlock(&mu);
}
