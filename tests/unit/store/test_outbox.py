"""The outbox blob: what recovery re-emits must be exactly what the batch produced."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rater.store.outbox import MAGIC, OutMessage, pack_messages, unpack_messages

TOPICS = st.sampled_from(["rater.charges", "rater.throttle", "rater.dead-letter", "t"])
MESSAGES = st.lists(
    st.builds(OutMessage, TOPICS, st.binary(max_size=40), st.binary(max_size=300)), max_size=60
)


@given(MESSAGES)
def test_round_trip_keeps_every_message_in_order(msgs: list[OutMessage]) -> None:
    blob = pack_messages(msgs)
    assert blob.startswith(MAGIC)
    assert unpack_messages(blob) == msgs


def test_a_blob_of_another_layout_is_refused() -> None:
    blob = struct.pack(">I", 0)  # not a blob this module writes
    with pytest.raises(ValueError, match="outbox blob"):
        unpack_messages(blob)


def test_a_truncated_blob_is_refused_not_half_re_emitted() -> None:
    blob = pack_messages([OutMessage("a", b"k", b"value"), OutMessage("b", b"", b"v2")])
    with pytest.raises(ValueError, match="outbox blob"):
        unpack_messages(blob[:-1])
