#!/usr/bin/python3
"""hbeatd's gRPC front end seen by an independent gRPC implementation:
Debian's python3-grpcio, with the messages of proto/ compiled at start-up
by protoc (--python_out). Starts the real hbeatd with a token file, gRPC and
REST (for /metrics) on free loopback ports, and stops it at the end.

    test_hbeatd_grpc.py --hbeatd PATH --proto-dir DIR
"""
import argparse
import importlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import grpc

CLIENT = "client-token-0123456789"
OPERATOR = "operator-token-0123456789"
SERVICE = "/hbeat.v1.HeartbeatService/"

ARGS = None


def compile_messages(proto_dir, out):
    """hbeat_pb2, and health_pb2 as module health_check.health_pb2: its
    file path in proto/ (grpc/...) would be shadowed by the grpc package."""
    src = os.path.join(out, "src")
    os.makedirs(os.path.join(src, "health_check"))
    with open(os.path.join(proto_dir, "grpc", "health", "v1", "health.proto")) as f:
        health = f.read()
    with open(os.path.join(src, "health_check", "health.proto"), "w") as f:
        f.write(health)
    subprocess.run(["protoc", "-I", proto_dir, "--python_out", out,
                    os.path.join(proto_dir, "hbeat", "v1", "hbeat.proto")], check=True)
    subprocess.run(["protoc", "-I", src, "--python_out", out,
                    os.path.join(src, "health_check", "health.proto")], check=True)
    sys.path.insert(0, out)
    return (importlib.import_module("hbeat.v1.hbeat_pb2"),
            importlib.import_module("health_check.health_pb2"))


class Hbeatd:
    def __init__(self, path, workdir, extra=(), db=None):
        self.dir = workdir
        tokens = os.path.join(workdir, "tokens")
        with open(tokens, "w") as f:
            f.write("client %s\noperator %s\n" % (CLIENT, OPERATOR))
        self.ready = os.path.join(workdir, "ready")
        self.log = open(os.path.join(workdir, "hbeatd.log"), "w")
        self.proc = subprocess.Popen(
            [path, "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0",
             "--grpc", "127.0.0.1:0", "--db", db or os.path.join(workdir, "hbeatd.db"),
             "--token-file", tokens, "--ready-file", self.ready, "--max-request", "4096",
             *extra], stdout=self.log, stderr=subprocess.STDOUT)
        self.urls = {}
        for _ in range(200):
            if os.path.exists(self.ready):
                with open(self.ready) as f:
                    for line in f:
                        kind, url = line.split()
                        self.urls[kind] = url
                break
            if self.proc.poll() is not None:
                raise RuntimeError("hbeatd exited at start: " + self.read_log())
            time.sleep(0.05)
        if "grpc" not in self.urls:
            raise RuntimeError("hbeatd wrote no grpc line: " + self.read_log())
        self.target = self.urls["grpc"][len("grpc://"):]

    def read_log(self):
        with open(os.path.join(self.dir, "hbeatd.log")) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=20)
        self.log.close()
        return status


class GrpcFrontEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hbeatd-grpc-")
        cls.pb, cls.health = compile_messages(ARGS.proto_dir, os.path.join(cls.tmp.name, "py"))
        cls.server = Hbeatd(ARGS.hbeatd, cls.tmp.name, extra=("--read-timeout", "1"))
        cls.channel = grpc.insecure_channel(cls.server.target)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        status = cls.server.stop()
        cls.tmp.cleanup()
        if status != 0:
            raise AssertionError("hbeatd exited with %d" % status)

    def call(self, method, request, reply_type, token=OPERATOR, path=SERVICE):
        stub = self.channel.unary_unary(path + method,
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=reply_type.FromString)
        md = [("authorization", "Bearer " + token)] if token else []
        return stub(request, metadata=md, timeout=5)

    def raw(self, method, payload, token=OPERATOR):
        stub = self.channel.unary_unary(SERVICE + method)
        return stub(payload, metadata=[("authorization", "Bearer " + token)], timeout=5)

    def assert_status(self, code, fn, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception.details()

    def create(self, status="R", increment=60.0):
        pb = self.pb
        rep = self.call("CreateRun", pb.CreateRunRequest(workflow_id=7, status=status,
                                                         next_report_increment=increment),
                        pb.CreateRunReply)
        self.assertEqual(rep.run.status, status)
        return rep.run.workflow_run_id

    def test_beat_moves_the_deadline_and_counts(self):
        pb = self.pb
        run = self.create()
        before = time.time()
        rep = self.call("LogHeartbeat", pb.HeartbeatRequest(workflow_run_id=run, status="R",
                                                            next_report_increment=300.0,
                                                            sequence=41),
                        pb.HeartbeatReply, token=CLIENT)
        self.assertEqual(rep.status, "R")
        self.assertEqual(rep.sequence, 41)
        self.assertGreaterEqual(rep.deadline, before + 299)
        got = self.call("GetRun", pb.GetRunRequest(workflow_run_id=run), pb.GetRunReply)
        self.assertEqual(got.run.beats, 1)
        self.assertEqual(got.run.deadline, rep.deadline)

    def test_operator_change_reaches_the_next_beat(self):
        pb = self.pb
        run = self.create()
        rep = self.call("SetStatus", pb.SetStatusRequest(workflow_run_id=run, status="C"),
                        pb.SetStatusReply)
        self.assertEqual(rep.run.status, "C")
        beat = self.call("LogHeartbeat", pb.HeartbeatRequest(workflow_run_id=run, status="R",
                                                             next_report_increment=30.0),
                         pb.HeartbeatReply, token=CLIENT)
        self.assertEqual(beat.status, "C")
        upd = self.call("UpdateStatus", pb.UpdateStatusRequest(workflow_run_id=run, status="T"),
                        pb.UpdateStatusReply, token=CLIENT)
        self.assertEqual(upd.status, "T")

    def test_list_pages(self):
        pb = self.pb
        ids = [self.create(status="D") for _ in range(3)]
        page = self.call("ListRuns", pb.ListRunsRequest(status="D", limit=2), pb.ListRunsReply)
        self.assertEqual([r.workflow_run_id for r in page.runs], ids[:2])
        rest = self.call("ListRuns", pb.ListRunsRequest(status="D", after_id=page.next_after_id,
                                                        limit=2), pb.ListRunsReply)
        self.assertEqual([r.workflow_run_id for r in rest.runs], ids[2:])
        self.assertEqual(rest.next_after_id, 0)

    def test_errors_are_grpc_statuses(self):
        pb = self.pb
        G = grpc.StatusCode
        run = self.create()
        beat = pb.HeartbeatRequest(workflow_run_id=run, status="R", next_report_increment=30.0)
        self.assert_status(G.UNAUTHENTICATED, self.call, "LogHeartbeat", beat,
                           pb.HeartbeatReply, token=None)
        self.assert_status(G.UNAUTHENTICATED, self.call, "LogHeartbeat", beat,
                           pb.HeartbeatReply, token="not-a-token-of-this-server")
        d = self.assert_status(G.PERMISSION_DENIED, self.call, "CreateRun",
                               pb.CreateRunRequest(workflow_id=1), pb.CreateRunReply, token=CLIENT)
        self.assertIn("operator", d)
        d = self.assert_status(G.NOT_FOUND, self.call, "GetRun",
                               pb.GetRunRequest(workflow_run_id=987654), pb.GetRunReply)
        self.assertIn("987654", d)
        self.assert_status(G.INVALID_ARGUMENT, self.call, "LogHeartbeat",
                           pb.HeartbeatRequest(workflow_run_id=run, status="X",
                                               next_report_increment=30.0),
                           pb.HeartbeatReply, token=CLIENT)
        self.assert_status(G.INVALID_ARGUMENT, self.call, "SetStatus",
                           pb.SetStatusRequest(workflow_run_id=run, status="G"),
                           pb.SetStatusReply)
        # Bytes that are no message of the method's type.
        self.assert_status(G.INVALID_ARGUMENT, self.raw, "LogHeartbeat", b"\xff\xff\xff")
        # Over --max-request (4096): gRPC refuses it before hbeatd reads it.
        self.assert_status(G.RESOURCE_EXHAUSTED, self.raw, "LogHeartbeat", b"\x12" * 5000)
        # A method this server does not have.
        self.assert_status(G.UNIMPLEMENTED, self.raw, "NoSuchMethod", b"")
        # The run is as it was.
        got = self.call("GetRun", pb.GetRunRequest(workflow_run_id=run), pb.GetRunReply)
        self.assertEqual((got.run.status, got.run.beats), ("R", 0))

    def test_health(self):
        h = self.health
        for service in ("", "hbeat.v1.HeartbeatService"):
            rep = self.call("Check", h.HealthCheckRequest(service=service), h.HealthCheckResponse,
                            token=None, path="/grpc.health.v1.Health/")
            self.assertEqual(rep.status, h.HealthCheckResponse.SERVING)
        self.assert_status(grpc.StatusCode.NOT_FOUND, self.call, "Check",
                           h.HealthCheckRequest(service="no.such.Service"),
                           h.HealthCheckResponse, token=None, path="/grpc.health.v1.Health/")
        watch = self.channel.unary_stream("/grpc.health.v1.Health/Watch",
                                          request_serializer=lambda m: m.SerializeToString(),
                                          response_deserializer=h.HealthCheckResponse.FromString)
        with self.assertRaises(grpc.RpcError) as cm:
            list(watch(h.HealthCheckRequest(), timeout=5))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_a_silent_connection_is_closed(self):
        """No HTTP/2 preface within --read-timeout (1 s): hbeatd closes
        the connection (after its own SETTINGS frame)."""
        host, port = self.server.target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            started = time.monotonic()
            while s.recv(4096) != b"":
                pass
            self.assertLess(time.monotonic() - started, 8)

    def test_metrics_count_grpc_calls(self):
        pb = self.pb
        run = self.create()
        self.call("LogHeartbeat", pb.HeartbeatRequest(workflow_run_id=run, status="R",
                                                      next_report_increment=30.0),
                  pb.HeartbeatReply, token=CLIENT)
        req = urllib.request.Request(self.server.urls["http"].replace("/api/v3", "/metrics"),
                                     headers={"Authorization": "Bearer " + OPERATOR})
        text = urllib.request.urlopen(req, timeout=5).read().decode()
        counts = {}
        for line in text.splitlines():
            if line.startswith('hbeatd_requests_total{protocol="grpc"'):
                labels, value = line.rsplit(" ", 1)
                counts[labels] = float(value)
        ok = 'hbeatd_requests_total{protocol="grpc",route="heartbeat",result="ok"}'
        self.assertGreaterEqual(counts.get(ok, 0), 1, text)
        created = 'hbeatd_requests_total{protocol="grpc",route="create_run",result="ok"}'
        self.assertGreaterEqual(counts.get(created, 0), 1, text)


class Watching(unittest.TestCase):
    """WatchRuns: each watched run's status first, then each change as it
    commits, whoever made it, numbered so that the newest wins."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hbeatd-grpc-")
        cls.pb, _ = compile_messages(ARGS.proto_dir, os.path.join(cls.tmp.name, "py"))
        cls.server = Hbeatd(ARGS.hbeatd, cls.tmp.name, extra=("--reap-interval", "0.1",
                                                                "--reap-grace", "0"))
        cls.channel = grpc.insecure_channel(cls.server.target)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.stop()
        cls.tmp.cleanup()

    def unary(self, method, request, reply_type, token=OPERATOR):
        stub = self.channel.unary_unary(SERVICE + method,
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=reply_type.FromString)
        return stub(request, metadata=[("authorization", "Bearer " + token)], timeout=5)

    def watch(self, ids, token=CLIENT, timeout=10):
        stub = self.channel.unary_stream(SERVICE + "WatchRuns",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=self.pb.RunChange.FromString)
        md = [("authorization", "Bearer " + token)] if token else []
        return stub(self.pb.WatchRunsRequest(workflow_run_ids=ids), metadata=md,
                    timeout=timeout)

    def create(self, status="R", increment=60.0):
        rep = self.unary("CreateRun", self.pb.CreateRunRequest(
            workflow_id=9, status=status, next_report_increment=increment),
            self.pb.CreateRunReply)
        return rep.run.workflow_run_id

    def test_first_status_then_every_change(self):
        pb = self.pb
        a, b = self.create("R"), self.create("O")
        stream = self.watch([a, b])
        first = {}
        for _ in range(2):
            m = next(stream)
            first[m.workflow_run_id] = (m.status, m.change)
        self.assertEqual(first[a][0], "R")
        self.assertEqual(first[b][0], "O")
        # An operator's change, a client's beat that moves the run, and
        # Jobmon's update_status: each reaches the watcher.
        self.unary("SetStatus", pb.SetStatusRequest(workflow_run_id=a, status="C"),
                   pb.SetStatusReply)
        self.unary("LogHeartbeat", pb.HeartbeatRequest(workflow_run_id=b, status="R",
                                                       next_report_increment=60.0),
                   pb.HeartbeatReply, token=CLIENT)
        self.unary("UpdateStatus", pb.UpdateStatusRequest(workflow_run_id=a, status="T"),
                   pb.UpdateStatusReply, token=CLIENT)
        seen = [next(stream) for _ in range(3)]
        latest = {}
        for m in seen:
            if m.change > latest.get(m.workflow_run_id, (None, 0))[1]:
                latest[m.workflow_run_id] = (m.status, m.change)
        self.assertEqual(latest[a][0], "T")
        self.assertEqual(latest[b][0], "R")
        for run in (a, b):
            self.assertGreater(latest[run][1], first[run][1])
        stream.cancel()

    def test_the_reaper_is_watched_too(self):
        run = self.create("R", increment=0.2)
        stream = self.watch([run])
        statuses = [next(stream).status]
        while statuses[-1] != "E":
            statuses.append(next(stream).status)
        self.assertEqual(statuses, ["R", "E"])
        stream.cancel()

    def test_refusals(self):
        G = grpc.StatusCode
        run = self.create()
        for ids, token, code in (([run], None, G.UNAUTHENTICATED),
                                 ([run], "not-a-token-of-this-server", G.UNAUTHENTICATED),
                                 ([], CLIENT, G.INVALID_ARGUMENT),
                                 (list(range(1, 1002)), CLIENT, G.INVALID_ARGUMENT),
                                 ([run, 987654], CLIENT, G.NOT_FOUND)):
            with self.assertRaises(grpc.RpcError) as cm:
                next(self.watch(ids, token=token))
            self.assertEqual(cm.exception.code(), code, cm.exception.details())

    def test_streams_are_limited_by_grpc_max_calls(self):
        with tempfile.TemporaryDirectory(prefix="hbeatd-grpc-") as tmp:
            server = Hbeatd(ARGS.hbeatd, tmp, extra=("--grpc-max-calls", "1"))
            channel = grpc.insecure_channel(server.target)
            create = channel.unary_unary(SERVICE + "CreateRun",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=self.pb.CreateRunReply.FromString)
            md = [("authorization", "Bearer " + OPERATOR)]
            run = create(self.pb.CreateRunRequest(workflow_id=1, status="R"), metadata=md,
                         timeout=5).run.workflow_run_id
            stub = channel.unary_stream(SERVICE + "WatchRuns",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=self.pb.RunChange.FromString)
            first = stub(self.pb.WatchRunsRequest(workflow_run_ids=[run]), metadata=md,
                         timeout=20)
            self.assertEqual(next(first).status, "R")
            with self.assertRaises(grpc.RpcError) as cm:
                next(stub(self.pb.WatchRunsRequest(workflow_run_ids=[run]), metadata=md,
                          timeout=5))
            self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            # A call still goes through: streams do not count as calls.
            create(self.pb.CreateRunRequest(workflow_id=1), metadata=md, timeout=5)
            first.cancel()
            self.assertEqual(server.stop(), 0)
            channel.close()

    def test_sigterm_ends_the_stream(self):
        with tempfile.TemporaryDirectory(prefix="hbeatd-grpc-") as tmp:
            server = Hbeatd(ARGS.hbeatd, tmp)
            channel = grpc.insecure_channel(server.target)
            create = channel.unary_unary(SERVICE + "CreateRun",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=self.pb.CreateRunReply.FromString)
            run = create(self.pb.CreateRunRequest(workflow_id=1, status="R"),
                         metadata=[("authorization", "Bearer " + OPERATOR)],
                         timeout=5).run.workflow_run_id
            stub = channel.unary_stream(SERVICE + "WatchRuns",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=self.pb.RunChange.FromString)
            stream = stub(self.pb.WatchRunsRequest(workflow_run_ids=[run]),
                          metadata=[("authorization", "Bearer " + CLIENT)], timeout=20)
            self.assertEqual(next(stream).status, "R")
            server.proc.send_signal(signal.SIGTERM)
            with self.assertRaises(grpc.RpcError) as cm:
                next(stream)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertEqual(server.stop(), 0)
            channel.close()


class Draining(unittest.TestCase):
    """SIGTERM with a call waiting for its commit: the call is answered,
    hbeatd stops cleanly, and a call after that finds no server."""

    def test_sigterm_answers_the_call_in_flight(self):
        with tempfile.TemporaryDirectory(prefix="hbeatd-grpc-") as tmp:
            pb, _ = compile_messages(ARGS.proto_dir, os.path.join(tmp, "py"))
            env_before = os.environ.get("HBEATD_TEST_COMMIT_DELAY_MS")
            os.environ["HBEATD_TEST_COMMIT_DELAY_MS"] = "800"
            try:
                server = Hbeatd(ARGS.hbeatd, tmp)
            finally:
                if env_before is None:
                    del os.environ["HBEATD_TEST_COMMIT_DELAY_MS"]
                else:
                    os.environ["HBEATD_TEST_COMMIT_DELAY_MS"] = env_before
            channel = grpc.insecure_channel(server.target)
            create = channel.unary_unary(SERVICE + "CreateRun",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=pb.CreateRunReply.FromString)
            md = [("authorization", "Bearer " + OPERATOR)]
            future = create.future(pb.CreateRunRequest(workflow_id=3, status="R"), metadata=md,
                                   timeout=10)
            time.sleep(0.3)  # the call is in, its commit held back
            server.proc.send_signal(signal.SIGTERM)
            rep = future.result()
            self.assertEqual(rep.run.status, "R")
            self.assertEqual(server.stop(), 0)
            with self.assertRaises(grpc.RpcError) as cm:
                create(pb.CreateRunRequest(workflow_id=3), metadata=md, timeout=2)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            channel.close()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--hbeatd", required=True)
    p.add_argument("--proto-dir", required=True)
    ARGS, rest = p.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
