/**
 * @file hbeat.h
 * @brief Umbrella header: everything an application that heartbeats needs.
 *
 * Gateway and transport writers also include the headers under hbeat/sys/.
 */
#ifndef HBEAT_H
#define HBEAT_H

#include "hbeat/clock.h"
#include "hbeat/common.h"
#include "hbeat/errors.h"
#include "hbeat/gateway.h"
#include "hbeat/log.h"
#include "hbeat/service.h"
#include "hbeat/status.h"
#include "hbeat/stop_event.h"
#include "hbeat/version.h"

#endif /* HBEAT_H */
