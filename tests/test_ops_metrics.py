"""``/metrics``: parsed with prometheus-client's own parser; counts match the requests made."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import UPSTREAM_KEY, _make_key
from tests.scale_helpers import chat, free_port, get, wait_healthy

MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, token: str | None = None) -> Samples:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx2.get(f"{url}/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


def settle(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "metrics never matched"
        time.sleep(0.05)


def test_metrics_parse_and_count_every_kind_of_request(gw, sim):
    before = scrape(gw.url)
    client = gw.client()
    for _ in range(3):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    stream = client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1",
                                            stream=True, stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=MODEL, safety_identifier="u2",
            messages=[{"role": "user", "content": "[[flag:violence]] hi"}])
    with pytest.raises(openai.AuthenticationError):
        gw.client(api_key="gsk-unknown").chat.completions.create(model=MODEL, messages=HELLO)

    requests = "goodstanding_requests_total"
    settle(lambda: grew(before, scrape(gw.url), requests) == 6)
    after = scrape(gw.url)
    chat_ = {"endpoint": "chat.completions"}
    assert grew(before, after, requests, **chat_, decision="allowed", status="200") == 4
    assert grew(before, after, requests, **chat_, decision="refused", status="400") == 1
    assert grew(before, after, requests, decision="refused", status="401") == 1
    # one observation per call in the gateway's own latency; upstream only for the 4 sent
    assert grew(before, after, "goodstanding_gateway_latency_seconds_count", **chat_) == 6
    assert grew(before, after, "goodstanding_upstream_latency_seconds_count", **chat_) == 4
    assert grew(before, after, "goodstanding_time_to_first_token_seconds_count", **chat_) == 1
    inf = grew(before, after, "goodstanding_gateway_latency_seconds_bucket", **chat_, le="+Inf")
    assert inf == 6
    assert grew(before, after, "goodstanding_tokens_total", key=gw.key_id, model=MODEL,
                direction="input") > 0
    assert grew(before, after, "goodstanding_tokens_total", key=gw.key_id, model=MODEL,
                direction="output") > 0
    assert grew(before, after, "goodstanding_strikes_total", source="request") == 1
    assert grew(before, after, "goodstanding_signals_total", signal="input_flag:violence") == 1
    assert grew(before, after, "goodstanding_moderation_calls_total") >= 1
    assert total(after, "goodstanding_in_flight_requests") == 0
    [build] = [labels for (name, labels), v in after.items()
               if name == "goodstanding_build_info" and v == 1]
    assert dict(build)["python"].startswith(f"{sys.version_info.major}.")


def test_metrics_token_is_required_when_configured(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_SERVER__METRICS_TOKEN="scrape-token-123")
    assert httpx2.get(f"{gw.url}/metrics").status_code == 401
    wrong = httpx2.get(f"{gw.url}/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert total(scrape(gw.url, "scrape-token-123"), "goodstanding_build_info") == 1


@pytest.mark.timeout(90)
def test_two_workers_answer_the_sum_of_both_and_log_json_lines(tmp_path: Path, sim):
    db_url = f"sqlite:///{tmp_path / 'gs.db'}"
    _, token = asyncio.run(_make_key(db_url))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env |= {"OPENAI_API_KEY": UPSTREAM_KEY, "GOODSTANDING_UPSTREAM_URL": f"{sim.url}/v1",
            "GOODSTANDING_SECRET": "s" * 32, "GOODSTANDING_DATABASE_URL": db_url,
            "GOODSTANDING_LIMITS__IP__RPM": "10000", "NO_PROXY": "127.0.0.1,localhost"}
    server = subprocess.Popen(
        [sys.executable, "-m", "goodstanding.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        answers = [chat(url, token, f"user-{i % 4}").status for i in range(12)]
        answers.append(chat(url, token, "mallory", "[[flag:violence]] hi").status)
        assert answers.count(200) == 12 and answers[-1] == 400

        def counted() -> bool:
            samples = scrape(url)
            return (total(samples, "goodstanding_requests_total") == 13
                    and total(samples, "goodstanding_gateway_latency_seconds_count") == 13)

        settle(counted, 5.0)
        samples = scrape(url)
        assert total(samples, "goodstanding_requests_total", status="200") == 12
        assert total(samples, "goodstanding_upstream_latency_seconds_count") == 12
        assert total(samples, "goodstanding_build_info") == 1  # not one per worker
        assert get(f"{url}/healthz").status == 200
        with socket.create_connection(("127.0.0.1", port), timeout=10) as garbage:
            garbage.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # uvicorn logs a warning of its own
            assert garbage.recv(4096).startswith(b"HTTP/1.1 400")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    lines = [line for line in output.splitlines() if line.strip()]
    # the address is printed once the workers have started (after any start-up warning)
    serving = [line for line in lines if line.startswith("goodstanding: serving on")]
    assert len(serving) == 1
    logged = [json.loads(line) for line in lines if line not in serving]  # not a terminal: JSON
    assert any(e["logger"] == "uvicorn.error" for e in logged)  # uvicorn's lines too
    strike = [e for e in logged if e["logger"] == "goodstanding.enforcement"]
    assert strike and strike[0]["request_id"].startswith("req_")
    assert all("hi" not in e["message"].split() for e in logged)


def test_worker_snapshots_merge_by_each_metrics_kind(tmp_path: Path, monkeypatch):
    """Counters and histograms add up; build info and headroom do not."""
    from goodstanding import metrics
    from goodstanding.server import metrics_dir

    def snapshot(pid: int, requests: float, latency: list[float], headroom: float) -> None:
        data = {"at": time.time(), "metrics": {
            "goodstanding_requests_total": {"kind": "counter", "merge": "sum",
                                            "values": [[["chat.completions", "allowed", "200"],
                                                        requests]]},
            "goodstanding_gateway_latency_seconds": {
                "kind": "histogram", "merge": "sum",
                "values": [[["chat.completions"], latency]]},
            "goodstanding_moderation_headroom": {"kind": "gauge", "merge": "min",
                                                 "values": [[["default"], headroom]]},
            "goodstanding_build_info": {"kind": "gauge", "merge": "max",
                                        "values": [[["1.0", "3.11"], 1]]},
        }}
        (tmp_path / f"worker-{pid}.json").write_text(json.dumps(data))

    buckets = len(metrics.GATEWAY_LATENCY.buckets)
    one = [1.0] + [0.0] * (buckets - 1) + [0.0005, 1.0]
    snapshot(1, 3, one, 0.9)
    snapshot(2, 4, [0.0, 2.0] + [0.0] * (buckets - 2) + [0.002, 2.0], 0.4)
    monkeypatch.setattr(metrics_dir, "write", lambda folder: None)  # only the two above
    samples: Samples = {}
    for family in text_string_to_metric_families(metrics_dir.merged(tmp_path).decode()):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    assert total(samples, "goodstanding_requests_total") == 7
    assert total(samples, "goodstanding_gateway_latency_seconds_count") == 3
    assert total(samples, "goodstanding_gateway_latency_seconds_bucket", le="0.001") == 3
    assert total(samples, "goodstanding_gateway_latency_seconds_bucket", le="0.0005") == 1
    assert total(samples, "goodstanding_moderation_headroom", upstream="default") == 0.4
    assert total(samples, "goodstanding_build_info", version="1.0") == 1


def test_store_errors_are_counted(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    before = scrape(gw.url)
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    assert caught.value.code == "store_unavailable"
    after = scrape(gw.url)
    assert grew(before, after, "goodstanding_store_errors_total", store="redis") >= 1
    assert grew(before, after, "goodstanding_requests_total", decision="failed",
                status="503") == 1
