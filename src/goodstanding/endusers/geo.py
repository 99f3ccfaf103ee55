"""Client country from the IP, offline, and the countries OpenAI supports.

The IP database is ``geoip2fast``'s bundled GeoLite2 country file (IPv4 and IPv6, shipped in
the PyPI package; nothing is downloaded at run time). It is loaded once per process (about
0.2 s) and lookups (5–11 µs) are cached per address. Private, loopback and unknown addresses
have no country.

The supported list is data, not code: ``data/openai_supported_countries.json`` with its date
and sources (reference §7). ``geo.allow`` is ``openai-supported`` or a list of ISO codes that
may itself name ``openai-supported`` to extend it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SUPPORTED = "openai-supported"
_DATABASE = "geoip2fast-ipv6.dat.gz"  # IPv4 + IPv6
CACHE_SIZE = 65_536


@cache
def supported_countries() -> frozenset[str]:
    return frozenset(supported_document()["countries"])


@cache
def supported_document() -> dict[str, Any]:
    data = resources.files("goodstanding") / "data" / "openai_supported_countries.json"
    document: dict[str, Any] = json.loads(data.read_text())
    return document


def allowed_countries(allow: str | tuple[str, ...]) -> frozenset[str]:
    names = (allow,) if isinstance(allow, str) else allow
    found: set[str] = set()
    for name in names:
        if name == SUPPORTED:
            found |= supported_countries()
        else:
            found.add(name.upper())
    return frozenset(found)


class CountryLookup:
    """IP → ISO country code (None: private, loopback or not in the database)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        from geoip2fast import GeoIP2Fast  # type: ignore[import-untyped]

        self._db = GeoIP2Fast(geoip2fast_data_file=_DATABASE)
        self._cache: dict[str, str | None] = {}
        self.size = size
        self.source = str(self._db.get_database_info().get("source_info", ""))

    def country(self, ip: str) -> str | None:
        try:
            return self._cache[ip]
        except KeyError:
            pass
        result = self._db.lookup(ip)
        code = result.country_code
        found = code if len(code) == 2 and code.isalpha() and not result.is_private else None
        if len(self._cache) >= self.size:
            self._cache.clear()
        self._cache[ip] = found
        return found


@cache
def shared_lookup() -> CountryLookup:
    """The process's one database (gateways in the same process share it)."""
    return CountryLookup()
