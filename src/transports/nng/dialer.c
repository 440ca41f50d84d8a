/*
 * The gateway's dialer. nng dials in the background and redials by itself
 * when a connection drops (after 10 ms, backing off to 1 s), so a gateway
 * outlives server restarts.
 *
 * Except when it does not: libnng 1.5's ipc dialer gives up for good when
 * the server closes a new connection before the SP handshake, as a server
 * killed with connections still in its listen backlog does. It then never
 * dials again and every call times out (test_nng_connection reproduces
 * it). So a call that finds no connection, when there has been none for
 * longer than nng's slowest retry, starts a fresh dialer. The old one is
 * closed once a connection is up again, not at once (see close_retired).
 */
#include <stdatomic.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "transports/nng/nng_internal.h"

/* Longer than nng's slowest retry, so a dialer that still works is left
   to do its job. */
#define REDIAL_AFTER_MS (2 * HBEAT__NNG_RECONNECT_MAX_MS + 500)

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    hbeat__nng_gw *gw = arg;
    (void)p;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        atomic_fetch_add(&gw->pipes, 1);
    } else if (atomic_fetch_sub(&gw->pipes, 1) == 1) {
        atomic_store(&gw->pipeless_since, (uint64_t)nng_clock());
    }
}

int hbeat__nng_watch_pipes(hbeat__nng_gw *gw)
{
    atomic_store(&gw->pipeless_since, (uint64_t)nng_clock());
    int rv = nng_pipe_notify(gw->sock, NNG_PIPE_EV_ADD_POST, on_pipe, gw);
    if (rv == 0) {
        rv = nng_pipe_notify(gw->sock, NNG_PIPE_EV_REM_POST, on_pipe, gw);
    }
    return rv;
}

static int configure(hbeat__nng_gw *gw, nng_dialer d, hbeat_error *err)
{
    int rv = 0;
    if (gw->set.tls) {
        void *cfg;
        int rc = hbeat__nng_tls_config(&cfg, &gw->set, gw->url, err);
        if (rc != 0) {
            return rc;
        }
        rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
        /* The dialer keeps its own reference. */
        nng_tls_config_free(cfg);
    }
    if (rv == 0) {
        rv = nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, gw->set.max_reply);
    }
    if (rv == 0) {
        rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, HBEAT__NNG_RECONNECT_MIN_MS);
    }
    if (rv == 0) {
        rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, HBEAT__NNG_RECONNECT_MAX_MS);
    }
    if (rv != 0) {
        return hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, 0, gw->url, 0.0);
    }
    return 0;
}

int hbeat__nng_dialer_start(hbeat__nng_gw *gw, nng_dialer *out, hbeat_error *err)
{
    nng_dialer d;
    int rv = nng_dialer_create(&d, gw->sock, gw->address);
    if (rv == NNG_EADDRINVAL || rv == NNG_EINVAL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "bad nng URL \"%.160s\": %s", gw->url,
                               nng_strerror(rv));
    }
    if (rv == NNG_ENOTSUP) {
        return hbeat_error_set(err, HBEAT_ENOTSUP,
                               "%.160s: this nng library has no support for the transport",
                               gw->url);
    }
    if (rv != 0) {
        return hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, 0, gw->url, 0.0);
    }
    int rc = configure(gw, d, err);
    /* In the background: a server that is down now is not an error; the
       first request waits for it within its timeout. */
    if (rc == 0 && (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
        rc = hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, 0, gw->url, 0.0);
    }
    if (rc != 0) {
        nng_dialer_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* Closes the dialer replaced last, once a connection is up again. Closing
   a dialer in the middle of a handshake stops a libnng 1.5 ipc listener
   on the server's side (hbeatd itself no longer listens through libnng);
   by now a replaced dialer that still works is connected or between
   tries. */
static void close_retired(hbeat__nng_gw *gw)
{
    if (pthread_mutex_trylock(&gw->dial_mu) != 0) {
        return;
    }
    if (atomic_load(&gw->has_retired)) {
        nng_dialer_close(gw->retired);
        atomic_store(&gw->has_retired, 0);
    }
    pthread_mutex_unlock(&gw->dial_mu);
}

static int stuck(hbeat__nng_gw *gw)
{
    return atomic_load(&gw->pipes) == 0 &&
           (uint64_t)nng_clock() - atomic_load(&gw->pipeless_since) >= REDIAL_AFTER_MS;
}

void hbeat__nng_redial_if_stuck(hbeat__nng_gw *gw)
{
    if (atomic_load(&gw->pipes) > 0) {
        if (atomic_load(&gw->has_retired)) {
            close_retired(gw);
        }
        return;
    }
    /* One thread replaces it; the others go on waiting for a connection. */
    if (!stuck(gw) || pthread_mutex_trylock(&gw->dial_mu) != 0) {
        return;
    }
    nng_dialer fresh;
    hbeat_error ignored = HBEAT_ERROR_INIT;
    if (stuck(gw) && hbeat__nng_dialer_start(gw, &fresh, &ignored) == 0) {
        /* The one retired before has had another 2.5 s without a
           connection: dead, or between tries to a server that is down. */
        if (atomic_load(&gw->has_retired)) {
            nng_dialer_close(gw->retired);
        }
        gw->retired = gw->dialer;
        atomic_store(&gw->has_retired, 1);
        gw->dialer = fresh;
    }
    /* Not again before the fresh dialer had its chance. */
    atomic_store(&gw->pipeless_since, (uint64_t)nng_clock());
    pthread_mutex_unlock(&gw->dial_mu);
}
