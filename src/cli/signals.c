#define _POSIX_C_SOURCE 200809L

#include "signals.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "options.h"

/* SIGUSR2 is how cli_signals_free() wakes the watcher. */
#define WAKE_SIGNAL SIGUSR2

struct cli_signals {
    pthread_t thread;
    sigset_t set;
    hbeat_stop_event *stop;
    atomic_int caught;
    atomic_int quitting;
    struct timespec first; /* when the first signal came */
};

static void *watch(void *arg)
{
    cli_signals *s = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&s->set, &sig) != 0)
            continue;
        if (atomic_load(&s->quitting))
            return NULL;
        if (sig == WAKE_SIGNAL)
            continue;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (atomic_load(&s->caught) == 0) {
            s->first = now;
            atomic_store(&s->caught, sig);
        } else if (now.tv_sec - s->first.tv_sec >= 2) {
            /* Not a copy of the first one (`timeout` and process-group kills
               deliver a signal twice): the user insists. */
            static const char msg[] = "hbeat: second signal, exiting at once\n";
            ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
            (void)n;
            _exit(CLI_EXIT_FAILURE);
        }
        hbeat_stop_event_set(s->stop);
    }
}

int cli_signals_start(cli_signals **out, hbeat_stop_event *stop)
{
    cli_signals *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "hbeat: out of memory\n");
        return -1;
    }
    s->stop = stop;
    sigemptyset(&s->set);
    sigaddset(&s->set, SIGINT);
    sigaddset(&s->set, SIGTERM);
    sigaddset(&s->set, WAKE_SIGNAL);
    int rc = pthread_sigmask(SIG_BLOCK, &s->set, NULL);
    if (rc == 0)
        rc = pthread_create(&s->thread, NULL, watch, s);
    if (rc != 0) {
        fprintf(stderr, "hbeat: cannot watch for signals: %s\n", strerror(rc));
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int cli_signals_caught(cli_signals *s)
{
    return s ? atomic_load(&s->caught) : 0;
}

void cli_signals_free(cli_signals *s)
{
    if (!s)
        return;
    atomic_store(&s->quitting, 1);
    pthread_kill(s->thread, WAKE_SIGNAL);
    pthread_join(s->thread, NULL);
    free(s);
}
