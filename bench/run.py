"""Gateway vs bare passthrough, in one run, in front of the same fast static upstream.

    python bench/run.py [--requests 2000] [--rounds 3] [--variants core,enforcement,moderation]

Each server runs in its own process; the load generator (this process) sends the same
OpenAI-shaped requests to each in turn. Reported per target, as medians over the rounds:

- CPU µs per request of the server process alone (utime+stime from /proc, all threads), at
  concurrency 1 and 8;
- p50 latency at concurrency 1, and the gateway's added p50 over the passthrough;
- the ratio of the gateway's CPU per request to the passthrough's (the product figure): the
  median over the rounds of each round's ratio (both measured in the same round);
- upstream moderation calls (and the texts in them) per request, where a target makes any.

Every request carries its own prompt (a counter in front of the same text) and the static
upstream numbers its answers, so a moderation cache cannot answer for either side; every
target gets requests of the same shape and size.

Variants switch features on through the gateway's own settings (environment variables):
``core`` is issue 2's gateway (auth, validation, identity, audit, streaming accounting);
``enforcement`` adds limits, strikes and geo; ``moderation`` adds input+output moderation;
``full`` adds the offline detectors (the gateway as shipped). ``core+moderation`` is the core
with input+output moderation and nothing else: issue 3's own measure, which builds on the core.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import secrets
import socket
import statistics
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
SERIAL = itertools.count()  # a new prompt for every request of the run, on every target
PROMPT = ("Summarise the following paragraph for a customer newsletter in two sentences. " * 6)[:500]
# --varied (bench/ab.py, bench/instructions.py): every prompt different words, as people write.
# The default prompt is one template with a serial number: at the key level that is templated
# traffic, so the distillation signal records a finding on every call (its cost included).
VARIED = False
# bench/feature_ab.py --prompts ordinary: varied prompts made of everyday sentences, many with
# words the detectors' lexicon knows (an allow-listed "kill the process", a weak "bomb"): the
# lexicon's and the masking's work, which the word salad above never asks for
ORDINARY = False
SENTENCES = [
    "How do I kill a Python process that hangs?", "Write a short poem about autumn leaves.",
    "Shoot a photo of the beach at sunset for our website.", "That concert was the bomb.",
    "My code is killing me, the tests fail at random.", "Execute the script and print the output.",
    "How do firearms laws differ by state?", "Summarise this article for a newsletter.",
    "What is the capital of Portugal?", "Draft a polite email to my landlord about the heating.",
    "Explain how a vaccine trains the immune system.", "Our team will attack the backlog first.",
    "Give me a recipe for sourdough bread.", "Why did the Roman Empire fall?",
    "Translate 'good morning' into Spanish.", "List three ways to cut my monthly budget.",
]
# --users (bench/ab.py, bench/instructions.py): distinct end users the requests cycle through
USERS = 1000
WORDS = ["garden", "tax", "job", "interview", "sourdough", "cat", "diet", "python", "gift", "piano", "trip", "portugal", "sql", "marathon", "invoice", "recipe", "budget", "poem", "lesson", "meeting", "resume", "email", "holiday", "bike", "roof", "plumber", "essay", "chess", "guitar", "spanish", "loan", "kitchen", "paint", "camera", "coffee", "tent"]

OFF = {"GOODSTANDING_MODERATION__INPUT": "off", "GOODSTANDING_MODERATION__OUTPUT": "off",
       "GOODSTANDING_GEO__MODE": "off", "GOODSTANDING_LIMITS__END_USER__RPM": "null",
       "GOODSTANDING_LIMITS__END_USER__TPM": "null", "GOODSTANDING_LIMITS__END_USER__RPD": "null",
       "GOODSTANDING_LIMITS__IP__RPM": "null"}
HIGH = {"GOODSTANDING_LIMITS__END_USER__RPM": "100000000",
        "GOODSTANDING_LIMITS__END_USER__TPM": "100000000000",
        "GOODSTANDING_LIMITS__END_USER__RPD": "100000000",
        "GOODSTANDING_LIMITS__IP__RPM": "100000000"}
NO_DETECTORS = {"GOODSTANDING_DETECTORS__JAILBREAK": "off",
                "GOODSTANDING_DETECTORS__INJECTION": "off",
                "GOODSTANDING_DETECTORS__CONTENT": "off"}
# detectors.output (default auto) screens answers when moderation's output check is off: say
# off where moderation is off; elsewhere auto is off already (and older source trees, which
# bench/ab.py may run, do not know the setting)
NO_OUTPUT_SCREEN = {"GOODSTANDING_DETECTORS__OUTPUT": "off"}
NO_SIGNALS = {f"GOODSTANDING_SIGNALS__{name}__ENABLED": "false"
              for name in ("UPSTREAM", "KEY_FANOUT", "DISTILLATION", "RAMP")}
VARIANTS = {
    "core": {**OFF, **NO_DETECTORS, **NO_OUTPUT_SCREEN},
    "enforcement": {**OFF, **NO_DETECTORS, **NO_OUTPUT_SCREEN, **HIGH,
                    "GOODSTANDING_GEO__MODE": "block"},
    "moderation": {**NO_DETECTORS, **HIGH, "GOODSTANDING_GEO__MODE": "block"},
    "core+moderation": {**OFF, **NO_DETECTORS, "GOODSTANDING_MODERATION__INPUT": "block",
                        "GOODSTANDING_MODERATION__OUTPUT": "block"},
    # everything on, the offline detectors included: the gateway as shipped
    "full": {**HIGH, "GOODSTANDING_GEO__MODE": "block"},
    # as shipped, less the organization-level abuse signals (what they cost: bench/ab.py)
    "full-signals": {**HIGH, "GOODSTANDING_GEO__MODE": "block", **NO_SIGNALS},
}


def parse_trees(parser: argparse.ArgumentParser, items: list[str],
                default_variant: str) -> dict[str, tuple[str, str]]:
    """``NAME=[VARIANT:]SRC`` targets of the A/B benches: name -> (variant, source folder)."""
    trees: dict[str, tuple[str, str]] = {}
    for item in items:
        name, _, spec = item.partition("=")
        variant, _, src = spec.rpartition(":") if ":" in spec else (default_variant, "", spec)
        if not name or not src or variant not in VARIANTS:
            parser.error(f"bad target {item!r}: NAME=[VARIANT:]SRC")
        trees[name] = (variant, str(Path(src).resolve()))
    return trees


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_split(pid: int) -> tuple[float, float]:
    """The process's user and system CPU seconds (the kernel's share: sockets, epoll)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a benchmark server exited early (code {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port} after {timeout}s")


def start(args: list[str], port: int, env: dict[str, str] | None = None,
          timeout: float = 180) -> subprocess.Popen:
    """Start a server; wait for it to listen (a gateway's start-up takes over 30 s on a shared
    machine under load)."""
    proc = subprocess.Popen([PYTHON, *args], env={**os.environ, **(env or {})})
    wait_listening(port, proc, timeout)
    return proc


def gateway_env(folder: str, upstream: str, variant: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-bench", "GOODSTANDING_UPSTREAM_URL": upstream + "/v1",
            "GOODSTANDING_DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "GOODSTANDING_SECRET": secrets.token_hex(16), **VARIANTS[variant]}


def make_key(env: dict[str, str]) -> str:
    out = subprocess.run([PYTHON, "-m", "goodstanding.cli", "keys", "create", "bench", "--json"],
                         env={**os.environ, **env}, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["key"]


def accepted(env: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """``env`` with each of ``extra``'s settings that the tree (``PYTHONPATH``) accepts: an
    older tree refuses a setting it does not know."""
    for name, value in extra.items():
        try:
            make_key({**env, name: value})
            env = {**env, name: value}
        except subprocess.CalledProcessError as exc:
            if "unknown key" not in exc.stderr:
                raise SystemExit(f"keys create refused {name}={value}:\n{exc.stderr.strip()}"
                                 ) from None
    return env


async def one(session: aiohttp.ClientSession, url: str, headers: dict, body: bytes) -> float:
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as resp:
        await resp.read()
        if resp.status != 200:
            raise SystemExit(f"{url} answered {resp.status}: {(await resp.text())[:200]}")
    return time.perf_counter() - started


async def load(url: str, headers: dict, stream: bool, n: int, concurrency: int,
               pid: int) -> tuple[tuple[float, float], list[float]]:
    """Send n requests with `concurrency` in flight; return (server (user, system) CPU s,
    latencies)."""
    latencies: list[float] = []
    warm = [request(stream) for _ in range(50)]
    bodies = iter([request(stream) for _ in range(n)])  # encoded before the clock starts
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for body in warm:  # warm-up: connections, caches, first-use imports
            await one(session, url, headers, body)
        before = cpu_split(pid)

        async def worker() -> None:
            for body in bodies:
                latencies.append(await one(session, url, headers, body))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        after = cpu_split(pid)
        return (after[0] - before[0], after[1] - before[1]), latencies


def request(stream: bool) -> bytes:
    serial = next(SERIAL)
    if ORDINARY:
        pick = random.Random(serial)
        prompt = " ".join(pick.choice(SENTENCES) for _ in range(12))[: len(PROMPT)]
    elif VARIED:
        pick = random.Random(serial)
        prompt = " ".join(pick.choice(WORDS) for _ in range(70))[: len(PROMPT)]
    else:
        prompt = f"{serial:08d} {PROMPT}"[: len(PROMPT)]
    # many end users, as a gateway serves: one end user sending thousands of copies of one
    # templated prompt is what the distillation signal throttles (signals.distillation)
    return json.dumps({"model": "gpt-4o-mini", "stream": stream, "max_tokens": 200,
                       "safety_identifier": f"bench-user-{serial % USERS}",
                       "messages": [{"role": "user", "content": prompt}]}).encode()


def moderation_stats(upstream: str) -> dict[str, int]:
    with urllib.request.urlopen(upstream + "/bench/stats") as answer:
        return json.loads(answer.read())


def measure(url: str, headers: dict, pid: int, n: int, stream: bool, upstream: str) -> dict:
    out: dict[str, float] = {}
    for concurrency in (1, 8):
        seen = moderation_stats(upstream)
        (user, system), latencies = asyncio.run(load(url, headers, stream, n, concurrency, pid))
        after = moderation_stats(upstream)
        # warm-up requests included: 50 of them per n
        per = {k: (after[k] - seen[k]) / (n + 50) for k in seen}
        out[f"cpu_us_c{concurrency}"] = (user + system) / n * 1e6
        out[f"user_us_c{concurrency}"] = user / n * 1e6  # instructions → µs (instructions.py)
        out[f"mod_calls_c{concurrency}"] = per["moderation_calls"]
        out[f"mod_inputs_c{concurrency}"] = per["moderation_inputs"]
        if concurrency == 1:
            out["p50_ms_c1"] = statistics.median(latencies) * 1000
        else:
            out["rps_c8"] = n / sum(latencies) * 8 if latencies else 0.0
    return out


def paired_ratio(measured: list[dict], floor: list[dict], concurrency: str) -> float:
    """The median of each round's CPU per request over the passthrough's of the same round:
    the machine's speed drifts between rounds, and a pair measured minutes apart would carry
    that drift into the ratio."""
    key = f"cpu_us_{concurrency}"
    return statistics.median(m[key] / f[key] for m, f in zip(measured, floor, strict=True))


def median_of(rounds: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def run(args: argparse.Namespace) -> dict:
    up_port, bare_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    results: dict = {"requests": args.requests, "rounds": args.rounds, "targets": {}}
    # the folder outlives the processes: a gateway still shutting down writes its audit
    # journal there, and logged an error when the folder went first
    with tempfile.TemporaryDirectory() as folder:
        procs = [start([str(HERE / "static_upstream.py"), "--port", str(up_port)], up_port)]
        try:
            procs.append(start([str(HERE / "passthrough.py"), "--port", str(bare_port),
                                "--upstream", upstream + "/v1"], bare_port))
            measure_all(args, folder, upstream, bare_port, procs, results)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
    return results


def measure_all(args: argparse.Namespace, folder: str, upstream: str, bare_port: int,
                procs: list[subprocess.Popen], results: dict) -> None:
    """Start the variants' gateways (into ``procs``, for the caller to stop) and measure every
    target, the passthrough (``procs[1]``) first, into ``results``."""
    gateways = {}
    for variant in args.variants:
        env = gateway_env(f"{folder}/{variant}", upstream, variant)
        os.makedirs(f"{folder}/{variant}")
        token = make_key(env)
        port = free_port()
        proc = start(["-m", "goodstanding.cli", "serve", "--port", str(port)], port, env)
        procs.append(proc)
        gateways[variant] = (port, proc.pid, {"authorization": f"Bearer {token}",
                                              "content-type": "application/json"})
    bare = (bare_port, procs[1].pid, {"content-type": "application/json"})
    targets = {"passthrough": bare, **gateways}
    for stream in (False, True):
        label = "stream" if stream else "plain"
        rounds: dict[str, list[dict]] = {t: [] for t in targets}
        for number in range(args.rounds):
            for name, (port, pid, headers) in targets.items():
                print(f"  round {number + 1}/{args.rounds} {label:<6} {name} …",
                      file=sys.stderr, flush=True)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                rounds[name].append(measure(url, headers, pid, args.requests, stream,
                                            upstream))
        results["targets"][label] = {t: median_of(r) for t, r in rounds.items()}
        for name, measured in rounds.items():
            for c in ("c1", "c8"):
                results["targets"][label][name][f"ratio_{c}"] = paired_ratio(
                    measured, rounds["passthrough"], c)


def report(results: dict) -> None:
    for label, targets in results["targets"].items():
        floor = targets["passthrough"]
        print(f"\n{label} chat completions ({results['requests']} requests × "
              f"{results['rounds']} rounds, medians)")
        print(f"{'target':<14}{'CPU µs/req c1':>15}{'c8':>9}{'ratio c1':>10}{'ratio c8':>10}"
              f"{'p50 ms c1':>11}{'added p50':>11}{'req/s c8':>10}")
        for name, m in targets.items():
            print(f"{name:<14}{m['cpu_us_c1']:>15.0f}{m['cpu_us_c8']:>9.0f}"
                  f"{m['ratio_c1']:>10.2f}{m['ratio_c8']:>10.2f}{m['p50_ms_c1']:>11.3f}"
                  f"{m['p50_ms_c1'] - floor['p50_ms_c1']:>11.3f}{m['rps_c8']:>10.0f}")
        for name, m in targets.items():
            if m.get("mod_calls_c1") or m.get("mod_calls_c8"):
                print(f"  {name}: moderation calls/req {m['mod_calls_c1']:.2f} c1, "
                      f"{m['mod_calls_c8']:.2f} c8 (texts/req {m['mod_inputs_c1']:.2f}, "
                      f"{m['mod_inputs_c8']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="core",
                        help=f"comma-separated, of {','.join(VARIANTS)}")
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    args = parser.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    for v in args.variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    results = run(args)
    report(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {args.out}")


if __name__ == "__main__":
    main()
