#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/builtins.h"
#include "core/server_list.h"
#include "hbeat/sys/failover.h"
#include "hbeat/sys/transport.h"

/* User registrations, newest first; looked up before the built-ins, which
   are a constant table and so need no registering at all. */
typedef struct user_transport {
    char scheme[HBEAT_SCHEME_MAX + 1];
    hbeat_transport_open_fn open;
    void *data;
    struct user_transport *next;
} user_transport;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static user_transport *user_transports = NULL;

/* Lower-cases `scheme` (of `len` bytes) into `out`; 0 when it is valid. */
static int normalise_scheme(const char *scheme, size_t len, char out[HBEAT_SCHEME_MAX + 1])
{
    if (len == 0 || len > HBEAT_SCHEME_MAX || !isalpha((unsigned char)scheme[0]))
        return HBEAT_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)scheme[i];
        if (!isalnum(c) && c != '+' && c != '-' && c != '.')
            return HBEAT_EINVAL;
        out[i] = (char)tolower(c);
    }
    out[len] = '\0';
    return 0;
}

static user_transport *find_user(const char *scheme)
{
    for (user_transport *t = user_transports; t != NULL; t = t->next) {
        if (strcmp(t->scheme, scheme) == 0)
            return t;
    }
    return NULL;
}

static const hbeat__builtin *find_builtin(const char *scheme)
{
    for (const hbeat__builtin *b = hbeat__builtins; b->scheme != NULL; b++) {
        if (strcmp(b->scheme, scheme) == 0)
            return b;
    }
    return NULL;
}

int hbeat_transport_register(const char *scheme, hbeat_transport_open_fn open, void *data,
                             hbeat_error *err)
{
    char name[HBEAT_SCHEME_MAX + 1];
    if (scheme == NULL || open == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_transport_register: scheme and open are required");
    if (normalise_scheme(scheme, strlen(scheme), name) != 0)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "'%.40s' is not a valid scheme: a letter, then letters, digits, "
                               "'+', '-' or '.', at most %d in all",
                               scheme, HBEAT_SCHEME_MAX);
    user_transport *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory registering a transport");
    memcpy(t->scheme, name, sizeof(name));
    t->open = open;
    t->data = data;

    pthread_mutex_lock(&registry_mu);
    int exists = find_user(name) != NULL;
    if (!exists) {
        t->next = user_transports;
        user_transports = t;
    }
    pthread_mutex_unlock(&registry_mu);
    if (exists) {
        free(t);
        return hbeat_error_set(err, HBEAT_EEXIST, "scheme '%s' is already registered", name);
    }
    return 0;
}

int hbeat_transport_unregister(const char *scheme, hbeat_error *err)
{
    char name[HBEAT_SCHEME_MAX + 1];
    if (scheme == NULL || normalise_scheme(scheme, strlen(scheme), name) != 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "not a valid scheme");
    user_transport *found = NULL;
    pthread_mutex_lock(&registry_mu);
    for (user_transport **p = &user_transports; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->scheme, name) == 0) {
            found = *p;
            *p = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    if (found == NULL)
        return hbeat_error_set(err, HBEAT_ESCHEME, "scheme '%s' was not registered by the user",
                               name);
    free(found);
    return 0;
}

/* Finds what opens `name`: 0 with *open set, or an error with a message. */
static int resolve(const char *name, hbeat_transport_open_fn *open, void **data, hbeat_error *err)
{
    pthread_mutex_lock(&registry_mu);
    user_transport *t = find_user(name);
    if (t != NULL) {
        *open = t->open;
        *data = t->data;
    }
    pthread_mutex_unlock(&registry_mu);
    if (t != NULL)
        return 0;

    const hbeat__builtin *b = find_builtin(name);
    if (b == NULL)
        return hbeat_error_set(err, HBEAT_ESCHEME, "no transport is registered for the scheme '%s'",
                               name);
    if (b->open == NULL)
        return hbeat_error_set(err, HBEAT_ENOTBUILT,
                               "the scheme '%s' is known, but its transport was left out of "
                               "this build of hbeat (CMake option %s)",
                               name, b->option);
    *open = b->open;
    *data = NULL;
    return 0;
}

int hbeat_transport_lookup(const char *scheme)
{
    char name[HBEAT_SCHEME_MAX + 1];
    if (scheme == NULL || normalise_scheme(scheme, strlen(scheme), name) != 0)
        return HBEAT_EINVAL;
    hbeat_transport_open_fn open;
    void *data;
    return resolve(name, &open, &data, NULL);
}

/* Opens one server's gateway, with a message whatever the transport said. */
static int open_one(hbeat_gateway **out, const char *url, const char *name,
                    hbeat_transport_open_fn open, const hbeat_gateway_options *opts, void *data,
                    hbeat_error *err)
{
    hbeat_gateway *gw = NULL;
    hbeat_error local = HBEAT_ERROR_INIT;
    int rc = open(&gw, url, opts, data, &local);
    if (rc == 0 && gw == NULL)
        rc = hbeat_error_set(&local, HBEAT_EINVAL, "the transport for '%s' returned no gateway",
                             name);
    if (rc != 0) {
        if (rc > 0)
            rc = HBEAT_EINVAL;
        if (local.message[0] == '\0')
            hbeat_error_set(&local, rc, "opening '%.80s' failed: %s", url, hbeat_strerror(rc));
        local.code = rc;
        if (err != NULL)
            *err = local;
        return rc;
    }
    *out = gw;
    return 0;
}

/* One gateway per server, in a failover gateway. */
static int open_failover(hbeat_gateway **out, const hbeat__server_list *list, const char *name,
                         hbeat_transport_open_fn open, const hbeat_gateway_options *opts,
                         void *data, hbeat_error *err)
{
    hbeat_gateway *members[HBEAT_URL_MAX_SERVERS] = {NULL};
    const char *names[HBEAT_URL_MAX_SERVERS];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < list->count; i++) {
        hbeat_error one = HBEAT_ERROR_INIT;
        names[i] = list->names[i];
        rc = open_one(&members[i], list->urls[i], name, open, opts, data, &one);
        if (rc != 0)
            hbeat_error_set(err, rc, "server %zu of %zu (%s): %s", i + 1, list->count,
                            list->names[i], one.message);
    }
    if (rc == 0)
        rc = hbeat_failover_gateway_new(out, members, names, list->count, NULL, err);
    if (rc != 0) {
        for (size_t i = 0; i < list->count; i++)
            hbeat_gateway_free(members[i]);
    }
    return rc;
}

int hbeat_gateway_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                       hbeat_error *err)
{
    static const hbeat_gateway_options defaults = HBEAT_GATEWAY_OPTIONS_INIT;
    if (out == NULL || url == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_gateway_open: out and url are required");
    if (opts == NULL)
        opts = &defaults;
    if (opts->version == 0 || opts->version > HBEAT_GATEWAY_OPTIONS_VERSION)
        return hbeat_error_set(err, HBEAT_EVERSION,
                               "gateway options version %u is not supported (this library "
                               "knows 1..%d); start from HBEAT_GATEWAY_OPTIONS_INIT",
                               opts->version, HBEAT_GATEWAY_OPTIONS_VERSION);
    const char *sep = strstr(url, "://");
    char name[HBEAT_SCHEME_MAX + 1];
    if (sep == NULL || normalise_scheme(url, (size_t)(sep - url), name) != 0)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "'%.80s' is not a URL: expected SCHEME://..., e.g. "
                               "http://127.0.0.1:7780/api/v3 or nng+tcp://127.0.0.1:7781",
                               url);
    hbeat_transport_open_fn open;
    void *data;
    int rc = resolve(name, &open, &data, err);
    if (rc != 0)
        return rc;

    hbeat__server_list list;
    rc = hbeat__server_list_parse(&list, url, name, err);
    if (rc == 0 && list.count > 1)
        rc = open_failover(out, &list, name, open, opts, data, err);
    hbeat__server_list_free(&list);
    if (rc != 0 || list.count > 1)
        return rc;
    return open_one(out, url, name, open, opts, data, err);
}
