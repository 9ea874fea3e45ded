"""The offline jobs rate with the cycle collector off (`rater.gc_tuning.offline_gc`):
that is safe only because the rating loop makes no reference cycles, which this checks
on a workload with every kind of input."""

from __future__ import annotations

import gc
from pathlib import Path

from rater.core.engine import Rater
from rater.core.inputs import Command, Tick
from rater.gc_tuning import offline_gc
from rater.jobs.files import read_usage
from rater.jobs.offline import rate_offline
from tests.unit.pipeline.conftest import CATALOG, END


def test_the_rating_loop_leaves_nothing_for_the_cycle_collector(
    inputs: tuple[list[Command | Tick], Path], tmp_path: Path
) -> None:
    cmds, usage = inputs
    rater = Rater(CATALOG)
    with offline_gc():
        assert not gc.isenabled()
        with (tmp_path / "ev").open("w+b") as ev, (tmp_path / "dl").open("w+b") as dl:
            summary, store = rate_offline(rater, cmds, lambda: read_usage(usage), END, ev, dl)
        assert summary.records > 10_000 and summary.bad_lines and summary.duplicates
        del summary, store
        left = gc.collect()
    assert left == 0, f"{left} objects in reference cycles: memory would grow with the input"


def test_the_collector_is_as_it_was_afterwards() -> None:
    before = gc.isenabled()
    with offline_gc():
        pass
    assert gc.isenabled() == before and gc.get_freeze_count() == 0
