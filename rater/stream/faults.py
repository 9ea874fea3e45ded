"""Fault injection for the crash tests: `RATER_CRASH_AT=<point>:<n>` makes the process
SIGKILL itself the n-th time it reaches `point`, after one line on stderr saying so
(`fault injection: SIGKILL at <point>`), which the tests count. Unset (always, in
production), each check is one dictionary lookup per batch.

Where the points are in a batch (`rater/stream/processor.py`, docs/exactly-once.md,
"Crash points"):

- `before_redis_commit`: a partition rated, its Lua script not sent; for every partition
  of a batch but the first, the batch's Kafka transaction is open;
- `after_redis_commit`: a partition's state, watermark and outputs in Redis, the
  transaction open, its outputs not produced: between the Redis write and the commit;
- `after_produce`: every output of the batch produced in the open transaction, the
  offsets neither sent nor committed;
- `after_kafka_commit`: the transaction committed (on the committer thread, while the
  loop may be rating the next batch)."""

from __future__ import annotations

import os
import signal

POINTS = ("before_redis_commit", "after_redis_commit", "after_produce", "after_kafka_commit")


def parse(spec: str) -> dict[str, int]:
    """`<point>:<n>` (n defaults to 1) as {point: n}; empty for an empty spec."""
    if not spec:
        return {}
    point, _, n = spec.partition(":")
    if point not in POINTS:
        raise ValueError(f"RATER_CRASH_AT={spec!r}: the point is one of {', '.join(POINTS)}")
    count = int(n or "1")
    if count < 1:
        raise ValueError(f"RATER_CRASH_AT={spec!r}: n counts from 1")
    return {point: count}


_countdown = parse(os.environ.get("RATER_CRASH_AT", ""))


def reached(point: str) -> None:
    if point in _countdown:
        _countdown[point] -= 1
        if _countdown[point] <= 0:
            os.write(2, f"fault injection: SIGKILL at {point}\n".encode())
            os.kill(os.getpid(), signal.SIGKILL)
