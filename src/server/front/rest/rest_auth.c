/*
 * "Authorization: Bearer TOKEN" (RFC 6750): the scheme is matched without
 * regard to case, spaces after it are skipped, and anything else (Basic,
 * an empty token, a second header) grants nothing.
 */
#include <string.h>
#include <strings.h>

#include "rest_secure.h"

hbd_right hbd_rest_bearer_right(hbd_auth *auth, struct MHD_Connection *c)
{
    if (!hbd_auth_enabled(auth))
        return HBD_RIGHT_OPERATOR;
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
        return HBD_RIGHT_NONE;
    v += 7;
    while (*v == ' ')
        v++;
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    return hbd_auth_check(auth, v, len);
}
