/*
 * The REST route table seen from outside the router: what each path and
 * method is counted under in the metrics (hbd_rest_route_of), and
 * GET /metrics counting the runs of a real engine by status, across more
 * than one page of the engine's list.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "integration/metrics/expo.h"
#include "rest_internal.h"
#include "support/engine_wait.h"

static void test_route_of(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path;
        hbd_route want;
    } cases[] = {
        {"POST", "/api/v3/workflow_run/12/log_heartbeat", HBD_CALL_HEARTBEAT},
        {"GET", "/api/v3/workflow_run/12/log_heartbeat", HBD_CALL_HEARTBEAT}, /* 405 */
        {"PUT", "/api/v3/workflow_run/x/update_status", HBD_CALL_UPDATE_STATUS},
        {"POST", "/api/v3/runs", HBD_CALL_CREATE_RUN},
        {"GET", "/api/v3/runs", HBD_CALL_LIST_RUNS},
        {"DELETE", "/api/v3/runs", HBD_CALL_LIST_RUNS}, /* 405, the path's first call */
        {"GET", "/api/v3/runs/3", HBD_CALL_GET_RUN},
        {"PUT", "/api/v3/runs/3/status", HBD_CALL_SET_STATUS},
        {"GET", "/api/v3/runs/3/status", HBD_CALL_SET_STATUS}, /* 405 */
        {"GET", "/", HBD_ROUTE_STATUS_PAGE},
        {"HEAD", "/metrics", HBD_ROUTE_METRICS},
        {"GET", "/metrics/", HBD_ROUTE_OTHER},
        {"GET", "/index.html", HBD_ROUTE_OTHER},
        {"GET", "/api/v3/", HBD_ROUTE_OTHER},
        {"GET", "/api/v3/runs/3/status/more", HBD_ROUTE_OTHER},
        {"GET", "/api/v3/runs/3/other", HBD_ROUTE_OTHER},
        {"POST", "/api/v3/workflow_run/12/other", HBD_ROUTE_OTHER},
        {"POST", "/api/v2/workflow_run/12/log_heartbeat", HBD_ROUTE_OTHER},
        {"GET", "", HBD_ROUTE_OTHER},
        {NULL, "/api/v3/runs", HBD_CALL_LIST_RUNS},
        {NULL, NULL, HBD_ROUTE_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hbd_route got = hbd_rest_route_of(cases[i].method, cases[i].path);
        if (got != cases[i].want) {
            fail_msg("%s %s: route %d, want %d", cases[i].method ? cases[i].method : "(null)",
                     cases[i].path ? cases[i].path : "(null)", got, cases[i].want);
        }
    }
}

static double val(const expo *e, const char *name, const char *labels)
{
    double v = expo_get(e, name, labels);
    if (isnan(v))
        fail_msg("no series %s{%s}", name, labels);
    return v;
}

static void test_metrics_count_the_engines_runs(void **state)
{
    (void)state;
    hbd_engine *engine = NULL;
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = ":memory:";
    o.reap_interval = 0;
    o.reap_grace = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&engine, &o, &err) != 0)
        fail_msg("engine: %s", err.message);
    static const char *const statuses[] = {"G", "R", "R", "E", "A", "D"};
    for (int i = 0; i < HBD_LIST_MAX + 200; i++) {
        hbd_run run;
        assert_int_equal(hbd_engine_create_run(engine, 1, statuses[i % 6], NULL, &run, &err), 0);
    }
    hbd_rest_reply reply;
    hbd_rest_reply_init(&reply);
    hbd_rest_request req = {"GET", "/metrics", NULL, 0, NULL, NULL};
    hbd_rest_route(engine, &req, HBD_RIGHT_OPERATOR, &reply);
    assert_int_equal(reply.status, 200);
    expo e;
    if (expo_parse(&e, reply.body, reply.len) != 0)
        fail_msg("%s", e.error);
    int per = (HBD_LIST_MAX + 200) / 6;
    assert_true(val(&e, "hbeatd_runs", "status=\"G\"") == per);
    assert_true(val(&e, "hbeatd_runs", "status=\"R\"") == 2 * per);
    assert_true(val(&e, "hbeatd_runs", "status=\"E\"") == per);
    assert_true(val(&e, "hbeatd_runs", "status=\"A\"") == per);
    assert_true(val(&e, "hbeatd_runs", "status=\"D\"") == per);
    assert_true(val(&e, "hbeatd_runs", "status=\"L\"") == 0);
    expo_free(&e);

    /* A client token may not read them. */
    hbd_rest_reply_release(&reply);
    hbd_rest_reply_init(&reply);
    hbd_rest_route(engine, &req, HBD_RIGHT_CLIENT, &reply);
    assert_int_equal(reply.status, 403);
    hbd_rest_reply_release(&reply);
    hbd_engine_close(engine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_of),
        cmocka_unit_test(test_metrics_count_the_engines_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
