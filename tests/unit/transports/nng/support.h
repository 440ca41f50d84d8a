/* Small helpers shared by the nng transport's unit tests. */
#ifndef HBEAT_TEST_NNG_SUPPORT_H
#define HBEAT_TEST_NNG_SUPPORT_H

#include <stdint.h>
#include <time.h>

#include "hbeat/gateway.h"
#include "hbeat/sys/gateway.h"

/* Unique inproc names, so tests in one process never share a server. */
const char *unique_name(const char *prefix);

/* Open `url` with a request timeout (0: default); fails the test on error. */
hbeat_gateway *open_gw(const char *url, double timeout_s);

/* The nng implementation behind a gateway handle. */
void *nng_self(hbeat_gateway *gw);
/* The nng transport's vtable, as the registry hands it out. */
const hbeat_gateway_vtable *nng_vtable(void);

/* Monotonic seconds, to check that a timeout did not fire early. */
double now_s(void);

/* A heartbeat request on the stack. */
hbeat_heartbeat_request beat(int64_t run, const char *status, uint64_t seq);

#endif
