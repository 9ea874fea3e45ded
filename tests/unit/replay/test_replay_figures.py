"""The diff of a replay, figure by figure: nothing changed gives exactly zero; a changed
overage price and a changed allowance give the amounts worked out by hand below
(overage: `ceil(ceil(bytes / 1024) * price / 1024)` fen for a cycle to date, each record
paying what it adds, rater/core/money.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rater.catalog import load_catalog
from rater.core.engine import Rater
from rater.jobs.simulate import simulate
from rater.subscribers import load_subscribers, to_commands
from tests.unit.replay.kit import (
    CATALOG,
    GB,
    MAY,
    MB,
    SUBSCRIBERS,
    USAGE,
    by_subscriber,
    changed_catalog,
    data,
    diff_rows,
    run,
    subscribers,
    usage_file,
)


def _issued(tmp: Path, catalog: Path, subs: Path, usage: Path, until: int | None) -> Path:
    """What the live rater issued: `rater simulate --out` of the same inputs."""
    path = tmp / "issued.jsonl"
    with path.open("w+b") as out:
        simulate(
            Rater(load_catalog(catalog)),
            list(to_commands(load_subscribers(subs))),
            usage,
            until,
            out,
            progress=False,
        )
    return path


def test_same_catalog_same_input_same_state_the_diff_is_exactly_zero(tmp_path: Path) -> None:
    issued = _issued(tmp_path, CATALOG, SUBSCRIBERS, USAGE, MAY)
    res = run(
        tmp_path, CATALOG, "out", input_file=USAGE, subs=SUBSCRIBERS, issued=issued, until=MAY
    )
    out = tmp_path / "out"
    assert res.diff_fen == 0
    assert res.issued_fen == res.rerated_fen == 50509  # README: 505.09 CNY
    rows = diff_rows(out)
    assert rows and all(d == 0 and i == r for i, r, d in rows.values())
    # the same events, byte for byte (the replay is the pipeline simulate runs)
    got = Counter((out / "events.jsonl").read_bytes().splitlines())
    assert got == Counter(issued.read_bytes().splitlines())


def test_data_overage_from_29_to_30_fen_per_mb(tmp_path: Path) -> None:
    subs = subscribers(tmp_path, "13900000001", "13900000002")
    usage = usage_file(
        tmp_path,
        [
            # A: the plan's 3 GB used up, then 1 500 KB, then 10 MB of overage
            data("a1", "13900000001", "2026-04-05T10:00:00+08:00", 3 * GB),
            data("a2", "13900000001", "2026-04-06T10:00:00+08:00", 1500 * 1024),
            data("a3", "13900000001", "2026-04-07T10:00:00+08:00", 10 * MB),
            # B: 100 MB, within the plan: no overage at either price
            data("b1", "13900000002", "2026-04-05T10:00:00+08:00", 100 * MB),
        ],
    )
    issued = _issued(tmp_path, CATALOG, subs, usage, None)
    new = changed_catalog(tmp_path, "data_fen_per_mb: 29", "data_fen_per_mb: 30")
    res = run(tmp_path, new, "out", input_file=usage, subs=subs, issued=issued)
    # A at 29 fen/MB:
    #   a2: 1500 KB to date: ceil(1500 * 29 / 1024) = ceil(42.48) = 43 fen
    #   a3: 1500 + 10240 = 11740 KB: ceil(11740 * 29 / 1024) = ceil(332.48) = 333;
    #       333 - 43 = 290 fen                                           issued 333 fen
    # A at 30 fen/MB:
    #   a2: ceil(1500 * 30 / 1024) = ceil(43.95) = 44 fen
    #   a3: ceil(11740 * 30 / 1024) = ceil(343.95) = 344; 344 - 44 = 300  re-rated 344
    # diff: 344 - 333 = +11 fen; B: 0; the fees (P58's 58 CNY for April) unchanged.
    rows = diff_rows(tmp_path / "out")
    assert rows[("13900000001", "USAGE")] == (333, 344, 11)
    assert ("13900000002", "USAGE") not in rows  # nothing charged on either side
    assert by_subscriber(tmp_path / "out") == {"13900000001": 11}
    assert by_subscriber(tmp_path / "out", "PLAN_FEE") == {}
    assert res.diff_fen == 11


def test_a_plans_included_data_changed_per_subscriber(tmp_path: Path) -> None:
    subs = subscribers(tmp_path, "13900000001", "13900000002", "13900000003")
    usage = usage_file(
        tmp_path,
        [
            data("a1", "13900000001", "2026-04-05T10:00:00+08:00", 2560 * MB),  # 2.5 GB
            data("b1", "13900000002", "2026-04-05T10:00:00+08:00", 1 * GB),
            data("c1", "13900000003", "2026-04-05T10:00:00+08:00", 3 * GB),
            data("c2", "13900000003", "2026-04-06T10:00:00+08:00", 512 * MB),
        ],
    )
    issued = _issued(tmp_path, CATALOG, subs, usage, None)
    # P58's data from 3 GB to 2 GB (the only "data: 3GB" of the catalog)
    new = changed_catalog(tmp_path, "data: 3GB", "data: 2GB")
    res = run(tmp_path, new, "out", input_file=usage, subs=subs, issued=issued)
    # Issued (3 GB): A 0; B 0; C: c1 uses the 3 GB, c2's 512 MB = 524 288 KB is overage:
    #   ceil(524288 * 29 / 1024) = 14 848 fen.
    # Re-rated (2 GB): A: 512 MB over: 14 848 fen. B: 0.
    #   C: c1 is 1 GB = 1 048 576 KB over: ceil(1048576 * 29 / 1024) = 29 696 fen;
    #   c2: 1.5 GB to date = 1 572 864 KB: ceil(1572864 * 29 / 1024) = 44 544;
    #   44 544 - 29 696 = 14 848 fen; C in all 44 544 fen.
    rows = diff_rows(tmp_path / "out")
    assert rows[("13900000001", "USAGE")] == (0, 14848, 14848)
    assert ("13900000002", "USAGE") not in rows
    assert rows[("13900000003", "USAGE")] == (14848, 44544, 29696)
    assert res.diff_fen == 14848 + 29696
