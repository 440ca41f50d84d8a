/*
 * The heartbeat loop against the real hbeatd when the server misbehaves:
 * frozen (SIGSTOP) and crashed (kill -9, restart).
 * Built once per transport: FX_TRANSPORT is FX_NNG_TCP, FX_NNG_IPC,
 * FX_REST or FX_GRPC.
 *
 * The transport tests already check single calls against a frozen or
 * restarted server; these check what the SERVICE LOOP does with it: it
 * keeps beating through the failures, says the lease is lost once, comes
 * back by itself on the same service and gateway, says the lease is
 * regained, and resets its failure count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "observe.h"
#include "support/hbeatd_harness.h"

#define FX_NNG_TCP 1
#define FX_NNG_IPC 2
#define FX_REST    3
#define FX_GRPC    4

#ifndef FX_TRANSPORT
#error "FX_TRANSPORT must name the transport under test"
#endif

/* What each transport says for the failures these tests cause. Each
   phrase comes from one code path only, so finding it in the loop's log
   line tells which error the loop met. */
#if FX_TRANSPORT == FX_GRPC
/* The call's deadline (the request timeout) passed without an answer. */
static const fx_case frozen = {HBEAT_ETIMEDOUT, "gRPC status DEADLINE_EXCEEDED", 0};
/* gRPC's channel has no connection: the port is closed. */
static const fx_case down = {HBEAT_ETRANSPORT, "gRPC status UNAVAILABLE", 0};
#elif FX_TRANSPORT == FX_REST
/* curl_easy_strerror(CURLE_OPERATION_TIMEDOUT). */
static const fx_case frozen = {HBEAT_ETIMEDOUT, "Timeout was reached", 0};
/* CURLE_COULDNT_CONNECT: the port is closed. */
static const fx_case down = {HBEAT_ETRANSPORT, "Couldn't connect", 0};
#else
/* hbeat__nng_fail: the request went out, the reply never came. */
static const fx_case frozen = {HBEAT_ETIMEDOUT, "no reply within 0.5 s", 0};
/* hbeat__nng_fail: with the server down nng keeps redialing, and the
   request finds no connection to go out on within the timeout. */
static const fx_case down = {HBEAT_ETIMEDOUT, "no connection to the server within 0.5 s", 0};
#endif

#define REQUEST_TIMEOUT 0.5

static const char *const server_args[] = {"--reap-grace", "100000", NULL};

typedef struct fixture {
    hbd_harness h;
    fx_observer obs;
    hbeat_gateway *admin; /* long timeout: checks what the server holds */
    hbeat_gateway *gw;    /* the gateway under test */
    int64_t run_id;
} fixture;

static const char *url_of(const hbd_harness *h)
{
#if FX_TRANSPORT == FX_NNG_TCP
    return h->nng_tcp_url;
#elif FX_TRANSPORT == FX_NNG_IPC
    return h->nng_ipc_url;
#elif FX_TRANSPORT == FX_GRPC
    return h->grpc_url;
#else
    return h->rest_url;
#endif
}

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    if (hbd_harness_start(&f.h, server_args) != 0)
        return -1;
    if (url_of(&f.h)[0] == '\0') {
        fprintf(stderr, "hbeatd did not report a listener for this transport\n");
        return -1;
    }
    fx_observe_begin(&f.obs);
    f.admin = fx_open(url_of(&f.h), 10.0);
    f.gw = fx_open(url_of(&f.h), REQUEST_TIMEOUT);
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_run_create(f.admin, 7, "R", &run, &err) != 0) {
        fprintf(stderr, "create_run: %s\n", err.message);
        return -1;
    }
    f.run_id = run.workflow_run_id;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fx_drop_loop(&f->obs);
    hbeat_gateway_free(f->gw);
    hbeat_gateway_free(f->admin);
    fx_observe_end(&f->obs);
    /* 0 is a clean exit; under ASan it also means LeakSanitizer found
       nothing in hbeatd, under TSan (exit 66 otherwise) that no race was
       seen: this caught the race in hbd_rest_deadline_remove fixed in
       d4fa64f. */
    int rc = hbd_harness_stop(&f->h);
    hbd_harness_cleanup(&f->h);
    if (rc != 0)
        fprintf(stderr, "hbeatd exited with %d\n", rc);
    return rc == 0 ? 0 : -1;
}

static hbeat_run_info server_run(fixture *f)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_get(f->admin, f->run_id, &run, &err);
    if (rc != 0)
        fail_msg("get_run: %d %s", rc, err.message);
    return run;
}

/* The loop's beats reach the server: with two more acknowledged after a
   look at the run, the server has counted at least one more (the other
   may have been counted before the look). The run is still running. */
static void expect_server_counts(fixture *f, hbeat_service *svc)
{
    uint64_t beats = server_run(f).beats;
    uint64_t acked = fx_stats(svc).beats_acknowledged + 2;
    assert_int_equal(fx_wait_stats(svc, fx_acked_at_least, &acked, NULL), 0);
    hbeat_run_info run = server_run(f);
    assert_true(run.beats >= beats + 1);
    assert_string_equal(run.status, "R");
}

static void test_sigstop_then_sigcont(void **state)
{
    fixture *f = *state;
    fx_mark start = fx_mark_now(&f->obs);
    hbeat_service *svc = fx_start_loop(f->gw, f->run_id, &f->obs);
    fx_wait_healthy(&f->obs, svc, 3);

    fx_mark m = fx_mark_now(&f->obs);
    hbd_harness_sigstop(&f->h);
    /* Every failure is a timeout: the beat in flight at the freeze too. */
    fx_expect_outage(&f->obs, svc, &m, &frozen, 1);

    m = fx_mark_now(&f->obs);
    hbd_harness_sigcont(&f->h);
    fx_expect_recovery(&f->obs, svc, &m);

    /* The beats after the thaw reach the server, and the run is still
       running. */
    expect_server_counts(f, svc);
    fx_stop_loop(&f->obs, &start);
}

/*
 * Over nng+ipc this found libnng 1.5's ipc dialer giving up for good after
 * a kill at an unlucky moment (the gateway now replaces it; see
 * src/transports/nng/dialer.c), and libnng losing one request message now
 * and then (suppressed for this test only; see lsan-nng-ipc.supp).
 */
static void test_kill9_and_restart(void **state)
{
    fixture *f = *state;
    fx_mark start = fx_mark_now(&f->obs);
    hbeat_service *svc = fx_start_loop(f->gw, f->run_id, &f->obs);
    fx_wait_healthy(&f->obs, svc, 3);

    /* Twice: recovery must not be a one-off. */
    for (unsigned round = 0; round < 2; round++) {
        fx_mark m = fx_mark_now(&f->obs);
        hbd_harness_kill9(&f->h);
        /* Not every line: a beat in flight at the kill fails otherwise
           (connection reset). */
        fx_expect_outage(&f->obs, svc, &m, &down, 0);

        m = fx_mark_now(&f->obs);
        assert_int_equal(hbd_harness_restart(&f->h), 0);
        fx_expect_recovery(&f->obs, svc, &m);

        /* The restarted server has the run (from its database) and counts
           the loop's new beats. */
        expect_server_counts(f, svc);
    }
    fx_stop_loop(&f->obs, &start);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigstop_then_sigcont, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_and_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
