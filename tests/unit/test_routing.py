"""Routing: Kafka's murmur2 (so that every client puts a key in the same partition), the
partition of a key, and a sharing member's inputs going to its owner's account."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rater.core.cycles import to_ms
from rater.core.inputs import NewSubscriber, OrderProduct, Roaming, UsageRecord, UsageType
from rater.routing import Router, account_key, murmur2, partition_of


@pytest.mark.parametrize(
    ("data", "want"),
    [  # org.apache.kafka.common.utils.UtilsTest.testMurmur2
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_kafka(data: bytes, want: int) -> None:
    assert murmur2(data) == want


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=1000))
def test_partition_of_is_in_range_and_follows_kafka(key: bytes, partitions: int) -> None:
    p = partition_of(key, partitions)
    assert 0 <= p < partitions
    assert p == (murmur2(key) & 0x7FFFFFFF) % partitions  # Utils.toPositive(murmur2) % n
    assert -(1 << 31) <= murmur2(key) < (1 << 31)


AT = to_ms("2026-04-01T00:00:00+08:00")


def _usage(msisdn: str) -> UsageRecord:
    return UsageRecord(
        "r1", msisdn, UsageType.DATA, AT + 1000, 60, 0, 1, None, None, "GD", "LTE",
        Roaming.HOME, None, 0,
    )  # fmt: skip


def _partition_far_from(owner: str, partitions: int, start: int = 0) -> str:
    """An MSISDN whose own partition is not the owner's (so the test can tell)."""
    home = partition_of(owner.encode(), partitions)
    for i in range(start, 1000):
        m = f"1390000{i:04d}"
        if partition_of(m.encode(), partitions) != home:
            return m
    raise AssertionError("no MSISDN in another partition")


def test_a_sharing_member_and_its_later_usage_go_to_the_owners_account_and_partition() -> None:
    owner = "13800000003"
    member = _partition_far_from(owner, 8)
    router = Router(8)
    owner_part = partition_of(owner.encode(), 8)

    assert router.route(NewSubscriber("c1", owner, AT, "P58", 1, "BJ")) == (owner, owner_part)
    joined = NewSubscriber("c2", member, AT, "D5", 1, "BJ", owner=owner)
    assert router.route(joined) == (owner, owner_part)
    assert router.directory[member] == owner
    # later inputs of the member: its usage and its commands
    assert router.route(_usage(member)) == (owner, owner_part)
    assert router.route(OrderProduct("c3", member, AT + 2, "T1G")) == (owner, owner_part)
    # another line is its own account
    other = _partition_far_from(owner, 8, start=int(member[-4:]) + 1)
    assert router.route(_usage(other)) == (other, partition_of(other.encode(), 8))


def test_learn_and_account_key_agree_with_route() -> None:
    owner, member = "13800000003", "13800000004"
    joined = NewSubscriber("c2", member, AT, "D5", 1, "BJ", owner=owner)
    assert account_key(joined) == owner
    assert account_key(_usage(member)) == member  # no directory: its own MSISDN
    assert account_key(_usage(member), {member: owner}) == owner
    router = Router(4)
    router.learn([joined])
    assert router.route(_usage(member)) == (owner, partition_of(owner.encode(), 4))
    # a directory given up front (e.g. read back from a store) is used as is
    assert Router(4, {member: owner}).route(_usage(member))[0] == owner
