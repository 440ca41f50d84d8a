/*
 * The nng transport's private pieces, shared between its files:
 *   url.c       check a client URL and turn it into an nng dial address
 *   options.c   timeouts, size cap, token and TLS files from the options
 *   tls.c       nng+tls+tcp: the dialer's TLS config, and a diagnostic
 *               handshake that names why TLS failed
 *   errors.c    nng error numbers and wire error codes -> hbeat codes
 *   codec.c     protobuf-c encoding of requests, decoding of the Reply envelope
 *               (payloads are checked in transports/wire)
 *   exchange.c  one request/reply round trip on a pooled nng context
 *   dialer.c    the background dialer, replaced when nng gives up on it
 *   gateway.c   the vtable and hbeat__nng_open
 */
#ifndef HBEAT_TRANSPORTS_NNG_INTERNAL_H
#define HBEAT_TRANSPORTS_NNG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <protobuf-c/protobuf-c.h>

#include "hbeat/v1/hbeat.pb-c.h"

#include "hbeat/errors.h"
#include "hbeat/sys/gateway.h"
#include "transports/wire/wire.h"

/* Defaults: no timeout is ever infinite. */
#define HBEAT__NNG_DEFAULT_TIMEOUT_S 5.0
#define HBEAT__NNG_DEFAULT_MAX_REPLY ((size_t)1 << 20)
#define HBEAT__NNG_RECONNECT_MIN_MS  10
#define HBEAT__NNG_RECONNECT_MAX_MS  1000
/* nng durations are int32 milliseconds; longer timeouts are refused. */
#define HBEAT__NNG_MAX_TIMEOUT_S 2000000.0

/* ---- url.c ---- */

/* Check a client URL (nng+tcp://HOST:PORT, nng+tls+tcp://HOST:PORT,
   nng+ipc:///path, nng+inproc://name) and write the address nng dials
   into @p dial. */
int hbeat__nng_url_to_dial(const char *url, char *dial, size_t dial_size, hbeat_error *err);
/* 1 for a (checked) nng+tls+tcp:// URL, with its host (no brackets) and
   port copied out; 0 for the other forms. */
int hbeat__nng_url_tls_host(const char *url, char *host, size_t host_size, char *port,
                            size_t port_size);

/* ---- options.c ---- */

typedef struct hbeat__nng_settings {
    double timeout_s;
    nng_duration timeout_ms;
    size_t max_reply;
    /* Heap copy, or NULL when no token is configured. */
    char *token;
    /* nng+tls+tcp only: heap copies (ca_file is the system bundle when
       not given), the server name checked against the certificate, and
       the port, for the diagnostic handshake. */
    int tls;
    int insecure;
    char *ca_file, *cert_file, *key_file;
    char host[256];
    char port[8];
} hbeat__nng_settings;

int hbeat__nng_settings_from(hbeat__nng_settings *out, const char *url,
                             const hbeat_gateway_options *opts, hbeat_error *err);
void hbeat__nng_settings_release(hbeat__nng_settings *s);

/* ---- tls.c ---- */

/* The dialer's TLS configuration (client mode, verification on unless
   insecure, server name = URL host). HBEAT_ETLS names the file at fault.
   *out is an nng_tls_config the caller frees after setting it. */
int hbeat__nng_tls_config(void **out, const hbeat__nng_settings *s, const char *url,
                          hbeat_error *err);
/* One TLS handshake of our own (mbedTLS, set up as nng's dialer is) with a
   time limit, to learn what nng only reports as a failed connection.
   0: the handshake works. HBEAT_ETLS: it failed, with the reason (the
   server's certificate expired, is for another host, is not signed by a
   CA in ca_file; the server wants a client certificate; ...).
   HBEAT_ETIMEDOUT: no handshake within @p timeout_ms. HBEAT_ETRANSPORT: no
   TCP connection (the server is down; nothing to say about TLS). */
int hbeat__nng_tls_probe(const hbeat__nng_settings *s, const char *url, int timeout_ms,
                         hbeat_error *err);

/* ---- errors.c ---- */

/* Which half of a round trip failed: nng's REQ completes a send only once
   a connection has taken the message, so a send that times out means the
   server was never reached. */
typedef enum hbeat__nng_phase { HBEAT__NNG_SEND, HBEAT__NNG_RECV } hbeat__nng_phase;

/* Translate nng error @p rv into @p err (native = rv); return the code.
   @p closing (the gateway is closing) makes any failure HBEAT_ECANCELED. */
int hbeat__nng_fail(hbeat_error *err, int rv, hbeat__nng_phase phase, int closing, const char *url,
                    double timeout_s);
/* The hbeat code for a wire ErrorCode (unknown ones are server errors). */
int hbeat__nng_code_from_wire(int wire_code);
/* The wire name of an ErrorCode ("NOT_FOUND"), or "UNKNOWN". */
const char *hbeat__nng_wire_code_name(int wire_code);

/* ---- codec.c ---- */

/* Pack @p req into a new nng message. */
int hbeat__nng_encode(nng_msg **out, const HbeatPb__Request *req, const char *url,
                      hbeat_error *err);

/*
 * Unpack @p data and check that it answers a call of @p expect: an Error
 * reply becomes its hbeat code with the server's message; anything else
 * that is not @p expect is HBEAT_EPROTO. On 0 *out must be released with
 * hbeat__nng_reply_free().
 */
int hbeat__nng_decode(HbeatPb__Reply **out, const void *data, size_t len,
                      HbeatPb__Reply__ResultCase expect, hbeat__wire_arena *arena, const char *url,
                      hbeat_error *err);
void hbeat__nng_reply_free(HbeatPb__Reply *reply, hbeat__wire_arena *arena);

/* ---- exchange.c ---- */

typedef struct hbeat__nng_gw hbeat__nng_gw;

/* One nng context with its aio; pooled, so a steady beat allocates nothing
   of ours. Each call in flight owns one slot. */
typedef struct hbeat__nng_slot {
    hbeat__nng_gw *gw;
    nng_ctx ctx;
    nng_aio *aio;
    int is_async;
    /* Taken by a call (under the gateway's mu). */
    int in_use;
    struct hbeat__nng_slot *next_free;
    struct hbeat__nng_slot *next_all;

    /* Async heartbeat state, owned by the slot while the call is in flight. */
    hbeat__nng_phase phase;
    nng_time deadline;
    uint64_t sequence;
    hbeat_gateway_done_fn done;
    void *done_arg;
    hbeat__wire_arena arena;
} hbeat__nng_slot;

struct hbeat__nng_gw {
    /* First: the blocking calls (wire/calls.c) take the gateway as theirs. */
    hbeat__wire_gateway wire;
    nng_socket sock;
    /* Replaced (under dial_mu) when nng's own gives up; the one replaced
       is kept as `retired` until a connection is up. See dialer.c. */
    nng_dialer dialer;
    nng_dialer retired;
    atomic_int has_retired;
    pthread_mutex_t dial_mu;
    /* What nng dials (the URL without "nng+"). */
    char *address;
    int sock_open;
    /* The URL as the user gave it, for messages. */
    char *url;
    hbeat__nng_settings set;

    pthread_mutex_t mu;
    pthread_cond_t idle;
    int closing;
    unsigned int in_flight;
    hbeat__nng_slot *free_sync;
    hbeat__nng_slot *free_async;
    hbeat__nng_slot *all;

    /* Connections up now (pipe events), and since when (nng_clock) there
       has been none or the dialer was last replaced. */
    atomic_int pipes;
    _Atomic uint64_t pipeless_since;
    /* nng+tls+tcp: the last diagnosed TLS failure (under mu; code 0: none). */
    hbeat_error tls_failure;
};

/* Blocking round trip: send @p req (always consumed), wait for the reply,
 *reply receives the message to be freed with nng_msg_free(). */
int hbeat__nng_roundtrip(hbeat__nng_gw *gw, nng_msg *req, nng_msg **reply, hbeat_error *err);

/* Start an asynchronous heartbeat round trip; see log_heartbeat_async. */
int hbeat__nng_start_async(hbeat__nng_gw *gw, nng_msg *req, uint64_t sequence,
                           hbeat_gateway_done_fn done, void *arg, hbeat_error *err);

/* Fail every call in flight with HBEAT_ECANCELED and wait for them. */
void hbeat__nng_shutdown(hbeat__nng_gw *gw);
/* Free the pooled slots; no call may be in flight. */
void hbeat__nng_free_slots(hbeat__nng_gw *gw);

/* ---- dialer.c ---- */

/* Count the socket's connections (before any dialer starts). */
int hbeat__nng_watch_pipes(hbeat__nng_gw *gw);
/* A dialer for gw->address with the gateway's options, dialing in the
   background. */
int hbeat__nng_dialer_start(hbeat__nng_gw *gw, nng_dialer *out, hbeat_error *err);
/* Called by every call before it waits for a connection: replace a dialer
   that has had no connection for too long. Cheap when connected. */
void hbeat__nng_redial_if_stuck(hbeat__nng_gw *gw);

#endif /* HBEAT_TRANSPORTS_NNG_INTERNAL_H */
