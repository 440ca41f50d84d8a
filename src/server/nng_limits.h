/*
 * Connection limits for hbeatd's nng socket. nng 1.5 has no option that
 * caps a listener's connections, so hbeatd counts pipes itself: a pipe
 * that would pass the total or the per-address limit is closed in
 * NNG_PIPE_EV_ADD_PRE, after nng's handshake and before the socket ever
 * sees it. A connection still in nng's own handshake is not counted; nng
 * drops those that do not finish it in time.
 *
 * nng keeps one callback per pipe event and socket, so the connection
 * gauge of the metrics (hbd_metrics_connection) and the count of pipes
 * that reached the socket through each listener (for ipc_probe.h) are fed
 * from here too.
 */
#ifndef HBD_NNG_LIMITS_H
#define HBD_NNG_LIMITS_H

#include <nng/nng.h>

#include "hbeat/errors.h"

typedef struct hbd_nng_limits hbd_nng_limits;

/* Counts the pipes of `sock` from now on. `max_pipes` > 0; `max_per_addr`
   0 for no per-address limit (ipc and inproc pipes count only towards the
   total). The limits must outlive the socket: free them after it closed. */
int hbd_nng_limits_attach(hbd_nng_limits **out, nng_socket sock, unsigned int max_pipes,
                          unsigned int max_per_addr, hbeat_error *err);
/* Pipes that have reached the socket through listener `listener_id`
   since the limits were attached, refused ones included. */
unsigned long hbd_nng_limits_arrivals(hbd_nng_limits *limits, int listener_id);
/* Stops counting for a listener that was closed. */
void hbd_nng_limits_forget(hbd_nng_limits *limits, int listener_id);
/* Pipes open now (tests, metrics). */
unsigned int hbd_nng_limits_open(hbd_nng_limits *limits);
void hbd_nng_limits_free(hbd_nng_limits *limits);

#endif /* HBD_NNG_LIMITS_H */
