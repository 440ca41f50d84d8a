/*
 * hbeat beat: keep a workflow run alive from the command line, with the
 * library's own service and loop, and show what the server answers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "output.h"
#include "signals.h"
#include "tap.h"

static const char beat_help[] =
    "Usage: hbeat beat [URL] --run ID [options]\n"
    "\n"
    "Heartbeat workflow run ID with the server at URL (or --url, or $HBEAT_URL)\n"
    "and print each reply and each status change on stdout, one line each:\n"
    "  beat 3 run 1: status R\n"
    "  status change R -> C\n"
    "  lease lost: no beat answered within 93 s; the server may reap run 1\n"
    "  lease regained: run 1 is kept alive again\n"
    "The first beat is sent at once, then one every --interval seconds, each\n"
    "telling the server to expect the next within interval * buffer seconds.\n"
    "When the server moves the run to D, S, E, C, H, T or A (done, stopped,\n"
    "error, cold or hot resume, terminated, aborted) the client must stop\n"
    "heartbeating: hbeat prints the change and exits 0. SIGINT or SIGTERM stop\n"
    "it cleanly (exit 0); another signal seconds later ends it at once.\n"
    "\n"
    "Options:\n"
    "  -r, --run ID            workflow run to keep alive (required)\n"
    "  -i, --interval S        seconds between beats (default 30); 0: beat on every\n"
    "                          check, every 0.1 s, as Jobmon's builder does\n"
    "  -b, --buffer B          report-by buffer (default 3.1): the server expects\n"
    "                          the next beat within interval x B seconds\n"
    "  -s, --status S          status to report (default R)\n"
    "  -n, --count N           stop after N answered beats (default: never)\n"
    "      --max-failures N    give up after N failed beats in a row; 0: never\n"
    "                          (default 5)\n"
    "      --stats             at the end, print one line of statistics: beats\n"
    "                          sent, answered and failed, round trips\n"
    "\n"
    "Exit status: 0 stopped as asked (count reached, signal, or the server\n"
    "ended the run); 1 gave up after --max-failures failures, or another\n"
    "failure; 2 usage error (bad option, bad URL, unknown scheme, transport not\n"
    "built in).\n"
    "\n";

enum { OPT_RUN = 1, OPT_INTERVAL, OPT_BUFFER, OPT_STATUS, OPT_COUNT, OPT_MAX_FAILURES, OPT_STATS };

static const cli_opt beat_opts[] = {
    {"run", 'r', 1, OPT_RUN},       {"interval", 'i', 1, OPT_INTERVAL},
    {"buffer", 'b', 1, OPT_BUFFER}, {"status", 's', 1, OPT_STATUS},
    {"count", 'n', 1, OPT_COUNT},   {"max-failures", 0, 1, OPT_MAX_FAILURES},
    {"stats", 0, 0, OPT_STATS},     {NULL, 0, 0, 0},
};

typedef struct beat_args {
    int64_t run;
    double interval;
    double buffer;
    const char *status;
    uint64_t count;
    uint64_t max_failures;
    int stats;
} beat_args;

static int beat_option(void *ctx, int id, const char *value)
{
    beat_args *a = ctx;
    switch (id) {
    case OPT_RUN:
        return cli_parse_id("--run", value, &a->run);
    case OPT_INTERVAL:
        return cli_parse_double_min("--interval", value, 0.0, &a->interval);
    case OPT_BUFFER:
        return cli_parse_double_min("--buffer", value, 1.0, &a->buffer);
    case OPT_STATUS:
        a->status = value;
        return cli_parse_status("--status", value);
    case OPT_COUNT:
        return cli_parse_count("--count", value, &a->count);
    case OPT_STATS:
        a->stats = 1;
        return 0;
    case OPT_MAX_FAILURES: {
        int rc = cli_parse_count("--max-failures", value, &a->max_failures);
        if (rc == 0 && a->max_failures > 1000000u) {
            fprintf(stderr, "hbeat: --max-failures: at most 1000000\n");
            return CLI_EXIT_USAGE;
        }
        return rc;
    }
    default:
        return CLI_EXIT_USAGE;
    }
}

/* Statuses in which Jobmon's client stops heartbeating: the run is over, or
   the server asks for a resume and the client must make way for it. */
static int ends_the_run(const char *status)
{
    static const char *const final[] = {"D", "S", "E", "C", "H", "T", "A"};
    for (size_t i = 0; i < sizeof final / sizeof final[0]; i++) {
        if (strcmp(status, final[i]) == 0)
            return 1;
    }
    return 0;
}

typedef struct beat_state {
    int64_t run;
    int json;
    double window;
    hbeat_stop_event *stop;
    int ended;
    uint64_t changes;
    char final_status[HBEAT_STATUS_MAX + 1];
} beat_state;

static void on_status_change(void *arg, const char *old_status, const char *new_status)
{
    beat_state *st = arg;
    st->changes++;
    if (st->json) {
        printf("{\"event\":\"status_change\",\"workflow_run_id\":%" PRId64 ",\"from\":", st->run);
        cli_json_string(stdout, old_status);
        printf(",\"to\":");
        cli_json_string(stdout, new_status);
        printf("}\n");
    } else {
        printf("status change %s -> %s\n", old_status, new_status);
    }
    if (ends_the_run(new_status)) {
        char label[64];
        st->ended = 1;
        snprintf(st->final_status, sizeof st->final_status, "%s", new_status);
        if (!st->json)
            printf("run %" PRId64 " is now %s: stopping\n", st->run,
                   cli_status_label(new_status, label, sizeof label));
        hbeat_stop_event_set(st->stop);
    }
    fflush(stdout);
}

static void print_stats(const cli_tap_result *r, int64_t run, uint64_t changes, int json)
{
    uint64_t failed = r->beats - r->replies;
    double mean = r->replies ? r->rtt_sum / (double)r->replies : 0.0;
    if (json) {
        printf("{\"event\":\"stats\",\"workflow_run_id\":%" PRId64 ",\"sent\":%" PRIu64
               ",\"answered\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"status_changes\":%" PRIu64,
               run, r->beats, r->replies, failed, changes);
        if (r->replies > 0)
            printf(",\"rtt_min\":%.6f,\"rtt_mean\":%.6f,\"rtt_max\":%.6f", r->rtt_min, mean,
                   r->rtt_max);
        printf("}\n");
    } else {
        printf("stats run %" PRId64 ": %" PRIu64 " sent, %" PRIu64 " answered, %" PRIu64
               " failed, %" PRIu64 " status changes",
               run, r->beats, r->replies, failed, changes);
        if (r->replies > 0)
            printf("; round trip min %.3f ms, mean %.3f ms, max %.3f ms", r->rtt_min * 1e3,
                   mean * 1e3, r->rtt_max * 1e3);
        printf("\n");
    }
    fflush(stdout);
}

/* The window the server was promised passed without an answered beat (the
   server may reap the run), or a beat was answered again. */
static void on_lease_change(void *arg, int lost)
{
    beat_state *st = arg;
    if (st->json)
        printf("{\"event\":\"lease\",\"workflow_run_id\":%" PRId64 ",\"lost\":%s}\n", st->run,
               lost ? "true" : "false");
    else if (lost)
        printf("lease lost: no beat answered within %g s; the server may reap run %" PRId64 "\n",
               st->window, st->run);
    else
        printf("lease regained: run %" PRId64 " is kept alive again\n", st->run);
    fflush(stdout);
}

static int beat_loop(const cli_common *common, const beat_args *a, hbeat_stop_event *stop)
{
    hbeat_gateway *inner = NULL, *gw = NULL;
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    beat_state st = {a->run, common->json, a->interval * a->buffer, stop, 0, 0, ""};
    int exit_code = cli_open_gateway(common, &inner);
    if (exit_code != 0)
        return exit_code;

    cli_tap_config cfg = {inner, stop, a->count, (unsigned int)a->max_failures, common->json};
    int rc = cli_tap_new(&gw, &cfg, &err);
    if (rc != 0) {
        cli_report("cannot start", rc, &err);
        hbeat_gateway_free(inner);
        return CLI_EXIT_FAILURE;
    }

    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = a->run;
    opts.interval = a->interval;
    opts.report_by_buffer = a->buffer;
    opts.initial_status = a->status;
    opts.max_consecutive_failures = (unsigned int)a->max_failures;
    opts.on_status_change = on_status_change;
    opts.on_status_change_arg = &st;
    opts.on_lease_change = on_lease_change;
    opts.on_lease_change_arg = &st;
    rc = hbeat_service_new(&svc, gw, &opts, &err);
    if (rc != 0) {
        cli_report("cannot start", rc, &err);
        exit_code = rc == HBEAT_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
        goto out;
    }

    /* Beat once at once: a person at a terminal wants the first answer now,
       not one interval later. The tap has already reported a failure, and
       counts it toward --max-failures. */
    (void)hbeat_service_tick(svc, NULL, NULL);
    rc = hbeat_stop_event_is_set(stop) ? 0 : hbeat_service_run(svc, stop, &err);

    /* run() returns as soon as it is stopped, even with a beat in flight;
       freeing the service waits for that beat and its callbacks, so that
       every line is printed and what the tap counted is final. */
    hbeat_service_free(svc);
    svc = NULL;
    cli_tap_result res;
    cli_tap_result_get(gw, &res);
    if (res.gave_up || rc == HBEAT_EFATAL) {
        const hbeat_error *last = res.failures ? &res.last_error : &err;
        fprintf(stderr, "hbeat: giving up after %u failed beats in a row: %s%s%s\n",
                res.failures ? res.failures : (unsigned int)a->max_failures,
                hbeat_strerror(last->code ? last->code : rc), last->message[0] ? ": " : "",
                last->message);
        exit_code = CLI_EXIT_FAILURE;
    } else if (rc != 0) {
        cli_report("heartbeat loop", rc, &err);
        exit_code = CLI_EXIT_FAILURE;
    }
    if (a->stats)
        print_stats(&res, a->run, st.changes, common->json);
out:
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_gateway_free(inner);
    return exit_code;
}

int cli_beat(int argc, char **argv, int first)
{
    beat_args a = {0, 30.0, 3.1, "R", 0, 5, 0};
    cli_common common;
    const char *pos[1];
    int npos = 0;
    cli_common_init(&common);
    int rc = cli_parse(argc, argv, first, beat_opts, beat_option, &a, &common, pos, 1, &npos);
    if (rc != 0)
        return rc;
    if (common.help) {
        fputs(beat_help, stdout);
        fputs(cli_common_help, stdout);
        return CLI_EXIT_OK;
    }
    if (npos == 1)
        common.url = pos[0];
    if (a.run == 0) {
        fprintf(stderr, "hbeat beat: --run ID is required (see hbeat beat --help)\n");
        return CLI_EXIT_USAGE;
    }
    if (!common.url) {
        fprintf(stderr, "hbeat beat: no server URL: give one as an argument, with --url, or in "
                        "HBEAT_URL\n");
        return CLI_EXIT_USAGE;
    }

    hbeat_stop_event *stop = NULL;
    cli_signals *signals = NULL;
    if (hbeat_stop_event_new(&stop) != 0) {
        fprintf(stderr, "hbeat: cannot make a stop event\n");
        return CLI_EXIT_FAILURE;
    }
    /* Before any thread exists, so that every thread inherits the mask. */
    if (cli_signals_start(&signals, stop) != 0) {
        hbeat_stop_event_free(stop);
        return CLI_EXIT_FAILURE;
    }
    rc = beat_loop(&common, &a, stop);
    cli_signals_free(signals);
    hbeat_stop_event_free(stop);
    return rc;
}
