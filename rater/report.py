"""What a person reads: a subscriber's balance and per-subscriber totals of a run."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from rater.codec.deadletter import DeadLetter
from rater.core.cycles import from_ms
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
from rater.core.state import UNIT_DATA, Line

OFFSET_MS = 8 * 3_600_000


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def cny(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d} CNY"


def balance_text(line: Line, offset_ms: int = OFFSET_MS) -> str:
    rows = [
        f"subscriber {line.msisdn}  plan {line.plan}  status {line.status}  "
        f"account {line.account}"
        + (f"  shares {line.sharing_owner}'s data" if line.sharing_owner else ""),
        f"cycle {line.cycle_id}: {from_ms(line.cycle_start, offset_ms)} .. "
        f"{from_ms(line.cycle_end, offset_ms)} ({line.cycle_days} days)",
        f"speed: {'THROTTLED (' + line.throttle_reason + ')' if line.throttled else 'full'};"
        f" data this cycle {human_bytes(line.data_used)}; overage {human_bytes(line.overage_bytes)}"
        f" = {cny(line.overage_fen)}",
        f"{'bucket':<22} {'kind':<12} {'unit':<6} {'size':>12} {'used':>12} {'left':>12}  valid to",
    ]
    for b in sorted(line.buckets, key=lambda b: (b.unit, b.valid_to, b.id)):
        fmt = human_bytes if b.unit == UNIT_DATA else (lambda n: f"{n} min")
        rows.append(
            f"{b.id + (' (carried)' if b.carried else ''):<22} {b.kind:<12} {b.unit:<6} "
            f"{fmt(b.size):>12} {fmt(b.used):>12} {fmt(b.remaining):>12}  "
            f"{from_ms(b.valid_to, offset_ms)}"
        )
    if line.pending_plan or line.pending_products:
        rows.append(
            f"next cycle: plan {line.pending_plan or line.plan}, "
            f"packs {', '.join(line.pending_products) or '-'}"
        )
    return "\n".join(rows)


def subscriber_table(events: Iterable[Event]) -> str:
    """Per-subscriber totals: usage charged, fees, throttles, notifications, unrated."""
    usage: dict[str, int] = defaultdict(int)
    fees: dict[str, int] = defaultdict(int)
    records: dict[str, int] = defaultdict(int)
    throttles: dict[str, int] = defaultdict(int)
    rejects: dict[str, int] = defaultdict(int)
    unrated: dict[str, int] = defaultdict(int)
    notes: dict[str, int] = defaultdict(int)
    for e in events:
        m = e.msisdn
        if isinstance(e, ChargeEvent):
            if e.kind == ChargeKind.USAGE:
                usage[m] += e.fen
                records[m] += 1
            else:
                fees[m] += e.fen
        elif isinstance(e, ThrottleEvent) and e.action == ThrottleAction.THROTTLE:
            throttles[m] += 1
        elif isinstance(e, NotificationEvent):
            if e.kind == NotificationKind.ORDER_REJECTED:
                rejects[m] += 1
            elif e.kind in (NotificationKind.USAGE_80, NotificationKind.USAGE_100):
                notes[m] += 1
        elif isinstance(e, UnratedEvent):
            unrated[m] += 1
    subs = sorted(set(usage) | set(fees) | set(throttles) | set(rejects) | set(unrated))
    head = (
        f"{'msisdn':<14} {'records':>8} {'usage':>14} {'fees':>14} {'total':>14} "
        f"{'throttles':>9} {'alerts':>6} {'rejects':>7} {'unrated':>7}"
    )
    rows = [head, "-" * len(head)]
    for m in subs:
        rows.append(
            f"{m:<14} {records[m]:>8} {cny(usage[m]):>14} {cny(fees[m]):>14} "
            f"{cny(usage[m] + fees[m]):>14} {throttles[m]:>9} {notes[m]:>6} {rejects[m]:>7} "
            f"{unrated[m]:>7}"
        )
    total_u, total_f = sum(usage.values()), sum(fees.values())
    rows.append("-" * len(head))
    rows.append(
        f"{'all':<14} {sum(records.values()):>8} {cny(total_u):>14} {cny(total_f):>14} "
        f"{cny(total_u + total_f):>14} {sum(throttles.values()):>9} "
        f"{sum(notes.values()):>6} {sum(rejects.values()):>7} {sum(unrated.values()):>7}"
    )
    return "\n".join(rows)


# ---- `rater report`: filters, streaming, JSON -------------------------------------------


class ReportKind(StrEnum):
    CHARGE = "charge"
    THROTTLE = "throttle"
    NOTIFICATION = "notification"
    UNRATED = "unrated"
    DEADLETTER = "deadletter"


_KIND_OF: dict[type, ReportKind] = {
    ChargeEvent: ReportKind.CHARGE,
    ThrottleEvent: ReportKind.THROTTLE,
    NotificationEvent: ReportKind.NOTIFICATION,
    UnratedEvent: ReportKind.UNRATED,
}


@dataclass(frozen=True)
class Filter:
    """Which events and dead letters a report shows: every one of them by default.
    Times are epoch ms, `since` included, `until` excluded (a dead letter's time is its
    input's timestamp)."""

    msisdns: frozenset[str] = frozenset()
    since: int | None = None
    until: int | None = None
    kinds: frozenset[ReportKind] = frozenset()

    def _time(self, t: int) -> bool:
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)

    def wants(self, kind: ReportKind) -> bool:
        return not self.kinds or kind in self.kinds

    def event(self, e: Event) -> bool:
        return (
            self.wants(_KIND_OF[type(e)])
            and (not self.msisdns or e.msisdn in self.msisdns)
            and self._time(e.event_time)
        )

    def dead(self, d: DeadLetter) -> bool:
        if not self.wants(ReportKind.DEADLETTER) or not self._time(d.timestamp):
            return False
        if not self.msisdns:
            return True
        key = d.key.decode(errors="replace") if d.key else ""
        return key in self.msisdns or any(m in d.error for m in self.msisdns)


def filtered_events(events: Iterable[Event], f: Filter) -> Iterator[Event]:
    return (e for e in events if f.event(e))


def read_events_file(path: Path) -> Iterator[Event]:
    """Events of a JSON-lines file (`rater simulate --out`), one at a time; a line that is
    not an event raises ValueError naming the file and line."""
    from rater.codec.jsonl import DecodeError, event_from_json, loads_line

    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield event_from_json(loads_line(raw))
            except DecodeError as e:
                raise ValueError(f"{path}:{n}: not an event: {e}") from None


def read_dead_letters_file(path: Path) -> Iterator[DeadLetter]:
    """Dead letters of a JSON-lines file (`rater simulate --dead-letters`), one at a time."""
    import base64

    import orjson

    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
                kw: dict[str, Any] = {}
                for k, v in obj.items():
                    if k.endswith("_b64"):
                        kw[k[:-4]] = base64.b64decode(v) if v is not None else None
                    elif k != "type":
                        kw[k] = v
                kw.setdefault("key", None)
                yield DeadLetter(**kw)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}:{n}: not a dead letter: {e}") from None


def dead_letter_line(d: DeadLetter) -> str:
    """A dead letter as one JSON line with "type": "deadletter" (bytes in base64)."""
    import base64

    import orjson

    obj: dict[str, object] = {"type": "deadletter"}
    for f in fields(d):
        v = getattr(d, f.name)
        if isinstance(v, bytes):
            obj[f.name + "_b64"] = base64.b64encode(v).decode()
        else:
            obj[f.name] = v
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def report_lines(
    events: Iterable[Event],
    dead: Iterable[DeadLetter],
    f: Filter,
    as_json: bool = False,
    source: str = "",
) -> Iterator[str]:
    """The report, a line (or block) at a time, so that a large run streams through in
    bounded memory: the per-subscriber table (totals per subscriber, not the events) and
    the dead letters; with `as_json`, every matching event and dead letter as a JSON line."""
    from rater.codec.jsonl import event_to_line

    if as_json:
        if any(f.wants(k) for k in _KIND_OF.values()):
            yield from (event_to_line(e) for e in filtered_events(events, f))
        if f.wants(ReportKind.DEADLETTER):
            yield from (dead_letter_line(d) for d in dead if f.dead(d))
        return
    if any(f.wants(k) for k in _KIND_OF.values()):
        counted = _Counted(filtered_events(events, f))
        table = subscriber_table(counted)
        yield f"Output events{source}: {counted.n}\n"
        yield table
    if f.wants(ReportKind.DEADLETTER):
        reasons: Counter[str] = Counter()
        yield "\nDead letters:"
        for d in dead:
            if f.dead(d):
                reasons[d.error_class] += 1
                yield f"  {d.source_topic}[{d.source_partition}]@{d.source_offset}: {d.error}"
        yield f"Dead letters: {sum(reasons.values())}" + "".join(
            f"\n  {k}: {v}" for k, v in sorted(reasons.items())
        )


class _Counted:
    """An iterable that counts what went through it."""

    def __init__(self, it: Iterable[Event]) -> None:
        self.it = it
        self.n = 0

    def __iter__(self) -> Iterator[Event]:
        for e in self.it:
            self.n += 1
            yield e
