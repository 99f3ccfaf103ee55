"""The floor: a bare Python passthrough on the same stack as the gateway.

Same server (uvicorn + httptools + uvloop, raw ASGI) and the same upstream client (one pooled
aiohttp session) as goodstanding, and nothing else: read the body, swap the Authorization
header, forward, relay the answer (streams chunk by chunk). The gateway's CPU per request is
reported as a ratio to this, measured in the same run.
"""

from __future__ import annotations

import argparse

import aiohttp
import uvicorn

UPSTREAM = ""
SESSION: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global SESSION
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if SESSION is None:
        SESSION = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
    async with SESSION.post(UPSTREAM + scope["path"][3:], data=body, headers=headers) as resp:
        out = [(b"content-type", resp.headers.get("content-type", "application/json").encode())]
        await send({"type": "http.response.start", "status": resp.status, "headers": out})
        async for chunk in resp.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    UPSTREAM = args.upstream.rstrip("/")
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False)
