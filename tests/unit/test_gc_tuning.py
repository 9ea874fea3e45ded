"""The stream's collector settling (`rater.gc_tuning.Settler`): what it keeps leaves
later collections, a cycle made meanwhile is still freed, and it runs only as often as
it is told to."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from rater.gc_tuning import Settler


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_settling_freezes_what_is_kept_and_frees_cycles(unfrozen: None) -> None:
    now = [0.0]
    settle = Settler(every_s=30.0, clock=lambda: now[0])
    kept = [Node() for _ in range(1_000)]  # the cache
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle nobody holds any more
    gone = weakref.ref(a)
    del a, b
    assert not settle()  # not yet
    now[0] = 31.0
    frozen_before = gc.get_freeze_count()
    assert settle()
    assert gone() is None  # freed, not frozen
    assert gc.get_freeze_count() >= frozen_before + len(kept)
    assert not settle()  # the next time is 30 s later
    del kept  # evicted: freed by reference counting, frozen or not


def test_paused_while_a_kept_tree_is_built_and_back_afterwards() -> None:
    from rater.gc_tuning import paused_gc

    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: still paused, and not re-enabled by the inner one
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
