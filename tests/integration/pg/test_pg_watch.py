#!/usr/bin/python3
"""WatchRuns on PostgreSQL, seen by python3-grpcio: two real hbeatd on one
database (PG_URI, PG_CLUSTER, PG_DIR from tests/support/with_pg.sh), a
stream on A carries every status change of its run once committed,
whichever instance made it (an operator and a client through B, a client
through A, the reaper, SQL by hand), each once and numbered on one count
with the first status; when the database restarts, the stream ends
UNAVAILABLE and a new one starts from the current status.

    with_pg.sh test_pg_watch.py --hbeatd PATH --proto-dir DIR
"""
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "grpc"))
import test_hbeatd_grpc as base  # noqa: E402
from test_hbeatd_grpc import CLIENT, OPERATOR, SERVICE, Hbeatd, compile_messages  # noqa: E402

# Seconds a message may take to arrive; and how long to wait for one that
# must not come.
ARRIVES = 10
QUIET = 1.0


def psql(sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.environ["PG_URI"], "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


class Stream:
    """A WatchRuns stream read on a thread of its own into a queue; its
    end is queued as the grpc.RpcError it raised."""

    def __init__(self, channel, pb, ids):
        stub = channel.unary_stream(SERVICE + "WatchRuns",
                                    request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=pb.RunChange.FromString)
        self.call = stub(pb.WatchRunsRequest(workflow_run_ids=ids),
                         metadata=[("authorization", "Bearer " + CLIENT)], timeout=120)
        self.messages = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for m in self.call:
                self.messages.put(m)
        except grpc.RpcError as e:
            self.messages.put(e)

    def next(self, timeout=ARRIVES):
        return self.messages.get(timeout=timeout)

    def close(self):
        self.call.cancel()
        self.thread.join(timeout=10)


class PgWatch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hbeatd-pg-watch-")
        cls.pb, _ = compile_messages(base.ARGS.proto_dir, os.path.join(cls.tmp.name, "py"))
        # A reaps (B's reaper would wait an hour): a move reported by the
        # engine as well as by the feed would reach A's stream twice.
        cls.servers = []
        for name, interval in (("a", "0.1"), ("b", "3600")):
            workdir = os.path.join(cls.tmp.name, name)
            os.mkdir(workdir)
            cls.servers.append(Hbeatd(base.ARGS.hbeatd, workdir, db=os.environ["PG_URI"],
                                      extra=("--reap-interval", interval, "--reap-grace", "0",
                                             "--db-timeout", "1")))
        cls.a, cls.b = cls.servers
        cls.channels = {s: grpc.insecure_channel(s.target) for s in cls.servers}

    @classmethod
    def tearDownClass(cls):
        for c in cls.channels.values():
            c.close()
        statuses = [s.stop() for s in cls.servers]
        cls.tmp.cleanup()
        if statuses != [0, 0]:
            raise AssertionError("hbeatd exited with %s" % statuses)

    @staticmethod
    def again(fn, *args):
        """fn(*args), again while hbeatd says the database is unreachable:
        after a restart of the database, each worker connection learns
        that it was lost when it is next used (a call that failed so
        changed nothing), and a client tries again."""
        for _ in range(100):
            try:
                return fn(*args)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
            except urllib.error.HTTPError as e:
                if e.code != 503:
                    raise
            time.sleep(0.1)
        return fn(*args)

    def unary(self, server, method, request, reply_type, token=OPERATOR):
        stub = self.channels[server].unary_unary(
            SERVICE + method, request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reply_type.FromString)
        md = [("authorization", "Bearer " + token)]
        return self.again(lambda: stub(request, metadata=md, timeout=10))

    def watch(self, run, status):
        """A stream on A and its first message, which must be `status`;
        watched again (as clients do) while the runs cannot be read."""
        for _ in range(100):
            stream = Stream(self.channels[self.a], self.pb, [run])
            m = stream.next()
            if not isinstance(m, grpc.RpcError) or m.code() != grpc.StatusCode.UNAVAILABLE:
                break
            stream.close()
            time.sleep(0.1)
        self.assertNotIsInstance(m, grpc.RpcError, "the stream ended")
        self.assertEqual(m.status, status, m)
        return stream, m.change

    def create(self, status, increment=60.0):
        rep = self.unary(self.a, "CreateRun", self.pb.CreateRunRequest(
            workflow_id=5, status=status, next_report_increment=increment),
            self.pb.CreateRunReply)
        return rep.run.workflow_run_id

    def beat(self, server, run, status, increment=60.0):
        return self.unary(server, "LogHeartbeat", self.pb.HeartbeatRequest(
            workflow_run_id=run, status=status, next_report_increment=increment),
            self.pb.HeartbeatReply, token=CLIENT).status

    def rest_set_status(self, server, run, status):
        """The operator's route, PUT /api/v3/runs/ID/status."""
        self.again(self.put_status, server, run, status)

    def put_status(self, server, run, status):
        req = urllib.request.Request(
            "%s/runs/%d/status" % (server.urls["http"], run), method="PUT",
            data=('{"status": "%s"}' % status).encode(),
            headers={"Authorization": "Bearer " + OPERATOR,
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as rep:
            self.assertEqual(rep.status, 200)

    def expect(self, stream, status, after):
        m = stream.next()
        self.assertNotIsInstance(m, grpc.RpcError, "the stream ended")
        self.assertEqual(m.status, status, m)
        self.assertGreater(m.change, after, m)
        return m.change

    def assert_quiet(self, stream):
        try:
            m = stream.next(timeout=QUIET)
        except queue.Empty:
            return
        self.fail("unexpected message or end: %s" % (m,))

    def test_every_change_through_either_instance_once(self):
        run = self.create("B")
        stream, n = self.watch(run, "B")
        # An operator through B (REST), Jobmon's update_status through B,
        # a beat that moves the run through B, a plain beat (no change),
        # a beat that moves it through A, then A's or B's reaper.
        self.rest_set_status(self.b, run, "I")
        n = self.expect(stream, "I", n)
        self.unary(self.b, "UpdateStatus", self.pb.UpdateStatusRequest(
            workflow_run_id=run, status="O"), self.pb.UpdateStatusReply, token=CLIENT)
        n = self.expect(stream, "O", n)
        self.assertEqual(self.beat(self.b, run, "R"), "R")
        n = self.expect(stream, "R", n)
        self.assertEqual(self.beat(self.b, run, "R"), "R")
        self.assert_quiet(stream)
        self.assertEqual(self.beat(self.a, run, "C", increment=0.3), "C")
        n = self.expect(stream, "C", n)
        n = self.expect(stream, "T", n)
        self.assert_quiet(stream)
        # By hand in SQL, and someone else's NOTIFY on the channel, which
        # hbeatd ignores with a line in its log.
        psql("NOTIFY hbeat_runs, 'not a change'; UPDATE hbeat_runs SET status = 'D' WHERE id = %d"
             % run)
        self.expect(stream, "D", n)
        self.assert_quiet(stream)
        self.assertIn("ignoring a notification on hbeat_runs that is not a status change: "
                      "not a change", self.a.read_log())
        stream.close()

    def test_first_status_and_changes_on_one_count(self):
        """A change made while the stream opens is never shown older than
        the first status: R (if read first) comes with a lower number than
        D, and D, whether read as the first status or heard from the feed
        (it may be both), always with the same number."""
        for _ in range(10):
            run = self.create("R")
            stream = Stream(self.channels[self.a], self.pb, [run])
            self.rest_set_status(self.b, run, "D")
            seen = []
            while not any(m.status == "D" for m in seen):
                m = stream.next()
                self.assertNotIsInstance(m, grpc.RpcError, "the stream ended")
                seen.append(m)
            try:
                while True:
                    seen.append(stream.next(timeout=0.3))
            except queue.Empty:
                pass
            self.assertTrue(all(isinstance(m, self.pb.RunChange) for m in seen), seen)
            d = {m.change for m in seen if m.status == "D"}
            r = {m.change for m in seen if m.status == "R"}
            self.assertEqual(len(d), 1, seen)
            self.assertTrue(all(n < min(d) for n in r), seen)
            self.assertTrue(all(m.status in ("R", "D") for m in seen), seen)
            stream.close()

    def feed_back_then_next_change(self, run, back):
        """Once A listens again (its log says so once more than `back`
        times), a new stream starts from the current status and carries
        what comes after."""
        deadline = time.monotonic() + 30
        while self.a.read_log().count("the feed of changes is back") <= back:
            self.assertLess(time.monotonic(), deadline, self.a.read_log())
            time.sleep(0.1)
        stream, n = self.watch(run, "R")
        self.rest_set_status(self.b, run, "S")
        self.expect(stream, "S", n)
        stream.close()

    def test_database_restart_ends_the_stream(self):
        run = self.create("R")
        stream, _ = self.watch(run, "R")
        back = self.a.read_log().count("the feed of changes is back")
        subprocess.run([os.environ["PG_CLUSTER"], "restart", os.environ["PG_DIR"]],
                       check=True, stdout=subprocess.DEVNULL)
        end = stream.next(timeout=30)
        self.assertIsInstance(end, grpc.RpcError, end)
        self.assertEqual(end.code(), grpc.StatusCode.UNAVAILABLE, end.details())
        stream.close()
        self.feed_back_then_next_change(run, back)

    def test_frozen_database_ends_the_stream(self):
        # A database that stops answering (SIGSTOP: as a hung host, or a
        # network dropping every packet, would) leaves the listening
        # connection open and silent: its probe finds that out within
        # twice --db-timeout plus one, and the stream ends.
        run = self.create("R")
        stream, _ = self.watch(run, "R")
        with open(os.path.join(os.environ["PG_DIR"], "data", "postmaster.pid")) as f:
            postmaster = f.readline().strip()
        freeze = "kill -STOP {0} && pkill -STOP -P {0}".format(postmaster)
        thaw = "pkill -CONT -P {0}; kill -CONT {0}".format(postmaster)
        back = self.a.read_log().count("the feed of changes is back")
        subprocess.run(freeze, shell=True, check=True)
        try:
            t0 = time.monotonic()
            end = stream.next(timeout=30)
            took = time.monotonic() - t0
        finally:
            subprocess.run(thaw, shell=True, check=True)
        self.assertIsInstance(end, grpc.RpcError, end)
        self.assertEqual(end.code(), grpc.StatusCode.UNAVAILABLE, end.details())
        self.assertLess(took, 10, took)
        stream.close()
        self.assertIn("the database did not answer within 1 s", self.a.read_log())
        self.feed_back_then_next_change(run, back)


if __name__ == "__main__":
    base.main()  # the same arguments: --hbeatd PATH --proto-dir DIR
