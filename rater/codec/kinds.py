"""Names shared by the Avro and JSON codecs: which Python class is which kind of message."""

from __future__ import annotations

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
