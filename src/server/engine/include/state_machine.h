/*
 * Jobmon's workflow-run state machine, as hbeatd enforces it:
 * which status may follow which, which same-status reports are "untimely"
 * (accepted as no change), and where the reaper sends a run whose deadline
 * has passed. Pure functions over a static table; thread-safe.
 */
#ifndef HBD_STATE_MACHINE_H
#define HBD_STATE_MACHINE_H

#include "run_status.h"

typedef enum hbd_transition {
    HBD_TR_INVALID = 0,  /* rejected: the run keeps its status and deadline */
    HBD_TR_VALID = 1,    /* the run moves to the new status */
    HBD_TR_UNTIMELY = 2, /* R->R, L->L: no change, but a beat still counts */
} hbd_transition;

/* What moving from `from` to `to` is; INVALID for an index out of range. */
hbd_transition hbd_transition_check(int from, int to);
/* Where the reaper sends a run in `from` whose deadline passed; -1 when a
   run in that status is never reaped. */
int hbd_reap_target(int from);

#endif /* HBD_STATE_MACHINE_H */
