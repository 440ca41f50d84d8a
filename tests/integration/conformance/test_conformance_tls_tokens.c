/*
 * TLS and tokens together, against one real hbeatd started with
 * --tls-cert/--tls-key AND --token-file (the security tests try each on
 * its own): the gateway conformance suite over nng+tls+tcp://, https:// and
 * (with gRPC) grpcs://
 * with a client token, the client verifying the server against the test
 * CA, an operator's token making and changing the runs; then, over the
 * same TLS listeners:
 *
 *   - no token, a wrong token, or a near miss of the client's is refused
 *     every call with HBEAT_EAUTH, and changes no run;
 *   - the client token is refused every admin call with HBEAT_EFORBIDDEN,
 *     and changes no run, while its beats are served;
 *   - a right token does not get past a certificate that fails
 *     verification (HBEAT_ETLS, not a reply from the server);
 *   - no token, right or wrong, reaches hbeatd's log.
 *
 * Certificates come from tests/integration/security/sec_support.h. Skipped
 * (exit 77, with the reason) only when there is no openssl binary.
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

#define TIMEOUT 5.0

static const char CLIENT[] = "tls-client-token-0123456789abcdef";
static const char OPERATOR[] = "tls-operator-token-0123456789abcdef";
static const char WRONG[] = "tls-wrong-token-0123456789abcdef";
static const char NEAR_MISS[] = "tls-client-token-0123456789abcdeX";

static sec_certs certs;
static hbd_harness h;
static char ca_file[600], other_ca_file[600];
static char nng_url[300], https_url[300];
/* Every TLS listener: nng+tls+tcp://, https:// and, with gRPC, grpcs://. */
static const char *urls[3];
static size_t nurls;
static int64_t run_id; /* a run in R, made by the operator */

static hbeat_gateway *open_as(const char *url, const char *token)
{
    sec_tls tls = {.ca_file = ca_file};
    return sec_open(url, token, &tls, TIMEOUT);
}

/* Every run as the operator sees it: id, status, deadline, beats. */
typedef struct snapshot {
    hbeat_run_info *runs;
    size_t n;
} snapshot;

static void take(snapshot *s)
{
    hbeat_gateway *op = open_as(nng_url, OPERATOR);
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_run_list(op, NULL, &s->runs, &s->n, &err) != 0)
        fail_msg("list as operator: %s", err.message);
    hbeat_gateway_free(op);
}

static void assert_same_and_release(snapshot *a, snapshot *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->runs[i].workflow_run_id, b->runs[i].workflow_run_id);
        assert_string_equal(a->runs[i].status, b->runs[i].status);
        assert_true(a->runs[i].deadline == b->runs[i].deadline);
        assert_int_equal(a->runs[i].beats, b->runs[i].beats);
    }
    hbeat_run_list_free(a->runs);
    hbeat_run_list_free(b->runs);
}

/* Every call in [first, last] over `url` with `token` fails with `code`. */
static void expect_calls(const char *url, const char *token, int first, int last, int code)
{
    hbeat_gateway *gw = open_as(url, token);
    for (int c = first; c <= last; c++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = sec_call(gw, c, run_id, &err);
        if (rc != code)
            fail_msg("%s over %s with token %s: expected %s, got %s: %s", sec_call_names[c], url,
                     token != NULL ? token : "(none)", hbeat_strerror(code), hbeat_strerror(rc),
                     err.message);
        if (token != NULL && strstr(err.message, token) != NULL)
            fail_msg("%s over %s: the error message echoes the token: %s", sec_call_names[c], url,
                     err.message);
    }
    hbeat_gateway_free(gw);
}

static void test_missing_or_wrong_token_is_refused_over_tls(void **state)
{
    (void)state;
    snapshot before, after;
    take(&before);
    const char *tokens[] = {NULL, WRONG, NEAR_MISS};
    for (size_t u = 0; u < nurls; u++) {
        for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
            expect_calls(urls[u], tokens[t], C_BEAT, C_SET, HBEAT_EAUTH);
    }
    take(&after);
    assert_same_and_release(&before, &after);
}

static void test_client_token_is_forbidden_admin_calls_over_tls(void **state)
{
    (void)state;
    snapshot before, after;
    take(&before);
    for (size_t u = 0; u < nurls; u++)
        expect_calls(urls[u], CLIENT, C_CREATE, C_SET, HBEAT_EFORBIDDEN);
    take(&after);
    assert_same_and_release(&before, &after);

    /* What a client may do, it can, over each. */
    take(&before);
    for (size_t u = 0; u < nurls; u++)
        expect_calls(urls[u], CLIENT, C_BEAT, C_BEAT, 0);
    take(&after);
    assert_int_equal(after.n, before.n);
    for (size_t i = 0; i < after.n; i++) {
        if (after.runs[i].workflow_run_id == run_id)
            assert_int_equal(after.runs[i].beats, before.runs[i].beats + nurls);
    }
    hbeat_run_list_free(before.runs);
    hbeat_run_list_free(after.runs);
}

/* The operator's token with a CA that did not sign the server's
   certificate: the handshake fails before any request. */
static void test_a_token_does_not_pass_a_failed_verification(void **state)
{
    (void)state;
    for (size_t u = 0; u < nurls; u++) {
        sec_tls tls = {.ca_file = other_ca_file};
        hbeat_gateway *gw = sec_open(urls[u], OPERATOR, &tls, TIMEOUT);
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = sec_call(gw, C_LIST, 0, &err);
        hbeat_gateway_free(gw);
        if (rc != HBEAT_ETLS)
            fail_msg("%s with the wrong CA: expected HBEAT_ETLS, got %s: %s", urls[u],
                     hbeat_strerror(rc), err.message);
    }
}

static void test_no_token_reaches_the_log(void **state)
{
    (void)state;
    const char *all[] = {CLIENT, OPERATOR, WRONG, NEAR_MISS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (sec_log_contains(&h, all[i]))
            fail_msg("hbeatd's log holds a token: %s", all[i]);
    }
    assert_true(sec_log_contains(&h, "refused: a valid token is required"));
}

/* A run in R with a long deadline, made by the operator. */
static int make_run(void)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.ca_file = ca_file;
    o.token = OPERATOR;
    o.request_timeout = TIMEOUT;
    hbeat_gateway *op = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    char status[HBEAT_STATUS_MAX + 1];
    int rc = hbeat_gateway_open(&op, nng_url, &o, &err);
    if (rc == 0)
        rc = hbeat_run_create(op, 11, "R", &run, &err);
    if (rc == 0)
        rc = hbeat_gateway_log_heartbeat(op, run.workflow_run_id, "R", 3600.0, status, &err);
    hbeat_gateway_free(op);
    if (rc != 0) {
        fprintf(stderr, "make a run as the operator over %s: %s\n", nng_url, err.message);
        return -1;
    }
    run_id = run.workflow_run_id;
    return 0;
}

int main(void)
{
    int rc = sec_certs_for_main(&certs);
    if (rc != 0)
        return rc;
    snprintf(ca_file, sizeof ca_file, "%s/%s", certs.dir, SEC_CA);
    snprintf(other_ca_file, sizeof other_ca_file, "%s/%s", certs.dir, SEC_CA2);
    char tokens[600], text[256];
    snprintf(tokens, sizeof tokens, "%s/tokens", certs.dir);
    snprintf(text, sizeof text, "client %s\noperator %s\n", CLIENT, OPERATOR);
    if (sec_write_file(tokens, text) != 0) {
        fprintf(stderr, "cannot write %s\n", tokens);
        sec_certs_remove(&certs);
        return 1;
    }

    /* No reaping while the suite runs: its runs beat when the tests say. */
    const char *args[] = {"--token-file", tokens, "--reap-interval", "3600", "--reap-grace",
                          "100000",       NULL};
    if (sec_start_tls_hbeatd(&h, &certs, args, nng_url, sizeof nng_url, https_url,
                             sizeof https_url) != 0 ||
        make_run() != 0) {
        hbd_harness_stop(&h);
        hbd_harness_cleanup(&h);
        sec_certs_remove(&certs);
        return 1;
    }

    int failed = 0;
    conf_url_ctx nng = {.ca_file = ca_file, .token = CLIENT, .admin_token = OPERATOR};
    conf_url_ctx https = {.ca_file = ca_file, .token = CLIENT, .admin_token = OPERATOR};
    snprintf(nng.url, sizeof nng.url, "%s", nng_url);
    snprintf(https.url, sizeof https.url, "%s", https_url);
    hbeat_conformance_target t_nng = conf_url_target("hbeatd nng+tls+tcp, client token", &nng);
    hbeat_conformance_target t_https = conf_url_target("hbeatd https, client token", &https);
    failed += hbeat_conformance_run(&t_nng);
    failed += hbeat_conformance_run(&t_https);
    urls[nurls++] = nng_url;
    urls[nurls++] = https_url;
#ifdef HBEAT_WITH_GRPC
    conf_url_ctx grpcs = {.ca_file = ca_file, .token = CLIENT, .admin_token = OPERATOR};
    snprintf(grpcs.url, sizeof grpcs.url, "%s", h.grpc_url);
    hbeat_conformance_target t_grpcs = conf_url_target("hbeatd grpcs, client token", &grpcs);
    failed += hbeat_conformance_run(&t_grpcs);
    urls[nurls++] = h.grpc_url;
#endif

    const struct CMUnitTest refusals[] = {
        cmocka_unit_test(test_missing_or_wrong_token_is_refused_over_tls),
        cmocka_unit_test(test_client_token_is_forbidden_admin_calls_over_tls),
        cmocka_unit_test(test_a_token_does_not_pass_a_failed_verification),
        cmocka_unit_test(test_no_token_reaches_the_log),
    };
    failed += cmocka_run_group_tests_name("hbeatd tls+tokens: refusals", refusals, NULL, NULL);

    int status = hbd_harness_stop(&h);
    if (status != 0) {
        fprintf(stderr, "hbeatd did not stop cleanly: %d\n", status);
        failed++;
    }
    hbd_harness_cleanup(&h);
    sec_certs_remove(&certs);
    return failed != 0;
}
