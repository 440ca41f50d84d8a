#include "core/server_list.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Schemes whose address is a path or a name, not a host: a comma there is
   part of it. */
static int has_hosts(const char *scheme)
{
    return strcmp(scheme, "nng+ipc") != 0 && strcmp(scheme, "nng+inproc") != 0;
}

/* Where a second "scheme://" starts after a comma, or NULL: someone wrote
   several whole URLs, or mixed schemes, rather than one URL's host list. */
static const char *second_url(const char *rest)
{
    for (const char *comma = strchr(rest, ','); comma != NULL; comma = strchr(comma + 1, ',')) {
        const char *p = comma + 1;
        if (!isalpha((unsigned char)*p))
            continue;
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
            p++;
        if (strncmp(p, "://", 3) == 0)
            return comma + 1;
    }
    return NULL;
}

static int split(hbeat__server_list *out, const char *url, const char *authority, size_t len,
                 const char *tail, hbeat_error *err)
{
    size_t prefix = (size_t)(authority - url);
    const char *host = authority;
    const char *end = authority + len;
    for (size_t i = 0; host <= end; i++) {
        const char *comma = memchr(host, ',', (size_t)(end - host));
        size_t n = (size_t)((comma != NULL ? comma : end) - host);
        if (i == HBEAT_URL_MAX_SERVERS)
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "'%.80s' lists more than %d servers, the most one URL may name",
                                   url, HBEAT_URL_MAX_SERVERS);
        if (n == 0)
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "'%.80s': server %zu of the list is empty (write "
                                   "scheme://host1:port,host2:port/path, without an empty entry)",
                                   url, i + 1);
        if (n > HBEAT_SERVER_NAME_MAX)
            return hbeat_error_set(err, HBEAT_EINVAL, "'%.80s': server %zu is longer than %d bytes",
                                   url, i + 1, HBEAT_SERVER_NAME_MAX);
        memcpy(out->names[i], host, n);
        out->names[i][n] = '\0';
        for (size_t j = 0; j < i; j++) {
            if (strcasecmp(out->names[j], out->names[i]) == 0)
                return hbeat_error_set(err, HBEAT_EINVAL, "'%.80s' lists the server %s twice", url,
                                       out->names[i]);
        }
        size_t size = prefix + n + strlen(tail) + 1;
        out->urls[i] = malloc(size);
        if (out->urls[i] == NULL)
            return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory splitting a URL");
        snprintf(out->urls[i], size, "%.*s%.*s%s", (int)prefix, url, (int)n, host, tail);
        out->count = i + 1;
        if (comma == NULL)
            break;
        host = comma + 1;
    }
    return 0;
}

int hbeat__server_list_parse(hbeat__server_list *out, const char *url, const char *scheme,
                             hbeat_error *err)
{
    memset(out, 0, sizeof(*out));
    out->count = 1;
    if (!has_hosts(scheme))
        return 0;
    const char *authority = strstr(url, "://") + 3;
    const char *other = second_url(authority);
    if (other != NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "'%.80s' is more than one URL (the second starts '%.20s'): list "
                               "the servers in one URL that names its scheme once, e.g. "
                               "%s://h1:port,h2:port/path; every server of a URL uses that "
                               "scheme",
                               url, other, scheme);
    size_t len = strcspn(authority, "/?#");
    if (memchr(authority, ',', len) == NULL)
        return 0;
    out->count = 0;
    return split(out, url, authority, len, authority + len, err);
}

void hbeat__server_list_free(hbeat__server_list *list)
{
    for (size_t i = 0; i < HBEAT_URL_MAX_SERVERS; i++) {
        free(list->urls[i]);
        list->urls[i] = NULL;
    }
}
