"""Shared fixtures: the real hbeatd, started as tests/integration start it
(its --ready-file tells the bound addresses), and fake-gateway helpers.

HBEAT_LIBRARY names the libhbeat under test and HBEATD the hbeatd binary;
CTest sets both (python/CMakeLists.txt).
"""
import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Iterator

import pytest

import hbeat


@dataclass
class Hbeatd:
    rest_url: str
    nng_tcp_url: str
    nng_ipc_url: str
    proc: subprocess.Popen

    def urls(self):
        return {"rest": self.rest_url, "nng": self.nng_tcp_url}


@pytest.fixture(scope="session")
def hbeatd() -> Iterator[Hbeatd]:
    binary = os.environ.get("HBEATD")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail("HBEATD must name the hbeatd binary (ctest sets it), not %r" % binary)
    tmp = tempfile.mkdtemp(prefix="hbeat-py-")
    ready = os.path.join(tmp, "ready")
    log = open(os.path.join(tmp, "log"), "w+")
    env = dict(os.environ, NO_PROXY="*", no_proxy="*")
    proc = subprocess.Popen(
        [binary, "--listen", "tcp://127.0.0.1:0", "--listen", "ipc://%s/hbeatd.sock" % tmp,
         "--http", "127.0.0.1:0", "--db", ":memory:", "--log-level", "error",
         "--ready-file", ready],
        stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail("hbeatd did not start: %s" % log.read())
            time.sleep(0.01)
        lines = dict(line.split(" ", 1) for line in open(ready).read().splitlines()
                     if not line.startswith("nng ipc"))
        yield Hbeatd(rest_url=lines["http"], nng_tcp_url="nng+" + lines["nng"],
                     nng_ipc_url="nng+ipc://%s/hbeatd.sock" % tmp, proc=proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def clock() -> Iterator[hbeat.FakeClock]:
    with hbeat.FakeClock() as c:
        yield c


@pytest.fixture
def fake(clock: hbeat.FakeClock) -> Iterator[hbeat.FakeGateway]:
    with hbeat.FakeGateway(workflow_run_id=7, clock=clock) as gw:
        yield gw


async def in_thread(fn, *args):
    """Runs a blocking wait (GIL released) without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
