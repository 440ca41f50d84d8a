"""HeartbeatService on the fake gateway and the fake clock: no server, no sleeps."""
import asyncio
import logging
import math
import pydoc
import threading
import time

import pytest

import hbeat
from conftest import in_thread


def test_jobmon_constructor_and_properties(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        assert svc.interval == 10
        assert svc.report_by_buffer == 3.1
        assert svc.next_report_increment == pytest.approx(31.0)
        assert svc.current_status == "R"
        assert svc.workflow_run_id == 7
        assert not svc.is_heartbeat_due()
        clock.advance(4)
        assert svc.time_since_last_heartbeat() == pytest.approx(4)
        # Unix time, measured on the monotonic clock underneath.
        assert svc.last_heartbeat_time == pytest.approx(time.time() - 4, abs=0.5)
        clock.advance(6)
        assert svc.is_heartbeat_due()
        svc.reset_timer()
        assert not svc.is_heartbeat_due()
        assert svc.time_since_last_heartbeat() == 0


def test_defaults_are_jobmons(fake):
    with hbeat.HeartbeatService(fake) as svc:
        assert (svc.interval, svc.report_by_buffer, svc.current_status) == (30, 3.1, "R")


def test_tick_sync_reports_and_adopts_the_servers_status(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        clock.advance(10)
        assert svc.tick_sync() == hbeat.StateUpdate(None)
        assert not svc.is_heartbeat_due()
        fake.push_reply("C")
        assert svc.tick_sync().workflow_run_status == "C"
        assert svc.current_status == "C"
        calls = fake.calls
        assert [(c.kind, c.workflow_run_id, c.status) for c in calls] == \
            [("heartbeat", 7, "R"), ("heartbeat", 7, "R")]
        assert calls[0].next_report_increment == pytest.approx(31.0)
        assert calls[0].time == 10


def test_set_status_is_what_the_next_beat_reports(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        svc.set_status("D")
        assert svc.current_status == "D"
        svc.tick_sync()
        assert fake.calls[-1].status == "D"


async def test_tick_resolves_on_its_own_loop(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        assert await svc.tick() == hbeat.StateUpdate(None)
        fake.set_server_status("H")
        assert (await svc.tick()).workflow_run_status == "H"
        assert (await svc.tick()).workflow_run_status is None
        assert svc.current_status == "H"


async def test_tick_never_blocks_the_event_loop(clock):
    # Asynchronous fake: the beat stays pending until the test completes it,
    # while the loop goes on running other work.
    with hbeat.FakeGateway(7, clock=clock, asynchronous=True) as gw, \
            hbeat.HeartbeatService(gw, 10, 3.1, "R", clock=clock) as svc:
        gw.push_reply("C")
        task = asyncio.ensure_future(svc.tick())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not task.done() and gw.pending == 1
        with pytest.raises(hbeat.HbeatError) as busy:
            await svc.tick()
        assert busy.value.name == "EBUSY"
        assert gw.complete(1) == 1
        assert (await task).workflow_run_status == "C"
        svc.set_status("D")
        task = asyncio.ensure_future(svc.tick())
        await asyncio.sleep(0)
        assert gw.pending == 1
    # Closing completed the pending beat rather than wait for it for good.
    assert (await task).workflow_run_status is None


async def test_gateway_errors_surface_as_documented_exceptions(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        fake.fail("ETIMEDOUT", message="slow server")
        with pytest.raises(hbeat.HeartbeatTimeout) as exc:
            await svc.tick()
        assert exc.value.code == -4 and exc.value.name == "ETIMEDOUT"
        assert "slow server" in exc.value.message
        fake.fail("ETRANSPORT")
        with pytest.raises(hbeat.GatewayError) as exc:
            svc.tick_sync()
        assert exc.value.code == hbeat.CODES["ETRANSPORT"]
        assert svc.stats().beats_failed == 2
        assert isinstance(svc.stats().last_error, hbeat.GatewayError)
        assert (await svc.tick()).workflow_run_status is None  # healed: one-shot failures


def test_bad_arguments_name_the_value(fake):
    for kwargs, exc, text in [
        (dict(interval=-1), ValueError, "-1"),
        (dict(interval="30"), TypeError, "'30'"),
        (dict(interval=math.nan), ValueError, "nan"),
        (dict(report_by_buffer=1), ValueError, "report_by_buffer"),
        (dict(initial_status="no spaces"), ValueError, "'no spaces'"),
        (dict(initial_status=5), TypeError, "5"),
        (dict(on_status_change=3), TypeError, "3"),
    ]:
        with pytest.raises(exc, match=text.replace("(", r"\(")):
            hbeat.HeartbeatService(fake, **kwargs)
    with pytest.raises(TypeError, match="gateway"):
        hbeat.HeartbeatService(object())
    with hbeat.HeartbeatService(fake) as svc:
        with pytest.raises(ValueError, match="'x y'"):
            svc.set_status("x y")
    with pytest.raises(ValueError, match="workflow_run_id"):
        hbeat.HeartbeatService(hbeat.FakeGateway(workflow_run_id=None))
    with pytest.raises(hbeat.HbeatError) as exc:
        hbeat.open_gateway("gopher://x", workflow_run_id=1)
    assert exc.value.name == "ESCHEME"
    with pytest.raises(ValueError, match="-2"):
        hbeat.open_gateway("fake://x", 1, request_timeout=-2)


def test_a_closed_service_says_so(fake):
    svc = hbeat.HeartbeatService(fake)
    svc.close()
    svc.close()
    with pytest.raises(ValueError, match="closed"):
        svc.tick_sync()
    assert "closed" in repr(svc)


def test_status_callback_may_call_back_into_the_service(fake, clock):
    seen = []
    done = threading.Event()

    def on_change(old, new):
        # Calls back into the service, even closes it: no deadlock.
        seen.append((old, new, svc.current_status, svc.is_heartbeat_due()))
        svc.set_status("R")
        svc.close()
        done.set()

    svc = hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock, on_status_change=on_change)
    fake.push_reply("C")
    svc.tick_sync()
    assert done.wait(10)
    assert seen == [("R", "C", "C", False)]
    assert svc.closed


def test_no_callback_after_close(fake, clock):
    calls = []
    gate = threading.Event()
    first = threading.Event()

    def on_change(old, new):
        calls.append(new)
        first.set()
        gate.wait(10)

    svc = hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock, on_status_change=on_change)
    fake.push_reply("C")
    svc.tick_sync()
    assert first.wait(10)  # the first callback is running and holds the dispatcher
    fake.push_reply("H")
    svc.tick_sync()  # its callback is queued behind the first
    closer = threading.Thread(target=svc.close)
    closer.start()
    gate.set()  # close() waits for the running callback, and drops the queued one
    closer.join(10)
    assert not closer.is_alive()
    # Callbacks are delivered in order: once a later service's arrives, the
    # closed one's queued callback has had its turn.
    later = threading.Event()
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock,
                                on_status_change=lambda o, n: later.set()) as other:
        fake.push_reply("E")
        other.tick_sync()
        assert later.wait(10)
    assert calls == ["C"]


async def test_lease_lost_and_regained(fake, clock):
    events = []
    got = threading.Event()

    def on_lease(lost):
        events.append(lost)
        got.set()

    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock, on_lease_change=on_lease) as svc:
        stop = asyncio.Event()
        fake.fail("ETRANSPORT", persistent=True)
        task = asyncio.ensure_future(svc.run_background(stop))
        # Failed beats: the loop retries until the lease (31 s) lapses.
        for _ in range(40):
            await in_thread(clock.wait_waiters, 1, 10.0)
            clock.advance(2)
            if svc.lease_lost:
                break
        assert svc.lease_lost
        assert await in_thread(got.wait, 10)
        assert events[0] is True
        stop.set()
        await task


async def test_run_background_beats_on_time_and_stops_on_the_event(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        stop = asyncio.Event()
        task = asyncio.ensure_future(svc.run_background(stop))
        for n in range(1, 4):
            await in_thread(clock.wait_waiters, 1, 10.0)
            clock.advance(10)
            await in_thread(fake.wait_calls, n, 10.0)
        assert [c.time for c in fake.calls] == [10, 20, 30]
        assert svc.is_running
        stop.set()
        await asyncio.wait_for(task, 5)
        assert not svc.is_running


async def test_run_background_cancelled_stops_the_loop_and_reraises(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        task = asyncio.ensure_future(svc.run_background(asyncio.Event()))
        await in_thread(clock.wait_waiters, 1, 10.0)
        assert svc.is_running
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not svc.is_running


async def test_run_background_gives_up_after_max_failures(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock,
                                max_consecutive_failures=2) as svc:
        fake.fail("ESERVER", persistent=True, message="down")
        task = asyncio.ensure_future(svc.run_background(asyncio.Event()))
        while not task.done():
            try:
                await in_thread(clock.wait_waiters, 1, 0.2)
            except hbeat.HbeatError:
                continue
            clock.advance(5)
        with pytest.raises(hbeat.GatewayError) as exc:
            await task
        assert exc.value.name == "EFATAL"


async def test_a_cancelled_tick_still_counts(clock):
    with hbeat.FakeGateway(7, clock=clock, asynchronous=True) as gw, \
            hbeat.HeartbeatService(gw, 10, 3.1, "R", clock=clock) as svc:
        task = asyncio.ensure_future(svc.tick())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gw.complete(1) == 1
        assert svc.stats().beats_acknowledged == 1
        assert not svc.is_heartbeat_due()


def test_a_raising_callback_is_logged(fake, clock, caplog):
    logged = threading.Event()

    def on_change(old, new):
        raise RuntimeError("callback bug")

    class Handler(logging.Handler):
        def emit(self, record):
            logged.set()

    handler = Handler()
    logging.getLogger("hbeat").addHandler(handler)
    try:
        with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock,
                                    on_status_change=on_change) as svc:
            fake.push_reply("C")
            svc.tick_sync()
            assert logged.wait(10)
            assert svc.tick_sync().workflow_run_status is None  # the service goes on
    finally:
        logging.getLogger("hbeat").removeHandler(handler)
    assert "callback bug" in caplog.text


def test_start_and_stop_on_the_librarys_thread(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        svc.start()
        clock.wait_waiters(1, 10)
        clock.advance(10)
        fake.wait_calls(1, 10)
        svc.stop()
        assert not svc.is_running


def test_stats(fake, clock):
    with hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock) as svc:
        svc.tick_sync()
        st = svc.stats()
        assert (st.beats_sent, st.beats_acknowledged, st.beats_failed) == (1, 1, 0)
        assert st.last_error is None and st.rtt_buckets[-1][0] == math.inf
        assert svc.lease_remaining() == pytest.approx(31.0)


def test_closing_the_gateway_closes_its_services(clock):
    gw = hbeat.FakeGateway(7, clock=clock)
    svc = hbeat.HeartbeatService(gw, clock=clock)
    gw.close()
    assert svc.closed and gw.closed


def test_open_gateway_fake_scheme_is_scriptable():
    with hbeat.open_gateway("fake://tests", workflow_run_id=3) as gw:
        assert isinstance(gw, hbeat.FakeGateway) and gw.transport == "fake"
        gw.push_reply("E")
        assert gw.log_heartbeat_sync("R", 9).status == "E"
        assert gw.update_status("D").status == "D"
        assert [c.kind for c in gw.calls] == ["heartbeat", "update_status"]


def test_help_reads_well():
    text = pydoc.render_doc(hbeat.HeartbeatService, renderer=pydoc.plaintext)
    for word in ("run_background", "tick_sync", "next_report_increment", "FakeClock",
                 "log_heartbeat_sync", "last_heartbeat_time"):
        assert word in text
    for name in hbeat.__all__:
        obj = getattr(hbeat, name)
        if callable(obj):
            assert obj.__doc__, name


async def test_close_on_the_loop_that_runs_run_background(fake, clock):
    svc = hbeat.HeartbeatService(fake, 10, 3.1, "R", clock=clock)
    task = asyncio.ensure_future(svc.run_background(asyncio.Event()))
    await in_thread(clock.wait_waiters, 1, 10.0)
    svc.close()  # on the loop run_background awaits on: no deadlock
    await asyncio.wait_for(task, 5)
    assert svc.closed
    with pytest.raises(ValueError, match="closed"):
        await svc.run_background(asyncio.Event())
