"""The dashboard's HTML: one layout, one inline stylesheet, no script. Everything shown is
escaped; nothing shown is prompt or answer text (the admin API returns none)."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from goodstanding.report.html import bars

CSS = """*{box-sizing:border-box}body{font:15px/1.5 system-ui,sans-serif;color:#111;margin:0;
background:#f6f7f9}header{background:#12324f;color:#fff;padding:.5rem 1rem;display:flex;
flex-wrap:wrap;gap:.25rem 1rem;align-items:center}header a{color:#fff}header nav{display:flex;
flex-wrap:wrap;gap:.75rem}header form{margin-left:auto}main{max-width:76rem;margin:0 auto;
padding:1rem}h1{font-size:1.4rem;margin:.25rem 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:1rem}
.card{background:#fff;border:1px solid #ccd;border-radius:6px;padding:.75rem 1rem;min-width:0}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #ccd;
padding:.3rem .5rem;text-align:left;vertical-align:top}.scroll{overflow-x:auto}
a{color:#0b4f8a}a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f0a500;
outline-offset:1px}button,.button{background:#0b4f8a;color:#fff;border:0;border-radius:4px;
padding:.4rem .8rem;font:inherit;cursor:pointer;text-decoration:none;display:inline-block}
button.danger,.button.danger{background:#a4161a}label{display:block;margin:.4rem 0 .1rem}
input,select,textarea{font:inherit;padding:.3rem;border:1px solid #667;border-radius:4px;max-width:100%}
.score{font-size:2.4rem;font-weight:700}.good{color:#1b6e20}.watch{color:#8a5a00}
.at_risk,.critical,.warn{color:#a4161a;font-weight:600}.flash{background:#e6f2e6;
border:1px solid #1b6e20;padding:.5rem 1rem;border-radius:4px}.error{background:#fbe9e9;
border-color:#a4161a}.chart{width:100%;height:auto}.secret{font:1rem monospace;
background:#fff7d6;padding:.5rem;word-break:break-all}.actions{display:flex;flex-wrap:wrap;
gap:.5rem}.muted{color:#444}@media (max-width:40rem){main{padding:.5rem}th,td{padding:.25rem}}"""


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    days = int(seconds // 86400)
    return f"{days} d" if days else f"{int(seconds // 3600)} h"


def e(value: Any) -> str:
    return escape("-" if value is None or value == "" else str(value))


def layout(title: str, body: str, csrf: str | None = None, who: str | None = None,
           flash: str | None = None, error: str | None = None) -> str:
    nav = ""
    if csrf is not None:
        nav = ("<nav aria-label='Main'><a href='/admin/'>Overview</a><a href='/admin/users'>"
               "End users</a><a href='/admin/keys'>Keys</a><a href='/admin/alerts'>Alerts</a>"
               "<a href='/admin/incidents'>Incidents</a></nav>"
               "<form method='post' action='/admin/logout'>"
               f"<input type='hidden' name='csrf' value='{escape(csrf)}'>"
               f"<span class='muted' style='color:#dde'>signed in as {e(who)}</span> "
               "<button type='submit'>Log out</button> <button type='submit' name='everywhere'"
               " value='1' title='End every session of this admin token'>Sign out everywhere"
               "</button></form>")
    notes = ""
    if flash:
        notes += f"<p class='flash' role='status'>{e(flash)}</p>"
    if error:
        notes += f"<p class='flash error' role='alert'>{e(error)}</p>"
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{e(title)} · goodstanding</title><style>{CSS}</style></head><body>"
            f"<header><strong>goodstanding</strong>{nav}</header><main><h1>{e(title)}</h1>"
            f"{notes}{body}</main></body></html>")


def table(headers: list[str], rows: list[list[str]], caption: str, empty: str) -> str:
    """Rows of already-escaped HTML cells."""
    if not rows:
        return f"<p class='muted'>{escape(empty)}</p>"
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<div class='scroll'><table><caption class='muted' style='text-align:left'>"
            f"{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div>")


def login(csrf: str, error: str | None = None) -> str:
    body = ("<form method='post' action='/admin/login' class='card' style='max-width:28rem'>"
            f"<input type='hidden' name='csrf' value='{escape(csrf)}'>"
            "<label for='token'>Admin token</label>"
            "<input id='token' name='token' type='password' autocomplete='current-password' "
            "required style='width:100%'><p><button type='submit'>Sign in</button></p>"
            "<p class='muted'>An admin token of this gateway (GOODSTANDING_ADMIN_TOKEN or one "
            "of GOODSTANDING_ADMIN_TOKENS).</p></form>")
    return layout("Sign in", body, error=error)


def user_link(row: dict[str, Any]) -> str:
    query = urlencode({"tenant": row.get("tenant") or ""})
    return (f"<a href='/admin/users/{quote(str(row['end_user']), safe='')}?{query}'>"
            f"{e(row['end_user'])}</a>")


def chart_block(window: str, series: dict[str, list[tuple[str, float]]]) -> str:
    links = " ".join(
        f"<a href='/admin/?window={w}'{' aria-current=page' if w == window else ''}>{w}</a>"
        for w in ("1h", "24h", "7d"))
    charts = "".join(f"<div class='card'><h3>{escape(name)} ({window})</h3>"
                     f"{bars(points, f'{name} over {window}', 480, 140)}</div>"
                     for name, points in series.items())
    return f"<h2>Traffic</h2><p>Window: {links}</p><div class='cards' id='charts'>{charts}</div>"


def overview(standing: dict[str, Any] | None, window: str,
             series: dict[str, list[tuple[str, float]]], risky_users: list[dict[str, Any]],
             risky_keys: list[dict[str, Any]], events: list[dict[str, Any]],
             headroom: dict[str, float] | None = None,
             open_incidents: list[dict[str, Any]] | None = None) -> str:
    if standing is None:
        top = "<p class='muted'>This gateway computes no standing score.</p>"
    else:
        level = standing["level"]
        signals = []
        for name, w in standing["windows"].items():
            for s in w["signals"]:
                signals.append([e(name), e(s["title"]), e(s["signal"]), e(s["count"]),
                                e(f"{s['contribution']:.1f}"), e(s["trend"])])
        actions = "".join(f"<li>{e(a)}</li>" for a in standing["actions"])
        top = ("<div class='cards'><div class='card'><h2>Standing score</h2>"
               f"<p class='score {escape(level)}' id='score'>{standing['score']:.0f}"
               f"<span style='font-size:1rem'> / 100 · {e(level.replace('_', ' '))}</span></p>"
               f"<p class='muted'>{e(standing['note'])}</p></div>"
               f"<div class='card'><h2>Recommended actions</h2><ul>{actions}</ul></div></div>"
               + table(["Window", "Signal", "Id", "Count", "Points", "Trend"], signals,
                       "Signals and their contributions", "No signal weighs on the score."))
    risky = table(["End user", "Tenant", "Requests", "Refused", "Flagged"],
                  [[user_link(r), e(r.get("tenant")), e(r["requests"]), e(r["refusals"]),
                    e(r["flagged"])] for r in risky_users],
                  "Top risky end users (7 days)", "No refused or flagged end user in 7 days.")
    keys = table(["Key", "Requests", "Refused", "Flagged"],
                 [[e(r.get("key")), e(r["requests"]), e(r["refusals"]), e(r["flagged"])]
                  for r in risky_keys], "Top risky keys (7 days)",
                 "No refused or flagged call in 7 days.")
    feed = table(["When", "Endpoint", "Decision", "Status", "End user", "Reasons"],
                 [[e(when(v["ts"])), e(v.get("endpoint")), e(v["decision"]), e(v.get("status")),
                   e(v.get("end_user")), e(", ".join(map(str, v.get("reasons") or [])))]
                  for v in events], "The latest events", "No event yet.")
    budget = "".join(f"<li>{e(name)}: <strong>{share * 100:.0f} %</strong> of the moderation "
                     "rate limit free</li>" for name, share in sorted((headroom or {}).items()))
    budget = (f"<h2>Moderation budget</h2><ul id='headroom'>{budget}</ul>" if budget else
              "<h2>Moderation budget</h2><p class='muted' id='headroom'>No moderation rate limit "
              "seen yet by this process (it shows once OpenAI's moderation answers with its "
              "limits).</p>")
    incidents_now = table(["Id", "Incident", "Opened", "Requests"],
                          [[e(i["id"]), e(i["title"]), e(when(i["opened_at"])), e(i["requests"])]
                           for i in (open_incidents or [])[:5]],
                          "Open incidents (7 days)", "No open incident in 7 days.")
    return (top + f"<h2>Incidents</h2><div id='open-incidents'>{incidents_now}</div>"
            "<p><a href='/admin/incidents'>Every incident and its resolution</a></p>"
            + chart_block(window, series) + budget
            + "<h2>Who drives risk</h2><div class='cards'>"
            f"<div class='card'>{risky}</div><div class='card'>{keys}</div></div>"
            f"<h2>Recent events</h2>{feed}")


STATUSES = ("active", "suspended", "banned")


def users(rows: list[dict[str, Any]], status: str | None, q: str) -> str:
    options = "".join(f"<option value='{s}'{' selected' if s == status else ''}>{s}</option>"
                      for s in STATUSES)
    form = ("<form method='get' action='/admin/users' class='actions' role='search'>"
            "<div><label for='q'>Search end user</label>"
            f"<input id='q' name='q' value='{escape(q)}'></div><div><label for='status'>Status"
            f"</label><select id='status' name='status'><option value=''>any</option>{options}"
            "</select></div><div><label>&nbsp;</label><button type='submit'>Filter</button>"
            "</div></form>")
    return form + table(
        ["End user", "Tenant", "Status", "Strikes now", "Strikes in all", "Last seen"],
        [[user_link(r), e(r["tenant"]), (f"<span class='{e(r['status'])}'>{e(r['status'])}"
          "</span>"), e(r["strikes"]), e(r["strikes_total"]), e(when(r.get("last_seen")))]
         for r in rows], "End users", "No end user matches.")


def user(detail: dict[str, Any]) -> str:
    query = urlencode({"tenant": detail["tenant"]})
    base = f"/admin/users/{quote(detail['end_user'], safe='')}"
    buttons = "".join(
        f"<a class='button{' danger' if a in ('ban', 'suspend') else ''}' "
        f"href='{base}/confirm?{query}&amp;action={a}'>{a.capitalize()}</a>"
        for a in ("suspend", "ban", "unban", "reset"))
    facts = table(["Status", "Until", "Reason", "Strikes now", "Strikes in all", "First seen",
                   "Last seen"],
                  [[(f"<span class='{e(detail['status'])}' id='status'>{e(detail['status'])}"
                    "</span>"), e(when(detail.get("until"))), e(detail.get("reason")),
                    e(detail["strikes"]), e(detail["strikes_total"]),
                    e(when(detail.get("first_seen"))), e(when(detail.get("last_seen")))]],
                  f"Tenant {detail['tenant']}", "")
    strikes = table(["When", "Reason", "Categories", "Source", "Request"],
                    [[e(when(s["ts"])), e(s["reason"]), e(", ".join(s["categories"])),
                      e(s["source"]), e(s.get("request_id"))]
                     for s in detail["strike_history"]], "Strike history (never text)",
                    "No strike.")
    actions = table(["When", "Action", "By", "Reason", "Until"],
                    [[e(when(a["ts"])), e(a["action"]), e(a["by"]), e(a.get("reason")),
                      e(when(a.get("until")))] for a in detail["actions"]],
                    "Who did what", "No action yet.")
    return (facts + f"<h2>Act</h2><div class='actions'>{buttons}</div>"
            f"<h2>Strikes</h2>{strikes}<h2>Actions</h2>{actions}")


def confirm(what: str, action_url: str, csrf: str, extra: str = "", danger: bool = True,
            back: str = "/admin/") -> str:
    return (f"<form method='post' action='{escape(action_url)}' class='card' "
            f"style='max-width:32rem'><p>{escape(what)}</p>"
            f"<input type='hidden' name='csrf' value='{escape(csrf)}'>{extra}"
            f"<p class='actions'><button type='submit' class='{'danger' if danger else ''}'>"
            f"Confirm</button><a href='{escape(back)}'>Cancel</a></p></form>")


def keys(rows: list[dict[str, Any]], usage: dict[str, dict[str, Any]], csrf: str) -> str:
    out = []
    for k in rows:
        used = usage.get(k["id"], {})
        warn = k.get("nearing_rotation")
        rotation = (f"<span class='warn'>{e(age(k.get('rotation_age')))}: rotate soon</span>"
                    if warn else e(age(k.get("rotation_age"))))
        acts = ""
        if k["status"] in ("active", "grace"):
            acts = (f"<a class='button' href='/admin/keys/{quote(k['id'])}/confirm?action="
                    f"rotate'>Rotate</a> <a class='button danger' href='/admin/keys/"
                    f"{quote(k['id'])}/confirm?action=revoke'>Revoke</a>")
        limits = f"{k['rpm'] or '∞'} rpm / {k['tpm'] or '∞'} tpm"
        out.append([e(k["id"]), e(k["name"]), e(k["tenant"]), e(k["status"]), e(limits),
                    e(used.get("requests", 0)), e(used.get("refusals", 0)),
                    e(when(k.get("last_used_at"))), rotation, acts])
    create = ("<h2>Create a key</h2><form method='post' action='/admin/keys' class='card' "
              f"style='max-width:32rem'><input type='hidden' name='csrf' value='{escape(csrf)}'>"
              "<label for='name'>Name (also the tenant)</label><input id='name' name='name' "
              "required pattern='[A-Za-z0-9._-]{1,64}'><label for='rpm'>Requests per minute "
              "(empty: the default)</label><input id='rpm' name='rpm' inputmode='numeric'>"
              "<label for='tpm'>Tokens per minute</label><input id='tpm' name='tpm' "
              "inputmode='numeric'><p><button type='submit'>Create</button></p></form>")
    return table(["Id", "Name", "Tenant", "Status", "Limits", "Requests (30 d)",
                  "Refused (30 d)", "Last used", "Rotation age", ""], out, "Virtual keys",
                 "No key yet.") + create


def upstream_keys(rows: list[dict[str, Any]]) -> str:
    """The upstream keys (OpenAI projects) and their standing: which project is at risk."""
    out = []
    for u in rows:
        day = u["windows"]["24h"]
        due = u.get("nearing_rotation")
        shown_age = (f"<span class='warn'>{e(age(u.get('age')))}: rotate soon</span>" if due
                     else e(age(u.get("age"))))
        out.append([e(u["name"]), e(u.get("project")), e(u.get("fingerprint")), shown_age,
                    e(u["virtual_keys"]), e(day["requests"]),
                    e(day["refusals"] + day["flagged"]), e(day["upstream_policy"]),
                    e(day["upstream_429"] + day["insufficient_quota"]),
                    f"<span class='{e(u['level'])}'>{e(u['score'])} {e(u['level'])}</span>"])
    return "<h2>Upstream keys</h2>" + table(
        ["Name", "Project", "Key", "Age", "Virtual keys", "Requests (24 h)",
         "Refused or flagged", "OpenAI policy errors", "429 / quota", "Standing"], out,
        "Upstream keys, the worst standing first (24 h figures; standing over 1 h to 7 d)",
        "No upstream key.")


def secret(key: dict[str, Any], what: str) -> str:
    return (f"<div class='card'><p>{escape(what)} Copy the key now: it is shown this once and "
            f"never again.</p><p class='secret' id='secret'>{e(key['key'])}</p>"
            f"<p>Id {e(key['id'])}, name {e(key['name'])}.</p>"
            "<p><a href='/admin/keys'>Back to keys</a></p></div>")


def alerts(rows: list[dict[str, Any]] | None) -> str:
    if rows is None:
        return "<p class='muted'>This gateway records no alerts.</p>"
    return table(["When", "Severity", "Rule", "Summary", "Status", "Deliveries"],
                 [[e(when(a["at"])), e(a.get("severity")), e(a.get("rule")), e(a.get("summary")),
                   e(a["status"]), e("; ".join(
                       f"{d['target']}: {'ok' if d['ok'] else 'failed'} after {d['attempts']}"
                       for d in a["deliveries"]))] for a in rows],
                 "Recent alerts, newest first", "No alert yet.")


def resolution(incident: dict[str, Any]) -> str:
    if incident["resolved_at"] is None:
        return ("open: waiting for an operator" if incident["kind"] == "enforcement_webhook"
                else "open")
    if incident["resolved_by"] == "auto":
        return f"cleared by itself ({when(incident['resolved_at'])})"
    return f"resolved by {incident['resolved_by']} ({when(incident['resolved_at'])})"


def incidents(rows: list[dict[str, Any]], status: str | None) -> str:
    links = " ".join(f"<a href='/admin/incidents{q}'"
                     f"{' aria-current=page' if s == status else ''}>{label}</a>"
                     for s, q, label in ((None, "", "all"), ("open", "?status=open", "open"),
                                         ("resolved", "?status=resolved", "resolved")))
    out = []
    for i in rows:
        notes = "<br>".join(f"{e(n['by'])}: {e(n['note'])}" for n in i["notes"])
        act = (f"<a class='button' href='/admin/incidents/{quote(i['id'])}/confirm'>"
               "Record resolution</a>")
        state = (f"<span class='{'warn' if i['status'] == 'open' else 'good'}'>"
                 f"{e(resolution(i))}</span>")
        out.append([f"<span style='white-space:nowrap'>{e(i['id'])}</span>", e(i["title"]), e(when(i["opened_at"])),
                    e(when(i["last_seen"])), e(i["requests"]), e(i["refused"]), e(i["passed"]),
                    state, notes or "-", act])
    return (f"<p>Show: {links}</p>" + table(
        ["Id", "Incident", "Opened", "Last seen", "Requests", "Refused", "Passed unmoderated",
         "Status", "What was changed", ""], out,
        "Incidents of the last 30 days, newest first (derived from the audit log)",
        "No incident in the last 30 days."))
