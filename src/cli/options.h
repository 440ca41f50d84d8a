/*
 * Command-line parsing shared by every `hbeat` command: a small table-driven
 * parser (options may come before, between or after the positional
 * arguments; "--name value" and "--name=value" both work), the options every
 * command takes (URL, credentials, timeout, output format), and opening the
 * gateway they describe.
 */
#ifndef HBEAT_CLI_OPTIONS_H
#define HBEAT_CLI_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "hbeat/hbeat.h"

/* Exit codes, the same for every command (documented in --help). */
#define CLI_EXIT_OK      0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE   2

/* One option a command accepts. */
typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    char short_name;  /* 0 when there is none */
    int takes_value;
    int id; /* handed to the command's callback */
} cli_opt;

/* Called once per option found; return 0, or CLI_EXIT_USAGE after printing
   what was wrong. */
typedef int (*cli_opt_fn)(void *ctx, int id, const char *value);

/* The options shared by every command that talks to a server. */
typedef struct cli_common {
    const char *url;
    const char *token;
    const char *token_file;
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    const char *client_jobmon_version; /* NULL: the library's default */
    double timeout;                    /* 0: the transport's default */
    int insecure;
    int json;
    int verbose;
    int help;
} cli_common;

/* Fill @p c from the environment (HBEAT_URL, HBEAT_TOKEN, HBEAT_TOKEN_FILE,
   HBEAT_CLIENT_JOBMON_VERSION); options parsed later override it. */
void cli_common_init(cli_common *c);

/* The text that documents the shared options in each command's --help. */
extern const char cli_common_help[];

/*
 * Parse argv[first..argc): each option is looked up in @p opts (the
 * command's own, may be NULL) and then among the shared ones, which go into
 * @p common. Positional arguments are collected into @p pos (at most
 * @p max_pos; more is a usage error). Prints the problem and returns
 * CLI_EXIT_USAGE on a usage error, else 0.
 */
int cli_parse(int argc, char **argv, int first, const cli_opt *opts, cli_opt_fn fn, void *ctx,
              cli_common *common, const char **pos, int max_pos, int *npos);

/* Strict number parsing; each prints "hbeat: <what>: ..." and returns
   CLI_EXIT_USAGE when @p text is not acceptable. */
int cli_parse_id(const char *what, const char *text, int64_t *out);
int cli_parse_seconds(const char *what, const char *text, double *out);
int cli_parse_double_min(const char *what, const char *text, double min, double *out);
int cli_parse_count(const char *what, const char *text, uint64_t *out);
int cli_parse_status(const char *what, const char *text);

/*
 * Open the gateway @p c describes. Prints "hbeat: <url>: <strerror>: <detail>"
 * on failure and returns the exit code: CLI_EXIT_USAGE when the URL or an
 * option cannot be used as given (malformed, unknown scheme, transport not
 * built in), CLI_EXIT_FAILURE otherwise.
 */
int cli_open_gateway(const cli_common *c, hbeat_gateway **out);

/* Print "hbeat: <context>: <strerror(rc)>[: <err->message>]" on stderr. */
void cli_report(const char *context, int rc, const hbeat_error *err);

#endif /* HBEAT_CLI_OPTIONS_H */
