"""Garbage-collector settings for the rating jobs (the stream, simulate, the benches)."""

from __future__ import annotations

import gc


def tune_gc(gen0_threshold: int) -> None:
    """Fewer garbage collections, and none over the start-up objects.

    The loop allocates several short-lived objects per record (decoded record, events,
    encoded bytes) that reference counting frees at once, so CPython's default of a young
    collection every 700 allocations spends about a quarter of the loop's time on
    collections that find nothing. The catalog and the other start-up objects are moved
    out of every later collection with `gc.freeze()`."""
    gc.collect()
    gc.freeze()
    if gen0_threshold:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
