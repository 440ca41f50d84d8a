/*
 * The gateway conformance suite (tests/conformance) over grpc:// and
 * grpcs:// (with a bearer token, mutual TLS), against the independent gRPC
 * server of hbeat_grpc_peer.py. An operator's change is the server's
 * SetStatus, made through the test's own gateway.
 */
#include <stdio.h>
#include <string.h>

#include "conformance/gateway_conformance.h"
#include "grpc_peer.h"
#include "integration/security/sec_support.h"

typedef struct target_ctx {
    grpc_peer peer;
    hbeat_gateway_options opts;
} target_ctx;

static int setup(void *ctx, hbeat_gateway **gw, int64_t *run_id)
{
    target_ctx *t = ctx;
    int rc = hbeat_gateway_open(gw, t->peer.url, &t->opts, NULL);
    if (rc != 0) {
        return rc;
    }
    hbeat_run_info run;
    rc = hbeat_run_create(*gw, 1, "R", &run, NULL);
    *run_id = run.workflow_run_id;
    return rc;
}

static int set_status(void *ctx, hbeat_gateway *gw, int64_t run_id, const char *status)
{
    (void)ctx;
    hbeat_run_info run;
    return hbeat_run_set_status(gw, run_id, status, 1, &run, NULL);
}

static void teardown(void *ctx, hbeat_gateway *gw)
{
    (void)ctx;
    hbeat_gateway_free(gw);
}

static int run_over(target_ctx *t, const char *name)
{
    const hbeat_conformance_target target = {
        .name = name,
        .ctx = t,
        .setup = setup,
        .server_set_status = set_status,
        .teardown = teardown,
        .knows_runs = 1,
        .has_update_status = 1,
    };
    return hbeat_conformance_run(&target);
}

int main(void)
{
    sec_certs certs;
    int rc = sec_certs_for_main(&certs);
    if (rc != 0) {
        return rc;
    }
    int failed = 0;
    target_ctx plain = {.opts = HBEAT_GATEWAY_OPTIONS_INIT};
    if (grpc_peer_start(&plain.peer, NULL) != 0) {
        failed++;
    } else {
        failed += run_over(&plain, "grpc");
    }
    grpc_peer_cleanup(&plain.peer);

    target_ctx tls = {.opts = HBEAT_GATEWAY_OPTIONS_INIT};
    const char *args[] = {"--cert",      sec_cert(&certs, SEC_SERVER_CRT, 0),
                          "--key",       sec_cert(&certs, SEC_SERVER_KEY, 1),
                          "--client-ca", sec_cert(&certs, SEC_CA, 2),
                          "--token",     "conformance-token",
                          NULL};
    if (grpc_peer_start(&tls.peer, args) != 0) {
        failed++;
    } else {
        tls.opts.ca_file = sec_cert(&certs, SEC_CA, 3);
        tls.opts.cert_file = sec_cert(&certs, SEC_CLIENT_CRT, 4);
        tls.opts.key_file = sec_cert(&certs, SEC_CLIENT_KEY, 5);
        tls.opts.token = "conformance-token";
        failed += run_over(&tls, "grpcs+mtls+token");
    }
    grpc_peer_cleanup(&tls.peer);
    sec_certs_remove(&certs);
    return failed != 0;
}
