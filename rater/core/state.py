"""The state the rating core reads and writes: accounts, lines, buckets, fee accruals.

An account is the unit of state and of atomicity: an owner line and the lines that
share its data (a standalone subscriber is an account of one). The stream keeps each
account in one place so a shared draw is one step by one owner.

State objects are mutable; the core changes the account it is handed. Callers that
need the old state keep a copy (`Account.copy`, or the serialized form).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from itertools import starmap
from operator import attrgetter, itemgetter
from typing import Any

import msgspec

from rater.core.inputs import SubscriberStatus

UNIT_DATA = "data"
UNIT_VOICE = "voice"
UNIT_VIDEO = "video"


class Bucket(msgspec.Struct, array_like=True, gc=False):
    """One allowance: a plan's included data/minutes, one pack instance, or a carried part.

    The row types (buckets, subscriptions, accruals) are msgspec structs: the stores
    encode and decode them in C (rater.store.accounts), and they hold no containers, so
    the cycle collector never tracks them (gc=False)."""

    id: str
    product: str
    kind: str  # "plan" or a PackKind value
    unit: str  # data | voice | video
    size: int
    used: int
    valid_from: int
    valid_to: int
    carried: bool = False  # carried over from the previous cycle
    first_cycle: bool = True  # never carries out of its first cycle
    priority: int = 100
    activated_at: int = 0
    notified: int = 0  # highest notification threshold already sent this cycle

    @property
    def remaining(self) -> int:
        return self.size - self.used


class Subscription(msgspec.Struct, array_like=True, gc=False):
    """A product the line holds (or has ordered for the next cycle)."""

    product: str
    ordered_at: int
    bucket_id: str | None
    cancelled: bool = False  # stops renewing at the next cycle


class FeeAccrual(msgspec.Struct, array_like=True, gc=False):
    """A daily_by_usage fee within the current cycle (section 3)."""

    product: str
    is_plan: bool
    fee_fen: int
    from_day: int  # 0-based day of the cycle the accrual started
    charged: int = 0
    done: bool = False  # allowance used up (rest charged) or cancelled


@dataclass(slots=True)
class Line:
    """One subscriber (MSISDN) with its plan, buckets and cycle counters."""

    msisdn: str
    account: str
    plan: str
    cycle_day: int
    home_province: str
    activated_at: int
    status: str = SubscriberStatus.ACTIVE
    cycle_start: int = 0
    cycle_end: int = 0
    cycle_id: str = ""
    cycle_days: int = 30
    first_cycle: bool = True  # the line's first cycle: nothing carries out of it
    buckets: list[Bucket] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    accruals: list[FeeAccrual] = field(default_factory=list)
    pending_products: list[str] = field(default_factory=list)
    pending_plan: str | None = None
    overage_bytes: int = 0
    overage_fen: int = 0
    data_used: int = 0
    throttled: bool = False
    throttle_reason: str = ""
    month_end_orders: int = 0
    days_accrued: int = 0  # days of the cycle whose daily fees are applied
    # the latest start time of a record the line remembers: its duplicate window ends
    # here (rater.core.duplicates)
    last_usage: int = 0
    # UTC day of start -> keys of the records rated (rater.core.duplicates); a store may
    # hold them apart and fill in only what a batch asks about
    seen: dict[int, set[int]] = field(default_factory=dict)
    sharing_owner: str | None = None
    members: list[str] = field(default_factory=list)
    next_seq: int = 1
    # Derived, never stored: the line's data buckets in consumption order (rater.core.draw).
    order: Any = field(default=None, repr=False, compare=False)

    def new_bucket_id(self, product: str) -> str:
        bid = f"{product}#{self.next_seq}"
        self.next_seq += 1
        return bid

    def bucket(self, bucket_id: str) -> Bucket | None:
        for b in self.buckets:
            if b.id == bucket_id:
                return b
        return None


@dataclass(slots=True)
class Account:
    """The unit of state: lines keyed by MSISDN, and the account's clock."""

    key: str
    lines: dict[str, Line] = field(default_factory=dict)
    clock: int = 0  # latest time applied
    next_due: int = 0  # earliest time at which a scheduled change is due

    def copy(self) -> Account:
        return copy.deepcopy(self)

    def to_dict(self, with_seen: bool = True) -> dict[str, Any]:
        """Plain JSON-able form for the state store (sets as sorted lists). A store that
        keeps the record ids seen elsewhere (Redis: one set per line) leaves them out."""
        return {
            "key": self.key,
            "clock": self.clock,
            "next_due": self.next_due,
            "lines": [_line_to_dict(line, with_seen) for line in self.lines.values()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Account:
        acct = cls(key=d["key"], clock=d["clock"], next_due=d["next_due"])
        for ld in d["lines"]:
            line = _line_from_dict(ld)
            acct.lines[line.msisdn] = line
        return acct


# The serialized form. A line is a JSON object: its scalar fields in declaration order,
# then "buckets", "subscriptions" and "accruals" as rows (arrays of the fields in
# declaration order), "seen" ([day, sorted keys] rows by day; left out by a store that
# keeps it elsewhere),
# "pending_products" and "members". `order` is derived and never stored.
#
# This runs for every changed account after every batch, so it avoids per-field Python
# loops: the scalars are read in one C call (attrgetter) and the rows are list displays.
# The result is plain JSON data (lists, not tuples): it equals its own JSON round trip.
_LISTS = ("buckets", "subscriptions", "accruals", "seen", "pending_products", "members")
_LINE_FIELDS = tuple(f for f in Line.__dataclass_fields__ if f != "order")
_LINE_SCALARS = tuple(f for f in _LINE_FIELDS if f not in _LISTS)
_line_scalars = attrgetter(*_LINE_SCALARS)
# Line's constructor arguments in order, split around `seen` (absent from the form of a
# store that keeps it elsewhere).
_SEEN_AT = _LINE_FIELDS.index("seen")
_line_args_head = itemgetter(*_LINE_FIELDS[:_SEEN_AT])
_line_args_tail = itemgetter(*_LINE_FIELDS[_SEEN_AT + 1 :])


def _line_to_dict(line: Line, with_seen: bool = True) -> dict[str, Any]:
    # Same length by construction; zip(strict=True) costs as much again here.
    d = dict(zip(_LINE_SCALARS, _line_scalars(line)))  # noqa: B905
    # Rows in declaration order (tests.unit.core.test_state checks them against the fields).
    d["buckets"] = [
        [
            b.id,
            b.product,
            b.kind,
            b.unit,
            b.size,
            b.used,
            b.valid_from,
            b.valid_to,
            b.carried,
            b.first_cycle,
            b.priority,
            b.activated_at,
            b.notified,
        ]
        for b in line.buckets
    ]
    d["subscriptions"] = [
        [s.product, s.ordered_at, s.bucket_id, s.cancelled] for s in line.subscriptions
    ]
    d["accruals"] = [
        [a.product, a.is_plan, a.fee_fen, a.from_day, a.charged, a.done] for a in line.accruals
    ]
    if with_seen:
        d["seen"] = [[day, sorted(keys)] for day, keys in sorted(line.seen.items())]
    d["pending_products"] = list(line.pending_products)
    d["members"] = list(line.members)
    return d


def _line_from_dict(d: dict[str, Any]) -> Line:
    # Positional: the list fields pass through raw and are rebuilt just below.
    seen = {day: set(keys) for day, keys in d.get("seen", ())}
    line = Line(*(*_line_args_head(d), seen, *_line_args_tail(d)))
    line.buckets = list(starmap(Bucket, d["buckets"]))
    line.subscriptions = list(starmap(Subscription, d["subscriptions"]))
    line.accruals = list(starmap(FeeAccrual, d["accruals"]))
    line.pending_products = list(d["pending_products"])
    line.members = list(d["members"])
    return line


# The stored form in two parts, for a store that writes an account after every batch
# that touched it (Redis). Rating a record changes a few counters of an account (its
# clock, a line's data and overage totals and latest record time, the used and notified
# marks of some buckets) and nothing else, so those "hot" values are kept apart from the rest (the
# "cold" form: the whole form with them set to 0). A store then writes the hot part,
# about 60 bytes, every time, and the cold part, about 1 KB, only when its bytes
# differ from what it last wrote. Which fields are hot only decides how often the cold
# part is written, never what is stored: any change outside them changes the cold
# bytes. `with_hot(cold, hot)` gives the whole form back.
_BUCKET_FIELDS = Bucket.__struct_fields__
_USED = _BUCKET_FIELDS.index("used")
_NOTIFIED = _BUCKET_FIELDS.index("notified")


def split_hot(d: dict[str, Any]) -> list[Any]:
    """Take the hot values out of a form of `Account.to_dict` (set to 0 in place, which
    leaves the cold form) and return them:
    `[clock, [[data_used, overage_bytes, overage_fen, last_usage, [used...],
    [notified...]], ...]]`, lines and buckets in the form's order."""
    lines = []
    for ld in d["lines"]:
        rows = ld["buckets"]
        lines.append(
            [
                ld["data_used"],
                ld["overage_bytes"],
                ld["overage_fen"],
                ld["last_usage"],
                [r[_USED] for r in rows],
                [r[_NOTIFIED] for r in rows],
            ]
        )
        ld["data_used"] = ld["overage_bytes"] = ld["overage_fen"] = ld["last_usage"] = 0
        for r in rows:
            r[_USED] = r[_NOTIFIED] = 0
    hot = [d["clock"], lines]
    d["clock"] = 0
    return hot


def with_hot(cold: dict[str, Any], hot: list[Any]) -> dict[str, Any]:
    """Put the hot values back into a cold form, in place; returns it."""
    clock, lines = hot
    cold["clock"] = clock
    for ld, (data_used, overage_bytes, overage_fen, last_usage, used, notified) in zip(
        cold["lines"], lines, strict=True
    ):
        ld["data_used"], ld["overage_bytes"], ld["overage_fen"], ld["last_usage"] = (
            data_used,
            overage_bytes,
            overage_fen,
            last_usage,
        )
        for r, u, n in zip(ld["buckets"], used, notified, strict=True):
            r[_USED], r[_NOTIFIED] = u, n
    return cold
