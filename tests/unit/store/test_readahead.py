"""`ReadAhead` (rater.store.readahead) answers a partition's reads from the replies read
ahead, and what it was not asked from the store: the same answers as the store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from rater.core.state import Account
from rater.store.base import SeenKeys
from rater.store.memory import MemoryStore
from rater.store.readahead import ReadAhead


class CountingStore(MemoryStore):
    """A memory store that notes what it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[list[str]] = []
        self.asked: list[SeenKeys] = []

    def load(
        self, partition: int, keys: Iterable[str], cold: dict[str, bytes] | None = None
    ) -> dict[str, Account]:
        keys = list(keys)
        self.loaded.append(keys)
        return super().load(partition, keys, cold)

    def seen_among(self, partition: int, wanted: SeenKeys) -> dict[str, dict[int, set[int]]]:
        self.asked.append(wanted)
        return {"m2": {5: {9}}}


def _decode(
    partition: int,
    keys: list[str],
    colds: list[bytes | None],
    hots: list[bytes | None],
    cold: dict[str, bytes] | None,
) -> dict[str, Account]:
    """A stand-in decoder: the cold bytes name the account."""
    found: dict[str, Any] = {}
    for k, c, _ in zip(keys, colds, hots, strict=True):
        if c:
            found[k] = orjson.loads(c)
            if cold is not None:
                cold[k] = c
    return found


def test_reads_come_from_the_replies_and_the_rest_from_the_store() -> None:
    store = CountingStore()
    view = ReadAhead(
        store,
        0,
        {"a1": (b'"acct a1"', b"{}"), "a2": (None, None)},
        {("m1", 5): (frozenset({1, 2, 3}), {2})},
        _decode,
    )
    cold: dict[str, bytes] = {}
    found = view.load(0, ["a1", "a2", "a3"], cold)
    got: dict[str, object] = dict(found)
    assert got == {"a1": "acct a1"}  # a2 was read, and absent: not asked again
    assert cold == {"a1": b'"acct a1"'}
    assert store.loaded == [["a3"]]

    seen = view.seen_among(0, {"m1": {5: [1, 2]}, "m2": {5: [9]}})
    assert seen == {"m1": {5: {2}}, "m2": {5: {9}}}
    assert store.asked == [{"m2": {5: [9]}}]  # only what was not read ahead


def test_a_question_beyond_the_keys_read_ahead_goes_to_the_store() -> None:
    store = CountingStore()
    view = ReadAhead(store, 0, {}, {("m2", 5): (frozenset({1}), set())}, _decode)
    assert view.seen_among(0, {"m2": {5: [1, 9]}}) == {"m2": {5: {9}}}
    assert store.asked == [{"m2": {5: [1, 9]}}]
    assert view.load(0, []) == {} and store.loaded == []
