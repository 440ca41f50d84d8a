/*
 * custom_gateway.c: a program that keeps systemd's watchdog fed through a
 * gateway of its own (sdnotify_gateway.c), registered under its own URL
 * scheme and then opened by URL like any built-in transport.
 *
 *     custom_gateway [URL [INTERVAL]]
 *
 * URL defaults to "sdnotify://" (the socket in $NOTIFY_SOCKET). INTERVAL,
 * in seconds, defaults to half of systemd's WATCHDOG_USEC when systemd set
 * one for this process, as sd_watchdog_enabled() advises, else 1. Each beat
 * tells systemd to expect the next within two intervals. Try it:
 *
 *     systemd-run --user --wait -p Type=notify -p WatchdogSec=4 \
 *         -p NotifyAccess=main $PWD/custom_gateway
 *     systemctl --user status run-XXXX.service   # "run 1: R (running)"
 *     systemctl --user stop run-XXXX.service
 *
 * It runs until SIGINT or SIGTERM, then reports "D" (done), which the
 * gateway sends as STOPPING=1, and exits 0; 1 when beating failed for good;
 * 2 on a usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hbeat/hbeat.h>

#include "sdnotify_gateway.h"

#define RUN_ID 1

/* Seconds between beats: argv, else WATCHDOG_USEC / 2 when it is ours,
   else 1. Returns 0 on a bad argument. */
static double pick_interval(int argc, char **argv)
{
    char *end = NULL;
    if (argc > 2) {
        double v = strtod(argv[2], &end);
        return (end != argv[2] && *end == '\0' && v > 0 && v < 86400) ? v : 0;
    }
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (usec && (!pid || strtol(pid, NULL, 10) == (long)getpid())) {
        double v = strtod(usec, &end);
        if (end != usec && *end == '\0' && v >= 2000)
            return v / 2e6;
    }
    return 1.0;
}

/* SIGINT and SIGTERM are blocked everywhere and taken here, because a stop
   event must not be set from a signal handler. */
typedef struct watcher {
    sigset_t set;
    hbeat_stop_event *stop;
} watcher;

static void *watch_signals(void *arg)
{
    watcher *w = arg;
    int sig = 0;
    while (sigwait(&w->set, &sig) != 0) {
    }
    hbeat_stop_event_set(w->stop);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "sdnotify://";
    double interval = pick_interval(argc, argv);
    if (argc > 3 || interval <= 0) {
        fprintf(stderr, "usage: custom_gateway [URL [INTERVAL]]  (URL default sdnotify://)\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway *gw = NULL;
    hbeat_service *svc = NULL;
    watcher w;
    pthread_t thread;
    int exit_code = 1;

    if (hbeat_stop_event_new(&w.stop) != 0)
        return 1;
    /* Before any other thread starts, so that all of them inherit it. */
    sigemptyset(&w.set);
    sigaddset(&w.set, SIGINT);
    sigaddset(&w.set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &w.set, NULL);
    if (pthread_create(&thread, NULL, watch_signals, &w) != 0) {
        hbeat_stop_event_free(w.stop);
        return 1;
    }

    /* From here on "sdnotify://..." opens like any built-in scheme. */
    int rc = sdnotify_gateway_register(&err);
    if (rc == 0)
        rc = hbeat_gateway_open(&gw, url, NULL, &err);
    if (rc != 0) {
        fprintf(stderr, "custom_gateway: %s: %s: %s\n", url, hbeat_strerror(rc), err.message);
        goto out;
    }

    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = RUN_ID;
    opts.interval = interval;
    opts.report_by_buffer = 2.0; /* systemd's rule: notify within half the timeout */
    rc = hbeat_service_new(&svc, gw, &opts, &err);
    if (rc != 0) {
        fprintf(stderr, "custom_gateway: %s: %s\n", hbeat_strerror(rc), err.message);
        goto out;
    }
    printf("custom_gateway: beating run %d to %s every %g s\n", RUN_ID, url, interval);

    /* Beat once now (this sends READY=1), then keep beating until a signal
       sets the stop event or the loop gives up. */
    rc = hbeat_service_tick(svc, NULL, &err);
    if (rc == 0)
        rc = hbeat_service_run(svc, w.stop, &err);
    if (rc != 0) {
        fprintf(stderr, "custom_gateway: %s: %s\n", hbeat_strerror(rc), err.message);
        goto out;
    }

    /* run() returns at once when stopped, even with a beat in flight;
       freeing the service waits for it, so that nothing follows the last
       word. Then tell systemd the job is done: STATUS=... and STOPPING=1. */
    hbeat_service_free(svc);
    svc = NULL;
    char held[HBEAT_STATUS_MAX + 1];
    rc = hbeat_gateway_update_status(gw, RUN_ID, HBEAT_STATUS_DONE, held, &err);
    if (rc != 0) {
        fprintf(stderr, "custom_gateway: final status: %s: %s\n", hbeat_strerror(rc), err.message);
        goto out;
    }
    printf("custom_gateway: stopped, run %d is %s\n", RUN_ID, held);
    exit_code = 0;
out:
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    sdnotify_gateway_unregister(NULL);
    /* Wake the watcher if no signal came, then wait for it. */
    hbeat_stop_event_set(w.stop);
    pthread_kill(thread, SIGTERM);
    pthread_join(thread, NULL);
    hbeat_stop_event_free(w.stop);
    return exit_code;
}
