"""CLI output a person can read and a script can parse: tables with headers (plain when not a
terminal), ``--json`` for every listing, strike counts, precise empty listings, unknown tenants
named, progress only on a terminal."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import openai
import pytest

from goodstanding.cli import main
from goodstanding.commands.output import Progress, table
from goodstanding.credentials import keys

MODEL = "gpt-4o-mini"
FLAGGED = [{"role": "user", "content": "something bad [[fault:cyber_policy]]"}]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_table_is_plain_and_whole_off_a_terminal():
    out = io.StringIO()
    rows = [{"a": "x", "b": "a-long-value-" * 10}, {"a": "longer", "b": None}]
    table(rows, [("a", "A"), ("b", "BEE")], out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "A       BEE"
    assert lines[1] == "x       " + "a-long-value-" * 10
    assert lines[2] == "longer  -"
    assert "\033" not in out.getvalue()


def test_table_on_a_terminal_has_a_bold_header_and_fits(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Terminal()
    table([{"a": "x", "b": "v" * 100}], [("a", "A"), ("b", "B")], out)
    header, row = out.getvalue().splitlines()
    assert header.startswith("\033[1m") and header.endswith("\033[0m")
    assert len(row) <= 40 and row.endswith("…")


def test_progress_rewrites_a_line_only_on_a_terminal(monkeypatch):
    plain = io.StringIO()
    progress = Progress(3, "scored", plain, every=3600)
    for done in (1, 2, 3):
        progress.update(done)
    progress.close()
    assert plain.getvalue() == "scored 3/3\n"  # the last, and none in between within `every`
    terminal = Terminal()
    progress = Progress(2, "scored", terminal)
    progress.update(1)
    progress.update(2)
    progress.close()
    assert terminal.getvalue() == "\rscored 1/2\rscored 2/2\n"


def test_eval_in_a_pipe_prints_plain_progress_lines(tmp_path):
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("".join(json.dumps({"text": f"hello number {i}", "categories": []}) + "\n"
                               for i in range(1200)))
    done = subprocess.run([sys.executable, "-m", "goodstanding.cli", "eval", str(dataset),
                           "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    assert "scored 1200/1200" in done.stderr.splitlines()
    assert json.loads(done.stdout)["n"] == 1200


@pytest.fixture
def cli(gw, monkeypatch, capsys):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    gw.gateway.enforcer.cache.ttl = 0

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def strike(gw, user: str) -> None:
    with pytest.raises(openai.BadRequestError):
        gw.client().chat.completions.create(model=MODEL, messages=FLAGGED,
                                            safety_identifier=user)


def test_users_list_is_a_table_with_strike_counts(gw, cli):
    strike(gw, "mallory")
    strike(gw, "mallory")
    code, out, _ = cli("users", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TENANT", "END", "USER", "STATUS", "STRIKES", "SUSPENDED",
                                "UNTIL", "LAST", "REASON", "LAST", "CHANGE"]
    row = lines[1].split()
    assert row[:4] == ["test-app", "mallory", "active", "2"]
    assert "(-," not in out
    [listed] = json.loads(cli("users", "list", "--json")[1])
    assert listed["strikes"] == 2 and listed["end_user"] == "mallory"


def test_an_empty_status_filter_says_what_it_looked_for(gw, cli):
    code, out, _ = cli("users", "list", "--status", "suspended")
    assert code == 0 and out.strip() == "no suspended end users: none has strikes or actions yet"
    strike(gw, "mallory")
    code, out, _ = cli("users", "list", "--status", "suspended")
    assert out.strip() == ("no suspended end users (1 end users with strikes or actions, "
                           "none suspended now)")
    assert json.loads(cli("users", "list", "--status", "suspended", "--json")[1]) == []


def test_users_show_explains_each_column(gw, cli):
    strike(gw, "mallory")
    code, out, _ = cli("users", "show", "mallory")
    assert code == 0
    assert "(request)" not in out
    assert "FOUND BY" in out and "gateway check of a request" in out
    assert "STRIKE AT" in out and "upstream_cyber_policy" in out
    assert "strikes counting now: 1 (within strikes.window, 30d" in out


def test_tenants_are_named(gw, cli):
    gw.store_call("add_key", keys.VirtualKey("other0000000", "other", "other", "h", time.time()))
    code, _, err = cli("users", "show", "mallory")
    assert code == 2 and "2 tenants: other, test-app" in err
    code, _, err = cli("users", "ban", "someone", "--tenant", "no-such-tenant")
    assert code == 0
    assert "warning: no key has tenant 'no-such-tenant' (known tenants: other, test-app)" in err
    code, _, err = cli("users", "list", "--tenant", "nope")
    assert "known tenants: other, test-app" in err
    _, _, err = cli("users", "ban", "someone", "--tenant", "other")
    assert "warning" not in err


def test_keys_list_is_a_table_and_json(gw, cli):
    code, out, _ = cli("keys", "list")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "STATUS", "TIER"]
    assert row.split()[:4] == [gw.key_id, "test-app", "active", "anonymous"]
    assert gw.token not in out
    [listed] = json.loads(cli("keys", "list", "--json")[1])
    assert listed["id"] == gw.key_id
