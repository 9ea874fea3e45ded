"""The diff on the example data, rated offline twice through the shared pipeline: the same
catalog gives exactly zero; the data overage price at 30 instead of 29 fen/MB gives the
difference worked out by hand below."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from rater.catalog import load_catalog
from rater.catalog.model import Catalog
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.jobs.offline import rate_offline, read_usage
from rater.replay.diff import Amounts, diff_files
from rater.replay.files import write_diff
from rater.subscribers import load_subscribers, to_commands

EX = Path(__file__).resolve().parents[3] / "examples"
UNTIL = "2026-05-01T00:00:00+08:00"


def overage_at_30(folder: Path) -> Path:
    """The example catalog with data overage at 30 fen/MB in every plan, version bumped."""
    doc = yaml.safe_load((EX / "catalog-basic.yaml").read_text())
    doc["version"] = "2026-11-example-2"
    for plan in doc["plans"]:
        plan["prices"]["data_fen_per_mb"] = 30
    path = folder / "catalog-30.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def simulate(catalog: Catalog, out: Path) -> Path:
    """`rater simulate` on the example subscribers and usage, to the end of April."""
    events = io.BytesIO()
    rate_offline(
        Rater(catalog),
        list(to_commands(load_subscribers(EX / "subscribers-basic.yaml"))),
        lambda: read_usage(EX / "usage-basic.jsonl"),
        to_ms(UNTIL),
        events,
    )
    out.write_bytes(events.getvalue())
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("examples")
    basic = load_catalog(EX / "catalog-basic.yaml")
    return (
        simulate(basic, folder / "issued.jsonl"),
        simulate(basic, folder / "again.jsonl"),
        simulate(load_catalog(overage_at_30(folder)), folder / "at-30.jsonl"),
    )


OFFSET_MS = 8 * 3_600_000  # the example catalog is Asia/Shanghai


def test_same_catalog_same_input_is_exactly_zero(runs: tuple[Path, Path, Path]) -> None:
    issued, again, _ = runs
    diff = diff_files(issued, again, OFFSET_MS)
    assert diff.is_zero
    # README: 50509 fen charged (usage 189, fees 50320) on 162 events
    assert diff.total == Amounts(50509, 50509)
    assert diff.issued.events == diff.rerated.events == 162


def test_overage_at_30_fen_per_mb(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    issued, _, at_30 = runs
    diff = diff_files(issued, at_30, OFFSET_MS)
    # Only two records go over their data (README: ex4-overage, and D5's d5-over):
    #   13800000001 ex4-overage, 1.5 MB on 15 April (local):
    #     ceil(1536 KB * 29 / 1024) = ceil(43.5) = 44 -> ceil(1536 * 30 / 1024) = 45: +1
    #   13800000002 d5-over, 2 MB on 21 April (local): 2 * 29 = 58 -> 2 * 30 = 60: +2
    # Fees and the video call's 87 fen (29 fen/min: a video price, unchanged) do not move.
    # Total: 50509 -> 50512, +3.
    assert diff.total == Amounts(50509, 50512)
    assert diff.issued.catalog_versions == {"2026-11-example-1": 162}
    assert diff.rerated.catalog_versions == {"2026-11-example-2": 162}
    write_diff(tmp_path, diff)
    changed = [r for r in (tmp_path / "diff.csv").read_text().splitlines() if not r.endswith(",0")]
    assert changed == [
        "msisdn,kind,issued_fen,rerated_fen,diff_fen",
        "13800000001,USAGE,131,132,1",  # 44 of overage + 87 of video
        "13800000002,USAGE,58,60,2",
    ]
    by_day = (tmp_path / "diff-by-day.csv").read_text().splitlines()
    assert [r for r in by_day if r.split(",")[-1] != "0"] == [
        "day,kind,issued_fen,rerated_fen,diff_fen",
        "2026-04-15,USAGE,44,45,1",
        "2026-04-21,USAGE,58,60,2",
        "TOTAL,USAGE,189,192,3",
        "TOTAL,ALL,50509,50512,3",
    ]
