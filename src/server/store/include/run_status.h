/*
 * The 13 workflow-run statuses as the store keeps them: a small index per
 * run instead of a string. Which status may follow which is the engine's
 * business (state_machine.h); this is only the code book. Thread-safe.
 */
#ifndef HBD_RUN_STATUS_H
#define HBD_RUN_STATUS_H

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

/* Index of a status token ("R" -> HBD_ST_R), or -1 when it is not one of
   the 13 codes (NULL, "", "X", "RR" ...). */
int hbd_status_index(const char *token);
/* The token for an index ("R"); NULL when out of range. */
const char *hbd_status_token(int index);
/* The 13 tokens separated by spaces, for error messages. */
const char *hbd_status_list(void);

#endif /* HBD_RUN_STATUS_H */
