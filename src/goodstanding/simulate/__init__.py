"""The simulated OpenAI upstream: a test double shipped with the product (SPEC §6).

It speaks enough of the OpenAI API for the gateway's tests, demo and benchmark, with no network
and no key, and labels every answer as simulated (`x-goodstanding-simulated: true`,
`system_fingerprint: "goodstanding-simulated"`).

    create_app(api_key=None, *, admin_key=None) -> SimulatedUpstream   the ASGI app
    main(host="127.0.0.1", port=8701, api_key=None)                     serve until Ctrl-C

Directives in the newest user text steer it: `[[say:TEXT]]`, `[[words:N]]`, `[[delay_ms:N]]`,
`[[fault:NAME]]` (429, retry-after:VALUE, 500, 503, html, slow:MS, invalid_prompt,
cyber_policy, bio_policy, moderation_blocked, content_filter, refusal, disconnect, truncate, bad_usage). In moderation input, `[[flag:CATEGORY]]`
and image URLs containing `flag-CATEGORY` (e.g. `flag-violence`) force a flag; other directives
are removed before scoring, so `[[say:…]]` with violating words still passes input moderation.

Tests change behaviour through `.config` (`SimConfig`: moderation ok|down|slow|rate_limited,
chunk_delay, slow_moderation_s) and read `.calls`, `.requests`, `.moderation_inputs`; over HTTP
the same is `GET /_sim/log`, `POST /_sim/config`, `POST /_sim/reset`, `POST /_sim/cases`.

Modules, in request order: app (routing, auth, state) → http (ASGI in and out) → chat,
responses (generation, with directives, faults, ratelimit) → moderation (scoring) → catalog
(embeddings, models, images) → admin (key rotation, safety cases).
"""

from __future__ import annotations

from .app import SimConfig, SimulatedUpstream, create_app

__all__ = ["SimConfig", "SimulatedUpstream", "create_app", "main"]


def main(host: str = "127.0.0.1", port: int = 8701, api_key: str | None = None) -> None:
    """Serve the simulator in the foreground until Ctrl-C (`goodstanding simulate-upstream`)."""
    from goodstanding.runner import run_forever

    print(
        f"goodstanding simulated OpenAI upstream (a test double, not OpenAI) on "
        f"http://{host}:{port}/v1 — Ctrl-C to stop",
        flush=True,
    )
    run_forever(create_app(api_key), host, port)
