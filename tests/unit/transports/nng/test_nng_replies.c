/*
 * The nng gateway against a scripted peer: every kind of reply a server
 * can send, good and bad, for heartbeats, status updates and admin calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbeat/v1/hbeat.pb-c.h"

#include "hbeat/errors.h"
#include "hbeat/gateway.h"
#include "peer.h"
#include "support.h"
#include "transports/nng/nng_internal.h"

typedef struct fixture {
    peer p;
    hbeat_gateway *gw;
    void *self;
} fixture;

static int setup_with_timeout(void **state, double timeout_s)
{
    fixture *f = calloc(1, sizeof(*f));
    peer_init(&f->p, unique_name("replies"), NULL);
    assert_int_equal(peer_start(&f->p), 0);
    f->gw = open_gw(f->p.client_url, timeout_s);
    f->self = nng_self(f->gw);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with_timeout(state, 0);
}

static int teardown(void **state)
{
    fixture *f = *state;
    hbeat_gateway_free(f->gw);
    peer_destroy(&f->p);
    free(f);
    return 0;
}

/* One beat through the vtable, so the sequence number is ours. */
static int vt_beat(fixture *f, uint64_t seq, hbeat_heartbeat_reply *rep, hbeat_error *err)
{
    hbeat_heartbeat_request req = beat(11, "R", seq);
    memset(rep, 0, sizeof(*rep));
    hbeat_error_clear(err);
    return nng_vtable()->log_heartbeat(f->self, &req, rep, err);
}

static void test_good_heartbeat(void **state)
{
    fixture *f = *state;
    hbeat_heartbeat_reply rep;
    hbeat_error err;
    assert_int_equal(vt_beat(f, 17, &rep, &err), 0);
    assert_string_equal(rep.status, "R");
    pthread_mutex_lock(&f->p.mu);
    assert_int_equal(f->p.last_case, HBEAT_PB__REQUEST__CALL_HEARTBEAT);
    assert_int_equal(f->p.last_run_id, 11);
    assert_string_equal(f->p.last_status, "R");
    assert_int_equal(f->p.last_sequence, 17);
    assert_true(f->p.last_increment == 45.0);
    assert_string_equal(f->p.last_token, "");
    pthread_mutex_unlock(&f->p.mu);

    /* The server's status wins, and the public call passes it through. */
    peer_set_status(&f->p, "C");
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, 5, "R", 30.0, status, &err), 0);
    assert_string_equal(status, "C");
    assert_string_equal(hbeat_gateway_transport(f->gw), "nng");
}

static void expect_eproto(fixture *f, const char *needle)
{
    hbeat_heartbeat_reply rep;
    hbeat_error err;
    int rc = vt_beat(f, 3, &rep, &err);
    assert_int_equal(rc, HBEAT_EPROTO);
    assert_int_equal(err.code, HBEAT_EPROTO);
    if (strstr(err.message, needle) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    }
    /* The URL is named so a person knows which server misbehaved. */
    assert_non_null(strstr(err.message, f->p.client_url));
    assert_string_equal(rep.status, "");
}

static void test_garbage(void **state)
{
    fixture *f = *state;
    peer_set_mode(&f->p, PEER_GARBAGE);
    expect_eproto(f, "not a hbeat.v1.Reply");
}

static void test_truncated(void **state)
{
    fixture *f = *state;
    peer_set_mode(&f->p, PEER_TRUNCATED);
    expect_eproto(f, "not a hbeat.v1.Reply");
}

static void test_wrong_case(void **state)
{
    fixture *f = *state;
    peer_set_mode(&f->p, PEER_WRONG_CASE);
    expect_eproto(f, "heartbeat call was answered with update_status");
    peer_set_mode(&f->p, PEER_NOT_SET);
    expect_eproto(f, "answered with nothing");
}

static void test_bad_status(void **state)
{
    fixture *f = *state;
    peer_set_status(&f->p, "");
    expect_eproto(f, "not a valid status token");
    peer_set_status(&f->p, "R D");
    expect_eproto(f, "not a valid status token");
    peer_set_status(&f->p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    expect_eproto(f, "not a valid status token");
    peer_set_status(&f->p, "R\n");
    expect_eproto(f, "\"R?\""); /* control bytes never reach the message */
}

static void test_wrong_sequence(void **state)
{
    fixture *f = *state;
    peer_set_mode(&f->p, PEER_WRONG_SEQ);
    expect_eproto(f, "reply is for beat 4, not 3");
}

static void test_error_codes(void **state)
{
    static const struct {
        int wire;
        int code;
    } map[] = {
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT, HBEAT_EINVAL},
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND, HBEAT_ENOTFOUND},
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED, HBEAT_EAUTH},
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED, HBEAT_EFORBIDDEN},
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE, HBEAT_ETOOBIG},
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_INTERNAL, HBEAT_ESERVER},
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_UNIMPLEMENTED, HBEAT_ENOTSUP},
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAVAILABLE, HBEAT_ESERVER},
        {HBEAT_PB__ERROR_CODE__ERROR_CODE_UNSPECIFIED, HBEAT_ESERVER},
        {99, HBEAT_ESERVER},
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "server says no #%zu", i);
        peer_set_error(&f->p, map[i].wire, msg);
        hbeat_heartbeat_reply rep;
        hbeat_error err;
        int rc = vt_beat(f, 1, &rep, &err);
        assert_int_equal(rc, map[i].code);
        assert_int_equal(err.code, map[i].code);
        assert_int_equal(err.native, map[i].wire);
        if (strstr(err.message, msg) == NULL) {
            fail_msg("code %d: message \"%s\" lacks \"%s\"", map[i].wire, err.message, msg);
        }
    }
    /* A hostile message is cut and cannot inject lines. */
    char longmsg[120];
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    longmsg[3] = '\n';
    peer_set_error(&f->p, HBEAT_PB__ERROR_CODE__ERROR_CODE_INTERNAL, longmsg);
    hbeat_heartbeat_reply rep;
    hbeat_error err;
    assert_int_equal(vt_beat(f, 1, &rep, &err), HBEAT_ESERVER);
    assert_null(strchr(err.message, '\n'));
    assert_true(strlen(err.message) < sizeof(err.message));
}

static void test_no_reply_times_out(void **state)
{
    fixture *f = *state;
    hbeat_heartbeat_reply rep;
    hbeat_error err;
    /* Connected first (dialing is in the background), so that the time
       runs out waiting for the reply, not for the connection. */
    int rc = HBEAT_ETIMEDOUT;
    unsigned tries = 0;
    while (rc == HBEAT_ETIMEDOUT && tries++ < 50) {
        rc = vt_beat(f, 0, &rep, &err);
    }
    assert_int_equal(rc, 0);
    unsigned before = peer_requests(&f->p);
    peer_set_mode(&f->p, PEER_SILENT);
    double t0 = now_s();
    rc = vt_beat(f, 1, &rep, &err);
    double elapsed = now_s() - t0;
    assert_int_equal(rc, HBEAT_ETIMEDOUT);
    assert_int_equal(err.native, NNG_ETIMEDOUT);
    assert_non_null(strstr(err.message, "no reply within 0.3 s"));
    assert_non_null(strstr(err.message, f->p.client_url));
    /* It cannot fire early; that it returned at all is the "no hang". */
    assert_true(elapsed >= 0.29);
    assert_int_equal(peer_requests(&f->p), before + 1);

    /* The gateway is still usable, and a late reply is never taken for
       the next one's. */
    peer_set_mode(&f->p, PEER_GOOD);
    assert_int_equal(vt_beat(f, 2, &rep, &err), 0);
}

static int setup_short(void **state)
{
    return setup_with_timeout(state, 0.3);
}

static void test_no_server_times_out(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof(url), "nng+inproc://%s", unique_name("nobody"));
    hbeat_gateway *gw = open_gw(url, 0.2);
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    double t0 = now_s();
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err), HBEAT_ETIMEDOUT);
    assert_true(now_s() - t0 >= 0.19);
    assert_non_null(strstr(err.message, "no connection to the server within 0.2 s"));
    assert_non_null(strstr(err.message, url));
    hbeat_gateway_free(gw);
}

static void test_reply_too_big(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("huge"), NULL);
    assert_int_equal(peer_start(&p), 0);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.max_reply_size = 1024;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_open(&gw, p.client_url, &o, &err), 0);

    char status[HBEAT_STATUS_MAX + 1] = "";
    p.huge_size = 1000; /* within the cap: the padding is skipped */
    peer_set_mode(&p, PEER_HUGE);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err), 0);
    assert_string_equal(status, "R");

    pthread_mutex_lock(&p.mu);
    p.huge_size = 4096;
    pthread_mutex_unlock(&p.mu);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err), HBEAT_ETOOBIG);
    assert_non_null(strstr(err.message, "exceeds max_reply_size"));
    hbeat_gateway_free(gw);
    peer_destroy(&p);
}

static void test_good_over_ipc(void **state)
{
    (void)state;
    char dir[64];
    make_temp_dir(dir, sizeof(dir));
    peer p;
    peer_init(&p, "hbeatd.sock", dir);
    assert_int_equal(peer_start(&p), 0);
    hbeat_gateway *gw = open_gw(p.client_url, 0);
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 3, "L", 10.0, status, &err), 0);
    assert_string_equal(status, "L");
    peer_set_mode(&p, PEER_GARBAGE);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 3, "L", 10.0, status, &err), HBEAT_EPROTO);
    hbeat_gateway_free(gw);

    /* Over ipc nng enforces the size cap itself by dropping the connection:
       a transport error, never a hang and never the oversized reply. */
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.max_reply_size = 1024;
    o.request_timeout = 10.0;
    assert_int_equal(hbeat_gateway_open(&gw, p.client_url, &o, &err), 0);
    pthread_mutex_lock(&p.mu);
    p.huge_size = 64 * 1024;
    pthread_mutex_unlock(&p.mu);
    peer_set_mode(&p, PEER_HUGE);
    int rc = hbeat_gateway_log_heartbeat(gw, 3, "L", 10.0, status, &err);
    if (rc != HBEAT_ETRANSPORT && rc != HBEAT_ETOOBIG) {
        fail_msg("oversized reply over ipc: %d %s", rc, err.message);
    }
    peer_set_mode(&p, PEER_GOOD);
    rc = HBEAT_ETRANSPORT;
    for (int i = 0; i < 3 && rc == HBEAT_ETRANSPORT; i++) {
        rc = hbeat_gateway_log_heartbeat(gw, 3, "L", 10.0, status, &err);
    }
    assert_int_equal(rc, 0);
    hbeat_gateway_free(gw);
    peer_destroy(&p);
    rm_temp_dir(dir);
}

/* ---- status update and admin calls ---- */

static void test_update_status(void **state)
{
    fixture *f = *state;
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_update_status(f->gw, 8, "D", status, &err), 0);
    assert_string_equal(status, "D");
    assert_int_equal(f->p.last_run_id, 8);
    assert_int_equal(f->p.last_case, HBEAT_PB__REQUEST__CALL_UPDATE_STATUS);

    peer_set_status(&f->p, "bad status");
    assert_int_equal(hbeat_gateway_update_status(f->gw, 8, "D", status, &err), HBEAT_EPROTO);
    peer_set_mode(&f->p, PEER_WRONG_CASE);
    assert_int_equal(hbeat_gateway_update_status(f->gw, 8, "D", status, &err), HBEAT_EPROTO);
    peer_set_error(&f->p, HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no run 8");
    assert_int_equal(hbeat_gateway_update_status(f->gw, 8, "D", status, &err), HBEAT_ENOTFOUND);
    assert_non_null(strstr(err.message, "no run 8"));
}

static void test_admin_calls(void **state)
{
    fixture *f = *state;
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_run_create(f->gw, 9, NULL, &run, &err), 0);
    assert_int_equal(run.workflow_run_id, 42);
    assert_int_equal(run.workflow_id, 9);
    assert_string_equal(run.status, "G");
    /* The default first deadline went with it. */
    assert_true(run.deadline == 1764280000.0 + HBEAT_RUN_DEFAULT_INCREMENT);

    /* An explicit one, 0 (due at once), and none at all. */
    hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
    o.status = "L";
    o.next_report_increment = 12.5;
    assert_int_equal(hbeat_run_create_with(f->gw, 9, &o, &run, &err), 0);
    assert_string_equal(run.status, "L");
    assert_true(run.deadline == 1764280012.5);
    o.next_report_increment = 0;
    assert_int_equal(hbeat_run_create_with(f->gw, 9, &o, &run, &err), 0);
    assert_true(run.deadline == 1764280000.0);
    o.no_deadline = 1;
    assert_int_equal(hbeat_run_create_with(f->gw, 9, &o, &run, &err), 0);
    assert_true(run.deadline == 0);

    assert_int_equal(hbeat_run_get(f->gw, 5, &run, &err), 0);
    assert_int_equal(run.workflow_run_id, 5);
    assert_int_equal(run.workflow_id, 7);
    assert_string_equal(run.status, "R");
    assert_true(run.deadline == 1764280000.25);
    assert_true(run.last_heartbeat == 1764279950.5);
    assert_int_equal(run.beats, 3);

    assert_int_equal(hbeat_run_set_status(f->gw, 5, "C", 1, &run, &err), 0);
    assert_string_equal(run.status, "C");
    assert_int_equal(f->p.last_force, 1);
    assert_int_equal(hbeat_run_set_status(f->gw, 5, "C", 0, &run, &err), 0);
    assert_int_equal(f->p.last_force, 0);

    /* Seven runs in pages of three: every page is followed. */
    hbeat_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(hbeat_run_list(f->gw, NULL, &runs, &n, &err), 0);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(runs[i].workflow_run_id, (int64_t)i + 1);
    }
    hbeat_run_list_free(runs);
    assert_int_equal(peer_requests(&f->p), 7 + 3);

    assert_int_equal(hbeat_run_list(f->gw, "H", &runs, &n, &err), 0);
    assert_int_equal(n, 7);
    assert_string_equal(f->p.last_status, "H");
    assert_string_equal(runs[6].status, "H");
    hbeat_run_list_free(runs);

    peer_set_error(&f->p, HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND, "run 404 unknown");
    assert_int_equal(hbeat_run_get(f->gw, 404, &run, &err), HBEAT_ENOTFOUND);
    assert_non_null(strstr(err.message, "run 404 unknown"));
}

static int stop_after_two(void *ctx, const hbeat_run_info *run)
{
    int *seen = ctx;
    (void)run;
    return ++*seen == 2;
}

static void test_list_sink_stops(void **state)
{
    fixture *f = *state;
    int seen = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(nng_vtable()->list_runs(f->self, NULL, stop_after_two, &seen, &err), 0);
    assert_int_equal(seen, 2);
    assert_int_equal(peer_requests(&f->p), 1);
}

static void test_admin_bad_replies(void **state)
{
    fixture *f = *state;
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info *runs = NULL;
    size_t n = 0;

    peer_set_mode(&f->p, PEER_RUN_MISSING);
    assert_int_equal(hbeat_run_get(f->gw, 5, &run, &err), HBEAT_EPROTO);
    assert_int_equal(hbeat_run_create(f->gw, 5, "G", &run, &err), HBEAT_EPROTO);
    assert_int_equal(hbeat_run_set_status(f->gw, 5, "C", 0, &run, &err), HBEAT_EPROTO);

    peer_set_mode(&f->p, PEER_RUN_OTHER);
    assert_int_equal(hbeat_run_get(f->gw, 5, &run, &err), HBEAT_EPROTO);
    assert_non_null(strstr(err.message, "asked about run 5"));
    assert_int_equal(hbeat_run_set_status(f->gw, 5, "C", 0, &run, &err), HBEAT_EPROTO);

    peer_set_status(&f->p, "");
    assert_int_equal(hbeat_run_get(f->gw, 5, &run, &err), HBEAT_EPROTO);
    assert_int_equal(hbeat_run_list(f->gw, NULL, &runs, &n, &err), HBEAT_EPROTO);

    peer_set_mode(&f->p, PEER_WRONG_CASE);
    assert_int_equal(hbeat_run_get(f->gw, 5, &run, &err), HBEAT_EPROTO);
    assert_int_equal(hbeat_run_list(f->gw, NULL, &runs, &n, &err), HBEAT_EPROTO);

    peer_set_mode(&f->p, PEER_PAGE_STUCK);
    assert_int_equal(hbeat_run_list(f->gw, NULL, &runs, &n, &err), HBEAT_EPROTO);
    assert_non_null(strstr(err.message, "does not advance"));

    peer_set_mode(&f->p, PEER_PAGE_ORDER);
    assert_int_equal(hbeat_run_list(f->gw, NULL, &runs, &n, &err), HBEAT_EPROTO);
    assert_non_null(strstr(err.message, "ids must ascend"));

    /* A filter the server ignored. */
    peer_set_status(&f->p, "R");
    assert_int_equal(hbeat_run_list(f->gw, "C", &runs, &n, &err), HBEAT_EPROTO);
}

/* ---- token ---- */

static void test_token(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("token"), NULL);
    assert_int_equal(peer_start(&p), 0);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.token = "s3cret-token";
    o.token_file = "/nonexistent/ignored-when-token-is-set";
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_open(&gw, p.client_url, &o, &err), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err), 0);
    assert_string_equal(p.last_token, "s3cret-token");
    hbeat_run_info run;
    assert_int_equal(hbeat_run_get(gw, 1, &run, &err), 0);
    assert_string_equal(p.last_token, "s3cret-token");
    hbeat_gateway_free(gw);

    char dir[64];
    make_temp_dir(dir, sizeof(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/token", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("from-file\r\nsecond line\n", fp);
    fclose(fp);
    o.token = NULL;
    o.token_file = path;
    assert_int_equal(hbeat_gateway_open(&gw, p.client_url, &o, &err), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err), 0);
    assert_string_equal(p.last_token, "from-file");
    hbeat_gateway_free(gw);

    fp = fopen(path, "w");
    fclose(fp);
    gw = NULL;
    assert_int_equal(hbeat_gateway_open(&gw, p.client_url, &o, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "empty"));
    assert_null(gw);
    unlink(path);
    assert_int_equal(hbeat_gateway_open(&gw, p.client_url, &o, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, path));
    o.token_file = NULL;
    o.token = "has space";
    assert_int_equal(hbeat_gateway_open(&gw, p.client_url, &o, &err), HBEAT_EINVAL);
    rm_temp_dir(dir);
    peer_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_reply_times_out, setup_short, teardown),
        cmocka_unit_test(test_no_server_times_out),
        cmocka_unit_test(test_reply_too_big),
        cmocka_unit_test(test_good_over_ipc),
        cmocka_unit_test_setup_teardown(test_update_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_sink_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_bad_replies, setup, teardown),
        cmocka_unit_test(test_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
