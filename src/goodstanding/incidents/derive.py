"""Incidents from trouble records and operators' notes: a pure function (``derive``).

Trouble records of one kind and subject (``classify``) make one incident while each follows
the previous one within its quiet period; a longer gap starts a new incident. An incident is
*resolved automatically* once its quiet period passes with no new trouble record (the
condition cleared: requests are moderated, stored, answered again): ``resolved_at`` is then
the time of its last trouble record. An enforcement webhook is never resolved automatically
(OpenAI expects an answer): an operator resolves it. An operator's note resolves any incident
at the note's time (``resolved_by`` names them) and records what was changed; trouble after
the note opens a new incident.

An incident's id is ``inc-<audit id of its first record>``: stable, and the same whichever
reader (report, admin API, CLI) derives it from the same records.

Alerts whose rule watches one of the kinds (moderation unavailable, insufficient quota, an
enforcement webhook) are attached to the incident they were raised for; any other alert
(zero tolerance, a ban, the standing score) is an incident of its own rule, grouped while the
rule keeps alerting within twice its ``every``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from goodstanding.incidents.classify import alert_when, classify
from goodstanding.stores.base import IncidentNote

QUIET = 300.0  # seconds without a new trouble record after which an outage is over
ALERT_QUIET = 3600.0  # an alert rule of unknown ``every``
ATTACH_SLACK = 60.0  # an alert is recorded a moment after the call that raised it
ATTACHED = {"moderation_unavailable": "moderation_unavailable",
            "insufficient_quota": "insufficient_quota",
            "upstream_credentials_refused": "upstream_unavailable",
            "enforcement_webhook": "enforcement_webhook"}
TITLES = {
    "moderation_unavailable": "Moderation unavailable",
    "store_unavailable": "Store unavailable",
    "upstream_unavailable": "OpenAI unavailable",
    "insufficient_quota": "OpenAI quota exhausted",
    "enforcement_webhook": "OpenAI enforcement notice",
    "alert": "Alert",
}
FORWARDED = frozenset({"allowed", "flagged", "output_withheld", "upstream_error"})


@dataclass(frozen=True, slots=True)
class Note:
    at: float
    by: str
    note: str


@dataclass(slots=True)
class Incident:
    id: str
    kind: str
    subject: str
    title: str
    opened_at: float
    last_seen: float
    status: str = "open"  # "open" | "resolved"
    resolved_at: float | None = None
    resolved_by: str | None = None  # "auto" or the operator who recorded the resolution
    requests: int = 0  # trouble records (calls, webhooks, alerts) it is made of
    refused: int = 0  # calls refused or failed because of it
    passed: int = 0  # calls forwarded anyway (moderation failing open: unmoderated)
    end_users: list[str] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def derive(records: Iterable[dict[str, Any]], notes: Iterable[IncidentNote], now: float,
           alert_every: Mapping[str, float] | None = None) -> list[Incident]:
    """Every incident the records make, oldest first, as of ``now``."""
    by_incident: dict[str, list[IncidentNote]] = {}
    for note in notes:
        by_incident.setdefault(note.incident_id, []).append(note)
    trouble = sorted(((r, found) for r in records if (found := classify(r)) is not None),
                     key=lambda pair: (pair[0]["ts"], pair[0]["id"]))
    every = alert_every or {}
    incidents: list[Incident] = []
    current: dict[tuple[str, str], Incident] = {}
    pending_alerts: list[dict[str, Any]] = []
    for record, (kind, subject) in trouble:
        if kind == "alert" and alert_when(record) in ATTACHED:
            pending_alerts.append(record)
            continue
        quiet = _quiet(kind, subject, every)
        key = (kind, subject)
        open_one = current.get(key)
        if open_one is None or record["ts"] - open_one.last_seen > quiet or _noted_before(
                by_incident.get(open_one.id), record["ts"]):
            open_one = Incident(f"inc-{record['id']}", kind, subject, _title(kind, subject),
                                record["ts"], record["ts"])
            current[key] = open_one
            incidents.append(open_one)
        _add(open_one, record)
    for record in pending_alerts:
        _attach(incidents, record, every)
    for incident in incidents:
        _settle(incident, by_incident.get(incident.id, []), now,
                _quiet(incident.kind, incident.subject, every))
    return incidents


def _quiet(kind: str, subject: str, every: Mapping[str, float]) -> float:
    if kind == "enforcement_webhook":
        return -1.0  # each notice is its own incident
    if kind == "alert":
        return 2 * every[subject] if subject in every else ALERT_QUIET
    return QUIET


def _noted_before(notes: list[IncidentNote] | None, ts: float) -> bool:
    return bool(notes) and min(n.at for n in notes or ()) < ts


def _title(kind: str, subject: str) -> str:
    title = TITLES.get(kind, kind)
    return f"{title}: {subject}" if subject and kind in ("store_unavailable", "alert") else title


def _add(incident: Incident, record: dict[str, Any]) -> None:
    incident.last_seen = max(incident.last_seen, record["ts"])
    incident.requests += 1
    if incident.kind == "alert":
        incident.alerts.append(_alert(record))
        return
    decision = record.get("decision")
    if decision in FORWARDED:
        incident.passed += 1
    elif decision in ("refused", "failed"):
        incident.refused += 1
    end_user = record.get("end_user")
    if incident.kind == "enforcement_webhook" and end_user and end_user not in \
            incident.end_users:
        incident.end_users.append(end_user)


def _alert(record: dict[str, Any]) -> dict[str, Any]:
    from goodstanding.ops.alerts import _listed  # the one reading of an alert's record

    return _listed(record)


def _attach(incidents: list[Incident], record: dict[str, Any],
            every: Mapping[str, float]) -> None:
    """To the incident of the alert's kind it was raised for; else an incident of its own."""
    kind = ATTACHED[alert_when(record) or ""]
    ts = record["ts"]
    for incident in reversed(incidents):
        if incident.kind == kind and incident.opened_at - ATTACH_SLACK <= ts <= \
                incident.last_seen + max(QUIET, ATTACH_SLACK):
            incident.alerts.append(_alert(record))
            return
    _, rule = classify(record) or ("alert", "")
    alone = Incident(f"inc-{record['id']}", "alert", rule, _title("alert", rule), ts, ts)
    _add(alone, record)
    incidents.append(alone)
    incidents.sort(key=lambda i: i.opened_at)


def _settle(incident: Incident, notes: list[IncidentNote], now: float, quiet: float) -> None:
    incident.notes = [Note(n.at, n.by, n.note) for n in notes]
    if incident.kind != "enforcement_webhook" and now - incident.last_seen > quiet:
        incident.status, incident.resolved_at = "resolved", incident.last_seen
        incident.resolved_by = "auto"
    if notes:
        first = min(notes, key=lambda n: n.at)
        if incident.resolved_at is None or first.at < incident.resolved_at:
            incident.status, incident.resolved_at = "resolved", first.at
            incident.resolved_by = first.by
