/*
 * A Python process that beats in blocks on request (py/hbeat_beat.py): the
 * driver asks for N beats, the worker answers with their N round trips, so
 * that its cases interleave with the C cases block by block.
 */
#ifndef BENCH_PYWORKER_H
#define BENCH_PYWORKER_H

#include <stdio.h>
#include <sys/types.h>

#include "util.h"

typedef struct bench_pyworker {
    pid_t pid;
    FILE *to, *from;
} bench_pyworker;

/* Starts argv (argv[0] a path) with env_add ("K=V", NULL-terminated) and
   waits for its "ready" line. 0, or -1 with a reason in err. */
int bench_pyworker_start(bench_pyworker *w, char *const argv[], char *const env_add[], char *err,
                         size_t cap);

/* Asks for n beats and adds their round trips to s (NULL: a warm-up whose
   times are dropped). 0, or -1 with the worker's reason in err. */
int bench_pyworker_block(bench_pyworker *w, int n, bench_samples *s, char *err, size_t cap);

/* Ends the worker's input and waits for it. */
void bench_pyworker_stop(bench_pyworker *w);

#endif
