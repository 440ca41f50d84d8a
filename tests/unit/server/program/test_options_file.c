/* hbeatd's configuration file (--config): its syntax, its errors and its
   place between the defaults and the environment. */
#define _POSIX_C_SOURCE 200809L

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

#include "hbeat/log.h"
#include "options.h"
#include "options_file.h"

static hbd_options o;
static char err[1024];
static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hbeat-conf-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/hbeatd.conf", dir);
    unsetenv("HBEATD_CONFIG");
    unsetenv("HBEATD_DB");
    unsetenv("HBEATD_LISTEN");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hbd_options_free(&o);
    unlink(path);
    rmdir(dir);
    unsetenv("HBEATD_CONFIG");
    unsetenv("HBEATD_DB");
    unsetenv("HBEATD_LISTEN");
    return 0;
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* hbeatd --config <path> followed by `extra` (NULL-terminated). */
static int parse(const char *const *extra)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = "hbeatd";
    argv[argc++] = "--config";
    argv[argc++] = path;
    for (; extra != NULL && *extra != NULL; extra++)
        argv[argc++] = (char *)*extra;
    argv[argc] = NULL;
    hbd_options_free(&o);
    err[0] = '\0';
    return hbd_options_parse(&o, argc, argv, err, sizeof err);
}

static void test_settings(void **state)
{
    (void)state;
    write_file("# a comment\n"
               "   # an indented one\n"
               "\n"
               "listen = tcp://127.0.0.1:1\n"
               "listen=ipc:///tmp/a #b.sock\n"
               "http = none\r\n"
               "db = /var/lib/hbeat/x.db\n"
               "\tlog-level =   debug  \n"
               "allow-remote = yes\n"
               "max-request = 2048\n"
               "read-timeout = 1.5\n");
    assert_int_equal(parse(NULL), 0);
    assert_string_equal(o.config, path);
    assert_int_equal(o.nlisten, 2);
    assert_string_equal(o.listen[0], "tcp://127.0.0.1:1");
    /* A value runs to the end of its line: '#' inside it is no comment. */
    assert_string_equal(o.listen[1], "ipc:///tmp/a #b.sock");
    assert_false(o.http_enabled);
    assert_string_equal(o.db, "/var/lib/hbeat/x.db");
    assert_int_equal(o.log_level, HBEAT_LOG_DEBUG);
    assert_true(o.allow_remote);
    assert_int_equal(o.max_request, 2048);
    assert_true(o.read_timeout == 1.5);
}

/* Flags over environment over file over defaults. */
static void test_precedence(void **state)
{
    (void)state;
    write_file("db = file.db\nlisten = tcp://127.0.0.1:1\nlog-level = warn\nhttp = none\n");
    assert_int_equal(parse(NULL), 0);
    assert_string_equal(o.db, "file.db");
    assert_int_equal(o.reap_interval, 10); /* the default, untouched */
    setenv("HBEATD_DB", "env.db", 1);
    setenv("HBEATD_LISTEN", "tcp://127.0.0.1:2", 1);
    assert_int_equal(parse(NULL), 0);
    assert_string_equal(o.db, "env.db");
    assert_int_equal(o.nlisten, 1);
    assert_string_equal(o.listen[0], "tcp://127.0.0.1:2");
    assert_int_equal(o.log_level, HBEAT_LOG_WARN);
    const char *flags[] = {"--db", "flag.db", "--log-level=error", NULL};
    assert_int_equal(parse(flags), 0);
    assert_string_equal(o.db, "flag.db");
    assert_int_equal(o.log_level, HBEAT_LOG_ERROR);
}

/* HBEATD_CONFIG names the file when --config does not. */
static void test_config_variable(void **state)
{
    (void)state;
    write_file("db = from-variable.db\n");
    setenv("HBEATD_CONFIG", path, 1);
    char *argv[] = {"hbeatd", NULL};
    hbd_options_free(&o);
    assert_int_equal(hbd_options_parse(&o, 1, argv, err, sizeof err), 0);
    assert_string_equal(o.db, "from-variable.db");
}

static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    /* Each file, and what its error says after "<path>:". */
    static const char *const cases[][2] = {
        {"# ok\ndb = x\nlisen = tcp://127.0.0.1:1\n", "3: unknown key 'lisen'"},
        {"max-request = 12\n", "1: max-request: expected a whole number"},
        {"db = x\njust words\n", "2: expected 'key = value'"},
        {"db =\n", "1: db: no value"},
        {"db = a\n\ndb = b\n", "3: db is given twice (first on line 1)"},
        {"config = /etc/other.conf\n", "1: unknown key 'config'"},
        {"allow-remote = maybe\n", "1: allow-remote: expected 1, yes"},
        /* A flag's spelling is not a key. */
        {"--db = x\n", "1: unknown key '--db'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cases[i][0]);
        assert_int_equal(parse(NULL), -1);
        char want[256];
        snprintf(want, sizeof want, "%s:%s", path, cases[i][1]);
        if (strstr(err, want) == NULL)
            fail_msg("error '%s' does not say '%s'", err, want);
    }
}

static void test_unreadable_files(void **state)
{
    (void)state;
    assert_int_equal(parse(NULL), -1); /* not written: missing */
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(parse(NULL), -1);
    assert_non_null(strstr(err, path));
    rmdir(path);
    write_file("db = a\n");
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputc('\0', f);
    fclose(f);
    assert_int_equal(parse(NULL), -1);
    assert_non_null(strstr(err, "NUL"));
}

/* --help and --version work whatever the file holds. */
static void test_help_skips_the_file(void **state)
{
    (void)state;
    write_file("nonsense\n");
    const char *help[] = {"--help", NULL};
    assert_int_equal(parse(help), 0);
    assert_true(o.help);
}

/* The packaged template parses (everything commented out), and
   uncommenting every line with a default gives the defaults again. */
static void test_template(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_non_null(mem);
    hbd_options_write_template(mem);
    assert_int_equal(fclose(mem), 0);
    for (size_t i = 0; i < hbd_options_count(); i++) {
        hbd_option_info info;
        hbd_options_describe(i, &info);
        char line[128];
        snprintf(line, sizeof line, "\n#%s = ", info.key);
        if (strcmp(info.key, "config") == 0)
            assert_null(strstr(text, line));
        else if (strstr(text, line) == NULL)
            fail_msg("the template lacks %s", info.key);
    }
    write_file(text);
    assert_int_equal(parse(NULL), 0);
    hbd_options defaults = o;
    defaults.file_text = NULL;
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (char *l = strtok(text, "\n"); l != NULL; l = strtok(NULL, "\n")) {
        /* "#key = default" lines: the ones with placeholders stay out. */
        if (l[0] == '#' && l[1] != ' ' && strpbrk(l, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == NULL)
            fprintf(f, "%s\n", l + 1);
    }
    fclose(f);
    free(text);
    assert_int_equal(parse(NULL), 0);
    assert_int_equal(o.nlisten, defaults.nlisten);
    assert_string_equal(o.listen[0], defaults.listen[0]);
    assert_string_equal(o.db, defaults.db);
    assert_int_equal(o.http_port, defaults.http_port);
    assert_int_equal(o.max_request, defaults.max_request);
    assert_int_equal(o.max_connections, defaults.max_connections);
    assert_int_equal(o.allow_remote, 0);
    assert_true(o.read_timeout == defaults.read_timeout);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_skips_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
