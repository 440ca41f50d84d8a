/* hbeatd seen from outside; see hbd_observe.h. */
#define _POSIX_C_SOURCE 200809L
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif

#include "support/hbd_observe.h"

#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* /metrics is a few KiB; anything past this is not hbeatd's. */
#define SCRAPE_MAX (1024 * 1024)

long hbd_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n;
}

#define KINDS 16

void hbd_fd_kinds(pid_t pid, char *out, size_t cap)
{
    char kind[KINDS][96];
    int count[KINDS] = {0};
    int nkinds = 0, other = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    out[0] = '\0';
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char link[320], target[96];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (target[0] != '/')
            target[strcspn(target, ":")] = '\0';
        int k = 0;
        while (k < nkinds && strcmp(kind[k], target) != 0)
            k++;
        if (k == nkinds && nkinds == KINDS) {
            other++;
            continue;
        }
        if (k == nkinds)
            snprintf(kind[nkinds++], sizeof kind[0], "%s", target);
        count[k]++;
    }
    closedir(d);
    size_t used = 0;
    for (int k = 0; k < nkinds && used < cap; k++)
        used +=
            (size_t)snprintf(out + used, cap - used, "%s%d %s", k ? ", " : "", count[k], kind[k]);
    if (other > 0 && used < cap)
        snprintf(out + used, cap - used, ", %d other", other);
}

long hbd_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    return kib;
}

typedef struct body {
    char *buf;
    size_t len;
} body;

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    body *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > SCRAPE_MAX)
        return 0;
    char *grown = realloc(b->buf, b->len + n + 1);
    if (grown == NULL)
        return 0;
    b->buf = grown;
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/* The value after `series` at the start of a line, or 0. */
static double sample(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return 0.0;
}

int hbd_scrape(const char *url, const char *ca_file, double timeout, size_t n,
               const char *const *series, double *values)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return -1;
    body b = {NULL, 0};
    long ms = (long)(timeout * 1000.0);
    curl_easy_setopt(c, CURLOPT_URL, url);
    /* hbeatd is on loopback: a proxy from the environment must not get
       in between. */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
    /* A fresh connection each time: nothing of ours stays open in hbeatd
       between scrapes. */
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    long status = 0;
    int rc = curl_easy_perform(c) == CURLE_OK &&
                     curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
                     status == 200 && b.buf != NULL
                 ? 0
                 : -1;
    curl_easy_cleanup(c);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            values[i] = sample(b.buf, series[i]);
    }
    free(b.buf);
    return rc;
}
