"""Dead letters: input messages that could not be processed, kept with the reason
(schemas/dead_letter.avsc)."""

from __future__ import annotations

from dataclasses import dataclass

from rater.codec.errors import DecodeError, ErrorClass

__all__ = ["DeadLetter", "ErrorClass", "dead_letter_for"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    payload: bytes  # the original message value, byte for byte (wire header included)
    key: bytes | None
    source_topic: str
    source_partition: int
    source_offset: int
    error_class: str  # an ErrorClass value (a str, so that new classes need no schema change)
    error: str  # human-readable
    timestamp: int  # when it was dead-lettered, epoch ms UTC


def dead_letter_for(
    payload: bytes | bytearray | memoryview,
    key: bytes | bytearray | memoryview | None,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    error: DecodeError | tuple[str, str],
    timestamp: int,
) -> DeadLetter:
    """Builds a dead letter from a `DecodeError` or an `(error_class, message)` pair such
    as `rater.codec.validate.check_usage` returns."""
    if isinstance(error, DecodeError):
        error_class, message = error.reason_class, error.message
    else:
        error_class, message = error
    return DeadLetter(
        payload=bytes(payload),
        key=None if key is None else bytes(key),
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        error_class=str(error_class),
        error=message,
        timestamp=timestamp,
    )
