"""`rater replay`: rate recorded input again through the shared pipeline, in isolation,
and diff the result against the charges that were issued (docs/replay.md).

The story of a replay:

1. The starting state: a snapshot (`--state`, its accounts written into the replay's
   store first), a subscribers file (`--subscribers`, its commands applied at their
   time, as `rater simulate` does), or nothing (the recorded command topic creates
   the subscribers, as it did for the live rater).
2. The inputs, in the stream's order (`rater.jobs.offline.OfflineRun`: the same
   decoding, checks, routing, alignment and core): recorded messages at their own
   topic, partition and offset, or a JSON-lines usage file. An input is left out, and
   counted, when the starting state already holds it: below the snapshot's watermark,
   or a command of the subscribers file; or when its event time is outside
   `--from`/`--to`. `--until` closes the replay with a tick, as in simulate.
3. The outputs: DIR/events.jsonl and DIR/dead-letters.jsonl (as simulate writes
   them), DIR/replay.json (what was replayed and what was left out) and, given the
   issued charges, the diff (rater.replay.diff): DIR/diff.csv and DIR/report.html.
   The diff compares the charges of both sides with event time in [--from, --to).

Nothing live is written: the topics are read without a group (rater.replay.topics),
and the state is the replay's own memory, or a Redis namespace of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import orjson

from rater.config import Topics
from rater.core.events import ChargeEvent, Event
from rater.core.inputs import Tick, UsageRecord
from rater.gc_tuning import tune_gc
from rater.jobs.files import Reading, read_usage
from rater.jobs.offline import OfflineRun
from rater.jobs.summary import Summary
from rater.pipeline.align import BAD
from rater.pipeline.batch import PoisonInput
from rater.progress import Progress
from rater.replay.diff import Diff
from rater.replay.plan import Plan, Window
from rater.replay.recording import RecordingError
from rater.replay.seed import seed
from rater.store.base import Store
from rater.store.memory import MemoryStore


@dataclass
class Left:
    """Inputs read but not rated, by why: the starting state holds them, or they are
    outside the window."""

    in_snapshot: int = 0
    in_subscribers: int = 0
    outside_window: int = 0


@dataclass
class Rerated(Summary):
    """The run's summary, which also takes every event of the window into the diff as
    it is rated (never read back from the events file)."""

    window: Window = field(default_factory=Window)
    diff: Diff | None = None
    fen: int = 0  # charged in the window

    def add_events(self, events: Iterable[Event]) -> None:
        super().add_events(events)
        holds, diff = self.window.holds, self.diff
        for e in events:
            if holds(e.event_time):
                if type(e) is ChargeEvent:
                    self.fen += e.fen
                if diff is not None:
                    diff.add_rerated(e)


@dataclass
class Result:
    summary: Rerated
    left: Left
    read: int = 0  # input messages (or usage lines) read
    issued_fen: int | None = None
    diff_fen: int | None = None
    store: Store | None = None

    @property
    def rerated_fen(self) -> int:
        return self.summary.fen


def partitions_of(plan: Plan) -> int:
    """The partition count the replay emulates: the recording's or the topics', else the
    snapshot's, else the configured one (a usage file)."""
    if plan.messages is not None:
        return plan.messages.partitions
    if plan.state is not None:
        return plan.state.header.partitions
    return plan.settings.partitions


def check_state(plan: Plan) -> None:
    """A snapshot and recorded messages must describe the same partitions of the same
    topics, with nothing between the snapshot's watermark and the first recorded
    message (inputs in neither would be silently missing)."""
    snap, msgs = plan.state, plan.messages
    if snap is None or msgs is None:
        return
    h, where = snap.header, f"--state {snap.path}"
    if h.partitions != msgs.partitions:
        raise RecordingError(
            f"{where}: {h.partitions} partitions, but {msgs.where} has {msgs.partitions}"
        )
    if (h.topics.get("usage"), h.topics.get("commands")) != (msgs.usage, msgs.commands):
        raise RecordingError(
            f"{where}: taken for topics {h.topics.get('usage')} and {h.topics.get('commands')}, "
            f"not {msgs.usage} and {msgs.commands}: its watermarks do not apply"
        )
    for topic, parts in msgs.offsets.items():
        for p, (first, end) in sorted(parts.items()):
            wm = h.watermarks.get(p, {}).get(topic, 0)
            if first > wm and end > first:
                raise RecordingError(
                    f"{where}: partition {p} of {topic} stands at offset {wm}, but "
                    f"{msgs.where} starts at {first}: offsets {wm}..{first - 1} are in "
                    "neither (record from an earlier time)"
                )


def replay(plan: Plan) -> Result:
    """Run the replay (again from the start, the input dead-lettered, if the core raises
    on an input, as simulate does) and write its outputs; then the diff."""
    tune_gc(plan.settings.gc_gen0_threshold)
    check_state(plan)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    poison: dict[tuple[str, int, int], PoisonInput] = {}
    with (
        (plan.out_dir / "events.jsonl").open("w+b") as events,
        (plan.out_dir / "dead-letters.jsonl").open("w+b") as dead,
    ):
        while True:
            try:
                res = _attempt(plan, events, dead, poison)
                break
            except PoisonInput as p:
                m = p.arrival.msg
                if m[:3] in poison:
                    raise
                poison[(m.topic, m.partition, m.offset)] = p
                for out in (events, dead):
                    out.seek(0)
                    out.truncate()
    _diff(plan, res)
    _write_facts(plan, res)
    return res


def _topics(plan: Plan) -> Topics:
    t = plan.settings.topics
    if plan.messages is None:
        return t
    return t.model_copy(update={"usage": plan.messages.usage, "commands": plan.messages.commands})


def _attempt(
    plan: Plan, events: IO[bytes], dead: IO[bytes], poison: dict[tuple[str, int, int], Any]
) -> Result:
    partitions = partitions_of(plan)
    topics = _topics(plan)
    memory = MemoryStore(isolated=False)
    target = plan.target() if plan.target is not None else None
    store: Store = target if target is not None else memory
    offset_ms = plan.rater.catalog.utc_offset_minutes * 60_000
    diff = Diff(offset_ms) if plan.issued is not None else None
    summary = Rerated(window=plan.window, diff=diff)
    directory: dict[str, str] = {}
    if plan.state is not None:
        directory = seed(store, plan.state.accounts(), partitions)
    job = OfflineRun(
        plan.rater,
        events,
        dead,
        topics=topics,
        partitions=partitions,
        max_future_ms=plan.settings.max_future_ms,
        dead_letter_max_bytes=plan.settings.dead_letter_max_bytes,
        chunk=plan.chunk,
        store=memory,
        target=target,
        summary=summary,
        poison=poison,
    )
    job.router.directory.update(directory)
    res = Result(summary, Left(), store=store)
    show = plan.progress and "PYTEST_VERSION" not in os.environ
    closing = [Tick(plan.until)] if plan.until is not None else []
    if plan.messages is not None:
        job.commands(plan.commands)
        with Progress(f"replaying {plan.messages.where}", plan.messages.total, enabled=show) as bar:
            _messages(plan, job, res, closing, bar)
        return res
    assert plan.usage_file is not None
    job.commands([*plan.commands, *closing])
    reading = Reading(plan.usage_file)
    with Progress(f"replaying {plan.usage_file.name}", reading.total, enabled=show) as bar:
        job.usage(_usage_in_window(plan, res, read_usage(plan.usage_file, reading)), bar, reading)
    return res


def _usage_in_window(
    plan: Plan, res: Result, records: Iterable[UsageRecord | Any]
) -> Iterator[UsageRecord | Any]:
    holds = plan.window.holds
    for r in records:
        res.read += 1
        if type(r) is UsageRecord and not holds(r.start_time):
            res.left.outside_window += 1
            continue
        yield r


def _messages(plan: Plan, job: OfflineRun, res: Result, closing: list[Tick], bar: Progress) -> None:
    """Recorded messages into the partitions: the commands first (all known before any
    usage is rated, as offline), then the usage a chunk at a time."""
    assert plan.messages is not None
    usage_topic, commands_topic = plan.messages.usage, plan.messages.commands
    wm = plan.state.header.watermarks if plan.state is not None else {}
    loaded = {c.command_id for c in plan.commands}
    holds = plan.window.holds
    left = res.left
    done = [0]
    in_usage = False
    n = 0
    for m in plan.messages.messages(lambda k: done.__setitem__(0, k)):
        res.read += 1
        topic = m.topic
        if wm and m.offset < wm.get(m.partition, {}).get(topic, 0):
            left.in_snapshot += 1
            continue
        a = job.recorded(topic, m.partition, m.offset, m.key, m.value or b"", m.timestamp)
        if topic == commands_topic:
            if in_usage:
                raise RecordingError(
                    f"{plan.messages.where}: a {topic} message (partition {m.partition}, offset "
                    f"{m.offset}) after usage messages: commands must come first"
                )
            if a.time != BAD and getattr(a.item, "command_id", None) in loaded:
                left.in_subscribers += 1
                continue
        elif not in_usage:
            in_usage = True
            job.commands(closing)
        if a.time != BAD and not holds(a.time):
            left.outside_window += 1
            continue
        job.push(a)
        if topic == usage_topic:
            n += 1
            if n % plan.chunk == 0:
                job.step()
                bar.update(done[0], n)
    if not in_usage:
        job.commands(closing)
    job.flush()
    bar.update(done[0], n)


def _diff(plan: Plan, res: Result) -> None:
    """The issued charges of the window against the re-rated ones (in the diff already)."""
    diff = res.summary.diff
    if plan.issued is None or diff is None:
        return
    from rater.replay.files import write_diff

    for e in plan.window.events(plan.issued.read()):
        diff.add_issued(e)
    title = f"Replay with catalog {plan.rater.catalog.version}: issued against re-rated"
    write_diff(plan.out_dir, diff, title)
    res.issued_fen = diff.total.issued_fen
    res.diff_fen = diff.total.diff_fen


def _write_facts(plan: Plan, res: Result) -> None:
    """DIR/replay.json: what was replayed, from what, and what was left out."""
    facts = {
        "catalog_version": plan.rater.catalog.version,
        "input": plan.messages.where if plan.messages else str(plan.usage_file),
        "state": str(plan.state.path) if plan.state else None,
        "subscriber_commands": len(plan.commands),
        "window": asdict(plan.window),
        "until": plan.until,
        "read": res.read,
        "left_out": asdict(res.left),
        "records_rated": res.summary.records,
        "events": res.summary.events,
        "dead_letters": dict(res.summary.dead_letters),
        "rerated_fen_in_window": res.rerated_fen,
        "issued": plan.issued.where if plan.issued else None,
        "issued_fen_in_window": res.issued_fen,
        "diff_fen": res.diff_fen,
    }
    (plan.out_dir / "replay.json").write_bytes(
        orjson.dumps(facts, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )


def text(res: Result, plan: Plan) -> str:
    """The summary a person reads on stderr."""
    left = res.left
    lines = [
        res.summary.text(),
        f"inputs read: {res.read} (left out: {left.in_snapshot} already in the snapshot, "
        f"{left.in_subscribers} already in the subscribers file, {left.outside_window} "
        "outside --from/--to)",
    ]
    if res.diff_fen is not None and res.issued_fen is not None:
        lines.append(
            f"diff: issued {res.issued_fen} fen, re-rated {res.rerated_fen} fen, "
            f"difference {res.diff_fen:+d} fen ({plan.out_dir / 'diff.csv'}, "
            f"{plan.out_dir / 'report.html'})"
        )
    else:
        lines.append(f"re-rated: {res.rerated_fen} fen (no --issued: no diff)")
    return "\n".join(lines)
