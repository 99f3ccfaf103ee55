"""The content policy generated from the configuration (issue 17): `GET /policy` and the CLI.

The page states what the running gateway enforces, so changing the configuration changes it:
a moderation category switched off leaves the refused list (and is then really let through).
Strike, suspension and ban messages name the policy section that was violated.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from goodstanding.cli import main
from goodstanding.enforcement.standing import Standing
from goodstanding.policy.render import SECTIONS, section_for

MODEL = "gpt-4o-mini"
VIOLENT = [{"role": "user", "content": "[[flag:violence]] tell me a story"}]
HELLO = [{"role": "user", "content": "hello there"}]


def page(gw, fmt: str | None = None) -> httpx.Response:
    params = {"format": fmt} if fmt else None
    return httpx.get(f"{gw.url}/policy", params=params, timeout=10)


def test_a_category_switched_off_leaves_the_refused_list_and_is_served(start_gateway, sim):
    strict = start_gateway()
    refused = page(strict, "json").json()["refused_categories"]
    assert "violence" in refused and "violence/graphic" in refused
    assert 'id="category-violence"' in page(strict).text
    with pytest.raises(openai.BadRequestError) as caught:
        strict.client().chat.completions.create(model=MODEL, messages=VIOLENT,
                                                safety_identifier="reader")
    assert caught.value.code == "content_policy_violation"

    relaxed = start_gateway(GOODSTANDING_MODERATION__CATEGORIES="{violence: off}")
    refused = page(relaxed, "json").json()["refused_categories"]
    assert "violence" not in refused and "violence/graphic" in refused
    html = page(relaxed).text
    assert 'id="category-violence"' not in html and 'id="category-violence-graphic"' in html
    answer = relaxed.client().chat.completions.create(model=MODEL, messages=VIOLENT,
                                                      safety_identifier="reader")
    assert answer.choices[0].finish_reason == "stop"


def test_the_page_comes_as_html_markdown_and_json_with_stable_anchors(gw):
    html, md, document = page(gw), page(gw, "md"), page(gw, "json")
    assert html.headers["content-type"].startswith("text/html")
    assert md.headers["content-type"].startswith("text/markdown")
    assert document.headers["content-type"] == "application/json"
    ids = [s["id"] for s in document.json()["sections"]]
    assert ids == [s for s in SECTIONS if s in ids]  # page order, known anchors only
    for anchor in ("refused-content", "zero-tolerance", "jailbreaks", "violations", "limits",
                   "records", "countries", "acceptance"):
        assert anchor in ids
        assert f'<section id="{anchor}">' in html.text
        assert f'<a id="{anchor}"></a>' in md.text
    assert "x-request-id" in html.headers


def test_the_page_states_thresholds_limits_tiers_records_and_countries(start_gateway):
    gw = start_gateway(GOODSTANDING_STRIKES__SUSPEND_AT="4", GOODSTANDING_STRIKES__BAN_AT="7",
                       GOODSTANDING_STRIKES__SUSPEND_FOR="48h",
                       GOODSTANDING_LIMITS__END_USER__RPM="12",
                       GOODSTANDING_GEO__ALLOW="[US, DE]",
                       GOODSTANDING_POLICY__AUDIT_RETENTION="90d",
                       GOODSTANDING_DETECTORS__JAILBREAK="flag")
    sections = {s["id"]: s for s in page(gw, "json").json()["sections"]}
    violations = " ".join(sections["violations"]["text"])
    assert "at 4 they are suspended for 2 days; at 7 they are banned" in violations
    limits = [i["text"] for i in sections["limits"]["items"]]
    assert limits[0].startswith("anonymous: 12 requests a minute")
    assert limits[1].startswith("verified: 36 requests a minute")  # 3 × by default
    records = " ".join(sections["records"]["text"])
    assert "never records the text" in records and "kept for 90 days" in records
    assert sections["countries"]["text"][1] == "DE, US"
    assert "are recorded" in sections["jailbreaks"]["text"][0]


def test_the_operators_header_contact_version_and_wording_appear(start_gateway):
    gw = start_gateway(GOODSTANDING_POLICY__TITLE="Acme AI rules",
                       GOODSTANDING_POLICY__HEADER="Acme's assistant is for homework help.",
                       GOODSTANDING_POLICY__CONTACT="trust@acme.example",
                       GOODSTANDING_POLICY__VERSION="3",
                       GOODSTANDING_POLICY__TEXT='{"violence": "No gore, please."}')
    document = page(gw, "json").json()
    assert (document["title"], document["version"]) == ("Acme AI rules", 3)
    refused = next(s for s in document["sections"] if s["id"] == "refused-content")
    assert {"id": "category-violence", "text": "violence: No gore, please."} in refused["items"]
    html = page(gw).text
    assert "<title>Acme AI rules</title>" in html and "Version 3" in html
    assert "trust@acme.example" in html and "homework help" in html


def test_markup_in_operator_text_is_escaped(start_gateway):
    gw = start_gateway(GOODSTANDING_POLICY__HEADER="<script>alert(1)</script>")
    html = page(gw).text
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_an_unknown_format_is_a_clear_400(gw):
    answer = page(gw, "pdf")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"
    assert answer.json()["error"]["param"] == "format"


def test_the_cli_renders_what_the_server_serves(gw, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    assert main(["policy", "render", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == page(gw, "json").json()
    out = tmp_path / "policy.md"
    assert main(["policy", "render", "--format", "md", "--out", str(out)]) == 0
    assert out.read_text().rstrip("\n") == page(gw, "md").text.rstrip("\n")


def test_a_strike_warning_names_the_policy_section(gw):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=VIOLENT,
                                            safety_identifier="rude")
    warning = caught.value.response.headers["x-goodstanding-warning"]
    assert warning.startswith("strike 1 (content_policy_violation)")
    assert warning.endswith("policy: /policy#category-violence")


def test_ban_and_suspension_messages_name_the_policy_section(start_gateway):
    gw = start_gateway(GOODSTANDING_POLICY__URL="https://acme.example/ai-policy")
    gw.store_call("set_standing", Standing("test-app", "eve", "banned", None,
                                           "zero tolerance: content_policy_violation", 1.0),
                  _action("eve", "ban"))
    gw.store_call("set_standing", Standing("test-app", "sam", "suspended", 4e9,
                                           "3 strikes within the window (suspend at 3)", 1.0),
                  _action("sam", "suspend"))
    client = gw.client()
    with pytest.raises(openai.PermissionDeniedError) as banned:
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="eve")
    assert "https://acme.example/ai-policy#zero-tolerance" in banned.value.message
    with pytest.raises(openai.PermissionDeniedError) as suspended:
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="sam")
    assert "https://acme.example/ai-policy#violations" in suspended.value.message


def _action(end_user: str, kind: str):
    from goodstanding.enforcement.standing import Action

    return Action("test-app", end_user, 1.0, kind, "test", "test")


@pytest.mark.parametrize(("reasons", "categories", "zero", "anchor"), [
    (("content_policy_violation",), ("violence",), False, "category-violence"),
    (("content_policy_violation",), ("sexual/minors",), True, "zero-tolerance"),
    (("content_policy_violation",), (), False, "refused-content"),
    (("jailbreak_detected",), (), False, "jailbreaks"),
    (("upstream_cyber_policy",), ("cyber_policy",), False, "refused-content"),
    ("zero tolerance: content_policy_violation", (), False, "zero-tolerance"),
    ("5 strikes within the window (ban at 5)", (), False, "violations"),
    ("banned by an operator", (), False, "violations"),
])
def test_each_offence_names_its_section(reasons, categories, zero, anchor):
    assert section_for(reasons, categories, zero) == anchor
    assert anchor in SECTIONS or anchor.startswith("category-")


def test_the_local_screen_in_block_mode_keeps_a_switched_off_category_refused():
    from goodstanding.policy.render import refused_categories
    from goodstanding.settings import Settings

    off = {"moderation": {"categories": {"violence": "off"}}}
    assert "violence" not in refused_categories(Settings.model_validate(off))
    blocking = Settings.model_validate({**off, "detectors": {"content": "block"}})
    assert "violence" in refused_categories(blocking)
    quiet = Settings.model_validate({"moderation": {"input": "flag", "output": "off"}})
    assert refused_categories(quiet) == ()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"policy.text": {"violense": "typo"}}, "policy.text: Value error, violense: no such"),
    ({"moderation.categories": {"sexual/minors": "off"}}, "zero-tolerance category"),
    ({"policy.effective_at": "next tuesday"}, "not an ISO 8601 time"),
    ({"policy.grace": "a while"}, "not a duration"),
    ({"policy.version": 0}, "policy.version"),
])
def test_a_bad_policy_setting_stops_start_up(overrides, message):
    from goodstanding.errors import ConfigError
    from goodstanding.settings import load_settings

    with pytest.raises(ConfigError, match=message):
        load_settings(env={}, overrides=overrides)
