"""No record stalls the rater: a valid Avro usage record with a 500 KB msisdn among good
records on several partitions is dead-lettered once, within the broker's size limit,
and everything else is rated without a session restart, as `rater simulate` rates it."""

from __future__ import annotations

import io
import logging
import time

import orjson
import pytest
import redis
from confluent_kafka import Producer

from rater.catalog import load_catalog
from rater.codec import avro
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.events import ChargeEvent
from rater.core.inputs import NewSubscriber, Roaming, UsageRecord, UsageType
from rater.jobs.offline import OfflineRun
from rater.routing import Router
from rater.store.redis import RedisStore
from rater.stream.kafka import ensure_topics, producer_config
from rater.stream.processor import StreamRater
from rater.stream.tools import read_events, read_topic
from tests.integration import streamkit
from tests.integration.test_stream_vs_simulator import CATALOG

pytestmark = pytest.mark.integration

T0 = to_ms("2026-04-10T10:00:00+08:00")
SUBSCRIBERS = [f"1390000{i:04d}" for i in range(12)]


def _record(rid: str, msisdn: str, at: int) -> UsageRecord:
    return UsageRecord(
        rid,
        msisdn,
        UsageType.DATA,
        at,
        60,
        0,
        3 << 20,
        None,
        None,
        "GD",
        "LTE",
        Roaming.HOME,
        None,
        1,
    )


def test_a_500kb_msisdn_record_is_dead_lettered_once_and_stalls_nothing(
    kafka_bootstrap: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = streamkit.run_settings(
        kafka_bootstrap,
        redis_url,
        "poison",
        catalog=CATALOG,
        partitions=4,
    )
    ensure_topics(s)
    router = Router(s.partitions)
    now = int(time.time() * 1000)
    act = to_ms("2026-03-05T00:00:00+08:00")
    msgs: list[tuple[str, int, bytes | None, bytes]] = []
    for m in SUBSCRIBERS:
        cmd = NewSubscriber(f"c-{m}", m, act, "P58", 1, "GD")
        key, part = router.route(cmd)
        msgs.append((s.topics.commands, part, key.encode(), avro.encode_command(cmd)))
    good = [_record(f"good-{i}", SUBSCRIBERS[i % 12], T0 + i * 1000) for i in range(120)]
    poison = _record("poison", "1" * 500_000, T0)  # valid Avro, absurd msisdn
    for i, r in enumerate(good):
        if i == 60:
            msgs.append((s.topics.usage, 0, None, avro.encode_usage(poison)))
        key, part = router.route(r)
        msgs.append((s.topics.usage, part, key.encode(), avro.encode_usage(r)))
    assert len({p for t, p, _, _ in msgs if t == s.topics.usage}) == s.partitions
    p = Producer(producer_config(s) | {"enable.idempotence": True})
    for topic, part, mkey, value in msgs:
        p.produce(topic, value, mkey, partition=part, timestamp=now)
    assert p.flush(30) == 0

    caplog.set_level(logging.WARNING, logger="rater.stream")
    client = redis.Redis.from_url(redis_url)
    catalog = load_catalog(CATALOG)
    StreamRater(s, Rater(catalog), RedisStore(client, s.namespace)).run(drain=True)
    assert not [r for r in caplog.records if "session restart" in r.getMessage()]

    # every good record charged once; the poison dead-lettered once, within the limit
    charged = [e.record_id for e in read_events(s) if isinstance(e, ChargeEvent)]
    usage_charges = [r for r in charged if r and r.startswith("good-")]
    assert sorted(usage_charges) == sorted(r.record_id for r in good)
    dead = read_topic(s, s.topics.dead_letter)
    assert len(dead) == 1
    dl_key, dl_value = dead[0]
    assert len(dl_key) + len(dl_value) <= s.dead_letter_max_bytes
    dl = avro.decode_dead_letter(dl_value)
    assert dl.error_class == "INVALID_VALUE" and "msisdn too long" in dl.error
    assert dl.payload_length == len(avro.encode_usage(poison))
    assert len(dl.error) < 1_000

    # balances: as the offline job rates the same messages
    events_out = io.BytesIO()
    job = OfflineRun(Rater(catalog), events_out, io.BytesIO(), topics=s.topics, partitions=4)
    for topic, part, key_, value_ in msgs:
        job.message(topic, part, key_, value_, now)
    job.flush()
    offline = job.store.accounts()
    rstore = RedisStore(client, s.namespace)
    for m in SUBSCRIBERS:
        _, part = router.route(_record("x", m, T0))
        stored = rstore.load(part, [m], with_seen=True)[m]
        assert stored.to_dict() == offline[m].to_dict(), m
    stream_fen = sum(e.fen for e in read_events(s) if isinstance(e, ChargeEvent))
    offline_fen = sum(
        orjson.loads(line).get("fen", 0) for line in events_out.getvalue().splitlines()
    )
    assert stream_fen == offline_fen > 0
