/* hbeat_gateway_options as the nng transport reads them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transports/nng/nng_internal.h"

/* Where Debian, Ubuntu and Alpine keep the system's CA certificates. */
static const char *const system_bundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
};

static char *copy_path(const char *p, int *oom)
{
    if (p == NULL) {
        return NULL;
    }
    char *c = strdup(p);
    *oom |= c == NULL;
    return c;
}

/* The TLS files: readable now (so that a typo fails the open, not every
   beat), copied for the dialer and the diagnostic handshake. */
static int tls_files(hbeat__nng_settings *out, const hbeat_gateway_options *opts, hbeat_error *err)
{
    if ((opts->cert_file == NULL) != (opts->key_file == NULL)) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: cert_file and key_file go together");
    }
    const char *ca = opts->ca_file;
    if (ca == NULL && !opts->insecure) {
        for (size_t i = 0; i < sizeof(system_bundles) / sizeof(system_bundles[0]); i++) {
            if (access(system_bundles[i], R_OK) == 0) {
                ca = system_bundles[i];
                break;
            }
        }
        if (ca == NULL) {
            return hbeat_error_set(err, HBEAT_ETLS,
                                   "nng: no ca_file given and no system CA bundle found; "
                                   "name the CA that signed the server's certificate");
        }
    }
    const char *names[] = {"ca_file", "cert_file", "key_file"};
    const char *paths[] = {ca, opts->cert_file, opts->key_file};
    for (int i = 0; i < 3; i++) {
        if (paths[i] != NULL && access(paths[i], R_OK) != 0) {
            int e = errno;
            int rc = hbeat_error_set(err, HBEAT_ETLS, "nng: %s %.160s cannot be read: %s", names[i],
                                     paths[i], strerror(e));
            if (err != NULL) {
                err->native = e;
            }
            return rc;
        }
    }
    int oom = 0;
    out->insecure = opts->insecure != 0;
    out->ca_file = copy_path(ca, &oom);
    out->cert_file = copy_path(opts->cert_file, &oom);
    out->key_file = copy_path(opts->key_file, &oom);
    return oom ? hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory") : 0;
}

int hbeat__nng_settings_from(hbeat__nng_settings *out, const char *url,
                             const hbeat_gateway_options *opts, hbeat_error *err)
{
    memset(out, 0, sizeof(*out));
    out->timeout_s = HBEAT__NNG_DEFAULT_TIMEOUT_S;
    out->max_reply = HBEAT__NNG_DEFAULT_MAX_REPLY;
    out->tls =
        hbeat__nng_url_tls_host(url, out->host, sizeof(out->host), out->port, sizeof(out->port));
    if (opts == NULL) {
        out->timeout_ms = (nng_duration)(out->timeout_s * 1000.0);
        if (out->tls) {
            /* Verification on, against the system's CAs. */
            hbeat_gateway_options defaults = HBEAT_GATEWAY_OPTIONS_INIT;
            return tls_files(out, &defaults, err);
        }
        return 0;
    }
    /* Older versions end earlier; nothing read here came later. */
    if (opts->version == 0 || opts->version > HBEAT_GATEWAY_OPTIONS_VERSION) {
        return hbeat_error_set(err, HBEAT_EVERSION, "nng: gateway options version %u unknown",
                               opts->version);
    }

    /* Plain nng+tcp has no TLS; quietly ignoring these would let a user
       believe the link is encrypted or the server verified. */
    if (!out->tls && (opts->ca_file != NULL || opts->cert_file != NULL || opts->key_file != NULL ||
                      opts->insecure)) {
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "nng: %.120s has no TLS, so ca_file, cert_file, key_file and "
                               "insecure cannot be used with it (nng+tls+tcp:// has)",
                               url);
    }
    if (out->tls) {
        int rc = tls_files(out, opts, err);
        if (rc != 0) {
            return rc;
        }
    }

    double t = opts->request_timeout;
    if (t != 0.0) {
        if (!isfinite(t) || t < 0.0 || t > HBEAT__NNG_MAX_TIMEOUT_S) {
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "nng: request_timeout must be a positive number of seconds "
                                   "up to %.0f (got %g)",
                                   HBEAT__NNG_MAX_TIMEOUT_S, t);
        }
        out->timeout_s = t;
    }
    /* Round up so that a tiny timeout never becomes 0 ms ("poll"). */
    double ms = ceil(out->timeout_s * 1000.0);
    out->timeout_ms = ms < 1.0 ? 1 : (nng_duration)ms;

    if (opts->connect_timeout != 0.0 &&
        (!isfinite(opts->connect_timeout) || opts->connect_timeout < 0.0)) {
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "nng: connect_timeout must be a positive number of seconds");
    }
    if (opts->max_reply_size != 0) {
        out->max_reply = opts->max_reply_size;
    }

    return hbeat__wire_token(&out->token, opts, "nng", err);
}

void hbeat__nng_settings_release(hbeat__nng_settings *s)
{
    free(s->ca_file);
    free(s->cert_file);
    free(s->key_file);
    s->ca_file = s->cert_file = s->key_file = NULL;
    hbeat__wire_secret_free(s->token);
    s->token = NULL;
}
