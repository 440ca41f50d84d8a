/* nng error numbers and wire error codes, translated at the boundary. */
#include "transports/nng/nng_internal.h"

static int code_from_nng(int rv)
{
    switch (rv) {
    case NNG_ETIMEDOUT:
        return HBEAT_ETIMEDOUT;
    case NNG_ECANCELED:
        return HBEAT_ECANCELED;
    case NNG_EMSGSIZE:
        return HBEAT_ETOOBIG;
    case NNG_ENOMEM:
        return HBEAT_ENOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        return HBEAT_EINVAL;
    case NNG_ENOTSUP:
        return HBEAT_ENOTSUP;
    case NNG_EPERM:
    case NNG_EPEERAUTH:
        return HBEAT_EFORBIDDEN;
    case NNG_EPROTO:
        return HBEAT_EPROTO;
    default:
        /* ECONNREFUSED, ECLOSED, ECONNRESET, ECONNSHUT, ECONNABORTED,
           EUNREACHABLE, system and transport errors: the link failed. */
        return HBEAT_ETRANSPORT;
    }
}

int hbeat__nng_fail(hbeat_error *err, int rv, hbeat__nng_phase phase, int closing, const char *url,
                    double timeout_s)
{
    int code;
    /* Closing the socket ends a call with ECLOSED or, when its connection
       goes first, ECONNRESET; either way the close is the reason. */
    if (closing) {
        code = hbeat_error_set(err, HBEAT_ECANCELED,
                               "%.160s: gateway closed with the call in flight", url);
    } else if (rv == NNG_ETIMEDOUT && phase == HBEAT__NNG_SEND) {
        code = hbeat_error_set(err, HBEAT_ETIMEDOUT,
                               "%.160s: no connection to the server within %g s (is it running?)",
                               url, timeout_s);
    } else if (rv == NNG_ETIMEDOUT) {
        code =
            hbeat_error_set(err, HBEAT_ETIMEDOUT, "%.160s: no reply within %g s", url, timeout_s);
    } else if (rv == NNG_ECONNRESET || rv == NNG_ECLOSED) {
        code = hbeat_error_set(err, HBEAT_ETRANSPORT,
                               "%.160s: connection lost before the reply came (%s); the request "
                               "was not resent",
                               url, nng_strerror(rv));
    } else {
        code = hbeat_error_set(err, code_from_nng(rv), "%.160s: %s", url, nng_strerror(rv));
    }
    if (err != NULL) {
        err->native = rv;
    }
    return code;
}

int hbeat__nng_code_from_wire(int wire_code)
{
    switch (wire_code) {
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT:
        return HBEAT_EINVAL;
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND:
        return HBEAT_ENOTFOUND;
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED:
        return HBEAT_EAUTH;
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED:
        return HBEAT_EFORBIDDEN;
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE:
        return HBEAT_ETOOBIG;
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_UNIMPLEMENTED:
        return HBEAT_ENOTSUP;
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_INTERNAL:
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAVAILABLE:
    default:
        /* A code from a newer server is still the server's error. */
        return HBEAT_ESERVER;
    }
}

const char *hbeat__nng_wire_code_name(int wire_code)
{
    switch (wire_code) {
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_UNSPECIFIED:
        return "UNSPECIFIED";
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT:
        return "INVALID_ARGUMENT";
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND:
        return "NOT_FOUND";
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED:
        return "UNAUTHENTICATED";
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED:
        return "PERMISSION_DENIED";
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE:
        return "TOO_LARGE";
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_INTERNAL:
        return "INTERNAL";
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_UNIMPLEMENTED:
        return "UNIMPLEMENTED";
    case HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAVAILABLE:
        return "UNAVAILABLE";
    default:
        return "UNKNOWN";
    }
}
