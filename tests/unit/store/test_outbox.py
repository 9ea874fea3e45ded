"""The outbox blob: what recovery re-emits must be exactly what the batch produced."""

from __future__ import annotations

import struct

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from rater.store.outbox import (
    MAGIC,
    MAGIC_ZSTD,
    OutMessage,
    for_redis,
    pack_messages,
    stored_seq,
    unpack_messages,
)

TOPICS = st.sampled_from(["rater.charges", "rater.throttle", "rater.dead-letter", "t"])
MESSAGES = st.lists(
    st.builds(OutMessage, TOPICS, st.binary(max_size=40), st.binary(max_size=300)), max_size=60
)


@given(MESSAGES)
def test_round_trip_keeps_every_message_in_order(msgs: list[OutMessage]) -> None:
    blob = pack_messages(msgs)
    assert blob.startswith(MAGIC)
    assert unpack_messages(blob) == msgs


@given(MESSAGES)
def test_what_redis_keeps_reads_back_as_the_same_messages(msgs: list[OutMessage]) -> None:
    assert unpack_messages(for_redis(pack_messages(msgs), 3)) == msgs


def test_what_redis_keeps_of_a_batch_is_a_fraction_of_its_outputs() -> None:
    """Charge events repeat their MSISDNs, products and ids: Redis (and its AOF) gets
    far fewer bytes than the batch produced."""
    msgs = [
        OutMessage(
            "rater.charges",
            f"1380000{i % 500:04d}".encode(),
            f"ev-{i}|1380000{i % 500:04d}|P58.data#1|data|{i * 7919 % 100000}|0|0".encode() * 3,
        )
        for i in range(5000)
    ]
    blob = pack_messages(msgs)
    assert len(for_redis(blob, 1)) * 4 < len(blob)


def test_a_damaged_compressed_blob_is_refused_not_half_re_emitted() -> None:
    kept = for_redis(pack_messages([OutMessage("a", b"k", b"value" * 50)] * 20), 1)
    with pytest.raises(ValueError, match="outbox blob"):
        unpack_messages(kept[:-3])


def test_a_blob_of_another_layout_is_refused() -> None:
    blob = struct.pack(">I", 0)  # not a blob this module writes
    with pytest.raises(ValueError, match="outbox blob"):
        unpack_messages(blob)


def test_a_truncated_blob_is_refused_not_half_re_emitted() -> None:
    blob = pack_messages([OutMessage("a", b"k", b"value"), OutMessage("b", b"", b"v2")])
    with pytest.raises(ValueError, match="outbox blob"):
        unpack_messages(blob[:-1])


def test_redis_keeps_the_batch_number_in_the_blob_and_still_reads_older_blobs() -> None:
    """Recovery compares the stored batch's number with the one Kafka's committed
    offsets carry; a blob written before batches were numbered has none, and its
    messages are read all the same."""
    msgs = [OutMessage("rater.charges", b"k", b"v" * 40), OutMessage("rater.alerts", b"", b"a")]
    kept = for_redis(pack_messages(msgs), 2**40 + 7)
    assert stored_seq(kept) == 2**40 + 7 and unpack_messages(kept) == msgs
    older = MAGIC_ZSTD + zstandard.ZstdCompressor(level=1).compress(pack_messages(msgs))
    assert stored_seq(older) is None and unpack_messages(older) == msgs
    assert stored_seq(pack_messages(msgs)) is None
