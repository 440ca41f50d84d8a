/*
 * Built against an installed hbeat (CMake package and pkg-config): opens the
 * fake gateway by URL, beats once and checks that what the "server" said comes
 * back. Exits non-zero on any mismatch, so the install test can fail.
 */
#include <hbeat/hbeat.h>
#include <hbeat/sys/fake.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc, const hbeat_error *err)
{
    fprintf(stderr, "consumer: %s: %s (%d): %s\n", what, hbeat_strerror(rc), rc,
            err ? err->message : "");
    return 1;
}

static int beat_once(hbeat_gateway *gw)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_service *svc = NULL;
    hbeat_update update;
    hbeat_fake_call call;
    int rc;

    /* The server asks for a hot resume; the service must adopt it. */
    rc = hbeat_fake_gateway_push_reply(gw, HBEAT_STATUS_HOT_RESUME);
    if (rc != 0)
        return fail("hbeat_fake_gateway_push_reply", rc, NULL);

    opts.workflow_run_id = 42;
    opts.interval = 2.0;
    opts.report_by_buffer = 3.0;
    rc = hbeat_service_new(&svc, gw, &opts, &err);
    if (rc != 0)
        return fail("hbeat_service_new", rc, &err);

    rc = hbeat_service_tick(svc, &update, &err);
    hbeat_service_free(svc);
    if (rc != 0)
        return fail("hbeat_service_tick", rc, &err);
    if (!update.changed || strcmp(update.status, HBEAT_STATUS_HOT_RESUME) != 0 ||
        strcmp(update.previous_status, HBEAT_STATUS_RUNNING) != 0) {
        fprintf(stderr, "consumer: expected R -> H, got changed=%d %s -> %s\n", update.changed,
                update.previous_status, update.status);
        return 1;
    }

    if (hbeat_fake_gateway_call_count(gw) != 1)
        return fail("hbeat_fake_gateway_call_count", hbeat_fake_gateway_call_count(gw), NULL);
    rc = hbeat_fake_gateway_call(gw, 0, &call);
    if (rc != 0)
        return fail("hbeat_fake_gateway_call", rc, NULL);
    if (call.kind != HBEAT_FAKE_HEARTBEAT || call.workflow_run_id != 42 ||
        strcmp(call.status, HBEAT_STATUS_RUNNING) != 0 || call.next_report_increment != 6.0) {
        fprintf(stderr, "consumer: the gateway saw run %lld status %s increment %g\n",
                (long long)call.workflow_run_id, call.status, call.next_report_increment);
        return 1;
    }
    printf("consumer: hbeat %s: one beat through %s, server moved the run R -> %s\n",
           hbeat_version(), hbeat_gateway_transport(gw), update.status);
    return 0;
}

int main(void)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway *gw = NULL;
    int rc;

    /* Headers and library from the same install. */
    if (strcmp(hbeat_version(), HBEAT_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: library %s but headers %s\n", hbeat_version(),
                HBEAT_VERSION_STRING);
        return 1;
    }
    rc = hbeat_gateway_open(&gw, "fake://", NULL, &err);
    if (rc != 0)
        return fail("hbeat_gateway_open(\"fake://\")", rc, &err);
    rc = beat_once(gw);
    hbeat_gateway_free(gw);
    return rc;
}
