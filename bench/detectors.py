"""CPU cost of the local detectors.

    python bench/detectors.py [--n 20000]
    python bench/detectors.py --cold [--n 2000]
    python bench/detectors.py --full [--n 4000] [--threads 2]

Prints the always-on layer's CPU time per typical 500-character prompt (target <= 100 us) and
the canonicaliser's share; with `--full`, the full layer's texts per second (target >= 150 on
2 cores): one text per call, and batches of 8 and 32, in one thread (CPU time and wall time)
and in `--threads` threads sharing one process, as the gateway's coalescer would run it; and
the model's load time.

`--cold`: each stage of the always-on screen (canonicaliser, lexicon, word split, heads, the
whole screen; the stages as the Python path calls them, the whole screen as the gateway does)
timed one call at a time, with the CPU caches warm (the same loop) and cold (a
64 MB array summed before each call, outside the timing). Inside the gateway the rest of a
request's work runs between two screens, and the screen costs what the cold column says.
"""

from __future__ import annotations

import argparse
import random
import time

from goodstanding.detect import canonicalize, load_detectors

PROMPTS = [
    ("I'm writing a Python script that reads a CSV file of customer orders, groups them by "
    "month and computes the average basket size. The file has about two million rows and "
    "pandas runs out of memory on my laptop. Can you suggest a way to process it in chunks, "
    "and show me the code? Also, how would I kill the process cleanly if it hangs?"),
    ("Please draft a polite email to my landlord explaining that the heating in our flat has "
    "been broken for two weeks, that we reported it twice already, and asking for a repair "
    "date. Keep it firm but friendly, mention that we have a small child at home, and "
    "suggest that we could withhold part of the rent if nothing happens by the end of May."),
    ("Summarize the following meeting notes in five bullet points for the team: we agreed to "
    "ship the new onboarding flow next sprint, marketing needs final screenshots by Friday, "
    "the API latency regression is traced to the cache layer and Sam will fix it, and we "
    "still need a decision on pricing for the enterprise tier before the board meeting."),
    ("You are a helpful travel assistant. I have four days in Lisbon in October with my "
    "partner. We like food markets, live music, museums and long walks, but not big tours. "
    "Build a day-by-day plan with one restaurant suggestion per evening, approximate costs, "
    "and tips on public transport. We arrive Thursday morning and leave Sunday night."),
]


def typical_prompts(n: int) -> list[str]:
    """500-character prompts, varied so that no cache can help."""
    rng = random.Random(0)
    out = []
    for i in range(n):
        words = PROMPTS[i % len(PROMPTS)].split()
        rng.shuffle(words)
        out.append(" ".join(words)[:500])
    return out


def cpu_us(fn, texts: list[str], rounds: int = 5) -> float:
    """CPU µs per text: the best of `rounds` slices (a shared machine's neighbours only ever
    add time, so the least disturbed slice is the closest to the code's own cost)."""
    size = max(len(texts) // rounds, 1)
    best = float("inf")
    for i in range(0, len(texts), size):
        piece = texts[i:i + size]
        start = time.process_time()
        for t in piece:
            fn(t)
        best = min(best, (time.process_time() - start) / len(piece) * 1e6)
    return best


def per_call_us(fn, items: list, flush=None) -> float:
    """CPU µs per call, each call timed alone; ``flush`` (untimed) runs before each."""
    spent = 0.0
    for item in items:
        if flush is not None:
            flush()
        start = time.thread_time()
        fn(item)
        spent += time.thread_time() - start
    return spent / len(items) * 1e6


def cold_stages(texts: list[str]) -> None:
    import numpy as np

    from goodstanding.detect.features import words

    det = load_detectors()
    for t in texts[:200]:
        det.screen(t)  # warm up
    junk = np.ones(8_000_000)  # 64 MB: more than this machine's caches
    canon = [canonicalize(t) for t in texts]
    hits = [det.lexicon.match(c.text) for c in canon]
    gate = np.ones(len(det.heads.names), np.float32)
    stages = [("canonicalize", canonicalize, texts),
              ("lexicon", lambda c: det.lexicon.match(c.text), canon),
              ("word split", lambda h: words(h.masked), hits),
              ("heads (numpy)", lambda h: det.heads.scores(words(h.masked), h.features), hits),
              # the Python path's heads: words, sums and scores in one C call when it is built
              ("words+heads", lambda h: det.heads.gated_scores(h.masked, h.features, gate), hits),
              # most texts: the whole screen in one C call (_native.Screener)
              ("screen()", det.screen, texts)]
    print(f"{'stage':<14}{'warm µs':>9}{'cold µs':>9}   (CPU per 500-char prompt)")
    for name, fn, items in stages:
        print(f"{name:<14}{per_call_us(fn, items):>9.1f}{per_call_us(fn, items, junk.sum):>9.1f}")


def full_rates(texts: list[str], threads: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from goodstanding.detect.full import load_full_layer

    start = time.perf_counter()
    layer = load_full_layer()
    print(f"full layer load:       {time.perf_counter() - start:7.2f} s (once per process)")
    layer.screen(texts[:256])  # warm up
    for size in (1, 8, 32):
        batches = [texts[i:i + size] for i in range(0, len(texts), size)]
        cpu, wall = time.process_time(), time.perf_counter()
        for batch in batches:
            layer.screen(batch)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"full, batch {size:2}, 1 thread: {len(texts) / wall:7.0f} texts/s wall, "
              f"{cpu / len(texts) * 1e6:6.0f} us CPU per text")
        with ThreadPoolExecutor(threads) as pool:
            wall = time.perf_counter()
            list(pool.map(layer.screen, batches))
            wall = time.perf_counter() - wall
        print(f"full, batch {size:2}, {threads} threads: {len(texts) / wall:6.0f} texts/s wall")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="texts (20,000; 4,000 with --full)")
    ap.add_argument("--full", action="store_true", help="measure the full layer")
    ap.add_argument("--cold", action="store_true",
                    help="the always-on stages with warm and with cold CPU caches")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.full:
        full_rates(typical_prompts(args.n or 4_000), args.threads)
        return
    if args.cold:
        cold_stages(typical_prompts(args.n or 2_000))
        return
    det = load_detectors()
    texts = typical_prompts(args.n or 20_000)
    cpu_us(det.screen, texts[:500])  # warm up
    print(f"canonicalize:          {cpu_us(canonicalize, texts):7.1f} us CPU per 500-char prompt")
    print(f"always-on screen():    {cpu_us(det.screen, texts):7.1f} us CPU per 500-char prompt "
          f"(target <= 100)")


if __name__ == "__main__":
    main()
