"""Gateways: a connection to one server, opened by URL, carrying the
workflow run id as Jobmon's ServerGateway does."""
import asyncio
import threading
import weakref
from ctypes import POINTER, byref, c_size_t, c_void_p, create_string_buffer
from dataclasses import dataclass
from typing import Any, List, Optional

from ._lib import (GATEWAY_OPTIONS_VERSION, RUN_CREATE_OPTIONS_VERSION, STATUS_MAX,
                   GatewayOptions, RunCreateOptions, RunInfo, lib)
from ._util import Closing, call, number, opt_bytes, status_bytes


@dataclass(frozen=True)
class HeartbeatResponse:
    """What a server answered to a heartbeat or status update."""

    #: The status the server now holds.
    status: str


@dataclass(frozen=True)
class Run:
    """What a server knows about one workflow run (hbeatd's admin calls)."""

    workflow_run_id: int
    workflow_id: int
    status: str
    #: Unix time by which the next beat is due; 0 when unset.
    deadline: float
    #: Unix time of the last beat received; 0 when none.
    last_heartbeat: float
    beats: int

    @classmethod
    def _from(cls, info: RunInfo) -> "Run":
        return cls(info.workflow_run_id, info.workflow_id, info.status.decode(), info.deadline,
                   info.last_heartbeat, info.beats)


def _run_id(value: Any, what: str = "workflow_run_id") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %r" % (what, value))
    if value <= 0:
        raise ValueError("%s must be positive, not %r" % (what, value))
    return value


class Gateway(Closing):
    """A gateway to one server: REST (http, https), nng (nng+tcp, nng+tls+tcp,
    nng+ipc, nng+inproc) or fake. Open it with :func:`open_gateway`.

    Thread-safe. Use it as a context manager, or call :meth:`close` once
    the services that use it are done (closing it closes them first).
    """

    def __init__(self, handle: int, workflow_run_id: Optional[int]) -> None:
        self._handle: Optional[int] = handle
        self._lock = threading.Lock()
        self._services: "weakref.WeakSet[Any]" = weakref.WeakSet()
        #: The workflow run the services on this gateway keep alive.
        self.workflow_run_id = workflow_run_id
        _open_gateways.add(self)

    # -- lifetime ------------------------------------------------------------
    @property
    def handle(self) -> int:
        """The C hbeat_gateway pointer; ValueError once closed."""
        if self._handle is None:
            raise ValueError("the gateway is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return self._handle is None

    @property
    def transport(self) -> str:
        """The transport's name: "rest", "nng", "fake" ..."""
        return lib.hbeat_gateway_transport(self.handle).decode()

    def _attach(self, service: Any) -> None:
        with self._lock:
            self.handle
            self._services.add(service)

    def close(self) -> None:
        """Close the services still using the gateway, then the gateway.
        Calls in flight fail with ECANCELED. Idempotent."""
        for svc in list(self._services):
            svc.close()
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            lib.hbeat_gateway_free(handle)
        _open_gateways.discard(self)


    # -- Jobmon's ServerGateway calls ----------------------------------------
    def _wrid(self) -> int:
        if self.workflow_run_id is None:
            raise ValueError("this gateway was opened without a workflow_run_id")
        return self.workflow_run_id

    def log_heartbeat_sync(self, status: str, next_report_increment: float) -> HeartbeatResponse:
        """Send one heartbeat for this gateway's run and wait for the answer."""
        raw = status_bytes(status)
        nri = number(next_report_increment, "next_report_increment", 0.0)
        out = create_string_buffer(STATUS_MAX + 1)
        call(lib.hbeat_gateway_log_heartbeat, self.handle, self._wrid(), raw, nri, out)
        return HeartbeatResponse(out.value.decode())

    async def log_heartbeat(self, status: str, next_report_increment: float) -> HeartbeatResponse:
        """The coroutine twin of :meth:`log_heartbeat_sync` (runs it on a worker thread)."""
        return await asyncio.get_running_loop().run_in_executor(
            None, self.log_heartbeat_sync, status, next_report_increment)

    def update_status(self, status: str) -> HeartbeatResponse:
        """Jobmon's client status update: ask the server to move the run to ``status``;
        the answer holds the status the server now holds."""
        raw = status_bytes(status)
        out = create_string_buffer(STATUS_MAX + 1)
        call(lib.hbeat_gateway_update_status, self.handle, self._wrid(), raw, out)
        return HeartbeatResponse(out.value.decode())

    # -- hbeatd's admin calls ------------------------------------------------
    def create_run(self, workflow_id: int, status: str = "G",
                   next_report_increment: Optional[float] = None) -> Run:
        """Admin: create a run of ``workflow_id``; its first deadline is
        ``next_report_increment`` seconds away (None: the server's default, 93)."""
        opts = RunCreateOptions(RUN_CREATE_OPTIONS_VERSION, status_bytes(status), 93.0, 0)
        if next_report_increment is not None:
            opts.next_report_increment = number(next_report_increment,
                                                "next_report_increment", 0.0)
        info = RunInfo()
        call(lib.hbeat_run_create_with, self.handle, _run_id(workflow_id, "workflow_id"),
             byref(opts), byref(info))
        return Run._from(info)

    def get_run(self, workflow_run_id: Optional[int] = None) -> Run:
        """Admin: read a run (this gateway's own when None); NotFound when unknown."""
        wrid = self._wrid() if workflow_run_id is None else _run_id(workflow_run_id)
        info = RunInfo()
        call(lib.hbeat_run_get, self.handle, wrid, byref(info))
        return Run._from(info)

    def list_runs(self, status: Optional[str] = None) -> List[Run]:
        """Admin: every run, or those in ``status``."""
        raw = None if status is None else status_bytes(status)
        arr = POINTER(RunInfo)()
        count = c_size_t()
        call(lib.hbeat_run_list, self.handle, raw, byref(arr), byref(count))
        try:
            return [Run._from(arr[i]) for i in range(count.value)]
        finally:
            lib.hbeat_run_list_free(arr)

    def set_run_status(self, status: str, workflow_run_id: Optional[int] = None,
                       force: bool = False) -> Run:
        """Admin: move a run to ``status`` as an operator (through the server's
        state machine unless ``force``)."""
        wrid = self._wrid() if workflow_run_id is None else _run_id(workflow_run_id)
        info = RunInfo()
        call(lib.hbeat_run_set_status, self.handle, wrid, status_bytes(status), int(bool(force)),
             byref(info))
        return Run._from(info)


_open_gateways: "weakref.WeakSet[Gateway]" = weakref.WeakSet()


def open_gateway(url: str, workflow_run_id: Optional[int] = None, *,
                 connect_timeout: float = 0.0, request_timeout: float = 0.0,
                 ca_file: Any = None, cert_file: Any = None, key_file: Any = None,
                 token: Optional[str] = None, token_file: Any = None,
                 user_agent: Optional[str] = None, max_reply_size: int = 0,
                 insecure: bool = False, client_jobmon_version: Optional[str] = None) -> Gateway:
    """Open a gateway to the server at ``url``, choosing the transport by its
    scheme: http://, https:// (REST, Jobmon's routes), nng+tcp://,
    nng+tls+tcp://, nng+ipc://, nng+inproc://, fake://.

    ``workflow_run_id`` is the run the gateway's services keep alive (as
    Jobmon's ServerGateway carries it). Timeouts are in seconds; 0 means the
    transport's default. TLS files are PEM paths; ``token`` (or the first
    line of ``token_file``) is sent as a bearer token. ``insecure`` turns off
    certificate verification. Raises HbeatError (ESCHEME, ENOTBUILT, EINVAL
    ...) when the gateway cannot be opened.
    """
    if not isinstance(url, str):
        raise TypeError("url must be a str, not %r" % (url,))
    if workflow_run_id is not None:
        _run_id(workflow_run_id)
    if isinstance(max_reply_size, bool) or not isinstance(max_reply_size, int) \
            or max_reply_size < 0:
        raise ValueError("max_reply_size must be an int >= 0, not %r" % (max_reply_size,))
    opts = GatewayOptions(
        GATEWAY_OPTIONS_VERSION, number(connect_timeout, "connect_timeout", 0.0),
        number(request_timeout, "request_timeout", 0.0), opt_bytes(ca_file, "ca_file"),
        opt_bytes(cert_file, "cert_file"), opt_bytes(key_file, "key_file"),
        opt_bytes(token, "token"), opt_bytes(token_file, "token_file"),
        opt_bytes(user_agent, "user_agent"), max_reply_size, int(bool(insecure)),
        opt_bytes(client_jobmon_version, "client_jobmon_version"))
    handle = c_void_p()
    call(lib.hbeat_gateway_open, byref(handle), url.encode(), byref(opts))
    if url.lower().startswith("fake:"):
        from .fake import FakeGateway
        return FakeGateway._wrap(handle.value, workflow_run_id)
    return Gateway(handle.value, workflow_run_id)
