/*
 * Mutual TLS on libmicrohttpd. MHD given a trust list (HTTPS_MEM_TRUST)
 * only *asks* for a client certificate and leaves checking it to the
 * application, after the handshake. hbeatd instead requires one and checks
 * it during the handshake, so a client without a valid certificate never
 * gets to send a request: the handshake fails with a TLS alert the client
 * can name.
 */
#include <gnutls/gnutls.h>
#include <string.h>

#include "log.h"
#include "rest_secure.h"

/* libmicrohttpd closes a connection whose handshake failed without a
   word, so the client would only see the connection drop. The alert sent
   here lets it say why ("certificate required", "unknown CA"). */
static int refuse(gnutls_session_t session, gnutls_alert_description_t alert, const char *why)
{
    int len = (int)strlen(why);
    while (len > 0 && why[len - 1] == ' ')
        len--;
    hbd_warn_limited("rest: refused TLS client", "rest: refused a TLS client: %.*s", len, why);
    gnutls_alert_send(session, GNUTLS_AL_FATAL, alert);
    return -1;
}

static int verify_client(gnutls_session_t session)
{
    unsigned int n = 0;
    if (gnutls_certificate_get_peers(session, &n) == NULL || n == 0)
        return refuse(session,
                      gnutls_protocol_get_version(session) == GNUTLS_TLS1_3
                          ? GNUTLS_A_CERTIFICATE_REQUIRED
                          : GNUTLS_A_HANDSHAKE_FAILURE,
                      "no client certificate (--tls-client-ca requires one)");
    unsigned int status = 0;
    int rv = gnutls_certificate_verify_peers2(session, &status);
    if (rv < 0)
        return refuse(session, GNUTLS_A_BAD_CERTIFICATE, gnutls_strerror(rv));
    if (status == 0)
        return 0;
    /* Not certificate_expired for an expired one: curl reports that alert
       as if the *server's* certificate had failed verification. */
    gnutls_alert_description_t alert = GNUTLS_A_BAD_CERTIFICATE;
    if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
        alert = GNUTLS_A_UNKNOWN_CA;
    gnutls_datum_t why = {NULL, 0};
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0) == 0 &&
        why.data != NULL) {
        refuse(session, alert, (const char *)why.data);
        gnutls_free(why.data);
        return -1;
    }
    return refuse(session, alert, "the certificate did not verify");
}

void hbd_rest_tls_require_client(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return;
    gnutls_session_t session = ci->tls_session;
    /* REQUEST rather than REQUIRE: with REQUIRE GnuTLS fails a client
       without a certificate before verify_client can send the alert. */
    gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
    gnutls_session_set_verify_function(session, verify_client);
}
