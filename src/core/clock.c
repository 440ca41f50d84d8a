#include "core/clock_internal.h"

#include <stdlib.h>
#include <time.h>

int64_t hbeat__monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t system_now_ns(void *self)
{
    (void)self;
    return hbeat__monotonic_ns();
}

static const hbeat_clock_vtable system_vtable = {
    .version = HBEAT_CLOCK_VTABLE_VERSION,
    .now_ns = system_now_ns,
};

static hbeat_clock system_clock = {&system_vtable, NULL};

hbeat_clock *hbeat_clock_system(void)
{
    return &system_clock;
}

int hbeat_clock_new(hbeat_clock **out, const hbeat_clock_vtable *vtable, void *self,
                    hbeat_error *err)
{
    if (out == NULL || vtable == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_clock_new: out and vtable are required");
    if (vtable->version == 0 || vtable->version > HBEAT_CLOCK_VTABLE_VERSION)
        return hbeat_error_set(err, HBEAT_EVERSION,
                               "clock vtable version %u is not supported (this library knows "
                               "1..%d)",
                               vtable->version, HBEAT_CLOCK_VTABLE_VERSION);
    if (vtable->now_ns == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "clock vtable: now_ns is required");
    if ((vtable->watch == NULL) != (vtable->unwatch == NULL))
        return hbeat_error_set(err, HBEAT_EINVAL, "clock vtable: watch and unwatch go together");
    hbeat_clock *clock = malloc(sizeof(*clock));
    if (clock == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory for a clock");
    clock->vtable = vtable;
    clock->self = self;
    *out = clock;
    return 0;
}

void hbeat_clock_free(hbeat_clock *clock)
{
    if (clock == NULL || clock == &system_clock)
        return;
    if (clock->vtable->destroy != NULL)
        clock->vtable->destroy(clock->self);
    free(clock);
}

int64_t hbeat_clock_now_ns(hbeat_clock *clock)
{
    if (clock == NULL)
        clock = &system_clock;
    return clock->vtable->now_ns(clock->self);
}

int hbeat__clock_is_watchable(const hbeat_clock *clock)
{
    return clock->vtable->watch != NULL;
}

int hbeat__clock_watch(hbeat_clock *clock, hbeat_clock_wake_fn wake, void *arg)
{
    return clock->vtable->watch(clock->self, wake, arg);
}

void hbeat__clock_unwatch(hbeat_clock *clock, hbeat_clock_wake_fn wake, void *arg)
{
    clock->vtable->unwatch(clock->self, wake, arg);
}

void *hbeat__clock_impl(const hbeat_clock *clock, const hbeat_clock_vtable *vtable)
{
    return clock != NULL && clock->vtable == vtable ? clock->self : NULL;
}
