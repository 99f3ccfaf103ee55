"""Test directives in the newest user text, and the deterministic answer they produce.

Tests steer the simulator with markers such as `[[say:TEXT]]`, `[[words:N]]`,
`[[delay_ms:N]]`, `[[fault:NAME]]` and `[[flag:CATEGORY]]` written in the prompt, so a test
needs no side channel to make the upstream answer with violating words, fail, or stream slowly.
With `n` choices (Chat Completions), choice i says the i-th `[[say:…]]` (the last one for
the choices past them), so a test can put violating text in one choice only. `[[summary:TEXT]]`
makes a Responses answer start with a reasoning item whose summary is TEXT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DIRECTIVE = re.compile(r"\[\[(say|summary|words|delay_ms|fault|flag):(.*?)\]\]", re.DOTALL)
_WORD_PIECE = re.compile(r"\s*\S+")
_TOOL_DIRECTIVE = re.compile(r"\[\[tool:.*?\]\]", re.DOTALL)

PREFIX = "Simulated answer (goodstanding test double)."
FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit",
          "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore",
          "magna")  # fmt: skip
DEFAULT_WORDS = 12


@dataclass(frozen=True, slots=True)
class Directives:
    say: str | None = None
    words: int = DEFAULT_WORDS
    delay_ms: int = 0
    fault: str | None = None  # e.g. "429", "slow:500", "disconnect"
    flags: tuple[str, ...] = ()
    says: tuple[str, ...] = ()  # every `say`, in order (``say`` is the first)
    summary: str | None = None  # a reasoning summary (Responses)


def parse(text: str) -> Directives:
    if "[[" not in text:  # the common case costs one substring search
        return Directives()
    found: dict[str, Any] = {}
    flags, says = [], []
    for name, value in _DIRECTIVE.findall(text):
        if name == "flag":
            flags.append(value.strip())
        elif name in ("words", "delay_ms"):
            found[name] = _int(value)
        else:
            if name == "say":
                says.append(value)
            found.setdefault(name, value if name in ("say", "summary") else value.strip())
    return Directives(flags=tuple(flags), says=tuple(says), **found)


def strip(text: str) -> str:
    """The text without its directives except `[[flag:…]]`: what moderation should score.

    `[[say:I will hurt you]]` in a prompt asks for violating *output*; the prompt itself must
    still pass input moderation, or output moderation could never be tested. The same for a
    tool call's arguments asked with `[[tool:NAME:{…}]]` (``tools.py``).
    """
    if "[[" not in text:
        return text
    text = _TOOL_DIRECTIVE.sub("", text)
    return _DIRECTIVE.sub(lambda m: m.group(0) if m.group(1) == "flag" else "", text)


def _int(value: str) -> int:
    try:
        return max(0, int(value.strip()))
    except ValueError:
        return 0


def tokens(text: str) -> int:
    """A rough, consistent token count: about four characters per token."""
    return (len(text) + 3) // 4


def answer(directives: Directives, max_words: int | None) -> tuple[str, bool]:
    """The answer text and whether it was cut short by the token limit."""
    if directives.say is not None:
        return directives.say, False
    n = directives.words
    words = PREFIX.split() + [FILLER[i % len(FILLER)] for i in range(n)]
    truncated = max_words is not None and len(words) > max_words
    if truncated:
        words = words[:max_words]
    return " ".join(words), truncated


def pieces(text: str) -> list[str]:
    """Stream chunks, one word each (with its leading space); joined they give `text` back."""
    parts = _WORD_PIECE.findall(text)
    rest = len(text) - sum(map(len, parts))
    if rest and parts:
        parts[-1] += text[-rest:]
    return parts or ([text] if text else [])


def max_words(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
