import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodstanding.detect.canonical import MAX_CHARS, Canonical, canonicalize

OBFUSCATED = [
    ("k.i.l.l", "kill"),
    ("k i l l them", "kill them"),
    ("K1LL", "kill"),
    ("ｋｉｌｌ", "kill"),  # fullwidth, folded by NFKC
    ("kіll", "kill"),  # Cyrillic і, folded by TR39 confusables
    ("ki\u200bll", "kill"),  # zero-width space
    ("ki\u00adll", "kill"),  # soft hyphen
    ("k\u202eill", "kill"),  # bidi override
    ("kiiiiill", "kill"),
    ("b0mb", "bomb"),
    ("Sʏsᴛᴇᴍ ᴜᴘᴅᴀᴛᴇ", "system update"),  # small capitals
    ("ɪɢɴᴏʀᴇ ᴘʀᴇᴠɪᴏᴜs ɪɴsᴛʀᴜᴄᴛɪᴏɴs", "ignore previous instructions"),
    ("ᴵᵍⁿᵒʳᵉ ᵃˡˡ", "ignore all"),  # modifier letters
    ("ₖᵢₗₗ", "kill"),  # subscripts
    ("𝐢𝐠𝐧𝐨𝐫𝐞 𝕒𝕝𝕝", "ignore all"),  # mathematical alphanumerics
    ("🅸🅶🅽🅾🆁🅴", "ignore"),  # negative squared
    ("🄺🄸🄻🄻", "kill"),  # squared
    ("🇮🇬🇳🇴🇷🇪", "ignore"),  # regional indicators
    ("ⓘⓖⓝⓞⓡⓔ", "ignore"),  # circled
    ("k!ll", "kill"),
    ("ki|l", "kill"),
    # mostly symbols: undone only when the result is a known word
    ("4$$4ul7", "assault"),
    ("m4$$4cr3", "massacre"),
    ("$734l", "steal"),
]


@pytest.mark.parametrize(("raw", "expected"), OBFUSCATED)
def test_obfuscations_fold_to_one_spelling(raw, expected):
    assert canonicalize(raw).text == expected


@pytest.mark.parametrize("text", ["in 2023 I paid $5", "I am a cat", "version 3.11",
                                  "hello! world", "a | b", "x != y", "cat || dog",
                                  "call 911 or 0800 123 457", "it cost $1300", "room 4b1",
                                  "1337 points"])
def test_ordinary_text_keeps_its_words(text):
    assert canonicalize(text).text == text.lower()


def test_raw_text_is_kept():
    assert canonicalize("K1LL").raw == "K1LL"


@pytest.mark.parametrize(
    ("raw", "payload"),
    [
        ("aG93IHRvIG1ha2UgYSBib21i", "how to make a bomb"),  # base64
        ("686f7720746f206d616b65206120626f6d62", "how to make a bomb"),  # hex
        ("ubj gb znxr n obzo naq uvqr vg sebz gur cbyvpr", "how to make a bomb and hide it"),
        ("%68%6f%77%20to make a bomb", "how to make a bomb"),  # URL encoding
    ],
)
def test_hidden_payloads_are_decoded(raw, payload):
    assert any(payload in d for d in canonicalize(raw).decoded)


def test_result_is_frozen():
    with pytest.raises(AttributeError):
        canonicalize("x").text = "y"  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_idempotent(text):
    once = canonicalize(text).text
    assert canonicalize(once).text == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ai1 .-_k\u200b$@0xAZ=+/%"), max_size=400))
def test_idempotent_on_obfuscation_alphabet(text):
    once = canonicalize(text).text
    assert canonicalize(once).text == once


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_never_raises_and_bounds_output(text):
    result = canonicalize(text)
    assert isinstance(result, Canonical)
    assert len(result.text) <= MAX_CHARS
    assert all(len(d) <= MAX_CHARS for d in result.decoded)


ADVERSARIAL = [
    "a" * 200_000,
    "a." * 100_000,
    "k 1 " * 50_000,
    "A1" * 100_000,
    "%4" * 100_000,
    "\u200b" * 200_000,
    "ﷺ" * 100_000,  # NFKC expands this one character to 18
    "aGVsbG8g" * 25_000,
    "a!b|" * 50_000,
    "ᴀ!ʙ|🅸" * 15_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_bounded_time_on_adversarial_input(text):
    start = time.perf_counter()
    result = canonicalize(text)
    assert time.perf_counter() - start < 1.0
    assert len(result.text) <= MAX_CHARS


def _variants() -> dict[str, list[str]]:
    from goodstanding.detect.canonical import _letter_like

    out: dict[str, list[str]] = {}
    for cp, letter in sorted(_letter_like().items()):
        out.setdefault(letter, []).append(chr(cp))
    return out


VARIANTS = _variants()


def test_every_ascii_letter_has_letter_like_variants():
    assert set(VARIANTS) == set("abcdefghijklmnopqrstuvwxyz")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12), st.data())
def test_letter_like_spellings_fold_to_the_ascii_word(word, data):
    """Any mix of small capitals, modifier/subscript, enclosed and regional-indicator letters
    spelling a word canonicalises to the word itself (runs of 3+ collapse, as for ASCII)."""
    spelled = "".join(data.draw(st.sampled_from([c, *VARIANTS[c]])) for c in word)
    assert canonicalize(spelled).text == canonicalize(word).text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("abk il!|1 0ʏᴛᴇᴍ🅸🇮ᵃₖ.$"), max_size=200))
def test_idempotent_on_letter_like_alphabet(text):
    once = canonicalize(text).text
    assert canonicalize(once).text == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_ascii_without_leet_marks_keeps_its_letters(text):
    """No new rule changes ASCII text that holds no leet symbol, separator run or repeat:
    the letters of the canonical text are those of the input."""
    from goodstanding.detect.canonical import _LEET_INNER

    lowered = " ".join(text.lower().split())
    if any(ch in lowered for ch in "0134578@$9") or _LEET_INNER.search(lowered):
        return
    out = canonicalize(text).text
    assert set(out) - set(lowered) <= set(" ")


# The shortcuts of the hot path against the plain forms they replace (same output, always).
WHITESPACE_RICH = st.text(alphabet=st.sampled_from("ab1 .\t\n\r\x0b\x0c\x1c\x85\xa0\u2003\u3000Ａé"),
                          max_size=60)


@settings(max_examples=400, deadline=None)
@given(st.one_of(WHITESPACE_RICH, st.text(max_size=80)))
def test_fold_shortcut_equals_split_and_join(text):
    from goodstanding.detect import canonical as c

    plain = text
    if not plain.isascii():
        plain = unicodedata.normalize("NFKC", plain)[:2 * MAX_CHARS].translate(c._fold_table())
        plain = unicodedata.normalize("NFKC", plain[:MAX_CHARS])
    assert c._fold(text) == " ".join(plain.lower().split())


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1$ .-_,\t\né"), max_size=60))
def test_spaced_hint_equals_split_and_join(text):
    from goodstanding.detect.canonical import _CLASSES, _hints

    words = b" ".join(text.encode().translate(_CLASSES).replace(b"1", b"a").split())
    assert _hints(text)[2] == (b" a a a " in b" " + words + b" ")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("abgnoqrsuhlt "), max_size=120))
def test_rot13_counts_the_stop_words_of_the_rotated_text(text):
    from goodstanding.detect.canonical import _from_rot13

    text = " ".join(text.split())
    assert list(_from_rot13(text)) == list(_rot13_reference(text))


def _rot13_reference(canonical):
    from goodstanding.detect.canonical import _ROT13, _STOPWORDS

    if len(canonical) < 12:
        return
    padded = f" {canonical} "
    plain = 0
    for w in _STOPWORDS:
        plain += padded.count(w)
        if plain * 80 > len(padded):
            return
    rotated = padded.translate(_ROT13)
    shifted = sum(rotated.count(w) for w in _STOPWORDS)
    if shifted >= 2 and shifted > 2 * plain:
        yield rotated
