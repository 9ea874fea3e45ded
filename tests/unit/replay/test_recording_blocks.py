"""A recording read a block at a time (rater.replay.blocks) gives the messages fastavro's
record reader gives, and a damaged block is refused with the file named, not read
into wrong messages."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rater.replay import blocks
from rater.replay.recording import (
    _PARSED,
    Message,
    Recording,
    RecordingError,
    RecordingMeta,
    write_recording,
)

META = RecordingMeta(roles={"usage": "u"}, partitions={"u": 1})

message = st.builds(
    Message,
    topic=st.text(min_size=0, max_size=20),
    partition=st.integers(-(2**31), 2**31 - 1),
    offset=st.integers(-(2**63), 2**63 - 1),
    timestamp=st.integers(-(2**63), 2**63 - 1),
    key=st.none() | st.binary(max_size=40),
    value=st.none() | st.binary(max_size=300),
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(msgs=st.lists(message, max_size=400))
def test_blocks_read_what_fastavro_reads(msgs: list[Message], tmp_path: Path) -> None:
    path = tmp_path / "r.avro"
    write_recording(path, META, msgs)
    with path.open("rb") as f:
        reference = [Message(**r) for r in fastavro.reader(f)]  # type: ignore[arg-type]
    done = [0]
    assert list(Recording(path).messages(done)) == reference == msgs
    assert done[0] == path.stat().st_size


def test_the_recordings_schema_is_read_a_block_at_a_time() -> None:
    assert blocks.fits(_PARSED)
    other = {**_PARSED, "fields": [*_PARSED["fields"], {"name": "x", "type": "int"}]}
    assert not blocks.fits(other)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda b: b[:-3], "a length of 10 bytes"),  # the value cut short
        (lambda b: b[:8], "cut short"),  # in the timestamp
        (lambda b: b + b"\x00", "bytes after"),
        (lambda b: b"\x7f" + b[1:], "topic of -64 bytes"),  # a negative length
        (lambda b: b[:6] + b"\xff" * 12 + b[18:], "varint longer than 10 bytes"),
    ],
)
def test_a_damaged_block_is_refused(damage: object, why: str) -> None:
    one = Message("usage", 3, 7, 1_700_000_000_000, b"k", b"v" * 10)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, _PARSED, one._asdict())
    data = buf.getvalue()
    assert list(blocks.messages(data, 1, Message)) == [one]
    with pytest.raises(ValueError, match=why):
        list(blocks.messages(damage(data), 1, Message))  # type: ignore[operator]


def test_a_damaged_recording_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.avro"
    msgs = [Message("usage", 0, i, 0, None, b"x" * 50) for i in range(100)]
    with path.open("wb") as f:  # no compression: a byte of a message can be changed
        fastavro.writer(
            f,
            _PARSED,
            [m._asdict() for m in msgs],
            codec="null",
            metadata={"rater.recording": META.to_json()},
        )
    raw = bytearray(path.read_bytes())
    at = raw.index(b"\x0ausage", 200)
    raw[at] = 0x7F  # the topic's length made negative
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match=r"r\.avro: cannot read on after message"):
        list(Recording(path).messages())


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), count=st.integers(0, 20))
def test_any_bytes_give_messages_or_a_value_error(data: bytes, count: int) -> None:
    """A damaged or crafted block never ends in another exception (a traceback)."""
    try:
        got = list(blocks.messages(data, count, Message))
    except ValueError:
        return
    assert len(got) == count
