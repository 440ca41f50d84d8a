/*
 * Jobmon's workflow-run state machine, as hbeatd enforces it:
 * which status may follow which, which same-status reports are "untimely"
 * (accepted as no change), and where the reaper sends a run whose deadline
 * has passed. Pure functions over a static table; thread-safe.
 */
#ifndef HBD_STATE_MACHINE_H
#define HBD_STATE_MACHINE_H

/* The 13 statuses, by index. The order is that of Jobmon's docs. */
enum {
    HBD_ST_G,
    HBD_ST_L,
    HBD_ST_B,
    HBD_ST_I,
    HBD_ST_O,
    HBD_ST_R,
    HBD_ST_D,
    HBD_ST_S,
    HBD_ST_E,
    HBD_ST_C,
    HBD_ST_H,
    HBD_ST_T,
    HBD_ST_A,
    HBD_ST_COUNT
};

typedef enum hbd_transition {
    HBD_TR_INVALID = 0,  /* rejected: the run keeps its status and deadline */
    HBD_TR_VALID = 1,    /* the run moves to the new status */
    HBD_TR_UNTIMELY = 2, /* R->R, L->L: no change, but a beat still counts */
} hbd_transition;

/* Index of a status token ("R" -> HBD_ST_R), or -1 when it is not one of
   the 13 codes (NULL, "", "X", "RR" ...). */
int hbd_status_index(const char *token);
/* The token for an index ("R"); NULL when out of range. */
const char *hbd_status_token(int index);
/* What moving from `from` to `to` is; INVALID for an index out of range. */
hbd_transition hbd_transition_check(int from, int to);
/* Where the reaper sends a run in `from` whose deadline passed; -1 when a
   run in that status is never reaped. */
int hbd_reap_target(int from);
/* The 13 tokens separated by spaces, for error messages. */
const char *hbd_status_list(void);

#endif /* HBD_STATE_MACHINE_H */
