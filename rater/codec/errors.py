"""Exceptions of the codec layer and the stable error classes put on dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorClass(StrEnum):
    """Stable, machine-readable reasons why an input was not processed.

    They end up in `DeadLetter.error_class` (an Avro string, so new ones can be added
    without a schema change). Being a StrEnum, a member compares equal to its text.
    """

    DECODE_ERROR = "DECODE_ERROR"  # bytes that are not a valid message of the schema
    SCHEMA_MISMATCH = "SCHEMA_MISMATCH"  # a valid-looking message of another schema/version
    UNKNOWN_SUBSCRIBER = "UNKNOWN_SUBSCRIBER"
    INVALID_VALUE = "INVALID_VALUE"  # decodes, but a value is absurd (validate.check_usage)
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"  # decodes, but starts too far in the future
    RATING_ERROR = "RATING_ERROR"  # the rating core raised on it (a bug): kept, not lost


class DecodeError(ValueError):
    """Input that cannot be turned into a domain object.

    `reason_class` is DECODE_ERROR or SCHEMA_MISMATCH (an `ErrorClass` value, kept as a
    plain str), `message` a human-readable explanation naming the type, field or byte.
    """

    reason_class: str
    message: str

    def __init__(self, reason_class: str, message: str) -> None:
        super().__init__(reason_class, message)
        self.reason_class = str(reason_class)
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason_class}: {self.message}"


@dataclass(frozen=True)
class BadInput:
    """A line (or container record) of an input file that could not be read."""

    source: str
    line: int
    reason: str


class EncodeError(ValueError):
    """A domain object that cannot be encoded (wrong type in a field, out-of-range int...).

    Only happens on a programming error: the dataclasses' type hints rule it out.
    """


class SchemaError(RuntimeError):
    """The schema files are missing, invalid, or do not match the Python dataclasses."""


def clip_text(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its first `limit` characters
    followed by a marker with the full length: "abc... (12345 chars)". For messages that
    may repeat input of any size (dead-letter error texts)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} chars)"


def clip_error(exc: BaseException, limit: int = 200) -> str:
    """The text of a library's exception, cut (`clip_text`) for a DecodeError: fastavro's
    schema mismatch prints both schemas whole (14 KB for a command read as usage), and
    the message goes into every such dead letter."""
    return clip_text(str(exc), limit)


def preview(value: str, limit: int = 40) -> str:
    """The `repr` of at most the first `limit` characters of `value` (with "..." after
    it if cut): how an error message shows an input value that may be huge or hold
    control characters. At most 10 * limit + 5 characters."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}..."
