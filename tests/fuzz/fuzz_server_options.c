/*
 * hbeatd's command line (src/server/options.c), the configuration an
 * operator writes. The input is split at newlines into argv[1..].
 *
 * Besides "no crash": a refusal says why, and an accepted configuration
 * keeps hbeatd's security rule (TEAM.md, issue 7): without --token-file or
 * --allow-remote, every nng listener and the HTTP listener bind only this
 * host. The host each --listen URL binds is taken from nng's own URL parser
 * (nng_url_parse, as the listener reads it; and a listener created, never
 * started, on the same URL with a numeric host, to see whether nng takes
 * it at all: nothing is bound, no name is looked up), so that
 * a URL hbeatd reads as loopback but nng binds elsewhere is caught: a
 * parser differential.
 * hbd_listen_is_local() is also checked the same way on every line alone.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_support.h"
#include "server/options.h"

#define MAX_ARGS 64

/* A socket to try listeners on: nng_listener_create() checks the URL the
   way hbeatd's nng_listen() will, and binds nothing (nng binds in
   nng_listener_start). */
static nng_socket sock;

/* `url` with its host (nng's reading, `host`) replaced by 127.0.0.1, so
   that nng_listener_create(), which resolves the host, never looks up a
   name (no DNS query leaves this process); NULL when the host cannot be
   found in the URL. Whether nng accepts a URL does not depend on the
   host's value. */
static char *numeric_host(const char *url, const nng_url *u)
{
    const char *auth = strstr(url, "://");
    if (auth == NULL)
        return NULL;
    auth += 3;
    if (u->u_userinfo != NULL) {
        const char *at = strchr(auth, '@');
        if (at == NULL)
            return NULL;
        auth = at + 1;
    }
    const char *h = strstr(auth, u->u_hostname);
    if (h == NULL)
        return NULL;
    size_t hl = strlen(u->u_hostname), n = strlen(url);
    char *out = calloc(1, n + 16);
    FUZZ_CHECK(out != NULL, "out of memory");
    size_t pre = (size_t)(h - url);
    memcpy(out, url, pre);
    memcpy(out + pre, "127.0.0.1", 9);
    memcpy(out + pre + 9, h + hl, n - pre - hl);
    return out;
}

/* What nng would bind for listen URL `url`: 1 when only this host, or
   nothing (nng refuses the URL, so hbeatd fails to start). */
static int nng_binds_local(const char *url)
{
    /* libnng 1.5.2's URL parser reads one byte past the end of a URL that
       ends in '@' (userinfo, empty host): hbeatd inherits that through
       nng_listen(); reported, and padded here so that it does not stop
       the fuzzing of hbeatd's own code. */
    size_t n = strlen(url);
    char *padded = calloc(1, n + 2);
    FUZZ_CHECK(padded != NULL, "out of memory");
    memcpy(padded, url, n);
    nng_url *u = NULL;
    if (nng_url_parse(&u, padded) != 0) {
        free(padded);
        return 1;
    }
    /* Path-based transports (ipc, unix, abstract, inproc) have no host and
       stay on this machine. */
    const char *h = u->u_hostname;
    int local = h == NULL || strcmp(u->u_scheme, "inproc") == 0 ||
                strcmp(u->u_scheme, "ipc") == 0 || strcmp(u->u_scheme, "unix") == 0 ||
                strcmp(u->u_scheme, "abstract") == 0 || (h[0] != '\0' && hbd_host_is_loopback(h));
    if (!local) {
        char *probe = h[0] != '\0' ? numeric_host(padded, u) : padded;
        nng_listener l;
        if (probe == NULL || nng_listener_create(&l, sock, probe) != 0)
            local = 1; /* refused: nothing is bound */
        else
            nng_listener_close(l);
        if (probe != padded)
            free(probe);
    }
    nng_url_free(u);
    free(padded);
    return local;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    /* The environment is read before argv; keep this process's out. */
    static const char *const vars[] = {"HBEATD_LISTEN",    "HBEATD_HTTP",         "HBEATD_DB",
                                       "HBEATD_LOG_LEVEL", "HBEATD_TOKEN_FILE",   "HBEATD_TLS_CERT",
                                       "HBEATD_TLS_KEY",   "HBEATD_TLS_CLIENT_CA"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    int rv = nng_rep0_open(&sock);
    FUZZ_CHECK(rv == 0, "nng_rep0_open: %s", nng_strerror(rv));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "hbeatd";
    for (char *p = text; p != NULL && argc < MAX_ARGS + 1;) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        argv[argc++] = p;
        p = nl != NULL ? nl + 1 : NULL;
    }
    argv[argc] = NULL;

    /* Every line alone, as a listen URL. */
    for (int i = 1; i < argc; i++) {
        if (hbd_listen_is_local(argv[i]))
            FUZZ_CHECK(nng_binds_local(argv[i]),
                       "hbeatd reads \"%s\" as a local listener, nng binds it elsewhere", argv[i]);
    }

    hbd_options o;
    char errbuf[512];
    errbuf[0] = '\0';
    int rc = hbd_options_parse(&o, argc, argv, errbuf, sizeof errbuf);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && errbuf[0] != '\0', "refused (%d) without a message", rc);
    } else if (!o.help && !o.version) {
        FUZZ_CHECK(o.nlisten >= 1 && o.nlisten <= HBD_MAX_LISTEN, "%zu listeners", o.nlisten);
        FUZZ_CHECK(o.reap_interval > 0 && o.reap_interval < 1e300, "reap interval %g",
                   o.reap_interval);
        FUZZ_CHECK(o.db != NULL && o.db[0] != '\0', "no database");
        FUZZ_CHECK(o.max_request > 0 && o.max_connections > 0, "limits %zu/%u", o.max_request,
                   o.max_connections);
        FUZZ_CHECK(o.read_timeout > 0, "read timeout %g", o.read_timeout);
        if (o.token_file == NULL && !o.allow_remote) {
            for (size_t i = 0; i < o.nlisten; i++)
                FUZZ_CHECK(nng_binds_local(o.listen[i]),
                           "without a token file, --listen %s binds beyond this host", o.listen[i]);
            FUZZ_CHECK(!o.http_enabled || hbd_host_is_loopback(o.http_host),
                       "without a token file, --http binds %s", o.http_host);
        }
    }
    free(text);
    return 0;
}
