"""Incident notes, trouble records and ended dashboard sessions in memory: the
``IncidentStore`` and ``SessionStore`` parts of ``MemoryStore``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from goodstanding.stores.base import IncidentNote


class MemoryIncidents:
    audit: list[dict[str, Any]]

    def __init__(self) -> None:
        self.notes: list[IncidentNote] = []
        self.revocations: dict[str, tuple[float, float]] = {}

    async def query_trouble(self, *, since: float | None = None, until: float | None = None,
                            limit: int = 1000, before_id: int | None = None
                            ) -> list[dict[str, Any]]:
        from goodstanding.incidents.classify import classify

        rows = [r for r in reversed(self.audit)
                if (since is None or r["ts"] >= since) and (until is None or r["ts"] < until)
                and (before_id is None or r["id"] < before_id) and classify(r) is not None]
        return rows[:limit]

    async def add_incident_note(self, note: IncidentNote) -> None:
        self.notes.append(note)

    async def incident_notes(self, since: float | None = None) -> list[IncidentNote]:
        return [n for n in self.notes if since is None or n.at >= since]

    async def revoke_sessions(self, scope: str, revoked_at: float, expires_at: float) -> None:
        self.revocations = {s: v for s, v in self.revocations.items() if v[1] > revoked_at}
        earlier = self.revocations.get(scope, (0.0, 0.0))
        self.revocations[scope] = (max(revoked_at, earlier[0]), max(expires_at, earlier[1]))

    async def session_revocations(self, scopes: Sequence[str]) -> dict[str, float]:
        return {s: self.revocations[s][0] for s in scopes if s in self.revocations}
