/*
 * The gateway conformance suite against hbeatd's engine and front ends
 * running in this process: nng over an ipc socket in a temp dir and, when
 * hbeatd has its REST front end, REST on a free loopback port served by
 * the same engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine.h"
#include "front_nng.h"
#include "targets.h"
#ifdef HBEAT_CONF_WITH_REST_FRONT
#include "front_rest.h"
#endif

int main(void)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    /* In memory, and no reaping while the suite runs. */
    hbd_engine_options eo = {
        .db_path = ":memory:", .reap_interval = 3600.0, .reap_grace = 100000.0};
    hbd_engine *engine = NULL;
    if (hbd_engine_open(&engine, &eo, &err) != 0) {
        fprintf(stderr, "engine: %s\n", err.message);
        return 1;
    }
    int failed = 0;

    char dir[] = "/tmp/hbeat-conformance-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char listen[128];
    snprintf(listen, sizeof listen, "ipc://%s/hbeatd.sock", dir);
    const char *urls[] = {listen};
    hbd_nng_options no = {.urls = urls, .url_count = 1, .max_message = 64 * 1024};
    hbd_nng *front = NULL;
    if (hbd_nng_start(&front, engine, &no, NULL, &err) != 0) {
        fprintf(stderr, "nng front end: %s\n", err.message);
        failed++;
    } else {
        conf_url_ctx ipc = {.url = ""};
        snprintf(ipc.url, sizeof ipc.url, "nng+%s", listen);
        hbeat_conformance_target t = conf_url_target("in-process nng+ipc", &ipc);
        failed += hbeat_conformance_run(&t);
        hbd_nng_stop(front);
    }
    rmdir(dir);

#if defined(HBEAT_CONF_WITH_REST_FRONT) && defined(HBEAT_WITH_REST)
    hbd_rest_options ro = {.host = "127.0.0.1", .port = 0};
    hbd_rest *rest = NULL;
    if (hbd_rest_start(&rest, engine, &ro, NULL, &err) != 0) {
        fprintf(stderr, "REST front end: %s\n", err.message);
        failed++;
    } else {
        conf_url_ctx http = {.url = ""};
        snprintf(http.url, sizeof http.url, "http://127.0.0.1:%u/api/v3",
                 (unsigned)hbd_rest_port(rest));
        hbeat_conformance_target t = conf_url_target("in-process rest", &http);
        failed += hbeat_conformance_run(&t);
        hbd_rest_stop(rest);
    }
#endif
    hbd_engine_close(engine);
    return failed != 0;
}
