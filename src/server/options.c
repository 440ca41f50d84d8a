/*
 * Flags take "--flag VALUE" or "--flag=VALUE". The environment only fills
 * what the command line leaves unset; a --listen on the command line
 * replaces the whole HBEATD_LISTEN list rather than adding to it.
 */
#define _POSIX_C_SOURCE 200809L

#include "server/options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hbeat/log.h"
#include "server/log.h"
#include "server/sp_url.h"
#include "server/store.h"

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_seconds(const char *flag, const char *v, double min, int min_open, double *out,
                         char *errbuf, size_t errlen)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || !isfinite(d) || (min_open ? d <= min : d < min) ||
        d > 365.0 * 24 * 3600)
        return fail(errbuf, errlen, "%s: expected a number of seconds %s %g, got '%s'", flag,
                    min_open ? ">" : ">=", min, v);
    *out = d;
    return 0;
}

/* "HOST:PORT" with a numeric host ("[::1]:80" for IPv6), or "none". */
static int parse_http(hbd_options *o, const char *v, char *errbuf, size_t errlen)
{
    if (strcmp(v, "none") == 0) {
        o->http_enabled = 0;
        return 0;
    }
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v)
        return fail(errbuf, errlen, "--http: expected HOST:PORT or none, got '%s'", v);
    const char *host = v;
    size_t hlen = (size_t)(colon - v);
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof o->http_host)
        return fail(errbuf, errlen, "--http: bad host in '%s'", v);
    memcpy(o->http_host, host, hlen);
    o->http_host[hlen] = '\0';
    unsigned char addr[16];
    if (inet_pton(AF_INET, o->http_host, addr) != 1 && inet_pton(AF_INET6, o->http_host, addr) != 1)
        return fail(errbuf, errlen, "--http: host must be a numeric address, got '%s'",
                    o->http_host);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
        return fail(errbuf, errlen, "--http: bad port in '%s'", v);
    o->http_port = (unsigned short)port;
    o->http_enabled = 1;
    return 0;
}

static int add_listen(hbd_options *o, const char *url, char *errbuf, size_t errlen)
{
    if (o->nlisten == HBD_MAX_LISTEN)
        return fail(errbuf, errlen, "--listen: at most %d URLs", HBD_MAX_LISTEN);
    hbd_sp_url parsed;
    char why[300];
    if (hbd_sp_url_parse(url, &parsed, why, sizeof why) != 0)
        return fail(errbuf, errlen, "--listen: %s", why);
    o->listen[o->nlisten++] = url;
    return 0;
}

/* HBEATD_LISTEN: URLs separated by commas or spaces. */
static int env_listen(hbd_options *o, const char *v, char *errbuf, size_t errlen)
{
    if (strlen(v) >= sizeof o->env_listen)
        return fail(errbuf, errlen, "HBEATD_LISTEN is too long");
    strcpy(o->env_listen, v);
    char *save = NULL;
    o->nlisten = 0;
    for (char *tok = strtok_r(o->env_listen, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        if (add_listen(o, tok, errbuf, errlen) != 0)
            return -1;
    }
    return 0;
}

static int set_level(hbd_options *o, const char *flag, const char *v, char *errbuf, size_t errlen)
{
    int level = hbd_log_parse_level(v);
    if (level < 0)
        return fail(errbuf, errlen, "%s: expected debug, info, warn or error, got '%s'", flag, v);
    o->log_level = level;
    return 0;
}

static int set_sync(hbd_options *o, const char *flag, const char *v, char *errbuf, size_t errlen)
{
    int mode = hbd_sync_parse(v);
    if (mode < 0)
        return fail(errbuf, errlen, "%s: expected full, changes or normal, got '%.40s'", flag, v);
    o->sync = mode;
    return 0;
}

static int parse_count(const char *flag, const char *v, unsigned long min, unsigned long max,
                       unsigned long *out, char *errbuf, size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < min || n > max)
        return fail(errbuf, errlen, "%s: expected a whole number from %lu to %lu, got '%.40s'",
                    flag, min, max, v);
    *out = n;
    return 0;
}

static int set_path(const char *flag, const char *v, const char **out, char *errbuf, size_t errlen)
{
    if (v[0] == '\0')
        return fail(errbuf, errlen, "%s: empty path", flag);
    *out = v;
    return 0;
}

int hbd_host_is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0)
        return 1;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        return memcmp(a, one, 16) == 0;
    }
    return 0;
}

int hbd_listen_is_local(const char *url)
{
    return hbd_sp_url_is_local(url);
}

static int is_tls_listen(const char *url)
{
    return strncmp(url, "tls+", 4) == 0;
}

/* What no single flag can check: combinations, and where hbeatd may
   listen without authentication. */
static int check_security(const hbd_options *o, char *errbuf, size_t errlen)
{
    if ((o->tls_cert == NULL) != (o->tls_key == NULL))
        return fail(errbuf, errlen, "--tls-cert and --tls-key go together");
    if (o->tls_client_ca != NULL && o->tls_cert == NULL)
        return fail(errbuf, errlen, "--tls-client-ca needs --tls-cert and --tls-key");
    for (size_t i = 0; i < o->nlisten; i++) {
        if (is_tls_listen(o->listen[i]) && o->tls_cert == NULL)
            return fail(errbuf, errlen, "--listen %.200s needs --tls-cert and --tls-key",
                        o->listen[i]);
    }
    if (o->token_file != NULL || o->allow_remote)
        return 0;
    for (size_t i = 0; i < o->nlisten; i++) {
        if (!hbd_listen_is_local(o->listen[i]))
            return fail(errbuf, errlen,
                        "--listen %.200s is not a loopback address, and without --token-file "
                        "anyone who can reach it could change any run; give --token-file, "
                        "or --allow-remote to listen there anyway",
                        o->listen[i]);
    }
    if (o->http_enabled && !hbd_host_is_loopback(o->http_host))
        return fail(errbuf, errlen,
                    "--http %.64s is not a loopback address, and without --token-file anyone "
                    "who can reach it could change any run; give --token-file, or "
                    "--allow-remote to listen there anyway",
                    o->http_host);
    return 0;
}

int hbd_options_parse(hbd_options *o, int argc, char **argv, char *errbuf, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->listen[0] = HBD_DEFAULT_LISTEN;
    o->nlisten = 1;
    o->db = HBD_DEFAULT_DB;
    o->reap_interval = HBD_DEFAULT_REAP_INTERVAL;
    o->reap_grace = -1;
    o->log_level = HBEAT_LOG_INFO;
    o->max_request = HBD_DEFAULT_MAX_REQUEST;
    o->max_connections = HBD_DEFAULT_MAX_CONNECTIONS;
    o->max_connections_per_ip = HBD_DEFAULT_MAX_CONNECTIONS_IP;
    o->read_timeout = HBD_DEFAULT_READ_TIMEOUT;
    o->min_request_rate = HBD_DEFAULT_MIN_REQUEST_RATE;
    if (parse_http(o, HBD_DEFAULT_HTTP, errbuf, errlen) != 0)
        return -1;

    const char *v;
    if ((v = getenv("HBEATD_LISTEN")) != NULL && v[0] != '\0' && env_listen(o, v, errbuf, errlen))
        return -1;
    if ((v = getenv("HBEATD_HTTP")) != NULL && v[0] != '\0' && parse_http(o, v, errbuf, errlen))
        return -1;
    if ((v = getenv("HBEATD_DB")) != NULL && v[0] != '\0')
        o->db = v;
    if ((v = getenv("HBEATD_LOG_LEVEL")) != NULL && v[0] != '\0' &&
        set_level(o, "HBEATD_LOG_LEVEL", v, errbuf, errlen))
        return -1;
    if ((v = getenv("HBEATD_SYNC")) != NULL && v[0] != '\0' &&
        set_sync(o, "HBEATD_SYNC", v, errbuf, errlen))
        return -1;
    if ((v = getenv("HBEATD_TOKEN_FILE")) != NULL && v[0] != '\0')
        o->token_file = v;
    if ((v = getenv("HBEATD_TLS_CERT")) != NULL && v[0] != '\0')
        o->tls_cert = v;
    if ((v = getenv("HBEATD_TLS_KEY")) != NULL && v[0] != '\0')
        o->tls_key = v;
    if ((v = getenv("HBEATD_TLS_CLIENT_CA")) != NULL && v[0] != '\0')
        o->tls_client_ca = v;

    int cli_listen = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(arg, "--version") == 0) {
            o->version = 1;
            continue;
        }
        if (strcmp(arg, "--allow-remote") == 0) {
            o->allow_remote = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return fail(errbuf, errlen, "unexpected argument '%s'", arg);
        /* Every other flag takes a value. */
        char flag[32];
        const char *eq = strchr(arg, '=');
        size_t flen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (flen >= sizeof flag)
            return fail(errbuf, errlen, "unknown option '%.40s'", arg);
        memcpy(flag, arg, flen);
        flag[flen] = '\0';
        static const char *const known[] = {"--listen",
                                            "--http",
                                            "--db",
                                            "--sync",
                                            "--reap-interval",
                                            "--reap-grace",
                                            "--ready-file",
                                            "--log-level",
                                            "--tls-cert",
                                            "--tls-key",
                                            "--tls-client-ca",
                                            "--token-file",
                                            "--max-request",
                                            "--max-connections",
                                            "--max-connections-per-ip",
                                            "--read-timeout",
                                            "--min-request-rate"};
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strcmp(flag, known[k]) == 0;
        if (!ok)
            return fail(errbuf, errlen, "unknown option '%s'", flag);
        if (eq != NULL) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return fail(errbuf, errlen, "%s needs a value", flag);
        }

        int rc = 0;
        if (strcmp(flag, "--listen") == 0) {
            if (!cli_listen)
                o->nlisten = 0;
            cli_listen = 1;
            rc = add_listen(o, v, errbuf, errlen);
        } else if (strcmp(flag, "--http") == 0) {
            rc = parse_http(o, v, errbuf, errlen);
        } else if (strcmp(flag, "--sync") == 0) {
            rc = set_sync(o, flag, v, errbuf, errlen);
        } else if (strcmp(flag, "--db") == 0) {
            if (v[0] == '\0')
                return fail(errbuf, errlen, "--db: empty path");
            o->db = v;
        } else if (strcmp(flag, "--reap-interval") == 0) {
            rc = parse_seconds(flag, v, 0, 1, &o->reap_interval, errbuf, errlen);
        } else if (strcmp(flag, "--reap-grace") == 0) {
            rc = parse_seconds(flag, v, 0, 0, &o->reap_grace, errbuf, errlen);
        } else if (strcmp(flag, "--ready-file") == 0) {
            if (v[0] == '\0')
                return fail(errbuf, errlen, "--ready-file: empty path");
            o->ready_file = v;
        } else if (strcmp(flag, "--tls-cert") == 0) {
            rc = set_path(flag, v, &o->tls_cert, errbuf, errlen);
        } else if (strcmp(flag, "--tls-key") == 0) {
            rc = set_path(flag, v, &o->tls_key, errbuf, errlen);
        } else if (strcmp(flag, "--tls-client-ca") == 0) {
            rc = set_path(flag, v, &o->tls_client_ca, errbuf, errlen);
        } else if (strcmp(flag, "--token-file") == 0) {
            rc = set_path(flag, v, &o->token_file, errbuf, errlen);
        } else if (strcmp(flag, "--max-request") == 0) {
            unsigned long n;
            rc = parse_count(flag, v, 1024, 64ul * 1024 * 1024, &n, errbuf, errlen);
            o->max_request = n;
        } else if (strcmp(flag, "--max-connections") == 0) {
            unsigned long n;
            rc = parse_count(flag, v, 1, 1000000, &n, errbuf, errlen);
            o->max_connections = (unsigned int)n;
        } else if (strcmp(flag, "--max-connections-per-ip") == 0) {
            unsigned long n;
            rc = parse_count(flag, v, 0, 1000000, &n, errbuf, errlen);
            o->max_connections_per_ip = (unsigned int)n;
        } else if (strcmp(flag, "--read-timeout") == 0) {
            rc = parse_seconds(flag, v, 0, 1, &o->read_timeout, errbuf, errlen);
            if (rc == 0 && o->read_timeout > 3600)
                rc = fail(errbuf, errlen, "--read-timeout: at most 3600 seconds, got '%.40s'", v);
        } else if (strcmp(flag, "--min-request-rate") == 0) {
            rc = parse_count(flag, v, 0, 1ul << 30, &o->min_request_rate, errbuf, errlen);
        } else {
            rc = set_level(o, flag, v, errbuf, errlen);
        }
        if (rc != 0)
            return -1;
    }
    if (o->nlisten == 0 && !o->http_enabled)
        return fail(errbuf, errlen, "nothing to serve: no --listen URL and --http none");
    return check_security(o, errbuf, errlen);
}

void hbd_options_usage(FILE *out)
{
    fputs("Usage: hbeatd [OPTION]...\n"
          "The hbeat reference server: Jobmon-compatible heartbeats over nng and REST.\n"
          "\n"
          "  --listen URL         nng listen URL, repeatable: tcp://HOST:PORT, ipc:///PATH,\n"
          "                       tls+tcp://HOST:PORT; port 0 picks a free port\n"
          "                       (default " HBD_DEFAULT_LISTEN "; env HBEATD_LISTEN,\n"
          "                       comma-separated)\n"
          "  --http HOST:PORT     REST address, numeric host, [::1]:PORT for IPv6; port 0\n"
          "                       picks a free port; 'none' turns REST off\n"
          "                       (default " HBD_DEFAULT_HTTP "; env HBEATD_HTTP)\n"
          "  --db PATH            SQLite file, or :memory: for a store that dies with the\n"
          "                       process (default " HBD_DEFAULT_DB "; env HBEATD_DB)\n"
          "  --sync MODE          when a commit is fsynced: 'changes' (default) fsyncs\n"
          "                       status changes and new runs, and writes plain heartbeats\n"
          "                       without an fsync (a power loss can take back the last\n"
          "                       deadline moves); 'full' fsyncs every commit; 'normal'\n"
          "                       none (WAL synced at checkpoints). Every mode survives a\n"
          "                       crash of hbeatd (kill -9). Env HBEATD_SYNC\n"
          "  --reap-interval S    seconds between reaper passes (default 10)\n"
          "  --reap-grace S       seconds after start before the first reap (default: the\n"
          "                       longest next_report_increment among stored live runs)\n"
          "  --ready-file PATH    once every listener is bound, write PATH (atomically),\n"
          "                       one line per listener: 'nng URL' or 'http URL'\n"
          "  --log-level LEVEL    debug, info, warn or error (default info;\n"
          "                       env HBEATD_LOG_LEVEL); the log goes to stderr\n"
          "\n"
          "Security:\n"
          "  --tls-cert FILE      PEM server certificate (chain); with --tls-key, REST is\n"
          "                       served over https and tls+tcp://HOST:PORT listen URLs\n"
          "                       are allowed (env HBEATD_TLS_CERT)\n"
          "  --tls-key FILE       PEM private key, unencrypted (env HBEATD_TLS_KEY)\n"
          "  --tls-client-ca FILE require client certificates signed by a CA in FILE\n"
          "                       (mutual TLS) on https and tls+tcp (env HBEATD_TLS_CLIENT_CA)\n"
          "  --token-file FILE    bearer tokens, one per line: 'client TOKEN' (heartbeat,\n"
          "                       update_status) or 'operator TOKEN' (everything); '#'\n"
          "                       starts a comment; tokens are 16 to 4096 printable bytes;\n"
          "                       SIGHUP reloads it (env HBEATD_TOKEN_FILE). Without it\n"
          "                       authentication is off and hbeatd listens on loopback only\n"
          "  --allow-remote       listen on non-loopback addresses without --token-file\n"
          "\n"
          "Limits:\n"
          "  --max-request BYTES  largest request: REST body, nng message (default 65536)\n"
          "  --max-connections N  open connections per front end (default 1024, and never\n"
          "                       more than the open-file limit allows); nng: at the limit\n"
          "                       the longest-silent connection gives way to a new one\n"
          "  --max-connections-per-ip N\n"
          "                       open connections from one address (nng over ipc: from\n"
          "                       one user), per front end; 0 for no limit (default 256)\n"
          "  --read-timeout S     seconds a connection may take to deliver a whole request,\n"
          "                       and may stay idle (default 30); nng: also the TLS\n"
          "                       handshake and greeting, and replies left unread\n"
          "  --min-request-rate BYTES\n"
          "                       REST: once a request has begun it must arrive at this\n"
          "                       many bytes a second on average, after a 2 s grace, or\n"
          "                       the connection is closed; 0 for no minimum (default 500)\n"
          "  --help               show this help and exit\n"
          "  --version            show the version and exit\n"
          "\n"
          "SIGINT or SIGTERM stops hbeatd cleanly: it stops taking requests, answers the\n"
          "ones in flight and closes the store. SIGHUP reloads the token file.\n"
          "\n"
          "Exit status: 0 clean stop, 1 runtime failure (store, listen), 2 usage error.\n",
          out);
}
