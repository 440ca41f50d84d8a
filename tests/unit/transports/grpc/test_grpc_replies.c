/*
 * The gRPC transport without a network: URLs and options refused at open
 * with a reason, and finished calls turned into replies or errors
 * (codec.c): every status, a missing, garbage or wrong-typed reply message,
 * TLS reasons, and a server's text that could forge log lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/grpc_codes.h"
#include "hbeat/hbeat.h"
#include "transports/grpc/grpc_internal.h"

#define URL "grpc://peer:1"

static void test_urls(void **state)
{
    (void)state;
    char target[HBEAT__GRPC_TARGET_MAX];
    int tls = -1;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(
        hbeat__grpc_url_target("grpc://127.0.0.1:7790", target, sizeof(target), &tls, &err), 0);
    assert_string_equal(target, "127.0.0.1:7790");
    assert_int_equal(tls, 0);
    assert_int_equal(
        hbeat__grpc_url_target("GRPCS://hb.example:443/", target, sizeof(target), &tls, &err), 0);
    assert_string_equal(target, "hb.example:443");
    assert_int_equal(tls, 1);
    assert_int_equal(hbeat__grpc_url_target("grpc://[::1]:9", target, sizeof(target), &tls, &err),
                     0);
    assert_string_equal(target, "[::1]:9");

    static const char *const bad[] = {
        "grpc://",          "grpc://host",        "grpc://host:",       "grpc://:80",
        "grpc://host:0",    "grpc://host:65536",  "grpc://host:80x",    "grpc://host:80/path",
        "grpc://u@host:80", "grpc://[::1:80",     "grpc://[]:80",       "grpc://ho st:80",
        "http://host:80",   "grpc://host:123456", "grpc://host:80?q=1", "grpc://[::1]80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = (hbeat_error)HBEAT_ERROR_INIT;
        if (hbeat__grpc_url_target(bad[i], target, sizeof(target), &tls, &err) != HBEAT_EINVAL) {
            fail_msg("%s was accepted", bad[i]);
        }
        assert_non_null(strstr(err.message, "bad gRPC URL"));
    }
    /* Through the public call too. */
    hbeat_gateway *gw;
    assert_int_equal(hbeat_gateway_open(&gw, "grpc://nohost", NULL, &err), HBEAT_EINVAL);
}

static void test_options(void **state)
{
    (void)state;
    hbeat_gateway *gw;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = -1.0;
    assert_int_equal(hbeat_gateway_open(&gw, URL, &o, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "request_timeout"));
    o.request_timeout = 0.0;
    o.token = "two words";
    assert_int_equal(hbeat_gateway_open(&gw, URL, &o, &err), HBEAT_EINVAL);
    o.token = NULL;
    o.insecure = 1;
    assert_int_equal(hbeat_gateway_open(&gw, URL, &o, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "grpcs://"));
    o.insecure = 0;
    o.version = 99;
    assert_int_equal(hbeat_gateway_open(&gw, URL, &o, &err), HBEAT_EVERSION);
    /* A server that is not there does not fail the open: the channel
       connects on the first call. */
    assert_int_equal(hbeat_gateway_open(&gw, "grpc://127.0.0.1:1", NULL, &err), 0);
    assert_string_equal(hbeat_gateway_transport(gw), "grpc");
    hbeat_gateway_free(gw);
}

static int decode(hbeat__grpc_method m, int status, const char *details, const void *data,
                  size_t len, int has, int tls, hbeat_error *err)
{
    hbeat__wire_arena arena;
    hbeat__wire_arena_init(&arena);
    ProtobufCMessage *r = NULL;
    int rc = hbeat__grpc_decode(&r, m, status, details, data, len, has, tls, &arena, URL, err);
    if (rc == 0) {
        assert_non_null(r);
        assert_ptr_equal(r->descriptor, hbeat__grpc_method_reply(m));
        hbeat__wire_reply_free(r, &arena);
    }
    assert_int_equal(arena.used, 0);
    return rc;
}

static void test_statuses(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(
        decode(HBEAT__GRPC_GET_RUN, HBEAT__GRPC_NOT_FOUND, "no run 7", NULL, 0, 0, 0, &err),
        HBEAT_ENOTFOUND);
    assert_string_equal(err.message, "no run 7 (gRPC status NOT_FOUND from grpc://peer:1)");
    assert_int_equal(err.native, HBEAT__GRPC_NOT_FOUND);
    assert_int_equal(
        decode(HBEAT__GRPC_LOG_HEARTBEAT, HBEAT__GRPC_UNAUTHENTICATED, "", NULL, 0, 0, 0, &err),
        HBEAT_EAUTH);
    assert_non_null(strstr(err.message, "no message"));
    /* Control bytes in the server's text cannot forge a log line. */
    assert_int_equal(decode(HBEAT__GRPC_LOG_HEARTBEAT, HBEAT__GRPC_INTERNAL,
                            "boom\nFAKE LOG LINE\r", NULL, 0, 0, 0, &err),
                     HBEAT_ESERVER);
    assert_null(strchr(err.message, '\n'));
    assert_null(strchr(err.message, '\r'));
    /* A TLS reason turns UNAVAILABLE into HBEAT_ETLS, on grpcs only. */
    const char *ssl = "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
                      "Ssl handshake failed: SSL_ERROR_SSL";
    assert_int_equal(
        decode(HBEAT__GRPC_LOG_HEARTBEAT, HBEAT__GRPC_UNAVAILABLE, ssl, NULL, 0, 0, 1, &err),
        HBEAT_ETLS);
    assert_int_equal(
        decode(HBEAT__GRPC_LOG_HEARTBEAT, HBEAT__GRPC_UNAVAILABLE, ssl, NULL, 0, 0, 0, &err),
        HBEAT_ETRANSPORT);
    assert_int_equal(decode(HBEAT__GRPC_LOG_HEARTBEAT, HBEAT__GRPC_UNAVAILABLE,
                            "Connection refused", NULL, 0, 0, 1, &err),
                     HBEAT_ETRANSPORT);
}

static void test_reply_messages(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    /* OK without a message breaks the contract of a unary call. */
    assert_int_equal(decode(HBEAT__GRPC_LOG_HEARTBEAT, 0, "", NULL, 0, 0, 0, &err), HBEAT_EPROTO);
    assert_non_null(strstr(err.message, "without a reply"));
    static const unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(decode(HBEAT__GRPC_LOG_HEARTBEAT, 0, "", garbage, sizeof(garbage), 1, 0, &err),
                     HBEAT_EPROTO);
    assert_non_null(strstr(err.message, "hbeat.v1.HeartbeatReply"));
    /* An empty message is a valid reply of every type (all defaults); the
       payload checks (transports/wire) refuse its empty status. */
    assert_int_equal(decode(HBEAT__GRPC_LIST_RUNS, 0, "", "", 0, 1, 0, &err), 0);

    HbeatPb__HeartbeatReply hb = HBEAT_PB__HEARTBEAT_REPLY__INIT;
    hb.status = "R";
    hb.sequence = 12;
    unsigned char buf[64];
    size_t len = hbeat_pb__heartbeat_reply__pack(&hb, buf);
    for (int m = 0; m < HBEAT__GRPC_METHODS; m++) {
        hbeat__wire_arena arena;
        hbeat__wire_arena_init(&arena);
        ProtobufCMessage *r = NULL;
        int rc =
            hbeat__grpc_decode(&r, (hbeat__grpc_method)m, 0, "", buf, len, 1, 0, &arena, URL, &err);
        if (m == HBEAT__GRPC_LOG_HEARTBEAT) {
            assert_int_equal(rc, 0);
            hbeat_heartbeat_reply out;
            assert_int_equal(
                hbeat__wire_check_heartbeat((HbeatPb__HeartbeatReply *)r, 12, &out, URL, &err), 0);
            assert_string_equal(out.status, "R");
            assert_int_equal(
                hbeat__wire_check_heartbeat((HbeatPb__HeartbeatReply *)r, 13, &out, URL, &err),
                HBEAT_EPROTO);
        }
        if (rc == 0) {
            hbeat__wire_reply_free(r, &arena);
        }
    }
}

static void test_method_paths(void **state)
{
    (void)state;
    assert_string_equal(hbeat__grpc_method_path(HBEAT__GRPC_LOG_HEARTBEAT),
                        "/hbeat.v1.HeartbeatService/LogHeartbeat");
    assert_string_equal(hbeat__grpc_method_path(HBEAT__GRPC_SET_STATUS),
                        "/hbeat.v1.HeartbeatService/SetStatus");
    /* The paths are the service protoc-c read from proto/hbeat/v1. */
    const ProtobufCServiceDescriptor *svc = &hbeat_pb__heartbeat_service__descriptor;
    assert_string_equal(svc->name, "hbeat.v1.HeartbeatService");
    assert_int_equal(svc->n_methods, HBEAT__GRPC_METHODS);
    for (unsigned i = 0; i < svc->n_methods; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/%s/%s", svc->name, svc->methods[i].name);
        int found = 0;
        for (int m = 0; m < HBEAT__GRPC_METHODS; m++) {
            if (strcmp(path, hbeat__grpc_method_path((hbeat__grpc_method)m)) == 0) {
                assert_ptr_equal(svc->methods[i].output,
                                 hbeat__grpc_method_reply((hbeat__grpc_method)m));
                found = 1;
            }
        }
        assert_true(found);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),         cmocka_unit_test(test_options),
        cmocka_unit_test(test_statuses),     cmocka_unit_test(test_reply_messages),
        cmocka_unit_test(test_method_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
