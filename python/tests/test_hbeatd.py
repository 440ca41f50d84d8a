"""Against the real hbeatd, over REST and nng (loopback, free ports)."""
import asyncio
import threading
import time

import pytest

import hbeat
from conftest import in_thread

TRANSPORTS = ["rest", "nng"]


def _open(hbeatd, transport, run=None):
    return hbeat.open_gateway(hbeatd.urls()[transport], workflow_run_id=run, request_timeout=5)


@pytest.fixture(params=TRANSPORTS)
def run_gateway(request, hbeatd):
    with _open(hbeatd, request.param) as admin:
        run = admin.create_run(1, "R", next_report_increment=600)
    with _open(hbeatd, request.param, run.workflow_run_id) as gw:
        yield gw


async def test_beats_move_the_deadline(run_gateway):
    before = run_gateway.get_run()
    with hbeat.HeartbeatService(run_gateway, 1, 3.0, "R") as svc:
        assert (await svc.tick()).workflow_run_status is None
        after = run_gateway.get_run()
        assert after.beats == before.beats + 1
        assert after.deadline == pytest.approx(time.time() + 3.0, abs=1.5)
        assert after.deadline < before.deadline
        assert svc.tick_sync().workflow_run_status is None
        assert run_gateway.get_run().beats == before.beats + 2


async def test_an_operators_change_reaches_tick_and_the_callback(run_gateway):
    changed = threading.Event()
    seen = []

    def on_change(old, new):
        seen.append((old, new))
        changed.set()

    with hbeat.HeartbeatService(run_gateway, 1, 3.1, "R", on_status_change=on_change) as svc:
        await svc.tick()
        run_gateway.set_run_status("C")  # the operator asks for a cold resume
        assert (await svc.tick()).workflow_run_status == "C"
        assert svc.current_status == "C"
        assert await in_thread(changed.wait, 10)
        assert seen == [("R", "C")]


async def test_run_background_against_hbeatd(run_gateway):
    with hbeat.HeartbeatService(run_gateway, 0.05, 3.1, "R") as svc:
        stop = asyncio.Event()
        task = asyncio.ensure_future(svc.run_background(stop))
        while run_gateway.get_run().beats < 3:
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
        beats = run_gateway.get_run().beats
        await asyncio.sleep(0.2)
        assert run_gateway.get_run().beats == beats  # stopped for good


async def test_run_background_cancelled_against_hbeatd(run_gateway):
    with hbeat.HeartbeatService(run_gateway, 0.05, 3.1, "R") as svc:
        task = asyncio.ensure_future(svc.run_background(asyncio.Event()))
        while run_gateway.get_run().beats < 2:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not svc.is_running


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unknown_run_is_not_found(hbeatd, transport):
    with _open(hbeatd, transport, 987654) as gw, hbeat.HeartbeatService(gw, 1, 3.1) as svc:
        with pytest.raises(hbeat.NotFound) as exc:
            await svc.tick()
        assert exc.value.code == hbeat.CODES["ENOTFOUND"]
        assert exc.value.http_status == (404 if transport == "rest" else 0)
        assert "987654" in exc.value.message


async def test_a_server_that_is_gone_is_a_transport_error(hbeatd):
    with hbeat.open_gateway("http://127.0.0.1:1/api/v3", workflow_run_id=1,
                            connect_timeout=2) as gw, hbeat.HeartbeatService(gw) as svc:
        with pytest.raises(hbeat.GatewayError) as exc:
            await svc.tick()
        assert exc.value.name == "ETRANSPORT"


def test_nng_ipc_too(hbeatd):
    with hbeat.open_gateway(hbeatd.nng_ipc_url) as admin:
        run = admin.create_run(2, "R")
    with hbeat.open_gateway(hbeatd.nng_ipc_url, run.workflow_run_id) as gw, \
            hbeat.HeartbeatService(gw) as svc:
        svc.tick_sync()
        assert gw.get_run().beats == 1 and gw.transport == "nng"
