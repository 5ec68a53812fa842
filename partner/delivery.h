/* Webhook delivery: a worker thread takes due rows of webhook_outbox (migration 0005) and POSTs
 * them (partner_http_post, libcurl) with X-Sparkd-Signature = hex HMAC-SHA256(secret, timestamp + "."
 * + body) and X-Sparkd-Timestamp (unix seconds), records every attempt in webhook_attempts,
 * retries a failure (no answer or a non-2xx status, a 3xx included: redirects are not followed)
 * after PARTNER_WEBHOOK_BASE_MS * 2^(attempt-1), capped at PARTNER_WEBHOOK_MAX_DELAY_MS, times a random
 * factor in [0.5, 1.0], and gives up after PARTNER_WEBHOOK_MAX_ATTEMPTS. Per webhook and position, an
 * event is sent only once every earlier one is delivered or given up (in order). A row is leased
 * (next_attempt_at moved ahead) in the transaction that takes it, so a crash mid-delivery means a
 * repeat after the lease, never a loss: at-least-once, and the body's event_id lets the receiver
 * de-duplicate. */
#ifndef SPARKD_PARTNER_DELIVERY_H
#define SPARKD_PARTNER_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "db/db.h"

struct util_config;

#define PARTNER_WEBHOOK_BASE_MS 500u
#define PARTNER_WEBHOOK_MAX_DELAY_MS 300000u
#define PARTNER_WEBHOOK_MAX_ATTEMPTS 12
#define PARTNER_WEBHOOK_TIMEOUT_MS 5000u
#define PARTNER_WEBHOOK_LEASE_S 60
#define PARTNER_WEBHOOK_POLL_MS 1000u

/* Returns true after starting the delivery thread. */
bool partner_webhook_start(db_pool *pool, const struct util_config *cfg);
/* Stops the delivery thread (an attempt in flight finishes first). */
void partner_webhook_stop(void);
/* Wakes the delivery thread (new outbox rows). */
void partner_webhook_wake(void);

/* Returns true after setting up libcurl for the process; call once at start, before any thread
 * runs (libcurl's global set-up must not race another thread's). Returns false with a reason in
 * err when libcurl cannot be set up or has no TLS (https:// receivers). */
bool partner_http_global_init(char *err, size_t err_len);

/* Releases what partner_http_global_init set up; call at exit, after every thread that posts has
 * stopped. */
void partner_http_global_cleanup(void);

/* Sets the CA certificates https:// receivers must chain to: those in ca_file (PEM), or the
 * system's store when ca_file is NULL or empty. Returns false with a reason in err, and keeps the
 * previous setting, when ca_file cannot be loaded. Called by partner_webhook_start. */
bool partner_http_set_ca_file(const char *ca_file, char *err, size_t err_len);

/* Returns the HTTP status of POSTing body to url (http:// or https://) with the extra header lines
 * (each ending in CRLF), or 0 with a reason in err when there was no answer within timeout_ms
 * (connecting included; at least 1). An https:// receiver's certificate must chain to the CAs of
 * partner_http_set_ca_file and name the URL's host, or nothing is sent. Redirects are not followed: a
 * 3xx is returned as it is. The response body is read and dropped. */
unsigned partner_http_post(const char *url, const char *headers, const char *body, size_t body_len, unsigned timeout_ms,
                           char *err, size_t err_len);

/* Returns the delay in ms before attempt `attempt + 1` after `attempt` failures, with jitter
 * factor j in [0, 1] (0.5 + j/2 of the exponential value). */
unsigned partner_webhook_backoff_ms(int attempt, double j);

#endif
