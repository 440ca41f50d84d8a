"""Finds libhbeat and declares the parts of its C API the package calls.

The library is found, in order, through HBEAT_LIBRARY (the path of the
library file, e.g. a build tree's libhbeat.so), pkg-config's libdir for an
installed hbeat, then the dynamic linker's search path. Every function is
bound through ctypes.CDLL, so the GIL is released for the duration of each
C call: a call that waits (a blocking tick, freeing a service) never holds
up other Python threads, nor a library thread that needs the GIL to
deliver a callback.
"""
import ctypes
import ctypes.util
import os
import subprocess
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int, c_int64,
                    c_size_t, c_uint, c_uint64, c_void_p)

STATUS_MAX = 15
ERROR_MESSAGE_MAX = 256
RTT_BUCKETS = 12

SERVICE_OPTIONS_VERSION = 2
SERVICE_STATS_VERSION = 3
GATEWAY_OPTIONS_VERSION = 2
GATEWAY_VTABLE_VERSION = 2
RUN_CREATE_OPTIONS_VERSION = 1
GATEWAY_THREAD_SAFE = 0x1
FAKE_ASYNC = 0x1


class Error(Structure):
    _fields_ = [("code", c_int), ("http_status", c_int), ("native", c_int),
                ("message", c_char * ERROR_MESSAGE_MAX)]


StatusChangeFn = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p)
LeaseChangeFn = CFUNCTYPE(None, c_void_p, c_int)
StallChangeFn = CFUNCTYPE(None, c_void_p, c_int)


class ServiceOptions(Structure):
    _fields_ = [("version", c_uint), ("workflow_run_id", c_int64), ("interval", c_double),
                ("report_by_buffer", c_double), ("initial_status", c_char_p),
                ("max_consecutive_failures", c_uint), ("clock", c_void_p),
                ("on_status_change", StatusChangeFn), ("on_status_change_arg", c_void_p),
                ("on_lease_change", LeaseChangeFn), ("on_lease_change_arg", c_void_p),
                ("retry_base", c_double), ("retry_factor", c_double), ("retry_cap", c_double),
                ("retry_jitter", c_double), ("jitter", c_double), ("random_phase", c_int),
                ("seed", c_uint64), ("progress_timeout", c_double),
                ("on_stall_change", StallChangeFn), ("on_stall_change_arg", c_void_p)]


class Update(Structure):
    _fields_ = [("changed", c_int), ("status", c_char * (STATUS_MAX + 1)),
                ("previous_status", c_char * (STATUS_MAX + 1))]


TickFn = CFUNCTYPE(None, c_void_p, c_int, POINTER(Update), POINTER(Error))


class ServiceStats(Structure):
    _fields_ = [("version", c_uint), ("beats_sent", c_uint64), ("beats_acknowledged", c_uint64),
                ("beats_failed", c_uint64), ("consecutive_failures", c_uint),
                ("status_changes", c_uint64), ("last_rtt", c_double), ("rtt_min", c_double),
                ("rtt_mean", c_double), ("rtt_max", c_double),
                ("rtt_buckets", c_uint64 * RTT_BUCKETS), ("time_since_ack", c_double),
                ("lease_slack", c_double), ("last_error", Error), ("stalled", c_uint),
                ("stalls", c_uint64), ("time_since_progress", c_double)]


class GatewayOptions(Structure):
    _fields_ = [("version", c_uint), ("connect_timeout", c_double),
                ("request_timeout", c_double), ("ca_file", c_char_p), ("cert_file", c_char_p),
                ("key_file", c_char_p), ("token", c_char_p), ("token_file", c_char_p),
                ("user_agent", c_char_p), ("max_reply_size", c_size_t), ("insecure", c_int),
                ("client_jobmon_version", c_char_p)]


class RunInfo(Structure):
    _fields_ = [("workflow_run_id", c_int64), ("workflow_id", c_int64),
                ("status", c_char * (STATUS_MAX + 1)), ("deadline", c_double),
                ("last_heartbeat", c_double), ("beats", c_uint64)]


class RunCreateOptions(Structure):
    _fields_ = [("version", c_uint), ("status", c_char_p), ("next_report_increment", c_double),
                ("no_deadline", c_int)]


class FakeCall(Structure):
    _fields_ = [("kind", c_int), ("workflow_run_id", c_int64),
                ("status", c_char * (STATUS_MAX + 1)), ("next_report_increment", c_double),
                ("sequence", c_uint64), ("time_ns", c_int64), ("result", c_int)]


class HeartbeatRequest(Structure):
    _fields_ = [("workflow_run_id", c_int64), ("status", c_char_p),
                ("next_report_increment", c_double), ("sequence", c_uint64)]


class HeartbeatReply(Structure):
    _fields_ = [("status", c_char * (STATUS_MAX + 1))]


GatewayDoneFn = CFUNCTYPE(None, c_void_p, c_int, POINTER(HeartbeatReply), POINTER(Error))
DestroyFn = CFUNCTYPE(None, c_void_p)
LogHeartbeatFn = CFUNCTYPE(c_int, c_void_p, POINTER(HeartbeatRequest), POINTER(HeartbeatReply),
                           POINTER(Error))
LogHeartbeatAsyncFn = CFUNCTYPE(c_int, c_void_p, POINTER(HeartbeatRequest), GatewayDoneFn,
                                c_void_p, POINTER(Error))
CloseFn = CFUNCTYPE(None, c_void_p)


class GatewayVtable(Structure):
    # Only the heartbeat methods are filled; the rest stay NULL (optional).
    _fields_ = [("version", c_uint), ("name", c_char_p), ("flags", c_uint),
                ("destroy", DestroyFn), ("log_heartbeat", LogHeartbeatFn),
                ("log_heartbeat_async", LogHeartbeatAsyncFn), ("close", CloseFn),
                ("update_status", c_void_p), ("create_run", c_void_p), ("get_run", c_void_p),
                ("list_runs", c_void_p), ("set_status", c_void_p),
                ("create_run_with", c_void_p)]


_P = c_void_p
_E = POINTER(Error)

# name: (restype, argtypes)
_SIGNATURES = {
    "hbeat_version": (c_char_p, []),
    "hbeat_strerror": (c_char_p, [c_int]),
    "hbeat_status_is_valid": (c_int, [c_char_p]),
    "hbeat_status_name": (c_char_p, [c_char_p]),
    "hbeat_clock_system": (_P, []),
    "hbeat_clock_now_ns": (c_int64, [_P]),
    "hbeat_clock_free": (None, [_P]),
    "hbeat_fake_clock_new": (c_int, [POINTER(c_void_p), c_int64, _E]),
    "hbeat_fake_clock_advance": (c_int, [_P, c_int64]),
    "hbeat_fake_clock_waiters": (c_int, [_P]),
    "hbeat_fake_clock_wait_waiters": (c_int, [_P, c_int, c_double]),
    "hbeat_gateway_open": (c_int, [POINTER(c_void_p), c_char_p, POINTER(GatewayOptions), _E]),
    "hbeat_gateway_new": (c_int, [POINTER(c_void_p), POINTER(GatewayVtable), _P, _E]),
    "hbeat_gateway_free": (None, [_P]),
    "hbeat_gateway_transport": (c_char_p, [_P]),
    "hbeat_gateway_log_heartbeat": (c_int, [_P, c_int64, c_char_p, c_double, c_char_p, _E]),
    "hbeat_gateway_update_status": (c_int, [_P, c_int64, c_char_p, c_char_p, _E]),
    "hbeat_run_create_with": (c_int, [_P, c_int64, POINTER(RunCreateOptions),
                                      POINTER(RunInfo), _E]),
    "hbeat_run_get": (c_int, [_P, c_int64, POINTER(RunInfo), _E]),
    "hbeat_run_list": (c_int, [_P, c_char_p, POINTER(POINTER(RunInfo)), POINTER(c_size_t),
                               _E]),
    "hbeat_run_list_free": (None, [POINTER(RunInfo)]),
    "hbeat_run_set_status": (c_int, [_P, c_int64, c_char_p, c_int, POINTER(RunInfo), _E]),
    "hbeat_fake_gateway_new": (c_int, [POINTER(c_void_p), _P, c_uint, _E]),
    "hbeat_fake_gateway_push_reply": (c_int, [_P, c_char_p]),
    "hbeat_fake_gateway_set_server_status": (c_int, [_P, c_char_p]),
    "hbeat_fake_gateway_fail": (c_int, [_P, c_int, c_uint, c_int, c_char_p]),
    "hbeat_fake_gateway_heal": (c_int, [_P]),
    "hbeat_fake_gateway_set_latency": (c_int, [_P, c_int64]),
    "hbeat_fake_gateway_complete": (c_int, [_P, c_int]),
    "hbeat_fake_gateway_pending": (c_int, [_P]),
    "hbeat_fake_gateway_call_count": (c_int, [_P]),
    "hbeat_fake_gateway_call": (c_int, [_P, c_int, POINTER(FakeCall)]),
    "hbeat_fake_gateway_clear_calls": (c_int, [_P]),
    "hbeat_fake_gateway_wait_calls": (c_int, [_P, c_int, c_double]),
    "hbeat_service_new": (c_int, [POINTER(c_void_p), _P, POINTER(ServiceOptions), _E]),
    "hbeat_service_free": (None, [_P]),
    "hbeat_service_workflow_run_id": (c_int64, [_P]),
    "hbeat_service_interval": (c_double, [_P]),
    "hbeat_service_report_by_buffer": (c_double, [_P]),
    "hbeat_service_next_report_increment": (c_double, [_P]),
    "hbeat_service_status": (c_int, [_P, c_char_p]),
    "hbeat_service_set_status": (c_int, [_P, c_char_p, _E]),
    "hbeat_service_last_heartbeat_ns": (c_int64, [_P]),
    "hbeat_service_time_since_last_heartbeat": (c_double, [_P]),
    "hbeat_service_is_heartbeat_due": (c_int, [_P]),
    "hbeat_service_reset_timer": (None, [_P]),
    "hbeat_service_lease_lost": (c_int, [_P]),
    "hbeat_service_lease_remaining": (c_double, [_P]),
    "hbeat_service_progress": (None, [_P]),
    "hbeat_service_consecutive_failures": (c_uint, [_P]),
    "hbeat_service_tick": (c_int, [_P, POINTER(Update), _E]),
    "hbeat_service_tick_async": (c_int, [_P, TickFn, _P, _E]),
    "hbeat_service_run": (c_int, [_P, _P, _E]),
    "hbeat_service_start": (c_int, [_P, _E]),
    "hbeat_service_stop": (c_int, [_P, _E]),
    "hbeat_service_get_stats": (c_int, [_P, POINTER(ServiceStats)]),
    "hbeat_service_is_running": (c_int, [_P]),
    "hbeat_rtt_bucket_bound": (c_double, [c_int]),
    "hbeat_stop_event_new": (c_int, [POINTER(c_void_p)]),
    "hbeat_stop_event_free": (None, [_P]),
    "hbeat_stop_event_set": (None, [_P]),
    "hbeat_stop_event_is_set": (c_int, [_P]),
}


def _pkg_config_libdir():
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "hbeat"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    return libdir if out.returncode == 0 and libdir else None


def _candidates():
    env = os.environ.get("HBEAT_LIBRARY")
    if env:
        # Named explicitly: use it or fail, never fall back to another copy.
        return [env], "HBEAT_LIBRARY=%s" % env
    found = []
    libdir = _pkg_config_libdir()
    if libdir:
        found += [os.path.join(libdir, n) for n in ("libhbeat.so.0", "libhbeat.so")]
    linker = ctypes.util.find_library("hbeat")
    if linker:
        found.append(linker)
    return found, "pkg-config (libdir %s) and the linker's path" % (libdir or "not found")


def _load():
    names, where = _candidates()
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError as exc:
            errors.append(str(exc))
    raise ImportError("hbeat: cannot load libhbeat through %s%s. Install hbeat (its hbeat.pc "
                      "on PKG_CONFIG_PATH) or set HBEAT_LIBRARY to the library file, e.g. "
                      "build/libhbeat.so" % (where, (": " + "; ".join(errors)) if errors else ""))


def _bind(dll):
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            fn = getattr(dll, name)
        except AttributeError as exc:
            raise ImportError("hbeat: %s lacks %s (a libhbeat older than this package, or one "
                              "built without the fake transport)" % (dll._name, name)) from exc
        fn.restype = restype
        fn.argtypes = argtypes
    return dll


lib = _bind(_load())
path = lib._name
