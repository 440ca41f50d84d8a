#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "core/gateway_internal.h"
#include "transports/nng/nng_internal.h"

const char *unique_name(const char *prefix)
{
    static char buf[8][96];
    static unsigned n;
    char *out = buf[n % 8];
    snprintf(out, sizeof(buf[0]), "%s-%u", prefix, n++);
    return out;
}

hbeat_gateway *open_gw(const char *url, double timeout_s)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = timeout_s;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, &o, &err);
    if (rc != 0) {
        fail_msg("open %s: %d %s", url, rc, err.message);
    }
    return gw;
}

void *nng_self(hbeat_gateway *gw)
{
    assert_string_equal(hbeat_gateway_transport(gw), "nng");
    void *self = hbeat_gateway_self(gw);
    assert_non_null(self);
    return self;
}

const hbeat_gateway_vtable *nng_vtable(void)
{
    /* Static in the transport: the same for every gateway it opens. */
    static const hbeat_gateway_vtable *vt;
    if (vt == NULL) {
        hbeat_gateway *gw = open_gw("nng+tcp://127.0.0.1:1", 1);
        vt = hbeat__gateway_vtable(gw);
        hbeat_gateway_free(gw);
    }
    return vt;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

hbeat_heartbeat_request beat(int64_t run, const char *status, uint64_t seq)
{
    hbeat_heartbeat_request r;
    r.workflow_run_id = run;
    r.status = status;
    r.next_report_increment = 45.0;
    r.sequence = seq;
    return r;
}
