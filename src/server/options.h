/*
 * hbeatd's command line and environment: every flag has an environment
 * variable (HBEATD_ and the flag's name). Parsing never exits: it fills
 * the struct or says what was wrong.
 */
#ifndef HBD_OPTIONS_H
#define HBD_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "defaults.h"
#include "exposure.h"

#define HBD_MAX_LISTEN 16
typedef struct hbd_options {
    const char *listen[HBD_MAX_LISTEN]; /* nng listen URLs */
    size_t nlisten;
    int http_enabled;   /* 0 for --http none */
    char http_host[64]; /* numeric, without brackets ("::1") */
    unsigned short http_port;
    const char *db;         /* path or ":memory:" */
    int sync;               /* hbd_sync (store.h); 0: the engine's default */
    double reap_interval;   /* seconds, > 0 */
    double reap_grace;      /* seconds; < 0: one full deadline */
    const char *ready_file; /* NULL: none */
    int log_level;          /* hbeat_log_level */
    /* TLS files and the token file: NULL when not given. */
    const char *tls_cert, *tls_key, *tls_client_ca;
    const char *token_file;
    int allow_remote;                    /* listen beyond loopback without a token file */
    size_t max_request;                  /* bytes: REST body, nng message */
    unsigned int max_connections;        /* per front end */
    unsigned int max_connections_per_ip; /* per front end; 0: no limit */
    double read_timeout;                 /* seconds */
    unsigned long min_request_rate;      /* REST: bytes/s; 0: none */
    int help, version;
    /* Private: a --listen on the command line replaces the environment's. */
    int listen_given;
    /* Storage for HBEATD_LISTEN's pieces. */
    char env_listen[1024];
} hbd_options;

/* Defaults, then the environment, then argv. Returns 0, or -1 with a
   message in errbuf (a usage error). */
int hbd_options_parse(hbd_options *o, int argc, char **argv, char *errbuf, size_t errlen);
void hbd_options_usage(FILE *out);

/* The listeners `o` names, as the exposure policy sees them (exposure.h):
   the --listen URLs, then --http when REST is on. `out` holds
   HBD_MAX_LISTEN + 1. Returns the count. */
size_t hbd_options_listeners(const hbd_options *o, hbd_listener_view *out);

#endif /* HBD_OPTIONS_H */
