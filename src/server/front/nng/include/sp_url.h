/*
 * hbeatd's nng listen URLs, read by one parser for the listener and for
 * the check of where hbeatd may listen without tokens, so that what is
 * checked is what is bound: tcp://HOST:PORT, tls+tcp://HOST:PORT (HOST
 * numeric, a name, "[v6]", or empty or "*" for every address; tcp4 and
 * tcp6 for one family, as nng has them) and ipc:///PATH. Schemes are
 * matched without regard to case. Anything else is refused.
 */
#ifndef HBD_SP_URL_H
#define HBD_SP_URL_H

#include <stddef.h>

typedef enum hbd_sp_scheme { HBD_SP_TCP, HBD_SP_TLS_TCP, HBD_SP_IPC } hbd_sp_scheme;

typedef struct hbd_sp_url {
    hbd_sp_scheme scheme;
    char host[256]; /* without brackets; "" for every address */
    unsigned short port;
    int family;     /* AF_INET or AF_INET6 for tcp4/tcp6; 0: either */
    char path[108]; /* ipc: the socket's file */
} hbd_sp_url;

/* 0, or -1 with a message in errbuf. */
int hbd_sp_url_parse(const char *url, hbd_sp_url *out, char *errbuf, size_t errlen);
/* 1 when the URL binds only this host: ipc, or tcp on a loopback
   address or "localhost". 0 for anything else, unparseable included. */
int hbd_sp_url_is_local(const char *url);

#endif /* HBD_SP_URL_H */
