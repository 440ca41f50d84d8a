/* URLs that list several servers: how hbeat_gateway_open() splits them,
   which schemes it leaves alone, and the errors for lists it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "hbeat/sys/failover.h"

static int open_url(const char *url, hbeat_gateway **gw, hbeat_error *err)
{
    hbeat_error_clear(err);
    return hbeat_gateway_open(gw, url, NULL, err);
}

static void refuses(const char *url, const char *message)
{
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(open_url(url, &gw, &err), HBEAT_EINVAL);
    assert_null(gw);
    if (strstr(err.message, message) == NULL)
        fail_msg("%s: expected \"%s\" in \"%s\"", url, message, err.message);
}

static void bad_lists_are_clear_errors(void **state)
{
    (void)state;
    refuses("nng+tcp://h1:7781,,h2:7781", "server 2 of the list is empty");
    refuses("nng+tcp://,h2:7781", "server 1 of the list is empty");
    refuses("http://h1:7780,/api/v3", "server 2 of the list is empty");
    refuses("http://h1:7780,https://h2:7780/api/v3",
            "is more than one URL (the second starts 'https://h2:7780/api/')");
    refuses("http://h1:7780/api/v3,http://h2:7780/api/v3", "list the servers in one URL");
    refuses("fake://a,b,c,d,e,f,g,h,i", "lists more than 8 servers");
    refuses("nng+tcp://h1:7781,H1:7781", "lists the server H1:7781 twice");
    char longname[200];
    memset(longname, 'x', sizeof(longname));
    memcpy(longname, "fake://a,", 9);
    longname[sizeof(longname) - 1] = '\0';
    refuses(longname, "server 2 is longer than 127 bytes");
    /* A member's own check, named after the server. */
    refuses("http://h1:7780,h2:99999/api/v3", "server 2 of 2 (h2:99999)");
}

static void one_gateway_per_server(void **state)
{
    (void)state;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(open_url("fake://a,b,c,d,e,f,g,h", &gw, &err), 0);
    assert_string_equal(hbeat_gateway_transport(gw), "failover");
    assert_int_equal(hbeat_failover_gateway_current(gw), 0);
    hbeat_gateway_free(gw);
    static const char *const lists[] = {
        "http://127.0.0.1:1,[::1]:2/api/v3", "https://h1,h2/api/v3",
        "nng+tcp://127.0.0.1:1,h2:2",        "nng+tls+tcp://h1:1,h2:2",
        "grpc://127.0.0.1:1,h2:2",           "grpcs://h1:1,h2:2"};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        int rc = open_url(lists[i], &gw, &err);
        if (rc == HBEAT_ENOTBUILT)
            continue;
        if (rc != 0)
            fail_msg("%s: %s", lists[i], err.message);
        assert_string_equal(hbeat_gateway_transport(gw), "failover");
        hbeat_gateway_free(gw);
    }
}

/* One server: no failover gateway in between. ipc and inproc addresses
   are paths and names, where a comma is just a character. */
static void single_servers_and_paths_are_left_alone(void **state)
{
    (void)state;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(open_url("fake://a", &gw, &err), 0);
    assert_string_equal(hbeat_gateway_transport(gw), "fake");
    hbeat_gateway_free(gw);
    static const char *const paths[] = {"nng+ipc://a,b.sock", "nng+inproc://a,b"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int rc = open_url(paths[i], &gw, &err);
        if (rc == HBEAT_ENOTBUILT)
            continue;
        assert_int_equal(rc, 0);
        assert_string_equal(hbeat_gateway_transport(gw), "nng");
        hbeat_gateway_free(gw);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_lists_are_clear_errors),
        cmocka_unit_test(one_gateway_per_server),
        cmocka_unit_test(single_servers_and_paths_are_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
