/*
 * hbeat-bench-client URL RUN_ID WARMUP BEATS
 *
 * What one service costs the process that runs it: RSS and threads before
 * the gateway is opened and after WARMUP beats, and the heap allocations of
 * BEATS steady-state beats (hbeat_service_tick), charged to the library
 * that made them when the malloc-counting shim is preloaded. Prints one
 * line of key=value pairs for the bench driver.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocshim.h"
#include "hbeat/hbeat.h"
#include "util.h"

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
    hbeat_gateway_options go = HBEAT_GATEWAY_OPTIONS_INIT;
    hbeat_gateway *gw = NULL;
    if (hbeat_gateway_open(&gw, url, &go, &err) != 0) {
        fprintf(stderr, "open %s: %s\n", url, err.message);
        return 1;
    }
    hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
    so.workflow_run_id = run_id;
    hbeat_service *svc = NULL;
    if (hbeat_service_new(&svc, gw, &so, &err) != 0) {
        fprintf(stderr, "service: %s\n", err.message);
        return 1;
    }
    for (int i = 0; i < warmup; i++) {
        if (hbeat_service_tick(svc, NULL, &err) != 0) {
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
        failed |= hbeat_service_tick(svc, NULL, &err) != 0;
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
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    return 0;
}
