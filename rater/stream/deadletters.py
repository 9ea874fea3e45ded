"""Dead-letter tools: `rater deadletters list | show | redrive`.

- `list` reads the dead-letter topic (read_committed, from the beginning to its current
  end, partitions assigned by hand: no consumer group is joined and no offset is
  committed) and gives one line per dead letter, filtered by reason, source topic,
  partition and offsets, and the source message's time.
- `show P:O` gives everything about one dead letter, its payload decoded when it decodes.
- `redrive` sends the chosen originals (payload and key, byte for byte) back to their
  source topic and partition, once: in one Kafka transaction with a *redrive record*
  per dead letter on `<dead-letter topic>.redriven` (compacted, keyed `P:O`), and a dead
  letter named there is never sent again. The transactional id is fixed per dead-letter
  topic and the redrive topic is read after `init_transactions`, so two redrives run at
  the same time cannot both send one dead letter: the second fences the first, and
  reads what the first committed.

The functions take `Settings` and return data; `deadletters_app` is the thin CLI.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
import typer
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from rater.codec import avro
from rater.codec.deadletter import DeadLetter
from rater.config import Settings
from rater.stream.kafka import admin_config, consumer_config, offset_range, producer_config

__all__ = [
    "REDRIVE_SUFFIX",
    "Filter",
    "Letter",
    "Reading",
    "RedriveResult",
    "Sent",
    "deadletters_app",
    "decode_payload",
    "describe",
    "format_detail",
    "format_line",
    "hex_dump",
    "list_dead_letters",
    "parse_id",
    "parse_ids",
    "read_dead_letters",
    "read_redriven",
    "redrive",
    "redrive_record",
    "redrive_topic",
    "select",
    "show_dead_letter",
    "summary",
]

REDRIVE_SUFFIX: Final = ".redriven"
ERROR_CHARS: Final = 100  # of the error, on a `list` line
HEX_BYTES: Final = 256  # of an undecodable payload, in `show`


def redrive_topic(s: Settings) -> str:
    """Where redrives are recorded: `<dead-letter topic>.redriven`."""
    return s.topics.dead_letter + REDRIVE_SUFFIX


# --- the data --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Letter:
    """A dead letter and where it is in the dead-letter topic."""

    partition: int
    offset: int
    dead: DeadLetter

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message of the dead-letter topic that is not a dead letter."""

    partition: int
    offset: int
    error: str


@dataclass(frozen=True, slots=True)
class Reading:
    letters: list[Letter]
    unreadable: list[Unreadable]


def parse_id(text: str) -> tuple[int, int]:
    """`"P:O"` (dead-letter partition and offset) to `(P, O)`; ValueError otherwise."""
    part, sep, off = text.strip().partition(":")
    try:
        p, o = int(part), int(off)
    except ValueError:
        p = o = -1
    if not sep or p < 0 or o < 0:
        raise ValueError(f"{text.strip()!r} is not PARTITION:OFFSET (e.g. 0:12)")
    return p, o


def parse_ids(texts: Iterable[str]) -> frozenset[tuple[int, int]]:
    """Ids from options such as `--ids 0:1,0:2 --ids 1:7`."""
    return frozenset(parse_id(t) for text in texts for t in text.split(",") if t.strip())


@dataclass(frozen=True)
class Filter:
    """Which dead letters: every given criterion must hold (none given: all).

    `reasons`: error classes (any of them); `source_*`: where the original was read;
    `from_offset`/`to_offset`: the source offset, both inclusive; `since_ms`/`until_ms`:
    the dead letter's timestamp (the source message's), since inclusive, until exclusive;
    `ids`: dead-letter (partition, offset) pairs."""

    reasons: frozenset[str] = frozenset()
    source_topic: str | None = None
    source_partition: int | None = None
    from_offset: int | None = None
    to_offset: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    ids: frozenset[tuple[int, int]] = frozenset()

    @property
    def everything(self) -> bool:
        return self == Filter()

    def matches(self, letter: Letter) -> bool:
        d = letter.dead
        return (
            (not self.reasons or d.error_class in self.reasons)
            and (self.source_topic is None or d.source_topic == self.source_topic)
            and (self.source_partition is None or d.source_partition == self.source_partition)
            and (self.from_offset is None or d.source_offset >= self.from_offset)
            and (self.to_offset is None or d.source_offset <= self.to_offset)
            and (self.since_ms is None or d.timestamp >= self.since_ms)
            and (self.until_ms is None or d.timestamp < self.until_ms)
            and (not self.ids or (letter.partition, letter.offset) in self.ids)
        )


def select(letters: Iterable[Letter], f: Filter) -> list[Letter]:
    """The letters `f` matches, in dead-letter (partition, offset) order."""
    return sorted((x for x in letters if f.matches(x)), key=lambda x: (x.partition, x.offset))


# --- formatting ------------------------------------------------------------------------


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


# --- reading topics --------------------------------------------------------------------


def _consumer(s: Settings) -> Consumer:
    # a group id is required by the client; partitions are assigned by hand and nothing
    # is committed, so the group is never joined nor created
    conf = consumer_config(s, group_id=f"rater-deadletters-{time.time_ns()}")
    conf["enable.auto.offset.store"] = False
    return Consumer(conf)


def _partitions(s: Settings, topic: str) -> int | None:
    md = AdminClient(admin_config(s)).list_topics(topic, timeout=10).topics.get(topic)
    if md is None or md.error is not None:
        return None
    return len(md.partitions)


def _read_all(
    s: Settings, topic: str, timeout: float = 30.0
) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """(partition, offset, key, value) of every committed message of `topic`, from the
    beginning to the end it has now; [] if the topic does not exist."""
    n = _partitions(s, topic)
    if not n:
        return []
    tps = [TopicPartition(topic, p) for p in range(n)]
    ends = {
        p: high for (_, p), (_, high) in offset_range(AdminClient(admin_config(s)), tps).items()
    }
    c = _consumer(s)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(n)])
        out: list[tuple[int, int, bytes | None, bytes | None]] = []
        done = {p for p, end in ends.items() if end <= 0}
        deadline = time.monotonic() + timeout
        while len(done) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end within {timeout}s")
            for m in c.consume(1000, 0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(err)
                part, off = m.partition() or 0, m.offset() or 0
                if off < ends[part]:
                    out.append((part, off, m.key(), m.value()))
                if off + 1 >= ends[part]:
                    done.add(part)
            # transaction markers take offsets too: a partition is done at its end position
            for tp in c.position([TopicPartition(topic, p) for p in range(n)]):
                if tp.offset >= ends[tp.partition]:
                    done.add(tp.partition)
        return out
    finally:
        c.close()


def _letter(s: Settings, part: int, off: int, value: bytes | None) -> Letter | Unreadable:
    from rater.stream.tools import avro_body

    try:
        return Letter(part, off, avro.decode_dead_letter(avro_body(s, value or b"")))
    except Exception as e:  # garbage on the dead-letter topic is reported, not fatal
        return Unreadable(part, off, f"{type(e).__name__}: {e}")


def read_dead_letters(s: Settings, timeout: float = 30.0) -> Reading:
    """Every dead letter of the dead-letter topic (and what is there but does not
    decode), in (partition, offset) order."""
    letters: list[Letter] = []
    bad: list[Unreadable] = []
    for part, off, _, value in sorted(_read_all(s, s.topics.dead_letter, timeout)):
        x = _letter(s, part, off, value)
        if isinstance(x, Letter):
            letters.append(x)
        else:
            bad.append(x)
    return Reading(letters, bad)


def list_dead_letters(s: Settings, f: Filter | None = None) -> list[Letter]:
    """The dead letters `f` matches (all without one)."""
    return select(read_dead_letters(s).letters, f or Filter())


def show_dead_letter(
    s: Settings, partition: int, offset: int, timeout: float = 15.0
) -> Letter | Unreadable | None:
    """The message at `partition`:`offset` of the dead-letter topic; None if there is
    none (out of range, deleted, a transaction marker, or of an aborted transaction)."""
    topic = s.topics.dead_letter
    n = _partitions(s, topic)
    if n is None or not 0 <= partition < n:
        return None
    tp = TopicPartition(topic, partition)
    low, high = offset_range(AdminClient(admin_config(s)), [tp])[(topic, partition)]
    if not low <= offset < high:
        return None
    c = _consumer(s)
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in c.consume(1, 0.5):
                if m.error() is not None:
                    continue
                if (m.offset() or 0) == offset:
                    return _letter(s, partition, offset, m.value())
                return None  # the next message is further on: nothing at `offset`
            pos = c.position([tp])[0].offset
            if pos > offset:
                return None
        return None
    finally:
        c.close()


def read_redriven(s: Settings, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
    """The redrive records, by dead-letter id `P:O` (the last one of a key wins)."""
    out: dict[str, dict[str, Any]] = {}
    for _, _, key, value in sorted(_read_all(s, redrive_topic(s), timeout)):
        if key is None or value is None:
            continue
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            record = {"unreadable": value[:200].decode("utf-8", "backslashreplace")}
        out[key.decode("utf-8", "backslashreplace")] = record
    return out


# --- redrive ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """A dead letter whose original was sent back, and where it went."""

    letter: Letter
    topic: str
    partition: int
    offset: int  # -1 in a dry run


@dataclass
class RedriveResult:
    dry_run: bool
    sent: list[Sent] = field(default_factory=list)  # or, in a dry run, what would be
    already: list[Letter] = field(default_factory=list)  # named in the redrive topic
    refused: list[tuple[Letter, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # --ids not found
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.missing


class RedriveError(RuntimeError):
    """The redrive transaction did not commit: nothing was sent."""


def redrive_record(s: Settings, sent: Sent, at_ms: int) -> dict[str, Any]:
    """The JSON value written to the redrive topic for one dead letter sent back."""
    letter, d = sent.letter, sent.letter.dead
    return {
        "dead_letter": {
            "topic": s.topics.dead_letter,
            "partition": letter.partition,
            "offset": letter.offset,
        },
        "source": {
            "topic": d.source_topic,
            "partition": d.source_partition,
            "offset": d.source_offset,
            "timestamp": d.timestamp,
        },
        "sent": {"topic": sent.topic, "partition": sent.partition, "offset": sent.offset},
        "error_class": d.error_class,
        "payload_sha256": d.payload_sha256,
        "payload_length": d.payload_length,
        "redriven_at": iso(at_ms),
        "redriven_at_ms": at_ms,
    }


def _why_not(s: Settings, letter: Letter, counts: Mapping[str, int | None]) -> str | None:
    """Why a dead letter cannot be redriven, or None."""
    d = letter.dead
    if d.truncated:
        return (
            f"truncated: only {len(d.payload)} of its {d.payload_length} bytes were kept, "
            "the original is gone"
        )
    if d.payload_length >= 0 and len(d.payload) != d.payload_length:
        return f"payload is {len(d.payload)} bytes, the original was {d.payload_length}"
    if d.payload_sha256 and hashlib.sha256(d.payload).hexdigest() != d.payload_sha256:
        return "payload does not match its payload_sha256"
    if d.source_topic not in s.topics.inputs():
        return f"source {d.source_topic!r} is not an input topic of this configuration"
    n = counts.get(d.source_topic)
    if n is None:
        return f"source topic {d.source_topic} does not exist"
    if not 0 <= d.source_partition < n:
        return f"source partition {d.source_partition} is not one of the {n} of {d.source_topic}"
    return None


def _ensure_redrive_topic(s: Settings, timeout: float = 30.0) -> None:
    topic = redrive_topic(s)
    if _partitions(s, topic):
        return
    admin = AdminClient(admin_config(s))
    # compacted: one record per dead letter, kept for as long as the topic lives
    new = NewTopic(topic, num_partitions=1, config={"cleanup.policy": "compact"})
    try:
        admin.create_topics([new], operation_timeout=timeout)[topic].result(timeout=timeout)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    deadline = time.monotonic() + timeout
    while not _partitions(s, topic):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} not ready after {timeout}s")
        time.sleep(0.1)


def _transactional_id(s: Settings) -> str:
    # one per dead-letter topic: a second redrive fences the first
    return f"rater-redrive-{s.topics.dead_letter}"


def redrive(
    s: Settings,
    f: Filter,
    *,
    dry_run: bool = False,
    now_ms: int | None = None,
    timeout: float = 60.0,
) -> RedriveResult:
    """Sends the originals of the dead letters `f` matches back to their source topic
    and partition (payload and key byte for byte; the message timestamp is the time of
    the redrive), with one redrive record each, all in one Kafka transaction. Skips the
    dead letters already in the redrive topic; refuses truncated ones and those whose
    source is not an input topic of `s`. `f` must choose something (an empty Filter is
    refused: ValueError; use e.g. `Filter(reasons=...)`). Raises RedriveError when the
    transaction does not commit (then nothing was sent)."""
    if f.everything:
        raise ValueError("choose the dead letters to redrive (a filter or ids), or all of them")
    return _redrive(s, f, dry_run=dry_run, now_ms=now_ms, timeout=timeout)


def redrive_all(s: Settings, *, dry_run: bool = False, now_ms: int | None = None) -> RedriveResult:
    """`redrive` of every dead letter (`rater deadletters redrive --all`)."""
    return _redrive(s, Filter(), dry_run=dry_run, now_ms=now_ms, timeout=60.0)


def _redrive(
    s: Settings, f: Filter, *, dry_run: bool, now_ms: int | None, timeout: float
) -> RedriveResult:
    result = RedriveResult(dry_run)
    producer: Producer | None = None
    if not dry_run:
        _ensure_redrive_topic(s)
        conf = producer_config(s, _transactional_id(s))
        conf["transaction.timeout.ms"] = max(s.transaction_timeout_ms, 60_000)
        producer = Producer(conf)
        # before reading the redrive topic: a redrive still open elsewhere is fenced
        # (aborted), one that committed is visible below
        producer.init_transactions(timeout)
    done = read_redriven(s)
    reading = read_dead_letters(s)
    result.unreadable = reading.unreadable
    chosen = select(reading.letters, f)
    found = {(x.partition, x.offset) for x in chosen}
    result.missing = [f"{p}:{o}" for p, o in sorted(f.ids - found)]
    counts = {t: _partitions(s, t) for t in s.topics.inputs()}
    todo: list[Letter] = []
    for letter in chosen:
        record = done.get(letter.id)
        if record is not None:
            if record.get("payload_sha256", letter.dead.payload_sha256) != (
                letter.dead.payload_sha256
            ):
                result.refused.append(
                    (
                        letter,
                        "the redrive record of this id names another payload "
                        "(was the dead-letter topic recreated?)",
                    )
                )
            else:
                result.already.append(letter)
            continue
        why = _why_not(s, letter, counts)
        if why is not None:
            result.refused.append((letter, why))
        else:
            todo.append(letter)
    if dry_run or not todo:
        result.sent = [Sent(x, x.dead.source_topic, x.dead.source_partition, -1) for x in todo]
        return result
    assert producer is not None
    result.sent = _send(s, producer, todo, now_ms, timeout)
    return result


def _send(
    s: Settings, producer: Producer, todo: list[Letter], now_ms: int | None, timeout: float
) -> list[Sent]:
    errors: list[str] = []
    delivered: dict[int, tuple[int, int]] = {}

    def report(i: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(f"{todo[i].id}: {err}" if i >= 0 else str(err))
            elif i >= 0:
                delivered[i] = (msg.partition() or 0, msg.offset() or 0)

        return on_delivery

    try:
        producer.begin_transaction()
        for i, x in enumerate(todo):
            d = x.dead
            producer.produce(
                d.source_topic,
                d.payload,
                d.key,
                partition=d.source_partition,
                on_delivery=report(i),
            )
        if producer.flush(timeout) or errors or len(delivered) != len(todo):
            raise RedriveError("; ".join(errors) or "originals not delivered in time")
        at = now_ms if now_ms is not None else int(time.time() * 1000)
        sent = [
            Sent(x, x.dead.source_topic, delivered[i][0], delivered[i][1])
            for i, x in enumerate(todo)
        ]
        for one in sent:
            producer.produce(
                redrive_topic(s),
                orjson.dumps(redrive_record(s, one, at)),
                one.letter.id.encode(),
                on_delivery=report(-1),
            )
        if producer.flush(timeout) or errors:
            raise RedriveError("; ".join(errors) or "redrive records not delivered in time")
        producer.commit_transaction(timeout)
        return sent
    except Exception as e:
        # fenced or timed out: the coordinator aborts it
        with contextlib.suppress(KafkaException):
            producer.abort_transaction(timeout)
        if isinstance(e, RedriveError):
            raise
        raise RedriveError(f"redrive aborted, nothing sent: {e}") from e


# --- the command line ------------------------------------------------------------------

deadletters_app = typer.Typer(
    help="Dead letters: list them, show one, send originals back (redrive) once.",
    no_args_is_help=True,
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="settings YAML (environment overrides it)")
]
ReasonOpt = Annotated[
    list[str] | None,
    typer.Option("--reason", help="error class, e.g. UNKNOWN_SUBSCRIBER (repeatable)"),
]
SourceTopicOpt = Annotated[str | None, typer.Option("--source-topic", help="source topic")]
SourcePartOpt = Annotated[
    int | None, typer.Option("--source-partition", min=0, help="source partition")
]
FromOpt = Annotated[
    int | None, typer.Option("--from-offset", min=0, help="source offset at least (inclusive)")
]
ToOpt = Annotated[
    int | None, typer.Option("--to-offset", min=0, help="source offset at most (inclusive)")
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="source message time at or after (ISO-8601 with offset)"),
]
UntilOpt = Annotated[
    str | None,
    typer.Option("--until", help="source message time before (ISO-8601 with offset)"),
]
IdsOpt = Annotated[
    list[str] | None,
    typer.Option("--ids", help="dead letters P:O[,P:O...] (partition:offset; repeatable)"),
]


def _settings(config: Path | None) -> Settings:
    from rater.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


def _ms(value: str | None, option: str) -> int | None:
    from rater.core.cycles import to_ms

    if value is None:
        return None
    try:
        return to_ms(value)
    except ValueError:
        typer.echo(
            f"error: {option}: {value!r} is not an ISO-8601 time with a UTC offset "
            "(e.g. 2026-05-01T00:00:00+08:00)",
            err=True,
        )
        raise typer.Exit(2) from None


def _filter(
    reason: list[str] | None,
    source_topic: str | None,
    source_partition: int | None,
    from_offset: int | None,
    to_offset: int | None,
    since: str | None,
    until: str | None,
    ids: list[str] | None = None,
) -> Filter:
    try:
        chosen = parse_ids(ids or [])
    except ValueError as e:
        typer.echo(f"error: --ids: {e}", err=True)
        raise typer.Exit(2) from None
    return Filter(
        reasons=frozenset(r.strip() for r in reason or [] if r.strip()),
        source_topic=source_topic,
        source_partition=source_partition,
        from_offset=from_offset,
        to_offset=to_offset,
        since_ms=_ms(since, "--since"),
        until_ms=_ms(until, "--until"),
        ids=chosen,
    )


@deadletters_app.command("list")
def list_command(
    reason: ReasonOpt = None,
    source_topic: SourceTopicOpt = None,
    source_partition: SourcePartOpt = None,
    from_offset: FromOpt = None,
    to_offset: ToOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    config: ConfigOpt = None,
) -> None:
    """One line per dead letter: id (partition:offset in the dead-letter topic), error
    class, source topic[partition]@offset, source time (UTC), payload size, the error."""
    s = _settings(config)
    f = _filter(reason, source_topic, source_partition, from_offset, to_offset, since, until)
    reading = read_dead_letters(s)
    done = read_redriven(s)
    for x in select(reading.letters, f):
        if as_json:
            typer.echo(orjson.dumps(summary(x, x.id in done)).decode())
        else:
            typer.echo(format_line(x, x.id in done))
    for u in reading.unreadable:
        typer.echo(f"warning: {u.partition}:{u.offset} is not a dead letter: {u.error}", err=True)


@deadletters_app.command("show")
def show_command(
    dead_letter: Annotated[str, typer.Argument(help="P:O, the dead letter's partition:offset")],
    as_json: Annotated[bool, typer.Option("--json", help="as one JSON object")] = False,
    config: ConfigOpt = None,
) -> None:
    """Everything about one dead letter, its payload decoded (usage record or command as
    JSON) or else the hex of its first 256 bytes."""
    s = _settings(config)
    try:
        p, o = parse_id(dead_letter)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    x = show_dead_letter(s, p, o)
    if x is None:
        typer.echo(f"error: no dead letter at {p}:{o} of {s.topics.dead_letter}", err=True)
        raise typer.Exit(1)
    if isinstance(x, Unreadable):
        typer.echo(f"error: {p}:{o} is not a dead letter: {x.error}", err=True)
        raise typer.Exit(1)
    record = read_redriven(s).get(x.id)
    if as_json:
        typer.echo(orjson.dumps(describe(s, x, record)).decode())
    else:
        typer.echo(format_detail(s, x, record))


@deadletters_app.command("redrive")
def redrive_command(
    reason: ReasonOpt = None,
    source_topic: SourceTopicOpt = None,
    source_partition: SourcePartOpt = None,
    from_offset: FromOpt = None,
    to_offset: ToOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    ids: IdsOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", help="every dead letter (when no filter is given)")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be sent")] = False,
    config: ConfigOpt = None,
) -> None:
    """Send the chosen originals back to their source topic and partition, once, in one
    transaction with a record of it on <dead-letter topic>.redriven. Dead letters
    already redriven are skipped; truncated ones are refused. Exit 1 if any chosen one
    was refused or an id was not found."""
    s = _settings(config)
    f = _filter(reason, source_topic, source_partition, from_offset, to_offset, since, until, ids)
    if f.everything and not all_:
        typer.echo("error: choose dead letters (--reason, --ids, ... ) or give --all", err=True)
        raise typer.Exit(2)
    try:
        res = redrive_all(s, dry_run=dry_run) if f.everything else redrive(s, f, dry_run=dry_run)
    except RedriveError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    verb = "would send" if dry_run else "sent"
    for one in res.sent:
        where = f"{one.topic}[{one.partition}]" + ("" if one.offset < 0 else f"@{one.offset}")
        typer.echo(f"{verb} {one.letter.id} ({one.letter.dead.error_class}) -> {where}")
    for x in res.already:
        typer.echo(f"skipped {x.id}: already redriven")
    for x, why in res.refused:
        typer.echo(f"refused {x.id}: {why}", err=True)
    for i in res.missing:
        typer.echo(f"not found {i} in {s.topics.dead_letter}", err=True)
    for u in res.unreadable:
        typer.echo(f"warning: {u.partition}:{u.offset} is not a dead letter: {u.error}", err=True)
    typer.echo(
        f"{verb} {len(res.sent)}, already redriven {len(res.already)}, "
        f"refused {len(res.refused)}" + (f", not found {len(res.missing)}" if res.missing else ""),
        err=True,
    )
    if not res.ok:
        raise typer.Exit(1)
