#include "hbeat/common.h"

const char *hbeat_version(void)
{
    return HBEAT_VERSION_STRING;
}
