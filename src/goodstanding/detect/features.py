"""Bag-of-words features over canonical text, shared by training and inference.

Word unigrams and bigrams plus the lexicon's pseudo-words and a length bucket. Deliberately simple: the
canonicaliser has already undone the obfuscations, and a dictionary lookup per word is what
fits in the always-on layer's budget (~100 µs per prompt). Training imports this very module,
so the features a head was trained on are the features it sees.
"""

from __future__ import annotations

from itertools import pairwise


# Everything but ASCII letters, digits and the apostrophe separates words; UTF-8 bytes of
# other scripts are kept so that non-Latin words stay words.
def _table() -> bytes:
    keep = b"abcdefghijklmnopqrstuvwxyz0123456789'"
    return bytes(c if c in keep or c >= 128 else ord(" ") for c in range(256))


_SEPARATE = _table()
WINDOW = 256  # words per scoring window: a long document is scored piecewise, max wins
MAX_WORDS = 64 * WINDOW  # bounds the cost of huge inputs


def words(text: str) -> list[str]:
    """Lower-case canonical text -> words (non-ASCII letters kept as they are)."""
    return text.encode("utf-8").translate(_SEPARATE).decode("utf-8").split()[:MAX_WORDS]


# Length buckets (1, 2-3, 4-7, ..., 64+ words) as pseudo-words: a head learns its own prior for
# short texts, where a few n-gram weights would otherwise decide the score alone.
LENGTH = tuple(f"__len{min(n.bit_length(), 7)}" for n in range(65))


def tokens(ws: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    """Unigrams, bigrams, a length bucket and the given pseudo-words of one window of words.

    Each feature counts once (presence, not frequency): with counts, a benign word that also
    opens many jailbreaks ("hello ChatGPT…") repeated fifty times outweighed everything else.
    """
    found = [*ws, *map(" ".join, pairwise(ws)), *extra, LENGTH[min(len(ws), 64)]]
    return list(dict.fromkeys(found))


def windows(ws: list[str]) -> list[list[str]]:
    """Split into WINDOW-word pieces; a short tail joins the previous piece."""
    if len(ws) <= WINDOW + WINDOW // 4:
        return [ws]
    cuts = list(range(0, len(ws), WINDOW))
    if len(ws) - cuts[-1] < WINDOW // 4:
        cuts.pop()
    return [ws[a:b] for a, b in zip(cuts, [*cuts[1:], len(ws)])]
