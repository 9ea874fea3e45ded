"""Bad input becomes a dead letter, exactly once, and never stops the good input around it.

Good usage records are interleaved, on the same partitions, with every kind of bad input
the rater knows: bytes that are not Avro, Avro of another schema, a truncated record, a
record of a newer schema version, an unknown subscriber, absurd values and a timestamp far
in the future; the command topic gets garbage and a command for an unknown subscriber.
Each bad message must come out on the dead-letter topic once, byte for byte, with its
source topic/partition/offset (as the producer's delivery reports gave them) and its
error class, and counted in rater_dead_letters_total{reason}; each good record must be
charged.
"""

from __future__ import annotations

import dataclasses
import io
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import fastavro
from confluent_kafka import KafkaError, Message, Producer
from prometheus_client import REGISTRY

from rater.codec import avro
from rater.codec.errors import ErrorClass
from rater.codec.validate import MAX_BYTES_PER_RECORD, MAX_DURATION_S
from rater.core.events import ChargeEvent, ChargeKind, UnratedEvent
from rater.core.inputs import (
    Command,
    Direction,
    OrderProduct,
    Roaming,
    UsageRecord,
    UsageType,
)
from rater.stream.kafka import producer_config
from rater.stream.tools import account_keys
from rater.subscribers import parse_subscribers, to_commands
from tests.integration.streamkit import StreamEnv, stream_env

PARTITIONS = 3
DAY_MS = 86_400_000
SUBSCRIBERS = ["13900000001", "13900000002", "13900000003", "13900000004"]
UNKNOWN = "13999999999"  # never loaded


@dataclass
class Sent:
    """One message as produced, completed by its delivery report."""

    topic: str
    key: bytes | None
    value: bytes | None
    expect: str | None  # the ErrorClass of a bad message; None for a good one
    record_id: str | None = None  # a good usage record's id
    partition: int = -1
    offset: int = -1
    error: KafkaError | None = None


@dataclass
class Sender:
    """A plain producer of raw bytes that keeps every message's delivery report.

    Keyed messages go where the partitioner puts them (rater's tools use the same
    partitioner, so a message keyed by an account lands on the account's partition);
    `partition` forces one (keyless garbage)."""

    producer: Producer
    sent: list[Sent] = field(default_factory=list)

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        expect: str | None = None,
        record_id: str | None = None,
        partition: int | None = None,
    ) -> Sent:
        s = Sent(topic, key, value, expect, record_id)

        def report(err: KafkaError | None, msg: Message) -> None:
            s.error = err
            if err is None:
                s.partition, s.offset = msg.partition() or 0, msg.offset() or 0

        if partition is None:
            self.producer.produce(topic, value, key, on_delivery=report)
        else:
            self.producer.produce(topic, value, key, partition=partition, on_delivery=report)
        self.sent.append(s)
        return s

    def deliver(self) -> None:
        assert self.producer.flush(30) == 0, "messages not delivered"
        failed = [(s.topic, s.key, s.error) for s in self.sent if s.error is not None]
        assert not failed, f"delivery failed: {failed}"
        assert all(s.offset >= 0 for s in self.sent)


def _dead_letter_counts() -> dict[str, float]:
    return {
        reason.value: REGISTRY.get_sample_value("rater_dead_letters_total", {"reason": reason})
        or 0.0
        for reason in ErrorClass
    }


def _usage(record_id: str, msisdn: str, start: int, seq: int, **changes: object) -> UsageRecord:
    rec = UsageRecord(
        record_id=record_id,
        msisdn=msisdn,
        usage_type=UsageType.DATA,
        start_time=start,
        duration_s=60,
        uplink_bytes=20_000,
        downlink_bytes=400_000,
        app_id=None,
        rating_group=None,
        province="GD",
        rat="LTE",
        roaming=Roaming.HOME,
        direction=None,
        sequence=seq,
    )
    return dataclasses.replace(rec, **changes)  # type: ignore[arg-type]


def _usage_v2(rec: UsageRecord) -> bytes:
    """`rec` written by a newer producer whose usage schema has one more field: valid Avro
    of another schema version, which this reader cannot resolve without the writer's
    schema (trailing bytes)."""
    schema = avro.strip_logical_types(avro.USAGE.schema)
    schema["fields"] = [*schema["fields"], {"name": "tenant", "type": "string", "default": ""}]
    parsed = fastavro.parse_schema(schema, named_schemas={})
    datum = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)} | {"tenant": "cn-gd"}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, datum)
    return out.getvalue()


def _load_subscribers(env: StreamEnv, sender: Sender, now: int) -> list[Command]:
    """The subscribers' commands, with garbage and an unknown subscriber's order among them."""
    activated = datetime.fromtimestamp((now - 10 * DAY_MS) // 1000, UTC).isoformat()
    specs = parse_subscribers(
        {
            "subscribers": [
                {"msisdn": m, "plan": "P58" if i % 2 == 0 else "D5", "home_province": "GD"}
                | {"activated": activated}
                for i, m in enumerate(SUBSCRIBERS)
            ]
        },
        "test",
    )
    commands = to_commands(specs)
    keys = account_keys(commands)
    topic = env.settings.topics.commands
    half = len(commands) // 2
    for i, c in enumerate(commands):
        if i == half:  # garbage and a stray order between two subscribers' commands
            key = keys[c.msisdn].encode()  # on the next subscriber's partition
            sender.send(topic, key, b"\x00\x02{not a command}\xff", ErrorClass.DECODE_ERROR)
            order = OrderProduct("order-unknown", UNKNOWN, now - DAY_MS, "T1G")
            sender.send(
                topic,
                UNKNOWN.encode(),
                avro.encode_command(order),
                ErrorClass.UNKNOWN_SUBSCRIBER,
            )
        sender.send(topic, keys.get(c.msisdn, c.msisdn).encode(), avro.encode_command(c))
    return commands


def _send_usage(env: StreamEnv, sender: Sender, now: int) -> None:
    """Good records, one per subscriber, then each bad input followed by more good ones."""
    topic = env.settings.topics.usage
    rng = random.Random(20261125)
    seq = 0
    start = now - 3_600_000

    def good(msisdn: str) -> None:
        nonlocal seq, start
        seq += 1
        start += 10_000
        rid = f"good-{seq}"
        value = avro.encode_usage(_usage(rid, msisdn, start, seq))
        sender.send(topic, msisdn.encode(), value, record_id=rid)

    def bad(expect: str, msisdn: str, value: bytes | None, partition: int | None = None) -> None:
        key = msisdn.encode() if msisdn else None
        sender.send(topic, key, value, expect, partition=partition)

    def rec(name: str, msisdn: str, **changes: object) -> UsageRecord:
        return _usage(f"bad-{name}", msisdn, start, seq, **changes)

    a, b, c, d = SUBSCRIBERS
    for m in SUBSCRIBERS:
        good(m)
    # not Avro at all: seeded random bytes, keyed and keyless (explicit partitions)
    bad(ErrorClass.DECODE_ERROR, a, rng.randbytes(64))
    good(a)
    for p in range(PARTITIONS):
        bad(ErrorClass.DECODE_ERROR, "", b"\xff" * 8 + rng.randbytes(24), partition=p)
    good(b)
    bad(ErrorClass.DECODE_ERROR, b, b"")  # an empty value
    bad(ErrorClass.DECODE_ERROR, c, None)  # a tombstone
    good(c)
    # Avro of another schema: a command on the usage topic
    cmd = OrderProduct("order-on-usage", d, now, "T1G")
    bad(ErrorClass.DECODE_ERROR, d, avro.encode_command(cmd))
    good(d)
    # a truncated record
    bad(ErrorClass.DECODE_ERROR, a, avro.encode_usage(rec("truncated", a))[:-5])
    good(a)
    # a newer schema version: the record plus a field this reader does not know
    bad(ErrorClass.SCHEMA_MISMATCH, b, _usage_v2(rec("v2", b)))
    good(b)
    # a valid record of a subscriber that was never loaded
    bad(ErrorClass.UNKNOWN_SUBSCRIBER, UNKNOWN, avro.encode_usage(rec("unknown", UNKNOWN)))
    good(c)
    # absurd values
    voice = {"usage_type": UsageType.VOICE, "direction": Direction.MO}
    absurd: list[tuple[str, dict[str, object]]] = [
        ("negative-uplink", {"uplink_bytes": -1}),
        ("negative-downlink", {"downlink_bytes": -4096}),
        ("over-1tib", {"downlink_bytes": MAX_BYTES_PER_RECORD + 1}),
        ("2tib", {"uplink_bytes": 2 * MAX_BYTES_PER_RECORD}),
        ("over-48h", {"duration_s": MAX_DURATION_S + 1}),
        ("negative-duration", {"duration_s": -60}),
        ("call-of-a-year", voice | {"duration_s": 365 * 86_400}),
        ("year-1999", {"start_time": 915_148_800_000}),
    ]
    for i, (name, changes) in enumerate(absurd):
        m = SUBSCRIBERS[i % len(SUBSCRIBERS)]
        bad(ErrorClass.INVALID_VALUE, m, avro.encode_usage(rec(name, m, **changes)))
        good(m)
    # far in the future: now + 30 days
    future = rec("future", d, start_time=now + 30 * DAY_MS)
    bad(ErrorClass.FUTURE_TIMESTAMP, d, avro.encode_usage(future))
    for m in SUBSCRIBERS:
        good(m)


def test_bad_input_is_dead_lettered_once_and_good_input_rated(
    kafka_bootstrap: str, redis_url: str
) -> None:
    before = _dead_letter_counts()
    t0 = int(time.time() * 1000)
    with stream_env(kafka_bootstrap, redis_url, "it-dl", partitions=PARTITIONS) as env:
        s = env.settings
        sender = Sender(Producer(producer_config(s) | {"enable.idempotence": True}))

        # 1. the subscribers (with a garbage command among them), applied before any usage
        commands = _load_subscribers(env, sender, t0)
        sender.deliver()
        env.drain()

        # 2. usage: good and bad interleaved on every partition
        _send_usage(env, sender, t0)
        sender.deliver()
        env.drain()

        dead = [(k, avro.decode_dead_letter(v)) for k, v in env.read(s.topics.dead_letter)]
        events = env.events()
    after = _dead_letter_counts()

    bad = [m for m in sender.sent if m.expect is not None]
    good = [m for m in sender.sent if m.record_id is not None]
    assert len(commands) == len(SUBSCRIBERS)
    # the bad messages really do sit between good ones, on every partition
    assert {m.partition for m in bad if m.topic == s.topics.usage} == set(range(PARTITIONS))
    for m in bad:
        around = [
            g.offset
            for g in sender.sent
            if g.expect is None and (g.topic, g.partition) == (m.topic, m.partition)
        ]
        assert any(o > m.offset for o in around), f"no good message after {m}"
        if m.topic == s.topics.usage:
            assert any(o < m.offset for o in around), f"no good record before {m}"

    # every bad message exactly once on the dead-letter topic, and nothing else
    where = Counter((d.source_topic, d.source_partition, d.source_offset) for _, d in dead)
    twice = {k: n for k, n in where.items() if n > 1}
    assert not twice, f"dead-lettered more than once: {twice}"
    by_source = {(d.source_topic, d.source_partition, d.source_offset): (k, d) for k, d in dead}
    expected = {(m.topic, m.partition, m.offset): m for m in bad}
    assert set(by_source) == set(expected), (
        f"missing {sorted(set(expected) - set(by_source))}, "
        f"unexpected {[by_source[k][1] for k in set(by_source) - set(expected)]}"
    )
    t1 = int(time.time() * 1000)
    for src, m in expected.items():
        kafka_key, dl = by_source[src]
        assert dl.payload == (m.value or b""), f"{src}: payload differs"
        assert dl.key == m.key, f"{src}: key {dl.key!r} != {m.key!r}"
        assert kafka_key == (m.key or b""), f"{src}: dead letter keyed {kafka_key!r}"
        assert dl.error_class == m.expect, f"{src}: {dl.error_class} ({dl.error}) != {m.expect}"
        assert dl.error, f"{src}: no error message"
        assert t0 <= dl.timestamp <= t1, f"{src}: timestamp {dl.timestamp}"

    # every good record around them was charged, once; no bad record was
    charged = Counter(
        e.record_id
        for e in events
        if isinstance(e, ChargeEvent) and e.kind == ChargeKind.USAGE and e.record_id is not None
    )
    good_ids = {m.record_id for m in good if m.record_id is not None}
    assert set(charged) == good_ids, (
        f"not charged: {sorted(good_ids - set(charged))}, "
        f"charged but not sent as good: {sorted(set(charged) - good_ids)}"
    )
    assert all(n == 1 for n in charged.values()), charged
    unrated = [e for e in events if isinstance(e, UnratedEvent)]
    assert not unrated, unrated

    # the per-reason counter moved by the number of dead letters of that reason
    want = Counter(str(m.expect) for m in bad)
    moved = {r: after[r] - before[r] for r in after}
    assert moved == {r.value: float(want[r.value]) for r in ErrorClass}, moved
