"""hbeat: Jobmon's HeartbeatService on libhbeat.

    import hbeat
    with hbeat.open_gateway("http://jobmon:5000/api/v3", workflow_run_id=42) as gw:
        svc = hbeat.HeartbeatService(gw, 30, 3.1, "R")
        await svc.run_background(stop_event)

The library is found through HBEAT_LIBRARY (the path of libhbeat.so),
pkg-config, or the dynamic linker's path; see docs/python.md.
"""
import atexit

from ._lib import lib as _lib
from ._lib import path as library_path
from .errors import (CODES, Cancelled, GatewayError, HbeatError, HeartbeatTimeout,
                     InvalidArgument, NotFound)
from .fake import FakeCallRecord, FakeClock, FakeGateway
from .gateway import Gateway, HeartbeatResponse, Run, open_gateway
from .service import HeartbeatService, ServiceStats, StateUpdate, close_all

#: The version of the libhbeat in use.
library_version: str = _lib.hbeat_version().decode()
__version__ = "0.1.0"

# Library threads must never call into Python once the interpreter is
# finalizing: close every service (and so stop its threads) first.
atexit.register(close_all)

__all__ = [
    "CODES", "Cancelled", "FakeCallRecord", "FakeClock", "FakeGateway", "Gateway",
    "GatewayError", "HbeatError", "HeartbeatResponse", "HeartbeatService", "HeartbeatTimeout",
    "InvalidArgument", "NotFound", "Run", "ServiceStats", "StateUpdate", "close_all",
    "library_path", "library_version", "open_gateway",
]
