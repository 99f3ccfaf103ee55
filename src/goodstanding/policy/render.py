"""The content policy, written in plain language from the running configuration.

``document(settings)`` says what the gateway actually enforces — which content is refused
(moderation categories and their modes), the zero-tolerance categories, jailbreak attempts,
what a violation leads to, the limits per tier, what is recorded and for how long (never the
text), where the service is not offered — under the operator's title, opening paragraph,
contact and version (``policy:``). ``markdown``, ``html`` and ``as_json`` render it.

Every section has a stable anchor (``SECTIONS``; one per category: ``category-<name>``) so
that an application can link to it from its user agreement and the gateway's strike and ban
messages can name the section that was violated (``section_for``).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from typing import Any

from goodstanding.detect.categories import CATEGORIES
from goodstanding.endusers.geo import SUPPORTED, allowed_countries
from goodstanding.limits.policy import tier_limits
from goodstanding.settings import Settings, parse_duration, parse_time

# stable anchors, in page order
SECTIONS = ("refused-content", "zero-tolerance", "jailbreaks", "violations", "limits",
            "identity", "records", "countries", "acceptance", "contact")
PATH = "/policy"

DESCRIPTIONS = {
    "harassment": "Harassing, insulting or demeaning content aimed at a person or group.",
    "harassment/threatening": "Harassment that threatens violence or serious harm.",
    "hate": "Content that attacks people for their race, religion, gender, sexual "
            "orientation, disability, origin or a similar trait.",
    "hate/threatening": "Hateful content that threatens violence or serious harm.",
    "illicit": "Instructions or advice for committing crimes or other illicit acts.",
    "illicit/violent": "Instructions for violent wrongdoing or for obtaining weapons.",
    "self-harm": "Content that promotes or depicts suicide, cutting or eating disorders.",
    "self-harm/intent": "Statements of intent to harm oneself.",
    "self-harm/instructions": "Instructions or encouragement for self-harm.",
    "sexual": "Sexually explicit content.",
    "sexual/minors": "Any sexual content involving anyone under 18.",
    "violence": "Content that depicts or glorifies death, violence or physical injury.",
    "violence/graphic": "Graphic depictions of death, violence or injury.",
}
# what `policy.text` may reword: a category's line, or a whole section's text
OVERRIDABLE = (*CATEGORIES, "zero-tolerance", "jailbreaks", "violations", "records", "countries")
_MODE_WORDS = {"block": "refused", "flag": "recorded, not refused"}


def anchor(category: str) -> str:
    return "category-" + category.replace("/", "-")


def section_for(reasons: tuple[str, ...] | str, categories: tuple[str, ...] = (),
                zero_tolerance: bool = False) -> str:
    """The anchor of the policy section an offence violated."""
    text = reasons if isinstance(reasons, str) else ",".join(reasons)
    if zero_tolerance or text.startswith("zero tolerance"):
        return "zero-tolerance"
    if "jailbreak" in text or "injection" in text:
        return "jailbreaks"
    known = [c for c in categories if c in DESCRIPTIONS]
    if known:
        return anchor(known[0])
    if "content" in text or "upstream" in text:
        return "refused-content"
    return "violations"


def policy_url(settings: Settings) -> str:
    return settings.policy.url or PATH


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    text: tuple[str, ...]
    # (anchor or "", text) pairs: a list under the text
    items: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    title: str
    version: int
    effective_at: str | None
    header: str | None
    contact: str | None
    sections: tuple[Section, ...]
    facts: dict[str, Any] = field(default_factory=dict)


def refused_categories(settings: Settings) -> tuple[str, ...]:
    """The moderation categories whose requests are refused (or answers withheld)."""
    moderation = settings.moderation
    blocking = "block" in (moderation.input, moderation.output) or \
        settings.detectors.content == "block"
    if not blocking:
        return ()
    if settings.detectors.content == "block":  # the local screen knows no per-category switch
        return CATEGORIES
    return tuple(c for c in CATEGORIES if moderation.categories.get(c) != "off")


def document(settings: Settings) -> Document:
    policy = settings.policy
    facts = {"version": policy.version, "refused_categories": list(refused_categories(settings)),
             "zero_tolerance": list(settings.moderation.zero_tolerance)}
    sections = (
        _refused(settings), _zero(settings), _jailbreaks(settings), _violations(settings),
        _limits(settings), _identity(settings), _records(settings), _countries(settings),
        _acceptance(settings), _contact(settings))
    return Document(policy.title, policy.version, policy.effective_at, policy.header,
                    policy.contact, tuple(s for s in sections if s is not None), facts)


def _text(settings: Settings, name: str, default: str) -> str:
    return settings.policy.text.get(name, default)


def _refused(settings: Settings) -> Section:
    moderation = settings.moderation
    refused = refused_categories(settings)
    if not refused:
        return Section("refused-content", "Content that is refused", (
            "This service does not refuse requests for their content categories.",))
    text = []
    if moderation.input != "off":
        text.append(f"Every request is screened before it is answered. Requests with the "
                    f"content below are {_MODE_WORDS[moderation.input]}.")
    if moderation.output != "off":
        text.append(f"Answers are screened too: an answer with this content is "
                    f"{'withheld' if moderation.output == 'block' else 'recorded'}.")
    if settings.detectors.content == "block":
        text.append("A screen that runs inside this service refuses such content as well.")
    items = tuple((anchor(c), f"{c}: {_text(settings, c, DESCRIPTIONS[c])}") for c in refused)
    return Section("refused-content", "Content that is refused", tuple(text), items)


def _zero(settings: Settings) -> Section | None:
    zero = settings.moderation.zero_tolerance
    if not zero:
        return None
    default = (f"A single request in these categories bans the end user at once: "
               f"{', '.join(zero)}.")
    return Section("zero-tolerance", "Zero tolerance", (
        _text(settings, "zero-tolerance", default),))


def _jailbreaks(settings: Settings) -> Section | None:
    detectors = settings.detectors
    text = []
    if detectors.jailbreak != "off":
        words = ("are refused and count as a violation" if detectors.jailbreak == "block"
                 else "are recorded")
        text.append(f"Attempts to make the model ignore its rules (jailbreaks) {words}.")
    if detectors.injection != "off":
        words = "are refused" if detectors.injection == "block" else "are recorded"
        text.append(f"Instructions hidden in documents or tool results to take over the "
                    f"model (prompt injection) {words}.")
    if not text:
        return None
    return Section("jailbreaks", "Jailbreak attempts",
                   (_text(settings, "jailbreaks", " ".join(text)),))


def _violations(settings: Settings) -> Section:
    s = settings.strikes
    window = _duration(s.window)
    text = [
        ("Each refused request for its content, each jailbreak attempt and each request the "
        "model's provider refuses under its own policies counts as one violation."),
        (f"Violations count for {window}. At {s.warn_at} violation(s) the end user is warned; at "
        f"{s.suspend_at} they are suspended for {_duration(s.suspend_for)}; at {s.ban_at} "
        f"they are banned."),
    ]
    items = []
    for tier, override in s.tiers.items():
        parts = [f"{name.replace('_', ' ')} {_duration(v) if isinstance(v, str) else v}"
                 for name, v in override.items()]
        items.append(("", f"{tier} end users: {', '.join(parts)}"))
    return Section("violations", "What happens after a violation",
                   (_text(settings, "violations", " ".join(text)),), tuple(items))


def _limits(settings: Settings) -> Section:
    limits = settings.limits
    items = []
    own = limits.tiers.named()
    for name in settings.identity.tiers:  # an operator's tier without limits: anonymous ones
        resolved = tier_limits(own.get(name, limits.tiers.anonymous), limits.end_user,
                               name if name in own else "anonymous")
        parts = [f"{_n(resolved.rpm)} requests a minute", f"{_n(resolved.rpd)} a day",
                 f"{_n(resolved.tpm)} tokens a minute"]
        items.append((f"limits-{name}", f"{name}: {', '.join(parts)}"))
    text = [(f"Requests are limited per end user, by tier. A prompt may be up to "
            f"{limits.max_prompt_tokens:,} tokens and an answer up to "
            f"{limits.max_output_tokens:,}.")]
    if limits.ip.rpm is not None:
        text.append(f"Each network address may make {limits.ip.rpm} requests a minute.")
    return Section("limits", "Limits", tuple(text), tuple(items))


def _identity(settings: Settings) -> Section:
    identity = settings.identity
    text = [("Every request names the end user who makes it. The model's provider receives a "
            "pseudonymous identifier (a keyed hash), never the end user's id.")]
    if identity.token is not None:
        text.append("End users are identified by a token from the application's sign-in; "
                    f"the token also says their tier ({', '.join(identity.tiers)}).")
    items = []
    require = identity.require_tier
    if require is not None:
        for endpoint, tier in require.endpoints.items():
            items.append(("", f"{endpoint} needs a {tier} end user"))
        for model, tier in require.models.items():
            items.append(("", f"the model {model} needs a {tier} end user"))
    return Section("identity", "Identity and tiers", tuple(text), tuple(items))


def _records(settings: Settings) -> Section:
    retention = settings.policy.audit_retention
    kept = f"for {_duration(retention)}" if retention else "until the operator deletes them"
    text = (
        ("For every request this service records: the time, the application, the end user's "
        "id, network address and country, the endpoint and model, the number of tokens, and "
        "the decision with its reasons (content category names, limit names) and scores."),
        "It never records the text of prompts or answers.",
        (f"These records are kept {kept}; violations and the actions taken on them stay in the "
        f"end user's history."),
    )
    return Section("records", "What is recorded", (_text(settings, "records", " ".join(text)),))


def _countries(settings: Settings) -> Section | None:
    geo = settings.geo
    if geo.mode == "off":
        return None
    allow = geo.allow
    names = (allow,) if isinstance(allow, str) else allow
    words = "refused" if geo.mode == "block" else "recorded"
    if names == (SUPPORTED,):
        text = (f"Requests from countries where the OpenAI API is not supported are {words}. "
                "Supported are:")
    else:
        text = f"Requests from outside these countries and territories are {words}:"
    countries = ", ".join(sorted(allowed_countries(allow)))
    return Section("countries", "Where this service is offered",
                   (_text(settings, "countries", text), countries))


def _acceptance(settings: Settings) -> Section:
    policy = settings.policy
    since = f" in force since {_date(policy.effective_at)}" if policy.effective_at else ""
    text = [f"This is version {policy.version} of the policy{since}."]
    if policy.require_acceptance:
        text.append("End users must accept this version before they use the service.")
        grace = parse_duration(policy.grace)
        if grace and policy.effective_at:
            text.append(f"End users who accepted an earlier version may keep using it for "
                        f"{_duration(policy.grace)} after a new version comes into force.")
    return Section("acceptance", "Version and acceptance", tuple(text))


def _contact(settings: Settings) -> Section | None:
    if not settings.policy.contact:
        return None
    return Section("contact", "Contact", ((f"Questions about this policy or a decision: "
                                          f"{settings.policy.contact}"),))


def _n(value: int | None) -> str:
    return "unlimited" if value is None else f"{value:,}"


def _duration(value: str) -> str:
    seconds = parse_duration(value)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _date(value: str) -> str:
    return dt.datetime.fromtimestamp(parse_time(value), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# renderers

def as_json(doc: Document) -> dict[str, Any]:
    return {"title": doc.title, "version": doc.version, "effective_at": doc.effective_at,
            "header": doc.header, "contact": doc.contact, **doc.facts,
            "sections": [{"id": s.id, "title": s.title, "text": list(s.text),
                          "items": [{"id": i or None, "text": t} for i, t in s.items]}
                         for s in doc.sections]}


def markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", "", f"Version {doc.version}", ""]
    if doc.header:
        lines += [doc.header, ""]
    for section in doc.sections:
        lines += [f'<a id="{section.id}"></a>', f"## {section.title}", ""]
        for paragraph in section.text:
            lines += [paragraph, ""]
        for item_id, text in section.items:
            lines.append(f'- <a id="{item_id}"></a>{text}' if item_id else f"- {text}")
        if section.items:
            lines.append("")
    return "\n".join(lines)


def html_page(doc: Document) -> str:
    e = html.escape
    body = [f"<h1>{e(doc.title)}</h1>", f'<p class="version">Version {doc.version}</p>']
    if doc.header:
        body.append(f'<p class="header">{e(doc.header)}</p>')
    for section in doc.sections:
        body.append(f'<section id="{section.id}"><h2>{e(section.title)}</h2>')
        body.extend(f"<p>{e(p)}</p>" for p in section.text)
        if section.items:
            body.append("<ul>")
            body.extend(f'<li id="{i}">{e(t)}</li>' if i else f"<li>{e(t)}</li>"
                        for i, t in section.items)
            body.append("</ul>")
        body.append("</section>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{e(doc.title)}"
            "</title><style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem "
            "auto;padding:0 1rem;line-height:1.5}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
