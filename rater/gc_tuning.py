"""Garbage-collector settings for the rating jobs: the stream (`tune_gc`), the offline
jobs and the benches of the core (`offline_gc`), a start-up that builds large trees
(`paused_gc`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def tune_gc(gen0_threshold: int) -> None:
    """Fewer garbage collections, none over the start-up objects, and none over what a
    young collection has seen once (`rater run`, `rater load`).

    The loop allocates several short-lived objects per record (decoded record, events,
    encoded bytes) that reference counting frees at once, so CPython's default of a young
    collection every 700 allocations spends about a quarter of the loop's time on
    collections that find nothing. The catalog and the other start-up objects are moved
    out of every later collection with `gc.freeze()`.

    What survives a young collection is mostly the account cache, and it is frozen too
    (`_freeze_survivors`): otherwise older-generation collections walk the whole cache
    again and again, and a full one, which CPython starts once a quarter of the old
    objects are new, stops the loop for about 1.5 s per 200 000 cached accounts (7.5 s
    at a million: longer than a Kafka transaction may stay open). A frozen account that
    is evicted is still freed by reference counting; a reference cycle among frozen
    objects would stay, and the rating loop makes none (tests/unit/pipeline/
    test_offline_gc.py). A cycle still goes at its first young collection."""
    gc.collect()
    gc.freeze()
    if gen0_threshold:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """After each collection, what it kept leaves every later one (`tune_gc`)."""
    if phase == "stop":
        gc.freeze()


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection while building a large tree of objects that is all kept
    (a YAML document's nodes): with the collector on, the collections that the
    allocations trigger walk the growing tree again and again, 50 000 subscribers in
    about 6 s instead of 0.9. A cycle in the tree (a recursive YAML alias) is collected
    later, once the collector is back."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def offline_gc() -> Iterator[None]:
    """No cyclic garbage collection while an offline job (`rater simulate`, `rater
    replay`, the benches of the core) rates: the settings as they were afterwards.

    The rating loop makes no reference cycles: what it allocates is freed by reference
    counting (tests/unit/pipeline/test_offline_gc.py rates a workload and finds nothing
    left for the collector). The collections a threshold would still trigger then find
    nothing, yet each walks the accounts made since the start: a third of a simulate
    run's time at 50 000 subscribers. The job collects now and then all the same
    (`BACKSTOP_FLUSHES`), so that a cycle made by a rare path cannot pile up.

    What the start-up made is frozen without a collection first (which walked it all,
    1.5 s at 50 000 subscribers): a cycle among it, if any, is kept until the job ends,
    a bounded cost in a job that ends."""
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


# an offline job collects every this many chunks (offline_gc): 5 million lines. The first
# collection walks every account made since the start (about 1 s at 50 000 subscribers)
BACKSTOP_FLUSHES = 1000
