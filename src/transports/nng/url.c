/*
 * Client URLs of the nng transport. nng itself accepts much more (and
 * reports a bad address only when dialing, which we do in the background),
 * so the forms we document are checked here, where the error can still
 * reach the caller of hbeat_gateway_open().
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "transports/nng/nng_internal.h"

/* sun_path holds the ipc path and its NUL. */
#define IPC_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static int bad(hbeat_error *err, const char *url, const char *why)
{
    return hbeat_error_set(err, HBEAT_EINVAL, "bad nng URL \"%.120s\": %s", url, why);
}

static int check_tcp(const char *url, const char *rest, hbeat_error *err)
{
    const char *host = rest;
    const char *host_end;
    const char *port;

    if (*host == '[') {
        host_end = strchr(host, ']');
        if (host_end == NULL) {
            return bad(err, url, "unterminated '[' in the host");
        }
        if (host_end == host + 1) {
            return bad(err, url, "empty host");
        }
        if (host_end[1] != ':') {
            return bad(err, url, "missing port (expected nng+tcp://HOST:PORT)");
        }
        port = host_end + 2;
    } else {
        host_end = strchr(host, ':');
        if (host_end == NULL) {
            return bad(err, url, "missing port (expected nng+tcp://HOST:PORT)");
        }
        port = host_end + 1;
        if (strchr(port, ':') != NULL) {
            return bad(err, url, "an IPv6 address must be written in brackets, [::1]:PORT");
        }
        if (host_end == host) {
            return bad(err, url, "empty host");
        }
        if (memchr(host, '/', (size_t)(host_end - host)) != NULL) {
            return bad(err, url, "'/' in the host");
        }
    }

    unsigned long value = 0;
    size_t digits = 0;
    for (const char *p = port; *p != '\0'; p++, digits++) {
        if (*p < '0' || *p > '9') {
            return bad(err, url, "the port must be a number and nothing may follow it");
        }
        if (digits < 6) {
            value = value * 10 + (unsigned long)(*p - '0');
        }
    }
    if (digits == 0) {
        return bad(err, url, "missing port (expected nng+tcp://HOST:PORT)");
    }
    if (digits > 5 || value == 0 || value > 65535) {
        return bad(err, url, "port out of range (1-65535)");
    }
    return 0;
}

int hbeat__nng_url_to_dial(const char *url, char *dial, size_t dial_size, hbeat_error *err)
{
    static const struct {
        const char *prefix;
        const char *nng_scheme;
    } forms[] = {
        {"nng+tcp://", "tcp://"},
        {"nng+ipc://", "ipc://"},
        {"nng+inproc://", "inproc://"},
        {"nng+tls+tcp://", "tls+tcp://"},
    };

    if (url == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng URL is NULL");
    }
    for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            return bad(err, url, "spaces and control characters are not allowed");
        }
    }

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        size_t plen = strlen(forms[i].prefix);
        if (strncasecmp(url, forms[i].prefix, plen) != 0) {
            continue;
        }
        const char *rest = url + plen;
        int rc = 0;
        if (*rest == '\0') {
            rc = bad(err, url,
                     i == 0 || i == 3 ? "empty host"
                     : i == 1         ? "missing socket path (expected nng+ipc:///path)"
                                      : "missing name (expected nng+inproc://NAME)");
        } else if (i == 0 || i == 3) {
            rc = check_tcp(url, rest, err);
        } else if (i == 1 && strlen(rest) > IPC_PATH_MAX) {
            rc = hbeat_error_set(err, HBEAT_EINVAL,
                                 "bad nng URL \"%.120s\": socket path longer than %zu bytes", url,
                                 IPC_PATH_MAX);
        }
        if (rc != 0) {
            return rc;
        }
        /* The scheme is matched without regard to case, but nng wants it
           in lower case. */
        int n = snprintf(dial, dial_size, "%s%s", forms[i].nng_scheme, rest);
        if (n < 0 || (size_t)n >= dial_size) {
            return bad(err, url, "too long");
        }
        return 0;
    }
    return bad(err, url,
               "expected nng+tcp://HOST:PORT, nng+tls+tcp://HOST:PORT, nng+ipc:///path or "
               "nng+inproc://NAME");
}

int hbeat__nng_url_tls_host(const char *url, char *host, size_t host_size, char *port,
                            size_t port_size)
{
    static const char prefix[] = "nng+tls+tcp://";
    if (url == NULL || strncasecmp(url, prefix, sizeof(prefix) - 1) != 0) {
        return 0;
    }
    /* Already checked by hbeat__nng_url_to_dial: HOST:PORT or [V6]:PORT. */
    const char *h = url + sizeof(prefix) - 1;
    const char *colon = strrchr(h, ':');
    if (colon == NULL) {
        return 0;
    }
    size_t hlen = (size_t)(colon - h);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    snprintf(host, host_size, "%.*s", (int)hlen, h);
    snprintf(port, port_size, "%s", colon + 1);
    return 1;
}
