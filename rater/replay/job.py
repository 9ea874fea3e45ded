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
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, cast

import orjson

from rater.config import Topics
from rater.core.inputs import Tick, UsageRecord
from rater.gc_tuning import offline_gc
from rater.jobs.files import Reading, read_usage, read_usage_share
from rater.jobs.offline import OfflineRun
from rater.jobs.peak import peak_kib
from rater.jobs.shares import SegmentLog, Share, run_shares, worker_count
from rater.pipeline.align import BAD
from rater.pipeline.batch import PoisonInput
from rater.progress import Progress, Reports
from rater.replay.diff import Diff
from rater.replay.plan import Plan
from rater.replay.recording import Message, RecordingError
from rater.replay.result import Left, Rerated, Result
from rater.replay.seed import seed
from rater.store.base import Store
from rater.store.memory import MemoryStore


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


def workers_of(plan: Plan) -> int:
    """Processes for the replay (`rater.jobs.shares`): several only into the replay's
    own memory from a file (each process reads it whole; a topic is read once)."""
    if plan.target is not None:
        return 1
    if plan.messages is not None:
        if not plan.messages.local:
            return 1
        size: int | None = plan.messages.total
    else:
        assert plan.usage_file is not None
        size = Reading(plan.usage_file).total
    return worker_count(plan.workers, partitions_of(plan), size)


def replay(plan: Plan) -> Result:
    """Run the replay (again from the start, the input dead-lettered, if the core raises
    on an input, as simulate does), in one process or several sharing the partitions,
    and write its outputs; then the diff."""
    check_state(plan)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    workers = workers_of(plan)
    show = plan.progress and "PYTEST_VERSION" not in os.environ
    where = plan.messages.where if plan.messages else str(plan.usage_file)
    total = plan.messages.total if plan.messages else Reading(cast(Path, plan.usage_file)).total
    with (
        (plan.out_dir / "events.jsonl").open("w+b") as events,
        (plan.out_dir / "dead-letters.jsonl").open("w+b") as dead,
        offline_gc(),
        Progress(f"replaying {Path(where).name}", total, enabled=show) as bar,
    ):
        t0 = time.perf_counter()
        if workers == 1:
            res = _rate(plan, None, events, dead, None, bar)
            res.peak_kib = peak_kib()
        else:

            def share_of(
                share: Share | None,
                ev: IO[bytes],
                dl: IO[bytes] | None,
                log: SegmentLog | None,
                reports: Reports,
            ) -> Result:
                done = _rate(plan, share, ev, cast(IO[bytes], dl), log, reports)
                done.store = None  # the share's accounts stay in its process
                return done

            shared = run_shares(workers, share_of, events, dead, bar)
            res = Result.merged(shared.results)
            res.peak_kib = sum(shared.peak_kib)
        res.seconds, res.workers = time.perf_counter() - t0, workers
    _diff(plan, res)
    _write_facts(plan, res)
    return res


def _rate(
    plan: Plan,
    share: Share | None,
    events: IO[bytes],
    dead: IO[bytes],
    log: SegmentLog | None,
    bar: Reports,
) -> Result:
    """The replay's inputs through the pipeline (this share's partitions, or all)."""
    poison: dict[tuple[str, int, int], PoisonInput] = {}
    while True:
        try:
            return _attempt(plan, events, dead, poison, share, log, bar)
        except PoisonInput as p:
            m = p.arrival.msg
            if m[:3] in poison:
                raise
            poison[(m.topic, m.partition, m.offset)] = p
            if log is not None:
                log.clear()
            for out in (events, dead):
                out.seek(0)
                out.truncate()


def _topics(plan: Plan) -> Topics:
    t = plan.settings.topics
    if plan.messages is None:
        return t
    return t.model_copy(update={"usage": plan.messages.usage, "commands": plan.messages.commands})


def _attempt(
    plan: Plan,
    events: IO[bytes],
    dead: IO[bytes],
    poison: dict[tuple[str, int, int], Any],
    share: Share | None,
    log: SegmentLog | None,
    bar: Reports,
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
        tick_accounts=plan.settings.tick_accounts_per_batch,
        chunk=plan.chunk,
        store=memory,
        target=target,
        summary=summary,
        poison=poison,
        share=share,
        segments=log,
    )
    job.router.add_directory(directory)
    res = Result(summary, Left(), store=store)
    closing = [Tick(plan.until)] if plan.until is not None else []
    if plan.messages is not None:
        job.commands(plan.commands)
        _messages(plan, job, res, closing, bar)
        return res
    assert plan.usage_file is not None
    job.commands([*plan.commands, *closing])
    reading = Reading(plan.usage_file)
    lines: Iterable[UsageRecord | Any]
    if share is None:
        lines = read_usage(plan.usage_file, reading)
    else:
        reading.owns, reading.owns_many = job.owns_line, job.owns_lines
        lines = read_usage_share(plan.usage_file, reading)
    job.usage(_usage_in_window(plan, res, lines), bar, reading)
    return res


def _usage_in_window(
    plan: Plan, res: Result, records: Iterable[UsageRecord | Any]
) -> Iterator[UsageRecord | Any]:
    holds = plan.window.holds
    for r in records:
        if r is None:  # another share's line: read, and counted, there
            yield r
            continue
        res.read += 1
        if type(r) is UsageRecord and not holds(r.start_time):
            res.left.outside_window += 1
            yield None  # still a line: the chunks are the same lines in every share
            continue
        yield r


def _messages(plan: Plan, job: OfflineRun, res: Result, closing: list[Tick], bar: Reports) -> None:
    """Recorded messages into the partitions: the commands first (all known before any
    usage is rated, as offline), then the usage a chunk at a time (every usage message
    read counts, so that a process rating a share of the partitions flushes where one
    process would; it decodes only its own)."""
    assert plan.messages is not None
    usage_topic, commands_topic = plan.messages.usage, plan.messages.commands
    wm = plan.state.header.watermarks if plan.state is not None else {}
    loaded = {c.command_id for c in plan.commands}
    holds = plan.window.holds
    done = [0]
    in_usage = False
    n = 0
    for m in plan.messages.messages(lambda k: done.__setitem__(0, k)):
        topic = m.topic
        if topic == usage_topic:
            n += 1
            if not in_usage:
                in_usage = True
                job.commands(closing)
        elif in_usage and topic == commands_topic:
            raise RecordingError(
                f"{plan.messages.where}: a {topic} message (partition {m.partition}, offset "
                f"{m.offset}) after usage messages: commands must come first"
            )
        if job.owns(m.partition):
            _message(job, m, res, wm, loaded, holds, commands_topic)
        if topic == usage_topic and n % plan.chunk == 0:
            job.step()
            bar.update(done[0], n)
    if not in_usage:
        job.commands(closing)
    job.flush()
    bar.update(done[0], n)


def _message(
    job: OfflineRun,
    m: Message,
    res: Result,
    wm: dict[int, dict[str, int]],
    loaded: set[str],
    holds: Callable[[int], bool],
    commands_topic: str,
) -> None:
    """One recorded message of this process's partitions: left out (and counted), or
    queued."""
    res.read += 1
    left = res.left
    if wm and m.offset < wm.get(m.partition, {}).get(m.topic, 0):
        left.in_snapshot += 1
        return
    a = job.recorded(m.topic, m.partition, m.offset, m.key, m.value or b"", m.timestamp)
    if (
        m.topic == commands_topic
        and a.time != BAD
        and getattr(a.item, "command_id", None) in loaded
    ):
        left.in_subscribers += 1
        return
    if a.time != BAD and not holds(a.time):
        left.outside_window += 1
        return
    job.push(a)


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
