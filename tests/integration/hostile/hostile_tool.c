/*
 * hostile_tool: runs one hostile pattern of the suite by hand against a
 * running hbeatd, to reproduce an attack and watch the server meanwhile.
 * Not a test. Loopback only: it refuses any target but 127.x.y.z and ipc.
 *
 *   hostile_tool PATTERN URL [-t SECONDS] [-n COUNT] [-s SRC] [-a ADDRS]
 *                [-c CLOSE_LIMIT] [-p PID]
 *
 * e.g. hostile_tool idle nng+tcp://127.0.0.1:7781 -t 10 -n 300 -s 127.0.4.1 -a 5 -p $(pidof hbeatd)
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "attacks.h"
#include "support/hbd_observe.h"
#include "support/rawpeer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hostile_tool PATTERN URL [-t SECONDS] [-n COUNT] [-s SRC] [-a ADDRS]\n"
               "                    [-c CLOSE_LIMIT] [-p PID]\n"
               "  URL          nng+tcp://127.0.0.1:P, nng+ipc:///path, nng+tls+tcp://127.0.0.1:P,\n"
               "               http://127.0.0.1:P (loopback only)\n"
               "  -t SECONDS   how long to attack (default: the pattern's)\n"
               "  -n COUNT     the pattern's size (default: the pattern's)\n"
               "  -s SRC       first TCP source address, e.g. 127.0.4.1 (default: the kernel's)\n"
               "  -a ADDRS     source addresses counted up from SRC (default 1)\n"
               "  -c LIMIT     afterwards, wait until every held connection has been ended by\n"
               "               the server or is LIMIT s old (default 0: close at once)\n"
               "  -p PID       print hbeatd's descriptors and RSS every second meanwhile\n"
               "patterns:\n");
    for (const hx_pattern *p = hx_patterns; p->name != NULL; p++)
        fprintf(f, "  %-14s %s (N %u, %.0f s)\n", p->name, p->what, p->default_count,
                p->default_seconds);
}

typedef struct job {
    const hx_pattern *p;
    hx_opts o;
    hx_report r;
    int rc;
    atomic_int done;
} job;

static void *run(void *arg)
{
    job *j = arg;
    j->rc = j->p->run(&j->o, &j->r);
    atomic_store(&j->done, 1);
    return NULL;
}

static int loopback(const char *url)
{
    rp_addr a;
    if (rp_parse(url, &a) != 0)
        return 0;
    return a.is_unix || strncmp(a.host, "127.", 4) == 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argv[1][0] == '-') {
        usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    job j;
    memset(&j, 0, sizeof j);
    j.p = hx_find(argv[1]);
    if (j.p == NULL) {
        fprintf(stderr, "hostile_tool: no pattern %s\n", argv[1]);
        usage(stderr);
        return 2;
    }
    j.o.url = argv[2];
    if (!loopback(j.o.url)) {
        fprintf(stderr, "hostile_tool: %s is not a loopback or ipc URL\n", j.o.url);
        return 2;
    }
    j.o.seconds = j.p->default_seconds;
    j.o.sources = 1;
    long pid = 0;
    optind = 3;
    int opt;
    while ((opt = getopt(argc, argv, "t:n:s:a:c:p:")) != -1) {
        switch (opt) {
        case 't':
            j.o.seconds = atof(optarg);
            break;
        case 'n':
            j.o.count = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 's':
            if (strncmp(optarg, "127.", 4) != 0) {
                fprintf(stderr, "hostile_tool: source %s is not a loopback address\n", optarg);
                return 2;
            }
            j.o.src_base = optarg;
            break;
        case 'a':
            j.o.sources = atoi(optarg);
            break;
        case 'c':
            j.o.close_limit = atof(optarg);
            break;
        case 'p':
            pid = strtol(optarg, NULL, 10);
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (j.o.seconds <= 0 || j.o.seconds > 3600 || j.o.sources < 1 || j.o.sources > 250) {
        fprintf(stderr, "hostile_tool: -t must be in (0, 3600], -a in [1, 250]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    atomic_init(&j.done, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, run, &j) != 0) {
        fprintf(stderr, "hostile_tool: cannot start a thread\n");
        return 1;
    }
    double t0 = rp_now(), next = t0;
    while (!atomic_load(&j.done)) {
        if (pid > 0 && rp_now() >= next) {
            printf("%6.1f s: hbeatd %ld descriptors, RSS %.1f MiB\n", rp_now() - t0,
                   hbd_fd_count((pid_t)pid), (double)hbd_rss_kib((pid_t)pid) / 1024.0);
            fflush(stdout);
            next += 1.0;
        }
        rp_sleep(0.05);
    }
    pthread_join(t, NULL);
    hx_report_print(stdout, j.p->name, &j.r);
    if (pid > 0)
        printf("hbeatd now: %ld descriptors, RSS %.1f MiB\n", hbd_fd_count((pid_t)pid),
               (double)hbd_rss_kib((pid_t)pid) / 1024.0);
    return j.rc == 0 ? 0 : 1;
}
