"""Small checks shared by the package's modules."""
import math
from ctypes import byref
from typing import Any, Optional, TypeVar

from ._lib import STATUS_MAX, Error, lib
from .errors import from_struct


def check(rc: int, err: Optional[Error] = None) -> int:
    """Raises the HbeatError for a negative rc; returns rc otherwise."""
    if rc < 0:
        raise from_struct(rc, err)
    return rc


def call(fn: Any, *args: Any) -> int:
    """Calls a C function whose last argument is an hbeat_error, raising on failure."""
    err = Error()
    return check(fn(*args, byref(err)), err)


def status_bytes(status: Any, what: str = "status") -> bytes:
    """A status token as bytes, or TypeError/ValueError naming the bad value."""
    if not isinstance(status, str):
        raise TypeError("%s must be a str, not %r" % (what, status))
    raw = status.encode("ascii", errors="replace")
    if not lib.hbeat_status_is_valid(raw):
        raise ValueError("%s %r is not a status token: 1 to %d printable ASCII characters, no "
                         "spaces" % (what, status, STATUS_MAX))
    return raw


def number(value: Any, what: str, low: float = -math.inf, low_ok: bool = True) -> float:
    """A finite float above ``low``, or TypeError/ValueError naming the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number, not %r" % (what, value))
    v = float(value)
    if not math.isfinite(v) or v < low or (v == low and not low_ok):
        raise ValueError("%s must be finite and %s %g, not %r"
                         % (what, ">=" if low_ok else ">", low, value))
    return v


def opt_bytes(value: Optional[Any], what: str) -> Optional[bytes]:
    """An optional str or os.PathLike option as bytes."""
    if value is None:
        return None
    if hasattr(value, "__fspath__"):
        value = value.__fspath__()
    if not isinstance(value, str):
        raise TypeError("%s must be a str or path, not %r" % (what, value))
    return value.encode()


_C = TypeVar("_C", bound="Closing")


class Closing:
    """`with` closes; so does the garbage collector, for a forgotten object."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
