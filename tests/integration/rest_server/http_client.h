/*
 * A minimal HTTP client for the REST front end's tests, on raw libcurl
 * (deliberately not hbeat's REST transport: the server is tested on its
 * own). One request at a time per CURL handle; the handle keeps its
 * connection between requests, as Jobmon's client does.
 */
#ifndef REST_TEST_HTTP_CLIENT_H
#define REST_TEST_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stddef.h>

typedef struct http_reply {
    long status;
    char *body; /* NUL-terminated; len excludes the NUL */
    size_t len;
    char content_type[128];
    char allow[64];
    char connection[32];
    long new_connections; /* connections opened for this request */
} http_reply;

/* Sends `method` `url` with `body` (NULL: none). `chunked` sends the body
   with Transfer-Encoding: chunked instead of a Content-Length. Returns the
   CURLcode (0 when a reply came back). */
int http_do(CURL *h, const char *method, const char *url, const char *body, size_t len, int chunked,
            http_reply *out);
void http_reply_free(http_reply *r);
/* 1 when the body is exactly `expected`. */
int http_body_is(const http_reply *r, const char *expected);
/* Checks Jobmon's error shape for `status` with cmocka asserts. */
void http_check_error(const http_reply *r, long status);

/* Raw TCP, for what libcurl will not send. Connects to 127.0.0.1:port with
   a 10 s receive timeout; -1 on failure. */
int raw_connect(unsigned short port);
/* Sends all of buf (no SIGPIPE); 0, or -1 when the peer is gone. */
int raw_send(int fd, const void *buf, size_t len);
/* Reads into buf (NUL-terminated) until `needle` has been seen `count`
   times, the peer closes, or the timeout; returns the bytes read. */
size_t raw_read(int fd, char *buf, size_t cap, const char *needle, int count);

#endif
