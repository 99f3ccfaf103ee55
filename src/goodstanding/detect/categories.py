"""OpenAI's moderation categories and the heads the detectors score.

The 13 keys and their order are OpenAI's (reference/openai-platform.md §1.4); the order is the
one moderation results are rendered in.
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# "text, image" categories per OpenAI; the detectors read text only, so for these we report
# ["text"] as the applied input type exactly like the others.
MINORS = "sexual/minors"

# sexual/minors is a rule (lexicon.py), never a trained head: we write no examples of it.
MODEL_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORIES if c != MINORS)
JAILBREAK, INJECTION = "jailbreak", "injection"
HEADS: tuple[str, ...] = (*MODEL_CATEGORIES, JAILBREAK, INJECTION)
