/*
 * Clean stop: SIGTERM and SIGINT exit 0; requests in flight when the
 * signal arrives are answered (or, if not yet received, fail cleanly on
 * the client), never left hanging, and what was acknowledged is durable.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "nng_client.h"
#include "support/hbeatd_harness.h"

static hbd_harness h;

static int teardown(void **state)
{
    hbd_harness_cleanup(&h);
    return 0;
}

static void test_sigterm_exits_0(void **state)
{
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    assert_int_equal(hbd_harness_stop(&h), 0);
}

static void test_sigint_exits_0(void **state)
{
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    kill(h.pid, SIGINT);
    int status;
    assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
    h.pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#define NCLIENTS 16

typedef struct beater {
    const char *url;
    int64_t run;
    uint64_t acked;
    int last_rc;
} beater;

static void *beat_until_error(void *arg)
{
    beater *b = arg;
    tc_client c;
    /* Short: a request the server never received waits this long for a
       server that is gone. */
    if (tc_open(&c, b->url, 3000) != 0) {
        b->last_rc = -2;
        return NULL;
    }
    for (uint64_t seq = 0;; seq++) {
        b->last_rc = tc_heartbeat(&c, b->run, "R", 60.0, seq, NULL, NULL);
        if (b->last_rc != 0)
            break;
        __atomic_fetch_add(&b->acked, 1, __ATOMIC_RELAXED);
    }
    tc_close(&c);
    return NULL;
}

static void test_sigterm_under_load(void **state)
{
    const char *args[] = {"--reap-grace", "100000", NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    beater b[NCLIENTS];
    pthread_t t[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        memset(&b[i], 0, sizeof b[i]);
        b[i].url = i % 2 ? h.nng_ipc_url : h.nng_tcp_url;
        assert_int_equal(tc_create(&c, 300, "R", &b[i].run), 0);
        assert_int_equal(pthread_create(&t[i], NULL, beat_until_error, &b[i]), 0);
    }
    tc_close(&c);
    /* Wait until every client is beating. */
    uint64_t least = 0;
    for (double limit = tc_now() + 20; least < 10 && tc_now() < limit; tc_sleep_ms(5)) {
        least = UINT64_MAX;
        for (int i = 0; i < NCLIENTS; i++) {
            uint64_t n = __atomic_load_n(&b[i].acked, __ATOMIC_RELAXED);
            least = n < least ? n : least;
        }
    }
    assert_true(least >= 10);
    /* Freeze the server so that requests pile up, then stop it: when it
       thaws it has both the signal and the requests. */
    hbd_harness_sigstop(&h);
    tc_sleep_ms(20);
    assert_int_equal(hbd_harness_stop(&h), 0);
    /* Every client ends: a reply or a clean transport error, no hang. */
    for (int i = 0; i < NCLIENTS; i++) {
        pthread_join(t[i], NULL);
        assert_int_not_equal(b[i].last_rc, 0);
        assert_int_not_equal(b[i].last_rc, -2);
    }

    assert_int_equal(hbd_harness_restart(&h), 0);
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    for (int i = 0; i < NCLIENTS; i++) {
        tc_run r;
        assert_int_equal(tc_get(&c, b[i].run, &r), 0);
        /* Acknowledged beats are all there; a beat whose reply was lost
           in the stop may be there too, nothing else. */
        if (r.beats != b[i].acked && r.beats != b[i].acked + 1)
            fail_msg("run %lld: %llu beats stored, %llu acknowledged", (long long)r.id,
                     (unsigned long long)r.beats, (unsigned long long)b[i].acked);
    }
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
}

/* Lines of hbeatd's log that contain `needle`. */
static int log_count(const char *needle)
{
    FILE *f = fopen(h.log_path, "r");
    if (f == NULL)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

typedef struct one_beat {
    int64_t run;
    int rc;
    char status[16];
} one_beat;

static void *beat_once(void *arg)
{
    one_beat *b = arg;
    tc_client c;
    b->rc = -2;
    if (tc_open(&c, h.nng_tcp_url, 30000) != 0)
        return NULL;
    b->rc = tc_heartbeat(&c, b->run, "R", 60.0, 7, b->status, NULL);
    tc_close(&c);
    return NULL;
}

/* A request provably in flight when SIGTERM comes (its batch is being
   committed, held there by HBEATD_TEST_COMMIT_DELAY_MS) is answered, and
   its change is durable. */
static void test_sigterm_answers_in_flight(void **state)
{
    const long delay_ms = 1500;
    setenv("HBEATD_TEST_COMMIT_DELAY_MS", "1500", 1);
    const char *args[] = {"--log-level", "debug", "--reap-grace", "100000", NULL};
    int started = hbd_harness_start(&h, args);
    unsetenv("HBEATD_TEST_COMMIT_DELAY_MS");
    assert_int_equal(started, 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 30000), 0);
    one_beat b = {0, -1, ""};
    assert_int_equal(tc_create(&c, 400, "R", &b.run), 0);
    tc_close(&c);

    int batches = log_count("committing batch");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, beat_once, &b), 0);
    /* Wait until the beat's batch is being written. */
    double limit = tc_now() + 20;
    while (log_count("committing batch") == batches && tc_now() < limit)
        tc_sleep_ms(2);
    double seen = tc_now();
    assert_true(log_count("committing batch") > batches);
    double signalled = tc_now(); /* stop sends SIGTERM first */
    assert_int_equal(hbd_harness_stop(&h), 0);
    pthread_join(t, NULL);
    /* The reply came, and it is the right one. */
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.status, "R");
    /* hbeatd agrees that it was in flight: checked only when this process
       was quick enough to signal well within the commit's delay. */
    if (signalled - seen < delay_ms / 2000.0)
        assert_int_equal(log_count("answering 1 requests in flight"), 1);
    else
        fprintf(stderr, "note: too slow to check the in-flight count itself\n");

    assert_int_equal(hbd_harness_restart(&h), 0);
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 30000), 0);
    tc_run r;
    assert_int_equal(tc_get(&c, b.run, &r), 0);
    assert_int_equal(r.beats, 1);
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sigterm_exits_0, teardown),
        cmocka_unit_test_teardown(test_sigint_exits_0, teardown),
        cmocka_unit_test_teardown(test_sigterm_under_load, teardown),
        cmocka_unit_test_teardown(test_sigterm_answers_in_flight, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tc_fini();
    return failed;
}
