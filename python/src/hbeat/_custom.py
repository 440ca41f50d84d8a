"""Any object with Jobmon's ServerGateway heartbeat methods, as a libhbeat
gateway through the method table (hbeat/sys/gateway.h).

The C core calls these trampolines on its own threads (ctypes takes the
GIL for them). The asynchronous path runs the object's coroutine
log_heartbeat on the event loop that asked for the beat (tick()) or that
run_background() runs on; with no loop at hand it calls log_heartbeat_sync
on a worker thread. Every accepted call completes exactly once: with the
object's answer, its exception, or ECANCELED when the gateway closes.
"""
import asyncio
import inspect
import itertools
import threading
from ctypes import byref, c_void_p
from typing import Any, Dict, Optional, Tuple

from ._lib import (GATEWAY_THREAD_SAFE, GATEWAY_VTABLE_VERSION, CloseFn, DestroyFn, Error,
                   GatewayVtable, HeartbeatReply, LogHeartbeatAsyncFn, LogHeartbeatFn, lib)
from ._util import call
from .errors import CODES, HbeatError

_ECANCELED = CODES["ECANCELED"]
_adapters: Dict[int, "Adapter"] = {}
_keys = itertools.count(1)

ErrInfo = Tuple[int, int, int, str]


def has_heartbeat_methods(obj: Any) -> bool:
    return callable(getattr(obj, "log_heartbeat_sync", None)) or \
        callable(getattr(obj, "log_heartbeat", None))


def _error_of(exc: BaseException) -> ErrInfo:
    if isinstance(exc, HbeatError):
        return exc.code, exc.http_status, exc.native, exc.message
    if isinstance(exc, asyncio.CancelledError):
        return _ECANCELED, 0, 0, "the gateway's coroutine was cancelled"
    if isinstance(exc, TimeoutError):
        return CODES["ETIMEDOUT"], 0, 0, "%s: %s" % (type(exc).__name__, exc)
    return CODES["ETRANSPORT"], getattr(exc, "status", 0) if isinstance(
        getattr(exc, "status", 0), int) else 0, 0, "%s: %s" % (type(exc).__name__, exc)


def _set(e: Error, info: ErrInfo) -> Error:
    code, http_status, native, message = info
    e.code, e.http_status, e.native = code, http_status, native
    e.message = message.encode("utf-8", errors="replace")[:255]
    return e


def _fill(err: Any, info: ErrInfo) -> int:
    """Fills the hbeat_error the core passed (it may be NULL); returns the code."""
    if err:
        _set(err.contents, info)
    return info[0]


def _status_of(result: Any) -> bytes:
    status = getattr(result, "status", None)
    raw = status.encode("ascii", errors="replace") if isinstance(status, str) else None
    if raw is None or not lib.hbeat_status_is_valid(raw):
        raise HbeatError(CODES["EPROTO"], "the gateway answered %r, whose .status %r is not a "
                         "status token" % (result, status))
    return raw


class Adapter:
    """Holds the Python gateway object and its calls in flight."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.lock = threading.Lock()
        self.pending: Dict[int, Tuple[Any, Any]] = {}
        self.closed = False
        #: The loop run_background() runs on, for beats of the C loop's thread.
        self.loop: Optional[asyncio.AbstractEventLoop] = None

    def sync_call(self, status: str, nri: float) -> bytes:
        fn = getattr(self.obj, "log_heartbeat_sync", None)
        if callable(fn):
            return _status_of(fn(status, nri))
        return _status_of(asyncio.run(self._await(status, nri)))

    async def _await(self, status: str, nri: float) -> Any:
        fn = getattr(self.obj, "log_heartbeat", None)
        if not callable(fn):
            return await asyncio.get_running_loop().run_in_executor(
                None, self.obj.log_heartbeat_sync, status, nri)
        result = fn(status, nri)
        return (await result) if inspect.isawaitable(result) else result

    async def coro_call(self, key: int, status: str, nri: float) -> None:
        try:
            raw = _status_of(await self._await(status, nri))
        except BaseException as exc:  # noqa: B902 - every outcome completes the call
            self.finish(key, None, _error_of(exc))
            if not isinstance(exc, Exception):
                raise
            return
        self.finish(key, raw, None)

    def thread_call(self, key: int, status: str, nri: float) -> None:
        try:
            raw = self.sync_call(status, nri)
        except Exception as exc:
            self.finish(key, None, _error_of(exc))
            return
        self.finish(key, raw, None)

    def finish(self, key: int, raw: Optional[bytes], info: Optional[ErrInfo]) -> None:
        with self.lock:
            entry = self.pending.pop(key, None)
        if entry is None:
            return  # already completed with ECANCELED by close
        done, arg = entry
        if info is None:
            reply = HeartbeatReply()
            reply.status = raw
            done(arg, 0, byref(reply), None)
        else:
            done(arg, info[0], None, byref(_set(Error(), info)))

    def cancel_all(self) -> None:
        with self.lock:
            self.closed = True
            entries, self.pending = list(self.pending.values()), {}
        err = _set(Error(), (_ECANCELED, 0, 0, "the gateway closed"))
        for done, arg in entries:
            done(arg, _ECANCELED, None, byref(err))


@LogHeartbeatFn
def _log_heartbeat(self_key: Any, req: Any, reply: Any, err: Any) -> int:
    adapter = _adapters.get(self_key or 0)
    try:
        if adapter is None:
            raise HbeatError(_ECANCELED, "the gateway closed")
        r = req.contents
        reply.contents.status = adapter.sync_call(r.status.decode(), r.next_report_increment)
        return 0
    except Exception as exc:
        return _fill(err, _error_of(exc))


@LogHeartbeatAsyncFn
def _log_heartbeat_async(self_key: Any, req: Any, done: Any, arg: Any, err: Any) -> int:
    adapter = _adapters.get(self_key or 0)
    if adapter is None:
        return _fill(err, (_ECANCELED, 0, 0, "the gateway closed"))
    r = req.contents
    status, nri = r.status.decode(), r.next_report_increment
    try:
        running: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    bound = adapter.loop if adapter.loop is not None and adapter.loop.is_running() else None
    key = next(_keys)
    with adapter.lock:
        if adapter.closed:
            return _fill(err, (_ECANCELED, 0, 0, "the gateway closed"))
        adapter.pending[key] = (done, arg)
    try:
        if running is not None:
            running.create_task(adapter.coro_call(key, status, nri))
        elif bound is not None:
            asyncio.run_coroutine_threadsafe(adapter.coro_call(key, status, nri), bound)
        else:
            threading.Thread(target=adapter.thread_call, args=(key, status, nri),
                             name="hbeat-gateway-call", daemon=True).start()
    except Exception as exc:
        with adapter.lock:
            adapter.pending.pop(key, None)
        return _fill(err, _error_of(exc))
    return 0


@CloseFn
def _close(self_key: Any) -> None:
    adapter = _adapters.get(self_key or 0)
    if adapter is not None:
        adapter.cancel_all()


@DestroyFn
def _destroy(self_key: Any) -> None:
    _adapters.pop(self_key or 0, None)


_VTABLE = GatewayVtable(version=GATEWAY_VTABLE_VERSION, name=b"python", flags=GATEWAY_THREAD_SAFE,
                        destroy=_destroy, log_heartbeat=_log_heartbeat,
                        log_heartbeat_async=_log_heartbeat_async, close=_close)


def new_gateway(obj: Any) -> Tuple[int, Adapter]:
    """A C gateway handle over ``obj``, and its adapter; free the handle with
    hbeat_gateway_free (which closes, then destroys the adapter)."""
    adapter = Adapter(obj)
    key = next(_keys)
    _adapters[key] = adapter
    handle = c_void_p()
    try:
        call(lib.hbeat_gateway_new, byref(handle), byref(_VTABLE), c_void_p(key))
    except Exception:
        _adapters.pop(key, None)
        raise
    return handle.value, adapter
