"""Dead letters: bounded size, the original's length and hash, determinism, the schema's
new fields (boolean in the generated codec) and compatibility with the previous version."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rater.codec import avro, deadletter
from rater.codec.deadletter import (
    MAX_DEAD_LETTER_BYTES,
    MAX_ERROR_CHARS,
    MAX_KEY_BYTES,
    MIN_DEAD_LETTER_BYTES,
    DeadLetter,
    dead_letter_for,
)
from rater.codec.errors import DecodeError, EncodeError, ErrorClass
from rater.codec.validate import check_usage
from rater.core import inputs as inp

from .strategies import avro_datum

NOW = 1776526200000
TS = NOW - 5_000  # the input message's timestamp
HUGE_MSISDN = "8" * 500_000


def _usage(msisdn: str) -> inp.UsageRecord:
    return inp.UsageRecord(
        "r-1",
        msisdn,
        inp.UsageType.DATA,
        NOW - 60_000,
        60,
        1024,
        4096,
        None,
        None,
        "GD",
        "NR",
        inp.Roaming.HOME,
        None,
        0,
    )


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_huge_msisdn_gives_a_bounded_dead_letter() -> None:
    rec = _usage(HUGE_MSISDN)
    payload = avro.encode_usage(rec)
    assert len(payload) > 500_000
    problem = check_usage(rec, NOW, 300_000)
    assert problem is not None and problem[0] == ErrorClass.INVALID_VALUE
    key = HUGE_MSISDN.encode()
    # with the key and the error text capped, the 500 KB payload fits the default bound
    d = dead_letter_for(payload, key, "usage", 2, 77, problem, TS)
    assert len(avro.encode_dead_letter(d)) <= MAX_DEAD_LETTER_BYTES
    assert (d.payload, d.truncated, d.payload_length) == (payload, False, len(payload))
    assert d.payload_sha256 == _sha(payload) and d.key == key[:MAX_KEY_BYTES]
    # a tighter bound cuts it
    for limit in (100_000, MIN_DEAD_LETTER_BYTES):
        d = dead_letter_for(payload, key, "usage", 2, 77, problem, TS, max_bytes=limit)
        body = avro.encode_dead_letter(d)
        assert len(body) <= limit
        assert len(body) >= limit - 10  # the payload fills the room left
        assert d.truncated is True
        assert d.payload_length == len(payload)
        assert d.payload_sha256 == _sha(payload)
        assert payload.startswith(d.payload) and len(d.payload) < len(payload)
        assert d.key == key[:MAX_KEY_BYTES]
        assert d.timestamp == TS
        assert avro.decode_dead_letter(body) == d
    # an error text that repeats the msisdn is capped
    d = dead_letter_for(payload, key, "usage", 2, 77, ("INVALID_VALUE", f"bad {HUGE_MSISDN}"), TS)
    assert len(avro.encode_dead_letter(d)) <= MAX_DEAD_LETTER_BYTES
    assert d.error.endswith(f"... ({len(HUGE_MSISDN) + 4} chars)")
    assert len(d.error) <= MAX_ERROR_CHARS + 30


def test_one_mb_msisdn_is_truncated_at_the_default_bound() -> None:
    rec = _usage("8" * 1_000_000)
    payload = avro.encode_usage(rec)
    problem = check_usage(rec, NOW, 300_000)
    assert problem is not None
    d = dead_letter_for(payload, rec.msisdn.encode(), "usage", 0, 1, problem, TS)
    body = avro.encode_dead_letter(d)
    assert MAX_DEAD_LETTER_BYTES - 10 < len(body) <= MAX_DEAD_LETTER_BYTES
    assert d.truncated is True and payload.startswith(d.payload)
    assert (d.payload_length, d.payload_sha256) == (len(payload), _sha(payload))


def test_payload_over_the_bound_alone_is_truncated() -> None:
    payload = bytes(range(256)) * 8_000  # 2 MB, say a huge garbage message
    err = DecodeError(ErrorClass.DECODE_ERROR, "UsageRecord: truncated input")
    d = dead_letter_for(payload, b"8613800138000", "usage", 0, 1, err, TS)
    assert len(avro.encode_dead_letter(d)) <= MAX_DEAD_LETTER_BYTES
    assert d.truncated and d.payload == payload[: len(d.payload)]
    assert (d.payload_length, d.payload_sha256) == (len(payload), _sha(payload))
    assert d.error == "UsageRecord: truncated input" and d.key == b"8613800138000"


def test_small_dead_letter_is_untouched() -> None:
    payload = avro.encode_usage(_usage("8613800138000"))
    err = DecodeError(ErrorClass.DECODE_ERROR, "UsageRecord: truncated input")
    d = dead_letter_for(memoryview(payload), bytearray(b"k"), "usage", 1, 9, err, TS)
    assert d == DeadLetter(
        payload=payload,
        key=b"k",
        source_topic="usage",
        source_partition=1,
        source_offset=9,
        error_class="DECODE_ERROR",
        error="UsageRecord: truncated input",
        timestamp=TS,
        payload_length=len(payload),
        payload_sha256=_sha(payload),
        truncated=False,
    )
    assert type(d.payload) is bytes and type(d.key) is bytes
    empty = dead_letter_for(b"", None, "usage", 0, 0, ("DECODE_ERROR", ""), 0)
    assert empty.payload_length == 0 and empty.payload_sha256 == _sha(b"")
    assert empty.truncated is False and empty.key is None


def test_a_payload_that_just_fits_is_kept_whole() -> None:
    err = ("DECODE_ERROR", "x")
    limit = MIN_DEAD_LETTER_BYTES
    n = 16_000  # about the room left; its length (and payload_length) take 3 varint bytes
    probe = dead_letter_for(b"p" * n, b"k", "usage", 0, 0, err, TS, max_bytes=10**6)
    fixed = len(avro.encode_dead_letter(dataclasses.replace(probe, payload=b""))) - 1
    fits = b"p" * (limit - fixed - 3)
    assert 8192 <= len(fits) < 1 << 20  # the same varint sizes as n
    d = dead_letter_for(fits, b"k", "usage", 0, 0, err, TS, max_bytes=limit)
    assert d.truncated is False and d.payload == fits
    assert len(avro.encode_dead_letter(d)) == limit
    d = dead_letter_for(fits + b"p", b"k", "usage", 0, 0, err, TS, max_bytes=limit)
    assert d.truncated is True and len(d.payload) == len(fits)
    assert len(avro.encode_dead_letter(d)) == limit


def test_dead_letter_is_a_function_of_its_input() -> None:
    payload = avro.encode_usage(_usage(HUGE_MSISDN))
    args: tuple[Any, ...] = (payload, b"k", "usage", 3, 5, ("INVALID_VALUE", "x" * 5000), TS)
    a, b = dead_letter_for(*args), dead_letter_for(*args)
    assert a == b and avro.encode_dead_letter(a) == avro.encode_dead_letter(b)


def test_error_text_is_capped_and_made_encodable() -> None:
    err = ("INVALID_VALUE", "\udcff" + "é" * 5000)  # a lone surrogate, then 2-byte chars
    d = dead_letter_for(b"x", None, "usage", 0, 0, err, TS)
    assert d.error.startswith("\\udcff")
    assert d.error.endswith("... (5001 chars)")
    avro.encode_dead_letter(d)  # no EncodeError
    short = dead_letter_for(b"x", None, "usage", 0, 0, ("E", "y" * MAX_ERROR_CHARS), TS)
    assert short.error == "y" * MAX_ERROR_CHARS


def test_max_bytes_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        dead_letter_for(b"x", None, "usage", 0, 0, ("E", "e"), TS, max_bytes=1000)
    with pytest.raises(ValueError, match="without payload"):
        topic = "t" * MIN_DEAD_LETTER_BYTES  # not a Kafka topic name (at most 249 chars)
        dead_letter_for(b"x", None, topic, 0, 0, ("E", "e"), TS, max_bytes=MIN_DEAD_LETTER_BYTES)


_TOPIC = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=249)


@st.composite
def _sized_bytes(draw: st.DrawFn, max_size: int) -> bytes:
    """Bytes of any length up to `max_size` (a drawn pattern repeated: cheap to draw)."""
    n = draw(st.integers(0, max_size))
    pattern = draw(st.binary(min_size=1, max_size=16))
    return (pattern * (n // len(pattern) + 1))[:n]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=_sized_bytes(2_000_000),
    key=st.none() | _sized_bytes(200_000),
    error=st.text(max_size=50) | st.integers(0, 600_000).map(lambda n: "é" * n),
    error_class=st.sampled_from(list(ErrorClass)),
    topic=_TOPIC,
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(-(2**63), 2**63 - 1),
    timestamp=st.integers(-(2**63), 2**63 - 1),
    max_bytes=st.sampled_from([MIN_DEAD_LETTER_BYTES, MAX_DEAD_LETTER_BYTES])
    | st.integers(MIN_DEAD_LETTER_BYTES, 2_100_000),
)
def test_encoded_size_never_exceeds_max_bytes(
    payload: bytes,
    key: bytes | None,
    error: str,
    error_class: ErrorClass,
    topic: str,
    partition: int,
    offset: int,
    timestamp: int,
    max_bytes: int,
) -> None:
    d = dead_letter_for(
        payload, key, topic, partition, offset, (error_class, error), timestamp, max_bytes=max_bytes
    )
    body = avro.encode_dead_letter(d)
    assert len(body) <= max_bytes
    assert d.payload_length == len(payload)
    assert d.payload_sha256 == _sha(payload)
    assert payload.startswith(d.payload)
    assert d.truncated == (len(d.payload) < len(payload))
    if d.truncated:  # cut only as much as needed
        assert len(body) > max_bytes - 10
    assert d.key == (None if key is None else key[:MAX_KEY_BYTES])
    assert len(d.error) <= MAX_ERROR_CHARS + len(f"... ({len(error)} chars)")
    assert (d.timestamp, d.source_offset, d.error_class) == (timestamp, offset, error_class)
    assert avro.decode_dead_letter(body) == d


# --- the schema's new fields ----------------------------------------------------------


def _letter(**change: Any) -> DeadLetter:
    d = dead_letter_for(b"\x00\x02ab", b"k", "usage", 1, 2, ("INVALID_VALUE", "bad"), TS)
    return dataclasses.replace(d, **change)


def test_new_fields_are_appended_with_defaults() -> None:
    fields = avro.DEAD_LETTER.schema["fields"]
    assert [f["name"] for f in fields[-3:]] == ["payload_length", "payload_sha256", "truncated"]
    assert [(f["type"], f["default"]) for f in fields[-3:]] == [
        ("long", -1),
        ("string", ""),
        ("boolean", False),
    ]
    (ts,) = [f for f in fields if f["name"] == "timestamp"]
    assert "original input message" in ts["doc"]


@pytest.mark.parametrize("truncated", [False, True])
def test_codec_agrees_with_fastavro(truncated: bool) -> None:
    d = _letter(truncated=truncated)
    body = avro.encode_dead_letter(d)
    plain = fastavro.parse_schema(
        avro.strip_logical_types(avro.DEAD_LETTER.schema), named_schemas={}
    )
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, plain, avro_datum(d))
    assert bio.getvalue() == body
    assert body[-1:] == (b"\x01" if truncated else b"\x00")
    datum = fastavro.schemaless_reader(io.BytesIO(body), plain)
    assert isinstance(datum, dict) and datum["truncated"] is truncated
    back = avro.decode_dead_letter(body)
    assert back == d and back.truncated is truncated


def test_boolean_byte_other_than_0_or_1_is_a_decode_error() -> None:
    body = avro.encode_dead_letter(_letter())
    with pytest.raises(DecodeError, match=r"DeadLetter\.truncated: boolean byte 2") as info:
        avro.decode_dead_letter(body[:-1] + b"\x02")
    assert info.value.reason_class == "DECODE_ERROR"
    with pytest.raises(DecodeError, match="truncated input"):
        avro.decode_dead_letter(body[:-1])


@pytest.mark.parametrize("bad", [1, 0, None, "true"])
def test_encoding_a_non_bool_is_an_encode_error(bad: object) -> None:
    with pytest.raises(EncodeError, match=r"DeadLetter\.truncated: .*expected a bool"):
        avro.encode_dead_letter(_letter(truncated=bad))


def _previous_schema() -> dict[str, Any]:
    """dead_letter.avsc before payload_length, payload_sha256 and truncated."""
    old = copy.deepcopy(avro.DEAD_LETTER.schema)
    old["fields"] = old["fields"][:-3]
    return old


def test_a_previous_writer_is_read_with_the_defaults() -> None:
    old = _previous_schema()
    d = _letter()
    datum = {k: v for k, v in avro_datum(d).items() if k in {f["name"] for f in old["fields"]}}
    bio = io.BytesIO()
    fastavro.schemaless_writer(
        bio, fastavro.parse_schema(avro.strip_logical_types(old), named_schemas={}), datum
    )
    back = avro.DEAD_LETTER.resolving_decoder(json.dumps(old))(bio.getvalue())
    assert back == dataclasses.replace(d, payload_length=-1, payload_sha256="", truncated=False)


def test_a_previous_reader_reads_the_new_version() -> None:
    old = fastavro.parse_schema(avro.strip_logical_types(_previous_schema()), named_schemas={})
    new = fastavro.parse_schema(avro.strip_logical_types(avro.DEAD_LETTER.schema), named_schemas={})
    d = _letter(truncated=True)
    datum = fastavro.schemaless_reader(io.BytesIO(avro.encode_dead_letter(d)), new, old)
    assert isinstance(datum, dict)
    assert datum["payload"] == d.payload and datum["error"] == d.error
    assert "truncated" not in datum


def test_public_names() -> None:
    assert deadletter.MAX_DEAD_LETTER_BYTES == 900_000
    assert deadletter.MAX_DEAD_LETTER_BYTES < 1_048_588 - 2 * MAX_KEY_BYTES
