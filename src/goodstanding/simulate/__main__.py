"""`python -m goodstanding.simulate [--host H] [--port P] [--api-key K]`."""

from __future__ import annotations

import argparse

from . import main

parser = argparse.ArgumentParser(prog="python -m goodstanding.simulate", description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8701)
parser.add_argument("--api-key", default=None, help="refuse other bearer keys with 401")
args = parser.parse_args()
main(args.host, args.port, args.api_key)
