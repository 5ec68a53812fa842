/* A JSON-RPC 2.0 client over HTTP(S) with libcurl, for the indexer: batch requests, timeouts,
 * retries with exponential backoff and jitter on transient failures (connect errors, timeouts,
 * HTTP 408, 429 and 5xx, malformed JSON, a batch answered with the wrong set of ids), no retry on
 * other HTTP 4xx answers, smaller batches when a node refuses one for its size, and per-method
 * call and error counters. One client is used by one thread. */
#ifndef SPARKD_CHAIN_RPC_H
#define SPARKD_CHAIN_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHAIN_RPC_MAX_METHODS 32

struct chain_rpc_opts {
  const char *url;
  unsigned timeout_ms;      /* whole request */
  unsigned retries;         /* attempts after the first on a transient failure */
  unsigned batch_max;       /* calls per HTTP request */
  unsigned backoff_base_ms; /* first retry waits about this long, doubling each time */
  unsigned backoff_max_ms;  /* and never longer than this */
};

/* One call of a batch. params is stolen by chain_rpc_batch; on return exactly one of result
 * (a new reference the caller decrefs, JSON null included) or error (code and message from the
 * node) is set. */
struct chain_rpc_call {
  const char *method; /* a string literal: counters keep the pointer */
  json_t *params;
  json_t *result;
  bool error;
  long long err_code;
  char err_msg[160];
};

struct chain_rpc_method_stats {
  const char *method;
  uint64_t calls, errors;
};

struct chain_rpc;

/* Returns a new client (NULL when libcurl cannot start). */
struct chain_rpc *chain_rpc_new(const struct chain_rpc_opts *o);
/* Frees a client (NULL is fine). */
void chain_rpc_free(struct chain_rpc *c);
/* Sends the n calls (split into requests of batch_max) and returns 0 when every call has its
 * result or node error; -1 when a request still failed after the retries (the reason is in
 * chain_rpc_last_error; calls not answered carry error with code 0). */
int chain_rpc_batch(struct chain_rpc *c, struct chain_rpc_call *calls, size_t n);
/* Returns 0 with *result (a new reference) for one call; -1 on a transport failure, -2 on a node
 * error (its message in chain_rpc_last_error). params is stolen. */
int chain_rpc_call1(struct chain_rpc *c, const char *method, json_t *params, json_t **result);
/* Returns the last failure's description (empty when none): the method(s) and the cause, e.g.
 * "eth_call and 24 more: http status 403, not retried: …". */
const char *chain_rpc_last_error(const struct chain_rpc *c);
/* Returns whether the last chain_rpc_batch failed in a way retrying cannot fix: an HTTP 4xx other
 * than 408 and 429 (a wrong URL or API key), or a node refusing even a batch of one. Such a failure
 * is not retried. */
bool chain_rpc_last_permanent(const struct chain_rpc *c);
/* Returns the calls per request now: batch_max, halved each time the node refused a batch for its
 * size (HTTP 413 or a JSON-RPC "batch too large" error), and kept smaller from then on. */
unsigned chain_rpc_batch_max(const struct chain_rpc *c);
/* Returns the per-method counters (*n of them). */
const struct chain_rpc_method_stats *chain_rpc_stats(const struct chain_rpc *c, size_t *n);
/* Returns how many HTTP requests were retried in all. */
uint64_t chain_rpc_retries(const struct chain_rpc *c);
/* Frees the results of n calls and clears them. */
void chain_rpc_calls_clear(struct chain_rpc_call *calls, size_t n);

#endif
