"""The Python package's tick, driven in blocks by the bench driver.

    python3 hbeat_beat.py URL RUN async|sync
    python3 hbeat_beat.py - 0 handoff

Opens a gateway to URL for workflow run RUN and one HeartbeatService
(interval 30, Jobmon's defaults), prints "ready", then for every line "N"
on stdin sends N beats one at a time, with `await tick()` (async) or
`tick_sync()` (sync), and prints the N round trips in nanoseconds on one
line; "error MESSAGE" when a beat fails. Ends at end of input. "handoff"
beats nothing: each round trip is an asyncio future resolved by another
thread with loop.call_soon_threadsafe, the way tick() is, which is the
floor under any await tick(). The package
comes from PYTHONPATH (python/src) and libhbeat from HBEAT_LIBRARY, both
set by the driver to this build's.
"""
import asyncio
import queue
import sys
import threading
import time

import hbeat


def start_handoff_thread():
    requests = queue.SimpleQueue()

    def resolve():
        while True:
            loop, fut = requests.get()
            loop.call_soon_threadsafe(fut.set_result, None)

    threading.Thread(target=resolve, daemon=True).start()

    async def handoff():
        fut = asyncio.get_running_loop().create_future()
        requests.put((asyncio.get_running_loop(), fut))
        await fut

    return handoff


async def serve(svc, mode):
    clock = time.perf_counter_ns
    handoff = start_handoff_thread() if mode == "handoff" else None
    # Reading stdin blocks the event loop, but only between blocks.
    for line in sys.stdin:
        samples = []
        try:
            for _ in range(int(line)):
                t0 = clock()
                if handoff is not None:
                    await handoff()
                elif mode == "async":
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
    if mode not in ("async", "sync", "handoff"):
        print("error mode must be async, sync or handoff, not %r" % mode, flush=True)
        return 2
    if mode == "handoff":
        print("ready", flush=True)
        return asyncio.run(serve(None, mode))
    with hbeat.open_gateway(url, workflow_run_id=run) as gw, \
            hbeat.HeartbeatService(gw, 30.0, 3.1, "R") as svc:
        print("ready", flush=True)
        return asyncio.run(serve(svc, mode))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
