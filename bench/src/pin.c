/* Pinning for a measurement (pin.h): sched_setaffinity on /proc's lists. */
#define _GNU_SOURCE
#include "pin.h"

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int pin_thread(pid_t tid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < n; i++)
        if (cpu < 0 || i == cpu)
            CPU_SET((int)i, &set);
    return sched_setaffinity(tid, sizeof set, &set);
}

int bench_pin_process(pid_t pid, int cpu)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid != 0 ? (int)pid : (int)getpid());
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0 && pin_thread(tid, cpu) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

/* The parent of `pid`, from /proc/PID/stat; -1 when it cannot be read. */
static pid_t parent_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int ppid = -1;
    /* pid (comm) state ppid: comm may hold spaces, but not ") ". */
    char line[512];
    if (fgets(line, sizeof line, f) != NULL) {
        char *end = NULL;
        for (char *p = line; *p != '\0'; p++)
            if (p[0] == ')' && p[1] == ' ')
                end = p;
        if (end == NULL || sscanf(end + 2, "%*c %d", &ppid) != 1)
            ppid = -1;
    }
    fclose(f);
    return (pid_t)ppid;
}

int bench_pin_family(pid_t pid, int cpu)
{
    int rc = bench_pin_process(pid, cpu);
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t child = (pid_t)atoi(e->d_name);
        if (child > 0 && parent_of(child) == pid && bench_pin_process(child, cpu) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}
