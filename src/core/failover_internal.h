/* The failover gateway, shared by failover.c (life cycle, the blocking
   calls and the admin calls) and failover_async.c (the asynchronous
   heartbeat). It reaches its members only through their handles. */
#ifndef HBEAT_CORE_FAILOVER_INTERNAL_H
#define HBEAT_CORE_FAILOVER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "hbeat/sys/failover.h"
#include "hbeat/sys/gateway.h"

typedef struct hbeat__failover {
    size_t count;
    hbeat_gateway *members[HBEAT_URL_MAX_SERVERS];
    char names[HBEAT_URL_MAX_SERVERS][HBEAT_SERVER_NAME_MAX + 1];
    hbeat_clock *clock;
    /* The member a call goes to first; atomic. */
    int current;

    pthread_mutex_t mu;
    pthread_cond_t idle;
    int closing;
    /* Asynchronous starts on a member in progress: close waits for them
       before it frees the members. */
    int starting;
} hbeat__failover;

/* What one call has met so far, for its error message. */
typedef struct hbeat__failover_trail {
    hbeat__failover *fo;
    int start;  /* the member tried first */
    int tried;  /* members tried */
    int64_t t0; /* start of the call, on fo->clock */
    double lease_remaining;
    int last_member;
    int stopped; /* why no further member was tried: see failover_rules.c */
    hbeat_error last;
    char earlier[HBEAT_ERROR_MESSAGE_MAX]; /* "h1:7781 (timed out), ..." */
} hbeat__failover_trail;

/* 1 when `rc` says the server gave no usable answer: the call may go on
   to the next server. */
int hbeat__failover_moves_on(int rc);

void hbeat__failover_trail_begin(hbeat__failover_trail *t, hbeat__failover *fo,
                                 double lease_remaining);
/* The member the next attempt goes to. */
int hbeat__failover_trail_member(const hbeat__failover_trail *t);
/* Notes that `member` answered (rc 0 or an answer that does not move on):
   it becomes the first choice. */
void hbeat__failover_answered(hbeat__failover *fo, int member);
/* Notes a failure of the member just tried, handing the first place on
   when the failure moves on; 1 when the call may try another member:
   `resend` allows it, members are left and the lease has time left. */
int hbeat__failover_trail_failed(hbeat__failover_trail *t, int rc, const hbeat_error *err,
                                 int resend);
/* The call's error, named after the servers: the last failure's code,
   HTTP status and native code. Returns the code. */
int hbeat__failover_trail_error(const hbeat__failover_trail *t, hbeat_error *err);

/* Rewrites `message` as "<before> failed, then <name>: <message><why>"
   (without the first part when `before` is empty), cut to fit. */
void hbeat__failover_message(char message[HBEAT_ERROR_MESSAGE_MAX], const char *before,
                             const char *name, const char *why);

/* failover_async.c */
int hbeat__failover_heartbeat_async(void *self, const hbeat_heartbeat_request *req,
                                    hbeat_gateway_done_fn done, void *arg, hbeat_error *err);

#endif
