"""A batch's encoded outputs as one blob: what the state store keeps next to the
watermark, so that a batch applied but not committed to Kafka is re-emitted, never
re-rated (docs/exactly-once.md).

Written once per partition batch, read only by recovery, so packing must be cheap: the
messages are transposed into columns and every column is built by a C loop (`zip`,
`map`, `array`), with no per-message Python work.

Layout (version 2, little-endian)::

    b"RO2\\0"  magic
    u32 n      messages
    u32 t      length of the topic names, joined by "\\n" (Kafka topic names have none)
    t bytes    topic names
    n x u16    topic index of each message
    n x u32    key lengths, then n x u32 value lengths
    keys, then values, concatenated

What Redis keeps is that blob compressed (`for_redis`): b"RO4\\0", the partition's batch
number (u64: `PartitionCommit.seq`, which recovery compares with the one Kafka's committed
offsets carry) and a zstd frame of it; b"RO3\\0" blobs (no number) were written before.
The number lives in the blob it describes, so it cannot go stale.

A batch's outputs are most of what a batch writes to Redis (about 290 bytes a
record: 1.4 MB a batch of 5 000), and Redis appends every write to its AOF, which it
rewrites, a fork copying the dataset, each time the file has doubled; compressed at zstd
level 1 the blob is about a sixth (0.18), for about 0.8 ms of a writer thread per 625
records. `unpack_messages` reads all three.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate, pairwise
from typing import NamedTuple

import zstandard

MAGIC = b"RO2\0"
MAGIC_ZSTD = b"RO3\0"
MAGIC_SEQ = b"RO4\0"
_SEQ = struct.Struct("<Q")
_COUNTS = struct.Struct("<II")


class OutMessage(NamedTuple):
    """One output message, ready for the producer (a tuple: one is built per event)."""

    topic: str
    key: bytes
    value: bytes


def _column(typecode: str, values: Iterable[int]) -> array[int]:
    col: array[int] = array(typecode, values)
    if sys.byteorder == "big":
        col.byteswap()
    return col


def pack_messages(msgs: Sequence[OutMessage]) -> bytes:
    """The messages as one blob (layout above)."""
    if not msgs:
        return MAGIC + _COUNTS.pack(0, 0)
    topics, keys, values = zip(*msgs, strict=True)
    names = sorted(set(topics))
    index = {t: i for i, t in enumerate(names)}
    joined = "\n".join(names).encode()
    return b"".join(
        [
            MAGIC,
            _COUNTS.pack(len(msgs), len(joined)),
            joined,
            _column("H", map(index.__getitem__, topics)).tobytes(),
            _column("I", map(len, keys)).tobytes(),
            _column("I", map(len, values)).tobytes(),
            *keys,
            *values,
        ]
    )


def for_redis(blob: bytes, seq: int) -> bytes:
    """A packed blob as Redis keeps it: numbered and compressed (a compressor per call:
    the writer threads of several stores may call this at once)."""
    return MAGIC_SEQ + _SEQ.pack(seq) + zstandard.ZstdCompressor(level=1).compress(blob)


def stored_seq(blob: bytes) -> int | None:
    """The batch number of a blob as Redis keeps it; None for one written before
    batches were numbered."""
    if blob.startswith(MAGIC_SEQ) and len(blob) >= len(MAGIC_SEQ) + _SEQ.size:
        return int(_SEQ.unpack_from(blob, len(MAGIC_SEQ))[0])
    return None


def unpack_messages(blob: bytes) -> list[OutMessage]:
    """The messages of a blob, compressed or not, in their order; a blob of another
    layout is refused."""
    for magic, frame in ((MAGIC_SEQ, len(MAGIC_SEQ) + _SEQ.size), (MAGIC_ZSTD, len(MAGIC_ZSTD))):
        if blob.startswith(magic):  # compressed: the zstd frame starts at `frame`
            try:
                blob = zstandard.ZstdDecompressor().decompress(blob[frame:])
            except zstandard.ZstdError as e:
                raise ValueError(f"outbox blob: {e}") from None
            break
    if not blob.startswith(MAGIC):
        raise ValueError(f"outbox blob: no {MAGIC!r} magic, not a blob of this layout")
    view = memoryview(blob)
    n, t = _COUNTS.unpack_from(blob, len(MAGIC))
    pos = len(MAGIC) + _COUNTS.size
    names = bytes(view[pos : pos + t]).decode().split("\n") if n else []
    pos += t
    cols = []
    for typecode, size in (("H", 2), ("I", 4), ("I", 4)):
        col = array(typecode)
        col.frombytes(view[pos : pos + n * size])
        if sys.byteorder == "big":
            col.byteswap()
        cols.append(col)
        pos += n * size
    tix, klen, vlen = cols
    ends = list(accumulate([*klen, *vlen], initial=pos))
    if ends[-1] != len(blob):
        raise ValueError(f"outbox blob: {len(blob)} bytes, layout says {ends[-1]}")
    chunks = [blob[a:b] for a, b in pairwise(ends)]
    return [OutMessage(names[i], k, v) for i, k, v in zip(tix, chunks[:n], chunks[n:], strict=True)]
