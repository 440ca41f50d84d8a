/*
 * Running a program under test as a child process, with every wait bounded:
 * start it with its stdout and stderr on pipes, wait for a line of output,
 * signal it, wait for it to exit, and make sure nothing outlives the test.
 * Shared by the example tests and the `hbeat` tool's tests.
 */
#ifndef HBEAT_TEST_SUBPROCESS_H
#define HBEAT_TEST_SUBPROCESS_H

#include <stddef.h>
#include <sys/types.h>

#define HB_PROC_OUT_MAX 65536

typedef struct hb_proc {
    pid_t pid; /* 0 once reaped */
    int out_fd, err_fd;
    char out[HB_PROC_OUT_MAX]; /* everything read from stdout, NUL-terminated */
    size_t out_len;
    char err[HB_PROC_OUT_MAX]; /* everything read from stderr */
    size_t err_len;
    int exit_code; /* exit status, or 128 + signal; valid once pid is 0 */
} hb_proc;

/*
 * Start argv[0] (a path) with argv. @p env_changes (NULL-terminated or NULL)
 * edits the inherited environment: "NAME=value" sets, "-NAME" removes.
 * @return 0, or -1 (errno set).
 */
int hb_proc_start(hb_proc *p, char *const argv[], const char *const env_changes[]);

/* Read output until stdout contains @p needle, at most @p timeout seconds.
   @return 0 when found, -1 on timeout or when the child closed stdout. */
int hb_proc_wait_for(hb_proc *p, const char *needle, double timeout);

/* Count occurrences of @p needle in what stdout has given so far. */
int hb_proc_count(const hb_proc *p, const char *needle);

/* Count the lines of stdout so far that start with @p prefix. */
int hb_proc_count_lines(const hb_proc *p, const char *prefix);

/* Wait for the child to exit, reading its output, at most @p timeout
   seconds. @return its exit code (128 + signal when killed), or -1 when it
   is still running. */
int hb_proc_wait_exit(hb_proc *p, double timeout);

/* Send @p sig to the child if it still runs. */
void hb_proc_signal(hb_proc *p, int sig);

/* SIGKILL the child if it still runs, reap it, close the pipes. */
void hb_proc_cleanup(hb_proc *p);

/* SIGKILL and reap every child started here and not reaped yet: for test
   teardowns, as a failed assertion skips the test's own cleanup. */
void hb_proc_kill_all(void);

/* Start, wait up to @p timeout for exit, clean up. @return the exit code,
   or -1 when it did not start or did not finish in time (then killed). */
int hb_proc_run(hb_proc *p, char *const argv[], const char *const env_changes[], double timeout);

#endif /* HBEAT_TEST_SUBPROCESS_H */
