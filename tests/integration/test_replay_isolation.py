"""Replay on the real broker and Redis: `rater record`, `rater snapshot` and `rater
replay` (from the topics, into memory and into a Redis namespace of its own) leave
everything live byte-identical: every key of the live namespace and its DUMP, every
topic's offsets and messages, the live group's committed offsets, and no new group.
Re-rating the same input with the same catalog gives a diff of exactly zero."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import redis
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from rater.config import Settings
from rater.jobs.offline import read_usage
from rater.replay.recording import Recording
from rater.replay.snapshot import Snapshot
from rater.store.redis import RedisStore
from rater.stream.tools import (
    account_keys,
    delete_namespace,
    produce_commands,
    produce_usage,
)
from rater.subscribers import load_subscribers, to_commands
from tests.integration import streamkit

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"
CATALOG = EX / "catalog-basic.yaml"


def _config(tmp: Path, s: Settings) -> Path:
    path = tmp / "settings.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka_bootstrap_servers": s.kafka_bootstrap_servers,
                "redis_url": s.redis_url.get_secret_value(),
                "topics": s.topics.model_dump(),
                "namespace": s.namespace,
                "group_id": s.group_id,
                "catalog": str(CATALOG),
                "metrics_port": 0,
            }
        )
    )
    return path


def _iso_ms(t: int) -> str:
    """Epoch ms as ISO-8601 to the millisecond (`--from` to the second would start up to
    999 ms early, before messages written before `t`)."""
    return datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="milliseconds")


Msg = tuple[int, int, int, bytes | None, bytes | None]  # partition, offset, time, key, value


def _messages(s: Settings, topic: str) -> list[Msg]:
    """Every committed message of `topic` up to the end it has now, partition after
    partition in offset order (a read of all partitions at once interleaves them as the
    fetches come back: in no fixed order), with the timestamp the broker holds."""
    conf = {"bootstrap.servers": s.kafka_bootstrap_servers, "group.id": "unused"}
    c = Consumer(conf | {"enable.auto.commit": False, "isolation.level": "read_committed"})
    out: list[Msg] = []
    try:
        for p in range(s.partitions):
            tp = TopicPartition(topic, p)
            at, high = c.get_watermark_offsets(tp, timeout=10)
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)])
            deadline = time.monotonic() + 30
            while at < high:
                assert time.monotonic() < deadline, f"{topic}[{p}]: stuck at {at} of {high}"
                for m in c.consume(1000, 0.5):
                    off = m.offset() or 0
                    if m.error() is None and off < high:
                        out.append((p, off, m.timestamp()[1], m.key(), m.value()))
                # transaction markers take offsets too: done at the end position
                at = max(at, c.position([tp])[0].offset)
            c.unassign()
    finally:
        c.close()
    return out


def _timestamps(s: Settings, topic: str) -> list[int]:
    """The timestamp of every message of `topic`, as the broker holds it."""
    got = [t for _, _, t, _, _ in _messages(s, topic)]
    assert got, f"{topic}: no messages"
    return got


def _rater(config: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RATER_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("REDIS_URL", None)
    p = subprocess.run(
        [sys.executable, "-m", "rater.cli", args[0], "--config", str(config), *args[1:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )
    return p.returncode, p.stdout + p.stderr


def _live(s: Settings, client: Any, admin: AdminClient) -> dict[str, Any]:
    """Everything a replay must not change, byte for byte."""
    keys = sorted(client.scan_iter(match=f"{{{s.namespace}:*}}:*", count=1000))
    topics: dict[str, Any] = {}
    for t in s.topics.inputs() + s.topics.outputs():
        parts = admin.list_topics(t, timeout=10).topics[t].partitions
        from confluent_kafka import Consumer

        c = Consumer({"bootstrap.servers": s.kafka_bootstrap_servers, "group.id": "unused"})
        try:
            ends = [c.get_watermark_offsets(TopicPartition(t, p), timeout=10) for p in parts]
        finally:
            c.close()
        topics[t] = (ends, _messages(s, t))
    req = [ConsumerGroupTopicPartitions(s.group_id)]
    got = admin.list_consumer_group_offsets(req)[s.group_id].result()
    offsets = sorted((tp.topic, tp.partition, tp.offset) for tp in got.topic_partitions)
    groups = admin.list_consumer_groups().result().valid
    return {
        "redis": {k: client.dump(k) for k in keys},
        "topics": topics,
        "group": offsets,
        "reader groups": sorted(g.group_id for g in groups if "replay-reader" in g.group_id),
    }


def _diff_total(folder: Path) -> tuple[int, int, int]:
    with (folder / "diff.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows
    return (
        sum(int(r["issued_fen"]) for r in rows),
        sum(int(r["rerated_fen"]) for r in rows),
        sum(abs(int(r["diff_fen"])) for r in rows),
    )


def test_record_snapshot_and_replay_leave_everything_live_as_it_was(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    s = streamkit.run_settings(
        kafka_bootstrap, redis_url, "rp", catalog=CATALOG, align_max_wait_ms=20_000
    )
    streamkit.create_topics(s)
    cmds = to_commands(load_subscribers(EX / "subscribers-basic.yaml"))
    produce_commands(s, cmds)
    # the time between the two inputs, from the timestamps the broker holds (librdkafka
    # stamps a message at produce()): the last command is 1 ms before it, the records after
    mid = max(_timestamps(s, s.topics.commands)) + 1
    while int(time.time() * 1000) <= mid:
        time.sleep(0.005)
    sent, _ = produce_usage(s, read_usage(EX / "usage-basic.jsonl"), account_keys(cmds))
    assert min(_timestamps(s, s.topics.usage)) > mid, "the clock went back"
    # the live rater applies both topics in full (as the replay will), by event time
    streamkit.StreamEnv(s, redis.Redis.from_url(redis_url)).drain()
    client = redis.Redis.from_url(redis_url)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    config = _config(tmp_path, s)
    before = _live(s, client, admin)
    assert before["redis"] and before["group"] and not before["reader groups"]
    own = f"{s.namespace}-replay"
    try:
        rec = tmp_path / "rec.avro"
        code, out = _rater(config, "record", "--charges", "--out", str(rec))
        assert code == 0, out
        meta = Recording(rec).meta
        assert meta.charges == s.topics.charges and meta.partitions[s.topics.usage] == 3
        later = tmp_path / "later.avro"
        code, out = _rater(config, "record", "--from", _iso_ms(mid), "--out", str(later))
        assert code == 0, out
        copied = list(Recording(later).messages())
        assert {m.topic for m in copied} == {s.topics.usage}, "the commands: before --from"
        assert len(copied) == sent and min(m.timestamp for m in copied) > mid

        snap = tmp_path / "snap.jsonl"
        code, out = _rater(config, "snapshot", "--out", str(snap))
        assert code == 0, out
        header = Snapshot(snap).header
        assert header.accounts == 4 and header.namespace == s.namespace  # 3 and 4 share

        base = ["replay", "--catalog", str(CATALOG)]
        code, out = _rater(
            config, *base, "--topics", "--issued", str(rec), "--out", str(tmp_path / "mem")
        )
        assert code == 0, out
        issued, rerated, moved = _diff_total(tmp_path / "mem")
        assert issued == rerated > 0 and moved == 0, out

        redis_run = [*base, "--topics", "--store", "redis", "--namespace", own]
        code, out = _rater(
            config,
            *redis_run,
            "--issued-topic",
            s.topics.charges,
            "--out",
            str(tmp_path / "red"),
        )
        assert code == 0, out
        assert _diff_total(tmp_path / "red")[2] == 0
        assert next(client.scan_iter(match=f"{{{own}:*}}:*"), None) is not None

        # chosen subscribers; --at refused once the live state is past that time
        one = tmp_path / "one.jsonl"
        code, out = _rater(config, "snapshot", "--msisdn", "13800000004", "--out", str(one))
        assert code == 0, out
        (acct,) = [a for _, a in Snapshot(one).accounts()]
        assert set(acct.lines) == {"13800000003", "13800000004"}  # one sharing account
        at = tmp_path / "at.jsonl"
        code, out = _rater(
            config, "snapshot", "--at", "2026-04-15T00:00:00+08:00", "--out", str(at)
        )
        assert code == 2 and "cannot be taken back in time" in out and not at.exists(), out

        # rebuilt from the snapshot into a namespace of its own: everything recorded is
        # already in the snapshot, and the namespace holds the live accounts, key for key
        code, out = _rater(
            config,
            *base,
            *("--input", str(rec), "--state", str(snap), "--out", str(tmp_path / "s")),
            *("--store", "redis", "--namespace", own, "--fresh"),
        )
        assert code == 0, out
        facts = orjson.loads((tmp_path / "s" / "replay.json").read_bytes())
        assert facts["left_out"]["in_snapshot"] == facts["read"] > 0
        live, rebuilt = RedisStore(client, s.namespace), RedisStore(client, own)
        for p, snapped in Snapshot(snap).accounts():
            want = live.load(p, [snapped.key], with_seen=True)[snapped.key].to_dict()
            assert rebuilt.load(p, [snapped.key], with_seen=True)[snapped.key].to_dict() == want
            assert snapped.to_dict() == want

        # refused: the live namespace, and one that holds keys, without --fresh
        for ns, why in ((s.namespace, "the live namespace"), (own, "holds keys already")):
            code, out = _rater(config, *redis_run[:-1], ns, "--out", str(tmp_path / "x"))
            assert code == 2 and why in out, out
        code, out = _rater(config, *redis_run, "--fresh", "--out", str(tmp_path / "f"))
        assert code == 0, out

        after = _live(s, client, admin)
        assert after["redis"] == before["redis"]
        assert after["topics"] == before["topics"]
        assert after["group"] == before["group"]
        assert after["reader groups"] == []
    finally:
        delete_namespace(client, own)
        client.close()
