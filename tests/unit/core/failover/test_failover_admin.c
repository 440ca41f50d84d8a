/* The admin calls through a failover gateway over members of the user's
   own (a hand-written vtable of version 2): what is sent to a second
   server and what is not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

typedef struct pair {
    own_member m[2];
    hbeat_gateway *gw;
} pair;

static void pair_init(pair *p)
{
    own_init(&p->m[0]);
    own_init(&p->m[1]);
    hbeat_gateway *members[2] = {own_gateway(&p->m[0]), own_gateway(&p->m[1])};
    const char *names[2] = {"a:1", "b:2"};
    assert_int_equal(hbeat_failover_gateway_new(&p->gw, members, names, 2, NULL, NULL), 0);
}

/* A run created on a server that then failed to answer may exist: it is
   not created again elsewhere, but the caller's retry goes to the next. */
static void a_new_run_is_never_sent_to_a_second_server(void **state)
{
    (void)state;
    pair p;
    pair_init(&p);
    p.m[0].fail_code = HBEAT_ETIMEDOUT;
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_create(p.gw, 7, "G", &run, &err), HBEAT_ETIMEDOUT);
    assert_int_equal(p.m[0].creates, 1);
    assert_int_equal(p.m[1].creates, 0);
    assert_non_null(strstr(err.message, "a:1: own member: timed out; not sent to another server"));
    assert_int_equal(hbeat_failover_gateway_current(p.gw), 1);
    assert_int_equal(hbeat_run_create(p.gw, 7, "G", &run, &err), 0);
    assert_int_equal(p.m[1].creates, 1);
    assert_int_equal(run.workflow_run_id, 1);

    hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
    p.m[1].fail_code = HBEAT_ETRANSPORT;
    assert_int_equal(hbeat_run_create_with(p.gw, 7, &o, &run, &err), HBEAT_ETRANSPORT);
    assert_int_equal(p.m[0].creates, 1);
    assert_int_equal(p.m[1].creates, 2);
    hbeat_gateway_free(p.gw);
}

/* Reads and status settings name their target whole: sent again, they
   do what they did once. */
static void reads_and_status_settings_move_on(void **state)
{
    (void)state;
    pair p;
    pair_init(&p);
    p.m[0].fail_code = HBEAT_ETRANSPORT;
    hbeat_run_info run;
    assert_int_equal(hbeat_run_get(p.gw, 3, &run, NULL), 0);
    assert_int_equal(run.workflow_run_id, 3);
    assert_int_equal(p.m[0].gets, 1);
    assert_int_equal(p.m[1].gets, 1);

    /* Sticky on b:2 now; make it fail and a:1 answer. */
    p.m[0].fail_code = 0;
    p.m[1].fail_code = HBEAT_ESERVER;
    assert_int_equal(hbeat_run_set_status(p.gw, 3, "C", 1, &run, NULL), 0);
    assert_string_equal(run.status, "C");
    assert_int_equal(p.m[1].sets, 1);
    assert_int_equal(p.m[0].sets, 1);

    /* A list comes whole from the server that answers. */
    p.m[0].fail_code = HBEAT_ETRANSPORT;
    p.m[1].fail_code = 0;
    hbeat_run_info *runs = NULL;
    size_t count = 0;
    assert_int_equal(hbeat_run_list(p.gw, NULL, &runs, &count, NULL), 0);
    assert_int_equal(count, 3);
    assert_int_equal(p.m[0].lists, 1);
    assert_int_equal(p.m[1].lists, 1);
    hbeat_run_list_free(runs);

    /* Not found is an answer: it does not move on. */
    hbeat_gateway_free(p.gw);
}

static void an_answer_from_an_admin_call_does_not_move_on(void **state)
{
    (void)state;
    pair p;
    pair_init(&p);
    p.m[0].fail_code = HBEAT_EFORBIDDEN;
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_set_status(p.gw, 3, "C", 0, &run, &err), HBEAT_EFORBIDDEN);
    assert_string_equal(err.message, "a:1: own member: permission denied");
    assert_int_equal(p.m[1].sets, 0);
    assert_int_equal(hbeat_failover_gateway_current(p.gw), 0);
    hbeat_gateway_free(p.gw);
}

/* ---- a registered scheme of the user's own gets failover too ---------- */

typedef struct own_pool {
    own_member m[4];
    int opened;
    char urls[4][64];
} own_pool;

static int open_own(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                    void *data, hbeat_error *err)
{
    (void)opts;
    own_pool *pool = data;
    if (pool->opened == 4)
        return hbeat_error_set(err, HBEAT_EINVAL, "pool exhausted");
    if (strstr(url, "bad") != NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "own: cannot open %s", url);
    int i = pool->opened++;
    strncpy(pool->urls[i], url, sizeof(pool->urls[i]) - 1);
    own_init(&pool->m[i]);
    return hbeat_gateway_new(out, &own_vtable, &pool->m[i], err);
}

static void a_registered_scheme_gets_failover(void **state)
{
    (void)state;
    own_pool pool;
    memset(&pool, 0, sizeof(pool));
    assert_int_equal(hbeat_transport_register("own", open_own, &pool, NULL), 0);
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_open(&gw, "OWN://a:1,b:2/base", NULL, &err), 0);
    assert_string_equal(hbeat_gateway_transport(gw), "failover");
    assert_int_equal(pool.opened, 2);
    assert_string_equal(pool.urls[0], "OWN://a:1/base");
    assert_string_equal(pool.urls[1], "OWN://b:2/base");

    pool.m[0].fail_code = HBEAT_ETRANSPORT;
    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = 3;
    hbeat_service *svc = NULL;
    assert_int_equal(hbeat_service_new(&svc, gw, &o, NULL), 0);
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    hbeat_service_stats st;
    memset(&st, 0, sizeof(st));
    st.version = HBEAT_SERVICE_STATS_VERSION;
    assert_int_equal(hbeat_service_get_stats(svc, &st), 0);
    assert_string_equal(st.server, "b:2");
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);

    /* A server that cannot be opened fails the whole URL, naming it; the
       ones opened before it are freed (ASan would see a leak). */
    assert_int_equal(hbeat_gateway_open(&gw, "own://a:1,bad:2", NULL, &err), HBEAT_EINVAL);
    assert_string_equal(err.message, "server 2 of 2 (bad:2): own: cannot open own://bad:2");
    assert_int_equal(hbeat_transport_unregister("own", NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_new_run_is_never_sent_to_a_second_server),
        cmocka_unit_test(reads_and_status_settings_move_on),
        cmocka_unit_test(an_answer_from_an_admin_call_does_not_move_on),
        cmocka_unit_test(a_registered_scheme_gets_failover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
