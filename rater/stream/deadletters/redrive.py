"""Redrive: the chosen originals (payload and key, byte for byte) back to their source
topic and partition, once. One Kafka transaction carries them and a *redrive record*
per dead letter on `<dead-letter topic>.redriven` (compacted, keyed `P:O`); a dead
letter named there is never sent again. The transactional id is fixed per dead-letter
topic and the redrive topic is read after `init_transactions`, so two redrives run at
the same time cannot both send one dead letter: the second fences the first, and reads
what the first committed."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from rater.config import Settings
from rater.stream.deadletters.letters import Filter, Letter, Unreadable, redrive_topic, select
from rater.stream.deadletters.read import partitions, read_dead_letters, read_redriven
from rater.stream.deadletters.show import iso
from rater.stream.kafka import admin_config, producer_config

__all__ = [
    "RedriveError",
    "RedriveResult",
    "Sent",
    "redrive",
    "redrive_all",
    "redrive_record",
    "why_not",
]


@dataclass(frozen=True, slots=True)
class Sent:
    """A dead letter whose original was sent back, and where it went."""

    letter: Letter
    topic: str
    partition: int
    offset: int  # -1 in a dry run


@dataclass
class RedriveResult:
    dry_run: bool
    sent: list[Sent] = field(default_factory=list)  # or, in a dry run, what would be
    already: list[Letter] = field(default_factory=list)  # named in the redrive topic
    refused: list[tuple[Letter, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # --ids not found
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.missing


class RedriveError(RuntimeError):
    """The redrive transaction did not commit: nothing was sent."""


def redrive_record(s: Settings, sent: Sent, at_ms: int) -> dict[str, Any]:
    """The JSON value written to the redrive topic for one dead letter sent back."""
    letter, d = sent.letter, sent.letter.dead
    return {
        "dead_letter": {
            "topic": s.topics.dead_letter,
            "partition": letter.partition,
            "offset": letter.offset,
        },
        "source": {
            "topic": d.source_topic,
            "partition": d.source_partition,
            "offset": d.source_offset,
            "timestamp": d.timestamp,
        },
        "sent": {"topic": sent.topic, "partition": sent.partition, "offset": sent.offset},
        "error_class": d.error_class,
        "payload_sha256": d.payload_sha256,
        "payload_length": d.payload_length,
        "redriven_at": iso(at_ms),
        "redriven_at_ms": at_ms,
    }


def why_not(s: Settings, letter: Letter, counts: Mapping[str, int | None]) -> str | None:
    """Why a dead letter cannot be redriven, or None."""
    d = letter.dead
    if d.truncated:
        return (
            f"truncated: only {len(d.payload)} of its {d.payload_length} bytes were kept, "
            "the original is gone"
        )
    if d.payload_length >= 0 and len(d.payload) != d.payload_length:
        return f"payload is {len(d.payload)} bytes, the original was {d.payload_length}"
    if d.payload_sha256 and hashlib.sha256(d.payload).hexdigest() != d.payload_sha256:
        return "payload does not match its payload_sha256"
    if d.source_topic not in s.topics.inputs():
        return f"source {d.source_topic!r} is not an input topic of this configuration"
    n = counts.get(d.source_topic)
    if n is None:
        return f"source topic {d.source_topic} does not exist"
    if not 0 <= d.source_partition < n:
        return f"source partition {d.source_partition} is not one of the {n} of {d.source_topic}"
    return None


def _ensure_redrive_topic(s: Settings, timeout: float = 30.0) -> None:
    topic = redrive_topic(s)
    if partitions(s, topic):
        return
    admin = AdminClient(admin_config(s))
    # compacted: one record per dead letter, kept for as long as the topic lives
    new = NewTopic(topic, num_partitions=1, config={"cleanup.policy": "compact"})
    try:
        admin.create_topics([new], operation_timeout=timeout)[topic].result(timeout=timeout)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    deadline = time.monotonic() + timeout
    while not partitions(s, topic):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} not ready after {timeout}s")
        time.sleep(0.1)


def _transactional_id(s: Settings) -> str:
    # one per dead-letter topic: a second redrive fences the first
    return f"rater-redrive-{s.topics.dead_letter}"


def redrive(
    s: Settings,
    f: Filter,
    *,
    dry_run: bool = False,
    now_ms: int | None = None,
    timeout: float = 60.0,
) -> RedriveResult:
    """Sends the originals of the dead letters `f` matches back to their source topic
    and partition (payload and key byte for byte; the message timestamp is the time of
    the redrive), with one redrive record each, all in one Kafka transaction. Skips the
    dead letters already in the redrive topic; refuses truncated ones and those whose
    source is not an input topic of `s`. `f` must choose something (an empty Filter is
    refused: ValueError; use e.g. `Filter(reasons=...)`). Raises RedriveError when the
    transaction does not commit (then nothing was sent)."""
    if f.everything:
        raise ValueError("choose the dead letters to redrive (a filter or ids), or all of them")
    return _redrive(s, f, dry_run=dry_run, now_ms=now_ms, timeout=timeout)


def redrive_all(s: Settings, *, dry_run: bool = False, now_ms: int | None = None) -> RedriveResult:
    """`redrive` of every dead letter (`rater deadletters redrive --all`)."""
    return _redrive(s, Filter(), dry_run=dry_run, now_ms=now_ms, timeout=60.0)


def _redrive(
    s: Settings, f: Filter, *, dry_run: bool, now_ms: int | None, timeout: float
) -> RedriveResult:
    result = RedriveResult(dry_run)
    producer: Producer | None = None
    if not dry_run:
        _ensure_redrive_topic(s)
        conf = producer_config(s, _transactional_id(s))
        conf["transaction.timeout.ms"] = max(s.transaction_timeout_ms, 60_000)
        producer = Producer(conf)
        # before reading the redrive topic: a redrive still open elsewhere is fenced
        # (aborted), one that committed is visible below
        producer.init_transactions(timeout)
    done = read_redriven(s)
    reading = read_dead_letters(s)
    result.unreadable = reading.unreadable
    chosen = select(reading.letters, f)
    found = {(x.partition, x.offset) for x in chosen}
    result.missing = [f"{p}:{o}" for p, o in sorted(f.ids - found)]
    counts = {t: partitions(s, t) for t in s.topics.inputs()}
    todo: list[Letter] = []
    for letter in chosen:
        record = done.get(letter.id)
        if record is not None:
            if record.get("payload_sha256", letter.dead.payload_sha256) != (
                letter.dead.payload_sha256
            ):
                result.refused.append(
                    (
                        letter,
                        "the redrive record of this id names another payload "
                        "(was the dead-letter topic recreated?)",
                    )
                )
            else:
                result.already.append(letter)
            continue
        why = why_not(s, letter, counts)
        if why is not None:
            result.refused.append((letter, why))
        else:
            todo.append(letter)
    if dry_run or not todo:
        result.sent = [Sent(x, x.dead.source_topic, x.dead.source_partition, -1) for x in todo]
        return result
    assert producer is not None
    result.sent = _send(s, producer, todo, now_ms, timeout)
    return result


def _send(
    s: Settings, producer: Producer, todo: list[Letter], now_ms: int | None, timeout: float
) -> list[Sent]:
    errors: list[str] = []
    delivered: dict[int, tuple[int, int]] = {}

    def report(i: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(f"{todo[i].id}: {err}" if i >= 0 else str(err))
            elif i >= 0:
                delivered[i] = (msg.partition() or 0, msg.offset() or 0)

        return on_delivery

    try:
        producer.begin_transaction()
        for i, x in enumerate(todo):
            d = x.dead
            producer.produce(
                d.source_topic,
                d.payload,
                d.key,
                partition=d.source_partition,
                on_delivery=report(i),
            )
        if producer.flush(timeout) or errors or len(delivered) != len(todo):
            raise RedriveError("; ".join(errors) or "originals not delivered in time")
        at = now_ms if now_ms is not None else int(time.time() * 1000)
        sent = [
            Sent(x, x.dead.source_topic, delivered[i][0], delivered[i][1])
            for i, x in enumerate(todo)
        ]
        for one in sent:
            producer.produce(
                redrive_topic(s),
                orjson.dumps(redrive_record(s, one, at)),
                one.letter.id.encode(),
                on_delivery=report(-1),
            )
        if producer.flush(timeout) or errors:
            raise RedriveError("; ".join(errors) or "redrive records not delivered in time")
        producer.commit_transaction(timeout)
        return sent
    except Exception as e:
        # fenced or timed out: the coordinator aborts it
        with contextlib.suppress(KafkaException):
            producer.abort_transaction(timeout)
        if isinstance(e, RedriveError):
            raise
        raise RedriveError(f"redrive aborted, nothing sent: {e}") from e
