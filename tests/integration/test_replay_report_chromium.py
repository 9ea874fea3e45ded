"""report.html in a real browser: headless Chromium (Debian's `chromium`, installed by
scripts/install-debs.sh) opens the report of the example data re-rated with data overage
at 30 instead of 29 fen/MB, runs its script, and the totals on the page equal the CSVs'.
A click on a column header (made by the page itself from `#sort=...` in its address, the
same handler a person's click runs) orders the subscribers.

RATER_UPDATE_SCREENSHOT=1 also writes the screenshot docs/replay.md shows
(docs/images/replay-report.png)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rater.catalog import load_catalog
from rater.replay.diff import diff_files
from rater.replay.files import write_diff
from rater.replay.html import yuan
from tests.unit.replay.test_diff_examples import EX, OFFSET_MS, overage_at_30, simulate

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "replay-report.png"
TITLE = "Replay of March-April 2026: data overage 29 -> 30 fen/MB"


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser's path; installed here when missing (as `make test`'s set-up does)."""
    found = shutil.which("chromium")
    if found is None:
        install = subprocess.run(
            [str(ROOT / "scripts" / "install-debs.sh"), "chromium"],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        found = shutil.which("chromium")
        if found is None:
            pytest.skip(
                "chromium cannot be installed (Debian package chromium, "
                f"scripts/install-debs.sh chromium): {install.stderr.strip()[-500:]}"
            )
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's replay folder: diff.csv, diff-by-day.csv, report.html."""
    folder = tmp_path_factory.mktemp("replay")
    issued = simulate(load_catalog(EX / "catalog-basic.yaml"), folder / "issued.jsonl")
    rerated = simulate(load_catalog(overage_at_30(folder)), folder / "rerated.jsonl")
    out = folder / "out"
    write_diff(out, diff_files(issued, rerated, OFFSET_MS), TITLE)
    return out


def run_chromium(chromium: str, profile: Path, *args: str) -> str:
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Page(HTMLParser):
    """What a test reads in the DOM: text and attributes by id, the subscribers' order,
    the chart's bars."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.attrs_of: dict[str, dict[str, str]] = {}
        self.text_of: dict[str, str] = {}
        self.html_attrs: dict[str, str] = {}
        self.rows: list[str] = []
        self.bars: list[tuple[str, int]] = []
        self._open: list[str] = []  # ids of the elements the parser is inside
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.html_attrs = a
        if tag == "tr" and "data-msisdn" in a:
            self.rows.append(a["data-msisdn"])
        if tag == "rect" and "data-day" in a:
            self.bars.append((a["data-day"], int(a["data-diff-fen"])))
        if "id" in a:
            self.attrs_of[a["id"]] = a
            self.text_of[a["id"]] = ""
            self._open.append(a["id"])
        else:
            self._open.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in self._open:
            if element_id:
                self.text_of[element_id] += data


def dom(chromium: str, report: Path, tmp_path: Path, fragment: str = "") -> Page:
    url = (report / "report.html").as_uri() + fragment
    page = Page(run_chromium(chromium, tmp_path / "profile", "--dump-dom", url))
    assert page.html_attrs.get("data-js") == "ready", "the page's script did not run"
    return page


def csv_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="") as fh:
        yield from csv.DictReader(fh)


def test_totals_on_the_page_equal_the_csv(chromium: str, report: Path, tmp_path: Path) -> None:
    page = dom(chromium, report, tmp_path)
    rows = list(csv_rows(report / "diff.csv"))
    sums = {c: sum(int(r[c]) for r in rows) for c in ("issued_fen", "rerated_fen", "diff_fen")}
    by_day = {
        (r["day"], r["kind"]): r
        for r in csv_rows(report / "diff-by-day.csv")
        if r["day"] == "TOTAL"
    }
    total = by_day["TOTAL", "ALL"]
    for side, column in (
        ("issued", "issued_fen"),
        ("rerated", "rerated_fen"),
        ("diff", "diff_fen"),
    ):
        shown = page.text_of[f"total-{side}-fen"].strip()
        assert int(shown) == sums[column] == int(total[column]), side
        cny = page.text_of[f"total-{side}-cny"].strip()
        assert cny == yuan(sums[column], signed=side == "diff"), side
    # the example's figures: 50509 -> 50512 fen (test_diff_examples works them out)
    assert (sums["issued_fen"], sums["rerated_fen"], sums["diff_fen"]) == (50509, 50512, 3)
    assert "2026-11-example-1" in page.text_of["versions-issued"]
    assert "2026-11-example-2" in page.text_of["versions-rerated"]
    # the chart's bars: the days that differ, adding up to the difference
    assert page.bars == [("2026-04-15", 1), ("2026-04-21", 2)]
    assert sum(fen for _, fen in page.bars) == sums["diff_fen"]


def test_default_order_is_by_impact_and_a_click_sorts(
    chromium: str, report: Path, tmp_path: Path
) -> None:
    per_subscriber: dict[str, int] = {}
    for r in csv_rows(report / "diff.csv"):
        per_subscriber[r["msisdn"]] = per_subscriber.get(r["msisdn"], 0) + int(r["diff_fen"])
    by_impact = sorted(per_subscriber, key=lambda m: (-abs(per_subscriber[m]), m))
    page = dom(chromium, report, tmp_path)
    assert page.rows == by_impact
    assert page.rows[:2] == ["13800000002", "13800000001"]  # +2 and +1 fen
    table = page.attrs_of["subscribers"]
    assert (table["data-sort-key"], table["data-sort-dir"]) == ("impact", "desc")

    clicked = dom(chromium, report, tmp_path, "#sort=msisdn:desc")
    assert clicked.rows == sorted(per_subscriber, reverse=True)
    table = clicked.attrs_of["subscribers"]
    assert (table["data-sort-key"], table["data-sort-dir"]) == ("msisdn", "desc")

    clicked = dom(chromium, report, tmp_path, "#sort=diff:asc")
    assert clicked.rows == sorted(per_subscriber, key=lambda m: (per_subscriber[m], m))


def test_screenshot(chromium: str, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "replay-report.png"
    run_chromium(
        chromium,
        tmp_path / "profile",
        "--window-size=1200,1180",
        f"--screenshot={shot}",
        (report / "report.html").as_uri(),
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("RATER_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
