/*
 * 64 clients heartbeating at once, each on its own connection: every reply
 * carries exactly the status its own sequence of beats should produce (no
 * change lost or applied out of order), and a run shared by all of them
 * counts every beat.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "nng_client.h"
#include "support/hbeatd_harness.h"

#define NCLIENTS     64
#define RBEATS       25
#define SHARED_BEATS 20

static hbd_harness h;
static int64_t shared_run;

typedef struct client {
    int index;
    int64_t run;
    int beats; /* accepted beats sent */
    char error[256];
} client;

typedef struct step {
    const char *send, *expect;
    int counts; /* 1 when the server must count the beat */
} step;

/* Each client's run walks G->L->L->B->I->O->R x RBEATS->(C or H)->T, with
   an invalid beat thrown in that must change nothing. Even clients use
   tcp, odd ones ipc. */
static void *client_main(void *arg)
{
    client *cl = arg;
    tc_client c;
    const char *url = cl->index % 2 ? h.nng_ipc_url : h.nng_tcp_url;
    if (tc_open(&c, url, 30000) != 0) {
        snprintf(cl->error, sizeof cl->error, "cannot dial %.100s", url);
        return NULL;
    }
    if (tc_create(&c, 1000 + cl->index, "G", &cl->run) != 0) {
        snprintf(cl->error, sizeof cl->error, "create failed");
        goto out;
    }
    const char *resume = cl->index % 3 == 0 ? "C" : "H";
    step steps[16 + RBEATS];
    int n = 0;
    steps[n++] = (step){"L", "L", 1};
    steps[n++] = (step){"L", "L", 1};
    steps[n++] = (step){"B", "B", 1};
    steps[n++] = (step){"D", "B", 0}; /* invalid: B -> D */
    steps[n++] = (step){"I", "I", 1};
    steps[n++] = (step){"O", "O", 1};
    for (int i = 0; i < RBEATS; i++)
        steps[n++] = (step){"R", "R", 1};
    steps[n++] = (step){resume, resume, 1};
    steps[n++] = (step){"R", resume, 0}; /* invalid: C/H -> R */
    steps[n++] = (step){"T", "T", 1};
    for (int i = 0; i < n; i++) {
        char st[16];
        int rc = tc_heartbeat(&c, cl->run, steps[i].send, 600.0, (uint64_t)i, st, NULL);
        if (rc != 0 || strcmp(st, steps[i].expect) != 0) {
            snprintf(cl->error, sizeof cl->error, "run %lld step %d: sent %s, got rc %d status %s",
                     (long long)cl->run, i, steps[i].send, rc, rc == 0 ? st : "-");
            goto out;
        }
        cl->beats += steps[i].counts;
        /* Interleave beats on the one run everybody shares. */
        if (i < SHARED_BEATS && tc_heartbeat(&c, shared_run, "R", 600.0, 0, st, NULL) != 0) {
            snprintf(cl->error, sizeof cl->error, "shared beat %d failed", i);
            goto out;
        }
    }
out:
    tc_close(&c);
    return NULL;
}

static void test_64_clients(void **state)
{
    const char *args[] = {"--reap-grace", "100000", NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 30000), 0);
    assert_int_equal(tc_create(&c, 1, "R", &shared_run), 0);

    static client clients[NCLIENTS];
    pthread_t threads[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        memset(&clients[i], 0, sizeof clients[i]);
        clients[i].index = i;
        assert_int_equal(pthread_create(&threads[i], NULL, client_main, &clients[i]), 0);
    }
    for (int i = 0; i < NCLIENTS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < NCLIENTS; i++) {
        if (clients[i].error[0] != '\0')
            fail_msg("client %d: %s", i, clients[i].error);
    }
    for (int i = 0; i < NCLIENTS; i++) {
        tc_run r;
        assert_int_equal(tc_get(&c, clients[i].run, &r), 0);
        assert_string_equal(r.status, "T");
        assert_int_equal(r.beats, (uint64_t)clients[i].beats);
    }
    tc_run s;
    assert_int_equal(tc_get(&c, shared_run, &s), 0);
    assert_string_equal(s.status, "R");
    assert_int_equal(s.beats, (uint64_t)NCLIENTS * SHARED_BEATS);
    tc_close(&c);

    /* And all of it was durable: the same after a crash. */
    hbd_harness_kill9(&h);
    assert_int_equal(hbd_harness_restart(&h), 0);
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 30000), 0);
    tc_run s2;
    assert_int_equal(tc_get(&c, shared_run, &s2), 0);
    assert_true(tc_run_equal(&s, &s2));
    for (int i = 0; i < NCLIENTS; i++) {
        tc_run r;
        assert_int_equal(tc_get(&c, clients[i].run, &r), 0);
        assert_string_equal(r.status, "T");
        assert_int_equal(r.beats, (uint64_t)clients[i].beats);
    }
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
}

static int teardown(void **state)
{
    hbd_harness_cleanup(&h);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_64_clients, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tc_fini();
    return failed;
}
