/* Translation of curl results and HTTP statuses into hbeat codes, with a
   message that says what came back. The raw values are kept beside the
   code: err->native is the CURLcode, err->http_status the reply's status. */
#include "transports/rest/rest_internal.h"

#include <stdio.h>
#include <string.h>

/* "POST /api/v3/..." with at most max_path bytes of the path. */
static void describe_within(const rest_slot *s, char *out, size_t cap, size_t max_path)
{
    static const char *const names[] = {"?", "GET", "POST", "PUT"};
    const char *path = s->url + s->gw->path_off;
    size_t n = strcspn(path, "?");
    if (n == 0) {
        path = "/";
        n = 1;
    }
    /* Long prefixes are cut from the front: the route is the useful end. */
    const char *more = "";
    if (n > max_path) {
        path += n - max_path;
        n = max_path;
        more = "...";
        /* At a segment's start, so that no half word is left. */
        const char *slash = memchr(path, '/', n);
        if (slash != NULL) {
            n -= (size_t)(slash - path);
            path = slash;
        }
    }
    snprintf(out, cap, "%s %s%.*s", names[s->method], more, (int)n, path);
}

void hbeat__rest_describe(const rest_slot *s, char *out, size_t cap)
{
    describe_within(s, out, cap, 96);
}

void hbeat__rest_snippet(const char *body, size_t len, char *out, size_t cap)
{
    if (len == 0) {
        snprintf(out, cap, "(empty body)");
        return;
    }
    size_t n = len < REST_SNIPPET_MAX ? len : REST_SNIPPET_MAX;
    if (n > cap - 4)
        n = cap - 4;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
    }
    if (n < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static long response_code(const rest_slot *s)
{
    long code = 0;
    if (curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        code = 0;
    return code;
}

static int code_for_curl(CURLcode res)
{
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        return HBEAT_ETIMEDOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return HBEAT_ETLS;
    case CURLE_FILESIZE_EXCEEDED:
        return HBEAT_ETOOBIG;
    case CURLE_OUT_OF_MEMORY:
        return HBEAT_ENOMEM;
    case CURLE_URL_MALFORMAT:
        return HBEAT_EINVAL;
    case CURLE_ABORTED_BY_CALLBACK:
        return HBEAT_ECANCELED;
    /* The peer spoke, but not HTTP as we know it (HTTP/0.9, bad headers). */
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_CONTENT_ENCODING:
        return HBEAT_EPROTO;
    default:
        /* Refused, reset, closed, name resolution, empty reply. */
        return HBEAT_ETRANSPORT;
    }
}

int hbeat__rest_curl_error(const rest_slot *s, CURLcode res, hbeat_error *err)
{
    char what[128];
    hbeat__rest_describe(s, what, sizeof(what));
    int code = code_for_curl(res);
    /* A TLS alert (say, a client certificate the server wants) arrives
       after the handshake, so curl calls it a send or receive error. */
    if ((res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR) && strstr(s->errbuf, "SSL") &&
        strstr(s->errbuf, "alert"))
        code = HBEAT_ETLS;
    if (s->reply_too_big || res == CURLE_FILESIZE_EXCEEDED) {
        code = HBEAT_ETOOBIG;
        hbeat_error_set(err, code, "rest: %s: reply larger than the %zu-byte limit", what,
                        s->gw->max_reply);
    } else if (s->errbuf[0] != '\0') {
        size_t n = strlen(s->errbuf);
        while (n > 0 && (s->errbuf[n - 1] == '\n' || s->errbuf[n - 1] == '\r'))
            n--;
        /* curl's own words, led by its short description unless they
           already say it. */
        const char *brief = curl_easy_strerror(res);
        if (strstr(s->errbuf, brief) != NULL)
            hbeat_error_set(err, code, "rest: %s: %.*s", what, (int)n, s->errbuf);
        else
            hbeat_error_set(err, code, "rest: %s: %s (%.*s)", what, brief, (int)n, s->errbuf);
    } else {
        hbeat_error_set(err, code, "rest: %s: %s", what, curl_easy_strerror(res));
    }
    if (err != NULL) {
        err->native = (int)res;
        err->http_status = (int)response_code(s);
    }
    return code;
}

static int code_for_http(long status)
{
    switch (status) {
    case 400:
    case 422:
        return HBEAT_EINVAL;
    case 401:
    case 407:
        return HBEAT_EAUTH;
    case 403:
        return HBEAT_EFORBIDDEN;
    case 404:
    case 410:
        return HBEAT_ENOTFOUND;
    case 405:
    case 501:
        return HBEAT_ENOTSUP;
    case 408:
        return HBEAT_ETIMEDOUT;
    case 413:
    case 414:
    case 431:
        return HBEAT_ETOOBIG;
    /* Locked and rate-limited are the server's state, not a bad request:
       Jobmon's client retries 423 like a 5xx. */
    case 423:
    case 429:
        return HBEAT_ESERVER;
    default:
        break;
    }
    if (status >= 400 && status < 500)
        return HBEAT_EINVAL;
    if (status >= 500 && status < 600)
        return HBEAT_ESERVER;
    /* 1xx, 2xx other than 200, 3xx (redirects are not followed) and
       nonsense are outside the contract. */
    return HBEAT_EPROTO;
}

int hbeat__rest_http_error(const rest_slot *s, long http_status, hbeat_error *err)
{
    char reason[REST_REASON_MAX + 1];
    if (!hbeat__rest_error_reason(s->reply, s->reply_len, reason, sizeof(reason)))
        hbeat__rest_snippet(s->reply, s->reply_len, reason, sizeof(reason));
    int code = code_for_http(http_status);
    const char *hint =
        http_status >= 300 && http_status < 400 ? " (redirects are not followed)" : "";
    char head[48];
    snprintf(head, sizeof(head), "rest: HTTP %ld from ", http_status);
    /* The reason is what a person needs, so the route gives way: its path
       is cut (from the front) to the room the reason leaves, down to a
       recognisable end. "POST ..." and ": " take 10 bytes. */
    size_t used = strlen(head) + strlen(hint) + strlen(reason) + 10;
    size_t room = used < HBEAT_ERROR_MESSAGE_MAX - 1 ? HBEAT_ERROR_MESSAGE_MAX - 1 - used : 0;
    char what[128];
    describe_within(s, what, sizeof(what), room < 24 ? 24 : room > 96 ? 96 : room);
    hbeat_error_set(err, code, "%s%s%s: %s", head, what, hint, reason);
    if (err != NULL)
        err->http_status = (int)http_status;
    return code;
}

int hbeat__rest_proto_error(const rest_slot *s, const char *why, hbeat_error *err)
{
    char what[128];
    char body[REST_SNIPPET_MAX + 8];
    hbeat__rest_describe(s, what, sizeof(what));
    hbeat__rest_snippet(s->reply, s->reply_len, body, sizeof(body));
    hbeat_error_set(err, HBEAT_EPROTO, "rest: HTTP 200 from %s, but %s: %s", what, why, body);
    if (err != NULL)
        err->http_status = 200;
    return HBEAT_EPROTO;
}

int hbeat__rest_canceled_error(const rest_slot *s, hbeat_error *err)
{
    char what[128];
    hbeat__rest_describe(s, what, sizeof(what));
    return hbeat_error_set(err, HBEAT_ECANCELED, "rest: %s canceled: the gateway is closing", what);
}

int hbeat__rest_cut_off_error(const rest_slot *s, long http_status, hbeat_error *err)
{
    char what[128];
    hbeat__rest_describe(s, what, sizeof(what));
    int rc = hbeat_error_set(err, HBEAT_ETRANSPORT,
                             "rest: %s: the connection closed in the middle of the reply's "
                             "headers (HTTP %ld so far)",
                             what, http_status);
    if (err != NULL)
        err->http_status = (int)http_status;
    return rc;
}
