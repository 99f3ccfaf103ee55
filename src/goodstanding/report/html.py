"""The compliance report as one self-contained HTML page: tables and inline SVG charts, no
script, no network fetch (it is attached to an appeal and opened anywhere)."""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Any


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def resolution_text(incident: dict[str, Any]) -> str:
    """Who resolved it and when, then what the operators recorded."""
    if incident["resolved_at"] is None:
        head = "open" if incident["kind"] != "enforcement_webhook" else \
            "open: waiting for an operator's answer"
    elif incident["resolved_by"] == "auto":
        head = f"cleared by itself at {_when(incident['resolved_at'])} (no failure since)"
    else:
        head = f"resolved by {incident['resolved_by']} at {_when(incident['resolved_at'])}"
    notes = [f"{n['by']} ({_when(n['at'])}): {n['note']}" for n in incident["notes"]]
    return "; ".join([head, *notes])


def _pct(share: float | None) -> str:
    return "n/a (no requests)" if share is None else f"{share * 100:.2f} %"


def _table(headers: list[str], rows: list[list[Any]], caption: str, empty: str) -> str:
    if not rows:
        return f"<p class='empty'>{escape(empty)}</p>"
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return (f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def bars(points: list[tuple[str, float]], title: str, width: int = 640, height: int = 160
         ) -> str:
    """A bar chart as inline SVG (also used by the dashboard)."""
    if not points:
        return f"<p class='empty'>{escape(title)}: no data in the period.</p>"
    top = max(v for _, v in points) or 1
    step = width / len(points)
    parts = [(f"<svg role='img' aria-label='{escape(title)}' viewBox='0 0 {width} {height + 20}' "
             f"class='chart' xmlns='http://www.w3.org/2000/svg'><title>{escape(title)}</title>")]
    for i, (label, value) in enumerate(points):
        h = (height - 10) * value / top
        x = i * step + step * 0.1
        parts.append(f"<rect class='bar' x='{x:.1f}' y='{height - h:.1f}' "
                     f"width='{step * 0.8:.1f}' height='{h:.1f}' fill='#1f5fa8'>"
                     f"<title>{escape(label)}: {value:g}</title></rect>")
    parts.append(f"<text x='0' y='{height + 16}' font-size='11'>{escape(points[0][0])}</text>")
    parts.append(f"<text x='{width}' y='{height + 16}' font-size='11' text-anchor='end'>"
                 f"{escape(points[-1][0])}</text></svg>")
    return "".join(parts)


CSS = """body{font:15px/1.5 system-ui,sans-serif;color:#111;max-width:60rem;margin:2rem auto;
padding:0 1rem}h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #bbb}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border:1px solid #bbb;
padding:.25rem .5rem;text-align:left}caption{text-align:left;font-weight:600}
.chart{width:100%;max-width:40rem;height:auto}.figure{font-size:1.4rem;font-weight:700}
.empty{color:#444;font-style:italic}"""


def render(report: dict[str, Any]) -> str:
    period = report["period"]
    cov = report["coverage"]
    enf = report["enforcement"]
    standing = report["standing"]
    policy = report["policy"]
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           "<meta name='viewport' content='width=device-width, initial-scale=1'>",
           "<title>goodstanding compliance report</title>", f"<style>{CSS}</style></head><body>",
           "<h1>Compliance report</h1>",
           (f"<p>Period: <time id='since'>{_when(period['since'])}</time> to "
           f"<time id='until'>{_when(period['until'])}</time>. Generated "
           f"{_when(report['generated_at'])} by goodstanding. No prompt or answer text and no "
           "secret appears in this report.</p>")]
    out.append("<h2>Traffic</h2>")
    out.append(f"<p>Requests: <span class='figure' id='requests'>{report['traffic']['requests']}"
               "</span></p>")
    out.append(_table(["Decision", "Requests"], [[k, v] for k, v in
                      report["traffic"]["decisions"].items()], "Requests by decision",
                      "No request in the period."))
    out.append(bars([(d["day"], d["requests"]) for d in standing["days"]], "Requests per day"))
    out.append("<h2>Coverage</h2>")
    out.append(_table(["Measure", "Value"], [
        ["Requests forwarded upstream", cov["forwarded"]],
        ["Forwarded requests moderated on input", cov["input_moderated"]],
        ["Input coverage", _pct(cov["input_share"])],
        ["Answers released or withheld", cov["answered"]],
        ["Answers moderated on output", cov["output_moderated"]],
        ["Output coverage", _pct(cov["output_share"])]], "Moderation coverage", ""))
    out.append(_table(["Exception", "Requests", "First", "Last"],
                      [[e["reason"], e["requests"], _when(e["first"]), _when(e["last"])]
                       for e in cov["exceptions"]],
                      "Exceptions (moderation unavailable, or a file or audio it cannot read)",
                      "No exception: moderation answered for every request."))
    out.append("<h2>Flags</h2>")
    out.append(_table(["Category", "Side", "Outcome", "Count"],
                      [[f["category"], f["side"], f["outcome"], f["count"]]
                       for f in report["flags"]], "Flags by category and outcome",
                      "No flag in the period."))
    out.append("<h2>Enforcement</h2>")
    out.append(f"<p>Strikes: <span id='strikes'>{enf['strikes']}</span>; suspensions: "
               f"<span id='suspensions'>{enf['suspensions']}</span>; bans: "
               f"<span id='bans'>{enf['bans']}</span>.</p>")
    out.append(_table(["When", "End user", "Action", "By", "Reason"],
                      [[_when(a["ts"]), a["end_user"], a["action"], a["by"], a["reason"] or "-"]
                       for a in enf["action_list"]], "Actions on end users",
                      "No action on an end user in the period."))
    out.append(_table(["When", "End user", "Reason", "Categories", "Source"],
                      [[_when(s["ts"]), s["end_user"], s["reason"], ", ".join(s["categories"]),
                        s["source"]] for s in enf["strike_list"]], "Strikes",
                      "No strike in the period."))
    out.append("<h2>Enforcement webhooks from OpenAI</h2>")
    out.append(_table(["When", "Status", "End user", "Action taken"],
                      [[_when(w["ts"]), w["status"], w["end_user"] or "-",
                        ", ".join(w["reasons"])] for w in report["webhooks"]],
                      "Webhooks received", "No enforcement webhook in the period."))
    out.append("<h2>Incidents and their resolution</h2>")
    out.append(_table(["Id", "Incident", "Opened", "Last seen", "Requests", "Refused",
                       "Passed unmoderated", "Status", "Resolution"],
                      [[i["id"], i["title"], _when(i["opened_at"]), _when(i["last_seen"]),
                        i["requests"], i["refused"], i["passed"], i["status"], resolution_text(i)]
                       for i in report["incidents"]], "Incidents in the period",
                      "No incident in the period."))
    out.append(_table(["When", "Severity", "Rule", "Summary", "Delivery"],
                      [[_when(a["at"]), a["severity"] or "-", a["rule"] or "-",
                        a["summary"] or "-", a["status"]] for a in report["alerts"]],
                      "Alerts raised in the period", "No alert was raised in the period."))
    out.append("<h2>Keys and administration</h2>")
    out.append(_table(["When", "Key", "By"], [[_when(r["ts"]), r["key_id"], r["by"] or "-"]
                                               for r in report["key_rotations"]],
                      "Key rotations", "No key rotation in the period."))
    out.append(_table(["Admin action", "Count"], list(map(list, report["admin_actions"].items())),
                      "Admin actions", "No admin action in the period."))
    out.append("<h2>Standing score</h2>")
    out.append(f"<p>Over the period: <span class='figure' id='score'>{standing['score']}</span> "
               "/ 100 (an estimate of how close the organization came to an OpenAI warning; "
               "0 is clean).</p>")
    out.append(bars([(d["day"], d["score"]) for d in standing["days"]], "Standing score per day"))
    out.append(_table(["Signal", "Points"], list(map(list, standing["contributions"].items())),
                      "What the score is made of", "No signal weighed on the score."))
    out.append("<h2>Content policy</h2>")
    out.append(f"<p>Version in force: <span id='policy-version'>{policy['policy_version']}</span>"
               f"; acceptance required: {'yes' if policy['require_acceptance'] else 'no'}; "
               f"share of requests from end users who accepted it: "
               f"{_pct(policy['accepted_share'])} ({policy['accepted_calls']} of "
               f"{policy['calls']}).</p>")
    out.append("<h2>Protection in force</h2>")
    for section, values in report["configuration"].items():
        out.append(_table(["Setting", "Value"], [[k, json.dumps(v)] for k, v in values.items()],
                          section, ""))
    out.append("</body></html>")
    return "\n".join(out)
