"""The diff of a replay: the charges that were issued against the charges re-rated, in fen.

Only charge events carry money, so only they are summed; every other event is counted
(and its catalog version noted) and otherwise ignored. Memory follows the subscribers
and the days, never the events: one small integer array per subscriber and one per
local day, whatever the length of the run.

What `rater.replay.files.write_diff` writes to the output folder (money is integer fen everywhere):

- `diff.csv`: `msisdn,kind,issued_fen,rerated_fen,diff_fen`, one row per subscriber
  and charge kind whose issued or re-rated sum is not zero, sorted by msisdn then kind
  (as text). `diff_fen` is re-rated minus issued: positive means the new rating charges
  more. No total row: the column sums are the totals.
- `diff-by-day.csv`: `day,kind,issued_fen,rerated_fen,diff_fen`, one row per local day
  (`YYYY-MM-DD` in the catalog's zone: `event_time` + `offset_ms`) and kind with a
  non-zero figure, sorted by day then kind; then one `TOTAL,<kind>` row per kind with
  a non-zero figure, then `TOTAL,ALL`, the totals of the run.
- `report.html`: the page a person reads (`rater.replay.html`).

Both sides are taken as given: the caller restricts them to the same period, and
events are not deduplicated (that would mean remembering every event id).
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

from rater.core.cycles import DAY_MS
from rater.core.events import ChargeEvent, ChargeKind, Event

#: The charge kinds in a fixed order: the layout of the per-subscriber and per-day arrays.
KINDS: tuple[ChargeKind, ...] = tuple(ChargeKind)
_KIND_INDEX: dict[str, int] = {k.value: i for i, k in enumerate(KINDS)}
_N = len(KINDS)  # issued figures at [0, _N), re-rated at [_N, 2 * _N)
_EPOCH = date(1970, 1, 1)

DIFF_COLUMNS = ("msisdn", "kind", "issued_fen", "rerated_fen", "diff_fen")
BY_DAY_COLUMNS = ("day", "kind", "issued_fen", "rerated_fen", "diff_fen")


@dataclass(frozen=True, slots=True)
class Amounts:
    """Issued and re-rated fen of one cell of the diff (a subscriber, a day, a kind...)."""

    issued_fen: int = 0
    rerated_fen: int = 0

    @property
    def diff_fen(self) -> int:
        return self.rerated_fen - self.issued_fen

    @property
    def is_zero(self) -> bool:
        """Nothing charged on either side: no row for it."""
        return self.issued_fen == 0 and self.rerated_fen == 0

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.issued_fen + other.issued_fen, self.rerated_fen + other.rerated_fen)


@dataclass(slots=True)
class Side:
    """What one side (issued or re-rated) held: every event counted, charges summed."""

    events: int = 0
    charges: int = 0
    fen: int = 0
    catalog_versions: dict[str, int] = field(default_factory=dict)  # version -> events


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """One subscriber's figures, per kind (in `KINDS` order) and in all."""

    msisdn: str
    by_kind: tuple[Amounts, ...]

    @property
    def total(self) -> Amounts:
        return sum(self.by_kind, Amounts())


K = TypeVar("K", str, int)


def _add_rows(table: dict[K, array[int]], other: dict[K, array[int]]) -> None:
    for key, figures in other.items():
        row = table.get(key)
        if row is None:
            row = table[key] = _zeros()
        for i, fen in enumerate(figures):
            row[i] += fen


def _zeros() -> array[int]:
    return array("q", bytes(16 * _N))  # 2 * _N signed 64-bit zeros


def _cell(figures: array[int], k: int) -> Amounts:
    return Amounts(figures[k], figures[_N + k])


@dataclass
class Diff:
    """Issued against re-rated charges, summed per subscriber x kind and per day x kind.

    Feed it with `add_issued` / `add_rerated` (in any order, one event at a time) or
    build it with `diff_events`."""

    offset_ms: int  # the catalog's UTC offset: a charge's local day
    issued: Side = field(default_factory=Side)
    rerated: Side = field(default_factory=Side)
    # msisdn -> [issued fen per kind..., re-rated fen per kind...]
    _by_subscriber: dict[str, array[int]] = field(default_factory=dict, repr=False)
    # local day (days since 1970-01-01) -> the same layout
    _by_day: dict[int, array[int]] = field(default_factory=dict, repr=False)

    def add_issued(self, event: Event) -> None:
        self._add(self.issued, 0, event)

    def add_rerated(self, event: Event) -> None:
        self._add(self.rerated, _N, event)

    def _add(self, side: Side, base: int, event: Event) -> None:
        side.events += 1
        versions = side.catalog_versions
        versions[event.catalog_version] = versions.get(event.catalog_version, 0) + 1
        if not isinstance(event, ChargeEvent):
            return
        side.charges += 1
        side.fen += event.fen
        i = base + _KIND_INDEX[event.kind]
        sub = self._by_subscriber.get(event.msisdn)
        if sub is None:
            sub = self._by_subscriber[event.msisdn] = _zeros()
        sub[i] += event.fen
        day_number = (event.event_time + self.offset_ms) // DAY_MS
        day = self._by_day.get(day_number)
        if day is None:
            day = self._by_day[day_number] = _zeros()
        day[i] += event.fen

    def merge(self, other: Diff) -> None:
        """Add the figures of another share of the same run (`rater.jobs.shares`)."""
        for mine, theirs in ((self.issued, other.issued), (self.rerated, other.rerated)):
            mine.events += theirs.events
            mine.charges += theirs.charges
            mine.fen += theirs.fen
            for version, n in theirs.catalog_versions.items():
                mine.catalog_versions[version] = mine.catalog_versions.get(version, 0) + n
        _add_rows(self._by_subscriber, other._by_subscriber)
        _add_rows(self._by_day, other._by_day)

    # ---- reading the figures ------------------------------------------------------------

    @property
    def total(self) -> Amounts:
        return Amounts(self.issued.fen, self.rerated.fen)

    @property
    def is_zero(self) -> bool:
        """True when no subscriber, kind or day differs: the same charges on both sides."""
        return all(sub[k] == sub[_N + k] for sub in self._by_subscriber.values() for k in range(_N))

    def total_by_kind(self) -> dict[ChargeKind, Amounts]:
        """Totals per kind, every kind present (zero when nothing was charged)."""
        out = {k: Amounts() for k in KINDS}
        for figures in self._by_day.values():
            for i, k in enumerate(KINDS):
                out[k] = out[k] + _cell(figures, i)
        return out

    def subscribers(self) -> Iterator[SubscriberRow]:
        """Every subscriber charged on either side, by msisdn (zero-fen charges included)."""
        for msisdn in sorted(self._by_subscriber):
            figures = self._by_subscriber[msisdn]
            yield SubscriberRow(msisdn, tuple(_cell(figures, i) for i in range(_N)))

    @property
    def subscriber_count(self) -> int:
        return len(self._by_subscriber)

    def rows(self) -> Iterator[tuple[str, ChargeKind, Amounts]]:
        """The rows of diff.csv: (msisdn, kind, amounts), non-zero only, sorted."""
        order = sorted(range(_N), key=lambda i: KINDS[i].value)
        for row in self.subscribers():
            for i in order:
                if not row.by_kind[i].is_zero:
                    yield row.msisdn, KINDS[i], row.by_kind[i]

    def days(self) -> Iterator[tuple[date, tuple[Amounts, ...]]]:
        """Every local day with a charge on either side, in order, with its figures per
        kind (in `KINDS` order)."""
        for n in sorted(self._by_day):
            figures = self._by_day[n]
            yield _EPOCH + timedelta(days=n), tuple(_cell(figures, i) for i in range(_N))


def diff_events(issued: Iterable[Event], rerated: Iterable[Event], offset_ms: int) -> Diff:
    """The diff of two runs' events: `issued` read to its end, then `rerated` (so both
    may be generators over files or topics). `offset_ms` is the catalog's UTC offset."""
    diff = Diff(offset_ms)
    for e in issued:
        diff.add_issued(e)
    for e in rerated:
        diff.add_rerated(e)
    return diff


def diff_files(issued: Path, rerated: Path, offset_ms: int) -> Diff:
    """The diff of two events files as `rater simulate --out` writes them, streamed."""
    from rater.report import read_events_file

    return diff_events(read_events_file(issued), read_events_file(rerated), offset_ms)


def _figures(a: Amounts) -> list[int]:
    return [a.issued_fen, a.rerated_fen, a.diff_fen]


def write_diff_csv(path: Path, diff: Diff) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(DIFF_COLUMNS)
        for msisdn, kind, amounts in diff.rows():
            w.writerow([msisdn, kind.value, *_figures(amounts)])


def write_by_day_csv(path: Path, diff: Diff) -> None:
    order = sorted(range(_N), key=lambda i: KINDS[i].value)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(BY_DAY_COLUMNS)
        for day, by_kind in diff.days():
            for i in order:
                if not by_kind[i].is_zero:
                    w.writerow([day.isoformat(), KINDS[i].value, *_figures(by_kind[i])])
        for kind, amounts in sorted(diff.total_by_kind().items(), key=lambda kv: kv[0].value):
            if not amounts.is_zero:
                w.writerow(["TOTAL", kind.value, *_figures(amounts)])
        w.writerow(["TOTAL", "ALL", *_figures(diff.total)])
