"""Per upstream key over ``MemoryStore``: the audit log's counts by upstream key, and the
scheduled rotation's claim (one process holds a memory store, so a dict is the lock)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from goodstanding.call import VirtualKey
from goodstanding.stores.admin_memory import is_call
from goodstanding.stores.base import WEBHOOK


class MemoryUpstreamKeys:
    audit: list[dict[str, Any]]
    keys: dict[str, VirtualKey]
    rotations: dict[str, dict[str, Any]]

    async def upstream_counts(self, starts: Sequence[float], limit: int = 10_000
                              ) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        first = min(starts)
        for r in self.audit:
            if r["ts"] < first or not is_call(r):
                continue
            # keyed calls, and enforcement webhooks naming an upstream key's project
            if r.get("key_id") is None and not (r.get("decision") == WEBHOOK and
                                                r.get("upstream")):
                continue
            key = self.keys.get(r["key_id"])
            name = r.get("upstream") or (key.upstream if key else None) or "default"
            reasons = list(r.get("reasons") or ())
            group = (name, r.get("decision"), r.get("status"), tuple(reasons))
            row = groups.get(group)
            if row is None:
                if len(groups) >= limit:
                    continue
                row = groups[group] = {
                    "upstream": name, "decision": r.get("decision"), "status": r.get("status"),
                    "reasons": reasons, "calls": [0] * len(starts),
                    "tokens_in": [0] * len(starts), "tokens_out": [0] * len(starts)}
            for i, start in enumerate(starts):
                if r["ts"] >= start:
                    row["calls"][i] += 1
                    row["tokens_in"][i] += r.get("tokens_in") or 0
                    row["tokens_out"][i] += r.get("tokens_out") or 0
        return list(groups.values())

    async def claim_rotation(self, name: str, holder: str, now: float, lease: float) -> bool:
        claim = self.rotations.get(name)
        if claim is not None and claim["lease_until"] >= now and claim["holder"] != holder:
            return False
        self.rotations[name] = {**(claim or {}), "holder": holder, "lease_until": now + lease}
        return True

    async def release_rotation(self, name: str, holder: str, rotated_at: float | None) -> None:
        claim = self.rotations.get(name)
        if claim is not None and claim["holder"] == holder:
            claim["lease_until"] = 0.0
            if rotated_at is not None:
                claim["rotated_at"] = rotated_at
