/* The failover gateway's blocking calls, on fake members and the fake
   clock: stickiness, which errors move on, the request timeout and the
   lease as the bounds of a failover, and what the statistics say. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

static hbeat_fake_call call_of(fx *f, int member, int i)
{
    hbeat_fake_call c;
    assert_int_equal(hbeat_fake_gateway_call(f->member[member], i, &c), 0);
    return c;
}

static void sticks_to_the_first_server_that_answers(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, 0);
    hbeat_service *svc = fx_service(&f, 5);
    for (int i = 0; i < 3; i++)
        assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    assert_int_equal(fx_calls(&f, 0), 3);
    assert_int_equal(fx_calls(&f, 1), 0);
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 0);
    hbeat_service_stats st = fx_stats(svc);
    assert_string_equal(st.server, "h1");
    assert_int_equal(st.server_changes, 0);
    hbeat_service_free(svc);
    fx_free(&f);
}

static void a_transport_failure_sends_the_same_beat_to_the_next_server(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, 0);
    hbeat_service *svc = fx_service(&f, 5);
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0); /* h1 answers */
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETRANSPORT, 1, 1, "connection refused");
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_tick(svc, NULL, &err), 0);
    /* The same beat (sequence 2) went to h1, then to h2. */
    assert_int_equal(fx_calls(&f, 0), 2);
    assert_int_equal(fx_calls(&f, 1), 1);
    assert_int_equal(call_of(&f, 0, 1).sequence, 2);
    assert_int_equal(call_of(&f, 1, 0).sequence, 2);
    assert_int_equal(call_of(&f, 1, 0).workflow_run_id, 5);
    /* h2 answered, so it comes first from now on: h1 is not asked again. */
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 1);
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    assert_int_equal(fx_calls(&f, 0), 2);
    assert_int_equal(fx_calls(&f, 1), 2);
    hbeat_service_stats st = fx_stats(svc);
    assert_string_equal(st.server, "h2");
    assert_int_equal(st.server_changes, 1);
    assert_int_equal(st.beats_failed, 0);
    assert_int_equal(st.beats_acknowledged, 3);
    hbeat_service_free(svc);
    fx_free(&f);
}

/* Every code that means "no usable answer" moves on; every other is the
   service's answer and comes back at once, from the server that gave it. */
static void only_failures_without_an_answer_move_on(void **state)
{
    (void)state;
    static const int moves[] = {HBEAT_ETRANSPORT, HBEAT_ETIMEDOUT, HBEAT_ETLS, HBEAT_EPROTO,
                                HBEAT_ESERVER};
    static const int answers[] = {HBEAT_ENOTFOUND, HBEAT_EAUTH,   HBEAT_EFORBIDDEN,
                                  HBEAT_EINVAL,    HBEAT_ETOOBIG, HBEAT_ENOTSUP};
    for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
        fx f;
        fx_init(&f, 2, 0);
        hbeat_fake_gateway_fail(f.member[0], moves[i], 1, 0, NULL);
        char out[HBEAT_STATUS_MAX + 1];
        assert_int_equal(hbeat_gateway_log_heartbeat(f.gw, 3, "R", 30.0, out, NULL), 0);
        assert_int_equal(fx_calls(&f, 1), 1);
        assert_int_equal(hbeat_failover_gateway_current(f.gw), 1);
        fx_free(&f);
    }
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        fx f;
        fx_init(&f, 2, 0);
        hbeat_fake_gateway_fail(f.member[0], answers[i], 1, 0, "the server said no");
        char out[HBEAT_STATUS_MAX + 1];
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_gateway_log_heartbeat(f.gw, 3, "R", 30.0, out, &err), answers[i]);
        assert_int_equal(err.code, answers[i]);
        assert_string_equal(err.message, "h1: fake gateway: the server said no");
        assert_int_equal(fx_calls(&f, 1), 0);
        assert_int_equal(hbeat_failover_gateway_current(f.gw), 0);
        fx_free(&f);
    }
}

static void every_server_failing_is_one_error_that_names_them(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 3, 0);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETIMEDOUT, 1, 1, NULL);
    hbeat_fake_gateway_fail(f.member[1], HBEAT_ESERVER, 1, 1, NULL);
    hbeat_fake_gateway_fail(f.member[2], HBEAT_ETRANSPORT, 1, 1, "connection refused");
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(f.gw, 3, "R", 30.0, out, &err), HBEAT_ETRANSPORT);
    assert_string_equal(err.message, "h1 (timed out), h2 (server error) failed, then h3: fake "
                                     "gateway: connection refused");
    for (int i = 0; i < 3; i++)
        assert_int_equal(fx_calls(&f, i), 1);
    /* Each failure handed the first place on: round the list, back to h1. */
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 0);
    fx_free(&f);
}

/* A server that times out moves on too: each member has its own request
   timeout, and the same beat goes to the next server after it. */
static void a_timeout_moves_on_to_the_next_server(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, 0);
    hbeat_service *svc = fx_service(&f, 5);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETIMEDOUT, 1, 1, "no reply");
    hbeat_fake_gateway_set_latency(f.member[0], (int64_t)(FX_TIMEOUT * 1e9));
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    assert_int_equal(fx_calls(&f, 0), 1);
    assert_int_equal(fx_calls(&f, 1), 1);
    assert_int_equal(call_of(&f, 1, 0).time_ns - call_of(&f, 0, 0).time_ns,
                     (int64_t)(FX_TIMEOUT * 1e9));
    hbeat_service_stats st = fx_stats(svc);
    assert_int_equal(st.beats_failed, 0);
    assert_string_equal(st.server, "h2");
    hbeat_service_free(svc);
    fx_free(&f);
}

/* Once the lease has passed (less the loop's guard), no lease binds: as
   the loop's retries, a failover then goes on within the request timeout
   alone. The lease is 30 s and the guard 10 ms. */
static void a_lapsed_lease_binds_nothing(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, 0);
    hbeat_service *svc = fx_service(&f, 5);
    hbeat_fake_clock_advance(f.clock, 31 * FX_S);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETRANSPORT, 1, 0, NULL);
    hbeat_fake_gateway_set_latency(f.member[0], FX_S);
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    assert_int_equal(fx_calls(&f, 1), 1);
    hbeat_service_free(svc);
    fx_free(&f);
}

/* A lease that still holds bounds a failover: with 40 ms left, h1
   failing after 100 ms leaves no time for h2. */
static void the_lease_stops_a_failover_it_still_binds(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, 0);
    hbeat_service *svc = fx_service(&f, 5);
    hbeat_fake_clock_advance(f.clock, 29950 * FX_MS);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETRANSPORT, 1, 0, NULL);
    hbeat_fake_gateway_set_latency(f.member[0], 100 * FX_MS);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_tick(svc, NULL, &err), HBEAT_ETRANSPORT);
    assert_int_equal(fx_calls(&f, 1), 0);
    assert_non_null(strstr(err.message, "no time was left"));
    /* Without a service no lease binds: the same failure moves on. */
    hbeat_fake_gateway_fail(f.member[1], HBEAT_ETRANSPORT, 1, 0, NULL);
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_log_heartbeat(f.gw, 3, "R", 30.0, out, NULL), 0);
    assert_int_equal(fx_calls(&f, 0), 2);
    hbeat_service_free(svc);
    fx_free(&f);
}

static void status_updates_move_on_as_beats_do(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, 0);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETRANSPORT, 1, 0, NULL);
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_update_status(f.gw, 9, "D", out, NULL), 0);
    assert_string_equal(out, "D");
    hbeat_fake_call c;
    assert_int_equal(hbeat_fake_gateway_call(f.member[1], 0, &c), 0);
    assert_int_equal(c.kind, HBEAT_FAKE_UPDATE_STATUS);
    assert_int_equal(c.workflow_run_id, 9);
    fx_free(&f);
}

/* A version-3 caller's struct is filled up to its own end, not further. */
static void older_stats_are_not_written_past_their_end(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, 0);
    hbeat_service *svc = fx_service(&f, 5);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETRANSPORT, 1, 0, NULL);
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    hbeat_service_stats st;
    memset(&st, 0x5a, sizeof(st));
    st.version = 3;
    assert_int_equal(hbeat_service_get_stats(svc, &st), 0);
    assert_int_equal(st.beats_acknowledged, 1);
    assert_int_equal((unsigned char)st.server[0], 0x5a);
    st = fx_stats(svc);
    assert_string_equal(st.server, "h2");
    hbeat_service_free(svc);
    fx_free(&f);
}

static void bad_arguments_are_refused(void **state)
{
    (void)state;
    hbeat_clock *clock = NULL;
    assert_int_equal(hbeat_fake_clock_new(&clock, 0, NULL), 0);
    hbeat_gateway *a = NULL, *gw = NULL;
    assert_int_equal(hbeat_fake_gateway_new(&a, clock, 0, NULL), 0);
    hbeat_gateway *twice[2] = {a, a};
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_failover_gateway_new(&gw, twice, NULL, 2, NULL, &err), HBEAT_EINVAL);
    assert_string_equal(err.message, "failover members 1 and 2 are the same gateway");
    assert_int_equal(hbeat_failover_gateway_new(&gw, twice, NULL, 0, NULL, &err), HBEAT_EINVAL);
    hbeat_failover_options o = HBEAT_FAILOVER_OPTIONS_INIT;
    o.version = 99;
    assert_int_equal(hbeat_failover_gateway_new(&gw, twice, NULL, 1, &o, &err), HBEAT_EVERSION);
    const char *empty[1] = {""};
    assert_int_equal(hbeat_failover_gateway_new(&gw, twice, empty, 1, NULL, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_failover_gateway_current(a), -1);
    /* Unnamed members are numbered. */
    assert_int_equal(hbeat_failover_gateway_new(&gw, twice, NULL, 1, NULL, &err), 0);
    hbeat_fake_gateway_fail(a, HBEAT_ENOTFOUND, 1, 0, "gone");
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 1.0, out, &err), HBEAT_ENOTFOUND);
    assert_string_equal(err.message, "#1: fake gateway: gone");
    assert_string_equal(hbeat_gateway_transport(gw), "failover");
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sticks_to_the_first_server_that_answers),
        cmocka_unit_test(a_transport_failure_sends_the_same_beat_to_the_next_server),
        cmocka_unit_test(only_failures_without_an_answer_move_on),
        cmocka_unit_test(every_server_failing_is_one_error_that_names_them),
        cmocka_unit_test(a_timeout_moves_on_to_the_next_server),
        cmocka_unit_test(a_lapsed_lease_binds_nothing),
        cmocka_unit_test(the_lease_stops_a_failover_it_still_binds),
        cmocka_unit_test(status_updates_move_on_as_beats_do),
        cmocka_unit_test(older_stats_are_not_written_past_their_end),
        cmocka_unit_test(bad_arguments_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
