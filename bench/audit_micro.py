"""CPU per audit record of the SQL store's batched insert, in-process.

    python bench/audit_micro.py [--batch 64] [--batches 100] [--postgres URL]

Writes ``--batches`` batches of ``--batch`` realistic records (scores and reasons included)
with ``SqlStore.write_audit`` into a fresh SQLite file, and into PostgreSQL when ``--postgres``
names a database (e.g. postgresql://postgres@127.0.0.1:5432/test; the table is created by
the migrations if missing). Prints this process's CPU per record: the gateway-side cost
(statement, parameters, driver), not the database server's.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from goodstanding.stores.sql import SqlStore

RECORD = {"ts": 0.0, "request_id": "", "key_id": "k1", "tenant": "t", "end_user": "user-1",
          "client_ip": "203.0.113.7", "country": "FR", "method": "POST",
          "endpoint": "chat.completions", "model": "gpt-4o-mini", "stream": True, "status": 200,
          "tokens_in": 120, "tokens_out": 40, "decision": "flagged",
          "reasons": ["detect:harassment"],
          "scores": {"moderation": 0.001, "detect.harassment": 0.61, "detect.violence": 0.02},
          "latency_ms": 1.2}


async def measure(url: str, batch: int, batches: int) -> float:
    store = SqlStore(url)
    await store.migrate()
    records = [dict(RECORD, request_id=f"req_{i}", ts=time.time()) for i in range(batch)]
    for _ in range(5):  # warm-up: connection, compiled statement
        await store.write_audit(records)
    started = time.process_time()
    for _ in range(batches):
        await store.write_audit(records)
    spent = time.process_time() - started
    await store.close()
    return spent / (batch * batches) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--postgres", metavar="URL", help="also measure this PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sqlite = asyncio.run(measure(f"sqlite:///{folder}/audit.db", args.batch, args.batches))
    print(f"SQLite:     {sqlite:.1f} µs CPU per record (batches of {args.batch})")
    if args.postgres:
        pg = asyncio.run(measure(args.postgres, args.batch, args.batches))
        print(f"PostgreSQL: {pg:.1f} µs CPU per record (batches of {args.batch})")


if __name__ == "__main__":
    main()
