#include "hbeat/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *hbeat_strerror(int code)
{
    switch ((hbeat_code)code) {
    case HBEAT_OK:
        return "success";
    case HBEAT_EINVAL:
        return "invalid argument";
    case HBEAT_ENOMEM:
        return "out of memory";
    case HBEAT_ETRANSPORT:
        return "transport failure";
    case HBEAT_ETIMEDOUT:
        return "timed out";
    case HBEAT_EPROTO:
        return "protocol error";
    case HBEAT_ESERVER:
        return "server error";
    case HBEAT_ENOTFOUND:
        return "not found";
    case HBEAT_ESCHEME:
        return "unknown URL scheme";
    case HBEAT_ENOTBUILT:
        return "transport not built in";
    case HBEAT_EEXIST:
        return "already exists";
    case HBEAT_EVERSION:
        return "unsupported version";
    case HBEAT_ESTATE:
        return "invalid state";
    case HBEAT_EFATAL:
        return "too many consecutive failures";
    case HBEAT_ECANCELED:
        return "canceled";
    case HBEAT_EBUSY:
        return "busy";
    case HBEAT_ENOTSUP:
        return "not supported";
    case HBEAT_EAUTH:
        return "authentication failed";
    case HBEAT_EFORBIDDEN:
        return "permission denied";
    case HBEAT_ETOOBIG:
        return "message too large";
    case HBEAT_ETLS:
        return "TLS failure";
    case HBEAT_ESYSTEM:
        return "system error";
    }
    return "unknown error";
}

void hbeat_error_clear(hbeat_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}

int hbeat_error_set(hbeat_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->http_status = 0;
    err->native = 0;
    err->message[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}
