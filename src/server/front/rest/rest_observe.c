/*
 * GET / and GET /metrics. The page is a constant; the metrics text is
 * rendered per scrape into the reply's heap buffer. Neither touches the
 * store, so neither waits for a commit.
 */
#include "rest_observe.h"

#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Generated from status_page.html (embed.cmake). */
extern const unsigned char hbd_status_page_html[];
extern const size_t hbd_status_page_html_len;

/* The page's script and style are inline and it talks only to its own
   origin; everything else is refused, which also keeps it from being
   framed. Data is written with textContent, never parsed as HTML. */
static const char *const page_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options",
    "nosniff",
    "Referrer-Policy",
    "no-referrer",
    NULL};

static const char *const metrics_headers[] = {"Cache-Control", "no-store", NULL};

static int method_ok(const hbd_rest_request *req, hbd_rest_reply *r)
{
    if (req->method != NULL &&
        (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0))
        return 1;
    char echo[24];
    const char *m = req->method != NULL ? req->method : "";
    hbd_rest_echo(echo, sizeof echo, m, strlen(m));
    hbd_rest_reply_error(r, req, 405, "method %s not allowed here; allowed: GET, HEAD", echo);
    r->allow = "GET, HEAD";
    return 0;
}

static void status_page(hbd_rest_reply *r)
{
    r->status = 200;
    r->body = (const char *)hbd_status_page_html;
    r->len = hbd_status_page_html_len;
    r->content_type = "text/html; charset=utf-8";
    r->headers = page_headers;
}

/* The runs by status, in the metrics' order of codes. A deferred
   engine's count: this thread (one of REST's) waits for the database.
   Scrapes are rare; client calls never wait like this. */
static int count_runs(hbd_engine *engine, uint64_t counts[HBD_METRICS_STATUSES])
{
    static const char codes[] = HBD_METRICS_STATUS_CODES;
    uint64_t by_index[HBD_ST_COUNT];
    uint64_t ticket = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbd_engine_count_runs_begin(engine, by_index, &ticket, &err);
    if (rc == 0 && hbd_engine_deferred(engine))
        rc = hbd_engine_wait(engine, ticket);
    if (rc != 0)
        return rc;
    for (int i = 0; i < HBD_ST_COUNT; i++) {
        const char *at = strchr(codes, hbd_status_token(i)[0]);
        if (at != NULL)
            counts[at - codes] += by_index[i];
    }
    return 0;
}

static void metrics(hbd_engine *engine, const hbd_rest_request *req, hbd_rest_reply *r)
{
    char *text = NULL;
    size_t len = 0;
    uint64_t runs[HBD_METRICS_STATUSES] = {0};
    int rc = count_runs(engine, runs);
    /* With the database away the counts are unknown, and the rest (its
       hbeatd_store_up 0 first of all) is what a scrape is for. */
    int counted = rc == 0;
    if (rc == HBEAT_EBUSY)
        rc = 0;
    if (rc == 0)
        rc = hbd_metrics_render(counted ? runs : NULL, &text, &len);
    if (rc != 0) {
        hbd_rest_reply_engine_error(r, req, rc, NULL);
        return;
    }
    free(r->heap);
    r->heap = text;
    r->status = 200;
    r->body = text;
    r->len = len;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    r->headers = metrics_headers;
}

int hbd_rest_observe(hbd_engine *engine, const hbd_rest_request *req, hbd_right right,
                     hbd_rest_reply *r)
{
    if (req->path == NULL)
        return 0;
    int page = strcmp(req->path, "/") == 0;
    if (!page && strcmp(req->path, "/metrics") != 0)
        return 0;
    if (!method_ok(req, r))
        return 1;
    if (page)
        status_page(r);
    else if (right < HBD_RIGHT_OPERATOR)
        hbd_rest_reply_error(r, req, 403, "/metrics needs an operator token");
    else
        metrics(engine, req, r);
    return 1;
}
