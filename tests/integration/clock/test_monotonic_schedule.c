/*
 * The clock the library schedules beats with by default must be
 * CLOCK_MONOTONIC, not the wall clock (CLOCK_REALTIME), which an operator
 * or NTP may step: a loop kept in wall time beats late, early or not at
 * all when it jumps. This test fails if the default clock or the timed
 * wait under the loop were changed to CLOCK_REALTIME, each alone or both.
 *
 * Why not simply make the wall clock jump: CLOCK_REALTIME is one clock for
 * the whole machine. Time namespaces offset only CLOCK_MONOTONIC and
 * CLOCK_BOOTTIME, clock_settime() cannot set CLOCK_MONOTONIC at all, and
 * stepping CLOCK_REALTIME (root can) would step it for every other process
 * on the machine, other people's tests included. And a namespace's offsets
 * are fixed before its first process enters it, so no clock jumps inside
 * one either.
 *
 * What a time namespace can do is move CLOCK_MONOTONIC and CLOCK_BOOTTIME
 * far away from the wall clock and from each other. So the loop runs in a
 * child process in a new time namespace where CLOCK_MONOTONIC is ten years
 * ahead and CLOCK_BOOTTIME twenty, while CLOCK_REALTIME reads the date as
 * always: each clock is then at least nine years from the others, and
 * which one a time came from is beyond doubt. The child starts a real
 * service loop on the default clock (opts.clock NULL, the system clock)
 * against the fake gateway, with a 0.2 s interval, lets it beat four
 * times, and reports what it saw to this process, which checks:
 *
 *   1. hbeat_clock_now_ns() of the system clock lies between two readings
 *      of CLOCK_MONOTONIC taken around it (in the namespace). A default
 *      clock on CLOCK_REALTIME or CLOCK_BOOTTIME is years outside.
 *   2. The service's schedule is kept in that time: its last heartbeat
 *      time lies between CLOCK_MONOTONIC readings taken before the service
 *      was made and after the beats. This catches a wall-clock scheduler
 *      even when its clock and its timed waits agree with each other.
 *   3. The loop beats on schedule: four beats within 10 s, none early
 *      (four intervals pass first, and the beats are an interval apart).
 *      A loop that took its deadlines from the wall clock but waited on a
 *      monotonic timer would sleep for decades, and fail here.
 *   4. The loop sleeps between beats: the child's CPU time while it waits
 *      is under a quarter of the time that passed. A loop that took
 *      monotonic deadlines but waited on a CLOCK_REALTIME timer would see
 *      every deadline long past and spin, and fail here.
 *   5. Stopping the loop is prompt (under 2 s).
 *
 * Where a new time namespace cannot be made (not root, or a kernel without
 * CONFIG_TIME_NS: unshare fails), the child runs in this namespace and the
 * test says so: checks 1 and 2 then still tell CLOCK_MONOTONIC (the time
 * since boot) from CLOCK_REALTIME (decades), but not from CLOCK_BOOTTIME.
 *
 * Checked by changing, locally, CLOCK_MONOTONIC to CLOCK_REALTIME in
 * src/core/clock.c (fails 1, 2 and 3), in the condition variable's clock
 * of src/core/stop_event.c (fails 4), and in both (fails 1 and 2); and to
 * CLOCK_BOOTTIME in clock.c (fails 1, 2 and 3 in the namespace, where it is
 * ten years ahead of CLOCK_MONOTONIC; outside one the two agree).
 */
#define _GNU_SOURCE /* unshare, CLONE_NEWTIME */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "hbeat/sys/fake.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define NS_PER_S INT64_C(1000000000)
#define YEAR_S   INT64_C(31536000)
/* The namespace's offsets. */
#define MONOTONIC_OFFSET_S (10 * YEAR_S)
#define BOOTTIME_OFFSET_S  (20 * YEAR_S)

#define INTERVAL_S 0.2
#define BEATS      4

/* What the child saw, all times in ns on the clock named. */
typedef struct observed {
    int done;                  /* 1 once the child got to the end */
    char failure[300];         /* a setup step that failed in the child, or "" */
    int64_t mono, boot, real;  /* the three clocks, read one after the other */
    int64_t mono_before_now;   /* CLOCK_MONOTONIC before ... */
    int64_t system_now;        /* ... hbeat_clock_now_ns(hbeat_clock_system()) ... */
    int64_t mono_after_now;    /* ... and after */
    int64_t mono_start;        /* CLOCK_MONOTONIC before the service was made */
    int64_t mono_beats_done;   /* CLOCK_MONOTONIC once BEATS beats were recorded */
    int beats_in_time;         /* 1: BEATS beats within 10 s */
    int calls;                 /* calls recorded by then */
    int64_t call_ns[BEATS];    /* their times on the gateway's (system) clock */
    int64_t last_heartbeat_ns; /* hbeat_service_last_heartbeat_ns() */
    int64_t mono_end;          /* CLOCK_MONOTONIC after reading it */
    int64_t cpu_ns;            /* the child's CPU time from start to beats done */
    int64_t stop_ns;           /* how long hbeat_service_stop() took */
} observed;

static observed seen;
static int64_t parent_mono; /* CLOCK_MONOTONIC here, just before the fork */
static int in_namespace;
static char no_namespace_why[200];

static int64_t read_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ---- the child --------------------------------------------------------- */

static void child_run(observed *o)
{
    o->mono = read_ns(CLOCK_MONOTONIC);
    o->boot = read_ns(CLOCK_BOOTTIME);
    o->real = read_ns(CLOCK_REALTIME);
    o->mono_before_now = read_ns(CLOCK_MONOTONIC);
    o->system_now = hbeat_clock_now_ns(hbeat_clock_system());
    o->mono_after_now = read_ns(CLOCK_MONOTONIC);

    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway *gw = NULL;
    if (hbeat_fake_gateway_new(&gw, NULL, 0, &err) != 0) {
        snprintf(o->failure, sizeof o->failure, "fake gateway: %.250s", err.message);
        return;
    }
    o->mono_start = read_ns(CLOCK_MONOTONIC);
    int64_t cpu_start = read_ns(CLOCK_PROCESS_CPUTIME_ID);
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 1;
    opts.interval = INTERVAL_S;
    opts.clock = NULL; /* the default: what this test is about */
    hbeat_service *svc = NULL;
    if (hbeat_service_new(&svc, gw, &opts, &err) != 0 || hbeat_service_start(svc, &err) != 0) {
        snprintf(o->failure, sizeof o->failure, "service: %.250s", err.message);
        hbeat_service_free(svc);
        hbeat_gateway_free(gw);
        return;
    }
    /* Polled on our own reading of the clock, not with the library's timed
       waits, which are under test. */
    int64_t give_up = read_ns(CLOCK_MONOTONIC) + 10 * NS_PER_S;
    while (hbeat_fake_gateway_call_count(gw) < BEATS && read_ns(CLOCK_MONOTONIC) < give_up) {
        struct timespec ms = {0, 5000000};
        nanosleep(&ms, NULL);
    }
    o->beats_in_time = hbeat_fake_gateway_call_count(gw) >= BEATS;
    o->mono_beats_done = read_ns(CLOCK_MONOTONIC);
    o->cpu_ns = read_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    o->calls = hbeat_fake_gateway_call_count(gw);
    for (int i = 0; i < BEATS && i < o->calls; i++) {
        hbeat_fake_call call;
        if (hbeat_fake_gateway_call(gw, i, &call) == 0)
            o->call_ns[i] = call.time_ns;
    }
    o->last_heartbeat_ns = hbeat_service_last_heartbeat_ns(svc);
    o->mono_end = read_ns(CLOCK_MONOTONIC);
    int64_t t = read_ns(CLOCK_MONOTONIC);
    hbeat_service_stop(svc, NULL);
    o->stop_ns = read_ns(CLOCK_MONOTONIC) - t;
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    o->done = 1;
}

/* ---- the parent -------------------------------------------------------- */

/* A new time namespace for the children of this process, with the offsets
   above. 0, or -1 with the reason in no_namespace_why. */
static int make_time_namespace(void)
{
    if (unshare(CLONE_NEWTIME) != 0) {
        snprintf(no_namespace_why, sizeof no_namespace_why, "unshare(CLONE_NEWTIME): %s",
                 strerror(errno));
        return -1;
    }
    char text[128];
    int len = snprintf(text, sizeof text, "monotonic %lld 0\nboottime %lld 0\n",
                       (long long)MONOTONIC_OFFSET_S, (long long)BOOTTIME_OFFSET_S);
    int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    int ok = fd >= 0 && write(fd, text, (size_t)len) == len;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        snprintf(no_namespace_why, sizeof no_namespace_why, "writing /proc/self/timens_offsets: %s",
                 strerror(e));
        return -1;
    }
    return 0;
}

/* Reads the child's report; gives up (and kills it) after `timeout` s. */
static int collect(pid_t pid, int fd, double timeout)
{
    size_t have = 0;
    int64_t until = read_ns(CLOCK_MONOTONIC) + (int64_t)(timeout * 1e9);
    while (have < sizeof seen) {
        int64_t left = until - read_ns(CLOCK_MONOTONIC);
        struct pollfd p = {fd, POLLIN, 0};
        int n = left > 0 ? poll(&p, 1, (int)(left / 1000000) + 1) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "the child did not report within %g s\n", timeout);
            kill(pid, SIGKILL);
            break;
        }
        ssize_t r = read(fd, (char *)&seen + have, sizeof seen - have);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (have != sizeof seen || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "the child ended without a full report (status %#x)\n",
                (unsigned int)status);
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    in_namespace = make_time_namespace() == 0;
    if (!in_namespace)
        print_message("  NOTE: no new time namespace (%s): CLOCK_BOOTTIME cannot be told apart "
                      "from CLOCK_MONOTONIC here; CLOCK_REALTIME still can\n",
                      no_namespace_why);
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    parent_mono = read_ns(CLOCK_MONOTONIC);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        observed o;
        memset(&o, 0, sizeof o);
        child_run(&o);
        ssize_t w = write(fds[1], &o, sizeof o);
        _exit(w == (ssize_t)sizeof o ? 0 : 1);
    }
    close(fds[1]);
    int rc = collect(pid, fds[0], 30.0);
    close(fds[0]);
    if (rc == 0 && seen.failure[0] != '\0') {
        fprintf(stderr, "in the child: %s\n", seen.failure);
        rc = -1;
    }
    return rc;
}

static double seconds(int64_t ns)
{
    return (double)ns / 1e9;
}

static void test_the_namespace_sets_the_clocks_apart(void **state)
{
    (void)state;
    print_message("  in the child: CLOCK_MONOTONIC %.0f s, CLOCK_BOOTTIME %.0f s, "
                  "CLOCK_REALTIME %.0f s\n",
                  seconds(seen.mono), seconds(seen.boot), seconds(seen.real));
    if (!in_namespace) {
        print_message("[  SKIP    ] no time namespace: %s\n", no_namespace_why);
        skip();
    }
    /* The child's monotonic clock runs the offset ahead of ours. */
    int64_t ahead = seen.mono - parent_mono;
    assert_true(ahead > (MONOTONIC_OFFSET_S - 60) * NS_PER_S);
    assert_true(ahead < (MONOTONIC_OFFSET_S + 60) * NS_PER_S);
    /* Every pair at least nine years apart. */
    int64_t gap = 9 * YEAR_S * NS_PER_S;
    assert_true(seen.boot - seen.mono > gap);
    assert_true(seen.real - seen.boot > gap || seen.boot - seen.real > gap);
    assert_true(seen.real - seen.mono > gap || seen.mono - seen.real > gap);
}

static void test_the_default_clock_reads_clock_monotonic(void **state)
{
    (void)state;
    if (seen.system_now < seen.mono_before_now || seen.system_now > seen.mono_after_now)
        fail_msg("hbeat_clock_system() read %.3f s, CLOCK_MONOTONIC read %.3f s .. %.3f s "
                 "around it (CLOCK_BOOTTIME %.0f s, CLOCK_REALTIME %.0f s)",
                 seconds(seen.system_now), seconds(seen.mono_before_now),
                 seconds(seen.mono_after_now), seconds(seen.boot), seconds(seen.real));
}

static void test_the_schedule_is_kept_in_monotonic_time(void **state)
{
    (void)state;
    if (seen.last_heartbeat_ns < seen.mono_start || seen.last_heartbeat_ns > seen.mono_end)
        fail_msg("the service's last heartbeat is at %.3f s, outside the CLOCK_MONOTONIC "
                 "readings %.3f s .. %.3f s around its life",
                 seconds(seen.last_heartbeat_ns), seconds(seen.mono_start), seconds(seen.mono_end));
    for (int i = 0; i < BEATS && i < seen.calls; i++) {
        if (seen.call_ns[i] < seen.mono_start || seen.call_ns[i] > seen.mono_beats_done)
            fail_msg("beat %d was sent at %.3f s, outside CLOCK_MONOTONIC %.3f s .. %.3f s", i,
                     seconds(seen.call_ns[i]), seconds(seen.mono_start),
                     seconds(seen.mono_beats_done));
    }
}

static void test_the_loop_beats_on_schedule(void **state)
{
    (void)state;
    double took = seconds(seen.mono_beats_done - seen.mono_start);
    if (!seen.beats_in_time)
        fail_msg("%d of %d beats in %.1f s with a %.1f s interval: the loop slept through its "
                 "deadlines",
                 seen.calls, BEATS, took, INTERVAL_S);
    print_message("  %d beats in %.3f s\n", BEATS, took);
    /* None early: the first is due an interval after the service was made. */
    assert_true(took >= BEATS * INTERVAL_S * 0.95);
    for (int i = 1; i < BEATS; i++) {
        double gap = seconds(seen.call_ns[i] - seen.call_ns[i - 1]);
        if (gap < INTERVAL_S * 0.95 || gap > INTERVAL_S + 2.0)
            fail_msg("beats %d and %d were %.3f s apart; the interval is %.1f s", i - 1, i, gap,
                     INTERVAL_S);
    }
}

static void test_the_loop_sleeps_between_beats(void **state)
{
    (void)state;
    double took = seconds(seen.mono_beats_done - seen.mono_start);
    double cpu = seconds(seen.cpu_ns);
    print_message("  CPU time %.3f s over %.3f s of waiting\n", cpu, took);
    if (cpu > took / 4)
        fail_msg("the child used %.3f s of CPU in %.3f s: the loop spins instead of sleeping "
                 "until its deadline",
                 cpu, took);
}

static void test_stop_is_prompt(void **state)
{
    (void)state;
    assert_true(seen.done);
    if (seen.stop_ns > 2 * NS_PER_S)
        fail_msg("hbeat_service_stop() took %.3f s", seconds(seen.stop_ns));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_namespace_sets_the_clocks_apart),
        cmocka_unit_test(test_the_default_clock_reads_clock_monotonic),
        cmocka_unit_test(test_the_schedule_is_kept_in_monotonic_time),
        cmocka_unit_test(test_the_loop_beats_on_schedule),
        cmocka_unit_test(test_the_loop_sleeps_between_beats),
        cmocka_unit_test(test_stop_is_prompt),
    };
    return cmocka_run_group_tests_name("default scheduling clock", tests, group_setup, NULL);
}
