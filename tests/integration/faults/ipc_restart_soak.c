/*
 * Not a test: a soak run by hand for server restarts over nng+ipc. A
 * service loop beats hbeatd; hbeatd is killed -9 and restarted, round after
 * round. Each round must recover within 15 s. When one does not, the tool
 * prints nng's counters for every dialer, whether the gateway's dialer
 * still dials (strace, if installed) and whether a new gateway gets
 * through. It found libnng 1.5's ipc dialer giving up for good (see
 * src/transports/nng/dialer.c). Build the target faults_ipc_restart_soak;
 * run it as
 *     faults_ipc_restart_soak [rounds] [nng+tcp]
 * Exit status: 0 every round recovered, 1 one did not, 2 setup failed.
 * Under ASan, LeakSanitizer reports at exit what was lost on the way.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "hbeat/hbeat.h"

#ifndef HBEAT_CLI_PATH
#define HBEAT_CLI_PATH "false" /* built without the hbeat tool */
#endif
#include "support/hbeatd_harness.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static hbeat_service_stats stats(hbeat_service *svc)
{
    hbeat_service_stats s;
    memset(&s, 0, sizeof(s));
    s.version = HBEAT_SERVICE_STATS_VERSION;
    hbeat_service_get_stats(svc, &s);
    return s;
}

static hbeat_gateway *open_gw(const char *url)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 0.5;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, url, &o, &err) != 0) {
        fprintf(stderr, "open %s: %s\n", url, err.message);
        return NULL;
    }
    return gw;
}

/* nng's own counters for every dialer in the process: what the stuck one
   last saw. */
static void print_stats(nng_stat *st, int depth, int in_dialer)
{
    for (; st != NULL; st = nng_stat_next(st)) {
        const char *name = nng_stat_name(st);
        int dialer = in_dialer || strncmp(name, "dialer", 6) == 0;
        if (dialer && nng_stat_type(st) == NNG_STAT_STRING)
            printf("%*s%s = %s\n", depth * 2, "", name, nng_stat_string(st));
        else if (dialer && nng_stat_type(st) != NNG_STAT_SCOPE)
            printf("%*s%s = %llu\n", depth * 2, "", name, (unsigned long long)nng_stat_value(st));
        else if (dialer)
            printf("%*s[%s]\n", depth * 2, "", name);
        print_stats(nng_stat_child(st), depth + 1, dialer);
    }
}

static void dump_dialers(void)
{
    nng_stat *all;
    if (nng_stats_get(&all) != 0) {
        printf("(no nng statistics)\n");
        return;
    }
    print_stats(all, 0, 0);
    nng_stats_free(all);
}

/* What the stuck gateway and a new one do, for the report. */
static void diagnose(const hbd_harness *h, const char *url, hbeat_gateway *gw, int64_t run)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "command -v strace >/dev/null && echo \"connect() calls in 3 s: $(timeout 3 "
             "strace -f -e trace=connect -p %d 2>&1 | grep -c 'connect(')\"",
             (int)getpid());
    if (system(cmd) != 0)
        fprintf(stderr, "(strace not available)\n");
    dump_dialers();
    char st[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_log_heartbeat(gw, run, "R", 10.0, st, &err);
    printf("the same gateway: %s\n", rc == 0 ? "ok" : err.message);
    hbeat_gateway *fresh = open_gw(url);
    if (fresh != NULL) {
        rc = hbeat_gateway_log_heartbeat(fresh, run, "R", 10.0, st, &err);
        printf("a new gateway: %s\n", rc == 0 ? "ok" : err.message);
        hbeat_gateway_free(fresh);
    }
    /* Whether another process gets through (then this one is wedged),
       what hbeatd counted, and what both processes' threads are doing. */
    snprintf(cmd, sizeof(cmd),
             "echo '--- another process:'; HBEAT_URL=%s timeout 10 %s run get %lld; "
             "echo '--- hbeatd metrics:'; curl -s --max-time 5 http://%s/metrics | "
             "grep -E '^hbeatd_(requests_total|open_connections)' | grep -v ' 0$'; "
             "echo '--- hbeatd %d:'; grep -E '^(State|Threads)' /proc/%d/status; "
             "tail -n 5 %s",
             url, HBEAT_CLI_PATH, (long long)run, h->rest_host_port, (int)h->pid, (int)h->pid,
             h->log_path);
    if (system(cmd) != 0)
        fprintf(stderr, "(no server diagnosis)\n");
    pid_t pids[2] = {h->pid, getpid()};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd),
                 "echo '--- threads of %s %d:'; command -v gdb >/dev/null && gdb -p %d -batch "
                 "-ex 'thread apply all bt 10' 2>/dev/null | grep -E '^(Thread|#)' | "
                 "grep -v -E 'futex-internal|pthread_cond_wait.c|clone3|start_thread'",
                 i == 0 ? "hbeatd" : "this soak", (int)pids[i], (int)pids[i]);
        if (system(cmd) != 0)
            fprintf(stderr, "(no thread dump)\n");
    }
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 30;
    int tcp = argc > 2 && strcmp(argv[2], "nng+tcp") == 0;
    const char *args[] = {"--reap-grace", "100000", NULL};
    hbd_harness h;
    if (hbd_harness_start(&h, args) != 0)
        return 2;
    const char *url = tcp ? h.nng_tcp_url : h.nng_ipc_url;
    hbeat_gateway *gw = open_gw(url);
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (gw == NULL || hbeat_run_create(gw, 7, "R", &run, &err) != 0)
        return 2;
    hbeat_log_set_handler(NULL, NULL, HBEAT_LOG_ERROR);
    hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
    so.workflow_run_id = run.workflow_run_id;
    so.interval = 0.2;
    so.report_by_buffer = 3.0;
    so.max_consecutive_failures = 0;
    hbeat_service *svc = NULL;
    if (hbeat_service_new(&svc, gw, &so, &err) != 0 || hbeat_service_start(svc, &err) != 0)
        return 2;
    int rc = 0;
    for (int r = 0; r < rounds && rc == 0; r++) {
        sleep_ms(300 + rand() % 400);
        hbd_harness_kill9(&h);
        double t0 = now();
        while (stats(svc).consecutive_failures < 3 && now() - t0 < 20)
            sleep_ms(5);
        if (hbd_harness_restart(&h) != 0) {
            rc = 2;
            break;
        }
        uint64_t acked = stats(svc).beats_acknowledged;
        t0 = now();
        hbeat_service_stats s = stats(svc);
        while (!(s.consecutive_failures == 0 && s.beats_acknowledged > acked) && now() - t0 < 15) {
            sleep_ms(5);
            s = stats(svc);
        }
        int ok = s.consecutive_failures == 0 && s.beats_acknowledged > acked;
        printf("round %d: %s after %.2f s\n", r, ok ? "recovered" : "STUCK", now() - t0);
        fflush(stdout);
        if (!ok) {
            diagnose(&h, url, gw, run.workflow_run_id);
            rc = 1;
        }
    }
    hbeat_service_stop(svc, NULL);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbd_harness_stop(&h);
    hbd_harness_cleanup(&h);
    return rc;
}
