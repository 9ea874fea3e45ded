"""Reading topics for a recording or a replay without touching anything live.

The consumer is assigned its partitions (`assign`, no group membership: no rebalance
of the live rater's group), never commits an offset (the live group's offsets stay
where they are, and its own throwaway group id never appears on the broker), and reads
`read_committed` (what the rater itself would apply: no aborted and no open
transaction's records). Each partition is read over a fixed range of offsets, decided
before reading starts, so the read ends even while producers keep writing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from rater.config import Settings
from rater.errors import Refused, Unavailable
from rater.replay.recording import Message
from rater.stream.kafka import consumer_config, partition_count

Ranges = dict[int, tuple[int, int]]  # partition -> [first offset, end offset)

NO_PROGRESS_S = 30.0  # a partition that gives nothing for this long: give up, saying where


def reader(s: Settings) -> Any:
    """A consumer that can only read: a group id of its own that it never uses (no
    subscribe, no commit), offsets kept nowhere."""
    conf = consumer_config(s, group_id=f"rater-replay-reader-{uuid.uuid4().hex}")
    conf |= {"enable.auto.commit": False, "enable.auto.offset.store": False}
    conf["isolation.level"] = "read_committed"
    return Consumer(conf)


def ranges(
    s: Settings,
    consumer: Any,
    topic: str,
    from_ms: int | None = None,
    to_ms: int | None = None,
    start: Mapping[int, int] | None = None,
) -> Ranges:
    """The offsets of `topic` to read, per partition: from the first message at or after
    `from_ms` (message timestamps; else from the beginning, or from `start[p]`) to the
    first at or after `to_ms` (else to the end the partition has now, its last stable
    offset for a read_committed consumer). Refuses a `start` below what the broker
    still holds (those messages are gone)."""
    n = partition_count(s, topic)
    out: Ranges = {}
    for p in range(n):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        first, end = low, high
        if start is not None:
            want = start.get(p, 0)
            if want < low:
                raise Refused(
                    f"{topic}[{p}]: the snapshot stands at offset {want}, but the broker keeps "
                    f"offsets from {low} on (older ones are deleted): messages "
                    f"{want}..{low - 1} are in neither"
                )
            first = min(want, high)
        if from_ms is not None:
            first = max(first, _offset_at(consumer, topic, p, from_ms, high))
        if to_ms is not None:
            end = min(end, _offset_at(consumer, topic, p, to_ms, high))
        out[p] = (first, max(first, end))
    return out


def _offset_at(consumer: Any, topic: str, p: int, t: int, end: int) -> int:
    """The first offset whose timestamp is at or after `t` (Kafka's offsets_for_times);
    `end` when there is none."""
    (tp,) = consumer.offsets_for_times([TopicPartition(topic, p, t)], timeout=10)
    if tp.error is not None:
        raise Unavailable(f"{topic}[{p}]: offsets for time {t}: {tp.error}")
    return end if tp.offset < 0 or tp.offset == OFFSET_END else int(tp.offset)


def read(
    consumer: Any,
    topic: str,
    want: Ranges,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Message]:
    """The committed messages of `topic` in the given ranges, partition after partition
    in offset order. `progress(k)` gets the offsets covered so far (transaction markers
    and aborted records take offsets but are never delivered)."""
    for p, (first, end) in sorted(want.items()):
        if first >= end:
            continue
        before = sum(e - f for q, (f, e) in want.items() if q < p)
        consumer.assign([TopicPartition(topic, p, first)])
        at = first
        deadline = time.monotonic() + NO_PROGRESS_S
        while at < end:
            msgs = consumer.consume(1000, 0.5)
            for m in msgs:
                if m.error() is not None:
                    continue
                off = m.offset() or 0
                if off >= end:
                    break
                ts = m.timestamp()[1]
                yield Message(topic, p, off, ts, m.key(), m.value())
            (pos,) = consumer.position([TopicPartition(topic, p)])
            if pos.offset >= 0 and pos.offset > at:
                at = pos.offset
                deadline = time.monotonic() + NO_PROGRESS_S
            elif time.monotonic() > deadline:
                raise Unavailable(
                    f"{topic}[{p}]: nothing read for {NO_PROGRESS_S:.0f} s at offset {at} of "
                    f"{end} (an open transaction holds read_committed readers back?)"
                )
            if progress is not None:
                progress(before + min(at, end) - first)
        consumer.unassign()
