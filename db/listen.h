/* LISTEN on a channel from a dedicated connection, in a thread of its own. */
#ifndef SPARKD_DB_LISTEN_H
#define SPARKD_DB_LISTEN_H

#include <stdint.h>

typedef struct db_listener db_listener;

/* Called from the listener thread with each notification's payload, and with NULL after every
 * (re)connect: notifications sent while disconnected are lost, so the receiver must refresh. */
typedef void (*db_notify_fn)(const char *payload, void *arg);

/* Returns a running listener on `channel` (an identifier: letters, digits, _), or NULL on a bad
 * argument. It connects in the background and reconnects with backoff while the server is down. */
db_listener *db_listener_start(const char *conninfo, const char *channel, db_notify_fn fn, void *arg);
/* Like db_notify_fn, with primary_lsn: the server's WAL insert position read on the listening
 * session after the notification arrived, so at or past the commit of the transaction that sent it
 * (also with synchronous_commit off); 0 when it could not be read. A reader of a streaming
 * replica waits until the replica has replayed that far before it reads what the notification
 * announced (a replica receives no notifications of its own). */
typedef void (*db_notify_lsn_fn)(const char *payload, uint64_t primary_lsn, void *arg);
/* Returns a running listener as db_listener_start does, calling fn with the WAL position. */
db_listener *db_listener_start_lsn(const char *conninfo, const char *channel, db_notify_lsn_fn fn, void *arg);
/* Stops the thread and closes the connection. */
void db_listener_stop(db_listener *l);

#endif
