/*
 * The gateway conformance suite over TLS, against a real hbeatd started
 * with --tls-cert/--tls-key: nng+tls+tcp://, https:// and (with gRPC)
 * grpcs://, the client
 * verifying the server's certificate against the test CA (ca_file), never
 * with `insecure`. The certificates are made at test time by the security
 * tests' helpers (tests/integration/security/sec_support.h).
 *
 * Before the suite, a check that the client really verifies: the same
 * URLs with another CA's file, or with no CA file (the system's CAs, which
 * never signed the test certificate), are refused with HBEAT_ETLS, so a
 * suite that passes did run over a verified TLS connection.
 *
 * Skipped (exit 77, with the reason on stdout) only when there is no
 * openssl binary to make the certificates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "integration/security/sec_support.h"
#include "targets.h"

static sec_certs certs;
static char ca_file[600], other_ca_file[600];
static char nng_url[300], https_url[300], grpcs_url[300];

/* One admin call over `url` with `ca` (NULL: the system's CAs) must fail
   the handshake. */
static void expect_refused(const char *url, const char *ca)
{
    sec_tls tls = {.ca_file = ca};
    hbeat_gateway *gw = sec_open(url, NULL, &tls, 5.0);
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_create(gw, 7, "G", &run, &err);
    hbeat_gateway_free(gw);
    if (rc != HBEAT_ETLS)
        fail_msg("%s with CA %s: expected HBEAT_ETLS, got %s: %s", url, ca ? ca : "(system)",
                 hbeat_strerror(rc), err.message);
    print_message("  %s, CA %s: %s\n", url, ca ? "of another CA" : "(system)", err.message);
}

static void test_the_client_verifies_the_server(void **state)
{
    (void)state;
#ifdef HBEAT_WITH_GRPC
    const char *urls[] = {nng_url, https_url, grpcs_url};
#else
    const char *urls[] = {nng_url, https_url};
#endif
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        expect_refused(urls[i], other_ca_file);
        expect_refused(urls[i], NULL);
    }
}

int main(void)
{
    int rc = sec_certs_for_main(&certs);
    if (rc != 0)
        return rc;
    snprintf(ca_file, sizeof ca_file, "%s/%s", certs.dir, SEC_CA);
    snprintf(other_ca_file, sizeof other_ca_file, "%s/%s", certs.dir, SEC_CA2);

    /* No reaping while the suite runs: its runs beat when the tests say. */
    static const char *const args[] = {"--reap-interval", "3600", "--reap-grace", "100000", NULL};
    hbd_harness h;
    if (sec_start_tls_hbeatd(&h, &certs, args, nng_url, sizeof nng_url, https_url,
                             sizeof https_url) != 0) {
        hbd_harness_cleanup(&h);
        sec_certs_remove(&certs);
        return 1;
    }
    snprintf(grpcs_url, sizeof grpcs_url, "%s", h.grpc_url);
    int failed = 0;
    const struct CMUnitTest verify[] = {
        cmocka_unit_test(test_the_client_verifies_the_server),
    };
    failed += cmocka_run_group_tests_name("hbeatd tls: the client verifies", verify, NULL, NULL);

    conf_url_ctx nng = {.ca_file = ca_file}, https = {.ca_file = ca_file};
    snprintf(nng.url, sizeof nng.url, "%s", nng_url);
    snprintf(https.url, sizeof https.url, "%s", https_url);
    hbeat_conformance_target t_nng = conf_url_target("hbeatd nng+tls+tcp", &nng);
    hbeat_conformance_target t_https = conf_url_target("hbeatd https", &https);
    failed += hbeat_conformance_run(&t_nng);
    failed += hbeat_conformance_run(&t_https);
#ifdef HBEAT_WITH_GRPC
    conf_url_ctx grpcs = {.ca_file = ca_file};
    snprintf(grpcs.url, sizeof grpcs.url, "%s", grpcs_url);
    hbeat_conformance_target t_grpcs = conf_url_target("hbeatd grpcs", &grpcs);
    failed += hbeat_conformance_run(&t_grpcs);
#endif

    int status = hbd_harness_stop(&h);
    if (status != 0) {
        fprintf(stderr, "hbeatd did not stop cleanly: %d\n", status);
        failed++;
    }
    hbd_harness_cleanup(&h);
    sec_certs_remove(&certs);
    return failed != 0;
}
