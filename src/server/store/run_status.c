/*
 * The status code book (run_status.h).
 */
#include "run_status.h"

#include <stddef.h>

static const char tokens[HBD_ST_COUNT][2] = {"G", "L", "B", "I", "O", "R", "D",
                                             "S", "E", "C", "H", "T", "A"};

int hbd_status_index(const char *token)
{
    if (token == NULL || token[0] == '\0' || token[1] != '\0')
        return -1;
    for (int i = 0; i < HBD_ST_COUNT; i++) {
        if (tokens[i][0] == token[0])
            return i;
    }
    return -1;
}

const char *hbd_status_token(int index)
{
    if (index < 0 || index >= HBD_ST_COUNT)
        return NULL;
    return tokens[index];
}

const char *hbd_status_list(void)
{
    return "G L B I O R D S E C H T A";
}
