/*
 * The gateway conformance suite (tests/conformance) stamped onto the REST
 * transport, against the real hbeatd: one server for the whole group, a
 * fresh gateway and run per test, the operator's changes made through the
 * admin route with force.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>

#include "common.h"
#include "conformance/gateway_conformance.h"

static hbd_harness h;

static int rest_setup(void *ctx, hbeat_gateway **gw, int64_t *run_id)
{
    (void)ctx;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 10;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(gw, h.rest_url, &o, &err);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s\n", h.rest_url, err.message);
        return rc;
    }
    hbeat_run_info run;
    rc = hbeat_run_create(*gw, 7, "R", &run, &err);
    if (rc != 0) {
        fprintf(stderr, "create_run: %s\n", err.message);
        hbeat_gateway_free(*gw);
        *gw = NULL;
        return rc;
    }
    *run_id = run.workflow_run_id;
    return 0;
}

static int rest_server_set_status(void *ctx, hbeat_gateway *gw, int64_t run_id, const char *status)
{
    (void)ctx;
    hbeat_run_info run;
    return hbeat_run_set_status(gw, run_id, status, 1, &run, NULL);
}

static void rest_teardown(void *ctx, hbeat_gateway *gw)
{
    (void)ctx;
    hbeat_gateway_free(gw);
}

int main(void)
{
    rtest_no_proxy();
    if (hbd_harness_start(&h, rtest_args) != 0)
        return 1;
    int failed = 1;
    if (h.rest_url[0] != '\0') {
        const hbeat_conformance_target t = {
            .name = "rest",
            .setup = rest_setup,
            .server_set_status = rest_server_set_status,
            .teardown = rest_teardown,
            .knows_runs = 1,
            .has_update_status = 1,
        };
        failed = hbeat_conformance_run(&t);
    } else {
        fprintf(stderr, "hbeatd was built without its REST front end\n");
    }
    hbd_harness_cleanup(&h);
    return failed != 0;
}
