/*
 * hbeat-bench: runs every measurement of bench/ and prints one table.
 *
 *   latency     one beat at a time, all cases interleaved in small blocks so
 *               that noise from the rest of the machine hits them alike:
 *               the floors (TCP ping-pong, nng echo, libcurl against a
 *               minimal HTTP server), the same bytes sent raw to hbeatd, and
 *               hbeat_service_tick over fake, nng ipc/tcp and REST;
 *   throughput  closed-loop clients (1, 16, 256, 1024) on nng tcp, nng ipc
 *               and HTTP against the floor servers and hbeatd (durable and
 *               in-memory store);
 *   server RSS  hbeatd holding 100,000 runs;
 *   client      RSS, threads and heap allocations per beat of a process
 *               running one service, per transport;
 *   python      aiohttp with a kept-alive session against the same routes, and
 *               the Python package's tick (await tick(), tick_sync()) beside
 *               the C tick, interleaved with it.
 * Every ratio compares two things measured in this run.
 *
 * Options: --smoke (a few hundred beats, short windows), --out DIR (also
 * write table.txt and results.tsv there), --only LIST (latency, throughput,
 * rss, client, python), --duration S, --beats N, --sync MODE (passed to
 * the durable hbeatd as --sync when set).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hbeat/hbeat.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "load.h"
#include "pg_floor.h"
#include "pin.h"
#include "pyworker.h"
#include "util.h"

#ifndef BENCH_HBEATD
#define BENCH_HBEATD "hbeatd"
#endif
#ifndef BENCH_SERVER
#define BENCH_SERVER "hbeat-bench-server"
#endif
#ifndef BENCH_CLIENT
#define BENCH_CLIENT "hbeat-bench-client"
#endif
#ifndef BENCH_SHIM
#define BENCH_SHIM "libhbeat_bench_allocshim.so"
#endif
#ifndef BENCH_PY_SCRIPT
#define BENCH_PY_SCRIPT "aiohttp_beat.py"
#endif
#ifndef BENCH_PY_TICK_SCRIPT
#define BENCH_PY_TICK_SCRIPT "hbeat_beat.py"
#endif
#ifndef BENCH_PY_SRC
#define BENCH_PY_SRC "python/src"
#endif
#ifndef BENCH_HBEAT_LIB
#define BENCH_HBEAT_LIB "libhbeat.so"
#endif

#define INTERVAL  30.0
#define INCREMENT 93.0 /* interval * Jobmon's report_by_buffer 3.1 */
#define NRUNS     1024 /* runs the throughput clients beat */
#define LAT_RUN0  (NRUNS + 1)
#define PY_RUN    (NRUNS + 16) /* the Python package's cases (and PY_RUN - 1) */

/* ---- configuration --------------------------------------------------------- */

static struct {
    int smoke;
    const char *out;
    const char *only;
    double duration, warmup;
    int beats, block;
    const char *sync;
    int rss_runs;
    char tmp[256];
} cfg;

static int wanted(const char *part)
{
    if (cfg.only == NULL)
        return 1;
    const char *p = strstr(cfg.only, part);
    return p != NULL;
}

/* ---- the table ----------------------------------------------------------------- */

typedef enum { ROW_LAT, ROW_TPUT, ROW_MEM, ROW_TEXT } row_kind;

typedef struct row {
    row_kind kind;
    char key[64];
    char section[48];
    char label[112];
    double a, b; /* latency: median, p99 (µs); throughput: beats/s, p99 µs;
                    memory: value (a) with unit in note */
    double ratio;
    int decimals; /* of a memory row's value */
    char ref[64];
    char note[160];
} row;

static row rows[512];
static int nrows;

static row *add_row(row_kind kind, const char *section, const char *key, const char *fmt, ...)
{
    if (nrows == (int)(sizeof rows / sizeof rows[0]))
        bench_die("too many rows");
    row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->a = r->b = r->ratio = NAN;
    r->decimals = 1;
    snprintf(r->section, sizeof r->section, "%s", section);
    snprintf(r->key, sizeof r->key, "%s", key != NULL ? key : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->label, sizeof r->label, fmt, ap);
    va_end(ap);
    return r;
}

static row *find_row(const char *key)
{
    for (int i = 0; i < nrows; i++)
        if (strcmp(rows[i].key, key) == 0)
            return &rows[i];
    return NULL;
}

static double value_of(const char *key)
{
    row *r = find_row(key);
    return r != NULL ? r->a : NAN;
}

/* ratio of a to b's main figure; for latency a/b (>1 is slower), for
   throughput a/b (<1 is fewer beats/s). */
static void set_ratio(row *r, const char *ref_key, const char *ref_text)
{
    row *ref = find_row(ref_key);
    if (r == NULL || ref == NULL || !(ref->a > 0))
        return;
    r->ratio = r->a / ref->a;
    snprintf(r->ref, sizeof r->ref, "%s", ref_text);
}

static void fmt_num(char *out, size_t cap, double v, int decimals)
{
    if (isnan(v))
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.*f", decimals, v);
}

static void print_table(FILE *f, const char *machine)
{
    fprintf(f, "%s\n", machine);
    const char *section = "";
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        if (strcmp(r->section, section) != 0) {
            section = r->section;
            fprintf(f, "\n");
            switch (r->kind) {
            case ROW_LAT:
                fprintf(f, "%-62s %10s %10s %7s  %s\n", r->section, "median us", "p99 us", "ratio",
                        "ratio to");
                break;
            case ROW_TPUT:
                fprintf(f, "%-62s %10s %10s %7s  %s\n", r->section, "beats/s", "p99 us", "ratio",
                        "ratio to");
                break;
            case ROW_MEM:
                fprintf(f, "%-62s %10s %10s %7s  %s\n", r->section, "value", "", "", "");
                break;
            case ROW_TEXT:
                fprintf(f, "%s\n", r->section);
                break;
            }
        }
        char a[32], b[32], ratio[32];
        if (r->kind == ROW_TEXT) {
            fprintf(f, "  %s\n", r->label);
            continue;
        }
        fmt_num(a, sizeof a, r->a, r->kind == ROW_TPUT ? 0 : r->kind == ROW_MEM ? r->decimals : 1);
        fmt_num(b, sizeof b, r->b, r->kind == ROW_TPUT ? 0 : 1);
        fmt_num(ratio, sizeof ratio, r->ratio, 2);
        if (r->kind == ROW_MEM)
            fprintf(f, "  %-60s %10s %-10s %7s  %s\n", r->label, a, r->note, "", "");
        else
            fprintf(f, "  %-60s %10s %10s %7s  %s%s%s\n", r->label, a, b, ratio, r->ref,
                    r->note[0] ? "  " : "", r->note);
    }
}

static void write_tsv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    fprintf(f, "key\tsection\tlabel\ta\tb\tratio\tref\tnote\n");
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        fprintf(f, "%s\t%s\t%s\t%.3f\t%.3f\t%.4f\t%s\t%s\n", r->key, r->section, r->label, r->a,
                r->b, r->ratio, r->ref, r->note);
    }
    fclose(f);
}

/* ---- servers ------------------------------------------------------------------ */

typedef struct server {
    const char *name;
    pid_t pid;
    char dir[256];
    char ready[2048];
    int tcp_port;       /* nng tcp */
    char ipc_path[512]; /* nng ipc */
    int http_port;
    int ping_port; /* tcp ping-pong floor */
    char nng_tcp_url[128], nng_ipc_url[640], rest_url[128];
} server;

static int port_of(const char *url)
{
    const char *colon = strrchr(url, ':');
    return colon != NULL ? atoi(colon + 1) : 0;
}

static void parse_ready(server *s)
{
    char v[500];
    if (bench_ready_value(s->ready, "nng", "tcp://", v, sizeof v) == 0) {
        s->tcp_port = port_of(v);
        snprintf(s->nng_tcp_url, sizeof s->nng_tcp_url, "nng+tcp://127.0.0.1:%d", s->tcp_port);
    }
    if (bench_ready_value(s->ready, "nng", "ipc://", v, sizeof v) == 0) {
        snprintf(s->ipc_path, sizeof s->ipc_path, "%s", v + 6);
        snprintf(s->nng_ipc_url, sizeof s->nng_ipc_url, "nng+%s", v);
    }
    if (bench_ready_value(s->ready, "http", "http://", v, sizeof v) == 0) {
        char *slash = strchr(v + 7, '/');
        if (slash != NULL)
            *slash = '\0';
        s->http_port = port_of(v);
        snprintf(s->rest_url, sizeof s->rest_url, "http://127.0.0.1:%d/api/v3", s->http_port);
    }
    if (bench_ready_value(s->ready, "tcp", NULL, v, sizeof v) == 0)
        s->ping_port = port_of(v);
}

static void start_server(server *s, const char *name, char *const argv_in[], int argc_in)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    if (bench_mkdtemp(s->dir, sizeof s->dir, name) != 0)
        bench_die("mkdtemp: %s", strerror(errno));
    char ready[512], log[512];
    snprintf(ready, sizeof ready, "%s/ready", s->dir);
    snprintf(log, sizeof log, "%s/log", s->dir);
    char *argv[48];
    int n = 0;
    for (int i = 0; i < argc_in; i++)
        argv[n++] = argv_in[i];
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    argv[n] = NULL;
    s->pid = bench_spawn(argv, log, NULL);
    if (s->pid < 0 || bench_wait_ready(s->pid, ready, 20, s->ready, sizeof s->ready) != 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "cat %s >&2", log);
        if (system(cmd) != 0) {
        }
        bench_die("%s did not start", name);
    }
    parse_ready(s);
}

/* hbeatd on `db` (a SQLite file or a postgresql:// URI) with `extra`
   (NULL-terminated, or NULL) after the bench's own flags. */
static void start_hbeatd_on(server *s, const char *name, const char *db, const char *const *extra)
{
    char dir[256];
    if (bench_mkdtemp(dir, sizeof dir, "sock") != 0)
        bench_die("mkdtemp");
    static char ipc[16][600];
    static int k;
    int i = k++ % 16;
    snprintf(ipc[i], sizeof ipc[i], "ipc://%s/hbeatd.sock", dir);
    char *argv[40] = {
        BENCH_HBEATD, "--listen",    "tcp://127.0.0.1:0", "--listen", ipc[i],
        "--http",     "127.0.0.1:0", "--max-connections", "4096",     "--max-connections-per-ip",
        "0",          "--db",        (char *)db};
    int n = 13;
    for (int j = 0; extra != NULL && extra[j] != NULL && n < 38; j++)
        argv[n++] = (char *)extra[j];
    start_server(s, name, argv, n);
}

/* durable: 0 for ":memory:", else a SQLite file; sync: its --sync (NULL:
   hbeatd's default). */
static void start_hbeatd(server *s, const char *name, int durable, const char *sync)
{
    char dir[256];
    if (bench_mkdtemp(dir, sizeof dir, "sock") != 0)
        bench_die("mkdtemp");
    static char ipc[64][600], db[64][600];
    static int k;
    int i = k++ % 64;
    snprintf(ipc[i], sizeof ipc[i], "ipc://%s/hbeatd.sock", dir);
    char *argv[24];
    int n = 0;
    argv[n++] = BENCH_HBEATD;
    argv[n++] = "--listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--listen";
    argv[n++] = ipc[i];
    argv[n++] = "--http";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    /* 1024 clients from one address: lift the per-address and total
       connection limits, which are there for hostile peers. */
    argv[n++] = "--max-connections";
    argv[n++] = "4096";
    argv[n++] = "--max-connections-per-ip";
    argv[n++] = "0";
    argv[n++] = "--db";
    if (durable) {
        snprintf(db[i], sizeof db[i], "%s/hbeatd.db", dir);
        argv[n++] = db[i];
    } else {
        argv[n++] = ":memory:";
    }
    if (durable && sync != NULL) {
        argv[n++] = "--sync";
        argv[n++] = (char *)sync;
    }
    start_server(s, name, argv, n);
}

static void stop_server(server *s)
{
    if (s->pid > 0)
        bench_stop(s->pid);
    s->pid = 0;
    if (s->ipc_path[0] != '\0') {
        /* hbeatd's socket lives in a directory of its own. */
        char d[512];
        snprintf(d, sizeof d, "%s", s->ipc_path);
        char *slash = strrchr(d, '/');
        if (slash != NULL && strstr(d, "hbeat-bench-sock") != NULL) {
            *slash = '\0';
            bench_rmtree(d);
        }
    }
    bench_rmtree(s->dir);
}

/* ---- requests ------------------------------------------------------------------- */

static struct iovec pack_request(HbeatPb__Request *req)
{
    struct iovec v;
    v.iov_len = protobuf_c_message_get_packed_size(&req->base);
    v.iov_base = malloc(v.iov_len);
    if (v.iov_base == NULL)
        bench_die("out of memory");
    protobuf_c_message_pack(&req->base, v.iov_base);
    return v;
}

static struct iovec pb_heartbeat(int64_t run, uint64_t seq)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = run;
    hb.status = "R";
    hb.next_report_increment = INCREMENT;
    hb.sequence = seq;
    req.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    req.heartbeat = &hb;
    return pack_request(&req);
}

static struct iovec pb_create_run(void)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__CreateRunRequest cr = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    cr.workflow_id = 1;
    cr.status = "R";
    req.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    req.create_run = &cr;
    return pack_request(&req);
}

static const char json_body[] = "{\"status\": \"R\", \"next_report_increment\": 93.0}";

/* The request libcurl sends for hbeat's REST transport, byte for byte. */
static struct iovec http_heartbeat(int port, int64_t run)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "POST /api/v3/workflow_run/%lld/log_heartbeat?client_jobmon_version=%s "
                     "HTTP/1.1\r\n"
                     "Host: 127.0.0.1:%d\r\n"
                     "User-Agent: hbeat/%s\r\n"
                     "Content-Type: application/json\r\n"
                     "Accept: application/json\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n%s",
                     (long long)run, hbeat_version(), port, hbeat_version(), sizeof json_body - 1,
                     json_body);
    struct iovec v = {malloc((size_t)n), (size_t)n};
    if (v.iov_base == NULL)
        bench_die("out of memory");
    memcpy(v.iov_base, buf, (size_t)n);
    return v;
}

/* Creates `n` runs in status R (ids 1..n on a fresh hbeatd). */
static void create_runs(server *s, uint64_t n, unsigned int clients)
{
    struct iovec req = pb_create_run();
    load_opts o = {0};
    o.proto = LOAD_SP_TCP;
    o.host = "127.0.0.1";
    o.port = s->tcp_port;
    o.clients = clients;
    o.total = n;
    o.reqs = &req;
    o.nreqs = 1;
    load_result r;
    char err[256];
    if (load_run(&o, &r, err, sizeof err) != 0 || r.errors != 0 || r.done != n)
        bench_die("creating %llu runs on %s: %s (%llu done, %llu errors)", (unsigned long long)n,
                  s->name, err, (unsigned long long)r.done, (unsigned long long)r.errors);
    free(req.iov_base);
}

/* ---- latency cases ---------------------------------------------------------------- */

typedef struct lcase lcase;
struct lcase {
    const char *key;
    char label[112];
    const char *ref_key;
    const char *ref_text;
    int (*once)(lcase *c);
    /* Instead of once: n beats timed by the case itself, kept in s unless
       a warm-up (keep 0). */
    int (*block)(lcase *c, int n, int keep);
    void (*close)(lcase *c);
    bench_samples s;
    int failed;
    char err[256];
    /* state */
    int fd;
    char buf[64];
    sem_t done;
    int async_rc;
    nng_socket sock;
    struct iovec req;
    CURL *curl;
    struct curl_slist *hdrs;
    hbeat_gateway *gw;
    hbeat_service *svc;
    bench_pyworker py;
    bench_pg_floor *pg;
    pid_t server, database; /* pinned with the case (case_curl_pinned) */
};

static lcase lcases[32];
static int nlcases;

static lcase *new_case(const char *key, const char *ref_key, const char *ref_text, const char *fmt,
                       ...)
{
    lcase *c = &lcases[nlcases++];
    memset(c, 0, sizeof *c);
    c->key = key;
    c->ref_key = ref_key;
    c->ref_text = ref_text;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->label, sizeof c->label, fmt, ap);
    va_end(ap);
    bench_samples_init(&c->s, (size_t)cfg.beats + 16);
    return c;
}

static int ping_once(lcase *c)
{
    if (write(c->fd, c->buf, 30) != 30)
        return -1;
    size_t got = 0;
    while (got < 30) {
        ssize_t n = read(c->fd, c->buf + got, 30 - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static void ping_close(lcase *c)
{
    close(c->fd);
}

static void case_ping(const char *key, int port)
{
    lcase *c = new_case(key, NULL, NULL, "floor: loopback TCP ping-pong, 30 bytes");
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        bench_die("connect ping-pong: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(c->buf, 'x', 30);
    c->once = ping_once;
    c->close = ping_close;
}

static int nng_once(lcase *c)
{
    int rv = nng_send(c->sock, c->req.iov_base, c->req.iov_len, 0);
    if (rv == 0) {
        void *p;
        size_t sz;
        rv = nng_recv(c->sock, &p, &sz, NNG_FLAG_ALLOC);
        if (rv == 0) {
            /* field 1 of Reply is the error case */
            int bad = sz > 0 && ((unsigned char *)p)[0] == 0x0a;
            nng_free(p, sz);
            if (bad) {
                snprintf(c->err, sizeof c->err, "error reply");
                return -1;
            }
        }
    }
    if (rv != 0)
        snprintf(c->err, sizeof c->err, "%s", nng_strerror(rv));
    return rv != 0 ? -1 : 0;
}

static void nng_case_close(lcase *c)
{
    nng_close(c->sock);
    free(c->req.iov_base);
}

static lcase *case_nng_raw(const char *key, const char *ref_key, const char *ref_text,
                           const char *client_url, int64_t run, const char *label)
{
    lcase *c = new_case(key, ref_key, ref_text, "%s", label);
    const char *url = strncmp(client_url, "nng+", 4) == 0 ? client_url + 4 : client_url;
    int rv = nng_req0_open(&c->sock);
    if (rv == 0)
        rv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, 10000);
    if (rv == 0)
        rv = nng_dial(c->sock, url, NULL, 0);
    if (rv != 0)
        bench_die("nng dial %s: %s", url, nng_strerror(rv));
    c->req = pb_heartbeat(run, 1);
    c->once = nng_once;
    c->close = nng_case_close;
    return c;
}

static size_t curl_sink(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static int curl_once(lcase *c)
{
    CURLcode rc = curl_easy_perform(c->curl);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
        snprintf(c->err, sizeof c->err, "curl: %s, HTTP %ld", curl_easy_strerror(rc), status);
        return -1;
    }
    return 0;
}

static void curl_case_close(lcase *c)
{
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->hdrs);
}

static lcase *case_curl_raw(const char *key, const char *ref_key, const char *ref_text,
                            const char *base, int64_t run, const char *label)
{
    lcase *c = new_case(key, ref_key, ref_text, "%s", label);
    char url[512], ua[64];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat?client_jobmon_version=%s", base,
             (long long)run, hbeat_version());
    snprintf(ua, sizeof ua, "hbeat/%s", hbeat_version());
    c->curl = curl_easy_init();
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    c->hdrs = curl_slist_append(c->hdrs, "Accept: application/json");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, json_body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)(sizeof json_body - 1));
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    c->once = curl_once;
    c->close = curl_case_close;
    return c;
}

static int pg_floor_once(lcase *c)
{
    return bench_pg_floor_once(c->pg, c->err, sizeof c->err);
}

static void pg_floor_case_close(lcase *c)
{
    bench_pg_floor_close(c->pg);
}

static lcase *case_pg_floor(const char *key, const char *ref_key, const char *ref_text,
                            const char *uri, int64_t run, const char *label)
{
    lcase *c = new_case(key, ref_key, ref_text, "%s", label);
    char err[256];
    c->pg = bench_pg_floor_open(uri, run, err, sizeof err);
    if (c->pg == NULL)
        bench_die("%s", err);
    c->once = pg_floor_once;
    c->close = pg_floor_case_close;
    return c;
}

/* The case's beats with the bench, the server and the database (each
   thread, each backend) all on CPU 0; every CPU again afterwards. */
static int pinned_block(lcase *c, int n, int keep)
{
    int rc = bench_pin_process(0, 0) == 0 && bench_pin_process(c->server, 0) == 0 &&
                     bench_pin_family(c->database, 0) == 0
                 ? 0
                 : -1;
    if (rc != 0)
        snprintf(c->err, sizeof c->err, "cannot pin the processes to CPU 0");
    for (int k = 0; k < n && rc == 0; k++) {
        int64_t t0 = bench_now_ns();
        rc = c->once(c);
        if (rc == 0 && keep)
            bench_samples_add(&c->s, bench_now_ns() - t0);
    }
    bench_pin_family(c->database, -1);
    bench_pin_process(c->server, -1);
    bench_pin_process(0, -1);
    return rc;
}

static void case_curl_pinned(const char *key, const char *ref_key, const char *ref_text,
                             const char *base, int64_t run, pid_t server_pid, pid_t database_pid,
                             const char *label)
{
    lcase *c = case_curl_raw(key, ref_key, ref_text, base, run, label);
    c->server = server_pid;
    c->database = database_pid;
    c->block = pinned_block;
}

static int service_once(lcase *c)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_tick(c->svc, NULL, &err);
    if (rc != 0)
        snprintf(c->err, sizeof c->err, "%s", err.message);
    return rc;
}

static void service_close(lcase *c)
{
    hbeat_service_free(c->svc);
    hbeat_gateway_free(c->gw);
}

static lcase *case_service(const char *key, const char *ref_key, const char *ref_text,
                           const char *url, int64_t run, const char *label)
{
    lcase *c = new_case(key, ref_key, ref_text, "%s", label);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway_options go = HBEAT_GATEWAY_OPTIONS_INIT;
    if (hbeat_gateway_open(&c->gw, url, &go, &err) != 0)
        bench_die("open %s: %s", url, err.message);
    hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
    so.workflow_run_id = run;
    so.interval = INTERVAL;
    if (hbeat_service_new(&c->svc, c->gw, &so, &err) != 0)
        bench_die("service: %s", err.message);
    c->once = service_once;
    c->close = service_close;
    return c;
}

static void run_latency_cases(const char *section)
{
    int warm = cfg.smoke ? 20 : 200;
    for (int i = 0; i < nlcases; i++) {
        lcase *c = &lcases[i];
        if (c->block != NULL)
            c->failed = c->block(c, warm, 0) != 0;
        for (int k = 0; k < warm && !c->failed && c->block == NULL; k++)
            c->failed = c->once(c) != 0;
    }
    /* Round robin in blocks: a burst of noise lands on every case alike. */
    for (int done = 0; done < cfg.beats; done += cfg.block) {
        int n = cfg.beats - done < cfg.block ? cfg.beats - done : cfg.block;
        for (int i = 0; i < nlcases; i++) {
            lcase *c = &lcases[i];
            if (c->block != NULL && !c->failed)
                c->failed = c->block(c, n, 1) != 0;
            for (int k = 0; k < n && !c->failed && c->block == NULL; k++) {
                int64_t t0 = bench_now_ns();
                if (c->once(c) != 0) {
                    c->failed = 1;
                    break;
                }
                bench_samples_add(&c->s, bench_now_ns() - t0);
            }
        }
    }
    for (int i = 0; i < nlcases; i++) {
        lcase *c = &lcases[i];
        row *r = add_row(ROW_LAT, section, c->key, "%s", c->label);
        if (c->failed) {
            snprintf(r->note, sizeof r->note, "FAILED: %.140s", c->err);
            fprintf(stderr, "bench: %s failed: %s\n", c->label, c->err);
        } else {
            r->a = bench_samples_quantile_us(&c->s, 0.5);
            r->b = bench_samples_quantile_us(&c->s, 0.99);
        }
    }
    for (int i = 0; i < nlcases; i++) {
        lcase *c = &lcases[i];
        if (c->ref_key != NULL)
            set_ratio(find_row(c->key), c->ref_key, c->ref_text);
        c->close(c);
        bench_samples_free(&c->s);
    }
    nlcases = 0;
}

/* ---- python ------------------------------------------------------------------------ */

static void python_case(const char *key, const char *label, const char *base, int64_t run,
                        const char *ref_key, const char *ref_text)
{
    char url[512];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat?client_jobmon_version=%s", base,
             (long long)run, hbeat_version());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s '%s' %d %d", BENCH_PYTHON, BENCH_PY_SCRIPT, url,
             cfg.smoke ? 20 : 200, cfg.beats);
    row *r = add_row(ROW_LAT, "latency: Python reference (aiohttp, kept-alive session)", key, "%s",
                     label);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    if (p == NULL || fgets(line, sizeof line, p) == NULL) {
        snprintf(r->note, sizeof r->note, "FAILED: no output from %s", BENCH_PY_SCRIPT);
    } else if (sscanf(line, "median_us=%lf p99_us=%lf", &r->a, &r->b) != 2) {
        snprintf(r->note, sizeof r->note, "FAILED: %.140s", line);
        r->a = r->b = NAN;
    }
    if (p != NULL)
        pclose(p);
    set_ratio(r, ref_key, ref_text);
}

/* The Python package's tick in a worker process, interleaved with the C
   tick on the same server and run. */
static int pyworker_block(lcase *c, int n, int keep)
{
    return bench_pyworker_block(&c->py, n, keep ? &c->s : NULL, c->err, sizeof c->err);
}

static void pyworker_close(lcase *c)
{
    bench_pyworker_stop(&c->py);
}

static void case_python_tick(const char *key, const char *ref_key, const char *ref_text,
                             const char *url, int64_t run, const char *mode, const char *label)
{
    lcase *c = new_case(key, ref_key, ref_text, "%s", label);
    char run_arg[32];
    snprintf(run_arg, sizeof run_arg, "%lld", (long long)run);
    char *argv[] = {BENCH_PYTHON, BENCH_PY_TICK_SCRIPT, (char *)url, run_arg, (char *)mode, NULL};
    /* This build's package and library, whatever the environment says. */
    static char lib_env[] = "HBEAT_LIBRARY=" BENCH_HBEAT_LIB;
    static char path_env[] = "PYTHONPATH=" BENCH_PY_SRC;
    static char nobytecode[] = "PYTHONDONTWRITEBYTECODE=1";
    char *env[] = {lib_env, path_env, nobytecode, NULL};
    c->block = pyworker_block;
    c->close = pyworker_close;
    if (bench_pyworker_start(&c->py, argv, env, c->err, sizeof c->err) != 0)
        c->failed = 1;
}

/* The C tick_async, waited for on a semaphore: what the package's await
   tick() runs on, without Python. */
static void tick_async_done(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    (void)update;
    lcase *c = arg;
    if (rc != 0)
        snprintf(c->err, sizeof c->err, "%s", err->message);
    c->async_rc = rc;
    sem_post(&c->done);
}

static int service_async_once(lcase *c)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_tick_async(c->svc, tick_async_done, c, &err);
    if (rc != 0) {
        snprintf(c->err, sizeof c->err, "%s", err.message);
        return rc;
    }
    while (sem_wait(&c->done) != 0) {
    }
    return c->async_rc;
}

static void service_async_close(lcase *c)
{
    service_close(c);
    sem_destroy(&c->done);
}

static void case_service_async(const char *key, const char *ref_key, const char *ref_text,
                               const char *url, int64_t run, const char *label)
{
    lcase *c = case_service(key, ref_key, ref_text, url, run, label);
    sem_init(&c->done, 0, 0);
    c->once = service_async_once;
    c->close = service_async_close;
}

static void python_package_cases(const server *s)
{
    const struct {
        const char *tag, *name, *url;
        int64_t run;
    } t[] = {{"rest", "REST", s->rest_url, PY_RUN},
             {"nng_tcp", "nng tcp", s->nng_tcp_url, PY_RUN - 1}};
    static char keys[2][4][64];
    for (int i = 0; i < 2; i++) {
        snprintf(keys[i][0], sizeof keys[i][0], "lat.pkg.c.%s", t[i].tag);
        snprintf(keys[i][1], sizeof keys[i][1], "lat.pkg.c_async.%s", t[i].tag);
        snprintf(keys[i][2], sizeof keys[i][2], "lat.pkg.async.%s", t[i].tag);
        snprintf(keys[i][3], sizeof keys[i][3], "lat.pkg.sync.%s", t[i].tag);
        char label[112];
        snprintf(label, sizeof label, "C hbeat_service_tick, %s", t[i].name);
        case_service(keys[i][0], NULL, NULL, t[i].url, t[i].run, label);
        snprintf(label, sizeof label, "C hbeat_service_tick_async + wait, %s", t[i].name);
        case_service_async(keys[i][1], keys[i][0], "C tick, same server", t[i].url, t[i].run,
                           label);
        snprintf(label, sizeof label, "Python await svc.tick(), %s", t[i].name);
        case_python_tick(keys[i][2], keys[i][0], "C tick, same server", t[i].url, t[i].run, "async",
                         label);
        snprintf(label, sizeof label, "Python svc.tick_sync(), %s", t[i].name);
        case_python_tick(keys[i][3], keys[i][0], "C tick, same server", t[i].url, t[i].run, "sync",
                         label);
    }
    case_python_tick("lat.pkg.handoff", NULL, NULL, "-", 0, "handoff",
                     "floor: an asyncio future resolved from another thread");
    run_latency_cases("latency: Python package hbeat, hbeatd :memory:");
}

/* ---- throughput ---------------------------------------------------------------------- */

typedef struct target_srv {
    server *s;
    const char *tag;  /* key part */
    const char *name; /* label part */
} target_srv;

/* One load run of `clients` against target t; adds into the sums. */
typedef struct tsum {
    double done, seconds, cpu_us;
    double p99[16];
    int rounds, errors, failed;
    char err[256];
} tsum;

static void throughput_slice(load_proto proto, const target_srv *t, unsigned int clients,
                             double window, tsum *sum)
{
    server *s = t->s;
    struct iovec *reqs = calloc(clients, sizeof *reqs);
    for (unsigned int i = 0; i < clients; i++) {
        int64_t run = (int64_t)(i % NRUNS) + 1;
        reqs[i] = proto == LOAD_HTTP ? http_heartbeat(s->http_port, run) : pb_heartbeat(run, 1);
    }
    load_opts o = {0};
    o.proto = proto;
    o.host = "127.0.0.1";
    o.port = proto == LOAD_HTTP ? s->http_port : s->tcp_port;
    o.path = s->ipc_path;
    o.clients = clients;
    o.warmup_s = cfg.warmup;
    o.duration_s = window;
    o.reqs = reqs;
    o.nreqs = clients;
    o.server_pid = s->pid;
    load_result res;
    char err[256] = "";
    if (load_run(&o, &res, err, sizeof err) != 0) {
        sum->failed = 1;
        snprintf(sum->err, sizeof sum->err, "%s", err);
    } else {
        sum->done += (double)res.done;
        sum->seconds += res.seconds;
        sum->cpu_us += res.server_cpu_us * (double)res.done;
        if (sum->rounds < 16)
            sum->p99[sum->rounds++] = res.p99_us;
        sum->errors += res.errors > 0;
    }
    for (unsigned int i = 0; i < clients; i++)
        free(reqs[i].iov_base);
    free(reqs);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Every client count runs against every target in turn, in several short
   rounds, so that a change in the machine's background load falls on all
   of them alike; beats/s is over all rounds, p99 the median of the
   rounds'. */
static void throughput_of(const char *proto_tag, load_proto proto, const target_srv *targets,
                          int ntargets, const unsigned int *all_clients, int nclients)
{
    int rounds = cfg.smoke ? 1 : 3;
    char section[64];
    snprintf(section, sizeof section, "throughput: %s",
             proto == LOAD_HTTP     ? "REST (HTTP/1.1 keep-alive)"
             : proto == LOAD_SP_TCP ? "nng tcp"
                                    : "nng ipc");
    for (int ci = 0; ci < nclients; ci++) {
        unsigned int clients = all_clients[ci];
        tsum sums[8];
        memset(sums, 0, sizeof sums);
        for (int r = 0; r < rounds; r++)
            for (int t = 0; t < ntargets; t++)
                throughput_slice(proto, &targets[t], clients, cfg.duration / rounds, &sums[t]);
        for (int t = 0; t < ntargets; t++) {
            tsum *sum = &sums[t];
            char key[64];
            snprintf(key, sizeof key, "tput.%s.%s.%u", proto_tag, targets[t].tag, clients);
            row *r = add_row(ROW_TPUT, section, key, "%4u clients  %s", clients, targets[t].name);
            if (sum->failed || sum->seconds <= 0) {
                snprintf(r->note, sizeof r->note, "FAILED: %s", sum->err);
                fprintf(stderr, "bench: %s: %s\n", r->label, sum->err);
                continue;
            }
            r->a = sum->done / sum->seconds;
            qsort(sum->p99, (size_t)sum->rounds, sizeof sum->p99[0], cmp_double);
            r->b = sum->p99[sum->rounds / 2];
            snprintf(r->note, sizeof r->note, "server CPU %.1f us/beat%s", sum->cpu_us / sum->done,
                     sum->errors ? ", ERRORS" : "");
            if (sum->errors)
                fprintf(stderr, "bench: %s: error replies or dropped connections\n", r->label);
            if (t > 0) {
                char ref[64];
                snprintf(ref, sizeof ref, "tput.%s.%s.%u", proto_tag, targets[0].tag, clients);
                set_ratio(r, ref, targets[0].name);
            }
        }
    }
}

static void throughput(const char *proto_tag, load_proto proto, const target_srv *targets,
                       int ntargets)
{
    static const unsigned int all_clients[] = {1, 16, 256, 1024};
    throughput_of(proto_tag, proto, targets, ntargets, all_clients, cfg.smoke ? 3 : 4);
}

/* ---- server memory ---------------------------------------------------------------------- */

static void server_rss(int durable)
{
    server s;
    start_hbeatd(&s, durable ? "rss-durable" : "rss-mem", durable, cfg.sync);
    bench_sleep_ms(200);
    long before = bench_rss_kb(s.pid);
    create_runs(&s, (uint64_t)cfg.rss_runs, 64);
    bench_sleep_ms(200);
    long after = bench_rss_kb(s.pid);
    const char *store = durable ? "durable" : ":memory:";
    row *r = add_row(ROW_MEM, "memory: hbeatd", durable ? "rss.durable.base" : "rss.mem.base",
                     "hbeatd RSS, no runs (%s store)", store);
    r->a = (double)before / 1024.0;
    snprintf(r->note, sizeof r->note, "MiB");
    r = add_row(ROW_MEM, "memory: hbeatd", durable ? "rss.durable.full" : "rss.mem.full",
                "hbeatd RSS, %d runs (%s store)", cfg.rss_runs, store);
    r->a = (double)after / 1024.0;
    snprintf(r->note, sizeof r->note, "MiB");
    r = add_row(ROW_MEM, "memory: hbeatd", durable ? "rss.durable.per_run" : "rss.mem.per_run",
                "hbeatd RSS per tracked run (%s store)", store);
    r->a = (double)(after - before) * 1024.0 / cfg.rss_runs;
    snprintf(r->note, sizeof r->note, "bytes");
    stop_server(&s);
}

/* ---- PostgreSQL beside SQLite durable ------------------------------------------------- */

static char pg_dir[256], pg_uri[600];

/* A throw-away cluster (tests/support/pg_cluster.sh); its URI in pg_uri. */
static void pg_stop(void);

static void pg_start(void)
{
    if (bench_mkdtemp(pg_dir, sizeof pg_dir, "pg") != 0)
        bench_die("mkdtemp");
    /* A measurement that fails (bench_die) stops the cluster too. */
    atexit(pg_stop);
    char cmd[1024];
    /* fsync on, as SQLite durable has it: the same durability measured. */
    snprintf(cmd, sizeof cmd, "PG_FSYNC=on '%s' start '%s' >/dev/null", BENCH_PG_CLUSTER, pg_dir);
    if (system(cmd) != 0)
        bench_die("cannot start a PostgreSQL cluster (%s)", BENCH_PG_CLUSTER);
    snprintf(cmd, sizeof cmd, "%s/env", pg_dir);
    FILE *f = fopen(cmd, "r");
    char line[700];
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "PG_URI='", 8) == 0)
            snprintf(pg_uri, sizeof pg_uri, "%.*s", (int)strcspn(line + 8, "'"), line + 8);
    if (f != NULL)
        fclose(f);
    if (pg_uri[0] == '\0')
        bench_die("no PG_URI from %s", BENCH_PG_CLUSTER);
}

static void pg_stop(void)
{
    if (pg_dir[0] == '\0')
        return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' stop '%s' >/dev/null; rm -rf '%s'", BENCH_PG_CLUSTER, pg_dir,
             pg_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not stop the PostgreSQL cluster in %s\n", pg_dir);
    pg_dir[0] = '\0';
}

/* psql -At: the first line of the answer as a number (NAN on failure). */
/* The cluster's postmaster (the first line of postmaster.pid). */
static pid_t pg_postmaster(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", pg_dir);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f == NULL || fscanf(f, "%ld", &pid) != 1)
        bench_die("cannot read %s", path);
    fclose(f);
    return (pid_t)pid;
}

static double pg_value(const char *sql)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "psql -At -d '%s' -c \"%s\" 2>/dev/null", pg_uri, sql);
    FILE *f = popen(cmd, "r");
    char line[128] = "";
    if (f == NULL)
        return NAN;
    if (fgets(line, sizeof line, f) == NULL)
        line[0] = '\0';
    pclose(f);
    return line[0] != '\0' ? atof(line) : NAN;
}

static void pg_exec(const char *sql)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "psql -q -d '%s' -v ON_ERROR_STOP=1 -c \"%s\" >/dev/null", pg_uri,
             sql);
    if (system(cmd) != 0)
        bench_die("psql: %s", sql);
}

/* Waits for hbeatd's "reaper pass: N runs moved in X ms" line: X. */
static double reaper_pass_ms(const server *s, double timeout_s)
{
    char path[600];
    snprintf(path, sizeof path, "%s/log", s->dir);
    for (double waited = 0; waited < timeout_s; waited += 0.05) {
        FILE *f = fopen(path, "r");
        char line[512];
        double ms = NAN;
        while (f != NULL && fgets(line, sizeof line, f) != NULL) {
            const char *at = strstr(line, "runs moved in ");
            if (at != NULL && strstr(line, "reaper pass: ") != NULL)
                ms = atof(at + strlen("runs moved in "));
        }
        if (f != NULL)
            fclose(f);
        if (!isnan(ms))
            return ms;
        bench_sleep_ms(50);
    }
    return NAN;
}

/* A SQLite file of hbeatd's schema (v2) with n runs in R, one in a hundred
   past its deadline. */
static void sqlite_prefill(const char *path, long n, double now)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "sqlite3 '%s' \"PRAGMA page_size=1024; PRAGMA journal_mode=WAL;"
             " CREATE TABLE runs (id INTEGER PRIMARY KEY, workflow_id INTEGER NOT NULL,"
             " status TEXT NOT NULL, deadline REAL NOT NULL DEFAULT 0,"
             " last_heartbeat REAL NOT NULL DEFAULT 0, beats INTEGER NOT NULL DEFAULT 0,"
             " initial_increment REAL NOT NULL DEFAULT 0); PRAGMA user_version=2;"
             " WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %ld)"
             " INSERT INTO runs SELECT x, 7, 'R', CASE WHEN x %% 100 = 0 THEN %.3f ELSE %.3f END,"
             " %.3f, 1, 0 FROM i;\" >/dev/null",
             path, n, now - 10, now + 3600, now - 30);
    if (system(cmd) != 0)
        bench_die("sqlite3: cannot fill %s", path);
}

static void pg_prefill(long n, double now)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "TRUNCATE hbeat_runs RESTART IDENTITY;"
             " INSERT INTO hbeat_runs (workflow_id, status, deadline, last_heartbeat, beats)"
             " SELECT 7, 'R', CASE WHEN x %% 100 = 0 THEN %.3f ELSE %.3f END, %.3f, 1"
             " FROM generate_series(1, %ld) x;"
             " UPDATE hbeat_reaper SET last_seen = 0, grace_until = 0",
             now - 10, now + 3600, now - 30, n);
    pg_exec(sql);
    pg_exec("VACUUM ANALYZE hbeat_runs");
}

/* Memory per run and one reaper pass with 1 % of the runs due, for each
   store, at n runs. */
static void scale_point(long n, long base_sqlite_kb, long base_pg_kb)
{
    static const char *const reap[] = {"--reap-grace", "0", "--reap-interval", "0.5", NULL};
    char dir[256], db[300], key[64];
    if (bench_mkdtemp(dir, sizeof dir, "scale") != 0)
        bench_die("mkdtemp");
    snprintf(db, sizeof db, "%s/hbeatd.db", dir);
    double now = (double)time(NULL);
    sqlite_prefill(db, n, now);
    server s;
    start_hbeatd_on(&s, "scale-sqlite", db, reap);
    double ms = reaper_pass_ms(&s, 120);
    long rss = bench_rss_kb(s.pid);
    stop_server(&s);
    snprintf(key, sizeof key, "scale.sqlite.%ld.per_run", n);
    row *r = add_row(ROW_MEM, "scale: runs held", key, "%8ld runs, SQLite: hbeatd RSS per run", n);
    r->a = (double)(rss - base_sqlite_kb) * 1024.0 / (double)n;
    snprintf(r->note, sizeof r->note, "bytes (RSS %.0f MiB)", rss / 1024.0);
    snprintf(key, sizeof key, "scale.sqlite.%ld.reap_ms", n);
    r = add_row(ROW_MEM, "scale: runs held", key, "%8ld runs, SQLite: reaper pass, %ld due", n,
                n / 100);
    r->a = ms;
    snprintf(r->note, sizeof r->note, "ms (%.2f us per due run)", ms * 1e3 / (double)(n / 100));

    pg_prefill(n, now);
    start_hbeatd_on(&s, "scale-pg", pg_uri, reap);
    ms = reaper_pass_ms(&s, 120);
    rss = bench_rss_kb(s.pid);
    stop_server(&s);
    double bytes = pg_value("SELECT pg_total_relation_size('hbeat_runs')");
    snprintf(key, sizeof key, "scale.pg.%ld.per_run", n);
    r = add_row(ROW_MEM, "scale: runs held", key, "%8ld runs, PostgreSQL: table + indexes per run",
                n);
    r->a = bytes / (double)n;
    snprintf(r->note, sizeof r->note, "bytes in the database; hbeatd RSS %+.1f MiB over idle",
             (rss - base_pg_kb) / 1024.0);
    snprintf(key, sizeof key, "scale.pg.%ld.reap_ms", n);
    r = add_row(ROW_MEM, "scale: runs held", key, "%8ld runs, PostgreSQL: reaper pass, %ld due", n,
                n / 100);
    r->a = ms;
    snprintf(r->note, sizeof r->note, "ms (%.2f us per due run)", ms * 1e3 / (double)(n / 100));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
    }
}

static void pg_part(void)
{
    fprintf(stderr, "bench: PostgreSQL beside SQLite durable\n");
    pg_start();
    server sq, pg;
    start_hbeatd(&sq, "hbeatd-sqlite", 1, NULL);
    start_hbeatd_on(&pg, "hbeatd-pg", pg_uri, NULL);
    create_runs(&sq, NRUNS + 16, 16);
    create_runs(&pg, NRUNS + 16, 16);
    int64_t run = LAT_RUN0;
    case_nng_raw("lat.pg.nng_tcp.sqlite", NULL, NULL, sq.nng_tcp_url, run++,
                 "raw nng REQ, tcp, hbeatd SQLite durable (sync changes)");
    case_nng_raw("lat.pg.nng_tcp.pg", "lat.pg.nng_tcp.sqlite", "SQLite durable", pg.nng_tcp_url,
                 run++, "raw nng REQ, tcp, hbeatd PostgreSQL (sync changes)");
    case_curl_raw("lat.pg.rest.sqlite", NULL, NULL, sq.rest_url, run++,
                  "raw libcurl POST, hbeatd SQLite durable (sync changes)");
    case_curl_raw("lat.pg.rest.pg", "lat.pg.rest.sqlite", "SQLite durable", pg.rest_url, run++,
                  "raw libcurl POST, hbeatd PostgreSQL (sync changes)");
    /* What PostgreSQL alone costs: a plain beat's UPDATE, no hbeatd. */
    case_pg_floor("lat.pg.libpq", "lat.pg.rest.sqlite", "SQLite durable REST", pg_uri, run++,
                  "raw libpq: a plain beat's UPDATE, no hbeatd");
    /* And what crossing between vCPUs costs (pin.h). */
    case_curl_pinned("lat.pg.rest.pinned", "lat.pg.rest.sqlite", "SQLite durable", pg.rest_url,
                     run++, pg.pid, pg_postmaster(), "the same POST, all three processes on CPU 0");
    run_latency_cases("postgresql: one beat at a time");

    static const unsigned int counts[] = {16, 256};
    target_srv nng_t[] = {{&sq, "sqlite", "hbeatd SQLite durable"},
                          {&pg, "pg", "hbeatd PostgreSQL"}};
    double upd0 = pg_value("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname='hbeat_runs'");
    double t0 = (double)bench_now_ns() / 1e9;
    throughput_of("pg_nng_tcp", LOAD_SP_TCP, nng_t, 2, counts, 2);
    throughput_of("pg_http", LOAD_HTTP, nng_t, 2, counts, 2);
    double t1 = (double)bench_now_ns() / 1e9;

    /* A longer load on PostgreSQL alone: does it hold up as dead row
       versions pile up and autovacuum comes by (its naptime is a minute)? */
    double slice = cfg.smoke ? 0.5 : 15.0;
    int slices = cfg.smoke ? 2 : 6;
    fprintf(stderr, "bench: PostgreSQL under a long load (%d x %.0f s)\n", slices, slice);
    for (int i = 0; i < slices; i++) {
        tsum sum;
        memset(&sum, 0, sizeof sum);
        throughput_slice(LOAD_SP_TCP, &nng_t[1], 256, slice, &sum);
        char key[64];
        snprintf(key, sizeof key, "pg.long.%d", i);
        row *r = add_row(ROW_MEM, "postgresql: a long load, nng tcp, 256 clients", key,
                         "beats/s from %5.1f s to %5.1f s", i * slice, (i + 1) * slice);
        if (sum.failed || sum.seconds <= 0) {
            snprintf(r->note, sizeof r->note, "FAILED: %.140s", sum.err);
            continue;
        }
        r->a = sum.done / sum.seconds;
        snprintf(r->note, sizeof r->note, "dead row versions then %.0f, table %.1f MiB",
                 pg_value("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname='hbeat_runs'"),
                 pg_value("SELECT pg_total_relation_size('hbeat_runs')") / 1048576.0);
    }
    t1 = (double)bench_now_ns() / 1e9;
    stop_server(&sq);
    stop_server(&pg);

    /* What the beats left behind in PostgreSQL: every beat is an UPDATE. */
    bench_sleep_ms(800); /* the statistics collector */
    double upd = pg_value("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname='hbeat_runs'");
    double hot =
        pg_value("SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname='hbeat_runs'");
    double dead = pg_value("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname='hbeat_runs'");
    double vac =
        pg_value("SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname='hbeat_runs'");
    double size = pg_value("SELECT pg_total_relation_size('hbeat_runs')");
    row *r = add_row(ROW_MEM, "postgresql: what the load left", "pg.churn.updates",
                     "UPDATEs of runs during the throughput rounds and the long load");
    r->a = upd - (isnan(upd0) ? 0 : upd0);
    snprintf(r->note, sizeof r->note, "over %.0f s; %.0f%% of them HOT (no index touched)", t1 - t0,
             upd > 0 ? 100.0 * hot / upd : 0.0);
    r = add_row(ROW_MEM, "postgresql: what the load left", "pg.churn.dead",
                "dead row versions left, %d live runs", NRUNS + 16);
    r->a = dead;
    snprintf(r->note, sizeof r->note, "autovacuum ran %.0f times on the table", vac);
    r = add_row(ROW_MEM, "postgresql: what the load left", "pg.churn.size",
                "hbeat_runs with its indexes, after the load");
    r->a = size / 1024.0;
    snprintf(r->note, sizeof r->note, "KiB (%.0f bytes per live run)", size / (NRUNS + 16));

    fprintf(stderr, "bench: runs held: memory and a reaper pass\n");
    server idle;
    start_hbeatd(&idle, "idle-sqlite", 1, NULL);
    long base_sqlite = bench_rss_kb(idle.pid);
    stop_server(&idle);
    pg_exec("TRUNCATE hbeat_runs");
    start_hbeatd_on(&idle, "idle-pg", pg_uri, NULL);
    long base_pg = bench_rss_kb(idle.pid);
    stop_server(&idle);
    static const long big[] = {10000, 100000, 1000000}, small[] = {1000, 10000};
    const long *ns = cfg.smoke ? small : big;
    int nn = cfg.smoke ? 2 : 3;
    for (int i = 0; i < nn; i++)
        scale_point(ns[i], base_sqlite, base_pg);
    pg_stop();
}

/* ---- client memory ---------------------------------------------------------------------- */

static double kv(const char *line, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof pat, " %s=", key);
    char padded[4096];
    snprintf(padded, sizeof padded, " %s", line);
    const char *p = strstr(padded, pat);
    return p != NULL ? strtod(p + strlen(pat), NULL) : NAN;
}

static void client_mem(const char *tag, const char *label, const char *url, int64_t run)
{
    int beats = cfg.smoke ? 100 : 1000;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "LD_PRELOAD=%s %s '%s' %lld %d %d", BENCH_SHIM, BENCH_CLIENT, url,
             (long long)run, cfg.smoke ? 20 : 200, beats);
    FILE *p = popen(cmd, "r");
    char line[4096] = "";
    int ok = p != NULL && fgets(line, sizeof line, p) != NULL;
    if (p != NULL)
        pclose(p);
    char key[64];
    snprintf(key, sizeof key, "client.%s.rss", tag);
    row *r = add_row(ROW_MEM, "memory: a client process with one service", key,
                     "%s: RSS (added by opening and beating)", label);
    if (!ok || isnan(kv(line, "rss_kb"))) {
        snprintf(r->note, sizeof r->note, "FAILED");
        return;
    }
    r->a = kv(line, "rss_kb") / 1024.0;
    snprintf(r->note, sizeof r->note, "MiB (+%.1f MiB)",
             (kv(line, "rss_kb") - kv(line, "rss_before_kb")) / 1024.0);
    snprintf(key, sizeof key, "client.%s.threads", tag);
    r = add_row(ROW_MEM, "memory: a client process with one service", key, "%s: threads started",
                label);
    r->a = kv(line, "threads") - kv(line, "threads_before");
    snprintf(r->note, sizeof r->note, "threads");
    snprintf(key, sizeof key, "client.%s.allocs", tag);
    r = add_row(ROW_MEM, "memory: a client process with one service", key,
                "%s: allocations per beat, all code", label);
    double per = kv(line, "allocs") / beats;
    r->a = per;
    r->decimals = 2;
    /* who made them */
    char by[160] = "";
    size_t used = 0;
    for (const char *q = strstr(line, " by."); q != NULL; q = strstr(q + 1, " by.")) {
        char name[48];
        double n;
        if (sscanf(q, " by.%47[^=]=%lf", name, &n) == 2 && used < sizeof by)
            used += (size_t)snprintf(by + used, sizeof by - used, "%s%s %.1f", used ? ", " : "",
                                     name, n / beats);
    }
    snprintf(r->note, sizeof r->note, "per beat (%s)", by[0] ? by : "none");
    snprintf(key, sizeof key, "client.%s.hbeat_allocs", tag);
    r = add_row(ROW_MEM, "memory: a client process with one service", key,
                "%s: allocations per beat by hbeat's code", label);
    double own = kv(line, "by.libhbeat");
    r->a = isnan(own) ? 0 : own / beats;
    r->decimals = 2;
    char sites[160] = "per beat";
    used = strlen(sites);
    for (const char *q = strstr(line, " site."); q != NULL; q = strstr(q + 1, " site.")) {
        char where[96];
        if (sscanf(q, " site.%95[^=]=", where) == 1 && used < sizeof sites)
            used += (size_t)snprintf(sites + used, sizeof sites - used, " %s", where);
    }
    if (strcmp(tag, "fake") == 0)
        snprintf(sites, sizeof sites, "per beat: the fake records every call for tests to read");
    snprintf(r->note, sizeof r->note, "%s", sites);
}

/* ---- targets -------------------------------------------------------------------------- */

static void target(const char *text, double value, double goal, int at_most)
{
    if (isnan(value))
        return; /* not measured in this run (--only) */
    int met = at_most ? value <= goal : value >= goal;
    add_row(ROW_TEXT, "targets (measured in this run)", NULL, "%s  %-68s %8.2f  (goal %s %.2f)",
            met ? "MET" : "GAP", text, value, at_most ? "<=" : ">=", goal);
}

static double ratio_of(const char *a, const char *b)
{
    return value_of(a) / value_of(b);
}

static void targets(void)
{
    target("Python await tick() over C tick, REST (hbeatd :memory:)",
           ratio_of("lat.pkg.async.rest", "lat.pkg.c.rest"), 1.5, 1);
    target("Python await tick() over C tick, nng tcp (hbeatd :memory:)",
           ratio_of("lat.pkg.async.nng_tcp", "lat.pkg.c.nng_tcp"), 1.5, 1);
    target("Python tick_sync() over C tick, REST (hbeatd :memory:)",
           ratio_of("lat.pkg.sync.rest", "lat.pkg.c.rest"), 1.5, 1);
    target("Python tick_sync() over C tick, nng tcp (hbeatd :memory:)",
           ratio_of("lat.pkg.sync.nng_tcp", "lat.pkg.c.nng_tcp"), 1.5, 1);
    target("Python await tick() over aiohttp POST, REST (hbeatd :memory:)",
           ratio_of("lat.pkg.async.rest", "lat.py.rest.mem"), 1.0, 1);
    target("service over raw nng, tcp (hbeatd :memory:)",
           ratio_of("lat.svc.nng_tcp.mem", "lat.raw.nng_tcp.mem"), 1.10, 1);
    target("service over raw nng, ipc (hbeatd :memory:)",
           ratio_of("lat.svc.nng_ipc.mem", "lat.raw.nng_ipc.mem"), 1.10, 1);
    target("service over raw libcurl, REST (hbeatd :memory:)",
           ratio_of("lat.svc.rest.mem", "lat.raw.rest.mem"), 1.10, 1);
    target("service over raw libcurl, REST (minimal HTTP server)",
           ratio_of("lat.svc.rest.floor", "lat.raw.rest.floor"), 1.10, 1);
    target("hbeatd REST route per beat / minimal HTTP server (:memory:)",
           ratio_of("lat.raw.rest.mem", "lat.raw.rest.floor"), 2.0, 1);
    target("hbeatd REST route per beat / minimal HTTP server (durable)",
           ratio_of("lat.raw.rest.durable", "lat.raw.rest.floor"), 2.0, 1);
    target("hbeatd REST beats/s at 16 clients / minimal HTTP server (durable)",
           ratio_of("tput.http.durable.16", "tput.http.floor.16"), 0.5, 0);
    target("hbeatd REST beats/s at 16 clients / minimal HTTP server (:memory:)",
           ratio_of("tput.http.mem.16", "tput.http.floor.16"), 0.5, 0);
    target("hbeatd nng tcp beats/s at 16 clients / nng echo (durable)",
           ratio_of("tput.nng_tcp.durable.16", "tput.nng_tcp.floor.16"), 0.8, 0);
    target("hbeatd nng tcp beats/s at 256 clients / nng echo (durable)",
           ratio_of("tput.nng_tcp.durable.256", "tput.nng_tcp.floor.256"), 0.8, 0);
    target("hbeatd nng tcp beats/s at 16 clients / nng echo (sync full)",
           ratio_of("tput.nng_tcp.full.16", "tput.nng_tcp.floor.16"), 0.8, 0);
    target("hbeatd nng tcp beats/s at 256 clients / nng echo (sync full)",
           ratio_of("tput.nng_tcp.full.256", "tput.nng_tcp.floor.256"), 0.8, 0);
    target("hbeatd nng ipc beats/s at 16 clients / nng echo (durable)",
           ratio_of("tput.nng_ipc.durable.16", "tput.nng_ipc.floor.16"), 0.8, 0);
    target("hbeatd nng ipc beats/s at 256 clients / nng echo (durable)",
           ratio_of("tput.nng_ipc.durable.256", "tput.nng_ipc.floor.256"), 0.8, 0);
    target("durable / :memory: beats/s at 256 clients, nng tcp",
           ratio_of("tput.nng_tcp.durable.256", "tput.nng_tcp.mem.256"), 0.8, 0);
    target("durable / :memory: beats/s at 256 clients, nng ipc",
           ratio_of("tput.nng_ipc.durable.256", "tput.nng_ipc.mem.256"), 0.8, 0);
    target("sync full / :memory: beats/s at 256 clients, nng tcp",
           ratio_of("tput.nng_tcp.full.256", "tput.nng_tcp.mem.256"), 0.8, 0);
    target("durable / :memory: beats/s at 256 clients, REST",
           ratio_of("tput.http.durable.256", "tput.http.mem.256"), 0.8, 0);
    target("PostgreSQL / SQLite durable beats/s at 256 clients, nng tcp",
           ratio_of("tput.pg_nng_tcp.pg.256", "tput.pg_nng_tcp.sqlite.256"), 0.5, 0);
    target("PostgreSQL / SQLite durable beats/s at 256 clients, REST",
           ratio_of("tput.pg_http.pg.256", "tput.pg_http.sqlite.256"), 0.5, 0);
    target("PostgreSQL / SQLite durable, a lone beat's median, nng tcp",
           ratio_of("lat.pg.nng_tcp.pg", "lat.pg.nng_tcp.sqlite"), 3.0, 1);
    target("PostgreSQL / SQLite durable, a lone beat's median, REST",
           ratio_of("lat.pg.rest.pg", "lat.pg.rest.sqlite"), 3.0, 1);
    char text[96];
    snprintf(text, sizeof text, "hbeatd RSS bytes per run at %d runs (durable)", cfg.rss_runs);
    target(text, value_of("rss.durable.per_run"), 512, 1);
    snprintf(text, sizeof text, "hbeatd RSS bytes per run at %d runs (:memory:)", cfg.rss_runs);
    target(text, value_of("rss.mem.per_run"), 512, 1);
    target("hbeat's own heap allocations per beat, nng tcp",
           value_of("client.nng_tcp.hbeat_allocs"), 0, 1);
    target("hbeat's own heap allocations per beat, nng ipc",
           value_of("client.nng_ipc.hbeat_allocs"), 0, 1);
    target("hbeat's own heap allocations per beat, REST", value_of("client.rest.hbeat_allocs"), 0,
           1);
}

/* ---- ad-hoc load, for profiling --------------------------------------------------------- */

/* hbeat-bench load PROTO ADDR CLIENTS SECONDS [CREATE [PID]]: drives a
   running server (e.g. one under perf or strace) with the throughput
   clients. PROTO is nng_tcp (ADDR host:port), nng_ipc (ADDR socket path) or
   http (ADDR host:port); CREATE > 0 first creates that many runs (nng
   only); PID, the server's, adds its CPU time per beat. */
static int load_main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: hbeat-bench load nng_tcp|nng_ipc|http ADDR CLIENTS SECONDS "
                        "[CREATE [PID]]\n");
        return 2;
    }
    load_opts o = {0};
    const char *proto = argv[2];
    o.proto = strcmp(proto, "http") == 0      ? LOAD_HTTP
              : strcmp(proto, "nng_ipc") == 0 ? LOAD_SP_IPC
                                              : LOAD_SP_TCP;
    static char host[64];
    if (o.proto == LOAD_SP_IPC) {
        o.path = argv[3];
    } else {
        snprintf(host, sizeof host, "%s", argv[3]);
        char *colon = strrchr(host, ':');
        if (colon == NULL)
            bench_die("ADDR must be host:port");
        *colon = '\0';
        o.host = host;
        o.port = atoi(colon + 1);
    }
    o.clients = (unsigned int)atoi(argv[4]);
    o.duration_s = atof(argv[5]);
    o.warmup_s = 0.5;
    if (argc > 7)
        o.server_pid = (pid_t)atoi(argv[7]);
    if (argc > 6 && atoi(argv[6]) > 0) {
        struct iovec cr = pb_create_run();
        load_opts c = o;
        c.proto = o.proto == LOAD_HTTP ? LOAD_SP_TCP : o.proto;
        c.total = (uint64_t)atoll(argv[6]);
        c.reqs = &cr;
        c.nreqs = 1;
        load_result r;
        char err[256];
        if (load_run(&c, &r, err, sizeof err) != 0)
            bench_die("create: %s", err);
    }
    struct iovec *reqs = calloc(o.clients, sizeof *reqs);
    for (unsigned int i = 0; i < o.clients; i++)
        reqs[i] = o.proto == LOAD_HTTP ? http_heartbeat(o.port, (int64_t)(i % NRUNS) + 1)
                                       : pb_heartbeat((int64_t)(i % NRUNS) + 1, 1);
    o.reqs = reqs;
    o.nreqs = o.clients;
    load_result r;
    char err[256];
    if (load_run(&o, &r, err, sizeof err) != 0)
        bench_die("%s", err);
    printf("%.0f beats/s  p50 %.1f us  p99 %.1f us  (%llu beats, %llu errors)  CPU per beat: "
           "server %.1f us, client %.1f us\n",
           r.rate, r.p50_us, r.p99_us, (unsigned long long)r.done, (unsigned long long)r.errors,
           r.server_cpu_us, r.client_cpu_us);
    return 0;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void machine_line(char *out, size_t cap)
{
    char model[128] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon != NULL) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
            }
            break;
        }
    }
    if (f != NULL)
        fclose(f);
    struct utsname u;
    uname(&u);
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&now));
    snprintf(out, cap,
             "hbeat %s bench%s, %s: %ld CPUs (%s), Linux %s, load %.2f at start; durable = "
             "SQLite file in WAL mode, sync %s",
             hbeat_version(), cfg.smoke ? " (smoke)" : "", when, sysconf(_SC_NPROCESSORS_ONLN),
             model, u.release, load[0], cfg.sync ? cfg.sync : "changes (hbeatd's default)");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "load") == 0)
        return load_main(argc, argv);
    cfg.beats = 5000;
    cfg.duration = 3.0;
    cfg.warmup = 0.5;
    cfg.rss_runs = 100000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            cfg.smoke = 1;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            cfg.out = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            cfg.only = argv[++i];
        else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc)
            cfg.duration = atof(argv[++i]);
        else if (strcmp(argv[i], "--beats") == 0 && i + 1 < argc)
            cfg.beats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--sync") == 0 && i + 1 < argc)
            cfg.sync = argv[++i];
        else {
            fprintf(stderr, "usage: hbeat-bench [--smoke] [--out DIR] [--only "
                            "latency,throughput,rss,client,python,pg] [--duration S] [--beats N] "
                            "[--sync full|normal]\n");
            return 2;
        }
    }
    if (cfg.smoke) {
        cfg.beats = 300;
        cfg.duration = 0.25;
        cfg.warmup = 0.1;
        cfg.rss_runs = 2000;
    }
    cfg.block = cfg.beats >= 1000 ? 100 : 50;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* hbeat's loopback traffic must not go to a proxy from the environment. */
    setenv("NO_PROXY", "*", 1);
    setenv("no_proxy", "*", 1);

    char machine[512];
    machine_line(machine, sizeof machine);
    fprintf(stderr, "bench: %s\n", machine);

    server ping, echo, http, mem, dur, full;
    char *ping_argv[] = {BENCH_SERVER, "tcp"};
    char *http_argv[] = {BENCH_SERVER, "http"};
    start_server(&ping, "ping", ping_argv, 2);
    start_server(&http, "http", http_argv, 2);
    {
        char dir[256];
        if (bench_mkdtemp(dir, sizeof dir, "sock") != 0)
            bench_die("mkdtemp");
        static char ipc[600];
        snprintf(ipc, sizeof ipc, "%s/echo.sock", dir);
        char *echo_argv[] = {BENCH_SERVER, "nng", "--ipc", ipc};
        start_server(&echo, "echo", echo_argv, 4);
    }
    start_hbeatd(&mem, "hbeatd-mem", 0, NULL);
    start_hbeatd(&dur, "hbeatd-durable", 1, cfg.sync);
    start_hbeatd(&full, "hbeatd-full", 1, "full");
    fprintf(stderr, "bench: creating %d runs in each hbeatd\n", NRUNS + 16);
    create_runs(&mem, NRUNS + 16, 16);
    create_runs(&dur, NRUNS + 16, 16);
    create_runs(&full, NRUNS + 16, 16);
    char dur_name[64];
    snprintf(dur_name, sizeof dur_name, "hbeatd durable (sync %s)",
             cfg.sync != NULL ? cfg.sync : "changes, the default");

    if (wanted("latency")) {
        fprintf(stderr, "bench: latency (%d beats per case)\n", cfg.beats);
        int64_t run = LAT_RUN0;
        case_ping("lat.ping", ping.ping_port);
        case_nng_raw("lat.raw.nng_tcp.floor", "lat.ping", "TCP ping-pong", echo.nng_tcp_url, 1,
                     "floor: nng REQ/REP echo server, tcp");
        case_nng_raw("lat.raw.nng_ipc.floor", "lat.ping", "TCP ping-pong", echo.nng_ipc_url, 1,
                     "floor: nng REQ/REP echo server, ipc");
        case_curl_raw("lat.raw.rest.floor", "lat.ping", "TCP ping-pong", http.rest_url, 1,
                      "floor: libcurl keep-alive POST, minimal C HTTP server");
        case_service("lat.svc.rest.floor", "lat.raw.rest.floor", "libcurl, same server",
                     http.rest_url, 1, "service tick, REST, minimal C HTTP server");
        case_nng_raw("lat.raw.nng_tcp.mem", "lat.raw.nng_tcp.floor", "nng echo, tcp",
                     mem.nng_tcp_url, run++, "raw nng REQ, same bytes, hbeatd :memory:, tcp");
        case_service("lat.svc.nng_tcp.mem", "lat.raw.nng_tcp.mem", "raw nng, same server",
                     mem.nng_tcp_url, run++, "service tick, nng tcp, hbeatd :memory:");
        case_nng_raw("lat.raw.nng_ipc.mem", "lat.raw.nng_ipc.floor", "nng echo, ipc",
                     mem.nng_ipc_url, run++, "raw nng REQ, same bytes, hbeatd :memory:, ipc");
        case_service("lat.svc.nng_ipc.mem", "lat.raw.nng_ipc.mem", "raw nng, same server",
                     mem.nng_ipc_url, run++, "service tick, nng ipc, hbeatd :memory:");
        case_curl_raw("lat.raw.rest.mem", "lat.raw.rest.floor", "libcurl, minimal server",
                      mem.rest_url, run++, "raw libcurl POST, same JSON, hbeatd :memory:");
        case_service("lat.svc.rest.mem", "lat.raw.rest.mem", "raw libcurl, same server",
                     mem.rest_url, run++, "service tick, REST, hbeatd :memory:");
        case_nng_raw("lat.raw.nng_tcp.durable", "lat.raw.nng_tcp.floor", "nng echo, tcp",
                     dur.nng_tcp_url, run++, "raw nng REQ, same bytes, hbeatd durable, tcp");
        case_service("lat.svc.nng_tcp.durable", "lat.raw.nng_tcp.durable", "raw nng, same server",
                     dur.nng_tcp_url, run++, "service tick, nng tcp, hbeatd durable");
        case_curl_raw("lat.raw.rest.durable", "lat.raw.rest.floor", "libcurl, minimal server",
                      dur.rest_url, run++, "raw libcurl POST, same JSON, hbeatd durable");
        case_service("lat.svc.rest.durable", "lat.raw.rest.durable", "raw libcurl, same server",
                     dur.rest_url, run++, "service tick, REST, hbeatd durable");
        case_nng_raw("lat.raw.nng_tcp.full", "lat.raw.nng_tcp.floor", "nng echo, tcp",
                     full.nng_tcp_url, run++, "raw nng REQ, same bytes, hbeatd sync full, tcp");
        case_curl_raw("lat.raw.rest.full", "lat.raw.rest.floor", "libcurl, minimal server",
                      full.rest_url, run++, "raw libcurl POST, same JSON, hbeatd sync full");
        case_service("lat.svc.fake", NULL, NULL, "fake://bench", 1,
                     "service tick, fake transport (no I/O)");
        run_latency_cases("latency: one beat at a time");
    }
    if (wanted("python")) {
        fprintf(stderr, "bench: python aiohttp\n");
        python_case("lat.py.rest.floor", "aiohttp POST, minimal C HTTP server", http.rest_url, 1,
                    "lat.raw.rest.floor", "libcurl, same server");
        python_case("lat.py.rest.mem", "aiohttp POST, hbeatd :memory:", mem.rest_url, LAT_RUN0,
                    "lat.raw.rest.mem", "libcurl, same server");
        python_case("lat.py.rest.durable", "aiohttp POST, hbeatd durable", dur.rest_url, LAT_RUN0,
                    "lat.raw.rest.durable", "libcurl, same server");
        fprintf(stderr, "bench: python package hbeat\n");
        python_package_cases(&mem);
    }
    if (wanted("throughput")) {
        fprintf(stderr, "bench: throughput (%.2f s windows)\n", cfg.duration);
        target_srv nng_targets[] = {{&echo, "floor", "nng echo server"},
                                    {&mem, "mem", "hbeatd :memory:"},
                                    {&dur, "durable", dur_name},
                                    {&full, "full", "hbeatd durable (sync full)"}};
        target_srv http_targets[] = {{&http, "floor", "minimal C HTTP server"},
                                     {&mem, "mem", "hbeatd :memory:"},
                                     {&dur, "durable", dur_name},
                                     {&full, "full", "hbeatd durable (sync full)"}};
        throughput("nng_tcp", LOAD_SP_TCP, nng_targets, 4);
        throughput("nng_ipc", LOAD_SP_IPC, nng_targets, 4);
        throughput("http", LOAD_HTTP, http_targets, 4);
    }
    if (wanted("client")) {
        fprintf(stderr, "bench: client memory\n");
        client_mem("fake", "fake", "fake://bench", 1);
        client_mem("nng_ipc", "nng ipc", mem.nng_ipc_url, 1);
        client_mem("nng_tcp", "nng tcp", mem.nng_tcp_url, 2);
        client_mem("rest", "REST", mem.rest_url, 3);
        char raw[700];
        snprintf(raw, sizeof raw, "raw+%s", mem.nng_tcp_url);
        client_mem("raw_nng_tcp", "bare nng REQ, tcp (no hbeat)", raw, 4);
        snprintf(raw, sizeof raw, "raw+%s", mem.rest_url);
        client_mem("raw_rest", "bare libcurl POST (no hbeat)", raw, 5);
    }
    stop_server(&ping);
    stop_server(&http);
    stop_server(&echo);
    stop_server(&mem);
    stop_server(&dur);
    stop_server(&full);
    if (wanted("rss")) {
        fprintf(stderr, "bench: hbeatd RSS with %d runs\n", cfg.rss_runs);
        server_rss(1);
        server_rss(0);
    }
    if (wanted("pg"))
        pg_part();
    targets();

    print_table(stdout, machine);
    if (cfg.out != NULL) {
        char path[1024];
        snprintf(path, sizeof path, "%s/table.txt", cfg.out);
        FILE *f = fopen(path, "w");
        if (f != NULL) {
            print_table(f, machine);
            fclose(f);
        }
        snprintf(path, sizeof path, "%s/results.tsv", cfg.out);
        write_tsv(path);
    }
    curl_global_cleanup();
    /* A measurement that could not be made fails the run (the smoke test);
       a target missed does not. */
    for (int i = 0; i < nrows; i++) {
        if (strncmp(rows[i].note, "FAILED", 6) == 0)
            return 1;
    }
    return 0;
}
