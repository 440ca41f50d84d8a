/*
 * hbeatd: parse options, open the engine (store + reaper), start the front
 * ends, announce readiness, then wait for SIGINT/SIGTERM. The signals are
 * blocked in every thread and taken synchronously here with sigtimedwait,
 * so no handler runs in the middle of anything; the same loop notices a
 * failed store.
 *
 * Shutdown order: front ends first (they answer what is in flight, and
 * take nothing new), then the engine (reaper, last commit, store).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hbeat/errors.h"
#include "hbeat/log.h"
#include "hbeat/version.h"
#include "server/engine.h"
#include "server/front_nng.h"
#include "server/log.h"
#include "server/options.h"
#ifdef HBD_WITH_REST
#include "server/front_rest.h"
#endif

#define EXIT_RUNTIME    1
#define EXIT_USAGE      2
#define HBD_MAX_MESSAGE (64 * 1024)

static void library_log(void *arg, hbeat_log_level level, const char *message)
{
    (void)arg;
    hbd_log(level, "%s", message);
}

/* Writes the ready file as temp + rename, so a reader never sees half. */
static int write_ready(const char *path, hbd_nng *nng, size_t nlisten, const char *http_url)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        hbd_error("--ready-file: path too long");
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        hbd_error("--ready-file %s: %s", tmp, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < nlisten; i++)
        fprintf(f, "nng %s\n", hbd_nng_bound_url(nng, i));
    if (http_url != NULL)
        fprintf(f, "http %s\n", http_url);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        hbd_error("--ready-file %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* A start-up failure caused by what the user asked for is a usage error. */
static int start_exit_code(int code)
{
    return code == HBEAT_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
    hbd_options o;
    char errbuf[256];
    if (hbd_options_parse(&o, argc, argv, errbuf, sizeof errbuf) != 0) {
        fprintf(stderr, "hbeatd: %s\nTry 'hbeatd --help'.\n", errbuf);
        return EXIT_USAGE;
    }
    if (o.help) {
        hbd_options_usage(stdout);
        return 0;
    }
    if (o.version) {
        printf("hbeatd %s\n", HBEAT_VERSION_STRING);
        return 0;
    }
#ifndef HBD_WITH_REST
    if (o.http_enabled) {
        fprintf(stderr, "hbeatd: this build has no REST front end; pass --http none\n");
        return EXIT_USAGE;
    }
#endif
    hbd_log_set_level((hbeat_log_level)o.log_level);
    hbeat_log_set_handler(library_log, NULL, (hbeat_log_level)o.log_level);

    /* Blocked before any thread starts, so every thread inherits it and
       only sigtimedwait below ever takes these signals. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    hbeat_error err = HBEAT_ERROR_INIT;
    hbd_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.db_path = o.db;
    eo.reap_interval = o.reap_interval;
    eo.reap_grace = o.reap_grace;
    hbd_engine *engine = NULL;
    int rc = hbd_engine_open(&engine, &eo, &err);
    if (rc != 0) {
        hbd_error("cannot open the store: %s", err.message);
        return EXIT_RUNTIME;
    }

    hbd_nng *nng = NULL;
    if (o.nlisten > 0) {
        hbd_nng_options no = {o.listen, o.nlisten, HBD_MAX_MESSAGE, 64};
        if ((rc = hbd_nng_start(&nng, engine, &no, &err)) != 0) {
            hbd_error("%s", err.message);
            hbd_engine_close(engine);
            return start_exit_code(rc);
        }
    }

    char http_url[128] = "";
#ifdef HBD_WITH_REST
    hbd_rest *rest = NULL;
    if (o.http_enabled) {
        hbd_rest_options ro = {o.http_host, o.http_port, HBD_MAX_MESSAGE, 4};
        if ((rc = hbd_rest_start(&rest, engine, &ro, &err)) != 0) {
            hbd_error("%s", err.message);
            hbd_nng_stop(nng);
            hbd_engine_close(engine);
            return start_exit_code(rc);
        }
        int v6 = strchr(o.http_host, ':') != NULL;
        snprintf(http_url, sizeof http_url, "http://%s%s%s:%u/api/v3", v6 ? "[" : "", o.http_host,
                 v6 ? "]" : "", (unsigned)hbd_rest_port(rest));
        hbd_info("http: listening on %s", http_url);
    }
#endif

    int status = 0;
    if (o.ready_file != NULL &&
        write_ready(o.ready_file, nng, o.nlisten, http_url[0] ? http_url : NULL) != 0)
        status = EXIT_RUNTIME;
    else
        hbd_info("hbeatd %s ready", HBEAT_VERSION_STRING);

    while (status == 0) {
        struct timespec tick = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            hbd_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (hbd_engine_failed(engine)) {
            hbd_error("the store failed; stopping");
            status = EXIT_RUNTIME;
        }
    }

#ifdef HBD_WITH_REST
    hbd_rest_stop(rest);
#endif
    hbd_nng_stop(nng);
    if (hbd_engine_failed(engine))
        status = EXIT_RUNTIME;
    hbd_engine_close(engine);
    if (o.ready_file != NULL)
        unlink(o.ready_file);
    hbd_nng_fini();
    hbd_info("stopped");
    return status;
}
