"""A browser app calling the gateway directly, in headless Chromium (Debian's package).

Two pages on two local origins load the same script: it streams a chat from the gateway with
`fetch` and a publishable key limited to the first origin. The gateway allows that origin
(`server.cors_origins`), so the first page gets the streamed answer; the second page's
preflight is refused, so its request is never sent. `make browser` installs chromium when
missing; without it this test skips (fails under CI=true).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from goodstanding.gateway import Gateway
from goodstanding.runner import serve_in_thread
from goodstanding.server.app import create_app
from goodstanding.settings import load_settings
from tests.clients.cases import SAID
from tests.clients.conftest import _missing, compat_env, run_node
from tests.conftest import _make_key

CHROMIUM = Path(os.environ.get("GS_CHROMIUM", "/usr/bin/chromium"))
PAGE = """<!doctype html><meta charset="utf-8"><title>goodstanding browser test</title>
<script type="module">
const out = {status: null, text: "", chunks: 0, requestId: null, error: null};
try {
  const r = await fetch(%(base)s + "/chat/completions", {
    method: "POST",
    headers: {"Authorization": "Bearer " + %(key)s, "Content-Type": "application/json",
              "X-End-User": "browser-user"},
    body: JSON.stringify({model: "gpt-4o-mini", stream: true,
                          messages: [{role: "user", content: %(prompt)s}]}),
  });
  out.status = r.status;
  out.requestId = r.headers.get("x-request-id");  // readable only when exposed
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const delta = JSON.parse(event.slice(6)).choices?.[0]?.delta?.content;
      if (delta) { out.text += delta; out.chunks += 1; }
    }
  }
} catch (e) {
  out.error = String(e);
}
window.result = out;
</script>"""


class PageServer(ThreadingHTTPServer):
    """Serves one page (set once the gateway's URL and key are known) on its own origin."""

    page = b""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Page(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:  # http.server's name
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(self.server.page)))
        self.end_headers()
        self.wfile.write(self.server.page)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def page_servers() -> Iterator[tuple[PageServer, PageServer]]:
    servers = (PageServer(("127.0.0.1", 0), _Page), PageServer(("127.0.0.1", 0), _Page))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_page_on_an_allowed_origin_streams_and_another_is_refused(
    sim: Any, node_clients: Path, page_servers: tuple[PageServer, PageServer], tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (make browser installs Debian's chromium)")
    allowed, other = page_servers
    env = compat_env(tmp_path, sim.url, GOODSTANDING_SERVER__CORS_ORIGINS=allowed.origin)
    settings = load_settings(env=env)
    _, key = asyncio.run(_make_key(settings.storage.database_url, "web",
                                   origins=(allowed.origin,), models=("gpt-4o-mini",)))
    sim.config.chunk_delay = 0.01  # a real stream: the words arrive one by one
    with serve_in_thread(create_app(Gateway.build(settings))) as url:
        page = PAGE % {"base": json.dumps(f"{url}/v1"), "key": json.dumps(key),
                       "prompt": json.dumps(f"[[say:{SAID}]]")}  # fmt: skip
        allowed.page = other.page = page.encode()
        done = run_node("browser.mjs", {"GS_CHROMIUM": str(CHROMIUM), "GS_PAGES": json.dumps(
            [allowed.origin + "/", other.origin + "/"])})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    served, refused = results[allowed.origin + "/"], results[other.origin + "/"]
    assert served["error"] is None, served
    assert served["status"] == 200 and served["text"] == SAID
    assert served["chunks"] == len(SAID.split())  # streamed word by word, not buffered
    assert served["requestId"], served  # an exposed header the page can read
    assert refused["status"] is None and "Failed to fetch" in refused["error"], refused
    assert any("preflight" in line for line in refused["console"]), refused  # refused there
    assert sim.calls["/v1/chat/completions"] == 1  # the refused page never reached upstream
