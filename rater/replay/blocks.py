"""A recording's messages read a container block at a time, without fastavro's record
reader: fastavro decodes each message into a dict (about 2.7 µs) that then becomes a
`Message` (1.1 µs more), a fifth of a replay process's time. Here a block's bytes (as
fastavro's block reader gives them, decompressed and checked against the sync marker)
are read straight into messages (`rater.replay.recording.Message`).

Only for the schema `rater record` writes (`fits`); any other goes through fastavro,
which resolves it. Every length is checked against the bytes left, and a block must end
exactly where its last message does: anything else raises ValueError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from rater.codec._binary.runtime import _read_long

M = TypeVar("M")

# the fields of `rater.replay.recording.MESSAGE_SCHEMA`, as (name, type)
FIELDS: Final = (
    ("topic", "string"),
    ("partition", "int"),
    ("offset", "long"),
    ("timestamp", "long"),
    ("key", ["null", "bytes"]),
    ("value", ["null", "bytes"]),
)


def fits(writer_schema: Any) -> bool:
    """Whether a file's writer schema is the one this module reads."""
    if not isinstance(writer_schema, dict) or writer_schema.get("type") != "record":
        return False
    fields = writer_schema.get("fields")
    if not isinstance(fields, list):
        return False
    return tuple((f.get("name"), f.get("type")) for f in fields) == FIELDS


def _bytes_or_null(b: bytes, i: int) -> tuple[bytes | None, int]:
    branch = b[i]
    if branch == 0:
        return None, i + 1
    if branch != 2:
        raise ValueError(f"a union index {branch} at byte {i} of a block")
    c = b[i + 1]
    if c < 0x80:
        n, i = (c >> 1) ^ -(c & 1), i + 2
    else:
        n, i = _read_long(b, i + 2, c)
    end = i + n
    if n < 0 or end > len(b):
        raise ValueError(f"a length of {n} bytes at byte {i} of a block of {len(b)}")
    return b[i:end], end


def messages(
    data: bytes, count: int, make: Callable[[str, int, int, int, bytes | None, bytes | None], M]
) -> Iterator[M]:
    """The `count` messages of a block, each `make(topic, partition, offset, timestamp,
    key, value)` (the one-byte varints read inline: most lengths, partitions and small
    offsets fit one byte)."""
    topics: dict[bytes, str] = {}
    i = 0
    size = len(data)
    try:
        for _ in range(count):
            c = data[i]
            if c < 0x80:
                n, i = (c >> 1) ^ -(c & 1), i + 1
            else:
                n, i = _read_long(data, i + 1, c)
            end = i + n
            if n < 0 or end > size:
                raise ValueError(f"a topic of {n} bytes at byte {i} of a block of {size}")
            raw = data[i:end]
            topic = topics.get(raw)
            if topic is None:
                topic = topics[raw] = raw.decode()
            c = data[end]
            if c < 0x80:
                partition, i = (c >> 1) ^ -(c & 1), end + 1
            else:
                partition, i = _read_long(data, end + 1, c)
            c = data[i]
            if c < 0x80:
                offset, i = (c >> 1) ^ -(c & 1), i + 1
            else:
                offset, i = _read_long(data, i + 1, c)
            c = data[i]
            if c < 0x80:
                timestamp, i = (c >> 1) ^ -(c & 1), i + 1
            else:
                timestamp, i = _read_long(data, i + 1, c)
            key, i = _bytes_or_null(data, i)
            value, i = _bytes_or_null(data, i)
            yield make(topic, partition, offset, timestamp, key, value)
    except IndexError:
        raise ValueError(f"a block cut short at byte {i} of {size}") from None
    if i != size:
        raise ValueError(f"{size - i} bytes after the block's {count} messages")
