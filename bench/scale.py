"""Scale-out benchmark: 1 vs 2 gateway workers, embedded vs shared (PostgreSQL + Redis) stores.

    flock -x /tmp/bench.lock python bench/scale.py [--duration 10] [--concurrency 16]

Runs, one after the other, against a static upstream:

    embedded-1w   SQLite + in-process counters, serve --workers 1
    shared-1w     PostgreSQL + Redis,            serve --workers 1
    shared-2w     PostgreSQL + Redis,            serve --workers 2
    embedded-2w   SQLite + in-process counters, serve --workers 2

Lean helpers when installed (apt-get install -y wrk nginx-light): the load comes from wrk
(C, one thread, a Lua script gives every request its own body: 100 end users in turn, a
request number in the prompt) and the upstream is nginx answering a fixed JSON completion.
Without them (or with --load aiohttp / --upstream python) the load comes from this process
(aiohttp, --requests per configuration) and the upstream is bench/static_upstream.py. The run
prints which it used. Any answer that is not a success fails the run, and the gateway's own
/metrics must count every request as served by the pipeline (allowed or flagged).

Per configuration it prints throughput and the CPU per request of every process on the path:
the gateway (the serve process and its workers, and each worker's share), the load
generator, the upstream, Redis and PostgreSQL, and whatever else the machine spent
(`other`: the kernel's softirq work, other jobs). `gateway_cores` is how much of the machine
the gateway got, `worker_cores` each worker's share, `worker_runqueue_wait` the share of the
run each worker was runnable with no core free; `capacity` is requests per gateway-CPU-second,
which stays flat from 1 to 2 workers when the gateway shares no lock. The summary adds
`ceiling_ratio`, the best 2-worker throughput this machine allows over the 1-worker one given
what every process costs per request, and `machine_parallel_speedup`, what two CPU-bound
processes get here over one (the hypervisor does not always give 2.0). Before each
configuration the machine's background load is measured (`background_cores`; --wait-quiet).
The shared-state overhead is (gateway + Redis + PostgreSQL CPU per request of shared-1w)
minus (gateway CPU per request of embedded-1w).

Honesty notes: on a 2-core machine the load generator, the upstream, Redis and PostgreSQL
share the two cores with the gateway workers, so a second worker can only have what they
leave over; the figures say what this machine does, not what a 2-core gateway host behind a
separate load balancer would do. PostgreSQL and Redis must be running on 127.0.0.1
(make services). --taskset ROLE=CPUS pins the gateway, load or upstream (taskset -c).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import scale_cpu
import scale_load
import scale_upstream

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
# every stage on, limits high enough never to refuse: what is measured is the work, not 429s
LIMITS = {"GOODSTANDING_LIMITS__END_USER__RPM": "100000000",
          "GOODSTANDING_LIMITS__END_USER__TPM": "100000000000",
          "GOODSTANDING_LIMITS__END_USER__RPD": "100000000",
          "GOODSTANDING_LIMITS__IP__RPM": "100000000", "GOODSTANDING_GEO__MODE": "block"}
NO_MODERATION = {"GOODSTANDING_MODERATION__INPUT": "off",
                 "GOODSTANDING_MODERATION__OUTPUT": "off"}
CONFIGS = (("embedded-1w", "embedded", 1), ("shared-1w", "shared", 1),
           ("shared-2w", "shared", 2), ("embedded-2w", "embedded", 2))
SERVED = ("allowed", "flagged")
ROLES = ("gateway", "load", "upstream")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def decisions(url: str) -> dict[str, float]:
    """goodstanding_requests_total summed by decision, from the gateway's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found: dict[str, float] = {}
    pattern = r'^goodstanding_requests_total\{[^}]*decision="([^"]+)"[^}]*\} (\S+)$'
    for decision, value in re.findall(pattern, text, re.MULTILINE):
        found[decision] = found.get(decision, 0.0) + float(value)
    return found


def check_served(before: dict[str, float], after: dict[str, float], answered: int) -> None:
    """Every request the load generator saw answered went through the pipeline and was served."""
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    served = sum(delta.get(k, 0.0) for k in SERVED)
    refused = {k: v for k, v in delta.items() if k not in SERVED and v}
    if refused or served < answered:
        raise SystemExit(f"gateway /metrics: {served:.0f} served for {answered} answered, "
                         f"other decisions {refused}")


def stores() -> dict[str, list[int]]:
    return {"redis": scale_cpu.named("redis-server"), "postgres": scale_cpu.named("postgres")}


def snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    shot = {f"pid:{pid}": scale_cpu.cpu_of(pid) for pid in groups["gateway"]}
    shot |= {f"wait:{pid}": scale_cpu.waited(pid) for pid in groups["gateway"]}
    shot |= {name: scale_cpu.cpu(pids) for name, pids in groups.items()}
    shot["machine"] = scale_cpu.machine()
    shot["steal"] = scale_cpu.steal()
    shot["self"] = sum(getattr(resource.getrusage(resource.RUSAGE_SELF), f)
                       for f in ("ru_utime", "ru_stime"))
    return shot


def account(before: dict[str, float], after: dict[str, float], load: scale_load.Load,
            workers: list[int]) -> dict[str, float]:
    """CPU µs per request of every part, and the cores each used over the run."""
    n, wall = load.requests, load.wall_s
    spent = {k: after[k] - before[k] for k in before}
    # the aiohttp load runs in this process: its CPU is ours; with wrk we only poll
    load_cpu = load.cpu_s if load.tool == "wrk" else spent["self"]
    parts = {"gateway": spent["gateway"], "load": load_cpu, "upstream": spent["upstream"],
             "redis": spent["redis"], "postgres": spent["postgres"]}
    parts["other"] = max(0.0, spent["machine"] - sum(parts.values()))
    row = {"rps": n / wall, "requests": n, "wall_s": wall}
    row |= {f"{k}_cpu_us": v / n * 1e6 for k, v in parts.items()}
    row["stores_cpu_us"] = row["redis_cpu_us"] + row["postgres_cpu_us"]
    row["machine_cores"] = spent["machine"] / wall
    row["steal_cores"] = spent["steal"] / wall
    row["gateway_cores"] = spent["gateway"] / wall
    row["worker_cores"] = [round(spent[f"pid:{pid}"] / wall, 3) for pid in workers]
    # runnable but no core free: the worker had work and the machine had no room for it
    row["worker_runqueue_wait"] = [round(spent[f"wait:{pid}"] / wall, 3) for pid in workers]
    row["capacity_rps_per_gateway_core"] = n / spent["gateway"]
    if load.p50_ms is not None:
        row |= {"p50_ms": load.p50_ms, "p99_ms": load.p99_ms}
    return row


def measure(env: dict[str, str], workers: int, args: argparse.Namespace,
            upstream: subprocess.Popen[bytes]) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = json.loads(cli(env, "keys", "create", "bench", "--json"))["key"]
    quiet = scale_cpu.wait_quiet(args.wait_quiet)
    if quiet > 0.15:
        print(f"warning: the machine is busy before the run ({quiet:.2f} cores)", flush=True)
    proc = subprocess.Popen([*pin(args, "gateway"), PYTHON, "-m", "goodstanding.cli", "serve",
                             "--port", str(port), "--workers", str(workers)],
                            env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url, proc)
        drive(url, token, args, warm=True)
        time.sleep(1.2)  # each worker publishes its metrics within a second
        gateway = scale_cpu.tree(proc.pid)
        serving = scale_cpu.workers(gateway)
        groups = {"gateway": gateway, "upstream": scale_cpu.tree(upstream.pid), **stores()}
        counted, before = decisions(url), snapshot(groups)
        spies = [subprocess.Popen(["py-spy", "record", "-p", str(pid), "-f", "raw", "-r", "500",
                                   "-o", f"{args.profile}.{pid}.txt"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for pid in (gateway if args.profile else ())]
        load = drive(url, token, args, warm=False)
        after = snapshot(groups)
        for spy in spies:
            spy.send_signal(2)
            spy.wait(30)
        time.sleep(1.2)
        check_served(counted, decisions(url), load.requests)
    finally:
        proc.terminate()
        proc.wait(30)
    row = account(before, after, load, serving)
    if row["other_cpu_us"] * row["rps"] / 1e6 > 0.15:
        print(f"warning: other jobs took {row['other_cpu_us'] * row['rps'] / 1e6:.2f} cores "
              "during the run; its figures are not clean", flush=True)
    return {"background_cores": quiet, **row}


def drive(url: str, token: str, args: argparse.Namespace, *, warm: bool) -> scale_load.Load:
    return scale_load.run(args.load, url, token, taskset=pin(args, "load"),
                          requests=300 if warm else args.requests,
                          duration=2 if warm else args.duration, concurrency=args.concurrency)


def pin(args: argparse.Namespace, role: str) -> list[str]:
    cpus = dict(spec.split("=", 1) for spec in args.taskset).get(role)
    return ["taskset", "-c", cpus] if cpus else []


def summarise(results: dict[str, dict[str, float]]) -> dict[str, float]:
    summary: dict[str, float] = {}
    for kind in ("shared", "embedded"):
        one, two = results.get(f"{kind}-1w"), results.get(f"{kind}-2w")
        if not (one and two):
            continue
        total_2w = sum(two[f"{k}_cpu_us"] for k in ("gateway", "load", "upstream", "redis",
                                                     "postgres", "other"))
        cores = os.cpu_count() or 1
        summary |= {
            f"{kind}_scaling_1_to_2_workers": two["rps"] / one["rps"],
            f"{kind}_capacity_ratio_2w_over_1w": (two["capacity_rps_per_gateway_core"]
                                                  / one["capacity_rps_per_gateway_core"]),
            f"{kind}_2w_gateway_cores": two["gateway_cores"],
            f"{kind}_2w_rest_cpu_us": total_2w - two["gateway_cpu_us"],
            # every core busy, at the 2-worker costs per request: the most this machine allows
            f"{kind}_ceiling_ratio": cores / total_2w * 1e6 / one["rps"],
        }
    if "shared-1w" in results and "embedded-1w" in results:
        one, local = results["shared-1w"], results["embedded-1w"]
        summary["shared_overhead_gateway_cpu_us"] = one["gateway_cpu_us"] - local["gateway_cpu_us"]
        summary["shared_overhead_total_cpu_us"] = (
            one["gateway_cpu_us"] + one["stores_cpu_us"] - local["gateway_cpu_us"])
    return summary


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000,
                        help="requests per configuration with the aiohttp load (default 3000)")
    parser.add_argument("--duration", type=float, default=10,
                        help="seconds per configuration with wrk (default 10)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--moderation", action="store_true",
                        help="moderate input and output too (more upstream calls; Python upstream)")
    parser.add_argument("--configs", default=",".join(name for name, _, _ in CONFIGS),
                        help="which configurations to run (comma-separated)")
    parser.add_argument("--load", choices=("auto", "wrk", "aiohttp"), default="auto",
                        help=f"load generator (auto: wrk if installed; {scale_load.WRK_INSTALL})")
    parser.add_argument("--upstream", choices=("auto", "nginx", "python"), default="auto",
                        help="static upstream (auto: nginx if installed and no --moderation; "
                             f"{scale_upstream.NGINX_INSTALL})")
    parser.add_argument("--taskset", action="append", default=[], metavar="ROLE=CPUS",
                        help=f"pin a role ({', '.join(ROLES)}) to CPUs with taskset -c, "
                             "e.g. --taskset load=0 --taskset upstream=0 (repeatable)")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="before each configuration, wait up to SECONDS for the machine to "
                             "be idle (other jobs under 0.15 cores); the figure is recorded")
    parser.add_argument("--profile", metavar="PREFIX",
                        help="record each gateway process with py-spy into PREFIX.<pid>.txt")
    parser.add_argument("--out", default=str(HERE / "results" / "scale.json"))
    args = parser.parse_args()
    for spec in args.taskset:
        if spec.split("=", 1)[0] not in ROLES or "=" not in spec:
            parser.error(f"--taskset {spec}: expected ROLE=CPUS with ROLE one of {ROLES}")
    args.load = scale_load.choose(args.load)
    args.upstream = scale_upstream.choose(args.upstream, args.moderation)
    return args


def main() -> None:
    args = parse_args()
    print(f"load: {args.load}, upstream: {args.upstream}, cores: {os.cpu_count()}", flush=True)
    results: dict[str, dict[str, float]] = {}
    # what two CPU-bound processes get here over one: the most any 2-process setup can gain
    speedup = scale_cpu.parallel_speedup()
    print(f"machine: 2 CPU-bound processes run {speedup:.2f}x one", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        up_port = free_port()
        upstream = scale_upstream.start(args.upstream, up_port, Path(folder),
                                        pin(args, "upstream"))
        base = {"OPENAI_API_KEY": "sk-bench", "GOODSTANDING_SECRET": secrets.token_hex(16),
                "GOODSTANDING_UPSTREAM_URL": f"http://127.0.0.1:{up_port}/v1", **LIMITS,
                **({} if args.moderation else NO_MODERATION)}
        database = create_database()
        try:
            envs = {"embedded": {**base, "GOODSTANDING_DATABASE_URL":
                                 f"sqlite:///{folder}/bench.db"},
                    "shared": {**base, "GOODSTANDING_DATABASE_URL": database,
                               "GOODSTANDING_REDIS_URL": REDIS}}
            cli(envs["shared"], "migrate")
            for name, kind, workers in CONFIGS:
                if name in args.configs.split(","):
                    results[name] = measure(envs[kind], workers, args, upstream)
                    print(name, json.dumps(rounded(results[name])), flush=True)
        finally:
            upstream.terminate()
            upstream.wait(30)
            drop_database(database)
    summary = {"machine_parallel_speedup": speedup, **summarise(results)}
    print(json.dumps(rounded(summary), indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"config": vars(args), "cores": os.cpu_count(),
                                          "results": results, "summary": summary}, indent=1))


def rounded(row: dict[str, object]) -> dict[str, object]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}


if __name__ == "__main__":
    main()
