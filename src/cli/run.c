/*
 * hbeat run: an operator's view of hbeatd's runs through the admin calls
 * (create, get, list, set-status), over whichever transport the URL names.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "output.h"

static const char run_help[] =
    "Usage: hbeat run create --workflow W [--status S] [--increment S|none]\n"
    "       hbeat run get ID\n"
    "       hbeat run list [--status S]\n"
    "       hbeat run set-status ID STATUS [--force]\n"
    "\n"
    "Create, read, list and steer workflow runs through hbeatd's admin calls,\n"
    "at --url URL (or $HBEAT_URL). set-status goes through the server's state\n"
    "machine: an invalid transition leaves the run as it was, prints it and\n"
    "exits 1; --force sets the status whatever it was.\n"
    "\n"
    "A new run has a deadline from the moment it exists, as in Jobmon: unless\n"
    "its client beats within --increment seconds, the server's reaper ends it\n"
    "(L -> A, R -> E, C -> T, H -> T) like a client that stopped beating.\n"
    "\n"
    "Options:\n"
    "  -w, --workflow W    workflow the new run belongs to (create)\n"
    "  -s, --status S      start status (create, default G); filter (list)\n"
    "      --increment S   seconds from creation to the run's first deadline,\n"
    "                      0 to 31536000 (create; default 93 = 30 s interval x\n"
    "                      3.1, the library's defaults); none: no deadline\n"
    "                      until the first beat\n"
    "      --force         skip the state machine (set-status)\n"
    "\n"
    "Statuses: G registered, L linking, B bound, I instantiated, O launched,\n"
    "R running, D done, S stopped, E error, C cold resume, H hot resume,\n"
    "T terminated, A aborted.\n"
    "\n"
    "Exit status: 0 success; 1 failure (unknown run, server or transport\n"
    "error); 2 usage error (bad option, bad URL, unknown scheme, transport not\n"
    "built in).\n"
    "\n";

enum { OPT_WORKFLOW = 1, OPT_STATUS, OPT_FORCE, OPT_INCREMENT };

static const cli_opt run_opts[] = {
    {"workflow", 'w', 1, OPT_WORKFLOW},
    {"status", 's', 1, OPT_STATUS},
    {"increment", 0, 1, OPT_INCREMENT},
    {"force", 0, 0, OPT_FORCE},
    {NULL, 0, 0, 0},
};

typedef struct run_args {
    int64_t workflow;
    const char *status;
    int force;
    double increment;
    int no_deadline;
} run_args;

/* "none", or seconds in [0, one year], as the library takes them. */
static int parse_increment(run_args *a, const char *value)
{
    if (strcmp(value, "none") == 0) {
        a->no_deadline = 1;
        return 0;
    }
    a->no_deadline = 0;
    if (cli_parse_double_min("--increment", value, 0.0, &a->increment) != 0)
        return CLI_EXIT_USAGE;
    if (a->increment > 31536000.0) {
        fprintf(stderr, "hbeat: --increment: at most 31536000 seconds (a year), got \"%s\"\n",
                value);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int run_option(void *ctx, int id, const char *value)
{
    run_args *a = ctx;
    switch (id) {
    case OPT_WORKFLOW:
        return cli_parse_id("--workflow", value, &a->workflow);
    case OPT_STATUS:
        a->status = value;
        return cli_parse_status("--status", value);
    case OPT_FORCE:
        a->force = 1;
        return 0;
    case OPT_INCREMENT:
        return parse_increment(a, value);
    default:
        return CLI_EXIT_USAGE;
    }
}

static void print_run(const cli_common *c, const hbeat_run_info *run)
{
    if (c->json) {
        cli_json_run(stdout, run);
        fputc('\n', stdout);
    } else {
        cli_print_run_line(stdout, run);
    }
}

/* Report a failed admin call; every failure here is exit 1. */
static int failed(const char *what, int rc, const hbeat_error *err, const hbeat_gateway *gw)
{
    if (rc == HBEAT_ENOTSUP) {
        fprintf(stderr,
                "hbeat: %s: the %s transport has no admin calls (use hbeatd's REST or "
                "nng URL)\n",
                what, hbeat_gateway_transport(gw));
        return CLI_EXIT_FAILURE;
    }
    cli_report(what, rc, err);
    return CLI_EXIT_FAILURE;
}

static int need_args(const char *cmd, int npos, int want, const char *usage)
{
    if (npos != want) {
        fprintf(stderr, "hbeat run %s: usage: hbeat run %s %s\n", cmd, cmd, usage);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int do_create(const cli_common *c, hbeat_gateway *gw, const run_args *a)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
    o.status = a->status;
    o.next_report_increment = a->increment;
    o.no_deadline = a->no_deadline;
    int rc = hbeat_run_create_with(gw, a->workflow, &o, &run, &err);
    if (rc != 0)
        return failed("run create", rc, &err, gw);
    print_run(c, &run);
    /* An hbeatd older than the first deadline ignores it. */
    if (!a->no_deadline && run.deadline == 0)
        fprintf(stderr,
                "hbeat: warning: the server gave run %" PRId64 " no deadline (an hbeatd older "
                "than this tool ignores --increment): it is not reaped until it has beaten\n",
                run.workflow_run_id);
    return CLI_EXIT_OK;
}

static int do_get(const cli_common *c, hbeat_gateway *gw, int64_t id)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    char what[64];
    int rc = hbeat_run_get(gw, id, &run, &err);
    if (rc != 0) {
        snprintf(what, sizeof what, "run %" PRId64, id);
        return failed(what, rc, &err, gw);
    }
    print_run(c, &run);
    return CLI_EXIT_OK;
}

static int do_list(const cli_common *c, hbeat_gateway *gw, const run_args *a)
{
    hbeat_run_info *runs = NULL;
    size_t count = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_list(gw, a->status, &runs, &count, &err);
    if (rc != 0)
        return failed("run list", rc, &err, gw);
    if (c->json) {
        for (size_t i = 0; i < count; i++) {
            cli_json_run(stdout, &runs[i]);
            fputc('\n', stdout);
        }
    } else {
        cli_print_run_table(stdout, runs, count);
    }
    hbeat_run_list_free(runs);
    return CLI_EXIT_OK;
}

static int do_set_status(const cli_common *c, hbeat_gateway *gw, int64_t id, const char *status,
                         int force)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    char what[64];
    int rc = hbeat_run_set_status(gw, id, status, force, &run, &err);
    if (rc != 0) {
        snprintf(what, sizeof what, "run %" PRId64, id);
        return failed(what, rc, &err, gw);
    }
    print_run(c, &run);
    if (strcmp(run.status, status) != 0) {
        fprintf(stderr,
                "hbeat: run %" PRId64 " stays %s: the server refused the move to %s "
                "(not a valid transition; --force overrides)\n",
                id, run.status, status);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

int cli_run(int argc, char **argv, int first)
{
    run_args a = {0, NULL, 0, HBEAT_RUN_DEFAULT_INCREMENT, 0};
    cli_common common;
    const char *pos[3];
    int npos = 0;
    cli_common_init(&common);
    int rc = cli_parse(argc, argv, first, run_opts, run_option, &a, &common, pos, 3, &npos);
    if (rc != 0)
        return rc;
    if (common.help || npos == 0) {
        fputs(run_help, common.help ? stdout : stderr);
        fputs(cli_common_help, common.help ? stdout : stderr);
        return common.help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }

    const char *cmd = pos[0];
    int64_t id = 0;
    if (strcmp(cmd, "create") == 0) {
        rc = need_args(cmd, npos, 1, "--workflow W [--status S] [--increment S|none]");
        if (rc == 0 && a.workflow == 0) {
            fprintf(stderr, "hbeat run create: --workflow W is required\n");
            rc = CLI_EXIT_USAGE;
        }
    } else if (strcmp(cmd, "get") == 0) {
        rc = need_args(cmd, npos, 2, "ID");
        if (rc == 0)
            rc = cli_parse_id("run id", pos[1], &id);
    } else if (strcmp(cmd, "list") == 0) {
        rc = need_args(cmd, npos, 1, "[--status S]");
    } else if (strcmp(cmd, "set-status") == 0) {
        rc = need_args(cmd, npos, 3, "ID STATUS [--force]");
        if (rc == 0)
            rc = cli_parse_id("run id", pos[1], &id);
        if (rc == 0)
            rc = cli_parse_status("status", pos[2]);
    } else {
        fprintf(stderr, "hbeat run: unknown command \"%s\" (create, get, list, set-status)\n", cmd);
        rc = CLI_EXIT_USAGE;
    }
    if (rc != 0)
        return rc;

    hbeat_gateway *gw = NULL;
    rc = cli_open_gateway(&common, &gw);
    if (rc != 0)
        return rc;
    if (strcmp(cmd, "create") == 0)
        rc = do_create(&common, gw, &a);
    else if (strcmp(cmd, "get") == 0)
        rc = do_get(&common, gw, id);
    else if (strcmp(cmd, "list") == 0)
        rc = do_list(&common, gw, &a);
    else
        rc = do_set_status(&common, gw, id, pos[2], a.force);
    hbeat_gateway_free(gw);
    return rc;
}
