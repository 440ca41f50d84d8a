/*
 * URL and option handling: the input's bytes up to its first NUL are a
 * URL; any bytes after that NUL choose gateway options (options_from).
 *
 *  - The parsers directly: hbeat__nng_url_to_dial() (nng+... -> nng
 *    address) and hbeat__rest_url_parse() (http/https base URL).
 *  - hbeat_gateway_open() on the URL, which resolves the scheme in the
 *    registry and opens the transport: fake://, http(s):// (the REST
 *    gateway connects only when a call is made) and nng+inproc:// (dials in
 *    this process) for real. Every other built-in scheme (nng+tcp,
 *    nng+tls+tcp, nng+ipc, and any added later) would connect in the
 *    background, so this target registers checking_open for it (user
 *    registrations come before the built-ins): the transport's URL and
 *    option checks, then a fake gateway. No input opens a connection.
 *  - The registry's rules for schemes: registering the URL, and its scheme.
 *
 * Checked: a success hands out a normalised result (an nng address that is
 * the URL without "nng+" and with its scheme in lower case, a REST base
 * without a query, fragment or trailing slash); every failure is a negative
 * code with a message; the transport that opened a URL is the one its
 * scheme names, or the failover gateway for a URL that lists several
 * servers.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_support.h"
#include "hbeat/hbeat.h"
#include "hbeat/sys/fake.h"
#include "hbeat/sys/transport.h"

#include "core/builtins.h"

#ifdef HBEAT_FUZZ_WITH_NNG
#include "transports/nng/nng_internal.h"
#endif
#ifdef HBEAT_FUZZ_WITH_REST
#include "transports/rest/rest_internal.h"
#endif

static void check_error(int rc, const hbeat_error *err, const char *what)
{
    FUZZ_CHECK(rc < 0, "%s returned %d", what, rc);
    FUZZ_CHECK(err->code == rc, "%s: err.code %d, returned %d", what, err->code, rc);
    FUZZ_CHECK(err->message[0] != '\0', "%s: error %d without a message", what, rc);
}

/* ---- options from the bytes after the URL ---- */

typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor;

static uint8_t take_byte(cursor *c)
{
    if (c->left == 0)
        return 0;
    c->left--;
    return *c->p++;
}

static double take_double(cursor *c)
{
    uint8_t b[8] = {0};
    for (int i = 0; i < 8; i++)
        b[i] = take_byte(c);
    double d;
    memcpy(&d, b, sizeof d);
    return d;
}

/* A NUL-terminated string from the bytes, into `buf`. */
static const char *take_string(cursor *c, char *buf, size_t cap)
{
    size_t n = 0;
    while (c->left > 0 && n + 1 < cap) {
        uint8_t b = take_byte(c);
        if (b == 0)
            break;
        buf[n++] = (char)b;
    }
    buf[n] = '\0';
    return buf;
}

/* Files the options may name; none is read beyond its first line. */
static const char *const files[] = {NULL, "", "/nonexistent/hbeat-fuzz.pem", "/dev/null"};

/*
 * Layout: flags byte (bit 0: a bad version; bits 1-2: ca_file; bits 3-4:
 * token_file; bit 5: insecure; bit 6: cert_file and key_file; bit 7: the
 * timeouts and sizes follow), then connect_timeout and request_timeout (8
 * bytes each, raw doubles), max_reply_size (1 byte, KiB), then a token, a
 * user agent and a client_jobmon_version, each ending at a NUL.
 */
static void options_from(hbeat_gateway_options *o, cursor *c, char *token, char *agent,
                         char *version, size_t cap)
{
    hbeat_gateway_options init = HBEAT_GATEWAY_OPTIONS_INIT;
    *o = init;
    if (c->left == 0)
        return;
    uint8_t flags = take_byte(c);
    if (flags & 1)
        o->version = (flags & 2) ? 0 : HBEAT_GATEWAY_OPTIONS_VERSION + 1;
    o->ca_file = files[(flags >> 1) & 3];
    o->token_file = files[(flags >> 3) & 3];
    o->insecure = (flags >> 5) & 1;
    if (flags & 0x40) {
        o->cert_file = files[2];
        o->key_file = files[3];
    }
    if (flags & 0x80) {
        o->connect_timeout = take_double(c);
        o->request_timeout = take_double(c);
        o->max_reply_size = (size_t)take_byte(c) * 1024;
    }
    if (c->left > 0)
        o->token = take_string(c, token, cap);
    if (c->left > 0)
        o->user_agent = take_string(c, agent, cap);
    if (c->left > 0)
        o->client_jobmon_version = take_string(c, version, cap);
}

/* What the REST transport must accept as client_jobmon_version, decided
   apart from rest_gateway.c: NULL, or 1 to 64 bytes without a control
   character. */
static int version_acceptable(const char *v)
{
    if (v == NULL)
        return 1;
    size_t n = strlen(v);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] == 0x7f)
            return 0;
    return 1;
}

/* ---- the parsers ---- */

#ifdef HBEAT_FUZZ_WITH_NNG
static void fuzz_nng_url(const char *url)
{
    char dial[1024];
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat__nng_url_to_dial(url, dial, sizeof dial, &err);
    if (rc != 0) {
        check_error(rc, &err, "nng url");
        FUZZ_CHECK(rc == HBEAT_EINVAL, "nng url: %d", rc);
        return;
    }
    /* The user's URL without "nng+", the scheme in lower case. */
    const char *sep = strstr(url, "://");
    FUZZ_CHECK(sep != NULL && strncasecmp(url, "nng+", 4) == 0, "%s accepted", url);
    size_t slen = (size_t)(sep - url) - 4;
    FUZZ_CHECK(strlen(dial) == strlen(url) - 4, "%s became %s", url, dial);
    for (size_t i = 0; i < slen; i++)
        FUZZ_CHECK(dial[i] == (char)tolower((unsigned char)url[4 + i]), "%s became %s", url, dial);
    FUZZ_CHECK(strcmp(dial + slen, sep) == 0, "%s became %s", url, dial);
    for (const char *p = dial; *p != '\0'; p++)
        FUZZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p != 0x7f,
                   "an nng address with byte 0x%02x", (unsigned char)*p);

    /* A buffer too small is an error, never a cut address. */
    char small[12];
    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat__nng_url_to_dial(url, small, sizeof small, &err);
    FUZZ_CHECK((rc == 0) == (strlen(dial) < sizeof small), "%zu-byte address in %zu bytes: %d",
               strlen(dial), sizeof small, rc);
    if (rc == 0)
        FUZZ_CHECK(strcmp(small, dial) == 0, "%s vs %s", small, dial);
}

/* The nng transport's URL and option checks, without dialing. */
static int nng_check(const char *url, const hbeat_gateway_options *opts, hbeat_error *err)
{
    char dial[1024];
    int rc = hbeat__nng_url_to_dial(url, dial, sizeof dial, err);
    if (rc != 0)
        return rc;
    hbeat__nng_settings set;
    rc = hbeat__nng_settings_from(&set, url, opts, err);
    if (rc == 0)
        FUZZ_CHECK(set.timeout_ms > 0 && set.max_reply > 0, "nng settings %d ms, %zu bytes",
                   (int)set.timeout_ms, set.max_reply);
    hbeat__nng_settings_release(&set);
    return rc;
}
#endif

#ifdef HBEAT_FUZZ_WITH_REST
static void fuzz_rest_url(const char *url)
{
    rest_gw gw;
    memset(&gw, 0, sizeof gw);
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat__rest_url_parse(&gw, url, &err);
    if (rc != 0) {
        check_error(rc, &err, "rest url");
        FUZZ_CHECK(gw.base == NULL, "a refused URL left a base");
        return;
    }
    FUZZ_CHECK(gw.base != NULL && strlen(gw.base) == gw.base_len, "base length");
    FUZZ_CHECK(strncmp(gw.base, "http://", 7) == 0 || strncmp(gw.base, "https://", 8) == 0,
               "base %s", gw.base);
    FUZZ_CHECK(gw.base_len > 0 && gw.base[gw.base_len - 1] != '/', "base %s ends in /", gw.base);
    FUZZ_CHECK(strpbrk(gw.base, "?# \t\r\n") == NULL, "base %s", gw.base);
    FUZZ_CHECK(gw.path_off <= gw.base_len, "path offset %zu past %zu", gw.path_off, gw.base_len);
    FUZZ_CHECK(gw.path_off == gw.base_len || gw.base[gw.path_off] == '/', "path offset in %s",
               gw.base);
    free(gw.base);
}
#endif

/* ---- transports that would connect ---- */

/* Schemes whose open stays in this process: fake, REST (connects on the
   first call only) and nng+inproc. */
static int is_safe_scheme(const char *scheme)
{
    return strcmp(scheme, "fake") == 0 || strcmp(scheme, "http") == 0 ||
           strcmp(scheme, "https") == 0 || strcmp(scheme, "nng+inproc") == 0;
}

/* Stands in for a transport that would dial: its checks where this target
   can reach them, then a fake gateway. */
static int checking_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                         void *data, hbeat_error *err)
{
    (void)data;
#ifdef HBEAT_FUZZ_WITH_NNG
    if (strncasecmp(url, "nng+", 4) == 0) {
        int rc = nng_check(url, opts, err);
        if (rc != 0)
            return rc;
    }
#else
    (void)url;
    (void)opts;
#endif
    return hbeat_fake_gateway_new(out, NULL, 0, err);
}

/* ---- the registry ---- */

static int never_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                      void *data, hbeat_error *err)
{
    (void)out;
    (void)url;
    (void)opts;
    (void)data;
    return hbeat_error_set(err, HBEAT_ENOTSUP, "fuzz: never opened");
}

/* Registers `scheme` and takes it back: refused by the rules, or the
   registry finds it until it is gone. */
static void register_once(const char *scheme)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int before = hbeat_transport_lookup(scheme);
    FUZZ_CHECK(before == 0 || before == HBEAT_EINVAL || before == HBEAT_ESCHEME ||
                   before == HBEAT_ENOTBUILT,
               "lookup gave %d", before);
    int rc = hbeat_transport_register(scheme, never_open, NULL, &err);
    if (rc != 0) {
        check_error(rc, &err, "register");
        FUZZ_CHECK(rc == HBEAT_EINVAL || rc == HBEAT_EEXIST, "register gave %d", rc);
        FUZZ_CHECK((rc == HBEAT_EINVAL) == (before == HBEAT_EINVAL), "register gave %d, lookup %d",
                   rc, before);
        return;
    }
    FUZZ_CHECK(before != HBEAT_EINVAL, "registered a scheme lookup calls invalid");
    FUZZ_CHECK(hbeat_transport_lookup(scheme) == 0, "a registered scheme is not found");
    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat_transport_unregister(scheme, &err);
    FUZZ_CHECK(rc == 0, "unregister: %s", err.message);
    FUZZ_CHECK(hbeat_transport_lookup(scheme) == before, "lookup changed after unregister");
}

static void fuzz_registry(const char *url)
{
    register_once(url);
    const char *sep = strstr(url, "://");
    if (sep == NULL || (size_t)(sep - url) > 64)
        return;
    char scheme[65];
    memcpy(scheme, url, (size_t)(sep - url));
    scheme[sep - url] = '\0';
    register_once(scheme);
}

/* ---- opening ---- */

/* The transport that must have opened `url`: the real one for the safe
   schemes, checking_open's fake gateway for the others. NULL when the
   scheme is not a built-in one. */
static const char *family(const char *url)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL)
        return NULL;
    size_t n = (size_t)(sep - url);
    for (const hbeat__builtin *b = hbeat__builtins; b->scheme != NULL; b++) {
        if (strlen(b->scheme) != n || strncasecmp(url, b->scheme, n) != 0)
            continue;
        if (!is_safe_scheme(b->scheme))
            return "fake";
        if (strcmp(b->scheme, "fake") == 0)
            return "fake";
        return strncmp(b->scheme, "http", 4) == 0 ? "rest" : "nng";
    }
    return NULL;
}

/* 1 when `url` lists several servers (scheme://h1,h2/...), which opens a
   failover gateway over them; ipc and inproc addresses are never lists. */
static int lists_servers(const char *url)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL || strncasecmp(url, "nng+ipc://", 10) == 0 ||
        strncasecmp(url, "nng+inproc://", 13) == 0)
        return 0;
    const char *authority = sep + 3;
    return memchr(authority, ',', strcspn(authority, "/?#")) != NULL;
}

static void fuzz_open(const char *url, const hbeat_gateway_options *opts)
{
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, opts, &err);
    const char *fam = family(url);
    if (rc != 0) {
        check_error(rc, &err, "hbeat_gateway_open");
        FUZZ_CHECK(gw == NULL, "a failed open set the gateway");
        if (fam == NULL && opts->version == HBEAT_GATEWAY_OPTIONS_VERSION)
            FUZZ_CHECK(rc == HBEAT_EINVAL || rc == HBEAT_ESCHEME, "unknown scheme gave %d: %s", rc,
                       err.message);
        return;
    }
    FUZZ_CHECK(gw != NULL, "open succeeded without a gateway");
    FUZZ_CHECK(fam != NULL &&
                   strcmp(hbeat_gateway_transport(gw), lists_servers(url) ? "failover" : fam) == 0,
               "%s opened by the %s transport", url, hbeat_gateway_transport(gw));
    FUZZ_CHECK(opts->version == HBEAT_GATEWAY_OPTIONS_VERSION, "options version %u accepted",
               opts->version);
    if (strcmp(fam, "rest") == 0)
        FUZZ_CHECK(version_acceptable(opts->client_jobmon_version),
                   "client_jobmon_version of %zu bytes accepted",
                   strlen(opts->client_jobmon_version));
    hbeat_gateway_free(gw);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    /* Every built-in scheme whose transport would reach out of the process
       (now nng+tcp, nng+tls+tcp, nng+ipc; any added later too) is answered
       by checking_open instead. */
    for (const hbeat__builtin *b = hbeat__builtins; b->scheme != NULL; b++) {
        if (is_safe_scheme(b->scheme))
            continue;
        hbeat_error err = HBEAT_ERROR_INIT;
        FUZZ_CHECK(hbeat_transport_register(b->scheme, checking_open, NULL, &err) == 0,
                   "registering the checking opener for %s: %s", b->scheme, err.message);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t url_len = nul != NULL ? (size_t)(nul - data) : size;
    char *url = fuzz_strndup(data, url_len);
    cursor c = {nul != NULL ? nul + 1 : data + size, nul != NULL ? size - url_len - 1 : 0};
    char token[512], agent[512], version[512];
    hbeat_gateway_options opts;
    options_from(&opts, &c, token, agent, version, sizeof token);

#ifdef HBEAT_FUZZ_WITH_NNG
    fuzz_nng_url(url);
#endif
#ifdef HBEAT_FUZZ_WITH_REST
    fuzz_rest_url(url);
#endif
    fuzz_registry(url);
    fuzz_open(url, &opts);
    free(url);
    return 0;
}
