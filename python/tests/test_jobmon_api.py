"""A test program written against Jobmon's HeartbeatService API, as a
Jobmon user's test suite would exercise it with unittest.mock doubles of
Jobmon's ServerGateway. The import below is its only line that names the
package: pointed at Jobmon's class, the rest is unchanged. Keep it free of
anything hbeat adds (fake clock, fake gateway, stats)."""
import asyncio
import time
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

import pytest

from hbeat import HeartbeatService


def server_gateway(status="R"):
    gateway = MagicMock()
    gateway.log_heartbeat = AsyncMock(return_value=SimpleNamespace(status=status))
    gateway.log_heartbeat_sync = MagicMock(return_value=SimpleNamespace(status=status))
    return gateway


def test_construction_and_properties():
    service = HeartbeatService(server_gateway(), 30, 3.1, "R")
    assert service.interval == 30
    assert service.report_by_buffer == 3.1
    assert service.next_report_increment == pytest.approx(93.0)
    assert service.current_status == "R"
    assert abs(service.last_heartbeat_time - time.time()) < 5
    assert service.time_since_last_heartbeat() < 5
    assert not service.is_heartbeat_due()


def test_zero_interval_is_always_due():
    service = HeartbeatService(server_gateway(), 0, 3.1, "R")
    assert service.is_heartbeat_due()
    assert service.next_report_increment == 0


async def test_tick_unchanged_status():
    gateway = server_gateway("R")
    service = HeartbeatService(gateway, 30, 3.1, "R")
    before = service.last_heartbeat_time
    update = await service.tick()
    assert update.workflow_run_status is None
    gateway.log_heartbeat.assert_awaited_once_with("R", 30 * 3.1)
    assert service.last_heartbeat_time >= before
    assert not service.is_heartbeat_due()


async def test_tick_adopts_the_servers_status():
    gateway = server_gateway("C")
    service = HeartbeatService(gateway, 30, 3.1, "R")
    update = await service.tick()
    assert update.workflow_run_status == "C"
    assert service.current_status == "C"


def test_tick_sync():
    gateway = server_gateway("H")
    service = HeartbeatService(gateway, 10, 2.0, "R")
    update = service.tick_sync()
    assert update.workflow_run_status == "H"
    gateway.log_heartbeat_sync.assert_called_once_with("R", 20.0)


async def test_set_status_is_sent_with_the_next_beat():
    gateway = server_gateway("D")
    service = HeartbeatService(gateway, 30, 3.1, "R")
    service.set_status("D")
    assert service.current_status == "D"
    update = await service.tick()
    assert update.workflow_run_status is None
    gateway.log_heartbeat.assert_awaited_once_with("D", 30 * 3.1)


def test_reset_timer():
    service = HeartbeatService(server_gateway(), 0.5, 3.1, "R")
    service.reset_timer()
    assert service.time_since_last_heartbeat() < 0.5
    assert not service.is_heartbeat_due()


async def test_run_background_until_the_stop_event():
    gateway = server_gateway()
    service = HeartbeatService(gateway, 0.01, 3.1, "R")
    stop_event = asyncio.Event()
    task = asyncio.create_task(service.run_background(stop_event))
    while gateway.log_heartbeat.await_count < 3:
        await asyncio.sleep(0.01)
    stop_event.set()
    await asyncio.wait_for(task, timeout=5)
    assert task.done() and task.exception() is None


async def test_run_background_cancelled():
    gateway = server_gateway()
    service = HeartbeatService(gateway, 0.01, 3.1, "R")
    task = asyncio.create_task(service.run_background(asyncio.Event()))
    while gateway.log_heartbeat.await_count < 1:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
