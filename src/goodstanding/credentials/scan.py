"""Finding leaked keys: OpenAI keys and goodstanding virtual keys in files and git history.

What is matched (bytes regexes, so minified bundles and odd encodings cost nothing extra):

- OpenAI project, service-account and admin keys: ``sk-proj-…``, ``sk-svcacct-…``,
  ``sk-admin-…`` (20+ key characters);
- OpenAI legacy user keys: ``sk-`` + 48 letters and digits, or the ``T3BlbkFJ`` shape;
- goodstanding virtual keys: ``gsk-<12>-<43>``.

Placeholders (``sk-proj-xxxxxxxx…``, few distinct characters) are skipped. Each finding has a
fingerprint (the first 16 hex digits of the key's SHA-256) that an allowlist file may name, so a
known test key can be allowed without writing the key itself anywhere. Previews are redacted:
the kind, two characters after it and the last four, never the middle.

Git history: every commit reachable from any ref (``git log --all -p``), added lines only, so a
key committed once and removed later is found at the commit that added it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

_TAIL = rb"(?![A-Za-z0-9_-])"
PATTERNS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("openai-project-key", re.compile(rb"(?<![A-Za-z0-9_-])sk-proj-[A-Za-z0-9_-]{20,}" + _TAIL)),
    ("openai-service-account-key",
     re.compile(rb"(?<![A-Za-z0-9_-])sk-svcacct-[A-Za-z0-9_-]{20,}" + _TAIL)),
    ("openai-admin-key", re.compile(rb"(?<![A-Za-z0-9_-])sk-admin-[A-Za-z0-9_-]{20,}" + _TAIL)),
    ("openai-key", re.compile(
        rb"(?<![A-Za-z0-9_-])sk-(?:[A-Za-z0-9]{48}|[A-Za-z0-9_-]{0,40}[A-Za-z0-9]{20}T3BlbkFJ"
        rb"[A-Za-z0-9]{20})" + _TAIL)),
    ("goodstanding-key",
     re.compile(rb"(?<![A-Za-z0-9_-])gsk-[a-z0-9]{12}-[A-Za-z0-9_-]{43}" + _TAIL)),
)
_NEEDLES = (b"sk-", b"gsk-")
SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache",
                       ".ruff_cache", ".pytest_cache", ".tox"})
MAX_BYTES = 256 * 1024 * 1024  # larger files are skipped (and named)
_TEXTISH = frozenset({".js", ".mjs", ".map", ".json", ".bundle", ".txt"})
PREVIEW_CONTEXT = 24


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    path: str
    line: int
    column: int
    fingerprint: str
    preview: str
    commit: str | None = None

    def where(self) -> str:
        at = f"{self.path}:{self.line}:{self.column}"
        return f"{self.commit[:12]}:{at}" if self.commit else at

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "path": self.path, "line": self.line,
                "column": self.column, "commit": self.commit,
                "fingerprint": self.fingerprint, "preview": self.preview}


@dataclass
class Allowlist:
    """Fingerprints (``fp:0123abcd…`` or bare hex, 12+ digits) and path globs, one a line."""

    fingerprints: tuple[str, ...] = ()
    globs: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path) -> Allowlist:
        prints, globs = [], []
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            bare = line.removeprefix("fp:")
            if re.fullmatch(r"[0-9a-f]{12,64}", bare):
                prints.append(bare)
            else:
                globs.append(line)
        return cls(tuple(prints), tuple(globs))

    def allows(self, finding: Finding) -> bool:
        if any(finding.fingerprint.startswith(p[:16]) for p in self.fingerprints):
            return True
        return any(fnmatch.fnmatch(finding.path, g) or fnmatch.fnmatch(Path(finding.path).name, g)
                   for g in self.globs)


def fingerprint(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()[:16]


def redact(secret: bytes) -> str:
    text = secret.decode("ascii", "replace")
    head = next((p for p in ("sk-proj-", "sk-svcacct-", "sk-admin-", "gsk-", "sk-")
                 if text.startswith(p)), "")
    return f"{text[:len(head) + 2]}…{text[-4:]}"


def _placeholder(secret: bytes) -> bool:
    body = secret.split(b"-", 2)[-1] if secret.startswith(b"sk-") else secret[4:]
    return len(set(body)) < 8


def find(data: bytes) -> Iterator[tuple[str, int, bytes]]:
    """(kind, offset, secret) of each key in ``data``."""
    if not any(needle in data for needle in _NEEDLES):
        return
    seen: set[int] = set()
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(data):
            if match.start() in seen or _placeholder(match.group()):
                continue
            seen.add(match.start())
            yield kind, match.start(), match.group()


def findings_in(data: bytes, path: str, commit: str | None = None,
                first_line: int = 1) -> list[Finding]:
    out = []
    for kind, offset, secret in find(data):
        line_start = data.rfind(b"\n", 0, offset) + 1
        line = first_line + data.count(b"\n", 0, offset)
        before = data[max(line_start, offset - PREVIEW_CONTEXT):offset]
        end = offset + len(secret)
        line_end = data.find(b"\n", end)
        after = data[end:min(end + PREVIEW_CONTEXT, len(data) if line_end < 0 else line_end)]
        preview = (before.decode("utf-8", "replace") + redact(secret) +
                   after.decode("utf-8", "replace")).strip()
        out.append(Finding(kind, path, line, offset - line_start + 1, fingerprint(secret),
                           preview, commit))
    return out


@dataclass
class Progress:
    files: int = 0
    bytes: int = 0
    commits: int = 0
    skipped: list[str] = field(default_factory=list)


def scan_files(root: Path, progress: Progress,
               tick: Callable[[Progress], None] = lambda p: None) -> Iterator[Finding]:
    for path in _walk(root):
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                progress.skipped.append(str(path))
                continue
            data = path.read_bytes()
        except OSError:
            continue
        progress.files += 1
        progress.bytes += size
        tick(progress)
        if b"\0" in data[:8192] and path.suffix not in _TEXTISH:
            continue  # binary (images, archives): not where a key is pasted
        yield from findings_in(data, str(path))


def _walk(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(folder, name)
            if not path.is_symlink():
                yield path


def is_repository(root: Path) -> bool:
    return root.is_dir() and (root / ".git").exists()


_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def scan_history(root: Path, progress: Progress,
                 tick: Callable[[Progress], None] = lambda p: None) -> Iterator[Finding]:
    """Keys on lines added by any commit reachable from any ref, where they were added."""
    command = ["git", "-C", str(root), "log", "--all", "-p", "--no-color", "--no-ext-diff",
               "--no-renames", "--format=commit %H", "-U0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    commit = path = None
    line = 0
    reported: set[tuple[str, str]] = set()
    found: list[Finding] = []
    try:
        for raw in process.stdout:
            if raw.startswith(b"commit "):
                commit = raw[7:].strip().decode()
                progress.commits += 1
                tick(progress)
            elif raw.startswith(b"+++ "):
                name = raw[4:].rstrip(b"\n")
                path = None if name == b"/dev/null" else name.removeprefix(b"b/").decode(
                    "utf-8", "replace")
            elif raw.startswith(b"@@"):
                hunk = _HUNK.match(raw)
                line = int(hunk.group(1)) if hunk else 0
            elif raw.startswith(b"+") and path is not None:
                # newest first; the oldest is where it was added
                found.extend(findings_in(raw[1:], path, commit, first_line=line))
                line += 1
    finally:
        process.stdout.close()
        process.wait()
    for finding in reversed(found):
        if (finding.fingerprint, finding.path) not in reported:
            reported.add((finding.fingerprint, finding.path))
            yield finding


def scan(paths: Iterable[Path], *, history: bool = True, allow: Allowlist | None = None,
         tick: Callable[[Progress], None] = lambda p: None) -> tuple[list[Finding], Progress]:
    progress = Progress()
    allow = allow or Allowlist()
    found: list[Finding] = []
    for root in paths:
        found.extend(scan_files(root, progress, tick))
        if history and is_repository(root):
            found.extend(scan_history(root, progress, tick))
    return [f for f in found if not allow.allows(f)], progress


def ticker(stream: TextIO, every: float = 0.5) -> Callable[[Progress], None]:
    """Progress on a terminal: files, megabytes and commits, at most every ``every`` s."""
    state = {"next": time.monotonic() + every}

    def tick(progress: Progress) -> None:
        now = time.monotonic()
        if now >= state["next"]:
            state["next"] = now + every
            stream.write(f"\rscanned {progress.files} files, {progress.bytes / 1e6:.1f} MB, "
                         f"{progress.commits} commits")
            stream.flush()

    return tick
