/*
 * The reaper against the real hbeatd, with short deadlines and a fast
 * reaper (--reap-interval 0.05). Waits poll the run with a bounded timeout;
 * nothing assumes how fast the machine is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nng_client.h"
#include "support/hbeatd_harness.h"

#define WAIT_LIMIT_S 20.0

/* One server per test; the teardown cleans up after a failed assert too. */
static hbd_harness h;

static int teardown(void **state)
{
    hbd_harness_cleanup(&h);
    return 0;
}

/* Beats `run` through `path` (last increment `inc`, the others long). */
static void walk(tc_client *c, int64_t run, const char *const *path, size_t n, double inc)
{
    for (size_t i = 0; i < n; i++) {
        char st[16];
        assert_int_equal(tc_heartbeat(c, run, path[i], i + 1 == n ? inc : 600.0, i, st, NULL), 0);
        assert_string_equal(st, path[i]);
    }
}

/* Polls until `run` is in `status`; returns the wall time it was seen. */
static double wait_for(tc_client *c, int64_t run, const char *status)
{
    double limit = tc_now() + WAIT_LIMIT_S;
    tc_run r;
    for (;;) {
        assert_int_equal(tc_get(c, run, &r), 0);
        if (strcmp(r.status, status) == 0)
            return tc_now();
        if (tc_now() > limit)
            fail_msg("run %lld still %s after %.0f s, expected %s", (long long)run, r.status,
                     WAIT_LIMIT_S, status);
        tc_sleep_ms(10);
    }
}

static int log_has(const char *needle)
{
    FILE *f = fopen(h.log_path, "r");
    if (f == NULL)
        return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void test_reaper_targets(void **state)
{
    const char *args[] = {"--reap-interval", "0.05", "--reap-grace", "0", NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);

    static const char *const to_l[] = {"L"};
    static const char *const to_b[] = {"L", "B"};
    static const char *const to_c[] = {"L", "B", "C"};
    static const char *const to_o[] = {"L", "B", "I", "O"};
    static const char *const to_r[] = {"L", "B", "I", "O", "R"};
    static const char *const to_h[] = {"L", "B", "I", "O", "R", "H"};
    static const char *const to_d[] = {"L", "B", "I", "O", "R", "D"};
    struct {
        const char *const *path;
        size_t n;
        double inc;
        const char *expect;
        int64_t id;
    } runs[] = {
        {to_l, 1, 0.1, "A", 0},
        {to_r, 5, 0.1, "E", 0},
        {to_c, 3, 0.1, "T", 0},
        {to_h, 6, 0.1, "T", 0}, /* reaped */
        {to_b, 2, 0.1, "B", 0},
        {to_o, 4, 0.1, "O", 0},
        {to_d, 6, 0.1, "D", 0},
        /* never reaped: no reaper target */
        {to_r, 5, 3600, "R", 0},
        {to_l, 1, 3600, "L", 0}, /* deadline far off */
    };
    size_t n = sizeof runs / sizeof runs[0];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tc_create(&c, 11, "G", &runs[i].id), 0);
        walk(&c, runs[i].id, runs[i].path, runs[i].n, runs[i].inc);
    }
    /* The four reaped ones, by polling. */
    for (size_t i = 0; i < 4; i++)
        wait_for(&c, runs[i].id, runs[i].expect);
    /* A pass that reaped those saw the others past their deadline too, or
       not yet due: either way they must be untouched. */
    for (size_t i = 4; i < n; i++) {
        tc_run r;
        assert_int_equal(tc_get(&c, runs[i].id, &r), 0);
        assert_string_equal(r.status, runs[i].expect);
    }
    /* A reaped run stays reaped; its client's late beat cannot revive it. */
    char st[16];
    assert_int_equal(tc_heartbeat(&c, runs[1].id, "R", 600, 99, st, NULL), 0);
    assert_string_equal(st, "E");

    char line[64];
    snprintf(line, sizeof line, "reaped run %lld: R -> E", (long long)runs[1].id);
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
    assert_true(log_has(line));
    hbd_harness_cleanup(&h);
}

static void test_startup_grace(void **state)
{
    const double inc = 2.0;
    const char *args[] = {"--reap-interval", "0.05", NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    int64_t id;
    assert_int_equal(tc_create(&c, 12, "G", &id), 0);
    static const char *const to_r[] = {"L", "B", "I", "O", "R"};
    walk(&c, id, to_r, 5, inc);
    tc_run r;
    assert_int_equal(tc_get(&c, id, &r), 0);
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);

    /* The outage outlasts the deadline. */
    while (tc_now() < r.deadline + 0.2)
        tc_sleep_ms(20);

    double restarted = tc_now();
    assert_int_equal(hbd_harness_restart(&h), 0);
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    assert_int_equal(tc_get(&c, id, &r), 0);
    /* Within one full deadline of the restart it must still be R (checked
       only when this process was quick enough to look in time). */
    if (tc_now() - restarted < inc * 0.75)
        assert_string_equal(r.status, "R");
    else
        fprintf(stderr, "note: too slow to check the grace window itself\n");
    /* After it, the reaper does its job, but never before the grace. */
    double seen = wait_for(&c, id, "E");
    assert_true(seen >= restarted + inc);
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

static void test_explicit_grace(void **state)
{
    /* --reap-grace holds reaping back even with nothing stored. */
    const char *args[] = {"--reap-interval", "0.05", "--reap-grace", "1.5", NULL};
    double started = tc_now();
    assert_int_equal(hbd_harness_start(&h, args), 0);
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 10000), 0);
    int64_t id;
    assert_int_equal(tc_create(&c, 13, "G", &id), 0);
    static const char *const to_l[] = {"L"};
    walk(&c, id, to_l, 1, 0.0);
    double seen = wait_for(&c, id, "A");
    assert_true(seen >= started + 1.5);
    tc_close(&c);
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reaper_targets, teardown),
        cmocka_unit_test_teardown(test_startup_grace, teardown),
        cmocka_unit_test_teardown(test_explicit_grace, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tc_fini();
    return failed;
}
