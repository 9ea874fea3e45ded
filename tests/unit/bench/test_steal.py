"""`rater bench stream` says how much of the box's CPU time the hypervisor gave to other
guests during the run: on a shared virtual machine that slows every figure, and a run
with a third of its time stolen is not comparable with a quiet one."""

from __future__ import annotations

from pathlib import Path

from rater.bench.probes import cpu_ticks, steal_note


def _stat(tmp_path: Path, name: str, line: str) -> Path:
    p = tmp_path / name
    p.write_text(line + "\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    return p


def test_the_share_of_time_stolen_during_a_run_is_reported(tmp_path: Path) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    before = cpu_ticks(_stat(tmp_path, "a", "cpu  1000 0 100 800 0 0 0 100 0 0"))
    after = cpu_ticks(_stat(tmp_path, "b", "cpu  1500 0 150 1000 0 0 0 350 0 0"))
    assert before == (100, 2000) and after == (350, 3000)
    assert steal_note(before, after) == ", CPU stolen by the hypervisor 25%"


def test_nothing_is_claimed_where_the_kernel_does_not_say(tmp_path: Path) -> None:
    assert cpu_ticks(tmp_path / "missing") is None
    assert cpu_ticks(_stat(tmp_path, "old", "cpu  1000 0 100 800")) is None  # no steal field
    assert steal_note(None, (1, 2)) == ""
    assert steal_note((5, 100), (5, 100)) == ""  # no time passed
