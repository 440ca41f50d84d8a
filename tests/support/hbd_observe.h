/*
 * What a test can see of a running hbeatd from outside: its open
 * descriptors and resident memory (from /proc, Linux only), and samples of
 * its Prometheus metrics (GET /metrics on its HTTP port, over http or
 * https). Used to take a baseline and to check that hbeatd returns to it.
 *
 * Library target: hbeat_test_observe (libcurl; no cmocka).
 */
#ifndef HBEAT_TEST_SUPPORT_HBD_OBSERVE_H
#define HBEAT_TEST_SUPPORT_HBD_OBSERVE_H

#include <stddef.h>
#include <sys/types.h>

/* Descriptors process `pid` has open now (the entries of /proc/PID/fd),
   or -1 when they cannot be counted. */
long hbd_fd_count(pid_t pid);
/* What those descriptors are, for a failure message: "19 socket, 3
   anon_inode, 2 /tmp/hbd-x/hbeatd.db-wal, ..." (counts by kind: the link
   text before ':', or the whole path), at most `cap` bytes. */
void hbd_fd_kinds(pid_t pid, char *out, size_t cap);
/* Its resident set (VmRSS) in KiB, or -1. */
long hbd_rss_kib(pid_t pid);

/* One GET of `url` (e.g. "http://127.0.0.1:PORT/metrics"; an https URL is
   verified against `ca_file`, NULL for the system's CAs), at most
   `timeout` seconds, then the value of each of the `n` series named in
   `series` (the exact text before the value, labels included, e.g.
   `hbeatd_open_connections{protocol="nng"}`) into values[i]; a series the
   answer lacks reads as 0. 0, or -1 when no 200 came back (values are
   then untouched). */
int hbd_scrape(const char *url, const char *ca_file, double timeout, size_t n,
               const char *const *series, double *values);

#endif
