"""Load generators for bench/scale.py: wrk (lean, C) when installed, else aiohttp (this process).

Both send the same requests: POST /v1/chat/completions, 100 end users in turn, a request number
in front of the prompt. Both fail the run on any answer that is not a success: aiohttp checks
every status; wrk counts statuses above 399 and socket errors, which must all be 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
PROMPT = "Summarise the following paragraph for a customer newsletter in two sentences. " * 4
WRK_INSTALL = "apt-get install -y wrk"


@dataclass(frozen=True, slots=True)
class Load:
    """What one load run did: answered requests, wall seconds, the generator's own CPU."""

    tool: str
    requests: int
    wall_s: float
    cpu_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None


def choose(wanted: str) -> str:
    if wanted == "auto":
        return "wrk" if shutil.which("wrk") else "aiohttp"
    if wanted == "wrk" and not shutil.which("wrk"):
        raise SystemExit(f"--load wrk: wrk is not installed ({WRK_INSTALL})")
    return wanted


def run(tool: str, url: str, token: str, *, requests: int, duration: float, concurrency: int,
        taskset: list[str]) -> Load:
    if tool == "wrk":
        return wrk_load(url, token, duration, concurrency, taskset)
    return aiohttp_load(url, token, requests, concurrency)


def wrk_load(url: str, token: str, duration: float, concurrency: int,
             taskset: list[str]) -> Load:
    """wrk, one thread, `concurrency` kept-alive connections, for `duration` seconds."""
    command = [*taskset, "wrk", "-t1", f"-c{concurrency}", f"-d{duration:g}s", "--timeout", "10s",
               "-s", str(HERE / "scale_wrk.lua"), url]
    proc = subprocess.Popen(command, env={**os.environ, "BENCH_TOKEN": token},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # os.wait4 gives the CPU of exactly this child (taskset execs wrk in the same process)
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stdout.splitlines() if line.startswith("WRK_JSON ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({proc.returncode}): {stdout[-1000:]}")
    found = json.loads(lines[-1].removeprefix("WRK_JSON "))
    errors = {k: found[k] for k in ("connect", "read", "write", "status", "timeout") if found[k]}
    if errors or not found["requests"]:
        raise SystemExit(f"wrk: {found['requests']} requests, errors {errors}\n{stdout}")
    return Load("wrk", found["requests"], found["duration_us"] / 1e6,
                usage.ru_utime + usage.ru_stime, found["p50_us"] / 1e3, found["p99_us"] / 1e3)


def bodies(n: int) -> list[bytes]:
    return [json.dumps({"model": "gpt-4o-mini", "max_tokens": 200,
                        "safety_identifier": f"bench-user-{i % 100}",
                        "messages": [{"role": "user", "content": f"{i:08d} {PROMPT}"}]}
                       ).encode() for i in range(n)]


def aiohttp_load(url: str, token: str, n: int, concurrency: int) -> Load:
    """n requests, `concurrency` in flight, from this process (its CPU is measured as ours)."""
    payloads = bodies(n)
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = asyncio.run(_post_all(url, token, payloads, concurrency))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Load("aiohttp", n, wall, cpu)


async def _post_all(url: str, token: str, payloads: list[bytes], concurrency: int) -> float:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    queue = iter(payloads)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            for body in queue:
                async with session.post(url + "/v1/chat/completions", data=body,
                                        headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"{resp.status}: {(await resp.text())[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started
