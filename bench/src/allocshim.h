/*
 * The malloc-counting shim (libhbeat_bench_allocshim.so, loaded with
 * LD_PRELOAD). Between bench_alloc_begin() and bench_alloc_end() it counts
 * every malloc, calloc, realloc and aligned allocation of the process and
 * charges each to the library whose code asked for it: the first frame of
 * the call stack that is not in libc or in the shim. A program finds the
 * two functions with dlsym(RTLD_DEFAULT, ...) and does without them when
 * the shim is not loaded.
 */
#ifndef BENCH_ALLOCSHIM_H
#define BENCH_ALLOCSHIM_H

#include <stdint.h>

#define BENCH_ALLOC_DSOS  16
#define BENCH_ALLOC_SITES 8

typedef struct bench_alloc_report {
    uint64_t calls, bytes;
    unsigned int ndsos;
    struct {
        char name[48]; /* basename of the library, or "program" */
        uint64_t calls, bytes;
    } dso[BENCH_ALLOC_DSOS];
    /* The busiest call sites in libhbeat, for finding them. */
    unsigned int nsites;
    struct {
        char where[96]; /* symbol+offset */
        uint64_t calls;
    } site[BENCH_ALLOC_SITES];
} bench_alloc_report;

void bench_alloc_begin(void);
void bench_alloc_end(bench_alloc_report *out);

typedef void (*bench_alloc_begin_fn)(void);
typedef void (*bench_alloc_end_fn)(bench_alloc_report *out);

#endif
