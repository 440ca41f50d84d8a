/* https:// against a TLS peer of ours on 127.0.0.1, with certificates made
   at run time (OpenSSL): verification on by default, ca_file, insecure,
   a host name mismatch, and client certificates. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hbeat/hbeat.h"
#include "support/rest_peer.h"

/* Certificates ------------------------------------------------------------ */

typedef struct pem_pair {
    char cert[64];
    char key[64];
} pem_pair;

static void make_cert(const char *san, pem_pair *out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"hbeat-test", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);

    snprintf(out->cert, sizeof(out->cert), "/tmp/hbeat-tls-cert-XXXXXX");
    snprintf(out->key, sizeof(out->key), "/tmp/hbeat-tls-key-XXXXXX");
    FILE *f = fdopen(mkstemp(out->cert), "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fdopen(mkstemp(out->key), "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void remove_pair(pem_pair *p)
{
    unlink(p->cert);
    unlink(p->key);
}

/* The TLS peer: one connection at a time, Jobmon's success reply to every
   request, keep-alive. ------------------------------------------------------ */

typedef struct tls_peer {
    SSL_CTX *ctx;
    int lfd;
    unsigned short port;
    pthread_t thread;
    pthread_mutex_t mu;
    int cfd;
    int stopping;
    int requests;
    int connections;
    int handshakes;
    int saw_client_cert;
} tls_peer;

static int accept_any(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1;
}

static void serve(tls_peer *p, SSL *ssl)
{
    char buf[8192];
    size_t have = 0;
    buf[0] = '\0';
    for (;;) {
        char *end = NULL;
        while ((end = strstr(buf, "\r\n\r\n")) == NULL || have == 0) {
            int n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
            if (n <= 0)
                return;
            have += (size_t)n;
            buf[have] = '\0';
        }
        size_t head = (size_t)(end - buf) + 4;
        size_t body = 0;
        const char *cl = strstr(buf, "Content-Length: ");
        if (cl != NULL && cl < end)
            body = strtoul(cl + 16, NULL, 10);
        while (have < head + body) {
            int n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
            if (n <= 0)
                return;
            have += (size_t)n;
        }
        memmove(buf, buf + head + body, have - head - body);
        have -= head + body;
        buf[have] = '\0';
        static const char ok[] = "HTTP/1.1 200 OK\r\ncontent-length: 14\r\ncontent-type: "
                                 "application/json\r\n\r\n{\"status\":\"R\"}";
        pthread_mutex_lock(&p->mu);
        p->requests++;
        pthread_mutex_unlock(&p->mu);
        if (SSL_write(ssl, ok, (int)sizeof(ok) - 1) <= 0)
            return;
    }
}

static void *tls_main(void *arg)
{
    tls_peer *p = arg;
    for (;;) {
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0)
            break;
        pthread_mutex_lock(&p->mu);
        p->cfd = fd;
        p->connections++;
        int stop = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (!stop) {
            SSL *ssl = SSL_new(p->ctx);
            SSL_set_fd(ssl, fd);
            if (SSL_accept(ssl) == 1) {
                X509 *peer_cert = SSL_get1_peer_certificate(ssl);
                pthread_mutex_lock(&p->mu);
                p->handshakes++;
                p->saw_client_cert |= peer_cert != NULL;
                pthread_mutex_unlock(&p->mu);
                X509_free(peer_cert);
                serve(p, ssl);
            }
            SSL_free(ssl);
            ERR_clear_error();
        }
        pthread_mutex_lock(&p->mu);
        p->cfd = -1;
        close(fd);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static tls_peer *tls_start(const pem_pair *server, int want_client_cert)
{
    tls_peer *p = calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->cfd = -1;
    p->ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate_file(p->ctx, server->cert, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(p->ctx, server->key, SSL_FILETYPE_PEM), 1);
    if (want_client_cert)
        SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->lfd, 8), 0);
    socklen_t len = sizeof(a);
    getsockname(p->lfd, (struct sockaddr *)&a, &len);
    p->port = ntohs(a.sin_port);
    pthread_create(&p->thread, NULL, tls_main, p);
    return p;
}

static void tls_stop(tls_peer *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    if (p->cfd >= 0)
        shutdown(p->cfd, SHUT_RDWR);
    pthread_mutex_unlock(&p->mu);
    shutdown(p->lfd, SHUT_RDWR);
    pthread_join(p->thread, NULL);
    close(p->lfd);
    SSL_CTX_free(p->ctx);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Tests --------------------------------------------------------------------- */

typedef struct fx {
    pem_pair server;
    pem_pair mismatch;
    pem_pair client;
    char url[64];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    make_cert("IP:127.0.0.1,DNS:localhost", &f->server);
    make_cert("DNS:other.example", &f->mismatch);
    make_cert("DNS:client.example", &f->client);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    remove_pair(&f->server);
    remove_pair(&f->mismatch);
    remove_pair(&f->client);
    free(f);
    return 0;
}

static int beat_with(const tls_peer *p, hbeat_gateway_options *o, int beats, hbeat_error *err)
{
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/api/v3", (unsigned)p->port);
    /* Generous: handshakes under valgrind are slow, and no result here
       depends on a timeout. */
    o->connect_timeout = 60;
    o->request_timeout = 60;
    hbeat_gateway *gw = NULL;
    int rc = hbeat_gateway_open(&gw, url, o, err);
    for (int i = 0; rc == 0 && i < beats; i++) {
        char out[HBEAT_STATUS_MAX + 1];
        hbeat_error_clear(err);
        rc = hbeat_gateway_log_heartbeat(gw, 1, "R", 30, out, err);
    }
    hbeat_gateway_free(gw);
    return rc;
}

static void test_self_signed_is_refused_by_default(void **state)
{
    fx *f = *state;
    tls_peer *p = tls_start(&f->server, 0);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = beat_with(p, &o, 1, &err);
    tls_stop(p);
    if (rc != HBEAT_ETLS)
        fail_msg("rc %d: %s", rc, err.message);
    assert_int_equal(err.native, CURLE_PEER_FAILED_VERIFICATION);
    /* curl's own words on what failed. */
    assert_non_null(strstr(err.message, "certificate"));
}

static void test_ca_file_verifies(void **state)
{
    fx *f = *state;
    tls_peer *p = tls_start(&f->server, 0);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.ca_file = f->server.cert;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = beat_with(p, &o, 3, &err);
    int requests = p->requests;
    int connections = p->connections;
    tls_stop(p);
    if (rc != 0)
        fail_msg("rc %d: %s", rc, err.message);
    assert_int_equal(requests, 3);
    assert_int_equal(connections, 1);
}

static void test_insecure_skips_verification(void **state)
{
    fx *f = *state;
    tls_peer *p = tls_start(&f->mismatch, 0);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.insecure = 1;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = beat_with(p, &o, 1, &err);
    tls_stop(p);
    if (rc != 0)
        fail_msg("rc %d: %s", rc, err.message);
}

static void test_host_name_mismatch(void **state)
{
    fx *f = *state;
    tls_peer *p = tls_start(&f->mismatch, 0);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.ca_file = f->mismatch.cert;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = beat_with(p, &o, 1, &err);
    tls_stop(p);
    if (rc != HBEAT_ETLS)
        fail_msg("rc %d: %s", rc, err.message);
    assert_non_null(strstr(err.message, "127.0.0.1"));
}

static void test_client_certificate(void **state)
{
    fx *f = *state;
    tls_peer *p = tls_start(&f->server, 1);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.ca_file = f->server.cert;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = beat_with(p, &o, 1, &err);
    /* TLS 1.3 refuses a missing client certificate after the client has
       finished its handshake: the client sees the server's alert (ETLS),
       or, if the server's close wins the race, a failed send. */
    if (rc != HBEAT_ETLS && rc != HBEAT_ETRANSPORT)
        fail_msg("without a client certificate: rc %d: %s", rc, err.message);

    o.cert_file = f->client.cert;
    o.key_file = f->client.key;
    rc = beat_with(p, &o, 1, &err);
    int saw = p->saw_client_cert;
    tls_stop(p);
    if (rc != 0)
        fail_msg("with a client certificate: rc %d: %s", rc, err.message);
    assert_true(saw);
}

static void test_key_not_matching_certificate(void **state)
{
    fx *f = *state;
    tls_peer *p = tls_start(&f->server, 1);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.ca_file = f->server.cert;
    o.cert_file = f->client.cert;
    o.key_file = f->server.key;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = beat_with(p, &o, 1, &err);
    tls_stop(p);
    if (rc != HBEAT_ETLS)
        fail_msg("rc %d: %s", rc, err.message);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    peer_no_proxy();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_self_signed_is_refused_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_file_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_skips_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_name_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_not_matching_certificate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
