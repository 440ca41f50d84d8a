/*
 * systemd's notify protocol through libsystemd's sd_notify, which knows
 * every form $NOTIFY_SOCKET takes (path, abstract, vsock) and does nothing
 * when it is unset. The watchdog is fed at half its interval, as
 * sd_watchdog_enabled(3) advises, so one late tick of the main loop does
 * not get hbeatd killed.
 */
#include "service_notify.h"

#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"

void hbd_service_notify_init(hbd_service_notify *n)
{
    n->watchdog_usec = 0;
    n->last_ping = -1;
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        n->watchdog_usec = usec;
}

void hbd_service_notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void hbd_service_notify_stopping(const char *status)
{
    sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}

void hbd_service_notify_tick(hbd_service_notify *n, double now, int healthy)
{
    if (n->watchdog_usec == 0 || !healthy)
        return;
    if (n->last_ping >= 0 && now - n->last_ping < (double)n->watchdog_usec / 2e6)
        return;
    n->last_ping = now;
    int rc = sd_notify(0, "WATCHDOG=1");
    if (rc < 0)
        hbd_warn_limited("watchdog", "watchdog: sd_notify: %s", strerror(-rc));
}
