/*
 * The feed of status changes on PostgreSQL: one connection per hbeatd
 * LISTENs on HBD_PG_CHANNEL (pg_store.h), where the schema's trigger
 * announces every status change of every run, whoever made it, and
 * PostgreSQL delivers each announcement once its transaction has
 * committed (never one rolled back), to every instance listening, this
 * one included.
 *
 * The connection has a thread of its own that sleeps in poll() on its
 * socket. When the connection is lost (the database restarted), changes
 * may have been lost with it: the listener reports that at once
 * (run_id 0, hbd_store_change_fn), reconnects by itself like the
 * workers, and reports it again once it listens again, since a watcher
 * who came in between may have missed changes too.
 */
#ifndef HBD_PG_LISTEN_H
#define HBD_PG_LISTEN_H

#include <libpq-fe.h>

#include "hbeat/errors.h"
#include "run_store.h"

typedef struct hbd_pg_listener hbd_pg_listener;

/* LISTENs on `conn` (connected; owned from now on, even on failure) and
   starts the thread that reports each change to fn. `where` names the
   database in the log (no password). After twice `timeout` seconds
   without a word the connection is probed, and one whose database does
   not answer within `timeout` counts as lost (a connection a network
   dropped silently would otherwise listen to nothing for ever). */
int hbd_pg_listen_start(hbd_pg_listener **out, PGconn *conn, const char *where, double timeout,
                        hbd_store_change_fn fn, void *arg, hbeat_error *err);
/* Stops the thread (no call to fn runs or starts once this returns),
   closes the connection, frees. NULL is a no-op. */
void hbd_pg_listen_stop(hbd_pg_listener *l);

#endif /* HBD_PG_LISTEN_H */
