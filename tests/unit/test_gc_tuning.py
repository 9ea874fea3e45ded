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
