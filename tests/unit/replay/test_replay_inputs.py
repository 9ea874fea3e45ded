"""Where a replay's inputs come from and what it leaves out: a recording replays as the
offline job rates the same messages (dead letters at their recorded coordinates); the
starting state's inputs are never applied twice (the subscribers file's commands, a
snapshot's offsets); --from/--to leave inputs out by event time; files that cannot be
used are refused with one line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import fastavro
import orjson
import pytest

from rater.catalog import load_catalog
from rater.core.engine import Rater
from rater.core.inputs import Command, Tick, UsageRecord
from rater.jobs.offline import OfflineRun
from rater.replay.plan import Window
from rater.replay.recording import Message, Recording, RecordingError
from rater.replay.snapshot import Header, Snapshot, SnapshotError, write
from rater.routing import partition_of
from rater.subscribers import load_subscribers, to_commands
from tests.unit.replay.kit import (
    CATALOG,
    GB,
    MB,
    SUBSCRIBERS,
    TOPICS,
    data,
    messages,
    offline_lines,
    recording,
    run,
    subscribers,
)

NOW = 1_780_000_000_000  # message timestamps: when they were produced (the broker's)


def _example_inputs() -> tuple[list[Command | Tick], list[UsageRecord | bytes]]:
    from rater.jobs.offline import read_usage
    from tests.unit.replay.kit import USAGE

    cmds: list[Command | Tick] = list(to_commands(load_subscribers(SUBSCRIBERS)))
    usage: list[UsageRecord | bytes] = [r for r in read_usage(USAGE) if type(r) is UsageRecord]
    usage.append(b"\x00\xffnot avro")  # a message nobody can decode: a dead letter
    return cmds, usage


def test_a_recording_replays_as_the_offline_job_rates_its_messages(tmp_path: Path) -> None:
    cmds, usage = _example_inputs()
    msgs = messages(cmds, usage, 4, NOW)
    path = recording(tmp_path / "rec.avro", msgs, 4)
    rec = Recording(path)
    assert rec.meta.usage == TOPICS.usage and rec.meta.partitions[TOPICS.usage] == 4
    assert list(rec.messages()) == msgs  # bytes, keys, offsets and timestamps kept

    res = run(tmp_path, CATALOG, "out", input_file=path)
    events, dead = offline_lines(msgs, 4)
    out = tmp_path / "out"
    assert Counter((out / "events.jsonl").read_bytes().splitlines()) == Counter(events)
    assert Counter((out / "dead-letters.jsonl").read_bytes().splitlines()) == Counter(dead)
    letters = [orjson.loads(x) for x in dead]
    undecodable = [d for d in letters if d["error_class"] == "DECODE_ERROR"]
    assert [(d["source_topic"], d["source_partition"]) for d in undecodable] == [(TOPICS.usage, 0)]
    assert res.read == len(msgs) and res.left.in_subscribers == 0


def test_the_subscribers_files_commands_are_not_applied_twice(tmp_path: Path) -> None:
    cmds, usage = _example_inputs()
    msgs = messages(cmds, usage, 4, NOW)
    path = recording(tmp_path / "rec.avro", msgs, 4)
    res = run(tmp_path, CATALOG, "out", input_file=path, subs=SUBSCRIBERS)
    assert res.left.in_subscribers == len(cmds)
    events, _ = offline_lines(msgs, 4)
    got = (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()
    assert Counter(got) == Counter(events)  # one activation each, not two


def test_from_and_to_leave_inputs_out_by_event_time(tmp_path: Path) -> None:
    subs = subscribers(tmp_path, "13900000001")
    cmds: list[Command | Tick] = list(to_commands(load_subscribers(subs)))
    usage: list[UsageRecord | bytes] = [
        data(f"r{d}", "13900000001", f"2026-04-{d:02d}T10:00:00+08:00", 2 * GB) for d in (5, 6, 7)
    ]
    path = recording(tmp_path / "rec.avro", messages(cmds, usage, 2, NOW), 2)
    window = Window(_ms("2026-04-06"), None)
    res = run(tmp_path, CATALOG, "out", input_file=path, window=window, subs=subs)
    assert res.left.outside_window == 1 and res.left.in_subscribers == len(cmds)
    lines = (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()
    rated = {orjson.loads(x).get("record_id") for x in lines} - {None}
    assert rated == {"r6", "r7"}
    # r6 uses 2 of the 3 GB, r7 the last 1 GB and 1 GB of overage: 29 696 fen
    charged = {orjson.loads(x)["record_id"]: orjson.loads(x)["fen"] for x in lines if b"r7" in x}
    assert charged == {"r7": 29696}


def _ms(day: str) -> int:
    from rater.core.cycles import to_ms

    return to_ms(f"{day}T00:00:00+08:00")


def _snapshot_of(job: OfflineRun, path: Path, partitions: int) -> Path:
    """A snapshot file of an offline job's memory store, as `rater snapshot` writes one
    of a Redis namespace."""
    store = job.store
    accounts = store.accounts()
    parts = [
        (
            p,
            store.watermark(p)[0],
            {k: a for k, a in accounts.items() if partition_of(k.encode(), partitions) == p},
        )
        for p in range(partitions)
    ]
    topics = {"usage": TOPICS.usage, "commands": TOPICS.commands}
    write(path, Header("test", partitions, topics, {}, 0), parts)
    return path


def test_a_replay_from_a_snapshot_goes_on_where_the_snapshot_stands(tmp_path: Path) -> None:
    msisdns = [f"139000000{i:02d}" for i in range(12)]
    subs = subscribers(tmp_path, *msisdns)
    cmds: list[Command | Tick] = list(to_commands(load_subscribers(subs)))
    start = _ms("2026-04-05")
    usage: list[UsageRecord | bytes] = [  # every 15 minutes from 5 April: 30 hours
        data(f"r{i}", msisdns[i % 12], start + i * 15 * 60_000, 700 * MB) for i in range(120)
    ]
    msgs = messages(cmds, usage, 3, NOW)
    everything, _ = offline_lines(msgs, 3)
    # the live rater had applied the commands and the first 60 records when snapshotted
    first = [m for m in msgs if m.topic == TOPICS.commands] + [
        m for m in msgs if m.topic == TOPICS.usage and int(_rid(m)[1:]) < 60
    ]
    live_out = (tmp_path / "live.jsonl").open("wb")
    live = OfflineRun(Rater(load_catalog(CATALOG)), live_out, partitions=3)
    for m in first:
        live.message(m.topic, m.partition, m.key, m.value or b"", m.timestamp)
    live.flush()
    live_out.close()
    snap = _snapshot_of(live, tmp_path / "snap.jsonl", 3)
    assert Snapshot(snap).header.accounts == 12

    # a redelivery of r5 after the snapshot (within the duplicate window): a duplicate,
    # caught by the record keys the snapshot holds
    again = next(m for m in msgs if m.topic == TOPICS.usage and _rid(m) == "r5")
    last = max(m.offset for m in msgs if m.partition == again.partition and m.topic == again.topic)
    msgs.append(again._replace(offset=last + 1))
    path = recording(tmp_path / "rec.avro", msgs, 3)
    res = run(tmp_path, CATALOG, "out", input_file=path, state=snap)
    assert res.left.in_snapshot == len(first)
    assert res.summary.duplicates == 1
    before = (tmp_path / "live.jsonl").read_bytes().splitlines()
    after = (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()
    assert Counter(before) + Counter(after) == Counter(everything)


def _rid(m: Message) -> str:
    from rater.codec import avro

    return avro.decode_usage(m.value or b"").record_id


def test_a_recording_that_starts_after_the_snapshot_is_refused(tmp_path: Path) -> None:
    subs = subscribers(tmp_path, "13900000001")
    cmds: list[Command | Tick] = list(to_commands(load_subscribers(subs)))
    usage: list[UsageRecord | bytes] = [
        data(f"r{i}", "13900000001", "2026-04-05T10:00:00+08:00", MB) for i in range(5)
    ]
    msgs = messages(cmds, usage, 1, NOW)
    late = [m for m in msgs if m.topic == TOPICS.commands or m.offset >= 3]
    path = recording(tmp_path / "rec.avro", late, 1)
    topics = {"usage": TOPICS.usage, "commands": TOPICS.commands}
    snap = tmp_path / "snap.jsonl"
    write(snap, Header("test", 1, topics, {}, 0), [(0, {TOPICS.usage: 1}, {})])
    with pytest.raises(RecordingError, match=r"offsets 1\.\.2 are in neither"):
        run(tmp_path, CATALOG, "out", input_file=path, state=snap)
    # and a snapshot of another partition count
    write(snap, Header("test", 2, topics, {}, 0), [(0, {}, {}), (1, {}, {})])
    with pytest.raises(RecordingError, match="2 partitions, but"):
        run(tmp_path, CATALOG, "out", input_file=path, state=snap)


def test_files_that_are_not_recordings_or_snapshots_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.avro"
    with plain.open("wb") as f:
        fastavro.writer(f, {"type": "record", "name": "X", "fields": []}, [{}])
    with pytest.raises(RecordingError, match=r"without rater\.recording metadata"):
        Recording(plain)
    junk = tmp_path / "junk.avro"
    junk.write_bytes(b"Obj\x01garbage")
    with pytest.raises(RecordingError, match="not an Avro container file"):
        Recording(junk)
    snap = tmp_path / "snap.jsonl"
    snap.write_text('{"format": "rater-snapshot", "version": 9}\n')
    with pytest.raises(SnapshotError, match="snapshot version 9"):
        Snapshot(snap)
    snap.write_text('{"hello": 1}\n')
    with pytest.raises(SnapshotError, match=r"snap.jsonl:1: not a rater snapshot header"):
        Snapshot(snap)
