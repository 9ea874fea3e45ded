"""Where a replay's inputs and the issued charges come from: a recording file, the
topics themselves, or JSON-lines files; and the store it rates into (its own memory,
or a Redis namespace of its own). Each source can be read again from its start (a
replay starts over when the core raises on an input)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rater.codec import avro
from rater.config import Settings
from rater.core.events import Event
from rater.errors import Refused
from rater.replay import topics as kafka
from rater.replay.recording import Message, Recording, RecordingError, is_container
from rater.stream.tools import avro_body


@dataclass
class Messages:
    """Recorded input messages: the command topic's first, then the usage topic's."""

    usage: str
    commands: str
    partitions: int
    # topic -> partition -> [first, end) offsets the source holds
    offsets: dict[str, dict[int, tuple[int, int]]]
    read: Callable[[Callable[[int], None] | None], Iterator[Message]]
    total: int  # progress units (bytes of the file, offsets of the topics)
    where: str
    # a file, which several processes may each read (`rater.jobs.shares`); not a topic
    local: bool = False

    def messages(self, progress: Callable[[int], None] | None = None) -> Iterator[Message]:
        return self.read(progress)


def from_recording(path: Path) -> Messages:
    """The input messages of a `rater record` file (its charges, if any, are skipped)."""
    rec = Recording(path)
    meta = rec.meta
    if meta.partitions.get(meta.usage) != meta.partitions.get(meta.commands):
        raise RecordingError(
            f"{path}: the usage and command topics have {meta.partitions.get(meta.usage)} and "
            f"{meta.partitions.get(meta.commands)} partitions (they must be co-partitioned)"
        )
    inputs = {meta.usage, meta.commands}

    def read(progress: Callable[[int], None] | None) -> Iterator[Message]:
        done = [0]
        for n, m in enumerate(rec.messages(done)):
            if progress is not None and not n & 1023:
                progress(done[0])
            if m.topic in inputs:
                yield m

    return Messages(
        meta.usage,
        meta.commands,
        meta.partitions[meta.usage],
        {t: meta.offsets.get(t, {}) for t in inputs},
        read,
        rec.size,
        str(path),
        local=True,
    )


def from_topics(s: Settings, start: dict[int, dict[str, int]] | None = None) -> Messages:
    """The input topics of the settings as they are now, from their beginning (or from
    a snapshot's watermarks, `start`: partition -> topic -> next offset) to the ends
    they have when the replay starts."""
    consumer = kafka.reader(s)
    try:
        wanted = {
            t: kafka.ranges(
                s,
                consumer,
                t,
                start=None if start is None else {p: wm.get(t, 0) for p, wm in start.items()},
            )
            for t in (s.topics.commands, s.topics.usage)
        }
    finally:
        consumer.close()
    n = len(wanted[s.topics.usage])
    if len(wanted[s.topics.commands]) != n:
        raise Refused(
            f"topics {s.topics.usage} and {s.topics.commands} have {n} and "
            f"{len(wanted[s.topics.commands])} partitions (they must be co-partitioned)"
        )

    def read(progress: Callable[[int], None] | None) -> Iterator[Message]:
        c = kafka.reader(s)
        try:
            done = 0
            for topic, parts in wanted.items():

                def seen(k: int, base: int = done) -> None:
                    if progress is not None:
                        progress(base + k)

                yield from kafka.read(c, topic, parts, seen)
                done += sum(e - f for f, e in parts.values())
        finally:
            c.close()

    total = sum(e - f for parts in wanted.values() for f, e in parts.values())
    where = f"topics {s.topics.commands} and {s.topics.usage}"
    return Messages(s.topics.usage, s.topics.commands, n, wanted, read, total, where)


@dataclass
class Issued:
    """The charges that were issued, read when the diff is made."""

    read: Callable[[], Iterator[Event]]
    where: str


def issued_file(s: Settings, path: Path) -> Issued:
    """Charges as JSON lines (`rater simulate --out`, `rater replay`'s events.jsonl;
    other events in it are left out), or a recording made with `--charges`."""
    if not path.is_file():
        raise Refused(f"--issued {path}: " + ("a directory" if path.is_dir() else "no such file"))
    if is_container(path):
        rec = Recording(path)
        topic = rec.meta.charges
        if topic is None:
            raise Refused(f"--issued {path}: a recording without charges (record with --charges)")

        def from_rec() -> Iterator[Event]:
            for m in rec.messages():
                if m.topic == topic and m.value is not None:
                    yield _charge(s, m.value, f"{path}: {topic}[{m.partition}]@{m.offset}")

        return Issued(from_rec, f"{path} ({topic})")
    from rater.report import read_events_file

    def from_lines() -> Iterator[Event]:
        try:
            yield from read_events_file(path)
        except ValueError as e:  # "<file>:<line>: not an event: ..."
            raise RecordingError(f"--issued {e}") from None

    return Issued(from_lines, str(path))


def issued_topic(s: Settings, topic: str) -> Issued:
    """The charges on a topic, from its beginning to the end it has now."""

    def read() -> Iterator[Event]:
        c = kafka.reader(s)
        try:
            for m in kafka.read(c, topic, kafka.ranges(s, c, topic)):
                if m.value is not None:
                    yield _charge(s, m.value, f"--issued-topic {topic}[{m.partition}]@{m.offset}")
        finally:
            c.close()

    return Issued(read, f"topic {topic}")


def _charge(s: Settings, value: bytes, where: str) -> Event:
    try:
        return avro.decode_event("charge", avro_body(s, value))
    except Exception as e:  # DecodeError, or a framing error
        raise RecordingError(f"{where}: not a charge event: {e}") from None


def refuse_live_namespace(s: Settings, namespace: str, client: Any, fresh: bool) -> None:
    """A replay may write only to a namespace of its own: never the live one (the
    configured namespace, or `rater`), never one holding keys unless `fresh` (then
    they are deleted first)."""
    from rater.stream.tools import delete_namespace

    if namespace in (s.namespace, "rater"):
        raise Refused(
            f"--namespace {namespace}: the live namespace; a replay writes to one of its own"
        )
    if not namespace or any(c in namespace for c in "{}:*?[]"):
        raise Refused(f"--namespace {namespace!r}: use letters, digits, '-' or '.'")
    held = next(iter(client.scan_iter(match=f"{{{namespace}:*}}:*", count=1000)), None)
    if held is not None:
        if not fresh:
            raise Refused(
                f"--namespace {namespace}: holds keys already ({held.decode()!r}); "
                "--fresh deletes them first"
            )
        delete_namespace(client, namespace)
