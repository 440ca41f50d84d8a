/*
 * The call vocabulary and the outcome table (calls.h).
 */
#include "calls.h"

#include <stddef.h>

#include "hbeat/errors.h"
#include "hbeat/v1/hbeat.pb-c.h"

static const struct {
    const char *name;
    hbd_right right;
} calls[HBD_CALL_COUNT] = {
    [HBD_CALL_HEARTBEAT] = {"heartbeat", HBD_RIGHT_CLIENT},
    [HBD_CALL_UPDATE_STATUS] = {"update_status", HBD_RIGHT_CLIENT},
    [HBD_CALL_CREATE_RUN] = {"create_run", HBD_RIGHT_OPERATOR},
    [HBD_CALL_GET_RUN] = {"get_run", HBD_RIGHT_OPERATOR},
    [HBD_CALL_LIST_RUNS] = {"list_runs", HBD_RIGHT_OPERATOR},
    [HBD_CALL_SET_STATUS] = {"set_status", HBD_RIGHT_OPERATOR},
};

const char *hbd_call_name(hbd_call call)
{
    return (unsigned)call < HBD_CALL_COUNT ? calls[call].name : NULL;
}

hbd_right hbd_call_right(hbd_call call)
{
    return (unsigned)call < HBD_CALL_COUNT ? calls[call].right : HBD_RIGHT_OPERATOR;
}

int hbd_call_allowed(hbd_call call, hbd_right granted)
{
    return granted >= hbd_call_right(call);
}

#define WIRE(name) HBEAT_PB__ERROR_CODE__ERROR_CODE_##name

/* The last row is the fallback for every code not listed. */
static const hbd_outcome outcomes[] = {
    {0, WIRE(UNSPECIFIED), 200, HBD_RESULT_OK},
    {HBEAT_EINVAL, WIRE(INVALID_ARGUMENT), 400, HBD_RESULT_BAD_REQUEST},
    {HBEAT_ENOTFOUND, WIRE(NOT_FOUND), 404, HBD_RESULT_NOT_FOUND},
    {HBEAT_EAUTH, WIRE(UNAUTHENTICATED), 401, HBD_RESULT_UNAUTHORIZED},
    {HBEAT_EFORBIDDEN, WIRE(PERMISSION_DENIED), 403, HBD_RESULT_UNAUTHORIZED},
    {HBEAT_ETOOBIG, WIRE(TOO_LARGE), 413, HBD_RESULT_TOO_LARGE},
    /* A call this server does not know: the client's mistake. */
    {HBEAT_ENOTSUP, WIRE(UNIMPLEMENTED), 501, HBD_RESULT_BAD_REQUEST},
    /* 5xx so that Jobmon's client retries against the next server. */
    {HBEAT_ECANCELED, WIRE(UNAVAILABLE), 503, HBD_RESULT_SERVER_ERROR},
    {HBEAT_EBUSY, WIRE(UNAVAILABLE), 503, HBD_RESULT_SERVER_ERROR},
    {HBEAT_ESYSTEM, WIRE(INTERNAL), 500, HBD_RESULT_SERVER_ERROR},
};
enum { NOUTCOMES = sizeof outcomes / sizeof outcomes[0] };

const hbd_outcome *hbd_outcome_of(int code)
{
    for (size_t i = 0; i < NOUTCOMES; i++) {
        if (outcomes[i].code == code)
            return &outcomes[i];
    }
    return &outcomes[NOUTCOMES - 1];
}

hbd_result hbd_result_of_http(unsigned int status)
{
    for (size_t i = 0; i < NOUTCOMES; i++) {
        if (outcomes[i].http_status == status)
            return outcomes[i].result;
    }
    if (status >= 200 && status < 300)
        return HBD_RESULT_OK;
    return status >= 400 && status < 500 ? HBD_RESULT_BAD_REQUEST : HBD_RESULT_SERVER_ERROR;
}

const char *hbd_result_name(hbd_result result)
{
    static const char *const names[HBD_RESULT_COUNT] = {
        "ok", "bad_request", "not_found", "unauthorized", "too_large", "server_error"};
    return (unsigned)result < HBD_RESULT_COUNT ? names[result] : NULL;
}
