"""What the cyclic collector's passes cost per request, with and without ``gc.freeze()``.

    python bench/gc_passes.py [--freeze] [--users 1000] [--calls 20000]

One gateway in this process through library mode (bench/feature_ab.py's settings, the static
upstream in another process): every end user is sent one call first, then ``calls`` requests
one at a time; the collector's callbacks time each pass (the event loop thread's CPU), per
generation. ``--freeze`` does what ``goodstanding serve`` does once started (``runner.py``):
``gc.collect(); gc.freeze()``, so the start-up objects are out of every later pass.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import feature_ab as F  # its gateway settings and its block of calls
import run as R  # bench/run.py: its static upstream and prompts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after start")
    parser.add_argument("--users", type=int, default=R.USERS, help="distinct end users")
    parser.add_argument("--calls", type=int, default=20000, help="requests measured")
    args = parser.parse_args()
    R.VARIED, R.USERS = True, args.users
    from goodstanding.library.engine import Engine
    from goodstanding.settings import load_settings

    passes = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
    began = [0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.thread_time()
        else:
            found = passes[info["generation"]]
            found[0] += 1
            found[1] += time.thread_time() - began[0]

    port = R.free_port()
    upstream = R.start([str(R.HERE / "static_upstream.py"), "--port", str(port)], port)
    try:
        with tempfile.TemporaryDirectory() as folder:
            engine = Engine(load_settings(env=F.settings_env(
                folder, f"http://127.0.0.1:{port}", None)))
            try:
                await engine.start()
                if args.freeze:
                    gc.collect()
                    gc.freeze()
                print(f"objects frozen: {gc.get_freeze_count()}", file=sys.stderr)
                await F.block(engine, args.users, 8)
                gc.callbacks.append(timed)
                cpu = await F.block(engine, args.calls, 1)
                gc.callbacks.remove(timed)
            finally:
                await engine.close()
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(f"{'frozen' if args.freeze else 'not frozen'}: {args.calls} calls, {args.users} end "
          f"users; CPU {cpu / args.calls * 1e6:.0f} µs per request")
    for generation, (count, seconds) in passes.items():
        print(f"  generation {generation}: {count} passes, "
              f"{seconds / args.calls * 1e6:.1f} µs per request")


if __name__ == "__main__":
    asyncio.run(main())
