/*
 * hbeatd's nng front end without a socket: bytes -> hbd_codec_serve() (the
 * protobuf Request decode, the checks, the engine call, the Reply encode)
 * against a fresh in-memory engine.
 *
 * Beyond "no crash, no leak": every input must get exactly one Reply that
 * decodes, whose strings are UTF-8, and whose content is what Jobmon's
 * state machine says (server_model.h) -- including that a refused request
 * changes no run. The same bytes are then served again with a size limit one
 * byte short, which must give TOO_LARGE and change nothing.
 *
 * A request that carries a token is served with tokens checked (one
 * operator and one client token, nng_model.h), so that the rights are
 * fuzzed too; one without a token is served as by a server without a
 * token file.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "nng_model.h"

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
    fz_snapshot before, after, again;
    fz_snapshot_take(e, &before);

    HbeatPb__Request *req = hbeat_pb__request__unpack(NULL, size, data);
    int auth_on = fz_nng_wants_auth(req);
    hbd_auth *auth = auth_on ? fz_nng_auth() : NULL;
    HbeatPb__Reply *r = fz_nng_serve(e, auth, data, size, FZ_NNG_MAX_MESSAGE);
    fz_snapshot_take(e, &after);
    fz_nng_check(req, auth_on, r, &before, &after);
    hbeat_pb__reply__free_unpacked(r, NULL);

    if (size > 0) {
        r = fz_nng_serve(e, auth, data, size, size - 1);
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE);
        fz_snapshot_take(e, &again);
        fz_expect_state(&after, &again, NULL, "an oversized request");
        fz_snapshot_free(&again);
        hbeat_pb__reply__free_unpacked(r, NULL);
    }

    if (req != NULL)
        hbeat_pb__request__free_unpacked(req, NULL);
    fz_snapshot_free(&before);
    fz_snapshot_free(&after);
    fz_engine_close(e);
    return 0;
}
