"""``goodstanding scan PATH...``: leaked OpenAI and goodstanding keys; exit 1 when any is found."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from goodstanding.commands import fail, print_json
from goodstanding.credentials import scan

DEFAULT_ALLOWLIST = ".goodstanding-scan-allow"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Find OpenAI keys (sk-…, sk-proj-…, sk-svcacct-…, sk-admin-…) and goodstanding keys "
        "(gsk-…) in source trees, built bundles, .env files and, for a git repository, every "
        "commit of its history. Exit 1 when any is found.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("--no-history", action="store_true",
                        help="skip git history (a repository's working tree is still scanned)")
    parser.add_argument("--allowlist", metavar="FILE",
                        help="fingerprints (fp:…) and path globs to ignore, one a line "
                             f"(default: {DEFAULT_ALLOWLIST} when present)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress on stderr (default: when stderr is a terminal)")


def run(args: argparse.Namespace) -> int:
    roots = [Path(p) for p in args.paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        return fail(f"no such file or directory: {', '.join(missing)}", 2)
    allow_path = Path(args.allowlist) if args.allowlist else Path(DEFAULT_ALLOWLIST)
    if args.allowlist and not allow_path.is_file():
        return fail(f"no allowlist file {allow_path}", 2)
    allow = scan.Allowlist.read(allow_path) if allow_path.is_file() else scan.Allowlist()
    show = sys.stderr.isatty() if args.progress is None else args.progress
    tick = scan.ticker(sys.stderr) if show else (lambda p: None)
    findings, progress = scan.scan(roots, history=not args.no_history, allow=allow, tick=tick)
    if show:
        sys.stderr.write("\r")
    if args.json:
        print_json({"findings": [f.as_dict() for f in findings], "files": progress.files,
                    "bytes": progress.bytes, "commits": progress.commits,
                    "skipped": progress.skipped})
    else:
        for f in findings:
            print(f"{f.where()}  {f.kind}  {f.preview}  fp:{f.fingerprint}")
        summary = (f"{len(findings)} key(s) found" if findings else "no keys found") + \
            f" in {progress.files} files ({progress.bytes / 1e6:.1f} MB), {progress.commits} commits"
        print(summary, file=sys.stderr)
        for path in progress.skipped:
            print(f"skipped (over {scan.MAX_BYTES // 2**20} MB): {path}", file=sys.stderr)
    return 1 if findings else 0
