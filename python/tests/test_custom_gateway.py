"""Python objects with Jobmon's ServerGateway heartbeat methods, as gateways."""
import asyncio
import threading
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import pytest

import hbeat


class Gateway:
    """A hand-written double with both of Jobmon's heartbeat methods."""

    def __init__(self, status="R"):
        self.status = status
        self.sync_calls = []
        self.async_calls = []
        self.threads = set()

    def log_heartbeat_sync(self, status, next_report_increment):
        self.sync_calls.append((status, next_report_increment))
        return SimpleNamespace(status=self.status)

    async def log_heartbeat(self, status, next_report_increment):
        self.threads.add(threading.get_ident())
        self.async_calls.append((status, next_report_increment))
        await asyncio.sleep(0)
        return SimpleNamespace(status=self.status)


async def test_tick_awaits_the_coroutine_on_the_callers_loop():
    gw = Gateway("C")
    with hbeat.HeartbeatService(gw, 2, 3.0, "R") as svc:
        assert (await svc.tick()).workflow_run_status == "C"
        assert gw.async_calls == [("R", 6.0)] and gw.sync_calls == []
        assert gw.threads == {threading.get_ident()}


def test_tick_sync_calls_log_heartbeat_sync():
    gw = Gateway("H")
    with hbeat.HeartbeatService(gw, 2, 3.0, "R") as svc:
        assert svc.tick_sync().workflow_run_status == "H"
        assert gw.sync_calls == [("R", 6.0)]


async def test_mocks_plug_in_unchanged():
    gw = MagicMock()
    gw.log_heartbeat = AsyncMock(return_value=SimpleNamespace(status="R"))
    gw.log_heartbeat_sync.return_value = SimpleNamespace(status="S")
    with hbeat.HeartbeatService(gw, 1, 3.1, "R") as svc:
        assert (await svc.tick()).workflow_run_status is None
        gw.log_heartbeat.assert_awaited_once_with("R", 1 * 3.1)
        assert svc.tick_sync().workflow_run_status == "S"
        gw.log_heartbeat_sync.assert_called_once_with("R", 1 * 3.1)


async def test_a_gateway_exception_becomes_an_hbeat_error():
    gw = MagicMock()
    gw.log_heartbeat = AsyncMock(side_effect=ConnectionError("refused"))
    gw.log_heartbeat_sync.side_effect = hbeat.NotFound(-7, "no such run", 404)
    with hbeat.HeartbeatService(gw, 1, 3.1, "R") as svc:
        with pytest.raises(hbeat.GatewayError, match="ConnectionError: refused"):
            await svc.tick()
        with pytest.raises(hbeat.NotFound) as exc:
            svc.tick_sync()
        assert exc.value.http_status == 404 and "no such run" in str(exc.value)


def test_a_reply_without_a_status_token_is_a_protocol_error():
    gw = MagicMock()  # .log_heartbeat_sync().status is a MagicMock, not a token
    with hbeat.HeartbeatService(gw, 1, 3.1, "R") as svc:
        with pytest.raises(hbeat.HbeatError) as exc:
            svc.tick_sync()
        assert exc.value.name == "EPROTO"


async def test_run_background_beats_through_the_coroutine():
    gw = Gateway()
    with hbeat.HeartbeatService(gw, 0.01, 3.1, "R") as svc:
        stop = asyncio.Event()
        task = asyncio.ensure_future(svc.run_background(stop))
        while len(gw.async_calls) < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert gw.threads == {threading.get_ident()}  # on this loop


async def test_closing_with_a_beat_in_flight_cancels_it():
    started = asyncio.Event()

    async def never(status, nri):
        started.set()
        await asyncio.Event().wait()

    gw = SimpleNamespace(log_heartbeat=never)
    svc = hbeat.HeartbeatService(gw, 1, 3.1, "R")
    task = asyncio.ensure_future(svc.tick())
    await started.wait()
    svc.close()  # on the loop the beat waits on: must not deadlock
    with pytest.raises(hbeat.Cancelled):
        await task


def test_async_only_gateway_works_from_blocking_code():
    async def beat(status, nri):
        return SimpleNamespace(status="D")

    with hbeat.HeartbeatService(SimpleNamespace(log_heartbeat=beat), 1, 3.1, "R") as svc:
        assert svc.tick_sync().workflow_run_status == "D"


async def test_run_background_on_a_sync_only_gateway():
    gw = SimpleNamespace(calls=0)

    def beat(status, nri):
        gw.calls += 1
        return SimpleNamespace(status="R")

    gw.log_heartbeat_sync = beat
    with hbeat.HeartbeatService(gw, 0.01, 3.1, "R") as svc:
        stop = asyncio.Event()
        task = asyncio.ensure_future(svc.run_background(stop))
        while gw.calls < 2:
            await asyncio.sleep(0.01)
        stop.set()
        await task



def test_a_gateway_timeout_is_a_heartbeat_timeout():
    gw = MagicMock()
    gw.log_heartbeat_sync.side_effect = TimeoutError("read timed out")
    with hbeat.HeartbeatService(gw, 1, 3.1, "R") as svc:
        with pytest.raises(hbeat.HeartbeatTimeout, match="read timed out"):
            svc.tick_sync()


async def test_tick_on_a_sync_only_gateway_runs_it_off_the_loop():
    loop_thread = threading.get_ident()
    seen = []

    def beat(status, nri):
        seen.append(threading.get_ident())
        return SimpleNamespace(status="C")

    with hbeat.HeartbeatService(SimpleNamespace(log_heartbeat_sync=beat), 1, 3.1, "R") as svc:
        assert (await svc.tick()).workflow_run_status == "C"
    assert seen and loop_thread not in seen


def test_the_librarys_loop_calls_log_heartbeat_sync_on_a_worker_thread():
    gw = Gateway()
    with hbeat.HeartbeatService(gw, 0.01, 3.1, "R") as svc:
        svc.start()
        while len(gw.sync_calls) < 2:
            threading.Event().wait(0.01)
        svc.stop()
    assert gw.async_calls == []
