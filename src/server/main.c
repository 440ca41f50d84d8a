/*
 * hbeatd: parse options, open the engine (store + reaper), load the token
 * file and the TLS files, start the front ends, announce readiness, then
 * wait for SIGINT/SIGTERM (stop) and SIGHUP (reload the token file). The
 * signals are blocked in every thread and taken synchronously here with
 * sigtimedwait, so no handler runs in the middle of anything; the same
 * loop notices a failed store.
 *
 * main() is start, serve, stop: stop() is the one way out, whatever
 * start() got to.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth.h"
#include "engine.h"
#include "front_nng.h"
#ifdef HBD_WITH_GRPC
#include "front_grpc.h"
#else
/* Built without gRPC: there is never a gRPC front end to ask or stop. */
typedef struct hbd_grpc hbd_grpc;
static const char *hbd_grpc_url(const hbd_grpc *grpc)
{
    (void)grpc;
    return "";
}
static void hbd_grpc_stop(hbd_grpc *grpc)
{
    (void)grpc;
}
#endif
#include "front_rest.h"
#include "hbeat/errors.h"
#include "hbeat/log.h"
#include "hbeat/version.h"
#include "log.h"
#include "monotonic.h"
#include "options.h"
#include "options_file.h"
#include "service_notify.h"
#include "tls.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2
/* Open files hbeatd asks for: connections of both front ends and more. */
#define WANT_FILES 65536

static void library_log(void *arg, hbeat_log_level level, const char *message)
{
    (void)arg;
    hbd_log(level, "%s", message);
}

/* Everything hbeatd runs; what is NULL was not started. */
typedef struct server {
    hbd_options o;
    hbd_auth *auth;
    hbd_tls *tls;
    hbd_engine *engine;
    hbd_nng *nng;
    hbd_rest *rest;
    hbd_grpc *grpc;
    char http_url[128];
    hbd_service_notify notify;
    hbd_config_watch *config;
} server;

/* Writes the ready file as temp + rename, so a reader never sees half:
   one line per listener. */
static int write_ready(const char *path, const server *s)
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
    for (size_t i = 0; i < s->o.nlisten; i++)
        fprintf(f, "nng %s\n", hbd_nng_bound_url(s->nng, i));
    if (s->http_url[0] != '\0')
        fprintf(f, "http %s\n", s->http_url);
    if (s->grpc != NULL)
        fprintf(f, "grpc %s\n", hbd_grpc_url(s->grpc));
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

/* The connection limits count on file descriptors: take the hard limit
   (up to WANT_FILES) rather than a login shell's soft 1024. */
static void raise_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= WANT_FILES)
        return;
    rlim_t want =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max > WANT_FILES ? WANT_FILES : rl.rlim_max;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* What start-up says about who may do what, once, at warn level where it
   matters. */
static void log_security(const hbd_options *o, const hbd_auth *auth)
{
    hbd_listener_view views[HBD_MAX_LISTEN + 2];
    hbd_exposure x = {views, hbd_options_listeners(o, views), hbd_auth_enabled(auth),
                      o->allow_remote};
    hbd_exposure_log(&x);
    if (o->tls_client_ca != NULL)
        hbd_info("TLS clients must present a certificate signed by a CA in %s", o->tls_client_ca);
}

static void reload_tokens(hbd_auth *auth)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    if (!hbd_auth_enabled(auth)) {
        hbd_info("SIGHUP: no --token-file to reload");
        return;
    }
    if (hbd_auth_reload(auth, &err) != 0)
        hbd_error("SIGHUP: %s; keeping the tokens in force", err.message);
}

/* Threads serving REST: a few, since a request's work is the engine's
   (in memory) and its commit waits without holding a thread. */
#define REST_THREADS 4

/* Signals are blocked before any thread starts, so every thread inherits
   the mask and only sigtimedwait in serve() ever takes them. */
static void take_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Past a file-size limit (ulimit -f, RLIMIT_FSIZE) a write's default
       is to kill the process silently (status 153). Ignored, the write
       fails with EFBIG instead: the store's commit fails, and hbeatd stops
       the way it does on any store failure, saying why. */
    signal(SIGXFSZ, SIG_IGN);
}

static int start_engine(server *s, hbeat_error *err)
{
    hbd_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.db_path = s->o.db;
    eo.sync = s->o.sync;
    eo.db_timeout = s->o.db_timeout;
    eo.reap_interval = s->o.reap_interval;
    eo.reap_grace = s->o.reap_grace;
    if (hbd_engine_open(&s->engine, &eo, err) != 0) {
        hbd_error("cannot open the store: %s", err->message);
        return EXIT_RUNTIME;
    }
    return 0;
}

static int start_nng(server *s, hbeat_error *err)
{
    if (s->o.nlisten == 0)
        return 0;
    hbd_nng_options no = {s->o.listen, s->o.nlisten, s->o.max_request};
    hbd_nng_security ns = {s->tls, s->auth, s->o.max_connections, s->o.max_connections_per_ip,
                           s->o.read_timeout};
    int rc = hbd_nng_start(&s->nng, s->engine, &no, &ns, err);
    if (rc != 0)
        hbd_error("%s", err->message);
    return rc != 0 ? start_exit_code(rc) : 0;
}

static int start_rest(server *s, hbeat_error *err)
{
    if (!s->o.http_enabled)
        return 0;
    hbd_rest_options ro = {s->o.http_host, s->o.http_port, s->o.max_request, REST_THREADS};
    hbd_rest_security rs = {s->tls,
                            s->auth,
                            s->o.max_connections,
                            s->o.max_connections_per_ip,
                            s->o.read_timeout,
                            (double)s->o.min_request_rate};
    int rc = hbd_rest_start(&s->rest, s->engine, &ro, &rs, err);
    if (rc != 0) {
        hbd_error("%s", err->message);
        return start_exit_code(rc);
    }
    int v6 = strchr(s->o.http_host, ':') != NULL;
    snprintf(s->http_url, sizeof s->http_url, "%s://%s%s%s:%u/api/v3",
             s->tls != NULL ? "https" : "http", v6 ? "[" : "", s->o.http_host, v6 ? "]" : "",
             (unsigned)hbd_rest_port(s->rest));
    hbd_info("http: listening on %s", s->http_url);
    return 0;
}

#ifdef HBD_WITH_GRPC
static int start_grpc(server *s, hbeat_error *err)
{
    if (!s->o.grpc_enabled)
        return 0;
    hbd_grpc_options go = {s->o.grpc_host, s->o.grpc_port, s->o.max_request, s->o.grpc_max_calls};
    hbd_grpc_security gs = {s->tls, s->auth, s->o.read_timeout};
    int rc = hbd_grpc_start(&s->grpc, s->engine, &go, &gs, err);
    if (rc != 0) {
        hbd_error("%s", err->message);
        return start_exit_code(rc);
    }
    hbd_info("grpc: listening on %s", hbd_grpc_url(s->grpc));
    return 0;
}
#else
static int start_grpc(server *s, hbeat_error *err)
{
    (void)err;
    if (!s->o.grpc_enabled)
        return 0;
    hbd_error("--grpc: this hbeatd was built without gRPC; pass --grpc none");
    return EXIT_USAGE;
}
#endif

/* READY=1 for systemd, with what hbeatd serves as its status line. */
static void announce_ready(server *s)
{
    char status[1024];
    size_t n = (size_t)snprintf(status, sizeof status, "hbeatd %s serving", HBEAT_VERSION_STRING);
    for (size_t i = 0; i < s->o.nlisten && n < sizeof status; i++)
        n += (size_t)snprintf(status + n, sizeof status - n, " nng %s",
                              hbd_nng_bound_url(s->nng, i));
    if (s->http_url[0] != '\0' && n < sizeof status)
        n += (size_t)snprintf(status + n, sizeof status - n, " http %s", s->http_url);
    if (s->grpc != NULL && n < sizeof status)
        snprintf(status + n, sizeof status - n, " grpc %s", hbd_grpc_url(s->grpc));
    hbd_service_notify_ready(status);
    s->config = hbd_config_watch_start(s->o.config);
}

/* Files first (a wrong path is a usage error, before the store opens),
   then the engine, then the front ends. 0, or the exit status. */
static int start(server *s)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbd_auth_open(&s->auth, s->o.token_file, &err);
    if (rc != 0) {
        hbd_error("--token-file: %s", err.message);
        return start_exit_code(rc);
    }
    if (s->o.tls_cert != NULL &&
        (rc = hbd_tls_load(&s->tls, s->o.tls_cert, s->o.tls_key, s->o.tls_client_ca, &err)) != 0) {
        hbd_error("%s", err.message);
        return start_exit_code(rc);
    }
    log_security(&s->o, s->auth);
    if ((rc = start_engine(s, &err)) != 0 || (rc = start_nng(s, &err)) != 0 ||
        (rc = start_rest(s, &err)) != 0 || (rc = start_grpc(s, &err)) != 0)
        return rc;
    if (s->o.ready_file != NULL && write_ready(s->o.ready_file, s) != 0)
        return EXIT_RUNTIME;
    hbd_info("hbeatd %s ready", HBEAT_VERSION_STRING);
    announce_ready(s);
    return 0;
}

/* Until SIGINT or SIGTERM (0), or a failed store (EXIT_RUNTIME). */
static int serve(server *s, const sigset_t *sigs)
{
    for (;;) {
        struct timespec tick = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            hbd_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            hbd_service_notify_stopping(sig == SIGINT ? "stopping (SIGINT)" : "stopping (SIGTERM)");
            return 0;
        }
        if (sig == SIGHUP) {
            reload_tokens(s->auth);
            hbd_config_watch_report(s->config);
        }
        hbd_log_flush_suppressed();
        int healthy = !hbd_engine_failed(s->engine);
        hbd_service_notify_tick(&s->notify, hbd_mono_now(), healthy);
        if (!healthy) {
            hbd_error("the store failed; stopping");
            hbd_service_notify_stopping("stopping: the store failed");
            return EXIT_RUNTIME;
        }
    }
}

/* The one way out, whatever got started: front ends first (they answer
   what is in flight and take nothing new), then the engine (reaper, last
   commit, store). */
static int stop(server *s, int status)
{
    hbd_grpc_stop(s->grpc);
    hbd_rest_stop(s->rest);
    hbd_nng_stop(s->nng);
    if (s->engine != NULL && hbd_engine_failed(s->engine) && status == 0)
        status = EXIT_RUNTIME;
    hbd_engine_close(s->engine);
    if (s->o.ready_file != NULL)
        unlink(s->o.ready_file);
    hbd_tls_free(s->tls);
    hbd_auth_close(s->auth);
    hbd_config_watch_free(s->config);
    hbd_options_free(&s->o);
    if (s->engine != NULL)
        hbd_info("stopped");
    return status;
}

int main(int argc, char **argv)
{
    static server s;
    char errbuf[1024];
    if (hbd_options_parse(&s.o, argc, argv, errbuf, sizeof errbuf) != 0) {
        hbd_options_free(&s.o);
        fprintf(stderr, "hbeatd: %s\nTry 'hbeatd --help'.\n", errbuf);
        return EXIT_USAGE;
    }
    if (s.o.help) {
        hbd_options_usage(stdout);
        return 0;
    }
    if (s.o.version) {
        printf("hbeatd %s\n", HBEAT_VERSION_STRING);
        return 0;
    }
    hbd_log_set_level((hbeat_log_level)s.o.log_level);
    hbeat_log_set_handler(library_log, NULL, (hbeat_log_level)s.o.log_level);
    sigset_t sigs;
    take_signals(&sigs);
    raise_file_limit();
    hbd_service_notify_init(&s.notify);
    int status = start(&s);
    if (status == 0)
        status = serve(&s, &sigs);
    return stop(&s, status);
}
