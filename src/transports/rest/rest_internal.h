/*
 * The REST transport (http://, https://): Jobmon's v3 heartbeat routes and
 * hbeatd's admin routes over libcurl, JSON through jansson.
 *
 * Threads. One gateway may serve many services on many threads at once
 * (the vtable sets HBEAT_GATEWAY_THREAD_SAFE). A curl easy handle must be
 * used by one thread at a time, so the gateway keeps a mutex-protected pool
 * of "slots": each slot is an easy handle plus a private multi handle that
 * owns the slot's connection cache, so a slot keeps its keep-alive
 * connection from one call to the next. A blocking call borrows a slot for
 * its duration and drives the slot's multi handle itself; asynchronous
 * heartbeats are lent to the gateway's single worker thread, which drives
 * them together on its own multi handle. close() wakes every multi handle
 * in use (curl_multi_wakeup is the one curl call documented as callable
 * from another thread), so calls in flight end at once with
 * HBEAT_ECANCELED.
 */
#ifndef HBEAT_REST_INTERNAL_H
#define HBEAT_REST_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hbeat/sys/gateway.h"

#define REST_DEFAULT_CONNECT_TIMEOUT 5.0
/* Jobmon's client allows 20 s per request. */
#define REST_DEFAULT_REQUEST_TIMEOUT 20.0
#define REST_DEFAULT_MAX_REPLY       (64 * 1024)
/* Idle slots kept for reuse; extra ones made under load are freed. */
#define REST_POOL_IDLE_MAX 8
/* Request bodies are small and fixed in shape; a status token is at most
   15 bytes (30 escaped), a number at most 24. */
#define REST_BODY_MAX 256
/* Room after the base URL for a route, an id and a query string. */
#define REST_ROUTE_MAX 256
/* How much of an unexpected body an error message quotes. */
#define REST_SNIPPET_MAX 80
/* How much of the reason an error reply gives (rest_reason.c) a message
   quotes: Jobmon's reasons run to a hundred bytes and more, and a message
   holds HBEAT_ERROR_MESSAGE_MAX - 1 with the route before it. */
#define REST_REASON_MAX 200
/* hbeatd's admin listing page size. */
#define REST_LIST_LIMIT 100

typedef enum rest_method { REST_NONE = 0, REST_GET, REST_POST, REST_PUT } rest_method;

typedef struct rest_gw rest_gw;

typedef struct rest_slot {
    rest_gw *gw;
    /* Link in the free list, the worker's queue or its in-flight list. */
    struct rest_slot *next;
    /* Link in the list of every slot, so close() can reach busy ones. */
    struct rest_slot *all_next;
    CURL *easy;
    /* Drives blocking calls and keeps this slot's connection alive. */
    CURLM *multi;
    /* Non-zero while a caller's thread holds the slot, rather than the
       pool or the worker (guarded by gw->mu; close() waits for these). */
    int held;
    /* The method and headers the easy handle is set up for. */
    rest_method method;
    /* The request URL, and what CURLOPT_URL currently holds: curl copies
       the URL on every setopt, so it is only set when it changes. */
    char *url;
    char *url_set;
    /* The last heartbeat's URL (for hb_run) and body (for hb_status and
       hb_inc), kept apart from url and body, which every call rewrites: a
       steady beat copies them instead of formatting them again. */
    char *hb_url;
    size_t hb_url_len;
    int64_t hb_run; /* 0: hb_url holds nothing */
    char hb_body[REST_BODY_MAX];
    size_t hb_body_len; /* 0: hb_body holds nothing */
    char hb_status[HBEAT_STATUS_MAX + 1];
    double hb_inc;
    /* Request body (POST/PUT). */
    char body[REST_BODY_MAX];
    size_t body_len;
    /* Reply body, capped at gw->max_reply; grown on demand, then reused. */
    char *reply;
    size_t reply_len;
    size_t reply_cap;
    int reply_too_big;
    int reply_oom;
    /* A header section has begun and not yet ended: libcurl 7.88 takes
       headers cut off by a close for a whole reply with an empty body. */
    int in_headers;
    /* The next transfer must open a new connection (one-shot), and
       whether CURLOPT_FRESH_CONNECT is currently on. */
    int fresh;
    int fresh_on;
    /* CURLOPT_TIMEOUT_MS was cut for a second try; restored next time. */
    int timeout_cut;
    char errbuf[CURL_ERROR_SIZE];
    /* Asynchronous heartbeat completion. */
    hbeat_gateway_done_fn done;
    void *done_arg;
    int retried;
} rest_slot;

struct rest_gw {
    /* scheme://host[:port]/prefix without a trailing slash. */
    char *base;
    size_t base_len;
    /* Offset of the path in a request URL, for messages. */
    size_t path_off;
    long connect_ms;
    long request_ms;
    size_t max_reply;
    int insecure;
    char *user_agent;
    /* The client_jobmon_version query parameter's value, URL-escaped. */
    char *jobmon_version;
    size_t jobmon_version_len;
    char *ca_file;
    char *cert_file;
    char *key_file;
    /* Shared read-only by every easy handle. */
    struct curl_slist *hdr_body;
    struct curl_slist *hdr_nobody;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    rest_slot *free_slots;
    rest_slot *all_slots;
    unsigned int nfree;
    /* Slots held by callers' threads (see rest_slot.held). */
    unsigned int nheld;
    /* Set once by close(); read without the lock by transfer loops. */
    atomic_int closing;
    int closed;

    /* Asynchronous heartbeats: one worker thread, started on first use. */
    int worker_started;
    pthread_t worker;
    CURLM *amulti;
    rest_slot *aqueue;
    rest_slot *aqueue_tail;
};

/* Room for a request URL: the base, a route with its ids and the query
   string, which carries client_jobmon_version. */
static inline size_t hbeat__rest_url_cap(const rest_gw *gw)
{
    return gw->base_len + REST_ROUTE_MAX + gw->jobmon_version_len;
}

/* Longest client_jobmon_version accepted, in bytes (before escaping). */
#define REST_JOBMON_VERSION_MAX 64

/* rest_url.c ------------------------------------------------------------- */

/* Checks the base URL and stores it, normalised, in gw->base. */
int hbeat__rest_url_parse(rest_gw *gw, const char *url, hbeat_error *err);
/* Percent-encodes every byte but RFC 3986's unreserved ones, for a query
   string, into out (3 bytes per input byte and a NUL; cut otherwise). */
void hbeat__rest_url_escape_token(char *out, size_t cap, const char *token);

/* rest_pool.c ------------------------------------------------------------ */

/* Takes an idle slot or makes one, held by the calling thread;
   HBEAT_ECANCELED once close() has begun. */
int hbeat__rest_slot_acquire(rest_gw *gw, rest_slot **out, hbeat_error *err);
/* Gives a slot back, from a caller's thread or from the worker. */
void hbeat__rest_slot_release(rest_gw *gw, rest_slot *s);
void hbeat__rest_slot_free(rest_slot *s);
/* Sets up URL, method and body for the next transfer and clears the reply. */
void hbeat__rest_slot_prepare(rest_slot *s, rest_method method);
/* Runs the prepared transfer on the slot's own multi handle, retrying
   once on a new connection as hbeat__rest_slot_retry() says. *canceled is set
   when close() stopped it. */
CURLcode hbeat__rest_slot_perform(rest_slot *s, int *canceled);
/* 1 when a transfer failed on a kept-alive connection before a byte of
   the reply came back: the server closed it under us (Jobmon does after
   an error reply; idle timeouts do), so the request is sent again once on
   a new connection, set up by this call. Beats and status updates are
   safe to repeat. */
int hbeat__rest_slot_retry(rest_slot *s, CURLcode res);

/* Turns a finished transfer into 0 (HTTP 200, body in s->reply) or an
   error with a message that says what came back. */
int hbeat__rest_transfer_result(rest_slot *s, CURLcode res, int canceled, hbeat_error *err);

/* rest_error.c ----------------------------------------------------------- */

int hbeat__rest_curl_error(const rest_slot *s, CURLcode res, hbeat_error *err);
int hbeat__rest_http_error(const rest_slot *s, long http_status, hbeat_error *err);
/* A 200 whose body breaks the contract; why says how. */
int hbeat__rest_proto_error(const rest_slot *s, const char *why, hbeat_error *err);
int hbeat__rest_canceled_error(const rest_slot *s, hbeat_error *err);
/* The connection closed in the middle of the reply's headers. */
int hbeat__rest_cut_off_error(const rest_slot *s, long http_status, hbeat_error *err);
/* "POST /api/v3/..." for messages (without the query string). */
void hbeat__rest_describe(const rest_slot *s, char *out, size_t cap);
/* A printable, bounded quote of the reply body. */
void hbeat__rest_snippet(const char *body, size_t len, char *out, size_t cap);

/* rest_reason.c ---------------------------------------------------------- */

/* The reason an error body gives: error.exception_message of Jobmon's
   envelope {"error": {"type": T, "exception_message": M, ...}} (hbeatd's
   too), led by T's class name when both fit ("NoResultFound: M"), or the
   string of {"error": "..."}. Printable ASCII, at most REST_REASON_MAX
   bytes and cap - 1, "..." where cut. 1 when found; else 0 and out "". */
int hbeat__rest_error_reason(const char *body, size_t len, char *out, size_t cap);

/* rest_json.c ------------------------------------------------------------ */

/* {"status": "R", "next_report_increment": 45.0}, as Jobmon's client
   writes it. -1 when it does not fit or the number is not finite. */
int hbeat__rest_json_heartbeat_body(char *out, size_t cap, const char *status, double increment);
/* {"status": "X"} */
int hbeat__rest_json_status_body(char *out, size_t cap, const char *status);
/* {"workflow_id": W, "status": "X"[, "next_report_increment": 93.0]}: the
   increment (the run's first deadline, named as Jobmon's POST
   /workflow_run names it) only when not NULL. */
int hbeat__rest_json_create_body(char *out, size_t cap, int64_t workflow_id, const char *status,
                                 const double *increment);
int hbeat__rest_json_set_status_body(char *out, size_t cap, const char *status, int force);
/* Parsers of a 200 reply held in the slot: 0 or HBEAT_EPROTO. */
int hbeat__rest_json_status_reply(const rest_slot *s, hbeat_heartbeat_reply *reply,
                                  hbeat_error *err);
int hbeat__rest_json_run_reply(const rest_slot *s, hbeat_run_info *out, hbeat_error *err);
/* Passes each run of a page to sink; *next_after_id is 0 on the last page;
 *stopped is set when the sink asked to stop. */
int hbeat__rest_json_runs_page(const rest_slot *s, hbeat_run_sink_fn sink, void *ctx,
                               int64_t *next_after_id, int *stopped, hbeat_error *err);

/* rest_async.c ----------------------------------------------------------- */

/* Queues a prepared slot on the worker; done runs exactly once later. */
int hbeat__rest_async_submit(rest_gw *gw, rest_slot *s, hbeat_gateway_done_fn done, void *arg,
                             hbeat_error *err);
/* Called with gw->mu held, closing already set: wakes the worker. */
void hbeat__rest_async_wake(rest_gw *gw);
/* Waits for the worker to cancel what it holds and exit. */
void hbeat__rest_async_join(rest_gw *gw);

/* rest_gateway.c --------------------------------------------------------- */

#endif /* HBEAT_REST_INTERNAL_H */
