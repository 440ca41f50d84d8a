/*
 * The gateway conformance suite over nng: nng+tcp and nng+ipc against the
 * real hbeatd, and nng+inproc against hbeatd's engine and nng front end
 * running in this process (inproc cannot cross processes). An operator's
 * change is hbeatd's forced admin set_status.
 */
#include <stdio.h>
#include <stdlib.h>

#include "conformance/gateway_conformance.h"
#include "server/engine.h"
#include "server/front_nng.h"
#include "support/hbeatd_harness.h"

typedef struct target_ctx {
    const char *url;
} target_ctx;

static int nng_setup(void *ctx, hbeat_gateway **gw, int64_t *run_id)
{
    target_ctx *t = ctx;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 10.0;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(gw, t->url, &o, &err);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s\n", t->url, err.message);
        return rc;
    }
    hbeat_run_info run;
    rc = hbeat_run_create(*gw, 7, "R", &run, &err);
    if (rc != 0) {
        fprintf(stderr, "create_run over %s: %s\n", t->url, err.message);
        hbeat_gateway_free(*gw);
        *gw = NULL;
        return rc;
    }
    *run_id = run.workflow_run_id;
    return 0;
}

static int nng_set_status(void *ctx, hbeat_gateway *gw, int64_t run_id, const char *status)
{
    (void)ctx;
    hbeat_run_info run;
    return hbeat_run_set_status(gw, run_id, status, 1, &run, NULL);
}

static void nng_teardown(void *ctx, hbeat_gateway *gw)
{
    (void)ctx;
    hbeat_gateway_free(gw);
}

static hbeat_conformance_target target(const char *name, target_ctx *ctx)
{
    hbeat_conformance_target t = {
        .name = name,
        .ctx = ctx,
        .setup = nng_setup,
        .server_set_status = nng_set_status,
        .teardown = nng_teardown,
        .knows_runs = 1,
        .unknown_run_id = 0,
        .has_update_status = 1,
    };
    return t;
}

int main(void)
{
    static const char *const args[] = {"--reap-grace", "100000", NULL};
    int failed = 0;

    hbd_harness h;
    if (hbd_harness_start(&h, args) != 0) {
        hbd_harness_cleanup(&h);
        return 1;
    }
    target_ctx tcp = {h.nng_tcp_url};
    target_ctx ipc = {h.nng_ipc_url};
    hbeat_conformance_target t_tcp = target("nng+tcp", &tcp);
    hbeat_conformance_target t_ipc = target("nng+ipc", &ipc);
    failed += hbeat_conformance_run(&t_tcp);
    failed += hbeat_conformance_run(&t_ipc);
    hbd_harness_cleanup(&h);

    /* hbeatd in this process, listening on inproc. */
    hbd_engine_options eo = {":memory:", 10.0, 100000.0, NULL, NULL};
    hbd_engine *engine = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&engine, &eo, &err) != 0) {
        fprintf(stderr, "engine: %s\n", err.message);
        return failed + 1;
    }
    const char *urls[] = {"inproc://hbeat-nng-conformance"};
    hbd_nng_options no = {urls, 1, 64 * 1024, 8};
    hbd_nng *front = NULL;
    if (hbd_nng_start(&front, engine, &no, &err) != 0) {
        fprintf(stderr, "nng front end: %s\n", err.message);
        hbd_engine_close(engine);
        return failed + 1;
    }
    target_ctx inproc = {"nng+inproc://hbeat-nng-conformance"};
    hbeat_conformance_target t_inproc = target("nng+inproc", &inproc);
    failed += hbeat_conformance_run(&t_inproc);
    hbd_nng_stop(front);
    hbd_engine_close(engine);
    return failed;
}
