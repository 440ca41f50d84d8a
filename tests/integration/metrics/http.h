/*
 * One HTTP request with libcurl, for the observability tests: the status,
 * the headers and the body. Proxies from the environment are ignored (the
 * server is on loopback).
 */
#ifndef HBEAT_TEST_OBS_HTTP_H
#define HBEAT_TEST_OBS_HTTP_H

#include <stddef.h>

typedef struct obs_http {
    long status;
    char *body; /* NUL-terminated; len excludes the NUL */
    size_t len;
    char *headers; /* the raw header block of the final response */
} obs_http;

/* `method` `url`, with `body` (NULL: none) sent as application/json.
   0 when an answer came back, else the CURLcode. */
int obs_http_do(const char *method, const char *url, const char *body, obs_http *out);
/* The same with "Authorization: Bearer `token`" (NULL: no header). */
int obs_http_do_auth(const char *method, const char *url, const char *body, const char *token,
                     obs_http *out);
/* The value of header `name` (case-insensitive) copied into out; 0 when
   present, -1 when not. */
int obs_http_header(const obs_http *r, const char *name, char *out, size_t cap);
void obs_http_free(obs_http *r);

#endif
