#include "targets.h"

#include <stdio.h>
#include <string.h>

static int open_url(const conf_url_ctx *ctx, const char *url, const char *token, hbeat_gateway **gw)
{
    hbeat_gateway_options opts = HBEAT_GATEWAY_OPTIONS_INIT;
    /* Bounds a wedged server; a healthy one answers in milliseconds. */
    opts.request_timeout = 10.0;
    opts.ca_file = ctx->ca_file;
    opts.token = token;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(gw, url, &opts, &err);
    if (rc != 0)
        fprintf(stderr, "open %s: %d %s\n", url, rc, err.message);
    return rc;
}

/* The gateway that makes and changes runs: the operator's, or the test's. */
static hbeat_gateway *admin_of(const conf_url_ctx *ctx, hbeat_gateway *gw)
{
    return ctx->admin != NULL ? ctx->admin : gw;
}

static int url_setup(void *arg, hbeat_gateway **gw, int64_t *run_id)
{
    conf_url_ctx *ctx = arg;
    int rc = open_url(ctx, ctx->url, ctx->token, gw);
    if (rc == 0 && (ctx->admin_token != NULL || ctx->admin_url != NULL))
        rc = open_url(ctx, ctx->admin_url != NULL ? ctx->admin_url : ctx->url, ctx->admin_token,
                      &ctx->admin);
    if (rc != 0) {
        hbeat_gateway_free(*gw);
        *gw = NULL;
        return rc;
    }
    /* Created in G and forced to R, as a workflow that got going would be;
       the first beat, over the gateway under test, then gives it a
       deadline far away. */
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway *admin = admin_of(ctx, *gw);
    rc = hbeat_run_create(admin, 7, "G", &run, &err);
    if (rc == 0)
        rc = hbeat_run_set_status(admin, run.workflow_run_id, "R", 1, &run, &err);
    char out[HBEAT_STATUS_MAX + 1];
    if (rc == 0)
        rc = hbeat_gateway_log_heartbeat(*gw, run.workflow_run_id, "R", 3600.0, out, &err);
    if (rc != 0) {
        fprintf(stderr, "make a run over %s: %d %s\n", ctx->url, rc, err.message);
        hbeat_gateway_free(*gw);
        *gw = NULL;
        hbeat_gateway_free(ctx->admin);
        ctx->admin = NULL;
        return rc;
    }
    *run_id = run.workflow_run_id;
    return 0;
}

static int url_server_set_status(void *arg, hbeat_gateway *gw, int64_t run_id, const char *status)
{
    conf_url_ctx *ctx = arg;
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_set_status(admin_of(ctx, gw), run_id, status, 1, &run, &err);
    if (rc != 0)
        fprintf(stderr, "set_status %lld %s: %d %s\n", (long long)run_id, status, rc, err.message);
    else if (strcmp(run.status, status) != 0)
        return HBEAT_EPROTO;
    return rc;
}

static void url_teardown(void *arg, hbeat_gateway *gw)
{
    conf_url_ctx *ctx = arg;
    hbeat_gateway_free(gw);
    hbeat_gateway_free(ctx->admin);
    ctx->admin = NULL;
}

hbeat_conformance_target conf_url_target(const char *name, conf_url_ctx *ctx)
{
    hbeat_conformance_target t = {
        .name = name,
        .ctx = ctx,
        .setup = url_setup,
        .server_set_status = url_server_set_status,
        .teardown = url_teardown,
        .knows_runs = 1,
        .unknown_run_id = 0,
        .has_update_status = 1,
    };
    return t;
}
