"""Dead letters for a person (`list` lines, `show`) and as JSON (`--json`): the
original decoded when it decodes, else a hex dump of its start."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from rater.codec import avro
from rater.config import Settings
from rater.stream.deadletters.letters import Letter

__all__ = [
    "ERROR_CHARS",
    "HEX_BYTES",
    "decode_payload",
    "describe",
    "format_detail",
    "format_line",
    "hex_dump",
    "iso",
    "summary",
]

ERROR_CHARS: Final = 100  # of the error, on a `list` line
HEX_BYTES: Final = 256  # of an undecodable payload, in `show`


def iso(ms: int) -> str:
    """Epoch ms as ISO-8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _text(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "backslashreplace")


def summary(letter: Letter, redriven: bool = False) -> dict[str, Any]:
    """One dead letter as a JSON object (`list --json`), without its payload."""
    d = letter.dead
    return {
        "id": letter.id,
        "partition": letter.partition,
        "offset": letter.offset,
        "error_class": d.error_class,
        "source_topic": d.source_topic,
        "source_partition": d.source_partition,
        "source_offset": d.source_offset,
        "timestamp": d.timestamp,
        "time": iso(d.timestamp),
        "key": _text(d.key),
        "payload_length": d.payload_length,
        "payload_sha256": d.payload_sha256,
        "truncated": d.truncated,
        "redriven": redriven,
        "error": d.error,
    }


def format_line(letter: Letter, redriven: bool = False) -> str:
    """One dead letter on one line: id, reason, source, time, size, the error's start."""
    d = letter.dead
    size = f"{d.payload_length} B" + (" truncated" if d.truncated else "")
    error = " ".join(d.error.split())
    if len(error) > ERROR_CHARS:
        error = error[:ERROR_CHARS] + "..."
    mark = " [redriven]" if redriven else ""
    return (
        f"{letter.id}  {d.error_class}  {d.source_topic}[{d.source_partition}]@{d.source_offset}"
        f"  {iso(d.timestamp)}  {size}{mark}  {error}"
    )


def hex_dump(data: bytes, limit: int = HEX_BYTES) -> str:
    """The first `limit` bytes as `offset  hex  |ascii|` lines of 16 bytes."""
    lines = []
    for i in range(0, min(len(data), limit), 16):
        chunk = data[i : min(i + 16, limit)]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {hexes:<47}  |{text}|")
    if len(data) > limit:
        lines.append(f"... ({len(data) - limit} more bytes)")
    return "\n".join(lines)


def decode_payload(
    s: Settings, letter: Letter, decoders: Mapping[str, Callable[[bytes], Any]] | None = None
) -> dict[str, Any] | None:
    """The original as the JSON object of `rater.codec.jsonl` (a usage record or a
    command), or None when it does not decode. Tried by its source topic (usage or
    commands), else as either."""
    from rater.codec.jsonl import input_to_json

    d = letter.dead
    if d.truncated:
        return None
    if decoders is None:
        if s.schema_registry_url:
            from rater.codec.codecs import wire_codecs

            wc = wire_codecs(s)
            decoders = {"usage": wc.decode_usage, "command": wc.decode_command}
        else:
            decoders = {"usage": avro.decode_usage, "command": avro.decode_command}
    if d.source_topic == s.topics.usage:
        order = ["usage"]
    elif d.source_topic == s.topics.commands:
        order = ["command"]
    else:
        order = ["usage", "command"]
    for kind in order:
        try:
            return input_to_json(decoders[kind](d.payload))
        except Exception:  # not this schema (or not Avro at all): try the next, then hex
            continue
    return None


def describe(
    s: Settings, letter: Letter, redrive: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Everything about one dead letter: its fields, the payload decoded (`decoded`) or
    else the hex of its first 256 bytes (`payload_hex`), and its redrive record if any."""
    out = summary(letter, redrive is not None)
    decoded = decode_payload(s, letter)
    out["payload_bytes"] = len(letter.dead.payload)
    out["sha256_matches"] = (
        not letter.dead.truncated
        and hashlib.sha256(letter.dead.payload).hexdigest() == letter.dead.payload_sha256
    )
    if decoded is not None:
        out["decoded"] = decoded
    else:
        out["payload_hex"] = letter.dead.payload[:HEX_BYTES].hex()
    if redrive is not None:
        out["redrive"] = dict(redrive)
    return out


def format_detail(s: Settings, letter: Letter, redrive: Mapping[str, Any] | None = None) -> str:
    """`describe` for a person."""
    info = describe(s, letter, redrive)
    d = letter.dead
    rows = [
        ("dead letter", f"{s.topics.dead_letter}[{letter.partition}]@{letter.offset}"),
        ("error class", d.error_class),
        ("error", d.error),
        ("source", f"{d.source_topic}[{d.source_partition}]@{d.source_offset}"),
        ("time", f"{iso(d.timestamp)} ({d.timestamp})"),
        ("key", repr(d.key)),
        (
            "payload",
            f"{d.payload_length} B, sha256 {d.payload_sha256}"
            + (f", truncated: {len(d.payload)} B kept (not redrivable)" if d.truncated else ""),
        ),
    ]
    if redrive is not None:
        sent = redrive.get("sent", {})
        rows.append(
            (
                "redriven",
                f"{redrive.get('redriven_at', '?')} to "
                f"{sent.get('topic')}[{sent.get('partition')}]@{sent.get('offset')}",
            )
        )
    width = max(len(k) for k, _ in rows)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    if "decoded" in info:
        body = orjson.dumps(info["decoded"], option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        return f"{text}\ndecoded:\n{body.decode()}"
    return f"{text}\npayload (not decodable, first {HEX_BYTES} bytes):\n{hex_dump(d.payload)}"
