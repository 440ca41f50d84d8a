/*
 * The network-exposure policy (exposure.h).
 */
#include "exposure.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int hbd_host_is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0)
        return 1;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        return memcmp(a, one, 16) == 0;
    }
    return 0;
}

int hbd_exposure_check(const hbd_exposure *x, char *errbuf, size_t errlen)
{
    if (x->tokens || x->allow_remote)
        return 0;
    for (size_t i = 0; i < x->count; i++) {
        const hbd_listener_view *l = &x->listeners[i];
        if (!l->local) {
            snprintf(errbuf, errlen,
                     "%s %.200s is not a loopback address, and without --token-file anyone "
                     "who can reach it could change any run; give --token-file, or "
                     "--allow-remote to listen there anyway",
                     l->flag, l->addr);
            return -1;
        }
    }
    return 0;
}

void hbd_exposure_log(const hbd_exposure *x)
{
    int remote = 0, plain_remote = 0;
    for (size_t i = 0; i < x->count; i++) {
        if (!x->listeners[i].local) {
            remote = 1;
            plain_remote |= !x->listeners[i].tls;
        }
    }
    if (!x->tokens)
        hbd_warn("authentication is off (no --token-file): any client that can connect may "
                 "change any run%s",
                 remote ? "; listening beyond loopback because of --allow-remote" : "");
    else if (plain_remote)
        hbd_warn("tokens are checked, but a non-loopback listener has no TLS: tokens and "
                 "heartbeats cross the network in clear text");
}
