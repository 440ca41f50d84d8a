#define _POSIX_C_SOURCE 200809L

#include "output.h"

#include <inttypes.h>
#include <math.h>
#include <time.h>

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void cli_json_run(FILE *f, const hbeat_run_info *run)
{
    fprintf(f, "{\"workflow_run_id\":%" PRId64 ",\"workflow_id\":%" PRId64 ",\"status\":",
            run->workflow_run_id, run->workflow_id);
    cli_json_string(f, run->status);
    fprintf(f, ",\"deadline\":%.17g,\"last_heartbeat\":%.17g,\"beats\":%" PRIu64 "}",
            isfinite(run->deadline) ? run->deadline : 0.0,
            isfinite(run->last_heartbeat) ? run->last_heartbeat : 0.0, run->beats);
}

const char *cli_status_label(const char *status, char *buf, size_t size)
{
    const char *name = hbeat_status_name(status);
    if (name)
        snprintf(buf, size, "%s (%s)", status, name);
    else
        snprintf(buf, size, "%s", status);
    return buf;
}

/* Unix seconds as UTC "2025-11-27 21:19:10Z"; "-" when unset. */
static const char *format_time(double t, char *buf, size_t size)
{
    if (!(t > 0) || !isfinite(t) || t > 253402300799.0) /* year 9999 */
        return "-";
    time_t secs = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        return "-";
    return buf;
}

void cli_print_run_line(FILE *f, const hbeat_run_info *run)
{
    char label[64], last[32], deadline[32];
    fprintf(f,
            "run %" PRId64 ": workflow %" PRId64 ", status %s, %" PRIu64
            " beats, last beat %s, deadline %s\n",
            run->workflow_run_id, run->workflow_id,
            cli_status_label(run->status, label, sizeof label), run->beats,
            format_time(run->last_heartbeat, last, sizeof last),
            format_time(run->deadline, deadline, sizeof deadline));
}

void cli_print_run_table(FILE *f, const hbeat_run_info *runs, size_t count)
{
    fprintf(f, "%-8s %-9s %-20s %8s  %-20s  %s\n", "RUN", "WORKFLOW", "STATUS", "BEATS",
            "LAST BEAT", "DEADLINE");
    for (size_t i = 0; i < count; i++) {
        char label[64], last[32], deadline[32];
        fprintf(f, "%-8" PRId64 " %-9" PRId64 " %-20s %8" PRIu64 "  %-20s  %s\n",
                runs[i].workflow_run_id, runs[i].workflow_id,
                cli_status_label(runs[i].status, label, sizeof label), runs[i].beats,
                format_time(runs[i].last_heartbeat, last, sizeof last),
                format_time(runs[i].deadline, deadline, sizeof deadline));
    }
}
