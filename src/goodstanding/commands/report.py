"""``goodstanding report`` — the compliance report for an appeal: what protection was on over
a period and what it did (docs/report.md has the JSON schema). HTML (self-contained, charts
inline), JSON, or PDF (the HTML laid out by WeasyPrint: the optional ``pdf`` extra)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from goodstanding.commands import add_config, opened_store, settings_of
from goodstanding.commands.output import Progress
from goodstanding.settings import parse_duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--since", default="30d",
                        help="the period: this long before now (30d, 24h, 90m)")
    parser.add_argument("--format", choices=("html", "json", "pdf"), default="html",
                        help="html (one self-contained page), json (docs/report.md) or pdf "
                             "(needs the pdf extra: pip install 'goodstanding[pdf]')")
    parser.add_argument("--out", metavar="FILE",
                        help="write the report here instead of standard output")


def run(args: argparse.Namespace) -> int:
    from goodstanding.report import build
    from goodstanding.report.html import render

    settings = settings_of(args)
    try:
        span = parse_duration(args.since)
    except ValueError:
        print(f"goodstanding: --since {args.since!r}: write a duration such as 30d or 24h",
              file=sys.stderr)
        return 2
    if args.format == "pdf":
        from goodstanding.report.pdf import PdfUnavailable, available

        try:
            available()  # before reading a large audit log for nothing
        except PdfUnavailable as exc:
            print(f"goodstanding: {exc}", file=sys.stderr)
            return 2
    now = time.time()

    async def go() -> dict:
        async with opened_store(settings) as store:
            progress = Counting("audit records read", every=5.0)
            try:
                return await build(store, settings, now - span, now, progress.update)
            finally:
                progress.close()

    report = asyncio.run(go())
    if args.format == "json":
        import orjson

        data = orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"
    elif args.format == "pdf":
        from goodstanding.report.pdf import render as pdf

        data = pdf(render(report))
    else:
        data = render(report).encode("utf-8")
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"report written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


class Counting(Progress):
    """``Progress`` for a count whose total is unknown until the end (the audit records of
    the period): ``N so far`` while it runs, ``N`` once done."""

    def __init__(self, what: str, every: float = 10.0) -> None:
        super().__init__(0, what, every=every)
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        text = f"{self.what}: {done}"
        if self.terminal:
            print(f"\r{text}", end="", file=self.out, flush=True)
            self.shown = True
        elif time.monotonic() - self.last >= self.every:
            print(text, file=self.out, flush=True)
            self.last = time.monotonic()

    def close(self) -> None:
        if self.terminal and self.shown:
            print(file=self.out, flush=True)
        elif not self.terminal:
            print(f"{self.what}: {self.done}", file=self.out, flush=True)
