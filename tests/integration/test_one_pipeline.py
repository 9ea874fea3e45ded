"""The stream and the offline job run one pipeline: fed the same messages, they write
the same events and the same dead letters, byte for byte, whatever the batch size."""

from __future__ import annotations

import dataclasses
import io
import time

import orjson
import pytest
import redis
from confluent_kafka import Producer

from rater.catalog import load_catalog
from rater.codec import avro
from rater.config import Settings, Topics
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import (
    Command,
    Direction,
    NewSubscriber,
    OrderProduct,
    Roaming,
    Tick,
    UsageRecord,
    UsageType,
)
from rater.jobs.offline import OfflineRun
from rater.routing import Router, partition_of
from rater.store.redis import RedisStore
from rater.stream.kafka import ensure_topics, producer_config
from rater.stream.processor import StreamRater
from rater.stream.tools import read_topic
from tests.integration import streamkit
from tests.integration.test_stream_vs_simulator import CATALOG

pytestmark = pytest.mark.integration

MB = 1 << 20
T0 = to_ms("2026-04-10T10:00:00+08:00")


def _record(rid: str, msisdn: str, at: int, down: int = 5 * MB, **kw: object) -> UsageRecord:
    base = UsageRecord(
        rid, msisdn, UsageType.DATA, at, 60, 0, down, None, None, "GD", "LTE", Roaming.HOME, None, 1
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def _inputs() -> tuple[list[Command | Tick], list[UsageRecord | bytes]]:
    """Commands (activations, one order in the middle of the usage) and usage: good
    records plus one of each bad kind; bytes stand for an undecodable message."""
    act = to_ms("2026-03-05T00:00:00+08:00")
    cmds: list[Command | Tick] = [
        NewSubscriber(f"c-{m}", m, act, "P58", 1, "GD") for m in ("13900000001", "13900000002")
    ]
    cmds += [
        NewSubscriber("c-13900000003", "13900000003", act, "P58", 1, "GD", owner="13900000001"),
        OrderProduct("c-order", "13900000002", T0 + 30 * 60_000, "T1G"),
    ]
    usage: list[UsageRecord | bytes] = []
    for i in range(40):
        m = ("13900000001", "13900000002", "13900000003")[i % 3]
        usage.append(_record(f"good-{i}", m, T0 + i * 60_000, down=(i + 1) * 40 * MB))
    usage += [
        b"\x00\xffnot avro at all",  # undecodable
        _record("absurd", "13900000001", T0, down=10**18),  # absurd volume
        _record("future", "13900000001", to_ms("2999-01-01T00:00:00+08:00")),  # far future
        _record("", "13900000001", T0),  # empty record id
        _record("no-msisdn", "", T0),  # empty msisdn
        _record("stranger", "13911111111", T0),  # unknown subscriber
        _record("abroad", "13900000002", T0, roaming=Roaming.INTERNATIONAL),  # roaming
        _record("march", "13900000001", to_ms("2026-03-20T10:00:00+08:00")),  # late
        _record("good-5", "13900000003", T0 + 5 * 60_000, down=240 * MB),  # duplicate
        _record(
            "call",
            "13900000002",
            T0 + 99,
            down=0,
            usage_type=UsageType.VOICE,
            duration_s=61,
            direction=Direction.MO,
        ),
    ]
    return cmds, usage


def _messages(topics: Topics, partitions: int) -> list[tuple[str, int, bytes | None, bytes, int]]:
    """(topic, partition, key, value, timestamp) in the order they are produced. The
    timestamps are now's (a message dated in April would fall to the broker's
    retention), the same for both jobs."""
    cmds, usage = _inputs()
    now = int(time.time() * 1000)
    router = Router(partitions)
    out: list[tuple[str, int, bytes | None, bytes, int]] = []
    for c in cmds:
        key, part = router.route(c)  # type: ignore[arg-type]
        out.append((topics.commands, part, key.encode(), avro.encode_command(c), now))
    for r in usage:
        if isinstance(r, bytes):
            out.append((topics.usage, partition_of(b"13900000001", partitions), None, r, now))
            continue
        key, part = router.route(r)
        out.append((topics.usage, part, key.encode(), avro.encode_usage(r), now))
    tick = avro.encode_command(Tick(to_ms("2026-04-10T23:00:00+08:00")))
    for p in range(partitions):
        out.append((topics.commands, p, None, tick, now))
    return out


def _settings(base: Settings, batch_size: int) -> Settings:
    """A rater of its own (group, namespace, output topics) on the shared inputs."""
    run = f"{base.group_id}-b{batch_size}"
    outs = {f: f"{run}.{f}" for f in ("charges", "throttle", "notifications", "unrated")}
    outs["dead_letter"] = f"{run}.dead_letter"
    s = base.model_copy(
        update={
            "group_id": run,
            "instance_id": f"{run}-1",
            "namespace": run,
            "batch_size": batch_size,
            "topics": base.topics.model_copy(update=outs),
        }
    )
    streamkit.RUNS.append(s)
    return s


def _offline(base: Settings, msgs: list[tuple[str, int, bytes | None, bytes, int]]) -> set[bytes]:
    catalog = load_catalog(CATALOG)
    events = io.BytesIO()
    dead = io.BytesIO()
    job = OfflineRun(Rater(catalog), events, dead, topics=base.topics, partitions=base.partitions)
    for topic, part, key, value, ts in msgs:
        job.message(topic, part, key, value, ts)
    job.flush()
    lines = set(events.getvalue().splitlines())
    return lines | {b"dead:" + line for line in dead.getvalue().splitlines()}


def _stream_outputs(s: Settings) -> set[bytes]:
    """The rater's outputs, decoded into the offline job's JSON lines."""
    from rater.codec.jsonl import event_to_line
    from rater.jobs.files import dead_letter_json

    t = s.topics
    kinds = {t.charges: "charge", t.throttle: "throttle", t.notifications: "notification"}
    kinds[t.unrated] = "unrated"
    got: list[bytes] = []
    for topic in t.outputs():
        for _, value in read_topic(s, topic):
            if topic == t.dead_letter:
                dl = avro.decode_dead_letter(value)
                got.append(b"dead:" + dead_letter_json(dl).rstrip(b"\n"))
            else:
                got.append(event_to_line(avro.decode_event(kinds[topic], value)).encode())
    assert len(got) == len(set(got)), "an output was written twice"
    return set(got)


def test_stream_and_offline_write_the_same_outputs_whatever_the_batch_size(
    kafka_bootstrap: str, redis_url: str
) -> None:
    base = streamkit.run_settings(
        kafka_bootstrap,
        redis_url,
        "one",
        catalog=CATALOG,
        partitions=2,
        align_max_wait_ms=20_000,
    )
    ensure_topics(base)
    msgs = _messages(base.topics, base.partitions)
    # both input topics in full before any rater starts
    p = Producer(producer_config(base) | {"enable.idempotence": True})
    for topic, part, key, value, ts in msgs:
        p.produce(topic, value, key, partition=part, timestamp=ts)
    assert p.flush(30) == 0

    expected = _offline(base, msgs)
    kinds = {orjson.loads(x[5:])["error_class"] for x in expected if x.startswith(b"dead:")}
    assert {"DECODE_ERROR", "INVALID_VALUE", "FUTURE_TIMESTAMP", "UNKNOWN_SUBSCRIBER"} <= kinds
    reasons = {orjson.loads(x).get("reason") for x in expected if not x.startswith(b"dead:")}
    assert {"LATE", "INTERNATIONAL_ROAMING"} <= reasons

    catalog = load_catalog(CATALOG)
    client = redis.Redis.from_url(redis_url)
    for batch_size in (1, 10, 5000):
        s = _settings(base, batch_size)
        ensure_topics(s)
        t0 = time.monotonic()
        StreamRater(s, Rater(catalog), RedisStore(client, s.namespace)).run(drain=True)
        got = _stream_outputs(s)
        assert got == expected, (
            f"batch size {batch_size} ({time.monotonic() - t0:.1f} s): "
            f"only offline {len(expected - got)}: {sorted(expected - got)[:5]}, "
            f"only stream {sorted(got - expected)[:5]}"
        )
