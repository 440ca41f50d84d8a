/*
 * The gateway conformance suite against a real hbeatd process, over every
 * network transport this build has: nng+tcp, nng+ipc, REST and gRPC, and
 * through the failover gateway of a URL that lists two servers. One
 * server for all groups; each test makes its own run.
 */
#include <stdio.h>
#include <string.h>

#include "support/hbeatd_harness.h"
#include "support/tsock.h"
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
    /* The failover gateway over hbeatd and a server that is not there,
       listed second: nng would wait out its request timeout for it. */
    conf_url_ctx tcp_list = {.url = ""};
    snprintf(tcp_list.url, sizeof tcp_list.url, "%s,127.0.0.1:%d", h.nng_tcp_url,
             tsock_refused_port());
    hbeat_conformance_target t_tcp_list = conf_url_target("hbeatd nng+tcp, two servers", &tcp_list);
    failed += hbeat_conformance_run(&t_tcp_list);
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
        /* Listed first, the refused server is met by every fresh gateway's
           first call, which goes on to hbeatd. Runs are made through
           hbeatd's own URL: a new run is never sent on to a second server. */
        conf_url_ctx rest_list = {.url = "", .admin_url = h.rest_url};
        snprintf(rest_list.url, sizeof rest_list.url, "http://127.0.0.1:%d,%.200s",
                 tsock_refused_port(), h.rest_url + strlen("http://"));
        hbeat_conformance_target t_rest_list =
            conf_url_target("hbeatd rest, a refused server first", &rest_list);
        failed += hbeat_conformance_run(&t_rest_list);
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
