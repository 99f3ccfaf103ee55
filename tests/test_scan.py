"""`goodstanding scan`: keys in source trees, bundles, .env files and git history."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from goodstanding.cli import main
from goodstanding.credentials import keys, scan

ALNUM = string.ascii_letters + string.digits


def _random(n: int, alphabet: str = ALNUM + "_-") -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _project_key() -> str:
    return "sk-proj-" + _random(40) + "T3BlbkFJ" + _random(40)


KINDS = {
    "openai-project-key": _project_key,
    "openai-service-account-key": lambda: "sk-svcacct-" + _random(60),
    "openai-admin-key": lambda: "sk-admin-" + _random(60),
    "openai-key": lambda: "sk-" + _random(48, ALNUM),
    "goodstanding-key": lambda: keys.new_key().token,
}


def _scan(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["scan", "--no-progress", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_is_found_in_an_env_file(tmp_path, capsys, kind):
    secret = KINDS[kind]()
    (tmp_path / ".env").write_text(f"# settings\nDEBUG=1\nAPI_KEY={secret}\n")
    code, out, _ = _scan(capsys, str(tmp_path))
    assert code == 1
    assert f".env:3:9  {kind}" in out
    assert secret not in out and secret[-4:] in out


def test_a_key_in_a_built_js_bundle_is_found_with_a_redacted_preview(tmp_path, capsys):
    secret = _project_key()
    bundle = tmp_path / "dist" / "assets" / "index-4f2a.min.js"
    bundle.parent.mkdir(parents=True)
    filler = "".join(f"function a{i}(b){{return b*{i}}};" for i in range(5000))
    bundle.write_text(f'{filler}const c={{apiKey:"{secret}",baseURL:"https://api"}};{filler}')
    code, out, err = _scan(capsys, str(tmp_path))
    assert code == 1 and "1 key(s) found" in err
    (line,) = out.splitlines()
    column = len(filler) + len('const c={apiKey:"') + 1
    assert line.startswith(f"{bundle}:1:{column}  openai-project-key")
    assert secret not in line and secret[8:-4] not in line
    assert 'apiKey:"sk-proj-' in line and "fp:" + scan.fingerprint(secret.encode()) in line


def test_a_clean_tree_passes(tmp_path, capsys):
    (tmp_path / "app.py").write_text('client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])\n')
    (tmp_path / "README.md").write_text("Set OPENAI_API_KEY=sk-... or sk-proj-xxxxxxxxxxxxxxxxxxxxxxxx\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\0\0" + _project_key().encode())
    code, out, err = _scan(capsys, str(tmp_path))
    assert code == 0 and out == "" and "no keys found in 3 files" in err


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
         "-c", "commit.gpgsign=false", *args],
        check=True, capture_output=True, text=True).stdout


def test_a_key_committed_then_removed_is_found_in_history(tmp_path, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "config.py").write_text("DEBUG = True\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "start")
    secret = "sk-svcacct-" + _random(60)
    (repo / "config.py").write_text(f'DEBUG = True\nKEY = "{secret}"\n')
    _git(repo, "commit", "-qam", "oops")
    leaked_in = _git(repo, "rev-parse", "HEAD").strip()
    (repo / "config.py").write_text('DEBUG = True\nKEY = os.environ["KEY"]\n')
    _git(repo, "commit", "-qam", "remove the key")
    _git(repo, "checkout", "-qb", "other")  # history on every branch is scanned
    code, out, _ = _scan(capsys, str(repo))
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith(f"{leaked_in[:12]}:config.py:2:8  openai-service-account-key")
    assert secret not in out
    code, out, _ = _scan(capsys, "--no-history", str(repo))
    assert code == 0 and out == ""
    code, out, _ = _scan(capsys, "--json", str(repo))
    document = json.loads(out)
    assert document["commits"] == 3 and document["findings"][0]["commit"] == leaked_in


def test_the_allowlist_takes_fingerprints_and_path_globs(tmp_path, capsys):
    tree = tmp_path / "tree"
    (tree / "fixtures").mkdir(parents=True)
    allowed, globbed, reported = _project_key(), _project_key(), _project_key()
    (tree / "a.py").write_text(f"K1 = '{allowed}'\nK3 = '{reported}'\n")
    (tree / "fixtures" / "keys.json").write_text(json.dumps({"k": globbed}))
    allow = tmp_path / "allow"
    allow.write_text(f"# known test key\nfp:{scan.fingerprint(allowed.encode())}\n"
                     "*/fixtures/*\n")
    code, out, _ = _scan(capsys, "--allowlist", str(allow), str(tree))
    assert code == 1 and len(out.splitlines()) == 1 and "a.py:2:" in out
    assert _scan(capsys, "--allowlist", str(tmp_path / "missing"), str(tree))[0] == 2


def test_placeholders_and_look_alikes_are_not_keys():
    text = (b"sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx sk-... task-" + b"a1" * 30 +
            b" mask-proj-" + _project_key().encode()[8:] + b" sk-short123")
    assert list(scan.find(text)) == []


def test_the_pre_commit_hook_runs_the_scanner():
    (hook,) = yaml.safe_load(Path(__file__).parents[1].joinpath(".pre-commit-hooks.yaml")
                             .read_text())
    assert hook["id"] == "goodstanding-scan" and hook["entry"].startswith("goodstanding scan")
    assert hook["language"] == "python"


@given(st.sampled_from(sorted(KINDS)), st.text(max_size=40), st.text(max_size=40))
def test_a_preview_never_holds_the_key(kind, before, after):
    secret = KINDS[kind]()
    data = f"{before} {secret} {after}".encode()
    found = scan.findings_in(data, "f")
    assert [f.kind for f in found] == [kind]
    assert secret not in found[0].preview and secret[10:-4] not in found[0].preview
