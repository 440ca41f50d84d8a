/* When the next beat or retry is due: backoff, jitter and the lease. */
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "core/service_internal.h"

/* splitmix64: small, fast, and good enough for spreading beats apart. */
uint64_t hbeat__rng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

double hbeat__rng_unit(uint64_t *state)
{
    return (double)(hbeat__rng_next(state) >> 11) * 0x1.0p-53;
}

uint64_t hbeat__rng_seed(uint64_t seed, const void *salt)
{
    if (seed != 0)
        return seed;
    /* Services of one fleet start at nearly the same time, so mix in the
       wall clock's nanoseconds and the object's address. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t mixed = (uint64_t)ts.tv_sec * UINT64_C(1000000007) ^ (uint64_t)ts.tv_nsec ^
                     (uint64_t)(uintptr_t)salt;
    hbeat__rng_next(&mixed);
    return mixed;
}

int64_t hbeat__retry_delay_ns(int64_t base_ns, double factor, int64_t cap_ns, double jitter,
                              unsigned int failures, uint64_t *rng)
{
    double delay = (double)base_ns;
    for (unsigned int i = 1; i < failures && delay < (double)cap_ns; i++)
        delay *= factor;
    if (delay > (double)cap_ns)
        delay = (double)cap_ns;
    /* Shorten, never lengthen: the schedule must stay inside the lease. */
    if (jitter > 0)
        delay *= 1.0 - jitter * hbeat__rng_unit(rng);
    int64_t ns = llround(delay);
    return ns > 0 ? ns : 1;
}

int64_t hbeat__lease_send_by(int64_t lease_deadline_ns, int64_t last_rtt_ns, int64_t increment_ns)
{
    int64_t guard = 2 * last_rtt_ns;
    if (guard < 10000000)
        guard = 10000000;
    if (guard > increment_ns / 10)
        guard = increment_ns / 10;
    return lease_deadline_ns - guard;
}
