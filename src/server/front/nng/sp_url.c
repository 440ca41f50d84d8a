#define _POSIX_C_SOURCE 200809L

#include "sp_url.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "exposure.h"

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int parse_port(const char *s, unsigned short *out)
{
    if (s[0] == '\0' || strlen(s) > 5)
        return -1;
    long v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -1;
    *out = (unsigned short)v;
    return 0;
}

/* HOST:PORT, HOST a name or IPv4 address, "[v6]", "*" or empty. */
static int parse_host_port(const char *hp, hbd_sp_url *out, const char *url, char *errbuf,
                           size_t errlen)
{
    const char *host = hp, *colon;
    size_t hlen;
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (close == NULL || close[1] != ':')
            return fail(errbuf, errlen, "bad IPv6 address in '%.200s'", url);
        host = hp + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (colon == NULL)
            return fail(errbuf, errlen, "no port in '%.200s'", url);
        hlen = (size_t)(colon - hp);
        /* A name or an IPv4 address: letters, digits, '.', '-' and '_'. */
        for (size_t i = 0; i < hlen; i++) {
            char c = hp[i];
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '-' || c == '_' || (c == '*' && hlen == 1);
            if (!ok)
                return fail(errbuf, errlen, "bad host in '%.200s'", url);
        }
    }
    if (hlen >= sizeof out->host)
        return fail(errbuf, errlen, "host too long in '%.200s'", url);
    if (hlen == 1 && host[0] == '*')
        hlen = 0;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (parse_port(colon + 1, &out->port) != 0)
        return fail(errbuf, errlen, "bad port in '%.200s'", url);
    return 0;
}

int hbd_sp_url_parse(const char *url, hbd_sp_url *out, char *errbuf, size_t errlen)
{
    static const struct {
        const char *prefix;
        hbd_sp_scheme scheme;
        int family;
    } schemes[] = {{"tcp://", HBD_SP_TCP, 0},
                   {"tcp4://", HBD_SP_TCP, AF_INET},
                   {"tcp6://", HBD_SP_TCP, AF_INET6},
                   {"tls+tcp://", HBD_SP_TLS_TCP, 0},
                   {"tls+tcp4://", HBD_SP_TLS_TCP, AF_INET},
                   {"tls+tcp6://", HBD_SP_TLS_TCP, AF_INET6},
                   {"ipc://", HBD_SP_IPC, 0}};
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncasecmp(url, schemes[i].prefix, n) != 0)
            continue;
        out->scheme = schemes[i].scheme;
        out->family = schemes[i].family;
        const char *rest = url + n;
        if (out->scheme != HBD_SP_IPC)
            return parse_host_port(rest, out, url, errbuf, errlen);
        if (rest[0] != '/')
            return fail(errbuf, errlen, "expected ipc:///PATH, got '%.200s'", url);
        if (strlen(rest) >= sizeof out->path)
            return fail(errbuf, errlen, "ipc path longer than %zu bytes in '%.200s'",
                        sizeof out->path - 1, url);
        strcpy(out->path, rest);
        return 0;
    }
    return fail(errbuf, errlen,
                "expected tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc:///PATH, got '%.200s'", url);
}

int hbd_sp_url_is_local(const char *url)
{
    hbd_sp_url u;
    if (hbd_sp_url_parse(url, &u, NULL, 0) != 0)
        return 0;
    return u.scheme == HBD_SP_IPC || (u.host[0] != '\0' && hbd_host_is_loopback(u.host));
}
