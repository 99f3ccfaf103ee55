"""The static upstream for bench/scale.py: nginx (lean, C) when installed, else static_upstream.py.

nginx answers every chat completion with the same JSON as static_upstream.py, numbered with
nginx's `$request_id` so no two answers are equal; it has no moderation endpoint, so
`--moderation` always takes the Python upstream (which numbers answers and counts calls).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
NGINX_INSTALL = "apt-get install -y nginx-light"
ANSWER = "Answer $request_id: " + "A short fixed answer. " * 8
CHAT = ('{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,'
        '"model":"gpt-4o-mini","choices":[{"index":0,"finish_reason":"stop","logprobs":null,'
        '"message":{"role":"assistant","content":"' + ANSWER + '"}}],'
        '"usage":{"prompt_tokens":120,"completion_tokens":40,"total_tokens":160}}')
RATE_HEADERS = {"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999",
                "x-ratelimit-reset-requests": "6ms", "x-ratelimit-limit-tokens": "10000000",
                "x-ratelimit-remaining-tokens": "9999000", "x-ratelimit-reset-tokens": "0s"}
NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port};
    location / {{
{headers}
      return 200 '{chat}';
    }}
  }}
}}
"""


def choose(wanted: str, moderation: bool) -> str:
    if wanted == "nginx" and moderation:
        raise SystemExit("--upstream nginx has no moderation endpoint; drop --moderation")
    if wanted == "auto":
        return "nginx" if shutil.which("nginx") and not moderation else "python"
    if wanted == "nginx" and not shutil.which("nginx"):
        raise SystemExit(f"--upstream nginx: nginx is not installed ({NGINX_INSTALL})")
    return wanted


def start(kind: str, port: int, folder: Path, taskset: list[str]) -> subprocess.Popen[bytes]:
    if kind == "nginx":
        headers = "\n".join(f"      add_header {k} {v};" for k, v in RATE_HEADERS.items())
        conf = folder / "nginx.conf"
        conf.write_text(NGINX_CONF.format(folder=folder, port=port, headers=headers, chat=CHAT))
        command = [*taskset, "nginx", "-e", str(folder / "error.log"), "-p", str(folder),
                   "-c", str(conf)]
    else:
        command = [*taskset, sys.executable, str(HERE / "static_upstream.py"), "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _wait_answering(f"http://127.0.0.1:{port}/v1/chat/completions", proc)
    return proc


def _wait_answering(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the static upstream exited early (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url, data=b"{}", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the static upstream at {url} did not answer")
