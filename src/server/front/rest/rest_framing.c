/*
 * Request framing (rest_secure.h). How long a request's body is must be
 * read the same way by hbeatd and by anything in front of it (a proxy, a
 * load balancer); where two readings are possible, one side can take the
 * rest of a body for the start of a new request, and a request smuggled
 * that way passes the proxy's checks unseen. libmicrohttpd 0.9.75 accepts
 * such requests: with Content-Length and Transfer-Encoding both present it
 * goes by Transfer-Encoding, with two Content-Length headers by the first,
 * and with a Transfer-Encoding other than chunked it reads to the end of
 * the connection. RFC 9112 (6.1, 6.3) says to refuse them and close the
 * connection, which is what hbeatd does.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "rest_secure.h"

typedef struct framing {
    unsigned lengths, encodings;
    const char *length; /* the first Content-Length value */
    size_t length_size;
    int length_differs;
    int not_chunked;
} framing;

static int is(const char *key, size_t size, const char *name)
{
    return size == strlen(name) && strncasecmp(key, name, size) == 0;
}

static enum MHD_Result count(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                             const char *value, size_t value_size)
{
    (void)kind;
    framing *f = cls;
    if (is(key, key_size, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        /* Repeats of one value are allowed (RFC 9112 6.3): they agree. */
        if (f->lengths++ == 0) {
            f->length = value;
            f->length_size = value_size;
        } else if (value_size != f->length_size || memcmp(value, f->length, value_size) != 0) {
            f->length_differs = 1;
        }
    } else if (is(key, key_size, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->encodings++;
        f->not_chunked |= !is(value, value_size, "chunked");
    }
    return MHD_YES;
}

const char *hbd_rest_framing_problem(struct MHD_Connection *c)
{
    framing f;
    memset(&f, 0, sizeof f);
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, count, &f);
    if (f.lengths > 0 && f.encodings > 0)
        return "a request may not carry both Content-Length and Transfer-Encoding";
    if (f.length_differs)
        return "a request may not carry two different Content-Length headers";
    if (f.encodings > 1)
        return "a request may carry one Transfer-Encoding header only";
    if (f.not_chunked)
        return "the only Transfer-Encoding accepted is chunked";
    return NULL;
}
