"""The Python reference: Jobmon's heartbeat as a Python client sends it.

    python3 aiohttp_beat.py URL WARMUP BEATS

POSTs the heartbeat body to URL (a full log_heartbeat URL, query string
included) over one aiohttp ClientSession, so the connection is kept alive,
one beat at a time, and prints "median_us=... p99_us=... n=..." for the
bench driver. Needs aiohttp (Debian: python3-aiohttp).
"""
import asyncio
import math
import sys
import time

import aiohttp

BODY = {"status": "R", "next_report_increment": 93.0}


async def main(url, warmup, beats):
    samples = []
    async with aiohttp.ClientSession() as session:
        for i in range(warmup + beats):
            t0 = time.perf_counter_ns()
            async with session.post(url, json=BODY) as resp:
                await resp.read()
                if resp.status != 200:
                    print("failed=HTTP%d" % resp.status)
                    return 1
            if i >= warmup:
                samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    def q(p):
        return samples[max(1, math.ceil(p * len(samples))) - 1] / 1000.0
    print("median_us=%.1f p99_us=%.1f n=%d" % (q(0.5), q(0.99), len(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
