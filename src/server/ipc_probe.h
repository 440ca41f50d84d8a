/*
 * A health check for an nng ipc listener. libnng 1.5.2's ipc listener stops
 * handing connections to its socket for good once a peer closes one before
 * the SP handshake (a client killed mid-connect, or one that just connects
 * and closes): later clients still complete the handshake, but their
 * connections never reach the socket and nothing is ever answered. nng's
 * statistics cannot tell that apart from an ordinary disconnect, so the
 * probe asks the listener itself: it connects as a REQ peer and watches
 * whether its connection reaches the socket (the caller counts arrivals by
 * listener). It closes its connection only once that happened, or once the
 * listener is taken for dead, so it cannot cause what it looks for.
 */
#ifndef HBD_IPC_PROBE_H
#define HBD_IPC_PROBE_H

typedef struct hbd_ipc_probe {
    int fd;                 /* the probe's connection, -1 between probes */
    double started;         /* when it connected */
    double last;            /* when the last probe ended */
    unsigned long arrivals; /* the listener's arrivals when it connected */
} hbd_ipc_probe;

typedef enum hbd_ipc_health {
    HBD_IPC_FINE,    /* the probe arrived, or no probe is due */
    HBD_IPC_WAITING, /* a probe is out */
    HBD_IPC_DEAD     /* nothing arrived within the limit: listen again */
} hbd_ipc_health;

void hbd_ipc_probe_init(hbd_ipc_probe *p);
/* One step, from a loop that calls it a few times a second: starts a
   probe every `every` seconds, and says DEAD when one has not arrived
   after `dead_after` seconds. `path` is the socket's file; `arrivals` the
   number of connections that have reached the socket through the
   listener so far. */
hbd_ipc_health hbd_ipc_probe_step(hbd_ipc_probe *p, const char *path, unsigned long arrivals,
                                  double now, double every, double dead_after);
/* Drops a probe that is out (the listener is being re-created). */
void hbd_ipc_probe_reset(hbd_ipc_probe *p, double now);

#endif /* HBD_IPC_PROBE_H */
