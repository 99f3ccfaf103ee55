"""Scale-out benchmark: 1 vs 2 gateway workers, embedded vs shared (PostgreSQL + Redis) stores.

    python bench/scale.py [--requests 3000] [--concurrency 16] [--moderation]

Runs, one after the other, against the static upstream (bench/static_upstream.py):

    embedded-1w   SQLite + in-process counters, serve --workers 1
    shared-1w     PostgreSQL + Redis,            serve --workers 1
    shared-2w     PostgreSQL + Redis,            serve --workers 2

and prints, per configuration: throughput (requests/s at the given concurrency), gateway CPU
per request (the serve process and its workers), and the CPU that Redis and PostgreSQL spent
per request. The shared-state overhead is (gateway + Redis + PostgreSQL CPU per request of
shared-1w) minus (gateway CPU per request of embedded-1w).

Honesty notes: on a 2-core machine the load generator (this process, aiohttp), the static
upstream, Redis and PostgreSQL all share the two cores with the gateway workers, so the
2-worker throughput is bounded by what those leave over; the figures say what this machine
does, not what a 2-core gateway host behind a separate load balancer would do. PostgreSQL
and Redis must be running on 127.0.0.1 (make services).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
TICK = os.sysconf("SC_CLK_TCK")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
PROMPT = "Summarise the following paragraph for a customer newsletter in two sentences. " * 4
# every stage on, limits high enough never to refuse: what is measured is the work, not 429s
LIMITS = {"GOODSTANDING_LIMITS__END_USER__RPM": "100000000",
          "GOODSTANDING_LIMITS__END_USER__TPM": "100000000000",
          "GOODSTANDING_LIMITS__END_USER__RPD": "100000000",
          "GOODSTANDING_LIMITS__IP__RPM": "100000000", "GOODSTANDING_GEO__MODE": "block"}
NO_MODERATION = {"GOODSTANDING_MODERATION__INPUT": "off",
                 "GOODSTANDING_MODERATION__OUTPUT": "off"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree(pid: int) -> list[int]:
    """pid and its children (serve --workers N forks N workers)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found += tree(int(entry.name))
    return found


def named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith(name):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def cpu(pids: list[int]) -> float:
    return sum(cpu_of(pid) for pid in pids)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a benchmark server exited early (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not healthy after {timeout}s")


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([PYTHON, "-m", "goodstanding.cli", *args], env={**os.environ, **env},
                         check=True, capture_output=True, text=True)
    return out.stdout


def create_database() -> str:
    import asyncpg

    name = "gs_bench_" + secrets.token_hex(4)

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(go())
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await conn.close()

    asyncio.run(go())


async def load(url: str, token: str, n: int, concurrency: int) -> float:
    """n requests, `concurrency` in flight, 100 end users; returns wall seconds."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    bodies = [json.dumps({"model": "gpt-4o-mini", "max_tokens": 200,
                          "safety_identifier": f"bench-user-{i % 100}",
                          "messages": [{"role": "user", "content": f"{i:08d} {PROMPT}"}]}
                         ).encode() for i in range(n)]
    queue = iter(bodies)
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


def measure(env: dict[str, str], workers: int, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = json.loads(cli(env, "keys", "create", "bench", "--json"))["key"]
    proc = subprocess.Popen([PYTHON, "-m", "goodstanding.cli", "serve", "--port", str(port),
                             "--workers", str(workers)], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url, proc)
        asyncio.run(load(url, token, 300, args.concurrency))  # warm-up
        gateway, stores = tree(proc.pid), named("postgres") + named("redis-server")
        g0, s0 = cpu(gateway), cpu(stores)
        spies = [subprocess.Popen(["py-spy", "record", "-p", str(pid), "-f", "raw", "-r", "500",
                                   "-o", f"{args.profile}.{pid}.txt"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for pid in (gateway if args.profile else ())]
        wall = asyncio.run(load(url, token, args.requests, args.concurrency))
        g1, s1 = cpu(gateway), cpu(stores)
        for spy in spies:
            spy.send_signal(2)
            spy.wait(30)
    finally:
        proc.terminate()
        proc.wait(30)
    n = args.requests
    return {"rps": n / wall, "gateway_cpu_us": (g1 - g0) / n * 1e6,
            "stores_cpu_us": (s1 - s0) / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--moderation", action="store_true",
                        help="moderate input and output too (more upstream calls)")
    parser.add_argument("--configs", default="embedded-1w,shared-1w,shared-2w,embedded-2w",
                        help="which configurations to run (comma-separated)")
    parser.add_argument("--profile", metavar="PREFIX",
                        help="record each gateway worker with py-spy into PREFIX.<pid>.txt")
    parser.add_argument("--out", default=str(HERE / "results" / "scale.json"))
    args = parser.parse_args()
    up_port = free_port()
    upstream = subprocess.Popen([PYTHON, str(HERE / "static_upstream.py"), "--port",
                                 str(up_port)], stdout=subprocess.DEVNULL)
    base = {"OPENAI_API_KEY": "sk-bench", "GOODSTANDING_SECRET": secrets.token_hex(16),
            "GOODSTANDING_UPSTREAM_URL": f"http://127.0.0.1:{up_port}/v1", **LIMITS,
            **({} if args.moderation else NO_MODERATION)}
    results: dict[str, dict[str, float]] = {}
    database = create_database()
    try:
        with tempfile.TemporaryDirectory() as folder:
            embedded = {**base, "GOODSTANDING_DATABASE_URL": f"sqlite:///{folder}/bench.db"}
            shared = {**base, "GOODSTANDING_DATABASE_URL": database,
                      "GOODSTANDING_REDIS_URL": REDIS}
            cli(shared, "migrate")
            for name, env, workers in (("embedded-1w", embedded, 1), ("shared-1w", shared, 1),
                                       ("shared-2w", shared, 2), ("embedded-2w", embedded, 2)):
                if name not in args.configs.split(","):
                    continue
                results[name] = measure(env, workers, args)
                print(name, {k: round(v, 1) for k, v in results[name].items()}, flush=True)
    finally:
        upstream.terminate()
        drop_database(database)
    if len(results) < 4:
        return
    one, two, local = results["shared-1w"], results["shared-2w"], results["embedded-1w"]
    summary = {
        "scaling_1_to_2_workers": two["rps"] / one["rps"],
        "shared_overhead_gateway_cpu_us": one["gateway_cpu_us"] - local["gateway_cpu_us"],
        "shared_overhead_total_cpu_us":
            one["gateway_cpu_us"] + one["stores_cpu_us"] - local["gateway_cpu_us"],
    }
    print(json.dumps({k: round(v, 2) for k, v in summary.items()}, indent=1))
    Path(args.out).write_text(json.dumps({"config": vars(args), "cores": os.cpu_count(),
                                          "results": results, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
