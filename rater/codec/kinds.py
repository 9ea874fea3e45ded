"""Names shared by the Avro and JSON codecs: which Python class is which kind of message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from rater.core.events import ChargeEvent, Event, NotificationEvent, ThrottleEvent, UnratedEvent
from rater.core.inputs import (
    AddSharingMember,
    CancelProduct,
    ChangePlan,
    CloseAccount,
    Command,
    NewSubscriber,
    OrderProduct,
    RemoveSharingMember,
    SetStatus,
)

# output events: kind name (the "type" of a JSON line, the event topic kind) <-> class
EVENT_CLASS: Final[dict[str, type[Event]]] = {
    "charge": ChargeEvent,
    "throttle": ThrottleEvent,
    "notification": NotificationEvent,
    "unrated": UnratedEvent,
}
EVENT_KIND: Final[dict[type[Event], str]] = {cls: kind for kind, cls in EVENT_CLASS.items()}

# commands: JSON "type" <-> class (the Avro union branch is the class name)
COMMAND_CLASS: Final[dict[str, type[Command]]] = {
    "new_subscriber": NewSubscriber,
    "order": OrderProduct,
    "cancel": CancelProduct,
    "change_plan": ChangePlan,
    "add_member": AddSharingMember,
    "remove_member": RemoveSharingMember,
    "close_account": CloseAccount,
    "set_status": SetStatus,
}
COMMAND_TYPE: Final[dict[type[Command], str]] = {cls: t for t, cls in COMMAND_CLASS.items()}


# a message that could not be rated, kept with why (rater.codec.deadletter builds them)
@dataclass(frozen=True, slots=True)
class DeadLetter:
    payload: bytes  # the original message value (wire header included), cut if `truncated`
    key: bytes | None  # the original key, at most its first MAX_KEY_BYTES bytes
    source_topic: str
    source_partition: int
    source_offset: int
    error_class: str  # an ErrorClass value (a str, so that new classes need no schema change)
    error: str  # human-readable, at most MAX_ERROR_CHARS chars + a "... (N chars)" marker
    # the original message's timestamp, epoch ms UTC, as the broker gave it (offline: the
    # record's event time, or 0 when unknown); not the time of dead-lettering, so that a
    # dead letter depends only on its input
    timestamp: int
    payload_length: int  # length of the whole original payload in bytes
    payload_sha256: str  # SHA-256 of the whole original payload, lowercase hex
    truncated: bool  # `payload` holds only the first bytes of the original payload
