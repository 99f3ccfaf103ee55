"""Leaked or shared virtual keys: one key's traffic fanning out to many networks or countries.

Read from the address that connects with the key (after trusted proxies), never from what the
key holder reports in ``X-End-User-IP``: an application's backend legitimately serves end users
everywhere, but connects from its own few servers. A key suddenly connecting from many
networks or countries has most likely leaked (a repository, a mobile app, a browser bundle).

State is bounded and lives in the counter store (shared through Redis when scaled out):

- networks (/24 for IPv4, /48 for IPv6) are counted as one of ``SLOTS`` hash slots per key
  within the window (linear counting: at most ``SLOTS`` members per key, an estimate of the
  distinct networks that stays exact well past the thresholds);
- countries are counted as themselves (there are about 250);
- each key's home countries are kept (``homes.py``): a country it never used is a signal.

The hot path is a dict look-up: a (key, address) pair already noted within the last quarter
window is not noted again, so a backend connecting from one server costs no store call at all.
The local memory of noted pairs is capped (``MAX_NOTED``).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from goodstanding import metrics
from goodstanding.abuse.homes import Homes
from goodstanding.call import Verdict
from goodstanding.endusers.geo import CountryLookup, shared_lookup
from goodstanding.ops.signals import Kind, register
from goodstanding.settings import parse_duration

if TYPE_CHECKING:
    from goodstanding.abuse.shared import Merger
    from goodstanding.settings import KeyFanoutSettings
    from goodstanding.stores.base import CounterStore

log = logging.getLogger("goodstanding.abuse")
SLOTS = 1024
MAX_NOTED = 100_000
_PASS = Verdict("key_fanout")

FANOUT = metrics.counter(
    "goodstanding_key_fanout_total",
    "Requests on a key whose connecting addresses fanned out (a leaked or shared key), by "
    "what fanned out (networks, countries) and the action taken.", ("what", "action"))

register(Kind("key_fanout", "virtual keys used from many networks or countries", "count", 5.0,
              0.6, advice="a virtual key has probably leaked: rotate it and find where it was "
                          "published"), from_reasons=True)


def network_of(address: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to; None for a non-address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 4:
        return str(ipaddress.ip_network(f"{ip}/24", strict=False).network_address)
    return str(ipaddress.ip_network(f"{ip}/48", strict=False).network_address)


def linear_count(slots_used: int, slots: int = SLOTS) -> int:
    """The distinct members behind ``slots_used`` of ``slots`` hash slots (linear counting)."""
    if slots_used >= slots:
        return slots * 8  # saturated: "very many"
    return round(-slots * math.log(1 - slots_used / slots))


class KeyFanout:
    """Counts each key's connecting networks and countries; says when it has fanned out."""

    def __init__(self, settings: KeyFanoutSettings, counters: CounterStore,
                 lookup: CountryLookup | None = None,
                 clock: Callable[[], float] = time.time, merger: Merger | None = None) -> None:
        self.settings = settings
        self.window = parse_duration(settings.window)
        self.networks = settings.networks
        self.countries = settings.countries
        self.counters = counters
        self.lookup = lookup or shared_lookup()
        self.clock = clock
        self.noted: dict[tuple[str, str], float] = {}
        self.refresh = self.window / 4
        self.homes = Homes(parse_duration(settings.learn), parse_duration(settings.home_window),
                           merger) if settings.new_country else None

    async def observe(self, key_id: str, address: str) -> tuple[str, ...]:
        """Note one connection of ``key_id`` from ``address``; the fan-out reasons, if any."""
        now = self.clock()
        pair = (key_id, address)
        last = self.noted.get(pair)
        if last is not None and now - last < self.refresh:
            return ()  # already counted within this window: nothing new to learn
        if len(self.noted) >= MAX_NOTED:
            self.noted.clear()  # crude but bounded: the next pass re-notes the active pairs
        self.noted[pair] = now
        network = network_of(address)
        if network is None:
            return ()
        slot = str(zlib.crc32(network.encode()) % SLOTS)
        used = await self.counters.distinct(f"fanout:n:{key_id}", slot, now, self.window)
        reasons: list[str] = []
        seen_networks = linear_count(used)
        if seen_networks >= self.networks:
            reasons.append(f"key_fanout:networks:{seen_networks}")
        country = self.lookup.country(address)
        if country is not None and self.homes is not None:
            new = self.homes.observe(key_id, country, now)
            if new is not None:
                reasons.append(new)
        if country is not None:
            seen = await self.counters.distinct(f"fanout:c:{key_id}", country, now, self.window)
            if seen >= self.countries:
                reasons.append(f"key_fanout:countries:{seen}")
        return tuple(reasons)
