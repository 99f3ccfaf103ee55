"""A virtual key "used from a country it never used": each key's home countries.

Read from the connecting address (after trusted proxies), as the fan-out is: a backend key
connects from its own servers' few countries whatever its end users' are. Once a key has a
home (at least one country) and has been known for ``learn``, a connection from a country
outside it is the signal ``key_new_country:<CC>`` (once per country: it then joins the home).

Bounded: ``MAX_KEYS`` keys (least recently seen forgotten), ``MAX_COUNTRIES`` each. With Redis
counters the homes are shared (``shared.py``): each key's hash ``h:{key}`` holds its
countries and the hours processes first saw it (``@hour``: the earliest is the key's age), so a
process that joins (a deploy) knows a key's home after one merge instead of learning it again.
Until that first merge a process does not judge the key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from goodstanding.abuse.shared import MAX_HASHES, Deltas, Merger, Totals
from goodstanding.ops.signals import Kind, register

MAX_KEYS = 100_000
MAX_COUNTRIES = 64

register(Kind("key_new_country", "virtual keys used from a country they never used", "count",
              5.0, 0.4, advice="a key connected from a new country: a new deployment region, "
                               "or a leak; rotate the key if it is not yours"),
         from_reasons=True)


class _Home:
    __slots__ = ("countries", "judged", "new", "since")

    def __init__(self, since: float, judged: bool) -> None:
        self.countries: set[str] = set()
        self.since = since
        self.new: list[str] = []  # countries to send at the next merge
        self.judged = judged  # shared mode: only after the first merge


class Homes:
    def __init__(self, learn: float, ttl: float, merger: Merger | None = None) -> None:
        self.learn = learn
        self.ttl = ttl
        self.keys: OrderedDict[str, _Home] = OrderedDict()
        self.touched: dict[str, _Home] = {}
        self.merger = merger
        if merger is not None:
            merger.collectors.append(self._collect)

    def observe(self, key_id: str, country: str, now: float) -> str | None:
        """Note a connection of ``key_id`` from ``country``; the reason when it is new."""
        home = self.keys.get(key_id)
        if home is None:
            if len(self.keys) >= MAX_KEYS:
                self.keys.popitem(last=False)
            home = self.keys[key_id] = _Home(now, self.merger is None)
            home.new.append(f"@{int(now // 3600)}")
        else:
            self.keys.move_to_end(key_id)
        if self.merger is not None:
            self.touched[key_id] = home
            self.merger.wake()
        if country in home.countries or len(home.countries) >= MAX_COUNTRIES:
            return None
        judged = home.judged and bool(home.countries) and now - home.since >= self.learn
        home.countries.add(country)
        home.new.append(country)
        return f"key_new_country:{country}" if judged else None

    def countries(self, key_id: str) -> list[str]:
        home = self.keys.get(key_id)
        return sorted(home.countries) if home else []

    def _collect(self) -> tuple[Deltas, int, Callable[[Totals], None]]:
        touched, self.touched = self.touched, {}
        deltas: Deltas = {}
        sent: list[tuple[str, _Home]] = []
        for key_id, home in touched.items():
            if len(deltas) >= MAX_HASHES:
                self.touched.setdefault(key_id, home)
                continue
            deltas[f"h:{key_id}"] = dict.fromkeys(home.new, 1)
            home.new = []
            sent.append((key_id, home))

        def done(totals: Totals) -> None:
            for key_id, home in sent:
                found = totals.get(f"h:{key_id}", {})
                hours = [int(f[1:]) for f in found if f.startswith("@") and f[1:].isdigit()]
                if hours:
                    home.since = min(home.since, min(hours) * 3600.0)
                for country in found:
                    if not country.startswith("@") and len(home.countries) < MAX_COUNTRIES:
                        home.countries.add(country)
                home.judged = True

        return deltas, int(self.ttl * 1000), done
