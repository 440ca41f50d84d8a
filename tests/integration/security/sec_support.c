/* Helpers for the security tests; see sec_support.h. */
#define _POSIX_C_SOURCE 200809L
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif

#include "integration/security/sec_support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "subprocess.h"

/* ---- certificates ---- */

static char openssl_path[4200];

int sec_have_openssl(void)
{
    if (openssl_path[0] != '\0')
        return 1;
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path != NULL ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(buf, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
        char cand[4200];
        snprintf(cand, sizeof cand, "%s/openssl", d[0] != '\0' ? d : ".");
        if (access(cand, X_OK) == 0) {
            snprintf(openssl_path, sizeof openssl_path, "%s", cand);
            return 1;
        }
    }
    return 0;
}

const char *sec_cert(const sec_certs *c, const char *name, int slot)
{
    static char bufs[8][512];
    char *b = bufs[slot & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", c->dir, name);
    return b;
}

/* Runs openssl with the given words (NULL-terminated); its exit code, or
   -1 when it could not run or took longer than 60 s. */
static int openssl_run(sec_certs *c, const char *first, ...)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = openssl_path;
    va_list ap;
    va_start(ap, first);
    for (const char *w = first; w != NULL && argc < 39; w = va_arg(ap, const char *))
        argv[argc++] = (char *)w;
    va_end(ap);
    argv[argc] = NULL;
    hb_proc p;
    if (hb_proc_start(&p, argv, NULL) != 0) {
        snprintf(c->why, sizeof c->why, "cannot run %.200s: %s", openssl_path, strerror(errno));
        return -1;
    }
    int rc = hb_proc_wait_exit(&p, 60.0);
    if (rc != 0 && c->why[0] == '\0')
        snprintf(c->why, sizeof c->why, "openssl %s ... exited %d: %.150s", first, rc, p.err);
    hb_proc_cleanup(&p);
    return rc;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    fchmod(fd, mode);
    return close(fd) == 0 && ok ? 0 : -1;
}

/* A CA of its own: a sub dir with its database, its config, its key and
   self-signed certificate. */
static int make_ca(sec_certs *c, const char *name, const char *cn)
{
    char dir[300], cnf[400], text[4096], key[400], crt[400], index[400], serial[400];
    snprintf(dir, sizeof dir, "%s/%s.d", c->dir, name);
    if (mkdir(dir, 0700) != 0)
        return -1;
    snprintf(cnf, sizeof cnf, "%s/ca.cnf", dir);
    snprintf(key, sizeof key, "%s/ca.key", dir);
    snprintf(crt, sizeof crt, "%s/%s.crt", c->dir, name);
    snprintf(index, sizeof index, "%s/index.txt", dir);
    snprintf(serial, sizeof serial, "%s/serial", dir);
    snprintf(text, sizeof text,
             "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
             "[v3_ca]\nbasicConstraints = critical,CA:TRUE\n"
             "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
             "[ca]\ndefault_ca = ca_default\n"
             "[ca_default]\ndatabase = %s\nnew_certs_dir = %s\nserial = %s\n"
             "certificate = %s\nprivate_key = %s\ndefault_md = sha256\n"
             "policy = policy_any\ncopy_extensions = copy\nunique_subject = no\n"
             "[policy_any]\ncommonName = supplied\n",
             index, dir, serial, crt, key);
    if (write_text(cnf, text, 0600) != 0 || write_text(index, "", 0600) != 0 ||
        write_text(serial, "1000\n", 0600) != 0)
        return -1;
    char subj[128];
    snprintf(subj, sizeof subj, "/CN=%s", cn);
    return openssl_run(c, "req", "-x509", "-config", cnf, "-extensions", "v3_ca", "-newkey", "ec",
                       "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                       "-days", "3650", "-subj", subj, NULL);
}

/* A key and a request for it, with subjectAltName `san` (NULL: none). */
static int make_request(sec_certs *c, const char *key_name, const char *cn, const char *san,
                        char *csr, size_t csr_size)
{
    char cnf[400], key[400], subj[128], ext[256];
    snprintf(cnf, sizeof cnf, "%s/req.cnf", c->dir);
    if (access(cnf, R_OK) != 0 &&
        write_text(cnf, "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n", 0600) !=
            0)
        return -1;
    snprintf(key, sizeof key, "%s/%s", c->dir, key_name);
    snprintf(csr, csr_size, "%s/%s.csr", c->dir, key_name);
    snprintf(subj, sizeof subj, "/CN=%s", cn);
    snprintf(ext, sizeof ext, "subjectAltName=%s", san != NULL ? san : "");
    if (san == NULL)
        return openssl_run(c, "req", "-new", "-config", cnf, "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                           "-subj", subj, NULL);
    return openssl_run(c, "req", "-new", "-config", cnf, "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj",
                       subj, "-addext", ext, NULL);
}

/* Signs `csr` with CA `ca` into `out`: valid for 30 days from now, or
   over the given past dates (YYYYMMDDHHMMSSZ) when `start` is set. */
static int sign(sec_certs *c, const char *ca, const char *csr, const char *out, const char *start,
                const char *end)
{
    char cnf[500], crt[500];
    snprintf(cnf, sizeof cnf, "%s/%s.d/ca.cnf", c->dir, ca);
    snprintf(crt, sizeof crt, "%s/%s", c->dir, out);
    if (start != NULL)
        return openssl_run(c, "ca", "-batch", "-notext", "-config", cnf, "-in", csr, "-out", crt,
                           "-startdate", start, "-enddate", end, NULL);
    return openssl_run(c, "ca", "-batch", "-notext", "-config", cnf, "-in", csr, "-out", crt,
                       "-days", "30", NULL);
}

/* openssl x509 -checkend 0: 0 when still valid, 1 when expired. */
static int expired(sec_certs *c, const char *name)
{
    char crt[500];
    snprintf(crt, sizeof crt, "%s/%s", c->dir, name);
    return openssl_run(c, "x509", "-checkend", "0", "-noout", "-in", crt, NULL);
}

int sec_certs_make(sec_certs *c)
{
    memset(c, 0, sizeof *c);
    if (!sec_have_openssl()) {
        snprintf(c->why, sizeof c->why, "no openssl binary on PATH");
        return -1;
    }
    snprintf(c->dir, sizeof c->dir, "/tmp/hbeat-sec-XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        snprintf(c->why, sizeof c->why, "mkdtemp: %s", strerror(errno));
        c->dir[0] = '\0';
        return -1;
    }
    char csr[500];
    int rc = 0;
    rc |= make_ca(c, "ca", "hbeat test CA");
    rc |= make_ca(c, "ca2", "hbeat other CA");
    if (rc == 0)
        rc = make_request(c, SEC_SERVER_KEY, "localhost",
                          "DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1", csr, sizeof csr);
    if (rc == 0)
        rc = sign(c, "ca", csr, SEC_SERVER_CRT, NULL, NULL);
    if (rc == 0)
        rc = sign(c, "ca", csr, SEC_EXPIRED_CRT, "20200101000000Z", "20200102000000Z");
    if (rc == 0)
        rc = make_request(c, SEC_OTHERHOST_KEY, "other.example", "DNS:other.example", csr,
                          sizeof csr);
    if (rc == 0)
        rc = sign(c, "ca", csr, SEC_OTHERHOST_CRT, NULL, NULL);
    if (rc == 0)
        rc = make_request(c, SEC_CLIENT_KEY, "hbeat client", NULL, csr, sizeof csr);
    if (rc == 0)
        rc = sign(c, "ca", csr, SEC_CLIENT_CRT, NULL, NULL);
    if (rc == 0)
        rc = sign(c, "ca2", csr, SEC_CLIENT_CA2_CRT, NULL, NULL);
    if (rc == 0)
        rc = sign(c, "ca", csr, SEC_CLIENT_EXPIRED, "20200101000000Z", "20200102000000Z");
    if (rc != 0) {
        if (c->why[0] == '\0')
            snprintf(c->why, sizeof c->why, "could not write the CA files in %.200s", c->dir);
        return -1;
    }
    /* The expired certificates must really be expired, and only they. */
    const char *valid[] = {SEC_CA,         SEC_CA2,           SEC_SERVER_CRT, SEC_OTHERHOST_CRT,
                           SEC_CLIENT_CRT, SEC_CLIENT_CA2_CRT};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        if (expired(c, valid[i]) != 0) {
            snprintf(c->why, sizeof c->why, "%s should be valid now", valid[i]);
            return -1;
        }
    }
    c->why[0] = '\0';
    if (expired(c, SEC_EXPIRED_CRT) != 1 || expired(c, SEC_CLIENT_EXPIRED) != 1) {
        snprintf(c->why, sizeof c->why, "the expired certificates are not expired");
        return -1;
    }
    c->why[0] = '\0';
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void sec_certs_remove(sec_certs *c)
{
    if (c->dir[0] != '\0')
        remove_tree(c->dir);
    c->dir[0] = '\0';
}

/* ---- hbeatd ---- */

static int ready_line(const hbd_harness *h, const char *prefix, char *line, size_t size)
{
    char path[600];
    snprintf(path, sizeof path, "%s/ready", h->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int found = -1;
    while (fgets(line, (int)size, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

int sec_ready_url(const hbd_harness *h, const char *prefix, char *out, size_t size)
{
    char line[600];
    if (ready_line(h, prefix, line, sizeof line) != 0)
        return -1;
    /* "nng tls+tcp://..." -> "nng+tls+tcp://...", "http https://..." -> "https://..." */
    if (strncmp(line, "nng ", 4) == 0)
        snprintf(out, size, "nng+%s", line + 4);
    else
        snprintf(out, size, "%s", strchr(line, ' ') + 1);
    return 0;
}

int sec_start_tls_hbeatd(hbd_harness *h, const sec_certs *c, const char *const *extra_args,
                         char *nng_url, size_t nng_size, char *https_url, size_t https_size)
{
    char crt[600], key[600];
    snprintf(crt, sizeof crt, "%s/%s", c->dir, SEC_SERVER_CRT);
    snprintf(key, sizeof key, "%s/%s", c->dir, SEC_SERVER_KEY);
    const char *args[24] = {"--listen", "tls+tcp://127.0.0.1:0", "--tls-cert", crt, "--tls-key",
                            key};
    size_t n = 6;
    for (; extra_args != NULL && *extra_args != NULL; extra_args++) {
        if (n + 1 >= sizeof args / sizeof args[0]) {
            fprintf(stderr, "sec_start_tls_hbeatd: too many arguments\n");
            return -1;
        }
        args[n++] = *extra_args;
    }
    args[n] = NULL;
    if (hbd_harness_start(h, args) != 0)
        return -1;
    if (sec_ready_url(h, "nng tls+tcp://", nng_url, nng_size) != 0 ||
        sec_ready_url(h, "http https://", https_url, https_size) != 0) {
        fprintf(stderr, "hbeatd's ready file names no tls+tcp:// or https:// listener\n");
        hbd_harness_stop(h);
        return -1;
    }
    return 0;
}

int sec_ready_port(const hbd_harness *h, const char *prefix)
{
    char line[600];
    if (ready_line(h, prefix, line, sizeof line) != 0)
        return -1;
    const char *p = strstr(line, "://");
    p = p != NULL ? strchr(p + 3, ':') : NULL;
    return p != NULL ? atoi(p + 1) : -1;
}

int sec_log_contains(const hbd_harness *h, const char *needle)
{
    char path[600];
    snprintf(path, sizeof path, "%s/hbeatd.log", h->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    static char buf[4 * 1024 * 1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

int sec_log_wait(const hbd_harness *h, const char *needle, double timeout)
{
    double until = sec_now() + timeout;
    while (sec_now() < until) {
        if (sec_log_contains(h, needle))
            return 0;
        sec_sleep_ms(10);
    }
    return sec_log_contains(h, needle) ? 0 : -1;
}

int sec_write_file(const char *path, const char *text)
{
    /* Written aside and renamed, so that hbeatd never reads half a file. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (write_text(tmp, text, 0600) != 0)
        return -1;
    return rename(tmp, path);
}

/* ---- raw sockets ---- */

int sec_connect(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    if (src != NULL) {
        inet_pton(AF_INET, src, &sa.sin_addr);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            return -1;
        }
    }
    sa.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

int sec_closed_within(int fd, double timeout)
{
    double until = sec_now() + timeout;
    char buf[4096];
    for (;;) {
        double left = until - sec_now();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, (int)(left * 1000) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
    }
}

long sec_http(int port, const char *request, char *reply, size_t size)
{
    int fd = sec_connect(NULL, port);
    if (fd < 0)
        return -1;
    size_t len = strlen(request);
    if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    size_t have = 0;
    double until = sec_now() + 5.0;
    while (have + 1 < size && sec_now() < until) {
        ssize_t r = recv(fd, reply + have, size - 1 - have, 0);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    reply[have] = '\0';
    close(fd);
    return (long)have;
}

int sec_sp_connect(const char *src, int port)
{
    int fd = sec_connect(src, port);
    if (fd < 0)
        return -1;
    /* SP header: 0, 'S', 'P', version 0, protocol REQ v0 (0x30), reserved. */
    static const unsigned char hdr[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
    unsigned char got[8];
    size_t have = 0;
    if (send(fd, hdr, sizeof hdr, MSG_NOSIGNAL) != (ssize_t)sizeof hdr) {
        close(fd);
        return -1;
    }
    while (have < sizeof got) {
        ssize_t r = recv(fd, got + have, sizeof got - have, 0);
        if (r <= 0) {
            close(fd);
            return -1;
        }
        have += (size_t)r;
    }
    /* REP v0 is 0x31. */
    if (got[1] != 'S' || got[2] != 'P' || got[5] != 0x31) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- gateways ---- */

hbeat_gateway *sec_open(const char *url, const char *token, const sec_tls *tls, double timeout)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.token = token;
    o.request_timeout = timeout;
    o.connect_timeout = timeout;
    if (tls != NULL) {
        o.ca_file = tls->ca_file;
        o.cert_file = tls->cert_file;
        o.key_file = tls->key_file;
        o.insecure = tls->insecure;
    }
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, &o, &err);
    if (rc != 0) {
        fail_msg("open %s: %s (%s)", url, hbeat_strerror(rc), err.message);
        return NULL;
    }
    return gw;
}

double sec_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sec_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *const sec_call_names[C_COUNT] = {"heartbeat", "update_status", "create_run",
                                             "get_run",   "list_runs",     "set_status"};

int sec_call(hbeat_gateway *gw, int call, int64_t run, hbeat_error *err)
{
    char status[HBEAT_STATUS_MAX + 1];
    hbeat_run_info info;
    switch (call) {
    case C_BEAT:
        return hbeat_gateway_log_heartbeat(gw, run, "R", 3600.0, status, err);
    case C_UPDATE:
        return hbeat_gateway_update_status(gw, run, "D", status, err);
    case C_CREATE:
        return hbeat_run_create(gw, 99, "G", &info, err);
    case C_GET:
        return hbeat_run_get(gw, run, &info, err);
    case C_LIST: {
        hbeat_run_info *runs = NULL;
        size_t n = 0;
        int rc = hbeat_run_list(gw, NULL, &runs, &n, err);
        hbeat_run_list_free(runs);
        return rc;
    }
    default:
        return hbeat_run_set_status(gw, run, "C", 1, &info, err);
    }
}

int sec_certs_for_main(sec_certs *c)
{
    if (!sec_have_openssl()) {
        printf("SKIPPED: no openssl binary on PATH to make test certificates\n");
        return 77;
    }
    if (sec_certs_make(c) != 0) {
        fprintf(stderr, "cannot make test certificates: %s\n", c->why);
        sec_certs_remove(c);
        return 1;
    }
    return 0;
}
