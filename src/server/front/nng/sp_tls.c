#include "sp_tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

struct hbd_sp_tls_ctx {
    SSL_CTX *ssl;
};

struct hbd_sp_tls {
    SSL *ssl;
    int wants_write;
    char reason[160];
};

static int ctx_fail(SSL_CTX *ssl, hbeat_error *err, const char *what)
{
    char why[160] = "unknown reason";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    SSL_CTX_free(ssl);
    return hbeat_error_set(err, HBEAT_EINVAL, "nng: TLS: %s: %s", what, why);
}

/* The certificate, then the rest of the chain. */
static int load_chain(SSL_CTX *ssl, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int ok = x != NULL && SSL_CTX_use_certificate(ssl, x) == 1;
    X509_free(x);
    while (ok && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ssl, x) != 1) {
            X509_free(x);
            ok = 0;
        }
    }
    BIO_free(bio);
    ERR_clear_error(); /* the end of the PEM stream reads as an error */
    return ok ? 0 : -1;
}

static int load_key(SSL_CTX *ssl, const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    int ok =
        key != NULL && SSL_CTX_use_PrivateKey(ssl, key) == 1 && SSL_CTX_check_private_key(ssl) == 1;
    EVP_PKEY_free(key);
    BIO_free(bio);
    return ok ? 0 : -1;
}

static int load_client_cas(SSL_CTX *ssl, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_STORE *store = SSL_CTX_get_cert_store(ssl);
    int n = 0;
    X509 *x;
    while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x) == 1)
            n++;
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (n == 0)
        return -1;
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

int hbd_sp_tls_ctx_new(hbd_sp_tls_ctx **out, const hbd_tls *tls, hbeat_error *err)
{
    *out = NULL;
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (ssl == NULL)
        return ctx_fail(NULL, err, "cannot make a context");
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ssl, 0);
    if (load_chain(ssl, tls->cert_pem) != 0)
        return ctx_fail(ssl, err, "the certificate does not load");
    if (load_key(ssl, tls->key_pem, tls->key_len) != 0)
        return ctx_fail(ssl, err, "the key does not load or does not match the certificate");
    if (tls->client_ca_pem != NULL && load_client_cas(ssl, tls->client_ca_pem) != 0)
        return ctx_fail(ssl, err, "the client CA file holds no certificate");
    hbd_sp_tls_ctx *ctx = malloc(sizeof *ctx);
    if (ctx == NULL) {
        SSL_CTX_free(ssl);
        return hbeat_error_set(err, HBEAT_ENOMEM, "nng: TLS: out of memory");
    }
    ctx->ssl = ssl;
    *out = ctx;
    return 0;
}

void hbd_sp_tls_ctx_free(hbd_sp_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

hbd_sp_tls *hbd_sp_tls_new(hbd_sp_tls_ctx *ctx, int fd)
{
    hbd_sp_tls *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    if ((t->ssl = SSL_new(ctx->ssl)) == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(t->ssl);
    return t;
}

/* Maps an OpenSSL result to the I/O convention. */
static int io_result(hbd_sp_tls *t, int rc)
{
    int e = SSL_get_error(t->ssl, rc);
    t->wants_write = e == SSL_ERROR_WANT_WRITE;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return HBD_IO_AGAIN;
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    unsigned long code = ERR_get_error();
    if (code != 0)
        ERR_error_string_n(code, t->reason, sizeof t->reason);
    else
        snprintf(t->reason, sizeof t->reason, "%s",
                 e == SSL_ERROR_SYSCALL && errno != 0 ? strerror(errno) : "connection closed");
    ERR_clear_error();
    return HBD_IO_ERROR;
}

int hbd_sp_tls_handshake(hbd_sp_tls *t)
{
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->wants_write = 0;
        return 1;
    }
    rc = io_result(t, rc);
    return rc == 0 ? HBD_IO_ERROR : rc;
}

ssize_t hbd_sp_tls_recv(hbd_sp_tls *t, void *buf, size_t len)
{
    int n = SSL_read(t->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    if (n > 0) {
        t->wants_write = 0;
        return n;
    }
    return io_result(t, n);
}

ssize_t hbd_sp_tls_send(hbd_sp_tls *t, const void *buf, size_t len)
{
    int n = SSL_write(t->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    if (n > 0) {
        t->wants_write = 0;
        return n;
    }
    int rc = io_result(t, n);
    return rc == 0 ? HBD_IO_ERROR : rc;
}

int hbd_sp_tls_pending(const hbd_sp_tls *t)
{
    return SSL_pending(t->ssl) > 0;
}

int hbd_sp_tls_wants_write(const hbd_sp_tls *t)
{
    return t->wants_write;
}

const char *hbd_sp_tls_reason(hbd_sp_tls *t)
{
    return t->reason[0] ? t->reason : "TLS error";
}

void hbd_sp_tls_free(hbd_sp_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    free(t);
}
