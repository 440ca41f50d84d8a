/*
 * hbeatd's TLS material: the server certificate (chain) and key, and the
 * CA certificates that client certificates must chain to (mutual TLS),
 * read once at start from PEM files and shared by both front ends: REST
 * (libmicrohttpd with GnuTLS) and the nng front end's tls+tcp:// listeners
 * (OpenSSL, sp_tls.h).
 * Certificates are not reloaded; a restart picks up new files.
 */
#ifndef HBD_TLS_H
#define HBD_TLS_H

#include <stddef.h>

#include "hbeat/errors.h"

typedef struct hbd_tls {
    char *cert_pem; /* NUL-terminated PEM: the certificate, then any chain */
    char *key_pem;  /* NUL-terminated PEM private key (wiped when freed) */
    size_t key_len;
    char *client_ca_pem; /* NULL: no client certificate is asked for */
} hbd_tls;

/* Reads and sanity-checks the files (readable, PEM, not absurdly large).
   `client_ca` may be NULL. HBEAT_EINVAL with a message naming the file. */
int hbd_tls_load(hbd_tls **out, const char *cert, const char *key, const char *client_ca,
                 hbeat_error *err);
void hbd_tls_free(hbd_tls *tls);

#endif /* HBD_TLS_H */
