#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_URL = 1000,
    OPT_TOKEN,
    OPT_TOKEN_FILE,
    OPT_CA_FILE,
    OPT_CERT,
    OPT_KEY,
    OPT_INSECURE,
    OPT_TIMEOUT,
    OPT_JOBMON_VERSION,
    OPT_JSON,
    OPT_VERBOSE,
    OPT_HELP
};

static const cli_opt common_opts[] = {
    {"url", 'u', 1, OPT_URL},
    {"token", 0, 1, OPT_TOKEN},
    {"token-file", 0, 1, OPT_TOKEN_FILE},
    {"ca-file", 0, 1, OPT_CA_FILE},
    {"cert", 0, 1, OPT_CERT},
    {"key", 0, 1, OPT_KEY},
    {"insecure", 0, 0, OPT_INSECURE},
    {"timeout", 0, 1, OPT_TIMEOUT},
    {"client-jobmon-version", 0, 1, OPT_JOBMON_VERSION},
    {"json", 0, 0, OPT_JSON},
    {"verbose", 'v', 0, OPT_VERBOSE},
    {"help", 'h', 0, OPT_HELP},
    {NULL, 0, 0, 0},
};

const char cli_common_help[] =
    "Connection options (every command):\n"
    "  -u, --url URL         server URL (default: $HBEAT_URL); e.g.\n"
    "                        http://127.0.0.1:7780/api/v3, nng+tcp://127.0.0.1:7781,\n"
    "                        nng+ipc:///run/hbeatd.sock, grpc://HOST:PORT, fake://;\n"
    "                        over TLS: https://HOST:7780/api/v3,\n"
    "                        nng+tls+tcp://HOST:7781, grpcs://HOST:PORT\n"
    "      --token TOKEN     bearer token (default: $HBEAT_TOKEN)\n"
    "      --token-file F    read the token from the first line of F ($HBEAT_TOKEN_FILE)\n"
    "      --ca-file F       PEM CA certificates to verify the server with\n"
    "      --cert F, --key F client certificate and key for mutual TLS\n"
    "      --insecure        do not verify the server's TLS certificate\n"
    "      --timeout S       seconds allowed for connecting and for each request\n"
    "      --client-jobmon-version V\n"
    "                        REST: the client_jobmon_version sent to the server\n"
    "                        (default: $HBEAT_CLIENT_JOBMON_VERSION, else hbeat's\n"
    "                        own version)\n"
    "      --json            machine-readable output (one JSON object per line)\n"
    "  -v, --verbose         also show the library's own log messages on stderr\n"
    "  -h, --help            this help\n";

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void cli_common_init(cli_common *c)
{
    memset(c, 0, sizeof *c);
    c->url = env_nonempty("HBEAT_URL");
    c->token = env_nonempty("HBEAT_TOKEN");
    c->token_file = env_nonempty("HBEAT_TOKEN_FILE");
    c->client_jobmon_version = env_nonempty("HBEAT_CLIENT_JOBMON_VERSION");
}

static int common_option(cli_common *c, int id, const char *value)
{
    switch (id) {
    case OPT_URL:
        c->url = value;
        return 0;
    case OPT_TOKEN: /* an option beats whatever the environment said */
        c->token = value;
        c->token_file = NULL;
        return 0;
    case OPT_TOKEN_FILE:
        c->token_file = value;
        c->token = NULL;
        return 0;
    case OPT_CA_FILE:
        c->ca_file = value;
        return 0;
    case OPT_CERT:
        c->cert_file = value;
        return 0;
    case OPT_KEY:
        c->key_file = value;
        return 0;
    case OPT_INSECURE:
        c->insecure = 1;
        return 0;
    case OPT_TIMEOUT:
        return cli_parse_seconds("--timeout", value, &c->timeout);
    case OPT_JOBMON_VERSION:
        c->client_jobmon_version = value;
        return 0;
    case OPT_JSON:
        c->json = 1;
        return 0;
    case OPT_VERBOSE:
        c->verbose = 1;
        return 0;
    case OPT_HELP:
        c->help = 1;
        return 0;
    default:
        return CLI_EXIT_USAGE;
    }
}

static const cli_opt *find_long(const cli_opt *opts, const char *name, size_t len)
{
    for (; opts && opts->name; opts++) {
        if (strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
            return opts;
    }
    return NULL;
}

static const cli_opt *find_short(const cli_opt *opts, char name)
{
    for (; opts && opts->name; opts++) {
        if (opts->short_name && opts->short_name == name)
            return opts;
    }
    return NULL;
}

int cli_parse(int argc, char **argv, int first, const cli_opt *opts, cli_opt_fn fn, void *ctx,
              cli_common *common, const char **pos, int max_pos, int *npos)
{
    int only_positional = 0;
    *npos = 0;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        const cli_opt *o = NULL;
        const char *value = NULL;
        int is_common = 0;

        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            if (*npos >= max_pos) {
                fprintf(stderr, "hbeat: unexpected argument \"%s\" (see --help)\n", arg);
                return CLI_EXIT_USAGE;
            }
            pos[(*npos)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(opts, name, len);
            if (!o) {
                o = find_long(common_opts, name, len);
                is_common = o != NULL;
            }
            if (o && eq) {
                if (!o->takes_value) {
                    fprintf(stderr, "hbeat: option --%s takes no value\n", o->name);
                    return CLI_EXIT_USAGE;
                }
                value = eq + 1;
            }
        } else if (arg[2] == '\0') {
            o = find_short(opts, arg[1]);
            if (!o) {
                o = find_short(common_opts, arg[1]);
                is_common = o != NULL;
            }
        }
        if (!o) {
            fprintf(stderr, "hbeat: unknown option \"%s\" (see --help)\n", arg);
            return CLI_EXIT_USAGE;
        }
        if (o->takes_value && !value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hbeat: option --%s needs a value\n", o->name);
                return CLI_EXIT_USAGE;
            }
            value = argv[++i];
        }
        int rc = is_common ? common_option(common, o->id, value) : fn(ctx, o->id, value);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int cli_parse_id(const char *what, const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE || v <= 0) {
        fprintf(stderr, "hbeat: %s: expected a positive integer, got \"%s\"\n", what, text);
        return CLI_EXIT_USAGE;
    }
    *out = (int64_t)v;
    return 0;
}

int cli_parse_count(const char *what, const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE) {
        fprintf(stderr, "hbeat: %s: expected a whole number, got \"%s\"\n", what, text);
        return CLI_EXIT_USAGE;
    }
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_double_min(const char *what, const char *text, double min, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min) {
        fprintf(stderr, "hbeat: %s: expected a number >= %g, got \"%s\"\n", what, min, text);
        return CLI_EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int cli_parse_seconds(const char *what, const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v) || v <= 0.0) {
        fprintf(stderr, "hbeat: %s: expected a number of seconds > 0, got \"%s\"\n", what, text);
        return CLI_EXIT_USAGE;
    }
    *out = v;
    return 0;
}

int cli_parse_status(const char *what, const char *text)
{
    if (!hbeat_status_is_valid(text)) {
        fprintf(stderr,
                "hbeat: %s: \"%s\" is not a status (printable ASCII, 1 to %d bytes, e.g. R)\n",
                what, text, HBEAT_STATUS_MAX);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

void cli_report(const char *context, int rc, const hbeat_error *err)
{
    if (err && err->message[0] && err->code == rc)
        fprintf(stderr, "hbeat: %s: %s: %s\n", context, hbeat_strerror(rc), err->message);
    else
        fprintf(stderr, "hbeat: %s: %s\n", context, hbeat_strerror(rc));
}

static void log_to_stderr(void *arg, hbeat_log_level level, const char *message)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    (void)arg;
    fprintf(stderr, "hbeat: [%s] %s\n", names[level <= HBEAT_LOG_ERROR ? level : HBEAT_LOG_ERROR],
            message);
}

static void log_nowhere(void *arg, hbeat_log_level level, const char *message)
{
    (void)arg;
    (void)level;
    (void)message;
}

int cli_open_gateway(const cli_common *c, hbeat_gateway **out)
{
    /* The tool reports every failure itself, once, in its own words; the
       library's messages would say it twice unless asked for. */
    if (c->verbose)
        hbeat_log_set_handler(log_to_stderr, NULL, HBEAT_LOG_DEBUG);
    else
        hbeat_log_set_handler(log_nowhere, NULL, HBEAT_LOG_ERROR);

    if (!c->url) {
        fprintf(stderr, "hbeat: no server URL: pass --url URL or set HBEAT_URL (see --help)\n");
        return CLI_EXIT_USAGE;
    }
    hbeat_gateway_options opts = HBEAT_GATEWAY_OPTIONS_INIT;
    opts.connect_timeout = c->timeout;
    opts.request_timeout = c->timeout;
    opts.token = c->token;
    opts.token_file = c->token_file;
    opts.ca_file = c->ca_file;
    opts.cert_file = c->cert_file;
    opts.key_file = c->key_file;
    opts.insecure = c->insecure;
    opts.client_jobmon_version = c->client_jobmon_version;

    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(out, c->url, &opts, &err);
    if (rc == 0)
        return 0;
    cli_report(c->url, rc, &err);
    switch (rc) {
    case HBEAT_EINVAL:
    case HBEAT_ESCHEME:
    case HBEAT_ENOTBUILT:
    case HBEAT_EVERSION:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_FAILURE;
    }
}
