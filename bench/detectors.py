"""CPU cost of the local detectors.

    python bench/detectors.py [--n 20000]

Prints the always-on layer's CPU time per typical 500-character prompt (target <= 100 us),
the canonicaliser's share, and the full layer's texts per second on one core.
"""

from __future__ import annotations

import argparse
import random
import time

from goodstanding.detect import canonicalize, load_detectors

PROMPTS = [
    "I'm writing a Python script that reads a CSV file of customer orders, groups them by "
    "month and computes the average basket size. The file has about two million rows and "
    "pandas runs out of memory on my laptop. Can you suggest a way to process it in chunks, "
    "and show me the code? Also, how would I kill the process cleanly if it hangs?",
    "Please draft a polite email to my landlord explaining that the heating in our flat has "
    "been broken for two weeks, that we reported it twice already, and asking for a repair "
    "date. Keep it firm but friendly, mention that we have a small child at home, and "
    "suggest that we could withhold part of the rent if nothing happens by the end of May.",
    "Summarize the following meeting notes in five bullet points for the team: we agreed to "
    "ship the new onboarding flow next sprint, marketing needs final screenshots by Friday, "
    "the API latency regression is traced to the cache layer and Sam will fix it, and we "
    "still need a decision on pricing for the enterprise tier before the board meeting.",
    "You are a helpful travel assistant. I have four days in Lisbon in October with my "
    "partner. We like food markets, live music, museums and long walks, but not big tours. "
    "Build a day-by-day plan with one restaurant suggestion per evening, approximate costs, "
    "and tips on public transport. We arrive Thursday morning and leave Sunday night.",
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()
    det = load_detectors()
    texts = typical_prompts(args.n)
    cpu_us(det.screen, texts[:500])  # warm up
    print(f"canonicalize:          {cpu_us(canonicalize, texts):7.1f} us CPU per 500-char prompt")
    print(f"always-on screen():    {cpu_us(det.screen, texts):7.1f} us CPU per 500-char prompt "
          f"(target <= 100)")
    start = time.process_time()
    det.screen_full(texts)
    rate = len(texts) / (time.process_time() - start)
    print(f"full layer:            {rate:7.0f} texts/s on one core (same model as always-on)")


if __name__ == "__main__":
    main()
