"""The offline simulator: rate a file of usage against a catalog and subscribers, with
no Kafka and no Redis. The same core as the stream, fed from files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from rater.codec.jsonl import DecodeError, usage_from_json
from rater.core.engine import Rater, Status, unknown_subscriber
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
from rater.core.inputs import Command, Tick, UsageRecord
from rater.store.memory import MemoryStore


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
    events: int = 0

    def add(self, events: Iterable[Event]) -> None:
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
        return (
            f"records rated: {self.records} (duplicates ignored: {self.duplicates}, "
            f"bad input lines: {self.bad_lines})\n"
            f"charged: {fen} fen = {fen // 100}.{fen % 100:02d} CNY "
            f"(usage {self.usage_fen}, fees {self.fee_fen})\n"
            f"throttles: {self.throttles}, restores: {self.restores}, "
            f"rejected orders: {self.rejects}\n"
            f"unrated: {unrated}\n"
            f"events written: {self.events}"
        )


@dataclass(frozen=True)
class BadInput:
    source: str
    line: int
    reason: str


def read_usage(path: Path, bad: list[BadInput]) -> Iterator[UsageRecord]:
    """Usage as JSON lines or as an Avro container file; bad lines are collected, not fatal."""
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(0)
        if head == b"Obj\x01":
            from rater.codec.avro import read_usage_container

            yield from read_usage_container(f, str(path), bad.append)
            return
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
                yield usage_from_json(obj)
            except orjson.JSONDecodeError as e:
                bad.append(BadInput(str(path), n, f"not JSON: {e}"))
            except DecodeError as e:
                bad.append(BadInput(str(path), n, str(e)))


def simulate(
    rater: Rater,
    commands: Iterable[Command],
    records: Iterable[UsageRecord],
    until: int | None,
    out: IO[str],
    store: MemoryStore | None = None,
) -> tuple[Summary, MemoryStore]:
    """Commands first, then records in file order, then one tick at `until`."""
    store = store or MemoryStore()
    summary = Summary()

    def write(events: list[Event]) -> None:
        summary.add(events)
        for e in events:
            out.write(event_line(e))

    for cmd in commands:
        write(store.apply(rater, cmd).events)
    for rec in records:
        outcome = store.apply(rater, rec)
        if outcome.status == Status.DUPLICATE:
            summary.duplicates += 1
        elif outcome.status == Status.UNKNOWN_SUBSCRIBER:
            write([unknown_subscriber(rater, rec)])
        else:
            summary.records += 1
        write(outcome.events)
    if until is not None:
        for outcome in store.tick(rater, Tick(until)):
            write(outcome.events)
    return summary, store


def event_line(e: Event) -> str:
    from rater.codec.jsonl import event_to_line

    return event_to_line(e) + "\n"
