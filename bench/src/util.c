#define _GNU_SOURCE

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void bench_samples_init(bench_samples *s, size_t reserve)
{
    s->n = 0;
    s->cap = reserve > 0 ? reserve : 1024;
    s->v = malloc(s->cap * sizeof *s->v);
    if (s->v == NULL)
        bench_die("out of memory");
}

void bench_samples_add(bench_samples *s, int64_t ns)
{
    if (s->n == s->cap) {
        s->cap *= 2;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL)
            bench_die("out of memory");
    }
    s->v[s->n++] = ns;
}

void bench_samples_free(bench_samples *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

double bench_samples_quantile_us(bench_samples *s, double q)
{
    if (s->n == 0)
        return NAN;
    qsort(s->v, s->n, sizeof *s->v, cmp_i64);
    /* Nearest rank: the smallest sample with at least q of them at or
       below it. */
    size_t rank = (size_t)ceil(q * (double)s->n);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return (double)s->v[rank - 1] / 1000.0;
}

pid_t bench_spawn(char *const argv[], const char *log_path, char *const env_add[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (log_path != NULL) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        for (size_t i = 0; env_add != NULL && env_add[i] != NULL; i++)
            putenv(env_add[i]);
        execv(argv[0], argv);
        fprintf(stderr, "bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int bench_wait_ready(pid_t pid, const char *path, double timeout_s, char *buf, size_t cap)
{
    int64_t until = bench_now_ns() + (int64_t)(timeout_s * 1e9);
    while (bench_now_ns() < until) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            size_t n = fread(buf, 1, cap - 1, f);
            fclose(f);
            buf[n] = '\0';
            return 0;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        bench_sleep_ms(5);
    }
    return -1;
}

int bench_ready_value(const char *ready, const char *key, const char *prefix, char *out, size_t cap)
{
    size_t klen = strlen(key), plen = prefix != NULL ? strlen(prefix) : 0;
    for (const char *line = ready; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len > klen + 1 && strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            const char *v = line + klen + 1;
            size_t vlen = len - klen - 1;
            if (plen == 0 || (vlen >= plen && strncmp(v, prefix, plen) == 0)) {
                if (vlen + 1 > cap)
                    return -1;
                memcpy(out, v, vlen);
                out[vlen] = '\0';
                return 0;
            }
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return -1;
}

int bench_stop(pid_t pid)
{
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    int64_t until = bench_now_ns() + 10 * (int64_t)1000000000;
    int status;
    while (bench_now_ns() < until) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0)
            return -1;
        bench_sleep_ms(5);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static long status_field(pid_t pid, const char *field)
{
    char path[64];
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/status");
    else
        snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

long bench_rss_kb(pid_t pid)
{
    return status_field(pid, "VmRSS");
}

int64_t bench_cpu_ns(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%ld/task", (long)(pid == 0 ? getpid() : pid));
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[sizeof dir + sizeof e->d_name + 16];
        snprintf(path, sizeof path, "%s/%s/schedstat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        long long ns = 0;
        if (f != NULL) {
            if (fscanf(f, "%lld", &ns) == 1)
                sum += ns;
            fclose(f);
        }
    }
    closedir(d);
    return sum;
}

int bench_threads(pid_t pid)
{
    return (int)status_field(pid, "Threads");
}

int bench_mkdtemp(char *out, size_t cap, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if ((size_t)snprintf(out, cap, "%s/hbeat-bench-%s-XXXXXX", tmp, tag) >= cap)
        return -1;
    return mkdtemp(out) != NULL ? 0 : -1;
}

void bench_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            bench_rmtree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}
