/*
 * Pinning processes to one CPU for a measurement, and back. On a virtual
 * machine a wake-up that crosses to a halted vCPU costs tens of
 * microseconds; a lone beat through hbeatd to PostgreSQL crosses between
 * three processes, and the same beat with all of them on one CPU shows
 * what is the code's and what is the machine's.
 */
#ifndef BENCH_PIN_H
#define BENCH_PIN_H

#include <sys/types.h>

/* Every thread of `pid` (0: this process) onto `cpu`, or onto every CPU
   when cpu < 0. 0, or -1 when a thread could not be moved. */
int bench_pin_process(pid_t pid, int cpu);
/* The same for `pid` and each of its child processes (a PostgreSQL
   postmaster and its backends). */
int bench_pin_family(pid_t pid, int cpu);

#endif /* BENCH_PIN_H */
