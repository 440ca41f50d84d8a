/*
 * The gateway conformance suite against a real hbeatd process, over every
 * network transport this build has: nng+tcp, nng+ipc, REST and gRPC. One server
 * for all groups; each test makes its own run.
 */
#include <stdio.h>

#include "support/hbeatd_harness.h"
#include "targets.h"

int main(void)
{
    /* No reaping while the suite runs: its runs beat when the tests say. */
    static const char *const args[] = {"--reap-interval", "3600", "--reap-grace", "100000", NULL};
    hbd_harness h;
    if (hbd_harness_start(&h, args) != 0) {
        hbd_harness_cleanup(&h);
        return 1;
    }
    int failed = 0;
#ifdef HBEAT_WITH_NNG
    conf_url_ctx tcp = {.url = ""}, ipc = {.url = ""};
    snprintf(tcp.url, sizeof tcp.url, "%s", h.nng_tcp_url);
    snprintf(ipc.url, sizeof ipc.url, "%s", h.nng_ipc_url);
    hbeat_conformance_target t_tcp = conf_url_target("hbeatd nng+tcp", &tcp);
    hbeat_conformance_target t_ipc = conf_url_target("hbeatd nng+ipc", &ipc);
    failed += hbeat_conformance_run(&t_tcp);
    failed += hbeat_conformance_run(&t_ipc);
#endif
#ifdef HBEAT_WITH_REST
    if (h.rest_url[0] == '\0') {
        fprintf(stderr, "hbeatd was built without its REST front end\n");
        failed++;
    } else {
        conf_url_ctx rest = {.url = ""};
        snprintf(rest.url, sizeof rest.url, "%s", h.rest_url);
        hbeat_conformance_target t_rest = conf_url_target("hbeatd rest", &rest);
        failed += hbeat_conformance_run(&t_rest);
    }
#endif
#ifdef HBEAT_WITH_GRPC
    if (h.grpc_url[0] == '\0') {
        fprintf(stderr, "hbeatd was built without its gRPC front end\n");
        failed++;
    } else {
        conf_url_ctx grpc = {.url = ""};
        snprintf(grpc.url, sizeof grpc.url, "%s", h.grpc_url);
        hbeat_conformance_target t_grpc = conf_url_target("hbeatd grpc", &grpc);
        failed += hbeat_conformance_run(&t_grpc);
    }
#endif
    int status = hbd_harness_stop(&h);
    if (status != 0) {
        fprintf(stderr, "hbeatd did not stop cleanly: %d\n", status);
        failed++;
    }
    hbd_harness_cleanup(&h);
    return failed != 0;
}
