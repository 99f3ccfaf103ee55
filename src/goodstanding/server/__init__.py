"""The HTTP shell around the gateway core: ASGI app, proxy handler, transport helpers."""
