"""How messages are encoded on the wire: plain Avro bodies, or the Confluent wire format
(magic byte + schema id) when a schema registry is configured. Chosen once at start-up;
the batch code calls the four functions without knowing which."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rater.codec import avro
from rater.codec.deadletter import DeadLetter
from rater.codec.kinds import EVENT_CLASS
from rater.codec.wire import FramedCodec, SchemaRegistryClient, subject_name
from rater.config import Settings
from rater.core.events import Event
from rater.core.inputs import Command, Tick, UsageRecord


@dataclass(frozen=True)
class WireCodecs:
    decode_usage: Callable[[bytes], UsageRecord]
    encode_usage: Callable[[UsageRecord], bytes]
    decode_command: Callable[[bytes], Command | Tick]
    encode_command: Callable[[Command | Tick], bytes]
    encode_event: Callable[[Event], bytes]
    encode_dead_letter: Callable[[DeadLetter], bytes]


PLAIN = WireCodecs(
    avro.decode_usage,
    avro.encode_usage,
    avro.decode_command,
    avro.encode_command,
    avro.encode_event,
    avro.encode_dead_letter,
)


def wire_codecs(s: Settings, registry: SchemaRegistryClient | Any | None = None) -> WireCodecs:
    """Plain Avro, or registry framing with each topic's value schema registered under
    its TopicNameStrategy subject (`<topic>-value`)."""
    if registry is None:
        if not s.schema_registry_url:
            return PLAIN
        registry = SchemaRegistryClient(s.schema_registry_url)
    t = s.topics

    def framed(avro_type: Any, topic: str) -> FramedCodec[Any]:
        return FramedCodec.registered(avro_type, registry, subject_name(topic))

    usage = framed(avro.USAGE, t.usage)
    command = framed(avro.COMMAND, t.commands)
    dead = framed(avro.DEAD_LETTER, t.dead_letter)
    by_class = {
        EVENT_CLASS["charge"]: framed(avro.CHARGE, t.charges),
        EVENT_CLASS["throttle"]: framed(avro.THROTTLE, t.throttle),
        EVENT_CLASS["notification"]: framed(avro.NOTIFICATION, t.notifications),
        EVENT_CLASS["unrated"]: framed(avro.UNRATED, t.unrated),
    }

    def encode_event(e: Event) -> bytes:
        return by_class[type(e)].encode(e)

    return WireCodecs(
        usage.decode, usage.encode, command.decode, command.encode, encode_event, dead.encode
    )
