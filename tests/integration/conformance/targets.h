/*
 * Conformance targets for a server that speaks hbeatd's admin calls: the
 * gateway is opened by URL, every test gets a fresh run created in "R",
 * and an operator's change is a forced set_status, over the same gateway
 * or, when the gateway under test carries a client token (which may not
 * make admin calls), over an operator's gateway to the same URL.
 */
#ifndef HBEAT_TESTS_CONFORMANCE_TARGETS_H
#define HBEAT_TESTS_CONFORMANCE_TARGETS_H

#include "conformance/gateway_conformance.h"

typedef struct conf_url_ctx {
    char url[512];
    /* Optional (zero: none). The CA file that verifies the server's
       certificate; the token of the gateway under test; the token of the
       operator who makes and changes the runs (NULL: the gateway under test
       does it, so it needs admin rights). Borrowed. */
    const char *ca_file;
    const char *token;
    const char *admin_token;
    /* Optional: the URL the operator's gateway opens (NULL: url, and an
       operator's gateway only with admin_token). Borrowed. */
    const char *admin_url;
    /* Private: the operator's gateway while a test runs. */
    hbeat_gateway *admin;
} conf_url_ctx;

/* A target named `name` that opens ctx->url with ctx's TLS and tokens.
   Initialise every ctx in full (e.g. `conf_url_ctx c = {.url = ""}`). */
hbeat_conformance_target conf_url_target(const char *name, conf_url_ctx *ctx);

#endif
