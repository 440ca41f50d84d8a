/*
 * Starts the real hbeatd for integration tests; see hbeatd_harness.h.
 *
 * Readiness is hbeatd's --ready-file, written once every listener is
 * bound, so the harness never guesses with sleeps: it polls for the file
 * (bounded) and gives up early when hbeatd exits.
 */
#define _POSIX_C_SOURCE 200809L
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif

#include "support/hbeatd_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#ifndef HBEATD_PATH
#error "HBEATD_PATH must name the hbeatd binary"
#endif

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  10000
#define POLL_MS          5

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Timeouts grow under HBD_HARNESS_WRAPPER: tools slow hbeatd down. */
static int timeout_ms(int base)
{
    const char *w = getenv("HBD_HARNESS_WRAPPER");
    return w != NULL && w[0] != '\0' ? 6 * base : base;
}

static void dump_log(const hbd_harness *h, const char *why)
{
    FILE *f = fopen(h->log_path, "r");
    fprintf(stderr, "hbd_harness: %s; hbeatd log (%s):\n", why, h->log_path);
    if (f == NULL)
        return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(f);
    fputs("hbd_harness: end of hbeatd log\n", stderr);
}

/* Turns a waitpid() status into the harness's return convention. */
static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Parses hbeatd's ready file; returns 1 once it has the nng tcp line. */
static int read_ready(hbd_harness *h)
{
    FILE *f = fopen(h->ready_path, "r");
    if (f == NULL)
        return 0;
    char line[600];
    int have_tcp = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        int port;
        if (strncmp(line, "nng tcp://", 10) == 0) {
            const char *colon = strrchr(line, ':');
            if (colon != NULL && sscanf(colon + 1, "%d", &port) == 1) {
                h->tcp_port = port;
                snprintf(h->nng_tcp_url, sizeof h->nng_tcp_url, "nng+%.240s", line + 4);
                have_tcp = 1;
            }
        } else if (strncmp(line, "nng ipc://", 10) == 0) {
            snprintf(h->nng_ipc_url, sizeof h->nng_ipc_url, "nng+%.500s", line + 4);
        } else if (strncmp(line, "grpc grpc://", 12) == 0 ||
                   strncmp(line, "grpc grpcs://", 13) == 0) {
            const char *colon = strrchr(line, ':');
            if (colon != NULL && sscanf(colon + 1, "%d", &port) == 1) {
                h->grpc_port = port;
                snprintf(h->grpc_url, sizeof h->grpc_url, "%.120s", line + 5);
            }
        } else if (strncmp(line, "http http://", 12) == 0) {
            const char *hostport = line + 12;
            const char *slash = strchr(hostport, '/');
            const char *colon = strrchr(hostport, ':');
            if (colon != NULL && sscanf(colon + 1, "%d", &port) == 1) {
                h->http_port = port;
                snprintf(h->rest_url, sizeof h->rest_url, "%.250s", line + 5);
                int len = slash != NULL ? (int)(slash - hostport) : (int)strlen(hostport);
                if (len > 60)
                    len = 60;
                snprintf(h->rest_host_port, sizeof h->rest_host_port, "%.*s", len, hostport);
            }
        }
    }
    fclose(f);
    return have_tcp;
}

static int launch(hbd_harness *h)
{
    char listen_tcp[64], listen_ipc[600], http[64], grpc[64];
    snprintf(listen_tcp, sizeof listen_tcp, "tcp://127.0.0.1:%d", h->tcp_port);
    snprintf(listen_ipc, sizeof listen_ipc, "ipc://%s", h->sock_path);
#ifdef HBD_HARNESS_REST
    snprintf(http, sizeof http, "127.0.0.1:%d", h->http_port);
#else
    snprintf(http, sizeof http, "none");
#endif
#ifdef HBD_HARNESS_GRPC
    snprintf(grpc, sizeof grpc, "127.0.0.1:%d", h->grpc_port);
#else
    snprintf(grpc, sizeof grpc, "none");
#endif
    /* HBD_HARNESS_WRAPPER ("valgrind -q --error-exitcode=99") runs hbeatd
       under a tool; its words come first. */
    char wrapper[512] = "";
    const char *w = getenv("HBD_HARNESS_WRAPPER");
    if (w != NULL)
        snprintf(wrapper, sizeof wrapper, "%s", w);
    const char *argv[16 + 2 * HBD_HARNESS_MAX_ARGS];
    int argc = 0;
    char *save = NULL;
    for (char *word = strtok_r(wrapper, " \t", &save); word != NULL && argc < HBD_HARNESS_MAX_ARGS;
         word = strtok_r(NULL, " \t", &save))
        argv[argc++] = word;
    int wrapped = argc > 0;
    argv[argc++] = HBEATD_PATH;
    argv[argc++] = "--listen";
    argv[argc++] = listen_tcp;
    argv[argc++] = "--listen";
    argv[argc++] = listen_ipc;
    argv[argc++] = "--http";
    argv[argc++] = http;
    argv[argc++] = "--grpc";
    argv[argc++] = grpc;
    argv[argc++] = "--db";
    argv[argc++] = h->db_path;
    argv[argc++] = "--ready-file";
    argv[argc++] = h->ready_path;
    for (int i = 0; i < h->nextra; i++)
        argv[argc++] = h->extra[i];
    argv[argc] = NULL;

    unlink(h->ready_path);
    h->nng_tcp_url[0] = h->nng_ipc_url[0] = h->rest_url[0] = h->rest_host_port[0] = '\0';
    h->grpc_url[0] = '\0';
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "hbd_harness: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
#ifdef __linux__
        /* A crashed test must not leave a server behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        int fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int devnull = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        if (wrapped)
            execvp(argv[0], (char *const *)argv);
        else
            execv(HBEATD_PATH, (char *const *)argv);
        fprintf(stderr, "hbd_harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    h->pid = pid;

    for (int waited = 0; waited < timeout_ms(START_TIMEOUT_MS); waited += POLL_MS) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            h->pid = 0;
            char why[128];
            snprintf(why, sizeof why, "hbeatd exited before it was ready (status %d)",
                     exit_code(status));
            dump_log(h, why);
            return -1;
        }
        if (read_ready(h))
            return 0;
        sleep_ms(POLL_MS);
    }
    dump_log(h, "hbeatd did not become ready in time");
    hbd_harness_kill9(h);
    return -1;
}

int hbd_harness_start(hbd_harness *h, const char *const *extra_args)
{
    memset(h, 0, sizeof *h);
    snprintf(h->dir, sizeof h->dir, "/tmp/hbd-XXXXXX");
    if (mkdtemp(h->dir) == NULL) {
        fprintf(stderr, "hbd_harness: mkdtemp: %s\n", strerror(errno));
        h->dir[0] = '\0';
        return -1;
    }
    snprintf(h->db_path, sizeof h->db_path, "%s/hbeatd.db", h->dir);
    snprintf(h->log_path, sizeof h->log_path, "%s/hbeatd.log", h->dir);
    snprintf(h->ready_path, sizeof h->ready_path, "%s/ready", h->dir);
    snprintf(h->sock_path, sizeof h->sock_path, "%s/hbeatd.sock", h->dir);
    for (; extra_args != NULL && extra_args[h->nextra] != NULL; h->nextra++) {
        if (h->nextra == HBD_HARNESS_MAX_ARGS) {
            fprintf(stderr, "hbd_harness: more than %d extra args\n", HBD_HARNESS_MAX_ARGS);
            return -1;
        }
        h->extra[h->nextra] = strdup(extra_args[h->nextra]);
        if (h->extra[h->nextra] == NULL)
            return -1;
    }
    return launch(h);
}

int hbd_harness_restart(hbd_harness *h)
{
    if (h->pid != 0) {
        fprintf(stderr, "hbd_harness: restart while hbeatd is running\n");
        return -1;
    }
    if (h->dir[0] == '\0' || h->tcp_port == 0) {
        fprintf(stderr, "hbd_harness: restart without a successful start\n");
        return -1;
    }
    return launch(h);
}

int hbd_harness_stop(hbd_harness *h)
{
    if (h->pid == 0)
        return -1;
    kill(h->pid, SIGCONT); /* a frozen server could not act on SIGTERM */
    kill(h->pid, SIGTERM);
    for (int waited = 0; waited < timeout_ms(STOP_TIMEOUT_MS); waited += POLL_MS) {
        int status;
        pid_t r = waitpid(h->pid, &status, WNOHANG);
        if (r == h->pid) {
            h->pid = 0;
            return exit_code(status);
        }
        if (r < 0 && errno != EINTR) {
            h->pid = 0;
            return -1;
        }
        sleep_ms(POLL_MS);
    }
    dump_log(h, "hbeatd ignored SIGTERM; killing it");
    hbd_harness_kill9(h);
    return -1;
}

void hbd_harness_kill9(hbd_harness *h)
{
    if (h->pid == 0)
        return;
    kill(h->pid, SIGKILL);
    while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    h->pid = 0;
}

void hbd_harness_sigstop(hbd_harness *h)
{
    if (h->pid == 0)
        return;
    kill(h->pid, SIGSTOP);
    /* kill() returns before every thread has stopped: wait until the
       whole server has, or a request sent next may still be answered.
       Bounded (5 s): a stop report that never comes must not hang a test. */
    for (int i = 0; i < 5000; i++) {
        int status;
        pid_t r = waitpid(h->pid, &status, WUNTRACED | WNOHANG);
        if (r == h->pid) {
            if (!WIFSTOPPED(status))
                h->pid = 0; /* it had exited: reaped now */
            return;
        }
        if (r < 0 && errno != EINTR)
            return;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

void hbd_harness_sigcont(hbd_harness *h)
{
    if (h->pid != 0)
        kill(h->pid, SIGCONT);
}

void hbd_harness_cleanup(hbd_harness *h)
{
    hbd_harness_kill9(h);
    for (int i = 0; i < h->nextra; i++) {
        free(h->extra[i]);
        h->extra[i] = NULL;
    }
    h->nextra = 0;
    if (h->dir[0] == '\0')
        return;
    const char *verbose = getenv("HBD_HARNESS_VERBOSE");
    if (verbose != NULL && strcmp(verbose, "1") == 0)
        dump_log(h, "cleanup");
    /* The dir is flat: db, wal, shm, log, ready file, socket. */
    DIR *d = opendir(h->dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[600];
            snprintf(path, sizeof path, "%s/%s", h->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(h->dir);
    h->dir[0] = '\0';
}
