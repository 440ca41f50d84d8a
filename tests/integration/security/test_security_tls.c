/*
 * TLS against the real hbeatd, over both protocols (REST over https, nng
 * over tls+tcp://), with certificates made by the openssl command line at
 * test time: a good certificate, a wrong CA, an expired certificate, a
 * host name mismatch, `insecure`, and mutual TLS (required and missing, a
 * client certificate from the wrong CA, an expired one, a good one).
 *
 * Every failure must be HBEAT_ETLS with a message that names the problem.
 * Skipped, with the reason, only when there is no openssl binary.
 */
#define _GNU_SOURCE /* strcasestr */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "integration/security/sec_support.h"

#define TIMEOUT 5.0

static sec_certs certs;
static int no_openssl;

static int group_setup(void **state)
{
    (void)state;
    if (!sec_have_openssl()) {
        no_openssl = 1;
        return 0;
    }
    if (sec_certs_make(&certs) != 0) {
        fprintf(stderr, "cannot make test certificates: %s\n", certs.why);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sec_certs_remove(&certs);
    return 0;
}

static void need_openssl(void)
{
    if (no_openssl) {
        fprintf(stderr, "SKIPPED: no openssl binary on PATH to make test certificates\n");
        skip();
    }
}

typedef struct server {
    hbd_harness h;
    char nng_url[300];
    char rest_url[300];
    char grpc_url[300]; /* "" when hbeatd has no gRPC front end */
} server;

/* hbeatd with certificate `crt`/`key`, on tls+tcp:// and https;
   `client_ca` (NULL: none) turns on mutual TLS. */
static void start(server *s, const char *crt, const char *key, const char *client_ca)
{
    const char *args[16];
    int n = 0;
    args[n++] = "--listen";
    args[n++] = "tls+tcp://127.0.0.1:0";
    args[n++] = "--tls-cert";
    args[n++] = sec_cert(&certs, crt, 0);
    args[n++] = "--tls-key";
    args[n++] = sec_cert(&certs, key, 1);
    if (client_ca != NULL) {
        args[n++] = "--tls-client-ca";
        args[n++] = sec_cert(&certs, client_ca, 2);
    }
    args[n] = NULL;
    assert_int_equal(hbd_harness_start(&s->h, args), 0);
    assert_int_equal(sec_ready_url(&s->h, "nng tls+tcp://", s->nng_url, sizeof s->nng_url), 0);
    assert_int_equal(sec_ready_url(&s->h, "http https://", s->rest_url, sizeof s->rest_url), 0);
    snprintf(s->grpc_url, sizeof s->grpc_url, "%s", s->h.grpc_url);
}

static void stop(server *s)
{
    assert_int_equal(hbd_harness_stop(&s->h), 0);
    hbd_harness_cleanup(&s->h);
}

/* The client's side of one case. NULL file names are left out. */
typedef struct client {
    const char *ca, *cert, *key;
    int insecure;
} client;

static int contains_any(const char *text, const char *const *words)
{
    for (; *words != NULL; words++) {
        if (strcasestr(text, *words) != NULL)
            return 1;
    }
    return 0;
}

/* Creates a run over `url` as `c`: expects success when `words` is NULL,
   else HBEAT_ETLS with one of `words` in the message. */
static void expect(const char *url, const client *c, const char *const *words)
{
    sec_tls tls = {c->ca != NULL ? sec_cert(&certs, c->ca, 3) : NULL,
                   c->cert != NULL ? sec_cert(&certs, c->cert, 4) : NULL,
                   c->key != NULL ? sec_cert(&certs, c->key, 5) : NULL, c->insecure};
    hbeat_gateway *gw = sec_open(url, NULL, &tls, TIMEOUT);
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_create(gw, 7, "R", &run, &err);
    if (words == NULL) {
        if (rc != 0)
            fail_msg("%s: expected success, got %s: %s", url, hbeat_strerror(rc), err.message);
        char status[HBEAT_STATUS_MAX + 1];
        assert_int_equal(
            hbeat_gateway_log_heartbeat(gw, run.workflow_run_id, "R", 30.0, status, &err), 0);
        assert_string_equal(status, "R");
    } else {
        if (rc != HBEAT_ETLS)
            fail_msg("%s: expected HBEAT_ETLS, got %s: %s", url, hbeat_strerror(rc), err.message);
        if (!contains_any(err.message, words))
            fail_msg("%s: the message does not say why (wanted \"%s\"...): %s", url, words[0],
                     err.message);
        print_message("  %s: %s\n", url, err.message);
        /* A second call fails the same way (no stale state). */
        hbeat_error again = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_run_create(gw, 7, "R", &run, &again), HBEAT_ETLS);
    }
    hbeat_gateway_free(gw);
}

/* Every protocol, the same case. */
static void expect_both(const server *s, const client *c, const char *const *words)
{
    expect(s->nng_url, c, words);
    expect(s->rest_url, c, words);
    if (s->grpc_url[0] != '\0')
        expect(s->grpc_url, c, words);
}

/* A client certificate hbeatd refuses, over gRPC: gRPC's library sees
   only the server closing the connection in the handshake, so the call
   fails as a transport failure, twice the same, and creates nothing. */
static void expect_grpc_refused(const server *s, const client *c)
{
    if (s->grpc_url[0] == '\0')
        return;
    sec_tls tls = {sec_cert(&certs, c->ca, 3),
                   c->cert != NULL ? sec_cert(&certs, c->cert, 4) : NULL,
                   c->key != NULL ? sec_cert(&certs, c->key, 5) : NULL, 0};
    hbeat_gateway *gw = sec_open(s->grpc_url, NULL, &tls, TIMEOUT);
    for (int i = 0; i < 2; i++) {
        hbeat_run_info run;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_run_create(gw, 7, "R", &run, &err);
        if (rc != HBEAT_ETRANSPORT && rc != HBEAT_ETLS)
            fail_msg("%s: expected a refused connection, got %s: %s", s->grpc_url,
                     hbeat_strerror(rc), err.message);
        if (i == 0)
            print_message("  %s: %s\n", s->grpc_url, err.message);
    }
    hbeat_gateway_free(gw);
}

static void test_good_certificate(void **state)
{
    (void)state;
    need_openssl();
    server s;
    start(&s, SEC_SERVER_CRT, SEC_SERVER_KEY, NULL);
    client c = {SEC_CA, NULL, NULL, 0};
    expect_both(&s, &c, NULL);
    /* The server's name as a host name works as well as its address. */
    char url[300];
    snprintf(url, sizeof url, "nng+tls+tcp://localhost:%d", sec_ready_port(&s.h, "nng tls+tcp://"));
    expect(url, &c, NULL);
    snprintf(url, sizeof url, "https://localhost:%d/api/v3", sec_ready_port(&s.h, "http https://"));
    expect(url, &c, NULL);
    /* The plain protocols cannot reach the TLS listeners' runs in clear:
       a plain http client to the https port fails. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v3", sec_ready_port(&s.h, "http https://"));
    hbeat_gateway *gw = sec_open(url, NULL, NULL, TIMEOUT);
    hbeat_run_info run;
    assert_int_not_equal(hbeat_run_create(gw, 7, "R", &run, NULL), 0);
    hbeat_gateway_free(gw);
    stop(&s);
}

static void test_wrong_ca(void **state)
{
    (void)state;
    need_openssl();
    server s;
    start(&s, SEC_SERVER_CRT, SEC_SERVER_KEY, NULL);
    client c = {SEC_CA2, NULL, NULL, 0};
    /* gRPC's library says only that verification failed. */
    static const char *const words[] = {"not signed by a CA", "local issuer",
                                        "certificate verify failed", NULL};
    expect_both(&s, &c, words);
    stop(&s);
}

static void test_expired_certificate(void **state)
{
    (void)state;
    need_openssl();
    server s;
    start(&s, SEC_EXPIRED_CRT, SEC_SERVER_KEY, NULL);
    client c = {SEC_CA, NULL, NULL, 0};
    static const char *const words[] = {"expired", "certificate verify failed", NULL};
    expect_both(&s, &c, words);
    /* insecure: no verification, so the same server is reachable. */
    client careless = {NULL, NULL, NULL, 1};
    expect_both(&s, &careless, NULL);
    stop(&s);
}

static void test_host_name_mismatch(void **state)
{
    (void)state;
    need_openssl();
    server s;
    start(&s, SEC_OTHERHOST_CRT, SEC_OTHERHOST_KEY, NULL);
    client c = {SEC_CA, NULL, NULL, 0};
    static const char *const words[] = {"not issued for \"127.0.0.1\"", "subject name",
                                        "is not in peer certificate", NULL};
    expect_both(&s, &c, words);
    stop(&s);
}

static void test_mutual_tls(void **state)
{
    (void)state;
    need_openssl();
    server s;
    start(&s, SEC_SERVER_CRT, SEC_SERVER_KEY, SEC_CA);

    client none = {SEC_CA, NULL, NULL, 0};
    static const char *const missing[] = {"client certificate", "handshake failure", NULL};
    expect(s.nng_url, &none, missing);
    expect(s.rest_url, &none, missing);
    expect_grpc_refused(&s, &none);

    client wrong_ca = {SEC_CA, SEC_CLIENT_CA2_CRT, SEC_CLIENT_KEY, 0};
    static const char *const untrusted[] = {"client certificate", "unknown ca", NULL};
    expect(s.nng_url, &wrong_ca, untrusted);
    expect(s.rest_url, &wrong_ca, untrusted);
    expect_grpc_refused(&s, &wrong_ca);

    client expired = {SEC_CA, SEC_CLIENT_EXPIRED, SEC_CLIENT_KEY, 0};
    static const char *const too_old[] = {"client certificate", "bad certificate", NULL};
    expect(s.nng_url, &expired, too_old);
    expect(s.rest_url, &expired, too_old);
    expect_grpc_refused(&s, &expired);

    client good = {SEC_CA, SEC_CLIENT_CRT, SEC_CLIENT_KEY, 0};
    expect_both(&s, &good, NULL);

    /* hbeatd says why it refused (REST; nng does not tell). */
    assert_true(sec_log_contains(&s.h, "rest: refused a TLS client: no client certificate"));
    stop(&s);
}

/* Bad TLS files are refused at start, naming the flag. */
static void test_bad_server_files(void **state)
{
    (void)state;
    need_openssl();
    hbd_harness h;
    const char *missing[] = {"--tls-cert", "/nonexistent/cert.pem", "--tls-key",
                             sec_cert(&certs, SEC_SERVER_KEY, 0), NULL};
    assert_int_equal(hbd_harness_start(&h, missing), -1);
    assert_true(sec_log_contains(&h, "--tls-cert /nonexistent/cert.pem"));
    hbd_harness_cleanup(&h);
    const char *swapped[] = {"--tls-cert", sec_cert(&certs, SEC_SERVER_KEY, 0), "--tls-key",
                             sec_cert(&certs, SEC_SERVER_CRT, 1), NULL};
    assert_int_equal(hbd_harness_start(&h, swapped), -1);
    assert_true(sec_log_contains(&h, "holds no certificate"));
    hbd_harness_cleanup(&h);
    const char *no_cert[] = {"--listen", "tls+tcp://127.0.0.1:0", NULL};
    assert_int_equal(hbd_harness_start(&h, no_cert), -1);
    assert_true(sec_log_contains(&h, "needs --tls-cert and --tls-key"));
    hbd_harness_cleanup(&h);
}

/* The client checks its own files when the gateway opens. */
static void test_bad_client_files(void **state)
{
    (void)state;
    need_openssl();
    const char *urls[] = {"nng+tls+tcp://127.0.0.1:1", "https://127.0.0.1:1/api/v3"};
    for (int i = 0; i < 2; i++) {
        hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
        o.ca_file = "/nonexistent/ca.pem";
        hbeat_gateway *gw = NULL;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_gateway_open(&gw, urls[i], &o, &err), HBEAT_ETLS);
        assert_non_null(strstr(err.message, "ca_file"));
    }
    /* TLS options on plain nng are refused rather than ignored. */
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.ca_file = sec_cert(&certs, SEC_CA, 0);
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_open(&gw, "nng+tcp://127.0.0.1:1", &o, NULL), HBEAT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_certificate),    cmocka_unit_test(test_wrong_ca),
        cmocka_unit_test(test_expired_certificate), cmocka_unit_test(test_host_name_mismatch),
        cmocka_unit_test(test_mutual_tls),          cmocka_unit_test(test_bad_server_files),
        cmocka_unit_test(test_bad_client_files),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
