/* The in-memory run table: hash index and id-ordered array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runs.h"

static void test_add_find(void **state)
{
    hbd_run_table runs;
    hbd_run_table_init(&runs);
    assert_null(hbd_run_table_find(&runs, 1));
    /* Sparse ids, enough to grow both the array and the index many times. */
    for (int64_t i = 1; i <= 20000; i++) {
        hbd_run_record rec;
        memset(&rec, 0, sizeof rec);
        rec.id = i * 3;
        rec.workflow_id = i;
        assert_non_null(hbd_run_table_add(&runs, &rec));
    }
    assert_int_equal(runs.count, 20000);
    for (int64_t i = 1; i <= 20000; i++) {
        hbd_run_record *r = hbd_run_table_find(&runs, i * 3);
        assert_non_null(r);
        assert_int_equal(r->workflow_id, i);
        assert_null(hbd_run_table_find(&runs, i * 3 + 1));
    }
    assert_null(hbd_run_table_find(&runs, 0));
    assert_null(hbd_run_table_find(&runs, -3));
    /* Ids only grow. */
    hbd_run_record old;
    memset(&old, 0, sizeof old);
    old.id = 60000;
    assert_null(hbd_run_table_add(&runs, &old));
    old.id = 5;
    assert_null(hbd_run_table_add(&runs, &old));
    hbd_run_table_free(&runs);
    hbd_run_table_free(&runs); /* idempotent */
}

static void test_after(void **state)
{
    hbd_run_table runs;
    hbd_run_table_init(&runs);
    assert_int_equal(hbd_run_table_after(&runs, 0), 0);
    for (int64_t id = 10; id <= 50; id += 10) {
        hbd_run_record rec;
        memset(&rec, 0, sizeof rec);
        rec.id = id;
        hbd_run_table_add(&runs, &rec);
    }
    assert_int_equal(hbd_run_table_after(&runs, 0), 0);
    assert_int_equal(hbd_run_table_after(&runs, 9), 0);
    assert_int_equal(hbd_run_table_after(&runs, 10), 1);
    assert_int_equal(hbd_run_table_after(&runs, 11), 1);
    assert_int_equal(hbd_run_table_after(&runs, 49), 4);
    assert_int_equal(hbd_run_table_after(&runs, 50), 5);
    assert_int_equal(hbd_run_table_after(&runs, INT64_MAX), 5);
    hbd_run_table_free(&runs);
}

static void test_record_is_compact(void **state)
{
    /* hbeatd is sized for 100,000s of runs (bench: < 512 bytes each). */
    assert_true(sizeof(hbd_run_record) <= 56);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find),
        cmocka_unit_test(test_after),
        cmocka_unit_test(test_record_is_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
