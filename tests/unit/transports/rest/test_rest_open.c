/* Opening a REST gateway: every bad URL or option is a clear error at
   open, never a surprise at the first beat. Nothing here connects. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/builtins.h"
#include "hbeat/hbeat.h"
#include "support/rest_peer.h"

static int open_url(const char *url, const hbeat_gateway_options *o, hbeat_error *err)
{
    hbeat_gateway *gw = NULL;
    hbeat_error_clear(err);
    int rc = hbeat_gateway_open(&gw, url, o, err);
    hbeat_gateway_free(gw);
    if (rc != 0)
        assert_null(gw);
    return rc;
}

static void test_good_urls(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "http://127.0.0.1:7780/api/v3",
        "http://127.0.0.1:7780/api/v3/",
        "http://localhost",
        "https://jobmon.example.org/api/v3",
        "HTTPS://Jobmon.Example.org:8443/api/v3//",
        "http://[::1]:7780/api/v3",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        if (open_url(urls[i], NULL, &err) != 0)
            fail_msg("%s: %s", urls[i], err.message);
    }
}

static void test_bad_urls(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *says;
    } cases[] = {
        {"http://", "host"},
        {"http:///api/v3", "host"},
        {"http://h/api/v3?x=1", "query"},
        {"http://h/api/v3?", "query"},
        {"http://h/api/v3#frag", "fragment"},
        {"http://user:pw@h/api/v3", "credentials"},
        {"http://user@h/api/v3", "credentials"},
        {"http://h /api/v3", "space"},
        {"http://h/api/v3\n", "control"},
        {"http://h:99999/api/v3", "malformed"},
        {"http://[::1/api/v3", "malformed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = open_url(cases[i].url, NULL, &err);
        if (rc != HBEAT_EINVAL || strstr(err.message, cases[i].says) == NULL)
            fail_msg("'%s': rc %d, message '%s'", cases[i].url, rc, err.message);
    }
}

/* The registry only sends http and https here; the entry point still
   checks for itself. */
static void test_entry_point_checks_scheme(void **state)
{
    (void)state;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat__rest_open(&gw, "ftp://h/x", &o, NULL, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "http://"));
    assert_int_equal(hbeat__rest_open(&gw, NULL, &o, NULL, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat__rest_open(&gw, "httpx://h/x", &o, NULL, &err), HBEAT_EINVAL);
    char long_url[4096];
    memset(long_url, 'a', sizeof(long_url) - 1);
    long_url[sizeof(long_url) - 1] = '\0';
    memcpy(long_url, "http://h/", 9);
    assert_int_equal(hbeat__rest_open(&gw, long_url, &o, NULL, &err), HBEAT_EINVAL);
    assert_null(gw);
}

static void expect_option_error(const hbeat_gateway_options *o, int code, const char *says)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = open_url("http://127.0.0.1:1/api/v3", o, &err);
    if (rc != code || strstr(err.message, says) == NULL)
        fail_msg("expected %d '%s', got %d '%s'", code, says, rc, err.message);
}

static void test_bad_options(void **state)
{
    (void)state;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.connect_timeout = -1;
    expect_option_error(&o, HBEAT_EINVAL, "connect_timeout");
    o.connect_timeout = NAN;
    expect_option_error(&o, HBEAT_EINVAL, "connect_timeout");
    o.connect_timeout = 0;
    o.request_timeout = INFINITY;
    expect_option_error(&o, HBEAT_EINVAL, "request_timeout");

    hbeat_gateway_options k = HBEAT_GATEWAY_OPTIONS_INIT;
    k.key_file = "/etc/hostname";
    expect_option_error(&k, HBEAT_EINVAL, "cert_file");
    hbeat_gateway_options c = HBEAT_GATEWAY_OPTIONS_INIT;
    c.ca_file = "/nonexistent/ca.pem";
    expect_option_error(&c, HBEAT_ETLS, "ca_file");
    c.ca_file = NULL;
    c.cert_file = "/nonexistent/cert.pem";
    expect_option_error(&c, HBEAT_ETLS, "cert_file");

    static const char *const tokens[] = {"", "a b", "x\r\nEvil: 1", "tab\there"};
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        hbeat_gateway_options t = HBEAT_GATEWAY_OPTIONS_INIT;
        t.token = tokens[i];
        expect_option_error(&t, HBEAT_EINVAL, "token");
    }
    hbeat_gateway_options tf = HBEAT_GATEWAY_OPTIONS_INIT;
    tf.token_file = "/nonexistent/token";
    expect_option_error(&tf, HBEAT_EINVAL, "token_file");
    char path[] = "/tmp/hbeat-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\n\ntoken-on-line-3\n", 18), 18);
    close(fd);
    tf.token_file = path;
    expect_option_error(&tf, HBEAT_EINVAL, "first line");
    unlink(path);

    hbeat_gateway_options ua = HBEAT_GATEWAY_OPTIONS_INIT;
    ua.user_agent = "agent\r\nX-Evil: 1";
    expect_option_error(&ua, HBEAT_EINVAL, "user_agent");

    hbeat_gateway_options v = HBEAT_GATEWAY_OPTIONS_INIT;
    v.version = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(open_url("http://127.0.0.1:1/api/v3", &v, &err), HBEAT_EVERSION);
}

static void test_tiny_timeouts_are_not_infinite(void **state)
{
    (void)state;
    /* 1 microsecond must not round to curl's 0 ("no limit"); the open
       succeeds and a beat fails fast instead of hanging. */
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 1e-6;
    o.connect_timeout = 1e-6;
    /* A listener that never accepts: the kernel completes the connection,
       nobody answers. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 8), 0);
    socklen_t len = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &len);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v3", (unsigned)ntohs(a.sin_port));
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_open(&gw, url, &o, &err), 0);
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 30, out, &err), HBEAT_ETIMEDOUT);
    hbeat_gateway_free(gw);
    close(lfd);
}

static void test_transport_name_and_free_null(void **state)
{
    (void)state;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_open(&gw, "http://127.0.0.1:1/api/v3", NULL, &err), 0);
    assert_string_equal(hbeat_gateway_transport(gw), "rest");
    hbeat_gateway_free(gw);
    assert_int_equal(hbeat_transport_lookup("http"), 0);
    assert_int_equal(hbeat_transport_lookup("HTTPS"), 0);
}

int main(void)
{
    peer_no_proxy();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_urls),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_entry_point_checks_scheme),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_tiny_timeouts_are_not_infinite),
        cmocka_unit_test(test_transport_name_and_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
