/*
 * The transition table, written as the list of Jobmon's valid transitions so that it can
 * be checked against Jobmon by eye. Twenty rules: a scan is as fast as a
 * matrix lookup would be, and there is no second copy to keep in step.
 */
#include "state_machine.h"

#include <stddef.h>
#include <string.h>

static const struct {
    unsigned char from, to;
    unsigned char kind;
} rules[] = {
    {HBD_ST_G, HBD_ST_L, HBD_TR_VALID},    {HBD_ST_L, HBD_ST_B, HBD_TR_VALID},
    {HBD_ST_L, HBD_ST_A, HBD_TR_VALID},    {HBD_ST_B, HBD_ST_I, HBD_TR_VALID},
    {HBD_ST_I, HBD_ST_O, HBD_TR_VALID},    {HBD_ST_O, HBD_ST_R, HBD_TR_VALID},
    {HBD_ST_I, HBD_ST_E, HBD_TR_VALID},    {HBD_ST_O, HBD_ST_E, HBD_TR_VALID},
    {HBD_ST_B, HBD_ST_E, HBD_TR_VALID},    {HBD_ST_B, HBD_ST_C, HBD_TR_VALID},
    {HBD_ST_B, HBD_ST_H, HBD_TR_VALID},    {HBD_ST_R, HBD_ST_D, HBD_TR_VALID},
    {HBD_ST_R, HBD_ST_S, HBD_TR_VALID},    {HBD_ST_R, HBD_ST_C, HBD_TR_VALID},
    {HBD_ST_R, HBD_ST_H, HBD_TR_VALID},    {HBD_ST_R, HBD_ST_E, HBD_TR_VALID},
    {HBD_ST_C, HBD_ST_T, HBD_TR_VALID},    {HBD_ST_H, HBD_ST_T, HBD_TR_VALID},
    {HBD_ST_R, HBD_ST_R, HBD_TR_UNTIMELY}, {HBD_ST_L, HBD_ST_L, HBD_TR_UNTIMELY},
};

static const signed char reap_targets[HBD_ST_COUNT] = {
    [HBD_ST_G] = -1, [HBD_ST_L] = HBD_ST_A, [HBD_ST_B] = -1,       [HBD_ST_I] = -1,
    [HBD_ST_O] = -1, [HBD_ST_R] = HBD_ST_E, [HBD_ST_D] = -1,       [HBD_ST_S] = -1,
    [HBD_ST_E] = -1, [HBD_ST_C] = HBD_ST_T, [HBD_ST_H] = HBD_ST_T, [HBD_ST_T] = -1,
    [HBD_ST_A] = -1,
};

hbd_transition hbd_transition_check(int from, int to)
{
    if (from < 0 || from >= HBD_ST_COUNT || to < 0 || to >= HBD_ST_COUNT)
        return HBD_TR_INVALID;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (rules[i].from == from && rules[i].to == to)
            return (hbd_transition)rules[i].kind;
    }
    return HBD_TR_INVALID;
}

int hbd_reap_target(int from)
{
    if (from < 0 || from >= HBD_ST_COUNT)
        return -1;
    return reap_targets[from];
}
