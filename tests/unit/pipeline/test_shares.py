"""`rater simulate` over several processes (rater.jobs.shares): each rates a share of
the partitions, and the files written are byte for byte those of one process, bad
lines, duplicates, late records, sharing groups, orders, ticks and a poison input
included."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import orjson
import pytest
import yaml

from rater.catalog import load_catalog
from rater.codec.jsonl import usage_to_json
from rater.core.cycles import to_ms
from rater.core.engine import Input, Outcome, Rater
from rater.core.inputs import Command, Tick, UsageRecord
from rater.core.state import Account
from rater.jobs.files import in_time_order, read_commands
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
from rater.subscribers import load_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
CATALOG = load_catalog(EXAMPLES / "catalog-full.yaml")
START = to_ms("2026-03-31T06:00:00+08:00")
END = to_ms("2026-04-02T18:00:00+08:00")
POISON_AT = 777  # the record the buggy core raises on


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Command | Tick], Path]:
    """300 subscribers (sharing groups among them), 12 000 usage lines with bad lines,
    redeliveries and records late by a cycle among them, and a commands file."""
    folder = tmp_path_factory.mktemp("shares")
    subs = gen_subscribers(CATALOG, 300, START - 86_400_000, spread_days=1)
    subs_path = folder / "subscribers.yaml"
    subs_path.write_text(yaml.safe_dump({"subscribers": subs}, sort_keys=False))
    records = list(gen_usage(CATALOG, subs, 11_000, START, END))
    lines = [orjson.dumps(usage_to_json(r)) for r in records]
    out: list[bytes] = []
    for i, line in enumerate(lines):
        out.append(line)
        if i % 997 == 0:
            out.append(b"not JSON at all")
        if i % 1_301 == 0:
            out.append(b'{"msisdn": "' + records[i].msisdn.encode() + b'", "start_time": "x"}')
        if i % 701 == 0:
            out.append(lines[i // 2])  # a redelivery, later
        if i % 1_999 == 0:
            late = usage_to_json(records[i])
            late["record_id"] += "-late"
            late["start_time"] -= 40 * 86_400_000
            out.append(orjson.dumps(late))
    usage = folder / "usage.jsonl"
    usage.write_bytes(b"\n".join(out) + b"\n")
    orders = folder / "commands.jsonl"
    order = {
        "type": "order",
        "command_id": "o-1",
        "msisdn": subs[5]["msisdn"],
        "product": next(iter(CATALOG.packs)),
        "time": START + 10 * 3_600_000,
    }
    orders.write_bytes(orjson.dumps(order) + b"\n")
    cmds = in_time_order(list(to_commands(load_subscribers(subs_path))), read_commands(orders))
    return cmds, usage


class BuggyRater(Rater):
    """The real core, except that it raises on one record, part-way through."""

    def apply(self, account: Account | None, item: Input) -> Outcome:
        if isinstance(item, UsageRecord) and item.record_id.endswith(f"-{POISON_AT}"):
            super().apply(account, item)
            raise ZeroDivisionError("a bug")
        return super().apply(account, item)


def _simulate(
    rater: Rater, inputs: tuple[list[Command | Tick], Path], folder: Path, workers: int
) -> tuple[bytes, bytes, str]:
    cmds, usage = inputs
    ev, dl = folder / f"events-{workers}.jsonl", folder / f"dead-{workers}.jsonl"
    with ev.open("w+b") as events, dl.open("w+b") as dead:
        summary = simulate(
            rater, cmds, usage, END + 86_400_000, events, dead, progress=False, workers=workers
        )
    return ev.read_bytes(), dl.read_bytes(), summary.text()


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
