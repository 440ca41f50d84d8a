#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct sink {
    char *p;
    size_t len;
    int oom;
} sink;

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    size_t add = size * n;
    char *p = realloc(s->p, s->len + add + 1);
    if (p == NULL) {
        s->oom = 1;
        return 0;
    }
    memcpy(p + s->len, data, add);
    s->len += add;
    p[s->len] = '\0';
    s->p = p;
    return add;
}

/* Keeps only the last response's headers (after a 100 Continue, say). */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    if (size * n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        s->len = 0;
    return on_data(data, size, n, arg);
}

int obs_http_do(const char *method, const char *url, const char *body, obs_http *out)
{
    return obs_http_do_auth(method, url, body, NULL, out);
}

int obs_http_do_auth(const char *method, const char *url, const char *body, const char *token,
                     obs_http *out)
{
    memset(out, 0, sizeof *out);
    CURL *h = curl_easy_init();
    if (h == NULL)
        return CURLE_FAILED_INIT;
    sink b = {NULL, 0, 0}, hd = {NULL, 0, 0};
    struct curl_slist *hdrs = NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (token != NULL) {
        char auth[512];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    }
    if (body != NULL) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (b.p == NULL)
        b.p = calloc(1, 1);
    if (hd.p == NULL)
        hd.p = calloc(1, 1);
    out->body = b.p;
    out->len = b.len;
    out->headers = hd.p;
    return rc != CURLE_OK ? (int)rc : b.oom || hd.oom ? (int)CURLE_OUT_OF_MEMORY : 0;
}

int obs_http_header(const obs_http *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line != NULL && *line != '\0';) {
        const char *end = strstr(line, "\r\n");
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t vn = len - (size_t)(v - line);
            if (vn >= cap)
                vn = cap - 1;
            memcpy(out, v, vn);
            out[vn] = '\0';
            return 0;
        }
        line = end != NULL ? end + 2 : NULL;
    }
    return -1;
}

void obs_http_free(obs_http *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}
