#define _GNU_SOURCE

#include "pyworker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failf(char *err, size_t cap, const char *what)
{
    snprintf(err, cap, "%s: %s", what, strerror(errno));
    return -1;
}

/* One line from the worker, without its newline; NULL at end of output. */
static char *read_line(bench_pyworker *w, char **buf, size_t *cap)
{
    ssize_t n = getline(buf, cap, w->from);
    if (n <= 0)
        return NULL;
    if ((*buf)[n - 1] == '\n')
        (*buf)[n - 1] = '\0';
    return *buf;
}

int bench_pyworker_start(bench_pyworker *w, char *const argv[], char *const env_add[], char *err,
                         size_t cap)
{
    memset(w, 0, sizeof *w);
    int in[2], out[2];
    /* Close-on-exec: a later worker must not hold this one's stdin open. */
    if (pipe2(in, O_CLOEXEC) != 0)
        return failf(err, cap, "pipe");
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return failf(err, cap, "pipe");
    }
    w->pid = fork();
    if (w->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        for (size_t i = 0; env_add != NULL && env_add[i] != NULL; i++)
            putenv(env_add[i]);
        execv(argv[0], argv);
        printf("error cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (w->pid < 0) {
        close(in[1]);
        close(out[0]);
        return failf(err, cap, "fork");
    }
    w->to = fdopen(in[1], "w");
    w->from = fdopen(out[0], "r");
    char *buf = NULL;
    size_t bcap = 0;
    const char *line = read_line(w, &buf, &bcap);
    int rc = line != NULL && strcmp(line, "ready") == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, cap, "%.200s", line != NULL ? line : "the worker exited before ready");
    free(buf);
    return rc;
}

int bench_pyworker_block(bench_pyworker *w, int n, bench_samples *s, char *err, size_t cap)
{
    if (fprintf(w->to, "%d\n", n) < 0 || fflush(w->to) != 0)
        return failf(err, cap, "writing to the worker");
    char *buf = NULL;
    size_t bcap = 0;
    char *line = read_line(w, &buf, &bcap);
    int got = 0;
    if (line != NULL && strncmp(line, "error", 5) != 0) {
        for (char *p = line, *end; got < n; p = end, got++) {
            long long ns = strtoll(p, &end, 10);
            if (end == p)
                break;
            if (s != NULL)
                bench_samples_add(s, ns);
        }
    }
    int rc = got == n ? 0 : -1;
    if (rc != 0)
        snprintf(err, cap, "%.200s", line != NULL ? line : "the worker exited");
    free(buf);
    return rc;
}

void bench_pyworker_stop(bench_pyworker *w)
{
    if (w->to != NULL)
        fclose(w->to);
    if (w->from != NULL)
        fclose(w->from);
    if (w->pid > 0) {
        int status;
        waitpid(w->pid, &status, 0);
    }
    memset(w, 0, sizeof *w);
}
