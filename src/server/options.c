/*
 * hbeatd's flags, from one table: each flag's environment variable, its
 * value's kind and range, its default and its help text, so that parsing,
 * the environment and --help cannot disagree. Flags take "--flag VALUE" or
 * "--flag=VALUE". The environment only fills what the command line leaves
 * unset; a --listen on the command line replaces the whole HBEATD_LISTEN
 * list rather than adding to it.
 */
#define _POSIX_C_SOURCE 200809L

#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hbeat/log.h"
#include "log.h"
#include "sp_url.h"
#include "store.h"

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

/* "HOST:PORT" with a numeric host ("[::1]:80" for IPv6), or "none":
 *enabled, and the host (64 bytes) and port it names. */
static int parse_host_port(const char *flag, const char *v, int *enabled, char host_out[64],
                           unsigned short *port_out, char *errbuf, size_t errlen)
{
    if (strcmp(v, "none") == 0) {
        *enabled = 0;
        return 0;
    }
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v)
        return fail(errbuf, errlen, "%s: expected HOST:PORT or none, got '%s'", flag, v);
    const char *host = v;
    size_t hlen = (size_t)(colon - v);
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= 64)
        return fail(errbuf, errlen, "%s: bad host in '%s'", flag, v);
    memcpy(host_out, host, hlen);
    host_out[hlen] = '\0';
    unsigned char addr[16];
    if (inet_pton(AF_INET, host_out, addr) != 1 && inet_pton(AF_INET6, host_out, addr) != 1)
        return fail(errbuf, errlen, "%s: host must be a numeric address, got '%s'", flag, host_out);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
        return fail(errbuf, errlen, "%s: bad port in '%s'", flag, v);
    *port_out = (unsigned short)port;
    *enabled = 1;
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

static int is_tls_listen(const char *url)
{
    return strncmp(url, "tls+", 4) == 0;
}

size_t hbd_options_listeners(const hbd_options *o, hbd_listener_view *out)
{
    size_t n = 0;
    for (size_t i = 0; i < o->nlisten; i++)
        out[n++] = (hbd_listener_view){"--listen", o->listen[i], hbd_sp_url_is_local(o->listen[i]),
                                       is_tls_listen(o->listen[i])};
    if (o->grpc_enabled)
        out[n++] = (hbd_listener_view){"--grpc", o->grpc_host, hbd_host_is_loopback(o->grpc_host),
                                       o->tls_cert != NULL};
    if (o->http_enabled)
        out[n++] = (hbd_listener_view){"--http", o->http_host, hbd_host_is_loopback(o->http_host),
                                       o->tls_cert != NULL};
    return n;
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
    hbd_listener_view views[HBD_MAX_LISTEN + 2];
    hbd_exposure x = {views, hbd_options_listeners(o, views), o->token_file != NULL,
                      o->allow_remote};
    return hbd_exposure_check(&x, errbuf, errlen);
}

/* ---- the table ---------------------------------------------------------- */

enum source { FROM_DEFAULT, FROM_FILE, FROM_ENV, FROM_ARGV };

typedef struct opt opt;
/* Sets the option from text `v`; `name` is the flag or the variable, for
   messages. */
typedef int (*setter)(hbd_options *o, const opt *d, enum source from, const char *name,
                      const char *v, char *errbuf, size_t errlen);

struct opt {
    const char *flag;
    const char *env;
    const char *arg; /* in --help; NULL: a switch, which takes no value */
    setter set;
    size_t field; /* offsetof the value, for the generic setters */
    double min, max;
    const char *def; /* the default, as text; NULL: none, or said in help */
    const char *section;
    const char *help; /* lines after the first are indented by --help */
    int above;        /* seconds: the value must exceed `min` */
    int repeat;       /* may be given more than once (--listen) */
};

static int set_listen(hbd_options *o, const opt *d, enum source from, const char *name,
                      const char *v, char *errbuf, size_t errlen)
{
    (void)d;
    (void)name;
    if (from == FROM_ENV)
        return env_listen(o, v, errbuf, errlen);
    if (from == FROM_ARGV && !o->listen_given) {
        o->listen_given = 1;
        o->nlisten = 0;
    }
    if (from == FROM_FILE && !o->listen_in_file) {
        o->listen_in_file = 1;
        o->nlisten = 0;
    }
    return add_listen(o, v, errbuf, errlen);
}

static int set_http_value(hbd_options *o, const opt *d, enum source from, const char *name,
                          const char *v, char *errbuf, size_t errlen)
{
    (void)d;
    (void)from;
    (void)name;
    return parse_host_port("--http", v, &o->http_enabled, o->http_host, &o->http_port, errbuf,
                           errlen);
}

static int set_grpc_value(hbd_options *o, const opt *d, enum source from, const char *name,
                          const char *v, char *errbuf, size_t errlen)
{
    (void)d;
    (void)from;
    (void)name;
    return parse_host_port("--grpc", v, &o->grpc_enabled, o->grpc_host, &o->grpc_port, errbuf,
                           errlen);
}

static int set_sync_value(hbd_options *o, const opt *d, enum source from, const char *name,
                          const char *v, char *errbuf, size_t errlen)
{
    (void)d;
    (void)from;
    return set_sync(o, name, v, errbuf, errlen);
}

static int set_level_value(hbd_options *o, const opt *d, enum source from, const char *name,
                           const char *v, char *errbuf, size_t errlen)
{
    (void)d;
    (void)from;
    return set_level(o, name, v, errbuf, errlen);
}

static int set_path_value(hbd_options *o, const opt *d, enum source from, const char *name,
                          const char *v, char *errbuf, size_t errlen)
{
    (void)from;
    return set_path(name, v, (const char **)((char *)o + d->field), errbuf, errlen);
}

/* Seconds from `min` (above it, for an option whose `above` is set) to
   `max`. */
static int set_seconds(hbd_options *o, const opt *d, enum source from, const char *name,
                       const char *v, char *errbuf, size_t errlen)
{
    (void)from;
    double *out = (double *)((char *)o + d->field);
    if (parse_seconds(name, v, d->min, d->above, out, errbuf, errlen) != 0)
        return -1;
    if (*out > d->max)
        return fail(errbuf, errlen, "%s: at most %g seconds, got '%.40s'", name, d->max, v);
    return 0;
}

static int set_size(hbd_options *o, const opt *d, enum source from, const char *name, const char *v,
                    char *errbuf, size_t errlen)
{
    (void)from;
    unsigned long n = 0;
    if (parse_count(name, v, (unsigned long)d->min, (unsigned long)d->max, &n, errbuf, errlen))
        return -1;
    *(size_t *)((char *)o + d->field) = n;
    return 0;
}

static int set_uint(hbd_options *o, const opt *d, enum source from, const char *name, const char *v,
                    char *errbuf, size_t errlen)
{
    (void)from;
    unsigned long n = 0;
    if (parse_count(name, v, (unsigned long)d->min, (unsigned long)d->max, &n, errbuf, errlen))
        return -1;
    *(unsigned int *)((char *)o + d->field) = (unsigned int)n;
    return 0;
}

static int set_ulong(hbd_options *o, const opt *d, enum source from, const char *name,
                     const char *v, char *errbuf, size_t errlen)
{
    (void)from;
    return parse_count(name, v, (unsigned long)d->min, (unsigned long)d->max,
                       (unsigned long *)((char *)o + d->field), errbuf, errlen);
}

/* A switch: on when given; in the environment and the configuration file
   1/yes/true or 0/no/false. */
static int set_switch(hbd_options *o, const opt *d, enum source from, const char *name,
                      const char *v, char *errbuf, size_t errlen)
{
    int *out = (int *)((char *)o + d->field);
    if (from != FROM_ENV && from != FROM_FILE) {
        *out = 1;
        return 0;
    }
    static const char *const on[] = {"1", "yes", "true"}, *const off[] = {"0", "no", "false"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(v, on[i]) == 0 || strcmp(v, off[i]) == 0) {
            *out = strcmp(v, on[i]) == 0;
            return 0;
        }
    }
    return fail(errbuf, errlen, "%s: expected 1, yes, true, 0, no or false, got '%.40s'", name, v);
}

#define YEAR_S    (365.0 * 24 * 3600)
#define F(member) offsetof(hbd_options, member)
#define TEXT_(x)  #x
#define TEXT(x)   TEXT_(x)

static const opt options[] = {
    {.flag = "--config",
     .env = "HBEATD_CONFIG",
     .arg = "FILE",
     .set = set_path_value,
     .field = F(config),
     .help = "read settings from FILE: 'key = value' lines, the keys\n"
             "named as these flags without '--'; flags and the\n"
             "environment override it"},
    {.flag = "--listen",
     .env = "HBEATD_LISTEN",
     .arg = "URL",
     .set = set_listen,
     .def = HBD_DEFAULT_LISTEN,
     .repeat = 1,
     .help = "nng listen URL, repeatable: tcp://HOST:PORT, ipc:///PATH,\n"
             "tls+tcp://HOST:PORT; port 0 picks a free port (the variable:\n"
             "comma-separated)"},
    {.flag = "--http",
     .env = "HBEATD_HTTP",
     .arg = "HOST:PORT",
     .set = set_http_value,
     .def = HBD_DEFAULT_HTTP,
     .help = "REST address, numeric host, [::1]:PORT for IPv6; port 0\n"
             "picks a free port; 'none' turns REST off"},
    {.flag = "--grpc",
     .env = "HBEATD_GRPC",
     .arg = "HOST:PORT",
     .set = set_grpc_value,
     .def = HBD_DEFAULT_GRPC,
     .help = "gRPC address (hbeat.v1.HeartbeatService and\n"
             "grpc.health.v1.Health), numeric host as for --http; port 0\n"
             "picks a free port; 'none' turns gRPC off"},
    {.flag = "--db",
     .env = "HBEATD_DB",
     .arg = "PATH",
     .set = set_path_value,
     .field = F(db),
     .def = HBD_DEFAULT_DB,
     .help = "SQLite store, or :memory: (nothing survives the process), or\n"
             "a PostgreSQL database shared by several hbeatd:\n"
             "postgresql://... or postgres://... (libpq's URI; the password\n"
             "from libpq's usual places, e.g. PGPASSFILE)"},
    {.flag = "--sync",
     .env = "HBEATD_SYNC",
     .arg = "MODE",
     .set = set_sync_value,
     .help = "when a commit is fsynced: changes (the default; every status\n"
             "change and new run before its reply), full (every commit) or\n"
             "normal (checkpoints only). Every mode survives a crash of\n"
             "hbeatd (kill -9)"},
    {.flag = "--db-timeout",
     .env = "HBEATD_DB_TIMEOUT",
     .arg = "S",
     .set = set_seconds,
     .field = F(db_timeout),
     .max = 3600,
     .def = TEXT(HBD_DEFAULT_DB_TIMEOUT),
     .help = "PostgreSQL: seconds to wait for the database's answer and\n"
             "for a new connection; past it the calls in flight fail and\n"
             "the connection is replaced",
     .above = 1},
    {.flag = "--reap-interval",
     .env = "HBEATD_REAP_INTERVAL",
     .arg = "S",
     .set = set_seconds,
     .field = F(reap_interval),
     .max = YEAR_S,
     .def = TEXT(HBD_DEFAULT_REAP_INTERVAL),
     .help = "seconds between reaper passes",
     .above = 1},
    {.flag = "--reap-grace",
     .env = "HBEATD_REAP_GRACE",
     .arg = "S",
     .set = set_seconds,
     .field = F(reap_grace),
     .max = YEAR_S,
     .help = "seconds after start before the first reap (default: the\n"
             "longest next_report_increment among stored live runs)"},
    {.flag = "--ready-file",
     .env = "HBEATD_READY_FILE",
     .arg = "PATH",
     .set = set_path_value,
     .field = F(ready_file),
     .help = "once every listener is bound, write PATH (atomically), one\n"
             "line per listener: 'nng URL', 'http URL' or 'grpc URL'"},
    {.flag = "--log-level",
     .env = "HBEATD_LOG_LEVEL",
     .arg = "LEVEL",
     .set = set_level_value,
     .def = HBD_DEFAULT_LOG_LEVEL,
     .help = "debug, info, warn or error; the log goes to stderr"},
    {.flag = "--tls-cert",
     .env = "HBEATD_TLS_CERT",
     .arg = "FILE",
     .set = set_path_value,
     .field = F(tls_cert),
     .section = "Security:",
     .help = "PEM server certificate (chain); with --tls-key, REST is\n"
             "served over https and tls+tcp://HOST:PORT listen URLs are\n"
             "allowed"},
    {.flag = "--tls-key",
     .env = "HBEATD_TLS_KEY",
     .arg = "FILE",
     .set = set_path_value,
     .field = F(tls_key),
     .help = "PEM private key, unencrypted"},
    {.flag = "--tls-client-ca",
     .env = "HBEATD_TLS_CLIENT_CA",
     .arg = "FILE",
     .set = set_path_value,
     .field = F(tls_client_ca),
     .help = "require client certificates signed by a CA in FILE (mutual\n"
             "TLS) on https and tls+tcp"},
    {.flag = "--token-file",
     .env = "HBEATD_TOKEN_FILE",
     .arg = "FILE",
     .set = set_path_value,
     .field = F(token_file),
     .help = "bearer tokens, one per line: 'client TOKEN' (heartbeat,\n"
             "update_status) or 'operator TOKEN' (everything); '#' starts\n"
             "a comment; tokens are 16 to 4096 printable bytes; SIGHUP\n"
             "reloads it. Without it authentication is off and hbeatd\n"
             "listens on loopback only"},
    {.flag = "--allow-remote",
     .env = "HBEATD_ALLOW_REMOTE",
     .set = set_switch,
     .field = F(allow_remote),
     .help = "listen on non-loopback addresses without --token-file"},
    {.flag = "--max-request",
     .env = "HBEATD_MAX_REQUEST",
     .arg = "BYTES",
     .set = set_size,
     .field = F(max_request),
     .min = 1024,
     .max = 64.0 * 1024 * 1024,
     .def = TEXT(HBD_DEFAULT_MAX_REQUEST),
     .section = "Limits:",
     .help = "largest request: REST body, nng message, gRPC message"},
    {.flag = "--max-connections",
     .env = "HBEATD_MAX_CONNECTIONS",
     .arg = "N",
     .set = set_uint,
     .field = F(max_connections),
     .min = 1,
     .max = 1000000,
     .def = TEXT(HBD_DEFAULT_MAX_CONNECTIONS),
     .help = "open connections per front end (never more than the\n"
             "open-file limit allows); at the limit a new connection is\n"
             "let in and the longest-silent (nng) or longest-waiting\n"
             "(REST) connection gives way"},
    {.flag = "--max-connections-per-ip",
     .env = "HBEATD_MAX_CONNECTIONS_PER_IP",
     .arg = "N",
     .set = set_uint,
     .field = F(max_connections_per_ip),
     .max = 1000000,
     .def = TEXT(HBD_DEFAULT_MAX_CONNECTIONS_IP),
     .help = "open connections from one address (nng over ipc: from one\n"
             "user), per front end; 0 for no limit"},
    {.flag = "--read-timeout",
     .env = "HBEATD_READ_TIMEOUT",
     .arg = "S",
     .set = set_seconds,
     .field = F(read_timeout),
     .max = 3600,
     .def = TEXT(HBD_DEFAULT_READ_TIMEOUT),
     .help = "seconds a connection may take to deliver a whole request,\n"
             "and may stay idle; nng: also the TLS handshake and greeting,\n"
             "and replies left unread",
     .above = 1},
    {.flag = "--min-request-rate",
     .env = "HBEATD_MIN_REQUEST_RATE",
     .arg = "BYTES",
     .set = set_ulong,
     .field = F(min_request_rate),
     .max = 1073741824.0,
     .def = TEXT(HBD_DEFAULT_MIN_REQUEST_RATE),
     .help = "REST: once a request has begun it must arrive at this many\n"
             "bytes a second on average, after a 2 s grace, or the\n"
             "connection is closed; 0 for no minimum"},
    {.flag = "--grpc-max-calls",
     .env = "HBEATD_GRPC_MAX_CALLS",
     .arg = "N",
     .set = set_uint,
     .field = F(grpc_max_calls),
     .min = 1,
     .max = 1000000,
     .def = TEXT(HBD_DEFAULT_GRPC_MAX_CALLS),
     .help = "gRPC: calls in flight at once, over all connections; past\n"
             "it a call ends with UNAVAILABLE at once"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static const opt *find(const char *flag)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].flag, flag) == 0)
            return &options[i];
    }
    return NULL;
}

/* ---- the table, for the configuration file (options_file.c) ------------- */

size_t hbd_options_count(void)
{
    return N_OPTIONS;
}

void hbd_options_describe(size_t i, hbd_option_info *out)
{
    const opt *d = &options[i];
    out->key = d->flag + 2;
    out->arg = d->arg;
    out->def = d->def;
    out->help = d->help;
    out->repeat = d->repeat;
}

int hbd_options_set_key(hbd_options *o, size_t i, const char *where, const char *value,
                        char *errbuf, size_t errlen)
{
    const opt *d = &options[i];
    return d->set(o, d, FROM_FILE, where, value, errbuf, errlen);
}

/* ---- parsing ---------------------------------------------------------- */

static int apply_defaults(hbd_options *o, char *errbuf, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->reap_grace = -1; /* one full deadline: the engine works it out */
    o->sync = HBD_SYNC_DEFAULT;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt *d = &options[i];
        if (d->def != NULL && d->set(o, d, FROM_DEFAULT, d->flag, d->def, errbuf, errlen) != 0)
            return -1;
    }
    return 0;
}

static int apply_environment(hbd_options *o, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt *d = &options[i];
        const char *v = getenv(d->env);
        if (v != NULL && v[0] != '\0' && d->set(o, d, FROM_ENV, d->env, v, errbuf, errlen) != 0)
            return -1;
    }
    return 0;
}

/* One argument (and maybe the next, its value); *i moves past them. */
static int apply_argument(hbd_options *o, int argc, char **argv, int *i, char *errbuf,
                          size_t errlen)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        o->help = 1;
        return 0;
    }
    if (strcmp(arg, "--version") == 0) {
        o->version = 1;
        return 0;
    }
    if (strncmp(arg, "--", 2) != 0)
        return fail(errbuf, errlen, "unexpected argument '%.80s'", arg);
    char flag[40];
    const char *eq = strchr(arg, '=');
    size_t flen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    if (flen >= sizeof flag)
        return fail(errbuf, errlen, "unknown option '%.40s'", arg);
    memcpy(flag, arg, flen);
    flag[flen] = '\0';
    const opt *d = find(flag);
    if (d == NULL)
        return fail(errbuf, errlen, "unknown option '%s'", flag);
    const char *v;
    if (d->arg == NULL) {
        if (eq != NULL)
            return fail(errbuf, errlen, "%s takes no value", flag);
        v = "";
    } else if (eq != NULL) {
        v = eq + 1;
    } else if (*i + 1 < argc) {
        v = argv[++*i];
    } else {
        return fail(errbuf, errlen, "%s needs a value", flag);
    }
    return d->set(o, d, FROM_ARGV, flag, v, errbuf, errlen);
}

/* The file named by --config (or HBEATD_CONFIG) goes between the
   defaults and the environment, so the command line is read once first,
   into a scratch copy, only to find that name. */
static int apply_config_file(hbd_options *o, int argc, char **argv, char *errbuf, size_t errlen)
{
    static hbd_options scratch;
    memset(&scratch, 0, sizeof scratch);
    for (int i = 1; i < argc; i++) {
        if (apply_argument(&scratch, argc, argv, &i, errbuf, errlen) != 0)
            return -1;
    }
    if (scratch.help || scratch.version)
        return 0;
    const char *path = scratch.config != NULL ? scratch.config : getenv("HBEATD_CONFIG");
    if (path == NULL || path[0] == '\0')
        return 0;
    o->config = path;
    return hbd_options_read_file(o, path, errbuf, errlen);
}

int hbd_options_parse(hbd_options *o, int argc, char **argv, char *errbuf, size_t errlen)
{
    if (apply_defaults(o, errbuf, errlen) != 0 ||
        apply_config_file(o, argc, argv, errbuf, errlen) != 0 ||
        apply_environment(o, errbuf, errlen) != 0)
        return -1;
    for (int i = 1; i < argc; i++) {
        if (apply_argument(o, argc, argv, &i, errbuf, errlen) != 0)
            return -1;
    }
    if (o->nlisten == 0 && !o->http_enabled && !o->grpc_enabled)
        return fail(errbuf, errlen,
                    "nothing to serve: no --listen URL, --http none and --grpc none");
    return check_security(o, errbuf, errlen);
}

/* ---- --help --------------------------------------------------------------- */

#define HELP_COLUMN 23

/* The help text, its lines indented to the help column. */
static void print_help_text(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        fprintf(out, "%.*s\n", (int)n, p);
        if (nl == NULL)
            break;
        p = nl + 1;
        fprintf(out, "%*s", HELP_COLUMN, "");
    }
}

void hbd_options_usage(FILE *out)
{
    fputs("Usage: hbeatd [OPTION]...\n"
          "The hbeat reference server: Jobmon-compatible heartbeats over nng and REST.\n\n",
          out);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt *d = &options[i];
        if (d->section != NULL)
            fprintf(out, "\n%s\n", d->section);
        char head[64];
        snprintf(head, sizeof head, "  %s%s%s", d->flag, d->arg ? " " : "", d->arg ? d->arg : "");
        if (strlen(head) < HELP_COLUMN - 1)
            fprintf(out, "%-*s", HELP_COLUMN, head);
        else
            fprintf(out, "%s\n%*s", head, HELP_COLUMN, "");
        print_help_text(out, d->help);
        if (d->def != NULL)
            fprintf(out, "%*s(default %s); env %s\n", HELP_COLUMN, "", d->def, d->env);
        else
            fprintf(out, "%*senv %s\n", HELP_COLUMN, "", d->env);
    }
    fputs("  --help               show this help and exit\n"
          "  --version            show the version and exit\n"
          "\n"
          "The environment fills what the command line leaves unset, the --config file\n"
          "what both leave unset.\n"
          "SIGINT or SIGTERM stops hbeatd cleanly: it stops taking requests, answers the\n"
          "ones in flight and closes the store. SIGHUP reloads the token file and names\n"
          "the settings of the --config file that changed and need a restart.\n"
          "\n"
          "Exit status: 0 clean stop, 1 runtime failure (store, listen), 2 usage error.\n",
          out);
}
