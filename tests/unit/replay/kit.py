"""Helpers for the replay tests: small hand-built inputs, a catalog changed in one
place, a replay run in-process and its diff read back."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

import orjson

from rater.catalog import load_catalog
from rater.codec import avro
from rater.codec.jsonl import usage_to_json
from rater.config import Settings, Topics
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import Command, Roaming, Tick, UsageRecord, UsageType
from rater.jobs.offline import OfflineRun
from rater.replay.job import replay
from rater.replay.plan import Options, Window, build
from rater.replay.recording import Message, RecordingMeta, write_recording
from rater.replay.result import Result
from rater.routing import Router
from rater.subscribers import to_commands

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
CATALOG = EXAMPLES / "catalog-basic.yaml"
SUBSCRIBERS = EXAMPLES / "subscribers-basic.yaml"
USAGE = EXAMPLES / "usage-basic.jsonl"
MAY = to_ms("2026-05-01T00:00:00+08:00")
MB = 1 << 20
GB = 1 << 30
SETTINGS = Settings(metrics_port=0)
TOPICS: Topics = SETTINGS.topics


def changed_catalog(tmp: Path, old: str, new: str, name: str = "catalog.yaml") -> Path:
    """The basic catalog with one piece of text replaced (and another version string)."""
    text = CATALOG.read_text()
    assert text.count(old) >= 1, old
    text = text.replace(old, new).replace('version: "2026-11-example-1"', 'version: "changed"')
    path = tmp / name
    path.write_text(text)
    return path


def data(rid: str, msisdn: str, at: str | int, nbytes: int) -> UsageRecord:
    """A home data record of `nbytes` (all downlink), starting `at` (ISO or epoch ms)."""
    t = to_ms(at) if isinstance(at, str) else at
    return UsageRecord(
        rid, msisdn, UsageType.DATA, t, 600, 0, nbytes, None, None, "GD", "LTE", Roaming.HOME,
        None, 0,
    )  # fmt: skip


def subscribers(tmp: Path, *msisdns: str, plan: str = "P58") -> Path:
    """Lines on `plan`, cycle day 1, home GD, activated on 1 March (April is a whole
    cycle), no packs."""
    lines = ["subscribers:"]
    for m in msisdns:
        lines += [
            f'  - msisdn: "{m}"',
            f"    plan: {plan}",
            "    home_province: GD",
            '    activated: "2026-03-01T00:00:00+08:00"',
        ]
    path = tmp / "subscribers.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def usage_file(tmp: Path, records: Iterable[UsageRecord], name: str = "usage.jsonl") -> Path:
    path = tmp / name
    with path.open("wb") as f:
        for r in records:
            f.write(orjson.dumps(usage_to_json(r), option=orjson.OPT_APPEND_NEWLINE))
    return path


def run(
    tmp: Path,
    catalog: Path,
    out: str,
    *,
    input_file: Path,
    subs: Path | None = None,
    state: Path | None = None,
    issued: Path | None = None,
    window: Window | None = None,
    until: int | None = None,
    workers: int = 1,
) -> Result:
    """`rater replay` in this process (and `workers` - 1 forked ones), the memory
    store."""
    from rater.subscribers import load_subscribers

    cmds: list[Command] | None = to_commands(load_subscribers(subs)) if subs else None
    opts = Options(
        out_dir=tmp / out,
        input_file=input_file,
        commands=cmds,
        state=state,
        issued=issued,
        window=window or Window(),
        until=until,
        workers=workers,
    )
    plan = build(SETTINGS, Rater(load_catalog(catalog)), opts)
    plan.progress = False
    return replay(plan)


def diff_rows(folder: Path) -> dict[tuple[str, str], tuple[int, int, int]]:
    """diff.csv as (msisdn, kind) -> (issued, re-rated, diff) fen."""
    with (folder / "diff.csv").open() as f:
        return {
            (r["msisdn"], r["kind"]): (
                int(r["issued_fen"]),
                int(r["rerated_fen"]),
                int(r["diff_fen"]),
            )
            for r in csv.DictReader(f)
        }


def by_subscriber(folder: Path, kind: str = "USAGE") -> dict[str, int]:
    """diff_fen per subscriber for one kind (rows that differ only)."""
    return {m: d for (m, k), (_, _, d) in diff_rows(folder).items() if k == kind and d}


def messages(
    commands: list[Command | Tick], usage: list[UsageRecord | bytes], partitions: int, ts: int
) -> list[Message]:
    """Messages as `rater load`, `rater produce` and `rater tick` put them on the topics:
    commands first, each in its account's partition, offsets counted per partition."""
    router = Router(partitions)
    out: list[Message] = []
    nxt: dict[tuple[str, int], int] = {}

    def add(topic: str, part: int, key: bytes | None, value: bytes) -> None:
        off = nxt.get((topic, part), 0)
        nxt[(topic, part)] = off + 1
        out.append(Message(topic, part, off, ts, key, value))

    for c in commands:
        if isinstance(c, Tick):
            for p in range(partitions):
                add(TOPICS.commands, p, None, avro.encode_command(c))
            continue
        key, part = router.route(c)
        add(TOPICS.commands, part, key.encode(), avro.encode_command(c))
    for r in usage:
        if isinstance(r, bytes):
            add(TOPICS.usage, 0, None, r)
            continue
        key, part = router.route(r)
        add(TOPICS.usage, part, key.encode(), avro.encode_usage(r))
    return out


def recording(path: Path, msgs: list[Message], partitions: int) -> Path:
    """A recording file of these messages, as `rater record` writes one."""
    offsets: dict[str, dict[int, tuple[int, int]]] = {}
    for t in (TOPICS.commands, TOPICS.usage):
        offsets[t] = {}
        for p in range(partitions):
            offs = [m.offset for m in msgs if m.topic == t and m.partition == p]
            offsets[t][p] = (min(offs), max(offs) + 1) if offs else (0, 0)
    meta = RecordingMeta(
        roles={"usage": TOPICS.usage, "commands": TOPICS.commands},
        partitions={TOPICS.usage: partitions, TOPICS.commands: partitions},
        offsets=offsets,
    )
    write_recording(path, meta, msgs)
    return path


def offline_lines(msgs: list[Message], partitions: int) -> tuple[list[bytes], list[bytes]]:
    """(events, dead letters) of the same messages fed to the offline job directly."""
    events, dead = io.BytesIO(), io.BytesIO()
    job = OfflineRun(Rater(load_catalog(CATALOG)), events, dead, partitions=partitions)
    for m in msgs:
        job.message(m.topic, m.partition, m.key, m.value or b"", m.timestamp)
    job.flush()
    return events.getvalue().splitlines(), dead.getvalue().splitlines()
