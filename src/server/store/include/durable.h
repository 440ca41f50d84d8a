/*
 * A notification that a commit is durable: what the committer calls back
 * and what the engine's asynchronous calls hand to a front end.
 */
#ifndef HBD_DURABLE_H
#define HBD_DURABLE_H

#include <stdint.h>

typedef void (*hbd_durable_fn)(void *arg, int rc);
/* Caller-owned storage for one pending notification; opaque. */
typedef struct hbd_durable {
    struct hbd_durable *next;
    uint64_t ticket;
    hbd_durable_fn fn;
    void *arg;
} hbd_durable;

#endif /* HBD_DURABLE_H */
