/*
 * The heartbeat loop over nng against a hostile peer speaking nng's wire
 * protocol (issue 5, point 6): random bytes, a truncated reply, a 100 MB
 * frame, a server error, a reply to another call, a connection closed
 * mid-frame. Each time the beat fails with the right code, the loop goes
 * on, and once the peer is honest again the loop succeeds again, on the
 * same service and gateway. Built for tcp (FX_IPC 0) and ipc (FX_IPC 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "hostile_sp.h"
#include "observe.h"

#ifndef FX_IPC
#error "FX_IPC must be 0 (tcp) or 1 (ipc)"
#endif

typedef struct fixture {
    hs_peer *peer;
    fx_observer obs;
    hbeat_gateway *gw;
    hs_mode mode; /* the fault of the running test */
} fixture;

static fixture f;

static int setup(void **state)
{
    (void)state;
    f.peer = hs_start(FX_IPC ? HS_IPC : HS_TCP);
    fx_observe_begin(&f.obs);
    f.gw = fx_open(hs_url(f.peer), 0.5);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_drop_loop(&f.obs);
    hbeat_gateway_free(f.gw);
    unsigned unexpected = hs_unexpected(f.peer);
    hs_stop(f.peer);
    fx_observe_end(&f.obs);
    if (unexpected != 0) {
        fprintf(stderr, "%u requests were not heartbeats\n", unexpected);
        return -1;
    }
    return 0;
}

static void set_mode(void *peer, int hostile)
{
    hs_set_mode(peer, hostile ? f.mode : HS_HONEST);
}

static void run(hs_mode mode, int code, const char *phrase)
{
    f.mode = mode;
    fx_case c = {code, phrase, 0};
    fx_run_case(f.gw, &f.obs, &c, set_mode, f.peer);
    assert_true(hs_answered(f.peer, mode) >= 4);
}

static void test_random_bytes(void **state)
{
    (void)state;
    run(HS_GARBAGE, HBEAT_EPROTO, "is not a hbeat.v1.Reply");
}

static void test_truncated_reply(void **state)
{
    (void)state;
    run(HS_TRUNCATED, HBEAT_EPROTO, "is not a hbeat.v1.Reply");
}

/* nng's receive cap (max_reply_size, 1 MiB by default) refuses the frame
   by its header and drops the connection unread: the peer gets out no more
   than the socket buffers hold. nng does not say why it dropped it, so the
   beat fails as a lost connection. */
static void test_huge_frame(void **state)
{
    (void)state;
    run(HS_HUGE, HBEAT_ETRANSPORT, "connection lost before the reply came");
    double until = fx_now() + FX_WAIT_S;
    while (hs_huge_done(f.peer) < 3 && fx_now() < until)
        fx_sleep_ms(5);
    assert_true(hs_huge_done(f.peer) >= 3);
    uint64_t sent = hs_huge_sent_max(f.peer);
    if (sent >= HS_HUGE_LEN / 4)
        fail_msg("the peer sent %llu bytes of one 100 MB frame", (unsigned long long)sent);
}

static void test_server_error(void **state)
{
    (void)state;
    run(HS_SERVER_ERROR, HBEAT_ESERVER, "server error INTERNAL");
}

static void test_reply_to_another_call(void **state)
{
    (void)state;
    run(HS_WRONG_REPLY, HBEAT_EPROTO, "call was answered with");
}

static void test_closed_mid_reply(void **state)
{
    (void)state;
    run(HS_CLOSE_MID, HBEAT_ETRANSPORT, "connection lost before the reply came");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_to_another_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_mid_reply, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
