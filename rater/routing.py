"""Routing, the one place that says where an input goes: MSISDN -> account -> partition.

- An input belongs to an **account**: a sharing member's line lives in its owner's
  account (so that a shared draw is one atomic step), every other line is an account of
  its own, keyed by its MSISDN.
- An account lives in one **partition** of the co-partitioned input topics: Kafka's
  default partitioner (murmur2 of the key, as Java producers and librdkafka's
  `murmur2_random` compute it), so that usage and commands of one account meet in one
  partition, whichever client produced them.

The producers (`rater produce`, `rater load`), the stream, the offline jobs (which
emulate the partitions so that they apply inputs in the stream's order) and the tools
all route through this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

from rater.core.inputs import Command, NewSubscriber, UsageRecord

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2), as a signed
    32-bit int."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    n4 = length & ~3
    for i in range(0, n4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[n4 + 2] << 16
    if rest >= 2:
        h ^= data[n4 + 1] << 8
    if rest >= 1:
        h ^= data[n4]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed message."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def account_key(item: UsageRecord | Command, directory: Mapping[str, str] | None = None) -> str:
    """The account an input belongs to. A new sharing member joins its owner's account;
    any other input goes where the directory (MSISDN -> account, built from the
    `NewSubscriber` commands seen so far) says, else to the account of its own MSISDN."""
    if isinstance(item, NewSubscriber):
        return item.owner or item.msisdn
    if directory is None:
        return item.msisdn
    return directory.get(item.msisdn, item.msisdn)


class Router:
    """Routes inputs of a run to accounts and partitions, learning the directory from the
    `NewSubscriber` commands it routes (members' lines live in their owner's account)."""

    def __init__(self, partitions: int, directory: Mapping[str, str] | None = None) -> None:
        self.partitions = partitions
        # MSISDN -> account key of the lines that are not an account of their own;
        # changed only through `learn`, `route` and `add_directory` (a line's partition
        # is cached)
        self.directory: dict[str, str] = dict(directory or {})
        self._partition: dict[str, int] = {}  # account key -> partition (murmur2 is slow)
        self._line_partition: dict[str, int] = {}  # MSISDN -> partition (`partition_of_line`)

    def add_directory(self, directory: Mapping[str, str]) -> None:
        """Lines that live in another account (a replay's starting state)."""
        for msisdn, key in directory.items():
            self._join(msisdn, key)

    def _join(self, msisdn: str, key: str) -> None:
        """Line `msisdn` lives in account `key` (its cached partition forgotten)."""
        self.directory[msisdn] = key
        self._line_partition.pop(msisdn, None)

    def _partition_of_key(self, key: str) -> int:
        part = self._partition.get(key)
        if part is None:
            part = self._partition[key] = partition_of(key.encode(), self.partitions)
        return part

    def learn(self, commands: Iterable[Command]) -> None:
        """Note which account each new line joins (before routing its usage)."""
        for c in commands:
            if isinstance(c, NewSubscriber):
                self._join(c.msisdn, account_key(c))

    def partition_of_line(self, msisdn: str) -> int:
        """The partition of a line's usage (as `route` of its record), without the record:
        a process rating a share of the partitions skips the others' lines unread.
        Asked of every line of a file, so cached by MSISDN."""
        part = self._line_partition.get(msisdn)
        if part is None:
            part = self._line_partition[msisdn] = self._partition_of_key(
                self.directory.get(msisdn, msisdn)
            )
        return part

    def partitions_of_lines(self, msisdns: list[str]) -> list[int]:
        """`partition_of_line` of each MSISDN, the cached ones looked up in one step."""
        parts = list(map(self._line_partition.get, msisdns))
        if None in parts:
            find = self.partition_of_line
            return [find(m) if p is None else p for m, p in zip(msisdns, parts, strict=True)]
        return cast(list[int], parts)

    def route(self, item: UsageRecord | Command) -> tuple[str, int]:
        """(account key, partition) of an input."""
        if isinstance(item, NewSubscriber):
            key = account_key(item)
            self._join(item.msisdn, key)
        else:
            key = self.directory.get(item.msisdn, item.msisdn)
        return key, self._partition_of_key(key)
