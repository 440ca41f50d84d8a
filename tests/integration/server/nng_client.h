/*
 * A bare nng REQ client for hbeatd's integration tests, built on nng and
 * the generated protobuf-c code directly (not on the library's nng
 * transport, so that the server is tested on its own).
 */
#ifndef HBD_TEST_NNG_CLIENT_H
#define HBD_TEST_NNG_CLIENT_H

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "hbeat/v1/hbeat.pb-c.h"

typedef struct tc_client {
    nng_socket sock;
} tc_client;

/* A run as get_run reports it. */
typedef struct tc_run {
    int64_t id, workflow_id;
    char status[16];
    double deadline, last_heartbeat;
    uint64_t beats;
} tc_run;

/* Dials `url` in client form ("nng+tcp://..."); replies are awaited for
   at most timeout_ms. 0 or an nng error. */
int tc_open(tc_client *c, const char *url, int timeout_ms);
void tc_close(tc_client *c);
/* Ends libnng after the tests: its reaper frees closed connections late,
   and a process that exits first shows them to LeakSanitizer as leaks. */
void tc_fini(void);

/* Sends raw bytes; returns the decoded reply (free with tc_free), or NULL
   with *rv set (transport error) or *rv == -1 (reply not a Reply). */
HbeatPb__Reply *tc_raw(tc_client *c, const void *buf, size_t len, int *rv);
HbeatPb__Reply *tc_call(tc_client *c, const HbeatPb__Request *req, int *rv);
void tc_free(HbeatPb__Reply *reply);

/* Convenience calls. Each returns 0, a positive wire ErrorCode when the
   server answered with an error, or -1 on a transport/protocol failure
   (with a message on stderr). */
int tc_heartbeat(tc_client *c, int64_t run, const char *status, double inc, uint64_t seq,
                 char status_out[16], double *deadline_out);
int tc_update_status(tc_client *c, int64_t run, const char *status, char status_out[16]);
int tc_create(tc_client *c, int64_t workflow, const char *status, int64_t *id_out);
/* tc_create with the run's first deadline `inc` seconds away. */
int tc_create_within(tc_client *c, int64_t workflow, const char *status, double inc,
                     int64_t *id_out, double *deadline_out);
int tc_get(tc_client *c, int64_t run, tc_run *out);
int tc_set_status(tc_client *c, int64_t run, const char *status, int force, tc_run *out);

/* 1 when every field is the same. */
int tc_run_equal(const tc_run *a, const tc_run *b);

/* Wall clock, Unix seconds. */
double tc_now(void);
void tc_sleep_ms(long ms);

#endif
