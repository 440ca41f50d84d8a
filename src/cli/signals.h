/*
 * Turning SIGINT and SIGTERM into a stop event. A stop event must not be set
 * from a signal handler, so the signals are blocked in every thread and one
 * thread of ours takes them with sigwait() and sets the event. The first
 * signal asks for a clean stop; another one well after it ends the process
 * at once.
 */
#ifndef HBEAT_CLI_SIGNALS_H
#define HBEAT_CLI_SIGNALS_H

#include "hbeat/stop_event.h"

typedef struct cli_signals cli_signals;

/*
 * Block the signals in the calling thread and start the watcher. Call it
 * before any other thread is created (before opening a gateway), so that
 * every thread inherits the blocked set. @p stop is borrowed.
 * @return 0, or -1 with a message printed.
 */
int cli_signals_start(cli_signals **out, hbeat_stop_event *stop);

/* The signal that asked for the stop, or 0 when none came. */
int cli_signals_caught(cli_signals *s);

/* End the watcher and free it. NULL is a no-op. */
void cli_signals_free(cli_signals *s);

#endif /* HBEAT_CLI_SIGNALS_H */
