"""HeartbeatService: Jobmon's class, running on libhbeat."""
import asyncio
import itertools
import threading
import time
from ctypes import byref, c_void_p, create_string_buffer
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from . import _callbacks, _custom
from ._lib import (SERVICE_OPTIONS_VERSION, SERVICE_STATS_VERSION, STATUS_MAX, Error,
                   ServiceOptions, TickFn, Update, lib)
from ._lib import ServiceStats as _CStats
from ._util import Closing, call, check, number, status_bytes
from .errors import from_struct
from .fake import FakeClock, FakeGateway
from .gateway import Gateway


@dataclass(frozen=True)
class StateUpdate:
    """What a beat brought back (Jobmon's StateUpdate)."""

    #: The new status when the server changed it, else None.
    workflow_run_status: Optional[str] = None


@dataclass(frozen=True)
class ServiceStats:
    """How the service's heartbeat is doing. Times are in seconds; the round
    trips, time_since_ack and lease_slack are NaN before the first
    acknowledged beat."""

    beats_sent: int
    beats_acknowledged: int
    beats_failed: int
    consecutive_failures: int
    status_changes: int
    last_rtt: float
    rtt_min: float
    rtt_mean: float
    rtt_max: float
    #: (upper bound in seconds, count) per round-trip bucket.
    rtt_buckets: Tuple[Tuple[float, int], ...]
    time_since_ack: float
    lease_slack: float
    #: The last failure, or None before any (kept after later successes).
    last_error: Optional[Exception]
    stalled: bool
    stalls: int
    time_since_progress: float


# Asynchronous ticks in flight: token -> (service, loop, future). The
# service is held so that it outlives its own completion.
_ticks: Dict[int, Tuple[Any, asyncio.AbstractEventLoop, "asyncio.Future[StateUpdate]"]] = {}
_tokens = itertools.count(1)


def _settle(fut: "asyncio.Future[StateUpdate]", value: Any, failed: bool) -> None:
    if fut.done():
        return  # the awaiting task was cancelled; the beat still counted
    if failed:
        fut.set_exception(value)
    else:
        fut.set_result(value)


@TickFn
def _tick_done(token: Any, rc: int, update: Any, err: Any) -> None:
    entry = _ticks.pop(token or 0, None)
    if entry is None:
        return
    _svc, loop, fut = entry
    if rc == 0:
        u = update.contents
        value: Any = StateUpdate(u.status.decode() if u.changed else None)
    else:
        value = from_struct(rc, err.contents if err else None)
    try:
        loop.call_soon_threadsafe(_settle, fut, value, rc != 0)
    except RuntimeError:
        pass  # the loop has closed: nobody awaits the result any more


def _stop_run(run: Tuple[int, threading.Thread]) -> None:
    stop, thread = run
    lib.hbeat_stop_event_set(stop)
    if thread.ident is not None:  # started
        thread.join()  # hbeat_service_run returns within a millisecond of the event
    lib.hbeat_stop_event_free(stop)


class HeartbeatService(Closing):
    """Reports one workflow run's status to a server every ``interval``
    seconds, telling it to expect the next beat within
    ``next_report_increment = interval * report_by_buffer`` seconds, and
    adopts the status the server answers with. Jobmon's HeartbeatService,
    on libhbeat: scheduling is monotonic, beats in run_background() come on
    time with retries and backoff, and the lease is watched.

    ``gateway`` is a Gateway from :func:`hbeat.open_gateway` (or a
    :class:`hbeat.FakeGateway`), or any object with Jobmon's ServerGateway
    heartbeat methods: a coroutine ``log_heartbeat(status,
    next_report_increment)`` and ``log_heartbeat_sync(status,
    next_report_increment)``, each returning an object with ``.status``.

    Keyword-only options beyond Jobmon's: ``clock`` (a FakeClock for tests),
    ``on_status_change(old, new)``, ``on_lease_change(lost)`` and
    ``on_stall_change(stalled)`` (called on hbeat's callback thread, never
    after close()), ``workflow_run_id`` (when the gateway carries none),
    ``max_consecutive_failures``, ``retry_base``, ``retry_factor``,
    ``retry_cap``, ``retry_jitter``, ``jitter``, ``random_phase``, ``seed``
    and ``progress_timeout``, as in libhbeat's hbeat_service_options.

    Thread-safe. Close it (or use ``with``) when done; the interpreter's
    exit closes services left open.
    """

    def __init__(self, gateway: Any, interval: float = 30.0, report_by_buffer: float = 3.1,
                 initial_status: str = "R", *, clock: Optional[FakeClock] = None,
                 on_status_change: Optional[Callable[[str, str], Any]] = None,
                 on_lease_change: Optional[Callable[[bool], Any]] = None,
                 on_stall_change: Optional[Callable[[bool], Any]] = None,
                 workflow_run_id: Optional[int] = None, max_consecutive_failures: int = 5,
                 retry_base: float = 0.0, retry_factor: float = 2.0, retry_cap: float = 0.0,
                 retry_jitter: float = 0.2, jitter: float = 0.0, random_phase: bool = False,
                 seed: int = 0, progress_timeout: float = 0.0) -> None:
        self._handle: Optional[int] = None
        self._closed = True
        opts = ServiceOptions(version=SERVICE_OPTIONS_VERSION)
        opts.interval = number(interval, "interval", 0.0)
        opts.report_by_buffer = number(report_by_buffer, "report_by_buffer", 1.0, low_ok=False)
        opts.initial_status = status_bytes(initial_status, "initial_status")
        if isinstance(max_consecutive_failures, bool) or \
                not isinstance(max_consecutive_failures, int) or max_consecutive_failures < 0:
            raise ValueError("max_consecutive_failures must be an int >= 0, not %r"
                             % (max_consecutive_failures,))
        opts.max_consecutive_failures = max_consecutive_failures
        opts.retry_base = number(retry_base, "retry_base", 0.0)
        opts.retry_factor = number(retry_factor, "retry_factor", 1.0)
        opts.retry_cap = number(retry_cap, "retry_cap", 0.0)
        opts.retry_jitter = number(retry_jitter, "retry_jitter", 0.0)
        opts.jitter = number(jitter, "jitter", 0.0)
        opts.random_phase = int(bool(random_phase))
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 64:
            raise ValueError("seed must be an int from 0 to 2**64-1, not %r" % (seed,))
        opts.seed = seed
        opts.progress_timeout = number(progress_timeout, "progress_timeout", 0.0)
        if clock is not None and not isinstance(clock, FakeClock):
            raise TypeError("clock must be an hbeat.FakeClock or None, not %r" % (clock,))
        opts.clock = clock.handle if clock is not None else None
        self._callbacks: Dict[str, Callable[..., Any]] = {}
        for name, fn in (("status", on_status_change), ("lease", on_lease_change),
                         ("stall", on_stall_change)):
            if fn is not None and not callable(fn):
                raise TypeError("on_%s_change must be callable, not %r"
                                % ("status" if name == "status" else name, fn))
            if fn is not None:
                self._callbacks[name] = fn

        self._gateway = gateway
        self._clock = clock
        self._adapter: Optional[_custom.Adapter] = None
        self._own_gw: Optional[int] = None
        if isinstance(gateway, Gateway):
            gw_handle = gateway.handle
            wrid = workflow_run_id if workflow_run_id is not None else gateway.workflow_run_id
            if wrid is None:
                raise ValueError("the gateway carries no workflow_run_id: open it with "
                                 "hbeat.open_gateway(url, workflow_run_id=...) or pass "
                                 "workflow_run_id= here")
        elif _custom.has_heartbeat_methods(gateway):
            # Jobmon's gateways put the run id in their URLs themselves; the
            # service needs one only to be valid.
            wrid = workflow_run_id
            if wrid is None:
                own = getattr(gateway, "workflow_run_id", None)
                wrid = own if isinstance(own, int) and not isinstance(own, bool) and own > 0 \
                    else 1
            self._own_gw, self._adapter = _custom.new_gateway(gateway)
            gw_handle = self._own_gw
        else:
            raise TypeError("gateway must be an hbeat Gateway or an object with Jobmon's "
                            "log_heartbeat/log_heartbeat_sync methods, not %r" % (gateway,))
        if isinstance(wrid, bool) or not isinstance(wrid, int) or wrid <= 0:
            self._free_own_gateway()
            raise ValueError("workflow_run_id must be a positive int, not %r" % (wrid,))
        opts.workflow_run_id = wrid

        self._key = next(_tokens)
        if "status" in self._callbacks:
            opts.on_status_change = _callbacks.on_status_change
            opts.on_status_change_arg = self._key
        if "lease" in self._callbacks:
            opts.on_lease_change = _callbacks.on_lease_change
            opts.on_lease_change_arg = self._key
        if "stall" in self._callbacks:
            opts.on_stall_change = _callbacks.on_stall_change
            opts.on_stall_change_arg = self._key
        handle = c_void_p()
        try:
            call(lib.hbeat_service_new, byref(handle), gw_handle, byref(opts))
        except Exception:
            self._free_own_gateway()
            raise
        self._handle = handle.value
        self._closed = False
        self._cb_lock = threading.RLock()
        # Guards _closed, _busy and _runs; a plain Lock, as every call takes it.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._runs: Set[Tuple[int, threading.Thread]] = set()
        _callbacks.services[self._key] = self
        _open_services[self._key] = self
        if isinstance(gateway, Gateway):
            gateway._attach(self)

    # -- lifetime --------------------------------------------------------------
    def _enter(self) -> int:
        with self._lock:
            if self._closed or self._handle is None:
                raise ValueError("the HeartbeatService is closed")
            self._busy += 1
            return self._handle

    def _leave(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy == 0 and self._closed:
                self._idle.notify_all()

    def _call(self, fn: Any, *args: Any) -> Any:
        handle = self._enter()
        try:
            return fn(handle, *args)
        finally:
            self._leave()

    def _free_own_gateway(self) -> None:
        if self._own_gw is not None:
            lib.hbeat_gateway_free(self._own_gw)
            self._own_gw = None

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return self._closed

    def close(self) -> None:
        """Stop the service's loops, wait for a beat in flight, and free the
        service. No callback starts after this returns (one already running
        on another thread is waited for). Idempotent; safe from a callback."""
        if self._handle is None:
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # Waits for a callback running on another thread; the dispatcher
        # drops this service's later ones, as it is now closed.
        with self._cb_lock:
            pass
        with self._lock:
            runs = list(self._runs)
            self._runs.clear()
        for run in runs:
            _stop_run(run)
        with self._lock:
            while self._busy:
                self._idle.wait()
        if self._adapter is not None:
            # A beat in flight on an event loop must not keep free() waiting
            # (close() may be running on that very loop).
            self._adapter.cancel_all()
        if isinstance(self._gateway, FakeGateway) and not self._gateway.closed:
            # free() waits for a tick in flight, which an asynchronous fake
            # holds until completed: complete it rather than hang.
            while self._gateway.pending:
                self._gateway.complete(self._gateway.pending)
        handle, self._handle = self._handle, None
        lib.hbeat_service_free(handle)
        self._free_own_gateway()
        _open_services.pop(self._key, None)

    async def __aenter__(self) -> "HeartbeatService":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return "<hbeat.HeartbeatService closed>"
        return ("<hbeat.HeartbeatService run %d status %s interval %g>"
                % (self.workflow_run_id, self.current_status, self.interval))

    def _deliver(self, name: str, args: tuple) -> None:
        with self._cb_lock:
            fn = self._callbacks.get(name)
            if not self._closed and fn is not None:
                _callbacks.call_user(fn, args)

    # -- Jobmon's properties and methods -------------------------------------------
    @property
    def gateway(self) -> Any:
        """The gateway the service beats through."""
        return self._gateway

    @property
    def workflow_run_id(self) -> int:
        """The workflow run the service keeps alive."""
        return self._call(lib.hbeat_service_workflow_run_id)

    @property
    def interval(self) -> float:
        """Seconds between beats."""
        return self._call(lib.hbeat_service_interval)

    @property
    def report_by_buffer(self) -> float:
        """Multiplier of the window sent with each beat."""
        return self._call(lib.hbeat_service_report_by_buffer)

    @property
    def next_report_increment(self) -> float:
        """interval * report_by_buffer: the window sent with each beat."""
        return self._call(lib.hbeat_service_next_report_increment)

    @property
    def current_status(self) -> str:
        """The status the next beat reports."""
        out = create_string_buffer(STATUS_MAX + 1)
        check(self._call(lib.hbeat_service_status, out))
        return out.value.decode()

    @property
    def last_heartbeat_time(self) -> float:
        """Unix time of the last successful beat (or of creation, or of the
        last reset_timer()). Measured on the monotonic clock underneath."""
        return time.time() - self.time_since_last_heartbeat()

    def set_status(self, status: str) -> None:
        """Change the status the next beat reports."""
        raw = status_bytes(status)
        err = Error()
        check(self._call(lib.hbeat_service_set_status, raw, byref(err)), err)

    def time_since_last_heartbeat(self) -> float:
        """Seconds since the last heartbeat (monotonic)."""
        return self._call(lib.hbeat_service_time_since_last_heartbeat)

    def is_heartbeat_due(self) -> bool:
        """True once ``interval`` has passed since the last beat (always with interval 0)."""
        return bool(self._call(lib.hbeat_service_is_heartbeat_due))

    def reset_timer(self) -> None:
        """Restart the interval from now, as after a beat sent elsewhere."""
        self._call(lib.hbeat_service_reset_timer)

    async def tick(self) -> StateUpdate:
        """Send one heartbeat now; the StateUpdate's workflow_run_status is the
        new status when the server changed it, else None.

        Runs on hbeat's asynchronous path: the event loop is never blocked,
        and the result comes back through loop.call_soon_threadsafe. Raises
        HbeatError (EBUSY when another tick() is in flight)."""
        loop = asyncio.get_running_loop()
        fut: "asyncio.Future[StateUpdate]" = loop.create_future()
        token = next(_tokens)
        _ticks[token] = (self, loop, fut)
        err = Error()
        handle = self._enter()
        try:
            rc = lib.hbeat_service_tick_async(handle, _tick_done, token, byref(err))
        finally:
            self._leave()
        if rc != 0:
            _ticks.pop(token, None)
            raise from_struct(rc, err)
        return await fut

    def tick_sync(self) -> StateUpdate:
        """The blocking twin of tick(); the GIL is released while it waits."""
        update = Update()
        err = Error()
        check(self._call(lib.hbeat_service_tick, byref(update), byref(err)), err)
        return StateUpdate(update.status.decode() if update.changed else None)

    async def run_background(self, stop_event: asyncio.Event) -> None:
        """Beat whenever one is due until ``stop_event`` is set, on hbeat's loop
        (monotonic schedule, retries with backoff, lease watch) in a thread of
        its own; returns within milliseconds of the event. Cancelling the
        task stops the loop and re-raises CancelledError. Raises HbeatError
        (EFATAL) when max_consecutive_failures beats in a row failed."""
        if not isinstance(stop_event, asyncio.Event):
            raise TypeError("stop_event must be an asyncio.Event, not %r" % (stop_event,))
        loop = asyncio.get_running_loop()
        stop = c_void_p()
        if lib.hbeat_stop_event_new(byref(stop)) != 0:
            raise MemoryError("hbeat: cannot make a stop event")
        finished: "asyncio.Future[Tuple[int, Error]]" = loop.create_future()
        run: Tuple[int, threading.Thread]
        with self._lock:
            if self._closed or self._handle is None:
                lib.hbeat_stop_event_free(stop.value)
                raise ValueError("the HeartbeatService is closed")
            thread = threading.Thread(target=self._run_loop,
                                      args=(self._handle, stop.value, loop, finished),
                                      name="hbeat-run-background", daemon=True)
            run = (stop.value, thread)
            # Whoever takes the run out of _runs stops it and frees its stop
            # event: this coroutine, or close() (which may run on this very
            # loop, so the run must not hold the service busy meanwhile).
            self._runs.add(run)
        if self._adapter is not None:
            self._adapter.loop = loop
        waiter = asyncio.ensure_future(stop_event.wait())
        try:
            thread.start()
            await asyncio.wait({waiter, finished}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            with self._lock:
                mine = run in self._runs
                self._runs.discard(run)
            if mine:
                _stop_run(run)
            else:
                thread.join()
            if self._adapter is not None:
                self._adapter.loop = None
        if finished.done():
            rc, err = finished.result()
            if rc != 0:
                raise from_struct(rc, err)

    @staticmethod
    def _run_loop(handle: int, stop: int, loop: asyncio.AbstractEventLoop,
                  finished: "asyncio.Future[Tuple[int, Error]]") -> None:
        err = Error()
        rc = lib.hbeat_service_run(handle, stop, byref(err))
        try:
            loop.call_soon_threadsafe(
                lambda: finished.done() or finished.set_result((rc, err)))
        except RuntimeError:
            pass

    # -- beyond Jobmon --------------------------------------------------------------
    def start(self) -> None:
        """Run the loop of run_background() on a thread of the library's, without
        an event loop; stop() ends it. HbeatError ESTATE when a loop runs."""
        call(lib.hbeat_service_start, self._enter_left())

    def stop(self) -> None:
        """Stop the loop start() began; raises its failure (EFATAL) if it gave up."""
        call(lib.hbeat_service_stop, self._enter_left())

    def _enter_left(self) -> int:
        handle = self._enter()
        self._leave()
        return handle

    @property
    def is_running(self) -> bool:
        """True while a loop (run_background or start) runs."""
        return bool(self._call(lib.hbeat_service_is_running))

    @property
    def lease_lost(self) -> bool:
        """True once no beat was acknowledged within next_report_increment of
        the last acknowledged one (or creation): the server may have reaped the run."""
        return bool(self._call(lib.hbeat_service_lease_lost))

    def lease_remaining(self) -> float:
        """Seconds until the lease lapses (negative once it has)."""
        return self._call(lib.hbeat_service_lease_remaining)

    def progress(self) -> None:
        """Tell the service the application's work moved on (see progress_timeout)."""
        self._call(lib.hbeat_service_progress)

    def stats(self) -> ServiceStats:
        """A snapshot of the service's statistics."""
        s = _CStats()
        s.version = SERVICE_STATS_VERSION
        check(self._call(lib.hbeat_service_get_stats, byref(s)))
        last = from_struct(s.last_error.code, s.last_error) if s.last_error.code else None
        buckets = tuple((lib.hbeat_rtt_bucket_bound(i), int(s.rtt_buckets[i]))
                        for i in range(len(s.rtt_buckets)))
        return ServiceStats(s.beats_sent, s.beats_acknowledged, s.beats_failed,
                            s.consecutive_failures, s.status_changes, s.last_rtt, s.rtt_min,
                            s.rtt_mean, s.rtt_max, buckets, s.time_since_ack, s.lease_slack, last,
                            bool(s.stalled), s.stalls, s.time_since_progress)


# Open services, held until closed: a service whose loop runs must not be
# collected under it; the interpreter's exit hook closes what is left.
_open_services: Dict[int, HeartbeatService] = {}


def close_all() -> None:
    """Close every service and gateway still open (the interpreter's exit hook)."""
    for svc in list(_open_services.values()):
        try:
            svc.close()
        except Exception:
            pass
    from .gateway import _open_gateways
    for gw in list(_open_gateways):
        try:
            gw.close()
        except Exception:
            pass


__all__: List[str] = ["HeartbeatService", "StateUpdate", "ServiceStats", "close_all"]
