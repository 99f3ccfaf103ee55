"""The lean moderation HTTP client against a real socket server that answers byte by byte."""

from __future__ import annotations

import asyncio

import pytest

from goodstanding.moderation.transport import Client

BODY = b'{"results": []}'
ANSWER = (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
          b"X-RateLimit-Limit-Requests: 500\r\nx-ratelimit-remaining-requests:499 \r\n"
          b"X-Ratelimit-Reset-Tokens: 1m30s\r\nRetry-After: 2\r\nX-Other: x-ratelimit-fake: 1\r\n"
          b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))  # fmt: skip


async def serve(pieces: list[bytes]) -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the client closed the connection
                writer.close()
                return
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            for piece in pieces:  # the answer in separate writes: separate reads on the client
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.01)

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("cut", [len(ANSWER), 20, 60, ANSWER.index(b"\r\n\r\n") + 2])
async def test_rate_limit_headers_are_read_however_the_answer_is_cut(cut: int) -> None:
    server, port = await serve([ANSWER[:cut], ANSWER[cut:]] if cut < len(ANSWER) else [ANSWER])
    client = Client(f"http://127.0.0.1:{port}/v1/moderations")
    try:
        for _ in range(2):  # the second answer on the kept-alive connection
            answer = await client.post({"authorization": "Bearer k"}, b"{}", timeout=5)
            assert answer.status == 429 and answer.body == BODY
            assert answer.headers == {"x-ratelimit-limit-requests": "500",
                                      "x-ratelimit-remaining-requests": "499",
                                      "x-ratelimit-reset-tokens": "1m30s",
                                      "retry-after": "2"}  # fmt: skip
    finally:
        client.close()
        server.close()
