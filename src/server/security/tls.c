/*
 * Loading hbeatd's certificate files (tls.h). The files are read here, not
 * by the TLS libraries, so that a wrong path or a file that is not PEM is
 * reported at start with the flag that named it, the same way for both
 * front ends.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */

#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_file.h"
#include "log.h"

/* A certificate chain or key beyond this is not what the flag meant. */
#define PEM_MAX (1024 * 1024)

static int read_pem(const char *flag, const char *path, int secret, char **out, size_t *len,
                    hbeat_error *err)
{
    int rc = hbd_read_config_file(flag, path, PEM_MAX, secret, out, len, err);
    if (rc != 0)
        return rc;
    if (*len == 0 || strstr(*out, "-----BEGIN ") == NULL || memchr(*out, '\0', *len) != NULL) {
        explicit_bzero(*out, *len);
        free(*out);
        *out = NULL;
        return hbeat_error_set(err, HBEAT_EINVAL, "%s %.200s: not a PEM file (no -----BEGIN line)",
                               flag, path);
    }
    return 0;
}

int hbd_tls_load(hbd_tls **out, const char *cert, const char *key, const char *client_ca,
                 hbeat_error *err)
{
    *out = NULL;
    hbd_tls *tls = calloc(1, sizeof *tls);
    if (tls == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "tls: out of memory");
    size_t len;
    int rc = read_pem("--tls-cert", cert, 0, &tls->cert_pem, &len, err);
    if (rc == 0 && strstr(tls->cert_pem, "CERTIFICATE-----") == NULL)
        rc = hbeat_error_set(err, HBEAT_EINVAL, "--tls-cert %.200s: holds no certificate", cert);
    if (rc == 0)
        rc = read_pem("--tls-key", key, 1, &tls->key_pem, &tls->key_len, err);
    if (rc == 0 && strstr(tls->key_pem, "PRIVATE KEY-----") == NULL)
        rc = hbeat_error_set(err, HBEAT_EINVAL, "--tls-key %.200s: holds no private key", key);
    if (rc == 0 && strstr(tls->key_pem, "ENCRYPTED") != NULL)
        rc = hbeat_error_set(err, HBEAT_EINVAL,
                             "--tls-key %.200s: the key is encrypted; hbeatd needs it unencrypted "
                             "(protect it with file permissions)",
                             key);
    if (rc == 0 && client_ca != NULL) {
        rc = read_pem("--tls-client-ca", client_ca, 0, &tls->client_ca_pem, &len, err);
        if (rc == 0 && strstr(tls->client_ca_pem, "CERTIFICATE-----") == NULL)
            rc = hbeat_error_set(err, HBEAT_EINVAL, "--tls-client-ca %.200s: holds no certificate",
                                 client_ca);
    }
    if (rc != 0) {
        hbd_tls_free(tls);
        return rc;
    }
    *out = tls;
    return 0;
}

void hbd_tls_free(hbd_tls *tls)
{
    if (tls == NULL)
        return;
    if (tls->key_pem != NULL) {
        explicit_bzero(tls->key_pem, tls->key_len);
        free(tls->key_pem);
    }
    free(tls->cert_pem);
    free(tls->client_ca_pem);
    free(tls);
}
