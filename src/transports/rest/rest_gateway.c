/* The REST gateway: opening (options, base URL), the vtable and its
   methods. Routes are Jobmon's v3 heartbeat routes and hbeatd's admin
   routes (src/server/README.md); each method borrows a slot from the pool, so the
   gateway is safe to share between services and threads (see
   rest_internal.h for how). */
#define _POSIX_C_SOURCE 200809L

#include "core/builtins.h"
#include "transports/rest/rest_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Longest bearer token read from a token file. */
#define TOKEN_MAX 8192

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void init_libcurl_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Requests ---------------------------------------------------------------- */

static size_t url_cap(const rest_gw *gw)
{
    return hbeat__rest_url_cap(gw);
}

/* Runs the prepared request on the calling thread. */
static int run(rest_slot *s, rest_method method, hbeat_error *err)
{
    int canceled = 0;
    hbeat__rest_slot_prepare(s, method);
    CURLcode res = hbeat__rest_slot_perform(s, &canceled);
    return hbeat__rest_transfer_result(s, res, canceled, err);
}

static int heartbeat_prepare(rest_gw *gw, rest_slot *s, const hbeat_heartbeat_request *req,
                             hbeat_error *err)
{
    if (req == NULL || !hbeat_status_is_valid(req->status))
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: a heartbeat needs a valid status token");
    /* Formatted again only when what they say changes (see rest_slot). */
    /* Compared bit for bit: 0.0 and -0.0 are written differently. */
    if (s->hb_body_len == 0 ||
        memcmp(&s->hb_inc, &req->next_report_increment, sizeof(s->hb_inc)) != 0 ||
        strcmp(s->hb_status, req->status) != 0) {
        s->hb_body_len = 0;
        int n = hbeat__rest_json_heartbeat_body(s->hb_body, sizeof(s->hb_body), req->status,
                                                req->next_report_increment);
        if (n < 0)
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "rest: next_report_increment must be a finite number");
        s->hb_body_len = (size_t)n;
        s->hb_inc = req->next_report_increment;
        snprintf(s->hb_status, sizeof(s->hb_status), "%s", req->status);
    }
    if (s->hb_run == 0 || s->hb_run != req->workflow_run_id) {
        int n = snprintf(s->hb_url, url_cap(gw),
                         "%s/workflow_run/%lld/log_heartbeat?client_jobmon_version=%s", gw->base,
                         (long long)req->workflow_run_id, gw->jobmon_version);
        s->hb_url_len = n < 0 ? 0 : (size_t)n < url_cap(gw) ? (size_t)n : url_cap(gw) - 1;
        s->hb_run = req->workflow_run_id;
    }
    memcpy(s->body, s->hb_body, s->hb_body_len);
    s->body_len = s->hb_body_len;
    memcpy(s->url, s->hb_url, s->hb_url_len + 1);
    return 0;
}

static int rest_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                              hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    rest_gw *gw = self;
    rest_slot *s = NULL;
    int rc = hbeat__rest_slot_acquire(gw, &s, err);
    if (rc != 0)
        return rc;
    rc = heartbeat_prepare(gw, s, req, err);
    if (rc == 0)
        rc = run(s, REST_POST, err);
    if (rc == 0)
        rc = hbeat__rest_json_status_reply(s, reply, err);
    hbeat__rest_slot_release(gw, s);
    return rc;
}

static int rest_log_heartbeat_async(void *self, const hbeat_heartbeat_request *req,
                                    hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    rest_gw *gw = self;
    if (done == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: log_heartbeat_async needs a callback");
    rest_slot *s = NULL;
    int rc = hbeat__rest_slot_acquire(gw, &s, err);
    if (rc != 0)
        return rc;
    rc = heartbeat_prepare(gw, s, req, err);
    if (rc == 0) {
        /* Set up here, on the caller's thread, while the slot is its own. */
        hbeat__rest_slot_prepare(s, REST_POST);
        rc = hbeat__rest_async_submit(gw, s, done, arg, err);
    }
    if (rc != 0)
        hbeat__rest_slot_release(gw, s);
    return rc;
}

static int rest_update_status(void *self, int64_t workflow_run_id, const char *status,
                              hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    rest_gw *gw = self;
    if (!hbeat_status_is_valid(status))
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: update_status needs a valid status");
    rest_slot *s = NULL;
    int rc = hbeat__rest_slot_acquire(gw, &s, err);
    if (rc != 0)
        return rc;
    s->body_len = (size_t)hbeat__rest_json_status_body(s->body, sizeof(s->body), status);
    snprintf(s->url, url_cap(gw), "%s/workflow_run/%lld/update_status?client_jobmon_version=%s",
             gw->base, (long long)workflow_run_id, gw->jobmon_version);
    rc = run(s, REST_PUT, err);
    if (rc == 0)
        rc = hbeat__rest_json_status_reply(s, reply, err);
    hbeat__rest_slot_release(gw, s);
    return rc;
}

/* Admin calls (hbeatd only) ----------------------------------------------- */

/* inc: the run's first deadline in seconds from its creation; NULL for
   none (the field is then left out, as an older client sends it). */
static int create_run(rest_gw *gw, int64_t workflow_id, const char *status, const double *inc,
                      hbeat_run_info *out, hbeat_error *err)
{
    if (status == NULL)
        status = HBEAT_STATUS_REGISTERED;
    if (!hbeat_status_is_valid(status))
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: create_run needs a valid status");
    rest_slot *s = NULL;
    int rc = hbeat__rest_slot_acquire(gw, &s, err);
    if (rc != 0)
        return rc;
    int n = hbeat__rest_json_create_body(s->body, sizeof(s->body), workflow_id, status, inc);
    if (n < 0) {
        rc = hbeat_error_set(err, HBEAT_ENOMEM, "rest: cannot build the create_run body");
    } else {
        s->body_len = (size_t)n;
        snprintf(s->url, url_cap(gw), "%s/runs", gw->base);
        rc = run(s, REST_POST, err);
    }
    if (rc == 0)
        rc = hbeat__rest_json_run_reply(s, out, err);
    hbeat__rest_slot_release(gw, s);
    return rc;
}

static int rest_create_run(void *self, int64_t workflow_id, const char *status, hbeat_run_info *out,
                           hbeat_error *err)
{
    return create_run(self, workflow_id, status, NULL, out, err);
}

static int rest_create_run_with(void *self, int64_t workflow_id,
                                const hbeat_run_create_options *opts, hbeat_run_info *out,
                                hbeat_error *err)
{
    return create_run(self, workflow_id, opts->status,
                      opts->no_deadline ? NULL : &opts->next_report_increment, out, err);
}

static int rest_get_run(void *self, int64_t workflow_run_id, hbeat_run_info *out, hbeat_error *err)
{
    rest_gw *gw = self;
    rest_slot *s = NULL;
    int rc = hbeat__rest_slot_acquire(gw, &s, err);
    if (rc != 0)
        return rc;
    snprintf(s->url, url_cap(gw), "%s/runs/%lld", gw->base, (long long)workflow_run_id);
    rc = run(s, REST_GET, err);
    if (rc == 0)
        rc = hbeat__rest_json_run_reply(s, out, err);
    hbeat__rest_slot_release(gw, s);
    return rc;
}

static int rest_set_status(void *self, int64_t workflow_run_id, const char *status, int force,
                           hbeat_run_info *out, hbeat_error *err)
{
    rest_gw *gw = self;
    if (!hbeat_status_is_valid(status))
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: set_status needs a valid status");
    rest_slot *s = NULL;
    int rc = hbeat__rest_slot_acquire(gw, &s, err);
    if (rc != 0)
        return rc;
    int n = hbeat__rest_json_set_status_body(s->body, sizeof(s->body), status, force);
    if (n < 0) {
        rc = hbeat_error_set(err, HBEAT_ENOMEM, "rest: cannot build the set_status body");
    } else {
        s->body_len = (size_t)n;
        snprintf(s->url, url_cap(gw), "%s/runs/%lld/status", gw->base, (long long)workflow_run_id);
        rc = run(s, REST_PUT, err);
    }
    if (rc == 0)
        rc = hbeat__rest_json_run_reply(s, out, err);
    hbeat__rest_slot_release(gw, s);
    return rc;
}

/* Follows next_after_id from page to page; a server whose cursor does not
   move forward would loop for ever, so that is a protocol error. */
static int rest_list_runs(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                          hbeat_error *err)
{
    rest_gw *gw = self;
    if (sink == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: list_runs needs a sink");
    if (status != NULL && !hbeat_status_is_valid(status))
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: list_runs: invalid status filter");
    char filter[3 * HBEAT_STATUS_MAX + 16] = "";
    if (status != NULL) {
        char esc[3 * HBEAT_STATUS_MAX + 1];
        hbeat__rest_url_escape_token(esc, sizeof(esc), status);
        snprintf(filter, sizeof(filter), "status=%s&", esc);
    }
    rest_slot *s = NULL;
    int rc = hbeat__rest_slot_acquire(gw, &s, err);
    if (rc != 0)
        return rc;
    int64_t after = 0;
    for (;;) {
        snprintf(s->url, url_cap(gw), "%s/runs?%safter_id=%lld&limit=%d", gw->base, filter,
                 (long long)after, REST_LIST_LIMIT);
        rc = run(s, REST_GET, err);
        int64_t next = 0;
        int stopped = 0;
        if (rc == 0)
            rc = hbeat__rest_json_runs_page(s, sink, ctx, &next, &stopped, err);
        if (rc != 0 || stopped || next == 0)
            break;
        if (next <= after) {
            rc = hbeat__rest_proto_error(s, "\"next_after_id\" does not move forward", err);
            break;
        }
        after = next;
    }
    hbeat__rest_slot_release(gw, s);
    return rc;
}

/* Closing and freeing ------------------------------------------------------ */

static void rest_close(void *self)
{
    rest_gw *gw = self;
    pthread_mutex_lock(&gw->mu);
    if (gw->closed) {
        pthread_mutex_unlock(&gw->mu);
        return;
    }
    atomic_store(&gw->closing, 1);
    for (rest_slot *s = gw->all_slots; s != NULL; s = s->all_next) {
        if (s->held)
            curl_multi_wakeup(s->multi);
    }
    hbeat__rest_async_wake(gw);
    while (gw->nheld > 0)
        pthread_cond_wait(&gw->cv, &gw->mu);
    gw->closed = 1;
    pthread_mutex_unlock(&gw->mu);
    hbeat__rest_async_join(gw);
}

static void rest_destroy(void *self)
{
    rest_gw *gw = self;
    if (gw == NULL)
        return;
    rest_close(gw);
    while (gw->all_slots != NULL) {
        rest_slot *s = gw->all_slots;
        gw->all_slots = s->all_next;
        hbeat__rest_slot_free(s);
    }
    if (gw->amulti != NULL)
        curl_multi_cleanup(gw->amulti);
    curl_slist_free_all(gw->hdr_body);
    curl_slist_free_all(gw->hdr_nobody);
    free(gw->base);
    free(gw->user_agent);
    free(gw->jobmon_version);
    free(gw->ca_file);
    free(gw->cert_file);
    free(gw->key_file);
    pthread_cond_destroy(&gw->cv);
    pthread_mutex_destroy(&gw->mu);
    free(gw);
}

static const hbeat_gateway_vtable rest_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "rest",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = rest_destroy,
    .log_heartbeat = rest_log_heartbeat,
    .log_heartbeat_async = rest_log_heartbeat_async,
    .close = rest_close,
    .update_status = rest_update_status,
    .create_run = rest_create_run,
    .create_run_with = rest_create_run_with,
    .get_run = rest_get_run,
    .list_runs = rest_list_runs,
    .set_status = rest_set_status,
};

/* Options ----------------------------------------------------------------- */

static int timeout_ms(double seconds, double fallback, const char *name, long *out,
                      hbeat_error *err)
{
    if (seconds == 0)
        seconds = fallback;
    if (!(seconds > 0) || !isfinite(seconds))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "rest: %s must be a positive number of seconds (0 for the "
                               "default), not %g",
                               name, seconds);
    /* Rounded up, so a tiny positive value never becomes curl's 0
       ("no limit"); capped where curl's long milliseconds end. */
    double ms = ceil(seconds * 1000.0);
    *out = ms > 2147483647.0 ? 2147483647L : (long)ms;
    return 0;
}

/* Header values go into the request as they are: refuse anything that
   could end the header line. */
static int header_safe(const char *v, int allow_space)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == ' ' && !allow_space))
            return 0;
    }
    return 1;
}

static char *dup_opt(const char *v, int *oom)
{
    if (v == NULL)
        return NULL;
    char *copy = strdup(v);
    if (copy == NULL)
        *oom = 1;
    return copy;
}

static int read_token_file(const char *path, char *out, size_t cap, hbeat_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        hbeat_error_set(err, HBEAT_EINVAL, "rest: cannot read token_file '%.120s': %s", path,
                        strerror(e));
        if (err != NULL)
            err->native = e;
        return HBEAT_EINVAL;
    }
    int ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok)
        out[0] = '\0';
    size_t n = strcspn(out, "\r\n");
    if (out[n] == '\0' && n == cap - 1)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "rest: the first line of token_file '%.120s' is too long", path);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        out[--n] = '\0';
    size_t skip = strspn(out, " \t");
    memmove(out, out + skip, n - skip + 1);
    if (out[0] == '\0')
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "rest: token_file '%.120s' has no token on its first line", path);
    return 0;
}

static int build_headers(rest_gw *gw, const hbeat_gateway_options *opts, hbeat_error *err)
{
    char *token = NULL;
    if (opts->token != NULL) {
        token = strdup(opts->token);
        if (token == NULL)
            return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory");
    } else if (opts->token_file != NULL) {
        token = malloc(TOKEN_MAX);
        if (token == NULL)
            return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory");
        int rc = read_token_file(opts->token_file, token, TOKEN_MAX, err);
        if (rc != 0) {
            free(token);
            return rc;
        }
    }
    int rc = 0;
    char *auth = NULL;
    if (token != NULL) {
        if (token[0] == '\0' || !header_safe(token, 0)) {
            rc = hbeat_error_set(err, HBEAT_EINVAL,
                                 "rest: the bearer token is empty or has a space or control "
                                 "character");
        } else {
            size_t n = strlen(token) + sizeof("Authorization: Bearer ");
            auth = malloc(n);
            if (auth == NULL)
                rc = hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory");
            else
                snprintf(auth, n, "Authorization: Bearer %s", token);
        }
        /* The token should not linger in freed memory. */
        volatile char *p = token;
        while (*p)
            *p++ = '\0';
        free(token);
    }
    if (rc != 0)
        return rc;

    static const char *const body_headers[] = {"Content-Type: application/json",
                                               "Accept: application/json", "Expect:"};
    int oom = 0;
    for (size_t i = 0; i < sizeof(body_headers) / sizeof(body_headers[0]); i++) {
        struct curl_slist *l = curl_slist_append(gw->hdr_body, body_headers[i]);
        oom |= l == NULL;
        if (l != NULL)
            gw->hdr_body = l;
    }
    struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
    oom |= l == NULL;
    gw->hdr_nobody = l;
    if (auth != NULL) {
        l = curl_slist_append(gw->hdr_body, auth);
        oom |= l == NULL;
        if (l != NULL)
            gw->hdr_body = l;
        l = curl_slist_append(gw->hdr_nobody, auth);
        oom |= l == NULL;
        if (l != NULL)
            gw->hdr_nobody = l;
        volatile char *p = auth;
        while (*p)
            *p++ = '\0';
        free(auth);
    }
    return oom ? hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory") : 0;
}

static int check_tls_file(const char *name, const char *path, hbeat_error *err)
{
    if (path == NULL || access(path, R_OK) == 0)
        return 0;
    int e = errno;
    hbeat_error_set(err, HBEAT_ETLS, "rest: %s '%.120s' cannot be read: %s", name, path,
                    strerror(e));
    if (err != NULL)
        err->native = e;
    return HBEAT_ETLS;
}

/* Jobmon's client sends its own version; hbeat sends its own unless told
   otherwise (see hbeat_gateway_options). Refused rather than mended: a
   value with a control character or none at all is a mistake, not a
   version. */
static int set_jobmon_version(rest_gw *gw, const char *v, hbeat_error *err)
{
    if (v == NULL)
        v = hbeat_version();
    size_t n = strlen(v);
    if (n == 0)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "rest: client_jobmon_version is empty (leave it unset to send "
                               "hbeat's own version, %s)",
                               hbeat_version());
    if (n > REST_JOBMON_VERSION_MAX)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "rest: client_jobmon_version is %zu bytes long; at most %d", n,
                               REST_JOBMON_VERSION_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f)
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "rest: client_jobmon_version has a control character (byte "
                                   "0x%02x at offset %zu)",
                                   c, i);
    }
    gw->jobmon_version = malloc(3 * n + 1);
    if (gw->jobmon_version == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory");
    hbeat__rest_url_escape_token(gw->jobmon_version, 3 * n + 1, v);
    gw->jobmon_version_len = strlen(gw->jobmon_version);
    return 0;
}

static int apply_options(rest_gw *gw, const hbeat_gateway_options *opts, hbeat_error *err)
{
    int rc = timeout_ms(opts->connect_timeout, REST_DEFAULT_CONNECT_TIMEOUT, "connect_timeout",
                        &gw->connect_ms, err);
    if (rc == 0)
        rc = timeout_ms(opts->request_timeout, REST_DEFAULT_REQUEST_TIMEOUT, "request_timeout",
                        &gw->request_ms, err);
    if (rc != 0)
        return rc;
    gw->max_reply = opts->max_reply_size != 0 ? opts->max_reply_size : REST_DEFAULT_MAX_REPLY;
    if (gw->max_reply > (size_t)1 << 40)
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: max_reply_size %zu is absurd",
                               gw->max_reply);
    gw->insecure = opts->insecure != 0;
    /* A version 1 struct ends before client_jobmon_version. */
    rc = set_jobmon_version(gw, opts->version >= 2 ? opts->client_jobmon_version : NULL, err);
    if (rc != 0)
        return rc;
    if (opts->key_file != NULL && opts->cert_file == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: key_file needs cert_file");
    rc = check_tls_file("ca_file", opts->ca_file, err);
    if (rc == 0)
        rc = check_tls_file("cert_file", opts->cert_file, err);
    if (rc == 0)
        rc = check_tls_file("key_file", opts->key_file, err);
    if (rc != 0)
        return rc;

    int oom = 0;
    gw->ca_file = dup_opt(opts->ca_file, &oom);
    gw->cert_file = dup_opt(opts->cert_file, &oom);
    gw->key_file = dup_opt(opts->key_file, &oom);
    if (opts->user_agent != NULL) {
        if (!header_safe(opts->user_agent, 1))
            return hbeat_error_set(err, HBEAT_EINVAL, "rest: user_agent has a control character");
        gw->user_agent = dup_opt(opts->user_agent, &oom);
    } else {
        char ua[64];
        snprintf(ua, sizeof(ua), "hbeat/%s", hbeat_version());
        gw->user_agent = dup_opt(ua, &oom);
    }
    if (oom)
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory");
    return build_headers(gw, opts, err);
}

static int init_curl(hbeat_error *err)
{
    pthread_once(&curl_once, init_libcurl_once);
    if (curl_init_result != CURLE_OK) {
        hbeat_error_set(err, HBEAT_ESYSTEM, "rest: curl_global_init failed: %s",
                        curl_easy_strerror(curl_init_result));
        if (err != NULL)
            err->native = (int)curl_init_result;
        return HBEAT_ESYSTEM;
    }
    return 0;
}

static int check_tls_support(const char *base, hbeat_error *err)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (strncasecmp(base, "https:", 6) == 0 && !(v->features & CURL_VERSION_SSL))
        return hbeat_error_set(err, HBEAT_ETLS, "rest: this libcurl (%s) was built without TLS",
                               v->version);
    return 0;
}

int hbeat__rest_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err)
{
    (void)data;
    if (out == NULL || opts == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "rest: out and options are required");
    if (opts->version == 0)
        return hbeat_error_set(err, HBEAT_EVERSION, "rest: options version 0 is not valid");
    rest_gw *gw = calloc(1, sizeof(*gw));
    if (gw == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory");
    if (pthread_mutex_init(&gw->mu, NULL) != 0) {
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "rest: cannot initialise a mutex");
    }
    if (pthread_cond_init(&gw->cv, NULL) != 0) {
        pthread_mutex_destroy(&gw->mu);
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "rest: cannot initialise a condition");
    }
    atomic_init(&gw->closing, 0);
    int rc = init_curl(err);
    if (rc == 0)
        rc = hbeat__rest_url_parse(gw, url, err);
    if (rc == 0)
        rc = check_tls_support(gw->base, err);
    if (rc == 0)
        rc = apply_options(gw, opts, err);
    if (rc == 0)
        rc = hbeat_gateway_new(out, &rest_vtable, gw, err);
    if (rc != 0)
        rest_destroy(gw);
    return rc;
}
