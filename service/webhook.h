/* Webhook delivery (issue 7): a worker thread takes due rows of webhook_outbox (migration 0005)
 * and POSTs them with X-Sparkd-Signature = hex HMAC-SHA256(secret, timestamp + "." + body) and
 * X-Sparkd-Timestamp (unix seconds), records every attempt in webhook_attempts, retries a
 * failure (no answer or a non-2xx status) after SVC_WEBHOOK_BASE_MS * 2^(attempt-1), capped at
 * SVC_WEBHOOK_MAX_DELAY_MS, times a random factor in [0.5, 1.0], and gives up after
 * SVC_WEBHOOK_MAX_ATTEMPTS. Per webhook and position, an event is sent only once every earlier one
 * is delivered or given up (in order). A row is leased (next_attempt_at moved ahead) in the
 * transaction that takes it, so a crash mid-delivery means a repeat after the lease, never a loss:
 * at-least-once, and the body's event_id lets the receiver de-duplicate. */
#ifndef SPARKD_SERVICE_WEBHOOK_H
#define SPARKD_SERVICE_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

struct svc_server;

#define SVC_WEBHOOK_BASE_MS 500u
#define SVC_WEBHOOK_MAX_DELAY_MS 300000u
#define SVC_WEBHOOK_MAX_ATTEMPTS 12
#define SVC_WEBHOOK_TIMEOUT_MS 5000u
#define SVC_WEBHOOK_LEASE_S 60
#define SVC_WEBHOOK_POLL_MS 1000u

/* Returns true after starting the delivery thread. */
bool svc_webhook_start(struct svc_server *srv);
/* Stops the delivery thread (an attempt in flight finishes first). */
void svc_webhook_stop(struct svc_server *srv);
/* Wakes the delivery thread (new outbox rows). */
void svc_webhook_wake(void);

/* Returns the HTTP status of POSTing body to url (http:// or https://, certificate checked) with
 * the extra header lines (each ending in CRLF), or 0 with a reason in err when there was no
 * answer within timeout_ms. */
unsigned svc_http_post(const char *url, const char *headers, const char *body, size_t body_len, unsigned timeout_ms,
                       char *err, size_t err_len);

/* Returns whether https:// URLs can be delivered (sparkd linked with libssl, SPARKD_HAVE_LIBSSL). */
bool svc_http_tls_available(void);

/* Sets up TLS for https:// URLs once per process: receivers' certificates must chain to a CA in
 * ca_file (PEM), or to the system's store when ca_file is NULL or empty, and name the URL's host.
 * Returns false with a reason in err when the CA file cannot be loaded. Called by
 * svc_webhook_start; the first https POST calls it with the system's store when nothing did. */
bool svc_http_tls_init(const char *ca_file, char *err, size_t err_len);

/* Returns the delay in ms before attempt `attempt + 1` after `attempt` failures, with jitter
 * factor j in [0, 1] (0.5 + j/2 of the exponential value). */
unsigned svc_webhook_backoff_ms(int attempt, double j);

#endif
