/*
 * The reaper thread: calls hbd_engine_reap() every interval until stopped.
 * The pass itself (reaper.c) honours the start-up grace.
 */
#ifndef HBD_REAPER_H
#define HBD_REAPER_H

#include "engine.h"
#include "hbeat/errors.h"

typedef struct hbd_reaper hbd_reaper;

int hbd_reaper_start(hbd_reaper **out, hbd_engine *engine, double interval, hbeat_error *err);
/* Wakes the thread, joins it, frees. NULL is a no-op. */
void hbd_reaper_stop(hbd_reaper *reaper);

#endif /* HBD_REAPER_H */
