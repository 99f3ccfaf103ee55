"""CPU of the always-on screen on prompts outside ASCII (accents, umlauts, emoji, Chinese).

    python bench/non_ascii.py [--n 3000] [--repeats 5]

Such texts leave the one-call C screen: the canonicaliser runs in Python (NFKC, the fold
table, the hints), then the C lexicon and heads read its output. Prints the median process
CPU per `screen()` in µs (warm caches), per prompt kind. To compare two trees, run it with
`PYTHONPATH=OTHER/src` and without, alternating: one run swings by ±15 %.
"""

from __future__ import annotations

import argparse
import statistics
import time

from goodstanding.detect import load_detectors

PROMPTS = {
    "french": "Bonjour, pouvez-vous m'aider à écrire une lettre de motivation pour un poste de "
              "développeur à Montréal? Je suis très motivé et j'ai déjà travaillé {i} ans dans "
              "une équipe agile. Merci beaucoup pour votre aide, c'était très utile la dernière "
              "fois.",
    "german": "Können Sie mir bitte helfen, eine E-Mail an meinen Vermieter zu schreiben? Die "
              "Heizung in der Wohnung funktioniert seit {i} Tagen nicht, und es wird langsam "
              "kalt. Ich möchte höflich, aber bestimmt bleiben.",
    "emoji": "Planning a birthday party 🎉 for my daughter who turns {i} — any ideas for games "
             "🎈 and a simple cake 🍰 recipe? We have about ten kids coming and a small garden 🌷.",
    "chinese": "请帮我写一封简短的邮件，告诉同事明天的会议改到下午{i}点，并请他们准备好上周的销售数据。谢谢！",
    "cafe": "Can you recommend a quiet café near the station where I can work for {i} hours? I "
            "need good coffee and a reliable wifi connection, nothing fancy.",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="texts per kind (3,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the median counts")
    args = parser.parse_args(argv)
    detectors = load_detectors()
    found = {}
    for kind, template in PROMPTS.items():
        texts = [template.replace("{i}", str(i)) for i in range(args.n)]
        for text in texts[:200]:  # tables built, caches warm
            detectors.screen(text)
        runs = []
        for _ in range(args.repeats):
            start = time.process_time()
            for text in texts:
                detectors.screen(text)
            runs.append((time.process_time() - start) / len(texts) * 1e6)
        found[kind] = statistics.median(runs)
    print("screen() µs: " + ", ".join(f"{kind} {us:.1f}" for kind, us in found.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
