/*
 * Shared by the security tests: throw-away certificates made with the
 * openssl command line at test time, hbeatd's ready file and log, token
 * files, raw sockets (to play a slow or a hostile client), and library
 * gateways with options.
 */
#ifndef HBEAT_TEST_SEC_SUPPORT_H
#define HBEAT_TEST_SEC_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "hbeat/hbeat.h"
#include "support/hbeatd_harness.h"

/* ---- certificates ---- */

typedef struct sec_certs {
    char dir[256]; /* temp dir holding everything below; "" when not made */
    char why[256]; /* why making them failed */
} sec_certs;

/* File names inside sec_certs.dir. Every key is P-256, every leaf signed
   by "ca" unless said otherwise. */
#define SEC_CA             "ca.crt"     /* the CA hbeatd's certificates chain to */
#define SEC_CA2            "ca2.crt"    /* another CA: the "wrong CA" */
#define SEC_SERVER_CRT     "server.crt" /* localhost, 127.0.0.1 (as IP and as DNS name) */
#define SEC_SERVER_KEY     "server.key"
#define SEC_EXPIRED_CRT    "expired.crt"   /* server.key's, valid 2020-01-01..02 */
#define SEC_OTHERHOST_CRT  "otherhost.crt" /* other.example only */
#define SEC_OTHERHOST_KEY  "otherhost.key"
#define SEC_CLIENT_CRT     "client.crt" /* a client certificate */
#define SEC_CLIENT_KEY     "client.key"
#define SEC_CLIENT_CA2_CRT "client-ca2.crt"     /* client.key's, signed by ca2 */
#define SEC_CLIENT_EXPIRED "client-expired.crt" /* client.key's, expired */

/* 1 when an openssl binary is on PATH. */
int sec_have_openssl(void);
/* Makes the certificates above (openssl req / openssl ca) and checks that
   the expired ones really are expired and the others valid. 0, or -1 with
   c->why filled. */
int sec_certs_make(sec_certs *c);
/* For a test program's main(): makes the certificates, saying why not on
   stdout or stderr. 0; 77 (CTest's "skipped") when there is no openssl
   binary; 1 when they cannot be made. */
int sec_certs_for_main(sec_certs *c);
/* The full path of `name` in the certificate dir (a static buffer per
   slot 0..7, so that several can be used in one call). */
const char *sec_cert(const sec_certs *c, const char *name, int slot);
void sec_certs_remove(sec_certs *c);

/* ---- hbeatd ---- */

/* Starts hbeatd (hbd_harness_start) with the certificate SEC_SERVER_CRT and
   its key, an nng listener on tls+tcp://127.0.0.1:0 (besides the harness's
   own), REST over https, and `extra_args` (NULL-terminated, or NULL; at
   most 16) after them; then reads the client URLs of the TLS listeners
   ("nng+tls+tcp://127.0.0.1:PORT", "https://127.0.0.1:PORT/api/v3") from
   the ready file. 0, or -1 with a message on stderr and hbeatd not
   running (hbd_harness_cleanup still needed). Usable outside a cmocka
   test. */
int sec_start_tls_hbeatd(hbd_harness *h, const sec_certs *c, const char *const *extra_args,
                         char *nng_url, size_t nng_size, char *https_url, size_t https_size);
/* The line of hbeatd's ready file starting with `prefix` ("nng tls+tcp://",
   "http https://"), turned into a client URL ("nng+tls+tcp://..." or
   "https://..."). 0 or -1. */
int sec_ready_url(const hbd_harness *h, const char *prefix, char *out, size_t size);
/* The port of the first ready-file line starting with `prefix`; -1. */
int sec_ready_port(const hbd_harness *h, const char *prefix);
/* 1 when hbeatd's log holds `needle`. */
int sec_log_contains(const hbd_harness *h, const char *needle);
/* Polls hbeatd's log for `needle`, at most `timeout` seconds. 0 or -1. */
int sec_log_wait(const hbd_harness *h, const char *needle, double timeout);
/* Writes `text` to `path` with mode 0600. 0 or -1. */
int sec_write_file(const char *path, const char *text);

/* ---- raw sockets ---- */

/* A TCP connection to 127.0.0.1:port from `src` ("127.0.0.2"; NULL: any),
   with a 5 s receive timeout. fd or -1. */
int sec_connect(const char *src, int port);
/* 1 when the server ends the connection (EOF, reset) within `timeout`
   seconds; 0 when it is still open then. Reads and drops any data. */
int sec_closed_within(int fd, double timeout);
/* One HTTP/1.1 request on a fresh connection (plain http), the answer
   read until the server closes or 5 s pass. Bytes read, or -1. */
long sec_http(int port, const char *request, char *reply, size_t size);
/* The SP handshake of an nng REQ peer on a fresh connection from `src`:
   fd once hbeatd's REP header came back, or -1. */
int sec_sp_connect(const char *src, int port);

/* ---- gateways ---- */

typedef struct sec_tls {
    const char *ca_file, *cert_file, *key_file;
    int insecure;
} sec_tls;

/* Opens `url` with `token` (NULL: none), TLS files (NULL: none) and a
   request timeout. NULL on failure, with a cmocka failure message. */
hbeat_gateway *sec_open(const char *url, const char *token, const sec_tls *tls, double timeout);

/* Seconds since some fixed point (monotonic). */
double sec_now(void);
void sec_sleep_ms(long ms);

/* Every call a client can make, for tests of who may make which. */
enum { C_BEAT, C_UPDATE, C_CREATE, C_GET, C_LIST, C_SET, C_COUNT };
extern const char *const sec_call_names[C_COUNT];
/* Makes call `call` through `gw` on run `run` (create and list name no
   run); 0 or the call's error. */
int sec_call(hbeat_gateway *gw, int call, int64_t run, hbeat_error *err);

#endif /* HBEAT_TEST_SEC_SUPPORT_H */
