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
    int grpc_enabled;   /* 0 for --grpc none (the default) */
    char grpc_host[64]; /* numeric, without brackets */
    unsigned short grpc_port;
    unsigned int grpc_max_calls; /* gRPC calls in flight at once */
    const char *db;              /* path or ":memory:" */
    int sync;                    /* hbd_sync (store.h); 0: the engine's default */
    double reap_interval;        /* seconds, > 0 */
    double reap_grace;           /* seconds; < 0: one full deadline */
    double db_timeout;           /* seconds: PostgreSQL's answers */
    const char *ready_file;      /* NULL: none */
    int log_level;               /* hbeat_log_level */
    /* TLS files and the token file: NULL when not given. */
    const char *tls_cert, *tls_key, *tls_client_ca;
    const char *token_file;
    int allow_remote;                    /* listen beyond loopback without a token file */
    size_t max_request;                  /* bytes: REST body, nng message */
    unsigned int max_connections;        /* per front end */
    unsigned int max_connections_per_ip; /* per front end; 0: no limit */
    double read_timeout;                 /* seconds */
    unsigned long min_request_rate;      /* REST: bytes/s; 0: none */
    const char *config;                  /* --config FILE; NULL: none */
    int help, version;
    /* Private: a --listen on the command line replaces the environment's,
       a listen in the file the defaults'. */
    int listen_given, listen_in_file;
    /* The --config file's text, which the values above point into. */
    char *file_text;
    /* Storage for HBEATD_LISTEN's pieces. */
    char env_listen[1024];
} hbd_options;

/* Defaults, then the --config file, then the environment, then argv.
   Returns 0, or -1 with a message in errbuf (a usage error). Free with
   hbd_options_free() before parsing into `o` again. */
int hbd_options_parse(hbd_options *o, int argc, char **argv, char *errbuf, size_t errlen);
void hbd_options_free(hbd_options *o);
void hbd_options_usage(FILE *out);

/* The listeners `o` names, as the exposure policy sees them (exposure.h):
   the --listen URLs, then --grpc and --http when they are on. `out` holds
   HBD_MAX_LISTEN + 2. Returns the count. */
size_t hbd_options_listeners(const hbd_options *o, hbd_listener_view *out);

/* The table, for the configuration file (options_file.h): option i's key
   is its flag without "--". */
typedef struct hbd_option_info {
    const char *key, *arg, *def, *help; /* arg NULL: a switch */
    int repeat;
} hbd_option_info;
size_t hbd_options_count(void);
void hbd_options_describe(size_t i, hbd_option_info *out);
/* Sets option i from the file's text; `where` ("FILE:LINE: key") starts
   the message. */
int hbd_options_set_key(hbd_options *o, size_t i, const char *where, const char *value,
                        char *errbuf, size_t errlen);
/* Reads `path` into o (options_file.c). */
int hbd_options_read_file(hbd_options *o, const char *path, char *errbuf, size_t errlen);

#endif /* HBD_OPTIONS_H */
