/*
 * A hostile hbeat server for the nng fault tests, speaking nng's wire
 * protocol (SP over TCP or IPC) on raw sockets, so that it can send what no
 * REP socket would: a frame cut off mid-way, a frame header announcing
 * 100 MB. It answers each heartbeat as its current mode says, honestly or
 * not (see hostile_peer.h).
 *
 * The wire, as nng 1.x speaks it: each side first sends 8 bytes
 * "\0SP\0", its protocol number (REQ 0x30, REP 0x31, big-endian) and two
 * zero bytes. Then every message is a frame: over TCP an 8-byte big-endian
 * length and the payload; over IPC a type byte (1), then the same. A REQ
 * payload starts with the 4-byte request id (high bit set), which the
 * reply must start with too; the rest is the hbeat.v1 protobuf.
 */
#ifndef HBEAT_ITEST_FAULTS_HOSTILE_SP_H
#define HBEAT_ITEST_FAULTS_HOSTILE_SP_H

#include <stdint.h>

#include "hostile_peer.h"

typedef enum hs_mode {
    /* A correct HeartbeatReply echoing status and sequence. */
    HS_HONEST = 0,
    /* 64 random bytes in place of the Reply (in a correct frame). */
    HS_GARBAGE,
    /* A correct Reply cut in half (in a correct frame). */
    HS_TRUNCATED,
    /* A frame header announcing 100 MB, then the bytes for as long as the
       client takes them. */
    HS_HUGE,
    /* An Error reply with ERROR_CODE_INTERNAL: the server failed. */
    HS_SERVER_ERROR,
    /* A well-formed Reply to another call (get_run). */
    HS_WRONG_REPLY,
    /* A frame header for the correct reply, half of it, then close. */
    HS_CLOSE_MID,
    HS_MODES
} hs_mode;

typedef enum hs_kind { HS_TCP, HS_IPC } hs_kind;

#define HS_HUGE_LEN ((uint64_t)100 * 1024 * 1024)

/* Listens on tcp://127.0.0.1:<free port> or ipc://<temp dir>/peer.sock;
   the client's URL is nng+tcp://127.0.0.1:PORT or nng+ipc:///... Stop it,
   switch its mode and read its counts with fx_hostile_*. */
fx_hostile *hs_start(hs_kind kind);

#endif
