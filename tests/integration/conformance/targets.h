/*
 * Conformance targets for a server that speaks hbeatd's admin calls: the
 * gateway is opened by URL, every test gets a fresh run created in "R",
 * and an operator's change is a forced set_status over the same gateway.
 */
#ifndef HBEAT_TESTS_CONFORMANCE_TARGETS_H
#define HBEAT_TESTS_CONFORMANCE_TARGETS_H

#include "conformance/gateway_conformance.h"

typedef struct conf_url_ctx {
    char url[512];
} conf_url_ctx;

/* A target named `name` that opens ctx->url. */
hbeat_conformance_target conf_url_target(const char *name, conf_url_ctx *ctx);

#endif
