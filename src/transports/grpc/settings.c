/* hbeat_gateway_options as the gRPC transport reads them. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbeat/common.h"
#include "transports/grpc/grpc_internal.h"

/* A PEM file larger than this is not a certificate or key. */
#define PEM_MAX (1L << 20)

/* gRPC wants PEM text, not file names. Read now, so that a typo fails the
   open, not every call. */
static int read_pem(char **out, const char *path, const char *what, hbeat_error *err)
{
    FILE *f = fopen(path, "rb");
    long size = -1;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0) {
        size = ftell(f);
        rewind(f);
    }
    if (f == NULL || size < 0) {
        int e = errno;
        if (f != NULL) {
            fclose(f);
        }
        int rc = hbeat_error_set(err, HBEAT_ETLS, "gRPC: %s %.160s cannot be read: %s", what, path,
                                 strerror(e));
        if (err != NULL) {
            err->native = e;
        }
        return rc;
    }
    if (size == 0 || size > PEM_MAX) {
        fclose(f);
        return hbeat_error_set(err, HBEAT_ETLS, "gRPC: %s %.160s is %s", what, path,
                               size == 0 ? "empty" : "too large for a PEM file");
    }
    char *buf = malloc((size_t)size + 1);
    if (buf == NULL) {
        fclose(f);
        return hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    buf[got] = '\0';
    if (strstr(buf, "-----BEGIN ") == NULL) {
        free(buf);
        return hbeat_error_set(err, HBEAT_ETLS, "gRPC: %s %.160s holds no PEM block", what, path);
    }
    *out = buf;
    return 0;
}

static int tls_files(hbeat__grpc_settings *out, const hbeat_gateway_options *opts, hbeat_error *err)
{
    if ((opts->cert_file == NULL) != (opts->key_file == NULL)) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: cert_file and key_file go together");
    }
    out->insecure = opts->insecure != 0;
    int rc = 0;
    if (opts->ca_file != NULL) {
        rc = read_pem(&out->ca_pem, opts->ca_file, "ca_file", err);
    }
    if (rc == 0 && opts->cert_file != NULL) {
        rc = read_pem(&out->cert_pem, opts->cert_file, "cert_file", err);
    }
    if (rc == 0 && opts->key_file != NULL) {
        rc = read_pem(&out->key_pem, opts->key_file, "key_file", err);
    }
    return rc;
}

static int seconds(double *out, double given, double max, const char *what, hbeat_error *err)
{
    if (given == 0.0) {
        return 0;
    }
    if (!isfinite(given) || given < 0.0 || given > max) {
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "gRPC: %s must be a positive number of seconds up to %.0f (got %g)",
                               what, max, given);
    }
    *out = given;
    return 0;
}

static int user_agent(hbeat__grpc_settings *out, const char *given, hbeat_error *err)
{
    char dflt[64];
    if (given == NULL) {
        snprintf(dflt, sizeof(dflt), "hbeat/%s", hbeat_version());
        given = dflt;
    }
    for (const char *p = given; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "gRPC: user_agent holds a character that is not printable "
                                   "ASCII");
        }
    }
    out->user_agent = strdup(given);
    return out->user_agent == NULL ? hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory") : 0;
}

static int authorization(hbeat__grpc_settings *out, const hbeat_gateway_options *opts,
                         hbeat_error *err)
{
    char *token;
    int rc = hbeat__wire_token(&token, opts, "gRPC", err);
    if (rc != 0 || token == NULL) {
        return rc;
    }
    size_t n = strlen("Bearer ") + strlen(token) + 1;
    out->authorization = malloc(n);
    if (out->authorization != NULL) {
        snprintf(out->authorization, n, "Bearer %s", token);
    }
    hbeat__wire_secret_free(token);
    return out->authorization == NULL ? hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory")
                                      : 0;
}

int hbeat__grpc_settings_from(hbeat__grpc_settings *out, const char *url, int tls,
                              const hbeat_gateway_options *opts, hbeat_error *err)
{
    memset(out, 0, sizeof(*out));
    out->timeout_s = HBEAT__GRPC_DEFAULT_TIMEOUT_S;
    out->connect_timeout_s = HBEAT__GRPC_DEFAULT_CONNECT_TIMEOUT_S;
    out->max_reply = HBEAT__GRPC_DEFAULT_MAX_REPLY;
    out->tls = tls;
    hbeat_gateway_options defaults = HBEAT_GATEWAY_OPTIONS_INIT;
    if (opts == NULL) {
        opts = &defaults;
    }
    /* Older versions end earlier; nothing read here came later. */
    if (opts->version == 0 || opts->version > HBEAT_GATEWAY_OPTIONS_VERSION) {
        return hbeat_error_set(err, HBEAT_EVERSION, "gRPC: gateway options version %u unknown",
                               opts->version);
    }
    /* Quietly ignoring these on grpc:// would let a user believe the link
       is encrypted or the server verified. */
    if (!tls && (opts->ca_file != NULL || opts->cert_file != NULL || opts->key_file != NULL ||
                 opts->insecure)) {
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "gRPC: %.120s has no TLS, so ca_file, cert_file, key_file and "
                               "insecure cannot be used with it (grpcs:// has)",
                               url);
    }
    int rc = tls ? tls_files(out, opts, err) : 0;
    if (rc == 0) {
        rc = seconds(&out->timeout_s, opts->request_timeout, HBEAT__GRPC_MAX_TIMEOUT_S,
                     "request_timeout", err);
    }
    if (rc == 0) {
        rc = seconds(&out->connect_timeout_s, opts->connect_timeout, HBEAT__GRPC_MAX_TIMEOUT_S,
                     "connect_timeout", err);
    }
    if (rc == 0 && opts->max_reply_size != 0) {
        /* A gRPC channel argument is an int. */
        if (opts->max_reply_size > (size_t)INT_MAX) {
            rc = hbeat_error_set(err, HBEAT_EINVAL, "gRPC: max_reply_size is at most %d bytes",
                                 INT_MAX);
        }
        out->max_reply = opts->max_reply_size;
    }
    if (rc == 0) {
        rc = user_agent(out, opts->user_agent, err);
    }
    if (rc == 0) {
        rc = authorization(out, opts, err);
    }
    return rc;
}

void hbeat__grpc_settings_release(hbeat__grpc_settings *s)
{
    free(s->ca_pem);
    free(s->cert_pem);
    hbeat__wire_secret_free(s->key_pem);
    hbeat__wire_secret_free(s->authorization);
    free(s->user_agent);
    memset(s, 0, sizeof(*s));
}
