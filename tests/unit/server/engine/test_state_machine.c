/*
 * The state machine over every ordered pair of the 13 statuses, against a
 * table written out here independently of the implementation's rule list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "state_machine.h"

static const char codes[] = "GLBIORDSECHTA";

/* expected[from][to]: 'v' valid, 'u' untimely, '.' invalid. Rows and
   columns in the order of `codes`. Jobmon's: G->L, L->B, L->A, B->I,
   I->O, O->R, I->E, O->E, B->E, B->C, B->H, R->D, R->S, R->C, R->H, R->E,
   C->T, H->T; untimely R->R, L->L. */
static const char *const expected[13] = {
    /*        GLBIORDSECHTA */
    /* G */ ".v...........",
    /* L */ ".uv.........v",
    /* B */ "...v....vvv..",
    /* I */ "....v...v....",
    /* O */ ".....v..v....",
    /* R */ ".....uvvvvv..",
    /* D */ ".............",
    /* S */ ".............",
    /* E */ ".............",
    /* C */ "...........v.",
    /* H */ "...........v.",
    /* T */ ".............",
    /* A */ ".............",
};

static void test_every_pair(void **state)
{
    int valid = 0, untimely = 0;
    for (int f = 0; f < 13; f++) {
        for (int t = 0; t < 13; t++) {
            char from[2] = {codes[f], 0}, to[2] = {codes[t], 0};
            int fi = hbd_status_index(from), ti = hbd_status_index(to);
            hbd_transition want = expected[f][t] == 'v'   ? HBD_TR_VALID
                                  : expected[f][t] == 'u' ? HBD_TR_UNTIMELY
                                                          : HBD_TR_INVALID;
            if (hbd_transition_check(fi, ti) != want)
                fail_msg("%s -> %s: got %d, expected %d", from, to, hbd_transition_check(fi, ti),
                         want);
            valid += want == HBD_TR_VALID;
            untimely += want == HBD_TR_UNTIMELY;
        }
    }
    /* The table itself matches Jobmon's counts. */
    assert_int_equal(valid, 18);
    assert_int_equal(untimely, 2);
}

static void test_reap_targets(void **state)
{
    /* L->A, C->T, H->T, R->E; nothing else is reaped. */
    const char *targets = "?A???E???TT??"; /* by `codes` */
    for (int f = 0; f < 13; f++) {
        char from[2] = {codes[f], 0};
        int got = hbd_reap_target(hbd_status_index(from));
        if (targets[f] == '?') {
            assert_int_equal(got, -1);
        } else {
            assert_true(got >= 0);
            assert_int_equal(hbd_status_token(got)[0], targets[f]);
            /* A reap is itself a valid transition. */
            assert_int_equal(hbd_transition_check(hbd_status_index(from), got), HBD_TR_VALID);
        }
    }
}

static void test_tokens(void **state)
{
    for (int i = 0; i < 13; i++) {
        char code[2] = {codes[i], 0};
        int idx = hbd_status_index(code);
        assert_true(idx >= 0 && idx < HBD_ST_COUNT);
        assert_string_equal(hbd_status_token(idx), code);
    }
    const char *bad[] = {"", "X", "r", "RR", "R ", " R", "running", "\xc3\x89"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hbd_status_index(bad[i]), -1);
    assert_int_equal(hbd_status_index(NULL), -1);
    assert_null(hbd_status_token(-1));
    assert_null(hbd_status_token(HBD_ST_COUNT));
    assert_int_equal(hbd_transition_check(-1, 0), HBD_TR_INVALID);
    assert_int_equal(hbd_transition_check(0, HBD_ST_COUNT), HBD_TR_INVALID);
    assert_int_equal(hbd_reap_target(-1), -1);
    assert_int_equal(hbd_reap_target(HBD_ST_COUNT), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_reap_targets),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
