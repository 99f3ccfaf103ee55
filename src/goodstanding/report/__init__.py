"""The compliance report (``goodstanding report``): what protection was on over a period and
what it did, for an operator's appeal to OpenAI.

    build(store, settings, since, until)  -> the report as a dict (schema: docs/report.md)
    html.render(report)                   -> one self-contained HTML page (inline SVG charts)

Everything is read through the store interfaces (``stores/base.py``): the audit log page by
page (newest first, ``before_id`` cursor), the end users' strikes and actions, the accepted
policy versions, the operators' notes on incidents. Counts are the audit log's, exactly
(incidents too: ``incidents.derive`` groups the same records); the standing score over the period is
computed from the same records with the ops score formula (``ops.standing.score_of``).
Records hold no prompt or answer text, so neither does the report; secrets in the
configuration summary are redacted as ``goodstanding config show`` redacts them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from goodstanding.incidents import alert_every
from goodstanding.incidents.classify import classify
from goodstanding.incidents.derive import derive
from goodstanding.ops.signals import signals_of
from goodstanding.ops.standing import score_of
from goodstanding.settings import Settings
from goodstanding.stores.base import Store

SCHEMA_VERSION = 2  # 2: incidents[] are incidents (incidents/), alerts[] the alerts
PAGE = 1000
SECTIONS = ("moderation", "detectors", "limits", "strikes", "geo", "keys", "identity", "policy")
FORWARDED = {"allowed", "flagged", "output_withheld", "upstream_error"}
INPUT_UNAVAILABLE = "moderation_unavailable"
OUTPUT_UNAVAILABLE = "output_moderation_unavailable"
# a file or audio forwarded that moderation cannot read (checks/moderation.py): the call's text
# was moderated, so it counts as moderated, and is listed as an exception for what was not
UNREAD = "unmoderated_input"
# an answer withheld (503) because its record could not be made durable (audit.py): answered
# upstream, and through the output checks, so it counts as answered
STORE_WITHHELD = "store_unavailable:audit"
FLAG_PREFIXES = {"moderation:": "input", "output:": "output", "detect:": "input",
                 "detect_output:": "output"}


def configuration(settings: Settings) -> dict[str, Any]:
    """The protection settings, secrets redacted (``config show``'s rule)."""
    from goodstanding.commands.config import _redact, fields

    tree = settings.model_dump(mode="json")
    out: dict[str, dict[str, Any]] = {}
    for path, *_ in fields():
        if path[0] not in SECTIONS or len(path) < 2:
            continue
        value: Any = tree
        for part in path:
            value = value[part]
        out.setdefault(path[0], {})[".".join(path[1:])] = _redact(path, value)
    return out


class _Shim:
    """What ``signals_of`` reads off a finished call, made from an audit record."""

    __slots__ = ("decision", "offences", "reasons", "status")

    def __init__(self, record: dict[str, Any]) -> None:
        self.reasons = record.get("reasons") or []
        self.status = record.get("status")
        self.decision = record.get("decision")
        self.offences = ()


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date().isoformat()


async def build(store: Store, settings: Settings, since: float, until: float | None = None,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    until = time.time() if until is None else until
    totals: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    flags: dict[tuple[str, str, str], int] = defaultdict(int)  # (category, side, outcome)
    exceptions: dict[str, list[float]] = defaultdict(list)
    webhooks: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    trouble: list[dict[str, Any]] = []  # the records incidents are made of
    admin: Counter[str] = Counter()
    rotations: list[dict[str, Any]] = []
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    users: set[tuple[str, str]] = set()
    callers: list[tuple[str | None, str | None]] = []
    signals: Counter[str] = Counter()
    before_id: int | None = None
    read = 0
    while True:
        page = await store.query_audit(since=since, until=until, limit=PAGE, before_id=before_id)
        for record in page:
            if classify(record) is not None:
                trouble.append(record)
            if record.get("endpoint") == "alerts":  # an alert (ops/alerts.py), not traffic
                alerts.append(_alert(record))
                continue
            _count(record, totals, decisions, flags, exceptions, webhooks, admin, rotations,
                   per_day, users, callers, signals)
        read += len(page)
        if progress is not None:
            progress(read)
        if len(page) < PAGE:
            break
        before_id = page[-1]["id"]
    requests = totals["requests"]
    input_on = settings.moderation.input != "off"
    output_on = settings.moderation.output != "off"
    forwarded = totals["forwarded"]
    coverage = {
        "requests": requests,
        "forwarded": forwarded,
        "input_moderated": totals["input_moderated"] if input_on else 0,
        "output_moderated": totals["output_moderated"] if output_on else 0,
        "answered": totals["answered"],
        "input_share": _share(totals["input_moderated"] if input_on else 0, forwarded),
        "output_share": _share(totals["output_moderated"] if output_on else 0,
                               totals["answered"]),
        "exceptions": [{"reason": reason, "requests": len(stamps), "first": min(stamps),
                        "last": max(stamps)} for reason, stamps in sorted(exceptions.items())],
    }
    enforcement = await _enforcement(store, users, since, until)
    score, contributions = score_of({"requests": requests, **signals}, max(until - since, 1.0))
    days = []
    for day in sorted(per_day):
        counts = per_day[day]
        day_signals = {k[7:]: v for k, v in counts.items() if k.startswith("signal:")}
        day_score, _ = score_of({"requests": counts["requests"], **day_signals}, 86400.0)
        days.append({"day": day, "requests": counts["requests"], "refused": counts["refused"],
                     "flagged": counts["flagged"], "score": round(day_score, 1)})
    acceptance = await _acceptance(store, settings, callers)
    incidents = derive(trouble, await store.incident_notes(since), until,
                       alert_every(settings))
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": time.time(),
        "period": {"since": since, "until": until},
        "configuration": configuration(settings),
        "traffic": {"requests": requests, "decisions": dict(sorted(decisions.items()))},
        "coverage": coverage,
        "flags": [{"category": c, "side": s, "outcome": o, "count": n}
                  for (c, s, o), n in sorted(flags.items())],
        "enforcement": enforcement,
        "webhooks": webhooks,
        "incidents": [incident.to_dict() for incident in incidents],
        "alerts": sorted(alerts, key=lambda a: a["at"]),
        "admin_actions": dict(sorted(admin.items())),
        "key_rotations": rotations,
        "standing": {"score": round(score, 1),
                     "contributions": {k: round(v, 1) for k, v in sorted(contributions.items())},
                     "signals": dict(sorted(signals.items())), "days": days},
        "policy": acceptance,
    }


def _alert(record: dict[str, Any]) -> dict[str, Any]:
    from goodstanding.ops.alerts import _listed  # the one reading of an alert's record

    return _listed(record)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _count(record: dict[str, Any], totals: Counter[str], decisions: Counter[str],
           flags: dict[tuple[str, str, str], int], exceptions: dict[str, list[float]],
           webhooks: list[dict[str, Any]], admin: Counter[str], rotations: list[dict[str, Any]],
           per_day: dict[str, Counter[str]], users: set[tuple[str, str]],
           callers: list[tuple[str | None, str | None]], signals: Counter[str]) -> None:
    endpoint = record.get("endpoint") or ""
    decision = record.get("decision") or ""
    reasons = record.get("reasons") or []
    ts = record["ts"]
    if decision == "admin" or endpoint.startswith("admin."):
        action = endpoint.removeprefix("admin.")
        admin[action] += 1
        if action == "keys.rotate" and (record.get("status") or 0) < 300:
            rotations.append({"ts": ts, "key_id": record.get("key_id"),
                              "by": record.get("actor")})
        return
    if endpoint.startswith("webhook") or any(str(r).startswith("webhook_") for r in reasons):
        webhooks.append({"ts": ts, "status": record.get("status"), "decision": decision,
                         "reasons": [r for r in reasons if isinstance(r, str)],
                         "end_user": record.get("end_user")})
        return
    totals["requests"] += 1
    decisions[decision] += 1
    day = per_day[_day(ts)]
    day["requests"] += 1
    if decision == "refused":
        day["refused"] += 1
    if decision == "flagged":
        day["flagged"] += 1
    tenant, end_user = record.get("tenant"), record.get("end_user")
    callers.append((tenant, end_user))
    if tenant and end_user:
        users.add((tenant, end_user))
    if decision in FORWARDED:
        totals["forwarded"] += 1
        if INPUT_UNAVAILABLE not in reasons:
            totals["input_moderated"] += 1
        if record.get("status") == 200 or decision == "output_withheld" \
                or STORE_WITHHELD in reasons:
            totals["answered"] += 1
            if OUTPUT_UNAVAILABLE not in reasons:
                totals["output_moderated"] += 1
    for reason in reasons:
        if reason in (INPUT_UNAVAILABLE, OUTPUT_UNAVAILABLE, UNREAD):
            exceptions[reason].append(ts)
            continue
        head, sep, rest = str(reason).partition(":")
        side = FLAG_PREFIXES.get(head + sep) if sep else None
        if side is not None:
            outcome = decision if decision in ("refused", "output_withheld") else "flagged"
            flags[(rest, side, outcome)] += 1
    for signal in signals_of(_Shim(record)):  # type: ignore[arg-type]
        signals[signal] += 1
        day["signal:" + signal] += 1


async def _enforcement(store: Store, users: set[tuple[str, str]], since: float, until: float
                       ) -> dict[str, Any]:
    strikes: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for tenant, end_user in sorted(users):
        for strike in await store.strikes_of(tenant, end_user):
            if since <= strike.ts <= until:
                strikes.append({"ts": strike.ts, "tenant": tenant, "end_user": end_user,
                                "reason": strike.reason, "categories": list(strike.categories),
                                "source": strike.source})
        for action in await store.actions_of(tenant, end_user):
            if since <= action.ts <= until:
                actions.append({"ts": action.ts, "tenant": tenant, "end_user": end_user,
                                "action": action.action, "by": action.by,
                                "reason": action.reason, "until": action.until})
    by_action = Counter(a["action"] for a in actions)
    return {"strikes": len(strikes), "suspensions": by_action.get("suspend", 0),
            "bans": by_action.get("ban", 0), "actions_by_kind": dict(sorted(by_action.items())),
            "strike_list": strikes, "action_list": actions}


async def _acceptance(store: Store, settings: Settings,
                      callers: list[tuple[str | None, str | None]]) -> dict[str, Any]:
    from goodstanding.policy.acceptance import acceptance_share

    version = settings.policy.version
    share = await acceptance_share(store, version, callers)
    return {**share, "require_acceptance": settings.policy.require_acceptance}
