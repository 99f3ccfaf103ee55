"""Incidents: the periods the gateway could not protect or serve as configured, and the
enforcement notices and alerts an operator must answer, with their resolution.

They are *derived* from the audit log (``classify.py``: which records are trouble;
``derive.py``: how they group, when they resolve), so the request path writes nothing for
them and every reader — the report, the admin API, the dashboard, ``goodstanding incidents``
— sees the same incidents with counts that are the audit log's. Only what an operator
records (who, when, what was changed) is stored: ``incident_notes`` (migration 0010).

    list_incidents(store, since, until, now)   the incidents of a period, oldest first
    resolve(store, incident_id, by, note)      record an operator's resolution
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from goodstanding.incidents.classify import classify
from goodstanding.incidents.derive import QUIET, Incident, derive
from goodstanding.stores.base import IncidentNote, Store

PAGE = 1000
ID = re.compile(r"inc-([0-9]{1,18})")
NOTE_MAX = 2000


class UnknownIncident(ValueError):
    """No incident has this id (a typo, or a record that is no incident)."""


async def trouble_records(store: Store, since: float, until: float | None,
                          progress: Callable[[int], None] | None = None
                          ) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    before_id: int | None = None
    while True:
        page = await store.query_trouble(since=since, until=until, limit=PAGE,
                                         before_id=before_id)
        records += page
        if progress is not None:
            progress(len(records))
        if len(page) < PAGE:
            return records
        before_id = page[-1]["id"]


async def list_incidents(store: Store, since: float, until: float | None = None,
                         now: float | None = None,
                         alert_every: Mapping[str, float] | None = None) -> list[Incident]:
    now = time.time() if now is None else now
    records = await trouble_records(store, since, until)
    return derive(records, await store.incident_notes(since), now, alert_every)


async def resolve(store: Store, incident_id: str, by: str, note: str,
                  now: float | None = None) -> IncidentNote:
    """Record that ``by`` resolved the incident, and what was changed (``note``)."""
    match = ID.fullmatch(incident_id.strip())
    if match is None:
        raise UnknownIncident(f"{incident_id!r} is not an incident id (inc-<number>)")
    first = int(match.group(1))
    [record] = await store.query_audit(before_id=first + 1, limit=1) or [None]
    if record is None or record["id"] != first or classify(record) is None:
        raise UnknownIncident(f"no incident {incident_id}")
    text = " ".join(note.split())[:NOTE_MAX]
    if not text:
        raise ValueError("say what was done: the note is empty")
    entry = IncidentNote(f"inc-{first}", time.time() if now is None else now, by[:128], text)
    await store.add_incident_note(entry)
    return entry


def alert_every(settings: Any) -> dict[str, float]:
    """Each alert rule's ``every`` in seconds (an alert incident lasts while it re-fires)."""
    from goodstanding.ops.alerts import DEFAULT_RULES
    from goodstanding.settings import parse_duration

    rules = settings.alerts.rules if settings.alerts.rules is not None else DEFAULT_RULES
    return {rule.name: parse_duration(rule.every) for rule in rules}


__all__ = ["QUIET", "Incident", "UnknownIncident", "alert_every", "list_incidents", "resolve"]
