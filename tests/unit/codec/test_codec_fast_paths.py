"""The generated codecs' fast paths (lookup tables for small and timestamp-sized longs,
inlined 2/3-byte varint reads, first-byte enum tables, cached strings) agree with
fastavro, especially around the byte boundaries where they switch paths."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import fastavro
from hypothesis import given, settings
from hypothesis import strategies as st

from rater.codec import avro
from rater.codec._binary import runtime
from rater.core import events as ev
from rater.core import inputs as inp

from .strategies import avro_datum

PLAIN = {kind: t._plain for kind, t in avro.SCHEMAS.by_kind().items()}

# values on both sides of every varint length step, of the tables' limits (2**13 for
# one/two-byte lookups, 2**27 and 2**41 for the inlined 4- and 6-byte forms) and of the
# long range
_EDGES = sorted(
    {
        s * (base + d)
        for base in [0, 64, 1 << 13, 1 << 20, 1 << 27, 1 << 34, 1 << 41]
        + [1 << (7 * k - 1) for k in range(1, 10)]
        for d in (-1, 0, 1)
        for s in (1, -1)
        if -(2**63) <= s * (base + d) < 2**63
    }
    | {2**63 - 1, -(2**63)}
)
EDGE = st.sampled_from(_EDGES)
LONG = st.one_of(EDGE, st.integers(-(2**63), 2**63 - 1), st.integers(-(2**42), 2**42))
INT = st.one_of(
    st.sampled_from([v for v in _EDGES if -(2**31) <= v < 2**31]),
    st.integers(-(2**31), 2**31 - 1),
)

USAGE = inp.UsageRecord(
    "r-1",
    "8613800138000",
    inp.UsageType.DATA,
    1776526200000,
    300,
    123456,
    9876543,
    None,
    None,
    "GD",
    "NR",
    inp.Roaming.HOME,
    None,
    42,
)
CHARGE = ev.ChargeEvent(
    "ev-1",
    "8613800138000",
    "acct-1",
    1776526200000,
    "2026-04",
    "cat-7",
    ev.ChargeKind.USAGE,
    "r-1",
    inp.UsageType.DATA,
    None,
    9_980_000,
    ev.Unit.BYTES,
    (ev.Draw("b1", "PK1", "8613800138000", 5_000_000),),
    0,
    0,
    0,
    "within allowance",
)


def _fastavro(kind: str, obj: Any) -> bytes:
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, PLAIN[kind], avro_datum(obj))
    return bio.getvalue()


def test_tables() -> None:
    for v in _EDGES:
        assert runtime.write_long(v) == _fastavro_long(v)
        if -(2**13) <= v < 2**13:
            assert runtime._ZZ[v] == _fastavro_long(v)
    for n in range(1 << 14):
        assert runtime._VAR[n] == _fastavro_long(n >> 1 if n & 1 == 0 else ~(n >> 1))
    for c in range(128):
        assert runtime._ZD[c] == fastavro.schemaless_reader(io.BytesIO(bytes([c])), "long")


def _fastavro_long(v: int) -> bytes:
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, "long", v)
    return bio.getvalue()


@settings(max_examples=500)
@given(time=LONG, duration=LONG, up=LONG, group=st.none() | LONG, seq=LONG)
def test_usage_longs_agree_with_fastavro(
    time: int, duration: int, up: int, group: int | None, seq: int
) -> None:
    rec = dataclasses.replace(
        USAGE,
        start_time=time,
        duration_s=duration,
        uplink_bytes=up,
        rating_group=group,
        sequence=seq,
    )
    body = avro.encode_usage(rec)
    assert body == _fastavro("usage", rec)
    assert avro.decode_usage(body) == rec


@settings(max_examples=300)
@given(time=LONG, quantity=LONG, amounts=st.lists(LONG, max_size=3), fen=LONG)
def test_charge_longs_agree_with_fastavro(
    time: int, quantity: int, amounts: list[int], fen: int
) -> None:
    draws = tuple(ev.Draw(f"b{k}", "PK1", "m", a) for k, a in enumerate(amounts))
    e = dataclasses.replace(CHARGE, event_time=time, quantity=quantity, draws=draws, fen=fen)
    body = avro.encode_event(e)
    assert body == _fastavro("charge", e)
    assert avro.decode_event("charge", body) == e


@settings(max_examples=300)
@given(cycle_day=INT)
def test_ints_agree_with_fastavro(cycle_day: int) -> None:
    cmd = inp.NewSubscriber("c1", "m", 1776526200000, "P58", cycle_day, "GD")
    body = avro.encode_command(cmd)
    bio = io.BytesIO()
    fastavro.schemaless_writer(
        bio,
        PLAIN["command"],
        {
            "command_id": "c1",
            "msisdn": "m",
            "time": 1776526200000,
            "body": (
                "rater.v1.NewSubscriber",
                {
                    "plan": "P58",
                    "cycle_day": cycle_day,
                    "home_province": "GD",
                    "owner": None,
                    "packs": [],
                },
            ),
        },
    )
    assert body == bio.getvalue()
    assert avro.decode_command(body) == cmd


def test_non_canonical_varints_are_read() -> None:
    """An index or length written with more bytes than needed (valid Avro: fastavro
    reads it) takes the slow paths: enum tables, string lengths, longs."""
    canonical = avro.encode_usage(USAGE)
    # record_id length 3 as two bytes, usage_type index 0 as two bytes
    padded = b"\x86\x00r-1" + canonical[4:18] + b"\x80\x00" + canonical[19:]
    assert canonical[18:19] == b"\x00"
    assert avro.decode_usage(padded) == USAGE
    assert fastavro.schemaless_reader(io.BytesIO(padded), PLAIN["usage"]) is not None


def test_string_caches_stay_bounded_and_correct() -> None:
    caches = [
        v
        for k, v in avro.CHARGE.encode.__globals__.items()
        if k.startswith("_c") and isinstance(v, dict)
    ]
    assert caches
    for k in range(runtime._CACHE_SIZE + 10):
        e = dataclasses.replace(CHARGE, product=f"p{k}", reason=f"reason {k % 7}")
        assert avro.encode_event(e) == _fastavro("charge", e)
    assert all(len(c) <= runtime._CACHE_SIZE for c in caches)
    # a long string is written but not kept
    long = "x" * (runtime._CACHE_MAX_LEN + 1)
    e = dataclasses.replace(CHARGE, reason=long)
    assert avro.encode_event(e) == _fastavro("charge", e)
    assert all(long not in c for c in caches)


def test_str_subclasses_and_plain_strings_share_cache_entries() -> None:
    class Tagged(str):
        pass

    e = dataclasses.replace(CHARGE, cycle=Tagged("2026-05"), reason="r")
    first = avro.encode_event(e)
    assert first == avro.encode_event(dataclasses.replace(e, cycle="2026-05"))
    assert first == _fastavro("charge", dataclasses.replace(e, cycle="2026-05"))
