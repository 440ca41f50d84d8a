"""The Python package's tick, driven in blocks by the bench driver.

    python3 hbeat_beat.py URL RUN async|sync

Opens a gateway to URL for workflow run RUN and one HeartbeatService
(interval 30, Jobmon's defaults), prints "ready", then for every line "N"
on stdin sends N beats one at a time, with `await tick()` (async) or
`tick_sync()` (sync), and prints the N round trips in nanoseconds on one
line; "error MESSAGE" when a beat fails. Ends at end of input. The package
comes from PYTHONPATH (python/src) and libhbeat from HBEAT_LIBRARY, both
set by the driver to this build's.
"""
import asyncio
import sys
import time

import hbeat


async def serve(svc, mode):
    clock = time.perf_counter_ns
    # Reading stdin blocks the event loop, but only between blocks.
    for line in sys.stdin:
        samples = []
        try:
            for _ in range(int(line)):
                t0 = clock()
                if mode == "async":
                    await svc.tick()
                else:
                    svc.tick_sync()
                samples.append(clock() - t0)
        except hbeat.HbeatError as exc:
            print("error %s" % exc, flush=True)
            return 1
        print(" ".join(map(str, samples)), flush=True)
    return 0


def main(url, run, mode):
    if mode not in ("async", "sync"):
        print("error mode must be async or sync, not %r" % mode, flush=True)
        return 2
    with hbeat.open_gateway(url, workflow_run_id=run) as gw, \
            hbeat.HeartbeatService(gw, 30.0, 3.1, "R") as svc:
        print("ready", flush=True)
        return asyncio.run(serve(svc, mode))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
