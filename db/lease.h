/* A lease: a PostgreSQL session advisory lock held on a connection of its own, so that exactly one
 * process of all the replicas sharing a database runs a single-writer job (the LTV worker and
 * webhook sender, "workers"; each chain's indexer, "indexer.<chain id>").
 *
 * The lock lives as long as the session: a holder that dies (kill -9, a crash, a lost host) has
 * its session ended by the server (at once when its socket closes; after idle_timeout_ms when it
 * only stops talking, through the session's idle_session_timeout) and the next db_lease_keep of
 * another process acquires it. A holder learns it lost the lease from db_lease_keep returning
 * false, and must then stop the guarded job at once.
 *
 *   db_lease *l = db_lease_create(cfg->database_url, "indexer", 15000);
 *   while (running) {                      // once a second or so
 *     if (db_lease_keep(l, 2000)) { ...do a bounded piece of the job... } else { ...stop it... }
 *   }
 *   db_lease_destroy(l);                   // releases it if held
 *
 * One db_lease is used by one thread at a time; db_lease_get_stats may be called from any. */
#ifndef SPARKD_DB_LEASE_H
#define SPARKD_DB_LEASE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct db_lease db_lease;

struct db_lease_stats {
  bool held;         /* this process holds it now */
  uint64_t acquired; /* times it was acquired */
  uint64_t lost;     /* times it was lost while held (the session broke or did not answer) */
};

/* Returns a lease named `name` (letters, digits, _ . -; at most 63 characters) on conninfo, not
 * yet held and not connected, or NULL on a bad argument. idle_timeout_ms (at least 1000) bounds how
 * long the server keeps the lock of a holder that stops calling db_lease_keep. */
db_lease *db_lease_create(const char *conninfo, const char *name, unsigned idle_timeout_ms);
/* Returns true when this process holds the lease after the call: when held, checks the session
 * with one round trip; when not, (re)connects and tries to take the lock once without waiting.
 * Bounded by timeout_ms (connecting included); a session that fails or does not answer in time is
 * closed, which releases the lock on the server, and the call returns false. */
bool db_lease_keep(db_lease *l, unsigned timeout_ms);
/* Returns whether the last db_lease_keep left the lease held. */
bool db_lease_held(const db_lease *l);
/* Gives the lease up (unlock and close the session); the next db_lease_keep may take it again. */
void db_lease_release(db_lease *l);
/* Releases the lease if held and frees it. */
void db_lease_destroy(db_lease *l);
/* Fills *out with the lease's state and counters (thread-safe). */
void db_lease_get_stats(const db_lease *l, struct db_lease_stats *out);
/* Returns the lease's name. */
const char *db_lease_name(const db_lease *l);

#endif
