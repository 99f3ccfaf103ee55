"""Geography: refuse (or flag) clients in countries where OpenAI does not offer its API.

The client IP is already resolved (``X-Forwarded-For`` only from trusted proxies); its country
is recorded on the call. Outside the allowed set: ``block`` → 403 ``unsupported_country``,
``flag`` → let through with the reason recorded. Addresses without a country (private,
loopback, unknown) pass.

IP churn: one end user seen from ``churn_countries`` or more countries within
``churn_window`` (VPN hopping) leaves ``geo_churn`` on the record and in a metric; the
organization-standing score consumes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from goodstanding import metrics
from goodstanding.call import Call, Verdict
from goodstanding.endusers.geo import CountryLookup, allowed_countries, shared_lookup
from goodstanding.errors import UnsupportedCountry
from goodstanding.settings import GeoSettings, parse_duration
from goodstanding.stores.base import CounterStore

_PASS = Verdict("geo")

UNSUPPORTED = metrics.counter("goodstanding_geo_unsupported_total",
                              "Requests from unsupported countries, by country and mode.",
                              ("country", "mode"))
CHURN = metrics.counter("goodstanding_geo_churn_total",
                        "Requests from end users seen in several countries within the window.")


class GeoCheck:
    name = "geo"

    def __init__(self, settings: GeoSettings, counters: CounterStore,
                 lookup: CountryLookup | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.mode = settings.mode
        self.allowed = allowed_countries(settings.allow)
        self.counters = counters
        self.lookup = lookup or shared_lookup()
        self.churn_countries = settings.churn_countries
        self.churn_window = parse_duration(settings.churn_window)
        self.clock = clock

    async def check(self, call: Call) -> Verdict:
        country = self.lookup.country(call.client_ip)
        if country is None:
            return _PASS
        call.country = country
        reasons: tuple[str, ...] = ()
        if call.end_user is not None and call.key is not None:
            seen = await self.counters.distinct(
                f"geo:{call.key.tenant}\n{call.end_user}", country, self.clock(),
                self.churn_window)
            if seen >= self.churn_countries:
                CHURN.inc()
                reasons = ("geo_churn",)
        if country in self.allowed:
            return Verdict(self.name, "flag", reasons) if reasons else _PASS
        UNSUPPORTED.inc(country, self.mode)
        reasons = (f"unsupported_country:{country}", *reasons)
        if self.mode != "block":
            return Verdict(self.name, "flag", reasons)
        error = UnsupportedCountry(
            f"Country, region, or territory not supported ({country}).", reasons=reasons)
        return Verdict(self.name, "refuse", reasons, error)
