/* The gateway conformance suite against the fake gateway, made both
   directly and through fake:// . The fake echoes what it is sent, which is
   what a server holding "R" answers to "R"; an operator's change is its
   server status. It answers any run id, so knows_runs is 0. */
#include <stddef.h>

#include "conformance/gateway_conformance.h"
#include "hbeat/sys/fake.h"

static int fake_setup(void *ctx, hbeat_gateway **gw, int64_t *run_id)
{
    (void)ctx;
    *run_id = 4242;
    return hbeat_fake_gateway_new(gw, NULL, 0, NULL);
}

static int fake_url_setup(void *ctx, hbeat_gateway **gw, int64_t *run_id)
{
    (void)ctx;
    *run_id = 4243;
    return hbeat_gateway_open(gw, "fake://conformance", NULL, NULL);
}

static int fake_set_status(void *ctx, hbeat_gateway *gw, int64_t run_id, const char *status)
{
    (void)ctx;
    (void)run_id;
    return hbeat_fake_gateway_set_server_status(gw, status);
}

static void fake_teardown(void *ctx, hbeat_gateway *gw)
{
    (void)ctx;
    hbeat_gateway_free(gw);
}

int main(void)
{
    const hbeat_conformance_target direct = {
        .name = "fake",
        .setup = fake_setup,
        .server_set_status = fake_set_status,
        .teardown = fake_teardown,
        .knows_runs = 0,
        .why_any_run = "the fake gateway holds no runs and answers any run id",
        .has_update_status = 1,
    };
    const hbeat_conformance_target by_url = {
        .name = "fake://",
        .setup = fake_url_setup,
        .server_set_status = fake_set_status,
        .teardown = fake_teardown,
        .knows_runs = 0,
        .why_any_run = "the fake gateway holds no runs and answers any run id",
        .has_update_status = 1,
    };
    int failed = hbeat_conformance_run(&direct);
    failed += hbeat_conformance_run(&by_url);
    return failed;
}
