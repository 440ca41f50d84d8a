#!/usr/bin/python3
"""An independent hbeat.v1.HeartbeatService: Debian's python3-grpcio serving
the messages of proto/hbeat/v1/hbeat.proto, compiled at start-up with protoc
(--python_out) into a temporary directory. hbeat's C client is tested
against it.

    hbeat_grpc_peer.py --proto-dir DIR --ready-file FILE [--port N]
                       [--mode MODE] [--token T]
                       [--cert PEM --key PEM [--client-ca PEM]]

Writes the bound port to FILE once serving. Modes change every reply:
  normal    a small in-memory run store (the default)
  garbage   reply bytes that are no protobuf message
  oversize  a well-formed reply of 2 MiB
  slow      answer after 30 s (the client's deadline comes first)
In every mode but normal, a call about an unknown run makes that run, so
that each call reaches the reply the mode is about.
  wrongseq  heartbeat replies that echo another sequence number
With --token, a call without "authorization: Bearer T" is UNAUTHENTICATED.
Every call it served is counted; SIGTERM stops it.
"""
import argparse
import importlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

SERVICE = "hbeat.v1.HeartbeatService"


def compile_messages(proto_dir):
    out = tempfile.mkdtemp(prefix="hbeat-grpc-peer-")
    subprocess.run(["protoc", "-I", proto_dir, "--python_out", out,
                    os.path.join(proto_dir, "hbeat", "v1", "hbeat.proto")], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("hbeat.v1.hbeat_pb2")


class Store:
    """Runs as hbeatd keeps them, much simplified: an operator's status
    (SetStatus) sticks until the next operator change; beats refresh the
    deadline and may move a run between the active statuses."""
    ACTIVE = {"G", "Q", "B", "I", "O", "R"}

    def __init__(self, pb):
        self.pb = pb
        self.lock = threading.Lock()
        self.runs = {}
        self.next_id = 1

    def info(self, r):
        return self.pb.RunInfo(workflow_run_id=r["id"], workflow_id=r["wf"], status=r["status"],
                               deadline=r["deadline"], last_heartbeat=r["last"], beats=r["beats"])

    def get(self, run_id, ctx, any_run=False):
        r = self.runs.get(run_id)
        if r is None and any_run:
            r = {"id": run_id, "wf": 1, "status": "R", "deadline": 0.0, "last": 0.0, "beats": 0}
            self.runs[run_id] = r
        if r is None:
            ctx.abort(grpc.StatusCode.NOT_FOUND, "no run %d" % run_id)
        return r


def valid_status(s):
    return 1 <= len(s) <= 8 and s.isascii() and s.isalnum()


def make_handlers(pb, store, mode, token):
    def guard(ctx):
        if token is not None:
            md = dict(ctx.invocation_metadata())
            if md.get("authorization") != "Bearer " + token:
                ctx.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        if mode == "slow":
            time.sleep(30)

    def log_heartbeat(req, ctx):
        guard(ctx)
        if not valid_status(req.status):
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad status")
        with store.lock:
            r = store.get(req.workflow_run_id, ctx, mode != "normal")
            if r["status"] in Store.ACTIVE:
                r["status"] = req.status
            r["beats"] += 1
            r["last"] = time.time()
            r["deadline"] = r["last"] + req.next_report_increment
            seq = req.sequence + (1 if mode == "wrongseq" else 0)
            return pb.HeartbeatReply(status=r["status"], sequence=seq, deadline=r["deadline"])

    def update_status(req, ctx):
        guard(ctx)
        with store.lock:
            r = store.get(req.workflow_run_id, ctx, mode != "normal")
            if r["status"] in Store.ACTIVE:
                r["status"] = req.status
            return pb.UpdateStatusReply(status=r["status"])

    def create_run(req, ctx):
        guard(ctx)
        with store.lock:
            r = {"id": store.next_id, "wf": req.workflow_id, "status": req.status or "G",
                 "deadline": 0.0, "last": 0.0, "beats": 0}
            if req.WhichOneof("first_deadline") is not None:
                r["deadline"] = time.time() + req.next_report_increment
            store.next_id += 1
            store.runs[r["id"]] = r
            return pb.CreateRunReply(run=store.info(r))

    def get_run(req, ctx):
        guard(ctx)
        with store.lock:
            return pb.GetRunReply(run=store.info(store.get(req.workflow_run_id, ctx, mode != "normal")))

    def list_runs(req, ctx):
        guard(ctx)
        limit = req.limit or 2  # small pages, so that paging is exercised
        with store.lock:
            ids = sorted(i for i, r in store.runs.items()
                         if i > req.after_id and (not req.status or r["status"] == req.status))
            page = ids[:limit]
            more = len(ids) > limit
            return pb.ListRunsReply(runs=[store.info(store.runs[i]) for i in page],
                                    next_after_id=page[-1] if more else 0)

    def set_status(req, ctx):
        guard(ctx)
        if not valid_status(req.status):
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad status")
        with store.lock:
            r = store.get(req.workflow_run_id, ctx, mode != "normal")
            r["status"] = req.status
            return pb.SetStatusReply(run=store.info(r))

    calls = {
        "LogHeartbeat": (log_heartbeat, pb.HeartbeatRequest),
        "UpdateStatus": (update_status, pb.UpdateStatusRequest),
        "CreateRun": (create_run, pb.CreateRunRequest),
        "GetRun": (get_run, pb.GetRunRequest),
        "ListRuns": (list_runs, pb.ListRunsRequest),
        "SetStatus": (set_status, pb.SetStatusRequest),
    }

    def serializer(msg):
        if mode == "garbage":
            return b"\xff\xff\xff\xff not a protobuf message"
        if mode == "oversize":
            return msg.SerializeToString() + b"\x7a" + b"\xff\xff\x7f" + b"x" * (2 * 1024 * 1024 - 1)
        return msg.SerializeToString()

    handlers = {name: grpc.unary_unary_rpc_method_handler(
                    fn, request_deserializer=req_type.FromString, response_serializer=serializer)
                for name, (fn, req_type) in calls.items()}
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="normal",
                    choices=["normal", "garbage", "oversize", "slow", "wrongseq"])
    ap.add_argument("--token")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca")
    a = ap.parse_args()

    pb = compile_messages(a.proto_dir)
    store = Store(pb)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.max_send_message_length", 8 * 1024 * 1024),
                                  ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((make_handlers(pb, store, a.mode, a.token),))
    addr = "127.0.0.1:%d" % a.port
    if a.cert:
        with open(a.key, "rb") as k, open(a.cert, "rb") as c:
            pair = [(k.read(), c.read())]
        root = None
        if a.client_ca:
            with open(a.client_ca, "rb") as f:
                root = f.read()
        creds = grpc.ssl_server_credentials(pair, root_certificates=root,
                                            require_client_auth=root is not None)
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    if port == 0:
        sys.exit("hbeat_grpc_peer: cannot bind %s" % addr)
    server.start()
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, a.ready_file)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    # A test that dies (or fails past its clean-up) must not leave us
    # serving: stop when the parent is gone.
    parent = os.getppid()
    while not done.wait(0.5):
        if os.getppid() != parent:
            break
    server.stop(0.5).wait()
    # Not a normal exit: that would join handler threads still sleeping in
    # the slow mode.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
