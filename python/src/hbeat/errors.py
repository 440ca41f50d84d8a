"""hbeat's error codes as Python exceptions."""
from typing import Dict, Optional

#: hbeat's codes (include/hbeat/errors.h) by name.
CODES: Dict[str, int] = {
    "EINVAL": -1, "ENOMEM": -2, "ETRANSPORT": -3, "ETIMEDOUT": -4, "EPROTO": -5,
    "ESERVER": -6, "ENOTFOUND": -7, "ESCHEME": -8, "ENOTBUILT": -9, "EEXIST": -10,
    "EVERSION": -11, "ESTATE": -12, "EFATAL": -13, "ECANCELED": -14, "EBUSY": -15,
    "ENOTSUP": -16, "EAUTH": -17, "EFORBIDDEN": -18, "ETOOBIG": -19, "ETLS": -20,
    "ESYSTEM": -21,
}
_NAMES = {v: k for k, v in CODES.items()}


class HbeatError(Exception):
    """A failure reported by libhbeat or its transport.

    Attributes:
        code: hbeat's negative code (see CODES), e.g. -3 for ETRANSPORT.
        name: the code's name, e.g. "ETRANSPORT".
        http_status: the HTTP status of the reply (REST), else 0.
        native: the transport's own code (CURLcode, nng error, errno), else 0.
        message: what went wrong, for a person.
    """

    def __init__(self, code: int, message: str = "", http_status: int = 0,
                 native: int = 0) -> None:
        self.code = int(code)
        self.name = _NAMES.get(self.code, "E?")
        self.http_status = int(http_status)
        self.native = int(native)
        self.message = message
        text = "%s (%d)" % (self.name, self.code)
        if self.http_status:
            text += " HTTP %d" % self.http_status
        super().__init__("%s: %s" % (text, message) if message else text)


class InvalidArgument(HbeatError, ValueError):
    """EINVAL: a bad argument, option or configuration value."""


class HeartbeatTimeout(HbeatError):
    """ETIMEDOUT: the request did not complete within its time limit."""


class GatewayError(HbeatError):
    """The transport or the server failed (ETRANSPORT, EPROTO, ESERVER, ETLS ...)."""


class NotFound(HbeatError):
    """ENOTFOUND: the server does not know the workflow run."""


class Cancelled(HbeatError):
    """ECANCELED: the call was cancelled because its gateway or service closed."""


_CLASSES = {
    CODES["EINVAL"]: InvalidArgument,
    CODES["ETIMEDOUT"]: HeartbeatTimeout,
    CODES["ENOTFOUND"]: NotFound,
    CODES["ECANCELED"]: Cancelled,
}
for _name in ("ETRANSPORT", "EPROTO", "ESERVER", "EAUTH", "EFORBIDDEN", "ETOOBIG", "ETLS",
              "EFATAL"):
    _CLASSES[CODES[_name]] = GatewayError


def make_error(code: int, message: str = "", http_status: int = 0,
               native: int = 0) -> HbeatError:
    """The exception for ``code``: a subclass of HbeatError where one fits."""
    return _CLASSES.get(code, HbeatError)(code, message, http_status, native)


def from_struct(rc: int, err: Optional[object]) -> HbeatError:
    """Builds the exception from a C call's return code and hbeat_error."""
    if err is None or getattr(err, "code", 0) == 0:
        from ._lib import lib
        return make_error(rc, lib.hbeat_strerror(rc).decode())
    return make_error(rc, err.message.decode(errors="replace"), err.http_status, err.native)
