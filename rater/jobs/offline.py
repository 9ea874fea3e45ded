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

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rater.codec.deadletter import dead_letter_for
from rater.codec.errors import ErrorClass
from rater.codec.jsonl import BadInput, event_line_bytes
from rater.config import Topics
from rater.core.engine import Rater
from rater.core.inputs import Command, Tick, UsageRecord
from rater.gc_tuning import tune_gc
from rater.jobs.files import (
    CommandsError,
    Reading,
    dead_letter_json,
    read_commands,
    read_usage,
)
from rater.jobs.summary import Summary
from rater.pipeline.align import Arrival
from rater.pipeline.batch import BatchRater, PoisonInput
from rater.pipeline.messages import InMessage, new_in_message
from rater.pipeline.partition import PartitionRun
from rater.progress import Progress
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
    "simulate",
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
    chunk: int = 5_000  # records read before the partitions rate them (memory per chunk)
    store: MemoryStore = field(default_factory=lambda: MemoryStore(isolated=False))
    # rate into this store instead of `store` (a replay into a Redis namespace of its own)
    target: Store | None = None
    summary: Summary = field(default_factory=Summary)
    # inputs the core raised on in an earlier attempt, by (topic, partition, offset):
    # dead-lettered in their place this time (see rate_offline)
    poison: dict[tuple[str, int, int], PoisonInput] = field(default_factory=dict)

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
            dead_letter_max_bytes=self.dead_letter_max_bytes,
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
                    m = self._message(topic, run.n, None, cmd.time)
                    run.push_arrival(self._checked(m, cmd, None), usage)
                continue
            key, part = self.router.route(cmd)
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
        records: Iterable[UsageRecord | tuple[BadInput, bytes]],
        progress: Progress | None = None,
        reading: Reading | None = None,
    ) -> None:
        """Rate the usage in chunks, each applied before the next is read."""
        topic = self.topics.usage
        route = self.router.route
        checked = self.batch.checked
        message = self._message
        runs = self.runs
        now = self._now
        poison = self.poison
        n = 0
        for rec in records:
            if type(rec) is not UsageRecord:
                self._bad_line(*rec)  # type: ignore[misc]
                continue
            key, part = route(rec)
            m = message(topic, part, key, rec.start_time)
            if poison and m[:3] in poison:
                runs[part].push_arrival(self._checked(m, rec, key), topic)
            else:
                runs[part].push_arrival(checked(m, rec, key, now), topic)
            n += 1
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
        """Every partition's turn: rate what the aligner releases and commit it."""
        write = self.events_out.write
        dead_topic = self.topics.dead_letter
        store = self.rated_into
        for run in self.runs:
            prepared = run.prepare(
                self.batch, store, usage_done, commands_done=True, keep_outputs=False
            )
            if prepared is None:
                continue
            cold = store.commit(run.n, prepared.commit)
            run.committed(prepared, cold)
            res = prepared.result
            self.summary.add(res, self.topics.usage)
            for topic, _, value in res.out:
                if topic != dead_topic:
                    write(value)
                    write(b"\n")
            if self.dead_out is not None:
                for dl in res.dead:
                    self.dead_out.write(dead_letter_json(dl))


def rate_offline(
    rater: Rater,
    commands: Iterable[Command | Tick],
    usage: Iterable[UsageRecord | tuple[BadInput, bytes]]
    | Callable[[], Iterable[UsageRecord | tuple[BadInput, bytes]]],
    until: int | None,
    events_out: IO[bytes],
    dead_out: IO[bytes] | None = None,
    partitions: int = 4,
    topics: Topics | None = None,
    max_future_ms: int = 24 * 3_600_000,
    progress: Progress | None = None,
    reading: Reading | None = None,
) -> tuple[Summary, MemoryStore]:
    """Commands (in time order), the usage, and a closing tick at `until`, rated as the
    stream rates them once they are all on the topics.

    If the rating core raises on an input (a bug), the run starts over with that input
    dead-lettered in its place (RATING_ERROR), as the stream re-rates its batch: the
    offline store keeps the accounts it rates, not copies, so the half-changed account
    cannot be restored otherwise. The outputs must then be rewindable (a file), and
    `usage` readable again (a list, or a function that reads it anew)."""
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
            poison=poison,
        )
        records = usage() if callable(usage) else usage
        try:
            # the closing tick goes with the commands: applied at its time among the
            # usage, as the stream applies a tick sent after the usage was produced
            job.commands([*commands, Tick(until)] if until is not None else commands)
            job.usage(records, progress, reading)
            return job.summary, job.store
        except PoisonInput as p:
            m = p.arrival.msg
            if m[:3] in poison or iter(records) is records:
                raise
            poison[(m.topic, m.partition, m.offset)] = p
            for out in (events_out, dead_out):
                if out is not None:
                    out.seek(0)
                    out.truncate()


def simulate(
    rater: Rater,
    commands: list[Command | Tick],
    usage_path: Path,
    until: int | None,
    events_out: IO[bytes],
    dead_out: IO[bytes] | None = None,
    partitions: int = 4,
    topics: Topics | None = None,
    progress: bool = True,
    max_future_ms: int = 24 * 3_600_000,
    gc_gen0_threshold: int = 50_000,
) -> tuple[Summary, MemoryStore]:
    """`rater simulate`: commands, the usage file, the closing tick; progress on stderr."""
    tune_gc(gc_gen0_threshold)  # as `rater run` does: the catalog and commands frozen
    reading = Reading(usage_path)
    show = progress and "PYTEST_VERSION" not in os.environ
    with Progress(f"rating {usage_path.name}", reading.total, enabled=show) as bar:
        return rate_offline(
            rater,
            commands,
            lambda: read_usage(usage_path, reading),
            until,
            events_out,
            dead_out,
            partitions,
            topics,
            max_future_ms,
            bar,
            reading,
        )
