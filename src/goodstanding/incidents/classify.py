"""Which audit records are trouble, and of which kind (``incidents/``).

``classify(record)`` answers ``(kind, subject)`` or None. Records are the gateway's ordinary
audit records; nothing extra is written on the request path to find incidents.

    moderation_unavailable   a call whose input or output moderation did not answer
                             (refused 503 when failing closed; passed unmoderated when open)
    store_unavailable        a call refused because PostgreSQL or Redis did not answer
                             (subject: database, redis, audit)
    upstream_unavailable     OpenAI unreachable, answering 5xx, or breaking a stream mid-way
    insufficient_quota       OpenAI answered insufficient_quota / credit_balance_exhausted
                             (or the gateway held a call because it just had)
    enforcement_webhook      an OpenAI enforcement webhook acted on (subject: its request id)
    alert                    an alert raised (``ops/alerts.py``; subject: its rule)
"""

from __future__ import annotations

from typing import Any

KINDS = ("moderation_unavailable", "store_unavailable", "upstream_unavailable",
         "insufficient_quota", "enforcement_webhook", "alert")
MODERATION = frozenset({"moderation_unavailable", "output_moderation_unavailable"})
QUOTA = frozenset({"insufficient_quota", "upstream:insufficient_quota",
                   "upstream:credit_balance_exhausted"})
ALERT_DECISIONS = frozenset({"alert_sent", "alert_given_up", "alert_logged"})


def classify(record: dict[str, Any]) -> tuple[str, str] | None:
    decision = record.get("decision")
    if decision in ALERT_DECISIONS or record.get("endpoint") == "alerts":
        return "alert", _rule(record)
    if decision == "webhook":
        return "enforcement_webhook", str(record.get("request_id") or "")
    if decision == "admin":
        return None
    for reason in record.get("reasons") or ():
        reason = str(reason)
        if reason in MODERATION:
            return "moderation_unavailable", ""
        if reason in QUOTA:
            return "insufficient_quota", ""
        if reason.startswith("store_unavailable"):
            return "store_unavailable", reason.partition(":")[2] or "database"
        if reason == "upstream_unavailable" or (
                reason.startswith("upstream:") and (record.get("status") or 0) >= 500):
            return "upstream_unavailable", ""
    return None


def _rule(record: dict[str, Any]) -> str:
    for reason in record.get("reasons") or ():
        if str(reason).startswith("rule:"):
            return str(reason)[5:]
    return ""


def alert_when(record: dict[str, Any]) -> str | None:
    """The trigger of an alert's rule (``when:…`` in its record)."""
    for reason in record.get("reasons") or ():
        if str(reason).startswith("when:"):
            return str(reason)[5:]
    return None
