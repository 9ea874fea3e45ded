"""The messages a job hands the pipeline: one consumed (or read) input message, as a
tuple, since one is built per record."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from rater.store.outbox import OutMessage

__all__ = ["InMessage", "OutMessage", "new_in_message", "new_out_message"]


class InMessage(NamedTuple):
    """One input message: from a topic, or read from a file by an offline job.

    Offline, `value` is None when the job read a decoded input (a JSON line) and never
    needed its bytes: a dead letter encodes the input as `rater produce` would have put
    it on the topic. `topic`, `partition` and `offset` are then where that producer would
    have put it (partitions emulated, offsets counted per partition), and `timestamp`
    the input's event time."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int  # ms: the producer's (Kafka), the event time (a file)


# InMessage/OutMessage from a tuple without the NamedTuple's Python-level __new__ (half
# the cost; one of each is built per record)
new_in_message: Callable[[tuple[str, int, int, bytes | None, bytes | None, int]], InMessage] = (
    partial(tuple.__new__, InMessage)
)
new_out_message: Callable[[tuple[str, bytes, bytes]], OutMessage] = partial(
    tuple.__new__, OutMessage
)
