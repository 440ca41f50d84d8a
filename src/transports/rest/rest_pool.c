/* The pool of slots (an easy handle, its own multi handle and buffers) and
   the blocking transfer loop. Everything a steady beat needs is made once
   per slot and reused, so a beat allocates nothing of ours. */
#include "transports/rest/rest_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_INITIAL 1024

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    rest_slot *s = arg;
    size_t len = size * nmemb;
    /* Abort as soon as the cap is passed: memory stays bounded whatever
       the peer sends, with or without a Content-Length. */
    if (len > s->gw->max_reply - s->reply_len) {
        s->reply_too_big = 1;
        return 0;
    }
    size_t need = s->reply_len + len + 1;
    if (need > s->reply_cap) {
        size_t cap = s->reply_cap;
        while (cap < need)
            cap *= 2;
        if (cap > s->gw->max_reply + 1)
            cap = s->gw->max_reply + 1;
        char *grown = realloc(s->reply, cap);
        if (grown == NULL) {
            s->reply_oom = 1;
            return 0;
        }
        s->reply = grown;
        s->reply_cap = cap;
    }
    memcpy(s->reply + s->reply_len, data, len);
    s->reply_len += len;
    s->reply[s->reply_len] = '\0';
    return len;
}

/* Tracks whether the reply's header section was whole: it starts with a
   status line and ends with an empty line (once per interim 1xx reply,
   too). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    rest_slot *s = userdata;
    size_t len = size * nmemb;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        s->in_headers = 1;
    else if ((len == 2 && data[0] == '\r' && data[1] == '\n') || (len == 1 && data[0] == '\n'))
        s->in_headers = 0;
    return len;
}

void hbeat__rest_slot_free(rest_slot *s)
{
    if (s == NULL)
        return;
    if (s->multi != NULL)
        curl_multi_cleanup(s->multi);
    if (s->easy != NULL)
        curl_easy_cleanup(s->easy);
    free(s->url);
    free(s->hb_url);
    free(s->url_set);
    free(s->reply);
    free(s);
}

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(s->easy, opt, val);                                              \
    } while (0)

static int slot_setup(rest_slot *s, hbeat_error *err)
{
    const rest_gw *gw = s->gw;
    CURLcode rc = CURLE_OK;
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)s);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)s);
    SET(CURLOPT_PRIVATE, (void *)s);
    SET(CURLOPT_USERAGENT, gw->user_agent);
    SET(CURLOPT_CONNECTTIMEOUT_MS, gw->connect_ms);
    SET(CURLOPT_TIMEOUT_MS, gw->request_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)gw->max_reply);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* Beats are tens of seconds apart: keep idle connections observed. */
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_SSL_VERIFYPEER, gw->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, gw->insecure ? 0L : 2L);
    if (gw->ca_file != NULL)
        SET(CURLOPT_CAINFO, gw->ca_file);
    if (gw->cert_file != NULL)
        SET(CURLOPT_SSLCERT, gw->cert_file);
    if (gw->key_file != NULL)
        SET(CURLOPT_SSLKEY, gw->key_file);
    if (rc != CURLE_OK) {
        int code = rc == CURLE_OUT_OF_MEMORY ? HBEAT_ENOMEM : HBEAT_ETRANSPORT;
        hbeat_error_set(err, code, "rest: cannot set up a curl handle: %s", curl_easy_strerror(rc));
        if (err != NULL)
            err->native = (int)rc;
        return code;
    }
    return 0;
}

static int slot_new(rest_gw *gw, rest_slot **out, hbeat_error *err)
{
    rest_slot *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory");
    s->gw = gw;
    size_t url_cap = hbeat__rest_url_cap(gw);
    s->reply_cap = gw->max_reply + 1 < REPLY_INITIAL ? gw->max_reply + 1 : REPLY_INITIAL;
    s->url = calloc(1, url_cap);
    s->hb_url = calloc(1, url_cap);
    s->url_set = calloc(1, url_cap);
    s->reply = malloc(s->reply_cap);
    s->easy = curl_easy_init();
    s->multi = curl_multi_init();
    if (s->url == NULL || s->hb_url == NULL || s->url_set == NULL || s->reply == NULL ||
        s->easy == NULL || s->multi == NULL) {
        hbeat__rest_slot_free(s);
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory for a curl handle");
    }
    int rc = slot_setup(s, err);
    if (rc != 0) {
        hbeat__rest_slot_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int hbeat__rest_slot_acquire(rest_gw *gw, rest_slot **out, hbeat_error *err)
{
    pthread_mutex_lock(&gw->mu);
    if (atomic_load(&gw->closing)) {
        pthread_mutex_unlock(&gw->mu);
        return hbeat_error_set(err, HBEAT_ECANCELED, "rest: the gateway is closed");
    }
    /* Counted before the lock is dropped, so close() waits for it. */
    gw->nheld++;
    rest_slot *s = gw->free_slots;
    if (s != NULL) {
        gw->free_slots = s->next;
        gw->nfree--;
        s->held = 1;
        pthread_mutex_unlock(&gw->mu);
        *out = s;
        return 0;
    }
    pthread_mutex_unlock(&gw->mu);

    int rc = slot_new(gw, &s, err);
    pthread_mutex_lock(&gw->mu);
    if (rc == 0) {
        s->held = 1;
        s->all_next = gw->all_slots;
        gw->all_slots = s;
    } else if (--gw->nheld == 0) {
        pthread_cond_broadcast(&gw->cv);
    }
    pthread_mutex_unlock(&gw->mu);
    if (rc == 0)
        *out = s;
    return rc;
}

static void unlink_slot(rest_gw *gw, rest_slot *s)
{
    for (rest_slot **p = &gw->all_slots; *p != NULL; p = &(*p)->all_next) {
        if (*p == s) {
            *p = s->all_next;
            return;
        }
    }
}

void hbeat__rest_slot_release(rest_gw *gw, rest_slot *s)
{
    int drop = 0;
    pthread_mutex_lock(&gw->mu);
    if (s->held) {
        s->held = 0;
        if (--gw->nheld == 0)
            pthread_cond_broadcast(&gw->cv);
    }
    s->done = NULL;
    s->done_arg = NULL;
    if (gw->nfree < REST_POOL_IDLE_MAX) {
        s->next = gw->free_slots;
        gw->free_slots = s;
        gw->nfree++;
    } else {
        unlink_slot(gw, s);
        drop = 1;
    }
    pthread_mutex_unlock(&gw->mu);
    if (drop)
        hbeat__rest_slot_free(s);
}

void hbeat__rest_slot_prepare(rest_slot *s, rest_method method)
{
    const rest_gw *gw = s->gw;
    if (strcmp(s->url, s->url_set) != 0) {
        curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
        strcpy(s->url_set, s->url);
    }
    if (method != s->method) {
        switch (method) {
        case REST_GET:
            curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, (char *)NULL);
            curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
            curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, gw->hdr_nobody);
            break;
        case REST_POST:
            curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, (char *)NULL);
            curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, gw->hdr_body);
            break;
        case REST_PUT:
            curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, "PUT");
            curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, gw->hdr_body);
            break;
        case REST_NONE:
            break;
        }
        s->method = method;
    }
    /* Only a pointer is stored: the body stays in the slot. */
    if (method != REST_GET) {
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)s->body_len);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    }
    if (s->timeout_cut) {
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, gw->request_ms);
        s->timeout_cut = 0;
    }
    if (s->fresh != s->fresh_on) {
        curl_easy_setopt(s->easy, CURLOPT_FRESH_CONNECT, (long)s->fresh);
        s->fresh_on = s->fresh;
    }
    s->fresh = 0;
    s->reply_len = 0;
    s->reply[0] = '\0';
    s->reply_too_big = 0;
    s->reply_oom = 0;
    s->in_headers = 0;
    s->errbuf[0] = '\0';
}

int hbeat__rest_slot_retry(rest_slot *s, CURLcode res)
{
    if (res != CURLE_RECV_ERROR && res != CURLE_SEND_ERROR && res != CURLE_GOT_NOTHING)
        return 0;
    long connects = -1;
    long status = -1;
    curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (connects != 0 || status != 0 || s->reply_len != 0)
        return 0;
    /* The second try gets what is left of the request timeout, so that a
       call never takes longer than that in all. */
    curl_off_t spent_us = 0;
    curl_easy_getinfo(s->easy, CURLINFO_TOTAL_TIME_T, &spent_us);
    long left_ms = s->gw->request_ms - (long)(spent_us / 1000);
    if (left_ms < 1)
        return 0;
    s->fresh = 1;
    hbeat__rest_slot_prepare(s, s->method);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, left_ms);
    s->timeout_cut = 1;
    return 1;
}

static CURLcode multi_failed(rest_slot *s, CURLMcode mc)
{
    snprintf(s->errbuf, sizeof(s->errbuf), "curl multi: %s", curl_multi_strerror(mc));
    return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
}

static CURLcode perform_once(rest_slot *s, int *canceled)
{
    CURLMcode mc = curl_multi_add_handle(s->multi, s->easy);
    if (mc != CURLM_OK)
        return multi_failed(s, mc);
    CURLcode res = CURLE_OK;
    for (;;) {
        int running = 0;
        int done = 0;
        mc = curl_multi_perform(s->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE) {
                res = msg->data.result;
                done = 1;
            }
        }
        if (done)
            break;
        if (mc != CURLM_OK) {
            res = multi_failed(s, mc);
            break;
        }
        if (atomic_load(&s->gw->closing)) {
            *canceled = 1;
            break;
        }
        if (running == 0) {
            snprintf(s->errbuf, sizeof(s->errbuf), "transfer ended without a result");
            res = CURLE_GOT_NOTHING;
            break;
        }
        /* close() interrupts this wait with curl_multi_wakeup(); the cap
           only bounds how late a missed wake-up is noticed. */
        mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            res = multi_failed(s, mc);
            break;
        }
    }
    curl_multi_remove_handle(s->multi, s->easy);
    return res;
}

CURLcode hbeat__rest_slot_perform(rest_slot *s, int *canceled)
{
    *canceled = 0;
    CURLcode res = perform_once(s, canceled);
    if (!*canceled && hbeat__rest_slot_retry(s, res))
        res = perform_once(s, canceled);
    return res;
}

int hbeat__rest_transfer_result(rest_slot *s, CURLcode res, int canceled, hbeat_error *err)
{
    if (canceled)
        return hbeat__rest_canceled_error(s, err);
    if (s->reply_oom)
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory for a reply");
    if (res != CURLE_OK)
        return hbeat__rest_curl_error(s, res, err);
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (s->in_headers) {
        s->fresh = 1;
        return hbeat__rest_cut_off_error(s, status, err);
    }
    if (status != 200) {
        /* Jobmon's server drops the connection after an error reply
           without saying so; do not offer the next request to it. */
        if (status >= 400)
            s->fresh = 1;
        return hbeat__rest_http_error(s, status, err);
    }
    return 0;
}
