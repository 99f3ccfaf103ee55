"""The admin API's aggregate reads over ``MemoryStore`` (``AdminQueryStore``), in Python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from goodstanding.call import VirtualKey
from goodstanding.enforcement.standing import Standing, Strike, UserKey
from goodstanding.stores.base import USAGE_GROUPS, EndUserQuery, EndUserRow, Identity

ADMIN = "admin"  # the decision of an admin action's record: not a proxied call


def has_category(reasons: Any, category: str) -> bool:
    """Whether one reason names the category (``moderation:violence``, ``detect:violence``)."""
    return any(isinstance(r, str) and r.endswith(f":{category}") for r in reasons or ())


def is_call(record: dict[str, Any]) -> bool:
    """A proxied call's record: not an admin action, not an alert (``alert_sent``, …)."""
    decision = str(record.get("decision"))
    return decision != ADMIN and not decision.startswith("alert_")


def effective_status(standing: Standing | None, now: float) -> str:
    return standing.effective(now) if standing is not None else "active"


class MemoryAdminQueries:
    standings: dict[UserKey, Standing]
    strikes: dict[UserKey, list[Strike]]
    identities: dict[str, Identity]
    audit: list[dict[str, Any]]
    keys: dict[str, VirtualKey]

    async def list_end_users(self, query: EndUserQuery) -> list[EndUserRow]:
        users = {(i.tenant, i.end_user) for i in self.identities.values()} | set(self.standings)
        rows = (self._row(user, query) for user in sorted(users)
                if query.after is None or user > query.after)
        return [row for row in rows if _wanted(row, query)][: query.limit]

    def _row(self, user: UserKey, query: EndUserQuery) -> EndUserRow:
        standing = self.standings.get(user)
        strikes = self.strikes.get(user, [])
        since = max(query.window_start, (standing.forgiven_at or 0.0) if standing else 0.0)
        seen = [r["ts"] for r in self.audit
                if (r.get("tenant"), r.get("end_user")) == user and r.get("decision") != ADMIN]
        firsts = [i.first_seen for i in self.identities.values() if (i.tenant, i.end_user) == user]
        return EndUserRow(
            user[0], user[1], effective_status(standing, query.now),
            standing.until if standing else None, standing.reason if standing else None,
            standing.updated_at if standing else None,
            sum(1 for s in strikes if s.ts >= since), len(strikes),
            min(firsts) if firsts else None, max(seen) if seen else None)

    async def usage(
        self, *, since: float | None, until: float | None, group_by: Sequence[str],
        tenant: str | None = None, limit: int = 1000,
    ) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in self.audit:
            if not is_call(r) or (tenant is not None and r.get("tenant") != tenant):
                continue
            if (since is not None and r["ts"] < since) or (until is not None and r["ts"] >= until):
                continue
            values = {g: _group_value(r, g) for g in group_by}
            row = groups.setdefault(tuple(values.values()), {**values, **_zero()})
            _add(row, r)
        ordered = sorted(groups.values(), key=lambda row: -row["requests"])
        return ordered[:limit]

    async def last_used(self, key_ids: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        wanted = set(key_ids)
        for r in self.audit:
            key = r.get("key_id")
            if key in wanted and r.get("decision") != ADMIN:
                found[key] = max(found.get(key, r["ts"]), r["ts"])
        return found


def _wanted(row: EndUserRow, query: EndUserQuery) -> bool:
    return ((query.tenant is None or row.tenant == query.tenant)
            and (query.end_user is None or row.end_user == query.end_user)
            and (query.status is None or row.status == query.status)
            and row.strikes >= query.min_strikes
            and (query.seen_since is None or (row.last_seen or -1.0) >= query.seen_since)
            and (query.seen_until is None
                 or (row.last_seen is not None and row.last_seen < query.seen_until)))


def _group_value(record: dict[str, Any], group: str) -> Any:
    assert group in USAGE_GROUPS, group
    if group == "day":
        return int(record["ts"] // 86400)
    return record.get({"key": "key_id"}.get(group, group))


def _zero() -> dict[str, int]:
    return {"requests": 0, "tokens_in": 0, "tokens_out": 0, "refusals": 0, "flagged": 0}


def _add(row: dict[str, Any], record: dict[str, Any]) -> None:
    row["requests"] += 1
    row["tokens_in"] += record.get("tokens_in") or 0
    row["tokens_out"] += record.get("tokens_out") or 0
    row["refusals"] += record.get("decision") == "refused"
    row["flagged"] += record.get("decision") == "flagged"
