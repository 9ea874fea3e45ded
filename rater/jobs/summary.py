"""The summary of a run of the offline pipeline (`rater simulate`, `rater replay`): what
a person wants to know, printed on stderr."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from rater.core.events import (
    ChargeEvent,
    ChargeKind,
    Event,
    NotificationEvent,
    NotificationKind,
    ThrottleAction,
    ThrottleEvent,
    UnratedEvent,
)
from rater.pipeline.batch import BatchResult


@dataclass
class Summary:
    """What a person wants to know after a run."""

    records: int = 0
    duplicates: int = 0
    bad_lines: int = 0
    usage_fen: int = 0
    fee_fen: int = 0
    throttles: int = 0
    restores: int = 0
    rejects: int = 0
    unrated: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    events: int = 0

    @classmethod
    def merged(cls, parts: Iterable[Summary]) -> Summary:
        """The summary of a run shared by several processes (`rater.jobs.shares`)."""
        total = cls()
        for p in parts:
            for f in fields(cls):
                mine, theirs = getattr(total, f.name), getattr(p, f.name)
                if isinstance(mine, Counter):
                    mine.update(theirs)
                else:
                    setattr(total, f.name, mine + theirs)
        return total

    def add(self, res: BatchResult, usage_topic: str) -> None:
        self.records += res.outcomes[(usage_topic, "applied")]
        self.duplicates += res.outcomes[(usage_topic, "duplicate")]
        self.dead_letters.update(res.dead_letters)
        self.add_events(res.events)

    def add_events(self, events: Iterable[Event]) -> None:
        for e in events:
            self.events += 1
            if isinstance(e, ChargeEvent):
                if e.kind == ChargeKind.USAGE:
                    self.usage_fen += e.fen
                else:
                    self.fee_fen += e.fen
            elif isinstance(e, ThrottleEvent):
                if e.action == ThrottleAction.THROTTLE:
                    self.throttles += 1
                else:
                    self.restores += 1
            elif isinstance(e, NotificationEvent):
                if e.kind == NotificationKind.ORDER_REJECTED:
                    self.rejects += 1
            elif isinstance(e, UnratedEvent):
                self.unrated[e.reason] += 1

    def text(self) -> str:
        fen = self.usage_fen + self.fee_fen
        unrated = ", ".join(f"{k} {v}" for k, v in sorted(self.unrated.items())) or "none"
        dead = ", ".join(f"{k} {v}" for k, v in sorted(self.dead_letters.items())) or "none"
        return (
            f"records rated: {self.records} (duplicates ignored: {self.duplicates}, "
            f"bad input lines: {self.bad_lines})\n"
            f"charged: {fen} fen = {fen // 100}.{fen % 100:02d} CNY "
            f"(usage {self.usage_fen}, fees {self.fee_fen})\n"
            f"throttles: {self.throttles}, restores: {self.restores}, "
            f"rejected orders: {self.rejects}\n"
            f"unrated: {unrated}\n"
            f"dead letters: {dead}\n"
            f"events written: {self.events}"
        )


def cost_line(records: int, seconds: float, workers: int, peak_kib: int) -> str:
    """What an offline run cost, the last line of `rater simulate` and `rater replay`
    (`rater bench simulate` and `bench replay` read it)."""
    rate = records / seconds if seconds > 0 else 0.0
    procs = "1 process" if workers == 1 else f"{workers} processes"
    return (
        f"rating: {records:,} records in {seconds:.2f} s = {rate:,.0f} records/s "
        f"({procs}; peak memory {peak_kib / 1024:,.0f} MiB in all)"
    )
