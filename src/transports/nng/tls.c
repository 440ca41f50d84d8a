/*
 * nng+tls+tcp:// on the client side.
 *
 * The dialer's TLS is nng's (mbedTLS underneath): a configuration in
 * client mode that verifies the server's certificate against ca_file and
 * the URL's host, unless `insecure`, and presents cert_file/key_file when
 * given.
 *
 * nng dials in the background and retries, so a TLS failure never reaches
 * a call: the call only sees that no connection came within its timeout.
 * To say *why*, the gateway runs one handshake of its own when a call
 * finds no connection up (gateway.c): the same checks, with mbedTLS
 * directly, which tells which check failed (verify flags) or which alert
 * the server sent. It costs one extra handshake while disconnected, and
 * nothing once nng holds a connection.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h> /* MBEDTLS_ERR_NET_* */
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "transports/nng/nng_internal.h"

/* ---- the dialer's configuration ---- */

#define PEM_MAX (1024 * 1024)

/* A whole PEM file, NUL-terminated, for nng_tls_config_own_cert. */
static int read_pem(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    char *buf = malloc(PEM_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, PEM_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n == 0 || n > PEM_MAX) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Key material does not linger in freed memory. */
static void free_pem(char *buf, size_t len)
{
    if (buf != NULL) {
        mbedtls_platform_zeroize(buf, len);
        free(buf);
    }
}

int hbeat__nng_tls_config(void **out, const hbeat__nng_settings *s, const char *url,
                          hbeat_error *err)
{
    *out = NULL;
    nng_tls_config *cfg;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
    if (rv != 0) {
        int rc = hbeat_error_set(err, rv == NNG_ENOTSUP ? HBEAT_ENOTSUP : HBEAT_ETLS,
                                 "%.160s: this nng has no TLS: %s", url, nng_strerror(rv));
        if (err != NULL) {
            err->native = rv;
        }
        return rc;
    }
    const char *what = "the server name";
    rv = nng_tls_config_server_name(cfg, s->host);
    if (rv == 0) {
        what = "insecure";
        rv = nng_tls_config_auth_mode(cfg, s->insecure ? NNG_TLS_AUTH_MODE_NONE
                                                       : NNG_TLS_AUTH_MODE_REQUIRED);
    }
    if (rv == 0 && s->ca_file != NULL) {
        what = "ca_file";
        rv = nng_tls_config_ca_file(cfg, s->ca_file);
    }
    if (rv == 0 && s->cert_file != NULL) {
        /* nng takes the pair from one file or from memory; the files are
           separate here, so they are read with mbedTLS's loader and
           handed over as PEM text. */
        what = "cert_file/key_file";
        char *cert = NULL, *key = NULL;
        size_t cert_len = 0, key_len = 0;
        rv = NNG_EINVAL;
        if (read_pem(s->cert_file, &cert, &cert_len) == 0 &&
            read_pem(s->key_file, &key, &key_len) == 0) {
            rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
        }
        free_pem(cert, cert_len);
        free_pem(key, key_len);
    }
    if (rv != 0) {
        nng_tls_config_free(cfg);
        int rc = hbeat_error_set(err, HBEAT_ETLS, "%.160s: TLS setup failed at %s: %s", url, what,
                                 nng_strerror(rv));
        if (err != NULL) {
            err->native = rv;
        }
        return rc;
    }
    *out = cfg;
    return 0;
}

/* ---- the diagnostic handshake ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A TCP connection within the deadline; -1 with errno. The socket is left
   blocking with send and receive timeouts for mbedTLS's blocking I/O. */
static int connect_by(const char *host, const char *port, long long deadline)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    int saved = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            long long left = deadline - now_ms();
            rc = -1;
            errno = ETIMEDOUT;
            if (left > 0 && poll(&p, 1, (int)left) == 1) {
                int e = 0;
                socklen_t len = sizeof(e);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
                errno = e;
                rc = e == 0 ? 0 : -1;
            }
        }
        if (rc != 0) {
            saved = errno;
            close(fd);
            fd = -1;
            continue;
        }
        fcntl(fd, F_SETFL, flags);
        long long left = deadline - now_ms();
        struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
        if (left <= 0) {
            tv.tv_sec = 0;
            tv.tv_usec = 1000;
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = saved;
    }
    return fd;
}

/* The server certificate's faults, in words, from mbedTLS's verify flags. */
static void describe_flags(uint32_t flags, const char *host, char *out, size_t size)
{
    static const struct {
        uint32_t flag;
        const char *words;
    } faults[] = {
        {MBEDTLS_X509_BADCERT_EXPIRED, "it has expired"},
        {MBEDTLS_X509_BADCERT_FUTURE, "it is not valid yet"},
        {MBEDTLS_X509_BADCERT_NOT_TRUSTED, "it is not signed by a CA in ca_file"},
        {MBEDTLS_X509_BADCERT_REVOKED, "it has been revoked"},
        {MBEDTLS_X509_BADCERT_KEY_USAGE, "its key usage does not allow a TLS server"},
        {MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, "its extended key usage does not allow a TLS server"},
        {MBEDTLS_X509_BADCERT_BAD_MD, "it is signed with a hash that is not accepted"},
        {MBEDTLS_X509_BADCERT_BAD_PK, "it is signed with a key type that is not accepted"},
        {MBEDTLS_X509_BADCERT_BAD_KEY, "it is signed with a key that is too weak"},
        {MBEDTLS_X509_BADCERT_MISSING, "the server sent none"},
    };
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        if ((flags & faults[i].flag) != 0 && n < size) {
            n += (size_t)snprintf(out + n, size - n, "%s%s", n ? "; " : "", faults[i].words);
        }
    }
    if ((flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0 && n < size) {
        n +=
            (size_t)snprintf(out + n, size - n, "%sit is not issued for \"%.80s\" (the URL's host)",
                             n ? "; " : "", host);
    }
    if (n == 0) {
        snprintf(out, size, "verify flags 0x%x", (unsigned)flags);
    }
}

static const char *alert_words(unsigned char alert, int have_cert)
{
    switch (alert) {
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
    case MBEDTLS_SSL_ALERT_MSG_NO_CERT:
        return have_cert ? "handshake failure"
                         : "handshake failure; does the server require a client certificate "
                           "(cert_file, key_file)?";
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
        return "bad certificate: the server refused our client certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
        return "certificate expired: our client certificate has expired";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
        return "unknown CA: the server does not trust the CA of our client certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
        return "unsupported certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
        return "certificate unknown: the server refused our client certificate";
    case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
        return "protocol version: no TLS version in common";
    case 116: /* certificate_required (TLS 1.3) */
        return "certificate required: the server wants a client certificate (cert_file, "
               "key_file)";
    default:
        return "fatal alert";
    }
}

/* mbedTLS's own socket I/O would raise SIGPIPE in a program that has not
   ignored it, when the server hangs up mid-handshake; nng never does. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    int fd = *(int *)ctx;
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) {
        return (int)n;
    }
    if (errno == EINTR) {
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return MBEDTLS_ERR_SSL_TIMEOUT;
    }
    return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
                                                 : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    int fd = *(int *)ctx;
    ssize_t n = recv(fd, buf, len, 0);
    if (n >= 0) {
        return (int)n;
    }
    if (errno == EINTR) {
        return MBEDTLS_ERR_SSL_WANT_READ;
    }
    /* SO_RCVTIMEO ran out. */
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return MBEDTLS_ERR_SSL_TIMEOUT;
    }
    return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

typedef struct probe {
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca, own;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    int fd;
} probe;

static int tls_fail(hbeat_error *err, int native, const char *url, const char *fmt,
                    const char *detail)
{
    int rc = hbeat_error_set(err, HBEAT_ETLS, "%.160s: TLS: %s%s", url, fmt, detail);
    if (err != NULL) {
        err->native = native;
    }
    return rc;
}

/* Loads the files into `p`; HBEAT_ETLS naming the file that fails. */
static int load_files(probe *p, const hbeat__nng_settings *s, const char *url, hbeat_error *err)
{
    char why[96];
    int rv;
    if (s->ca_file != NULL && (rv = mbedtls_x509_crt_parse_file(&p->ca, s->ca_file)) < 0) {
        mbedtls_strerror(rv, why, sizeof(why));
        return tls_fail(err, rv, url, "ca_file holds no usable certificate: ", why);
    }
    if (s->cert_file != NULL) {
        if ((rv = mbedtls_x509_crt_parse_file(&p->own, s->cert_file)) != 0) {
            mbedtls_strerror(rv, why, sizeof(why));
            return tls_fail(err, rv, url, "cert_file holds no usable certificate: ", why);
        }
        if ((rv = mbedtls_pk_parse_keyfile(&p->key, s->key_file, NULL)) != 0) {
            mbedtls_strerror(rv, why, sizeof(why));
            return tls_fail(err, rv, url, "key_file holds no usable key: ", why);
        }
        if ((rv = mbedtls_ssl_conf_own_cert(&p->conf, &p->own, &p->key)) != 0) {
            mbedtls_strerror(rv, why, sizeof(why));
            return tls_fail(err, rv, url, "cert_file/key_file: ", why);
        }
    }
    return 0;
}

/* The handshake on a connected probe; 0 or an hbeat code with detail. */
static int handshake(probe *p, const hbeat__nng_settings *s, const char *url, long long deadline,
                     int timeout_ms, hbeat_error *err)
{
    int rv;
    do {
        rv = mbedtls_ssl_handshake(&p->ssl);
    } while ((rv == MBEDTLS_ERR_SSL_WANT_READ || rv == MBEDTLS_ERR_SSL_WANT_WRITE) &&
             now_ms() < deadline);
    if (rv == 0) {
        mbedtls_ssl_close_notify(&p->ssl);
        return 0;
    }
    char detail[HBEAT_ERROR_MESSAGE_MAX];
    uint32_t flags = mbedtls_ssl_get_verify_result(&p->ssl);
    if (rv == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
        (flags != 0 && flags != (uint32_t)-1 && !s->insecure)) {
        describe_flags(flags, s->host, detail, sizeof(detail));
        return tls_fail(err, NNG_EPEERAUTH, url,
                        "the server's certificate did not verify: ", detail);
    }
    if (rv == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && p->ssl.in_msg != NULL) {
        return tls_fail(err, NNG_ECRYPTO, url, "the server refused the handshake: ",
                        alert_words(p->ssl.in_msg[1], s->cert_file != NULL));
    }
    if (rv == MBEDTLS_ERR_SSL_TIMEOUT || rv == MBEDTLS_ERR_SSL_WANT_READ ||
        rv == MBEDTLS_ERR_SSL_WANT_WRITE || now_ms() >= deadline) {
        int rc = hbeat_error_set(err, HBEAT_ETIMEDOUT,
                                 "%.160s: no TLS handshake with the server within %d ms", url,
                                 timeout_ms);
        if (err != NULL) {
            err->native = NNG_ETIMEDOUT;
        }
        return rc;
    }
    if (rv == MBEDTLS_ERR_NET_CONN_RESET || rv == MBEDTLS_ERR_NET_RECV_FAILED ||
        rv == MBEDTLS_ERR_SSL_CONN_EOF || rv == MBEDTLS_ERR_NET_SEND_FAILED) {
        return tls_fail(
            err, NNG_ECRYPTO, url, "the server closed the connection during the handshake",
            s->cert_file != NULL ? "; does it trust our client certificate (signed by a CA it "
                                   "knows, still valid)?"
                                 : "; does it require a client certificate (cert_file, key_file)?");
    }
    mbedtls_strerror(rv, detail, sizeof(detail));
    return tls_fail(err, NNG_ECRYPTO, url, "handshake failed: ", detail);
}

int hbeat__nng_tls_probe(const hbeat__nng_settings *s, const char *url, int timeout_ms,
                         hbeat_error *err)
{
    long long deadline = now_ms() + timeout_ms;
    probe p;
    mbedtls_ssl_init(&p.ssl);
    mbedtls_ssl_config_init(&p.conf);
    mbedtls_x509_crt_init(&p.ca);
    mbedtls_x509_crt_init(&p.own);
    mbedtls_pk_init(&p.key);
    mbedtls_entropy_init(&p.entropy);
    mbedtls_ctr_drbg_init(&p.drbg);
    p.fd = -1;

    int rc = 0;
    int rv = mbedtls_ctr_drbg_seed(&p.drbg, mbedtls_entropy_func, &p.entropy,
                                   (const unsigned char *)"hbeat-nng-probe", 15);
    if (rv == 0) {
        rv = mbedtls_ssl_config_defaults(&p.conf, MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    }
    if (rv != 0) {
        char why[96];
        mbedtls_strerror(rv, why, sizeof(why));
        rc = tls_fail(err, rv, url, "cannot set up a handshake: ", why);
    }
    if (rc == 0) {
        /* As nng's dialer: TLS 1.2 or newer, verification required. */
        mbedtls_ssl_conf_min_version(&p.conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                     MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_authmode(&p.conf, s->insecure ? MBEDTLS_SSL_VERIFY_NONE
                                                       : MBEDTLS_SSL_VERIFY_REQUIRED);
        mbedtls_ssl_conf_rng(&p.conf, mbedtls_ctr_drbg_random, &p.drbg);
        rc = load_files(&p, s, url, err);
    }
    if (rc == 0) {
        mbedtls_ssl_conf_ca_chain(&p.conf, &p.ca, NULL);
        if ((rv = mbedtls_ssl_setup(&p.ssl, &p.conf)) != 0 ||
            (rv = mbedtls_ssl_set_hostname(&p.ssl, s->host)) != 0) {
            char why[96];
            mbedtls_strerror(rv, why, sizeof(why));
            rc = tls_fail(err, rv, url, "cannot set up a handshake: ", why);
        }
    }
    if (rc == 0) {
        p.fd = connect_by(s->host, s->port, deadline);
        if (p.fd < 0) {
            int e = errno;
            rc = hbeat_error_set(err, e == ETIMEDOUT ? HBEAT_ETIMEDOUT : HBEAT_ETRANSPORT,
                                 "%.160s: cannot connect: %s", url, strerror(e));
            if (err != NULL) {
                err->native = e;
            }
        }
    }
    if (rc == 0) {
        mbedtls_ssl_set_bio(&p.ssl, &p.fd, bio_send, bio_recv, NULL);
        rc = handshake(&p, s, url, deadline, timeout_ms, err);
    }
    if (p.fd >= 0) {
        close(p.fd);
    }
    mbedtls_ssl_free(&p.ssl);
    mbedtls_ssl_config_free(&p.conf);
    mbedtls_x509_crt_free(&p.ca);
    mbedtls_x509_crt_free(&p.own);
    mbedtls_pk_free(&p.key);
    mbedtls_ctr_drbg_free(&p.drbg);
    mbedtls_entropy_free(&p.entropy);
    return rc;
}
