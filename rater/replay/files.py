"""The diff's files in a replay's output folder: `diff.csv`, `diff-by-day.csv`
(rater.replay.diff) and `report.html` (rater.replay.html)."""

from __future__ import annotations

from pathlib import Path

from rater.replay.diff import Diff, write_by_day_csv, write_diff_csv
from rater.replay.html import write_report


def write_diff(out_dir: Path, diff: Diff, title: str = "Replay: issued against re-rated") -> None:
    """Writes `diff.csv`, `diff-by-day.csv` and `report.html` into `out_dir` (created
    when missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_diff_csv(out_dir / "diff.csv", diff)
    write_by_day_csv(out_dir / "diff-by-day.csv", diff)
    write_report(out_dir / "report.html", diff, title)
