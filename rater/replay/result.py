"""What a replay found (`rater replay`): the summary of the re-rated events, which also
feeds the diff, the inputs left out, and what the run cost; and their sum over the
processes of a shared run (`rater.jobs.shares`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from rater.core.events import ChargeEvent, Event
from rater.jobs.summary import Summary, cost_line
from rater.replay.diff import Diff
from rater.replay.plan import Plan, Window
from rater.store.base import Store


@dataclass
class Left:
    """Inputs read but not rated, by why: the starting state holds them, or they are
    outside the window."""

    in_snapshot: int = 0
    in_subscribers: int = 0
    outside_window: int = 0


@dataclass
class Rerated(Summary):
    """The run's summary, which also takes every event of the window into the diff as
    it is rated (never read back from the events file)."""

    window: Window = field(default_factory=Window)
    diff: Diff | None = None
    fen: int = 0  # charged in the window

    @classmethod
    def merged_shares(cls, parts: list[Rerated]) -> Rerated:
        """The summary of a replay shared by several processes (the same window)."""
        total = cls(window=parts[0].window, diff=parts[0].diff)
        base = Summary.merged(parts)  # the fields every summary has
        for f in fields(Summary):
            setattr(total, f.name, getattr(base, f.name))
        total.fen = sum(p.fen for p in parts)
        if total.diff is not None:
            for p in parts[1:]:
                if p.diff is not None:
                    total.diff.merge(p.diff)
        return total

    def add_events(self, events: Iterable[Event]) -> None:
        super().add_events(events)
        holds, diff = self.window.holds, self.diff
        for e in events:
            if holds(e.event_time):
                if type(e) is ChargeEvent:
                    self.fen += e.fen
                if diff is not None:
                    diff.add_rerated(e)


@dataclass
class Result:
    summary: Rerated
    left: Left
    read: int = 0  # input messages (or usage lines) read
    issued_fen: int | None = None
    diff_fen: int | None = None
    store: Store | None = None
    seconds: float = 0.0  # rating, from the first input read to the last output written
    workers: int = 1
    peak_kib: int = 0  # peak resident memory, summed over the processes

    @property
    def rerated_fen(self) -> int:
        return self.summary.fen

    @classmethod
    def merged(cls, parts: list[Result]) -> Result:
        """The result of a replay shared by several processes (each counted its own)."""
        left = Left(
            sum(p.left.in_snapshot for p in parts),
            sum(p.left.in_subscribers for p in parts),
            sum(p.left.outside_window for p in parts),
        )
        summary = Rerated.merged_shares([p.summary for p in parts])
        return cls(summary, left, read=sum(p.read for p in parts))


def text(res: Result, plan: Plan) -> str:
    """The summary a person reads on stderr."""
    left = res.left
    lines = [
        res.summary.text(),
        f"inputs read: {res.read} (left out: {left.in_snapshot} already in the snapshot, "
        f"{left.in_subscribers} already in the subscribers file, {left.outside_window} "
        "outside --from/--to)",
    ]
    if res.diff_fen is not None and res.issued_fen is not None:
        lines.append(
            f"diff: issued {res.issued_fen} fen, re-rated {res.rerated_fen} fen, "
            f"difference {res.diff_fen:+d} fen ({plan.out_dir / 'diff.csv'}, "
            f"{plan.out_dir / 'report.html'})"
        )
    else:
        lines.append(f"re-rated: {res.rerated_fen} fen (no --issued: no diff)")
    lines.append(cost_line(res.summary.records, res.seconds, res.workers, res.peak_kib))
    return "\n".join(lines)
