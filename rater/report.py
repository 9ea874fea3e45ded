"""What a person reads: a subscriber's balance and per-subscriber totals of a run."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

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
