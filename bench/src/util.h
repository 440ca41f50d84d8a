/*
 * Small helpers shared by the bench programs: a monotonic clock, latency
 * samples and their percentiles, child processes (spawn, ready file, stop)
 * and what /proc says about a process.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int64_t bench_now_ns(void);
void bench_sleep_ms(long ms);

/* Latency samples in nanoseconds. */
typedef struct bench_samples {
    int64_t *v;
    size_t n, cap;
} bench_samples;

void bench_samples_init(bench_samples *s, size_t reserve);
void bench_samples_add(bench_samples *s, int64_t ns);
void bench_samples_free(bench_samples *s);
/* Sorts in place; q in [0, 1]. NaN when empty. Microseconds. */
double bench_samples_quantile_us(bench_samples *s, double q);

/* Starts argv[0] with stdout and stderr appended to log_path (NULL: inherit).
   Extra environment entries "K=V" (NULL-terminated list, or NULL) are set in
   the child only. Returns the pid, or -1. */
pid_t bench_spawn(char *const argv[], const char *log_path, char *const env_add[]);
/* Waits until `path` exists (it is written atomically by the child) and
   copies it into buf. 0, or -1 when the child died or time ran out. */
int bench_wait_ready(pid_t pid, const char *path, double timeout_s, char *buf, size_t cap);
/* The word after `key ` on a line of a ready file, e.g. key "http". */
int bench_ready_value(const char *ready, const char *key, const char *prefix, char *out,
                      size_t cap);
/* SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit status or -1. */
int bench_stop(pid_t pid);

/* VmRSS of a process in KiB (-1 when unknown); pid 0 is this process. */
long bench_rss_kb(pid_t pid);
/* CPU time used so far by every thread of a process, in nanoseconds
   (from /proc/PID/task/TID/schedstat); -1 when unknown. */
int64_t bench_cpu_ns(pid_t pid);
/* Threads of a process; pid 0 is this process. */
int bench_threads(pid_t pid);

/* Fresh temporary directory under $TMPDIR (or /tmp); removed by
   bench_rmtree. */
int bench_mkdtemp(char *out, size_t cap, const char *tag);
void bench_rmtree(const char *dir);

/* Exits with a message: for set-up failures that leave nothing to measure. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void bench_die(const char *fmt, ...);

#endif
