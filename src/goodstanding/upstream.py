"""Talking to OpenAI (or any OpenAI-compatible upstream).

The one place that spends money. The upstream key is chosen here (the virtual key may name a
per-team key) and never leaves this module: it is not logged, not echoed, not in errors.
Upstream answers, errors included, are passed back with their rate-limit headers, except:

- a 401 or 403 is about the gateway's own key, never the client's: our own 502
  ``upstream_unavailable`` saying so (not retried), logged and alerted for the operator;
- an error body is relayed with any OpenAI key in it, masked or not, redacted;
- a 200 of a generation or embedding that is not a JSON object cannot be checked: our own 502;
- ``retry-after`` / ``retry-after-ms`` go on as whole, non-negative numbers of at most an
  hour, or not at all;
- transport failures become our own 502 ``upstream_unavailable``.

aiohttp is the client: on this machine it cost less CPU per proxied request than httpx/httpx2
(see bench/), and it streams with ``iter_any`` without re-chunking.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp
import orjson

from goodstanding import metrics
from goodstanding.abuse.upstream_limits import QUOTA_CODES, UpstreamLimits
from goodstanding.call import Call, Result
from goodstanding.errors import UpstreamCredentialsRefused, UpstreamUnavailable
from goodstanding.settings import Settings

log = logging.getLogger("goodstanding.upstream")

# client headers worth passing on; everything else (cookies, the virtual key, X-End-User,
# forwarding headers) stays here
_FORWARD_REQUEST = ("accept", "openai-beta", "idempotency-key", "x-stainless-retry-count")
_PASS_PREFIXES = ("x-ratelimit-", "openai-", "retry-after", "x-goodstanding-simulated")
_PASS_EXACT = {"content-type", "x-should-retry"}
_RETRY_AFTER = {"retry-after": 1, "retry-after-ms": 1000}  # name -> units per second
RETRY_AFTER_MAX = 3600  # s: what the gateway's own holds are bounded by (upstream_limits.py)
# OpenAI's 401 names the key it refused, masked (``sk-proj-ab****…wxyz``): never relayed
_OPENAI_KEY = re.compile(rb"(?<![A-Za-z0-9_-])sk-(?:[A-Za-z0-9_*-]|\xe2\x80\xa6|\\u2026)+")
REDACTED = b"[redacted key]"

# usage per upstream key (a team's or product's OpenAI project): "default" = upstream.key
UPSTREAM_REQUESTS = metrics.counter(
    "goodstanding_upstream_requests_total",
    "Requests sent upstream, by named upstream key and HTTP status class.", ("upstream", "status"))
UPSTREAM_TOKENS = metrics.counter(
    "goodstanding_upstream_tokens_total",
    "Tokens used upstream, by named upstream key and direction.", ("upstream", "direction"))


class Upstream(Protocol):
    async def send(self, call: Call) -> Result: ...

    async def close(self) -> None: ...


def pass_headers(headers: aiohttp.typedefs.LooseHeaders) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():  # type: ignore[union-attr]
        low = name.lower()
        if low in _RETRY_AFTER:
            bounded = _bounded_wait(value, _RETRY_AFTER[low])
            if bounded is not None:
                out[low] = bounded
        elif low in _PASS_EXACT or low.startswith(_PASS_PREFIXES):
            out[low] = value
        elif low == "x-request-id":
            out["x-upstream-request-id"] = value
    return out


class HttpUpstream:
    """An OpenAI-compatible HTTP upstream reached through one pooled aiohttp session."""

    def __init__(self, settings: Settings) -> None:
        self.base = settings.upstream.url.rstrip("/")
        self.settings = settings
        self.timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.upstream.connect_timeout,
            sock_read=settings.upstream.timeout,
        )
        self._session: aiohttp.ClientSession | None = None
        self.keyring = settings.keyring
        self.keyring.load()  # an unreadable reference stops start-up, not a request
        self.keyring.install_sighup()
        self.keyring.report_in_use()  # /metrics names the keys this process sends
        # OpenAI's x-ratelimit-* picture: our own 429 before theirs (abuse/upstream_limits.py)
        self.limits = UpstreamLimits(settings.signals.upstream)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, auto_decompress=True,
                skip_auto_headers=("User-Agent",), json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    def url_for(self, call: Call) -> str:
        # call.path is "/v1/…"; the upstream base already ends in /v1
        return self.base + call.path[3:]

    def request_headers(self, call: Call) -> dict[str, str]:
        name = call.key.upstream if call.key else None
        key = self.keyring.key(name)
        if key is None:  # never "Bearer None": start-up refuses this, a vanished env var not
            raise UpstreamUnavailable(f"No upstream key is configured for upstream "
                                      f"'{name or 'default'}'.")
        headers = {"authorization": f"Bearer {key}", "accept-encoding": "identity"}
        project = self.keyring.project(name)
        if project:
            headers["openai-project"] = project
        if call.method != "GET":
            headers["content-type"] = "application/json"
        for name in _FORWARD_REQUEST:
            if name in call.headers:
                headers[name] = call.headers[name]
        return headers

    async def send(self, call: Call) -> Result:
        upstream = _upstream_name(call)
        await self.limits.admit(call, upstream)
        # What was checked is what is sent: the parsed body, never the raw bytes, which a
        # parser other than ours may read differently (a key sent twice: orjson keeps the last
        # one, which moderation saw; a parser that keeps the first would see the other).
        data = orjson.dumps(call.body) if call.body is not None else call.raw_body
        try:
            response = await self.session.request(
                call.method,
                self.url_for(call),
                data=data if call.method != "GET" else None,
                headers=self.request_headers(call),
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("upstream unreachable for %s: %s", call.request_id, type(exc).__name__)
            raise UpstreamUnavailable("The upstream API could not be reached.") from None
        if not 100 <= response.status <= 599:  # no HTTP status: the answer cannot be passed on
            response.release()
            log.warning("upstream answered status %d for %s", response.status, call.request_id)
            raise UpstreamUnavailable("The upstream API gave an invalid answer.")
        UPSTREAM_REQUESTS.inc(upstream, f"{response.status // 100}xx")
        headers = pass_headers(response.headers)
        if response.status != 429:
            self.limits.observe(call, upstream, response.status, headers, None)
        streaming = response.status == 200 and "text/event-stream" in headers.get(
            "content-type", ""
        )
        if streaming:
            return Result(response.status, headers, stream=_relay(response, call))
        try:
            body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("upstream read failed for %s: %s", call.request_id, type(exc).__name__)
            raise UpstreamUnavailable("The upstream API closed the connection.") from None
        finally:
            response.release()
        if response.status >= 400:
            code = _error_code(body)
            if response.status in (401, 403):
                raise _credentials_refused(call, upstream, response.status, code)
            if response.status == 429:
                self.limits.observe(call, upstream, 429, headers, code)
                if code in QUOTA_CODES:  # an operator emergency: retrying cannot help
                    headers["x-should-retry"] = "false"
            return Result(response.status, headers, redact_keys(body), error_code=code)
        document = _usage_document(call, body)
        return Result(response.status, headers, body, document=document)

    async def close(self) -> None:
        self.keyring.report_in_use(False)  # a drained worker sends no key any more
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _relay(response: aiohttp.ClientResponse, call: Call) -> AsyncIterator[bytes]:
    """Upstream stream bytes as they arrive; closing early drops the upstream connection.

    A stream that breaks raises ``UpstreamUnavailable``, as a failed call does: the pipeline
    records it as one (502, ``upstream_unavailable``, an incident) and the shell tells the
    client with an error event."""
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.warning("upstream stream broke for %s: %s", call.request_id, type(exc).__name__)
        raise UpstreamUnavailable("The upstream API closed the stream early.") from None
    finally:
        if response.content.at_eof():
            response.release()
        else:
            response.close()  # the client left early: cancel the upstream request


def redact_keys(body: bytes) -> bytes:
    """An error body with every OpenAI key in it, masked or not, replaced (still valid JSON:
    the pattern stops at a quote)."""
    return _OPENAI_KEY.sub(REDACTED, body)


def _bounded_wait(value: str, per_second: int) -> str | None:
    """A relayed wait as a whole number of at most ``RETRY_AFTER_MAX`` seconds (in the header's
    units); None for one that is no wait: negative, not finite, an HTTP date, garbage (a
    negative wait has a naive client retry at once, in a loop)."""
    try:
        wait = float(value)
    except ValueError:
        return None
    if not math.isfinite(wait) or wait < 0:
        return None
    return str(min(math.ceil(wait), RETRY_AFTER_MAX * per_second))


def _credentials_refused(call: Call, upstream: str, status: int,
                         code: str | None) -> UpstreamCredentialsRefused:
    """The upstream refused the gateway's own key: the client's key is fine, the operator must
    act. Neither the key nor the upstream's message (which names the key) goes anywhere."""
    log.error("upstream key %r was refused by the upstream (HTTP %d, %s) on %s: check the key "
              "and its project's permissions", upstream, status, code or "no code",
              call.request_id)
    return UpstreamCredentialsRefused(
        f"The upstream API refused this gateway's own credentials (HTTP {status}); this is not "
        "a problem with your key. The gateway's operator has to fix it.",
        reasons=("upstream_unavailable", UpstreamCredentialsRefused.reason,
                 f"upstream:{code or status}"))


def _error_code(body: bytes) -> str | None:
    try:
        error = orjson.loads(body).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return error.get("code") or error.get("type") if isinstance(error, dict) else None


def _usage_document(call: Call, body: bytes) -> dict | None:
    """Parse a generation answer once: usage for the record, the document for output checks.

    An answer that is not a JSON object (a proxy's HTML error page sent as 200) could not be
    checked, and is no answer: our own 502, recorded."""
    api = call.api
    if not api.counts_tokens:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        log.warning("upstream answer for %s is not a JSON object", call.request_id)
        raise UpstreamUnavailable("The upstream API gave an invalid answer (not JSON).",
                                  reasons=("upstream_unavailable", "upstream_not_json"))
    call.tokens_in, call.tokens_out = api.usage(document)
    name = _upstream_name(call)
    if call.tokens_in:
        UPSTREAM_TOKENS.inc(name, "input", amount=call.tokens_in)
    if call.tokens_out:
        UPSTREAM_TOKENS.inc(name, "output", amount=call.tokens_out)
    return document


def _upstream_name(call: Call) -> str:
    return (call.key.upstream if call.key else None) or "default"
