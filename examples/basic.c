/*
 * basic.c: the smallest complete program that keeps a workflow run alive.
 *
 * A job starts a heartbeat service, does its work while the service beats
 * in the background, and stops when the server asks it to. Here the server
 * is hbeat's fake gateway, scripted to answer "R" (running) twice and then
 * "C" (cold resume: stop, someone will restart the run), so the program
 * runs anywhere without a server. To talk to a real one, open the gateway
 * by URL instead (see runtime_select.c):
 *
 *     hbeat_gateway_open(&gw, "http://127.0.0.1:7780/api/v3", NULL, &err);
 *
 * Exit status: 0 when the server's request to stop was seen and honoured.
 */
#include <stdio.h>
#include <string.h>

#include <hbeat/hbeat.h>
#include <hbeat/sys/fake.h>

#define RUN_ID   42
#define INTERVAL 0.2 /* seconds between beats; Jobmon's default is 30 */

/* What the status-change callback hands to the main thread. */
typedef struct job {
    hbeat_stop_event *stop;
    char old_status[HBEAT_STATUS_MAX + 1];
    char new_status[HBEAT_STATUS_MAX + 1];
} job;

/* Runs on the service's thread: note the change and tell the job to stop.
   A real job would also stop its workers here or in the main loop. */
static void on_status_change(void *arg, const char *old_status, const char *new_status)
{
    job *j = arg;
    snprintf(j->old_status, sizeof j->old_status, "%s", old_status);
    snprintf(j->new_status, sizeof j->new_status, "%s", new_status);
    hbeat_stop_event_set(j->stop); /* also publishes the strings above */
}

/* Print the beats the fake has received since the last call. A real program
   would not do this; it shows what went over the wire. */
static void print_new_beats(hbeat_gateway *gw, int *printed)
{
    hbeat_fake_call call;
    while (*printed < hbeat_fake_gateway_call_count(gw) &&
           hbeat_fake_gateway_call(gw, *printed, &call) == 0) {
        ++*printed;
        printf("beat %d: reported %s, next beat expected within %.2f s\n", *printed, call.status,
               call.next_report_increment);
    }
}

static int fail(const char *what, int rc, const hbeat_error *err)
{
    fprintf(stderr, "basic: %s: %s: %s\n", what, hbeat_strerror(rc), err->message);
    return 1;
}

int main(void)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway *gw = NULL;
    hbeat_service *svc = NULL;
    job j = {NULL, "", ""};
    int rc, exit_code = 1, printed = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (hbeat_stop_event_new(&j.stop) != 0) {
        fprintf(stderr, "basic: cannot make a stop event\n");
        return 1;
    }

    /* The "server": answers R, R, then C; after the script it echoes. */
    rc = hbeat_fake_gateway_new(&gw, NULL, 0, &err);
    if (rc != 0) {
        exit_code = fail("fake gateway", rc, &err);
        goto out;
    }
    hbeat_fake_gateway_push_reply(gw, HBEAT_STATUS_RUNNING);
    hbeat_fake_gateway_push_reply(gw, HBEAT_STATUS_RUNNING);
    hbeat_fake_gateway_push_reply(gw, HBEAT_STATUS_COLD_RESUME);

    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = RUN_ID;
    opts.interval = INTERVAL;
    opts.initial_status = HBEAT_STATUS_RUNNING;
    opts.on_status_change = on_status_change;
    opts.on_status_change_arg = &j;
    rc = hbeat_service_new(&svc, gw, &opts, &err);
    if (rc != 0) {
        exit_code = fail("service", rc, &err);
        goto out;
    }
    printf("run %d: heartbeating every %.1f s; the server expects each next beat within "
           "%.2f s\n",
           RUN_ID, hbeat_service_interval(svc), hbeat_service_next_report_increment(svc));

    /* Beat in the background from here on. */
    rc = hbeat_service_start(svc, &err);
    if (rc != 0) {
        exit_code = fail("start", rc, &err);
        goto out;
    }

    /* The job's work, a step at a time, until the server says stop. Waiting
       on the stop event stands in for one step of real work. Bounded, so a
       broken script cannot hang the program. */
    for (int step = 0; step < 100 && !hbeat_stop_event_wait(j.stop, 0.1); step++)
        print_new_beats(gw, &printed);

    /* Stop beating; stop() hands back the loop's own result. */
    rc = hbeat_service_stop(svc, &err);
    print_new_beats(gw, &printed);
    if (rc != 0) {
        exit_code = fail("heartbeat loop", rc, &err);
        goto out;
    }
    if (!hbeat_stop_event_is_set(j.stop)) {
        fprintf(stderr, "basic: the server never changed the status\n");
        goto out;
    }
    printf("status change %s -> %s (%s): the server wants the run to stop; stopping cleanly\n",
           j.old_status, j.new_status, hbeat_status_name(j.new_status));
    exit_code = 0;
out:
    /* Services first, then the gateway they use. */
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_stop_event_free(j.stop);
    return exit_code;
}
