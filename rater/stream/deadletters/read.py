"""Reading the dead-letter topic and the redrive topic: read_committed, from the
beginning to the end each has now, partitions assigned by hand (no consumer group is
joined and no offset is committed, so reading changes nothing)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from rater.codec import avro
from rater.config import Settings
from rater.stream.deadletters.letters import (
    Filter,
    Letter,
    Reading,
    Unreadable,
    redrive_topic,
    select,
)
from rater.stream.kafka import admin_config, consumer_config, offset_range

__all__ = [
    "list_dead_letters",
    "partitions",
    "read_all",
    "read_dead_letters",
    "read_redriven",
    "show_dead_letter",
]


def _consumer(s: Settings) -> Consumer:
    # a group id is required by the client; partitions are assigned by hand and nothing
    # is committed, so the group is never joined nor created
    conf = consumer_config(s, group_id=f"rater-deadletters-{time.time_ns()}")
    conf["enable.auto.offset.store"] = False
    return Consumer(conf)


def partitions(s: Settings, topic: str) -> int | None:
    md = AdminClient(admin_config(s)).list_topics(topic, timeout=10).topics.get(topic)
    if md is None or md.error is not None:
        return None
    return len(md.partitions)


def read_all(
    s: Settings, topic: str, timeout: float = 30.0
) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """(partition, offset, key, value) of every committed message of `topic`, from the
    beginning to the end it has now; [] if the topic does not exist."""
    n = partitions(s, topic)
    if not n:
        return []
    tps = [TopicPartition(topic, p) for p in range(n)]
    ends = {
        p: high for (_, p), (_, high) in offset_range(AdminClient(admin_config(s)), tps).items()
    }
    c = _consumer(s)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(n)])
        out: list[tuple[int, int, bytes | None, bytes | None]] = []
        done = {p for p, end in ends.items() if end <= 0}
        deadline = time.monotonic() + timeout
        while len(done) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end within {timeout}s")
            for m in c.consume(1000, 0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(err)
                part, off = m.partition() or 0, m.offset() or 0
                if off < ends[part]:
                    out.append((part, off, m.key(), m.value()))
                if off + 1 >= ends[part]:
                    done.add(part)
            # transaction markers take offsets too: a partition is done at its end position
            for tp in c.position([TopicPartition(topic, p) for p in range(n)]):
                if tp.offset >= ends[tp.partition]:
                    done.add(tp.partition)
        return out
    finally:
        c.close()


def _letter(s: Settings, part: int, off: int, value: bytes | None) -> Letter | Unreadable:
    from rater.stream.tools import avro_body

    try:
        return Letter(part, off, avro.decode_dead_letter(avro_body(s, value or b"")))
    except Exception as e:  # garbage on the dead-letter topic is reported, not fatal
        return Unreadable(part, off, f"{type(e).__name__}: {e}")


def read_dead_letters(s: Settings, timeout: float = 30.0) -> Reading:
    """Every dead letter of the dead-letter topic (and what is there but does not
    decode), in (partition, offset) order."""
    letters: list[Letter] = []
    bad: list[Unreadable] = []
    for part, off, _, value in sorted(read_all(s, s.topics.dead_letter, timeout)):
        x = _letter(s, part, off, value)
        if isinstance(x, Letter):
            letters.append(x)
        else:
            bad.append(x)
    return Reading(letters, bad)


def list_dead_letters(s: Settings, f: Filter | None = None) -> list[Letter]:
    """The dead letters `f` matches (all without one)."""
    return select(read_dead_letters(s).letters, f or Filter())


def show_dead_letter(
    s: Settings, partition: int, offset: int, timeout: float = 15.0
) -> Letter | Unreadable | None:
    """The message at `partition`:`offset` of the dead-letter topic; None if there is
    none (out of range, deleted, a transaction marker, or of an aborted transaction)."""
    topic = s.topics.dead_letter
    n = partitions(s, topic)
    if n is None or not 0 <= partition < n:
        return None
    tp = TopicPartition(topic, partition)
    low, high = offset_range(AdminClient(admin_config(s)), [tp])[(topic, partition)]
    if not low <= offset < high:
        return None
    c = _consumer(s)
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in c.consume(1, 0.5):
                if m.error() is not None:
                    continue
                if (m.offset() or 0) == offset:
                    return _letter(s, partition, offset, m.value())
                return None  # the next message is further on: nothing at `offset`
            pos = c.position([tp])[0].offset
            if pos > offset:
                return None
        return None
    finally:
        c.close()


def read_redriven(s: Settings, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
    """The redrive records, by dead-letter id `P:O` (the last one of a key wins)."""
    out: dict[str, dict[str, Any]] = {}
    for _, _, key, value in sorted(read_all(s, redrive_topic(s), timeout)):
        if key is None or value is None:
            continue
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            record = {"unreadable": value[:200].decode("utf-8", "backslashreplace")}
        out[key.decode("utf-8", "backslashreplace")] = record
    return out
