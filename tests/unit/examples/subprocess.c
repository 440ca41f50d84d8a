#define _POSIX_C_SOURCE 200809L

#include "subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Children started and not yet reaped, so that hb_proc_kill_all() can end
   them when a failed assertion skipped the test's own cleanup. */
#define TRACK_MAX 64
static pid_t tracked[TRACK_MAX];

static void track(pid_t pid, pid_t replace)
{
    for (int i = 0; i < TRACK_MAX; i++) {
        if (tracked[i] == replace) {
            tracked[i] = pid;
            return;
        }
    }
}

void hb_proc_kill_all(void)
{
    for (int i = 0; i < TRACK_MAX; i++) {
        if (tracked[i] > 0) {
            int status;
            kill(tracked[i], SIGKILL);
            while (waitpid(tracked[i], &status, 0) < 0 && errno == EINTR) {
            }
            tracked[i] = 0;
        }
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Build the child's environment in the parent: after fork in a process that
   may have threads, only async-signal-safe calls are allowed. */
static char **make_env(const char *const changes[])
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (changes && changes[m])
        m++;
    char **env = calloc(n + m + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = 1;
        for (size_t j = 0; j < m && keep; j++) {
            const char *c = changes[j][0] == '-' ? changes[j] + 1 : changes[j];
            size_t len = strcspn(c, "=");
            if (strncmp(environ[i], c, len) == 0 && environ[i][len] == '=')
                keep = 0;
        }
        if (keep)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++) {
        if (changes[j][0] != '-')
            env[k++] = (char *)changes[j];
    }
    env[k] = NULL;
    return env;
}

int hb_proc_start(hb_proc *p, char *const argv[], const char *const env_changes[])
{
    int out[2], err[2];
    memset(p, 0, sizeof *p);
    p->out_fd = p->err_fd = -1;
    char **env = make_env(env_changes);
    if (!env)
        return -1;
    if (pipe(out) != 0) {
        free(env);
        return -1;
    }
    if (pipe(err) != 0) {
        close(out[0]);
        close(out[1]);
        free(env);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        free(env);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        /* A fresh signal state: the test may block signals in its threads. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        execve(argv[0], argv, env);
        _exit(127);
    }
    free(env);
    close(out[1]);
    close(err[1]);
    fcntl(out[0], F_SETFD, FD_CLOEXEC);
    fcntl(err[0], F_SETFD, FD_CLOEXEC);
    p->pid = pid;
    track(pid, 0);
    p->out_fd = out[0];
    p->err_fd = err[0];
    return 0;
}

static void read_into(int *fd, char *buf, size_t *len)
{
    char tmp[4096];
    ssize_t n = read(*fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    size_t room = HB_PROC_OUT_MAX - 1 - *len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(buf + *len, tmp, take);
    *len += take;
    buf[*len] = '\0';
}

/* Wait up to @p timeout for output and read what came. @return 0 when
   something was read or a pipe closed, -1 on timeout, -2 when both pipes
   are closed already. */
static int pump(hb_proc *p, double timeout)
{
    struct pollfd fds[2];
    int nfds = 0;
    if (p->out_fd >= 0)
        fds[nfds++] = (struct pollfd){p->out_fd, POLLIN, 0};
    if (p->err_fd >= 0)
        fds[nfds++] = (struct pollfd){p->err_fd, POLLIN, 0};
    if (nfds == 0)
        return -2;
    int ms = timeout <= 0 ? 0 : (int)(timeout * 1000) + 1;
    int rc = poll(fds, (nfds_t)nfds, ms);
    if (rc <= 0)
        return -1;
    for (int i = 0; i < nfds; i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (fds[i].fd == p->out_fd)
            read_into(&p->out_fd, p->out, &p->out_len);
        else
            read_into(&p->err_fd, p->err, &p->err_len);
    }
    return 0;
}

int hb_proc_wait_for(hb_proc *p, const char *needle, double timeout)
{
    double deadline = now_seconds() + timeout;
    for (;;) {
        if (strstr(p->out, needle))
            return 0;
        double left = deadline - now_seconds();
        if (left <= 0 || p->out_fd < 0)
            return -1;
        pump(p, left);
    }
}

int hb_proc_count(const hb_proc *p, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *s = strstr(p->out, needle); s; s = strstr(s + len, needle))
        n++;
    return n;
}

int hb_proc_count_lines(const hb_proc *p, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *line = p->out; *line;) {
        if (strncmp(line, prefix, len) == 0)
            n++;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return n;
}

static int decode(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int hb_proc_wait_exit(hb_proc *p, double timeout)
{
    double deadline = now_seconds() + timeout;
    while (p->pid > 0) {
        int status = 0;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            track(0, p->pid);
            p->pid = 0;
            p->exit_code = decode(status);
            break;
        }
        double left = deadline - now_seconds();
        if (left <= 0)
            return -1;
        /* Keep the pipes drained so that the child never blocks on them;
           once both are closed, check for its exit every few ms. */
        if (pump(p, left < 0.05 ? left : 0.05) == -2) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    /* Whatever is left in the pipes. */
    while (pump(p, 0) == 0) {
    }
    return p->exit_code;
}

void hb_proc_signal(hb_proc *p, int sig)
{
    if (p->pid > 0)
        kill(p->pid, sig);
}

void hb_proc_cleanup(hb_proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        int status = 0;
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
        }
        p->exit_code = decode(status);
        track(0, p->pid);
        p->pid = 0;
    }
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
}

int hb_proc_run(hb_proc *p, char *const argv[], const char *const env_changes[], double timeout)
{
    if (hb_proc_start(p, argv, env_changes) != 0)
        return -1;
    int rc = hb_proc_wait_exit(p, timeout);
    hb_proc_cleanup(p);
    return rc;
}
