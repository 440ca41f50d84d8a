/*
 * Client URLs of the gRPC transport: grpc://HOST:PORT and
 * grpcs://HOST:PORT, with an optional trailing '/'. The host is a name, an
 * IPv4 address or an IPv6 address in brackets; gRPC resolves names itself
 * (its dns resolver). Checked here so that a typo fails the open with a
 * reason instead of every call with "unavailable".
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "transports/grpc/grpc_internal.h"

static int bad(hbeat_error *err, const char *url, const char *why)
{
    return hbeat_error_set(err, HBEAT_EINVAL, "bad gRPC URL \"%.120s\": %s", url, why);
}

/* Letters, digits, '.', '-', '_' for a name or IPv4 address; hex digits,
   ':' and '.' inside brackets. */
static int host_ok(const char *h, size_t n, int v6)
{
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 c == '.' || c == '-' || (v6 ? c == ':' : c == '_');
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

int hbeat__grpc_url_target(const char *url, char *target, size_t target_size, int *tls,
                           hbeat_error *err)
{
    if (url == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: the URL is NULL");
    }
    const char *rest;
    if (strncasecmp(url, "grpc://", 7) == 0) {
        *tls = 0;
        rest = url + 7;
    } else if (strncasecmp(url, "grpcs://", 8) == 0) {
        *tls = 1;
        rest = url + 8;
    } else {
        return bad(err, url, "expected grpc://HOST:PORT or grpcs://HOST:PORT");
    }
    size_t len = strlen(rest);
    if (len > 0 && rest[len - 1] == '/') {
        len--;
    }
    if (memchr(rest, '/', len) != NULL || memchr(rest, '?', len) != NULL ||
        memchr(rest, '@', len) != NULL) {
        return bad(err, url, "no path, query or user may follow HOST:PORT");
    }
    const char *colon;
    int v6 = rest[0] == '[';
    if (v6) {
        const char *close = memchr(rest, ']', len);
        if (close == NULL || close[1] != ':') {
            return bad(err, url, "an IPv6 address is written [ADDR]:PORT");
        }
        if (!host_ok(rest + 1, (size_t)(close - rest - 1), 1)) {
            return bad(err, url, "empty or malformed IPv6 address");
        }
        colon = close + 1;
    } else {
        colon = memchr(rest, ':', len);
        if (colon == NULL) {
            return bad(err, url, "missing port (expected HOST:PORT)");
        }
        if (!host_ok(rest, (size_t)(colon - rest), 0)) {
            return bad(err, url, "empty host, or a character a host name cannot hold");
        }
    }
    const char *port = colon + 1;
    size_t port_len = len - (size_t)(port - rest);
    unsigned long value = 0;
    for (size_t i = 0; i < port_len; i++) {
        if (port[i] < '0' || port[i] > '9' || i >= 5) {
            return bad(err, url, "the port must be a number from 1 to 65535");
        }
        value = value * 10 + (unsigned long)(port[i] - '0');
    }
    if (port_len == 0 || value == 0 || value > 65535) {
        return bad(err, url, "the port must be a number from 1 to 65535");
    }
    if (len + 1 > target_size) {
        return bad(err, url, "the host is too long");
    }
    memcpy(target, rest, len);
    target[len] = '\0';
    return 0;
}
