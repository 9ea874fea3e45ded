"""Rating files offline (`rater simulate`): the stream's pipeline over a memory store,
with the partitions emulated, so that the events are the stream's, byte for byte.

The story of a run:

1. Inputs: the commands (a subscribers file's activations and orders, a commands file)
   in time order, as `rater load` puts them on the command topic; the usage file in its
   order, as `rater produce` puts it on the usage topic; `--until` as a clock tick at the
   end of every partition, as `rater tick` sends one.
2. Each input goes where the stream would find it: its account and partition from
   `rater.routing`, its offset counted per partition, its event time as the message
   timestamp (what a dead letter records).
3. Every partition is a `PartitionRun`, as in the stream: the aligner applies usage and
   commands in event-time order, the `BatchRater` decides charged, unrated or dead
   letter, the `MemoryStore` takes each partition batch as one commit.
4. Outputs: events as JSON lines (`--out`), dead letters as JSON lines of their own
   (`--dead-letters`), the summary on stderr.

Memory grows with the subscribers (their accounts and record ids), not with the usage
file: usage is read in chunks, and each chunk is rated before the next is read.

The files are read and written by `rater.jobs.files`, the summary is
`rater.jobs.summary`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

from rater.codec.deadletter import dead_letter_for
from rater.codec.errors import ErrorClass
from rater.codec.jsonl import BadInput, event_line_bytes
from rater.config import Topics
from rater.core.engine import Rater
from rater.core.inputs import Command, Tick, UsageRecord
from rater.gc_tuning import BACKSTOP_FLUSHES
from rater.jobs.files import (
    CommandsError,
    Reading,
    dead_letter_json,
    read_commands,
    read_usage,
)
from rater.jobs.shares import SegmentLog, Share
from rater.jobs.summary import Summary
from rater.pipeline.align import Arrival
from rater.pipeline.batch import TICK_ACCOUNTS, BatchRater, PoisonInput
from rater.pipeline.messages import InMessage, new_in_message
from rater.pipeline.partition import PartitionRun
from rater.progress import Reports
from rater.routing import Router
from rater.store.base import Store
from rater.store.memory import MemoryStore

# the readers of the input files are also named here, where many callers look for them
__all__ = [
    "CommandsError",
    "OfflineRun",
    "Reading",
    "Summary",
    "rate_offline",
    "read_commands",
    "read_usage",
]


@dataclass
class OfflineRun:
    """The pipeline over emulated partitions; `commands`, then `usage`, then `finish`."""

    rater: Rater
    events_out: IO[bytes]
    dead_out: IO[bytes] | None = None
    topics: Topics = field(default_factory=Topics)
    partitions: int = 4
    max_future_ms: int = 24 * 3_600_000
    dead_letter_max_bytes: int = 900_000
    tick_accounts: int = TICK_ACCOUNTS  # due accounts a tick applies to per turn
    chunk: int = 5_000  # records read before the partitions rate them (memory per chunk)
    store: MemoryStore = field(default_factory=lambda: MemoryStore(isolated=False))
    # rate into this store instead of `store` (a replay into a Redis namespace of its own)
    target: Store | None = None
    summary: Summary = field(default_factory=Summary)
    # inputs the core raised on in an earlier attempt, by (topic, partition, offset):
    # dead-lettered in their place this time (see rate_offline)
    poison: dict[tuple[str, int, int], PoisonInput] = field(default_factory=dict)
    # the partitions this process rates, and where its outputs' segments start, when
    # several processes share the run (`rater.jobs.shares`); None: all of them
    share: Share | None = None
    segments: SegmentLog | None = None

    def __post_init__(self) -> None:
        self.rated_into: Store = self.target if self.target is not None else self.store
        # a store that keeps copies (Redis, an isolated memory store) can give a batch's
        # accounts back as committed, so a poisoned batch can be rated again from it
        can_reload = bool(getattr(self.rated_into, "isolated", True))
        self.router = Router(self.partitions)
        self.batch = BatchRater(
            self.rater,
            self.topics,
            self.max_future_ms,
            encode_output=event_line_bytes,
            as_lines=True,
            dead_letter_max_bytes=self.dead_letter_max_bytes,
            tick_accounts=self.tick_accounts,
        )
        self.runs = [
            PartitionRun(
                n,
                self.rated_into.claim(n),
                {},
                cache_limit=1 << 62,
                can_reload=can_reload,
            )
            for n in range(self.partitions)
        ]
        self._next_offset: dict[tuple[str, int], int] = {}
        self._now = int(time.time() * 1000)
        self.flushes = 0  # the segment key's first part (`rater.jobs.shares`)
        self._mine = tuple(self.owns(n) for n in range(self.partitions))  # by partition

    def owns(self, partition: int) -> bool:
        """Whether this process rates `partition` (all of them unless shared)."""
        return self.share is None or self.share.owns(partition)

    def owns_line(self, msisdn: str | None) -> bool:
        """Whether this process rates the usage of `msisdn` (`Reading.owns`); a line
        with no MSISDN that can be read belongs to the first share."""
        if msisdn is None:
            return self.share is None or self.share.index == 0
        return self._mine[self.router.partition_of_line(msisdn)]

    def owns_lines(self, msisdns: list[str]) -> list[bool]:
        """`owns_line` of each of a block's MSISDNs (`Reading.owns_many`)."""
        return list(map(self._mine.__getitem__, self.router.partitions_of_lines(msisdns)))

    def _message(self, topic: str, partition: int, key: str | None, ts: int) -> InMessage:
        at = (topic, partition)
        offset = self._next_offset.get(at, 0)
        self._next_offset[at] = offset + 1
        return new_in_message(
            (topic, partition, offset, key.encode() if key is not None else None, None, ts)
        )

    def commands(self, commands: Iterable[Command | Tick]) -> None:
        """Queue commands in the order `rater load` produces them (ticks to every
        partition, as `rater tick` sends them)."""
        topic, usage = self.topics.commands, self.topics.usage
        for cmd in commands:
            if isinstance(cmd, Tick):
                for run in self.runs:
                    if self.owns(run.n):
                        m = self._message(topic, run.n, None, cmd.time)
                        run.push_arrival(self._checked(m, cmd, None), usage)
                continue
            key, part = self.router.route(cmd)  # learns the directory: every share routes
            if not self.owns(part):
                continue
            m = self._message(topic, part, key, cmd.time)
            self.runs[part].push_arrival(self._checked(m, cmd, key), usage)

    def message(self, topic: str, partition: int, key: bytes | None, value: bytes, ts: int) -> None:
        """An input as its bytes (a recorded topic): decoded and checked by the pipeline,
        exactly as the stream decodes what it consumes."""
        m = self._message(topic, partition, None, ts)._replace(key=key, value=value)
        if self.poison and (topic, partition, m.offset) in self.poison:
            a = self.batch.poisoned(self.batch.arrive(m, self._now), self.poison[m[:3]])
            self.runs[partition].push_arrival(a, self.topics.usage)
            return
        self.runs[partition].push(self.batch, [m], self.topics.usage, self._now)

    def recorded(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes, ts: int
    ) -> Arrival:
        """A recorded message at its own coordinates (a replay), decoded and checked as
        the stream decodes what it consumes; not queued yet (see `push`)."""
        at = (topic, partition)
        if offset >= self._next_offset.get(at, 0):
            self._next_offset[at] = offset + 1
        m = new_in_message((topic, partition, offset, key, value, ts))
        a = self.batch.arrive(m, self._now)
        if self.poison and (topic, partition, offset) in self.poison:
            return self.batch.poisoned(a, self.poison[(topic, partition, offset)])
        return a

    def push(self, a: Arrival) -> None:
        """Queue an arrival in its partition (`recorded` made it)."""
        self.runs[a.msg.partition].push_arrival(a, self.topics.usage)

    def step(self) -> None:
        """Rate what the partitions release so far (more usage follows): a replay's chunk."""
        self._flush(usage_done=False)

    def flush(self) -> None:
        """Rate everything still held (the end of the input)."""
        self._flush(usage_done=True)

    def usage(
        self,
        records: Iterable[UsageRecord | tuple[BadInput, bytes] | None],
        progress: Reports | None = None,
        reading: Reading | None = None,
    ) -> None:
        """Rate the usage in chunks of `chunk` lines, each applied before the next is
        read. Every line counts, unreadable or another share's (None, `SKIPPED`), so
        that the chunks are the same lines however many processes share the run."""
        topic = self.topics.usage
        route = self.router.route
        checked = self.batch.checked
        message = self._message
        runs = self.runs
        now = self._now
        poison = self.poison
        for n, rec in enumerate(records, start=1):
            if type(rec) is UsageRecord:
                key, part = route(rec)
                m = message(topic, part, key, rec.start_time)
                if poison and m[:3] in poison:
                    runs[part].push_arrival(self._checked(m, rec, key), topic)
                else:
                    runs[part].push_arrival(checked(m, rec, key, now), topic)
            elif rec is not None:
                self._bad_line(*rec)  # type: ignore[misc]
            if n % self.chunk == 0:
                self._flush(usage_done=False)
                if progress is not None and reading is not None:
                    progress.update(reading.done, n)
        self._flush(usage_done=True)

    def _checked(
        self, m: InMessage, item: UsageRecord | Command | Tick, key: str | None
    ) -> Arrival:
        a = self.batch.checked(m, item, key, self._now)
        poison = self.poison.get(m[:3]) if self.poison else None
        return a if poison is None else self.batch.poisoned(a, poison)

    def _bad_line(self, bad: BadInput, raw: bytes) -> None:
        self.summary.bad_lines += 1
        if self.segments is not None:
            self.segments.mark((self.flushes, 0, bad.line))
        if self.dead_out is not None:
            dl = dead_letter_for(
                raw,
                None,
                f"file:{bad.source}",
                -1,
                bad.line,
                (ErrorClass.DECODE_ERROR, bad.reason),
                0,
            )
            self.dead_out.write(dead_letter_json(dl))

    def _flush(self, usage_done: bool) -> None:
        """Every partition's turn: rate what the aligner releases and commit it; at the
        end of the input, until a tick left unfinished (`BatchRater.rate`) is done."""
        self._turn(usage_done)
        while usage_done and any(run.unfinished for run in self.runs):
            self._turn(usage_done)

    def _turn(self, usage_done: bool) -> None:
        write = self.events_out.write
        store = self.rated_into
        for run in self.runs:
            prepared = run.prepare(
                self.batch, store, usage_done, commands_done=True, keep_outputs=False
            )
            if prepared is None:
                continue
            if self.segments is not None:
                self.segments.mark((self.flushes, 1 + run.n, 0))
            cold = store.commit(run.n, prepared.commit)
            run.committed(prepared, cold)
            res = prepared.result
            self.summary.add(res, self.topics.usage)
            lines = res.lines
            if lines:
                lines.append(b"")  # each line ends with a newline
                write(b"\n".join(lines))
            if self.dead_out is not None:
                for dl in res.dead:
                    self.dead_out.write(dead_letter_json(dl))
        self.flushes += 1
        if not self.flushes % BACKSTOP_FLUSHES and not gc.isenabled():
            # under offline_gc: in case a rare path made a cycle; what is left is kept,
            # so frozen, and the next time walks only what is newer
            gc.collect()
            gc.freeze()


Usage = Iterable[UsageRecord | tuple[BadInput, bytes] | None]


def rate_offline(
    rater: Rater,
    commands: Iterable[Command | Tick],
    usage: Usage | Callable[[], Usage],
    until: int | None,
    events_out: IO[bytes],
    dead_out: IO[bytes] | None = None,
    partitions: int = 4,
    topics: Topics | None = None,
    max_future_ms: int = 24 * 3_600_000,
    progress: Reports | None = None,
    reading: Reading | None = None,
    share: Share | None = None,
    segments: SegmentLog | None = None,
    tick_accounts: int = TICK_ACCOUNTS,
) -> tuple[Summary, MemoryStore]:
    """Commands (in time order), the usage, and a closing tick at `until`, rated as the
    stream rates them once they are all on the topics.

    If the rating core raises on an input (a bug), the run starts over with that input
    dead-lettered in its place (RATING_ERROR), as the stream re-rates its batch: the
    offline store keeps the accounts it rates, not copies, so the half-changed account
    cannot be restored otherwise. The outputs must then be rewindable (a file), and
    `usage` readable again (a list, or a function that reads it anew).

    `share`: rate only these partitions (a process of `rater.jobs.shares`); `reading`
    then learns which lines are this process's own."""
    commands = list(commands)
    poison: dict[tuple[str, int, int], PoisonInput] = {}
    while True:
        job = OfflineRun(
            rater,
            events_out,
            dead_out,
            topics=topics or Topics(),
            partitions=partitions,
            max_future_ms=max_future_ms,
            tick_accounts=tick_accounts,
            poison=poison,
            share=share,
            segments=segments,
        )
        if reading is not None and share is not None:
            reading.owns, reading.owns_many = job.owns_line, job.owns_lines
        records = usage() if callable(usage) else usage
        try:
            # the closing tick goes with the commands: applied at its time among the
            # usage, as the stream applies a tick sent after the usage was produced
            job.commands([*commands, Tick(until)] if until is not None else commands)
            job.usage(records, progress, reading)
            return job.summary, job.store
        except PoisonInput as p:
            m = p.arrival.msg
            if m[:3] in poison or (not callable(usage) and iter(usage) is usage):
                raise
            poison[(m.topic, m.partition, m.offset)] = p
            if segments is not None:
                segments.clear()
            for out in (events_out, dead_out):
                if out is not None:
                    out.seek(0)
                    out.truncate()
