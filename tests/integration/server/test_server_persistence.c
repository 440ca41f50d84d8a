/*
 * Every run, status, deadline and beat count survives a clean stop and a
 * kill -9: hbeatd replies only once a change is committed.
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

static hbd_harness h;
/* No reaping during these tests: only persistence is under test. */
static const char *const args[] = {"--reap-grace", "100000", NULL};

static int teardown(void **state)
{
    hbd_harness_cleanup(&h);
    return 0;
}

#define NRUNS 8

/* Runs in many states, with deadlines. */
static void make_runs(tc_client *c, tc_run *out)
{
    static const char *const path[] = {"L", "B", "I", "O", "R", "C", "T"};
    for (int i = 0; i < NRUNS; i++) {
        int64_t id;
        assert_int_equal(tc_create(c, 100 + i, "G", &id), 0);
        /* Run i walks i steps of the path (run 0 stays G). */
        for (int k = 0; k < i && k < 7; k++)
            assert_int_equal(tc_heartbeat(c, id, path[k], 100.0 * (i + 1), k, NULL, NULL), 0);
        assert_int_equal(tc_get(c, id, &out[i]), 0);
    }
}

static void check_runs(tc_client *c, const tc_run *want)
{
    for (int i = 0; i < NRUNS; i++) {
        tc_run r;
        assert_int_equal(tc_get(c, want[i].id, &r), 0);
        if (!tc_run_equal(&r, &want[i]))
            fail_msg("run %lld: %s deadline %.6f beats %llu, expected %s %.6f %llu",
                     (long long)r.id, r.status, r.deadline, (unsigned long long)r.beats,
                     want[i].status, want[i].deadline, (unsigned long long)want[i].beats);
    }
}

static void test_clean_stop(void **state)
{
    assert_int_equal(hbd_harness_start(&h, args), 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    tc_run runs[NRUNS];
    make_runs(&c, runs);
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);

    assert_int_equal(hbd_harness_restart(&h), 0);
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    check_runs(&c, runs);
    /* New ids continue after the old ones. */
    int64_t id;
    assert_int_equal(tc_create(&c, 1, "G", &id), 0);
    assert_true(id > runs[NRUNS - 1].id);
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
}

static void test_kill9(void **state)
{
    assert_int_equal(hbd_harness_start(&h, args), 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    tc_run runs[NRUNS];
    make_runs(&c, runs);
    /* A burst of beats on the running one, then the crash right after the
       last reply: all of them must be there. */
    tc_run *r = &runs[5];
    assert_string_equal(r->status, "R");
    for (int i = 0; i < 200; i++)
        assert_int_equal(tc_heartbeat(&c, r->id, "R", 77.0, i, NULL, NULL), 0);
    assert_int_equal(tc_update_status(&c, runs[3].id, "E", NULL), 0);
    assert_int_equal(tc_get(&c, r->id, r), 0);
    assert_int_equal(tc_get(&c, runs[3].id, &runs[3]), 0);
    assert_string_equal(runs[3].status, "E");
    hbd_harness_kill9(&h);
    tc_close(&c);

    assert_int_equal(hbd_harness_restart(&h), 0);
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    check_runs(&c, runs);
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
}

/* kill -9 in the middle of concurrent beating: every acknowledged beat is
   durable; at most the one in flight per client may be there unacked. */
#define NTHREADS 8

typedef struct beater {
    const char *url;
    int64_t run;
    uint64_t acked;
} beater;

static void *beat_until_error(void *arg)
{
    beater *b = arg;
    tc_client c;
    if (tc_open(&c, b->url, 2000) != 0)
        return NULL;
    for (uint64_t seq = 0;; seq++) {
        if (tc_heartbeat(&c, b->run, "R", 60.0, seq, NULL, NULL) != 0)
            break;
        __atomic_fetch_add(&b->acked, 1, __ATOMIC_RELAXED);
    }
    tc_close(&c);
    return NULL;
}

static void test_kill9_under_load(void **state)
{
    assert_int_equal(hbd_harness_start(&h, args), 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    beater b[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        b[i].url = h.nng_tcp_url;
        b[i].acked = 0;
        assert_int_equal(tc_create(&c, 200, "R", &b[i].run), 0);
        assert_int_equal(pthread_create(&t[i], NULL, beat_until_error, &b[i]), 0);
    }
    /* Let every client get some beats acknowledged first. */
    uint64_t least = 0;
    for (double limit = tc_now() + 20; least < 20 && tc_now() < limit; tc_sleep_ms(5)) {
        least = UINT64_MAX;
        for (int i = 0; i < NTHREADS; i++) {
            uint64_t n = __atomic_load_n(&b[i].acked, __ATOMIC_RELAXED);
            least = n < least ? n : least;
        }
    }
    assert_true(least >= 20);
    hbd_harness_kill9(&h);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    tc_close(&c);

    assert_int_equal(hbd_harness_restart(&h), 0);
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    for (int i = 0; i < NTHREADS; i++) {
        tc_run r;
        assert_int_equal(tc_get(&c, b[i].run, &r), 0);
        if (r.beats != b[i].acked && r.beats != b[i].acked + 1)
            fail_msg("run %lld: %llu beats stored, %llu acknowledged", (long long)r.id,
                     (unsigned long long)r.beats, (unsigned long long)b[i].acked);
    }
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_clean_stop, teardown),
        cmocka_unit_test_teardown(test_kill9, teardown),
        cmocka_unit_test_teardown(test_kill9_under_load, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tc_fini();
    return failed;
}
