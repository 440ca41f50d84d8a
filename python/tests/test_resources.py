"""Thousands of asynchronous ticks leak no threads, memory or descriptors;
the interpreter exits cleanly with services still running."""
import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc

import pytest

import hbeat


def _fds():
    return len(os.listdir("/proc/self/fd"))


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _ticks(svc, n):
    for _ in range(n):
        await svc.tick()


@pytest.mark.parametrize("transport", ["fake", "rest", "nng"])
async def test_thousands_of_async_ticks_leak_nothing(hbeatd, transport):
    if transport == "fake":
        gw = hbeat.FakeGateway(1)
    else:
        url = hbeatd.urls()[transport]
        with hbeat.open_gateway(url) as admin:
            run = admin.create_run(3, "R").workflow_run_id
        gw = hbeat.open_gateway(url, run)
    with gw, hbeat.HeartbeatService(gw, 30, 3.1, "R") as svc:
        await _ticks(svc, 500)  # warm up: pools, connections, worker threads
        threads, fds, rss = threading.active_count(), _fds(), _rss_kib()
        tracemalloc.start()
        snap = tracemalloc.take_snapshot()
        await _ticks(svc, 3000)
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(snap, "filename"))
        tracemalloc.stop()
        assert threading.active_count() == threads
        assert _fds() == fds
        assert grown < 64 * 1024, "Python heap grew by %d bytes" % grown
        assert _rss_kib() - rss < 4096
        if transport == "fake":
            gw.clear_calls()  # the fake records every call for tests to read
        assert svc.stats().beats_acknowledged == 3500


EXIT_PROGRAM = textwrap.dedent("""
    import asyncio, sys, threading, hbeat
    hbeat.open_gateway(sys.argv[1]).create_run(4, "R")
    gw = hbeat.open_gateway(sys.argv[1], workflow_run_id=int(sys.argv[2]))
    seen = threading.Event()
    # Beats every 1 ms from the library's own thread, each calling back into
    # Python, while the interpreter exits with the service still running.
    running = hbeat.HeartbeatService(gw, 0.001, 500, "R",
                                     on_lease_change=lambda lost: seen.set(),
                                     on_status_change=lambda o, n: seen.set())
    running.start()
    fake = hbeat.FakeGateway(1)
    fake.set_server_status("C")
    flipping = hbeat.HeartbeatService(fake, 0.001, 500, "R",
                                      on_status_change=lambda o, n: flipping.set_status("R"))
    flipping.start()
    async def main():
        task = asyncio.ensure_future(flipping.tick())
        await asyncio.sleep(0.2)
    asyncio.run(main())
    assert running.is_running and flipping.is_running
    print("exiting", flush=True)
""")


def test_the_interpreter_exits_cleanly_with_services_running(hbeatd):
    with hbeat.open_gateway(hbeatd.nng_tcp_url) as admin:
        run = admin.create_run(4, "R").workflow_run_id + 1  # the program makes the next
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", EXIT_PROGRAM, hbeatd.nng_tcp_url, str(run)],
                              capture_output=True, text=True, timeout=60)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "exiting\n", "")
        run += 1
