/* When a failover call moves on to the next server, and what its error
   says when none answered. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/failover_internal.h"

int hbeat__failover_moves_on(int rc)
{
    switch (rc) {
    case HBEAT_ETRANSPORT:
    case HBEAT_ETIMEDOUT:
    case HBEAT_ETLS:
    case HBEAT_EPROTO:
    case HBEAT_ESERVER:
        return 1;
    default:
        return 0;
    }
}

void hbeat__failover_trail_begin(hbeat__failover_trail *t, hbeat__failover *fo,
                                 double lease_remaining)
{
    memset(t, 0, sizeof(*t));
    t->fo = fo;
    t->start = __atomic_load_n(&fo->current, __ATOMIC_ACQUIRE);
    t->t0 = hbeat_clock_now_ns(fo->clock);
    /* A request made by hand may carry NaN: it binds nothing. */
    t->lease_remaining = isnan(lease_remaining) ? INFINITY : lease_remaining;
}

int hbeat__failover_trail_member(const hbeat__failover_trail *t)
{
    return (int)(((size_t)t->start + (size_t)t->tried) % t->fo->count);
}

void hbeat__failover_answered(hbeat__failover *fo, int member)
{
    __atomic_store_n(&fo->current, member, __ATOMIC_RELEASE);
}

/* Several calls may see the same server fail at once: only the first
   hands the first place on, so that the others do not skip the next one. */
static void hand_on(hbeat__failover *fo, int member)
{
    int expected = member;
    int next = (int)(((size_t)member + 1) % fo->count);
    __atomic_compare_exchange_n(&fo->current, &expected, next, 0, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
}

static int time_left(const hbeat__failover_trail *t)
{
    double spent = (double)(hbeat_clock_now_ns(t->fo->clock) - t->t0) / 1e9;
    return spent < t->lease_remaining;
}

enum { GO_ON, ANSWER, ALL_TRIED, NO_TIME, NOT_RESENT };

int hbeat__failover_trail_failed(hbeat__failover_trail *t, int rc, const hbeat_error *err,
                                 int resend)
{
    int member = hbeat__failover_trail_member(t);
    if (t->tried > 0) {
        size_t used = strlen(t->earlier);
        snprintf(t->earlier + used, sizeof(t->earlier) - used, "%s%s (%s)", used ? ", " : "",
                 t->fo->names[t->last_member], hbeat_strerror(t->last.code));
    }
    t->last = *err;
    t->last.code = rc;
    t->last_member = member;
    t->tried++;
    if (!hbeat__failover_moves_on(rc))
        t->stopped = ANSWER;
    else if ((size_t)t->tried == t->fo->count)
        t->stopped = ALL_TRIED;
    else if (!resend)
        t->stopped = NOT_RESENT;
    else if (!time_left(t))
        t->stopped = NO_TIME;
    else
        t->stopped = GO_ON;
    if (t->stopped != ANSWER)
        hand_on(t->fo, member);
    return t->stopped == GO_ON;
}

void hbeat__failover_message(char message[HBEAT_ERROR_MESSAGE_MAX], const char *before,
                             const char *name, const char *why)
{
    /* Large enough for every part, so that only the last copy cuts. */
    char text[sizeof(((hbeat__failover_trail *)0)->earlier) + HBEAT_SERVER_NAME_MAX +
              2 * HBEAT_ERROR_MESSAGE_MAX + 32];
    snprintf(text, sizeof(text), "%s%s%s: %s%s", before, before[0] ? " failed, then " : "", name,
             message, why);
    memcpy(message, text, HBEAT_ERROR_MESSAGE_MAX - 1);
    message[HBEAT_ERROR_MESSAGE_MAX - 1] = '\0';
}

int hbeat__failover_trail_error(const hbeat__failover_trail *t, hbeat_error *err)
{
    static const char *const why[] = {
        "",
        "",
        "",
        "; no time was left to try another server within the lease",
        "; not sent to another server, which could make the run twice: try again",
    };
    hbeat_error out = t->last;
    hbeat__failover_message(out.message, t->earlier, t->fo->names[t->last_member], why[t->stopped]);
    if (err != NULL)
        *err = out;
    return out.code;
}
