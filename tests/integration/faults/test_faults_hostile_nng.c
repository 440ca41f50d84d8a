/*
 * The heartbeat loop over nng against a hostile peer speaking nng's wire
 * protocol: random bytes, a truncated reply, a 100 MB
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

#ifndef FX_IPC
#error "FX_IPC must be 0 (tcp) or 1 (ipc)"
#endif

static fx_hostile_fixture f;

static int setup(void **state)
{
    (void)state;
    fx_hostile_setup(&f, hs_start(FX_IPC ? HS_IPC : HS_TCP));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fx_hostile_teardown(&f);
}

static void run(hs_mode mode, int code, const char *phrase)
{
    fx_case c = {code, phrase, 0};
    fx_hostile_run(&f, mode, &c);
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
    fx_hostile_expect_huge_cut_off(&f, HS_HUGE_LEN);
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
