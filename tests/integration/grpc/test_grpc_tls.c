/*
 * grpcs:// against the independent gRPC server with TLS, using the test
 * certificates of tests/integration/security: verification on by default,
 * the CA, client certificate and key options, `insecure`, and HBEAT_ETLS
 * with gRPC's reason when the handshake fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "grpc_peer.h"
#include "hbeat/hbeat.h"
#include "integration/security/sec_support.h"

static sec_certs certs;

/* One admin call through a gateway opened with these TLS files. */
static int call_with(const char *url, const char *ca, const char *cert, const char *key,
                     int insecure, hbeat_error *err)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 5.0;
    o.ca_file = ca;
    o.cert_file = cert;
    o.key_file = key;
    o.insecure = insecure;
    hbeat_gateway *gw;
    int rc = hbeat_gateway_open(&gw, url, &o, err);
    if (rc != 0) {
        return rc;
    }
    hbeat_run_info run;
    rc = hbeat_run_create(gw, 3, NULL, &run, err);
    hbeat_gateway_free(gw);
    return rc;
}

static int start_tls(grpc_peer *p, const char *crt, const char *key, const char *client_ca)
{
    const char *args[] = {"--cert",
                          sec_cert(&certs, crt, 0),
                          "--key",
                          sec_cert(&certs, key, 1),
                          client_ca != NULL ? "--client-ca" : NULL,
                          client_ca != NULL ? sec_cert(&certs, client_ca, 2) : NULL,
                          NULL};
    return grpc_peer_start(p, args);
}

static void expect_tls_failure(const char *url, const char *ca, const char *cert, const char *key)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = call_with(url, ca, cert, key, 0, &err);
    print_message("%d: %s\n", rc, err.message);
    assert_int_equal(rc, HBEAT_ETLS);
}

static void test_verified_by_default(void **state)
{
    (void)state;
    grpc_peer p;
    assert_int_equal(start_tls(&p, SEC_SERVER_CRT, SEC_SERVER_KEY, NULL), 0);
    assert_non_null(strstr(p.url, "grpcs://"));
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(call_with(p.url, sec_cert(&certs, SEC_CA, 0), NULL, NULL, 0, &err), 0);
    /* Not signed by a CA the client trusts: gRPC's default roots, or
       another CA. */
    expect_tls_failure(p.url, NULL, NULL, NULL);
    expect_tls_failure(p.url, sec_cert(&certs, SEC_CA2, 0), NULL, NULL);
    hbeat_error why = HBEAT_ERROR_INIT;
    call_with(p.url, sec_cert(&certs, SEC_CA2, 0), NULL, NULL, 0, &why);
    assert_non_null(strstr(why.message, "certificate verify failed"));
    /* `insecure` skips the verification, and only then does it connect. */
    assert_int_equal(call_with(p.url, NULL, NULL, NULL, 1, &err), 0);
    grpc_peer_cleanup(&p);
}

static void test_wrong_host_and_expired(void **state)
{
    (void)state;
    grpc_peer p;
    assert_int_equal(start_tls(&p, SEC_OTHERHOST_CRT, SEC_OTHERHOST_KEY, NULL), 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(call_with(p.url, sec_cert(&certs, SEC_CA, 0), NULL, NULL, 0, &err),
                     HBEAT_ETLS);
    assert_non_null(strstr(err.message, "not in peer certificate"));
    grpc_peer_cleanup(&p);
    assert_int_equal(start_tls(&p, SEC_EXPIRED_CRT, SEC_SERVER_KEY, NULL), 0);
    expect_tls_failure(p.url, sec_cert(&certs, SEC_CA, 0), NULL, NULL);
    grpc_peer_cleanup(&p);
}

static void test_mutual_tls(void **state)
{
    (void)state;
    grpc_peer p;
    assert_int_equal(start_tls(&p, SEC_SERVER_CRT, SEC_SERVER_KEY, SEC_CA), 0);
    const char *ca = sec_cert(&certs, SEC_CA, 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(call_with(p.url, ca, sec_cert(&certs, SEC_CLIENT_CRT, 1),
                               sec_cert(&certs, SEC_CLIENT_KEY, 2), 0, &err),
                     0);
    /* Without a client certificate, or with one the server does not
       trust, the server ends the handshake. */
    int rc = call_with(p.url, ca, NULL, NULL, 0, &err);
    print_message("no client certificate: %d: %s\n", rc, err.message);
    assert_true(rc == HBEAT_ETLS || rc == HBEAT_ETRANSPORT);
    rc = call_with(p.url, ca, sec_cert(&certs, SEC_CLIENT_CA2_CRT, 1),
                   sec_cert(&certs, SEC_CLIENT_KEY, 2), 0, &err);
    print_message("client certificate of another CA: %d: %s\n", rc, err.message);
    assert_true(rc == HBEAT_ETLS || rc == HBEAT_ETRANSPORT);
    grpc_peer_cleanup(&p);
}

static void test_files_checked_at_open(void **state)
{
    (void)state;
    hbeat_gateway *gw;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(hbeat_gateway_open(&gw, "grpcs://127.0.0.1:1", &o, &err), HBEAT_ETLS);
    assert_non_null(strstr(err.message, "ca_file"));
    /* A file that is there but holds no certificate. */
    o.ca_file = sec_cert(&certs, SEC_CA, 0);
    o.cert_file = "/etc/hostname";
    o.key_file = sec_cert(&certs, SEC_CLIENT_KEY, 1);
    assert_int_equal(hbeat_gateway_open(&gw, "grpcs://127.0.0.1:1", &o, &err), HBEAT_ETLS);
    assert_non_null(strstr(err.message, "no PEM block"));
    o.key_file = NULL;
    o.ca_file = NULL;
    o.ca_file = NULL;
    o.cert_file = sec_cert(&certs, SEC_CLIENT_CRT, 0);
    assert_int_equal(hbeat_gateway_open(&gw, "grpcs://127.0.0.1:1", &o, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "go together"));
    /* Plain grpc:// has no TLS to configure. */
    o.cert_file = NULL;
    o.ca_file = sec_cert(&certs, SEC_CA, 0);
    assert_int_equal(hbeat_gateway_open(&gw, "grpc://127.0.0.1:1", &o, &err), HBEAT_EINVAL);
}

int main(void)
{
    int rc = sec_certs_for_main(&certs);
    if (rc != 0) {
        return rc;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verified_by_default),
        cmocka_unit_test(test_wrong_host_and_expired),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_files_checked_at_open),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    sec_certs_remove(&certs);
    return rc;
}
