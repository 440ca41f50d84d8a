#include "peer.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/protocol/reqrep0/rep.h>

#include "hbeat/v1/hbeat.pb-c.h"

void make_temp_dir(char *out, size_t size)
{
    snprintf(out, size, "/tmp/hbeat-nng-test-XXXXXX");
    if (mkdtemp(out) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

void rm_temp_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

void peer_init(peer *p, const char *name, const char *ipc_dir)
{
    memset(p, 0, sizeof(*p));
    if (ipc_dir != NULL) {
        snprintf(p->listen_url, sizeof(p->listen_url), "ipc://%s/%s", ipc_dir, name);
    } else {
        snprintf(p->listen_url, sizeof(p->listen_url), "inproc://%s", name);
    }
    snprintf(p->client_url, sizeof(p->client_url), "nng+%s", p->listen_url);
    p->mode = PEER_GOOD;
    p->total_runs = 7;
    p->page_size = 3;
    p->huge_size = 4096;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
}

void peer_destroy(peer *p)
{
    peer_stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

void peer_set_mode(peer *p, peer_mode mode)
{
    pthread_mutex_lock(&p->mu);
    p->mode = mode;
    pthread_mutex_unlock(&p->mu);
}

void peer_set_status(peer *p, const char *status)
{
    pthread_mutex_lock(&p->mu);
    p->mode = PEER_STATUS;
    snprintf(p->status, sizeof(p->status), "%s", status);
    pthread_mutex_unlock(&p->mu);
}

void peer_set_error(peer *p, int code, const char *message)
{
    pthread_mutex_lock(&p->mu);
    p->mode = PEER_ERROR;
    p->error_code = code;
    snprintf(p->error_message, sizeof(p->error_message), "%s", message);
    pthread_mutex_unlock(&p->mu);
}

unsigned peer_requests(peer *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->requests;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int peer_wait_requests(peer *p, unsigned n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (p->requests < n && rc == 0) {
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    }
    int ok = p->requests >= n;
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

/* What the script needs from `p`, copied under the lock. */
typedef struct script {
    peer_mode mode;
    char status[64];
    int error_code;
    char error_message[128];
    size_t huge_size;
    int64_t total_runs;
    uint32_t page_size;
} script;

static void record(peer *p, const HbeatPb__Request *req, script *s)
{
    pthread_mutex_lock(&p->mu);
    p->requests++;
    p->last_case = req != NULL ? (int)req->call_case : -1;
    if (req != NULL) {
        snprintf(p->last_token, sizeof(p->last_token), "%s", req->token);
        switch (req->call_case) {
        case HBEAT_PB__REQUEST__CALL_HEARTBEAT:
            snprintf(p->last_status, sizeof(p->last_status), "%s", req->heartbeat->status);
            p->last_sequence = req->heartbeat->sequence;
            p->last_run_id = req->heartbeat->workflow_run_id;
            p->last_increment = req->heartbeat->next_report_increment;
            break;
        case HBEAT_PB__REQUEST__CALL_UPDATE_STATUS:
            snprintf(p->last_status, sizeof(p->last_status), "%s", req->update_status->status);
            p->last_run_id = req->update_status->workflow_run_id;
            break;
        case HBEAT_PB__REQUEST__CALL_SET_STATUS:
            snprintf(p->last_status, sizeof(p->last_status), "%s", req->set_status->status);
            p->last_run_id = req->set_status->workflow_run_id;
            p->last_force = req->set_status->force;
            break;
        case HBEAT_PB__REQUEST__CALL_LIST_RUNS:
            snprintf(p->last_status, sizeof(p->last_status), "%s", req->list_runs->status);
            break;
        default:
            break;
        }
    }
    s->mode = p->mode;
    memcpy(s->status, p->status, sizeof(s->status));
    s->error_code = p->error_code;
    memcpy(s->error_message, p->error_message, sizeof(s->error_message));
    s->huge_size = p->huge_size;
    s->total_runs = p->total_runs;
    s->page_size = p->page_size;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void fill_run(HbeatPb__RunInfo *run, int64_t id, const char *status)
{
    hbeat_pb__run_info__init(run);
    run->workflow_run_id = id;
    run->workflow_id = 7;
    run->status = (char *)status;
    run->deadline = 1764280000.25;
    run->last_heartbeat = 1764279950.5;
    run->beats = 3;
}

/* Build the reply the script asks for; returns a new message or NULL. */
static nng_msg *answer(const script *s, const HbeatPb__Request *req)
{
    HbeatPb__Reply rep;
    hbeat_pb__reply__init(&rep);
    HbeatPb__HeartbeatReply hb;
    hbeat_pb__heartbeat_reply__init(&hb);
    HbeatPb__UpdateStatusReply us;
    hbeat_pb__update_status_reply__init(&us);
    HbeatPb__CreateRunReply cr;
    hbeat_pb__create_run_reply__init(&cr);
    HbeatPb__GetRunReply gr;
    hbeat_pb__get_run_reply__init(&gr);
    HbeatPb__SetStatusReply sr;
    hbeat_pb__set_status_reply__init(&sr);
    HbeatPb__ListRunsReply lr;
    hbeat_pb__list_runs_reply__init(&lr);
    HbeatPb__Error e;
    hbeat_pb__error__init(&e);
    HbeatPb__RunInfo run;
    HbeatPb__RunInfo page[16];
    HbeatPb__RunInfo *page_ptrs[16];

    const char *forced = s->mode == PEER_STATUS ? s->status : NULL;
    HbeatPb__RunInfo *maybe_run = s->mode == PEER_RUN_MISSING ? NULL : &run;

    switch (req->call_case) {
    case HBEAT_PB__REQUEST__CALL_HEARTBEAT:
        hb.status = (char *)(forced ? forced : req->heartbeat->status);
        hb.sequence = req->heartbeat->sequence + (s->mode == PEER_WRONG_SEQ ? 1 : 0);
        hb.deadline = 1764280000.0 + req->heartbeat->next_report_increment;
        rep.result_case = HBEAT_PB__REPLY__RESULT_HEARTBEAT;
        rep.heartbeat = &hb;
        break;
    case HBEAT_PB__REQUEST__CALL_UPDATE_STATUS:
        us.status = (char *)(forced ? forced : req->update_status->status);
        rep.result_case = HBEAT_PB__REPLY__RESULT_UPDATE_STATUS;
        rep.update_status = &us;
        break;
    case HBEAT_PB__REQUEST__CALL_CREATE_RUN: {
        const char *st = req->create_run->status[0] ? req->create_run->status : "G";
        fill_run(&run, 42, forced ? forced : st);
        run.workflow_id = req->create_run->workflow_id;
        /* As hbeatd: a first deadline when asked for, none otherwise. */
        run.deadline = req->create_run->first_deadline_case ==
                               HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT
                           ? 1764280000.0 + req->create_run->next_report_increment
                           : 0;
        run.last_heartbeat = 0;
        run.beats = 0;
        cr.run = maybe_run;
        rep.result_case = HBEAT_PB__REPLY__RESULT_CREATE_RUN;
        rep.create_run = &cr;
        break;
    }
    case HBEAT_PB__REQUEST__CALL_GET_RUN:
        fill_run(&run, req->get_run->workflow_run_id + (s->mode == PEER_RUN_OTHER ? 1 : 0),
                 forced ? forced : "R");
        gr.run = maybe_run;
        rep.result_case = HBEAT_PB__REPLY__RESULT_GET_RUN;
        rep.get_run = &gr;
        break;
    case HBEAT_PB__REQUEST__CALL_SET_STATUS:
        fill_run(&run, req->set_status->workflow_run_id + (s->mode == PEER_RUN_OTHER ? 1 : 0),
                 forced ? forced : req->set_status->status);
        sr.run = maybe_run;
        rep.result_case = HBEAT_PB__REPLY__RESULT_SET_STATUS;
        rep.set_status = &sr;
        break;
    case HBEAT_PB__REQUEST__CALL_LIST_RUNS: {
        int64_t after = s->mode == PEER_PAGE_ORDER ? 0 : req->list_runs->after_id;
        const char *st = req->list_runs->status[0] ? req->list_runs->status : "R";
        size_t n = 0;
        int64_t id = after + 1;
        for (; id <= s->total_runs && n < s->page_size && n < 16; id++, n++) {
            fill_run(&page[n], id, forced ? forced : st);
            page_ptrs[n] = &page[n];
        }
        lr.n_runs = n;
        lr.runs = page_ptrs;
        lr.next_after_id = id <= s->total_runs ? id - 1 : 0;
        if (s->mode == PEER_PAGE_STUCK && after > 0) {
            lr.next_after_id = after; /* the second page points at itself */
        }
        rep.result_case = HBEAT_PB__REPLY__RESULT_LIST_RUNS;
        rep.list_runs = &lr;
        break;
    }
    default:
        break;
    }

    if (s->mode == PEER_ERROR) {
        e.code = (HbeatPb__ErrorCode)s->error_code;
        e.message = (char *)s->error_message;
        rep.result_case = HBEAT_PB__REPLY__RESULT_ERROR;
        rep.error = &e;
    } else if (s->mode == PEER_NOT_SET) {
        rep.result_case = HBEAT_PB__REPLY__RESULT__NOT_SET;
    } else if (s->mode == PEER_WRONG_CASE) {
        if (req->call_case == HBEAT_PB__REQUEST__CALL_HEARTBEAT) {
            us.status = (char *)"R";
            rep.result_case = HBEAT_PB__REPLY__RESULT_UPDATE_STATUS;
            rep.update_status = &us;
        } else {
            hb.status = (char *)"R";
            rep.result_case = HBEAT_PB__REPLY__RESULT_HEARTBEAT;
            rep.heartbeat = &hb;
        }
    }

    size_t len = hbeat_pb__reply__get_packed_size(&rep);
    size_t total = len;
    if (s->mode == PEER_HUGE && s->huge_size > len + 8) {
        total = s->huge_size;
    }
    nng_msg *msg;
    if (nng_msg_alloc(&msg, total) != 0) {
        return NULL;
    }
    uint8_t *body = nng_msg_body(msg);
    hbeat_pb__reply__pack(&rep, body);
    if (total > len) {
        /* Pad with an unknown length-delimited field 99, which a reader
           must skip: the reply stays valid, only too big. */
        size_t pad = total - len - 5;
        uint8_t *q = body + len;
        *q++ = (uint8_t)((99 << 3) | 2) | 0x80;
        *q++ = (uint8_t)(99 >> 4);
        *q++ = (uint8_t)(0x80 | (pad & 0x7f));
        *q++ = (uint8_t)(0x80 | ((pad >> 7) & 0x7f));
        *q++ = (uint8_t)((pad >> 14) & 0x7f);
        memset(q, 0, pad);
    }
    if (s->mode == PEER_GARBAGE) {
        memset(body, 0xff, total);
    } else if (s->mode == PEER_TRUNCATED) {
        nng_msg_chop(msg, total - total / 2);
    }
    return msg;
}

static void *serve(void *arg)
{
    peer *p = arg;
    for (;;) {
        nng_msg *msg;
        int rv = nng_recvmsg(p->sock, &msg, 0);
        if (rv == NNG_ECLOSED) {
            break;
        }
        if (rv != 0) {
            continue;
        }
        HbeatPb__Request *req =
            hbeat_pb__request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
        script s;
        record(p, req, &s);
        if (req == NULL) {
            nng_msg_free(msg);
            continue;
        }
        if (s.mode == PEER_DROP) {
            nng_pipe_close(nng_msg_get_pipe(msg));
        } else if (s.mode != PEER_SILENT) {
            nng_msg *reply = answer(&s, req);
            if (reply != NULL && nng_sendmsg(p->sock, reply, 0) != 0) {
                nng_msg_free(reply);
            }
        }
        nng_msg_free(msg);
        hbeat_pb__request__free_unpacked(req, NULL);
    }
    return NULL;
}

int peer_start(peer *p)
{
    int rv = nng_rep0_open(&p->sock);
    if (rv == 0) {
        rv = nng_listen(p->sock, p->listen_url, NULL, 0);
        if (rv != 0) {
            nng_close(p->sock);
        }
    }
    if (rv != 0) {
        fprintf(stderr, "peer: cannot listen on %s: %s\n", p->listen_url, nng_strerror(rv));
        return -1;
    }
    if (pthread_create(&p->thread, NULL, serve, p) != 0) {
        nng_close(p->sock);
        return -1;
    }
    p->running = 1;
    return 0;
}

void peer_stop(peer *p)
{
    if (p->running) {
        nng_close(p->sock);
        pthread_join(p->thread, NULL);
        p->running = 0;
    }
}
