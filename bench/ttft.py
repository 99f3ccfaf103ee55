"""Time to first token with hold-back windows, against a bare passthrough, in one run.

    python bench/ttft.py [--requests 10] [--chunk-ms 20] [--moderation-ms 50] [--words 150]

The simulated upstream (goodstanding's own test double) streams one word per chunk every
``--chunk-ms`` and answers every moderation call after ``--moderation-ms`` (a stand-in for
OpenAI's round trip). Streamed chat completions go through the official ``openai`` SDK, to the
bare passthrough (bench/passthrough.py) and to the gateway with input and output moderation
on (the defaults), one at a time. Reported, as medians: time to the first content token, time
to the end of the stream, and the gateway's added time on each.

What hold-back should add: one moderation round trip for the input, the time the upstream takes
to write the first window (a quarter of ``moderation.window_chars``, at least 64 characters),
and one moderation round trip for that window; at the end, one round trip for the last window.
Not the whole answer: the first token must arrive long before the stream ends.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openai

from goodstanding.runner import serve_in_thread
from goodstanding.simulate import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port, make_key, start  # bench/run.py's server helpers

KEY = "sk-bench"  # what bench/passthrough.py sends upstream
HERE = Path(__file__).resolve().parent


def one(client: openai.OpenAI, words: int, user: str) -> tuple[float, float]:
    """(seconds to the first content token, seconds to the end) of one streamed answer."""
    started = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model="gpt-4o-mini", stream=True, safety_identifier=user,
        messages=[{"role": "user", "content": f"Write about gardens. [[words:{words}]]"}])
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    end = time.perf_counter() - started
    if first is None:
        raise SystemExit("a stream brought no text")
    return first, end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--chunk-ms", type=float, default=20.0)
    parser.add_argument("--moderation-ms", type=float, default=50.0)
    parser.add_argument("--words", type=int, default=150)
    args = parser.parse_args()
    sim = create_app(api_key=KEY)
    sim.config.update({"moderation": "slow", "slow_moderation_s": args.moderation_ms / 1000,
                       "chunk_delay": args.chunk_ms / 1000})
    procs: list[subprocess.Popen[bytes]] = []
    with serve_in_thread(sim) as upstream, tempfile.TemporaryDirectory() as folder:
        try:
            bare_port, port = free_port(), free_port()
            procs.append(start([str(HERE / "passthrough.py"), "--port", str(bare_port),
                                "--upstream", f"{upstream}/v1"], bare_port, {}))
            env = {"OPENAI_API_KEY": KEY, "GOODSTANDING_UPSTREAM_URL": f"{upstream}/v1",
                   "GOODSTANDING_DATABASE_URL": f"sqlite:///{folder}/ttft.db",
                   "GOODSTANDING_SECRET": secrets.token_hex(16)}
            token = make_key(env)
            procs.append(start(["-m", "goodstanding.cli", "serve", "--port", str(port)], port,
                               env))
            targets = {"passthrough": openai.OpenAI(base_url=f"http://127.0.0.1:{bare_port}/v1",
                                                    api_key="unused"),
                       "gateway": openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1",
                                                api_key=token)}
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
            for n in range(args.requests):
                for name, client in targets.items():
                    results[name].append(one(client, args.words, f"ttft-user-{n}"))
                print(f"  {n + 1}/{args.requests}", file=sys.stderr, flush=True)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    medians = {name: (statistics.median(f for f, _ in r), statistics.median(e for _, e in r))
               for name, r in results.items()}
    (bare_first, bare_end), (gw_first, gw_end) = medians["passthrough"], medians["gateway"]
    print(f"\n{args.words} words, one per {args.chunk_ms:.0f} ms chunk; moderation answers in "
          f"{args.moderation_ms:.0f} ms; {args.requests} streams each, medians")
    print(f"{'target':<14}{'first token ms':>16}{'end ms':>10}")
    for name, (first, end) in medians.items():
        print(f"{name:<14}{first * 1000:>16.0f}{end * 1000:>10.0f}")
    print(f"gateway adds {1000 * (gw_first - bare_first):.0f} ms to the first token and "
          f"{1000 * (gw_end - bare_end):.0f} ms to the end of the stream")


if __name__ == "__main__":
    main()
