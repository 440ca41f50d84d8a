/*
 * hbeatd's side of systemd's service protocol (sd_notify(3)): READY=1 once
 * every listener is bound and the store is open, STATUS= lines saying what
 * it serves, WATCHDOG=1 while it is healthy, STOPPING=1 when it drains.
 * Without $NOTIFY_SOCKET (not started by systemd) every call does nothing.
 */
#ifndef HBD_SERVICE_NOTIFY_H
#define HBD_SERVICE_NOTIFY_H

#include <stdint.h>

typedef struct hbd_service_notify {
    uint64_t watchdog_usec; /* 0: no watchdog asked for */
    double last_ping;       /* monotonic seconds; < 0: never */
} hbd_service_notify;

/* Reads $WATCHDOG_USEC (and $WATCHDOG_PID: meant for this process). */
void hbd_service_notify_init(hbd_service_notify *n);
/* READY=1 with `status` as STATUS=. */
void hbd_service_notify_ready(const char *status);
/* STOPPING=1 with `status` as STATUS=. */
void hbd_service_notify_stopping(const char *status);
/* From the main loop: WATCHDOG=1 when `healthy` and half the watchdog
   interval has passed since the last one (`now`: monotonic seconds). */
void hbd_service_notify_tick(hbd_service_notify *n, double now, int healthy);

#endif /* HBD_SERVICE_NOTIFY_H */
