#include "grpc_peer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every peer running, so that one a failed test left behind is stopped
   when the test program exits. */
#define LIVE_MAX 16
static pid_t live[LIVE_MAX];

static void kill_live(void)
{
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
    }
}

static void track(pid_t old, pid_t now)
{
    static int registered;
    if (!registered) {
        atexit(kill_live);
        registered = 1;
    }
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] == old) {
            live[i] = now;
            return;
        }
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int spawn(grpc_peer *p)
{
    char ready[320], port[16];
    snprintf(ready, sizeof(ready), "%s/ready", p->dir);
    unlink(ready);
    snprintf(port, sizeof(port), "%d", p->port);
    char *argv[GRPC_PEER_MAX_ARGS + 12];
    int n = 0;
    argv[n++] = (char *)"/usr/bin/python3";
    argv[n++] = (char *)GRPC_PEER_SCRIPT;
    argv[n++] = (char *)"--proto-dir";
    argv[n++] = (char *)GRPC_PEER_PROTO_DIR;
    argv[n++] = (char *)"--ready-file";
    argv[n++] = ready;
    argv[n++] = (char *)"--port";
    argv[n++] = port;
    for (int i = 0; i < p->nargs; i++) {
        argv[n++] = p->args[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        perror("grpc_peer: fork");
        return -1;
    }
    if (pid == 0) {
        execv(argv[0], argv);
        perror("grpc_peer: exec /usr/bin/python3");
        _exit(127);
    }
    p->pid = pid;
    track(0, pid);
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(ready, "r");
        if (f != NULL) {
            int got = fscanf(f, "%d", &p->port);
            fclose(f);
            if (got == 1 && p->port > 0) {
                return 0;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            track(pid, 0);
            p->pid = 0;
            fprintf(stderr, "grpc_peer: the peer exited (status %d) before serving\n", status);
            return -1;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "grpc_peer: no ready file within 20 s\n");
    grpc_peer_kill9(p);
    return -1;
}

int grpc_peer_start(grpc_peer *p, const char *const *extra)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "/tmp/hbeat-grpc-peer-XXXXXX");
    if (mkdtemp(p->dir) == NULL) {
        perror("grpc_peer: mkdtemp");
        p->dir[0] = '\0';
        return -1;
    }
    int tls = 0;
    for (int i = 0; extra != NULL && extra[i] != NULL && p->nargs < GRPC_PEER_MAX_ARGS; i++) {
        p->args[p->nargs++] = strdup(extra[i]);
        tls |= strcmp(extra[i], "--cert") == 0;
    }
    if (spawn(p) != 0) {
        return -1;
    }
    snprintf(p->url, sizeof(p->url), "%s://127.0.0.1:%d", tls ? "grpcs" : "grpc", p->port);
    return 0;
}

int grpc_peer_restart(grpc_peer *p)
{
    return spawn(p);
}

static void reap(grpc_peer *p, int sig, int patience_ms)
{
    if (p->pid == 0) {
        return;
    }
    kill(p->pid, sig);
    for (int waited = 0;; waited += 20) {
        int status;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            break;
        }
        if (waited >= patience_ms) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        sleep_ms(20);
    }
    track(p->pid, 0);
    p->pid = 0;
}

void grpc_peer_stop(grpc_peer *p)
{
    reap(p, SIGTERM, 10000);
}

void grpc_peer_kill9(grpc_peer *p)
{
    reap(p, SIGKILL, 10000);
}

void grpc_peer_cleanup(grpc_peer *p)
{
    grpc_peer_stop(p);
    for (int i = 0; i < p->nargs; i++) {
        free(p->args[i]);
    }
    p->nargs = 0;
    if (p->dir[0] != '\0') {
        char path[320];
        snprintf(path, sizeof(path), "%s/ready", p->dir);
        unlink(path);
        rmdir(p->dir);
        p->dir[0] = '\0';
    }
}
