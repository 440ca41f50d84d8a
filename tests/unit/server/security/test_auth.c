/*
 * The token file (src/server/security/auth.c): its format, the rights it grants,
 * exact matching (no prefix, no suffix, no near miss), errors that name the
 * line but never quote it, reload that keeps the old tokens on any error,
 * and checks racing reloads.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
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

#include "auth.h"
#include "log.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hbeat-auth-unit-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/tokens", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static void write_file(const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fchmod(fileno(f), 0600);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void put(const char *text)
{
    write_file(text, strlen(text));
}

static hbd_right check(hbd_auth *a, const char *token)
{
    return hbd_auth_check(a, token, token != NULL ? strlen(token) : 0);
}

static void test_off_without_a_file(void **state)
{
    (void)state;
    hbd_auth *a = NULL;
    assert_int_equal(hbd_auth_open(&a, NULL, NULL), 0);
    assert_false(hbd_auth_enabled(a));
    assert_int_equal(check(a, NULL), HBD_RIGHT_OPERATOR);
    assert_int_equal(check(a, "anything"), HBD_RIGHT_OPERATOR);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_auth_reload(a, &err), HBEAT_ESTATE);
    hbd_auth_close(a);
    hbd_auth_close(NULL);
    assert_int_equal(hbd_auth_check(NULL, "x", 1), HBD_RIGHT_OPERATOR);
}

static void test_format_and_rights(void **state)
{
    (void)state;
    put("# tokens for hbeatd\n"
        "\n"
        "client cccccccccccccccc1\r\n"
        "   \t\n"
        "\toperator   oooooooooooooooo2   \n"
        "client dddddddddddddddddddddddddddddddddddd3\n"
        "client cccccccccccccccc1\n" /* listed twice with the same right: fine */
        "# client commented-out-token-4\n"
        "operator ~!@$%^&*()_+-=[]{}|;:',.<>/?5"); /* no final newline */
    hbd_auth *a = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_auth_open(&a, path, &err) != 0)
        fail_msg("%s", err.message);
    assert_true(hbd_auth_enabled(a));
    assert_int_equal(check(a, "cccccccccccccccc1"), HBD_RIGHT_CLIENT);
    assert_int_equal(check(a, "dddddddddddddddddddddddddddddddddddd3"), HBD_RIGHT_CLIENT);
    assert_int_equal(check(a, "oooooooooooooooo2"), HBD_RIGHT_OPERATOR);
    assert_int_equal(check(a, "~!@$%^&*()_+-=[]{}|;:',.<>/?5"), HBD_RIGHT_OPERATOR);
    assert_int_equal(check(a, "commented-out-token-4"), HBD_RIGHT_NONE);
    /* Only the exact token. */
    const char *near[] = {NULL,
                          "",
                          "cccccccccccccccc",
                          "cccccccccccccccc1x",
                          "cccccccccccccccc2",
                          "Cccccccccccccccc1",
                          "cccccccccccccccc1cccccccccccccccc1",
                          "c",
                          "oooooooooooooooo2 ",
                          "client cccccccccccccccc1"};
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
        if (check(a, near[i]) != HBD_RIGHT_NONE)
            fail_msg("\"%s\" was accepted", near[i] != NULL ? near[i] : "(null)");
    }
    /* The length given counts, not a NUL. */
    assert_int_equal(hbd_auth_check(a, "cccccccccccccccc1zzz", 17), HBD_RIGHT_CLIENT);
    assert_int_equal(hbd_auth_check(a, "cccccccccccccccc1", 16), HBD_RIGHT_NONE);
    assert_int_equal(hbd_auth_check(a, "cccccccccccccccc1", 0), HBD_RIGHT_NONE);
    hbd_auth_close(a);
}

static void test_empty_file_refuses_everything(void **state)
{
    (void)state;
    put("# nobody yet\n");
    hbd_auth *a = NULL;
    assert_int_equal(hbd_auth_open(&a, path, NULL), 0);
    assert_true(hbd_auth_enabled(a));
    assert_int_equal(check(a, "# nobody yet"), HBD_RIGHT_NONE);
    assert_int_equal(check(a, NULL), HBD_RIGHT_NONE);
    hbd_auth_close(a);
}

static void test_bad_files(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *says;
    } bad[] = {
        {"admin secret-secret-secret-1\n", "line 1: expected"},
        {"client good-good-good-good-1\nclient\n", "line 2: no token"},
        {"client secret-1\n", "line 1: a token must be 16 to 4096 bytes"},
        {"client secret secret secret 1\n", "line 1: a token is printable ASCII"},
        {"\n\noperator secret-secret-\x01secret\n", "line 3: a token is printable ASCII"},
        {"operator secret-secret-\xc3\xa9secret\n", "line 1: a token is printable ASCII"},
        {"client secret-secret-secret-1\noperator secret-secret-secret-1\n",
         "with two different rights"},
        {"Client secret-secret-secret-1\n", "line 1: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(bad[i].text);
        hbd_auth *a = (hbd_auth *)1;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbd_auth_open(&a, path, &err), HBEAT_EINVAL);
        assert_null(a);
        if (strstr(err.message, bad[i].says) == NULL)
            fail_msg("file %zu: \"%s\" does not say \"%s\"", i, err.message, bad[i].says);
        /* Never the secret itself. */
        assert_null(strstr(err.message, "secret"));
    }
    static char huge[1024 * 1024 + 10];
    memset(huge, '#', sizeof huge);
    write_file(huge, sizeof huge);
    hbd_auth *a = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_auth_open(&a, path, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "larger than"));
    static char long_token[5000];
    memcpy(long_token, "client ", 7);
    memset(long_token + 7, 'x', sizeof long_token - 8);
    long_token[sizeof long_token - 1] = '\0';
    put(long_token);
    assert_int_equal(hbd_auth_open(&a, path, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_auth_open(&a, "/nonexistent/tokens", &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "/nonexistent/tokens"));
    assert_int_equal(hbd_auth_open(&a, dir, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "not a regular file"));
}

static void test_reload(void **state)
{
    (void)state;
    put("client first-client-token-1\noperator first-operator-token-1\n");
    hbd_auth *a = NULL;
    assert_int_equal(hbd_auth_open(&a, path, NULL), 0);
    put("operator second-operator-token-2\n");
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_auth_reload(a, &err), 0);
    assert_int_equal(check(a, "second-operator-token-2"), HBD_RIGHT_OPERATOR);
    assert_int_equal(check(a, "first-operator-token-1"), HBD_RIGHT_NONE);
    assert_int_equal(check(a, "first-client-token-1"), HBD_RIGHT_NONE);
    /* Broken or gone: the tokens in force stay. */
    put("operator third-operator-token-3\nnonsense\n");
    assert_int_equal(hbd_auth_reload(a, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "line 2"));
    assert_int_equal(check(a, "second-operator-token-2"), HBD_RIGHT_OPERATOR);
    assert_int_equal(check(a, "third-operator-token-3"), HBD_RIGHT_NONE);
    unlink(path);
    assert_int_equal(hbd_auth_reload(a, &err), HBEAT_EINVAL);
    assert_int_equal(check(a, "second-operator-token-2"), HBD_RIGHT_OPERATOR);
    hbd_auth_close(a);
}

/* A FIFO where the file should be: refused at once (open() on a FIFO
   without O_NONBLOCK waits for a writer forever), at open and at reload,
   and the tokens in force stay. The alarm turns a hang into a failure. */
static void test_a_fifo_is_refused_without_blocking(void **state)
{
    (void)state;
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    hbd_auth *a = (hbd_auth *)1;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_auth_open(&a, fifo, &err), HBEAT_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.message, "not a regular file (a FIFO)"));
    assert_non_null(strstr(err.message, fifo));

    put("operator fifo-operator-token-1\n");
    assert_int_equal(hbd_auth_open(&a, path, NULL), 0);
    assert_int_equal(rename(fifo, path), 0);
    assert_int_equal(hbd_auth_reload(a, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "not a regular file (a FIFO)"));
    assert_int_equal(check(a, "fifo-operator-token-1"), HBD_RIGHT_OPERATOR);
    alarm(0);
    hbd_auth_close(a);
    unlink(path); /* the next test writes a file there */
}

/* Checks from several threads while the file is reloaded: every check sees
   one whole table or the other. */
typedef struct racer {
    hbd_auth *a;
    int bad;
} racer;

static void *check_loop(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 20000; i++) {
        hbd_right x = check(r->a, "racing-client-token-A");
        hbd_right y = check(r->a, "racing-operator-token-B");
        /* A is a client in both tables; B an operator in one, absent in the other. */
        if (x != HBD_RIGHT_CLIENT || (y != HBD_RIGHT_OPERATOR && y != HBD_RIGHT_NONE))
            r->bad++;
    }
    return NULL;
}

static void test_checks_race_reloads(void **state)
{
    (void)state;
    put("client racing-client-token-A\noperator racing-operator-token-B\n");
    hbd_auth *a = NULL;
    assert_int_equal(hbd_auth_open(&a, path, NULL), 0);
    racer r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i].a = a;
        r[i].bad = 0;
        assert_int_equal(pthread_create(&t[i], NULL, check_loop, &r[i]), 0);
    }
    for (int i = 0; i < 50; i++) {
        put(i % 2 == 0 ? "client racing-client-token-A\n"
                       : "client racing-client-token-A\noperator racing-operator-token-B\n");
        assert_int_equal(hbd_auth_reload(a, NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].bad, 0);
    }
    hbd_auth_close(a);
}

int main(void)
{
    /* Quiet (and links the log before the library that uses it). */
    hbd_log_set_level(HBEAT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_without_a_file),
        cmocka_unit_test(test_format_and_rights),
        cmocka_unit_test(test_empty_file_refuses_everything),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_a_fifo_is_refused_without_blocking),
        cmocka_unit_test(test_checks_race_reloads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
