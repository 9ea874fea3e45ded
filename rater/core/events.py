"""What the rating core emits. Frozen, with deterministic ids so a re-emission after a
crash is recognisably the same event (schemas/*.avsc mirror these one to one).

Event ids: one `event_id` names exactly one event. An id is a function of the inputs
only (the input being applied and the state the earlier inputs left), so the same event
emitted again, after a crash or by a replay of the same inputs, has the same id and
consumers deduplicate by it; an event that differs in anything has another id.

Every id starts with a tag naming its pattern, then fields that hold no ":" (MSISDNs: digits;
cycle ids `YYYY-MM-DD`, product codes `[A-Za-z0-9_-]`, bucket ids `<product>[.<unit>]#<n>`,
enum values), and ends with at most one free-form field (a record or command id): an id
never reads as two patterns. Building one is an f-string per event emitted; nothing is
computed for a record that emits nothing.

    L  the line the event is for (its `msisdn` field)
    C  L's current cycle id when the event is made: a record's events name the cycle of
       L it was rated in
    r  record id    X  command id    P  product code    B  bucket id (of L)    k  day
    s  the UTC day of a record's start time (days since 1970-01-01)

    id pattern                  event: why no other event has the id
    --------------------------  ---------------------------------------------------------
    charge:{L}:{C}:{s}:{r}      usage charge of record r starting on day s. A line rates
                                the record (r, s) at most once: within the duplicate
                                window it is found in day s's bucket (`Line.seen`), and
                                after the window it is LATE (rater.core.duplicates).
    throttle:{L}:{C}:{s}:{r}    throttle caused by rating (r, s). As above, and a rating
                                throttles at most once (only from full speed).
    unrated:{L}:{C}:{reason}:{s}:{r}
                                (r, s) not rated, for `reason` (UnratedReason). Once
                                within the window, as above. After it, LATE each time it
                                comes back, with the same detail within one cycle (the
                                very same event again); in a later cycle it is another id.
                                C is "-" for an unknown subscriber (no line; the same
                                event each time).
    n80:{L}:{C}:{B}             bucket B of L 80 % / 100 % used. Each threshold once per
    n100:{L}:{C}:{B}            bucket per cycle (`Bucket.notified`, reset at rollover);
                                bucket ids never repeat in a line. L is the bucket's line,
                                not the record's: one record of a sharing member can use
                                up its own bucket and its owner's, often both "D5.data#1".
    fee:{L}:{C}:{P}:rest:{B}    the rest of P's daily_by_usage fee when B (P's data) ran
                                out. B runs out at most once per cycle (as n100); a line
                                runs one daily accrual per product at a time (daily fees
                                are for plans and single-instance packs only).
    fee:{L}:{C}:{P}:d{k}        P's daily fee part for day k of C. `Line.days_accrued`
                                only grows within a cycle; one running accrual per product.
    fee:{L}:{C}:{P}             P's fee at the start of C (monthly renewal, or the pending
                                plan taking effect). One rollover into C per line, one
                                renewal per product (renewing packs are single-instance;
                                plan and pack codes differ).
    fee:{L}:{C}:{P}:pending{i}  the fee of the i-th order placed for the next cycle, taking
                                effect at the start of C: the same once-fee pack (a topup)
                                can be pending twice.
    restore:{L}:{C}             speed restored at the start of C. One rollover into C.
    expired:{L}:{B}             term pack B expired. B is removed then; bucket ids never
                                repeat in a line.
    accepted:{X}                the result notification of command X (`reason`: a
    rejected:{reason}:{X}       `Reject` code). One per command; the core does not
                                deduplicate commands, so a command applied again with
                                another outcome gets another id.
    cmd-fee:{P}:{X}             the fee of the plan or pack P that command X attached. A
                                command attaches at most one product (a NewSubscriber's
                                packs are its sub-commands "X.0", "X.1", ...).
    cmd-restore:{X}             speed restored by X, a data pack order. One per command.

Command ids are the caller's and name one command each (the "X.i" of a NewSubscriber's
packs included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from rater.core.inputs import UsageRecord, UsageType
from rater.frozen import fast_constructor


class ChargeKind(StrEnum):
    USAGE = "USAGE"
    PLAN_FEE = "PLAN_FEE"
    PACK_FEE = "PACK_FEE"


class Unit(StrEnum):
    BYTES = "BYTES"
    MINUTES = "MINUTES"
    NONE = "NONE"  # fee charges


@dataclass(frozen=True, slots=True)
class Draw:
    """How much one bucket gave to one record."""

    bucket_id: str
    product: str
    owner: str  # msisdn whose bucket it is (differs from the charged line on a shared draw)
    amount: int


@dataclass(frozen=True, slots=True)
class ChargeEvent:
    event_id: str
    msisdn: str
    account: str
    event_time: int
    cycle: str
    catalog_version: str
    kind: ChargeKind
    record_id: str | None
    usage_type: UsageType | None
    product: str | None  # the plan or pack a fee is for
    quantity: int  # bytes or minutes rated (0 for fees)
    unit: Unit
    draws: tuple[Draw, ...]
    overage: int  # bytes or minutes charged at the overage price
    free: int  # given free: bytes while throttled (fair-use cap, assured pack), incoming minutes
    fen: int
    reason: str


class ThrottleAction(StrEnum):
    THROTTLE = "THROTTLE"
    RESTORE = "RESTORE"


class ThrottleReason:
    """Why a line was throttled, as on a throttle event and in `Line.throttle_reason`."""

    FAIR_USE_CAP = "FAIR_USE_CAP"  # the plan's fair-use cap reached
    ASSURED_EXHAUSTED = "ASSURED_EXHAUSTED"  # an assured pack, every other bucket used up


@dataclass(frozen=True, slots=True)
class ThrottleEvent:
    event_id: str
    msisdn: str
    account: str
    event_time: int
    cycle: str
    catalog_version: str
    action: ThrottleAction
    speed_kbps: int | None
    reason: str
    record_id: str | None


class NotificationKind(StrEnum):
    USAGE_80 = "USAGE_80"
    USAGE_100 = "USAGE_100"
    ORDER_ACCEPTED = "ORDER_ACCEPTED"
    ORDER_REJECTED = "ORDER_REJECTED"
    PACK_EXPIRED = "PACK_EXPIRED"


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    event_id: str
    msisdn: str
    account: str
    event_time: int
    cycle: str
    catalog_version: str
    kind: NotificationKind
    product: str | None
    bucket_id: str | None
    command_id: str | None
    reason: str


class Reject:
    """Order and command rejection reasons, as they appear on the output."""

    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    UNKNOWN_PLAN = "UNKNOWN_PLAN"
    UNKNOWN_SUBSCRIBER = "UNKNOWN_SUBSCRIBER"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    ACCOUNT_IN_ARREARS = "ACCOUNT_IN_ARREARS"
    MONTH_END_LIMIT = "MONTH_END_LIMIT"
    TERM_PACK_ACTIVE = "TERM_PACK_ACTIVE"
    ALREADY_HELD = "ALREADY_HELD"
    NOT_HELD = "NOT_HELD"
    SAME_PLAN = "SAME_PLAN"
    BAD_CYCLE_DAY = "BAD_CYCLE_DAY"
    SHARING_PROVINCE = "SHARING_PROVINCE"
    SHARING_NOT_IN_ACCOUNT = "SHARING_NOT_IN_ACCOUNT"
    SHARING_INVALID = "SHARING_INVALID"


class UnratedReason(StrEnum):
    LATE = "LATE"  # starts before the line's current cycle
    INTERNATIONAL_ROAMING = "INTERNATIONAL_ROAMING"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    BEFORE_ACTIVATION = "BEFORE_ACTIVATION"
    UNKNOWN_SUBSCRIBER = "UNKNOWN_SUBSCRIBER"


@dataclass(frozen=True, slots=True)
class UnratedEvent:
    event_id: str
    msisdn: str
    account: str
    event_time: int
    cycle: str | None
    catalog_version: str
    record_id: str
    reason: UnratedReason
    detail: str


Event = ChargeEvent | ThrottleEvent | NotificationEvent | UnratedEvent


# Positional constructors that skip the frozen dataclass __init__ (one object.__setattr__
# per field, ~3 µs for a ChargeEvent): the hot path builds one or more per record.
new_charge: Callable[..., ChargeEvent] = fast_constructor(ChargeEvent)
new_draw: Callable[..., Draw] = fast_constructor(Draw)
new_notification: Callable[..., NotificationEvent] = fast_constructor(NotificationEvent)


def record_event_id(tag: str, msisdn: str, cycle: str, rec: UsageRecord) -> str:
    """The id of a record's event (the table above): `{tag}:{L}:{C}:{s}:{r}`, `s` the UTC
    day of its start; `tag` may carry fixed fields (`unrated:{L}:{C}:{reason}` has one)."""
    return f"{tag}:{msisdn}:{cycle}:{rec.start_time // 86_400_000}:{rec.record_id}"
