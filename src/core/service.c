#include "hbeat/service.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/service_internal.h"

/* The server rejects windows longer than this, so reject them up front. */
#define MAX_WINDOW_SECONDS (365.0 * 24 * 3600)
/* Jobmon's loop polls every max(0.1 s, interval / 2): the default first retry. */
#define MIN_RETRY_SECONDS 0.1

/* ---- creation and validation --------------------------------------------- */

static int check_status_arg(const char *status, hbeat_error *err)
{
    if (!hbeat_status_is_valid(status))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "status must be 1 to %d printable ASCII characters without "
                               "spaces",
                               HBEAT_STATUS_MAX);
    return 0;
}

static int check_fraction(const char *name, double value, double max, hbeat_error *err)
{
    if (!(value >= 0 && value <= max))
        return hbeat_error_set(err, HBEAT_EINVAL, "%s must be between 0 and %g, not %g", name, max,
                               value);
    return 0;
}

/* The loop's steady pace in seconds: the interval, or with interval 0
   (always due) the pace at which Jobmon's loop would look. */
static double period(const hbeat_service_options *o)
{
    return o->interval > 0 ? o->interval : HBEAT_ZERO_INTERVAL_PACE;
}

/* The longest wait between retries, and the first retry, in seconds. The
   defaults always fit each other; only values the user set can clash. */
static double retry_cap(const hbeat_service_options *o)
{
    return o->retry_cap > 0 ? o->retry_cap : period(o);
}

static double retry_base(const hbeat_service_options *o)
{
    if (o->retry_base > 0)
        return o->retry_base;
    double base = o->interval / 2 > MIN_RETRY_SECONDS ? o->interval / 2 : MIN_RETRY_SECONDS;
    return base < retry_cap(o) ? base : retry_cap(o);
}

static int check_retries(const hbeat_service_options *o, double window, hbeat_error *err)
{
    if (!(o->retry_base >= 0) || !isfinite(o->retry_base))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "retry_base must be a finite number of seconds, 0 for the "
                               "default, not %g",
                               o->retry_base);
    if (!(o->retry_factor >= 1) || !isfinite(o->retry_factor))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "retry_factor must be a finite number of at least 1, not %g",
                               o->retry_factor);
    if (!(o->retry_cap >= 0) || !isfinite(o->retry_cap))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "retry_cap must be a finite number of seconds, 0 for the "
                               "default, not %g",
                               o->retry_cap);
    /* With interval 0 the server is told to expect the next beat at once:
       no retry can come within that lease, so there is none to fit. */
    if (o->interval > 0 && retry_cap(o) > window)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "retry_cap (%g s) is longer than the lease (next_report_increment "
                               "= %g s): a retry could come after the server gave up; lower "
                               "retry_cap",
                               retry_cap(o), window);
    if (retry_base(o) > retry_cap(o))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "retry_base (%g s) is longer than retry_cap (%g s); lower "
                               "retry_base or raise retry_cap",
                               retry_base(o), retry_cap(o));
    int rc = check_fraction("retry_jitter", o->retry_jitter, 1.0, err);
    if (rc == 0)
        rc = check_fraction("jitter", o->jitter, 0.5, err);
    return rc;
}

/* A caller built against an older header passes a shorter struct: read only
   the fields its version has, and take the defaults for the rest. */
static int copy_options(const hbeat_service_options *in, hbeat_service_options *out,
                        hbeat_error *err)
{
    if (in->version == 0 || in->version > HBEAT_SERVICE_OPTIONS_VERSION)
        return hbeat_error_set(err, HBEAT_EVERSION,
                               "service options version %u is not supported (this library "
                               "knows 1..%d); start from HBEAT_SERVICE_OPTIONS_INIT",
                               in->version, HBEAT_SERVICE_OPTIONS_VERSION);
    hbeat_service_options defaults = HBEAT_SERVICE_OPTIONS_INIT;
    *out = defaults;
    size_t known = in->version == 1   ? offsetof(hbeat_service_options, progress_timeout)
                   : in->version == 2 ? offsetof(hbeat_service_options, watch)
                                      : sizeof(*out);
    memcpy(out, in, known);
    return 0;
}

static int check_options(const hbeat_service_options *o, hbeat_error *err)
{
    if (o->workflow_run_id <= 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "workflow_run_id must be positive, not %lld",
                               (long long)o->workflow_run_id);
    if (!isfinite(o->interval) || o->interval < 0)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "interval must be a finite number of seconds, 0 or more (0: a "
                               "beat is always due), not %g",
                               o->interval);
    if (!isfinite(o->report_by_buffer) || o->report_by_buffer < 1)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "report_by_buffer must be a finite number of at least 1, not %g",
                               o->report_by_buffer);
    if (o->report_by_buffer == 1)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "report_by_buffer 1 makes the interval as long as the lease, so "
                               "every beat arrives after the server's deadline; use more than "
                               "1 (Jobmon uses 3.1)");
    double window = o->interval * o->report_by_buffer;
    if (!(window <= MAX_WINDOW_SECONDS))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "next_report_increment (interval * report_by_buffer = %g s) must "
                               "not exceed one year",
                               window);
    if (o->initial_status != NULL && check_status_arg(o->initial_status, err) != 0)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "initial_status must be 1 to %d printable ASCII characters "
                               "without spaces",
                               HBEAT_STATUS_MAX);
    if (!isfinite(o->progress_timeout) || o->progress_timeout < 0 ||
        o->progress_timeout > MAX_WINDOW_SECONDS)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "progress_timeout must be a number of seconds from 0 (off) to "
                               "one year, not %g",
                               o->progress_timeout);
    return check_retries(o, window, err);
}

/* A positive time never rounds to 0 ns, which would mean "always" or "off". */
static int64_t seconds_to_ns(double seconds)
{
    if (seconds == 0)
        return 0;
    int64_t ns = llround(seconds * 1e9);
    return ns > 0 ? ns : 1;
}

int hbeat_service_new(hbeat_service **out, hbeat_gateway *gw, const hbeat_service_options *opts,
                      hbeat_error *err)
{
    if (out == NULL || gw == NULL || opts == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_service_new: out, gateway and options are required");
    hbeat_service_options copy;
    int rc = copy_options(opts, &copy, err);
    if (rc == 0)
        rc = check_options(&copy, err);
    if (rc != 0)
        return rc;
    opts = &copy;
    if (copy.interval == 0)
        copy.interval = 0.0; /* -0.0 would read back as a negative interval */

    hbeat_service *svc = calloc(1, sizeof(*svc));
    if (svc == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory for a service");
    if (hbeat_stop_event_new(&svc->own_stop) != 0) {
        free(svc);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "cannot make the service's stop event");
    }
    pthread_mutex_init(&svc->mu, NULL);
    pthread_mutex_init(&svc->ctl, NULL);
    pthread_cond_init(&svc->idle, NULL);
    pthread_cond_init(&svc->worker_cond, NULL);

    svc->gw = gw;
    svc->clock = opts->clock != NULL ? opts->clock : hbeat_clock_system();
    svc->run_id = opts->workflow_run_id;
    svc->interval = opts->interval;
    svc->report_by_buffer = opts->report_by_buffer;
    svc->interval_ns = seconds_to_ns(opts->interval);
    svc->period_ns = seconds_to_ns(period(opts));
    svc->increment_ns = seconds_to_ns(opts->interval * opts->report_by_buffer);
    svc->max_failures = opts->max_consecutive_failures;
    svc->on_change = opts->on_status_change;
    svc->on_change_arg = opts->on_status_change_arg;
    svc->on_lease = opts->on_lease_change;
    svc->on_lease_arg = opts->on_lease_change_arg;
    svc->retry_base_ns = seconds_to_ns(retry_base(opts));
    svc->retry_factor = opts->retry_factor;
    svc->retry_cap_ns = seconds_to_ns(retry_cap(opts));
    svc->retry_jitter = opts->retry_jitter;
    svc->jitter = opts->jitter;
    svc->progress_timeout_ns = seconds_to_ns(opts->progress_timeout);
    svc->on_stall = opts->on_stall_change;
    svc->on_stall_arg = opts->on_stall_change_arg;
    svc->watch = opts->watch != 0;
    svc->rng = hbeat__rng_seed(opts->seed, svc);
    strcpy(svc->status, opts->initial_status != NULL ? opts->initial_status : "R");

    /* Jobmon starts the timer at creation so that a new service is not due;
       the first lease is counted from then too. */
    svc->last_beat_ns = hbeat_clock_now_ns(svc->clock);
    svc->stats.lease_deadline_ns = svc->last_beat_ns + svc->increment_ns;
    svc->stats.has_lease = 1;
    /* A new service has made progress: its work has just begun. */
    svc->last_progress_ns = svc->last_beat_ns;
    if (opts->random_phase)
        svc->beat_offset_ns = (int64_t)(hbeat__rng_unit(&svc->rng) * (double)svc->period_ns);
    else if (svc->jitter > 0)
        svc->beat_offset_ns =
            (int64_t)(svc->jitter * hbeat__rng_unit(&svc->rng) * (double)svc->period_ns);
    *out = svc;
    return 0;
}

/* ---- accessors ------------------------------------------------------------ */

int64_t hbeat_service_workflow_run_id(const hbeat_service *svc)
{
    return svc != NULL ? svc->run_id : 0;
}

double hbeat_service_interval(const hbeat_service *svc)
{
    return svc != NULL ? svc->interval : NAN;
}

double hbeat_service_report_by_buffer(const hbeat_service *svc)
{
    return svc != NULL ? svc->report_by_buffer : NAN;
}

double hbeat_service_next_report_increment(const hbeat_service *svc)
{
    return svc != NULL ? svc->interval * svc->report_by_buffer : NAN;
}

int hbeat_service_status(hbeat_service *svc, char out[HBEAT_STATUS_MAX + 1])
{
    if (svc == NULL || out == NULL)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&svc->mu);
    memcpy(out, svc->status, sizeof(svc->status));
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

int hbeat_service_set_status(hbeat_service *svc, const char *status, hbeat_error *err)
{
    if (svc == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_service_set_status: service is NULL");
    int rc = check_status_arg(status, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&svc->mu);
    strcpy(svc->status, status);
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

int64_t hbeat_service_last_heartbeat_ns(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    pthread_mutex_lock(&svc->mu);
    int64_t last = svc->last_beat_ns;
    pthread_mutex_unlock(&svc->mu);
    return last;
}

/* Nanoseconds since the last beat. The clock is read after the last beat
   time, under the same lock, so a beat landing in between cannot make the
   answer negative. */
static int64_t elapsed_ns(hbeat_service *svc)
{
    pthread_mutex_lock(&svc->mu);
    int64_t last = svc->last_beat_ns;
    int64_t now = hbeat_clock_now_ns(svc->clock);
    pthread_mutex_unlock(&svc->mu);
    return now - last;
}

double hbeat_service_time_since_last_heartbeat(hbeat_service *svc)
{
    if (svc == NULL)
        return NAN;
    return (double)elapsed_ns(svc) / 1e9;
}

int hbeat_service_is_heartbeat_due(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    return elapsed_ns(svc) >= svc->interval_ns;
}

void hbeat_service_reset_timer(hbeat_service *svc)
{
    if (svc == NULL)
        return;
    pthread_mutex_lock(&svc->mu);
    svc->last_beat_ns = hbeat_clock_now_ns(svc->clock);
    pthread_mutex_unlock(&svc->mu);
}

unsigned int hbeat_service_consecutive_failures(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    pthread_mutex_lock(&svc->mu);
    unsigned int failures = svc->failures;
    pthread_mutex_unlock(&svc->mu);
    return failures;
}

int hbeat_service_lease_lost(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    pthread_mutex_lock(&svc->mu);
    int64_t now = hbeat_clock_now_ns(svc->clock);
    int lost = svc->lease_lost || now >= svc->stats.lease_deadline_ns;
    pthread_mutex_unlock(&svc->mu);
    return lost;
}

double hbeat_service_lease_remaining(hbeat_service *svc)
{
    if (svc == NULL)
        return NAN;
    pthread_mutex_lock(&svc->mu);
    int64_t now = hbeat_clock_now_ns(svc->clock);
    int64_t deadline = svc->stats.lease_deadline_ns;
    pthread_mutex_unlock(&svc->mu);
    return (double)(deadline - now) / 1e9;
}

int hbeat_service_get_stats(hbeat_service *svc, hbeat_service_stats *out)
{
    if (svc == NULL || out == NULL)
        return HBEAT_EINVAL;
    if (out->version == 0 || out->version > HBEAT_SERVICE_STATS_VERSION)
        return HBEAT_EVERSION;
    pthread_mutex_lock(&svc->mu);
    hbeat__progress_view progress = {
        __atomic_load_n(&svc->loop_stalled, __ATOMIC_SEQ_CST),
        __atomic_load_n(&svc->last_progress_ns, __ATOMIC_SEQ_CST),
    };
    hbeat__stats_fill(&svc->stats, svc->failures, &progress, hbeat_clock_now_ns(svc->clock), out);
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

int hbeat_service_is_running(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    pthread_mutex_lock(&svc->mu);
    int running = svc->loop_running;
    pthread_mutex_unlock(&svc->mu);
    return running;
}

void hbeat_service_free(hbeat_service *svc)
{
    if (svc == NULL)
        return;
    hbeat_service_stop(svc, NULL);

    pthread_mutex_lock(&svc->mu);
    svc->closing = 1;
    while (svc->tick_busy || svc->callbacks_running)
        pthread_cond_wait(&svc->idle, &svc->mu);
    svc->worker_quit = 1;
    pthread_cond_signal(&svc->worker_cond);
    int worker = svc->worker_started;
    pthread_mutex_unlock(&svc->mu);
    if (worker)
        pthread_join(svc->worker, NULL);

    hbeat_stop_event_free(svc->own_stop);
    pthread_cond_destroy(&svc->worker_cond);
    pthread_cond_destroy(&svc->idle);
    pthread_mutex_destroy(&svc->ctl);
    pthread_mutex_destroy(&svc->mu);
    free(svc);
}
