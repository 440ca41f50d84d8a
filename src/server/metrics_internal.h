/* Between metrics.c (the counters and the text) and metrics_render.c (the
   runs by status, read from the engine). */
#ifndef HBD_METRICS_INTERNAL_H
#define HBD_METRICS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Jobmon's workflow-run statuses, in the order of the state machine. */
#define HBD_METRICS_STATUS_CODES "GLBIORDSECHTA"
#define HBD_METRICS_STATUSES     13

/* The whole exposition text with `runs[i]` runs in status
   HBD_METRICS_STATUS_CODES[i]; malloc'ed into *out. 0 or HBEAT_ENOMEM. */
int hbd_metrics__format(const uint64_t runs[HBD_METRICS_STATUSES], char **out, size_t *len);

#endif /* HBD_METRICS_INTERNAL_H */
