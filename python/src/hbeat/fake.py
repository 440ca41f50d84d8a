"""The fake clock and fake gateway of libhbeat, for tests that need no
server and never sleep."""
import threading
from ctypes import byref, c_void_p
from dataclasses import dataclass
from typing import List, Optional

from ._lib import FAKE_ASYNC, FakeCall, lib
from ._util import Closing, call, check, number, status_bytes
from .errors import CODES, HbeatError
from .gateway import Gateway

_NS = 1_000_000_000


class FakeClock(Closing):
    """A monotonic clock that moves only when :meth:`advance` says so.

    Give it to HeartbeatService(clock=...) (and to FakeGateway) and the
    service's schedule, due checks and run loop follow it: a loop waiting on
    it wakes as soon as it is advanced. Close it after the services using it.
    """

    def __init__(self, start: float = 0.0) -> None:
        handle = c_void_p()
        call(lib.hbeat_fake_clock_new, byref(handle), int(number(start, "start", 0.0) * _NS))
        self._handle: Optional[int] = handle.value
        self._lock = threading.Lock()

    @property
    def handle(self) -> int:
        """The C hbeat_clock pointer; ValueError once closed."""
        if self._handle is None:
            raise ValueError("the clock is closed")
        return self._handle

    def now(self) -> float:
        """The clock's time in seconds."""
        return lib.hbeat_clock_now_ns(self.handle) / _NS

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0) and wake its waiters."""
        check(lib.hbeat_fake_clock_advance(self.handle,
                                           round(number(seconds, "seconds", 0.0) * _NS)))

    def waiters(self) -> int:
        """Loops that have gone to sleep on the clock since it last moved."""
        return check(lib.hbeat_fake_clock_waiters(self.handle))

    def wait_waiters(self, n: int = 1, timeout: float = 10.0) -> None:
        """Block (in real time, GIL released) until ``n`` loops sleep on the clock,
        so that a test advances it only once a loop waits; HbeatError
        ETIMEDOUT after ``timeout`` seconds."""
        check(lib.hbeat_fake_clock_wait_waiters(self.handle, n, timeout))

    def close(self) -> None:
        """Free the clock, after the services and gateways that use it. Idempotent."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            lib.hbeat_clock_free(handle)



@dataclass(frozen=True)
class FakeCallRecord:
    """One call the fake gateway received."""

    #: "heartbeat" or "update_status".
    kind: str
    workflow_run_id: int
    status: str
    next_report_increment: float
    sequence: int
    #: When the call arrived, on the gateway's clock, in seconds.
    time: float
    #: 0, or the injected error's code.
    result: int


class FakeGateway(Gateway):
    """An in-memory gateway scripted by the test: it echoes the status it is
    sent unless told otherwise, fails on demand, and records every call.

    With ``asynchronous=True`` asynchronous beats (tick()) stay pending until
    :meth:`complete`; by default they complete on their own.
    """

    def __init__(self, workflow_run_id: Optional[int] = 1, clock: Optional[FakeClock] = None,
                 asynchronous: bool = False) -> None:
        handle = c_void_p()
        call(lib.hbeat_fake_gateway_new, byref(handle), clock.handle if clock else None,
             FAKE_ASYNC if asynchronous else 0)
        super().__init__(handle.value, workflow_run_id)
        self._clock = clock

    @classmethod
    def _wrap(cls, handle: int, workflow_run_id: Optional[int]) -> "FakeGateway":
        self = cls.__new__(cls)
        Gateway.__init__(self, handle, workflow_run_id)
        self._clock = None
        return self

    def push_reply(self, status: str) -> None:
        """Queue a reply: the next unanswered call gets ``status``."""
        check(lib.hbeat_fake_gateway_push_reply(self.handle, status_bytes(status)))

    def set_server_status(self, status: Optional[str]) -> None:
        """Answer every call with ``status``, as a server holding it would;
        None goes back to echoing."""
        raw = None if status is None else status_bytes(status)
        check(lib.hbeat_fake_gateway_set_server_status(self.handle, raw))

    def fail(self, code: "int | str" = "ETRANSPORT", nth: int = 1, persistent: bool = False,
             message: Optional[str] = None) -> None:
        """Fail the ``nth`` call from now (1: the next) with ``code`` (a name from
        hbeat.errors.CODES or the number); with ``persistent`` every call
        from then on, until :meth:`heal`."""
        if isinstance(code, str):
            if code not in CODES:
                raise ValueError("code %r is not one of hbeat's codes: %s"
                                 % (code, ", ".join(CODES)))
            code = CODES[code]
        if not isinstance(nth, int) or nth < 1:
            raise ValueError("nth must be an int >= 1, not %r" % (nth,))
        check(lib.hbeat_fake_gateway_fail(self.handle, code, nth, int(bool(persistent)),
                                          None if message is None else message.encode()))

    def heal(self) -> None:
        """Cancel every injected failure."""
        check(lib.hbeat_fake_gateway_heal(self.handle))

    def set_latency(self, seconds: float) -> None:
        """Each call takes ``seconds`` of simulated time (advances a fake clock)."""
        check(lib.hbeat_fake_gateway_set_latency(self.handle,
                                                 round(number(seconds, "seconds", 0.0) * _NS)))

    def complete(self, max_calls: int = 1) -> int:
        """Complete up to ``max_calls`` pending asynchronous calls, oldest first;
        returns how many."""
        return check(lib.hbeat_fake_gateway_complete(self.handle, max_calls))

    @property
    def pending(self) -> int:
        """Asynchronous calls started and not yet completed."""
        return check(lib.hbeat_fake_gateway_pending(self.handle))

    @property
    def calls(self) -> List[FakeCallRecord]:
        """Every call recorded so far, oldest first."""
        out = []
        for i in range(check(lib.hbeat_fake_gateway_call_count(self.handle))):
            c = FakeCall()
            check(lib.hbeat_fake_gateway_call(self.handle, i, byref(c)))
            out.append(FakeCallRecord("heartbeat" if c.kind == 1 else "update_status",
                                      c.workflow_run_id, c.status.decode(),
                                      c.next_report_increment, c.sequence, c.time_ns / _NS,
                                      c.result))
        return out

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        check(lib.hbeat_fake_gateway_clear_calls(self.handle))

    def wait_calls(self, n: int, timeout: float = 10.0) -> None:
        """Block (real time, GIL released) until ``n`` calls were recorded."""
        rc = lib.hbeat_fake_gateway_wait_calls(self.handle, n, timeout)
        if rc < 0:
            raise HbeatError(rc, "fewer than %d calls within %g s" % (n, timeout))
