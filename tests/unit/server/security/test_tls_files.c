/*
 * hbeatd's TLS files (src/server/security/tls.c): read without blocking and only
 * when they are regular files, like the token file, and refused with a
 * message that names the flag and the file. The alarm turns a hang (a
 * FIFO opened for reading waits for a writer) into a failure.
 */
#define _DEFAULT_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hbd-tlsfiles-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    static const char *const names[] = {"fifo", "cert.pem", "key.pem", "empty.pem"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
}

static void test_a_fifo_in_place_of_each_file(void **state)
{
    (void)state;
    char fifo[128], cert[128], key[128];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    /* Shaped like PEM; never parsed here, only read. */
    write_file(cert, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
    write_file(key, "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n");
    const char *sets[][3] = {{fifo, key, NULL}, {cert, fifo, NULL}, {cert, key, fifo}};
    const char *flags[] = {"--tls-cert", "--tls-key", "--tls-client-ca"};
    alarm(10);
    for (size_t i = 0; i < 3; i++) {
        hbd_tls *tls = (hbd_tls *)1;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbd_tls_load(&tls, sets[i][0], sets[i][1], sets[i][2], &err),
                         HBEAT_EINVAL);
        assert_null(tls);
        assert_non_null(strstr(err.message, flags[i]));
        assert_non_null(strstr(err.message, "not a regular file (a FIFO)"));
    }
    alarm(0);
}

static void test_files_that_are_not_pem(void **state)
{
    (void)state;
    char cert[128], key[128], empty[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(empty, sizeof empty, "%s/empty.pem", dir);
    write_file(cert, "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
    write_file(empty, "");
    write_file(key, "not a key\n");
    hbd_tls *tls = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_tls_load(&tls, empty, key, NULL, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "not a PEM file"));
    assert_int_equal(hbd_tls_load(&tls, cert, key, NULL, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "--tls-key"));
    assert_int_equal(hbd_tls_load(&tls, cert, "/nonexistent/key.pem", NULL, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "No such file"));
    assert_null(tls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_fifo_in_place_of_each_file),
        cmocka_unit_test(test_files_that_are_not_pem),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
