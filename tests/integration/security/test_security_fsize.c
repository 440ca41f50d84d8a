/*
 * A file-size limit on hbeatd (RLIMIT_FSIZE, ulimit -f).
 * A write past the limit used to kill hbeatd with SIGXFSZ, silently (exit
 * status 153, no log line). hbeatd now ignores SIGXFSZ, so the write fails
 * with EFBIG, the store's commit fails, and hbeatd takes its own fail-stop
 * path: it logs the store failure and exits with status 1.
 *
 * The limit is set on the running hbeatd (prlimit), well above the store's
 * size at start and below what its WAL reaches after a few hundred
 * commits; the log stays far below it.
 */
#define _GNU_SOURCE /* prlimit */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "integration/security/sec_support.h"

#define LIMIT_BYTES (256 * 1024)

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static void test_a_file_size_limit_fails_the_store_not_the_process(void **state)
{
    (void)state;
    hbd_harness h;
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    hbeat_gateway *gw = sec_open(h.nng_tcp_url, NULL, NULL, 5.0);
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create(gw, 5, "R", &run, NULL), 0);

    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", h.db_path);
    assert_true(file_size(h.db_path) < LIMIT_BYTES / 2 && file_size(wal) < LIMIT_BYTES / 2);
    struct rlimit lim = {LIMIT_BYTES, LIMIT_BYTES};
    assert_int_equal(prlimit(h.pid, RLIMIT_FSIZE, &lim, NULL), 0);

    /* Each beat is a commit, and each commit adds a page or two to the
       WAL: the limit is passed within a few hundred. */
    int beats = 0, failed = 0;
    double until = sec_now() + 20.0;
    while (!failed && sec_now() < until) {
        char status[HBEAT_STATUS_MAX + 1];
        hbeat_error err = HBEAT_ERROR_INIT;
        if (hbeat_gateway_log_heartbeat(gw, run.workflow_run_id, "R", 60.0, status, &err) == 0)
            beats++;
        else
            failed = 1;
    }
    hbeat_gateway_free(gw);
    print_message("%d beats committed before the store reached the limit\n", beats);
    assert_true(failed);

    /* hbeatd notices the failed store and stops by itself, saying why. */
    if (sec_log_wait(&h, "the store failed; stopping", 10.0) != 0)
        fail_msg("no fail-stop line in hbeatd's log (it died of SIGXFSZ?)");
    assert_true(sec_log_contains(&h, "refusing further changes"));
    int rc = hbd_harness_stop(&h);
    if (rc != 1)
        fail_msg("hbeatd exited with %d, wanted 1 (153 is death by SIGXFSZ)", rc);
    hbd_harness_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_file_size_limit_fails_the_store_not_the_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
