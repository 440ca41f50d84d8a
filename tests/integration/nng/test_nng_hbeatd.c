/*
 * The nng gateway against the real hbeatd: beats over tcp and ipc move the
 * deadline, admin calls round-trip, errors come back with hbeatd's words,
 * and one gateway survives a crash and restart of the server.
 */

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/gateway_internal.h"
#include "integration/common/itest.h"
#include "transports/nng/nng_internal.h"

static void beats_move_deadline(const char *url)
{
    hbeat_gateway *gw = itest_open(url, 10.0);
    int64_t id = itest_new_run(gw, "R");
    hbeat_run_info before = itest_get(gw, id);
    assert_int_equal(before.beats, 0);

    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, id, "R", 100.0, status, &err), 0);
    assert_string_equal(status, "R");
    hbeat_run_info one = itest_get(gw, id);
    assert_int_equal(one.beats, 1);
    assert_true(one.deadline > 0.0);
    assert_true(one.last_heartbeat > 0.0);
    /* deadline = time of the beat + increment */
    assert_true(one.deadline - one.last_heartbeat > 99.0);
    assert_true(one.deadline - one.last_heartbeat < 101.0);

    assert_int_equal(hbeat_gateway_log_heartbeat(gw, id, "R", 1000.0, status, &err), 0);
    hbeat_run_info two = itest_get(gw, id);
    assert_int_equal(two.beats, 2);
    /* 900 s later at least, however long the beats took. */
    assert_true(two.deadline - one.deadline >= 899.0);
    hbeat_gateway_free(gw);
}

static void test_beats_over_tcp(void **state)
{
    (void)state;
    assert_non_null(strstr(itest_h.nng_tcp_url, "nng+tcp://"));
    beats_move_deadline(itest_h.nng_tcp_url);
}

static void test_beats_over_ipc(void **state)
{
    (void)state;
    assert_non_null(strstr(itest_h.nng_ipc_url, "nng+ipc://"));
    beats_move_deadline(itest_h.nng_ipc_url);
}

static void test_admin_round_trip(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.nng_tcp_url, 10.0);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;

    /* NULL status: hbeatd's default, G. */
    assert_int_equal(hbeat_run_create(gw, 31, NULL, &run, &err), 0);
    int64_t id = run.workflow_run_id;
    assert_true(id > 0);
    assert_int_equal(run.workflow_id, 31);
    assert_string_equal(run.status, "G");

    hbeat_run_info got = itest_get(gw, id);
    assert_int_equal(got.workflow_id, 31);
    assert_string_equal(got.status, "G");

    assert_int_equal(hbeat_run_set_status(gw, id, "L", 0, &run, &err), 0);
    assert_string_equal(run.status, "L");
    /* L -> R is no transition; hbeatd says so, in its own words. */
    assert_int_equal(hbeat_run_set_status(gw, id, "R", 0, &run, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "not a valid transition"));
    assert_int_equal(hbeat_run_set_status(gw, id, "R", 1, &run, &err), 0);
    assert_string_equal(run.status, "R");

    /* Jobmon's update_status: R -> D is valid, D -> R is not (status kept). */
    char status[HBEAT_STATUS_MAX + 1] = "";
    assert_int_equal(hbeat_gateway_update_status(gw, id, "D", status, &err), 0);
    assert_string_equal(status, "D");
    assert_int_equal(hbeat_gateway_update_status(gw, id, "R", status, &err), 0);
    assert_string_equal(status, "D");

    /* Enough runs for several pages; the listing follows next_after_id. */
    enum { EXTRA = 250 };
    for (int i = 0; i < EXTRA; i++) {
        assert_int_equal(hbeat_run_create(gw, 32, "H", &run, &err), 0);
    }
    hbeat_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(hbeat_run_list(gw, "H", &runs, &n, &err), 0);
    assert_int_equal(n, EXTRA);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(runs[i].status, "H");
        if (i > 0) {
            assert_true(runs[i].workflow_run_id > runs[i - 1].workflow_run_id);
        }
    }
    hbeat_run_list_free(runs);
    assert_int_equal(hbeat_run_list(gw, NULL, &runs, &n, &err), 0);
    assert_int_equal(n, EXTRA + 1);
    hbeat_run_list_free(runs);
    hbeat_gateway_free(gw);
}

static void test_unknown_run(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.nng_ipc_url, 10.0);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    char status[HBEAT_STATUS_MAX + 1] = "";
    assert_int_equal(hbeat_run_get(gw, 987654, &run, &err), HBEAT_ENOTFOUND);
    assert_non_null(strstr(err.message, "987654"));
    assert_int_equal(err.native, HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 987654, "R", 10.0, status, &err),
                     HBEAT_ENOTFOUND);
    assert_int_equal(hbeat_gateway_update_status(gw, 987654, "D", status, &err), HBEAT_ENOTFOUND);
    assert_int_equal(hbeat_run_set_status(gw, 987654, "D", 1, &run, &err), HBEAT_ENOTFOUND);
    hbeat_gateway_free(gw);
}

/* Async beats on nng's aio against the real server. */
typedef struct done_box {
    itest_done done;
    char status[HBEAT_STATUS_MAX + 1];
} done_box;

static void on_done(void *arg, int rc, const hbeat_heartbeat_reply *reply, const hbeat_error *err)
{
    (void)err;
    done_box *b = arg;
    if (rc == 0)
        snprintf(b->status, sizeof(b->status), "%s", reply->status);
    itest_done_call(&b->done, rc);
}

static void test_async_beat(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.nng_tcp_url, 10.0);
    int64_t id = itest_new_run(gw, "R");
    void *self = hbeat_gateway_self(gw);
    assert_non_null(self);

    done_box b = {ITEST_DONE_INIT, ""};
    hbeat_heartbeat_request req = {id, "R", 500.0, 1};
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat__gateway_vtable(gw)->log_heartbeat_async(self, &req, on_done, &b, &err),
                     0);
    assert_int_equal(itest_done_wait(&b.done), 1);
    assert_int_equal(b.done.rc, 0);
    assert_string_equal(b.status, "R");
    hbeat_run_info run = itest_get(gw, id);
    assert_int_equal(run.beats, 1);
    assert_true(run.deadline - run.last_heartbeat > 499.0);
    hbeat_gateway_free(gw);
    assert_int_equal(b.done.calls, 1);
}

/* kill -9 and restart on the same port and path: the same gateways carry
   on, and what was committed before the crash is still there. */
static void test_kill9_and_restart(void **state)
{
    (void)state;
    hbeat_gateway *tcp = itest_open(itest_h.nng_tcp_url, 10.0);
    hbeat_gateway *ipc = itest_open(itest_h.nng_ipc_url, 10.0);
    int64_t id = itest_new_run(tcp, "R");
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(tcp, id, "R", 100.0, status, &err), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(ipc, id, "R", 100.0, status, &err), 0);
    hbeat_run_info before = itest_get(tcp, id);
    assert_int_equal(before.beats, 2);

    hbd_harness_kill9(&itest_h);
    assert_int_equal(hbd_harness_restart(&itest_h), 0);

    itest_beat_after_restart(tcp, id, 2000.0, status);
    assert_string_equal(status, "R");
    itest_beat_after_restart(ipc, id, 2000.0, status);
    hbeat_run_info after = itest_get(tcp, id);
    assert_int_equal(after.beats, 4);
    assert_true(after.deadline - before.deadline >= 1899.0);
    hbeat_gateway_free(tcp);
    hbeat_gateway_free(ipc);
}

/* A server that is there but does not answer: a timeout in the configured
   time, naming the URL; once it answers again, so does the gateway. */
static void test_stopped_server_times_out(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.nng_tcp_url, 0.5);
    int64_t id = itest_new_run(gw, "R");
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;

    hbd_harness_sigstop(&itest_h);
    double t0 = itest_now();
    int rc = hbeat_gateway_log_heartbeat(gw, id, "R", 100.0, status, &err);
    double elapsed = itest_now() - t0;
    hbd_harness_sigcont(&itest_h);
    assert_int_equal(rc, HBEAT_ETIMEDOUT);
    assert_true(elapsed >= 0.49);
    assert_non_null(strstr(err.message, "within 0.5 s"));
    assert_non_null(strstr(err.message, itest_h.nng_tcp_url));

    /* The late reply to the timed-out beat is dropped, not taken for
       this one's. */
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, id, "R", 100.0, status, &err), 0);
    assert_string_equal(status, "R");
    hbeat_gateway_free(gw);
}

/* No server at all: the beat waits for a connection, then says so. */
static void test_absent_server(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.nng_ipc_url, 0.5);
    int64_t id = itest_new_run(gw, "R");
    /* Down, not stopped cleanly: the clean stop is hbeatd's own test. */
    hbd_harness_kill9(&itest_h);
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = HBEAT_ETRANSPORT;
    /* The first beat may still find the closing connection. */
    for (int i = 0; i < 3 && rc == HBEAT_ETRANSPORT; i++) {
        rc = hbeat_gateway_log_heartbeat(gw, id, "R", 100.0, status, &err);
    }
    assert_int_equal(rc, HBEAT_ETIMEDOUT);
    assert_non_null(strstr(err.message, "no connection"));
    assert_int_equal(hbd_harness_restart(&itest_h), 0);
    hbeat_gateway_free(gw);
    /* A gateway opened while the server was down works once it is up. */
    hbd_harness_kill9(&itest_h);
    gw = itest_open(itest_h.nng_ipc_url, 10.0);
    assert_int_equal(hbd_harness_restart(&itest_h), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, id, "R", 100.0, status, &err), 0);
    hbeat_gateway_free(gw);
}

/* A peer that connects to the ipc socket and closes before the SP
   handshake makes libnng 1.5's ipc listener stop accepting anyone; hbeatd
   probes its ipc listeners and listens again, so clients are answered
   again within seconds (bounded by the attempts, not measured). */
static void test_ipc_listener_survives_an_early_close(void **state)
{
    (void)state;
    hbeat_gateway *tcp = itest_open(itest_h.nng_tcp_url, 10.0);
    int64_t id = itest_new_run(tcp, "R");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = itest_h.nng_ipc_url + strlen("nng+ipc://");
    assert_true(strlen(path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    for (int i = 0; i < 3; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
    }

    hbeat_gateway *ipc = itest_open(itest_h.nng_ipc_url, 1.0);
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = HBEAT_ETIMEDOUT;
    for (int i = 0; i < 20 && rc != 0; i++) {
        rc = hbeat_gateway_log_heartbeat(ipc, id, "R", 100.0, status, &err);
        if (rc != 0 && rc != HBEAT_ETIMEDOUT && rc != HBEAT_ETRANSPORT)
            fail_msg("attempt %d: %d %s", i, rc, err.message);
    }
    if (rc != 0)
        fail_msg("hbeatd's ipc listener never came back: %s", err.message);
    /* tcp was never affected. */
    assert_int_equal(hbeat_gateway_log_heartbeat(tcp, id, "R", 100.0, status, &err), 0);
    hbeat_gateway_free(ipc);
    hbeat_gateway_free(tcp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ITEST_CASE(test_beats_over_tcp),
        ITEST_CASE(test_beats_over_ipc),
        ITEST_CASE(test_admin_round_trip),
        ITEST_CASE(test_unknown_run),
        ITEST_CASE(test_async_beat),
        ITEST_CASE(test_kill9_and_restart),
        ITEST_CASE(test_stopped_server_times_out),
        ITEST_CASE(test_absent_server),
        ITEST_CASE(test_ipc_listener_survives_an_early_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
