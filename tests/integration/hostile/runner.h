/*
 * One case of the hostile suite, from start to verdict:
 *
 *   hx_case_begin   starts hbeatd with small limits (see HX_* in
 *                   runner.c), creates a run per honest client, starts the
 *                   honest clients (nng tcp, nng ipc, REST, and nng
 *                   tls+tcp with TLS; each kept and fresh), waits until
 *                   each has beaten (warm-up), then takes the baseline:
 *                   hbeatd's descriptors, connection slots (the
 *                   hbeatd_open_connections gauge of /metrics) and RSS;
 *   hx_case_attack  starts one attack pattern on a thread of its own
 *                   (several may run at once);
 *   hx_case_wait    while they run, samples hbeatd's peak descriptors and
 *                   RSS; joins them (every attack socket is closed then);
 *   hx_case_end     polls (at most HX_RECOVER_S) until descriptors, slots
 *                   and RSS are back at the baseline, then lets the honest
 *                   clients beat on for HX_AFTER_S while watching that the
 *                   descriptors do not grow, stops them and hbeatd, and
 *                   judges: every check that failed is listed, then the
 *                   case fails once with all of them.
 *
 * The honest clients' beats from the attack's start to the recovery count
 * as "during" (at least HX_DURING_MIN_OK must succeed), the beats after
 * the recovery as "after" (all must succeed).
 */
#ifndef HBEAT_ITEST_HOSTILE_RUNNER_H
#define HBEAT_ITEST_HOSTILE_RUNNER_H

#include <stdatomic.h>

#include "attacks.h"
#include "honest.h"
#include "integration/security/sec_support.h"
#include "support/hbeatd_harness.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HX_SANITIZED 1
#endif
#endif
#ifndef HX_SANITIZED
#define HX_SANITIZED 0
#endif

#define HX_HONEST_MAX  8
#define HX_ATTACKS_MAX 8

typedef struct hx_attack_run {
    char label[64];
    const hx_pattern *pattern;
    hx_opts opts;
    char url[600];
    hx_report report;
    int rc;
    int joined;
    pthread_t thread;
    struct hx_case *owner;
} hx_attack_run;

typedef struct hx_case {
    const char *name;
    hbd_harness h;
    int tls;
    sec_certs certs;
    char ca_file[400];
    char tls_url[320];     /* nng+tls+tcp://127.0.0.1:PORT with TLS */
    char rest_url[320];    /* http(s)://127.0.0.1:PORT/api/v3 */
    char metrics_url[320]; /* http(s)://127.0.0.1:PORT/metrics */
    char rest_plain[320];  /* http://... for the raw attacker; "" with TLS */

    atomic_int phase;
    hx_honest honest[HX_HONEST_MAX];
    int nhonest;
    hx_attack_run attacks[HX_ATTACKS_MAX];
    int nattacks;
    atomic_int running; /* attacks not finished yet */

    long base_fds, base_rss_kib;
    double base_nng, base_rest;
    long peak_fds, peak_rss_kib;
    char base_kinds[600]; /* what the baseline's descriptors are */

    char failures[8192];
    int nfailures;
} hx_case;

/* Starts the case (see above). `tls`: hbeatd also gets a certificate and
   a tls+tcp listener (and REST turns https). Setup problems fail the test
   at once; a missing openssl skips a TLS case. `extra_args` (NULL, or
   NULL-terminated) are hbeatd flags after the suite's own: they win. */
void hx_case_begin(hx_case *c, const char *name, int tls, const char *const *extra_args);
/* Starts `pattern` on `url` with `opts` (url and stop are filled in). */
void hx_case_attack(hx_case *c, const char *label, const char *pattern, const char *url,
                    hx_opts opts);
/* Waits for every attack started so far (sampling hbeatd's peaks), prints
   their reports. Attacks may be started again afterwards: one after the
   other, or several at once. */
void hx_case_wait(hx_case *c);
/* The report of attack i (in the order started). */
const hx_report *hx_case_report(const hx_case *c, int i);
/* Records a failed check (printf-style why) when `ok` is 0. */
void hx_case_check(hx_case *c, int ok, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Recovery, the after window, stop, verdict (see above). */
void hx_case_end(hx_case *c);

#endif
