/* Honest clients that beat through the library; see honest.h. */
#define _POSIX_C_SOURCE 200809L

#include "honest.h"

#include <stdio.h>
#include <string.h>

#include "hbeat/hbeat.h"
#include "support/rawpeer.h"

static hbeat_gateway *open_gw(hx_honest *c, hbeat_error *err)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = HX_HONEST_TIMEOUT_S;
    o.connect_timeout = HX_HONEST_TIMEOUT_S;
    o.ca_file = c->ca_file;
    hbeat_gateway *gw = NULL;
    if (hbeat_gateway_open(&gw, c->url, &o, err) != 0)
        return NULL;
    return gw;
}

static void count(hx_honest *c, int phase, int ok, double took, const char *why)
{
    if (ok) {
        atomic_fetch_add(&c->ok[phase], 1);
    } else {
        if (atomic_load(&c->failed[phase]) == 0)
            snprintf(c->first_error[phase], sizeof c->first_error[phase], "%s", why);
        atomic_fetch_add(&c->failed[phase], 1);
    }
    if (took > c->slowest[phase])
        c->slowest[phase] = took;
}

static void *honest_main(void *arg)
{
    hx_honest *c = arg;
    hbeat_gateway *kept = NULL;
    while (!atomic_load(&c->stop)) {
        int phase = atomic_load(c->phase);
        double t = rp_now();
        hbeat_error err = HBEAT_ERROR_INIT;
        hbeat_gateway *gw = c->fresh ? NULL : kept;
        if (gw == NULL)
            gw = open_gw(c, &err);
        int rc = -1;
        char status[HBEAT_STATUS_MAX + 1] = "";
        if (gw != NULL)
            rc = hbeat_gateway_log_heartbeat(gw, c->run, "R", 60.0, status, &err);
        double took = rp_now() - t;
        if (c->fresh)
            hbeat_gateway_free(gw);
        else
            kept = gw;
        char why[200];
        if (rc == 0 && strcmp(status, "R") != 0)
            snprintf(why, sizeof why, "the run is in %s", status);
        else
            snprintf(why, sizeof why, "%s after %.1f s: %.150s",
                     gw == NULL ? "open failed" : hbeat_strerror(rc), took, err.message);
        count(c, phase, rc == 0 && strcmp(status, "R") == 0, took, why);
        rp_sleep(HX_HONEST_PAUSE_S);
    }
    hbeat_gateway_free(kept);
    return NULL;
}

int hx_honest_start(hx_honest *c)
{
    atomic_init(&c->stop, 0);
    for (int i = 0; i < HX_PHASES; i++) {
        atomic_init(&c->ok[i], 0);
        atomic_init(&c->failed[i], 0);
        c->slowest[i] = 0;
        c->first_error[i][0] = '\0';
    }
    c->started = pthread_create(&c->thread, NULL, honest_main, c) == 0;
    return c->started ? 0 : -1;
}

void hx_honest_stop(hx_honest *c)
{
    atomic_store(&c->stop, 1);
}

void hx_honest_join(hx_honest *c)
{
    if (c->started)
        pthread_join(c->thread, NULL);
    c->started = 0;
}
