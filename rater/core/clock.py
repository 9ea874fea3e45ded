"""Section 9: the clock. Due changes (daily fees, rollover with carry-over and restore,
term-pack expiry) are applied exactly once, in time order, whether usage arrives or not.

Each line has at most three kinds of due change; the account caches the earliest due
time so a record that arrives before it costs one comparison.
"""

from __future__ import annotations

from rater.catalog.model import PackKind
from rater.core import draw, emit, fees, rollover
from rater.core.cycles import DAY_MS
from rater.core.events import Event, NotificationKind
from rater.core.inputs import SubscriberStatus
from rater.core.runtime import Runtime
from rater.core.state import Account, Line

NEVER = 2**62

# Same instant: the last day's fee first, then the new cycle, then pack expiries.
_DAY, _ROLLOVER, _EXPIRY = 0, 1, 2


def _line_due(line: Line) -> tuple[int, int]:
    if line.status == SubscriberStatus.CLOSED:
        return NEVER, _ROLLOVER
    best = (line.cycle_end, _ROLLOVER)
    if fees.has_running_accrual(line) and line.days_accrued < line.cycle_days:
        day = (line.cycle_start + (line.days_accrued + 1) * DAY_MS, _DAY)
        best = min(best, day)
    for b in line.buckets:
        if b.kind == PackKind.TERM and b.valid_to < best[0]:
            best = (b.valid_to, _EXPIRY)
    return best


def reschedule(account: Account) -> None:
    """After every change to an account's products or cycles (a command, the due changes
    of `advance`), and only then: when its next change falls due, and its lines'
    consumption order to be computed anew (`draw.data_order`). Rating a record changes
    neither, so the order stays cached from one change to the next."""
    due = NEVER
    for line in account.lines.values():
        draw.forget_order(line)
        line_due = _line_due(line)[0]
        if line_due < due:
            due = line_due
    account.next_due = due


def advance(rt: Runtime, out: list[Event], account: Account, t: int) -> None:
    """Apply every change due at or before `t`, earliest first."""
    if t >= account.next_due:
        while True:
            due, kind, line = min(
                ((*_line_due(line), line) for line in account.lines.values()),
                key=lambda x: (x[0], x[1], x[2].msisdn),
            )
            if due > t:
                break
            if kind == _DAY:
                fees.accrue_day(rt, out, line)
            elif kind == _ROLLOVER:
                rollover.roll_over(rt, out, line)
            else:
                _expire_term_packs(rt, out, line, due)
        reschedule(account)
    if t > account.clock:
        account.clock = t


def _expire_term_packs(rt: Runtime, out: list[Event], line: Line, t: int) -> None:
    for b in [b for b in line.buckets if b.kind == PackKind.TERM and b.valid_to <= t]:
        line.buckets.remove(b)
        line.subscriptions = [s for s in line.subscriptions if s.bucket_id != b.id]
        emit.notify(
            rt,
            out,
            line,
            f"expired:{line.msisdn}:{b.id}",
            t,
            NotificationKind.PACK_EXPIRED,
            "term pack validity ended",
            b.product,
            b.id,
        )
