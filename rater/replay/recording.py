"""The recording file of `rater record`: Kafka messages, as they were on the topics, in
an Avro object container file (docs/replay.md, "The recording").

One Avro record per message, with the schema `MESSAGE_SCHEMA` (topic, partition, offset,
timestamp, key, value: the bytes as consumed, not decoded), so that a replay decodes and
checks them exactly as the stream did, and a message that was a dead letter is one
again. The file's metadata (`rater.recording`, JSON) says which topics it holds in
which role, their partition counts, the time range asked for and the offsets copied.

Messages are in topic order (the command topic, then the usage topic, then the charges
if recorded), each topic partition by partition in offset order: a replay reads the
commands before the usage, as the offline jobs need them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

import fastavro

from rater.replay import blocks

FORMAT: Final = "rater-recording"
VERSION: Final = 1
META_KEY: Final = "rater.recording"

MESSAGE_SCHEMA: Final[dict[str, Any]] = {
    "type": "record",
    "name": "RecordedMessage",
    "namespace": "rater.v1.replay",
    "doc": "One Kafka message as it was consumed (read_committed), bytes untouched.",
    "fields": [
        {"name": "topic", "type": "string"},
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
        {"name": "timestamp", "type": "long", "doc": "the message's timestamp, epoch ms"},
        {"name": "key", "type": ["null", "bytes"]},
        {"name": "value", "type": ["null", "bytes"]},
    ],
}
_PARSED: Any = fastavro.parse_schema(MESSAGE_SCHEMA)
_NAME: Final = "rater.v1.replay.RecordedMessage"


class RecordingError(ValueError):
    """A file that is not a usable recording: one line naming the file and why."""


class Message(NamedTuple):
    """A message as consumed (or as recorded)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass
class RecordingMeta:
    """What a recording holds (its `rater.recording` metadata)."""

    roles: dict[str, str]  # "usage" / "commands" / "charges" -> topic name
    partitions: dict[str, int]  # topic -> partition count
    # topic -> partition -> [first offset, end offset) copied
    offsets: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)
    from_ms: int | None = None  # the time range asked for (message timestamps)
    to_ms: int | None = None
    recorded_at: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "roles": self.roles,
                "partitions": self.partitions,
                "offsets": {
                    t: {str(p): list(r) for p, r in sorted(parts.items())}
                    for t, parts in self.offsets.items()
                },
                "from": self.from_ms,
                "to": self.to_ms,
                "recorded_at": self.recorded_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> RecordingMeta:
        try:
            d = json.loads(text)
            if d.get("format") != FORMAT:
                raise RecordingError(
                    f"{source}: not a rater recording (format {d.get('format')!r})"
                )
            if d.get("version") != VERSION:
                raise RecordingError(
                    f"{source}: recording format version {d.get('version')!r}, this rater "
                    f"reads version {VERSION}"
                )
            return cls(
                roles=dict(d["roles"]),
                partitions={t: int(n) for t, n in d["partitions"].items()},
                offsets={
                    t: {int(p): (int(r[0]), int(r[1])) for p, r in parts.items()}
                    for t, parts in d["offsets"].items()
                },
                from_ms=d.get("from"),
                to_ms=d.get("to"),
                recorded_at=int(d.get("recorded_at", 0)),
            )
        except RecordingError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
            raise RecordingError(f"{source}: unreadable {META_KEY} metadata: {e}") from None

    @property
    def usage(self) -> str:
        return self.roles["usage"]

    @property
    def commands(self) -> str:
        return self.roles["commands"]

    @property
    def charges(self) -> str | None:
        return self.roles.get("charges")


def write_recording(path: Path, meta: RecordingMeta, messages: Iterable[Message]) -> int:
    """Write the messages (in the order given) with the metadata; returns how many."""
    n = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal n
        for m in messages:
            n += 1
            yield m._asdict()

    with path.open("wb") as f:
        fastavro.writer(
            f,
            _PARSED,
            records(),
            codec="deflate",
            codec_compression_level=1,
            metadata={META_KEY: meta.to_json()},
        )
    return n


def is_container(path: Path) -> bool:
    """Whether a file starts as an Avro object container file does."""
    with path.open("rb") as f:
        return f.read(4) == b"Obj\x01"


def _message(d: dict[str, Any]) -> Message:
    return Message(d["topic"], d["partition"], d["offset"], d["timestamp"], d["key"], d["value"])


class Recording:
    """A recording file: its metadata, and its messages as often as they are asked for
    (a replay that starts over after a poison input reads them again)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with path.open("rb") as f:
                reader = fastavro.reader(f)
                raw = reader.metadata.get(META_KEY)
                schema = reader.writer_schema
        except OSError as e:
            raise RecordingError(f"{path}: cannot read: {e.strerror}") from None
        except Exception as e:  # fastavro raises many types on a bad header
            raise RecordingError(f"{path}: not an Avro container file: {e}") from None
        if raw is None:
            raise RecordingError(
                f"{path}: an Avro file without {META_KEY} metadata (not made by `rater record`)"
            )
        if not isinstance(schema, dict) or schema.get("name") != _NAME:
            raise RecordingError(f"{path}: its records are not {_NAME} messages")
        self.meta = RecordingMeta.from_json(raw, str(path))
        self.size = path.stat().st_size

    def messages(self, done: list[int] | None = None) -> Iterator[Message]:
        """The recorded messages in file order. `done[0]` follows the bytes read (for a
        progress bar)."""
        with self.path.open("rb") as f:
            n = 0
            try:
                reader = fastavro.block_reader(f)
                fast = blocks.fits(reader.writer_schema)
                for block in reader:
                    # the block's decompressed bytes: not in fastavro's documented
                    # attributes (fastavro is pinned; without them, its own reading)
                    data = getattr(block, "bytes_", None) if fast else None
                    if data is not None:
                        ms: Iterator[Message] = blocks.messages(
                            data.getvalue(), block.num_records, Message
                        )
                    else:  # a schema of another version: fastavro resolves it
                        ms = map(_message, cast(Iterator[dict[str, Any]], iter(block)))
                    for m in ms:
                        n += 1
                        yield m
                    if done is not None:
                        done[0] = f.tell()
            except (ValueError, EOFError, OSError) as e:
                raise RecordingError(f"{self.path}: cannot read on after message {n}: {e}") from e
            if done is not None:
                done[0] = self.size
