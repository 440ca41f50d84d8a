#include "hbeat/status.h"

#include <stddef.h>
#include <string.h>

int hbeat_status_is_valid(const char *status)
{
    if (status == NULL || status[0] == '\0')
        return 0;
    size_t i = 0;
    for (; status[i] != '\0'; i++) {
        unsigned char c = (unsigned char)status[i];
        if (i >= HBEAT_STATUS_MAX || c < 0x21 || c > 0x7e)
            return 0;
    }
    return 1;
}

const char *hbeat_status_name(const char *status)
{
    static const struct {
        const char *code;
        const char *name;
    } names[] = {
        {HBEAT_STATUS_REGISTERED, "registered"},
        {HBEAT_STATUS_LINKING, "linking"},
        {HBEAT_STATUS_BOUND, "bound"},
        {HBEAT_STATUS_INSTANTIATED, "instantiated"},
        {HBEAT_STATUS_LAUNCHED, "launched"},
        {HBEAT_STATUS_RUNNING, "running"},
        {HBEAT_STATUS_DONE, "done"},
        {HBEAT_STATUS_STOPPED, "stopped"},
        {HBEAT_STATUS_ERROR, "error"},
        {HBEAT_STATUS_COLD_RESUME, "cold resume"},
        {HBEAT_STATUS_HOT_RESUME, "hot resume"},
        {HBEAT_STATUS_TERMINATED, "terminated"},
        {HBEAT_STATUS_ABORTED, "aborted"},
    };
    if (status == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(status, names[i].code) == 0)
            return names[i].name;
    }
    return NULL;
}
