"""The rating core's one entry point: state in, record / command / tick in, events out.

No I/O, no clock of its own, no randomness: the same account and the same inputs
give the same events, byte for byte. The streaming service, the offline simulator
and replay all call `Rater.apply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rater.catalog.model import Catalog
from rater.core import clock, commands, unrated, usage
from rater.core.duplicates import DEFAULT_WINDOW_MS
from rater.core.events import Event, UnratedReason
from rater.core.inputs import Command, NewSubscriber, Tick, UsageRecord
from rater.core.runtime import Runtime
from rater.core.state import Account

Input = UsageRecord | Command | Tick


class Status(StrEnum):
    APPLIED = "APPLIED"
    DUPLICATE = "DUPLICATE"  # a record the line already has (rater.core.duplicates)
    UNKNOWN_SUBSCRIBER = "UNKNOWN_SUBSCRIBER"  # no such line: the edge dead-letters it


@dataclass(slots=True)
class Outcome:
    account: Account | None
    events: list[Event] = field(default_factory=list)
    status: Status = Status.APPLIED


class Rater:
    """Applies inputs to accounts under one catalog."""

    def __init__(self, catalog: Catalog, duplicate_window_ms: int = DEFAULT_WINDOW_MS) -> None:
        self.catalog = catalog
        self.rt = Runtime.of(catalog, duplicate_window_ms)

    def apply(self, account: Account | None, item: Input) -> Outcome:
        """Apply one input. The account is changed in place and returned in the outcome
        (a new account for a NewSubscriber that starts one)."""
        out: list[Event] = []
        rt = self.rt
        if isinstance(item, UsageRecord):
            line = account.lines.get(item.msisdn) if account is not None else None
            if account is None or line is None:
                return Outcome(account, [], Status.UNKNOWN_SUBSCRIBER)
            t = item.start_time
            if t >= account.next_due:  # the common case costs one comparison
                clock.advance(rt, out, account, t)
            elif t > account.clock:
                account.clock = t
            if not usage.rate(rt, out, account, line, item):
                return Outcome(account, out, Status.DUPLICATE)
            return Outcome(account, out)
        if isinstance(item, Tick):
            if account is not None:
                clock.advance(rt, out, account, item.time)
            return Outcome(account, out)
        if isinstance(item, NewSubscriber):
            if account is not None:
                clock.advance(rt, out, account, item.time)
            account = commands.new_subscriber(rt, out, account, item)
            clock.reschedule(account)
            return Outcome(account, out)
        if account is None or item.msisdn not in account.lines:
            return Outcome(account, [], Status.UNKNOWN_SUBSCRIBER)
        clock.advance(rt, out, account, item.time)
        commands.apply_command(rt, out, account, item)
        clock.reschedule(account)
        return Outcome(account, out)


def unknown_subscriber(rater: Rater, rec: UsageRecord) -> Event:
    """The unrated event the offline tools emit for a record of no known subscriber."""
    out: list[Event] = []
    unrated.unrated(
        rater.rt,
        out,
        rec,
        rec.msisdn,
        None,
        UnratedReason.UNKNOWN_SUBSCRIBER,
        f"no subscriber {rec.msisdn}",
        "-",
    )
    return out[0]
