"""Delivers the library's callbacks (status change, lease, stall) to Python.

The C trampolines only queue the event; one Python thread of the package's
calls the user's functions. So a callback may call back into its service
(even close it) without deadlock, a slow callback never holds up a beat,
and HeartbeatService.close() can promise that no callback starts after it
returns: the dispatcher drops the events of a closed service.
"""
import logging
import queue
import threading
import weakref
from typing import Any, Callable, Optional, Tuple

from ._lib import LeaseChangeFn, StallChangeFn, StatusChangeFn

log = logging.getLogger("hbeat")

#: key -> service, for the trampolines; weak, so that a forgotten service can
#: be collected (its finalizer closes it).
services: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()

_queue: "queue.SimpleQueue[Tuple[int, str, tuple]]" = queue.SimpleQueue()
_thread: Optional[threading.Thread] = None
_thread_lock = threading.Lock()


def dispatcher_thread() -> Optional[threading.Thread]:
    return _thread


def _run() -> None:
    while True:
        key, name, args = _queue.get()
        svc = services.get(key)
        if svc is not None:
            svc._deliver(name, args)
        del svc


def post(key: Optional[int], name: str, args: tuple) -> None:
    global _thread
    if _thread is None:
        with _thread_lock:
            if _thread is None:
                # A daemon: it only ever waits on the queue at exit, and the
                # package's exit hook has closed every service by then.
                _thread = threading.Thread(target=_run, name="hbeat-callbacks", daemon=True)
                _thread.start()
    _queue.put((key or 0, name, args))


@StatusChangeFn
def on_status_change(key: Any, old: bytes, new: bytes) -> None:
    post(key, "status", (old.decode(), new.decode()))


@LeaseChangeFn
def on_lease_change(key: Any, lost: int) -> None:
    post(key, "lease", (bool(lost),))


@StallChangeFn
def on_stall_change(key: Any, stalled: int) -> None:
    post(key, "stall", (bool(stalled),))


def call_user(fn: Callable[..., Any], args: tuple) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("hbeat: a callback raised")
