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
/* An event taken this long ago without an attempt recorded was taken by a sender that died or lost
 * the workers' lease: longer than such a sender takes to notice (a keep, 1 s, that may take 3 s) and
 * finish the post in flight (PARTNER_WEBHOOK_TIMEOUT_MS), so a live one never races its successor. */
#define PARTNER_WEBHOOK_ORPHAN_AGE_S 15
#define PARTNER_WEBHOOK_ORPHAN_EVERY_MS 5000u

/* Returns true after setting the CA file and the allow-list from cfg (SPARKD_WEBHOOK_CA_FILE,
 * SPARKD_WEBHOOK_ALLOW_PRIVATE); false (logged) when either is bad. Every process calls it, sender
 * or not: partner_webhook_url_check at registration reads the allow-list. */
bool partner_webhook_configure(const struct util_config *cfg);
/* Returns true after starting the delivery thread. Every PARTNER_WEBHOOK_ORPHAN_EVERY_MS it makes
 * due again the events a sender that died took without recording an attempt
 * (db_webhook_release_orphans), and before each post it checks that this process still holds the
 * workers' lease (partner_workers_hold): start it only in the one sender of all processes. */
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
 * previous setting, when ca_file cannot be loaded. Called by partner_webhook_configure. */
bool partner_http_set_ca_file(const char *ca_file, char *err, size_t err_len);

/* Returns true after setting the networks a webhook target may be in although its address is
 * loopback, private, link-local or otherwise not public: `cidrs` is a comma-separated list of
 * networks (a.b.c.d/n, v6::/n, or a single address), empty or NULL for none (every such address is
 * refused). Returns false with a reason in err, and keeps the previous list, when an item does not
 * parse. Called by partner_webhook_configure with SPARKD_WEBHOOK_ALLOW_PRIVATE. */
bool partner_webhook_set_allow(const char *cidrs, char *err, size_t err_len);

/* Returns NULL when addr is a public unicast address, else the name of its kind ("loopback",
 * "private", "link-local", "multicast", "unspecified", "shared" (carrier-grade NAT), "reserved",
 * "documentation"): family is AF_INET (4 bytes at addr) or AF_INET6 (16 bytes); an IPv6 address
 * that embeds an IPv4 one (mapped, NAT64, 6to4) has the kind of the IPv4 address. The allow-list
 * is not consulted. */
const char *partner_addr_kind(int family, const unsigned char *addr);

/* Returns true when a webhook may be sent to addr: a public unicast address, or one in the
 * networks of partner_webhook_set_allow. Otherwise false with the reason in why. */
bool partner_addr_allowed(int family, const unsigned char *addr, char *why, size_t why_len);

/* Returns true when url may be registered as a webhook target: an http:// or https:// URL of at
 * most 2048 characters, without credentials, with a port (if any) from 1 to 65535, whose host is
 * a name other than localhost's or an IP address that partner_addr_allowed accepts. Otherwise
 * false with a short lowercase reason in why (the field error's message). A name is not resolved here:
 * partner_http_post checks every address a name resolves to before connecting. */
bool partner_webhook_url_check(const char *url, char *why, size_t why_len);

/* Returns the HTTP status of POSTing body to url (http:// or https://) with the extra header lines
 * (each ending in CRLF), or 0 with a reason in err when there was no answer within timeout_ms
 * (connecting included; at least 1). An https:// receiver's certificate must chain to the CAs of
 * partner_http_set_ca_file and name the URL's host, or nothing is sent. Every address the host
 * resolves to is checked with partner_addr_allowed before a connection is opened to it (so a name
 * cannot be pointed at a refused address after registration), and no proxy is used: a refused
 * address gives 0 with err starting "refused:". Redirects are not followed: a 3xx is returned as
 * it is. The response body is read and dropped. */
unsigned partner_http_post(const char *url, const char *headers, const char *body, size_t body_len, unsigned timeout_ms,
                           char *err, size_t err_len);

/* Returns the delay in ms before attempt `attempt + 1` after `attempt` failures, with jitter
 * factor j in [0, 1] (0.5 + j/2 of the exponential value). */
unsigned partner_webhook_backoff_ms(int attempt, double j);

#endif
