/*
 * A session of nng requests against one engine: the input is a sequence of
 * frames, each a length byte followed by that many bytes of a request (the
 * last frame takes what is left). Every request is served by
 * hbd_codec_serve() and checked against the model (nng_model.h) from the
 * runs the previous one left, so chains of transitions, many runs (the
 * run index growing, pages of lists) and requests that refer to runs
 * created earlier in the session are explored, where
 * fuzz_server_nng_request sees one request against the seeded runs.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_support.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "nng_model.h"

/* Keeps one input's work bounded, whatever its length. */
#define MAX_FRAMES 2000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hbd_engine *e = fz_engine_open();
    fz_snapshot before, after;
    fz_snapshot_take(e, &before);
    size_t off = 0;
    for (int frames = 0; off < size && frames < MAX_FRAMES; frames++) {
        size_t len = data[off++];
        if (len > size - off)
            len = size - off;
        /* A copy of exactly the frame, so that ASan sees a read past it. */
        uint8_t *req_bytes = malloc(len ? len : 1);
        FUZZ_CHECK(req_bytes != NULL, "out of memory");
        for (size_t i = 0; i < len; i++)
            req_bytes[i] = data[off + i];
        off += len;

        HbeatPb__Request *req = hbeat_pb__request__unpack(NULL, len, req_bytes);
        int auth_on = fz_nng_wants_auth(req);
        HbeatPb__Reply *r =
            fz_nng_serve(e, auth_on ? fz_nng_auth() : NULL, req_bytes, len, FZ_NNG_MAX_MESSAGE);
        fz_snapshot_take(e, &after);
        fz_nng_check(req, auth_on, r, &before, &after);
        hbeat_pb__reply__free_unpacked(r, NULL);
        if (req != NULL)
            hbeat_pb__request__free_unpacked(req, NULL);
        free(req_bytes);
        fz_snapshot_free(&before);
        before = after;
    }
    fz_snapshot_free(&before);
    fz_engine_close(e);
    return 0;
}
