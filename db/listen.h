/* LISTEN on a channel from a dedicated connection, in a thread of its own. */
#ifndef SPARKD_DB_LISTEN_H
#define SPARKD_DB_LISTEN_H

typedef struct db_listener db_listener;

/* Called from the listener thread with each notification's payload, and with NULL after every
 * (re)connect: notifications sent while disconnected are lost, so the receiver must refresh. */
typedef void (*db_notify_fn)(const char *payload, void *arg);

/* Returns a running listener on `channel` (an identifier: letters, digits, _), or NULL on a bad
 * argument. It connects in the background and reconnects with backoff while the server is down. */
db_listener *db_listener_start(const char *conninfo, const char *channel, db_notify_fn fn, void *arg);
/* Stops the thread and closes the connection. */
void db_listener_stop(db_listener *l);

#endif
