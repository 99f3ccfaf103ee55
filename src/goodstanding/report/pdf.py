"""The compliance report as PDF: the HTML page (``html.render``) laid out by WeasyPrint.

WeasyPrint is the optional ``pdf`` extra (``pip install 'goodstanding[pdf]'``; it needs the
system's Pango). The page has no external resource (inline CSS and SVG), so no URL is
fetched: WeasyPrint is given no base URL and a fetcher that refuses everything.
"""

from __future__ import annotations

import warnings
from typing import Any

EXTRA = "pip install 'goodstanding[pdf]'"


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or the Pango it needs) is not installed."""


def available() -> None:
    """Raise ``PdfUnavailable`` with the one line to run when PDF cannot be made here."""
    try:
        with warnings.catch_warnings():  # a missing optional system library is WeasyPrint's
            warnings.simplefilter("ignore")  # note to packagers, not the operator's concern
            import weasyprint  # noqa: F401
    except ImportError:
        raise PdfUnavailable(f"--format pdf needs the pdf extra: {EXTRA}") from None
    except OSError as exc:  # the Python package is there, the system's Pango is not
        raise PdfUnavailable(f"--format pdf needs Pango for WeasyPrint ({exc}); "
                             "on Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0"
                             ) from None


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"the report fetches nothing ({url[:40]})")


def render(html: str) -> bytes:
    available()
    from weasyprint import HTML

    return bytes(HTML(string=html, url_fetcher=_no_fetch).write_pdf())
