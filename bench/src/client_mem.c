/*
 * hbeat-bench-client URL RUN_ID WARMUP BEATS
 *
 * What one service costs the process that runs it: RSS and threads before
 * the gateway is opened and after WARMUP beats, and the heap allocations of
 * BEATS steady-state beats (hbeat_service_tick), charged to the library
 * that made them when the malloc-counting shim is preloaded. Prints one
 * line of key=value pairs for the bench driver.
 *
 * For comparison, URL "raw+http://..." beats with a bare libcurl easy
 * handle (the same POST as the REST transport) and "raw+nng+tcp://..." /
 * "raw+nng+ipc://..." with a bare nng REQ socket (the same protobuf bytes):
 * what the transports' libraries cost on their own.
 */
#define _GNU_SOURCE

#include <curl/curl.h>
#include <dlfcn.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocshim.h"
#include "hbeat/hbeat.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "util.h"

/* One beat by whichever client this process runs. */
typedef struct client {
    hbeat_service *svc;
    CURL *curl;
    nng_socket sock;
    int nng;
    unsigned char req[64];
    size_t req_len;
} client;

static const char json_body[] = "{\"status\": \"R\", \"next_report_increment\": 93.0}";

static size_t sink(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static int beat(client *cl, hbeat_error *err)
{
    if (cl->svc != NULL)
        return hbeat_service_tick(cl->svc, NULL, err);
    if (cl->curl != NULL) {
        CURLcode rc = curl_easy_perform(cl->curl);
        if (rc != CURLE_OK)
            return hbeat_error_set(err, HBEAT_ETRANSPORT, "curl: %s", curl_easy_strerror(rc));
        return 0;
    }
    int rv = nng_send(cl->sock, cl->req, cl->req_len, 0);
    if (rv == 0) {
        nng_msg *m;
        rv = nng_recvmsg(cl->sock, &m, 0);
        if (rv == 0)
            nng_msg_free(m);
    }
    return rv == 0 ? 0 : hbeat_error_set(err, HBEAT_ETRANSPORT, "nng: %s", nng_strerror(rv));
}

static int open_raw(client *cl, const char *url, long long run_id, hbeat_error *err)
{
    if (strncmp(url, "raw+http", 8) == 0) {
        static char full[512];
        static struct curl_slist *hdrs;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        snprintf(full, sizeof full, "%s/workflow_run/%lld/log_heartbeat?client_jobmon_version=%s",
                 url + 4, run_id, hbeat_version());
        hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        cl->curl = curl_easy_init();
        curl_easy_setopt(cl->curl, CURLOPT_URL, full);
        curl_easy_setopt(cl->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(cl->curl, CURLOPT_USERAGENT, "hbeat/" HBEAT_VERSION_STRING);
        curl_easy_setopt(cl->curl, CURLOPT_POSTFIELDS, json_body);
        curl_easy_setopt(cl->curl, CURLOPT_POSTFIELDSIZE, (long)(sizeof json_body - 1));
        curl_easy_setopt(cl->curl, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(cl->curl, CURLOPT_NOSIGNAL, 1L);
        return 0;
    }
    /* raw+nng+tcp://HOST:PORT or raw+nng+ipc:///path */
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = run_id;
    hb.status = "R";
    hb.next_report_increment = 93.0;
    hb.sequence = 1;
    req.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    req.heartbeat = &hb;
    cl->req_len = protobuf_c_message_pack(&req.base, cl->req);
    int rv = nng_req0_open(&cl->sock);
    if (rv == 0)
        rv = nng_dial(cl->sock, url + 8, NULL, 0);
    if (rv != 0)
        return hbeat_error_set(err, HBEAT_ETRANSPORT, "nng dial %s: %s", url + 8, nng_strerror(rv));
    cl->nng = 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: hbeat-bench-client URL RUN_ID WARMUP BEATS\n");
        return 2;
    }
    const char *url = argv[1];
    long long run_id = atoll(argv[2]);
    int warmup = atoi(argv[3]), beats = atoi(argv[4]);
    /* POSIX's way to turn dlsym's object pointer into a function pointer. */
    bench_alloc_begin_fn begin;
    bench_alloc_end_fn end;
    *(void **)&begin = dlsym(RTLD_DEFAULT, "bench_alloc_begin");
    *(void **)&end = dlsym(RTLD_DEFAULT, "bench_alloc_end");

    long rss0 = bench_rss_kb(0);
    int threads0 = bench_threads(0);

    hbeat_error err = HBEAT_ERROR_INIT;
    client cl;
    memset(&cl, 0, sizeof cl);
    hbeat_gateway *gw = NULL;
    if (strncmp(url, "raw+", 4) == 0) {
        if (open_raw(&cl, url, run_id, &err) != 0) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
    } else {
        hbeat_gateway_options go = HBEAT_GATEWAY_OPTIONS_INIT;
        if (hbeat_gateway_open(&gw, url, &go, &err) != 0) {
            fprintf(stderr, "open %s: %s\n", url, err.message);
            return 1;
        }
        hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
        so.workflow_run_id = run_id;
        if (hbeat_service_new(&cl.svc, gw, &so, &err) != 0) {
            fprintf(stderr, "service: %s\n", err.message);
            return 1;
        }
    }
    for (int i = 0; i < warmup; i++) {
        if (beat(&cl, &err) != 0) {
            fprintf(stderr, "tick: %s\n", err.message);
            return 1;
        }
    }
    long rss1 = bench_rss_kb(0);
    int threads1 = bench_threads(0);

    bench_alloc_report rep;
    memset(&rep, 0, sizeof rep);
    if (begin != NULL)
        begin();
    int failed = 0;
    for (int i = 0; i < beats; i++)
        failed |= beat(&cl, &err) != 0;
    if (end != NULL)
        end(&rep);
    if (failed) {
        fprintf(stderr, "tick: %s\n", err.message);
        return 1;
    }

    printf("rss_before_kb=%ld rss_kb=%ld threads_before=%d threads=%d shim=%d beats=%d "
           "allocs=%llu bytes=%llu",
           rss0, rss1, threads0, threads1, begin != NULL, beats, (unsigned long long)rep.calls,
           (unsigned long long)rep.bytes);
    for (unsigned int i = 0; i < rep.ndsos; i++)
        printf(" by.%s=%llu", rep.dso[i].name, (unsigned long long)rep.dso[i].calls);
    for (unsigned int i = 0; i < rep.nsites; i++)
        printf(" site.%s=%llu", rep.site[i].where, (unsigned long long)rep.site[i].calls);
    printf("\n");
    hbeat_service_free(cl.svc);
    hbeat_gateway_free(gw);
    if (cl.curl != NULL)
        curl_easy_cleanup(cl.curl);
    if (cl.nng)
        nng_close(cl.sock);
    return 0;
}
