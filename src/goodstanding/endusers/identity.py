"""End-user identity and the safety identifier OpenAI sees (SPEC §3, reference §2).

One end user is one id however the application spells it. Every id is canonicalised once,
here, before anything uses it (standing, strikes, limits, geography, the safety identifier,
the records, the CLI and the webhook mapping):

1. invisible characters are removed: controls (``Cc``, NUL included) and formats (``Cf``:
   zero-width space/joiner/non-joiner, BOM, soft hyphen, bidi controls, …), lone surrogates,
   and the rest of Unicode's default-ignorable code points (variation selectors, the
   combining grapheme joiner, Hangul fillers, tags);
2. Unicode NFKC, case folding, NFKC again (full-width ``ＪＯＳＥ`` and NFD ``é`` become
   ``jose`` and ``é``); the Turkish capital ``İ``, which case-folds to ``i`` plus a combining
   dot above, is ``i``;
3. whitespace (any Unicode space, tabs, newlines, and the blank Braille cell U+2800, which
   renders as a space but is not one to Unicode) trimmed at both ends and collapsed to one
   space inside;

repeated until nothing changes, so the function is idempotent. The result is at most
``MAX_END_USER_CHARS`` characters (longer → the request is refused), and an id that is empty
afterwards counts as absent. Plain printable ASCII (the common case) takes a fast path:
lower-case and whitespace collapse; ids up to 128 characters are cached (about 50 ns then).

The raw end-user id never goes upstream. OpenAI receives
``HMAC-SHA256(secret, tenant "\\n" end_user)`` in hex (64 characters, the spec's maximum):
stable per user so OpenAI can act on one user instead of the whole organization, and not
guessable from an email address the way a plain hash would be. The newline cannot occur in a
tenant name, so two (tenant, user) pairs never share an identifier.

The end user's IP: an application's backend that calls on behalf of its users names the
user's address in ``end_user_ip`` (body) or ``X-End-User-IP`` (header); ``end_user_ip_of``
reads and validates it. Whether a key may set it is the identity check's business.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goodstanding.stores.base import Identity, IdentityStore

MAX_END_USER_CHARS = 256
# an id longer than this as sent is refused before any Unicode work is spent on it
MAX_SENT_CHARS = 4 * MAX_END_USER_CHARS
END_USER_IP_FIELD = "end_user_ip"
END_USER_IP_HEADER = "x-end-user-ip"

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) that are not Cc/Cf: invisible
# by definition, so two ids that differ only by them look identical to a person.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)
_IGNORABLE = frozenset(c for lo, hi in _IGNORABLE_RANGES for c in range(lo, hi + 1))
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


class InvalidEndUser(ValueError):
    """An end-user id (or end-user IP) that cannot be used; ``param`` names where it was."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


# (canonical id, the id as sent): what a request names as its end user
EndUser = tuple[str, str]


def canonical_end_user(value: str) -> str:
    """The one spelling of an end-user id ("" when nothing is left); ValueError when too long."""
    found = _CACHE.get(value)
    if found is not None:
        return found
    if len(value) > MAX_SENT_CHARS:
        raise ValueError(f"at most {MAX_END_USER_CHARS} characters")
    if value.isascii() and value.isprintable():
        text = " ".join(value.lower().split())
    else:
        text = _canonical_unicode(value)
    if len(text) > MAX_END_USER_CHARS:
        raise ValueError(f"at most {MAX_END_USER_CHARS} characters")
    if len(value) <= _CACHED_CHARS:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()  # crude but bounded; the common ids come back in one pass
        _CACHE[value] = text
    return text


# id as sent -> canonical id, for ids up to _CACHED_CHARS long: at most a few MB
_CACHE: dict[str, str] = {}
_CACHE_SIZE = 8192
_CACHED_CHARS = 128


def stored_end_user(value: str) -> str:
    """An id read back from the database, canonical; kept as stored when it cannot be
    (empty or too long once canonicalised: no request can name it any more)."""
    try:
        return canonical_end_user(value) or value
    except ValueError:
        return value


def _canonical_unicode(value: str) -> str:
    text = value
    for _ in range(8):  # converges in one or two rounds; the bound only guards the loop
        step = _one_round(text)
        if step == text:
            break
        text = step
    return text


# characters that look like a space without being one to str.split(): read as a space
_BLANKS = {0x2800: " "}  # BRAILLE PATTERN BLANK


def _one_round(text: str) -> str:
    text = "".join(c for c in text if _visible(c)).translate(_BLANKS)
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    # "İ" (U+0130) folds to "i" + U+0307: the same id as "I" in another case, so "i"
    return " ".join(text.replace("i\u0307", "i").split())


def _visible(char: str) -> bool:
    if char.isspace():  # tabs and newlines are whitespace, collapsed later
        return True
    return unicodedata.category(char) not in _INVISIBLE_CATEGORIES and \
        ord(char) not in _IGNORABLE


def safety_identifier(secret: bytes, tenant: str, end_user: str) -> str:
    message = tenant.encode() + b"\n" + end_user.encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


LOGGED_CHARS = 16  # how much of the safety identifier names an end user in logs and alerts


class AmbiguousIdentifier(ValueError):
    """More than one end user's safety identifier starts with the given digits."""


_HEX = re.compile(r"[0-9a-f]+")


async def find_identity(store: IdentityStore, given: str) -> Identity | None:
    """The end user behind a safety identifier, whole (as OpenAI names it) or its first
    ``LOGGED_CHARS`` or more hex digits (as logs and alerts name the end user)."""
    given = given.strip()
    if LOGGED_CHARS <= len(given) < 64 and _HEX.fullmatch(given):
        found = await store.find_identities(given, limit=2)
        if len(found) > 1:
            raise AmbiguousIdentifier(
                f"more than one end user's safety identifier starts with {given}: give more "
                "of its digits")
        return found[0] if found else None
    return await store.lookup_identity(given)


def pseudonym(secret: str | None, tenant: str, end_user: str) -> str:
    """How logs and alerts name an end user: the start of their safety identifier (what the
    request's log lines carry), never any part of the id itself. Without the gateway's secret
    (a CLI run where none is configured) there is nothing to name them by."""
    if not secret:
        return "(id withheld)"
    return safety_identifier(secret.encode(), tenant, end_user)[:LOGGED_CHARS]


def end_user_of(body: dict[str, Any] | None, headers: dict[str, str]) -> EndUser | None:
    """The client's end user, in SPEC order: safety_identifier, user, X-End-User.

    The first source whose id is not empty once canonicalised wins. A value that is not a
    string or is too long raises ``InvalidEndUser`` naming its source.
    """
    if body:
        for field in ("safety_identifier", "user"):
            value = body.get(field)
            if value is not None and value != "":
                found = _end_user(value, field)
                if found is not None:
                    return found
    value = headers.get("x-end-user")
    return _end_user(value, "X-End-User") if value else None


def _end_user(value: Any, source: str) -> EndUser | None:
    if not isinstance(value, str):
        raise InvalidEndUser(f"Invalid type for '{source}': expected a string.", source)
    try:
        canonical = canonical_end_user(value)
    except ValueError:
        raise InvalidEndUser(f"The end-user id in '{source}' is too long: at most "
                             f"{MAX_END_USER_CHARS} characters.", source) from None
    return (canonical, value) if canonical else None


def end_user_ip_of(body: dict[str, Any] | None, headers: dict[str, str]) -> str | None:
    """The end user's IP address named by the caller (body first, then header), normalised.

    Raises ``InvalidEndUser`` when it is not an IP address.
    """
    value: Any = body.get(END_USER_IP_FIELD) if body else None
    source = END_USER_IP_FIELD
    if value is None:
        value, source = headers.get(END_USER_IP_HEADER), "X-End-User-IP"
        if value is None:
            return None
    if isinstance(value, str) and len(value) <= 64:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            pass
        else:
            if address.version == 6 and address.ipv4_mapped is not None:
                address = address.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d
            return str(address)
    raise InvalidEndUser(f"Invalid '{source}': expected an IPv4 or IPv6 address.", source)
