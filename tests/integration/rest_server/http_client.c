/* See http_client.h. */
#define _POSIX_C_SOURCE 200809L

#include "integration/rest_server/http_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/rest_cases.h"

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    http_reply *r = arg;
    size_t add = size * n;
    char *p = realloc(r->body, r->len + add + 1);
    if (p == NULL)
        return 0;
    memcpy(p + r->len, data, add);
    r->len += add;
    p[r->len] = '\0';
    r->body = p;
    return add;
}

/* Copies the value of header `name` from `line` into out. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return;
    const char *v = line + n + 1;
    size_t vlen = len - n - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    snprintf(out, cap, "%.*s", (int)vlen, v);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    http_reply *r = arg;
    size_t len = size * n;
    header_value(data, len, "Content-Type", r->content_type, sizeof r->content_type);
    header_value(data, len, "Allow", r->allow, sizeof r->allow);
    header_value(data, len, "Connection", r->connection, sizeof r->connection);
    return len;
}

typedef struct upload {
    const char *p;
    size_t left;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    upload *u = arg;
    size_t k = size * n < u->left ? size * n : u->left;
    memcpy(buf, u->p, k);
    u->p += k;
    u->left -= k;
    return k;
}

int http_do(CURL *h, const char *method, const char *url, const char *body, size_t len, int chunked,
            http_reply *out)
{
    memset(out, 0, sizeof *out);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    upload u = {body, len};
    if (chunked) {
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &u);
    } else if (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->new_connections);
    }
    if (out->body == NULL)
        out->body = calloc(1, 1);
    return (int)rc;
}

void http_reply_free(http_reply *r)
{
    free(r->body);
    r->body = NULL;
}

int http_body_is(const http_reply *r, const char *expected)
{
    return r->len == strlen(expected) && memcmp(r->body, expected, r->len) == 0;
}

void http_check_error(const http_reply *r, long status)
{
    assert_int_equal(r->status, status);
    assert_string_equal(r->content_type, "application/json");
    json_error_t jerr;
    json_t *doc = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        fprintf(stderr, "not JSON: %s\n", r->body);
    assert_non_null(doc);
    json_t *e = json_object_get(doc, "error");
    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        rest_case_type((unsigned int)status));
    char code[8];
    snprintf(code, sizeof code, "%ld", status);
    assert_string_equal(json_string_value(json_object_get(e, "status_code")), code);
    assert_true(json_is_string(json_object_get(e, "exception_message")));
    json_decref(doc);
}

int raw_connect(unsigned short port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int raw_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t raw_read(int fd, char *buf, size_t cap, const char *needle, int count)
{
    size_t len = 0;
    buf[0] = '\0';
    for (;;) {
        int found = 0;
        for (const char *p = buf; (p = strstr(p, needle)) != NULL; p++)
            found++;
        if (found >= count || len + 1 >= cap)
            break;
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return len;
}
