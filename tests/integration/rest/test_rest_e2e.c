/*
 * End to end over REST (tests/integration/common/e2e.h): a heartbeat
 * service talking to the real hbeatd through an http:// gateway, with an
 * operator steering the run through the `hbeat` tool, and the server
 * crashing, vanishing and freezing under it.
 */
#include "integration/common/e2e.h"

static void test_operator_steers_the_run(void **state)
{
    (void)state;
    e2e_operator_steers_the_run(itest_h.rest_url);
}

static void test_loop_survives_restart(void **state)
{
    (void)state;
    e2e_loop_survives_restart(itest_h.rest_url);
}

static void test_loop_goes_fatal_when_server_is_down(void **state)
{
    (void)state;
    e2e_loop_goes_fatal_when_server_is_down(itest_h.rest_url);
}

static void test_tick_times_out_on_frozen_server(void **state)
{
    (void)state;
    e2e_tick_times_out_on_frozen_server(itest_h.rest_url);
}

/* Through the gateway's own asynchronous path (curl multi). */
static void test_tick_async(void **state)
{
    (void)state;
    e2e_tick_async(itest_h.rest_url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ITEST_REST_CASE(test_operator_steers_the_run),
        ITEST_REST_CASE(test_loop_survives_restart),
        ITEST_REST_CASE(test_loop_goes_fatal_when_server_is_down),
        ITEST_REST_CASE(test_tick_times_out_on_frozen_server),
        ITEST_REST_CASE(test_tick_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
