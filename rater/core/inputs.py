"""What flows into the rating core: usage records, commands and clock ticks.

All times are integer milliseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UsageType(StrEnum):
    DATA = "DATA"
    VOICE = "VOICE"
    VIDEO = "VIDEO"


class Roaming(StrEnum):
    HOME = "HOME"
    NATIONAL = "NATIONAL"
    INTERNATIONAL = "INTERNATIONAL"


class Direction(StrEnum):
    MO = "MO"  # originated: charged
    MT = "MT"  # terminated (incoming): free


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One usage record from mediation (schemas/usage_record.avsc)."""

    record_id: str
    msisdn: str
    usage_type: UsageType
    start_time: int
    duration_s: int
    uplink_bytes: int
    downlink_bytes: int
    app_id: str | None
    rating_group: int | None
    province: str
    rat: str
    roaming: Roaming
    direction: Direction | None
    sequence: int


class SubscriberStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ARREARS = "ARREARS"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class NewSubscriber:
    """Creates a line. With `owner` set, the line joins the owner's account as a sharing
    member: members live in the owner's account so every shared draw is one atomic step."""

    command_id: str
    msisdn: str
    time: int
    plan: str
    cycle_day: int
    home_province: str
    owner: str | None = None
    packs: tuple[str, ...] = ()  # products ordered at activation, in order


@dataclass(frozen=True, slots=True)
class OrderProduct:
    command_id: str
    msisdn: str
    time: int
    product: str


@dataclass(frozen=True, slots=True)
class CancelProduct:
    command_id: str
    msisdn: str
    time: int
    product: str


@dataclass(frozen=True, slots=True)
class ChangePlan:
    command_id: str
    msisdn: str
    time: int
    plan: str


@dataclass(frozen=True, slots=True)
class AddSharingMember:
    """`msisdn` is the owner; `member` must already be a line of the owner's account."""

    command_id: str
    msisdn: str
    time: int
    member: str


@dataclass(frozen=True, slots=True)
class RemoveSharingMember:
    command_id: str
    msisdn: str
    time: int
    member: str


@dataclass(frozen=True, slots=True)
class CloseAccount:
    command_id: str
    msisdn: str
    time: int


@dataclass(frozen=True, slots=True)
class SetStatus:
    """Arrears (and back) from the billing system; closing goes through CloseAccount."""

    command_id: str
    msisdn: str
    time: int
    status: SubscriberStatus


Command = (
    NewSubscriber
    | OrderProduct
    | CancelProduct
    | ChangePlan
    | AddSharingMember
    | RemoveSharingMember
    | CloseAccount
    | SetStatus
)


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes: every due change up to `time` is applied, usage or not."""

    time: int
