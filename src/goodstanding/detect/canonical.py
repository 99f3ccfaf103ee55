"""The canonicaliser: one spelling for the many ways people hide a word.

Every detector reads `Canonical.text`, never the raw text, so that "k.i.l.l", "k1ll", "ｋｉｌｌ",
"kіll" (Cyrillic i) and "ki\u200bll" all become "kill". Payloads hidden in base64, hex, rot13 or
URL encoding are decoded, canonicalised too and returned in `decoded`, so detectors scan them as
well. The raw text is kept for reporting.

Guarantees (property-tested): never raises, idempotent on `text`, output at most `MAX_CHARS`
characters, linear time (every regex below is written so that it cannot backtrack
quadratically).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from urllib.parse import unquote

import numpy as np

from goodstanding.detect.native import native as _native

# Longer inputs are cut: a gateway must bound the cost of every request.
MAX_CHARS = 65_536
MAX_PAYLOADS = 8
MAX_PAYLOAD_CHARS = 4_096


@dataclass(frozen=True, slots=True)
class Canonical:
    raw: str
    text: str
    decoded: tuple[str, ...] = ()

    @property
    def texts(self) -> tuple[str, ...]:
        """Everything a detector should scan: the canonical text and each decoded payload."""
        return (self.text, *self.decoded)


# Invisible characters that only serve to split a word for a filter: zero-width, bidi
# controls, soft hyphen, combining grapheme joiner, variation selectors and tag characters.
_INVISIBLE = (
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070))
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0000, 0xE0080))
    + list(range(0xE0100, 0xE01F0))
)


def _confusable_pairs() -> dict[int, str]:
    """Non-ASCII look-alikes of ASCII letters and digits, from Unicode TR39 data.

    The table comes from the maintained `confusable-homoglyphs` package (its confusables.json
    is generated from TR39's confusables.txt); we only keep pairs with one ASCII side.
    """
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    table: dict[int, str] = {}
    for key, entries in data.items():
        for entry in entries:
            _add_pair(table, key, entry["c"])
    return table


def _add_pair(table: dict[int, str], a: str, b: str) -> None:
    for src, dst in ((a, b), (b, a)):
        if len(src) == 1 and not src.isascii() and dst.isascii() and dst.isalnum():
            table.setdefault(ord(src), dst.lower())


# Letter-like symbols that NFKC leaves alone and TR39 misses or maps only in part: small
# capitals ("Sʏsᴛᴇᴍ ᴜᴘᴅᴀᴛᴇ"), modifier and subscript letters, enclosed (squared, negative
# circled) letters and regional indicators ("🅸🅶🅽🅾🆁🅴", "🇮🇬🇳🇴🇷🇪"). Found by their Unicode names
# in the blocks that hold them, so the table follows the Unicode version Python ships.
_LETTER_LIKE_BLOCKS = ((0x0250, 0x0300), (0x1D00, 0x1DC0), (0x2070, 0x20A0), (0x2C60, 0x2C80),
                       (0xA700, 0xA800), (0xAB30, 0xAB70), (0x10780, 0x107C0),
                       (0x1F100, 0x1F200))
_LETTER_LIKE_NAME = re.compile(
    r"(?:LATIN LETTER SMALL CAPITAL|LATIN SMALL CAPITAL LETTER|MODIFIER LETTER (?:SMALL|CAPITAL)"
    r"(?: CAPITAL)?|LATIN SUBSCRIPT SMALL LETTER|(?:NEGATIVE )?(?:SQUARED|CIRCLED) LATIN CAPITAL"
    r" LETTER|REGIONAL INDICATOR SYMBOL LETTER|SUPERSCRIPT LATIN SMALL LETTER) ([A-Z])"
)


def _letter_like() -> dict[int, str]:
    table: dict[int, str] = {}
    for lo, hi in _LETTER_LIKE_BLOCKS:
        for cp in range(lo, hi):
            found = _LETTER_LIKE_NAME.fullmatch(unicodedata.name(chr(cp), ""))
            if found:
                table[cp] = found.group(1).lower()
    return table


# Typographic punctuation that NFKC leaves alone, as its ASCII form: phones type "don’t" and
# “quotes” by default, and to a lexicon or a head "don’t" was another word than "don't"
# (NFKC already turns "…" into "..." and a no-break space into a space).
TYPOGRAPHIC = {0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x2013: "-", 0x2014: "-"}


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = dict(_confusable_pairs())
    table.update(_letter_like())
    table.update(TYPOGRAPHIC)
    table.update(dict.fromkeys(_INVISIBLE))
    return table


# Leetspeak: only inside words that also hold letters, so "2023" and "$5" stay numbers.
_LEET = str.maketrans("0134578@$9", "oieastbasg")
_LEET_WORD = re.compile(r"(?<![a-z0-9@$])[a-z0-9@$]+")
# Three or more single letters split by the same one to three separator characters:
# "k.i.l.l", "k i l l", "k - i - l - l"; the back-reference keeps "I k.i.l.l" from becoming
# "ikill".
_SPACED = re.compile(
    r"(?<![a-z0-9@$])[a-z0-9@$]([\s.\-_*·•,/|+~]{1,3})[a-z0-9@$](?:\1[a-z0-9@$]){1,}(?![a-z0-9@$])"
)
_SEPARATORS = re.compile(r"[\s.\-_*·•,/|+~]")
_REPEAT = re.compile(r"(.)\1{2,}", re.DOTALL)

# Python's regex engine costs ~40 ns per character and pattern; on the hot path we first ask
# cheap C-level byte operations whether a step has anything to do at all. _CLASSES maps each
# byte of the (lower-cased) UTF-8 text to "a" (letter), "1" (leet symbol) or " " (other).


def _classes() -> bytes:
    table = bytearray(b" " * 256)
    for c in b"abcdefghijklmnopqrstuvwxyz":
        table[c] = ord("a")
    for c in b"0134578@$9":
        table[c] = ord("1")
    return bytes(table)


_CLASSES = _classes()


def _hints(text: str) -> tuple[tuple[int, int] | None, bool, bool]:
    """(where triple repeats lie, has leet inside a word, has three single letters in a row)."""
    if _native is not None and (found := _native.hints(text)) is not None:
        return found  # one pass over the text's (UTF-8) bytes
    return _python_hints(text)


def _python_hints(text: str) -> tuple[tuple[int, int] | None, bool, bool]:
    raw = text.encode("utf-8")
    classes = raw.translate(_CLASSES)
    symbols = b"1" in classes  # most texts have no digit, "@" nor "$"
    leety = symbols and (b"a1" in classes or b"1a" in classes)
    # words of letters and leet symbols, one space between them (halving the runs of spaces
    # takes a few C passes; splitting and joining took an object per word)
    words = b" " + (classes.replace(b"1", b"a") if symbols else classes) + b" "
    while b"  " in words:
        words = words.replace(b"  ", b" ")
    spaced = b" a a a " in words
    return _triples(raw), leety, spaced


def _triples(raw: bytes) -> tuple[int, int] | None:
    """The byte span from the first run of three equal bytes to the end of the last one."""
    # two equal neighbours in a row in the "byte equals the next one" mask: one numpy pass
    b = np.frombuffer(raw, dtype=np.uint8)
    same = (b[1:] == b[:-1]).tobytes()
    first = same.find(b"\x01\x01")
    # a run ends two bytes after the last pair of equal neighbours that starts it
    return None if first < 0 else (first, same.rfind(b"\x01\x01") + 3)


def _collapse_repeats(text: str, span: tuple[int, int]) -> str:
    """Runs of three or more of one character -> one ("!!!", "sooo", "00000042")."""
    if not text.isascii():  # byte offsets are not character offsets
        return _REPEAT.sub(r"\1", text)
    # the regex costs ~40 ns a character: run it on the span that holds the runs only (a
    # serial number's "0000" at the start of a prompt, a "..." at its end)
    a, b = span
    return text[:a] + _REPEAT.sub(r"\1", text[a:b]) + text[b:]


def _leet_word(match: re.Match[str]) -> str:
    word = match.group(0)
    letters = sum(c.isalpha() for c in word)
    if letters == len(word):
        return word
    plain = word.translate(_LEET)
    # "mp3" or "b2b" would be mangled for nothing: a word mostly made of letters is undone;
    # one mostly made of symbols ("4$$4ul7", "$73al") only when it spells a known word, and
    # never a plain number ("2023", "911").
    if letters >= 2 and letters >= len(word) - letters:
        return plain
    if len(word) >= 3 and (letters or "$" in word or "@" in word) and plain in _known_words():
        return plain
    return word


@lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    """Words that a symbol-heavy leetspeak word may spell (`data/words.txt`: the alphabetic
    words of three letters or more that the training texts use, `scripts/known_words.py`)."""
    text = resources.files("goodstanding.detect").joinpath("data/words.txt").read_text("utf-8")
    return frozenset(text.split())


def _join_spaced(text: str) -> str:
    return _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group(0)), text)


@lru_cache(maxsize=1)
def _fold_keys() -> frozenset[str]:
    return frozenset(map(chr, _fold_table()))


def _fold(text: str) -> str:
    """Unicode and case folding, whitespace runs to one space."""
    if not text.isascii():
        # NFKC may expand a character up to 18-fold: cut before the table pass
        text = unicodedata.normalize("NFKC", text)[:2 * MAX_CHARS]
        # Most texts outside ASCII (accents, other scripts, emoji) hold no character the table
        # changes: asking is a seventh of translating each character through the dict.
        if not _fold_keys().isdisjoint(text):
            text = text.translate(_fold_table())
        # the bound holds after the second NFKC too
        text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
    text = text.lower()
    # Splitting costs an object per word: most texts already have single spaces only (the
    # one whitespace character `isprintable` accepts is the space).
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


# "k!ll", "ki|l": "!" and "|" stand for i and l only between two letters ("hello!" and
# "a | b" keep theirs).
_LEET_INNER = re.compile(r"(?<=[a-z])[!|](?=[a-z])")
_LEET_INNER_MAP = {"!": "i", "|": "l"}


def _step(text: str) -> str:
    if "!" in text or "|" in text:
        text = _LEET_INNER.sub(lambda m: _LEET_INNER_MAP[m.group(0)], text)
    repeat, leety, spaced = _hints(text)
    if repeat:
        text = _collapse_repeats(text, repeat)
    if spaced:
        text = _join_spaced(text)
    if leety:
        text = _LEET_WORD.sub(_leet_word, text)
    return " ".join(text.split()) if repeat or spaced else text


def _canonical_text(raw: str) -> str:
    if _native is not None and (found := _native.canonical_ascii(raw)) is not None:
        return found  # an ASCII text with no leetspeak nor spelled-out letters: one C pass
    return _python_canonical_text(raw)


def _python_canonical_text(raw: str) -> str:
    text = _fold(raw[:MAX_CHARS])
    # Each step only shortens the text or turns symbols into letters, so this converges;
    # the common case (nothing to undo) costs a single pass.
    for _ in range(8):
        nxt = _step(text)
        if nxt == text:
            break
        text = nxt
    return text[:MAX_CHARS].strip()


def canonical_text(text: str) -> str:
    """``canonicalize(text).text`` without looking for hidden payloads (the lexicon's terms:
    decoding 60,000 of them for nothing doubled a worker's start)."""
    canonical = _canonical_text(text)
    return _stable(canonical) if not canonical.isascii() else canonical


def canonicalize(text: str) -> Canonical:
    """Canonical form of `text`, plus its decoded hidden payloads. Never raises."""
    try:
        raw = text if isinstance(text, str) else str(text)
        canonical = _canonical_text(raw)
        if not canonical.isascii():
            canonical = _stable(canonical)
        return Canonical(raw=raw, text=canonical, decoded=_decoded(raw, canonical))
    except Exception:  # noqa: BLE001 - a detector input must never crash the gateway
        return Canonical(raw=str(text)[:MAX_CHARS], text="", decoded=())


def pieces(text: str) -> tuple[str, ...]:
    """``canonicalize(text).texts``: for most texts (ASCII, nothing to undo but case, spacing,
    repeats and "!"/"|" inside words, no hidden payload) one C call and no `Canonical`."""
    if _native is not None and isinstance(text, str):
        try:
            found = _native.canonical_plain(text)
        except MemoryError:  # a huge text: the Python path bounds it and never raises
            found = None
        if found is not None:
            return (found,)
    return canonicalize(text).texts


def _stable(text: str) -> str:
    # ASCII output is a fixed point by construction. Outside ASCII, folding may in rare cases
    # expose a new pattern (a lower-cased letter that NFKC composes, say): iterate to a fixed
    # point so that canonicalize stays idempotent.
    for _ in range(4):
        nxt = _canonical_text(text)
        if nxt == text:
            return text
        text = nxt
    return text


# --- hidden payloads ----------------------------------------------------------------------

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_BASE64_CLASSES = bytes(
    ord("a") if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "+/_-=") else ord(" ")
    for c in range(256)
)
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){8,}")
_HEX_ESCAPED = re.compile(r"(?:\\x[0-9a-fA-F]{2}){4,}")
_URL_ENCODED = re.compile(r"%[0-9a-fA-F]{2}")
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm"
)
_STOPWORDS = (" the ", " and ", " to ", " you ", " a ", " of ")
_ROT13_STOPWORDS = tuple(w.translate(_ROT13) for w in _STOPWORDS)


def _decoded(raw: str, canonical: str) -> tuple[str, ...]:
    if _native is not None and _native.payloads_possible(raw, canonical) is False:
        return ()  # most texts: no base64 run, no "%", plainly not rot13
    payloads: list[str] = []
    src = raw[:MAX_CHARS]
    for candidate in _candidates(src, canonical):
        text = _canonical_text(candidate[:MAX_PAYLOAD_CHARS])
        if text and text != canonical and text not in payloads:
            payloads.append(text)
        if len(payloads) >= MAX_PAYLOADS:
            break
    return tuple(payloads)


def _candidates(src: str, canonical: str):
    # base64 and hex payloads are long unbroken tokens; most prompts have none.
    if b"a" * 16 in src.encode("utf-8").translate(_BASE64_CLASSES):
        for match in _BASE64.finditer(src):
            yield from _from_base64(match.group(0))
        for match in _HEX.finditer(src):
            yield from _from_bytes(binascii.unhexlify(match.group(0)))
        for match in _HEX_ESCAPED.finditer(src):
            yield from _from_bytes(bytes.fromhex(match.group(0).replace("\\x", "")))
    if "%" in src and _URL_ENCODED.search(src):
        yield unquote(src)
    yield from _from_rot13(canonical)


def _from_base64(token: str):
    token = token.rstrip("=")
    # Plain long words ("internationalization") also match; require some mixed case or digits.
    if token.isalpha() and (token.islower() or token.isupper()):
        return
    padded = token + "=" * (-len(token) % 4)
    try:
        data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return
    yield from _from_bytes(data)


def _from_bytes(data: bytes):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    printable = sum(c.isprintable() or c.isspace() for c in text)
    letters = sum(c.isalpha() for c in text)
    if text and printable == len(text) and letters * 2 >= len(text):
        yield text


def _from_rot13(canonical: str):
    if len(canonical) < 12:
        return
    padded = f" {canonical} "
    # English has a stop word every ~30 characters; rot13 text has almost none. Counting
    # stops as soon as the text is plainly English (the common case).
    plain = 0
    for w in _STOPWORDS:
        plain += padded.count(w)
        if plain * 80 > len(padded):
            return
    # the stop words of the rotated text, counted in this one: rotate only what is yielded
    shifted = sum(map(padded.count, _ROT13_STOPWORDS))
    if shifted >= 2 and shifted > 2 * plain:
        yield padded.translate(_ROT13)
