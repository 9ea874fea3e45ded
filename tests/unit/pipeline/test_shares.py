"""`rater simulate` over several processes (rater.jobs.shares): each rates a share of
the partitions, and the files written are byte for byte those of one process, bad
lines, duplicates, late records, sharing groups, orders, ticks and a poison input
included."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import pytest

from rater.core.engine import Input, Outcome, Rater
from rater.core.inputs import Command, Tick, UsageRecord
from rater.core.state import Account
from rater.jobs.shares import (
    AUTO_MIN_BYTES,
    SegmentLog,
    Share,
    ShareFailed,
    run_shares,
    worker_count,
)
from rater.jobs.simulate import simulate
from rater.progress import Reports
from tests.unit.pipeline.conftest import CATALOG, END, EXAMPLES

EXAMPLES_FULL = EXAMPLES / "catalog-full.yaml"

POISON_AT = 777  # the record the buggy core raises on


class BuggyRater(Rater):
    """The real core, except that it raises on one record, part-way through."""

    def apply(self, account: Account | None, item: Input) -> Outcome:
        if isinstance(item, UsageRecord) and item.record_id.endswith(f"-{POISON_AT}"):
            super().apply(account, item)
            raise ZeroDivisionError("a bug")
        return super().apply(account, item)


def _simulate(
    rater: Rater,
    inputs: tuple[list[Command | Tick], Path],
    folder: Path,
    workers: int,
    tick_accounts: int = 1000,
) -> tuple[bytes, bytes, str]:
    cmds, usage = inputs
    ev, dl = folder / f"events-{workers}.jsonl", folder / f"dead-{workers}.jsonl"
    with ev.open("w+b") as events, dl.open("w+b") as dead:
        run = simulate(
            rater,
            cmds,
            usage,
            END + 86_400_000,
            events,
            dead,
            progress=False,
            workers=workers,
            tick_accounts=tick_accounts,
        )
    assert run.workers == workers and run.peak_kib > 0
    return ev.read_bytes(), dl.read_bytes(), run.summary.text()


def test_the_files_are_byte_for_byte_those_of_one_process(
    inputs: tuple[list[Command | Tick], Path], tmp_path: Path
) -> None:
    rater = Rater(CATALOG)
    one = _simulate(rater, inputs, tmp_path, 1)
    events, dead, summary = one
    assert events.count(b"\n") > 10_000
    assert b"DECODE_ERROR" in dead and b'"LATE"' in events and b"not JSON" in dead
    assert "duplicates ignored: 0" not in summary
    for workers in (2, 3, 4):
        assert _simulate(rater, inputs, tmp_path, workers) == one, f"{workers} processes"


def test_a_tick_spread_over_turns_gives_the_same_files_in_every_process_count(
    inputs: tuple[list[Command | Tick], Path], tmp_path: Path
) -> None:
    """The closing tick, 3 due accounts a turn (`tick_accounts_per_batch`): more turns at
    the end, in some processes more than in others; the files are still one process's,
    and the events those of the whole tick, in another order."""
    rater = Rater(CATALOG)
    one = _simulate(rater, inputs, tmp_path, 1, tick_accounts=3)
    assert _simulate(rater, inputs, tmp_path, 2, tick_accounts=3) == one
    whole = _simulate(rater, inputs, tmp_path, 1)
    assert one[0] != whole[0], "the tick reached few accounts: no turn was bounded"
    assert sorted(one[0].splitlines()) == sorted(whole[0].splitlines())
    assert (one[1], one[2]) == (whole[1], whole[2])


def test_a_poison_input_in_one_share_is_dead_lettered_as_with_one_process(
    inputs: tuple[list[Command | Tick], Path], tmp_path: Path
) -> None:
    rater = BuggyRater(CATALOG)
    one = _simulate(rater, inputs, tmp_path, 1)
    assert b"RATING_ERROR" in one[1]
    assert _simulate(rater, inputs, tmp_path, 2) == one


def _failing(
    share: Share, ev: IO[bytes], dl: IO[bytes] | None, log: SegmentLog, bar: Reports
) -> int:
    if share.index == 1:
        raise ValueError("share 1 cannot read its input")
    return share.index


def _dying(share: Share, ev: IO[bytes], dl: IO[bytes] | None, log: SegmentLog, bar: Reports) -> int:
    if share.index == 0:
        os._exit(3)  # killed, or out of memory: no answer at all
    return share.index


def test_an_error_in_one_process_is_raised_in_the_parent(tmp_path: Path) -> None:
    with (tmp_path / "ev").open("wb") as ev, pytest.raises(ValueError, match="share 1 cannot"):
        run_shares(2, _failing, ev, None)
    with (tmp_path / "ev").open("wb") as ev, pytest.raises(ShareFailed, match="share 0 of 2"):
        run_shares(2, _dying, ev, None)


def test_the_number_of_processes() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert worker_count(0, 4, 100) == 1  # a small input: forking costs more than it saves
    assert worker_count(0, 4, AUTO_MIN_BYTES) == min(cpus, 4)
    assert worker_count(3, 4, 100) == 3  # as asked
    assert worker_count(8, 4, 100) == 4  # never more than the partitions
    assert worker_count(0, 1, AUTO_MIN_BYTES) == 1


def test_the_command_writes_the_same_files_with_two_processes(
    inputs: tuple[list[Command | Tick], Path], tmp_path: Path
) -> None:
    """`rater simulate --workers 2` as a user runs it, against `--workers 1`."""
    import subprocess
    import sys

    _, usage = inputs
    subs = usage.parent / "subscribers.yaml"
    outputs = []
    for workers in (1, 2):
        ev, dl = tmp_path / f"ev-{workers}.jsonl", tmp_path / f"dl-{workers}.jsonl"
        done = subprocess.run(
            [sys.executable, "-m", "rater.cli", "simulate", "--catalog", str(EXAMPLES_FULL),
             "--subscribers", str(subs), "--usage", str(usage), "--out", str(ev),
             "--dead-letters", str(dl), "--workers", str(workers)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert f"({workers} process" in done.stderr  # the cost line names them
        outputs.append((ev.read_bytes(), dl.read_bytes()))
    assert outputs[0] == outputs[1] and outputs[0][0]
