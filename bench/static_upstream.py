"""A fast static OpenAI-shaped upstream for the benchmark: fixed answers, almost no work.

Runs in its own process so its CPU is not counted against the server being measured.
Answers chat completions (plain and streamed), Responses, and moderations. Every answer
carries a request counter (``Answer N:``), so no two answers are the same and a gateway's
moderation cache cannot answer for the output. ``GET /bench/stats`` tells how many moderation
calls and inputs it has answered.
"""

from __future__ import annotations

import argparse
import itertools

import orjson
import uvicorn

ANSWER = "Answer NUMBER: " + "A short fixed answer. " * 8
MARK = b"NUMBER"
CHAT = orjson.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": ANSWER}}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160},
})
CATEGORIES = ["harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
              "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions",
              "sexual", "sexual/minors", "violence", "violence/graphic"]
COUNTER = itertools.count()
STATS = {"moderation_calls": 0, "moderation_inputs": 0}


def _moderation(n: int) -> bytes:
    result = {"flagged": False, "categories": dict.fromkeys(CATEGORIES, False),
              "category_scores": dict.fromkeys(CATEGORIES, 0.001),
              "category_applied_input_types": {c: ["text"] for c in CATEGORIES}}
    return orjson.dumps({"id": "modr-bench", "model": "omni-moderation-latest",
                         "results": [result] * n})


def _stream() -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "gpt-4o-mini"}
    events = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "finish_reason": None}])]
    for word in ANSWER.split(" "):
        events.append(dict(base, choices=[{"index": 0, "delta": {"content": word + " "},
                                           "finish_reason": None}]))
    events.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    events.append(dict(base, choices=[], usage={"prompt_tokens": 120, "completion_tokens": 40,
                                                "total_tokens": 160}))
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


STREAM = _stream()
HEADERS = [(b"content-type", b"application/json"), (b"x-ratelimit-limit-requests", b"10000"),
           (b"x-ratelimit-remaining-requests", b"9999"), (b"x-ratelimit-reset-requests", b"6ms"),
           (b"x-ratelimit-limit-tokens", b"10000000"),
           (b"x-ratelimit-remaining-tokens", b"9999000"), (b"x-ratelimit-reset-tokens", b"0s")]


async def app(scope, receive, send):  # raw ASGI, kept minimal on purpose
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path.endswith("/moderations"):
        data = orjson.loads(body).get("input")
        n = len(data) if isinstance(data, list) else 1
        STATS["moderation_calls"] += 1
        STATS["moderation_inputs"] += n
        payload = _moderation(n)
        headers = HEADERS
    elif path == "/bench/stats":
        payload, headers = orjson.dumps(STATS), HEADERS[:1]
    else:
        number = str(next(COUNTER)).encode()
        if b'"stream":true' in body.replace(b" ", b""):
            payload, headers = STREAM.replace(MARK, number), [(b"content-type", b"text/event-stream")]
        else:
            payload, headers = CHAT.replace(MARK, number), HEADERS
    await send({"type": "http.response.start", "status": 200,
                "headers": headers + [(b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keep-alive", type=float, default=5.0,
                        help="seconds an idle connection stays open (uvicorn's default: 5; "
                             "bench/instructions.py's gateways under valgrind idle longer)")
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="off",
                timeout_keep_alive=args.keep_alive)
