"""The collector paused while a start-up builds a large tree (`rater.gc_tuning.paused_gc`),
and as it was afterwards."""

from __future__ import annotations

import gc


def test_paused_while_a_kept_tree_is_built_and_back_afterwards() -> None:
    from rater.gc_tuning import paused_gc

    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: still paused, and not re-enabled by the inner one
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


_SURVIVORS = """
import gc, sys
from rater.gc_tuning import tune_gc
tune_gc(1_000)
tune_gc(1_000)  # as a bench calls it again: still one callback
assert sum(cb.__name__ == "_freeze_survivors" for cb in gc.callbacks) == 1
cache = {i: [i, {"n": i}] for i in range(100_000)}  # kept, as the account cache is
kept = {id(v) for v in cache.values()}
def walked():
    return kept & {id(o) for g in range(3) for o in gc.get_objects(generation=g)}
# only what came after the last young collection (fewer than its threshold) is left
assert len(walked()) < 1_000, f"{len(walked())} cached objects still walked"
gc.collect(0)
assert not walked()
cycle = []
cycle.append(cycle)
del cycle
assert gc.collect(0) >= 1  # a young cycle is still collected
print("ok")
"""


def test_what_survives_a_young_collection_is_out_of_every_later_one() -> None:
    """In `rater run`, a full collection walked the whole account cache: about 1.5 s
    per 200 000 cached accounts. After `tune_gc`, what a young collection keeps (the
    cache) is frozen, and later collections never walk it; a young cycle still goes.
    In a child process: freezing changes the interpreter for good."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _SURVIVORS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
