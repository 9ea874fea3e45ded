"""Fault injection for the crash tests: `RATER_CRASH_AT=<point>:<n>` makes the process
SIGKILL itself the n-th time it reaches `point`. Unset (always, in production), each
check is one dictionary lookup per batch."""

from __future__ import annotations

import os
import signal

POINTS = ("before_redis_commit", "after_redis_commit", "after_produce", "after_kafka_commit")

_spec = os.environ.get("RATER_CRASH_AT", "")
_point, _, _n = _spec.partition(":")
_countdown = {_point: int(_n or "1")} if _point else {}


def reached(point: str) -> None:
    if point in _countdown:
        _countdown[point] -= 1
        if _countdown[point] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
