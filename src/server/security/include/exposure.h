/*
 * The network-exposure policy: without a token file hbeatd trusts every
 * client, so it listens only where no one else can reach it (loopback,
 * ipc) unless the operator says otherwise (--allow-remote); and what
 * start-up says about who may do what. The program describes its
 * listeners; the policy knows no URL syntax.
 */
#ifndef HBD_EXPOSURE_H
#define HBD_EXPOSURE_H

#include <stddef.h>

/* One listener, as the policy sees it. */
typedef struct hbd_listener_view {
    const char *flag; /* "--listen", "--http": for messages */
    const char *addr; /* as the operator wrote it */
    int local;        /* reachable from this host only */
    int tls;          /* served over TLS */
} hbd_listener_view;

typedef struct hbd_exposure {
    const hbd_listener_view *listeners;
    size_t count;
    int tokens;       /* a token file is in force */
    int allow_remote; /* --allow-remote */
} hbd_exposure;

/* 1 for a numeric loopback address ("127.0.0.1", "::1") or "localhost". */
int hbd_host_is_loopback(const char *host);
/* 0 when the listeners are allowed; -1 with the reason in errbuf (a usage
   error: a listener beyond loopback without tokens or --allow-remote). */
int hbd_exposure_check(const hbd_exposure *x, char *errbuf, size_t errlen);
/* Logs, once at start-up and at warn where it matters, who may do what:
   authentication off, tokens crossing the network in clear text. */
void hbd_exposure_log(const hbd_exposure *x);

#endif /* HBD_EXPOSURE_H */
