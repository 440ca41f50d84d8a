/*
 * hbeat_gateway_new() and the calls that go through a gateway handle:
 * version and required-method checks, ownership, optional methods that are
 * absent (HBEAT_ENOTSUP), and the admin calls passed through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

typedef struct impl {
    int destroys;
    int closes;
    int close_before_destroy;
    int updates;
    char reply[32];
    hbeat_run_info runs[3];
    int64_t last_workflow_id;
    char last_status[HBEAT_STATUS_MAX + 1];
    int last_force;
    int list_status_was_null;
    int rc; /* non-zero: every admin call fails with it */
    int with_calls;
    hbeat_run_create_options last_opts;
} impl;

static void impl_destroy(void *self)
{
    impl *m = self;
    m->destroys++;
    m->close_before_destroy = m->closes == 1;
}

static void impl_close(void *self)
{
    ((impl *)self)->closes++;
}

static int impl_beat(void *self, const hbeat_heartbeat_request *req, hbeat_heartbeat_reply *reply,
                     hbeat_error *err)
{
    impl *m = self;
    (void)req;
    (void)err;
    memset(reply->status, 0, sizeof reply->status);
    memcpy(reply->status, m->reply,
           strlen(m->reply) < sizeof reply->status ? strlen(m->reply) : sizeof reply->status - 1);
    return 0;
}

static int impl_update(void *self, int64_t run_id, const char *status, hbeat_heartbeat_reply *reply,
                       hbeat_error *err)
{
    impl *m = self;
    (void)run_id;
    (void)err;
    m->updates++;
    snprintf(reply->status, sizeof reply->status, "%s", status);
    return 0;
}

static int impl_create(void *self, int64_t workflow_id, const char *status, hbeat_run_info *out,
                       hbeat_error *err)
{
    impl *m = self;
    if (m->rc) {
        return hbeat_error_set(err, m->rc, "admin failed (test)");
    }
    m->last_workflow_id = workflow_id;
    snprintf(m->last_status, sizeof m->last_status, "%s", status ? status : "(null)");
    memset(out, 0, sizeof *out);
    out->workflow_run_id = 100;
    out->workflow_id = workflow_id;
    snprintf(out->status, sizeof out->status, "%s", status ? status : "?");
    return 0;
}

static int impl_create_with(void *self, int64_t workflow_id, const hbeat_run_create_options *o,
                            hbeat_run_info *out, hbeat_error *err)
{
    impl *m = self;
    m->with_calls++;
    m->last_opts = *o;
    int rc = impl_create(self, workflow_id, o->status, out, err);
    if (rc == 0 && !o->no_deadline)
        out->deadline = 1764280000.0 + o->next_report_increment;
    return rc;
}

static int impl_get(void *self, int64_t run_id, hbeat_run_info *out, hbeat_error *err)
{
    impl *m = self;
    for (int i = 0; i < 3; i++) {
        if (m->runs[i].workflow_run_id == run_id) {
            *out = m->runs[i];
            return 0;
        }
    }
    return hbeat_error_set(err, HBEAT_ENOTFOUND, "no run %lld", (long long)run_id);
}

static int impl_list(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                     hbeat_error *err)
{
    impl *m = self;
    (void)err;
    m->list_status_was_null = status == NULL;
    for (int i = 0; i < 3; i++) {
        if (status && strcmp(status, m->runs[i].status) != 0) {
            continue;
        }
        if (sink(ctx, &m->runs[i]) != 0) {
            break;
        }
    }
    return 0;
}

static int impl_set_status(void *self, int64_t run_id, const char *status, int force,
                           hbeat_run_info *out, hbeat_error *err)
{
    impl *m = self;
    m->last_force = force;
    int rc = impl_get(self, run_id, out, err);
    if (rc == 0) {
        snprintf(out->status, sizeof out->status, "%s", status);
    }
    return rc;
}

static const hbeat_gateway_vtable minimal = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "minimal",
    .destroy = impl_destroy,
    .log_heartbeat = impl_beat,
};

static const hbeat_gateway_vtable full = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "full",
    .destroy = impl_destroy,
    .log_heartbeat = impl_beat,
    .close = impl_close,
    .update_status = impl_update,
    .create_run = impl_create,
    .get_run = impl_get,
    .list_runs = impl_list,
    .set_status = impl_set_status,
};

/* A gateway of today: the same, with create_run_with. */
static const hbeat_gateway_vtable with_deadline = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "with_deadline",
    .destroy = impl_destroy,
    .log_heartbeat = impl_beat,
    .create_run = impl_create,
    .create_run_with = impl_create_with,
};

/* A gateway written against version 1: its table ends before
   create_run_with, so the core must not look there even if memory
   after it happened to hold a pointer. */
static const hbeat_gateway_vtable version_1 = {
    .version = 1,
    .name = "version_1",
    .destroy = impl_destroy,
    .log_heartbeat = impl_beat,
    .create_run = impl_create,
    .create_run_with = impl_create_with,
};

static void init_impl(impl *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->reply, "R");
    const char *st[3] = {"R", "D", "R"};
    for (int i = 0; i < 3; i++) {
        m->runs[i].workflow_run_id = i + 1;
        m->runs[i].workflow_id = 7;
        strcpy(m->runs[i].status, st[i]);
        m->runs[i].beats = (uint64_t)i;
    }
}

static void expect_refused(const hbeat_gateway_vtable *vt, int want)
{
    impl m;
    init_impl(&m);
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_new(&gw, vt, &m, &err);
    if (rc == 0) {
        hbeat_gateway_free(gw);
        fail_msg("vtable accepted; expected %d", want);
    }
    assert_int_equal(rc, want);
    assert_int_equal(err.code, want);
    assert_true(err.message[0] != '\0');
    /* On failure the caller still owns self: nothing was called on it. */
    assert_int_equal(m.destroys, 0);
    assert_int_equal(m.closes, 0);
}

static void test_new_checks_version_and_required_methods(void **state)
{
    (void)state;
    hbeat_gateway_vtable vt = full;
    vt.log_heartbeat = NULL;
    expect_refused(&vt, HBEAT_EINVAL);
    vt = full;
    vt.destroy = NULL;
    expect_refused(&vt, HBEAT_EINVAL);
    vt = full;
    vt.version = 0;
    expect_refused(&vt, HBEAT_EVERSION);
    vt.version = HBEAT_GATEWAY_VTABLE_VERSION + 1;
    expect_refused(&vt, HBEAT_EVERSION);
    vt.version = 0x7fffffffu;
    expect_refused(&vt, HBEAT_EVERSION);

    impl m;
    init_impl(&m);
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_new(NULL, &full, &m, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_new(&gw, NULL, &m, &err), HBEAT_EINVAL);
    assert_int_equal(m.destroys, 0);
}

static void test_handle_owns_self_close_then_destroy(void **state)
{
    (void)state;
    impl m;
    init_impl(&m);
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &full, &m, NULL), 0);
    assert_ptr_equal(hbeat_gateway_self(gw), &m);
    assert_string_equal(hbeat_gateway_transport(gw), "full");
    hbeat_gateway_free(gw);
    assert_int_equal(m.closes, 1);
    assert_int_equal(m.destroys, 1);
    assert_int_equal(m.close_before_destroy, 1);

    /* Without close, only destroy. A NULL self is the implementation's
       business, not an error. */
    init_impl(&m);
    gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &minimal, &m, NULL), 0);
    hbeat_gateway_free(gw);
    assert_int_equal(m.destroys, 1);
    hbeat_gateway_free(NULL);
}

static void test_absent_optional_methods_are_not_supported(void **state)
{
    (void)state;
    impl m;
    init_impl(&m);
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &minimal, &m, NULL), 0);
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_run_info info;
    hbeat_run_info *list = NULL;
    size_t count = 99;
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_gateway_update_status(gw, 1, "D", out, &err), HBEAT_ENOTSUP);
    assert_int_equal(err.code, HBEAT_ENOTSUP);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_run_create(gw, 7, "G", &info, &err), HBEAT_ENOTSUP);
    assert_int_equal(hbeat_run_get(gw, 1, &info, &err), HBEAT_ENOTSUP);
    assert_int_equal(hbeat_run_list(gw, NULL, &list, &count, &err), HBEAT_ENOTSUP);
    assert_int_equal(hbeat_run_set_status(gw, 1, "R", 1, &info, &err), HBEAT_ENOTSUP);

    /* The blocking heartbeat works; the service falls back to a worker for
       tick_async. */
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 1.0, out, &err), 0);
    assert_string_equal(out, "R");
    hbeat_service *svc = t_service(gw, NULL, 1, 30, 3.1, 5);
    t_ticks t;
    t_ticks_init(&t);
    assert_int_equal(hbeat_service_tick_async(svc, t_on_tick, &t, NULL), 0);
    assert_int_equal(t_ticks_wait(&t, 1), 1);
    hbeat_service_free(svc);
    assert_int_equal(t.rc, 0);
    t_ticks_destroy(&t);
    hbeat_gateway_free(gw);
}

static void test_optional_methods_are_passed_through(void **state)
{
    (void)state;
    impl m;
    init_impl(&m);
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &full, &m, NULL), 0);
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_run_info info;
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_gateway_update_status(gw, 1, "D", out, &err), 0);
    assert_string_equal(out, "D");
    assert_int_equal(m.updates, 1);

    assert_int_equal(hbeat_run_create(gw, 7, "O", &info, &err), 0);
    assert_int_equal(info.workflow_run_id, 100);
    assert_int_equal(m.last_workflow_id, 7);
    assert_string_equal(m.last_status, "O");
    /* NULL status means "G": the core may say so or leave it to the
       implementation. */
    assert_int_equal(hbeat_run_create(gw, 8, NULL, &info, &err), 0);
    assert_true(strcmp(m.last_status, "G") == 0 || strcmp(m.last_status, "(null)") == 0);

    assert_int_equal(hbeat_run_get(gw, 2, &info, &err), 0);
    assert_string_equal(info.status, "D");
    assert_int_equal(hbeat_run_get(gw, 9, &info, &err), HBEAT_ENOTFOUND);

    assert_int_equal(hbeat_run_set_status(gw, 3, "C", 1, &info, &err), 0);
    assert_string_equal(info.status, "C");
    assert_true(m.last_force != 0);
    assert_int_equal(hbeat_run_set_status(gw, 3, "C", 0, &info, &err), 0);
    assert_int_equal(m.last_force, 0);

    hbeat_run_info *list = NULL;
    size_t count = 0;
    assert_int_equal(hbeat_run_list(gw, NULL, &list, &count, &err), 0);
    assert_int_equal(m.list_status_was_null, 1);
    assert_int_equal(count, 3);
    assert_non_null(list);
    assert_int_equal(list[0].workflow_run_id, 1);
    assert_int_equal(list[2].workflow_run_id, 3);
    assert_int_equal(list[2].beats, 2);
    hbeat_run_list_free(list);

    list = NULL;
    assert_int_equal(hbeat_run_list(gw, "R", &list, &count, &err), 0);
    assert_int_equal(count, 2);
    hbeat_run_list_free(list);

    list = (hbeat_run_info *)&m; /* must be overwritten */
    assert_int_equal(hbeat_run_list(gw, "X", &list, &count, &err), 0);
    assert_int_equal(count, 0);
    assert_null(list);
    hbeat_run_list_free(NULL);

    m.rc = HBEAT_EFORBIDDEN;
    assert_int_equal(hbeat_run_create(gw, 7, "G", &info, &err), HBEAT_EFORBIDDEN);
    assert_non_null(strstr(err.message, "admin failed (test)"));
    hbeat_gateway_free(gw);
}

static void test_admin_calls_validate_input(void **state)
{
    (void)state;
    impl m;
    init_impl(&m);
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &full, &m, NULL), 0);
    hbeat_run_info info;
    hbeat_run_info *list = NULL;
    size_t count = 0;
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_run_create(NULL, 7, "G", &info, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_create(gw, 7, "A B", &info, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_create(gw, 7, "G", NULL, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_get(NULL, 1, &info, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_get(gw, 0, &info, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_get(gw, 1, NULL, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_list(NULL, NULL, &list, &count, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_list(gw, NULL, NULL, &count, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_list(gw, NULL, &list, NULL, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_list(gw, "A B", &list, &count, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_set_status(NULL, 1, "R", 0, &info, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_set_status(gw, 1, NULL, 0, &info, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_set_status(gw, 1, "", 0, &info, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_set_status(gw, 0, "R", 0, &info, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    /* None reached the implementation. */
    assert_int_equal(m.last_workflow_id, 0);
    hbeat_gateway_free(gw);
}

/* The run's first deadline goes to create_run_with, checked, with the
   status filled in; a gateway that cannot carry it (version 1, or no
   create_run_with) creates a run without a deadline only when that is
   what was asked for, or through the old hbeat_run_create. */
static void test_create_with_a_first_deadline(void **state)
{
    (void)state;
    impl m;
    init_impl(&m);
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &with_deadline, &m, NULL), 0);
    hbeat_run_info info;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
    o.next_report_increment = 40.0;
    assert_int_equal(hbeat_run_create_with(gw, 7, &o, &info, &err), 0);
    assert_int_equal(m.with_calls, 1);
    assert_string_equal(m.last_opts.status, "G");
    assert_int_equal(m.last_opts.version, HBEAT_RUN_CREATE_OPTIONS_VERSION);
    assert_true(m.last_opts.next_report_increment == 40.0 && !m.last_opts.no_deadline);
    assert_true(info.deadline == 1764280040.0);
    /* The old call gives the default window. */
    assert_int_equal(hbeat_run_create(gw, 7, "L", &info, &err), 0);
    assert_int_equal(m.with_calls, 2);
    assert_string_equal(m.last_opts.status, "L");
    assert_true(m.last_opts.next_report_increment == HBEAT_RUN_DEFAULT_INCREMENT);
    hbeat_gateway_free(gw);

    for (int v = 0; v < 2; v++) {
        hbeat_gateway_vtable vt = full; /* version 2 without create_run_with */
        init_impl(&m);
        assert_int_equal(hbeat_gateway_new(&gw, v == 0 ? &vt : &version_1, &m, NULL), 0);
        o = (hbeat_run_create_options)HBEAT_RUN_CREATE_OPTIONS_INIT;
        assert_int_equal(hbeat_run_create_with(gw, 7, &o, &info, &err), HBEAT_ENOTSUP);
        assert_non_null(strstr(err.message, "cannot give a new run a deadline"));
        assert_int_equal(m.last_workflow_id, 0);
        o.no_deadline = 1;
        o.status = "R";
        assert_int_equal(hbeat_run_create_with(gw, 7, &o, &info, &err), 0);
        assert_string_equal(m.last_status, "R");
        m.last_workflow_id = 0;
        assert_int_equal(hbeat_run_create(gw, 8, NULL, &info, &err), 0);
        assert_int_equal(m.last_workflow_id, 8);
        assert_string_equal(m.last_status, "G");
        assert_int_equal(m.with_calls, 0);
        hbeat_gateway_free(gw);
    }
}

static void test_invalid_reply_status_is_a_protocol_error(void **state)
{
    (void)state;
    impl m;
    init_impl(&m);
    strcpy(m.reply, "not valid");
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &minimal, &m, NULL), 0);
    char out[HBEAT_STATUS_MAX + 1] = "untouched";
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_log_heartbeat(gw, 1, "R", 1.0, out, &err);
    assert_true(rc < 0);
    assert_true(err.message[0] != '\0');
    assert_string_equal(out, "untouched");
    strcpy(m.reply, "");
    rc = hbeat_gateway_log_heartbeat(gw, 1, "R", 1.0, out, &err);
    assert_true(rc < 0);
    hbeat_gateway_free(gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_checks_version_and_required_methods),
        cmocka_unit_test(test_handle_owns_self_close_then_destroy),
        cmocka_unit_test(test_absent_optional_methods_are_not_supported),
        cmocka_unit_test(test_optional_methods_are_passed_through),
        cmocka_unit_test(test_admin_calls_validate_input),
        cmocka_unit_test(test_invalid_reply_status_is_a_protocol_error),
        cmocka_unit_test(test_create_with_a_first_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
