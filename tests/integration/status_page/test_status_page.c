/*
 * The status page (GET /) in headless Chromium against a real hbeatd with
 * runs in several states: running and fresh, running and near its
 * deadline, late, reaped to E, done, and never beaten; one of them with
 * a run id and a workflow id above 2^53, which must show exactly. Chromium renders the
 * page (--dump-dom) and the test reads the table it built; a second run
 * takes a screenshot, kept in <build>/artifacts/status_page.png.
 *
 * "Near" and "late" depend on time, so the test does not wait for them:
 * it stops hbeatd, moves two runs' beat and deadline in the SQLite file by
 * hours (near: 10000 s left of a 100000 s window; late: 600 s past), and
 * starts hbeatd again. The margins are so wide that no machine is too slow
 * or too fast for them, and hbeatd's start-up grace (one full window) keeps
 * the late run from being reaped while the page looks at it.
 *
 * Exits 77 (CTest SKIP_RETURN_CODE) when no Chromium is installed.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE   700

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "support/hbeatd_harness.h"

#define SKIP       77
#define WAIT_S     20.0
#define CHROME_T_S 120

static char chromium[512];

/* The first of these on PATH (or $HBEAT_CHROMIUM). */
static int find_chromium(void)
{
    const char *env = getenv("HBEAT_CHROMIUM");
    if (env != NULL && env[0] != '\0') {
        snprintf(chromium, sizeof chromium, "%s", env);
        return access(chromium, X_OK) == 0 ? 0 : -1;
    }
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = path;
        while (*p != '\0') {
            const char *colon = strchr(p, ':');
            size_t n = colon != NULL ? (size_t)(colon - p) : strlen(p);
            snprintf(chromium, sizeof chromium, "%.*s/%s", (int)n, p, names[i]);
            if (n > 0 && access(chromium, X_OK) == 0)
                return 0;
            p = colon != NULL ? colon + 1 : p + n;
        }
    }
    return -1;
}

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 4096) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* Runs Chromium headless on `url` with `mode` (--dump-dom, or
   --screenshot=...), its stdout into `out_path`. Returns its exit status. */
static int run_chromium(const char *work, const char *url, const char *mode, const char *out_path)
{
    char profile[600], errlog[700], datadir_arg[700];
    snprintf(profile, sizeof profile, "%s/chromium-profile-XXXXXX", work);
    if (mkdtemp(profile) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(datadir_arg, sizeof datadir_arg, "--user-data-dir=%s", profile);
    snprintf(errlog, sizeof errlog, "%s/chromium.log", work);
    const char *argv[] = {chromium,
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-quic",
                          "--no-first-run",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          datadir_arg,
                          "--virtual-time-budget=5000",
                          "--window-size=1200,700",
                          mode,
                          url,
                          NULL};
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        unsetenv("http_proxy");
        unsetenv("https_proxy");
        unsetenv("HTTP_PROXY");
        unsetenv("HTTPS_PROXY");
        execv(chromium, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    double t0 = mono_now();
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (mono_now() - t0 > CHROME_T_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            rm_rf(profile);
            fail_msg("chromium did not finish within %d s (log: %s)", CHROME_T_S, errlog);
        }
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    rm_rf(profile);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- the runs ------------------------------------------------------------ */

/* Above 2^53, where a double no longer holds every integer: JavaScript
   would show these as ...992 and ...996. */
#define BIG_RUN      INT64_C(9007199254740993)
#define BIG_WORKFLOW INT64_C(9007199254740995)

typedef struct fx {
    hbd_harness h;
    hbeat_gateway *rest;
    int64_t fresh, near, late, reaped, done, registered, big;
} fx;

static int64_t create(fx *f, const char *status)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_run_create(f->rest, 11, status, &run, &err) != 0)
        fail_msg("create run: %s", err.message);
    return run.workflow_run_id;
}

static void beat(fx *f, int64_t run, const char *status, double increment)
{
    char held[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_log_heartbeat(f->rest, run, status, increment, held, &err) != 0)
        fail_msg("beat run %lld: %s", (long long)run, err.message);
    assert_string_equal(held, status);
}

static void open_gateway(fx *f)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&f->rest, f->h.rest_url, &o, &err) != 0)
        fail_msg("gateway: %s", err.message);
}

static void wait_status(fx *f, int64_t run, const char *want)
{
    double t0 = mono_now();
    for (;;) {
        hbeat_run_info info;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_run_get(f->rest, run, &info, &err), 0);
        if (strcmp(info.status, want) == 0)
            return;
        if (mono_now() - t0 > WAIT_S)
            fail_msg("run %lld is %s, want %s", (long long)run, info.status, want);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

static void set_ids(sqlite3 *db, int64_t run, int64_t id, int64_t workflow_id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "UPDATE runs SET id = ?1, workflow_id = ?2 WHERE id = ?3", -1, &st,
                           NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, workflow_id);
    sqlite3_bind_int64(st, 3, run);
    if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1)
        fail_msg("update run %lld: %s", (long long)run, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

static void set_times(sqlite3 *db, int64_t run, double last_heartbeat, double deadline)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "UPDATE runs SET last_heartbeat = ?1, deadline = ?2 WHERE id = ?3", -1, &st, NULL);
    if (rc != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    sqlite3_bind_double(st, 1, last_heartbeat);
    sqlite3_bind_double(st, 2, deadline);
    sqlite3_bind_int64(st, 3, run);
    if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1)
        fail_msg("update run %lld: %s", (long long)run, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    /* A fast reaper for the run that must be reaped; after the restart
       its start-up grace (the longest window, 100000 s) holds it back. */
    static const char *const args[] = {"--reap-interval", "0.05", NULL};
    assert_int_equal(hbd_harness_start(&f->h, args), 0);
    open_gateway(f);

    f->reaped = create(f, "R");
    beat(f, f->reaped, "R", 0.001);
    wait_status(f, f->reaped, "E");
    f->fresh = create(f, "R");
    beat(f, f->fresh, "R", 3600);
    f->near = create(f, "R");
    beat(f, f->near, "R", 3600);
    f->late = create(f, "R");
    beat(f, f->late, "R", 3600);
    f->done = create(f, "R");
    beat(f, f->done, "R", 600);
    beat(f, f->done, "D", 600);
    f->registered = create(f, "G");
    int64_t big = create(f, "G");

    hbeat_gateway_free(f->rest);
    f->rest = NULL;
    assert_int_equal(hbd_harness_stop(&f->h), 0);

    sqlite3 *db = NULL;
    if (sqlite3_open(f->h.db_path, &db) != SQLITE_OK)
        fail_msg("open %s: %s", f->h.db_path, sqlite3_errmsg(db));
    double now = wall_now();
    set_times(db, f->near, now - 90000, now + 10000);
    set_times(db, f->late, now - 700, now - 600);
    /* Ids that only exact integers can show: hbeatd takes any 64-bit id
       its store holds. */
    set_ids(db, big, BIG_RUN, BIG_WORKFLOW);
    f->big = BIG_RUN;
    sqlite3_close(db);

    assert_int_equal(hbd_harness_restart(&f->h), 0);
    open_gateway(f);
    hbeat_run_info info;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_get(f->rest, f->late, &info, &err), 0);
    assert_string_equal(info.status, "R");
    assert_true(info.deadline < now);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    hbeat_gateway_free(f->rest);
    int rc = hbd_harness_stop(&f->h);
    hbd_harness_cleanup(&f->h);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

/* ---- reading the DOM Chromium dumped ------------------------------------- */

typedef struct row {
    int64_t id;
    char status[8];
    char mark[8];
    char cls[64];
    char text[512]; /* the row's text, tags removed */
} row;

static void attr(const char *tag, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(tag, key);
    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(key);
    const char *q = strchr(p, '"');
    if (q == NULL)
        return;
    snprintf(out, cap, "%.*s", (int)(q - p), p);
}

/* The <tr class="run ..."> rows of the table, in order. */
static size_t rows_of(const char *dom, row *rows, size_t max)
{
    size_t n = 0;
    const char *p = dom;
    while (n < max && (p = strstr(p, "<tr class=\"run")) != NULL) {
        const char *gt = strchr(p, '>');
        const char *end = strstr(p, "</tr>");
        if (gt == NULL || end == NULL)
            break;
        char tag[512];
        snprintf(tag, sizeof tag, "%.*s", (int)(gt - p + 1), p);
        row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        char id[32];
        attr(tag, "data-id", id, sizeof id);
        r->id = strtoll(id, NULL, 10);
        attr(tag, "data-status", r->status, sizeof r->status);
        attr(tag, "data-mark", r->mark, sizeof r->mark);
        attr(tag, "class", r->cls, sizeof r->cls);
        size_t t = 0;
        int in_tag = 0;
        for (const char *c = gt + 1; c < end && t + 1 < sizeof r->text; c++) {
            if (*c == '<')
                in_tag = 1;
            else if (*c == '>') {
                in_tag = 0;
                r->text[t++] = '|';
            } else if (!in_tag)
                r->text[t++] = *c;
        }
        r->text[t] = '\0';
        p = end;
    }
    return n;
}

static const row *find_row(const row *rows, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (rows[i].id == id)
            return &rows[i];
    }
    fail_msg("no row for run %lld", (long long)id);
    return rows; /* not reached */
}

/* The text of the element with id="id" (digits only, for the counters). */
static long counter(const char *dom, const char *id)
{
    char key[64];
    snprintf(key, sizeof key, "id=\"%s\">", id);
    const char *p = strstr(dom, key);
    if (p == NULL)
        fail_msg("no element #%s", id);
    return strtol(p + strlen(key), NULL, 10);
}

static char *dump_dom(fx *f, const char *fragment)
{
    char url[400], out[600];
    snprintf(url, sizeof url, "http://%s/%s", f->h.rest_host_port, fragment);
    snprintf(out, sizeof out, "%s/dom.html", f->h.dir);
    int rc = run_chromium(f->h.dir, url, "--dump-dom", out);
    if (rc != 0)
        fail_msg("chromium --dump-dom exited %d (see %s/chromium.log)", rc, f->h.dir);
    char *dom = read_file(out, NULL);
    assert_non_null(dom);
    return dom;
}

static void check_row(const row *r, const char *status, const char *mark)
{
    if (strcmp(r->status, status) != 0 || strcmp(r->mark, mark) != 0) {
        fail_msg("run %lld: status %s mark %s, want %s %s (row: %s)", (long long)r->id, r->status,
                 r->mark, status, mark, r->text);
    }
    char want_cls[32] = "run";
    if (strcmp(mark, "none") != 0)
        snprintf(want_cls, sizeof want_cls, "run %s", mark);
    assert_string_equal(r->cls, want_cls);
}

static void test_table_shows_every_run_with_its_marks(void **state)
{
    fx *f = *state;
    char *dom = dump_dom(f, "");
    row rows[32];
    size_t n = rows_of(dom, rows, 32);
    if (n != 7) {
        fail_msg("%zu rows, want 7; the DOM:\n%s", n, dom);
    }
    /* Ascending ids, as listed. */
    for (size_t i = 1; i < n; i++)
        assert_true(rows[i].id > rows[i - 1].id);

    const row *r = find_row(rows, n, f->fresh);
    check_row(r, "R", "none");
    assert_non_null(strstr(r->text, "running"));
    assert_null(strstr(r->text, "LATE"));
    assert_null(strstr(r->text, "NEAR"));

    r = find_row(rows, n, f->near);
    check_row(r, "R", "near");
    assert_non_null(strstr(r->text, "|NEAR|"));
    /* 10000 s left: "2 h 4x m"; 90000 s since the beat: "1 d 1 h". */
    assert_non_null(strstr(r->text, "|2 h "));
    assert_non_null(strstr(r->text, "|1 d 1 h|"));

    r = find_row(rows, n, f->late);
    check_row(r, "R", "late");
    assert_non_null(strstr(r->text, "|LATE|"));
    assert_non_null(strstr(r->text, "late by 1"));

    r = find_row(rows, n, f->reaped);
    check_row(r, "E", "none");
    assert_non_null(strstr(r->text, "error"));
    assert_non_null(strstr(r->text, "|—|")); /* no deadline kept for E */

    r = find_row(rows, n, f->done);
    check_row(r, "D", "none");
    assert_non_null(strstr(r->text, "done"));

    r = find_row(rows, n, f->registered);
    check_row(r, "G", "none");
    assert_non_null(strstr(r->text, "|never|"));

    /* Ids above 2^53, digit for digit, in the row and its data-id. */
    r = find_row(rows, n, f->big);
    check_row(r, "G", "none");
    if (strstr(r->text, "|9007199254740993|") == NULL ||
        strstr(r->text, "|9007199254740995|") == NULL)
        fail_msg("run %lld of workflow %lld shows as: %s", (long long)BIG_RUN,
                 (long long)BIG_WORKFLOW, r->text);

    assert_int_equal(counter(dom, "count-all"), 7);
    assert_int_equal(counter(dom, "count-shown"), 7);
    assert_int_equal(counter(dom, "count-late"), 1);
    assert_int_equal(counter(dom, "count-near"), 1);
    /* The legend names both marks. */
    assert_non_null(strstr(dom, "class=\"swatch late\""));
    assert_non_null(strstr(dom, "class=\"swatch near\""));
    /* No error banner. */
    assert_non_null(strstr(dom, "id=\"message\" class=\"ok\""));
    free(dom);
}

static void test_status_filter(void **state)
{
    fx *f = *state;
    char *dom = dump_dom(f, "#status=E,D");
    row rows[32];
    size_t n = rows_of(dom, rows, 32);
    assert_int_equal(n, 2);
    check_row(find_row(rows, n, f->reaped), "E", "none");
    check_row(find_row(rows, n, f->done), "D", "none");
    assert_int_equal(counter(dom, "count-all"), 7);
    assert_int_equal(counter(dom, "count-shown"), 2);
    /* The late run is still counted while hidden. */
    assert_int_equal(counter(dom, "count-late"), 1);
    /* Each status's box counts all its runs, shown or not. */
    assert_non_null(strstr(dom, " R (3)"));
    assert_non_null(strstr(dom, " E (1)"));
    assert_non_null(strstr(dom, " T (0)"));
    free(dom);
}

static void test_screenshot_is_kept(void **state)
{
    fx *f = *state;
    char url[400], arg[700], out[600], png[600];
    snprintf(url, sizeof url, "http://%s/", f->h.rest_host_port);
    mkdir(OBS_ARTIFACT_DIR, 0755);
    snprintf(png, sizeof png, "%s/status_page.png", OBS_ARTIFACT_DIR);
    remove(png);
    snprintf(arg, sizeof arg, "--screenshot=%s", png);
    snprintf(out, sizeof out, "%s/screenshot.out", f->h.dir);
    int rc = run_chromium(f->h.dir, url, arg, out);
    if (rc != 0)
        fail_msg("chromium --screenshot exited %d (see %s/chromium.log)", rc, f->h.dir);
    size_t len = 0;
    char *data = read_file(png, &len);
    assert_non_null(data);
    static const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(len > 4096);
    assert_memory_equal(data, magic, sizeof magic);
    /* IHDR: width and height, big-endian, after the 8-byte magic and the
       chunk's length and type. */
    const unsigned char *u = (const unsigned char *)data;
    unsigned long w = (unsigned long)u[16] << 24 | u[17] << 16 | u[18] << 8 | u[19];
    unsigned long h = (unsigned long)u[20] << 24 | u[21] << 16 | u[22] << 8 | u[23];
    assert_int_equal(w, 1200);
    assert_int_equal(h, 700);
    free(data);
    fprintf(stderr, "status page screenshot: %s\n", png);
}

int main(void)
{
    if (find_chromium() != 0) {
        printf("SKIP: no chromium on PATH (install Debian's chromium package, or set "
               "HBEAT_CHROMIUM)\n");
        return SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_shows_every_run_with_its_marks),
        cmocka_unit_test(test_status_filter),
        cmocka_unit_test(test_screenshot_is_kept),
    };
    return cmocka_run_group_tests_name("status_page", tests, setup, teardown);
}
