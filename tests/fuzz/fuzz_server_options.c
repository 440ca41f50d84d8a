/*
 * hbeatd's command line (src/server/options.c), the configuration an
 * operator writes. The input is split at newlines into argv[1..].
 *
 * Besides "no crash": a refusal says why, and an accepted configuration
 * keeps hbeatd's security rule (docs/security.md): without --token-file or
 * --allow-remote, every nng listener and the HTTP listener bind only this
 * host. Which address a --listen URL binds is worked out here the way the
 * listener does it (sp_listen.c: the parsed host through getaddrinfo, with
 * AI_NUMERICHOST so that no name is looked up) and judged on the binary
 * address, not on the text that hbd_sp_url_is_local() reads: a parser
 * differential. hbd_sp_url_is_local() is also checked that way on every
 * line alone.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_support.h"
#include "options.h"
#include "sp_url.h"

#define MAX_ARGS 64

/* 1 when the address is this host's own (127.0.0.0/8, ::1). */
static int loopback_address(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* What the listener would bind for listen URL `url`: 1 when only this
   host, or nothing (the URL is refused, so hbeatd does not start). */
static int binds_local(const char *url)
{
    hbd_sp_url u;
    if (hbd_sp_url_parse(url, &u, NULL, 0) != 0 || u.scheme == HBD_SP_IPC)
        return 1;
    if (u.host[0] == '\0')
        return 0; /* every address */
    if (strcmp(u.host, "localhost") == 0)
        return 1; /* the hosts file's, by definition */
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = u.family ? u.family : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(u.host, "1", &hints, &res) != 0) {
        /* An address of the other family (tcp6://127.0.0.1): the listener
           refuses it, nothing is bound. Otherwise a name, looked up at
           start: it could be anywhere. */
        hints.ai_family = AF_UNSPEC;
        int numeric = getaddrinfo(u.host, "1", &hints, &res) == 0;
        if (numeric)
            freeaddrinfo(res);
        return numeric;
    }
    int local = loopback_address(res->ai_addr);
    freeaddrinfo(res);
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
        if (hbd_sp_url_is_local(argv[i]))
            FUZZ_CHECK(binds_local(argv[i]),
                       "hbeatd reads \"%s\" as a local listener, but binds it elsewhere", argv[i]);
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
                FUZZ_CHECK(binds_local(o.listen[i]),
                           "without a token file, --listen %s binds beyond this host", o.listen[i]);
            FUZZ_CHECK(!o.http_enabled || hbd_host_is_loopback(o.http_host),
                       "without a token file, --http binds %s", o.http_host);
        }
    }
    free(text);
    return 0;
}
