/*
 * The calls hbeatd answers, as every front end, the token check and the
 * metrics name them: one enum, each call with its name and the right it
 * needs, and one table of outcomes saying how an hbeat code (hbeat/errors.h)
 * travels on each wire and how the metrics count it.
 *
 * Adding a call touches the proto, the engine, one handler per front end
 * and this table; nothing else.
 */
#ifndef HBD_CALLS_H
#define HBD_CALLS_H

typedef enum hbd_call {
    HBD_CALL_HEARTBEAT,
    HBD_CALL_UPDATE_STATUS,
    HBD_CALL_CREATE_RUN,
    HBD_CALL_GET_RUN,
    HBD_CALL_LIST_RUNS,
    HBD_CALL_SET_STATUS,
    HBD_CALL_COUNT
} hbd_call;

/* What a token grants; rights are ordered, each including those below. */
typedef enum hbd_right {
    HBD_RIGHT_NONE = 0,     /* no valid token */
    HBD_RIGHT_CLIENT = 1,   /* the client calls: heartbeat, update_status */
    HBD_RIGHT_OPERATOR = 2, /* every call */
} hbd_right;

/* How a request ended, as the metrics count it. */
typedef enum hbd_result {
    HBD_RESULT_OK,
    HBD_RESULT_BAD_REQUEST, /* malformed or invalid input */
    HBD_RESULT_NOT_FOUND,
    HBD_RESULT_UNAUTHORIZED, /* missing/invalid token, or lacking the right */
    HBD_RESULT_TOO_LARGE,
    HBD_RESULT_SERVER_ERROR, /* store failure, shutting down */
    HBD_RESULT_COUNT
} hbd_result;

/* "heartbeat", "update_status", "create_run", "get_run", "list_runs",
   "set_status"; NULL out of range. */
const char *hbd_call_name(hbd_call call);
/* The right `call` needs; HBD_RIGHT_OPERATOR out of range. */
hbd_right hbd_call_right(hbd_call call);
/* 1 when `granted` is enough for `call`. */
int hbd_call_allowed(hbd_call call, hbd_right granted);

/* One row of the outcome table. */
typedef struct hbd_outcome {
    int code;                 /* 0 or a negative hbeat code */
    int wire_error;           /* hbeat.v1.ErrorCode on the nng wire */
    unsigned int http_status; /* on REST */
    hbd_result result;        /* in the metrics */
} hbd_outcome;

/* The row for hbeat code `code` (0: success); codes without a row of
   their own (a store failure, out of memory ...) share the INTERNAL / 500
   row. Never NULL. */
const hbd_outcome *hbd_outcome_of(int code);
/* The metrics result of an HTTP status: the result of the row with that
   status; otherwise ok for 2xx, bad_request for any other 4xx,
   server_error for the rest. */
hbd_result hbd_result_of_http(unsigned int status);
/* "ok", "bad_request", "not_found", "unauthorized", "too_large",
   "server_error"; NULL out of range. */
const char *hbd_result_name(hbd_result result);

#endif /* HBD_CALLS_H */
