"""Dead letters: input messages that could not be processed, kept with the reason
(schemas/dead_letter.avsc).

A dead letter is a deterministic function of its input message (no wall clock), so the
stream and the offline simulator produce byte-identical ones, and it never exceeds the
dead-letter topic's maximum message size: the error text and the key are capped and the
payload is cut when needed (`truncated`); `payload_length` and `payload_sha256` always
describe the whole original payload, so a cut one can be matched with the original.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Final

from rater.codec.avro import encode_dead_letter
from rater.codec.errors import DecodeError, ErrorClass, clip_text
from rater.codec.kinds import DeadLetter as DeadLetter

__all__ = [
    "MAX_DEAD_LETTER_BYTES",
    "MAX_ERROR_CHARS",
    "MAX_KEY_BYTES",
    "MIN_DEAD_LETTER_BYTES",
    "DeadLetter",
    "ErrorClass",
    "dead_letter_for",
]

# Kafka's default max.message.bytes is 1 048 588: leave room for the message key, the
# headers, the wire-format header (5 bytes) and the record batch overhead.
MAX_DEAD_LETTER_BYTES: Final = 900_000
MAX_ERROR_CHARS: Final = 1_000  # then "... (N chars)"
MAX_KEY_BYTES: Final = 1_024  # keys are msisdns or account keys: far shorter
# the smallest `max_bytes` accepted: the capped error (at most ~4 KB of UTF-8), the capped
# key and the fixed fields always fit, with room for some payload
MIN_DEAD_LETTER_BYTES: Final = 16_384


def _varint_size(n: int) -> int:
    """Bytes of the Avro (zig-zag varint) encoding of a length n >= 0."""
    return max(1, ((n << 1).bit_length() + 6) // 7)


def dead_letter_for(
    payload: bytes | bytearray | memoryview,
    key: bytes | bytearray | memoryview | None,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    error: DecodeError | tuple[str, str],
    timestamp: int,
    *,
    max_bytes: int = MAX_DEAD_LETTER_BYTES,
) -> DeadLetter:
    """Builds a dead letter from a `DecodeError` or an `(error_class, message)` pair such
    as `rater.codec.validate.check_usage` returns.

    `timestamp` is the input message's timestamp (epoch ms as the broker gave it; offline
    the record's event time, or 0 when unknown). The Avro encoding of the result
    (`rater.codec.avro.encode_dead_letter`, without any wire header) is at most
    `max_bytes` bytes: the error text is capped at MAX_ERROR_CHARS characters, the key at
    MAX_KEY_BYTES bytes, and the payload keeps only its first bytes if the whole would not
    fit (then `truncated` is true). `payload_length` and `payload_sha256` are those of the
    whole original payload. Deterministic: the same arguments give the same dead letter.

    Raises ValueError if `max_bytes` < MIN_DEAD_LETTER_BYTES, or if even an empty payload
    does not fit (a source topic or error class of kilobytes: a programming error).
    """
    if max_bytes < MIN_DEAD_LETTER_BYTES:
        raise ValueError(f"max_bytes {max_bytes} is below {MIN_DEAD_LETTER_BYTES}")
    if isinstance(error, DecodeError):
        error_class, message = error.reason_class, error.message
    else:
        error_class, message = error
    # a lone surrogate (text from a lenient JSON parse) cannot be encoded as UTF-8
    text = clip_text(message, MAX_ERROR_CHARS)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    whole = bytes(payload)
    length = len(whole)
    letter = DeadLetter(
        payload=whole,
        key=None if key is None else bytes(key[:MAX_KEY_BYTES]),
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        error_class=str(error_class),
        error=text,
        timestamp=timestamp,
        payload_length=length,
        payload_sha256=hashlib.sha256(whole).hexdigest(),
        truncated=False,
    )
    # the size without the payload: encode with an empty one (dead letters are rare, and
    # the real encoder keeps this right whatever fields the schema gains)
    fixed = len(encode_dead_letter(replace(letter, payload=b""))) - 1
    room = max_bytes - fixed  # for the payload's length varint and its bytes
    if room < 1:
        raise ValueError(
            f"a dead letter of {source_topic[:40]!r} needs {fixed + 1} bytes "
            f"without payload: more than max_bytes {max_bytes}"
        )
    if length + _varint_size(length) <= room:
        return letter
    keep = room - _varint_size(room)  # its varint is no longer than room's
    return replace(letter, payload=whole[:keep], truncated=True)
