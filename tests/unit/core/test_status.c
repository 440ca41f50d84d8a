/* Status tokens: the validity rule and Jobmon's names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static void test_valid_tokens(void **state)
{
    (void)state;
    static const char *const good[] = {"R", "G", "ABCDEFGHIJKLMNO", "!", "~", "a1-_.", "x/y"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!hbeat_status_is_valid(good[i])) {
            fail_msg("\"%s\" should be valid", good[i]);
        }
    }
    /* Every printable ASCII character on its own. */
    for (int c = 0x21; c <= 0x7e; c++) {
        char s[2] = {(char)c, '\0'};
        assert_int_equal(hbeat_status_is_valid(s), 1);
    }
}

static void test_invalid_tokens(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "ABCDEFGHIJKLMNOP", " ", "R ", " R", "\t", "R\n", "\x7f", "\x80", "\xc3\xa9", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hbeat_status_is_valid(bad[i])) {
            fail_msg("token %zu should be invalid", i);
        }
    }
    assert_int_equal(hbeat_status_is_valid(NULL), 0);
    for (int c = 0x01; c <= 0x20; c++) {
        char s[2] = {(char)c, '\0'};
        assert_int_equal(hbeat_status_is_valid(s), 0);
    }
    /* Far too long: refused, whatever its length. */
    char longs[4096];
    memset(longs, 'R', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    assert_int_equal(hbeat_status_is_valid(longs), 0);
}

static void test_jobmon_names(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        const char *word;
    } codes[] = {
        {HBEAT_STATUS_REGISTERED, "registered"},
        {HBEAT_STATUS_LINKING, "linking"},
        {HBEAT_STATUS_BOUND, "bound"},
        {HBEAT_STATUS_INSTANTIATED, "instantiated"},
        {HBEAT_STATUS_LAUNCHED, "launched"},
        {HBEAT_STATUS_RUNNING, "running"},
        {HBEAT_STATUS_DONE, "done"},
        {HBEAT_STATUS_STOPPED, "stopped"},
        {HBEAT_STATUS_ERROR, "error"},
        {HBEAT_STATUS_COLD_RESUME, "cold"},
        {HBEAT_STATUS_HOT_RESUME, "hot"},
        {HBEAT_STATUS_TERMINATED, "terminated"},
        {HBEAT_STATUS_ABORTED, "aborted"},
    };
    const char *letters = "GLBIORDSECHTA";
    assert_int_equal(sizeof codes / sizeof codes[0], strlen(letters));
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_int_equal(codes[i].code[0], letters[i]);
        assert_int_equal(hbeat_status_is_valid(codes[i].code), 1);
        const char *name = hbeat_status_name(codes[i].code);
        if (!name) {
            fail_msg("no name for \"%s\"", codes[i].code);
        }
        /* Compare without regard to case or separators. */
        char lower[64];
        size_t n = 0;
        for (const char *p = name; *p && n + 1 < sizeof lower; p++) {
            lower[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        }
        lower[n] = '\0';
        if (!strstr(lower, codes[i].word)) {
            fail_msg("\"%s\" is called \"%s\"", codes[i].code, name);
        }
        if ((codes[i].code[0] == 'C' || codes[i].code[0] == 'H') && !strstr(lower, "resume")) {
            fail_msg("\"%s\" is called \"%s\"", codes[i].code, name);
        }
    }
    assert_string_equal(hbeat_status_name("R"), "running");
}

static void test_unknown_names(void **state)
{
    (void)state;
    assert_null(hbeat_status_name(NULL));
    assert_null(hbeat_status_name(""));
    assert_null(hbeat_status_name("X"));
    assert_null(hbeat_status_name("RR"));
    assert_null(hbeat_status_name("r"));
    assert_null(hbeat_status_name("R "));
    assert_null(hbeat_status_name("running"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_tokens),
        cmocka_unit_test(test_invalid_tokens),
        cmocka_unit_test(test_jobmon_names),
        cmocka_unit_test(test_unknown_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
