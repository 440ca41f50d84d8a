/* The base URL: checked once at open, so that every request URL is the
   base plus a fixed route. */
#define _POSIX_C_SOURCE 200809L

#include "transports/rest/rest_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX 2048

static int check_scheme(const char *url, hbeat_error *err)
{
    const char *sep = strstr(url, "://");
    size_t n = sep != NULL ? (size_t)(sep - url) : 0;
    if ((n == 4 && strncasecmp(url, "http", 4) == 0) ||
        (n == 5 && strncasecmp(url, "https", 5) == 0))
        return 0;
    return hbeat_error_set(err, HBEAT_EINVAL,
                           "rest: URL '%.80s' must start with http:// or https://", url);
}

static int check_chars(const char *url, hbeat_error *err)
{
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f)
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "rest: URL contains a space, control or non-ASCII byte at "
                                   "offset %zu",
                                   (size_t)((const char *)p - url));
    }
    return 0;
}

/* Every part but host, port and path is refused: the routes and the query
   string are the transport's own, and credentials belong in the token
   option, where they stay out of messages. */
static int check_parts(CURLU *u, const char *url, hbeat_error *err)
{
    char *part = NULL;
    CURLUcode uc = curl_url_get(u, CURLUPART_HOST, &part, 0);
    int empty = uc != CURLUE_OK || part == NULL || part[0] == '\0';
    curl_free(part);
    if (empty)
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: URL '%.80s' has no host", url);
    part = NULL;
    uc = curl_url_get(u, CURLUPART_USER, &part, 0);
    curl_free(part);
    if (uc == CURLUE_OK)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "rest: credentials in the URL are not supported; use the token "
                               "or token_file option");
    return 0;
}

int hbeat__rest_url_parse(rest_gw *gw, const char *url, hbeat_error *err)
{
    if (url == NULL || url[0] == '\0')
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: no URL given");
    if (strnlen(url, URL_MAX + 1) > URL_MAX)
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: URL longer than %d bytes", URL_MAX);
    int rc = check_scheme(url, err);
    if (rc == 0)
        rc = check_chars(url, err);
    if (rc != 0)
        return rc;
    /* curl reads "http:///x" as host "x"; a user who wrote it forgot one. */
    const char *authority = strstr(url, "://") + 3;
    if (*authority == '\0' || *authority == '/')
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: URL '%.80s' has no host", url);
    if (strchr(url, '?') != NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "rest: the base URL '%.80s' must not carry a query string", url);
    if (strchr(url, '#') != NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "rest: the base URL '%.80s' must not carry a fragment", url);

    CURLU *u = curl_url();
    if (u == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory parsing the URL");
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        curl_url_cleanup(u);
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: malformed URL '%.80s': %s", url,
                               curl_url_strerror(uc));
    }
    rc = check_parts(u, url, err);
    char *full = NULL;
    if (rc == 0 && curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
        rc = hbeat_error_set(err, HBEAT_EINVAL, "rest: malformed URL '%.80s'", url);
    curl_url_cleanup(u);
    if (rc != 0)
        return rc;

    /* A trailing slash is tolerated: routes are appended with their own. */
    size_t n = strlen(full);
    while (n > 0 && full[n - 1] == '/')
        n--;
    gw->base = malloc(n + 1);
    if (gw->base == NULL) {
        curl_free(full);
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory");
    }
    memcpy(gw->base, full, n);
    gw->base[n] = '\0';
    gw->base_len = n;
    curl_free(full);

    const char *path = strchr(strstr(gw->base, "://") + 3, '/');
    gw->path_off = path != NULL ? (size_t)(path - gw->base) : n;
    return 0;
}

void hbeat__rest_url_escape_token(char *out, size_t cap, const char *token)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)token; *p && o + 4 <= cap; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}
