/*
 * runtime_select.c: one program, any server, chosen at run time by URL.
 *
 *     runtime_select URL [RUN_ID [BEATS]]
 *     HBEAT_URL=URL runtime_select
 *
 * The URL's scheme picks the transport: http:// or https:// (a
 * Jobmon-compatible REST server, base URL with its route prefix, e.g.
 * http://127.0.0.1:7780/api/v3), nng+tcp://, nng+ipc://, nng+inproc://
 * (hbeatd's protobuf request/reply), fake:// (an in-memory echo, no server
 * needed), or any scheme a program registered itself (see custom_gateway.c).
 * The program sends BEATS heartbeats (default 3) for RUN_ID (default 1) half
 * a second apart with hbeat_service_tick(), printing each reply.
 *
 * Exit status: 0 every beat answered; 1 a beat or the connection failed;
 * 2 usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <hbeat/hbeat.h>

#define INTERVAL 0.5

static int usage(void)
{
    fprintf(stderr, "usage: runtime_select URL [RUN_ID [BEATS]]  (or set HBEAT_URL)\n"
                    "  e.g. runtime_select http://127.0.0.1:7780/api/v3 1\n"
                    "       runtime_select nng+tcp://127.0.0.1:7781 1\n"
                    "       runtime_select fake://\n");
    return 2;
}

/* A positive whole number, or -1. */
static long long parse_positive(const char *text)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    return (end == text || *end != '\0' || errno != 0 || v <= 0) ? -1 : v;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : getenv("HBEAT_URL");
    long long run_id = argc > 2 ? parse_positive(argv[2]) : 1;
    long long beats = argc > 3 ? parse_positive(argv[3]) : 3;
    if (!url || !*url || argc > 4 || run_id < 0 || beats < 0)
        return usage();

    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway *gw = NULL;
    hbeat_service *svc = NULL;
    int exit_code = 1;

    /* One call, whatever the transport. Options (timeouts, TLS files, a
       token) would go in the second-to-last argument. */
    int rc = hbeat_gateway_open(&gw, url, NULL, &err);
    if (rc != 0) {
        /* e.g. "unknown URL scheme", or "not built in" for a transport this
           build of libhbeat left out. */
        fprintf(stderr, "runtime_select: cannot open %s: %s: %s\n", url, hbeat_strerror(rc),
                err.message);
        return 1;
    }
    printf("opened %s with the %s transport\n", url, hbeat_gateway_transport(gw));

    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = run_id;
    opts.interval = INTERVAL;
    rc = hbeat_service_new(&svc, gw, &opts, &err);
    if (rc != 0) {
        fprintf(stderr, "runtime_select: %s: %s\n", hbeat_strerror(rc), err.message);
        goto out;
    }

    for (long long i = 1; i <= beats; i++) {
        if (i > 1)
            sleep_seconds(INTERVAL);
        hbeat_update update;
        char status[HBEAT_STATUS_MAX + 1];
        rc = hbeat_service_tick(svc, &update, &err);
        if (rc != 0) {
            fprintf(stderr, "runtime_select: beat %lld: %s: %s\n", i, hbeat_strerror(rc),
                    err.message);
            goto out;
        }
        hbeat_service_status(svc, status);
        printf("beat %lld run %lld: server holds %s\n", i, run_id, status);
        if (update.changed)
            printf("status change %s -> %s\n", update.previous_status, update.status);
    }
    exit_code = 0;
out:
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    return exit_code;
}
