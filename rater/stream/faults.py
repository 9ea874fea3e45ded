"""Fault injection for the crash tests: `RATER_CRASH_AT=<point>:<n>` makes the process
SIGKILL itself the n-th time it reaches `point`, after one line on stderr saying so
(`fault injection: SIGKILL at <point>`), which the tests count; `<point>:<n>:stop`
makes it SIGSTOP itself there instead (a zombie on cue: the test resumes it with
SIGCONT). Unset (always, in production), each check is one dictionary lookup per batch.

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


def parse(spec: str) -> tuple[dict[str, int], signal.Signals]:
    """`<point>:<n>[:stop]` (n defaults to 1) as ({point: n}, the signal); nothing for an
    empty spec."""
    if not spec:
        return {}, signal.SIGKILL
    point, _, rest = spec.partition(":")
    n, _, action = rest.partition(":")
    if point not in POINTS:
        raise ValueError(f"RATER_CRASH_AT={spec!r}: the point is one of {', '.join(POINTS)}")
    if action not in ("", "stop"):
        raise ValueError(f"RATER_CRASH_AT={spec!r}: after the count, only 'stop'")
    count = int(n or "1")
    if count < 1:
        raise ValueError(f"RATER_CRASH_AT={spec!r}: n counts from 1")
    return {point: count}, signal.SIGSTOP if action else signal.SIGKILL


_countdown, _signal = parse(os.environ.get("RATER_CRASH_AT", ""))


def reached(point: str) -> None:
    if point in _countdown:
        _countdown[point] -= 1
        if _countdown[point] == 0:
            os.write(2, f"fault injection: {_signal.name} at {point}\n".encode())
            os.kill(os.getpid(), _signal)
