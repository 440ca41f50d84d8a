/*
 * The first use of the registry happens on several threads at once: the
 * built-ins must be registered exactly once and thread-safely. This is its
 * own program so that nothing touched the registry before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#define NTHREADS 8
#define ROUNDS   200

static pthread_barrier_t barrier;

typedef struct opener {
    int index;
    int failures;
    char why[128];
} opener;

static void mine_destroy(void *self)
{
    (void)self;
}

static int mine_beat(void *self, const hbeat_heartbeat_request *req, hbeat_heartbeat_reply *reply,
                     hbeat_error *err)
{
    (void)self;
    (void)err;
    snprintf(reply->status, sizeof reply->status, "%s", req->status);
    return 0;
}

static const hbeat_gateway_vtable mine_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "mine",
    .destroy = mine_destroy,
    .log_heartbeat = mine_beat,
};

static int mine_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err)
{
    (void)url;
    (void)opts;
    return hbeat_gateway_new(out, &mine_vtable, data, err);
}

static void *open_many(void *arg)
{
    opener *o = arg;
    char scheme[32];
    char url[64];
    snprintf(scheme, sizeof scheme, "conc%d", o->index);
    snprintf(url, sizeof url, "%s://x", scheme);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < ROUNDS; i++) {
        hbeat_gateway *gw = NULL;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = (i % 2) ? hbeat_gateway_open(&gw, "fake://", NULL, &err)
                         : hbeat_gateway_open(&gw, "FAKE://x", NULL, &err);
        if (rc != 0 || strcmp(hbeat_gateway_transport(gw), "fake") != 0) {
            o->failures++;
            snprintf(o->why, sizeof o->why, "open fake: %d %.80s", rc, err.message);
        }
        hbeat_gateway_free(gw);
        if (hbeat_transport_lookup("fake") != 0) {
            o->failures++;
        }
        /* Each thread also registers, uses and removes a scheme of its own
           while the others read the registry. */
        if (hbeat_transport_register(scheme, mine_open, o, &err) != 0) {
            o->failures++;
            snprintf(o->why, sizeof o->why, "register %s: %.80s", scheme, err.message);
            continue;
        }
        gw = NULL;
        if (hbeat_gateway_open(&gw, url, NULL, &err) != 0 ||
            strcmp(hbeat_gateway_transport(gw), "mine") != 0) {
            o->failures++;
        }
        hbeat_gateway_free(gw);
        if (hbeat_transport_unregister(scheme, &err) != 0) {
            o->failures++;
        }
    }
    return NULL;
}

static void test_concurrent_first_open(void **state)
{
    (void)state;
    opener o[NTHREADS];
    pthread_t th[NTHREADS];
    assert_int_equal(pthread_barrier_init(&barrier, NULL, NTHREADS), 0);
    for (int i = 0; i < NTHREADS; i++) {
        o[i] = (opener){.index = i};
        th[i] = t_thread(open_many, &o[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        t_join(th[i]);
    }
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < NTHREADS; i++) {
        if (o[i].failures) {
            fail_msg("thread %d: %d failures (%s)", i, o[i].failures, o[i].why);
        }
    }
    /* Nothing left behind. */
    for (int i = 0; i < NTHREADS; i++) {
        char scheme[32];
        snprintf(scheme, sizeof scheme, "conc%d", i);
        assert_int_equal(hbeat_transport_lookup(scheme), HBEAT_ESCHEME);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_first_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
