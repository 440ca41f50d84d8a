#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

void fx_init(fx *f, int count, unsigned int flags)
{
    memset(f, 0, sizeof(*f));
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_fake_clock_new(&f->clock, 1000 * FX_S, &err), 0);
    const char *names[FX_MAX] = {"h1", "h2", "h3"};
    f->count = count;
    for (int i = 0; i < count; i++)
        assert_int_equal(hbeat_fake_gateway_new(&f->member[i], f->clock, flags, &err), 0);
    hbeat_failover_options o = HBEAT_FAILOVER_OPTIONS_INIT;
    o.clock = f->clock;
    int rc = hbeat_failover_gateway_new(&f->gw, f->member, names, (size_t)count, &o, &err);
    if (rc != 0)
        fail_msg("hbeat_failover_gateway_new: %s", err.message);
}

void fx_free(fx *f)
{
    hbeat_gateway_free(f->gw);
    hbeat_clock_free(f->clock);
}

int fx_calls(fx *f, int i)
{
    return hbeat_fake_gateway_call_count(f->member[i]);
}

hbeat_service *fx_service(fx *f, int64_t run_id)
{
    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = run_id;
    o.interval = 10.0;
    o.report_by_buffer = 3.0;
    o.clock = f->clock;
    o.retry_jitter = 0.0;
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_new(&svc, f->gw, &o, &err), 0);
    return svc;
}

hbeat_service_stats fx_stats(hbeat_service *svc)
{
    hbeat_service_stats st;
    memset(&st, 0, sizeof(st));
    st.version = HBEAT_SERVICE_STATS_VERSION;
    assert_int_equal(hbeat_service_get_stats(svc, &st), 0);
    return st;
}

/* ---- own member ----------------------------------------------------------- */

static int own_failing(own_member *m, int *counter, hbeat_error *err)
{
    pthread_mutex_lock(&m->mu);
    (*counter)++;
    int rc = m->fail_code;
    pthread_mutex_unlock(&m->mu);
    return rc != 0 ? hbeat_error_set(err, rc, "own member: %s", hbeat_strerror(rc)) : 0;
}

static void fill_run(hbeat_run_info *out, int64_t id, const char *status)
{
    memset(out, 0, sizeof(*out));
    out->workflow_run_id = id;
    out->workflow_id = 7;
    snprintf(out->status, sizeof(out->status), "%s", status);
}

static int own_beat(void *self, const hbeat_heartbeat_request *req, hbeat_heartbeat_reply *reply,
                    hbeat_error *err)
{
    own_member *m = self;
    int rc = own_failing(m, &m->beats, err);
    if (rc == 0)
        snprintf(reply->status, sizeof(reply->status), "%s", req->status);
    return rc;
}

static int own_create(void *self, int64_t workflow_id, const hbeat_run_create_options *opts,
                      hbeat_run_info *out, hbeat_error *err)
{
    own_member *m = self;
    (void)workflow_id;
    int rc = own_failing(m, &m->creates, err);
    if (rc == 0) {
        pthread_mutex_lock(&m->mu);
        int64_t id = ++m->next_id;
        pthread_mutex_unlock(&m->mu);
        fill_run(out, id, opts->status);
    }
    return rc;
}

static int own_get(void *self, int64_t id, hbeat_run_info *out, hbeat_error *err)
{
    own_member *m = self;
    int rc = own_failing(m, &m->gets, err);
    if (rc == 0)
        fill_run(out, id, "R");
    return rc;
}

static int own_set(void *self, int64_t id, const char *status, int force, hbeat_run_info *out,
                   hbeat_error *err)
{
    own_member *m = self;
    (void)force;
    int rc = own_failing(m, &m->sets, err);
    if (rc == 0)
        fill_run(out, id, status);
    return rc;
}

static int own_list(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                    hbeat_error *err)
{
    own_member *m = self;
    (void)status;
    int rc = own_failing(m, &m->lists, err);
    for (int64_t id = 1; rc == 0 && id <= 3; id++) {
        hbeat_run_info run;
        fill_run(&run, id, "R");
        if (sink(ctx, &run) != 0)
            break;
    }
    return rc;
}

static void own_destroy(void *self)
{
    (void)self; /* the test owns the state */
}

const hbeat_gateway_vtable own_vtable = {
    .version = 2,
    .name = "own",
    .destroy = own_destroy,
    .log_heartbeat = own_beat,
    .get_run = own_get,
    .list_runs = own_list,
    .set_status = own_set,
    .create_run_with = own_create,
};

void own_init(own_member *m)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
}

hbeat_gateway *own_gateway(own_member *m)
{
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_new(&gw, &own_vtable, m, &err), 0);
    return gw;
}
